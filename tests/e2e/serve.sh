#!/usr/bin/env bash
# serve.sh - `gazette serve` end to end: start it on a random high loopback
# port, check content types, 404, redirects and path traversal, see a
# content change rebuilt, a broken file served as a 500 error page and the
# fix recovering, then stop it with SIGTERM. Every wait is bounded; the
# server is killed on any exit.
. "$(dirname "$0")/lib.sh"

stop_server_at_exit

# fetch URL: prints "STATUS CONTENT-TYPE" and leaves the body in $T/body,
# headers in $T/headers. curl when installed, else python3's urllib.
fetch() {
  if command -v curl >/dev/null; then
    curl -s --path-as-is --max-time 5 -D "$T/headers" -o "$T/body" \
      -w '%{http_code} %{content_type}' "$1" 2>/dev/null || echo "000 -"
  else
    python3 - "$1" "$T/body" "$T/headers" <<'EOF' 2>/dev/null || echo "000 -"
import sys, urllib.request, urllib.error, http.client, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
c.request("GET", u.path + ("?" + u.query if u.query else ""))  # path as is
r = c.getresponse()
open(sys.argv[2], "wb").write(r.read())
open(sys.argv[3], "w").write("".join(f"{k}: {v}\r\n" for k, v in r.getheaders()))
print(r.status, r.getheader("Content-Type") or "", end="")
EOF
  fi
}

# wait_for URL STATUS [TEXT]: poll (at most ~15 s) until URL answers STATUS
# and, if given, its body contains TEXT.
wait_for() {
  local got=""
  for _ in $(seq 1 150); do
    got=$(fetch "$1")
    if [ "${got%% *}" = "$2" ] && { [ -z "${3:-}" ] || grep -qF -- "$3" "$T/body"; }; then
      return 0
    fi
    sleep 0.1
  done
  echo "last answer: $got" >&2
  return 1
}

cp -r "$ROOT/content" "$T/content"
out="$T/out"
log="$T/serve.log"

# start on a random high port; retry a few ports if one is taken
start_serve "$log" --content "$T/content" --templates "$T/no-templates" --out "$out"
if [ -z "$port" ]; then
  echo "FAIL serve:start: server did not come up"; sed 's/^/      /' "$log" | head -20
  exit 1
fi
echo "PASS serve:start"
base="http://127.0.0.1:$port"
expect listens-on-loopback "$(grep -o 'http://[^ ]*' "$log" | head -1)" "$base/"

