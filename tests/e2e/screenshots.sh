#!/usr/bin/env bash
# screenshots.sh - the default theme in headless Chromium: layout checks at
# desktop and phone widths, accessibility basics, no-JS and print; keeps
# screenshots in $SCREENSHOT_DIR (default: a temp dir) for a person to look at.
. "$(dirname "$0")/lib.sh"
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "FAIL screenshots:chromium: /usr/bin/chromium missing (make test-deps installs it)"; exit 1
fi
B=$ROOT/tests/browser
if [ ! -d "$B/node_modules/playwright-core" ]; then
  (cd "$B" && npm ci --silent --no-audit --no-fund) >"$T/npm.log" 2>&1 ||
    { echo "FAIL screenshots:npm-ci"; tail -5 "$T/npm.log"; exit 1; }
fi
ok build "$GAZETTE" build --content "$ROOT/content" --out "$T/site" --quiet
pid=""
trap '[ -n "$pid" ] && { kill $pid 2>/dev/null; wait $pid 2>/dev/null; }; rm -rf "$T"' EXIT
start_serve "$T/serve.log" --content "$ROOT/content" --out "$T/site" ||
  { echo "FAIL screenshots:serve: gazette serve did not come up"; sed 's/^/      /' "$T/serve.log" | head -20; exit 1; }
OUT=${SCREENSHOT_DIR:-$T/shots}
mkdir -p "$OUT"
timeout 120 node "$B/layout.test.js" "http://127.0.0.1:$port" "$OUT"
for s in home-1280 notice-1280 notices-list-1280 notice-390; do
  size=$(stat -c %s "$OUT/$s.png" 2>/dev/null || echo 0)
  if [ "$size" -gt 20000 ]; then echo "PASS screenshots:$s"; else echo "FAIL screenshots:$s: ${size} bytes"; fi
done
