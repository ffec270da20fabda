/* Unit tests for cache.c: fingerprints, the Markdown cache (round trip,
 * damage, torn appends, settings) and the page record (freshness). */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "same_value.h"
#include "test.h"

static char dir[] = "/tmp/gazette-test-cache-XXXXXX";

static fp128 fp_of_value(const value *v)
{
    buf b = BUF_INIT;
    fp_encode_value(&b, v);
    fp128 f = fp_bytes(b.ptr, b.len);
    buf_free(&b);
    return f;
}

TEST(encodings_are_unambiguous)
{
    value *a = value_list(), *b = value_list();
    value_push(a, value_str("ab")); value_push(a, value_str("c"));
    value_push(b, value_str("a"));  value_push(b, value_str("bc"));
    CHECK(!fp_eq(fp_of_value(a), fp_of_value(b)));
    value *m1 = value_map(), *m2 = value_map();
    value_set_str(m1, "k", "1");
    value_set(m2, "k", value_int(1));
    CHECK(!fp_eq(fp_of_value(m1), fp_of_value(m2)));     /* "1" is not 1 */
    value *m3 = value_map();
    value_set_str(m3, "k", "1");
    CHECK(fp_eq(fp_of_value(m1), fp_of_value(m3)));
    buf x = BUF_INIT, y = BUF_INIT;
    fp_encode_str(&x, NULL);
    fp_encode_str(&y, "");
    CHECK(x.len != y.len || memcmp(x.ptr, y.ptr, x.len));
    buf_free(&x); buf_free(&y);
    value_unref(a); value_unref(b); value_unref(m1); value_unref(m2); value_unref(m3);
}

/* fp_decode_value inverts fp_encode_value, maps of any size included (they
 * are made with room for their keys); fp_decode_list_skipping leaves the
 * chosen items of a list out but still checks them, and skips nothing in
 * a map. Every cut of the bytes is refused. */
TEST(decode_with_skips)
{
    value *l = value_list();
    value *fm = value_map(), *lines = value_map(), *toc = value_list();
    char key[16];
    for (int i = 0; i < 100; i++) {          /* past the room asked for up front */
        snprintf(key, sizeof key, "k%d", i);
        value_set(fm, key, i % 2 ? value_int(i) : value_str(key));
        value_set(lines, key, value_int(i + 1));
    }
    value *nested = value_map();
    value_set(nested, "list", value_list());
    value_push(value_get(nested, "list"), value_double(2.5));
    value_push(value_get(nested, "list"), value_bool(true));
    value_push(value_get(nested, "list"), value_null());
    value_set(lines, "nested", nested);
    value_push(toc, value_str("一、总则"));
    value_push(l, fm);
    value_push(l, lines);
    value_push(l, toc);
    buf b = BUF_INIT;
    fp_encode_value(&b, l);
    value *all = fp_decode_value(b.ptr, b.len);
    CHECK(all && same_value(all, l));
    CHECK(value_int_of(value_get(value_at(all, 1), "k99")) == 100);
    value *some = fp_decode_list_skipping(b.ptr, b.len, 1u << 1);
    CHECK(some && value_len(some) == 3 && value_type(value_at(some, 1)) == V_NULL);
    CHECK(same_value(value_at(some, 0), fm) && same_value(value_at(some, 2), toc));
    value *none = fp_decode_list_skipping(b.ptr, b.len, 7);
    CHECK(none && value_len(none) == 3 && value_type(value_at(none, 0)) == V_NULL &&
          value_type(value_at(none, 2)) == V_NULL);
    for (size_t cut = 0; cut < b.len; cut++) {
        CHECK(!fp_decode_list_skipping(b.ptr, cut, 1u << 1));
        CHECK(!fp_decode_list_skipping(b.ptr, cut, 7));
    }
    /* a byte of the skipped item made wrong: a type no encoding has */
    buf bad = BUF_INIT;
    buf_put(&bad, b.ptr, b.len);
    size_t at = 0;
    for (size_t i = b.len; i-- > 0;)
        if (bad.ptr[i] == 'd') { at = i; break; }    /* the double, inside lines */
    CHECK(at > 0);
    bad.ptr[at] = 'x';
    CHECK(!fp_decode_list_skipping(bad.ptr, bad.len, 1u << 1));
    CHECK(!fp_decode_value(bad.ptr, bad.len));
    /* skipping applies to a list's items, not to a map's values */
    buf mb = BUF_INIT;
    fp_encode_value(&mb, fm);
    value *m = fp_decode_list_skipping(mb.ptr, mb.len, 1);
    CHECK(m && same_value(m, fm));
    value_unref(m);
    buf_free(&mb);
    buf_free(&bad);
    value_unref(none);
    value_unref(some);
    value_unref(all);
    buf_free(&b);
    value_unref(l);
}

