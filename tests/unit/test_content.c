/* Unit tests for content.c: dates, slugs and loading a content tree. */
#include <stdlib.h>

#include "content.h"
#include "test.h"

TEST(dates)
{
    int y, m, d;
    char *r = NULL;
    CHECK(parse_date("2017-09-29", &y, &m, &d, &r) == 0 && y == 2017 && m == 9 && d == 29);
    CHECK_STR(r, "2017-09-29T00:00:00+08:00");
    free(r);
    CHECK(parse_date("2022-01-14 08:10:30 +0800", &y, &m, &d, &r) == 0);
    CHECK_STR(r, "2022-01-14T08:10:30+08:00");
    free(r);
    CHECK(parse_date("2020-02-29", &y, &m, &d, NULL) == 0);
    CHECK(parse_date("2021-02-29", &y, &m, &d, NULL) < 0);
    CHECK(parse_date("2017-13-01", &y, &m, &d, NULL) < 0);
    CHECK(parse_date("2017年9月29日", &y, &m, &d, NULL) < 0);
    CHECK(parse_date("2017-09-29 25:00", &y, &m, &d, NULL) < 0);
}

TEST(term_slugs)
{
    buf b = BUF_INIT;
    term_slug(&b, "经费返还");
    CHECK_STR(b.ptr, "经费返还");
    buf_clear(&b);
    term_slug(&b, "Hello World / 工会");
    CHECK_STR(b.ptr, "hello-world-工会");
    buf_clear(&b);
    term_slug(&b, "《》、");
    CHECK(str_starts(b.ptr, "t"));
    buf_free(&b);
}

static void put(const char *root, const char *rel, const char *text)
{
    char *p = path_join(root, rel);
    write_file_atomic(p, text, strlen(text));
    free(p);
}

TEST(load_reports_all_errors)
{
    char dir[] = "/tmp/gz-content-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    put(dir, "notices/2017/good.md", "---\ntitle: 好\ndate: 2017-09-29\n---\n正文\n");
    put(dir, "notices/2017/notitle.md", "---\ndate: 2017-09-29\n---\n");
    put(dir, "notices/2017/baddate.md", "---\ntitle: x\ndate: 2017-02-30\n---\n");
    put(dir, "reports/2018/bad-utf8.md", "---\ntitle: x\ndate: 2018-01-01\n---\n\xff\n");
    put(dir, "notices/2016/good.md", "---\ntitle: 重复\ndate: 2017-01-01\n---\n");
    diag *d = diag_new();
    content c;
    CHECK(content_load(dir, false, 2, &c, d) < 0);
    diag_sort(d);
    buf all = BUF_INIT;
    for (size_t i = 0; i < diag_total(d); i++) { buf_puts(&all, diag_message(d, i)); buf_putc(&all, '\n'); }
    CHECK_CONTAINS(all.ptr, "notitle.md:1: error: missing required 'title'");
    CHECK_CONTAINS(all.ptr, "baddate.md:3: error: cannot parse date '2017-02-30'");
    CHECK_CONTAINS(all.ptr, "bad-utf8.md:5: error: invalid UTF-8");
    CHECK_CONTAINS(all.ptr, "URL /notices/2017/good/ is already used");
    CHECK_CONTAINS(all.ptr, "not in the folder's year 2016");
    buf_free(&all);
    content_free(&c);
    diag_free(d);
    rm_rf(dir);
}

TEST(load_sorts_and_skips_drafts)
{
    char dir[] = "/tmp/gz-content-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    put(dir, "site.yaml", "title: 测试站\nbase_url: https://x.org\n");
    put(dir, "notices/2017/a.md", "---\ntitle: A\ndate: 2017-01-01\ntags: 单个\n---\n");
    put(dir, "reports/2019/b.md", "---\ntitle: B\ndate: 2019-01-01\ncategories: [报告]\n---\n");
    put(dir, "notices/2018/c.md", "---\ntitle: C\ndate: 2018-01-01\ndraft: true\n---\n");
    diag *d = diag_new();
    content c;
    CHECK(content_load(dir, false, 1, &c, d) == 0);
    CHECK(c.n == 2 && c.drafts_skipped == 1);
    CHECK_STR(c.docs[0]->url, "/reports/2019/b/");
    CHECK_STR(c.docs[0]->category, "报告");
    CHECK_STR(c.docs[1]->kind, "notice");
    CHECK(value_len(c.docs[1]->tags) == 1);
    CHECK_STR(value_str_ptr(value_get(c.site, "base_url")), "https://x.org/");
    content_free(&c);
    CHECK(content_load(dir, true, 1, &c, d) == 0 && c.n == 3);
    content_free(&c);
    diag_free(d);
    rm_rf(dir);
}

