/* Unit tests for util, value, diag and output. */
#include "diag.h"
#include "output.h"
#include "test.h"
#include "util.h"
#include "value.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

TEST(xcalloc_zeroes)
{
    /* Small and large (past the size written by hand), over memory that
     * the allocator hands back dirty. */
    size_t sizes[] = {16, 4000, 70000, 1u << 20, 3u << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        unsigned char *d = xmalloc(sizes[k]);
        memset(d, 0xa5, sizes[k]);
        free(d);
        unsigned char *z = xcalloc(sizes[k] / 8, 8);
        size_t bad = 0;
        for (size_t i = 0; i < sizes[k]; i++) bad += z[i] != 0;
        CHECK(bad == 0);
        free(z);
    }
    unsigned char *one = xcalloc(0, 0);     /* never NULL */
    CHECK(one != NULL);
    free(one);
}

TEST(numbers_without_printf)
{
    buf b = BUF_INIT;
    char want[64];
    const uint64_t vs[] = {0, 7, 10, 99, 2017, 65535, 1234567890123ull, UINT64_MAX};
    for (size_t i = 0; i < sizeof vs / sizeof *vs; i++)
        for (int w = 0; w <= 4; w++) {
            buf_clear(&b);
            buf_putc(&b, '<');
            buf_put_dec(&b, vs[i], w);
            snprintf(want, sizeof want, "<%0*llu", w, (unsigned long long)vs[i]);
            CHECK_STR(b.ptr, want);
            buf_clear(&b);
            buf_put_hex64(&b, vs[i]);
            buf_put_hex64(&b, ~vs[i]);
            snprintf(want, sizeof want, "%016llx%016llx", (unsigned long long)vs[i], (unsigned long long)~vs[i]);
            CHECK_STR(b.ptr, want);
        }
    buf_free(&b);
    char *p = path_join("a/b", "c.md"), *q = path_join("a/", "c"), *r = path_join("", "c"), *s = path_join("a", "");
    CHECK_STR(p, "a/b/c.md");
    CHECK_STR(q, "a/c");
    CHECK_STR(r, "c");
    CHECK_STR(s, "a/");
    free(p); free(q); free(r); free(s);
}

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
    esc_html(&b, "", 0);
    CHECK(b.ptr && b.len == 0 && b.ptr[0] == 0);
    esc_html(&b, "&&<>\"'\xff", 7);   /* only specials, then a high byte */
    CHECK_STR(b.ptr, "&amp;&amp;&lt;&gt;&quot;&#39;\xff");
    buf_clear(&b);
    esc_html(&b, "a\0<", 3);           /* length, not NUL, ends the input */
    CHECK(b.len == 6 && !memcmp(b.ptr, "a\0&lt;", 7));
    buf_clear(&b);
    /* Each special at every place of a 40-byte text (16-byte blocks, then
     * the tail), and one just past the end that must not be seen. */
    static const char *const rep[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
    char in[48], want[64];
    for (int c = 0; c < 5; c++)
        for (int p = 0; p < 40; p++) {
            memset(in, 'x', sizeof in);
            in[p] = "&<>\"'"[c];
            in[40] = '<';
            buf_clear(&b);
            esc_html(&b, in, 40);
            snprintf(want, sizeof want, "%.*s%s%.*s", p, in, rep[c], 39 - p, in + p + 1);
            CHECK_STR(b.ptr, want);
        }
    buf_clear(&b);
    esc_json(&b, "a\"\n</script>", 12);
    CHECK_STR(b.ptr, "a\\\"\\n\\u003c/script\\u003e");
    /* Every byte value, after and before runs of plain bytes: the
     * escaped ones as the JSON spec and a <script> need, the rest kept;
     * U+2028/2029 escaped, other E2 sequences kept. */
    for (int c = 0; c < 256; c++) {
        char in2[8] = {'a', 'b', (char)c, 'c', 0};
        buf_clear(&b);
        esc_json(&b, in2, 4);
        char want2[16];
        const char *mid = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t" : NULL;
        char u[8];
        if (!mid && (c < 0x20 || c == '<' || c == '>' || c == '&')) {
            snprintf(u, sizeof u, "\\u%04x", c);
            mid = u;
        }
        if (!mid) { u[0] = (char)c; u[1] = 0; mid = u; }
        snprintf(want2, sizeof want2, "ab%sc", mid);
        CHECK(b.len == strlen(want2) && !memcmp(b.ptr, want2, b.len));
    }
    buf_clear(&b);
    esc_json(&b, "x\xe2\x80\xa8y\xe2\x80\xa9\xe2\x80\x94\xe2", 12);
    CHECK_STR(b.ptr, "x\\u2028y\\u2029\xe2\x80\x94\xe2");
    buf_clear(&b);
    esc_url(&b, "/tags/经费/", strlen("/tags/经费/"));
    CHECK_STR(b.ptr, "/tags/%E7%BB%8F%E8%B4%B9/");
    /* Appended, every byte value, each kept or %XX, and NUL-terminated. */
    char all[256], uwant[256 * 3 + 40];
    size_t w = 0;
    w += (size_t)sprintf(uwant, "%s", b.ptr);
    for (int c = 0; c < 256; c++) {
        all[c] = (char)c;
        if (isalnum(c) || (c && strchr("-_.~/", c))) uwant[w++] = (char)c;
        else w += (size_t)sprintf(uwant + w, "%%%02X", c);
    }
    uwant[w] = 0;
    esc_url(&b, all, 256);
    CHECK(b.len == w && strlen(b.ptr) == w);
    CHECK_STR(b.ptr, uwant);
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

/* The decoder as it was before it got a fast path: the reference the fast
 * utf8_decode and utf8_valid must agree with. */
static size_t ref_decode(const unsigned char *u, size_t n, uint32_t *cp)
{
    *cp = 0xFFFD;
    if (n == 0) return 0;
    if (u[0] < 0x80) { *cp = u[0]; return 1; }
    size_t len;
    uint32_t c, min;
    if ((u[0] & 0xE0) == 0xC0) { len = 2; c = u[0] & 0x1F; min = 0x80; }
    else if ((u[0] & 0xF0) == 0xE0) { len = 3; c = u[0] & 0x0F; min = 0x800; }
    else if ((u[0] & 0xF8) == 0xF0) { len = 4; c = u[0] & 0x07; min = 0x10000; }
    else return 1;
    if (n < len) return 1;
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) return 1;
        c = (c << 6) | (u[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 1;
    *cp = c;
    return len;
}

static bool ref_valid(const unsigned char *u, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = ref_decode(u + i, n - i, &cp);
        if (cp == 0xFFFD && !(k == 3 && u[i] == 0xEF && u[i + 1] == 0xBF && u[i + 2] == 0xBD))
            return false;
        i += k;
    }
    return true;
}

/* Every sequence of up to three bytes (lead >= 0xC0), four-byte ones over
 * the edges, each also cut short and inside ASCII: same answers. */
TEST(utf8_fast_paths_agree)
{
    static const unsigned char tails[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
    unsigned char b[16];
    int bad = 0;
    for (unsigned l = 0x80; l <= 0xFF; l++)
        for (unsigned x = 0; x <= 0xFF; x++)
            for (unsigned y = 0; y <= (l >= 0xE0 ? 0xFFu : 0u); y++)
                for (unsigned z = 0; z < (l >= 0xF0 ? sizeof tails : 1); z++) {
                    b[0] = (unsigned char)l; b[1] = (unsigned char)x;
                    b[2] = (unsigned char)y; b[3] = tails[z];
                    if (l >= 0xF0 && y != 0x80 && y != 0xBF && y != 0x41) continue;
                    for (size_t n = 1; n <= 4; n++) {
                        uint32_t c1, c2;
                        size_t k1 = utf8_decode((const char *)b, n, &c1);
                        size_t k2 = ref_decode(b, n, &c2);
                        if (k1 != k2 || c1 != c2) bad++;
                        if (utf8_step((const char *)b, n) != k1) bad++;
                        if (n >= 3 && utf8_is3((const char *)b) != (k1 == 3)) bad++;
                        if (utf8_valid((const char *)b, n, NULL) != ref_valid(b, n)) bad++;
                    }
                    /* After 9 ASCII bytes (the 8-byte skip, then one). */
                    memcpy(b, "abcdefghi", 9);
                    b[9] = (unsigned char)l; b[10] = (unsigned char)x;
                    b[11] = (unsigned char)y; b[12] = tails[z];
                    size_t off = 99;
                    bool v = utf8_valid((const char *)b, 13, &off);
                    if (v != ref_valid(b, 13) || (!v && off < 9)) bad++;
                }
    /* Runs of Chinese text (checked two characters at a time) with one
     * byte replaced anywhere by each kind of byte: invalid exactly when
     * the reference says so, and then at the same byte. */
    static const unsigned char subs[] = {0x00, 0x41, 0x80, 0xA0, 0xBF, 0xC0, 0xC3, 0xE0, 0xE1,
                                         0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
    unsigned char run[64];
    for (size_t pos = 0; pos < 60; pos++)
        for (size_t sb = 0; sb < sizeof subs; sb++)
            for (size_t len = (pos / 3 + 1) * 3; len <= 60; len += 3) {     /* whole chars */
                for (size_t k = 0; k + 3 <= sizeof run; k += 3)
                    memcpy(run + k, k % 9 ? "工" : "\xEC\xBF\xBF", 3);
                run[pos] = subs[sb];
                size_t off = 999, first = len;      /* the reference's first bad byte */
                for (size_t i = 0; i < len;) {
                    uint32_t c;
                    size_t k = ref_decode(run + i, len - i, &c);
                    if (c == 0xFFFD && !(len - i >= 3 && !memcmp(run + i, "\xEF\xBF\xBD", 3))) {
                        first = i;
                        break;
                    }
                    i += k;
                }
                bool v = utf8_valid((const char *)run, len, &off);
                if (v != ref_valid(run, len) || v != (first == len) || (!v && off != first)) bad++;
            }
    /* utf8_encode writes what the decoder reads back, appending. */
    buf e = BUF_INIT;
    buf_putc(&e, 'x');
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x3000 ? 1 : 97)) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        size_t at = e.len;
        utf8_encode(&e, cp);
        uint32_t back;
        size_t k = utf8_decode(e.ptr + at, e.len - at, &back);
        if (k != e.len - at || back != cp || e.ptr[e.len] != 0 || e.ptr[0] != 'x') bad++;
    }
    buf_free(&e);
    CHECK(bad == 0);
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

/* Maps past a few keys get a hash index (history.docs has a key per
 * document): order, lookups, replacement and copies must behave exactly as
 * in a small map, across every growth of the index. */
TEST(value_large_map)
{
    enum { N = 5000 };
    value *m = value_map();
    char key[32];
    const char *first = NULL;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "/notices/2024/%d/", i);
        value_set(m, key, value_int(i));
        if (i == 0) first = value_key_at(m, 0);
        /* Every key so far is still found after each growth. */
        if ((i & (i - 1)) == 0)
            for (int j = 0; j <= i; j++) {
                snprintf(key, sizeof key, "/notices/2024/%d/", j);
                CHECK(value_int_of(value_get(m, key)) == j);
            }
    }
    CHECK(value_len(m) == N);
    CHECK_STR(first, "/notices/2024/0/");          /* key pointers do not move */
    CHECK(first == value_key_at(m, 0));
    for (int i = 0; i < N; i++) {                   /* insertion order kept */
        snprintf(key, sizeof key, "/notices/2024/%d/", i);
        CHECK_STR(value_key_at(m, (size_t)i), key);
        CHECK(value_int_of(value_val_at(m, (size_t)i)) == i);
    }
    CHECK(!value_get(m, "/notices/2024/5000/") && !value_get(m, "") && !value_get(m, "/notices"));
    for (int i = 0; i < N; i += 7) {                /* replace: same place, new value */
        snprintf(key, sizeof key, "/notices/2024/%d/", i);
        value_set(m, key, value_int(-i));
    }
    CHECK(value_len(m) == N);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "/notices/2024/%d/", i);
        CHECK(value_int_of(value_get(m, key)) == (i % 7 ? i : -i));
        CHECK_STR(value_key_at(m, (size_t)i), key);
    }
    /* Keys are byte strings: a NUL inside, a prefix, the empty key. */
    value_setn(m, "a\0b", 3, value_int(1));
    value_setn(m, "a", 1, value_int(2));
    value_set(m, "", value_int(3));
    CHECK(value_int_of(value_getn(m, "a\0b", 3)) == 1 && value_int_of(value_get(m, "a")) == 2);
    CHECK(value_int_of(value_get(m, "")) == 3 && value_len(m) == N + 3);
    CHECK(value_getnh(m, "a", 1, value_hash("a", 1)) == value_get(m, "a"));
    CHECK(!value_getnh(NULL, "a", 1, value_hash("a", 1)));
    /* A copy: same order, same lookups, independent of the original. */
    value *c = value_map_copy(m);
    value_set(c, "new", value_int(9));
    value_set(c, "/notices/2024/1/", value_int(100));
    CHECK(value_len(c) == N + 4 && value_len(m) == N + 3 && !value_get(m, "new"));
    CHECK(value_int_of(value_get(m, "/notices/2024/1/")) == 1);
    CHECK(value_int_of(value_get(c, "/notices/2024/1/")) == 100);
    for (size_t i = 0; i < value_len(m); i++) {
        CHECK(value_key_at(c, i) != value_key_at(m, i));
        CHECK(!strcmp(value_key_at(c, i), value_key_at(m, i)));
        CHECK(value_getn(c, value_key_at(m, i), strlen(value_key_at(m, i))) != NULL);
    }
    CHECK_STR(value_key_at(c, N + 3), "new");
    /* A small copy of a small map, and of an empty one. */
    value *s = value_map(), *e = value_map();
    value_set(s, "x", value_str("1"));
    value *sc = value_map_copy(s), *ec = value_map_copy(e);
    CHECK(value_len(sc) == 1 && value_len(ec) == 0 && !strcmp(value_str_ptr(value_get(sc, "x")), "1"));
    value_set(ec, "y", value_int(1));
    CHECK(value_len(ec) == 1 && value_len(e) == 0);
    value_unref(sc);
    value_unref(ec);
    value_unref(s);
    value_unref(e);
    value_unref(c);
    value_unref(m);
}