static void sample(md_result *r, const char *html)
{
    *r = (md_result){0};    /* lengths 0: not known (md_encode counts them) */
    r->html = xstrdup(html);
    r->excerpt = xstrdup("摘要…");
    r->text = xstrdup("全文 text");
    r->toc = value_list();
    value *e = value_map();
    value_set(e, "level", value_int(2));
    value_set_str(e, "id", "一、总则");
    value_set_str(e, "text", "一、总则");
    value_push(r->toc, e);
}

/* Put sample(html) under key, its text too when text. */
static void put_sample(mdcache *c, fp128 key, const char *html, bool text)
{
    md_result r;
    sample(&r, html);
    mdcache_put(c, key, &r, text);
    md_free(&r);
}

/* Is key's HTML (text false) or plain text (text true) in c want, with
 * want's length? */
static bool body_is(mdcache *c, fp128 key, bool text, const char *want)
{
    size_t n = 0;
    char *h = mdcache_body(c, key, text, &n);
    bool ok = h && !strcmp(h, want) && n == strlen(want);
    free(h);
    return ok;
}

TEST(markdown_round_trip)
{
    char *path = xasprintf("%s/md/markdown.cache", dir);
    fp128 settings = {1, 2}, k1 = {11, 12}, k2 = {21, 22};
    diag *d = diag_new();
    mdcache *c = mdcache_open(path, settings, d);
    md_result r, got;
    CHECK(!mdcache_get(c, k1, &got));
    put_sample(c, k1, "<p>一</p>", true);
    put_sample(c, k2, "<p>二</p>", true);
    /* Read back in the same session: bodies kept on disk until needed. */
    CHECK(mdcache_has(c, k1) && mdcache_has(c, k2));
    CHECK(!mdcache_has(c, (fp128){9, 9}));
    /* mdcache_body: the strings, with their lengths. */
    CHECK(body_is(c, k2, false, "<p>二</p>"));
    CHECK(body_is(c, k2, true, "全文 text"));
    size_t n = 99;
    CHECK(!mdcache_body(c, (fp128){9, 9}, false, &n) && n == 99);
    /* A result that carries its lengths is stored as one that does not. */
    fp128 k3 = {31, 32};
    md_render("## 标题\n\n正文 *text*\n", strlen("## 标题\n\n正文 *text*\n"), false, 20, &r);
    CHECK(r.html_len == strlen(r.html) && r.text_len == strlen(r.text));
    mdcache_put(c, k3, &r, true);
    CHECK(body_is(c, k3, false, r.html));
    CHECK(body_is(c, k3, true, r.text));
    md_free(&r);
    mdcache_close(c, d);

    c = mdcache_open(path, settings, d);
    CHECK(body_is(c, k1, false, "<p>一</p>"));
    /* Read again once checked: only the string itself is read. */
    CHECK(body_is(c, k1, true, "全文 text"));
    CHECK(body_is(c, k1, false, "<p>一</p>"));
    CHECK(mdcache_get(c, k1, &got));
    CHECK_STR(got.html, "<p>一</p>");
    CHECK_STR(got.excerpt, "摘要…");
    CHECK_STR(got.text, "全文 text");
    CHECK(value_len(got.toc) == 1);
    CHECK_STR(value_str_ptr(value_get(value_at(got.toc, 0), "id")), "一、总则");
    CHECK(value_int_of(value_get(value_at(got.toc, 0), "level")) == 2);
    md_free(&got);
    CHECK(mdcache_get(c, k2, &got));
    CHECK_STR(got.html, "<p>二</p>");
    md_free(&got);
    /* Without the bodies: excerpt and toc only. */
    CHECK(mdcache_get_meta(c, k2, &got));
    CHECK(!got.html && !got.text);
    CHECK_STR(got.excerpt, "摘要…");
    CHECK(value_len(got.toc) == 1);
    md_free(&got);
    mdcache_close(c, d);

    /* Other settings: nothing from before is trusted. */
    c = mdcache_open(path, (fp128){1, 3}, d);
    CHECK(!mdcache_get(c, k1, &got));
    mdcache_close(c, d);
    CHECK(diag_total(d) == 0);
    diag_free(d);
    free(path);
}

