#!/usr/bin/env bash
# release.sh - gazette release / log / verify end to end, checked with the
# git CLI: first release, no-op, change message, tags, determinism, verify,
# push, dirty tree, lock, kill -9 at random points, fsck and log.
. "$(dirname "$0")/lib.sh"
G=$GAZETTE
cd "$T" || exit 1
C=$T/content

doc() {   # doc PATH TITLE DATE BODY
  mkdir -p "$C/$(dirname "$1")"
  printf -- '---\ntitle: "%s"\ndate: %s\ncategory: 通知\ntags: [经费返还]\n---\n\n%s\n' "$2" "$3" "$4" >"$C/$1.md"
}
mkdir -p "$C"
cat >"$C/site.yaml" <<'EOF'
title: 测试站
base_url: https://example.org/
lang: zh-CN
release:
  author_name: 发布机器人
  author_email: bot@example.org
  repo_url: https://git.example.org/site
EOF
doc notices/2017/a "关于《甲》的通知" 2017-09-29 "甲的正文。"
doc notices/2016/b "乙通知" 2016-05-01 "乙的正文。"
doc reports/2015/c "丙报告" 2015-01-02 "丙的正文。"
if [ -f "$ROOT/content/stats/snapshot.sql" ]; then
  mkdir -p "$C/stats" && cp "$ROOT/content/stats/snapshot.sql" "$C/stats/"
fi
# content/ in a git repo: the release records its HEAD.
git -C "$C" init -q && git -C "$C" add -A && git -C "$C" -c user.name=t -c user.email=t@t commit -qm c1
rel() { "$G" release --content "$C" "$@"; }   # templates/ absent here: built-in theme
clean() { test -z "$(git -C "$1" status --porcelain)"; }
fsck() { git -C "$1" fsck --strict --no-dangling >/dev/null 2>&1; }

ok help-release "$G" release --help
ok help-log "$G" log --help
ok help-verify "$G" verify --help

# ---- first release ----
rel -m "首次发布" >out1 2>err1; rc=$?
expect first-rc "$rc" 0
c1=$(sed -n 's/^commit //p' out1)
expect first-tag "$(sed -n 's/^tag //p' out1)" release-2017-09-29
expect first-head "$(git -C site rev-parse HEAD)" "$c1"
expect first-branch "$(git -C site symbolic-ref HEAD)" refs/heads/main
expect first-date "$(git -C site log -1 --format=%ad --date=iso)" "2017-09-29 00:00:00 +0800"
expect first-author "$(git -C site log -1 --format='%an <%ae>')" "发布机器人 <bot@example.org>"
ok first-fsck fsck site
ok first-status-clean clean site
git -C site log -1 --format=%B >msg1
ok first-msg-docs has msg1 "Documents added (3):"
ok first-msg-title has msg1 "  + 关于《甲》的通知 (/notices/2017/a/)"
ok first-msg-source has msg1 "Source-Commit: $(git -C "$C" rev-parse HEAD)"
ok first-msg-gen has msg1 "Generator: gazette "
ok first-msg-reltag has msg1 "Release-Tag: release-2017-09-29"
if [ -f "$C/stats/snapshot.sql" ]; then
  ok first-msg-snapshot has msg1 "Snapshot-SHA256: "
  ok first-msg-stats has msg1 "Stats pages changed"
fi
ok first-releases-page has site/releases/index.html "release-2017-09-29"
ok first-annotated-tag test "$(git -C site cat-file -t release-2017-09-29)" = tag

# ---- nothing changed ----
rel >out2 2>&1; rc=$?
expect noop-rc "$rc" 0
ok noop-message has out2 "nothing to release"
expect noop-head "$(git -C site rev-parse HEAD)" "$c1"

