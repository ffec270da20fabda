/* Unit tests for frontmatter.c. */
#include "frontmatter.h"
#include "test.h"

static int parse(const char *text, frontmatter *fm, diag *d)
{
    return fm_parse("x.md", text, strlen(text), fm, d);
}

TEST(parses_fields_and_lines)
{
    diag *d = diag_new();
    frontmatter fm;
    const char *t = "---\ntitle: \"关于《办法》的\\\"通知\\\"\"\ndate: 2017-09-29\ntags: [经费返还, 小微企业]\ndraft: false\n---\n正文\n";
    CHECK(parse(t, &fm, d) == 0);
    CHECK_STR(value_str_ptr(value_get(fm.fields, "title")), "关于《办法》的\"通知\"");
    CHECK_STR(value_str_ptr(value_get(fm.fields, "date")), "2017-09-29");
    CHECK(value_len(value_get(fm.fields, "tags")) == 2);
    CHECK(value_type(value_get(fm.fields, "draft")) == V_BOOL);
    CHECK(value_int_of(value_get(fm.lines, "date")) == 3);
    CHECK(fm.body_line == 7);
    CHECK_STR(t + fm.body_off, "正文\n");
    fm_free(&fm);
    diag_free(d);
}

TEST(bom_and_crlf)
{
    diag *d = diag_new();
    frontmatter fm;
    CHECK(parse("\xEF\xBB\xBF---\r\ntitle: a\r\n---\r\nbody", &fm, d) == 0);
    CHECK_STR(value_str_ptr(value_get(fm.fields, "title")), "a");
    fm_free(&fm);
    diag_free(d);
}

TEST(errors_have_lines)
{
    diag *d = diag_new();
    frontmatter fm;
    CHECK(parse("title: x\n", &fm, d) < 0);
    diag_sort(d);
    CHECK_CONTAINS(diag_message(d, 0), "x.md:1: error: missing front matter");
    diag_clear(d);
    CHECK(parse("---\ntitle: x\n", &fm, d) < 0);
    diag_sort(d);
    CHECK_CONTAINS(diag_message(d, 0), "not closed");
    diag_clear(d);
    CHECK(parse("---\ntitle: x\ndate: [2017\n---\n", &fm, d) < 0);
    diag_sort(d);
    CHECK_CONTAINS(diag_message(d, 0), "x.md:4: error: invalid YAML");
    diag_free(d);
}

TEST(aliases_refused)
{
    diag *d = diag_new();
    frontmatter fm;
    CHECK(parse("---\na: &x [1, 2]\nb: [*x, *x, *x]\n---\n", &fm, d) < 0);
    diag_sort(d);
    CHECK_CONTAINS(diag_message(d, 0), "x.md:3: error: YAML aliases");
    diag_free(d);
}

TEST(deep_nesting_refused)
{
    diag *d = diag_new();
    frontmatter fm;
    buf b = BUF_INIT;
    buf_puts(&b, "---\na: ");
    for (int i = 0; i < 200; i++) buf_putc(&b, '[');
    for (int i = 0; i < 200; i++) buf_putc(&b, ']');
    buf_puts(&b, "\n---\n");
    CHECK(parse(b.ptr, &fm, d) < 0);
    CHECK(diag_count(d, DIAG_ERROR) == 1);
    buf_free(&b);
    diag_free(d);
}

TEST(non_map_front_matter)
{
    diag *d = diag_new();
    frontmatter fm;
    CHECK(parse("---\n- a\n- b\n---\n", &fm, d) < 0);
    CHECK(parse("---\n---\nbody\n", &fm, d) == 0);   /* empty is a (bad) empty map */
    CHECK(value_len(fm.fields) == 0);
    fm_free(&fm);
    diag_free(d);
}

int main(void)
{
    RUN(parses_fields_and_lines);
    RUN(bom_and_crlf);
    RUN(errors_have_lines);
    RUN(aliases_refused);
    RUN(deep_nesting_refused);
    RUN(non_map_front_matter);
    return test_summary();
}
