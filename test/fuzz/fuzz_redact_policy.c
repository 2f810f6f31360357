/*
 * libFuzzer harness for the redact plugin's policy parser
 * (plugins/redact/redact_policy.c): any bytes give a policy set or an error
 * message with a line number, never a crash, a leak or a read past the input.
 */
/* fuzz-build: plugins/redact/redact_policy.c -- */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redact_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct policy_set *set;
	/* the parser takes (text, len): the text need not end in a NUL */
	char *text = malloc(size ? size : 1);
	static const char *const groups[] = { "agents", "analysts" };

	if (size)
		memcpy(text, data, size);
	set = policy_parse(text, size, err, sizeof(err));
	if (set) {
		const struct policy *p = policy_select(set, groups, 2, "appuser");
		if (!p || !set->fallback)
			abort();
		(void)policy_function_blocked(p, "pg_read_file");
		policy_set_free(set);
	} else if (!err[0]) {
		abort();	/* a refusal always says why */
	}
	free(text);
	return 0;
}