/* Documents sort newest first, then by URL, and by_url by URL: as strcmp
 * orders them, also when datetimes tie and URLs share their first 24
 * bytes (the sort compares key prefixes first). */
TEST(sort_order_is_strcmp_order)
{
    char dir[] = "/tmp/gz-content-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    put(dir, "site.yaml", "title: t\n");
    /* the same datetime: URL order decides, past the 24-byte prefix */
    put(dir, "notices/2017/same-long-prefix-slug-b.md", "---\ntitle: B\ndate: 2017-03-01\n---\n");
    put(dir, "notices/2017/same-long-prefix-slug-a.md", "---\ntitle: A\ndate: 2017-03-01\n---\n");
    put(dir, "notices/2017/same-long-prefix-slug.md", "---\ntitle: S\ndate: 2017-03-01\n---\n");
    /* datetimes differing only after 16 bytes (seconds, zone) */
    put(dir, "notices/2017/x1.md", "---\ntitle: X1\ndate: 2017-03-01 08:00:01 +0800\n---\n");
    put(dir, "notices/2017/x2.md", "---\ntitle: X2\ndate: 2017-03-01 08:00:02 +0800\n---\n");
    put(dir, "reports/2017/r.md", "---\ntitle: R\ndate: 2017-03-01 08:00:02 +0900\n---\n");
    put(dir, "notices/2016/old.md", "---\ntitle: O\ndate: 2016-12-31\n---\n");
    diag *d = diag_new();
    content c;
    CHECK(content_load(dir, false, 1, &c, d) == 0);
    CHECK(c.n == 7);
    for (size_t i = 0; i + 1 < c.n; i++) {
        const doc *x = c.docs[i], *y = c.docs[i + 1];
        int dt = strcmp(x->datetime, y->datetime);
        CHECK(dt > 0 || (dt == 0 && strcmp(x->url, y->url) < 0));
        CHECK(strcmp(c.by_url[i]->url, c.by_url[i + 1]->url) < 0);
    }
    CHECK_STR(c.docs[c.n - 1]->title, "O");
    CHECK_STR(c.docs[c.n - 4]->url, "/notices/2017/same-long-prefix-slug-a/");
    CHECK_STR(c.docs[c.n - 3]->url, "/notices/2017/same-long-prefix-slug-b/");
    CHECK_STR(c.docs[c.n - 2]->url, "/notices/2017/same-long-prefix-slug/");
    content_free(&c);
    diag_free(d);
    rm_rf(dir);
}

/* content_load_one: a document loaded again as the cached load made it
 * (section, settings, identity), its errors reported, a file outside the
 * content dir refused. */
