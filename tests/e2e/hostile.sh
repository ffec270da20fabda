#!/usr/bin/env bash
# End-to-end: hostile input. Every case must end in either a correct page
# (exit 0) or a clear "FILE:LINE: error:" (exit 1); never a crash (exit
# status >= 128, or any sanitizer report on stderr), never a hang, and never
# a file written (or read and published) outside the output directory.
# Big inputs are generated here at run time. Also: what is published is
# safe (raw HTML, javascript: URLs, escaping in HTML/XML/JSON/CSV, private
# snapshot columns).
. "$(dirname "$0")/lib.sh"

TMO=${HOSTILE_TIMEOUT:-60}
OUTSIDE=$T/outside            # must never change
mkdir -p "$OUTSIDE/dir" "$T/logs"
echo "outside" > "$OUTSIDE/dir/keep.txt"
SECRET=$OUTSIDE/secret.txt
echo "TOP-SECRET-7f3a9c" > "$SECRET"

# new_case NAME: fresh sandbox $T/sb/NAME with content/ (C) and site/ (O).
new_case() { CASE=$1; C=$T/sb/$1/content; O=$T/sb/$1/site; mkdir -p "$C"; }
doc() { # doc REL: write stdin as content/REL
  mkdir -p "$(dirname "$C/$1")"; cat > "$C/$1"; }

# run_gz WANT ARGS...: run gazette; WANT is ok (exit 0), err (exit 1 with a
# FILE:LINE: error: message) or any (either). Checks crash, sanitizer, hang
# and writes outside the sandbox. Sets RC and ERR (stderr file).
run_gz() {
  local want=$1; shift
  local mark=$T/logs/$CASE.mark
  ERR=$T/logs/$CASE.err
  touch "$mark"; sleep 0.01
  timeout "$TMO" "$GAZETTE" "$@" >"$T/logs/$CASE.out" 2>"$ERR"; RC=$?
  local why=""
  if [ "$RC" -eq 124 ]; then why="timed out after ${TMO}s"
  elif [ "$RC" -ge 128 ]; then why="crashed (exit $RC)"
  elif grep -qE 'Sanitizer|runtime error:|==[0-9]+==ERROR' "$ERR"; then why="sanitizer report"
  fi
  # Nothing may change outside this case's sandbox (and our logs).
  local stray
  stray=$(find "$T" -newer "$mark" ! -path "$T/sb/$CASE" ! -path "$T/sb/$CASE/*" \
          ! -path "$T/logs" ! -path "$T/logs/*" ! -path "$T" ! -path "$T/sb" 2>/dev/null | head -3 | tr "\n" " ")
  [ -z "$stray" ] || why="${why:+$why; }wrote outside the sandbox: $stray"
  if [ -z "$why" ]; then
    case $want in
      ok)  [ "$RC" -eq 0 ] || why="exit $RC, want 0" ;;
      err) if [ "$RC" -ne 1 ]; then why="exit $RC, want 1"
           elif ! grep -qE '^[^ ]+:[0-9]+(:[0-9]+)?: error: ' "$ERR"; then why="no FILE:LINE: error: message"; fi ;;
      errf) if [ "$RC" -ne 1 ]; then why="exit $RC, want 1"   # binary input: FILE: error is enough
           elif ! grep -qE '^[^ ]+(:[0-9]+(:[0-9]+)?)?: error: ' "$ERR"; then why="no FILE: error: message"; fi ;;
      any) if [ "$RC" -ne 0 ] && { [ "$RC" -ne 1 ] || ! grep -qE ': error: ' "$ERR"; }; then
             why="exit $RC without a clear error"; fi ;;
    esac
  fi
  if [ -z "$why" ]; then echo "PASS $E2E_NAME:$CASE"
  else echo "FAIL $E2E_NAME:$CASE: $why"; head -c 1500 "$ERR" | sed 's/^/      /'; fi
}
build_case() { local want=$1; shift; run_gz "$want" build --content "$C" --out "$O" --quiet "$@"; }
no_secret() { # the secret and /etc/passwd never reach the site
  if [ -d "$O" ] && grep -rqsE 'TOP-SECRET-7f3a9c|^root:.*:0:0:' "$O"; then
    echo "FAIL $E2E_NAME:$CASE-leak: outside file published"; else echo "PASS $E2E_NAME:$CASE-no-leak"; fi; }
