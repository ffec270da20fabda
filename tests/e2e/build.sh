#!/usr/bin/env bash
# End-to-end: gazette build on the repository's sample content and on
# broken content; checks pages, escaping, determinism, incremental writes.
. "$(dirname "$0")/lib.sh"

S=$T/site
ok build "$GAZETTE" build --content "$ROOT/content" --out "$S" --quiet

# Document pages: the paths are part of the contract.
N=$S/notices/2017/dalian-ten-measures-division-of-labour/index.html
ok notice-page test -f "$N"
ok notice-docno has "$N" '大工办发〔2017〕28号'
ok notice-date-zh has "$N" '2017年9月29日'
ok notice-issuer has "$N" '大连市总工会办公室'
ok notice-recipients has "$N" '各区市县总工会、开放先导区总工会'
ok notice-title-escaped has "$N" '《辽宁省总工会支持企业发展十项措施（实施细则）》'
ok notice-lang has "$N" '<html lang="zh-CN">'
ok notice-landmarks grep -q '<main id="main"' "$N"
ok notice-tag-link grep -q 'href="/tags/经费返还/"' "$N"
ok notice-heading-ids grep -q '<h2 id="' "$N"
ok report-page test -f "$S/reports/2020/qinhuangdao-micro-enterprise-fund-refund/index.html"
ok report-2022 test -f "$S/reports/2022/heze-kaifaqu-union-finance-reform/index.html"

# Lists, archives, taxonomies, home, feeds.
ok notices-list has "$S/notices/index.html" 'dalian-ten-measures-division-of-labour'
ok notices-year has "$S/notices/2021/index.html" 'qinhuangdao-union-building-campaign'
ok reports-year test -f "$S/reports/2017/index.html"
ok tags-index has "$S/tags/index.html" '经费返还'
ok tag-page test -f "$S/tags/经费返还/index.html"
ok categories test -f "$S/categories/index.html"
ok issuers test -f "$S/issuers/index.html"
ok home has "$S/index.html" '/notices/2017/dalian-ten-measures-division-of-labour/'
ok home-search-link has "$S/index.html" 'action="/search/"'
ok notfound test -f "$S/404.html"
ok robots has "$S/robots.txt" 'Sitemap: https://example.org/sitemap.xml'
ok sitemap has "$S/sitemap.xml" '<loc>https://example.org/notices/2017/dalian-ten-measures-division-of-labour/</loc>'
ok sitemap-encoded has "$S/sitemap.xml" 'https://example.org/tags/%E7%BB%8F%E8%B4%B9%E8%BF%94%E8%BF%98/'
ok feed has "$S/feed.xml" '<feed xmlns="http://www.w3.org/2005/Atom"'
ok css test -s "$S/assets/style.css"

# The allocator the Makefile linked (mimalloc, or the system's in sanitizer
# builds) is the one that serves malloc: a linker dropping -lmimalloc
# (--as-needed, -flto) would lose it silently.
want=$(cat "$BUILD/malloc" 2>/dev/null || echo "no $BUILD/malloc")
got=$(MIMALLOC_VERBOSE=1 "$GAZETTE" --version 2>&1 >/dev/null | grep -q '^mimalloc: ' && echo mimalloc || echo system)
expect allocator "$got" "$want"
if command -v python3 >/dev/null; then
  ok feed-well-formed python3 -c "import sys,xml.dom.minidom as m; m.parse(sys.argv[1]); m.parse(sys.argv[2])" "$S/feed.xml" "$S/sitemap.xml"
fi
# No build time stamps: two builds into fresh dirs are byte-identical.
ok determinism-build2 "$GAZETTE" build --content "$ROOT/content" --out "$T/site2" --quiet --threads 1
ok determinism diff -r "$S" "$T/site2"

# Incremental: a second build rewrites nothing; mtimes are kept.
touch -d '2001-01-01' "$N"
out=$("$GAZETTE" build --content "$ROOT/content" --out "$S" 2>&1)
expect incremental-summary "$(echo "$out" | grep -o '0 files written')" "0 files written"
expect mtime-kept "$(stat -c %Y "$N")" "$(date -d 2001-01-01 +%s)"
# Stale files are removed; .git is kept.
mkdir -p "$S/old" "$S/.git"; echo x > "$S/old/stale.html"; echo ref > "$S/.git/HEAD"
ok stale-build "$GAZETTE" build --content "$ROOT/content" --out "$S" --quiet
ok stale-removed test ! -e "$S/old/stale.html"
ok git-kept test -f "$S/.git/HEAD"

# Escaping of hostile titles everywhere.
C=$T/c; mkdir -p "$C/notices/2020"
cat > "$C/notices/2020/x.md" <<'MD'
---
title: "《办法》 \"引号\" & <script>alert(1)</script>"
date: 2020-01-02
tags: ["A&B <i>"]
---
<script>alert(2)</script>

[bad](javascript:alert(3))
MD
ok hostile-build "$GAZETTE" build --content "$C" --out "$T/h" --quiet
P=$T/h/notices/2020/x/index.html
ok hostile-html-escaped has "$P" '《办法》 &quot;引号&quot; &amp; &lt;script&gt;'
ok hostile-no-script bash -c "! grep -q '<script>alert' '$P'"
ok hostile-no-js-url bash -c "! grep -q 'javascript:' '$P'"
ok hostile-feed-escaped has "$T/h/feed.xml" '&lt;script&gt;'
ok hostile-search-json bash -c "! grep -rq '<script>alert' '$T/h/search'"

