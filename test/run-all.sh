#!/usr/bin/env bash
# pgwarden's test command: deps, two out-of-tree builds (normal and
# AddressSanitizer/UBSan), the cmocka unit tests in both, and the pytest
# integration suite against both binaries.  Exits non-zero if anything fails.
#
#   bash test/run-all.sh
#
# Environment:
#   WITH_PGBOUNCER_REFERENCE=1  also run the integration suite against the
#                               system's PgBouncer (/usr/sbin/pgbouncer), to
#                               check that the tests encode real behaviour
#   PYTEST_ARGS="..."           extra pytest arguments (e.g. "-k auth -x")
#   SKIP_DEPS=1                 do not run test/deps.sh
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=/usr/bin/python3          # Debian's python, which has psycopg and pytest
RESULTS="$ROOT/build/test-results"
JOBS=${JOBS:-2}
PYTEST_TIMEOUT=${PYTEST_TIMEOUT:-900}   # seconds for one whole integration run
START=$(date +%s)

failures=()
summary=()
int_passed=0
int_failed=0

say() { printf '\n==> %s\n' "$*"; }
fail() { failures+=("$1"); printf '\n*** FAILED: %s\n' "$1" >&2; }

# Every process the suite starts inherits this marker, so that anything a
# killed pytest left behind can be found and stopped by pid afterwards.
export PGWARDEN_TEST_RUN_ID="run-all-$$-$START"

kill_leftovers() {
  local env pid
  for env in /proc/[0-9]*/environ; do
    pid=${env#/proc/}; pid=${pid%/environ}
    [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] && continue
    if grep -qszx "PGWARDEN_TEST_RUN_ID=$PGWARDEN_TEST_RUN_ID" "$env"; then
      echo "cleanup: killing leftover process $pid ($(tr '\0' ' ' </proc/$pid/cmdline 2>/dev/null | cut -c1-80))"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}
# The suite's temp dirs (cluster, pooler configs and logs) go here.
export PGWARDEN_TEST_TMPDIR
PGWARDEN_TEST_TMPDIR=$(mktemp -d /tmp/pgwarden-test.XXXXXX)
chmod 755 "$PGWARDEN_TEST_TMPDIR"
trap 'kill_leftovers; rm -rf "$PGWARDEN_TEST_TMPDIR"' EXIT

# --------------------------------------------------------------------------
say "dependencies"
if [ "${SKIP_DEPS:-0}" != 1 ]; then
  bash test/deps.sh || { fail "deps (test/deps.sh)"; }
fi

# --------------------------------------------------------------------------
build() {  # build <name> [configure args...]
  local name=$1; shift
  local dir="$ROOT/build/$name"
  mkdir -p "$dir"
  say "build ($name): configure $*"
  if ! (cd "$dir" && ../../configure "$@" >configure.log 2>&1); then
    tail -n 30 "$dir/configure.log" >&2
    fail "configure ($name) - see build/$name/configure.log"
    return 1
  fi
  say "build ($name): make -j$JOBS"
  if ! (cd "$dir" && make -j"$JOBS" >make.log 2>&1); then
    grep -E 'error|Error' "$dir/make.log" | head -n 40 >&2
    tail -n 15 "$dir/make.log" >&2
    fail "make ($name) - see build/$name/make.log"
    return 1
  fi
  if [ ! -x "$dir/pgwarden" ]; then
    fail "make ($name) produced no pgwarden binary"
    return 1
  fi
  echo "built $dir/pgwarden"
}

unit() {  # unit <name> [env assignments...]
  local name=$1 dir="$ROOT/build/$1"; shift
  say "unit tests ($name): make check"
  if (cd "$dir" && env "$@" make -j"$JOBS" check >check.log 2>&1); then
    local total
    total=$(grep -E '^# TOTAL:' "$dir/check.log" | tail -n1 | awk '{print $3}')
    summary+=("unit ($name): make check passed (${total:-0} test programs)")
    if [ "${total:-0}" = 0 ]; then
      fail "unit ($name): no unit test programs ran (is libcmocka-dev installed?)"
    fi
  else
    grep -E '^(FAIL|ERROR|XPASS)|\[  FAILED  \]|\[  ERROR   \]' -r "$dir/test" 2>/dev/null | head -n 40 >&2
    tail -n 30 "$dir/check.log" >&2
    fail "unit ($name): make check - see build/$name/check.log and build/$name/test-suite.log"
  fi
}

integration() {  # integration <label> <binary> [env assignments...]
  local label=$1 bin=$2; shift 2
  local xml="$RESULTS/integration-$label.xml"
  say "integration ($label): $bin"
  rm -f "$xml"
  local rc=0
  # shellcheck disable=SC2086
  env "$@" PGWARDEN_BIN="$bin" timeout -k 30 "$PYTEST_TIMEOUT" \
    "$PY" -m pytest "$ROOT/test/integration" -p no:cacheprovider -q \
      --junitxml="$xml" ${PYTEST_ARGS:-} || rc=$?
  kill_leftovers
  local counts
  counts=$("$PY" - "$xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 0 0 0"); sys.exit()
# One outcome per test case: a test that failed and also errored at teardown
# counts once, as failed.
outcome = {}
for case in root.iter("testcase"):
    key = (case.get("classname"), case.get("name"))
    tags = {child.tag for child in case}
    if tags & {"failure", "error"}:
        outcome[key] = "failed"
    elif "skipped" in tags:
        outcome.setdefault(key, "skipped")
    else:
        outcome.setdefault(key, "passed")
vals = list(outcome.values())
print(vals.count("passed"), vals.count("failed"), vals.count("skipped"), len(vals))
PYEOF
)
  local passed failed skipped total
  read -r passed failed skipped total <<<"$counts"
  summary+=("integration ($label): $passed passed, $failed failed, $skipped skipped (pytest exit $rc)")
  if [ "$label" != pgbouncer ]; then
    int_passed=$((int_passed + passed))
    int_failed=$((int_failed + failed))
  fi
  if [ "$rc" = 5 ] || [ "${total:-0}" = 0 ] || [ "${passed:-0}" = 0 ]; then
    fail "integration ($label): no tests ran (pytest exit $rc)"
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    fail "integration ($label): timed out after ${PYTEST_TIMEOUT}s"
  elif [ "$rc" != 0 ] || [ "${failed:-0}" != 0 ]; then
    fail "integration ($label): $failed failed (pytest exit $rc)"
  fi
}

