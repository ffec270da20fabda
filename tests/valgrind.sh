#!/usr/bin/env bash
# valgrind.sh BUILD_DIR - run the e2e-style commands under valgrind
# (memcheck: invalid reads/writes, uninitialised values, definite leaks)
# and print PASS/FAIL lines and "N passed, N failed". Use a normal (not
# sanitizer) build: make BUILD=build && bash tests/valgrind.sh build
#   build of $ROOT/content, check, a rebuild (incremental path), a hostile
#   document, a template error, a bad document (error path), releases (a
#   first, a one-page one, one after a preview build), gazette serve's
#   rebuilds (one made from the last build), and a unit test binary or two.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
GAZETTE=$build/gazette
SHARED=${SHARED:-$(cd "$root/.." && pwd)/shared}
command -v valgrind >/dev/null || { echo "SKIP valgrind: not installed"; exit 0; }
[ -x "$GAZETTE" ] || { echo "FAIL valgrind: no $GAZETTE"; exit 1; }
# gazette build keeps its memory at exit instead of freeing it (build.h,
# exit_after); here every byte is freed, so that a leak shows.
export GAZETTE_FREE_AT_EXIT=1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
# Leaks of kinds "definite" are errors; libgit2/sqlite keep global caches
# that show up as "still reachable" and are not.
VG=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --track-origins=yes --num-callers=30)

# vg NAME WANT CMD...: WANT is the expected exit status (0 or 1); 99 means
# valgrind found errors.
vg() {
  local n=$1 want=$2; shift 2
  "${VG[@]}" --log-file="$T/$n.vg" "$@" >"$T/$n.out" 2>&1
  local rc=$?
  if [ "$rc" -eq "$want" ] && ! [ -s "$T/$n.vg" ]; then
    echo "PASS valgrind:$n"; pass=$((pass + 1))
  else
    echo "FAIL valgrind:$n: exit $rc (want $want)"; fail=$((fail + 1))
    { cat "$T/$n.vg"; tail -5 "$T/$n.out"; } | head -40 | sed 's/^/      /'
  fi
}

vg build 0 "$GAZETTE" build --content "$root/content" --out "$T/site" --quiet --threads 2
vg rebuild 0 "$GAZETTE" build --content "$root/content" --out "$T/site" --quiet --threads 2
vg check 0 "$GAZETTE" check --content "$root/content"

H=$T/hostile; mkdir -p "$H/notices/2020"
cat > "$H/notices/2020/x.md" <<'MD'
---
title: "《办法》 \"引号\" & <script>alert(1)</script>"
date: 2020-01-02
tags: ["A&B <i>", 标签]
recipients: 各区总工会
unknown_key: {a: [1, 2]}
---
<script>alert(2)</script> [bad](javascript:alert(3))

## 标题
## 标题

- a
  - b
    > q

| a | b |
|---|---|
| 1 | 2 |
MD
python3 -c "print('- '*3000 + 'x'); print('长'*100000)" >> "$H/notices/2020/x.md"
vg hostile-doc 0 "$GAZETTE" build --content "$H" --out "$T/hs" --quiet --threads 2

B=$T/bad; mkdir -p "$B/notices/2020"
printf -- '---\ntitle: [x\n---\n' > "$B/notices/2020/a.md"
printf -- '---\ntitle: x\ndate: 2020-02-31\na: &a [1]\nb: *a\n---\n' > "$B/notices/2020/b.md"
printf -- '---\ntitle: x\ndate: 2020-01-01\n---\n\xff\n' > "$B/notices/2020/c.md"
vg bad-docs 1 "$GAZETTE" check --content "$B"

mkdir -p "$T/tpl"; printf '{{>doc}}' > "$T/tpl/doc.mustache"
vg template-recursion 1 "$GAZETTE" build --content "$H" --templates "$T/tpl" --out "$T/ts" --quiet

if "$GAZETTE" release --help >/dev/null 2>&1; then
  vg release 0 "$GAZETTE" release --content "$root/content" --out "$T/rel"
  vg log 0 "$GAZETTE" log --out "$T/rel"
  # A one-page release: its second build is made from its first
  # (build_again), and both are freed at the end.
  RC=$T/relc; cp -r "$root/content" "$RC"
  f=$(find "$RC/notices" -name '*.md' | head -1)
  "$GAZETTE" release --content "$RC" --out "$T/rel2" >/dev/null 2>&1
  echo "一处修订。" >>"$f"
  vg release-one-page 0 "$GAZETTE" release --content "$RC" --out "$T/rel2"
  # ... and after a preview build: the records tell the build's files.
  echo "又一处修订。" >>"$f"
  "$GAZETTE" build --content "$RC" --out "$T/rel2" --quiet >/dev/null 2>&1
  vg release-after-preview 0 "$GAZETTE" release --content "$RC" --out "$T/rel2"
fi
if "$GAZETTE" serve --help >/dev/null 2>&1; then
  # gazette serve: a rebuild made from the last build (build_edit: a body
  # edit), an ordinary one (a title), then SIGINT; the kept build is freed
  # at exit. GAZETTE_TIMING tells the path.
  SC=$T/servec; cp -r "$root/content" "$SC"; mkdir -p "$T/stmp"
  f=$(find "$SC/notices" -name '*.md' | LC_ALL=C sort | head -1)
  TMPDIR=$T/stmp GAZETTE_TIMING=1 "${VG[@]}" --log-file="$T/serve.vg" "$GAZETTE" serve --port 0 \
    --content "$SC" >"$T/serve.out" 2>&1 &
  vpid=$!
  seen() { for _ in $(seq 900); do [ "$(grep -c -- "$1" "$T/serve.out")" -ge "$2" ] && return 0
           kill -0 "$vpid" 2>/dev/null || return 1; sleep 0.1; done; return 1; }
  ok=0
  if seen '^Serving ' 1; then
    echo "一处修订。" >>"$f"
    seen ' rebuilt ' 1 && seen '^gazette: edit: ' 1 && ok=$((ok + 1))
    sed -i 's/^title: .*/title: "valgrind 改过的标题"/' "$f"
    seen ' rebuilt ' 2 && ok=$((ok + 1))
  fi
  kill -INT "$vpid" 2>/dev/null; wait "$vpid"; rc=$?
  if [ "$ok" -eq 2 ] && [ "$rc" -eq 0 ] && ! [ -s "$T/serve.vg" ]; then
    echo "PASS valgrind:serve-edit"; pass=$((pass + 1))
  else
    echo "FAIL valgrind:serve-edit: exit $rc, $ok of 2 rebuilds as expected"; fail=$((fail + 1))
    { cat "$T/serve.vg"; tail -8 "$T/serve.out"; } | head -40 | sed 's/^/      /'
  fi
fi
if "$GAZETTE" import --help >/dev/null 2>&1 && [ -d "$SHARED/seeds" ]; then
  vg import 0 "$GAZETTE" import "$SHARED/seeds" --to "$T/imp"
fi
for u in test_frontmatter test_markdown; do
  [ -x "$build/tests/$u" ] && vg "unit-$u" 0 "$build/tests/$u"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
