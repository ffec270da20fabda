# lib.sh - helpers for end-to-end tests (source it).
#   T          a fresh temp dir, removed on exit
#   ok NAME CMD...      PASS if CMD succeeds
#   nok NAME CMD...     PASS if CMD fails
#   has FILE TEXT       FILE contains TEXT (fixed string)
#   hasnt FILE TEXT
#   expect NAME GOT WANT
#   start_serve LOG ARGS...   gazette serve on a random free port
#   builds / edits / settle N / step NAME PATH CMD...   a watching build's
#     rebuilds (serve, build --watch): see below
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

# stop_server PID: SIGTERM, and SIGKILL if it is still there after 3 s.
stop_server() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
  kill "$1" 2>/dev/null
  for _ in $(seq 1 30); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null
}

# stop_server_at_exit: from now on the EXIT trap stops the server in $pid
# (set it when one is started) before removing $T.
stop_server_at_exit() { pid=""; trap 'stop_server "$pid"; rm -rf "$T"' EXIT; }

# signal_server SIG: send SIG to the server in $pid and wait up to 5 s for
# it to end: rc is its exit status ("" if it did not end; then pid stays
# set, for the EXIT trap).
signal_server() {
  kill -"$1" "$pid" 2>/dev/null
  rc=""
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid"; rc=$?; break; }
    sleep 0.1
  done
  [ -n "$rc" ] && pid=""
}

# wait_serving LOG PID: wait up to 20 s (the first build) for the server's
# "Serving" line in LOG; fails when it never comes or PID is gone.
wait_serving() {
  for _ in $(seq 1 200); do
    grep -q '^Serving ' "$1" && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  grep -q '^Serving ' "$1"
}

# start_serve LOG ARGS...: run `gazette serve --port P ARGS...` in the
# background, trying up to 5 random ports, and wait up to 20 s (the first
# build) for its "Serving" line in LOG. Sets port (empty when it never came
# up) and pid (the server, for the caller's cleanup).
start_serve() {
  local log=$1 p; shift
  port="" pid=""
  for _ in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 40000))
    : >"$log"
    "$GAZETTE" serve --port "$p" "$@" >"$log" 2>&1 &
    pid=$!
    if wait_serving "$log" "$pid"; then port=$p; return 0; fi
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
  done
  return 1
}

# A watching build (gazette serve, gazette build --watch) logging to $log
# with GAZETTE_TIMING=1, its output in $out, its sources in $T/content and
# $T/templates; built_re (grep) matches each build's last line.
builds() { grep -c "$built_re" "$log"; }
edits() { grep -c '^gazette: edit: ' "$log"; }
# settle N: wait (at most 15 s) until N builds are logged
settle() { for _ in $(seq 1 150); do [ "$(builds)" -ge "$1" ] && return 0; sleep 0.1; done; return 1; }
# step NAME PATH(edit|full) CMD...: make a change, wait for its rebuild,
# check the path taken (the "edit: N of M pages rendered" line says the
# short one) and the tree against a build from nothing.
step() {
  local name=$1 want=$2; shift 2
  local b0 e0
  b0=$(builds) e0=$(edits)
  "$@"
  if ! settle $((b0 + 1)); then echo "FAIL $E2E_NAME:$name: no rebuild"; tail -5 "$log" | sed 's/^/      /'; return; fi
  sleep 0.3        # (a second batch of events would start another build)
  local took=full
  [ "$(edits)" -gt "$e0" ] && took=edit
  expect "$name-path" "$took" "$want"
  rm -rf "$T/fresh"
  "$GAZETTE" build --content "$T/content" --templates "$T/templates" --out "$T/fresh" --no-cache --quiet 2>/dev/null
  ok "$name-same" diff -r "$out" "$T/fresh"
}
