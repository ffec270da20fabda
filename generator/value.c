/* value.c - see value.h. */
#include "value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    size_t klen;
    value *val;
} map_entry;

struct value {
    int refs;
    vtype type;
    union {
        bool b;
        long long i;
        double d;
        struct { char *s; size_t n; } str;
        struct { value **items; size_t n, cap; } list;
        struct { map_entry *e; size_t n, cap; } map;
    } u;
};

static value *alloc(vtype t)
{
    value *v = xcalloc(1, sizeof *v);
    v->refs = 1;
    v->type = t;
    return v;
}

value *value_null(void) { return alloc(V_NULL); }
value *value_bool(bool b) { value *v = alloc(V_BOOL); v->u.b = b; return v; }
value *value_int(long long i) { value *v = alloc(V_INT); v->u.i = i; return v; }
value *value_double(double d) { value *v = alloc(V_DOUBLE); v->u.d = d; return v; }
value *value_list(void) { return alloc(V_LIST); }
value *value_map(void) { return alloc(V_MAP); }

value *value_strn(const char *s, size_t n)
{
    value *v = alloc(V_STRING);
    v->u.str.s = xstrndup(s ? s : "", s ? n : 0);
    v->u.str.n = s ? n : 0;
    return v;
}

value *value_str(const char *s) { return value_strn(s, s ? strlen(s) : 0); }

value *value_strf(const char *fmt, ...)
{
    buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    value *v = alloc(V_STRING);
    v->u.str.n = b.len;
    v->u.str.s = buf_detach(&b);
    return v;
}

value *value_ref(value *v)
{
    if (v) __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
    return v;
}

