/* Unit tests for the search index (search.c).
 *
 * With SEARCH_BENCH_CORPUS=DIR (a tree made by make-corpus.py) the test
 * also indexes that corpus and prints how many bytes a few typical queries
 * fetch (meta + index shards + one page of result metadata). With
 * SEARCH_BENCH_REPEAT=N it writes the index N times (in the same directory,
 * so later rounds find their files unchanged) and prints the fastest round's
 * CPU time: a steadier figure on a shared machine than one run. */
#include "search.h"
#include "test.h"
#include "util.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------- */

static void collect(const char *tok, size_t len, void *ctx)
{
    buf *b = ctx;
    if (b->len) buf_putc(b, '|');
    buf_put(b, tok, len);
}

static char *toks(const char *s)
{
    buf b = BUF_INIT;
    search_tokenize(s, strlen(s), collect, &b);
    return buf_detach(&b);
}

static char *tmpdir(void)
{
    char *t = xstrdup("/tmp/gz-search-XXXXXX");
    if (!mkdtemp(t)) { free(t); return NULL; }
    return t;
}

static char *slurp(const char *dir, const char *rel)
{
    char *p = path_join(dir, rel), *data = NULL;
    size_t len;
    if (read_file(p, &data, &len) < 0) data = NULL;
    free(p);
    return data;
}

static json_t *load_json(const char *dir, const char *rel)
{
    char *s = slurp(dir, rel);
    if (!s) return NULL;
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    free(s);
    return j;
}

typedef struct { unsigned id, mask, tf; } post;

/* Decode postings (format in search.h) into out[max]; returns the count,
 * or -1 when malformed. */
static int decode(const char *s, post *out, int max)
{
    int n = 0;
    unsigned id = 0;
    while (s && *s && n < max) {
        unsigned long long v[2] = {0, 0};
        for (int part = 0; part < 2; part++) {
            int shift = 0;
            for (;;) {
                const char *c = strchr(SEARCH_B64, *s);
                if (!*s || !c) return -1;
                unsigned d = (unsigned)(c - SEARCH_B64);
                s++;
                v[part] |= (unsigned long long)(d & 31) << shift;
                shift += 5;
                if (!(d & 32)) break;
            }
            if (part == 0 && !(v[0] & 1)) break;
        }
        id += (unsigned)(v[0] >> 3);
        out[n++] = (post){id, (unsigned)v[1], (unsigned)(v[0] >> 1 & 3)};
    }
    return n;
}

/* Postings of tok, decoded into out; -1 when the token is missing. */
static int postings(const char *dir, const char *tok, post *out, int max)
{
    json_t *meta = load_json(dir, "search/meta.json");
    if (!meta) return -1;
    unsigned ns = (unsigned)json_integer_value(json_object_get(meta, "shards"));
    json_decref(meta);
    if (!ns) return -1;
    char rel[64];
    snprintf(rel, sizeof rel, "search/idx/%u.json", search_hash(tok, strlen(tok)) % ns);
    json_t *sh = load_json(dir, rel);
    json_t *p = sh ? json_object_get(sh, tok) : NULL;
    int n = p ? decode(json_string_value(p), out, max) : -1;
    json_decref(sh);
    return n;
}

static int write_index(const char *dir, const search_doc *docs, size_t n)
{
    diag *d = diag_new();
    outdir *o = out_open(dir, d);
    int rc = o ? search_write(docs, n, o, d) : -1;
    out_stats st;
    if (o && out_finish(o, &st) < 0) rc = -1;
    if (o) out_close(o);
    if (diag_total(d)) diag_print(d, stdout);
    diag_free(d);
    return rc;
}

static const char *const tags1[] = {"经费返还", "小微企业"};
static const char *const dist1[] = {"haigang", "changli"};
static const char *const dnames1[] = {"海港区", "昌黎县"};

static const search_doc sample[] = {
    {.url = "/notices/2017/refund/", .title = "关于小微企业工会经费返还的通知",
     .doc_number = "大工办发〔2017〕28号", .issuer = "大连市总工会办公室",
     .date = "2017-09-29", .kind = "notice", .category = "通知",
     .tags = tags1, .ntags = 2, .districts = dist1, .ndistricts = 2,
     .district_names = dnames1,
     .text = "各区总工会：\n为落实小微企业工会经费全额返还政策，现将有关事项通知如下。"},
    {.url = "/reports/2020/work/", .title = "提高站位 夯实措施",
     .issuer = "秦皇岛市总工会", .date = "2020-06-01", .kind = "report",
     .category = "报告", .text = "截止到目前，市县两级共计返还经费431.49万元。"},
    {.url = "/notices/2019/other/", .title = "劳动竞赛 <b>&</b> \"Test\"",
     .doc_number = "秦工字〔2019〕5号", .date = "2019-01-05", .kind = "notice",
     .text = "与返还无关的 ABC 文字。"},
};

/* Do the indexes written in a and b have the same bytes? */
static bool same_index(const char *a, const char *b)
{
    const char *files[] = {"search/meta.json", "search/docs/0.json", "search/idx/0.json"};
    bool same = true;
    for (size_t i = 0; i < 3; i++) {
        char *x = slurp(a, files[i]), *y = slurp(b, files[i]);
        same = same && x && y && !strcmp(x, y);
        free(x);
        free(y);
    }
    return same;
}

/* ---- tests --------------------------------------------------------- */

TEST(tokenize_cjk_bigrams_and_words)
{
    char *t = toks("小微企业 ABC2017年");
    CHECK_STR(t, "小|微|小微|企|微企|业|企业|abc2017|年");
    free(t);
    t = toks("〔2017〕28号");
    CHECK_STR(t, "2017|28|号");
    free(t);
    t = toks("ＡＢ１２，Straße");            /* full-width folds to ASCII */
    CHECK_STR(t, "ab12|straße");
    free(t);
    t = toks("");
    CHECK_STR(t, "");
    free(t);
}

TEST(tokenize_bad_utf8_and_long_words)
{
    char *t = toks("ab\xff\xfe" "cd\xe5\xa4");    /* invalid bytes separate words */
    CHECK_STR(t, "ab|cd");
    free(t);
    char longw[200];
    memset(longw, 'x', sizeof longw - 1);
    longw[sizeof longw - 1] = 0;
    t = toks(longw);
    CHECK(strlen(t) == 64);
    free(t);
}

TEST(norm_docnum)
{
    buf b = BUF_INIT;
    search_norm_docnum(&b, "大工办发〔2017〕28号");
    CHECK_STR(b.ptr, "大工办发201728号");
    buf_clear(&b);
    search_norm_docnum(&b, " 秦工办字 [2019] ５号 ");
    CHECK_STR(b.ptr, "秦工办字20195号");
    buf_clear(&b);
    search_norm_docnum(&b, NULL);
    CHECK(b.len == 0);
    buf_free(&b);
}

TEST(hash_is_fnv1a)
{
    CHECK(search_hash("", 0) == 2166136261u);
    CHECK(search_hash("a", 1) == 0xe40c292cu);
}

/* meta.json's districts: each id once, sorted by id (strcmp order, long
 * shared prefixes too), with the least name it was given; ids repeated
 * over many documents and more ids than the dedupe table first holds. */