# ---- a change: one changed, one added, one removed ----
doc notices/2017/a "关于《甲》的通知" 2017-09-29 "甲的正文，已修订。"
doc notices/2017/d "丁通知" 2017-03-03 "丁的正文。"
rm "$C/notices/2016/b.md"
git -C "$C" add -A && git -C "$C" -c user.name=t -c user.email=t@t commit -qm c2
rel -m "第二版" >out3 2>err3; rc=$?
expect change-rc "$rc" 0
expect change-tag "$(sed -n 's/^tag //p' out3)" release-2017-09-29.2
git -C site log -1 --format=%B >msg2
ok change-summary test "$(git -C site log -1 --format=%s)" = "第二版"
ok change-added has msg2 "Documents added (1):
  + 丁通知 (/notices/2017/d/)"
ok change-changed has msg2 "  * 关于《甲》的通知 (/notices/2017/a/)"
ok change-removed has msg2 "Documents removed (1):
  - 乙通知 (/notices/2016/b/)"
ok change-trailer-source has msg2 "Source-Commit: $(git -C "$C" rev-parse HEAD)"
ok change-trailer-tag has msg2 "Release-Tag: release-2017-09-29.2"
expect change-parent "$(git -C site rev-parse HEAD^)" "$c1"
ok change-fsck fsck site
ok change-clean clean site
ok change-reports-reused test "$(git -C site rev-parse HEAD:reports/2015)" = "$(git -C site rev-parse HEAD^:reports/2015)"
ok change-history-on-page has site/notices/2017/a/index.html "release-2017-09-29.2"
ok change-releases-page has site/releases/index.html "/commit/$c1"

# ---- tags: .N per day, --tag overrides ----
doc reports/2015/c "丙报告" 2015-01-02 "丙的正文，第三版。"
rel >out4 2>&1
expect tag-dot3 "$(sed -n 's/^tag //p' out4)" release-2017-09-29.3
doc reports/2015/c "丙报告" 2015-01-02 "丙的正文，第四版。"
rel --tag v4 --date 2018-02-03 >out5 2>&1
expect tag-override "$(sed -n 's/^tag //p' out5)" v4
expect tag-date "$(git -C site log -1 --format=%ad --date=iso)" "2018-02-03 00:00:00 +0800"
doc reports/2015/c "丙报告" 2015-01-02 "丙的正文，第五版。"
nok tag-never-moved rel --tag v4
ok tag-refused-clean clean site
git -C "$C" checkout -q -- . 2>/dev/null; doc reports/2015/c "丙报告" 2015-01-02 "丙的正文，第四版。"
expect tag-list "$(git -C site tag -l | tr '\n' ' ')" "release-2017-09-29 release-2017-09-29.2 release-2017-09-29.3 v4 "

# ---- log ----
"$G" log --out site >log1
expect log-lines "$(wc -l <log1)" 4
ok log-newest-first test "$(head -1 log1 | awk '{print $1}')" = v4
ok log-counts has log1 "(+1 ~1 -1)"

# ---- verify ----
ok verify-latest "$G" verify --content "$C" --out site
nok verify-old-release "$G" verify release-2017-09-29 --content "$C" --out site
doc notices/2017/d "丁通知" 2017-03-03 "丁的正文被悄悄改了。"
"$G" verify --content "$C" --out site >ver1 2>&1; rc=$?
expect verify-tampered-rc "$rc" 1
ok verify-tampered-path has ver1 "M notices/2017/d/index.html"
doc notices/2017/d "丁通知" 2017-03-03 "丁的正文。"
git clone -q site tampered
echo "<!-- hand edit -->" >>tampered/index.html
git -C tampered -c user.name=x -c user.email=x@x commit -qam "hand edit"
"$G" verify --content "$C" --out tampered >ver2 2>&1; rc=$?
expect verify-tampered-release-rc "$rc" 1
ok verify-tampered-release-path has ver2 "M index.html"