/* Keys are compared as words (key_word): keys of every length from 0 to
 * 24 bytes that differ in one byte, anywhere, NUL included, are distinct
 * keys, in a small map and in an indexed one; a map made with room or
 * copied with room behaves as one grown key by key. */
TEST(value_keys_by_word)
{
    for (int pad = 0; pad <= 20; pad += 20) {
        for (size_t n = 0; n <= 24; n++) {
            value *m = value_map_sized(n % 3 ? n : 0);
            char key[32];
            for (int i = 0; i < pad; i++) {
                snprintf(key, sizeof key, "p%d", i);
                value_set(m, key, value_int(-1));
            }
            char base[32];
            for (size_t i = 0; i < n; i++) base[i] = (char)('a' + i);
            value_setn(m, base, n, value_int(1000));
            for (size_t i = 0; i < n; i++)
                for (int c = 0; c < 2; c++) {
                    memcpy(key, base, n);
                    key[i] = c ? '\0' : (char)(base[i] ^ 0x20);
                    value_setn(m, key, n, value_int((int)(2 * i + (size_t)c)));
                }
            CHECK(value_len(m) == (size_t)pad + 1 + 2 * n);
            CHECK(value_int_of(value_getn(m, base, n)) == 1000);
            value *copy = value_map_copy_room(m, 5);
            for (size_t i = 0; i < n; i++)
                for (int c = 0; c < 2; c++) {
                    memcpy(key, base, n);
                    key[i] = c ? '\0' : (char)(base[i] ^ 0x20);
                    CHECK(value_int_of(value_getn(m, key, n)) == (long long)(2 * i + (size_t)c));
                    CHECK(value_int_of(value_getn(copy, key, n)) == (long long)(2 * i + (size_t)c));
                    uint32_t hint = (uint32_t)(pad + 1 + 2 * i + (size_t)c);
                    CHECK(value_int_of(value_getnh_hint(m, key, n, value_hash(key, n), &hint)) ==
                          (long long)(2 * i + (size_t)c));
                }
            /* a prefix and an extension of the key are other keys */
            if (n) CHECK(!value_getn(m, base, n - 1));
            base[n] = 'z';
            CHECK(!value_getn(m, base, n + 1));
            for (int k = 0; k < 40; k++) {          /* the copy grows past its room */
                snprintf(key, sizeof key, "new%d", k);
                value_set(copy, key, value_int(k));
            }
            CHECK(value_len(copy) == value_len(m) + 40 && !value_get(m, "new0"));
            CHECK(value_int_of(value_get(copy, "new39")) == 39);
            CHECK(value_int_of(value_getn(copy, base, n)) == 1000);
            value_unref(copy);
            value_unref(m);
        }
    }
    value *e = value_map_copy_room(NULL, 3);
    CHECK(value_type(e) == V_MAP && value_len(e) == 0);
    value_set(e, "a", value_int(1));
    CHECK(value_int_of(value_get(e, "a")) == 1);
    value_unref(e);
}