/* An entry put without its text: the HTML, excerpt and toc read back,
 * the text does not (the caller renders again), read fresh or checked. */
TEST(markdown_without_text)
{
    char *path = xasprintf("%s/mdt/markdown.cache", dir);
    fp128 settings = {3, 4}, k1 = {41, 42}, k2 = {51, 52};
    diag *d = diag_new();
    mdcache *c = mdcache_open(path, settings, d);
    md_result got;
    put_sample(c, k1, "<p>无全文</p>", false);
    put_sample(c, k2, "<p>有全文</p>", true);
    size_t n = 99;
    CHECK(mdcache_has(c, k1));
    CHECK(body_is(c, k1, false, "<p>无全文</p>"));
    CHECK(!mdcache_body(c, k1, true, &n) && n == 99);
    CHECK(body_is(c, k2, true, "全文 text"));
    mdcache_close(c, d);
    c = mdcache_open(path, settings, d);
    CHECK(!mdcache_body(c, k1, true, &n) && n == 99);     /* unchecked: whole entry read */
    CHECK(body_is(c, k1, false, "<p>无全文</p>"));
    CHECK(!mdcache_body(c, k1, true, &n) && n == 99);     /* checked: its head only */
    CHECK(mdcache_get(c, k1, &got));
    CHECK_STR(got.html, "<p>无全文</p>");
    CHECK_STR(got.excerpt, "摘要…");
    CHECK(got.text == NULL);
    CHECK(value_len(got.toc) == 1);
    md_free(&got);
    CHECK(mdcache_get_meta(c, k1, &got));
    CHECK_STR(got.excerpt, "摘要…");
    md_free(&got);
    CHECK(body_is(c, k2, true, "全文 text"));              /* its neighbour has one */
    size_t hits, misses;
    mdcache_counts(c, &hits, &misses);
    CHECK(hits == 2 && misses == 0);
    mdcache_close(c, d);
    CHECK(diag_total(d) == 0);
    diag_free(d);
    free(path);
}

/* Entries put are written in batches (MD_BATCH): past a batch's size,
 * read back before they are written (the batch is written first), the
 * same key put twice, and after mdcache_flush and a reopen, every body is
 * there as it was put. */
/* Is the body of key {i + 1, 5} the one markdown_batched_puts put? */
static bool batched_body_is(mdcache *c, int i)
{
    size_t n;
    char *h = mdcache_body(c, (fp128){(uint64_t)i + 1, 5}, false, &n);
    char *want = xasprintf("<p>%d</p>", i);
    bool ok = h && !strncmp(h, want, strlen(want)) && n == strlen(want) + 4000;
    free(want);
    free(h);
    return ok;
}

/* Put the body batched_body_is expects for i (big: 4000 x's). */
static void put_batched(mdcache *c, int i, const char *big)
{
    char *html = xasprintf("<p>%d</p>%s", i, big);
    put_sample(c, (fp128){(uint64_t)i + 1, 5}, html, true);
    free(html);
}

TEST(markdown_batched_puts)
{
    char *path = xasprintf("%s/mdb/markdown.cache", dir);
    fp128 settings = {7, 7};
    diag *d = diag_new();
    mdcache *c = mdcache_open(path, settings, d);
    enum { N = 400 };
    char *big = xmalloc(4001);
    memset(big, 'x', 4000);
    big[4000] = 0;
    for (int i = 0; i < N; i++) {
        put_batched(c, i, big);
        if (i == 3) put_batched(c, 3, big);          /* again: the first stands */
        CHECK(mdcache_has(c, (fp128){(uint64_t)i + 1, 5}));
        if (i % 37 == 0) CHECK(batched_body_is(c, i));       /* read before it is written */
    }
    mdcache_flush(c);
    mdcache_close(c, d);
    c = mdcache_open(path, settings, d);
    for (int i = 0; i < N; i++) CHECK(batched_body_is(c, i));
    mdcache_close(c, d);
    CHECK(diag_total(d) == 0);
    diag_free(d);
    free(big);
    free(path);
}

