/* Unit tests for output.c: the write path (new files linked straight to
 * their name, existing ones compared and replaced, a missing root built
 * unseen and renamed into place) and the state file that lets out_open
 * skip directories unchanged since the last build. */
#include "output.h"
#include "util.h"
#include "test.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static char *mktree(void)
{
    char *t = xstrdup("/tmp/gz-outtest-XXXXXX");
    if (!mkdtemp(t)) { free(t); return NULL; }
    return t;
}

/* Any *.tmp-gz* file under dir? */
static int has_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = path_join(dir, e->d_name);
        if (strstr(e->d_name, ".tmp-gz")) found = 1;
        else if (e->d_type == DT_DIR) found = has_tmp(p);
        free(p);
    }
    closedir(d);
    return found;
}

static int file_is(const char *root, const char *rel, const char *want)
{
    char *p = path_join(root, rel), *data;
    size_t n;
    int ok = read_file(p, &data, &n) == 0 && n == strlen(want) && memcmp(data, want, n) == 0;
    if (ok) free(data);
    free(p);
    return ok;
}

static void put(const char *root, const char *rel, const char *data)
{
    char *p = path_join(root, rel);
    CHECK(write_file_atomic(p, data, strlen(data)) == 0);
    free(p);
}

static int exists(const char *root, const char *rel)
{
    char *p = path_join(root, rel);
    int r = path_exists(p);
    free(p);
    return r;
}

/* Directory stamps closer than 10 ms to the state's clock reading are not
 * trusted (racily clean); tests wait that out before finishing a build. */
static void settle(void) { usleep(30000); }

TEST(fresh_files_linked_in_place)
{
    char *t = mktree();
    diag *d = diag_new();
    outdir *o = out_open(t, d);
    CHECK(o != NULL);
    CHECK(out_write(o, "a/b/c/index.html", "deep", 4) == 0);
    CHECK(out_write(o, "a/b/other.html", "x", 1) == 0);
    CHECK(out_write(o, "top.html", "", 0) == 0);
    out_stats st;
    CHECK(out_finish(o, &st) == 0 && st.written == 3 && st.unchanged == 0);
    CHECK(file_is(t, "a/b/c/index.html", "deep"));
    CHECK(file_is(t, "a/b/other.html", "x"));
    CHECK(file_is(t, "top.html", ""));
    CHECK(!has_tmp(t));
    out_close(o);
    rm_rf(t);
    free(t);
    diag_free(d);
}

static void count_path(const char *p, void *ud)
{
    if (!strcmp(p, "same.html") || !strcmp(p, "dir/diff.html")) (*(size_t *)ud)++;
}

TEST(existing_same_and_different)
{
    char *t = mktree();
    diag *d = diag_new();
    put(t, "same.html", "one");
    put(t, "dir/diff.html", "old");
    struct stat before, after;
    char *same = path_join(t, "same.html");
    CHECK(stat(same, &before) == 0);
    outdir *o = out_open(t, d);
    CHECK(out_write(o, "same.html", "one", 3) == 0);
    CHECK(out_write(o, "dir/diff.html", "new!", 4) == 0);
    size_t seen = 0;
    out_each(o, count_path, &seen);
    CHECK(seen == 2);
    out_stats st;
    CHECK(out_finish(o, &st) == 0 && st.written == 1 && st.unchanged == 1 && st.removed == 0);
    CHECK(stat(same, &after) == 0 && after.st_ino == before.st_ino);   /* not rewritten */
    CHECK(file_is(t, "dir/diff.html", "new!"));
    CHECK(!has_tmp(t));
    out_close(o);
    free(same);
    rm_rf(t);
    free(t);
    diag_free(d);
}

/* st equals lstat of the file now (the fields the page records keep). */
static int stat_is_now(const char *root, const char *rel, const struct stat *st)
{
    char *p = path_join(root, rel);
    struct stat now;
    int ok = lstat(p, &now) == 0 && S_ISREG(st->st_mode) && now.st_ino == st->st_ino &&
             now.st_size == st->st_size &&
             now.st_mtim.tv_sec == st->st_mtim.tv_sec && now.st_mtim.tv_nsec == st->st_mtim.tv_nsec &&
             now.st_ctim.tv_sec == st->st_ctim.tv_sec && now.st_ctim.tv_nsec == st->st_ctim.tv_nsec;
    free(p);
    return ok;
}

/* out_write_st gives the file's stat as left, on each path: new (linked
 * in place), changed (replaced), unchanged (compared, kept), and a new
 * name taken meanwhile; a failed write leaves it alone. */