void value_unref(value *v)
{
    if (!v) return;
    if (__atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    switch (v->type) {
    case V_STRING: free(v->u.str.s); break;
    case V_LIST:
        for (size_t i = 0; i < v->u.list.n; i++) value_unref(v->u.list.items[i]);
        free(v->u.list.items);
        break;
    case V_MAP:
        for (size_t i = 0; i < v->u.map.n; i++) {
            free(v->u.map.e[i].key);
            value_unref(v->u.map.e[i].val);
        }
        free(v->u.map.e);
        break;
    default: break;
    }
    free(v);
}

vtype value_type(const value *v) { return v ? v->type : V_NULL; }

bool value_bool_of(const value *v)
{
    return v && v->type == V_BOOL ? v->u.b : value_truthy(v);
}

long long value_int_of(const value *v)
{
    if (!v) return 0;
    if (v->type == V_INT) return v->u.i;
    if (v->type == V_DOUBLE) return (long long)v->u.d;
    if (v->type == V_BOOL) return v->u.b;
    if (v->type == V_STRING) return strtoll(v->u.str.s, NULL, 10);
    return 0;
}

double value_double_of(const value *v)
{
    if (!v) return 0;
    if (v->type == V_DOUBLE) return v->u.d;
    if (v->type == V_INT) return (double)v->u.i;
    if (v->type == V_STRING) return strtod(v->u.str.s, NULL);
    return 0;
}

const char *value_str_ptr(const value *v)
{
    return v && v->type == V_STRING ? v->u.str.s : "";
}

size_t value_str_len(const value *v)
{
    return v && v->type == V_STRING ? v->u.str.n : 0;
}

size_t value_len(const value *v)
{
    if (!v) return 0;
    if (v->type == V_LIST) return v->u.list.n;
    if (v->type == V_MAP) return v->u.map.n;
    return 0;
}

void value_push(value *list, value *item)
{
    if (!list || list->type != V_LIST) { value_unref(item); return; }
    if (list->u.list.n == list->u.list.cap) {
        list->u.list.cap = list->u.list.cap ? list->u.list.cap * 2 : 4;
        list->u.list.items = xrealloc(list->u.list.items,
                                      list->u.list.cap * sizeof(value *));
    }
    list->u.list.items[list->u.list.n++] = item ? item : value_null();
}

value *value_at(const value *list, size_t i)
{
    if (!list || list->type != V_LIST || i >= list->u.list.n) return NULL;
    return list->u.list.items[i];
}

value *value_getn(const value *map, const char *key, size_t klen)
{
    if (!map || map->type != V_MAP) return NULL;
    for (size_t i = 0; i < map->u.map.n; i++) {
        const map_entry *e = &map->u.map.e[i];
        if (e->klen == klen && memcmp(e->key, key, klen) == 0) return e->val;
    }
    return NULL;
}

value *value_get(const value *map, const char *key)
{
    return value_getn(map, key, strlen(key));
}

void value_setn(value *map, const char *key, size_t klen, value *v)
{
    if (!map || map->type != V_MAP) { value_unref(v); return; }
    if (!v) v = value_null();
    for (size_t i = 0; i < map->u.map.n; i++) {
        map_entry *e = &map->u.map.e[i];
        if (e->klen == klen && memcmp(e->key, key, klen) == 0) {
            value_unref(e->val);
            e->val = v;
            return;
        }
    }
    if (map->u.map.n == map->u.map.cap) {
        map->u.map.cap = map->u.map.cap ? map->u.map.cap * 2 : 8;
        map->u.map.e = xrealloc(map->u.map.e, map->u.map.cap * sizeof(map_entry));
    }
    map_entry *e = &map->u.map.e[map->u.map.n++];
    e->key = xstrndup(key, klen);
    e->klen = klen;
    e->val = v;
}

void value_set(value *map, const char *key, value *v)
{
    value_setn(map, key, strlen(key), v);
}

void value_set_str(value *map, const char *key, const char *s)
{
    value_set(map, key, value_str(s));
}

const char *value_key_at(const value *map, size_t i)
{
    if (!map || map->type != V_MAP || i >= map->u.map.n) return NULL;
    return map->u.map.e[i].key;
}

value *value_val_at(const value *map, size_t i)
{
    if (!map || map->type != V_MAP || i >= map->u.map.n) return NULL;
    return map->u.map.e[i].val;
}

value *value_map_copy(const value *map)
{
    value *c = value_map();
    for (size_t i = 0; i < value_len(map); i++)
        value_setn(c, map->u.map.e[i].key, map->u.map.e[i].klen,
                   value_ref(map->u.map.e[i].val));
    return c;
}

bool value_truthy(const value *v)
{
    if (!v) return false;
    switch (v->type) {
    case V_NULL: return false;
    case V_BOOL: return v->u.b;
    case V_STRING: return v->u.str.n > 0;
    case V_LIST: return v->u.list.n > 0;
    default: return true;
    }
}

static void double_text(buf *out, double d)
{
    if (isnan(d) || isinf(d)) { buf_puts(out, isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity"); return; }
    if (d == floor(d) && fabs(d) < 1e15) { buf_printf(out, "%.0f", d); return; }
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    buf_puts(out, tmp);
}

void value_to_text(buf *out, const value *v)
{
    if (!v) return;
    switch (v->type) {
    case V_BOOL: buf_puts(out, v->u.b ? "true" : "false"); break;
    case V_INT: buf_printf(out, "%lld", v->u.i); break;
    case V_DOUBLE: double_text(out, v->u.d); break;
    case V_STRING: buf_put(out, v->u.str.s, v->u.str.n); break;
    default: break;
    }
}

void value_to_json(buf *out, const value *v)
{
    switch (value_type(v)) {
    case V_NULL: buf_puts(out, "null"); break;
    case V_BOOL: case V_INT: value_to_text(out, v); break;
    case V_DOUBLE:
        if (isnan(v->u.d) || isinf(v->u.d)) buf_puts(out, "null");
        else double_text(out, v->u.d);
        break;
    case V_STRING:
        buf_putc(out, '"');
        esc_json(out, v->u.str.s, v->u.str.n);
        buf_putc(out, '"');
        break;
    case V_LIST:
        buf_putc(out, '[');
        for (size_t i = 0; i < v->u.list.n; i++) {
            if (i) buf_putc(out, ',');
            value_to_json(out, v->u.list.items[i]);
        }
        buf_putc(out, ']');
        break;
    case V_MAP:
        buf_putc(out, '{');
        for (size_t i = 0; i < v->u.map.n; i++) {
            if (i) buf_putc(out, ',');
            buf_putc(out, '"');
            esc_json(out, v->u.map.e[i].key, v->u.map.e[i].klen);
            buf_puts(out, "\":");
            value_to_json(out, v->u.map.e[i].val);
        }
        buf_putc(out, '}');
        break;
    }
}