/* Two threads putting at once, as the loaders do: a full batch is
 * written by the put that filled it with the lock released, while the
 * other thread goes on putting (and reading what it put, which may be in
 * the batch being written). */
typedef struct {
    mdcache *c;
    int from, n;
    int bad;
} put_job;

static void *put_many(void *arg)
{
    put_job *j = arg;
    char *big = xmalloc(4001);
    memset(big, 'x', 4000);
    big[4000] = 0;
    for (int i = j->from; i < j->from + j->n; i++) {
        put_batched(j->c, i, big);
        if (!mdcache_has(j->c, (fp128){(uint64_t)i + 1, 5})) j->bad++;
        /* Now and then an older one: written, or in the batch being
         * written (a read of a pending one writes its batch at once, so
         * not too often: the batches must fill). */
        if (i % 301 == 0 && !batched_body_is(j->c, j->from + (i - j->from) / 2)) j->bad++;
    }
    free(big);
    return NULL;
}

TEST(markdown_puts_from_two_threads)
{
    char *path = xasprintf("%s/mdt/markdown.cache", dir);
    fp128 settings = {7, 8};
    diag *d = diag_new();
    mdcache *c = mdcache_open(path, settings, d);
    enum { N = 800 };          /* 2 x 800 x 4 KB: several batches each */
    put_job a = {c, 0, N, 0}, b = {c, N, N, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, put_many, &a) == 0);
    put_many(&b);
    pthread_join(t, NULL);
    CHECK(a.bad == 0);
    CHECK(b.bad == 0);
    mdcache_flush(c);
    int missing = 0;
    for (int i = 0; i < 2 * N; i++) missing += !batched_body_is(c, i);
    CHECK(missing == 0);
    mdcache_close(c, d);
    c = mdcache_open(path, settings, d);
    missing = 0;
    for (int i = 0; i < 2 * N; i++) missing += !batched_body_is(c, i);
    CHECK(missing == 0);
    mdcache_close(c, d);
    CHECK(diag_total(d) == 0);
    diag_free(d);
    free(path);
}

TEST(markdown_damage_is_a_miss)
{
    char *path = xasprintf("%s/damage.cache", dir);
    fp128 s = {5, 5}, k1 = {1, 1}, k2 = {2, 2};
    diag *d = diag_new();
    mdcache *c = mdcache_open(path, s, d);
    md_result got;
    put_sample(c, k1, "<p>first entry, long enough to aim at</p>", true);
    put_sample(c, k2, "<p>second</p>", true);
    mdcache_close(c, d);
    struct stat st;
    CHECK(stat(path, &st) == 0);
    /* Flip a byte inside the first entry's HTML. */
    int fd = open(path, O_RDWR);
    char *all = xmalloc((size_t)st.st_size);
    CHECK(pread(fd, all, (size_t)st.st_size, 0) == st.st_size);
    char *at = memmem(all, (size_t)st.st_size, "aim at", 6);
    CHECK(at != NULL);
    if (at) CHECK(pwrite(fd, "X", 1, at - all) == 1);
    close(fd);
    free(all);
    c = mdcache_open(path, s, d);
    size_t n;
    /* damaged: a miss, the second time too (it is not taken as checked) */
    CHECK(!mdcache_body(c, k1, false, &n) && !mdcache_body(c, k1, true, &n));
    CHECK(!mdcache_get(c, k1, &got));              /* damaged: a miss */
    CHECK(mdcache_get(c, k2, &got));               /* its neighbour is fine */
    md_free(&got);
    mdcache_close(c, d);
    /* A torn append: the last entry cut short is dropped, not misread. */
    CHECK(truncate(path, st.st_size - 3) == 0);
    c = mdcache_open(path, s, d);
    CHECK(!mdcache_get(c, k2, &got));
    put_sample(c, k2, "<p>again</p>", true);       /* appends after the good part */
    mdcache_close(c, d);
    c = mdcache_open(path, s, d);
    CHECK(mdcache_get(c, k2, &got));
    CHECK_STR(got.html, "<p>again</p>");
    md_free(&got);
    mdcache_close(c, d);
    diag_free(d);
    free(path);
}

/* A page noted with the writer's stat (pagecache_note_st) is recorded
 * as one stat'ed at save: the same kept / not kept answers afterwards.
 * A stat marked unknown (st_mode 0) is taken at save as before. */
