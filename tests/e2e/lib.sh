# lib.sh - helpers for end-to-end tests (source it).
#   T          a fresh temp dir, removed on exit
#   ok NAME CMD...      PASS if CMD succeeds
#   nok NAME CMD...     PASS if CMD fails
#   has FILE TEXT       FILE contains TEXT (fixed string)
#   hasnt FILE TEXT
#   expect NAME GOT WANT
# Test names are prefixed with the script's name.
set -u
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
E2E_NAME=$(basename "$0" .sh)
: "${GAZETTE:?GAZETTE must point at the binary}"
: "${ROOT:?}"
: "${SHARED:=$ROOT/../shared}"
ok()  { local n=$1; shift; if "$@" >"$T/.out" 2>&1; then echo "PASS $E2E_NAME:$n"; else echo "FAIL $E2E_NAME:$n: command failed: $*"; sed 's/^/      /' "$T/.out" | head -20; fi; }
nok() { local n=$1; shift; if "$@" >"$T/.out" 2>&1; then echo "FAIL $E2E_NAME:$n: command succeeded: $*"; else echo "PASS $E2E_NAME:$n"; fi; }
has()   { grep -qF -- "$2" "$1"; }
hasnt() { [ -e "$1" ] && ! grep -qF -- "$2" "$1"; }
expect() { if [ "$2" = "$3" ]; then echo "PASS $E2E_NAME:$1"; else echo "FAIL $E2E_NAME:$1: got [$2], want [$3]"; fi; }
