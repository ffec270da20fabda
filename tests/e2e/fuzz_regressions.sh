#!/usr/bin/env bash
# End-to-end: replay every input in tests/fuzz/regressions/<target>/ (crashes
# and hangs found by fuzzing or hostile-input testing) through the real code
# paths of the gazette binary, without libFuzzer:
#   frontmatter  the input as a document, and as site.yaml       (build)
#   markdown     first byte = harness mode (bit 0: unsafe_html), rest = body
#   mustache     NUL-separated main/p/q templates via --templates (build)
#   importer     gazette import, then a build of what it wrote
#   stats        *.sql as content/stats/snapshot.sql             (build)
#   stats_sqlite the bytes as content/stats/snapshot.sqlite      (build)
# Each must end with exit 0 or 1 (a clear error) within the time limit and
# with no sanitizer report.
. "$(dirname "$0")/lib.sh"

REG=$ROOT/tests/fuzz/regressions
TMO=${FUZZ_REG_TIMEOUT:-10}
FM='---\ntitle: "t"\ndate: 2020-01-02\n---\n'

# check NAME CMD...: run CMD with a timeout; judge exit status and stderr.
check() {
  local n=$1; shift
  timeout "$TMO" "$@" >"$T/out" 2>"$T/err"; local rc=$?
  local why=""
  if [ "$rc" -eq 124 ]; then why="timed out after ${TMO}s (hang)"
  elif [ "$rc" -ge 128 ]; then why="crashed (exit $rc)"
  elif [ "$rc" -gt 1 ]; then why="exit $rc"
  elif grep -qE 'Sanitizer|runtime error:|==[0-9]+==ERROR' "$T/err"; then why="sanitizer report"
  fi
  if [ -z "$why" ]; then echo "PASS $E2E_NAME:$n"
  else echo "FAIL $E2E_NAME:$n: $why"; head -c 1500 "$T/err" | sed 's/^/      /'; fi
}

fresh() { rm -rf "$T/c" "$T/s" "$T/tpl" "$T/imp"; mkdir -p "$T/c/notices/2020"; }


replay() { # target file
  local t=$1 f=$2 n
  n="$t/$(basename "$f")"
  case $t in
    frontmatter)
      fresh; cp "$f" "$T/c/notices/2020/x.md"
      check "$n:doc" "$GAZETTE" build --content "$T/c" --out "$T/s" --quiet
      fresh; cp "$f" "$T/c/site.yaml"; printf -- "$FM"'x\n' > "$T/c/notices/2020/x.md"
      check "$n:site.yaml" "$GAZETTE" build --content "$T/c" --out "$T/s" --quiet ;;
    markdown)
      fresh
      if [ -s "$f" ] && [ $(( $(head -c1 "$f" | od -An -tu1) & 1 )) -eq 1 ]; then
        echo 'unsafe_html: true' > "$T/c/site.yaml"; fi
      { printf -- "$FM"; tail -c +2 "$f"; } > "$T/c/notices/2020/x.md"
      check "$n" "$GAZETTE" build --content "$T/c" --out "$T/s" --quiet ;;
    mustache)
      fresh; mkdir -p "$T/tpl"; printf -- "$FM"'x\n' > "$T/c/notices/2020/x.md"
      python3 - "$f" "$T/tpl" <<'PY'
import sys
parts = open(sys.argv[1], 'rb').read().split(b'\0', 2)
for name, data in zip(['main', 'p', 'q'], parts):
    open(f'{sys.argv[2]}/{name}.mustache', 'wb').write(data)
open(f'{sys.argv[2]}/doc.mustache', 'wb').write(b'{{>main}}')
PY
      check "$n" "$GAZETTE" build --content "$T/c" --out "$T/s" --quiet --templates "$T/tpl" ;;
    importer)
      fresh; mkdir -p "$T/imp"
      cp "$f" "$T/imp/input.txt"
      check "$n:import" "$GAZETTE" import "$T/imp/input.txt" --to "$T/c" --force
      check "$n:build" "$GAZETTE" build --content "$T/c" --out "$T/s" --quiet --drafts
      # What the importer writes must be valid front matter for the build.
      if grep -q 'invalid YAML' "$T/err"; then
        echo "FAIL $E2E_NAME:$n:valid-yaml: the imported file is not valid YAML"; grep 'invalid YAML' "$T/err" | head -3 | sed 's/^/      /'
      else echo "PASS $E2E_NAME:$n:valid-yaml"; fi ;;
    stats|stats_sqlite)
      fresh; mkdir -p "$T/c/stats"; printf -- "$FM"'x\n' > "$T/c/notices/2020/x.md"
      if [ "$t" = stats ]; then cp "$f" "$T/c/stats/snapshot.sql"; else cp "$f" "$T/c/stats/snapshot.sqlite"; fi
      check "$n" "$GAZETTE" build --content "$T/c" --out "$T/s" --quiet ;;
    *) echo "FAIL $E2E_NAME:$n: unknown target directory $t" ;;
  esac
}

count=0
for dir in "$REG"/*/; do
  [ -d "$dir" ] || continue
  t=$(basename "$dir")
  for f in "$dir"*; do
    [ -f "$f" ] || continue
    replay "$t" "$f"; count=$((count + 1))
  done
done
# An empty regression set is fine (nothing found yet), but say so.
[ "$count" -gt 0 ] || echo "PASS $E2E_NAME:no-regressions-yet"