/* Strings are stored inline; value_strf formats long strings too. */
TEST(value_strings)
{
    value *a = value_strf("%s-%d", "x", 7), *n = value_strn(NULL, 5), *z = value_strn("a\0b", 3);
    CHECK_STR(value_str_ptr(a), "x-7");
    CHECK(value_str_len(a) == 3 && value_str_len(n) == 0 && value_str_len(z) == 3);
    CHECK(!memcmp(value_str_ptr(z), "a\0b", 4));
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = 0;
    value *b = value_strf("<%s>", big);
    CHECK(value_str_len(b) == 1001 && value_str_ptr(b)[0] == '<' && value_str_ptr(b)[1000] == '>');
    CHECK(value_str_ptr(b)[1001] == 0);
    value_unref(a);
    value_unref(n);
    value_unref(z);
    value_unref(b);
    /* Integers print as %lld does; a long printf result lands in a buffer
     * that already holds text; xasprintf of short and long results. */
    static const long long ints[] = {0, 7, -5, 10, 1234567890123LL, LLONG_MAX, LLONG_MIN};
    buf t = BUF_INIT;
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        char want[32];
        snprintf(want, sizeof want, "%lld", ints[i]);
        value *iv = value_int(ints[i]);
        buf_clear(&t);
        value_to_text(&t, iv);
        CHECK_STR(t.ptr, want);
        value_unref(iv);
    }
    buf_clear(&t);
    buf_puts(&t, "x");
    buf_printf(&t, "%s|%d", big, 42);
    CHECK(t.len == 1 + 999 + 3 && !strcmp(t.ptr + 1000, "|42") && t.ptr[0] == 'x');
    buf_printf(&t, "%d", 5);
    CHECK(t.len == 1004 && t.ptr[1003] == '5' && t.ptr[1004] == 0);
    buf_free(&t);
    char *x1 = xasprintf("%s-%d", "ab", 1), *x2 = xasprintf("%s.", big);
    CHECK_STR(x1, "ab-1");
    CHECK(strlen(x2) == 1000 && x2[999] == '.');
    free(x1);
    free(x2);
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