TEST(load_one_again)
{
    char dir[] = "/tmp/gz-content-XXXXXX", cache[] = "/tmp/gz-content-cache-XXXXXX";
    CHECK(mkdtemp(dir) != NULL && mkdtemp(cache) != NULL);
    put(dir, "site.yaml", "title: t\n");
    put(dir, "reports/2019/b.md", "---\ntitle: B\ndate: 2019-01-01\n---\n第一段。\n");
    put(dir, "notices/2017/a.md", "---\ntitle: A\ndate: 2017-01-01\n---\n正文\n");
    diag *d = diag_new();
    content c;
    CHECK(content_load_cached(dir, false, 2, cache, &c, d) == 0 && c.n == 2);
    const doc *was = c.docs[0];
    CHECK_STR(was->section, "reports");
    put(dir, "reports/2019/b.md", "---\ntitle: B\ndate: 2019-01-01\n---\n第一段。\n\n第二段。\n");
    doc *dc = content_load_one(&c, was->source, d);
    CHECK(dc != NULL && diag_total(d) == 0);
    if (dc) {
        CHECK_STR(dc->section, "reports");
        CHECK_STR(dc->url, was->url);
        CHECK(dc->md_on_disk);                         /* through the Markdown cache */
        CHECK(dc->identity.lo || dc->identity.hi);
        CHECK(!fp_eq(dc->identity, was->identity));    /* other bytes */
        doc_free(dc);
    }
    /* the same bytes again: the same identity as the cached load gave */
    put(dir, "notices/2017/a.md", "---\ntitle: A\ndate: 2017-01-01\n---\n正文\n");
    dc = content_load_one(&c, c.docs[1]->source, d);
    CHECK(dc && fp_eq(dc->identity, c.docs[1]->identity));
    doc_free(dc);
    put(dir, "notices/2017/a.md", "---\ndate: 2017-01-01\n---\n");
    CHECK(content_load_one(&c, c.docs[1]->source, d) == NULL);
    CHECK(diag_count(d, DIAG_ERROR) == 1);
    CHECK_CONTAINS(diag_message(d, 0), "missing required 'title'");
    diag_clear(d);
    CHECK(content_load_one(&c, "/etc/passwd", d) == NULL && diag_count(d, DIAG_ERROR) == 1);
    diag_clear(d);
    char *gone = path_join(dir, "notices/2017/gone.md");
    CHECK(content_load_one(&c, gone, d) == NULL && diag_count(d, DIAG_ERROR) == 1);
    free(gone);
    content_free(&c);
    diag_free(d);
    rm_rf(dir);
    rm_rf(cache);
}

/* A body rendered again (its text was not stored, or its cache entry is
 * damaged) is the one loaded, or an error: never a newer body beside the
 * loaded title. */
TEST(rerender_checks_the_body)
{
    char dir[] = "/tmp/gz-content-XXXXXX", cache[] = "/tmp/gz-content-cache-XXXXXX";
    CHECK(mkdtemp(dir) != NULL && mkdtemp(cache) != NULL);
    put(dir, "site.yaml", "title: t\n");
    put(dir, "notices/2017/a.md", "---\ntitle: A\ndate: 2017-01-01\n---\n正文一段。\n");
    diag *d = diag_new();
    content c;
    CHECK(content_load_cached(dir, false, 2, cache, &c, d) == 0 && c.n == 1);
    md_result r = content_rerender(&c, c.docs[0], d);
    CHECK(diag_total(d) == 0);
    CHECK_STR(r.html, "<p>正文一段。</p>\n");
    CHECK_STR(r.text, "正文一段。");
    md_free(&r);
    /* the front matter changed, the body not: still that body */
    put(dir, "notices/2017/a.md", "---\ntitle: A2\ndate: 2017-01-01\n---\n正文一段。\n");
    r = content_rerender(&c, c.docs[0], d);
    CHECK(diag_total(d) == 0 && r.text && !strcmp(r.text, "正文一段。"));
    md_free(&r);
    put(dir, "notices/2017/a.md", "---\ntitle: A\ndate: 2017-01-01\n---\n另一段。\n");
    r = content_rerender(&c, c.docs[0], d);
    CHECK(r.html == NULL && r.text == NULL);
    CHECK(diag_count(d, DIAG_ERROR) == 1);
    if (diag_total(d)) CHECK_CONTAINS(diag_message(d, 0), "changed during the build");
    md_free(&r);
    content_free(&c);
    diag_free(d);
    rm_rf(dir);
    rm_rf(cache);
}

int main(void)
{
    RUN(dates);
    RUN(term_slugs);
    RUN(load_reports_all_errors);
    RUN(load_sorts_and_skips_drafts);
    RUN(sort_order_is_strcmp_order);
    RUN(load_one_again);
    RUN(rerender_checks_the_body);
    return test_summary();
}
