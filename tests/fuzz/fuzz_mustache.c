/* fuzz_mustache.c - libFuzzer target: the Mustache compiler and renderer.
 * The input is split at NUL bytes into up to three templates: "main", and
 * the partials/parents "p" and "q" (so recursion, inheritance and dynamic
 * names between them get exercised). Rendered with a small fixed context,
 * in spec mode and strict mode. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "mustache.h"

static value *ctx;

static value *make_ctx(void)
{
    value *c = value_map();
    value_set_str(c, "name", "<b>\"&'</b>");
    value_set(c, "t", value_bool(true));
    value_set(c, "f", value_bool(false));
    value_set(c, "n", value_int(42));
    value_set(c, "x", value_double(1.5));
    value_set_str(c, "dyn", "p");
    value *list = value_list();
    for (int i = 0; i < 3; i++) {
        value *m = value_map();
        value_set(m, "i", value_int(i));
        value_set_str(m, "name", i ? "二" : "一");
        value_push(list, m);
    }
    value_set(c, "list", list);
    value *nested = value_map();
    value *inner = value_map();
    value_set_str(inner, "c", "deep");
    value_set(nested, "b", inner);
    value_set(c, "a", nested);
    value_set(c, "empty", value_list());
    value_set(c, "null", value_null());
    return c;
}

static void run(const char *parts[3], size_t lens[3], bool strict)
{
    static const char *names[3] = {"main", "p", "q"};
    diag *d = diag_new();
    mustache_set *s = mustache_set_new(NULL, NULL);
    mustache_set_strict(s, strict);
    for (int i = 0; i < 3; i++)
        if (parts[i]) mustache_add(s, names[i], parts[i], lens[i], NULL, d);
    const mustache_tpl *t = mustache_get(s, "main", d);
    if (t) {
        buf out = BUF_INIT;
        mustache_render(s, t, ctx, &out, d);
        buf_free(&out);
    }
    mustache_set_free(s);
    diag_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) ctx = make_ctx();
    const char *parts[3] = {NULL, NULL, NULL};
    size_t lens[3] = {0, 0, 0};
    const char *p = (const char *)data, *end = p + size;
    for (int i = 0; i < 3 && p <= end; i++) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        if (i == 2 || !z) z = end;
        parts[i] = p;
        lens[i] = (size_t)(z - p);
        p = z + 1;
    }
    run(parts, lens, false);
    run(parts, lens, true);
    return 0;
}