# ---- one load per release: the same release as when every build loads ----
# (the pending build uses the as-of build's content, see build_keep in
# build.h; GAZETTE_TEST_NO_BUILD_KEEP makes each build load as before)
cp -a site keep1 && cp -a site keep2
doc notices/2017/d "丁通知" 2017-03-03 "丁的正文，一页的修订。"
rel --out "$T/keep1" -m "一页" >outk1 2>errk1; rc1=$?
GAZETTE_TEST_NO_BUILD_KEEP=1 rel --out "$T/keep2" -m "一页" >outk2 2>errk2; rc2=$?
expect keep-rc "$rc1 $rc2" "0 0"
expect keep-same-commit "$(git -C keep1 rev-parse HEAD)" "$(git -C keep2 rev-parse HEAD)"
expect keep-same-tree "$(git -C keep1 rev-parse HEAD^{tree})" "$(git -C keep2 rev-parse HEAD^{tree})"
expect keep-same-tag "$(git -C keep1 rev-parse "$(sed -n 's/^tag //p' outk1)")" \
  "$(git -C keep2 rev-parse "$(sed -n 's/^tag //p' outk2)")"
untimed() { sed 's/ (build [0-9.]*s, git [0-9.]*s)$//' "$1"; }
expect keep-same-stderr "$(untimed errk1)" "$(untimed errk2)"
ok keep-changed-page has keep1/notices/2017/d/index.html "一页的修订"
ok keep-fsck fsck keep1
ok keep-clean clean keep1
ok keep-verify "$G" verify --content "$C" --out keep1
ok keep-same-files diff -r -x .git keep1 keep2

# ---- the next release trusts the records the last one left ----
# (nothing dirty, records unchanged: its first build takes site/ as
# recorded, see "trusting the output" in release.c; the reference
# releases with GAZETTE_TEST_NO_BUILD_KEEP check everything)
trusted() { grep -c '^gazette: output trusted as recorded' "$1"; }
doc notices/2017/d "丁通知" 2017-03-03 "丁的正文，第二次修订。"
GAZETTE_TIMING=1 rel --out "$T/keep1" -m "二" >outt1 2>errt1; rc1=$?
GAZETTE_TEST_NO_BUILD_KEEP=1 rel --out "$T/keep2" -m "二" >outt2 2>errt2; rc2=$?
expect trust-rc "$rc1 $rc2" "0 0"
expect trust-both-builds "$(trusted errt1)" 2
expect trust-none-without "$(trusted errt2)" 0
# the second build rendered only the pages that show the history
ok trust-again has errt1 "gazette: again: 2 of "
expect trust-same-tree "$(git -C keep1 rev-parse HEAD^{tree})" "$(git -C keep2 rev-parse HEAD^{tree})"
ok trust-same-files diff -r -x .git keep1 keep2
ok trust-clean clean keep1
# a hand edit since: refused as ever (the trust comes after that check)
cp keep1/index.html "$T/index.keep"
echo "<!-- hand edit -->" >>keep1/index.html
doc notices/2017/d "丁通知" 2017-03-03 "丁的正文，第三次修订。"
nok trust-hand-edit-refused rel --out "$T/keep1" -m "三"
cp "$T/index.keep" keep1/index.html
# the refused release removed the fingerprint: the next one checks everything
GAZETTE_TIMING=1 rel --out "$T/keep1" -m "三" >outt3 2>errt3; rc1=$?
GAZETTE_TEST_NO_BUILD_KEEP=1 rel --out "$T/keep2" -m "三" >/dev/null 2>&1; rc2=$?
expect trust-after-refusal-rc "$rc1 $rc2" "0 0"
expect trust-after-refusal-first-checks "$(trusted errt3)" 1
ok trust-after-refusal-same diff -r -x .git keep1 keep2
# a build in between changes the records: the release checks again
doc notices/2017/d "丁通知" 2017-03-03 "丁的正文，第四次修订。"
"$G" build --content "$C" --out "$T/keep1" --quiet
GAZETTE_TIMING=1 rel --out "$T/keep1" -m "四" >outt4 2>errt4; rc1=$?
GAZETTE_TEST_NO_BUILD_KEEP=1 rel --out "$T/keep2" -m "四" >/dev/null 2>&1; rc2=$?
expect trust-after-build-rc "$rc1 $rc2" "0 0"
expect trust-after-build-first-checks "$(trusted errt4)" 1
ok trust-after-build-same diff -r -x .git keep1 keep2
expect trust-after-build-tree "$(git -C keep1 rev-parse HEAD^{tree})" "$(git -C keep2 rev-parse HEAD^{tree})"
# HEAD moved by git in site/ (back to the release before, files and index
# with it): the records describe another tree, so everything is checked
git -C keep1 reset -q --hard HEAD~1 && git -C keep2 reset -q --hard HEAD~1
doc notices/2017/d "丁通知" 2017-03-03 "丁的正文，第五次修订。"
GAZETTE_TIMING=1 rel --out "$T/keep1" -m "五" >outt5 2>errt5; rc1=$?
GAZETTE_TEST_NO_BUILD_KEEP=1 rel --out "$T/keep2" -m "五" >/dev/null 2>&1; rc2=$?
expect trust-after-reset-rc "$rc1 $rc2" "0 0"
expect trust-after-reset-first-checks "$(trusted errt5)" 1
ok trust-after-reset-same diff -r -x .git keep1 keep2
ok trust-after-reset-page has keep1/notices/2017/d/index.html "第五次修订"
doc notices/2017/d "丁通知" 2017-03-03 "丁的正文。"
rm -rf keep1 keep2

