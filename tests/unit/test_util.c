/* Unit tests for util.c's file writers: the stat they give back
 * (write_file_fresh_st, write_file_atomic_st) is the published file's, on
 * every way of writing (O_TMPFILE named by linkat(AT_EMPTY_PATH), through
 * /proc/self/fd, a named temp file and rename). */
#include "util.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/gz-utiltest-XXXXXX";

/* The stat given equals lstat(path) now, field by field that the page
 * records use (cache.c same_file) and a few more. */
static int same_as_lstat(const char *path, const struct stat *got)
{
    struct stat now;
    if (lstat(path, &now) < 0 || !S_ISREG(got->st_mode)) return 0;
    return now.st_ino == got->st_ino && now.st_dev == got->st_dev &&
           now.st_size == got->st_size && now.st_nlink == got->st_nlink &&
           now.st_mtim.tv_sec == got->st_mtim.tv_sec && now.st_mtim.tv_nsec == got->st_mtim.tv_nsec &&
           now.st_ctim.tv_sec == got->st_ctim.tv_sec && now.st_ctim.tv_nsec == got->st_ctim.tv_nsec;
}

static int content_is(const char *path, const char *want)
{
    char *data;
    size_t len;
    if (read_file(path, &data, &len) < 0) return 0;
    int ok = len == strlen(want) && memcmp(data, want, len) == 0;
    free(data);
    return ok;
}

/* Fresh name, fresh name taken (EEXIST: replaced through a temp name),
 * replace, and a missing parent directory, in the mode how
 * (util_test_write_mode). */
static void writes_give_stat(int how)
{
    util_test_write_mode(how);
    char *sub = xasprintf("%s/m%d", dir, how);
    char *a = xasprintf("%s/deep/er/a.html", sub);
    struct stat st;
    memset(&st, 0, sizeof st);
    CHECK(write_file_fresh_st(a, "one", 3, &st) == 0);     /* parents made */
    CHECK(content_is(a, "one"));
    CHECK(same_as_lstat(a, &st));
    CHECK(st.st_size == 3 && st.st_nlink == 1);
    /* Believed new but there: replaced all the same. */
    memset(&st, 0, sizeof st);
    CHECK(write_file_fresh_st(a, "two!", 4, &st) == 0);
    CHECK(content_is(a, "two!"));
    CHECK(same_as_lstat(a, &st));
    /* Replace: a new inode, its stat after the rename (ctime). */
    struct stat before = st;
    memset(&st, 0, sizeof st);
    CHECK(write_file_atomic_st(a, "three", 5, &st) == 0);
    CHECK(content_is(a, "three"));
    CHECK(same_as_lstat(a, &st));
    CHECK(st.st_ino != before.st_ino);
    /* Without a stat wanted, the same files. */
    char *b = xasprintf("%s/b.html", sub);
    CHECK(write_file_fresh(b, "b", 1) == 0 && content_is(b, "b"));
    CHECK(write_file_atomic(b, "bb", 2) == 0 && content_is(b, "bb"));
    /* No temp file left behind. */
    char *t = xasprintf("%s.tmp-gz%ld", a, (long)getpid());
    CHECK(access(t, F_OK) < 0 && errno == ENOENT);
    /* A missing directory that cannot be made: an error, errno set. */
    char *bad = xasprintf("%s/b.html/x", sub);
    CHECK(write_file_fresh_st(bad, "x", 1, &st) < 0 && errno == ENOTDIR);
    CHECK(write_file_atomic_st(bad, "x", 1, &st) < 0);
    util_test_write_mode(0);
    free(bad);
    free(t);
    free(b);
    free(a);
    free(sub);
}

TEST(stat_after_linkat_empty_path) { writes_give_stat(0); }
TEST(stat_after_linkat_proc) { writes_give_stat(1); }
TEST(stat_after_named_temp_file) { writes_give_stat(2); }

/* linkat(AT_EMPTY_PATH) refused (EPERM, as for a user before Linux 6.10):
 * every write still works, through /proc, and the writers remember it. */
