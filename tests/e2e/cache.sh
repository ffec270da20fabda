#!/usr/bin/env bash
# End-to-end: the build cache (.gazette-cache) never changes what a build
# produces. After each kind of change, a cached rebuild must give exactly
# the site a build without any cache gives; and the cache must be used.
. "$(dirname "$0")/lib.sh"

C=$T/content
mkdir -p "$C"
# The sample site without its stats snapshot (the corpus names other districts).
cp -r "$ROOT/content/." "$C/"
rm -rf "$C/stats"
python3 "$SHARED/bench/make-corpus.py" "$T/corpus" 200 >/dev/null || echo "FAIL $E2E_NAME:make-corpus"
cp -r "$T/corpus/notices/." "$C/notices/"
cp -r "$T/corpus/reports/." "$C/reports/"
S=$T/site      # built with the cache, again and again
F=$T/fresh     # built from nothing each time
K=$T/.gazette-cache

build() { GAZETTE_TIMING=1 "$GAZETTE" build --content "$C" --out "$S" "$@" 2>"$T/timing"; }
fresh() { rm -rf "$F"; "$GAZETTE" build --content "$C" --out "$F" --no-cache --quiet; }
same() { same_as "$S"; }
same_as() { fresh && diff -r "$1" "$F" >"$T/diff" 2>&1 || { head -20 "$T/diff"; return 1; }; }
kept() { sed -n 's/^gazette: cache: \([0-9]*\) of .*/\1/p' "$T/timing"; }
total() { sed -n 's/^gazette: cache: [0-9]* of \([0-9]*\) pages.*/\1/p' "$T/timing"; }
bodies() { sed -n 's/.*pages kept, \([0-9]*\) of .*/\1/p' "$T/timing"; }
# the search index was made again or patched (not kept whole)
searched() { grep -q '^gazette: search load' "$T/timing"; }
doc=$(ls "$C"/notices/*/*.md | sed -n 5p)
page() { local f=${doc#"$C"/}; f=${f%.md}; echo "$S/${f%%/*}/$(basename "$(dirname "$doc")")/$(basename "$f")/index.html"; }

ok first-build build
ok cache-made test -s "$K/markdown.cache"
ok first-same same
expect first-nothing-kept "$(kept)" 0

ok rebuild build
ok rebuild-same same
expect rebuild-bodies-cached "$(bodies)" "$(ls "$C"/notices/*/*.md "$C"/reports/*/*.md | wc -l)"
n_all=$(kept)
ok rebuild-keeps-pages test "$n_all" -gt 200

# A body edit: its page and the search index change, little else.
echo "增加的一段：职工服务中心。" >> "$doc"
ok edit-build build
ok edit-same same
ok edit-page-has has "$(page)" '职工服务中心'
ok edit-most-kept test "$(kept)" -ge $((n_all - 10))
ok edit-search grep -rqF '职工' "$S/search/idx"
ok edit-search-patched searched

# Front matter: the title shows in lists, neighbours, tags.
sed -i '0,/^title:.*/s//title: "改过的标题《测试》"/' "$doc"
ok title-build build
ok title-same same
ok title-in-list grep -rqF '改过的标题《测试》' "$S/notices/index.html" "$S/notices/$(basename "$(dirname "$doc")")/index.html"

# A date shows in the sitemap (lastmod), which is otherwise kept as is.
# (same year: the year is in the URL)
y=$(sed -n 's/^date: *"\{0,1\}\([0-9]\{4\}\).*/\1/p' "$doc" | head -1)
sed -i "0,/^date:.*/s//date: $y-12-30/" "$doc"
ok date-build build
ok date-same same
ok date-lastmod grep -qF "<lastmod>$y-12-30</lastmod>" "$S/sitemap.xml"

# A template in templates/ and the site settings change every page.
mkdir -p "$T/tpl"
sed 's|</footer>|<p>模板已改</p></footer>|' "$ROOT/templates/layout.mustache" > "$T/tpl/layout.mustache"
ok tpl-build build --templates "$T/tpl"
ok tpl-differs has "$S/index.html" '模板已改'
rm -rf "$F"; "$GAZETTE" build --content "$C" --out "$F" --no-cache --quiet --templates "$T/tpl"
ok tpl-same diff -r "$S" "$F"
expect tpl-none-kept "$(kept)" 0
# (the index reads the documents only: kept whole)
nok tpl-search-kept searched
ok tpl-back build
ok tpl-back-same same
sed -i 's/^title:.*/title: "新的站点名称"/' "$C/site.yaml"
ok site-build build
ok site-same same
nok site-search-kept searched
ok site-title has "$S/index.html" '新的站点名称'

# Hand edits and deletions in the output are repaired, even an edit that
# keeps the size and puts the modification time back.
p=$(page)
cp -p "$p" "$T/orig"
sed -i 's/</>/' "$p"; touch -r "$T/orig" "$p"
rm "$S/tags/index.html"
cp -p "$S/sitemap.xml" "$T/sitemap.orig"
sed -i 's/<lastmod>/<lastmod>x/' "$S/sitemap.xml"; touch -r "$T/sitemap.orig" "$S/sitemap.xml"
# Files added by hand go, even where the directory record says nothing
# changed since the last build (output.h: the state file).
echo stray > "$(dirname "$p")/stray.html"
ln -s /etc/passwd "$S/notices/linked.html"
ok repair-build build
ok repair-stray-gone test ! -e "$(dirname "$p")/stray.html"
ok repair-link-gone test ! -L "$S/notices/linked.html"
ok repair-page cmp "$p" "$T/orig"
ok repair-sitemap cmp "$S/sitemap.xml" "$T/sitemap.orig"
ok repair-same same

# A deleted document: its page goes, lists follow.
rm "$doc"
ok delete-build build
ok delete-gone test ! -e "$p"
ok delete-same same

# The document cache: files unchanged since the last build are not read
# again. Records of files younger than 2 s are checked by their bytes;
# older ones by their stat alone, which still sees an edit that keeps the
# size and puts the modification time back (the ctime moves).
ok docs-recorded bash -c "cat '$K'/docs.cache.? | grep -q 'gazette document cache'"
ok docs-sharded test "$(ls "$K"/docs.cache.? | wc -l)" -gt 1
ok md-indexed test -s "$K/markdown.cache.index"
# Temporary files of a killed build (its pid gone) are removed; another
# running process's are not.
: > "$K/docs.cache.3.tmp-999999999"; : > "$K/search-x.cache.tmp-gz999999998"; : > "$K/docs.cache.3.tmp-1"
ok tmp-build build
ok tmp-gone test ! -e "$K/docs.cache.3.tmp-999999999" -a ! -e "$K/search-x.cache.tmp-gz999999998"
ok tmp-live-kept test -e "$K/docs.cache.3.tmp-1"
rm -f "$K/docs.cache.3.tmp-1"
sleep 2.1
ok settle-build build                   # records now past the racy window
d2=$(ls "$C"/notices/*/*.md | sed -n 3p)
cp -p "$d2" "$T/orig2"
# (in place: same inode, same size, mtime put back; only the ctime moves)
python3 -c "import sys; f=open(sys.argv[1],'r+b'); d=f.read(); f.seek(d.rindex(b'1')); f.write(b'7')" "$d2"
touch -r "$T/orig2" "$d2"
ok samesize-differs bash -c "! cmp -s '$d2' '$T/orig2'"
ok samesize-build build
ok samesize-same same

# A document that loads with a warning says it again on a cached rebuild.
y=$(ls -d "$C"/notices/*/ | head -1)
sed 's/^date:.*/date: 1999-05-05/' "$d2" > "$y/warned.md"
ok warn-build build
ok warn-first grep -q 'warned.md.*not in the folder' "$T/timing"
ok warn-again-build build
ok warn-again grep -q 'warned.md.*not in the folder' "$T/timing"
ok warn-same same
rm "$y/warned.md"

# Two tags whose URLs collide get -2 by order; dropping one moves the
# other's URL, and every page that links it follows.
d3=$(ls "$C"/notices/*/*.md | sed -n 4p); d4=$(ls "$C"/reports/*/*.md | sed -n 2p)
sed -i '0,/^title:/s//tags: ["职工 之家"]\ntitle:/' "$d3"
sed -i '0,/^title:/s//tags: ["职工-之家"]\ntitle:/' "$d4"
ok collide-build build
ok collide-same same
sed -i '/^tags: \["职工-之家"\]/d' "$d4"
ok uncollide-build build
ok uncollide-same same

# A damaged cache is only a slower build: flip bytes in the middle of the
# Markdown cache, cut it mid-entry, garble the page record.
echo "再改一次。" >> "$(ls "$C"/reports/*/*.md | head -1)"
sz=$(stat -c %s "$K/markdown.cache")
printf 'XXXXXXXXXXXXXXXX' | dd of="$K/markdown.cache" bs=1 seek=$((sz / 2)) conv=notrunc 2>/dev/null
ok damaged-md-build build
ok damaged-md-same same
truncate -s $((sz / 3)) "$K/markdown.cache"
for f in "$K"/pages-*.cache; do printf 'garbage' | dd of="$f" bs=1 seek=40 conv=notrunc 2>/dev/null; done
ok cut-build build
ok cut-same same
ok cut-some-rendered test "$(bodies)" -lt "$(ls "$C"/notices/*/*.md "$C"/reports/*/*.md | wc -l)"
ok healed-build build
expect healed-all-kept "$(kept)" "$(total)"
ok healed-same same

# Bodies stay in the cache until their page renders; should the cache not
# give one back (damaged mid-build), the body is rendered again.
echo "又一次修改。" >> "$(ls "$C"/notices/*/*.md | sed -n 7p)"
ok refetch-build env GAZETTE_TEST_NO_MD_FETCH=1 "$GAZETTE" build --content "$C" --out "$S" --quiet
ok refetch-same same

# An unusable cache directory is a warning, not a failure.
rm -rf "$K"; : > "$K"
ok unusable-build build
ok unusable-warns grep -q 'build cache' "$T/timing"
ok unusable-same same
rm -f "$K"

# --no-cache leaves no cache; --cache DIR puts it elsewhere.
ok nocache-build "$GAZETTE" build --content "$C" --out "$S" --no-cache --quiet
ok nocache-none test ! -e "$K"
ok cachedir-build "$GAZETTE" build --content "$C" --out "$S" --cache "$T/elsewhere" --quiet
ok cachedir-used test -s "$T/elsewhere/markdown.cache"

# Each output directory has its own page record; the record of one that
# is gone is removed by the next build, so the cache does not grow with
# every temporary site.
ok own-out-build "$GAZETTE" build --content "$C" --out "$S" --quiet
ok other-out-build "$GAZETTE" build --content "$C" --out "$T/other" --quiet
# (its search index is made anew, from texts the Markdown cache mostly
# does not hold: rendered again)
ok other-out-same same_as "$T/other"
expect two-records "$(ls "$K"/pages-*.cache | wc -l)" 2
rm -rf "$T/other"
ok after-rm-build "$GAZETTE" build --content "$C" --out "$S" --quiet
expect gone-record-pruned "$(ls "$K"/pages-*.cache | wc -l)" 1
expect gone-state-pruned "$(ls "$K"/out-*.state | wc -l)" 1
expect gone-search-pruned "$(ls "$K"/search-*.cache | wc -l)" 1

# A cache inside the output directory would be swept and published: refused
# before anything is written.
rm -rf "$T/inside"
"$GAZETTE" build --content "$C" --out "$T/inside" --cache "$T/inside/.cache" --quiet 2>"$T/inside.err"
expect inside-refused "$?" 1
ok inside-message grep -q 'cannot be inside the output directory' "$T/inside.err"
ok inside-nothing-written test ! -e "$T/inside"

# The search index is patched from the last build's (search-*.cache): only
# the changed documents are read and tokenized again, and the result is
# byte for byte the index built from nothing, through edits, a new
# document, a removed one, a damaged cache file and an index file changed
# by hand.
sdoc=$(ls "$C"/notices/*/*.md | sed -n 9p)
ok search-base-build build
ok search-cache-made test -s "$(ls "$K"/search-*.cache | head -1)"
echo "检索用的新段落：patchword。" >> "$sdoc"
ok search-edit-build build
ok search-edit-patched grep -q '^gazette: search terms' "$T/timing"
ok search-edit-same same
new="$(dirname "$sdoc")/search-new-doc.md"
sed 's/^date: .*/date: 2031-01-02/' "$sdoc" > "$new"
ok search-add-build build
ok search-add-same same
rm -f "$new"
ok search-remove-build build
ok search-remove-same same
sc=$(ls -t "$K"/search-*.cache | head -1)   # the one of $S: written last
head -c 1000 "$sc" > "$sc.cut" && mv "$sc.cut" "$sc"
echo "再改一次。" >> "$sdoc"
ok search-damaged-build build
ok search-damaged-rebuilt grep -q '^gazette: search index ' "$T/timing"
ok search-damaged-same same
echo '{}' > "$S/search/idx/0.json"
echo "又改一次。" >> "$sdoc"
ok search-handedit-build build
ok search-handedit-same same

# The search state is a log: a patched build appends a record. A torn
# tail (a build killed while appending) or garbage after the records
# leaves the records before it: the next build still patches, with the
# same output, and writes the file whole again. Two builds at once leave a
# state the next build can use.
sc=$(ls -t "$K"/search-*.cache | head -1)
rm -f "$sc"
echo "日志一。" >> "$sdoc"
ok search-log-build build
ok search-log-whole grep -q '^gazette: search index ' "$T/timing"
size1=$(stat -c %s "$sc")
echo "日志二。" >> "$sdoc"
ok search-log-append build
ok search-log-grew test "$(stat -c %s "$sc")" -gt "$size1"
head -c $(( size1 + ($(stat -c %s "$sc") - size1) / 2 )) "$sc" > "$sc.cut" && mv "$sc.cut" "$sc"
echo "日志三。" >> "$sdoc"
ok search-torn-build build
ok search-torn-patched grep -q '^gazette: search terms' "$T/timing"
ok search-torn-same same
ok search-torn-rewritten test "$(stat -c %s "$sc")" -lt $(( size1 + 4096 ))   # one record again
head -c 5000 /dev/urandom >> "$sc"
echo "日志四。" >> "$sdoc"
ok search-garbage-build build
ok search-garbage-patched grep -q '^gazette: search terms' "$T/timing"
ok search-garbage-same same
echo "日志五。" >> "$sdoc"
"$GAZETTE" build --content "$C" --out "$S" --quiet 2>/dev/null &
p1=$!
"$GAZETTE" build --content "$C" --out "$S" --quiet 2>/dev/null &
p2=$!
wait $p1; wait $p2
echo "日志六。" >> "$sdoc"
ok search-concurrent-build build
ok search-concurrent-same same

# Past the bodies a build keeps in memory (64 MB; here 20 KB, as at 100k
# documents), a body leaves memory once cached, with its text stored; the
# ones kept are stored without. Either way the site is the same, and so
# is a new output directory's, whose index takes in every text: read back
# or rendered again.
rm -rf "$K" "$S"
ok budget-default-build "$GAZETTE" build --content "$C" --out "$S" --quiet
small=$(stat -c %s "$K/markdown.cache")
rm -rf "$K" "$S"
ok budget-build env GAZETTE_TEST_KEEP_BODIES=20000 "$GAZETTE" build --content "$C" --out "$S" --quiet
ok budget-texts-stored test "$(stat -c %s "$K/markdown.cache")" -gt $((small + 50000))
ok budget-same same
rm -rf "$T/other"
ok budget-other-build env GAZETTE_TEST_KEEP_BODIES=20000 "$GAZETTE" build --content "$C" --out "$T/other" --quiet
ok budget-other-same same_as "$T/other"
echo "日志七。" >> "$sdoc"
ok budget-edit-build env GAZETTE_TEST_KEEP_BODIES=20000 "$GAZETTE" build --content "$C" --out "$S" --quiet
ok budget-edit-same same
