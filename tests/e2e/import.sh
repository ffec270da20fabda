#!/usr/bin/env bash
# import.sh - `gazette import` on the five seeds: byte-for-byte against the
# hand-checked files in tests/import/expected/, every input line survives,
# no overwrite without --force, folders with a summary, GBK and CRLF+BOM
# input, --slug/--kind/--date, bad usage.
. "$(dirname "$0")/lib.sh"

SEEDS=$SHARED/seeds
EXP=$ROOT/tests/import/expected
seed() { ls "$SEEDS"/"$1"_*.txt; }

ok help "$GAZETTE" import --help
"$GAZETTE" import --help >"$T/help" 2>&1
if has "$T/help" "--kind notice|report" && has "$T/help" "--force"; then echo "PASS $E2E_NAME:help-text"; else echo "FAIL $E2E_NAME:help-text"; fi

# seed number -> path the importer must choose (kind/year/slug).
declare -A WANT=(
  [000]=reports/1970/01-01-98ab860c.md
  [001]=reports/2022/01-14-b9424873.md
  [002]=notices/2017/09-29-77b894e9.md
  [003]=notices/2021/03-15-27a0a21f.md
  [004]=reports/2017/04-17-c8da121a.md
)

# Whitespace-insensitive text, without the Markdown we add (| * # \).
norm() { sed -e 's/\xef\xbb\xbf//g; s/\r//g; s/\xe3\x80\x80//g' | tr -d ' \t|*#\\'; }

# Every non-blank input line must appear in the output (joined hard wraps
# and front matter included). The output is read as one string, so a line
# that became two blocks ("附件：" + list) still matches; a line whose
# space-separated parts went to different places (the issuer prefix of a
# title) matches part by part.
survives() {   # NAME INPUT OUTPUT
  norm <"$3" | tr -d '\n' >"$T/out.norm"
  local missing=0 line part ok
  while IFS= read -r line; do
    [ -z "$(printf '%s' "$line" | norm)" ] && continue
    grep -qF -- "$(printf '%s' "$line" | norm)" "$T/out.norm" && continue
    ok=1
    for part in $(printf '%s' "$line" | sed 's/\xe3\x80\x80/ /g'); do
      grep -qF -- "$(printf '%s' "$part" | norm)" "$T/out.norm" || ok=0
    done
    [ $ok = 1 ] && continue
    missing=$((missing + 1)); echo "      missing: $line" | cut -c1-120
  done <"$2"
  expect "$1" "$missing" 0
}

for n in 000 001 002 003 004; do
  out=$T/c$n
  "$GAZETTE" import --to "$out" "$(seed $n)" >"$T/log$n" 2>&1
  expect "seed$n-exit" "$?" 0
  if [ -f "$out/${WANT[$n]}" ]; then
    if cmp -s "$out/${WANT[$n]}" "$EXP/$n.md"; then echo "PASS $E2E_NAME:seed$n-bytes"
    else echo "FAIL $E2E_NAME:seed$n-bytes"; diff "$EXP/$n.md" "$out/${WANT[$n]}" | head -10 | sed 's/^/      /'; fi
  else
    echo "FAIL $E2E_NAME:seed$n-path: no $out/${WANT[$n]}"; ls -R "$out" | sed 's/^/      /' | head
  fi
  has "$T/log$n" "-> $out/${WANT[$n]}" && echo "PASS $E2E_NAME:seed$n-reported" || echo "FAIL $E2E_NAME:seed$n-reported"
  [ -f "$out/${WANT[$n]}" ] || continue
  if [ "$n" = 001 ]; then
    # Jekyll: the body's text, tags removed, must survive.
    awk 'f >= 2 { print } /^---$/ { f++ }' "$(seed $n)" | sed 's/<[^>]*>/\n/g' >"$T/body001"
    survives "seed$n-text-survives" "$T/body001" "$out/${WANT[$n]}"
  else
    survives "seed$n-lines-survive" "$(seed $n)" "$out/${WANT[$n]}"
  fi
done

# What was found is printed; the undated seed warns with FILE:LINE.
has "$T/log002" "doc_number:  大工办发〔2017〕28号" && has "$T/log002" "category:    通知 (notice)" &&
  echo "PASS $E2E_NAME:found-printed" || echo "FAIL $E2E_NAME:found-printed"
has "$T/log000" "$(seed 000):1: warning: no date found" && echo "PASS $E2E_NAME:no-date-warning" ||
  echo "FAIL $E2E_NAME:no-date-warning"

