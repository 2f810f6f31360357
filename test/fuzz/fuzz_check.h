/*
 * What the harnesses of the core's parsers share: CHECK (a property that
 * must hold, else abort so libFuzzer keeps the input) and a quiet log (a
 * broken input logs an error per line: the fuzzer's output stays readable).
 */
#ifndef PGWARDEN_FUZZ_CHECK_H
#define PGWARDEN_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "log.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                 \
		}                                                                \
	} while (0)

static inline void fuzz_quiet_log(void)
{
	struct log_settings quiet = { .quiet = true };

	log_configure(&quiet);
}

/* An LLVMFuzzerInitialize that only quiets the log. */
#define FUZZ_INIT_QUIET_LOG()                                   \
	int LLVMFuzzerInitialize(int *argc, char ***argv);      \
	int LLVMFuzzerInitialize(int *argc, char ***argv)       \
	{                                                       \
		(void)argc;                                     \
		(void)argv;                                     \
		fuzz_quiet_log();                               \
		return 0;                                       \
	}

#endif