# ---- determinism: two fresh directories, different TZ and cwd ----
rel --out "$T/d1" >/dev/null 2>&1
mkdir -p elsewhere && (cd elsewhere && TZ=America/New_York "$G" release --content "$C" --out "$T/d2" >/dev/null 2>&1)
expect det-tree "$(git -C d1 rev-parse HEAD^{tree})" "$(git -C d2 rev-parse HEAD^{tree})"
expect det-commit "$(git -C d1 rev-parse HEAD)" "$(git -C d2 rev-parse HEAD)"
expect det-tag "$(git -C d1 rev-parse release-2017-09-29)" "$(git -C d2 rev-parse release-2017-09-29)"

# ---- the pack: written by gazette, or by libgit2's packbuilder (fallback) ----
# Same objects either way; an empty and an incompressible attachment too.
C2=$T/content2
mkdir -p "$C2/notices/2017" "$C2/files"
cp "$C/site.yaml" "$C2/"
: >"$C2/files/empty.txt"
head -c 300000 /dev/urandom >"$C2/files/noise.bin"
printf -- '---\ntitle: "附件"\ndate: 2017-01-01\nattachments:\n  - {title: 空, file: empty.txt}\n  - {title: 噪声, file: noise.bin}\n---\n\n正文。\n' >"$C2/notices/2017/f.md"
"$G" release --content "$C2" --out "$T/p1" >/dev/null 2>&1
GAZETTE_RELEASE_PACKBUILDER=1 "$G" release --content "$C2" --out "$T/p2" >/dev/null 2>&1
expect pack-same-commit "$(git -C p1 rev-parse HEAD)" "$(git -C p2 rev-parse HEAD)"
ok pack-has-empty git -C p1 cat-file -e HEAD:files/empty.txt
expect pack-noise-intact "$(git -C p1 cat-file blob HEAD:files/noise.bin | cmp - "$C2/files/noise.bin" && echo same)" same
ok pack-verify sh -c 'for i in p1/.git/objects/pack/*.idx; do git -C p1 verify-pack "$PWD/$i" || exit 1; done'
ok pack-fsck fsck p1
ok pack-fallback-fsck fsck p2

# ---- push to a bare repository ----
git init -q --bare "$T/bare.git"
git -C site remote add origin "$T/bare.git"
doc notices/2017/e "戊通知" 2017-04-04 "戊的正文。"
rel --push origin >out6 2>&1; rc=$?
expect push-rc "$rc" 0
expect push-branch "$(git -C bare.git rev-parse main)" "$(git -C site rev-parse HEAD)"
expect push-tags "$(git -C bare.git tag -l | wc -l)" 5
nok push-unknown-remote rel --push nosuch

