#!/usr/bin/env bash
# End-to-end: faults. The output directory must never hold a partial file:
# after any failure (disk full, read-only output, kill -9 at a random
# point) every file in it is either the old or the new complete version,
# no temporary file (*.tmp-gz*) is left by a build that ran to its end,
# and the next good build gives a site byte-identical to a clean build.
# A release killed at a random point leaves a repository that passes
# `git fsck --strict` with HEAD at the old or the new release.
#   FAULT_KILLS=10   kill -9 iterations for build and for release
. "$(dirname "$0")/lib.sh"

KILLS=${FAULT_KILLS:-10}
injected=0 survived=0
fault() { injected=$((injected + 1)); }
survive() { survived=$((survived + 1)); }

# consistent NAME SITE OLD NEW [allow_tmp]: every file in SITE (outside .git)
# equals the same path in OLD or NEW; no *.tmp-gz* files (unless allowed:
# then they are counted and reported); every .html file ends with </html>.
consistent() {
  local n=$1 site=$2 old=$3 new=$4 allow=${5:-0} res
  res=$(python3 - "$site" "$old" "$new" "$allow" <<'PY'
import os, sys, filecmp
site, old, new, allow = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
bad, tmp = [], []
for d, dirs, files in os.walk(site):
    if ".git" in dirs: dirs.remove(".git")
    for f in files:
        p = os.path.join(d, f); rel = os.path.relpath(p, site)
        if ".tmp-gz" in f:
            tmp.append(rel)
            if not allow: bad.append("temporary file " + rel)
            continue
        same = any(os.path.isfile(os.path.join(r, rel)) and
                   filecmp.cmp(p, os.path.join(r, rel), shallow=False) for r in (old, new))
        if not same: bad.append("neither old nor new: " + rel)
        if f.endswith(".html"):
            with open(p, "rb") as fh:
                fh.seek(max(0, os.path.getsize(p) - 200))
                if b"</html>" not in fh.read(): bad.append("incomplete page " + rel)
print("tmp=%d" % len(tmp))
for b in bad[:5]: print(b)
PY
)
  local tmpc=${res%%$'\n'*}
  if [ "$(printf '%s\n' "$res" | wc -l)" -eq 1 ]; then echo "PASS $E2E_NAME:$n ($tmpc)"
  else echo "FAIL $E2E_NAME:$n:"; printf '%s\n' "$res" | sed 's/^/      /'; fi
}
no_crash() { # NAME RC ERRFILE: exit 1 with a clear error, no crash/sanitizer
  local why=""
  if [ "$2" -ge 128 ]; then why="crashed (exit $2)"
  elif grep -qE 'Sanitizer|runtime error:' "$3"; then why="sanitizer report"
  elif [ "$2" -ne 1 ]; then why="exit $2, want 1"
  elif ! grep -q 'error: ' "$3"; then why="no error message"; fi
  if [ -z "$why" ]; then echo "PASS $E2E_NAME:$1"; else echo "FAIL $E2E_NAME:$1: $why"; head -5 "$3" | sed 's/^/      /'; return 1; fi
}
same_as() { # NAME SITE REF: byte-identical (outside .git), no temp files
  if diff -r -x .git "$2" "$3" >"$T/diff" 2>&1; then echo "PASS $E2E_NAME:$1"
  else echo "FAIL $E2E_NAME:$1: differs from a clean build"; head -5 "$T/diff" | sed 's/^/      /'; return 1; fi
}
gz_build() { "$GAZETTE" build --quiet --threads 2 --content "$1" --out "$2"; }

# Two versions of a site: the sample content, and a generated corpus of
# 300 documents (bigger, different files; its district names are not in
# the sample snapshot, so it has no stats).
SMALL=$ROOT/content
BIG=$T/big
python3 "$SHARED/bench/make-corpus.py" "$T/corpus" 300 >/dev/null || echo "FAIL $E2E_NAME:make-corpus"
mkdir -p "$BIG"; cp "$SMALL/site.yaml" "$BIG/" 2>/dev/null; cp -r "$T/corpus/notices" "$T/corpus/reports" "$BIG/"
ok ref-small gz_build "$SMALL" "$T/ref-small"
ok ref-big gz_build "$BIG" "$T/ref-big"

