/* Unit tests for markdown.c. */
#include "markdown.h"
#include "test.h"

static md_result md(const char *s, bool unsafe)
{
    md_result r;
    md_render(s, strlen(s), unsafe, 20, &r);
    return r;
}

TEST(gfm_extensions)
{
    md_result r = md("| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ www.example.org\n", false);
    CHECK_CONTAINS(r.html, "<table>");
    CHECK_CONTAINS(r.html, "<del>old</del>");
    CHECK_CONTAINS(r.html, "<a href=\"http://www.example.org\">");
    md_free(&r);
}

TEST(heading_ids_stable_and_unique)
{
    md_result r = md("## 一、查实情\n\n## Hello World!\n\n## 一、查实情\n", false);
    CHECK_CONTAINS(r.html, "<h2 id=\"一查实情\">");
    CHECK_CONTAINS(r.html, "<h2 id=\"hello-world\">");
    CHECK_CONTAINS(r.html, "<h2 id=\"一查实情-1\">");
    CHECK(value_len(r.toc) == 3);
    md_free(&r);
}

TEST(raw_html_dropped_unless_unsafe)
{
    md_result r = md("<script>alert(1)</script>\n\n[x](javascript:alert(1)) <b>hi</b>\n", false);
    CHECK(!strstr(r.html, "<script>"));
    CHECK(!strstr(r.html, "javascript:"));
    CHECK(!strstr(r.html, "<b>"));
    md_free(&r);
    r = md("<b>hi</b>\n", true);
    CHECK_CONTAINS(r.html, "<b>hi</b>");
    md_free(&r);
    /* tagfilter still neutralises <script> even when unsafe. */
    r = md("<script>x</script>\n", true);
    CHECK(!strstr(r.html, "<script>"));
    md_free(&r);
}

TEST(excerpt_counts_characters_and_skips_headings)
{
    md_result r = md("# 标题不进摘要\n\n一二三四五六七八九十一二三四五六七八九十一二三四五\n", false);
    CHECK_STR(r.excerpt, "一二三四五六七八九十一二三四五六七八九十…");
    CHECK_CONTAINS(r.text, "标题不进摘要");
    md_free(&r);
    r = md("short", false);
    CHECK_STR(r.excerpt, "short");
    md_free(&r);
}

TEST(truncate_never_splits_utf8)
{
    buf b = BUF_INIT;
    text_truncate(&b, "大连市总工会", strlen("大连市总工会"), 2);
    CHECK_STR(b.ptr, "大连…");
    buf_clear(&b);
    text_truncate(&b, "ab", 2, 5);
    CHECK_STR(b.ptr, "ab");
    buf_free(&b);
}

/* Documents up to 1 MiB are parsed with cmark's memory in a per-call
 * arena, larger ones with malloc: the same text renders the same either
 * way (checked as a prefix of a larger document), blocks growing past an
 * arena chunk included, and twice in a row on one thread. */
TEST(arena_and_malloc_paths_agree)
{
    buf src = BUF_INIT;
    buf_puts(&src, "# 标题\n\n| a | b |\n|---|---|\n");
    for (int i = 0; i < 300; i++) buf_printf(&src, "| %d | ~~x~~ www.example.org/%d |\n", i, i);
    buf_puts(&src, "\n- one\n- **two**\n\n## 一、查实情\n\n");
    for (int i = 0; i < 20000; i++) buf_puts(&src, "长段落 ");   /* a 200 KB paragraph */
    buf_puts(&src, "\n\n## 一、查实情\n\n");
    size_t small_len = src.len;
    md_result a, b, big;
    md_render(src.ptr, small_len, false, 20, &a);
    md_render(src.ptr, small_len, false, 20, &b);
    CHECK_STR(a.html, b.html);
    CHECK_CONTAINS(a.html, "<td><del>x</del> <a href=\"http://www.example.org/299\">");
    CHECK_CONTAINS(a.html, "<h2 id=\"一查实情-1\">");
    while (src.len < ((size_t)1 << 20) + 1000) buf_puts(&src, "更多的文字。\n\n");
    md_render(src.ptr, src.len, false, 20, &big);
    CHECK(strlen(big.html) > strlen(a.html) && !strncmp(big.html, a.html, strlen(a.html)));
    CHECK_STR(big.excerpt, a.excerpt);
    CHECK(value_len(big.toc) == value_len(a.toc) && value_len(a.toc) == 2);
    md_free(&a);
    md_free(&b);
    md_free(&big);
    buf_free(&src);
    /* Invalid UTF-8 still goes through cmark's own repair. */
    md_result r = md("a\xff b\n", false);
    CHECK_CONTAINS(r.html, "a\xEF\xBF\xBD b");
    md_free(&r);
}

/* md_render keeps the lengths of what it makes, with and without heading
 * ids put in (two ways of making the HTML), so users need not count them. */
TEST(result_lengths_are_strlens)
{
    const char *srcs[] = {"", "plain *text* only\n", "## 一、查实情\n\n正文\n\n### b\n\nmore\n",
                          "<h2>raw</h2>\n\n## real\n", "a\0b\n"};
    for (size_t i = 0; i < sizeof srcs / sizeof *srcs; i++) {
        md_result r;
        size_t len = i == 4 ? 4 : strlen(srcs[i]);
        md_render(srcs[i], len, i == 3, 20, &r);
        CHECK(r.html && r.html_len == strlen(r.html) && md_html_len(&r) == r.html_len);
        CHECK(r.text && r.text_len == strlen(r.text) && md_text_len(&r) == r.text_len);
        md_free(&r);
    }
    /* Not known (0): counted. */
    md_result h = {.html = "<p>x</p>", .text = "xy"};
    CHECK(md_html_len(&h) == 8 && md_text_len(&h) == 2);
    h.html = h.text = NULL;
    CHECK(md_html_len(&h) == 0 && md_text_len(&h) == 0);
}

/* md_render_utf8 (a body whose file was checked) skips only the UTF-8
 * check: valid text renders byte for byte as md_render renders it. */
TEST(known_valid_renders_the_same)
{
    const char *src = "## 通知\n\n一、（一）1. **加强**领导 www.example.org\n\n| 区 | 元 |\n|---|---|\n| 西岗 | 1.5 |\n";
    md_result a, b;
    md_render(src, strlen(src), false, 8, &a);
    md_render_utf8(src, strlen(src), false, 8, &b);
    CHECK_STR(b.html, a.html);
    CHECK_STR(b.excerpt, a.excerpt);
    CHECK_STR(b.text, a.text);
    CHECK(value_len(b.toc) == value_len(a.toc) && value_len(a.toc) == 1);
    CHECK_CONTAINS(b.html, "<td>西岗</td>");
    md_free(&a);
    md_free(&b);
}

int main(void)
{
    RUN(gfm_extensions);
    RUN(heading_ids_stable_and_unique);
    RUN(raw_html_dropped_unless_unsafe);
    RUN(excerpt_counts_characters_and_skips_headings);
    RUN(truncate_never_splits_utf8);
    RUN(arena_and_malloc_paths_agree);
    RUN(result_lengths_are_strlens);
    RUN(known_valid_renders_the_same);
    return test_summary();
}
