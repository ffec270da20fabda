#!/usr/bin/env bash
# run.sh - build the libFuzzer harnesses and run each for a bounded time.
#
#   FUZZ_SECONDS=60   seconds per target
#   FUZZ_TARGETS="frontmatter markdown ..."   subset (default: all)
#   FUZZ_JOBS=N       targets run in parallel (default: number of CPUs)
#   FUZZ_BUILD=build-fuzz
#
# The generator (generator/*.c except main.c, plus the embedded theme) is
# compiled here with clang -fsanitize=fuzzer-no-link,address,undefined into
# $FUZZ_BUILD/fuzz/libgz.a; each tests/fuzz/fuzz_<target>.c links against it.
# Seeds are tests/fuzz/corpus/<target>/ (read only); new corpus entries go to
# $FUZZ_BUILD/fuzz/corpus/<target>/ and crashes to
# $FUZZ_BUILD/fuzz/crashes/<target>/. Known crashers in
# tests/fuzz/regressions/<target>/ are replayed first and reported.
# Prints one line per target (runs, exec/s, new crashes) and exits 1 if any
# target crashed or could not be built.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
SECS=${FUZZ_SECONDS:-60}
B=${FUZZ_BUILD:-build-fuzz}/fuzz
CC=${FUZZ_CC:-clang}
JOBS=${FUZZ_JOBS:-$(nproc)}
ALL="frontmatter markdown mustache importer stats stats_sqlite cache"
TARGETS=${FUZZ_TARGETS:-$ALL}
PKGS="libcmark-gfm yaml-0.1 sqlite3 libgit2 jansson libmicrohttpd libxxhash zlib"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_GNU_SOURCE -O1 -g $SAN -Igenerator -I$B/gen $(pkg-config --cflags $PKGS)"
LIBS="-lcmark-gfm-extensions $(pkg-config --libs $PKGS) -lpthread -lm"
mkdir -p "$B/obj" "$B/gen" "$B/tools"

command -v "$CC" >/dev/null || { echo "SKIP fuzz: $CC not installed"; exit 0; }

# --- the generator library, rebuilt when any source or header is newer ---
newest_h=$(ls -t generator/*.h | head -1)
objs=()
todo=()
for c in generator/*.c; do
  [ "$c" = generator/main.c ] && continue
  o="$B/obj/$(basename "$c" .c).o"
  objs+=("$o")
  if [ ! -e "$o" ] || [ "$c" -nt "$o" ] || [ "$newest_h" -nt "$o" ]; then todo+=("$c"); fi
done
if [ ${#todo[@]} -gt 0 ]; then
  printf '%s\n' "${todo[@]}" | xargs -P "$JOBS" -I{} sh -c \
    '$0 $1 -fsanitize=fuzzer-no-link -c {} -o "$2/obj/$(basename {} .c).o"' "$CC" "$CFLAGS" "$B" \
    || { echo "FAIL fuzz: generator does not compile"; exit 1; }
fi
# The embedded theme, generated as the Makefile does.
cc -std=c11 -O2 -Wall -Wextra generator/tools/embed.c -o "$B/tools/embed" || exit 1
theme=$(find templates -type f | LC_ALL=C sort)
# shellcheck disable=SC2086
"$B/tools/embed" templates $theme > "$B/gen/theme_data.c.tmp" && mv "$B/gen/theme_data.c.tmp" "$B/gen/theme_data.c"
# shellcheck disable=SC2086
$CC $CFLAGS -fsanitize=fuzzer-no-link -c "$B/gen/theme_data.c" -o "$B/obj/theme_data.o" || exit 1
rm -f "$B/libgz.a"
ar rcs "$B/libgz.a" "${objs[@]}" "$B/obj/theme_data.o"

# --- harnesses ---
build_target() {   # target -> binary path, or "" if it does not link
  local t=$1 src=tests/fuzz/fuzz_$1.c extra=""
  if [ "$t" = stats_sqlite ]; then src=tests/fuzz/fuzz_stats.c; extra=-DSQLITE_FILE; fi
  # shellcheck disable=SC2086
  $CC $CFLAGS $extra -fsanitize=fuzzer "$src" "$B/libgz.a" $LIBS -o "$B/fuzz_$t" 2>"$B/fuzz_$t.log"
}

max_len() {
  case $1 in
    stats) echo 16384 ;;
    stats_sqlite) echo 40960 ;;
    mustache) echo 8192 ;;
    *) echo 32768 ;;
  esac
}

run_target() {
  local t=$1 bin=$B/fuzz_$1 seeds=tests/fuzz/corpus/$1 work=$B/corpus/$1 art=$B/crashes/$1/
  mkdir -p "$work" "$art"
  local log=$B/fuzz_$t.run.log
  # Crashes are counted from this run only: older artifacts stay in $art
  # until someone moves them to tests/fuzz/regressions/.
  touch "$B/.start_$t"
  # Replay the known crashers first: each must now pass.
  local reg=tests/fuzz/regressions/$t regfail=0
  if [ -d "$reg" ] && [ -n "$(ls -A "$reg" 2>/dev/null)" ]; then
    "$bin" -runs=1 "$reg"/* >"$B/fuzz_$t.reg.log" 2>&1 || regfail=1
  fi
  local dirs=("$work")
  [ -d "$seeds" ] && dirs+=("$seeds")
  "$bin" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
    -print_final_stats=1 -artifact_prefix="$art" -close_fd_mask=3 \
    "${dirs[@]}" >"$log" 2>&1
  local rc=$?
  local runs eps crashes
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  crashes=$(find "$art" -type f -newer "$B/.start_$t" \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  local status=PASS
  if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ] || [ "$regfail" -ne 0 ]; then status=FAIL; fi
  printf '%s fuzz:%-13s %4ss %10s runs %8s exec/s  crashes=%s regressions=%s\n' \
    "$status" "$t" "$SECS" "${runs:-?}" "${eps:-?}" "$crashes" \
    "$([ "$regfail" -eq 0 ] && echo ok || echo FAILING)"
  if [ "$status" = FAIL ]; then
    grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' "$log" \
      "$B/fuzz_$t.reg.log" 2>/dev/null | sed 's/^/      /'
    find "$art" -type f -newer "$B/.start_$t" | head -5 | sed 's/^/      artifact: /'
  fi
}

fail=0
ready=()
for t in $TARGETS; do
  if build_target "$t"; then ready+=("$t")
  else echo "FAIL fuzz:$t: harness does not build/link (see $B/fuzz_$t.log)"; sed 's/^/      /' "$B/fuzz_$t.log" | grep -m3 -E 'error|undefined'; fail=1; fi
done

export -f run_target max_len
export B SECS
results=$(printf '%s\n' "${ready[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_target {}')
echo "$results"
grep -q '^FAIL' <<<"$results" && fail=1
exit $fail