# --- disk full ---------------------------------------------------------
MNT=$T/full; mkdir -p "$MNT"
if mount -t tmpfs -o size=300k tmpfs "$MNT" 2>/dev/null; then
  trap 'umount "$MNT" 2>/dev/null; umount "$T/ro" 2>/dev/null; rm -rf "$T"' EXIT
  fault
  "$GAZETTE" build --quiet --content "$SMALL" --out "$MNT/site" >/dev/null 2>"$T/err"; rc=$?
  no_crash disk-full-empty "$rc" "$T/err" && survive
  consistent disk-full-empty-files "$MNT/site" "$T/ref-small" "$T/ref-small"
  # A missing output directory is built beside it and renamed into place
  # when complete: a failed build leaves none, and no half-built tree.
  expect disk-full-empty-no-site "$(ls -A "$MNT")" ""
  mount -o remount,size=64m "$MNT"
  ok disk-full-recover gz_build "$SMALL" "$MNT/site"
  same_as disk-full-recover-identical "$MNT/site" "$T/ref-small"
  # Old site in place; the new one does not fit.
  used=$(df -k --output=used "$MNT" | tail -1)
  mount -o remount,size=$((used + 600))k "$MNT"
  fault
  "$GAZETTE" build --quiet --content "$BIG" --out "$MNT/site" >/dev/null 2>"$T/err"; rc=$?
  no_crash disk-full-update "$rc" "$T/err" && survive
  consistent disk-full-update-files "$MNT/site" "$T/ref-small" "$T/ref-big"
  mount -o remount,size=64m "$MNT"
  ok disk-full-update-recover gz_build "$BIG" "$MNT/site"
  same_as disk-full-update-identical "$MNT/site" "$T/ref-big"
  umount "$MNT"

  # --- read-only output ------------------------------------------------
  RO=$T/ro; mkdir -p "$RO"
  mount -t tmpfs -o size=64m tmpfs "$RO"
  gz_build "$SMALL" "$RO/site" >/dev/null 2>&1
  mount -o remount,ro "$RO"
  fault
  "$GAZETTE" build --quiet --content "$BIG" --out "$RO/site" >/dev/null 2>"$T/err"; rc=$?
  no_crash read-only "$rc" "$T/err" && survive
  same_as read-only-untouched "$RO/site" "$T/ref-small"
  # A new site where nothing can be created: the error names it.
  "$GAZETTE" build --quiet --content "$SMALL" --out "$RO/new" >/dev/null 2>"$T/err"; rc=$?
  no_crash read-only-new-site "$rc" "$T/err"
  ok read-only-new-site-named grep -q "$RO/new: error: cannot create output directory" "$T/err"
  ok read-only-check "$GAZETTE" check --content "$SMALL"
  mount -o remount,rw "$RO"
  ok read-only-recover gz_build "$BIG" "$RO/site"
  same_as read-only-recover-identical "$RO/site" "$T/ref-big"
  umount "$RO"
else
  echo "SKIP $E2E_NAME:disk-full and read-only: mount -t tmpfs not permitted here"
fi
# A read-only directory inside the site (works without mount, unless root).
cp -r "$T/ref-small" "$T/rodir"; chmod a-w "$T/rodir/notices"
if [ "$(id -u)" -ne 0 ]; then
  fault
  "$GAZETTE" build --quiet --content "$BIG" --out "$T/rodir" >/dev/null 2>"$T/err"; rc=$?
  no_crash read-only-subdir "$rc" "$T/err" && survive
fi
chmod u+w "$T/rodir/notices"

# kill_build NAME SRC FROM TO ALLOW_TMP MAXDELAY: start a build of SRC into
# $S (which holds FROM), kill -9 it after a random delay, check that $S is
# FROM or TO file by file (consistent), then that a rebuild gives TO.
kill_build() {
  local name=$1 src=$2 from=$3 to=$4 allow_tmp=$5 max=$6 delay pid
  delay=$(python3 -c "import random; print('%.3f' % random.uniform(0.02, $max))")
  fault
  "$GAZETTE" build --quiet --content "$src" --out "$S" >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  consistent "$name-after-${delay}s" "$S" "$from" "$to" "$allow_tmp"
  if gz_build "$src" "$S" >"$T/err" 2>&1; then
    same_as "$name-rebuild-identical" "$S" "$to" && survive
  else echo "FAIL $E2E_NAME:$name-rebuild: build failed"; head -5 "$T/err" | sed 's/^/      /'; fi
}

