#!/usr/bin/env bash
# run.sh BUILD_DIR - run every test; ends with "N passed, N failed".
#
# Each test program or script prints "PASS name" / "FAIL name: why" lines.
# A program that exits non-zero without printing a FAIL line counts as one
# failure, and so does one that ran no test. TESTS=regex runs a subset.
# VERBOSE=1 shows PASS lines too.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${1:-build}
export ROOT="$root" BUILD="$root/$build" GAZETTE="$root/$build/gazette"
export SHARED=${SHARED:-$(cd "$root/.." && pwd)/shared}
filter=${TESTS:-.}
pass=0 fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run() {
  local name=$1; shift
  [[ $name =~ $filter ]] || return 0
  local t0=$SECONDS
  "$@" >"$log" 2>&1 </dev/null
  local rc=$? p f
  p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $name: exited with status $rc" >>"$log"; f=1
  fi
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then echo "FAIL $name: ran no test" >>"$log"; f=1; fi
  printf '%-34s %4d passed, %d failed (%ds)\n' "$name" "$p" "$f" $((SECONDS - t0))
  if [ "$f" -gt 0 ] || [ "${VERBOSE:-0}" = 1 ]; then
    if [ "${VERBOSE:-0}" = 1 ]; then sed 's/^/    /' "$log"; else
      grep -v '^PASS ' "$log" | tail -n 60 | sed 's/^/    /'; fi
  fi
  pass=$((pass + p)); fail=$((fail + f))
}

for t in "$build"/tests/test_*; do
  [ -x "$t" ] && [ "${t%.d}" = "$t" ] && run "unit:$(basename "$t")" "$t"
done
[ -x "$build/tests/mustache_spec" ] && run "mustache-spec" "$build/tests/mustache_spec" "$SHARED/mustache-spec"
for t in tests/e2e/*.sh; do
  [ "$(basename "$t")" = lib.sh ] && continue
  run "e2e:$(basename "$t" .sh)" bash "$t"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