html_ok() { # every page is complete
  local bad; bad=$(find "$O" -name '*.html' -exec sh -c 'tail -c 200 "$1" | grep -q "</html>" || echo "$1"' _ {} \; | head -1)
  expect "$CASE-complete-pages" "$bad" ""; }
FM='---\ntitle: "t"\ndate: 2020-01-02\n---\n'

# --- encoding ---
new_case invalid-utf8-body
printf -- "$FM"'ok \xff\xfe bad\n' | doc notices/2020/a.md
build_case err
new_case invalid-utf8-title
printf -- '---\ntitle: "a\xc3\x28b"\ndate: 2020-01-02\n---\nx\n' | doc notices/2020/a.md
build_case err
new_case truncated-utf8
printf -- "$FM"'截断\xe4\xb8' | doc notices/2020/a.md
build_case err
new_case overlong-utf8
printf -- "$FM"'\xc0\xaf\xe0\x80\xaf \xed\xa0\x80\n' | doc notices/2020/a.md
build_case err
new_case nul-byte
printf -- "$FM"'a\0b\n' | doc notices/2020/a.md
build_case any
new_case bom-crlf
printf -- '\xef\xbb\xbf---\r\ntitle: "t"\r\ndate: 2020-01-02\r\n---\r\n正文\r\n' | doc notices/2020/a.md
build_case ok
new_case empty-file
: | doc notices/2020/a.md
build_case err
new_case unclosed-fm
printf -- '---\ntitle: x\n' | doc notices/2020/a.md
build_case err