/* value_getnh_hint: any hint is safe. Pairs of keys with the same length
 * and value_hash (found by brute force: a birthday search over random keys
 * of each length, the long ones with a shared first 8 bytes) reach the byte
 * comparison at every key length class (4, 6, 8, 12, 16, 20 bytes), in
 * small and indexed maps,
 * with hints pointing at the colliding twin, out of range, or stale. */
TEST(value_lookup_hints)
{
    static const char *const twins[][2] = {
        {"WTtx", "SWgD"}, {"kmzNK7", "PODIVD"}, {"TdTZA4Zu", "ZhQYlK7k"},
        {"abcdefaa3qCE", "abcdefaaPult"}, {"abcdefghijklAlt7", "abcdefghijklToXO"},
        {"abcdefghijklmnnim2sx", "abcdefghijklmnduN8QW"},
    };
    enum { NT = sizeof twins / sizeof twins[0] };
    for (int pad = 0; pad <= 20; pad += 20) {      /* small map, indexed map */
        value *m = value_map();
        char key[16];
        for (int i = 0; i < pad; i++) {
            snprintf(key, sizeof key, "k%d", i);
            value_set(m, key, value_int(-1));
        }
        for (int t = 0; t < NT; t++) {
            size_t n = strlen(twins[t][0]);
            CHECK(value_hash(twins[t][0], n) == value_hash(twins[t][1], n));
            value_set(m, twins[t][0], value_int(t));    /* only the first twin */
        }
        for (int t = 0; t < NT; t++) {
            const char *a = twins[t][0], *b = twins[t][1];
            size_t n = strlen(a);
            uint32_t h = value_hash(a, n);
            uint32_t hints[] = {0, (uint32_t)(pad + t), (uint32_t)(pad + t + 1), 999, UINT32_MAX};
            for (size_t k = 0; k < sizeof hints / sizeof hints[0]; k++) {
                uint32_t hint = hints[k];
                /* The twin is never found, whatever the hint says... */
                CHECK(value_getnh_hint(m, b, n, h, &hint) == NULL);
                CHECK(hint == hints[k]);                 /* a miss writes nothing */
                /* ...the key is, and the hint then points at it. */
                CHECK(value_int_of(value_getnh_hint(m, a, n, h, &hint)) == t);
                CHECK(hint == (uint32_t)(pad + t));
                CHECK(value_int_of(value_getnh_hint(m, a, n, h, &hint)) == t);
                CHECK(value_getnh_hint(m, b, n, h, &hint) == NULL);
            }
        }
        /* Not a map: nothing, hint untouched. */
        uint32_t hint = 3;
        value *str = value_str("x");
        CHECK(value_getnh_hint(str, "x", 1, value_hash("x", 1), &hint) == NULL && hint == 3);
        CHECK(value_getnh_hint(NULL, "x", 1, value_hash("x", 1), &hint) == NULL && hint == 3);
        value_unref(str);
        value_unref(m);
    }
}