TEST(meta_districts_distinct_sorted_least_name)
{
    enum { NDOC = 300 };
    static search_doc docs[NDOC];
    static const char *ids[NDOC][2], *names[NDOC][2];
    static char idbuf[NDOC][32];
    static char urls[NDOC][32];
    for (int i = 0; i < NDOC; i++) {
        /* 100 ids sharing an 8+ byte prefix; names differ per document */
        snprintf(idbuf[i], sizeof idbuf[i], "district-%03d", (i * 7) % 100);
        snprintf(urls[i], sizeof urls[i], "/notices/2017/d%d/", i);
        ids[i][0] = idbuf[i];
        names[i][0] = i % 3 == 0 ? "乙" : i % 3 == 1 ? "甲" : "丙";
        ids[i][1] = "北戴河区";
        names[i][1] = "北戴河区";
        docs[i] = (search_doc){.url = urls[i], .title = "t", .date = "2017-01-01", .kind = "notice",
                               .districts = ids[i], .ndistricts = 2, .district_names = names[i],
                               .text = "x"};
    }
    char *dir = tmpdir();
    CHECK(dir && write_index(dir, docs, NDOC) == 0);
    json_t *meta = load_json(dir, "search/meta.json");
    json_t *ds = json_object_get(meta, "districts");
    CHECK(json_array_size(ds) == 101);
    for (size_t i = 0; i + 1 < json_array_size(ds); i++) {
        const char *a = json_string_value(json_object_get(json_array_get(ds, i), "id"));
        const char *b = json_string_value(json_object_get(json_array_get(ds, i + 1), "id"));
        CHECK(a && b && strcmp(a, b) < 0);
    }
    CHECK_STR(json_string_value(json_object_get(json_array_get(ds, 0), "id")), "district-000");
    /* each district-NNN got 甲, 乙 and 丙 (3 documents each): the least */
    const char *least = strcmp("甲", "乙") < 0 ? "甲" : "乙";
    if (strcmp("丙", least) < 0) least = "丙";
    CHECK_STR(json_string_value(json_object_get(json_array_get(ds, 0), "name")), least);
    CHECK_STR(json_string_value(json_object_get(json_array_get(ds, 100), "id")), "北戴河区");
    json_decref(meta);
    rm_rf(dir);
    free(dir);
}

/* Ids follow date (newest first), then url, in strcmp order: also when
 * urls share their first 24 bytes and dates tie (the sort compares key
 * prefixes first), whatever order the documents come in. */
TEST(doc_order_is_date_then_url)
{
    static const search_doc in[] = {
        {.url = "/notices/2017/same-long-prefix-slug/", .title = "s", .date = "2017-03-01", .kind = "notice", .text = "x"},
        {.url = "/notices/2017/same-long-prefix-slug-b/", .title = "b", .date = "2017-03-01", .kind = "notice", .text = "x"},
        {.url = "/notices/2016/z/", .title = "z", .date = "2016-01-01", .kind = "notice", .text = "x"},
        {.url = "/notices/2017/same-long-prefix-slug-a/", .title = "a", .date = "2017-03-01", .kind = "notice", .text = "x"},
        {.url = "/reports/2017/r/", .title = "r", .date = "2017-03-02", .kind = "report", .text = "x"},
        {.url = "/notices/2017/n/", .title = "n", .kind = "notice", .text = "x"},
    };
    const char *want[] = {"r", "a", "b", "s", "z", "n"};
    char *dir = tmpdir();
    CHECK(dir && write_index(dir, in, sizeof in / sizeof *in) == 0);
    json_t *docs = load_json(dir, "search/docs/0.json");
    CHECK(json_array_size(docs) == 6);
    for (size_t i = 0; i < 6; i++)
        CHECK_STR(json_string_value(json_object_get(json_array_get(docs, i), "t")), want[i]);
    json_decref(docs);
    rm_rf(dir);
    free(dir);
}

/* A snippet: the text's first 110 characters, whitespace runs (U+3000
 * too) as one space, trimmed, a bad byte as U+FFFD, other characters of
 * any length kept; "…" when cut. */
TEST(snippets)
{
    static char long_text[400];
    for (int i = 0; i < 120; i++) memcpy(long_text + 3 * i, "工", 3);
    search_doc in[] = {
        {.url = "/a/", .title = "a", .date = "2020-01-02", .kind = "notice",
         .text = "  一\u3000\u3000二 \n\t三\xff é 😀 end  "},
        {.url = "/b/", .title = "b", .date = "2020-01-01", .kind = "notice", .text = long_text},
    };
    char *dir = tmpdir();
    CHECK(dir && write_index(dir, in, 2) == 0);
    json_t *docs = load_json(dir, "search/docs/0.json");
    CHECK_STR(json_string_value(json_object_get(json_array_get(docs, 0), "s")),
              "一 二 三\xef\xbf\xbd é 😀 end");
    const char *s = json_string_value(json_object_get(json_array_get(docs, 1), "s"));
    CHECK(s && strlen(s) == 110 * 3 + strlen("…") && !strcmp(s + 330, "…") && !memcmp(s, "工工", 6));
    json_decref(docs);
    rm_rf(dir);
    free(dir);
}

TEST(write_meta_docs_and_postings)
{
    char *dir = tmpdir();
    CHECK(dir && write_index(dir, sample, 3) == 0);
    json_t *meta = load_json(dir, "search/meta.json");
    CHECK(meta);
    CHECK(json_integer_value(json_object_get(meta, "ndocs")) == 3);
    /* newest first: 2020 report, 2019 notice, 2017 notice */
    CHECK_STR(json_string_value(json_object_get(meta, "kinds")), "rnn");
    json_t *years = json_object_get(meta, "years");
    CHECK(json_array_size(years) == 3);
    CHECK(json_integer_value(json_object_get(json_array_get(years, 2), "y")) == 2017);
    CHECK(json_integer_value(json_object_get(json_array_get(years, 2), "from")) == 2);
    json_t *ds = json_object_get(meta, "districts");
    CHECK(json_array_size(ds) == 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(ds, 0), "id")), "changli");
    CHECK_STR(json_string_value(json_object_get(json_array_get(ds, 0), "name")), "昌黎县");
    json_decref(meta);

    json_t *docs = load_json(dir, "search/docs/0.json");
    CHECK(json_array_size(docs) == 3);
    json_t *d2 = json_array_get(docs, 2);
    CHECK_STR(json_string_value(json_object_get(d2, "u")), "/notices/2017/refund/");
    CHECK_STR(json_string_value(json_object_get(d2, "n")), "大工办发〔2017〕28号");
    CHECK_CONTAINS(json_string_value(json_object_get(d2, "s")), "各区总工会： 为落实");
    json_decref(docs);

    post p[8];
    /* in docs 0 (body), 1 (body), 2 (title + tags + body) */
    CHECK(postings(dir, "返还", p, 8) == 3);
    CHECK(p[0].id == 0 && p[0].mask == 0 && p[0].tf == 1);
    CHECK(p[1].id == 1 && p[1].mask == 0);
    CHECK(p[2].id == 2 && (p[2].mask & SEARCH_F_TITLE) && (p[2].mask & SEARCH_F_TAGS));
    CHECK(p[2].tf >= 1);
    /* the normalised whole 文号 */
    CHECK(postings(dir, "大工办发201728号", p, 8) == 1);
    CHECK(p[0].id == 2 && p[0].mask == SEARCH_F_DOCNUM && p[0].tf == 0);
    CHECK(postings(dir, "d:haigang", p, 8) == 1 && p[0].id == 2);
    CHECK(postings(dir, "9", p, 8) == 1);     /* 2017-09-29 is findable as 9 */
    CHECK(postings(dir, "工会", p, 8) == 2);
    CHECK(postings(dir, "nosuchtoken", p, 8) == -1);
    rm_rf(dir);
    free(dir);
}

