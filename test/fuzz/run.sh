#!/usr/bin/env bash
# Build the libFuzzer harnesses (clang, ASan + UBSan) and run each for
# FUZZ_SECONDS (default 30).  A finding fails the run; its reproducer is in
# the work directory printed at the end (crash-*), to be kept as a test.
#
#   test/fuzz/run.sh                  # every harness, 30 s each
#   FUZZ_SECONDS=600 test/fuzz/run.sh sql_shape   # one harness, 10 minutes
# Each harness NAME has test/fuzz/fuzz_NAME.c, corpus/NAME/ and NAME.dict.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT="$ROOT/build/fuzz"
SECONDS_EACH=${FUZZ_SECONDS:-30}
CC=${FUZZ_CC:-clang}
FLAGS=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
mkdir -p "$OUT"

build() {  # build <name> <sources...> -- <libs...>
  local name=$1; shift
  local srcs=() libs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do srcs+=("$ROOT/$1"); shift; done
  [ $# -gt 0 ] && shift
  libs=("$@")
  "$CC" "${FLAGS[@]}" -I"$ROOT/plugins/common" -I"$ROOT/plugins/redact" -o "$OUT/fuzz_$name" "${srcs[@]}" "${libs[@]}"
}

build sql_shape test/fuzz/fuzz_sql_shape.c plugins/common/sql_shape.c -- -lpg_query
build redact_policy test/fuzz/fuzz_redact_policy.c plugins/redact/redact_policy.c --

if [ $# -gt 0 ]; then harnesses=("$@"); else harnesses=(sql_shape redact_policy); fi
ran=0
for h in "${harnesses[@]}"; do
  work=$(mktemp -d "${TMPDIR:-/tmp}/pgwarden-fuzz-$h.XXXXXX")
  mkdir -p "$work/corpus"
  echo "fuzz: $h for ${SECONDS_EACH}s (work dir $work)"
  if ! (cd "$work" && "$OUT/fuzz_$h" -max_total_time="$SECONDS_EACH" -max_len=2048 \
          -dict="$ROOT/test/fuzz/$h.dict" -print_final_stats=1 \
          "$work/corpus" "$ROOT/test/fuzz/corpus/$h" > "$work/log" 2>&1); then
    tail -30 "$work/log"
    echo "fuzz: $h FAILED - reproducer in $work" >&2
    exit 1
  fi
  grep -E "^stat::number_of_executed_units" "$work/log" | sed "s/^/fuzz: $h /"
  rm -rf "$work"
  ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || { echo "fuzz: no harness ran" >&2; exit 1; }
echo "fuzz: $ran harness(es) clean"