/* A string's memo starts at 0, keeps what is recorded, and only strings
 * have one. */
TEST(value_string_memo)
{
    value *s = value_strn("a\0<", 3), *i = value_int(3);
    const char *p;
    size_t n;
    unsigned memo = 9;
    CHECK(value_str_view(s, &p, &n, &memo) && n == 3 && !memcmp(p, "a\0<", 3) && memo == 0);
    value_str_memo(s, VALUE_MEMO_HTML_ESCAPES);
    CHECK(value_str_view(s, &p, &n, &memo) && memo == VALUE_MEMO_HTML_ESCAPES);
    value_str_memo(i, VALUE_MEMO_HTML_PLAIN);       /* no-op */
    value_str_memo(NULL, VALUE_MEMO_HTML_PLAIN);
    CHECK(!value_str_view(i, &p, &n, &memo) && !value_str_view(NULL, &p, &n, &memo));
    value *f = value_strf("%0300d", 7);              /* the long value_strf path */
    CHECK(value_str_view(f, &p, &n, &memo) && n == 300 && memo == 0);
    value_unref(f);
    value_unref(s);
    value_unref(i);
}

int main(void)
{
    RUN(xcalloc_zeroes);
    RUN(numbers_without_printf);
    RUN(buf_printf_grows);
    RUN(escapes);
    RUN(utf8_validation);
    RUN(utf8_fast_paths_agree);
    RUN(value_model);
    RUN(value_large_map);
    RUN(value_lookup_hints);
    RUN(value_keys_by_word);
    RUN(value_string_memo);
    RUN(value_strings);
    RUN(diag_sorted);
    RUN(output_writes_and_sweeps);
    return test_summary();
}