# --- kill -9 during a build --------------------------------------------
for i in $(seq 1 "$KILLS"); do
  S=$T/kill/site; rm -rf "$T/kill"; mkdir -p "$T/kill"; cp -r "$T/ref-small" "$S"
  # Alternate directions: grow the site, or shrink it (removals).
  if [ $((i % 2)) -eq 1 ]; then from=$T/ref-small to=$T/ref-big src=$BIG
  else rm -rf "$S"; cp -r "$T/ref-big" "$S"; from=$T/ref-big to=$T/ref-small src=$SMALL; fi
  kill_build "kill-build-$i" "$src" "$from" "$to" 1 1.2
done

# --- kill -9 during a build into an empty directory ----------------------
# Every file is new: each is linked straight to its name once complete, so
# not even a temporary file may be left (allow_tmp 0), only whole files.
for i in $(seq 1 $(( (KILLS + 1) / 2 ))); do
  S=$T/killnew/site; rm -rf "$T/killnew"; mkdir -p "$S"
  kill_build "kill-fresh-$i" "$BIG" "$T/ref-big" "$T/ref-big" 0 0.8
done

# --- kill -9 during a build into a missing directory ---------------------
# The site is built unseen beside its place (.site.new-PID) and renamed in
# whole: after a kill there is no site, or all of it; the next build
# removes the killed one's tree.
for i in $(seq 1 $(( (KILLS + 1) / 2 ))); do
  S=$T/killmissing/site; rm -rf "$T/killmissing"; mkdir -p "$T/killmissing"
  kill_build "kill-missing-$i" "$BIG" "$T/ref-big" "$T/ref-big" 0 0.8
  expect "kill-missing-$i-swept" "$(ls -A "$T/killmissing")" "site"
done

# --- kill -9 during a release ------------------------------------------
if "$GAZETTE" release --help >/dev/null 2>&1; then
  R=$T/rel
  cur=$SMALL stale=0
  if "$GAZETTE" release --content "$cur" --out "$R" >"$T/err" 2>&1; then
    for i in $(seq 1 "$KILLS"); do
      old=$(git -C "$R" rev-parse HEAD 2>/dev/null)
      if [ "$cur" = "$SMALL" ]; then cur=$BIG; else cur=$SMALL; fi
      delay=$(python3 -c "import random; print('%.3f' % random.uniform(0.05, 2.5))")
      fault
      "$GAZETTE" release --content "$cur" --out "$R" >/dev/null 2>&1 &
      pid=$!
      sleep "$delay"; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
      ok "kill-release-$i-after-${delay}s-fsck" git -C "$R" fsck --strict --no-progress
      head=$(git -C "$R" rev-parse HEAD 2>/dev/null)
      if [ "$head" = "$old" ] || [ "$(git -C "$R" rev-parse "$head^" 2>/dev/null)" = "$old" ]; then
        echo "PASS $E2E_NAME:kill-release-$i-head-old-or-new"
      else echo "FAIL $E2E_NAME:kill-release-$i-head-old-or-new: HEAD $head, old $old"; fi
      # The next release completes and publishes exactly the new site. A
      # release killed mid-way leaves its lock; gazette refuses to guess and
      # prints the recovery steps, which we follow (as an operator would).
      if ! "$GAZETTE" release --content "$cur" --out "$R" >"$T/err" 2>&1 &&
         grep -q 'stale lock left by pid' "$T/err"; then
        stale=$((stale + 1))
        # Every lock the message names: gazette's own, and git's (a kill
        # during a ref update leaves refs/heads/main.lock).
        grep -o 'rm [^ ;]*\.lock' "$T/err" | while read -r _ f; do rm -f "$f"; done
        git -C "$R" reset -q --hard && git -C "$R" clean -qfd
      fi
      if "$GAZETTE" release --content "$cur" --out "$R" >"$T/err" 2>&1; then
        # What HEAD holds is exactly the work tree (the site as built).
        rm -rf "$T/co"
        git clone -q "$R" "$T/co" 2>/dev/null && rm -rf "$T/co/.git"
        same_as "kill-release-$i-head-is-site" "$T/co" "$R" && survive
        ok "kill-release-$i-clean-worktree" test -z "$(git -C "$R" status --porcelain)"
      else echo "FAIL $E2E_NAME:kill-release-$i-next-release: failed"; head -5 "$T/err" | sed 's/^/      /'; fi
    done
    echo "PASS $E2E_NAME:kill-release-stale-locks-recovered-by-hand=$stale"
  else
    echo "FAIL $E2E_NAME:release-initial: gazette release failed"; head -5 "$T/err" | sed 's/^/      /'
  fi
else
  echo "SKIP $E2E_NAME:kill-release: gazette release not available"
fi

echo "PASS $E2E_NAME:summary faults injected=$injected survived=$survived"