TEST(write_gives_stat)
{
    char *t = mktree();
    diag *d = diag_new();
    put(t, "same.html", "one");
    put(t, "diff.html", "old");
    outdir *o = out_open(t, d);
    put(t, "race.html", "theirs");
    struct stat st;
    memset(&st, 0, sizeof st);
    CHECK(out_write_st(o, "new/index.html", "n", 1, &st) == 0 && stat_is_now(t, "new/index.html", &st));
    memset(&st, 0, sizeof st);
    CHECK(out_write_st(o, "same.html", "one", 3, &st) == 0 && stat_is_now(t, "same.html", &st));
    memset(&st, 0, sizeof st);
    CHECK(out_write_st(o, "diff.html", "new!", 4, &st) == 0 && stat_is_now(t, "diff.html", &st));
    memset(&st, 0, sizeof st);
    CHECK(out_write_st(o, "race.html", "ours", 4, &st) == 0 && stat_is_now(t, "race.html", &st));
    CHECK(file_is(t, "race.html", "ours"));
    CHECK(out_write_st(o, "new/index.html", "n", 1, NULL) < 0);   /* twice */
    out_stats os;
    CHECK(out_finish(o, &os) == 0 && os.written == 3 && os.unchanged == 1);
    CHECK(!has_tmp(t));
    out_close(o);
    rm_rf(t);
    free(t);
    diag_free(d);
}

/* The name appears after out_open saw the tree (another process, by
 * hand): the fresh path's linkat fails with EEXIST and the file is
 * replaced through a temporary name instead. */
TEST(fresh_name_taken_meanwhile)
{
    char *t = mktree();
    diag *d = diag_new();
    outdir *o = out_open(t, d);
    put(t, "race/index.html", "theirs");
    CHECK(out_write(o, "race/index.html", "ours", 4) == 0);
    out_stats st;
    CHECK(out_finish(o, &st) == 0 && st.written == 1);
    CHECK(file_is(t, "race/index.html", "ours"));
    CHECK(!has_tmp(t));
    out_close(o);
    /* And write_file_fresh itself. */
    char *p = path_join(t, "race/index.html");
    CHECK(write_file_fresh(p, "again", 5) == 0);
    CHECK(file_is(t, "race/index.html", "again"));
    free(p);
    p = path_join(t, "new/dir/f.txt");
    CHECK(write_file_fresh(p, "made", 4) == 0);        /* parents made too */
    CHECK(file_is(t, "new/dir/f.txt", "made"));
    CHECK(!has_tmp(t));
    free(p);
    rm_rf(t);
    free(t);
    diag_free(d);
}

/* The small site below: every build writes the same files. */
static int write_site(outdir *o)
{
    int rc = 0;
    rc |= out_write(o, "index.html", "home", 4);
    rc |= out_write(o, "a/index.html", "a", 1);
    rc |= out_write(o, "a/x/index.html", "ax", 2);
    rc |= out_write(o, "b/index.html", "b", 1);
    rc |= out_write(o, "b/y/z/index.html", "byz", 3);
    return rc;
}

static int build(const char *root, const char *state, out_stats *st, diag *d)
{
    outdir *o = out_open_state(root, state, d);
    if (!o) return -1;
    int rc = write_site(o);
    settle();
    rc |= out_finish(o, st);
    out_close(o);
    return rc;
}

static void count_any(const char *p, void *ud)
{
    (void)p;
    (*(size_t *)ud)++;
}

/* Directories in the site above, with the root. */
#define NDIRS 6

