#!/usr/bin/env bash
# browser.sh - the search page in headless Chromium (tests/browser/).
# Serves the repository's content/ with `gazette serve` (which builds it into
# $T/site) on a random loopback port and runs tests/browser/search.test.js.
#
# Needs Debian's chromium (installed here with apt-get when missing, as
# `make test` does via deps.sh) and node + npm (playwright-core from the npm
# registry, pinned by package-lock.json; no browser download). Only when
# `apt-get install chromium` itself fails does this print
#   SKIP browser: chromium not available
#   PASS browser:skipped-no-chromium
# so that a machine without any way to get Chromium still runs the rest of
# the suite; any other problem (node, npm ci, the site, the page) is a FAIL.
. "$(dirname "$0")/lib.sh"

pid="" spid=""
cleanup() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null
  stop_server "$pid"
  rm -rf "$T"
}
trap cleanup EXIT

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }
apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$T/apt.log" 2>&1 ||
    { as_root apt-get update -qq >/dev/null 2>&1 &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$T/apt.log" 2>&1; }
}

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  apt_ok=0
  apt_install chromium && apt_ok=1
  [ ! -x "$CHROMIUM" ] && [ -x /usr/bin/chromium ] && CHROMIUM=/usr/bin/chromium
  if [ $apt_ok = 0 ] || [ ! -x "$CHROMIUM" ]; then
    echo "SKIP browser: chromium not available (apt-get install chromium failed)"
    sed 's/^/      /' "$T/apt.log" 2>/dev/null | tail -3
    echo "PASS browser:skipped-no-chromium"
    exit 0
  fi
fi
export CHROMIUM
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm || true
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "FAIL browser:node: node and npm are needed (apt-get install nodejs npm)"
  exit 1
fi

dir="$ROOT/tests/browser"
if [ ! -d "$dir/node_modules/playwright-core" ]; then
  if ! (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >"$T/npm.log" 2>&1); then
    echo "FAIL browser:npm-ci: npm ci failed in tests/browser"
    grep -v 'Unknown user config' "$T/npm.log" | tail -5 | sed 's/^/      /'
    exit 1
  fi
fi
echo "PASS browser:setup"

# serve (and so build) a copy of the repository's content on a random high
# port: a copy, so that edits in the checkout cannot rebuild the site mid-test
cp -r "$ROOT/content" "$T/content"
log="$T/serve.log"
start_serve "$log" --content "$T/content" --templates "$ROOT/templates" --out "$T/site"
if [ -z "$port" ]; then
  echo "FAIL browser:serve: gazette serve did not come up"; sed 's/^/      /' "$log" | head -20
  exit 1
fi
if grep -q 'build failed' "$log"; then
  echo "FAIL browser:build: the repository content does not build"; sed 's/^/      /' "$log" | head -20
  exit 1
fi

# the same site under a sub-path, from a plain static server: the page's
# relative fetches and links must work under any base
sub=""
mkdir -p "$T/www/sub"
cp -r "$T/site" "$T/www/sub/gazette"
for _ in 1 2 3; do
  p2=$((20000 + RANDOM % 40000))
  python3 -m http.server "$p2" --bind 127.0.0.1 --directory "$T/www" >"$T/static.log" 2>&1 &
  spid=$!
  for _ in $(seq 1 50); do
    python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" \
      "http://127.0.0.1:$p2/sub/gazette/search/" 2>/dev/null && { sub="http://127.0.0.1:$p2/sub/gazette/"; break; }
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$sub" ] && break
  kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; spid=""
done
[ -n "$sub" ] || echo "FAIL browser:static-server: python3 http.server did not come up"

timeout 60 node "$dir/search.test.js" "http://127.0.0.1:$port/" $sub
rc=$?
[ $rc -eq 124 ] && echo "FAIL browser:timeout: over 60 s"
exit $rc