/* Postings are kept encoded in chains of blocks that double up to 2 KB,
 * staged 8 bytes at a time in the term; tokens of up to 8 bytes are kept
 * as integer keys, longer ones in a string arena. Many documents with
 * tokens in every doc, every 7th doc (with field bits, so 2-char postings)
 * and only the last doc cross every block and stage boundary; a word
 * longer than 8 bytes, one of exactly 8, and 4-byte CJK chars (whose
 * bigram is 8 bytes) take each token path. */
TEST(postings_across_blocks_and_token_kinds)
{
    enum { N = 3000 };
    search_doc *docs = calloc(N, sizeof *docs);
    char **texts = calloc(N, sizeof *texts), **urls = calloc(N, sizeof *urls);
    char **titles = calloc(N, sizeof *titles);
    CHECK(docs && texts && urls && titles);
    for (int i = 0; i < N; i++) {
        urls[i] = xasprintf("/d/%05d/", i);
        /* "2020-01-01" for all: doc ids follow the url, so id == i */
        texts[i] = xasprintf("everywhere internationalization abcdefgh %s %s \xF0\xA0\x80\x80\xF0\xA0\x80\x81",
                             i % 7 == 0 ? "sevenths" : "", i == N - 1 ? "lastone" : "");
        titles[i] = xstrdup(i % 7 == 0 ? "sevenths title" : "plain");
        docs[i] = (search_doc){.url = urls[i], .title = titles[i], .date = "2020-01-01",
                               .kind = "notice", .text = texts[i]};
    }
    char *dir = tmpdir();
    CHECK(dir && write_index(dir, docs, N) == 0);
    static post p[N + 1];
    CHECK(postings(dir, "everywhere", p, N + 1) == N);
    int ok = 1;
    for (int i = 0; i < N; i++) ok &= p[i].id == (unsigned)i && p[i].tf == 1 && p[i].mask == 0;
    CHECK(ok);
    CHECK(postings(dir, "internationalization", p, N + 1) == N);
    CHECK(p[N - 1].id == N - 1);
    CHECK(postings(dir, "abcdefgh", p, N + 1) == N);
    CHECK(postings(dir, "\xF0\xA0\x80\x80\xF0\xA0\x80\x81", p, N + 1) == N);
    CHECK(postings(dir, "\xF0\xA0\x80\x81", p, N + 1) == N);
    int n7 = postings(dir, "sevenths", p, N + 1);
    CHECK(n7 == (N + 6) / 7);
    ok = 1;
    for (int k = 0; k < n7; k++)
        ok &= p[k].id == (unsigned)(7 * k) && p[k].mask == SEARCH_F_TITLE && p[k].tf == 1;
    CHECK(ok);
    CHECK(postings(dir, "lastone", p, N + 1) == 1 && p[0].id == N - 1);
    CHECK(postings(dir, "plain", p, N + 1) == N - n7);
    rm_rf(dir);
    free(dir);
    for (int i = 0; i < N; i++) { free(texts[i]); free(urls[i]); free(titles[i]); }
    free(texts);
    free(urls);
    free(titles);
    free(docs);
}

TEST(html_in_data_stays_data)
{
    char *dir = tmpdir();
    CHECK(dir && write_index(dir, sample, 3) == 0);
    char *s = slurp(dir, "search/docs/0.json");
    CHECK(s && !strstr(s, "<b>"));           /* escaped as \u003c in JSON */
    json_t *docs = load_json(dir, "search/docs/0.json");
    CHECK_STR(json_string_value(json_object_get(json_array_get(docs, 1), "t")),
              "劳动竞赛 <b>&</b> \"Test\"");
    json_decref(docs);
    free(s);
    rm_rf(dir);
    free(dir);
}

TEST(output_is_deterministic)
{
    search_doc rev[3] = {sample[2], sample[0], sample[1]};
    char *a = tmpdir(), *b = tmpdir();
    CHECK(a && b);
    CHECK(write_index(a, sample, 3) == 0 && write_index(b, rev, 3) == 0);
    CHECK(same_index(a, b));
    rm_rf(a);
    rm_rf(b);
    free(a);
    free(b);
}

/* Texts kept elsewhere: fetched once each, released after; same output. */
static int fetched, released;

static char *fetch_from_sample(const search_doc *doc, void *ud, size_t *len)
{
    const search_doc *orig = ud;
    fetched++;
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(orig[i].url, doc->url)) {
            *len = strlen(orig[i].text);
            return xstrdup(orig[i].text);
        }
    return NULL;
}

static void count_release(const search_doc *doc, void *ud) { released++; }

TEST(fetched_texts_give_the_same_index)
{
    search_doc bare[3] = {sample[0], sample[1], sample[2]};
    for (size_t i = 0; i < 3; i++) bare[i].text = NULL;
    char *a = tmpdir(), *b = tmpdir();
    CHECK(a && b);
    CHECK(write_index(a, sample, 3) == 0);
    diag *d = diag_new();
    outdir *o = out_open(b, d);
    search_hooks h = {.fetch_text = fetch_from_sample, .consumed = count_release, .ud = (void *)sample};
    fetched = released = 0;
    CHECK(o && search_write_hooks(bare, 3, o, d, &h) == 0);
    out_stats st;
    CHECK(out_finish(o, &st) == 0);
    out_close(o);
    CHECK(diag_total(d) == 0);
    diag_free(d);
    CHECK(fetched == 3 && released == 3);
    CHECK(same_index(a, b));
    rm_rf(a);
    rm_rf(b);
    free(a);
    free(b);
}

TEST(empty_and_bad_input)
{
    char *dir = tmpdir();
    CHECK(dir && write_index(dir, NULL, 0) == 0);
    json_t *meta = load_json(dir, "search/meta.json");
    CHECK(meta && json_integer_value(json_object_get(meta, "ndocs")) == 0);
    json_decref(meta);
    search_doc bad = {.title = "no url"};
    diag *d = diag_new();
    outdir *o = out_open(dir, d);
    CHECK(search_write(&bad, 1, o, d) == -1);
    CHECK(diag_count(d, DIAG_ERROR) == 1);
    out_close(o);
    diag_free(d);
    search_doc sparse = {.url = "/x/"};      /* every optional field missing */
    CHECK(write_index(dir, &sparse, 1) == 0);
    rm_rf(dir);
    free(dir);
}

typedef struct {
    search_doc *docs;
    char **strs;
    size_t n, nstrs;
} corpus;

static char *keep(corpus *c, char *s)
{
    c->strs = xrealloc(c->strs, (c->nstrs + 1) * sizeof *c->strs);
    return c->strs[c->nstrs++] = s;
}

static void corpus_free(corpus *c)
{
    for (size_t i = 0; i < c->nstrs; i++) free(c->strs[i]);
    free(c->strs);
    free(c->docs);
}

/* Random bytes (valid and invalid UTF-8, markup, quotes) in every field:
 * every file still parses as JSON. Bounded, fixed seed. */