TEST(state_skips_unchanged_directories)
{
    char *t = mktree(), *state = xasprintf("%s.state", t);
    diag *d = diag_new();
    out_stats st;
    CHECK(build(t, state, &st, d) == 0 && st.written == 5);
    CHECK(path_exists(state));
    CHECK(build(t, state, &st, d) == 0 && st.unchanged == 5 && st.written == 0);
    CHECK(st.dirs_read == 0);
    /* Nothing changed: the state file is not written again. */
    struct stat s1, s2;
    CHECK(stat(state, &s1) == 0);
    CHECK(build(t, state, &st, d) == 0 && st.dirs_read == 0);
    CHECK(stat(state, &s2) == 0 && s1.st_ino == s2.st_ino);
    /* Without the state file: every directory read, same result. */
    CHECK(build(t, NULL, &st, d) == 0 && st.unchanged == 5 && st.dirs_read == NDIRS);
    CHECK(diag_count(d, DIAG_ERROR) == 0 && diag_count(d, DIAG_WARNING) == 0);
    /* A changed build: the directories it wrote into are read again once. */
    outdir *o = out_open_state(t, state, d);
    CHECK(out_write(o, "a/index.html", "A", 1) == 0);
    CHECK(out_write(o, "c/new.html", "c", 1) == 0);
    settle();
    CHECK(out_finish(o, &st) == 0 && st.dirs_read == 0 && st.removed == 4 && st.written == 2);
    CHECK(!exists(t, "b") && !exists(t, "a/x"));
    out_close(o);
    o = out_open_state(t, state, d);
    CHECK(out_write(o, "a/index.html", "A", 1) == 0);
    CHECK(out_write(o, "c/new.html", "c", 1) == 0);
    settle();
    /* The sweep changed directories just before the state was written:
     * too recent to trust, they are read this once. */
    CHECK(out_finish(o, &st) == 0 && st.dirs_read > 0 && st.unchanged == 2 && st.removed == 0);
    out_close(o);
    o = out_open_state(t, state, d);
    CHECK(out_write(o, "a/index.html", "A", 1) == 0);
    CHECK(out_write(o, "c/new.html", "c", 1) == 0);
    CHECK(out_finish(o, &st) == 0 && st.dirs_read == 0 && st.unchanged == 2 && st.removed == 0);
    out_close(o);
    rm_rf(t);
    unlink(state);
    free(state);
    free(t);
    diag_free(d);
}

/* A trusted state (a second build in one process, nothing else writing)
 * is taken as it is: no directory is stat'ed, so even a stray file (which
 * the untrusted scan finds) goes unseen. state_current says when the
 * state may be trusted. */
TEST(state_trusted_as_recorded)
{
    char *t = mktree(), *state = xasprintf("%s.state", t);
    diag *d = diag_new();
    out_stats st;
    CHECK(build(t, state, &st, d) == 0 && st.state_current);
    CHECK(build(t, state, &st, d) == 0 && st.state_current && st.dirs_read == 0);
    put(t, "a/x/stray.html", "s");
    outdir *o = out_scan_ex(t, state, true, d);
    CHECK(o && out_begin(o) == 0);
    CHECK(write_site(o) == 0);
    CHECK(out_finish(o, &st) == 0 && st.dirs_read == 0 && st.removed == 0 && st.unchanged == 5);
    CHECK(exists(t, "a/x/stray.html"));          /* unseen: trusted */
    out_close(o);
    o = out_scan_ex(t, state, false, d);
    CHECK(o && out_begin(o) == 0);
    CHECK(write_site(o) == 0);
    CHECK(out_finish(o, &st) == 0 && st.removed == 1);
    CHECK(!exists(t, "a/x/stray.html"));         /* checked: found and swept */
    out_close(o);
    /* Without a state file there is nothing to trust: a full scan. */
    o = out_scan_ex(t, NULL, true, d);
    CHECK(o && out_begin(o) == 0);
    CHECK(write_site(o) == 0);
    CHECK(out_finish(o, &st) == 0 && !st.state_current && st.removed == 0 && st.dirs_read == NDIRS);
    out_close(o);
    CHECK(diag_count(d, DIAG_ERROR) == 0);
    rm_rf(t);
    unlink(state);
    free(state);
    free(t);
    diag_free(d);
}

/* An outdir taken on for another build (out_again) behaves as one
 * scanned again from the state file it wrote: the files there are the
 * last build's (one not claimed is swept, one rewritten is compared),
 * and what it leaves is what an untrusted scan then finds, state and all. */