TEST(empty_path_refused_falls_back)
{
    util_test_write_mode(3);
    char *p = xasprintf("%s/refused.html", dir);
    struct stat st;
    CHECK(write_file_fresh_st(p, "r", 1, &st) == 0);
    CHECK(content_is(p, "r") && same_as_lstat(p, &st));
    CHECK(util_test_write_mode(0) == 1);     /* went over to /proc for good */
    CHECK(util_test_write_mode(0) == 0);     /* and mode 0 resets it */
    free(p);
    writes_give_stat(3);
}

/* Many threads' worth of writes in the /proc mode and back: the switch
 * back to AT_EMPTY_PATH (mode 0) names files as before. */
TEST(link_modes_switch)
{
    char *p = xasprintf("%s/sw.html", dir);
    struct stat st;
    for (int i = 0; i < 4; i++) {
        util_test_write_mode(i & 1);
        unlink(p);
        CHECK(write_file_fresh_st(p, "x", 1, &st) == 0);
        CHECK(same_as_lstat(p, &st));
    }
    util_test_write_mode(0);
    free(p);
}

/* str_key + str_key_cmp order strings as strcmp does, at every key
 * width: ties within the key, strings ending inside it or exactly at its
 * end, bytes above 0x7f. */
TEST(str_key_is_strcmp_order)
{
    const char *v[] = {"", "a", "ab", "abcdefgh", "abcdefgh1", "abcdefgi", "abcdefghabcdefgh",
                       "abcdefghabcdefghX", "abcdefghabcdefghY", "abcdefghabcdefghabcdefgh",
                       "abcdefghabcdefghabcdefgh!", "abcdefghabcdefghabcdefgh~", "/notices/2017/x/",
                       "/notices/2017/xy/", "\xe6\x97\xa5", "\xe6\x97\xa5\xe6", "~", "\x7f\x80"};
    size_t n = sizeof v / sizeof *v;
    for (int words = 1; words <= 4; words++)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                uint64_t p[4], q[4];
                str_key(v[i], p, words);
                str_key(v[j], q, words);
                int want = strcmp(v[i], v[j]), got = str_key_cmp(p, v[i], q, v[j], words);
                CHECK((want > 0) - (want < 0) == (got > 0) - (got < 0));
            }
}

/* read_file gives every byte: files of sizes around its buffer's edges,
 * empty ones, and /proc's, whose size says 0 and which give a page at a
 * time (it stops early only at a size fstat gave). */
TEST(read_file_whole)
{
    char tdir[] = "/tmp/gz-util-XXXXXX";
    CHECK(mkdtemp(tdir) != NULL);
    size_t sizes[] = {0, 1, 4094, 4095, 4096, 4097, 100000};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        char *want = xmalloc(n + 1);
        for (size_t i = 0; i < n; i++) want[i] = (char)('a' + (i * 7 + k) % 26);
        char *p = path_join(tdir, "f");
        CHECK(write_file_atomic(p, want, n) == 0);
        char *got;
        size_t len;
        CHECK(read_file(p, &got, &len) == 0);
        CHECK(len == n && memcmp(got, want, n) == 0 && got[n] == 0);
        free(got);
        free(want);
        free(p);
    }
    char *maps;
    size_t len;
    CHECK(read_file("/proc/self/maps", &maps, &len) == 0);
    CHECK(len > 0 && strlen(maps) == len && maps[len - 1] == '\n');
    free(maps);
    rm_rf(tdir);
}

/* read_file_at with a stat taken before the file changed (the loader's
 * md_stat, then the read): it gives what the file holds at the read,
 * grown or shrunk, relative to a directory or not. */