TEST(pages_noted_with_stat)
{
    char *out = xasprintf("%s/outst", dir), *rec = xasprintf("%s/pagesst.cache", dir);
    const char *rel[3] = {"a.html", "b.html", "c.html"};
    char *file[3];
    struct stat st[3];
    CHECK(mkdir_p(out) == 0);
    for (int i = 0; i < 3; i++) {
        file[i] = path_join(out, rel[i]);
        CHECK(write_file_fresh_st(file[i], "<p>x</p>", 8, &st[i]) == 0);
    }
    memset(&st[2], 0, sizeof st[2]);              /* unknown: stat'ed at save */
    fp128 f = {3, 4};
    diag *d = diag_new();
    pagecache *pc = pagecache_open(rec, out, out);
    pagecache_note_st(pc, rel[0], f, &st[0]);     /* with its stat */
    pagecache_note(pc, rel[1], f);                /* stat'ed at save */
    pagecache_note_st(pc, rel[2], f, &st[2]);
    pagecache_note_st(pc, "gone.html", f, NULL);  /* missing, no stat: not recorded */
    CHECK(pagecache_save(pc, d) == 0);
    pagecache_free(pc);

    pc = pagecache_open(rec, out, out);
    for (int i = 0; i < 3; i++) CHECK(pagecache_keep(pc, rel[i], f));
    CHECK(!pagecache_keep(pc, "gone.html", f));
    pagecache_free(pc);

    /* Rewritten (same bytes, new inode and ctime): none is kept. */
    for (int i = 0; i < 3; i++) CHECK(write_file_atomic(file[i], "<p>x</p>", 8) == 0);
    pc = pagecache_open(rec, out, out);
    for (int i = 0; i < 3; i++) CHECK(!pagecache_keep(pc, rel[i], f));
    pagecache_free(pc);

    /* Replaced through write_file_atomic_st: its stat after the rename is
     * the one a later check sees. */
    pc = pagecache_open(rec, out, out);
    for (int i = 0; i < 3; i++) {
        CHECK(write_file_atomic_st(file[i], "<p>y</p>", 8, &st[i]) == 0);
        pagecache_note_st(pc, rel[i], f, &st[i]);
    }
    CHECK(pagecache_save(pc, d) == 0);
    pagecache_free(pc);
    pc = pagecache_open(rec, out, out);
    for (int i = 0; i < 3; i++) CHECK(pagecache_keep(pc, rel[i], f));
    pagecache_free(pc);
    for (int i = 0; i < 3; i++) free(file[i]);
    diag_free(d);
    free(out);
    free(rec);
}

/* A group file this build kept: trusted records give their own stat (no
 * stat at save, so a change behind their back is not taken in); without
 * trust it is stat'ed at save, as pagecache_note_in does. */
TEST(pages_noted_kept)
{
    char *out = xasprintf("%s/outkept", dir), *rec = xasprintf("%s/pageskept.cache", dir);
    char *file = path_join(out, "s.json");
    const char **paths;
    fp128 f = {5, 6};
    diag *d = diag_new();
    CHECK(mkdir_p(out) == 0);
    CHECK(write_file_fresh(file, "{}", 2) == 0);
    pagecache *pc = pagecache_open(rec, out, out);
    pagecache_note_in(pc, 1, "s.json", f);
    CHECK(pagecache_save(pc, d) == 0);
    pagecache_free(pc);
    /* Rewritten behind the records' back, then a trusted build keeps it. */
    CHECK(write_file_atomic(file, "{}", 2) == 0);
    pc = pagecache_open(rec, out, out);
    pagecache_trust(pc);
    pagecache_note_kept(pc, 1, "s.json", f);
    CHECK(pagecache_save(pc, d) == 0);
    pagecache_free(pc);
    pc = pagecache_open(rec, out, out);           /* the record's old stat: stale */
    CHECK(pagecache_group(pc, 1, f, &paths) == 0);
    /* Untrusted, the same call stats the file at save. */
    pagecache_note_kept(pc, 1, "s.json", f);
    CHECK(pagecache_save(pc, d) == 0);
    pagecache_free(pc);
    pc = pagecache_open(rec, out, out);
    CHECK(pagecache_group(pc, 1, f, &paths) == 1);
    free(paths);
    pagecache_free(pc);
    diag_free(d);
    free(file);
    free(out);
    free(rec);
}

/* The records name every file a build left (pagecache_note_other adds
 * those not noted as pages or group files, once), and pagecache_left
 * tells a file as left from one changed since, gone or never recorded;
 * a damaged or missing record file holds no records. */
