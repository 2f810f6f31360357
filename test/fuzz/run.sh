#!/usr/bin/env bash
# Build the libFuzzer harnesses (clang, ASan + UBSan) and run each for
# FUZZ_SECONDS (default 30).  A finding fails the run; its reproducer is in
# the work directory printed at the end (crash-*), to be kept as a test.
#
#   test/fuzz/run.sh                  # every harness, 30 s each
#   FUZZ_SECONDS=600 test/fuzz/run.sh sql_shape   # one harness, 10 minutes
# Each harness NAME has test/fuzz/fuzz_NAME.c, corpus/NAME/ (seeds, and every
# reproducer of a past finding: replayed on each run) and NAME.dict.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT="$ROOT/build/fuzz"
SECONDS_EACH=${FUZZ_SECONDS:-30}
CC=${FUZZ_CC:-clang}
FLAGS=(-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
mkdir -p "$OUT"

# Each harness names what it links in one line of its source:
#   /* fuzz-build: SOURCES... -- LIBS... */
# (SOURCES relative to the tree; LIBS as given to the compiler, pkg-config
# output included via $(...) is not expanded - list the flags).
build() {  # build <name>
  local name=$1 line srcs=() libs=() in_libs=0 word
  line=$(sed -n 's|^/\* fuzz-build: \(.*\) \*/$|\1|p' "$ROOT/test/fuzz/fuzz_$name.c" | head -1)
  for word in $line; do
    if [ "$word" = "--" ]; then in_libs=1
    elif [ $in_libs = 1 ]; then libs+=("$word")
    else srcs+=("$ROOT/$word"); fi
  done
  "$CC" "${FLAGS[@]}" -I"$ROOT/src" -I"$ROOT/include" -I"$ROOT/plugins/common" \
    -I"$ROOT/plugins/redact" -I"$ROOT/plugins/oidc" -I"$ROOT/plugins/audit" \
    -o "$OUT/fuzz_$name" "$ROOT/test/fuzz/fuzz_$name.c" "${srcs[@]}" "${libs[@]}"
}

all=()
for f in "$ROOT"/test/fuzz/fuzz_*.c; do
  n=$(basename "$f" .c); all+=("${n#fuzz_}")
done
if [ $# -gt 0 ]; then harnesses=("$@"); else harnesses=("${all[@]}"); fi
for h in "${harnesses[@]}"; do build "$h"; done

ran=0
for h in "${harnesses[@]}"; do
  work=$(mktemp -d "${TMPDIR:-/tmp}/pgwarden-fuzz-$h.XXXXXX")
  mkdir -p "$work/corpus"
  echo "fuzz: $h for ${SECONDS_EACH}s (work dir $work)"
  dict=(); [ -f "$ROOT/test/fuzz/$h.dict" ] && dict=(-dict="$ROOT/test/fuzz/$h.dict")
  if ! (cd "$work" && "$OUT/fuzz_$h" -max_total_time="$SECONDS_EACH" -max_len="${FUZZ_MAX_LEN:-2048}" \
          "${dict[@]}" -print_final_stats=1 \
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