TEST(again_as_a_trusted_rescan)
{
    char *t = mktree(), *state = xasprintf("%s.state", t);
    diag *d = diag_new();
    out_stats st;
    CHECK(build(t, state, &st, d) == 0);
    outdir *o = out_open_state(t, state, d);
    CHECK(out_again(o, d) < 0);                   /* not finished: refused */
    CHECK(write_site(o) == 0);
    settle();
    CHECK(out_finish(o, &st) == 0 && st.state_current && st.unchanged == 5);
    CHECK(out_again(o, d) == 0);
    /* Each file the last build left, once. */
    size_t n = 0;
    out_each_existing(o, count_any, &n);
    CHECK(n == 5);
    /* Kept, rewritten the same, rewritten differently; b/y/z not claimed. */
    CHECK(out_keep(o, "index.html") == 0);
    CHECK(out_keep(o, "a/index.html") == 0);
    CHECK(out_write(o, "a/x/index.html", "ax", 2) == 0);
    CHECK(out_write(o, "b/index.html", "B", 1) == 0);
    CHECK(out_write(o, "c/new.html", "c", 1) == 0);
    CHECK(out_keep(o, "index.html") < 0);         /* claimed twice: as ever */
    settle();
    CHECK(out_finish(o, &st) == 0 && st.state_current);
    CHECK(st.written == 2 && st.unchanged == 3 && st.removed == 1);
    CHECK(!exists(t, "b/y") && file_is(t, "b/index.html", "B") && file_is(t, "c/new.html", "c"));
    char **paths;
    out_changed(o, &paths, &n);
    CHECK(n == 2 && !strcmp(paths[0], "b/index.html") && !strcmp(paths[1], "c/new.html"));
    /* Again after again: all kept; the directories the sweep changed too
     * recently to record are read for the state now. */
    CHECK(out_again(o, d) == 0);
    n = 0;
    out_each_existing(o, count_any, &n);
    CHECK(n == 5);
    CHECK(out_keep(o, "index.html") == 0 && out_keep(o, "a/index.html") == 0 &&
          out_keep(o, "a/x/index.html") == 0 && out_keep(o, "b/index.html") == 0 &&
          out_keep(o, "c/new.html") == 0);
    settle();
    CHECK(out_finish(o, &st) == 0 && st.state_current && st.removed == 0 && st.written == 0);
    out_close(o);
    /* The state it left is the tree: a scan that checks every directory
     * stamp reads none, and finds the same files. */
    o = out_scan_ex(t, state, false, d);
    CHECK(o && out_begin(o) == 0);
    n = 0;
    CHECK(out_keep(o, "index.html") == 0 && out_keep(o, "a/index.html") == 0 &&
          out_keep(o, "a/x/index.html") == 0 && out_keep(o, "b/index.html") == 0 &&
          out_keep(o, "c/new.html") == 0);
    CHECK(out_finish(o, &st) == 0 && st.removed == 0 && st.dirs_read == 0);
    out_close(o);
    CHECK(diag_count(d, DIAG_ERROR) == 1);        /* the double claim */
    rm_rf(t);
    unlink(state);
    free(state);
    free(t);
    diag_free(d);
}

TEST(state_finds_stray_files_and_links)
{
    char *t = mktree(), *state = xasprintf("%s.state", t);
    diag *d = diag_new();
    out_stats st;
    CHECK(build(t, state, &st, d) == 0);
    CHECK(build(t, state, &st, d) == 0 && st.dirs_read == 0);
    /* A stray file, a stray directory and a link, by hand. */
    put(t, "a/x/stray.html", "s");
    put(t, "b/y/new/deeper/f.html", "f");
    char *link = path_join(t, "b/evil"), *outside = mktree();
    CHECK(symlink(outside, link) == 0);
    CHECK(build(t, state, &st, d) == 0);
    CHECK(st.removed == 2 && st.unchanged == 5);
    CHECK(!exists(t, "a/x/stray.html") && !exists(t, "b/y/new") && !exists(t, "b/evil"));
    CHECK(is_dir(outside));
    CHECK(diag_count(d, DIAG_WARNING) == 1);                 /* the link */
    CHECK(st.dirs_read == 5);          /* a/x, b, b/y and the two new ones */
    /* The sweep changed a/x, b/y and b just before the state was written:
     * too recent to trust, so they are read once more, then not. */
    CHECK(build(t, state, &st, d) == 0 && st.dirs_read <= 3 && st.removed == 0);
    CHECK(build(t, state, &st, d) == 0 && st.dirs_read == 0 && st.removed == 0);
    free(link);
    rm_rf(outside);
    free(outside);
    rm_rf(t);
    unlink(state);
    free(state);
    free(t);
    diag_free(d);
}

/* Damaged, truncated, foreign or garbage state files mean a full scan
 * with the same results, never a crash or a wrong sweep. */
