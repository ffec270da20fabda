/* fuzz_mustache.c - libFuzzer target: the Mustache compiler and renderer.
 * The input is split at NUL bytes into up to three templates: "main", and
 * the partials/parents "p" and "q" (so recursion, inheritance and dynamic
 * names between them get exercised). Rendered with a small fixed context,
 * in spec mode and strict mode. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

/* The same data, every value stable (the list-item memo may keep any),
 * and other data around the same stable lists (other scalars: what an
 * item reaching outside itself renders differs). */
static value *sctx, *octx;

static value *make_other(const value *from)
{
    value *c = value_map();
    for (size_t i = 0; i < value_len(from); i++) {
        value *v = value_val_at(from, i);
        const char *k = value_key_at(from, i);
        if (value_type(v) == V_STRING) value_set_str(c, k, "other");
        else if (value_type(v) == V_INT) value_set(c, k, value_int(7));
        else if (value_type(v) == V_BOOL) value_set(c, k, value_bool(!value_bool_of(v)));
        else value_set(c, k, value_ref(v));
    }
    return c;
}

static void stable_all(value *v)
{
    value_set_stable(v);
    for (size_t i = 0; i < value_len(v); i++)
        stable_all(value_type(v) == V_LIST ? value_at(v, i) : value_val_at(v, i));
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
        int rc = mustache_render(s, t, ctx, &out, d);
        /* Differential: with a memo of list items, rendered twice (the
         * second from what the first kept), a render that succeeded
         * gives the same bytes. */
        buf other = BUF_INIT;
        int orc = mustache_render(s, t, octx, &other, d);
        if (rc == 0 && orc == 0) {
            mustache_memo *m = mustache_memo_new(0);
            for (int k = 0; k < 4; k++) {
                const buf *want = k % 2 ? &other : &out;
                buf again = BUF_INIT;
                if (mustache_render_memo(s, t, k % 2 ? octx : sctx, &again, d, m) != 0 ||
                    again.len != want->len ||
                    memcmp(again.ptr ? again.ptr : "", want->ptr ? want->ptr : "", want->len) != 0)
                    abort();
                buf_free(&again);
            }
            mustache_memo_free(m);
        }
        buf_free(&other);
        buf_free(&out);
    }
    mustache_set_free(s);
    diag_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        ctx = make_ctx();
        sctx = make_ctx();
        stable_all(sctx);
        octx = make_other(sctx);
    }
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