TEST(random_text_gives_valid_json)
{
    static const char *const pieces[] = {"工会", "\xe5\xa4", "\xff", "<b>", "\"", "\\",
                                         "\n", "〔2017〕", "ＡＢ", "x", " ", "\x01", "号", "é"};
    corpus c = {0};
    c.n = 40;
    c.docs = xcalloc(c.n, sizeof *c.docs);
    unsigned r = 99;
    for (size_t i = 0; i < c.n; i++) {
        char *f[6];
        for (int k = 0; k < 6; k++) {
            buf b = BUF_INIT;
            for (int m = 0; m < 30; m++) {
                r = r * 1103515245u + 12345u;
                buf_puts(&b, pieces[(r >> 16) % (sizeof pieces / sizeof *pieces)]);
            }
            f[k] = keep(&c, buf_detach(&b));
        }
        search_doc *d = &c.docs[i];
        d->url = keep(&c, xasprintf("/n/%zu/%s", i, f[0]));
        d->title = f[1];
        d->doc_number = f[2];
        d->issuer = f[3];
        d->date = i % 3 ? f[4] : "2017-01-01";
        d->kind = "notice";
        d->text = f[5];
    }
    char *dir = tmpdir();
    CHECK(dir && write_index(dir, c.docs, c.n) == 0);
    json_t *meta = load_json(dir, "search/meta.json");
    CHECK(meta);
    unsigned ns = (unsigned)json_integer_value(json_object_get(meta, "shards"));
    json_decref(meta);
    for (unsigned i = 0; i < ns; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "search/idx/%u.json", i);
        json_t *j = load_json(dir, rel);
        CHECK(j);
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            post p[64];
            CHECK(decode(json_string_value(v), p, 64) > 0);
        }
        json_decref(j);
    }
    for (size_t i = 0; i * 8 < c.n; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "search/docs/%zu.json", i);
        json_t *j = load_json(dir, rel);
        CHECK(j);
        json_decref(j);
    }
    rm_rf(dir);
    free(dir);
    corpus_free(&c);
}

/* ---- size: many synthetic docs ------------------------------------- */

static const char *const WORDS[] = {
    "工会", "经费", "返还", "小微企业", "职工", "基层", "组织", "建设", "会员",
    "服务", "财务", "审计", "预算", "帮扶", "困难", "劳动", "竞赛", "创新",
    "安全", "生产", "宣传", "教育", "权益", "保障", "法律", "援助", "调解",
    "台账", "统计", "核查", "落实", "推进", "部署", "规范", "管理", "制度",
    "企业", "单位", "税务", "拨付", "补助", "资金", "标准", "申报", "审核"};
#define NW (sizeof WORDS / sizeof *WORDS)

/* Bytes a browser fetches for a query: meta, the shards of its tokens, and
 * one page of results (10 docs -> at most 10 docs/N.json files, counted as
 * the 10 largest, a pessimistic bound). */
static size_t query_bytes(const char *dir, const char *q)
{
    json_t *meta = load_json(dir, "search/meta.json");
    unsigned ns = (unsigned)json_integer_value(json_object_get(meta, "shards"));
    size_t ndocs = (size_t)json_integer_value(json_object_get(meta, "ndocs"));
    size_t chunk = (size_t)json_integer_value(json_object_get(meta, "chunk"));
    json_decref(meta);
    struct stat st;
    char *p = path_join(dir, "search/meta.json");
    size_t total = stat(p, &st) == 0 ? (size_t)st.st_size : 0;
    free(p);
    /* q is the tokens search.js looks up, '|'-separated: words, and
     * bigrams covering each CJK run (queryTokens in search.js) */
    char *t = xstrdup(q);
    unsigned char *seen = xcalloc(ns ? ns : 1, 1);
    char *save = NULL;
    for (char *tok = strtok_r(t, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
        unsigned s = search_hash(tok, strlen(tok)) % ns;
        if (seen[s]) continue;
        seen[s] = 1;
        char rel[64];
        snprintf(rel, sizeof rel, "search/idx/%u.json", s);
        p = path_join(dir, rel);
        if (stat(p, &st) == 0) total += (size_t)st.st_size;
        free(p);
    }
    size_t best[10] = {0};
    for (size_t c = 0; c * chunk < ndocs; c++) {
        char rel[64];
        snprintf(rel, sizeof rel, "search/docs/%zu.json", c);
        p = path_join(dir, rel);
        size_t sz = stat(p, &st) == 0 ? (size_t)st.st_size : 0;
        free(p);
        for (int k = 0; k < 10; k++)
            if (sz > best[k]) { size_t tmp = best[k]; best[k] = sz; sz = tmp; }
    }
    for (int k = 0; k < 10; k++) total += best[k];
    free(seen);
    free(t);
    return total;
}

static void synth(corpus *c, size_t n)
{
    c->docs = xcalloc(n, sizeof *c->docs);
    c->n = n;
    unsigned r = 12345;
    for (size_t i = 0; i < n; i++) {
        buf body = BUF_INIT;
        for (int k = 0; k < 300; k++) {
            r = r * 1103515245u + 12345u;
            buf_puts(&body, WORDS[(r >> 8) % NW]);
            if (k % 9 == 8) buf_puts(&body, "，");
        }
        search_doc *d = &c->docs[i];
        d->url = keep(c, xasprintf("/notices/%zu/doc-%06zu/", 2015 + i % 11, i));
        d->title = keep(c, xasprintf("关于%s%s工作的通知", WORDS[i % NW], WORDS[(i / NW) % NW]));
        d->doc_number = keep(c, xasprintf("秦工办字〔%zu〕%zu号", 2015 + i % 11, i % 97 + 1));
        d->date = keep(c, xasprintf("%zu-%02zu-%02zu", 2015 + i % 11, i % 12 + 1, i % 28 + 1));
        d->kind = i % 4 == 3 ? "report" : "notice";
        d->text = keep(c, buf_detach(&body));
    }
}

TEST(query_fetch_is_small)
{
    corpus c = {0};
    synth(&c, 3000);
    char *dir = tmpdir();
    CHECK(dir && write_index(dir, c.docs, c.n) == 0);
    size_t b = query_bytes(dir, "小微|企业|返还");
    printf("# 3000 synthetic docs: query '小微企业 返还' fetches %zu bytes\n", b);
    CHECK(b < 300 * 1024);
    rm_rf(dir);
    free(dir);
    corpus_free(&c);
}

/* ---- optional benchmark on a make-corpus.py tree ------------------- */

/* Value of "key: ..." in front matter, quotes stripped (make-corpus.py
 * writes simple one-line values). */
static char *fm_get(const char *fm, const char *key)
{
    size_t kl = strlen(key);
    for (const char *l = fm; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, kl) || l[kl] != ':') continue;
        const char *v = l + kl + 1, *e = strchr(v, '\n');
        if (!e) e = v + strlen(v);
        while (v < e && (*v == ' ' || *v == '"')) v++;
        while (e > v && (e[-1] == '"' || e[-1] == ' ' || e[-1] == '\r')) e--;
        return xstrndup(v, (size_t)(e - v));
    }
    return NULL;
}