TEST(state_damaged_means_full_scan)
{
    char *t = mktree(), *state = xasprintf("%s.state", t);
    diag *d = diag_new();
    out_stats st;
    CHECK(build(t, state, &st, d) == 0);
    CHECK(build(t, state, &st, d) == 0 && st.dirs_read == 0);
    char *good;
    size_t n;
    CHECK(read_file(state, &good, &n) == 0 && n > 40);
    for (int k = 0; k < 6; k++) {
        char *bad = xmalloc(n);
        memcpy(bad, good, n);
        size_t len = n;
        switch (k) {
        case 0: bad[n / 2] ^= 0x40; break;            /* flipped bit: checksum */
        case 1: len = n - 7; break;                   /* truncated */
        case 2: len = 20; break;                      /* header only */
        case 3: memset(bad, 'z', n); break;           /* garbage */
        case 4: bad[0] = 'X'; break;                  /* magic */
        case 5: len = 0; break;                       /* empty */
        }
        CHECK(write_file_atomic(state, bad, len) == 0);
        free(bad);
        put(t, "a/x/stray.html", "s");
        CHECK(build(t, state, &st, d) == 0);
        CHECK(st.dirs_read == NDIRS && st.removed == 1 && st.unchanged == 5);
        CHECK(!exists(t, "a/x/stray.html"));
    }
    /* A state file of another output directory. */
    char *other = mktree();
    CHECK(build(other, state, &st, d) == 0);
    CHECK(build(t, state, &st, d) == 0 && st.dirs_read == NDIRS);
    CHECK(diag_count(d, DIAG_ERROR) == 0);
    free(good);
    rm_rf(other);
    free(other);
    rm_rf(t);
    unlink(state);
    free(state);
    free(t);
    diag_free(d);
}

static void put32(buf *b, uint32_t v) { buf_put(b, &v, 4); }
static void put64(buf *b, uint64_t v) { buf_put(b, &v, 8); }
static void putstr(buf *b, const char *s) { put32(b, (uint32_t)strlen(s)); buf_puts(b, s); }

/* A well-formed state file (right checksum, root and stamp) whose root
 * listing names "..": refused as a whole, so the scan cannot reach the
 * parent directory and the sweep cannot remove anything there. */
TEST(state_crafted_names_refused)
{
    char *t = mktree(), *state = xasprintf("%s.state", t);
    char *sentinel = xasprintf("%s.sentinel", t);
    diag *d = diag_new();
    out_stats st;
    CHECK(write_file_atomic(sentinel, "keep", 4) == 0);
    CHECK(build(t, state, &st, d) == 0);
    struct stat rs;
    CHECK(stat(t, &rs) == 0);
    const char *bad_names[] = {"..", ".", "a/../..", ""};
    for (size_t k = 0; k < sizeof bad_names / sizeof *bad_names; k++) {
        buf b = BUF_INIT;
        buf_put(&b, "GZOUTST\0", 8);
        put32(&b, 1);
        put32(&b, 0x01020304u);
        put64(&b, 0);
        put64(&b, 0);
        putstr(&b, t);
        put32(&b, 1);                                   /* one directory: the root */
        putstr(&b, "");
        put64(&b, (uint64_t)rs.st_ino);
        put64(&b, (uint64_t)((int64_t)rs.st_mtim.tv_sec * 1000000000 + rs.st_mtim.tv_nsec));
        put64(&b, (uint64_t)((int64_t)rs.st_ctim.tv_sec * 1000000000 + rs.st_ctim.tv_nsec));
        put32(&b, 1);
        buf_putc(&b, 'd');
        putstr(&b, bad_names[k]);
        uint64_t plen = b.len - 32, sum = XXH64(b.ptr + 32, plen, 0);
        memcpy(b.ptr + 16, &plen, 8);
        memcpy(b.ptr + 24, &sum, 8);
        CHECK(write_file_atomic(state, b.ptr, b.len) == 0);
        buf_free(&b);
        outdir *o = out_open_state(t, state, d);
        CHECK(o != NULL);
        CHECK(out_finish(o, &st) == 0);
        CHECK(st.dirs_read == NDIRS && st.removed == 5);   /* a full scan; wrote nothing */
        out_close(o);
        CHECK(build(t, state, &st, d) == 0);
        CHECK(stat(t, &rs) == 0);
    }
    char *got;
    size_t n;
    CHECK(read_file(sentinel, &got, &n) == 0 && n == 4);
    free(got);
    unlink(sentinel);
    free(sentinel);
    rm_rf(t);
    unlink(state);
    free(state);
    free(t);
    diag_free(d);
}

/* Entries of dir whose name starts with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *dh = opendir(dir);
    if (!dh) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dh))) n += str_starts(e->d_name, prefix);
    closedir(dh);
    return n;
}

/* A missing root is built beside its place and appears whole, at once,
 * when the build finishes: never half-built, with no temporary files. */