# ---- dirty work tree refused (before building) ----
echo "hand edit" >>site/index.html
rel >out7 2>&1; rc=$?
expect dirty-rc "$rc" 1
ok dirty-names-path has out7 "modified: index.html"
rm site/notices/2017/a/index.html
rel >out7 2>&1
ok dirty-names-deleted has out7 "deleted: notices/2017/a/index.html"
git -C site checkout -q -- .
ok dirty-restored clean site
# The last release's index lets unchanged files go unread, but an edit in
# place, same size, mtime put back, is still seen (its ctime moved).
cp -p site/robots.txt robots.keep
printf X | dd of=site/robots.txt bs=1 count=1 conv=notrunc 2>/dev/null
touch -r robots.keep site/robots.txt
rel >out7 2>&1; rc=$?
expect dirty-inplace-rc "$rc" 1
ok dirty-inplace-path has out7 "modified: robots.txt"
git -C site checkout -q -- .
ok dirty-inplace-restored clean site

# ---- the same checks by the record of directories ----
# Two releases with no git command between them (git status rewrites the
# index, which sends the check the slow way): the second one's check goes
# by site/.git/gazette-dirs and it updates the index in place.
doc notices/2017/h "辛通知" 2017-07-07 "辛的正文。"
ok fastcheck-rel1 rel -m h
doc notices/2017/i "壬通知" 2017-07-08 "壬的正文。"
# (with the portable SHA-1: the pack's and the index's checksums)
ok fastcheck-rel2 env GAZETTE_NO_SHA_NI=1 "$G" release --content "$C" -m i
ok fastcheck-record test -s site/.git/gazette-dirs
ok fastcheck-index-is-head git -C site diff-index --cached --quiet HEAD
# Local edits of every kind, each in its own directory: an edit in place
# (same size, mtime put back), a file added to a directory, one removed,
# a new directory, a file turned into a directory.
f=site/notices/2017/a/index.html
cp -p $f inplace.keep
printf X | dd of=$f bs=1 count=1 conv=notrunc 2>/dev/null
touch -r inplace.keep $f
echo extra >site/notices/2017/e/extra.html
rm site/reports/2015/c/index.html
mkdir site/reports/new && echo n >site/reports/new/x.html
rm site/notices/2017/h/index.html && mkdir site/notices/2017/h/index.html && echo y >site/notices/2017/h/index.html/y
ok fastcheck-still-recorded test -s site/.git/gazette-dirs
rel >out12 2>&1; rc=$?
expect fastcheck-rc "$rc" 1
ok fastcheck-inplace has out12 "modified: notices/2017/a/index.html"
ok fastcheck-added has out12 "added: notices/2017/e/extra.html"
ok fastcheck-deleted has out12 "deleted: reports/2015/c/index.html"
ok fastcheck-newdir has out12 "added: reports/new/x.html"
ok fastcheck-typechange has out12 "modified: notices/2017/h/index.html (a directory now)"
# Without the record (the slow way) the same list.
mv site/.git/gazette-dirs dirs.keep
rel >out13 2>&1
expect fastcheck-same-as-slow "$(grep -c '^  ' out12) $(grep '^  ' out12 | md5sum)" "$(grep -c '^  ' out13) $(grep '^  ' out13 | md5sum)"
mv dirs.keep site/.git/gazette-dirs
# A record for another index (git rewrote it) is not believed.
rm -rf site/reports/new site/notices/2017/e/extra.html site/notices/2017/h/index.html
git -C site checkout -q -- .
printf X | dd of=$f bs=1 count=1 conv=notrunc 2>/dev/null
touch -r inplace.keep $f
rel >out14 2>&1; rc=$?
expect fastcheck-other-index-rc "$rc" 1
ok fastcheck-other-index has out14 "modified: notices/2017/a/index.html"
git -C site checkout -q -- .
ok fastcheck-restored clean site

