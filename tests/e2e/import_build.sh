#!/usr/bin/env bash
# import_build.sh - the five real seed documents, imported with
# `gazette import`, build into good pages.
. "$(dirname "$0")/lib.sh"
C=$T/content
ok import "$GAZETTE" import "$SHARED/seeds" --to "$C"
expect imported-count "$(find "$C" -name '*.md' | wc -l | tr -d ' ')" 5
# Seed 000 states no date: imported as a draft, published with --drafts.
ok check "$GAZETTE" check --content "$C" --drafts
ok build "$GAZETTE" build --content "$C" --out "$T/site" --drafts --quiet
n=$(grep -rl '<p class="docno">大工办发〔2017〕28号' "$T/site/notices" --include=index.html | grep -v '/notices/index.html\|/notices/2017/index.html' | head -1)
ok notice-page test -n "$n"
ok notice-title has "$n" '责任分工方案的通知'
ok notice-issuer has "$n" '大连市总工会办公室'
ok notice-date has "$n" '2017年9月29日'
ok notice-sections grep -q '<h2 id="' "$n"
r=$(grep -rl '<p class="docno">秦工办字〔2021〕13号' "$T/site/notices" --include=index.html | grep -v 'notices/index.html\|/2021/index.html' | head -1)
ok qhd-notice-page test -n "$r"
ok qhd-table has "$r" '<table>'
j=$(grep -rlE '<h1>[^<]*强机制 重实效 严把关' "$T/site/reports" --include=index.html | grep -v 'reports/index.html\|/2022/index.html' | head -1)
ok jekyll-post-page test -n "$j"
ok jekyll-date has "$j" '2022年1月14日'
ok jekyll-html-converted bash -c "! grep -q '&lt;p&gt;' '$j'"
ok search-index-has-docnum grep -rq '大工办发' "$T/site/search"