TEST(missing_root_appears_whole)
{
    char *t = mktree();
    char *root = path_join(t, "site/");           /* the trailing slash is the same root */
    diag *d = diag_new();
    outdir *o = out_open(root, d);
    CHECK(o != NULL);
    CHECK(!exists(t, "site"));                     /* out_begin made the new tree only */
    CHECK(count_prefixed(t, ".site.new-") == 1);
    CHECK(out_write(o, "a/b/index.html", "deep", 4) == 0);
    CHECK(out_write(o, "top.html", "x", 1) == 0);
    struct stat ws;
    CHECK(out_write_st(o, "st.html", "abc", 3, &ws) == 0 && ws.st_size == 3);
    CHECK(!exists(t, "site"));
    out_stats st;
    CHECK(out_finish(o, &st) == 0 && st.written == 3);
    CHECK(file_is(t, "site/a/b/index.html", "deep"));
    CHECK(file_is(t, "site/top.html", "x"));
    struct stat now;
    CHECK(lstat(out_root(o), &now) == 0 && S_ISDIR(now.st_mode));
    char *stp = path_join(t, "site/st.html");
    CHECK(lstat(stp, &now) == 0 && now.st_ino == ws.st_ino && now.st_ctim.tv_nsec == ws.st_ctim.tv_nsec);
    CHECK(count_prefixed(t, ".site.new-") == 0);
    CHECK(!has_tmp(t));
    CHECK(diag_count(d, DIAG_ERROR) == 0);
    out_close(o);
    free(stp);
    free(root);
    rm_rf(t);
    free(t);
    diag_free(d);
}

/* A build that fails (closed unfinished) leaves no root at all, and a
 * killed one's new tree is removed by the next build of that root (a
 * live process's is not). */
TEST(missing_root_failed_or_killed)
{
    char *t = mktree();
    char *root = path_join(t, "out");
    diag *d = diag_new();
    outdir *o = out_open(root, d);
    CHECK(out_write(o, "a/index.html", "x", 1) == 0);
    out_close(o);
    CHECK(!exists(t, "out"));
    CHECK(count_prefixed(t, ".out.new-") == 0);
    /* pid 2^22+1 is above any pid_max: gone. pid 1 is alive. */
    char *dead = path_join(t, ".out.new-4194305/x"), *live = path_join(t, ".out.new-1/y");
    CHECK(write_file_atomic(dead, "d", 1) == 0 && write_file_atomic(live, "l", 1) == 0);
    o = out_open(root, d);
    CHECK(!exists(t, ".out.new-4194305"));
    CHECK(exists(t, ".out.new-1/y"));
    CHECK(out_finish(o, NULL) == 0 && exists(t, "out"));
    out_close(o);
    CHECK(diag_count(d, DIAG_ERROR) == 0);
    free(dead);
    free(live);
    free(root);
    rm_rf(t);
    free(t);
    diag_free(d);
}

/* Two builds of one missing root: the first to finish places its tree,
 * the second fails rather than mixing the two, and its tree goes. */
TEST(missing_root_taken_meanwhile)
{
    char *t = mktree();
    char *root = path_join(t, "site");
    diag *d1 = diag_new(), *d2 = diag_new();
    outdir *b = out_scan(root, NULL, d2);          /* both see no root */
    outdir *a = out_open(root, d1);
    CHECK(a && b);
    CHECK(out_write(a, "a.html", "first", 5) == 0);
    CHECK(out_finish(a, NULL) == 0);
    CHECK(out_begin(b) == 0 && out_write(b, "b.html", "second", 6) == 0);
    CHECK(file_is(t, "site/a.html", "first"));
    CHECK(out_finish(b, NULL) < 0 && diag_count(d2, DIAG_ERROR) == 1);
    out_close(b);
    out_close(a);
    CHECK(file_is(t, "site/a.html", "first") && !exists(t, "site/b.html"));
    CHECK(count_prefixed(t, ".site.new-") == 0);
    free(root);
    rm_rf(t);
    free(t);
    diag_free(d1);
    diag_free(d2);
}

int main(void)
{
    RUN(fresh_files_linked_in_place);
    RUN(existing_same_and_different);
    RUN(fresh_name_taken_meanwhile);
    RUN(write_gives_stat);
    RUN(state_skips_unchanged_directories);
    RUN(state_finds_stray_files_and_links);
    RUN(state_trusted_as_recorded);
    RUN(again_as_a_trusted_rescan);
    RUN(state_damaged_means_full_scan);
    RUN(state_crafted_names_refused);
    RUN(missing_root_appears_whole);
    RUN(missing_root_failed_or_killed);
    RUN(missing_root_taken_meanwhile);
    return test_summary();
}
