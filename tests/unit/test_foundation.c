/* Unit tests for util, value, diag and output. */
#include "diag.h"
#include "output.h"
#include "test.h"
#include "util.h"
#include "value.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

TEST(buf_printf_grows)
{
    buf b = BUF_INIT;
    for (int i = 0; i < 1000; i++) buf_printf(&b, "%d,", i);
    CHECK(b.len > 3000);
    CHECK(str_starts(b.ptr, "0,1,2,"));
    buf_free(&b);
}

TEST(escapes)
{
    buf b = BUF_INIT;
    const char *s = "《标题》 \"q\" & <b> 'x'";
    esc_html(&b, s, strlen(s));
    CHECK_STR(b.ptr, "《标题》 &quot;q&quot; &amp; &lt;b&gt; &#39;x&#39;");
    buf_clear(&b);
    esc_json(&b, "a\"\n</script>", 12);
    CHECK_STR(b.ptr, "a\\\"\\n\\u003c/script\\u003e");
    buf_clear(&b);
    esc_url(&b, "/tags/经费/", strlen("/tags/经费/"));
    CHECK_STR(b.ptr, "/tags/%E7%BB%8F%E8%B4%B9/");
    buf_free(&b);
}

TEST(utf8_validation)
{
    size_t bad = 0;
    CHECK(utf8_valid("大连市", 9, &bad));
    CHECK(!utf8_valid("ab\xe5\xa4", 4, &bad) && bad == 2);
    CHECK(!utf8_valid("\xc0\xaf", 2, &bad));          /* overlong */
    CHECK(!utf8_valid("\xed\xa0\x80", 3, &bad));      /* surrogate */
    CHECK(utf8_valid("\xef\xbf\xbd", 3, &bad));       /* U+FFFD itself is fine */
}

TEST(value_model)
{
    value *m = value_map();
    value_set_str(m, "title", "通知");
    value_set(m, "n", value_int(42));
    value *l = value_list();
    value_push(l, value_str("a"));
    value_set(m, "list", l);
    CHECK_STR(value_str_ptr(value_get(m, "title")), "通知");
    CHECK(value_int_of(value_get(m, "n")) == 42);
    CHECK(value_len(value_get(m, "list")) == 1);
    value_set(m, "n", value_int(7));                 /* replace */
    CHECK(value_len(m) == 3 && value_int_of(value_get(m, "n")) == 7);
    CHECK(!value_truthy(value_get(m, "missing")));
    value *empty = value_list(), *blank = value_str(""), *zero = value_int(0);
    CHECK(!value_truthy(empty) && !value_truthy(blank) && value_truthy(zero));
    value_unref(empty);
    value_unref(blank);
    value_unref(zero);
    buf b = BUF_INIT;
    value_to_json(&b, m);
    CHECK_STR(b.ptr, "{\"title\":\"通知\",\"n\":7,\"list\":[\"a\"]}");
    buf_clear(&b);
    value *d = value_double(1.21);
    value_to_text(&b, d);
    CHECK_STR(b.ptr, "1.21");
    value_unref(d);
    buf_free(&b);
    value_unref(m);
}

TEST(diag_sorted)
{
    diag *d = diag_new();
    diag_error(d, "b.md", 3, "second");
    diag_error(d, "a.md", 9, "first");
    diag_warn(d, NULL, 0, "last");
    diag_sort(d);
    CHECK_STR(diag_message(d, 0), "a.md:9: error: first");
    CHECK_STR(diag_message(d, 1), "b.md:3: error: second");
    CHECK_STR(diag_message(d, 2), "warning: last");
    CHECK(diag_count(d, DIAG_ERROR) == 2);
    diag_free(d);
}

TEST(output_writes_and_sweeps)
{
    char tmpl[] = "/tmp/gz-out-XXXXXX";
    CHECK(mkdtemp(tmpl) != NULL);
    diag *d = diag_new();
    outdir *o = out_open(tmpl, d);
    CHECK(out_write(o, "a/index.html", "x", 1) == 0);
    CHECK(out_write(o, "a/index.html", "y", 1) < 0);      /* duplicate URL */
    CHECK(out_write(o, "../evil", "y", 1) < 0);
    CHECK(out_write(o, ".git/config", "y", 1) < 0);
    out_stats st;
    CHECK(out_finish(o, &st) == 0 && st.written == 1);
    out_close(o);
    /* Second build: same file unchanged, stale file removed, .git kept. */
    char *stale = path_join(tmpl, "old/stale.html");
    CHECK(write_file_atomic(stale, "s", 1) == 0);
    char *git = path_join(tmpl, ".git/HEAD");
    CHECK(write_file_atomic(git, "h", 1) == 0);
    o = out_open(tmpl, d);
    CHECK(out_write(o, "a/index.html", "x", 1) == 0);
    CHECK(out_finish(o, &st) == 0);
    CHECK(st.unchanged == 1 && st.written == 0 && st.removed == 1);
    CHECK(!path_exists(stale));
    CHECK(path_exists(git));
    out_close(o);
    free(stale);
    free(git);
    rm_rf(tmpl);
    diag_free(d);
}

int main(void)
{
    RUN(buf_printf_grows);
    RUN(escapes);
    RUN(utf8_validation);
    RUN(value_model);
    RUN(diag_sorted);
    RUN(output_writes_and_sweeps);
    return test_summary();
}