# content types, by files the build actually made
r=$(fetch "$base/")
expect home-html "$r" "200 text/html; charset=utf-8"
for ext in css js json xml svg; do
  f=$(cd "$out" && find . -name "*.$ext" -type f | LC_ALL=C sort | head -1)
  [ -n "$f" ] || continue
  want=$(case $ext in css) echo "text/css";; js) echo "text/javascript";;
         json) echo "application/json";; xml) echo "application/xml";;
         svg) echo "image/svg+xml";; esac)
  expect "type-$ext" "$(fetch "$base/${f#./}")" "200 $want; charset=utf-8"
done

# a directory without its slash redirects; with it, its index.html
d=$(cd "$out" && find . -mindepth 2 -maxdepth 2 -name index.html | LC_ALL=C sort | head -1)
d=$(dirname "${d#./}")
if [ -n "$d" ] && [ "$d" != . ]; then
  expect dir-redirect "$(fetch "$base/$d" | cut -d' ' -f1)" 301
  ok dir-redirect-location grep -qi "^Location: /$d/" "$T/headers"
  expect dir-index "$(fetch "$base/$d/" | cut -d' ' -f1)" 200
fi

# 404 with the site's own 404 page when it has one
expect not-found "$(fetch "$base/no/such/page/" | cut -d' ' -f1)" 404
if [ -f "$out/404.html" ]; then ok not-found-page cmp -s "$T/body" "$out/404.html"; fi

# path traversal: plain, encoded, and through a symlink out of the root
echo "top secret" >"$T/secret.txt"
ln -s "$T" "$out/escape"
: >"$T/leaks"
for t in "dotdot /../secret.txt" "encoded /%2e%2e/secret.txt" \
         "encoded-upper /%2E%2E/%2E%2E/secret.txt" "encoded-slash /x/..%2f..%2fsecret.txt" \
         "symlink /escape/secret.txt" "symlink-dir /escape/"; do
  set -- $t
  expect "traversal-$1" "$(fetch "$base$2" | cut -d' ' -f1)" 403
  cat "$T/body" >>"$T/leaks"
done
ok no-secret-leaked bash -c "! grep -q 'top secret' '$T/leaks'"
rm -f "$out/escape"

# HEAD works, other methods are refused
if command -v curl >/dev/null; then
  expect head "$(curl -s -o /dev/null -I --max-time 5 -w '%{http_code}' "$base/")" 200
  expect post-refused "$(curl -s -o /dev/null -X POST --max-time 5 -w '%{http_code}' "$base/")" 405
fi

# rebuild on change: append a marker to a notice, see it served
src=$(cd "$T/content" && find notices -name '*.md' -type f | LC_ALL=C sort | head -1)
if [ -n "$src" ]; then
  url="/${src%.md}/"
  marker="serve-e2e-marker-$RANDOM$RANDOM"
  cp "$T/content/$src" "$T/orig.md"
  printf '\n\n%s\n' "$marker" >>"$T/content/$src"
  ok rebuild-on-change wait_for "$base$url" 200 "$marker"

  # a broken file: the error page with status 500 names it, HTML-escaped
  printf -- '---\ntitle: [unclosed <b>\ndate: not-a-date\n---\nbody\n' >"$T/content/$src"
  ok error-page-500 wait_for "$base/" 500 "$(basename "$src")"
  ok error-page-escaped bash -c "! grep -q '<b>' '$T/body'"
  cp "$T/orig.md" "$T/content/$src"
  ok recovers-after-fix wait_for "$base$url" 200
else
  echo "FAIL serve:rebuild: no notice in $ROOT/content"
fi

# new files in a new directory are picked up too
mkdir -p "$T/content/notices/2031"
sed -e 's/^title: .*/title: "serve e2e new doc"/' -e 's/^date: .*/date: 2031-01-01/' "$T/orig.md" >"$T/content/notices/2031/e2e-new.md" 2>/dev/null &&
  ok new-dir-watched wait_for "$base/notices/2031/e2e-new/" 200 "serve e2e new doc"

# SIGTERM stops it cleanly and promptly
signal_server TERM
expect stops-on-sigterm "$rc" 0

# --port 0 picks a free port; without --out the site goes to a temporary
# directory that is removed again when Ctrl-C (SIGINT) stops the server
: >"$T/serve2.log"
"$GAZETTE" serve --port 0 --content "$T/content" >"$T/serve2.log" 2>&1 &
pid=$!
wait_serving "$T/serve2.log" "$pid"
line=$(grep '^Serving ' "$T/serve2.log" | head -1)
tmpout=$(echo "$line" | sed -n 's/^Serving \(.*\) at http.*/\1/p')
url2=$(echo "$line" | grep -o 'http://127.0.0.1:[0-9]*/')
ok port-zero wait_for "$url2" 200
# In its own temporary directory the server takes the output as its last
# good build recorded it (no stat of every page and directory): rebuilds
# after an edit and a deletion must still give exactly what a build from
# nothing gives.
rebuilt() { grep -c ' rebuilt ' "$T/serve2.log"; }
wait_rebuilt() { for _ in $(seq 1 150); do [ "$(rebuilt)" -ge "$1" ] && return 0; sleep 0.1; done; return 1; }
n0=$(rebuilt)
printf '\n\n%s\n' "trusted-marker" >>"$T/content/$src"
ok trusted-edit wait_for "$url2${url#/}" 200 "trusted-marker"
ok trusted-edit-built wait_rebuilt $((n0 + 1))
rm -f "$T/content/notices/2031/e2e-new.md"
ok trusted-delete wait_for "${url2}notices/2031/e2e-new/" 404
ok trusted-delete-built wait_rebuilt $((n0 + 2))
"$GAZETTE" build --content "$T/content" --out "$T/fresh2" --no-cache --quiet
ok trusted-same diff -r "$tmpout" "$T/fresh2"
signal_server INT
expect stops-on-sigint "$rc" 0
case $tmpout in
  "${TMPDIR:-/tmp}"/gazette-serve-*) nok temp-out-removed test -e "$tmpout" ;;
  *) echo "FAIL serve:temp-out: unexpected output dir [$tmpout]" ;;
esac