# --------------------------------------------------------------------------
say "autoreconf -fi"
if [ -f config.status ]; then
  # An in-tree build (e.g. from test/demo.sh) blocks out-of-tree configure.
  echo "source tree is configured in-tree; running 'make distclean' there first"
  make distclean >/dev/null 2>&1 || rm -f config.status
fi
mkdir -p "$RESULTS"
normal_ok=0 asan_ok=0
if autoreconf -fi >"$RESULTS/autoreconf.log" 2>&1; then
  build normal && normal_ok=1
  build asan --enable-sanitizers && asan_ok=1
else
  cat "$RESULTS/autoreconf.log" >&2
  fail "autoreconf -fi"
fi

ASAN_ENV=(
  "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:print_summary=1"
  "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:print_summary=1"
  "LSAN_OPTIONS=print_suppressions=0"
)

[ $normal_ok = 1 ] && unit normal
[ $asan_ok = 1 ] && unit asan "${ASAN_ENV[@]}"

# The poolers run as user postgres.  A checkout it cannot reach (under a
# 0700 home directory, or mktemp -d) gets the programs the suite runs
# copied into the suite's temp dir, in the build tree's layout.
reachable_build() {  # reachable_build <name>: prints the pgwarden to test
  local dir="$ROOT/build/$1" stage="$PGWARDEN_TEST_TMPDIR/build-$1"
  if runuser -u postgres -- test -x "$dir/pgwarden"; then
    echo "$dir/pgwarden"
    return
  fi
  mkdir -p "$stage"
  (cd "$dir" && cp --parents pgwarden pgwarden-audit plugins/*/*.so test/plugins/*.so "$stage/")
  chmod -R a+rX "$stage"
  echo "user postgres cannot reach $dir: testing a copy in $stage" >&2
  echo "$stage/pgwarden"
}

if [ $normal_ok = 1 ]; then
  integration normal "$(reachable_build normal)" PGWARDEN_BUILD_DIR="$ROOT/build/normal"
else
  fail "integration (normal): skipped, no binary"
fi
if [ $asan_ok = 1 ]; then
  integration asan "$(reachable_build asan)" PGWARDEN_BUILD_DIR="$ROOT/build/asan" "${ASAN_ENV[@]}"
else
  fail "integration (asan): skipped, no binary"
fi
if [ "${WITH_PGBOUNCER_REFERENCE:-0}" = 1 ]; then
  integration pgbouncer /usr/sbin/pgbouncer
fi

# --------------------------------------------------------------------------
# libFuzzer harnesses, briefly (regressions); test/fuzz/run.sh runs them longer.
say "fuzz (${FUZZ_SECONDS:-20}s each)"
if FUZZ_SECONDS=${FUZZ_SECONDS:-20} test/fuzz/run.sh >"$RESULTS/fuzz.log" 2>&1; then
  summary+=("$(tail -1 "$RESULTS/fuzz.log")")
else
  tail -40 "$RESULTS/fuzz.log" >&2
  fail "fuzz: a harness failed or none ran - see build/test-results/fuzz.log"
fi

# --------------------------------------------------------------------------
say "summary ($(( $(date +%s) - START ))s)"
for line in "${summary[@]}"; do echo "  $line"; done
if [ ${#failures[@]} -gt 0 ]; then
  echo "  FAILED steps:"
  for f in "${failures[@]}"; do echo "    - $f"; done
fi
echo "integration: $int_passed passed, $int_failed failed"
[ ${#failures[@]} -eq 0 ]