TEST(read_file_at_stale_stat)
{
    char tdir[] = "/tmp/gz-util-XXXXXX";
    CHECK(mkdtemp(tdir) != NULL);
    int dfd = open(tdir, O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    char *p = path_join(tdir, "f.md");
    size_t sizes[][2] = {{10, 9000}, {9000, 10}, {4096, 4097}, {4097, 4096}, {0, 5}, {5, 0}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t before = sizes[k][0], after = sizes[k][1];
        char *a = xmalloc(before + 1), *b = xmalloc(after + 1);
        memset(a, 'a', before);
        for (size_t i = 0; i < after; i++) b[i] = (char)('0' + i % 10);
        CHECK(write_file_atomic(p, a, before) == 0);
        struct stat st;
        CHECK(lstat(p, &st) == 0);
        CHECK(write_file_atomic(p, b, after) == 0);          /* changed since the stat */
        for (int rel = 0; rel < 2; rel++) {
            char *got;
            size_t len;
            int rc = rel ? read_file_at(dfd, "f.md", &st, &got, &len)
                         : read_file_at(AT_FDCWD, p, &st, &got, &len);
            CHECK(rc == 0);
            CHECK(len == after && memcmp(got, b, after) == 0 && got[after] == 0);
            free(got);
        }
        free(a);
        free(b);
    }
    char *got;
    size_t len;
    errno = 0;
    CHECK(read_file_at(dfd, "missing.md", NULL, &got, &len) < 0 && errno == ENOENT && got == NULL);
    close(dfd);
    free(p);
    rm_rf(tdir);
}

/* pid_gone: a whole pid of no running process; not ours, not pid 1, not
 * a name with more after the number or none at all. */
TEST(pid_gone_names_leftovers)
{
    char mine[32];
    snprintf(mine, sizeof mine, "%ld", (long)getpid());
    CHECK(pid_gone("4194305"));        /* above any pid_max */
    CHECK(!pid_gone(mine));
    CHECK(!pid_gone("1"));
    CHECK(!pid_gone("4194305x") && !pid_gone("") && !pid_gone("0") && !pid_gone("-4194305"));
}

/* tmp_template: under $TMPDIR, or /tmp when it is unset or empty. */
TEST(tmp_template_follows_tmpdir)
{
    const char *was = getenv("TMPDIR");
    char *keep = was ? xstrdup(was) : NULL;
    setenv("TMPDIR", "/var/x", 1);
    char *t = tmp_template("gz");
    CHECK_STR(t, "/var/x/gz-XXXXXX");
    free(t);
    setenv("TMPDIR", "", 1);
    t = tmp_template("gz");
    CHECK_STR(t, "/tmp/gz-XXXXXX");
    free(t);
    unsetenv("TMPDIR");
    t = tmp_template("gz");
    CHECK_STR(t, "/tmp/gz-XXXXXX");
    free(t);
    if (keep) setenv("TMPDIR", keep, 1);
    free(keep);
}

/* path_dir: dirname(3)'s answers for paths with no trailing slash. */
TEST(path_dir_as_dirname)
{
    static const char *const cases[][2] = {{"a/b/c", "a/b"}, {"/c", "/"}, {"c", "."},
                                            {"/a/b", "/a"}, {"./site", "."}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *d = path_dir(cases[i][0]);
        CHECK_STR(d, cases[i][1]);
        free(d);
    }
}

/* big_grow: from nothing, through caps that are not whole pages, to
 * several MB (where mremap may move it): every byte written stays, and
 * the whole cap can be written. */
TEST(big_buffer_keeps_its_bytes_as_it_grows)
{
    size_t cap = 0, len = 0;
    unsigned char *p = NULL;
    bool same = true;
    for (size_t want = 100; want < ((size_t)8 << 20); want = want * 3 + 7) {
        p = big_grow(p, cap, want);
        CHECK(p != NULL);
        for (size_t i = 0; i < len; i++)
            if (p[i] != (unsigned char)(i * 7 + i / 251)) { same = false; break; }
        for (size_t i = len; i < want; i++) p[i] = (unsigned char)(i * 7 + i / 251);
        cap = len = want;
    }
    CHECK(same);
    CHECK(len > ((size_t)2 << 20));
    big_free(p, cap);
    big_free(NULL, 0);                     /* nothing to free */
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    RUN(stat_after_linkat_empty_path);
    RUN(stat_after_linkat_proc);
    RUN(stat_after_named_temp_file);
    RUN(empty_path_refused_falls_back);
    RUN(link_modes_switch);
    RUN(str_key_is_strcmp_order);
    RUN(read_file_whole);
    RUN(read_file_at_stale_stat);
    RUN(pid_gone_names_leftovers);
    RUN(tmp_template_follows_tmpdir);
    RUN(path_dir_as_dirname);
    RUN(big_buffer_keeps_its_bytes_as_it_grows);
    rm_rf(dir);
    return test_summary();
}