# ---- past releases' document lists, kept in site/.git/gazette-history ----
ok histcache-kept grep -q '^C [0-9a-f]\{40\} ' site/.git/gazette-history
printf 'gazette-history 1\nC zz\n' >site/.git/gazette-history   # damaged: ignored
doc notices/2017/j "癸通知" 2017-07-09 "癸的正文。"
ok histcache-damaged-rel rel -m j
ok histcache-rewritten grep -q '^A /notices/2017/i/$' site/.git/gazette-history
ok histcache-new-commit grep -q "^C $(git -C site rev-parse HEAD) 1 " site/.git/gazette-history
# The history (hence every page) as verify computes it, from the trees.
ok histcache-verify "$G" verify --content "$C" --out site
ok histcache-fsck fsck site
ok histcache-clean clean site
# The lists kept for a new commit as it was made are those computed later
# from its tree (a release with nothing to release computes them all).
sort site/.git/gazette-history >hist.kept
rm site/.git/gazette-history
ok histcache-nothing rel
sort site/.git/gazette-history >hist.computed
ok histcache-same cmp hist.kept hist.computed
# An index written here (the check went by the record), SHA instructions.
doc notices/2017/k "子通知" 2017-07-10 "子的正文。"
ok ownindex-rel1 rel -m k
doc notices/2017/l "丑通知" 2017-07-11 "丑的正文。"
ok ownindex-rel2 rel -m l
ok ownindex-is-head git -C site diff-index --cached --quiet HEAD
ok ownindex-fsck fsck site
ok ownindex-clean clean site

# ---- lock ----
sleep 30 & live=$!
echo $live >site/.git/gazette-release.lock
rel >out8 2>&1; rc=$?
kill $live 2>/dev/null; wait $live 2>/dev/null
expect lock-rc "$rc" 1
ok lock-running has out8 "another release is running"
rel >out8 2>&1
ok lock-stale has out8 "stale lock"
ok lock-not-stolen test -f site/.git/gazette-release.lock
rm site/.git/gazette-release.lock

# ---- a preview build into site/ is not a hand edit ----
doc notices/2017/g "庚通知" 2017-06-06 "庚的正文。"
"$G" build --content "$C" --out site >/dev/null 2>&1
ok prebuilt-dirty test -n "$(git -C site status --porcelain)"
rel >out11 2>&1; rc=$?
expect prebuilt-rc "$rc" 0
ok prebuilt-msg has <(git -C site log -1 --format=%B) "  + 庚通知 (/notices/2017/g/)"
ok prebuilt-clean clean site
ok prebuilt-verify "$G" verify --content "$C" --out site
# A preview of content edited again since: the files are still only what a
# build left, by the build cache's records, so no temp build is needed to
# tell (a TMPDIR that does not exist would fail one).
doc notices/2017/m "寅通知" 2017-07-12 "寅的正文。"
"$G" build --content "$C" --out site >/dev/null 2>&1
ok preview-older-dirty test -n "$(git -C site status --porcelain)"
doc notices/2017/m "寅通知" 2017-07-12 "寅的正文，改过。"
TMPDIR=$T/no-such-dir rel >out12 2>&1; rc=$?
expect preview-older-rc "$rc" 0
ok preview-older-page has site/notices/2017/m/index.html "寅的正文，改过。"
ok preview-older-clean clean site
ok preview-older-verify "$G" verify --content "$C" --out site
# ... but a file changed by hand after the preview is refused, and so is
# a file the preview left and a hand deleted; the release changes nothing.
doc notices/2017/m "寅通知" 2017-07-12 "寅的正文，再改。"
"$G" build --content "$C" --out site >/dev/null 2>&1
head_before=$(git -C site rev-parse HEAD)
echo "<!-- hand edit -->" >>site/feed.xml
nok preview-hand-edit rel
rel >out13 2>&1
ok preview-hand-edit-named has out13 "modified: feed.xml"
ok preview-hand-edit-kept has site/feed.xml "<!-- hand edit -->"
"$G" build --content "$C" --out site >/dev/null 2>&1
rm site/notices/2017/m/index.html
rel >out14 2>&1; rc=$?
expect preview-hand-delete-rc "$rc" 1
ok preview-hand-delete-named has out14 "deleted: notices/2017/m/index.html"
expect preview-refused-head "$(git -C site rev-parse HEAD)" "$head_before"
"$G" build --content "$C" --out site >/dev/null 2>&1
TMPDIR=$T/no-such-dir rel >out15 2>&1; rc=$?
expect preview-rebuilt-rc "$rc" 0
ok preview-rebuilt-clean clean site
# A preview that changes every kind of file (a new site title: pages, the
# stats pages and data, the feed): each is in the records.
sed -i 's/^title: 测试站/title: 测试站二/' "$C/site.yaml"
"$G" build --content "$C" --out site >/dev/null 2>&1
ok preview-all-kinds-dirty has <(git -C site status --porcelain) "feed.xml"
if [ -f "$C/stats/snapshot.sql" ]; then
  ok preview-all-kinds-stats has <(git -C site status --porcelain) "stats/index.html"