static void load_tree(corpus *c, const char *dir, const char *kind)
{
    DIR *dh = opendir(dir);
    if (!dh) return;
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (e->d_name[0] == '.') continue;
        char *p = path_join(dir, e->d_name);
        if (is_dir(p)) {
            load_tree(c, p, kind);
        } else if (str_ends(e->d_name, ".md")) {
            char *data;
            size_t len;
            if (read_file(p, &data, &len) == 0) {
                char *end = strstr(data + 3, "\n---");
                if (end) {
                    *end = 0;
                    c->docs = xrealloc(c->docs, (c->n + 1) * sizeof *c->docs);
                    search_doc *d = &c->docs[c->n++];
                    memset(d, 0, sizeof *d);
                    d->url = keep(c, xasprintf("/%s/%s/", kind, e->d_name));
                    d->title = keep(c, fm_get(data, "title"));
                    d->doc_number = keep(c, fm_get(data, "doc_number"));
                    d->issuer = keep(c, fm_get(data, "issuer"));
                    char *date = keep(c, fm_get(data, "date"));
                    if (date && strlen(date) > 10) date[10] = 0;
                    d->date = date;
                    d->kind = !strcmp(kind, "reports") ? "report" : "notice";
                    d->category = keep(c, fm_get(data, "category"));
                    d->text = keep(c, xstrdup(end + 4));
                }
                free(data);
            }
        }
        free(p);
    }
    closedir(dh);
}

static int patch_run(const search_doc *docs, size_t n, const char *out, const char *state);

/* The incremental index: one body edit after a build, CPU time of the
 * patched rebuild (fastest of SEARCH_BENCH_REPEAT). */
static void bench_patch(corpus *c)
{
    char *out = tmpdir(), *cdir = tmpdir();
    char *state = path_join(cdir, "search.cache");
    int rc = patch_run(c->docs, c->n, out, state);
    const char *rep = getenv("SEARCH_BENCH_REPEAT");
    int reps = rep && atoi(rep) > 0 ? atoi(rep) : 1;
    double best = 0;
    const char *orig = c->docs[c->n / 2].text;
    for (int r = 0; r < reps; r++) {
        c->docs[c->n / 2].text = keep(c, xasprintf("%s edited paragraph %d.", orig, r));
        clock_t t0 = clock();
        rc |= patch_run(c->docs, c->n, out, state);
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        if (!r || secs < best) best = secs;
    }
    printf("# bench: one body edit patched in %.4fs (fastest of %d, rc %d)\n", best, reps, rc);
    rm_rf(out);
    rm_rf(cdir);
    free(out);
    free(cdir);
    free(state);
}

static void bench(const char *root)
{
    corpus c = {0};
    char *p = path_join(root, "notices");
    load_tree(&c, p, "notices");
    free(p);
    p = path_join(root, "reports");
    load_tree(&c, p, "reports");
    free(p);
    char *dir = tmpdir();
    const char *rep = getenv("SEARCH_BENCH_REPEAT");
    int reps = rep && atoi(rep) > 0 ? atoi(rep) : 1, rc = 0;
    double best = 0;
    for (int r = 0; r < reps; r++) {
        clock_t t0 = clock();
        rc |= write_index(dir, c.docs, c.n);
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        if (!r || secs < best) best = secs;
    }
    printf("# bench: %zu docs indexed in %.3fs (fastest of %d, rc %d)\n", c.n, best, reps, rc);
    /* as search.js asks: 小微企业 返还 / 经费 审计 台账 / 秦工办字〔2017〕28号 / 职工 */
    const char *qs[] = {"小微|企业|返还", "经费|审计|台账",
                        "秦工|办字|2017|28|秦工办字201728号", "职工"};
    for (size_t i = 0; i < 4; i++)
        printf("# bench: query '%s' fetches %zu bytes\n", qs[i], query_bytes(dir, qs[i]));
    fflush(stdout);
    char *cmd = xasprintf("du -sk '%s/search' | sed 's/^/# bench: index KB on disk: /'", dir);
    if (system(cmd) != 0) printf("# bench: du failed\n");
    free(cmd);
    fflush(stdout);
    if (getenv("SEARCH_BENCH_KEEP")) printf("# bench: index kept in %s\n", dir);
    else rm_rf(dir);
    free(dir);
    bench_patch(&c);
    corpus_free(&c);
}

/* ---- the incremental index (search_hooks.cache_path) --------------- */