# --- the static corpus in tests/hostile/: each document built alone ---
for f in "$ROOT"/tests/hostile/*.md; do
  new_case "corpus-$(basename "$f" .md)"
  mkdir -p "$C/notices/2020"; cp "$f" "$C/notices/2020/x.md"
  build_case any
  no_secret
  if [ "$RC" -eq 0 ]; then
    ok "$CASE-no-raw-html" bash -c "! grep -rlE '<script>|<iframe|<img src=x|href=\"(javascript|&#106;)' '$O' --include=*.html --include=*.xml | grep ."
  fi
done

# --- size and depth ---
new_case huge-line
{ printf -- "$FM"; python3 -c "import sys; sys.stdout.write('长'*349525 + 'x\n')"; } | doc notices/2020/a.md
build_case ok
html_ok
new_case ten-mb
{ printf -- "$FM"; python3 -c "
import sys
para='第一条 为了规范工会经费的使用和管理 **加强** [链接](/x) and some ascii words here. '*20+'\n\n'
sys.stdout.write(('## 标题\n\n- 项目\n- 项目\n\n'+para*5)*int(10e6/(len(para.encode())*5+40)))"; } | doc notices/2020/a.md
build_case ok
html_ok
new_case deep-list
{ printf -- "$FM"; python3 -c "print('- '*10000 + 'x')"; } | doc notices/2020/a.md
build_case ok
new_case deep-list-indented
{ printf -- "$FM"; python3 -c "
for i in range(2000): print('  '*i + '- item %d' % i)"; } | doc notices/2020/a.md
build_case ok
new_case deep-quote
{ printf -- "$FM"; python3 -c "print('> '*10000 + 'x')"; } | doc notices/2020/a.md
build_case ok
new_case deep-inline
{ printf -- "$FM"; python3 -c "print('['*50000 + '*'*50000 + '<'*50000 + '\`'*20000 + ')'*50000)"; } | doc notices/2020/a.md
build_case ok
new_case many-headings
{ printf -- "$FM"; python3 -c "
for i in range(20000): print('## 同名\n')"; } | doc notices/2020/a.md
TMO=20 build_case ok     # was cubic in markdown.c heading de-duplication

# --- YAML ---
new_case yaml-bomb
cat <<'Y' | doc notices/2020/a.md
---
title: t
date: 2020-01-02
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
---
x
Y
build_case err
expect yaml-bomb-refused "$(grep -c 'alias' "$ERR" | sed 's/^[1-9][0-9]*$/yes/')" yes
new_case yaml-bomb-site
printf -- 'a: &a [x, x]\nb: [*a, *a]\n' > "$C/site.yaml"
printf -- "$FM"'x\n' | doc notices/2020/a.md
build_case err
new_case yaml-deep
{ printf -- '---\ntitle: t\ndate: 2020-01-02\nx: '; python3 -c "print('['*10000 + ']'*10000)"; printf -- '---\nx\n'; } | doc notices/2020/a.md
build_case err
new_case yaml-deep-map
{ printf -- '---\ntitle: t\ndate: 2020-01-02\nx:\n'; python3 -c "
for i in range(1,300): print(' '*i + 'k%d:' % i)"; printf -- '---\nx\n'; } | doc notices/2020/a.md
build_case err
new_case yaml-tags
printf -- '---\ntitle: !!binary aGVsbG8=\ndate: !!timestamp 2020-01-02\nx: !<tag:yaml.org,2002:python/object> {}\n---\nx\n' | doc notices/2020/a.md
build_case any
new_case yaml-types
printf -- '---\ntitle: [a, b]\ndate: {y: 2020}\ntags: {a: b}\nattachments: "x"\ndraft: maybe\n---\nx\n' | doc notices/2020/a.md
build_case err
new_case yaml-huge-key
{ printf -- '---\ntitle: t\ndate: 2020-01-02\n'; python3 -c "print('k'*1000000 + ': v')"; printf -- '---\nx\n'; } | doc notices/2020/a.md
build_case any

# --- templates ---
new_case template-self-partial
printf -- "$FM"'x\n' | doc notices/2020/a.md
mkdir -p "$T/sb/$CASE/tpl"
printf '{{>doc}}' > "$T/sb/$CASE/tpl/doc.mustache"
build_case err --templates "$T/sb/$CASE/tpl"
ok template-self-partial-no-site test ! -e "$O/notices/2020/t/index.html"
new_case template-mutual
printf -- "$FM"'x\n' | doc notices/2020/a.md
mkdir -p "$T/sb/$CASE/tpl"
printf '{{<layout}}{{$main}}{{>p1}}{{/main}}{{/layout}}' > "$T/sb/$CASE/tpl/doc.mustache"
printf '{{#doc}}{{>p2}}{{/doc}}' > "$T/sb/$CASE/tpl/p1.mustache"
printf '{{>p1}}' > "$T/sb/$CASE/tpl/p2.mustache"
build_case err --templates "$T/sb/$CASE/tpl"
new_case template-self-parent
printf -- "$FM"'x\n' | doc notices/2020/a.md
mkdir -p "$T/sb/$CASE/tpl"
printf '{{<doc}}{{$main}}x{{/main}}{{/doc}}' > "$T/sb/$CASE/tpl/doc.mustache"
build_case err --templates "$T/sb/$CASE/tpl"
new_case template-syntax
printf -- "$FM"'x\n' | doc notices/2020/a.md
mkdir -p "$T/sb/$CASE/tpl"
printf 'line1\n{{#doc}}\n{{/wrong}}\n{{=| |=}}|x\n' > "$T/sb/$CASE/tpl/doc.mustache"
build_case err --templates "$T/sb/$CASE/tpl"
grep -qE 'doc.mustache:[0-9]+:[0-9]+: error' "$ERR"; expect template-syntax-col "$?" 0
new_case template-deep-sections
printf -- "$FM"'x\n' | doc notices/2020/a.md
mkdir -p "$T/sb/$CASE/tpl"
python3 -c "print('{{#doc}}'*5000 + '{{/doc}}'*5000)" > "$T/sb/$CASE/tpl/doc.mustache"
build_case err --templates "$T/sb/$CASE/tpl"

# --- paths ---
new_case attach-dotdot
printf -- '---\ntitle: t\ndate: 2020-01-02\nattachments: [{title: x, file: ../../etc/passwd}]\n---\nx\n' | doc notices/2020/a.md
build_case err
no_secret
new_case attach-absolute
printf -- '---\ntitle: t\ndate: 2020-01-02\nattachments: [{title: x, file: %s}]\n---\nx\n' "$SECRET" | doc notices/2020/a.md
build_case err
no_secret
new_case attach-symlink
mkdir -p "$C/files"; ln -s "$SECRET" "$C/files/s.txt"
printf -- '---\ntitle: t\ndate: 2020-01-02\nattachments: [{title: x, file: s.txt}]\n---\nx\n' | doc notices/2020/a.md
build_case err
no_secret
new_case attach-symlink-dir
mkdir -p "$C/files"; ln -s "$OUTSIDE" "$C/files/d"
printf -- '---\ntitle: t\ndate: 2020-01-02\nattachments: [{title: x, file: d/secret.txt}]\n---\nx\n' | doc notices/2020/a.md
build_case err
no_secret
new_case attach-files-symlink
ln -s "$OUTSIDE" "$C/files"
printf -- '---\ntitle: t\ndate: 2020-01-02\nattachments: [{title: x, file: secret.txt}]\n---\nx\n' | doc notices/2020/a.md
build_case any
no_secret
new_case attach-ok
mkdir -p "$C/files/sub dir"; echo "pdf" > "$C/files/sub dir/附件 1.pdf"
printf -- '---\ntitle: t\ndate: 2020-01-02\nattachments: [{title: x, file: "sub dir/附件 1.pdf"}]\n---\nx\n' | doc notices/2020/a.md
build_case ok
ok attach-ok-copied test -f "$O/files/sub dir/附件 1.pdf"
new_case doc-symlink-outside
mkdir -p "$C/notices/2020"; printf -- "$FM"'TOP-SECRET-7f3a9c\n' > "$OUTSIDE/doc.md"
ln -s "$OUTSIDE/doc.md" "$C/notices/2020/a.md"
printf -- "$FM"'x\n' | doc notices/2020/b.md
build_case any
no_secret
new_case out-symlink-inside
printf -- "$FM"'x\n' | doc notices/2020/a.md
mkdir -p "$O"; ln -s "$OUTSIDE/dir" "$O/notices"
build_case any
expect out-symlink-inside-untouched "$(ls "$OUTSIDE/dir")" keep.txt
new_case cjk-space-name
printf -- "$FM"'带空格的文件名\n' | doc "notices/2020/带 空格.md"
printf -- '---\ntitle: "q"\ndate: 2020-01-03\n---\nx\n' | doc "notices/2020/it's <b>&\"q\".md"
build_case any
if [ "$RC" -eq 0 ]; then
  n=$(grep -l '带空格的文件名' "$O"/notices/2020/*/index.html | wc -l)
  expect cjk-space-name-page "$n" 1
  ok cjk-space-name-no-raw-quote bash -c "! grep -rq '<b>&\"q\"' '$O' --include=*.html"