fi
TMPDIR=$T/no-such-dir rel >out16 2>&1; rc=$?
expect preview-all-kinds-rc "$rc" 0
ok preview-all-kinds-clean clean site
ok preview-all-kinds-title has site/feed.xml "测试站二"
sed -i 's/^title: 测试站二/title: 测试站/' "$C/site.yaml"

# ---- interrupted releases: kill -9 at named steps and at random times ----
doc notices/2017/f "己通知" 2017-05-05 "己的正文。"
old=$(git -C site rev-parse HEAD)
git clone -q site ref && rel --out "$T/ref" >/dev/null 2>&1
new=$(git -C ref rev-parse HEAD)
newtag=$(git -C ref log -1 --format='%(trailers:key=Release-Tag,valueonly)')
bad=0 n=0
recover() {
  rm -f site/.git/gazette-release.lock
  find site/.git -name '*.lock' -delete   # git's own, left by a kill mid-update (named by gazette)
  git -C site reset -q --hard && git -C site clean -qfd
}
check() {   # after a kill: valid repository, HEAD old or new
  n=$((n + 1))
  fsck site || { echo "  fsck failed after $1"; bad=$((bad + 1)); }
  h=$(git -C site rev-parse HEAD)
  [ "$h" = "$old" ] || [ "$h" = "$new" ] || { echo "  HEAD $h after $1"; bad=$((bad + 1)); }
  [ -e site/.git/gazette-release.lock ] && { rel >out9 2>&1; grep -q "stale lock" out9 || { echo "  no stale-lock message after $1:"; cat out9; bad=$((bad + 1)); }; }
  recover
  if [ "$h" = "$new" ]; then   # go back to the old release for the next round
    git -C site update-ref refs/heads/main "$old" && git -C site reset -q --hard && { git -C site tag -d "$newtag" >/dev/null 2>&1 || :; }
  fi
}
for step in locked built built2 pack commit ref tag index; do
  GAZETTE_RELEASE_TEST_KILL_AT=$step rel >/dev/null 2>&1
  check "step $step"
done
# Time one whole release (tens of milliseconds, far more under a
# sanitizer or a loaded machine), then kill releases at 24 points along
# that time, and later.
t0=$(date +%s%N); rel >/dev/null 2>&1; t1=$(date +%s%N)
check "timed release"
rt=$(( (t1 - t0) / 1000000 )); [ "$rt" -ge 24 ] || rt=24
mid=0 landed=0
for ms in $(seq 1 $((rt / 24)) "$rt") $((rt * 3 / 2)) $((rt * 3)); do
  timeout -s KILL "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))" "$G" release --content "$C" >/dev/null 2>&1
  [ -e site/.git/gazette-release.lock ] && mid=$((mid + 1))
  [ "$(git -C site rev-parse HEAD)" = "$new" ] && landed=$((landed + 1))
  check "kill after ${ms}ms"
done
expect kill-loop-ok "$bad" 0
ok kill-rounds test "$n" -ge 30
ok kill-hit-mid-release test "$mid" -ge 3      # some kills landed inside a release
ok kill-some-completed test "$landed" -ge 1    # and some releases completed
rel >out10 2>&1
expect kill-then-release "$(git -C site rev-parse HEAD)" "$new"
ok kill-final-fsck fsck site
ok kill-final-clean clean site

# ---- git log is clean: every commit a release with its trailers ----
expect log-all-generator "$(git -C site log --format='%(trailers:key=Generator,valueonly)' | grep -c 'gazette')" "$(git -C site rev-list --count HEAD)"
expect log-linear "$(git -C site rev-list --merges --count HEAD)" 0
ok log-stat git -C site log --stat -1
ok final-fsck fsck site