# No overwrite without --force; the file is left alone.
echo "edited" >"$T/c002/${WANT[002]}"
nok no-overwrite "$GAZETTE" import --to "$T/c002" "$(seed 002)"
has "$T/.out" "exists; not overwritten" && echo "PASS $E2E_NAME:no-overwrite-message" || echo "FAIL $E2E_NAME:no-overwrite-message"
expect no-overwrite-kept "$(cat "$T/c002/${WANT[002]}")" "edited"
ok force "$GAZETTE" import --force --to "$T/c002" "$(seed 002)"
cmp -s "$T/c002/${WANT[002]}" "$EXP/002.md" && echo "PASS $E2E_NAME:force-rewrote" || echo "FAIL $E2E_NAME:force-rewrote"

# A folder: every file, then a summary; a second run fails on each file.
mkdir -p "$T/in/sub"
cp "$(seed 000)" "$(seed 001)" "$(seed 002)" "$(seed 003)" "$T/in/"
cp "$(seed 004)" "$T/in/sub/"
"$GAZETTE" import --to "$T/cf" "$T/in" >"$T/folder.log" 2>&1
expect folder-exit "$?" 0
has "$T/folder.log" "imported 5 of 5 files, 0 failed, 1 warning" && echo "PASS $E2E_NAME:folder-summary" ||
  { echo "FAIL $E2E_NAME:folder-summary"; tail -3 "$T/folder.log" | sed 's/^/      /'; }
expect folder-files "$(find "$T/cf" -name '*.md' | wc -l | tr -d ' ')" 5
"$GAZETTE" import --to "$T/cf" "$T/in" >"$T/folder2.log" 2>&1
expect folder-again-exit "$?" 1
has "$T/folder2.log" "imported 0 of 5 files, 5 failed" && echo "PASS $E2E_NAME:folder-again-summary" ||
  echo "FAIL $E2E_NAME:folder-again-summary"

# GBK input gives the same document.
iconv -f UTF-8 -t GB18030 "$(seed 002)" >"$T/gbk.txt"
"$GAZETTE" import --to "$T/cg" --slug gbk "$T/gbk.txt" >"$T/gbk.log" 2>&1
expect gbk-exit "$?" 0
cmp -s "$T/cg/notices/2017/gbk.md" "$EXP/002.md" && echo "PASS $E2E_NAME:gbk-same" || echo "FAIL $E2E_NAME:gbk-same"
has "$T/gbk.log" "plain text, GB18030" && echo "PASS $E2E_NAME:gbk-reported" || echo "FAIL $E2E_NAME:gbk-reported"

# CRLF line ends and a BOM give the same document.
{ printf '\xef\xbb\xbf'; sed 's/$/\r/' "$(seed 003)"; } >"$T/crlf.txt"
ok crlf-bom "$GAZETTE" import --to "$T/cc" --slug crlf "$T/crlf.txt"
cmp -s "$T/cc/notices/2021/crlf.md" "$EXP/003.md" && echo "PASS $E2E_NAME:crlf-bom-same" || echo "FAIL $E2E_NAME:crlf-bom-same"

# --kind and --date override; the draft flag goes with a given date.
ok kind-date "$GAZETTE" import --to "$T/ck" --kind notice --date 2020-12-31 --slug qhd "$(seed 000)"
has "$T/ck/notices/2020/qhd.md" "date: 2020-12-31" && hasnt "$T/ck/notices/2020/qhd.md" "draft:" &&
  echo "PASS $E2E_NAME:kind-date-applied" || echo "FAIL $E2E_NAME:kind-date-applied"

# Usage errors exit 2.
"$GAZETTE" import >/dev/null 2>&1; expect usage-no-file "$?" 2
"$GAZETTE" import --kind memo "$(seed 000)" >/dev/null 2>&1; expect usage-bad-kind "$?" 2
"$GAZETTE" import --slug 'a/b' "$(seed 000)" >/dev/null 2>&1; expect usage-bad-slug "$?" 2
"$GAZETTE" import --slug x "$(seed 000)" "$(seed 002)" >/dev/null 2>&1; expect usage-slug-many "$?" 2
"$GAZETTE" import --date 2020-13 "$(seed 000)" >/dev/null 2>&1; expect usage-bad-date "$?" 2
"$GAZETTE" import --to "$T/cm" "$T/missing.txt" >/dev/null 2>&1; expect missing-file "$?" 1