fi
new_case dotdot-dir
mkdir -p "$C/notices/2020/..hidden" "$C/notices/.." 2>/dev/null
printf -- "$FM"'x\n' | doc "notices/2020/..x.md"
printf -- "$FM"'x\n' | doc "notices/2020/-rf.md"
build_case any

# --- snapshot ---
new_case snapshot-hostile
mkdir -p "$C/stats"
printf -- "$FM"'x\n' | doc notices/2020/a.md
XSS="<img src=x onerror=alert(1)>\"'&amp;"
sed -e "s|'秦皇岛海韵商贸有限公司'|'$(printf '%s' "$XSS" | sed "s/'/''/g")''); DROP TABLE districts;--'|" \
    -e "s|'昌黎县'|'=HYPERLINK(\"http://evil\")<svg onload=x>'|" \
    "$ROOT/content/stats/snapshot.sql" > "$C/stats/snapshot.sql"
build_case any
if [ "$RC" -eq 0 ]; then
  ok snapshot-hostile-no-raw bash -c "! grep -rlF '<img src=x' '$O' --exclude=*.csv --exclude=*.json | grep ."
  ok snapshot-hostile-no-svg-onload bash -c "! grep -rlF '<svg onload' '$O' --exclude=*.csv | grep ."
  ok snapshot-hostile-json-valid python3 -c "
import json,sys,glob
names=set()
for f in glob.glob(sys.argv[1]+'/stats/*.json')+glob.glob(sys.argv[1]+'/search/*.json'):
    s=open(f,encoding='utf-8').read(); assert '<img' not in s, f
    json.loads(s)
" "$O"
  ok snapshot-hostile-csv-roundtrip python3 -c "
import csv,sys,glob
seen=False
for f in glob.glob(sys.argv[1]+'/stats/*.csv'):
    for row in csv.reader(open(f,encoding='utf-8',newline='')):
        for c in row:
            if '<img src=x' in c: seen=True; assert c.startswith(sys.argv[2]), (f,c)
            assert not c.startswith(('=','+','@')), (f,c)