TEST(pages_left_as_is)
{
    char *out = xasprintf("%s/outleft", dir), *rec = xasprintf("%s/pagesleft.cache", dir);
    const char *rel[3] = {"p.html", "feed.xml", "assets/s.css"};
    char *file[3];
    CHECK(mkdir_p(out) == 0);
    char *assets = path_join(out, "assets");
    CHECK(mkdir_p(assets) == 0);
    for (int i = 0; i < 3; i++) {
        file[i] = path_join(out, rel[i]);
        CHECK(write_file_fresh(file[i], "x", 1) == 0);
    }
    fp128 f = {9, 10};
    diag *d = diag_new();
    pagecache *pc = pagecache_open(rec, out, out);
    CHECK(!pagecache_recorded(pc));                /* no file yet */
    pagecache_note(pc, rel[0], f);
    pagecache_note_in(pc, 1, rel[1], f);
    for (int i = 0; i < 3; i++) pagecache_note_other(pc, rel[i]);   /* adds only the third */
    pagecache_note_other(pc, rel[2]);                               /* once */
    CHECK(pagecache_save(pc, d) == 0);
    pagecache_free(pc);

    pc = pagecache_open(rec, out, out);
    CHECK(pagecache_recorded(pc));
    for (int i = 0; i < 3; i++) CHECK(pagecache_left(pc, rel[i]) == PAGE_LEFT);
    CHECK(pagecache_left(pc, "other.html") == PAGE_UNRECORDED);
    CHECK(pagecache_keep(pc, rel[0], f));           /* still a page, kept as one */
    CHECK(!pagecache_keep(pc, rel[2], f));          /* an other file never is */
    const char **paths;
    CHECK(pagecache_group(pc, 1, f, &paths) == 1);  /* the group as noted */
    free(paths);
    pagecache_free(pc);

    /* Each noted once: three records, not four (a count in the file). */
    char *data = NULL;
    size_t n = 0;
    CHECK(read_file(rec, &data, &n) == 0);
    size_t ml = strlen(CACHE_PAGE_MAGIC);
    uint32_t rl = 0;
    uint64_t count = 0;
    if (n > ml + 12) {
        memcpy(&rl, data + ml, 4);
        if (n > ml + 4 + rl + 8) memcpy(&count, data + ml + 4 + rl, 8);
    }
    CHECK(count == 3);
    free(data);

    /* Changed by hand (same size, new ctime), then gone: no longer as left. */
    CHECK(write_file_atomic(file[1], "y", 1) == 0);
    CHECK(unlink(file[2]) == 0);
    pc = pagecache_open(rec, out, out);
    pagecache_trust(pc);                           /* left stats whatever trust says */
    CHECK(pagecache_left(pc, rel[0]) == PAGE_LEFT);
    CHECK(pagecache_left(pc, rel[1]) == PAGE_CHANGED);
    CHECK(pagecache_left(pc, rel[2]) == PAGE_CHANGED);
    pagecache_free(pc);

    /* A damaged record file (one byte flipped) holds no records. */
    CHECK(read_file(rec, &data, &n) == 0);
    if (n > 40) data[n / 2] ^= 1;
    CHECK(write_file_atomic(rec, data, n) == 0);
    free(data);
    pc = pagecache_open(rec, out, out);
    CHECK(!pagecache_recorded(pc));
    CHECK(pagecache_left(pc, rel[0]) == PAGE_UNRECORDED);
    pagecache_free(pc);
    for (int i = 0; i < 3; i++) free(file[i]);
    free(assets);
    diag_free(d);
    free(out);
    free(rec);
}