/* Do the trees a and b hold the same files with the same bytes? */
static bool same_tree(const char *a, const char *b)
{
    DIR *da = opendir(a);
    if (!da) return false;
    bool same = true;
    size_t na = 0;
    struct dirent *e;
    while (same && (e = readdir(da))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        na++;
        char *pa = path_join(a, e->d_name), *pb = path_join(b, e->d_name);
        if (is_dir(pa)) {
            same = is_dir(pb) && same_tree(pa, pb);
        } else {
            char *x = NULL, *y = NULL;
            size_t lx = 0, ly = 0;
            same = read_file(pa, &x, &lx) == 0 && read_file(pb, &y, &ly) == 0 && lx == ly &&
                   !memcmp(x, y, lx);
            free(x);
            free(y);
        }
        free(pa);
        free(pb);
    }
    closedir(da);
    size_t nb = 0;
    DIR *db = opendir(b);
    if (!db) return false;
    while ((e = readdir(db)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) nb++;
    closedir(db);
    return same && na == nb;
}

/* The texts the index said it would fetch (search_hooks.prefetch), in
 * its order; how far its fetches have gone; the fetches it did not say
 * (or said out of order), and the texts it said and never fetched. */
static const search_doc **announced;
static size_t nannounced, ann_at;
static int unannounced, unfetched;

static void announce(const search_doc *const *docs, size_t n, void *ud)
{
    unfetched += (int)(nannounced - ann_at);        /* the last list's rest */
    announced = xrealloc(announced, (n ? n : 1) * sizeof *announced);
    memcpy(announced, docs, n * sizeof *docs);
    nannounced = n;
    ann_at = 0;
}

/* Is doc the next text announced? */
static void check_announced(const search_doc *doc)
{
    if (ann_at < nannounced && announced[ann_at] == doc) ann_at++;
    else unannounced++;
}

/* Texts kept elsewhere, told by text_id (here: the text itself). */
static int inc_fetched;
static char *fetch_own(const search_doc *doc, void *ud, size_t *len)
{
    inc_fetched++;
    check_announced(doc);
    *len = doc->text_id_len;
    return xstrndup(doc->text_id, doc->text_id_len);
}

/* docs (with texts, handed over as fetched ones) written incrementally
 * into out with the state at state. */
static int patch_run(const search_doc *docs, size_t n, const char *out, const char *state)
{
    search_doc *bare = xcalloc(n ? n : 1, sizeof *bare);
    for (size_t i = 0; i < n; i++) {
        bare[i] = docs[i];
        bare[i].text = NULL;
        bare[i].text_id = docs[i].text;
        bare[i].text_id_len = strlen(docs[i].text);
    }
    diag *d = diag_new();
    outdir *o = out_open(out, d);
    search_hooks h = {.fetch_text = fetch_own, .cache_path = state, .prefetch = announce};
    inc_fetched = 0;
    nannounced = ann_at = 0;
    unannounced = unfetched = 0;
    bool ok = o && search_write_hooks(bare, n, o, d, &h) == 0;
    /* every text fetched was announced, in order, and every one announced
     * was fetched (a fall back to a build from nothing announces again,
     * dropping the first list's rest: none, as it falls back first) */
    unfetched += (int)(nannounced - ann_at);
    ok = ok && unannounced == 0 && unfetched == 0;
    out_stats st;
    ok = ok && out_finish(o, &st) == 0;
    if (o) out_close(o);
    ok = ok && diag_total(d) == 0;
    diag_free(d);
    free(bare);
    return ok ? 0 : -1;
}

/* ... and from nothing into a fresh directory: same bytes? */
static bool patched_equals_fresh(const search_doc *docs, size_t n, const char *out,
                                 const char *state)
{
    bool ok = patch_run(docs, n, out, state) == 0;
    char *ref = tmpdir();
    ok = ok && ref && write_index(ref, docs, n) == 0 && same_tree(ref, out);
    if (ref) rm_rf(ref);
    free(ref);
    return ok;
}

/* A build from nothing of 16+ documents makes its docs/ chunks on a second
 * thread that reads the texts the indexer fetched: the same files as on
 * one thread, each text fetched once and released once. */
static int many_fetched, many_released;

static char *fetch_many(const search_doc *doc, void *ud, size_t *len)
{
    __atomic_add_fetch(&many_fetched, 1, __ATOMIC_RELAXED);
    check_announced(doc);
    char *s = xasprintf("正文 %s 职工服务 text of %s", doc->title, doc->url);
    *len = strlen(s);
    return s;
}

static void release_many(const search_doc *doc, void *ud) { many_released++; }

TEST(docs_chunks_apart_or_on_one_thread_give_the_same_index)
{
    enum { N = 2500 };         /* past the hand-over window (1024) */
    search_doc *docs = calloc(N, sizeof *docs);
    char **urls = calloc(N, sizeof *urls), **titles = calloc(N, sizeof *titles);
    CHECK(docs && urls && titles);
    for (int i = 0; i < N; i++) {
        urls[i] = xasprintf("/d/%05d/", i);
        titles[i] = xasprintf("关于第%d号工作的通知", i);
        docs[i] = (search_doc){.url = urls[i], .title = titles[i], .date = "2021-03-04", .kind = "notice"};
    }
    char *dir[2] = {tmpdir(), tmpdir()};
    for (int k = 0; k < 2; k++) {
        diag *d = diag_new();
        outdir *o = out_open(dir[k], d);
        search_hooks h = {.fetch_text = fetch_many, .consumed = release_many, .one_thread = k == 1,
                          .prefetch = announce};
        many_fetched = many_released = 0;
        nannounced = ann_at = 0;
        unannounced = unfetched = 0;
        CHECK(o && search_write_hooks(docs, N, o, d, &h) == 0);
        CHECK(nannounced == N && ann_at == N && unannounced == 0);
        out_stats st;
        CHECK(o && out_finish(o, &st) == 0);
        out_close(o);
        CHECK(diag_total(d) == 0);
        diag_free(d);
        CHECK(many_fetched == N && many_released == N);
    }
    free(announced);
    announced = NULL;
    nannounced = ann_at = 0;
    CHECK(same_tree(dir[0], dir[1]));
    char *chunk = slurp(dir[0], "search/docs/312.json");      /* the last: 2500 = 312 * 8 + 4 */
    CHECK_CONTAINS(chunk, "text of /d/");
    free(chunk);
    for (int k = 0; k < 2; k++) {
        rm_rf(dir[k]);
        free(dir[k]);
    }
    for (int i = 0; i < N; i++) {
        free(urls[i]);
        free(titles[i]);
    }
    free(urls);
    free(titles);
    free(docs);
}

TEST(patched_index_equals_one_from_nothing)
{
    corpus c = {0};
    synth(&c, 60);
    char *out = tmpdir(), *cdir = tmpdir();
    CHECK(out && cdir);
    char *state = path_join(cdir, "search.cache");
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 60);                        /* from nothing */
    CHECK(path_exists(state));
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 0);                         /* nothing new */
    /* a body edit, with a token no other document has */
    c.docs[5].text = keep(&c, xasprintf("%s 追加一段 zzzuniq 文字。", c.docs[5].text));
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 1);
    /* the token gone again */
    c.docs[5].text = c.docs[6].text;
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 1);
    /* a title */
    c.docs[7].title = "关于全新标题的通知";
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 1);
    /* a date that moves the document to another id */
    c.docs[20].date = "2030-01-01";
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 1);
    /* a document added (newest: every id shifts) */
    c.docs = xrealloc(c.docs, (c.n + 1) * sizeof *c.docs);
    c.docs[c.n] = c.docs[3];
    c.docs[c.n].url = "/notices/2031/new/";
    c.docs[c.n].date = "2031-02-03";
    c.docs[c.n].text = "新增的文件 newword 内容。";
    c.n++;
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 1);
    /* one removed */
    c.docs[10] = c.docs[--c.n];
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 0);
    /* a districts change */
    c.docs[11].districts = dist1;
    c.docs[11].district_names = dnames1;
    c.docs[11].ndistricts = 2;
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 1);
    /* Edits in place (the id stays: only the terms whose posting there
     * changes are encoded again): a word once more (tf 1 -> 2), a word
     * more than three times more (tf stays at 3), a title word that the
     * body has too (its mask changes, not its tf), and a word that goes
     * (its posting there goes, the others stay). */
    c.docs[30].text = keep(&c, xasprintf("%s 追加", c.docs[30].text));
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    c.docs[30].text = keep(&c, xasprintf("%s 追加 追加 追加 追加", c.docs[30].text));
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    c.docs[31].title = keep(&c, xasprintf("%s 追加", c.docs[31].title));
    c.docs[31].text = keep(&c, xasprintf("%s 追加", c.docs[31].text));
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    c.docs[30].text = c.docs[32].text;
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 1);
    /* an index file changed by hand is written again */
    char *shard = path_join(out, "search/idx/0.json");
    CHECK(write_file_atomic(shard, "{}\n", 3) == 0);
    char *chunk = path_join(out, "search/docs/1.json");
    CHECK(unlink(chunk) == 0);
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 8);     /* the gone chunk's entries, made again */
    CHECK(nannounced == 8);      /* ... announced (and fetched: patch_run) */
    /* every chunk gone (a new output directory beside the state): every
     * entry made again, every text announced at once, in the index's
     * order */
    char *docsdir = path_join(out, "search/docs");
    rm_rf(docsdir);
    free(docsdir);
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == (int)c.n && nannounced == c.n);
    /* and with an edit */
    CHECK(unlink(chunk) == 0);
    c.docs[15].text = "第十五篇改过。";
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched >= 1 && inc_fetched <= 9);
    free(shard);
    free(chunk);
    free(announced);
    announced = NULL;
    nannounced = ann_at = 0;
    rm_rf(out);
    rm_rf(cdir);
    free(out);
    free(cdir);
    free(state);
    corpus_free(&c);
}

/* search_order is the index's own order (newest date first, then URL),
 * and an index written with it given (hooks.order), or patched trusting
 * the output as the state says (hooks.trust_out), is the one written
 * without either. */