assert seen
" "$O" "$XSS"
fi
new_case snapshot-attach
mkdir -p "$C/stats"
printf "ATTACH DATABASE '%s/x.db' AS x;\nCREATE TABLE x.t(a);\n" "$OUTSIDE" > "$C/stats/snapshot.sql"
build_case err
ok snapshot-attach-no-file test ! -e "$OUTSIDE/x.db"
new_case snapshot-garbage
mkdir -p "$C/stats"
head -c 20000 /dev/urandom > "$C/stats/snapshot.sqlite"
build_case errf
new_case snapshot-truncated
mkdir -p "$C/stats"
sqlite3 "$T/full.sqlite" < "$ROOT/content/stats/snapshot.sql" 2>/dev/null && head -c 8192 "$T/full.sqlite" > "$C/stats/snapshot.sqlite"
build_case errf
new_case snapshot-recursive-cte
mkdir -p "$C/stats"
{ cat "$ROOT/content/stats/snapshot.sql"
  echo "INSERT INTO snapshot_meta SELECT 'k'||x, x FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c);"; } > "$C/stats/snapshot.sql"
HOSTILE_TIMEOUT_SAVE=$TMO; TMO=10
build_case err
TMO=$HOSTILE_TIMEOUT_SAVE

# --- what is published from the sample content ---
CASE=sample; C=$ROOT/content; O=$T/sb/sample/site; mkdir -p "$T/sb/sample"
build_case ok
html_ok
priv=$(grep -oP "INSERT INTO enterprises VALUES\(\d+,'[^']*','[^']*',\d+,'\K[^']+','[^']+" "$C/stats/snapshot.sql" | tr "'," '  ' | tr ' ' '\n' | grep -v '^$' | sort -u)
leaks=0
for p in $priv; do grep -rqF -- "$p" "$O" && { leaks=$((leaks + 1)); echo "      private value in site: $p"; }; done
expect private-columns-never-published "$leaks" 0
expect private-columns-checked "$([ -n "$priv" ] && echo yes)" yes

# Raw HTML and javascript: URLs only with unsafe_html.
new_case unsafe-default
cat <<'MD' | doc notices/2020/a.md
---
title: "t"
date: 2020-01-02
---
<div class="raw">raw block</div>

inline <span onclick="x()">span</span> <script>alert(1)</script>

[a](javascript:alert(1)) [b](JAVASCRIPT:alert(1)) [c](vbscript:x) [d](data:text/html;base64,PHNjcmlwdD4=)
![i](javascript:alert(2)) <javascript:alert(3)> [e](java&#x09;script:alert(4))

[ref]: javascript:alert(5)
[r][ref]
MD
build_case ok
P=$O/notices/2020/a/index.html
ok unsafe-default-no-raw-div bash -c "! grep -q '<div class=\"raw\"' '$P'"
ok unsafe-default-no-onclick bash -c "! grep -q '<span onclick' '$P'"
ok unsafe-default-no-script bash -c "! grep -q '<script>alert' '$P'"
ok unsafe-default-no-js-url bash -c "! grep -qiE '(href|src)=\"(javascript|vbscript|data:text/html|java&)' '$P'"
new_case unsafe-on
printf 'unsafe_html: true\n' > "$C/site.yaml"
printf -- "$FM"'<div class="raw">raw block</div>\n' | doc notices/2020/a.md
build_case ok
ok unsafe-on-raw-kept has "$O/notices/2020/a/index.html" '<div class="raw">raw block</div>'

# Front matter is escaped in every output format.
new_case escape-formats
cat <<'MD' | doc notices/2020/a.md
---
title: "</title><script>t()</script> & ]]> \"q\" 'a'"
date: 2020-01-02
doc_number: "<b>号</b>"
issuer: "<i>issuer</i> & co"
summary: "</p><script>s()</script>"
tags: ["<x>tag", "a&b"]
recipients: ["<u>r</u>"]
category: "<c>"
---
body text
MD
build_case ok
ok escape-html-no-raw bash -c "! grep -rlE '<script>|<b>号|<i>issuer|<u>r</u>|<x>tag|<c>' '$O' --include=*.html | grep ."
ok escape-xml-well-formed python3 -c "
import sys,glob,xml.dom.minidom as m
for f in glob.glob(sys.argv[1]+'/*.xml'): m.parse(f)
" "$O"
ok escape-xml-no-raw bash -c "! grep -lE '<script>|<b>号|<i>issuer' '$O'/*.xml | grep ."
ok escape-json-valid python3 -c "
import sys,glob,json,os
fs=[os.path.join(d,f) for d,_,n in os.walk(sys.argv[1]) for f in n if f.endswith('.json')]
assert fs
for f in fs:
    s=open(f,encoding='utf-8').read(); json.loads(s); assert '<script>' not in s and '</' not in s, f
" "$O"