# Bad input: FILE:LINE messages, exit 1, output untouched; check reports all.
B=$T/bad; mkdir -p "$B/notices/2020"
printf -- '---\ntitle: ok\ndate: 2020-01-01\n---\n' > "$B/notices/2020/good.md"
printf -- '---\ndate: 2020-01-01\n---\n' > "$B/notices/2020/no-title.md"
printf -- '---\ntitle: x\ndate: 2020-02-31\n---\n' > "$B/notices/2020/bad-date.md"
printf -- '---\ntitle: [x\n---\n' > "$B/notices/2020/bad-yaml.md"
printf -- '---\ntitle: x\ndate: 2020-01-01\n---\n\xff\xfe\n' > "$B/notices/2020/bad-utf8.md"
printf -- '---\ntitle: x\ndate: 2020-01-01\nlayout: nosuch\n---\n' > "$B/notices/2020/bad-layout.md"
# (a link in the output: a good build removes it; a failed one touches
# nothing, though the output is read while the content loads)
ln -s ../index.html "$S/notices/linked.html"
cp -r "$S" "$T/before"
"$GAZETTE" build --content "$B" --out "$S" >"$T/err" 2>&1; rc=$?
expect bad-exit "$rc" 1
ok bad-untouched diff -r "$T/before" "$S"
ok bad-link-kept test -L "$S/notices/linked.html"
rm "$S/notices/linked.html" "$T/before/notices/linked.html"
ok bad-no-title has "$T/err" "bad/notices/2020/no-title.md:1: error: missing required 'title'"
ok bad-date has "$T/err" "bad-date.md:3: error: cannot parse date '2020-02-31'"
ok bad-yaml grep -q 'bad-yaml.md:[0-9]*: error: invalid YAML' "$T/err"
ok bad-utf8 has "$T/err" 'bad-utf8.md:5: error: invalid UTF-8'
ok bad-layout has "$T/err" "bad-layout.md:4: error: unknown template 'nosuch'"
"$GAZETTE" check --content "$B" >"$T/err2" 2>&1; rc=$?
expect check-exit "$rc" 1
expect check-all-errors "$(grep -c ': error: ' "$T/err2")" 5
ok no-out-created bash -c "'$GAZETTE' build --content '$B' --out '$T/never' 2>/dev/null; test ! -e '$T/never'"
# Two files with one URL.
D=$T/dup; mkdir -p "$D/notices/2020" "$D/notices/2021"
printf -- '---\ntitle: a\ndate: 2020-01-01\n---\n' > "$D/notices/2020/same.md"
printf -- '---\ntitle: b\ndate: 2020-05-01\n---\n' > "$D/notices/2021/same.md"
"$GAZETTE" build --content "$D" --out "$T/d" >"$T/err3" 2>&1
ok duplicate-url has "$T/err3" 'URL /notices/2020/same/ is already used by'

# gazette new
ok new-notice "$GAZETTE" new notice test-notice --content "$T/n" --date 2024-03-01
ok new-file has "$T/n/notices/2024/test-notice.md" 'date: 2024-03-01'
nok new-no-overwrite "$GAZETTE" new notice test-notice --content "$T/n" --date 2024-03-01
ok new-builds "$GAZETTE" build --content "$T/n" --out "$T/ns" --drafts --quiet
ok help "$GAZETTE" build --help

# Pagination: page links are the first and last pages and three either
# side of the current one, with a gap mark where pages are left out.
P=$T/pages; mkdir -p "$P"
cp -r "$ROOT/content/." "$P/"; rm -rf "$P/stats"
python3 "$SHARED/bench/make-corpus.py" "$T/pcorpus" 400 >/dev/null || echo "FAIL $E2E_NAME:make-corpus"
cp -r "$T/pcorpus/notices/." "$P/notices/"
ok pages-build "$GAZETTE" build --content "$P" --out "$T/ps" --quiet
last=$(ls "$T/ps/notices/page" | sort -n | tail -1)
ok pages-many test "$last" -ge 13
pagelinks() {   # the page numbers linked or current on list page $1, in order
  local f=$T/ps/notices/index.html
  [ "$1" = 1 ] || f=$T/ps/notices/page/$1/index.html
  grep -o '<a href="/notices/[^"]*">[0-9]*</a>\|<span aria-current="page">[0-9]*</span>\|<span class="gap">' "$f" |
    sed 's/<span class="gap">/gap/; s/<[^>]*>//g' | tr '\n' ' '
}
expect pages-first "$(pagelinks 1)" "1 2 3 4 gap $last "
expect pages-middle "$(pagelinks 8)" "1 gap 5 6 7 8 9 10 11 gap $last "
expect pages-near-start "$(pagelinks 4)" "1 2 3 4 5 6 7 gap $last "
expect pages-last "$(pagelinks "$last")" "1 gap $((last - 3)) $((last - 2)) $((last - 1)) $last "