TEST(pages_fresh_only_as_left)
{
    char *out = xasprintf("%s/out", dir), *rec = xasprintf("%s/pages.cache", dir);
    char *file = xasprintf("%s/a/index.html", out);
    CHECK(mkdir_p(out) == 0);
    CHECK(write_file_atomic(file, "<p>a</p>", 8) == 0);
    fp128 f = {7, 8};
    diag *d = diag_new();
    pagecache *pc = pagecache_open(rec, out, out);
    CHECK(!pagecache_keep(pc, "a/index.html", f));
    pagecache_note(pc, "a/index.html", f);
    pagecache_note_in(pc, 1, "a/index.html.gz", f);  /* missing file: not recorded */
    CHECK(pagecache_save(pc, d) == 0);
    pagecache_free(pc);

    pc = pagecache_open(rec, out, out);
    CHECK(pagecache_keep(pc, "a/index.html", f));
    CHECK(!pagecache_keep(pc, "a/index.html", (fp128){7, 9}));
    const char **paths;
    CHECK(pagecache_group(pc, 1, f, &paths) == 0);
    pagecache_free(pc);

    /* Rewritten with the same bytes: a new inode and ctime, not trusted. */
    CHECK(write_file_atomic(file, "<p>a</p>", 8) == 0);
    pc = pagecache_open(rec, out, out);
    CHECK(!pagecache_keep(pc, "a/index.html", f));
    pagecache_free(pc);
    /* ... unless the caller vouches for the files (pagecache_trust): then
     * no stat is made, the records decide. */
    pc = pagecache_open(rec, out, out);
    pagecache_trust(pc);
    CHECK(pagecache_keep(pc, "a/index.html", f));
    CHECK(!pagecache_keep(pc, "a/index.html", (fp128){7, 9}));
    CHECK(!pagecache_keep(pc, "b/index.html", f));          /* no record */
    pagecache_free(pc);

    /* A damaged record is an empty one. */
    int fd = open(rec, O_RDWR);
    CHECK(pwrite(fd, "zz", 2, 30) == 2);
    close(fd);
    pc = pagecache_open(rec, out, out);
    CHECK(!pagecache_keep(pc, "a/index.html", f));
    pagecache_free(pc);
    CHECK(diag_total(d) == 0);
    diag_free(d);
    free(out); free(rec); free(file);
}

/* The document cache: a record is given back only while the file's stat
 * is the same; a racy one only while its bytes are too; a damaged file or
 * one of other settings is empty; unkept records are dropped at save. */