TEST(given_order_and_trust_give_the_same_index)
{
    corpus c = {0};
    synth(&c, 60);
    c.docs[3].date = c.docs[4].date;                 /* a tie: URL decides */
    size_t order[60];
    search_order(c.docs, c.n, order);
    bool seen[60] = {false};
    for (size_t i = 0; i < c.n; i++) {
        CHECK(order[i] < c.n && !seen[order[i]]);
        seen[order[i]] = true;
        if (i) {
            const search_doc *x = &c.docs[order[i - 1]], *y = &c.docs[order[i]];
            int dc = strcmp(x->date, y->date);
            CHECK(dc > 0 || (dc == 0 && strcmp(x->url, y->url) < 0));
        }
    }
    char *out = tmpdir(), *ref = tmpdir(), *cdir = tmpdir();
    CHECK(out && ref && cdir);
    char *state = path_join(cdir, "search.cache");
    CHECK(write_index(ref, c.docs, c.n) == 0);
    for (int round = 0; round < 3; round++) {
        if (round == 2)                              /* a body edit, patched */
            c.docs[9].text = keep(&c, xasprintf("%s 又加一句 qqqorder。", c.docs[9].text));
        diag *d = diag_new();
        outdir *o = out_open(out, d);
        search_hooks h = {.cache_path = state, .order = order, .trust_out = round > 0};
        CHECK(o && search_write_hooks(c.docs, c.n, o, d, &h) == 0);
        out_stats st;
        CHECK(o && out_finish(o, &st) == 0);
        out_close(o);
        CHECK(diag_total(d) == 0);
        diag_free(d);
        if (round == 2) {
            rm_rf(ref);
            CHECK(write_index(ref, c.docs, c.n) == 0);
        }
        CHECK(same_tree(ref, out));
    }
    rm_rf(out); rm_rf(ref); rm_rf(cdir);
    free(out); free(ref); free(cdir); free(state);
    corpus_free(&c);
}

TEST(damaged_index_cache_is_ignored)
{
    corpus c = {0};
    synth(&c, 40);
    char *out = tmpdir(), *cdir = tmpdir();
    CHECK(out && cdir);
    char *state = path_join(cdir, "search.cache");
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    char *data = NULL;
    size_t len = 0;
    CHECK(read_file(state, &data, &len) == 0 && len > 100);
    c.docs[3].text = "改过的正文。";
    /* a flipped byte, a truncated file, a foreign one, an empty one */
    for (int k = 0; k < 4; k++) {
        char *bad = xmalloc(len);
        memcpy(bad, data, len);
        size_t blen = len;
        if (k == 0) bad[len / 2] ^= 0x20;
        if (k == 1) blen = len - 7;
        if (k == 2) memcpy(bad, "NOTMINE!", 8);
        if (k == 3) blen = 0;
        CHECK(write_file_atomic(state, bad, blen) == 0);
        free(bad);
        CHECK(patched_equals_fresh(c.docs, c.n, out, state));
        CHECK(inc_fetched == 40);                    /* built from nothing */
        CHECK(write_file_atomic(state, data, len) == 0);
    }
    /* the good one still works (the chunk with the edit no longer holds
     * what it wrote: its entries are made again) */
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched >= 1 && inc_fetched <= 8);
    free(data);
    rm_rf(out);
    rm_rf(cdir);
    free(out);
    free(cdir);
    free(state);
    corpus_free(&c);
}

/* The records of a state file (search.c: each a 32-byte head, magic and
 * body length, then the body); the offset of the last in *last. */
static int state_records(const char *path, size_t *last, size_t *size)
{
    char *data = NULL;
    size_t len = 0;
    if (read_file(path, &data, &len) < 0) return -1;
    int n = 0;
    size_t at = 0;
    while (len - at >= 32 && !memcmp(data + at, "GZSIDX", 6)) {
        uint64_t body;
        memcpy(&body, data + at + 8, 8);
        if (body > len - at - 32) break;
        *last = at;
        at += 32 + body;
        n++;
    }
    *size = len;
    free(data);
    return n;
}

TEST(state_log_appends_and_survives_a_torn_tail)
{
    corpus c = {0};
    synth(&c, 50);
    char *out = tmpdir(), *cdir = tmpdir();
    CHECK(out && cdir);
    char *state = path_join(cdir, "search.cache");
    size_t last = 0, size0 = 0, size = 0;
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(state_records(state, &last, &size0) == 1);
    /* an edit appends a record; the file keeps the one before */
    c.docs[6].text = keep(&c, xasprintf("%s 又一次修改 edit6。", c.docs[6].text));
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 1);
    CHECK(state_records(state, &last, &size) == 2);
    CHECK(last == size0 && size > size0);
    /* a build killed while appending: the torn record is passed over, the
     * one before it is the state (only the edits since are done again) */
    char *data = NULL;
    size_t len = 0;
    CHECK(read_file(state, &data, &len) == 0);
    CHECK(write_file_atomic(state, data, last + (len - last) / 2) == 0);
    c.docs[20].text = "第二十篇改过。";
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    /* docs 6 (the torn record's) and 20, and the entries of their chunks
     * (written since the state the file now gives) */
    CHECK(inc_fetched >= 2 && inc_fetched <= 16);
    /* a torn tail is never appended to: the file is written again whole */
    CHECK(state_records(state, &last, &size) == 1);
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 0);
    /* a flipped byte in the last record: the one before is the state */
    c.docs[21].text = "第二十一篇改过。";
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(state_records(state, &last, &size) == 2);
    free(data);
    CHECK(read_file(state, &data, &len) == 0);
    data[last + (len - last) / 2] ^= 0x40;
    CHECK(write_file_atomic(state, data, len) == 0);
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched >= 1 && inc_fetched <= 8);     /* doc 21 (and its chunk's) */
    /* one in the first record: nothing is trusted, built from nothing */
    c.docs[22].text = "第二十二篇改过。";
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    free(data);
    CHECK(read_file(state, &data, &len) == 0);
    data[40] ^= 0x40;
    CHECK(write_file_atomic(state, data, len) == 0);
    CHECK(patched_equals_fresh(c.docs, c.n, out, state));
    CHECK(inc_fetched == 50);
    CHECK(state_records(state, &last, &size) == 1);
    /* many edits: the file is written again whole before it passes twice
     * the size of one record */
    size0 = size;
    int whole = 0;
    for (int k = 0; k < 40; k++) {
        c.docs[k].text = keep(&c, xasprintf("第%d篇又改 again%d 一次。", k, k));
        CHECK(patched_equals_fresh(c.docs, c.n, out, state));
        int nrec = state_records(state, &last, &size);
        CHECK(nrec >= 1);
        if (nrec == 1) whole++;
        CHECK(size <= 2 * size0 + 4096);
    }
    CHECK(whole >= 1);
    free(data);
    rm_rf(out);
    rm_rf(cdir);
    free(out);
    free(cdir);
    free(state);
    corpus_free(&c);
}


/* Tokens of one document, counted (for every_token_has_its_posting). */
typedef struct { char tok[200][72]; int count[200]; int n; } tokcount;

static void count_tok(const char *tok, size_t len, void *ctx)
{
    tokcount *c = ctx;
    for (int i = 0; i < c->n; i++)
        if (strlen(c->tok[i]) == len && !memcmp(c->tok[i], tok, len)) { c->count[i]++; return; }
}

/* The index counts each token of each text as search_tokenize gives it,
 * whichever way it found the token's term: chars of U+4E00..U+9FFF and
 * their bigrams (looked up by char, see cjk_terms) next to CJK chars outside
 * that block (ext. A, kana, 4-byte), words and breaks, over many
 * documents, so that the chars' remembered bigrams are hit and missed;
 * texts that end in a word or a cut char (the index reads to the NUL). */
