#!/usr/bin/env bash
# deps.sh build|test - install the Debian packages Gazette needs, when missing.
# Build: compiler, pkg-config and the -dev packages. Test: git, python3,
# chromium, fonts and node/npm (screenshots, browser tests).
set -eu
what=${1:-build}
missing=()
need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed' || missing+=("$1"); }
case "$what" in
build)
  for p in gcc make pkg-config libc6-dev libcmark-gfm-dev libcmark-gfm-extensions-dev \
           libyaml-dev libsqlite3-dev libgit2-dev libjansson-dev libmicrohttpd-dev \
           libxxhash-dev zlib1g-dev libmimalloc-dev; do need_pkg "$p"; done ;;
test)
  for p in git python3 sqlite3 chromium fonts-noto-cjk curl; do need_pkg "$p"; done
  # The browser tests drive Chromium with playwright-core (npm); a machine
  # may have node from elsewhere, so look for the command, not the package.
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm) ;;
*) echo "usage: deps.sh build|test" >&2; exit 2 ;;
esac
[ ${#missing[@]} -eq 0 ] && exit 0
echo "gazette: installing missing packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then sudo=sudo; else
    echo "gazette: please install as root: apt-get install ${missing[*]}" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
