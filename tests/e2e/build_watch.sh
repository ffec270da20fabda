#!/usr/bin/env bash
# build_watch.sh - `gazette build --watch`: the first build into the given
# output directory, then a rebuild there after each change. After each
# change the output must be exactly what a build from nothing gives (diff
# -r against `gazette build --no-cache`), edits of documents only must
# take the short path (their pages and the search index made again, the
# rest kept), a bad edit must leave the output as the last good build left
# it and watching must go on, and a stop signal ends it with status 0.
# Every wait is bounded; the watcher is killed on any exit.
. "$(dirname "$0")/lib.sh"

stop_server_at_exit

cp -r "$ROOT/content" "$T/content"
cp -r "$ROOT/templates" "$T/templates"
out=$T/site
log=$T/watch.log
# As an editor starts it: on a site an earlier build made. (Into a missing
# output directory the first build is made unseen and moved into place;
# the first rebuild after that is a cached build, the next ones short.)
"$GAZETTE" build --content "$T/content" --templates "$T/templates" --out "$out" --quiet 2>/dev/null
# GAZETTE_TIMING: the "edit: N of M pages rendered" line tells the path.
GAZETTE_TIMING=1 "$GAZETTE" build --watch --content "$T/content" --templates "$T/templates" \
  --out "$out" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do grep -q '^gazette: watching ' "$log" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
ok started grep -q '^gazette: watching ' "$log"
ok first-build test -f "$out/index.html"

built_re='^gazette: [0-9]* documents; \|^gazette: rebuilt \|build failed'

n1=$T/content/notices/2017/dalian-ten-measures-division-of-labour.md
n2=$T/content/notices/2021/qinhuangdao-union-building-campaign.md
page1=$out/notices/2017/dalian-ten-measures-division-of-labour/index.html

# Editors' side files start no build.
b0=$(builds)
printf 'x' >"$(dirname "$n1")/.dalian.md.swp"; printf 'x' >"$(dirname "$n1")/dalian.md~"
sleep 0.8
expect editor-noise-ignored "$(builds)" "$b0"
rm -f "$(dirname "$n1")/.dalian.md.swp" "$(dirname "$n1")/dalian.md~"
sleep 0.5

step body-edit edit bash -c "printf '\n\n编辑后的段落 watch-edit-1。\n' >>'$n1'"
ok body-edit-shown grep -q "watch-edit-1" "$page1"
step title-edit full sed -i 's/^title: .*/title: "watch 改过的标题"/' "$n2"
step body-after-full edit bash -c "printf '\n\n又一段 watch-edit-2。\n' >>'$n2'"
step new-doc full bash -c "sed -e 's/^title: .*/title: \"watch 新文件\"/' '$n2' >'$T/content/notices/2021/watch-new.md'"
ok new-doc-shown test -f "$out/notices/2021/watch-new/index.html"
step delete-doc full rm -f "$T/content/notices/2021/watch-new.md"
ok deleted-doc-gone test ! -e "$out/notices/2021/watch-new/index.html"
step template-edit full bash -c "printf '<!-- watch-edit template -->\n' >>'$T/templates/doc.mustache'"
ok template-shown grep -q "watch-edit template" "$page1"

# A document made invalid: the build fails with the file and line, the
# output stays as the last good build left it, and watching goes on.
before=$(cd "$out" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)
b0=$(builds)
cp "$n1" "$T/n1.orig"
printf -- '---\ntitle: [unclosed\n---\n' >"$n1"
settle $((b0 + 1)) && sleep 0.3
ok broken-reported grep -q "dalian-ten-measures-division-of-labour.md:[0-9]*: error" "$log"
ok broken-said-unchanged grep -q "build failed; $out was not changed" "$log"
after=$(cd "$out" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)
expect broken-output-kept "$after" "$before"
step fixed full cp "$T/n1.orig" "$n1"
step body-after-fix edit bash -c "printf '\n\n修好后 watch-edit-3。\n' >>'$n1'"

# A plain build afterwards finds the output as the watcher left it: no
# file to write.
"$GAZETTE" build --content "$T/content" --templates "$T/templates" --out "$out" >"$T/plain.log" 2>&1
ok plain-build-after grep -q "; 0 files written" "$T/plain.log"

# A release into the watched output: the next rebuild does not take the
# output as recorded (full path), shows the release history, and leaves
# what a plain build of the released site gives (again no file to write).
ok release-into-output "$GAZETTE" release --content "$T/content" --templates "$T/templates" --out "$out" -m "watch test"
# released NAME PATH TEXT: append TEXT to n1, wait, check the path and
# that a plain build of the released output has nothing to write.
released() {
  local b0 e0
  b0=$(builds) e0=$(edits)
  printf '\n\n%s\n' "$3" >>"$n1"
  settle $((b0 + 1)) && sleep 0.3
  local took=full
  [ "$(edits)" -gt "$e0" ] && took=edit
  expect "$1-path" "$took" "$2"
  "$GAZETTE" build --content "$T/content" --templates "$T/templates" --out "$out" >"$T/plain.log" 2>&1
  ok "$1-as-built" grep -q "; 0 files written" "$T/plain.log"
}
released after-release full "发布后 watch-edit-4。"
ok after-release-history grep -q "watch test\|release-" "$page1"
released next-edit edit "再一段 watch-edit-5。"

signal_server INT
expect stops "$rc" 0
ok stop-said grep -q "stopping (signal 2)" "$log"
ok output-stays test -f "$out/index.html"
# --watch is build's only: check refuses it.
nok check-refuses-watch "$GAZETTE" check --watch --content "$T/content"