TEST(documents_by_stat)
{
    diag *d = diag_new();
    char *src = path_join(dir, "doc.md"), *other = path_join(dir, "other.md");
    char *rec = path_join(dir, "docs.cache");
    fp128 set = fp_bytes("settings", 8), f = fp_bytes("# a\n", 4);
    CHECK(write_file_atomic(src, "# a\n", 4) == 0);
    CHECK(write_file_atomic(other, "# b\n", 4) == 0);
    struct stat st, st2;
    CHECK(lstat(src, &st) == 0 && lstat(other, &st2) == 0);

    doccache *c = doccache_open(rec, set);
    size_t n;
    fp128 got;
    CHECK(doccache_get(c, src, &st, &n, &got) == NULL);           /* empty */
    doccache_put(c, src, &st, f, "payload", 7);
    doccache_put(c, other, &st2, fp_bytes("# b\n", 4), "other", 5);
    CHECK(doccache_save(c, d) == 0);
    doccache_free(c);

    c = doccache_open(rec, set);
    const unsigned char *p = doccache_get(c, src, &st, &n, &got);
    CHECK(p && n == 7 && !memcmp(p, "payload", 7) && fp_eq(got, f));
    /* Just written: racy, so the bytes decide. Same bytes: a hit. */
    doccache_keep(c, src);                   /* "other" is not kept: dropped */
    CHECK(doccache_save(c, d) == 0);
    doccache_free(c);

    c = doccache_open(rec, set);
    CHECK(doccache_get(c, other, &st2, &n, &got) == NULL);
    CHECK(doccache_get(c, src, &st, &n, &got) != NULL);
    /* Same size, same stat as recorded (mtime put back), other bytes:
     * a racy record is checked against the bytes and refused. */
    struct stat fake = st;
    CHECK(write_file_atomic(src, "# z\n", 4) == 0);
    CHECK(doccache_get(c, src, &fake, &n, &got) == NULL);
    /* A different stat is a miss whatever the bytes. */
    fake.st_size++;
    CHECK(doccache_get(c, src, &fake, &n, &got) == NULL);
    doccache_free(c);

    /* Other settings (another gazette, other site.yaml keys): empty. */
    c = doccache_open(rec, fp_bytes("other", 5));
    CHECK(doccache_get(c, src, &st, &n, &got) == NULL);
    doccache_free(c);
    /* A damaged shard is an empty one. */
    int damaged = 0;
    for (unsigned k = 0; k < 16; k++) {
        char *sp = xasprintf("%s.%x", rec, k);
        int fd = open(sp, O_RDWR);
        if (fd >= 0) {
            CHECK(pwrite(fd, "zz", 2, 40) == 2);
            close(fd);
            damaged++;
        }
        free(sp);
    }
    CHECK(damaged >= 1);              /* src's shard at least */
    c = doccache_open(rec, set);
    CHECK(doccache_get(c, src, &st, &n, &got) == NULL);
    doccache_free(c);
    CHECK(diag_total(d) == 0);
    diag_free(d);
    free(src); free(other); free(rec);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The document cache is sharded so that one changed record rewrites one
 * shard file only; records survive across shards; a file of the one-file
 * format of earlier versions is removed. */
TEST(documents_sharded)
{
    diag *d = diag_new();
    char *sub = path_join(dir, "sharded");
    CHECK(mkdir_p(sub) == 0);
    char *rec = path_join(sub, "docs.cache");
    CHECK(write_file_atomic(rec, "old format", 10) == 0);
    fp128 set = fp_bytes("settings", 8);
    enum { N = 64 };
    char *src[N];
    struct stat st[N];
    doccache *c = doccache_open(rec, set);
    for (int i = 0; i < N; i++) {
        src[i] = xasprintf("%s/doc-%02d.md", sub, i);
        CHECK(write_file_atomic(src[i], "x", 1) == 0);
        CHECK(lstat(src[i], &st[i]) == 0);
        doccache_put(c, src[i], &st[i], fp_bytes("x", 1), src[i], strlen(src[i]));
    }
    CHECK(doccache_save(c, d) == 0);
    doccache_free(c);
    struct stat legacy;
    CHECK(lstat(rec, &legacy) < 0);
    struct stat before[16];
    int present = 0;
    for (unsigned k = 0; k < 16; k++) {
        char *sp = xasprintf("%s.%x", rec, k);
        if (lstat(sp, &before[k]) == 0) present++;
        else before[k].st_ino = 0;
        free(sp);
    }
    CHECK(present > 8);               /* 64 sources spread over the shards */

    /* Everything kept but one record replaced: one shard is rewritten. */
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    c = doccache_open(rec, set);
    for (int i = 0; i < N; i++) {
        size_t n;
        fp128 f;
        const unsigned char *p = doccache_get(c, src[i], &st[i], &n, &f);
        CHECK(p && n == strlen(src[i]) && !memcmp(p, src[i], n));
        if (i != 7) doccache_keep(c, src[i]);
    }
    doccache_put(c, src[7], &st[7], fp_bytes("x", 1), "new", 3);
    CHECK(doccache_save(c, d) == 0);
    doccache_free(c);
    int rewritten = 0;
    for (unsigned k = 0; k < 16; k++) {
        char *sp = xasprintf("%s.%x", rec, k);
        struct stat now;
        if (lstat(sp, &now) == 0 && before[k].st_ino && !same_file(&now, &before[k])) rewritten++;
        free(sp);
    }
    CHECK(rewritten == 1);
    c = doccache_open(rec, set);
    size_t n;
    fp128 f;
    const unsigned char *p = doccache_get(c, src[7], &st[7], &n, &f);
    CHECK(p && n == 3 && !memcmp(p, "new", 3));
    p = doccache_get(c, src[8], &st[8], &n, &f);
    CHECK(p && n == strlen(src[8]));

    /* Nothing kept: every shard is emptied. */
    CHECK(doccache_save(c, d) == 0);
    doccache_free(c);
    c = doccache_open(rec, set);
    for (int i = 0; i < N; i++) CHECK(doccache_get(c, src[i], &st[i], &n, &f) == NULL);
    doccache_free(c);
    CHECK(diag_total(d) == 0);
    diag_free(d);
    for (int i = 0; i < N; i++) free(src[i]);
    free(rec);
    free(sub);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    RUN(encodings_are_unambiguous);
    RUN(decode_with_skips);
    RUN(markdown_round_trip);
    RUN(markdown_without_text);
    RUN(markdown_batched_puts);
    RUN(markdown_puts_from_two_threads);
    RUN(markdown_damage_is_a_miss);
    RUN(pages_fresh_only_as_left);
    RUN(pages_noted_with_stat);
    RUN(pages_noted_kept);
    RUN(pages_left_as_is);
    RUN(documents_by_stat);
    RUN(documents_sharded);
    rm_rf(dir);
    return test_summary();
}
