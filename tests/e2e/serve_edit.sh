#!/usr/bin/env bash
# serve_edit.sh - `gazette serve`'s rebuilds after edits, in its own
# temporary output directory, where a rebuild after edits of documents only
# is made from the last good build (build_edit: their pages and the search
# index made again, every other file kept). After each change, of every
# kind that may or may not take that path, the served tree must be exactly
# what a build from nothing gives (diff -r against `gazette build
# --no-cache`), and the server's timing lines must say which path it took.
# Every wait is bounded; the server is killed on any exit.
. "$(dirname "$0")/lib.sh"

stop_server_at_exit

cp -r "$ROOT/content" "$T/content"
cp -r "$ROOT/templates" "$T/templates"
mkdir -p "$T/tmp"
log=$T/serve.log
# GAZETTE_TIMING: the "edit: N of M pages rendered" line tells the path.
TMPDIR=$T/tmp GAZETTE_TIMING=1 "$GAZETTE" serve --port 0 --content "$T/content" \
  --templates "$T/templates" >"$log" 2>&1 &
pid=$!
wait_serving "$log" "$pid"
out=$(sed -n 's/^Serving \(.*\) at http.*/\1/p' "$log" | head -1)
case $out in
  "$T"/tmp/gazette-serve-*) echo "PASS serve_edit:start" ;;
  *) echo "FAIL serve_edit:start: output dir [$out] not under TMPDIR"; sed 's/^/      /' "$log" | head; exit 1 ;;
esac

built_re='^gazette: \(re\)\?built \|build failed'

n1=$T/content/notices/2017/dalian-ten-measures-division-of-labour.md
n2=$T/content/notices/2021/qinhuangdao-union-building-campaign.md
r1=$(ls "$T"/content/reports/2020/*.md | head -1)

# Editors' side files (emacs's auto-save, vim's swap, backups) start no build.
b0=$(builds)
d1=$(dirname "$n1")
printf 'x' >"$d1/#dalian.md#"; printf 'x' >"$d1/.dalian.md.swp"; printf 'x' >"$d1/dalian.md~"
sleep 0.8
expect editor-noise-ignored "$(builds)" "$b0"
rm -f "$d1/#dalian.md#" "$d1/.dalian.md.swp" "$d1/dalian.md~"
sleep 0.5
b0=$(builds)
step body-edit edit bash -c "printf '\n\n编辑后的段落 serve-edit-1。\n' >>'$n1'"
has "$out/notices/2017/dalian-ten-measures-division-of-labour/index.html" "serve-edit-1" &&
  echo "PASS serve_edit:body-edit-shown" || echo "FAIL serve_edit:body-edit-shown"
step same-bytes edit touch "$n1"
step two-docs edit bash -c "printf '\n\n另一段 serve-edit-2。\n' >>'$n1'; printf '\n\n第三段 serve-edit-3。\n' >>'$r1'"
step title-edit full sed -i 's/^title: .*/title: "serve edit 改过的标题"/' "$n2"
step body-after-full edit bash -c "printf '\n\n又一段 serve-edit-4。\n' >>'$n2'"
step date-edit full sed -i 's/^date: .*/date: 2021-12-31/' "$n2"
step tags-edit full sed -i 's/^  - "经费返还"$/  - "经费返还改"/' "$n1"
step new-doc full bash -c "sed -e 's/^title: .*/title: \"serve edit 新文件\"/' '$n2' >'$T/content/notices/2021/serve-edit-new.md'"
step delete-doc full rm -f "$T/content/notices/2021/serve-edit-new.md"
# A document the load warned about: its warning is said by every build, and
# only a full load can tell whether an edit changed it.
w=$T/content/notices/2021/serve-edit-warned.md
step warned-new full bash -c "sed -e 's/^title: .*/title: \"serve edit 年份不符\"/' -e 's/^date: .*/date: 2020-05-01/' '$n2' >'$w'"
ok warned-said grep -q "serve-edit-warned.md:.*not in the folder's year" "$log"
step warned-edit full bash -c "printf '\n\n警告 serve-edit-6。\n' >>'$w'"
step warned-delete full rm -f "$w"
# A document without a summary: its excerpt is its first words, which
# lists and the feed show. An edit there moves it on those pages (full);
# one at the end of a long body does not (edit).
x=$T/content/notices/2021/serve-edit-excerpt.md
long=$(python3 -c "print('第一段落的文字' * 60)")
step excerpt-new full bash -c "printf -- '---\ntitle: 无摘要的通知\ndate: 2021-06-01\n---\n\n%s\n\n第二段。\n' '$long' >'$x'"
step excerpt-edit full sed -i 's/^第一段落的文字/改过的开头/' "$x"
step excerpt-tail edit bash -c "printf '\n\n结尾新增一段 serve-edit-7。\n' >>'$x'"
step excerpt-delete full rm -f "$x"
step template-edit full bash -c "printf '<!-- serve-edit template -->\n' >>'$T/templates/doc.mustache'"
step site-edit full bash -c "printf '\n# serve edit\n' >>'$T/content/site.yaml'"
# A document made invalid: the build fails (the error page), the fix is a
# full build again, and edits take the short path after it.
b0=$(builds)
cp "$n1" "$T/n1.orig"
printf -- '---\ntitle: [unclosed\n---\n' >"$n1"
settle $((b0 + 1)) && sleep 0.3
ok broken-reported grep -q "build failed" "$log"
step fixed full cp "$T/n1.orig" "$n1"
step body-after-fix edit bash -c "printf '\n\n修好后 serve-edit-5。\n' >>'$n1'"

# Every build, one made from the last too, says what the snapshot's load
# said (the content's snapshot warns of a district total).
expect snapshot-said-each-build "$(grep -c 'warning: table reported_totals' "$log")" "$(builds)"

signal_server INT
expect stops "$rc" 0
nok temp-out-removed test -e "$out"
