/* Unit tests for frontmatter.c. */
#include "frontmatter.h"
#include "cache.h"
#include "same_value.h"
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

/* fm_parse reads the common front matter without libyaml (fast_yaml):
 * whatever that path takes, libyaml must read to the same fields and
 * lines with no word said; and it must take the corpus's usual lines.
 * Generated texts mix lines it takes with every kind it must decline. */
TEST(fast_path_reads_as_libyaml)
{
    static const char *const keys[] = {"title", "date", "doc_number", "doc-number", "_x", "Key2",
                                       "9key", "title", "tags", "a b"};
    static const char *const vals[] = {
        "\"关于援助统计普惠竞赛工作的报告\"", "\"大工办发〔2017〕28号\"", "\"\"", "\" spaced \"",
        "\"a\\\"b\"", "\"x\" # c", "\"x\" ", "\"tab\there\"", "\"a\xE2\x80\xA8z\"", "\"😀é\"",
        "\"\xC2\x85\"", "\"\xC2\xA0\"", "\"\xEF\xBB\xBF\"", "\"\xEF\xBF\xBD\"", "\"a:b #c, [d]\"",
        "\"unclosed", "2025-09-25 12:10:00 +0800", "2017-09-29", "true", "True", "yes", "no",
        "null", "~", "false", "False", "NULL", "001", "a: b", "a:b", "a:", "http://x/y", "a #c",
        "x ", "-x", "a - b", "1.5", "yes please", "[\"建会入会\"]", "[\"a\", \"b\"]", "[]",
        "[\"a\",\"b\"]", "[a, b]", "[\"a\", ]", "[ \"a\"]", "[\"a\"] ", "[\"a\\\\\"]", "[\"a\"]x",
        "[\"a\", \"b\", \"\"]", "[\"a\"", "{a: b}", "'single'", "|", ">", "&anchor x", "*alias",
        "!!str x", "@x", "`x`", "%x", "\"a\r\"", ""};
    static const char *const odd[] = {"", "# comment", "  indented: x", "key:", "key:  \"two\"",
                                      "k\tey: x", "key : x", "- item", "title: \"dup\"", "\r",
                                      "   # indented comment", "  ", "key: # c", "tags:\n  - \"a\"\n  - b",
                                      "tags:\n- \"a\"\n- \"b\"", "tags:\n  - a\n   - b",
                                      "tags:\n  - a\n# c\n\n  - \"b\"", "tags:\n  -\n", "tags:\n  - [a]",
                                      "tags:\n  - a: b", "tags:\n    - \"x\"\n  - y", "tags:\n  - \"x\" ",
                                      "tags:\n  -  x", "tags:\nnext: \"x\"", "tags:\n  - x\n  more",
                                      "tags:\n  - true\n  - null\n  - 2017-09-29", "tags:\n\t- x",
                                      "title: \"x\"\n  # c\n", "title: abc\n  # c", "title: abc\n  def"};
    enum { NK = sizeof keys / sizeof *keys, NV = sizeof vals / sizeof *vals, NO = sizeof odd / sizeof *odd };
    uint32_t r = 2024;
    int taken = 0, declined = 0, bad = 0;
    for (int c = 0; c < 6000; c++) {
        buf t = BUF_INIT;
        int nlines = 1 + (int)((r >> 16) % 6);
        for (int l = 0; l < nlines; l++) {
            r = r * 1103515245u + 12345u;
            unsigned x = r >> 8;
            /* mostly lines of the subset, so that whole texts are taken */
            if (x % 9 == 0) buf_puts(&t, odd[(x / 9) % NO]);
            else buf_printf(&t, "%s: %s", keys[(x / 7) % (c % 2 ? NK : 4)],
                            vals[(x / 131) % (c % 3 ? NV : 4)]);
            if (l + 1 < nlines || x % 5) buf_putc(&t, '\n');
        }
        value *fl = value_map(), *sl = value_map();
        diag *d = diag_new();
        value *f = fm_parse_yaml(t.ptr, t.len, 2, true, fl, NULL);
        value *s = fm_parse_yaml(t.ptr, t.len, 2, false, sl, d);
        if (f) {
            taken++;
            if (!s || diag_total(d) || !same_value(f, s) || !same_value(fl, sl)) {
                if (!bad) printf("# fast path differs on:\n%s\n", t.ptr);
                bad++;
            }
        } else {
            declined++;
            if (value_len(fl)) bad++;          /* declined: nothing put */
        }
        value_unref(f);
        value_unref(s);
        value_unref(fl);
        value_unref(sl);
        diag_free(d);
        buf_free(&t);
    }
    CHECK(bad == 0);
    CHECK(taken > 500 && declined > 500);
    /* The corpus's (and the importer's) front matter is taken. */
    const char *usual = "title: \"关于援助统计普惠竞赛工作的报告\"\ndate: 2025-09-25 12:10:00 +0800\n"
                        "doc_number: \"秦工办字〔2025〕94号\"\nissuer: \"市总工会组织部\"\ncategory: \"报告\"\n"
                        "tags: [\"建会入会\"]\ndistricts: [\"卢龙县\", \"抚宁区\", \"海港区\"]\ndraft: false\n";
    value *lines = value_map();
    value *f = fm_parse_yaml(usual, strlen(usual), 2, true, lines, NULL);
    CHECK(f && value_len(f) == 8 && value_len(value_get(f, "districts")) == 3);
    CHECK(value_int_of(value_get(lines, "districts")) == 8);
    CHECK(value_type(value_get(f, "draft")) == V_BOOL);
    value_unref(f);
    value_unref(lines);
    /* ... and so is the importer's, with its comments and block lists. */
    const char *imported = "title: \"提高站位 夯实措施\"\n# The text states no date.\n"
                           "# So the year end is used.\ndate: 2020-12-31\nissuer: \"秦皇岛市总工会\"\n"
                           "tags:\n  - \"经费返还\"\n  - \"小微企业\"\n\ndistricts:\n  - ziyang\n"
                           "  - heze-kaifaqu\n";
    value *fl = value_map(), *sl = value_map();
    diag *d = diag_new();
    f = fm_parse_yaml(imported, strlen(imported), 2, true, fl, NULL);
    value *s = fm_parse_yaml(imported, strlen(imported), 2, false, sl, d);
    CHECK(f && s && same_value(f, s) && same_value(fl, sl) && diag_total(d) == 0);
    CHECK(value_int_of(value_get(fl, "date")) == 5 && value_int_of(value_get(fl, "districts")) == 11);
    CHECK_STR(value_str_ptr(value_at(value_get(f, "districts"), 1)), "heze-kaifaqu");
    value_unref(f);
    value_unref(s);
    value_unref(fl);
    value_unref(sl);
    diag_free(d);
}

int main(void)
{
    RUN(parses_fields_and_lines);
    RUN(fast_path_reads_as_libyaml);
    RUN(bom_and_crlf);
    RUN(errors_have_lines);
    RUN(aliases_refused);
    RUN(deep_nesting_refused);
    RUN(non_map_front_matter);
    return test_summary();
}
