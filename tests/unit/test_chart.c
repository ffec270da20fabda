/* test_chart.c - SVG bar charts: accessibility, escaping, determinism. */
#include <stdlib.h>
#include "chart.h"
#include "test.h"

static char *render(const chart_bar *bars, size_t n)
{
    buf b = BUF_INIT;
    chart_bars_svg(&b, "c1", "标题 <t>", "单位：万元。", bars, n);
    return buf_detach(&b);
}

TEST(accessible_and_labelled)
{
    chart_bar bars[] = {{"海港区", 34180000, "34.18万元"}, {"开发区", 347760000, "347.76万元"}};
    char *s = render(bars, 2);
    CHECK_CONTAINS(s, "role=\"img\"");
    CHECK_CONTAINS(s, "aria-labelledby=\"c1-title c1-desc\"");
    CHECK_CONTAINS(s, "<title id=\"c1-title\">标题 &lt;t&gt;</title>");
    CHECK_CONTAINS(s, "<desc id=\"c1-desc\">单位：万元。 海港区: 34.18万元; 开发区: 347.76万元</desc>");
    CHECK_CONTAINS(s, ">海港区</text>");
    CHECK_CONTAINS(s, ">347.76万元</text>");
    CHECK(strstr(s, "<script") == NULL);
    free(s);
}

/* A digit, '.', digit anywhere: a fractional number. */
static int has_fraction(const char *s)
{
    for (const char *p = s; p[0] && p[1] && p[2]; p++)
        if (p[0] >= '0' && p[0] <= '9' && p[1] == '.' && p[2] >= '0' && p[2] <= '9') return 1;
    return 0;
}

TEST(integer_coordinates_and_scale)
{
    chart_bar bars[] = {{"a", 100, "100"}, {"b", 50, "50"}, {"c", 0, "0"}, {"d", 1, "1"}};
    char *s = render(bars, 4);
    CHECK(!has_fraction(s));                  /* no fractional coordinates */
    /* label column is LABEL_MIN (40); area = 640 - 40 - 150 = 450 */
    CHECK_CONTAINS(s, "width=\"450\" height=\"18\"");
    CHECK_CONTAINS(s, "width=\"225\" height=\"18\"");
    CHECK_CONTAINS(s, "width=\"4\" height=\"18\"");   /* 1 * 450 / 100 */
    /* zero draws no rect: 3 rects only */
    int rects = 0;
    for (const char *p = s; (p = strstr(p, "<rect")); p++) rects++;
    CHECK(rects == 3);
    free(s);
}

TEST(tiny_values_stay_visible)
{
    chart_bar bars[] = {{"big", 1000000, "big"}, {"tiny", 1, "tiny"}};
    char *s = render(bars, 2);
    CHECK_CONTAINS(s, "width=\"1\" height=\"18\"");
    free(s);
}

TEST(deterministic)
{
    chart_bar bars[] = {{"x", 7, "7"}, {"y", 9, "9"}};
    char *a = render(bars, 2), *b = render(bars, 2);
    CHECK_STR(a, b);
    free(a); free(b);
}

TEST(escapes_and_ids)
{
    chart_bar bars[] = {{"<script>alert(1)</script>", 5, "\"'&"}};
    buf b = BUF_INIT;
    chart_bars_svg(&b, "bad id\"><x", NULL, NULL, bars, 1);
    const char *s = buf_cstr(&b);
    CHECK(strstr(s, "<script") == NULL);
    CHECK_CONTAINS(s, "&lt;script&gt;");
    CHECK_CONTAINS(s, "id=\"bad-id---x-title\"");
    CHECK(strstr(s, "\"'&<") == NULL);
    buf_free(&b);
}

TEST(empty_and_huge)
{
    char *s = render(NULL, 0);
    CHECK_CONTAINS(s, "<svg");
    CHECK_CONTAINS(s, "</svg>");
    free(s);
    chart_bar bars[] = {{"big", 9000000000000000000LL, "big"}, {"half", 4500000000000000000LL, "half"}};
    s = render(bars, 2);
    CHECK_CONTAINS(s, "width=\"450\"");
    CHECK_CONTAINS(s, "width=\"225\"");
    free(s);
}

int main(void)
{
    RUN(accessible_and_labelled);
    RUN(integer_coordinates_and_scale);
    RUN(tiny_values_stay_visible);
    RUN(deterministic);
    RUN(escapes_and_ids);
    RUN(empty_and_huge);
    return test_summary();
}