/* Write texts[0..n) (titles: titles, NULL: "plain") as an index and check
 * that each document's postings are its tokens as search_tokenize gives
 * them: tf the count in the text (at most 3), the title bit for a token
 * the title has too. Returns how many postings were checked; *ok 0 on a
 * wrong or missing one. */
static int check_every_posting(char **texts, char **titles, int n, int *ok)
{
    search_doc *docs = calloc((size_t)n, sizeof *docs);
    char **urls = calloc((size_t)n, sizeof *urls);
    post *p = calloc((size_t)n + 1, sizeof *p);
    CHECK(docs && urls && p);
    for (int i = 0; i < n; i++) {
        urls[i] = xasprintf("/d/%05d/", i);
        docs[i] = (search_doc){.url = urls[i], .title = titles ? titles[i] : "plain",
                               .date = "2020-01-01", .kind = "notice", .text = texts[i]};
    }
    char *dir = tmpdir();
    CHECK(dir && write_index(dir, docs, (size_t)n) == 0);
    int checked = 0;
    *ok = 1;
    for (int i = 0; i < n && *ok; i++) {
        /* the distinct tokens first, then their counts */
        buf all = BUF_INIT, intitle = BUF_INIT;
        search_tokenize(texts[i], strlen(texts[i]), collect, &all);
        if (titles) search_tokenize(titles[i], strlen(titles[i]), collect, &intitle);
        buf_putc(&intitle, 0);
        tokcount *c = calloc(1, sizeof *c);
        CHECK(c);
        char *save = NULL;
        for (char *t = strtok_r(all.ptr, "|", &save); t; t = strtok_r(NULL, "|", &save)) {
            int seen = 0;
            for (int k = 0; k < c->n; k++) seen |= !strcmp(c->tok[k], t);
            if (!seen && c->n < 200) snprintf(c->tok[c->n++], sizeof c->tok[0], "%s", t);
        }
        search_tokenize(texts[i], strlen(texts[i]), count_tok, c);
        for (int k = 0; k < c->n; k++) {
            /* in the title: "|tok|" in "|" + its tokens + "|" */
            char *pat = xasprintf("|%s|", c->tok[k]), *hay = xasprintf("|%s|", intitle.ptr);
            unsigned mask = strstr(hay, pat) ? SEARCH_F_TITLE : 0;
            free(pat);
            free(hay);
            int np = postings(dir, c->tok[k], p, n + 1), found = 0;
            for (int j = 0; j < np; j++)
                if (p[j].id == (unsigned)i) {
                    found = 1;
                    *ok &= p[j].tf == (unsigned)(c->count[k] < 3 ? c->count[k] : 3) && p[j].mask == mask;
                }
            *ok &= found;
            checked++;
        }
        free(c);
        buf_free(&all);
        buf_free(&intitle);
    }
    rm_rf(dir);
    free(dir);
    for (int i = 0; i < n; i++) free(urls[i]);
    free(urls);
    free(docs);
    free(p);
    return checked;
}

/* The index counts each token of each text as search_tokenize gives it,
 * whichever way it found the token's term: chars of U+4E00..U+9FFF and
 * their bigrams (looked up by char, see cjk_terms) next to CJK chars outside
 * that block (ext. A, kana, 4-byte), words and breaks, over many
 * documents, so that the chars' remembered bigrams are hit and missed;
 * texts that end in a word or a cut char (the index reads to the NUL). */
TEST(every_token_has_its_posting)
{
    enum { N = 60, LEN = 90 };
    static const char *const alpha[] = {"中", "国", "工", "会", "\xE4\xB8\x80", "\xE9\xBF\xBF",
                                        "㐀", "あ", "\xF0\xA0\x80\x80", "a", " ", "，"};
    enum { NA = sizeof alpha / sizeof *alpha };
    char *texts[N];
    uint32_t r = 12345;
    for (int i = 0; i < N; i++) {
        buf b = BUF_INIT;
        for (int k = 0; k < LEN; k++) {
            r = r * 1103515245u + 12345u;
            /* mostly the first four, so bigrams repeat */
            unsigned x = (r >> 16) % 16;
            buf_puts(&b, alpha[x < 8 ? x % 4 : x - 4 < NA ? x - 4 : 0]);
        }
        /* some end in a word, some in a cut char */
        if (i % 3 == 1) buf_puts(&b, "Ab9");
        if (i % 3 == 2) buf_puts(&b, "\xE4\xB8");
        texts[i] = buf_detach(&b);
    }
    int ok = 0;
    CHECK(check_every_posting(texts, NULL, N, &ok) > N * 10);
    CHECK(ok);
    for (int i = 0; i < N; i++) free(texts[i]);
}

/* Past the 256 chars that get a rank (the index's table of bigrams by
 * rank, add_cjk and count_cjk), with titles that share the bodies' chars:
 * a body's chars and bigrams are counted and added when it ends, after
 * its title's, ranked or not, and each posting is still its text's. */
TEST(beyond_ranked_chars_every_token_has_its_posting)
{
    enum { N = 80, LEN = 120, NCHARS = 420 };
    char *texts[N], *titles[N];
    uint32_t r = 777;
    for (int i = 0; i < N; i++) {
        buf b = BUF_INIT, t = BUF_INIT;
        for (int k = 0; k < LEN; k++) {
            r = r * 1103515245u + 12345u;
            /* half of them from a few chars (bigrams repeat), half from all */
            unsigned x = (r >> 16) % 2 ? (r >> 8) % 6 : (r >> 12) % NCHARS;
            if ((r >> 20) % 23 == 0) { buf_puts(&b, "，"); continue; }
            utf8_encode(&b, 0x4E00 + x);
            if (k < 8) utf8_encode(&t, 0x4E00 + x);
        }
        texts[i] = buf_detach(&b);
        titles[i] = buf_detach(&t);
    }
    int ok = 0;
    CHECK(check_every_posting(texts, titles, N, &ok) > N * 50);
    CHECK(ok);
    for (int i = 0; i < N; i++) { free(texts[i]); free(titles[i]); }
}

int main(void)
{
    RUN(tokenize_cjk_bigrams_and_words);
    RUN(tokenize_bad_utf8_and_long_words);
    RUN(norm_docnum);
    RUN(hash_is_fnv1a);
    RUN(snippets);
    RUN(write_meta_docs_and_postings);
    RUN(doc_order_is_date_then_url);
    RUN(meta_districts_distinct_sorted_least_name);
    RUN(postings_across_blocks_and_token_kinds);
    RUN(every_token_has_its_posting);
    RUN(beyond_ranked_chars_every_token_has_its_posting);
    RUN(html_in_data_stays_data);
    RUN(output_is_deterministic);
    RUN(fetched_texts_give_the_same_index);
    RUN(docs_chunks_apart_or_on_one_thread_give_the_same_index);
    RUN(empty_and_bad_input);
    RUN(random_text_gives_valid_json);
    RUN(query_fetch_is_small);
    RUN(patched_index_equals_one_from_nothing);
    RUN(given_order_and_trust_give_the_same_index);
    RUN(damaged_index_cache_is_ignored);
    RUN(state_log_appends_and_survives_a_torn_tail);
    const char *b = getenv("SEARCH_BENCH_CORPUS");
    if (b && *b) bench(b);
    return test_summary();
}
