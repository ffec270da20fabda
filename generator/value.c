/* value.c - see value.h.
 *
 * Allocation: a value is one malloc (a string's bytes live inline after the
 * struct), a map's keys live in chunks the map owns (one malloc per chunk,
 * not per key; chunks never move, so value_key_at pointers stay valid), and
 * a map copy is three mallocs whatever its size. The build makes and frees
 * millions of small values; per-key and per-string mallocs were ~15% of its
 * CPU (malloc, free, malloc_consolidate).
 *
 * Lookup: every entry keeps a 32-bit hash of its key, so a scan compares
 * integers; a map of more than MAP_INDEX_MIN keys also gets an open-addressing
 * index (built when a set makes it that large, never on lookup, so a shared
 * map is never written by a reader). history.docs has one key per document:
 * looked up linearly that made the build O(n^2). */
#include "value.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAP_INDEX_MIN 8

typedef struct {
    const char *key;     /* in one of the map's key chunks, NUL-terminated */
    uint32_t klen;
    uint32_t hash;
    value *val;
    uint64_t pre;        /* key_word of the key: short keys compare without
                            reading the key chunk (one cache miss less per
                            lookup in a cold map) */
} map_entry;

/* Key storage: a list of chunks, newest first; full chunks are never
 * reallocated, so keys do not move. */
typedef struct kchunk {
    struct kchunk *next;
    size_t used, cap;
    char data[];
} kchunk;

struct value {
    value_head h;          /* first: value.h reads the type through it */
    union {
        bool b;
        long long i;
        double d;
        struct {
            char *s;             /* points into inl[] */
            size_t n;
            unsigned memo;       /* value_str_memo; 0 from alloc_extra */
        } str;
        struct { value **items; size_t n, cap; } list;
        struct {
            map_entry *e;
            uint32_t n, cap;
            /* NULL, or 2 * cap slots holding entry index + 1 (0: empty);
             * cap is a power of two once the index exists. */
            uint32_t *idx;
            kchunk *keys;
        } map;
    } u;
    char inl[];          /* a string's bytes */
};

static value *alloc_extra(vtype t, size_t extra)
{
    value *v = xmalloc(sizeof *v + extra);
    memset(v, 0, sizeof *v);
    v->h.refs = 1;
    v->h.type = (unsigned char)t;
    return v;
}

static value *alloc(vtype t) { return alloc_extra(t, 0); }

value *value_null(void) { return alloc(V_NULL); }
value *value_bool(bool b) { value *v = alloc(V_BOOL); v->u.b = b; return v; }
value *value_int(long long i) { value *v = alloc(V_INT); v->u.i = i; return v; }
value *value_double(double d) { value *v = alloc(V_DOUBLE); v->u.d = d; return v; }
value *value_list(void) { return alloc(V_LIST); }
value *value_map(void) { return alloc(V_MAP); }

value *value_strn(const char *s, size_t n)
{
    if (!s) n = 0;
    value *v = alloc_extra(V_STRING, n + 1);
    if (n) memcpy(v->inl, s, n);
    v->inl[n] = 0;
    v->u.str.s = v->inl;
    v->u.str.n = n;
    return v;
}

value *value_str(const char *s) { return value_strn(s, s ? strlen(s) : 0); }

value *value_strf(const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return value_strn("", 0);
    if ((size_t)n < sizeof tmp) return value_strn(tmp, (size_t)n);
    /* Longer than the stack buffer: format again into the value. */
    value *v = alloc_extra(V_STRING, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(v->inl, (size_t)n + 1, fmt, ap);
    va_end(ap);
    v->u.str.s = v->inl;
    v->u.str.n = (size_t)n;
    return v;
}

value *value_ref(value *v)
{
    if (v) __atomic_add_fetch(&v->h.refs, 1, __ATOMIC_RELAXED);
    return v;
}

void value_set_stable(value *v)
{
    if (v) v->h.stable = 1;   /* (set before v is shared with other threads) */
}

static void free_keys(kchunk *c)
{
    while (c) {
        kchunk *next = c->next;
        free(c);
        c = next;
    }
}

void value_unref(value *v)
{
    if (!v) return;
    if (__atomic_sub_fetch(&v->h.refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    switch (v->h.type) {
    case V_LIST:
        for (size_t i = 0; i < v->u.list.n; i++) value_unref(v->u.list.items[i]);
        free(v->u.list.items);
        break;
    case V_MAP:
        for (size_t i = 0; i < v->u.map.n; i++) value_unref(v->u.map.e[i].val);
        free(v->u.map.e);
        free(v->u.map.idx);
        free_keys(v->u.map.keys);
        break;
    default: break;
    }
    free(v);
}

bool value_bool_of(const value *v)
{
    return v && v->h.type == V_BOOL ? v->u.b : value_truthy(v);
}

long long value_int_of(const value *v)
{
    if (!v) return 0;
    if (v->h.type == V_INT) return v->u.i;
    if (v->h.type == V_DOUBLE) return (long long)v->u.d;
    if (v->h.type == V_BOOL) return v->u.b;
    if (v->h.type == V_STRING) return strtoll(v->u.str.s, NULL, 10);
    return 0;
}

double value_double_of(const value *v)
{
    if (!v) return 0;
    if (v->h.type == V_DOUBLE) return v->u.d;
    if (v->h.type == V_INT) return (double)v->u.i;
    if (v->h.type == V_STRING) return strtod(v->u.str.s, NULL);
    return 0;
}

const char *value_str_ptr(const value *v)
{
    return v && v->h.type == V_STRING ? v->u.str.s : "";
}

bool value_str_view(const value *v, const char **s, size_t *n, unsigned *memo)
{
    if (!v || v->h.type != V_STRING) return false;
    *s = v->u.str.s;
    *n = v->u.str.n;
    *memo = __atomic_load_n(&v->u.str.memo, __ATOMIC_RELAXED);
    return true;
}

void value_str_memo(const value *v, unsigned memo)
{
    /* The memo is a cache beside the immutable bytes, hence the cast. */
    if (v && v->h.type == V_STRING)
        __atomic_store_n((unsigned *)&v->u.str.memo, memo, __ATOMIC_RELAXED);
}

size_t value_str_len(const value *v)
{
    return v && v->h.type == V_STRING ? v->u.str.n : 0;
}

size_t value_len(const value *v)
{
    if (!v) return 0;
    if (v->h.type == V_LIST) return v->u.list.n;
    if (v->h.type == V_MAP) return v->u.map.n;
    return 0;
}

void value_push(value *list, value *item)
{
    if (!list || list->h.type != V_LIST) { value_unref(item); return; }
    if (list->u.list.n == list->u.list.cap) {
        list->u.list.cap = list->u.list.cap ? list->u.list.cap * 2 : 4;
        list->u.list.items = xrealloc(list->u.list.items,
                                      list->u.list.cap * sizeof(value *));
    }
    list->u.list.items[list->u.list.n++] = item ? item : value_null();
}

value *value_at(const value *list, size_t i)
{
    if (!list || list->h.type != V_LIST || i >= list->u.list.n) return NULL;
    return list->u.list.items[i];
}


/* Keys templates look up are short ("title", "url"): two overlapping
 * word loads per side (never outside the n bytes) beat a call to memcmp,
 * which was ~5% of a page's rendering instructions. */
static inline uint64_t load64(const char *p) { uint64_t x; memcpy(&x, p, 8); return x; }
static inline uint32_t load32(const char *p) { uint32_t x; memcpy(&x, p, 4); return x; }

/* A key's first min(klen, 8) bytes as a number, byte i in bits 8i..8i+7,
 * the rest zero: one word to hash and to compare, read without a call and
 * without reading past the key. */
static inline uint64_t key_word(const char *k, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n >= 8) return load64(k);
    /* two loads that overlap on the same bytes: or-ed, they are the key */
    if (n >= 4) return (uint64_t)load32(k) | (uint64_t)load32(k + n - 4) << (8 * (n - 4));
    if (!n) return 0;
    return (uint64_t)(unsigned char)k[0] | (uint64_t)(unsigned char)k[n / 2] << (8 * (n / 2)) |
           (uint64_t)(unsigned char)k[n - 1] << (8 * (n - 1));
#else
    uint64_t w = 0;
    for (size_t i = 0; i < n && i < 8; i++) w |= (uint64_t)(unsigned char)k[i] << (8 * i);
    return w;
#endif
}

#define HASH_MUL 0x9E3779B97F4A7C15u

/* The bytes of a key past its first 8 (klen > 8), folded into x: a
 * multiply per word, the last word overlapping the one before. */
static __attribute__((noinline)) uint64_t hash_rest(const char *key, size_t klen, uint64_t x)
{
    for (size_t i = 8; i < klen; i += 8) {
        uint64_t y = i + 8 <= klen ? load64(key + i) : load64(key + klen - 8);
        x = (x ^ y) * HASH_MUL;
        x ^= x >> 29;
    }
    return x;
}

/* A word at a time: the byte-at-a-time hash (FNV) that was here cost a
 * multiply per byte in a chain, ~5% of a build's map work. Never stored:
 * any function of the bytes will do, if it spreads keys over the low bits
 * that the index uses (the multiply's high half is folded into them). */
static inline uint32_t hash_of(const char *key, size_t klen, uint64_t w)
{
    uint64_t x = w ^ (uint64_t)klen << 56;
    if (klen > 8) x = hash_rest(key, klen, x ^ (uint64_t)klen);
    x *= HASH_MUL;
    return (uint32_t)(x ^ x >> 32);
}

uint32_t value_hash(const char *key, size_t klen)
{
    return hash_of(key, klen, key_word(key, klen));
}

static __attribute__((noinline)) bool key_eq_long(const char *a, const char *b, size_t n)
{
    return memcmp(a, b, n) == 0;
}

static inline bool key_eq(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        if (n > 16) return key_eq_long(a, b, n);
        return load64(a) == load64(b) && load64(a + n - 8) == load64(b + n - 8);
    }
    if (n >= 4) return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

/* Is e's key (hash and length already equal) the klen bytes at key, whose
 * key_word is w? */
static inline bool entry_is(const map_entry *e, const char *key, size_t klen, uint64_t w)
{
    return e->pre == w && (klen <= 8 || key_eq(e->key + 8, key + 8, klen - 8));
}

/* Index of key in map, or -1. */
static long find_entry(const value *map, const char *key, size_t klen, uint32_t h, uint64_t w)
{
    const map_entry *e = map->u.map.e;
    if (map->u.map.idx) {
        uint32_t mask = 2 * map->u.map.cap - 1;
        for (uint32_t i = h & mask;; i = (i + 1) & mask) {
            uint32_t k = map->u.map.idx[i];
            if (!k) return -1;
            k--;
            if (e[k].hash == h && e[k].klen == klen && entry_is(&e[k], key, klen, w)) return k;
        }
    }
    for (uint32_t k = 0; k < map->u.map.n; k++)
        if (e[k].hash == h && e[k].klen == klen && entry_is(&e[k], key, klen, w)) return k;
    return -1;
}

static void index_put(value *map, uint32_t k)
{
    uint32_t mask = 2 * map->u.map.cap - 1, i = map->u.map.e[k].hash & mask;
    while (map->u.map.idx[i]) i = (i + 1) & mask;
    map->u.map.idx[i] = k + 1;
}

/* (Re)build the index for the current capacity (a power of two). */
static void index_build(value *map)
{
    free(map->u.map.idx);
    map->u.map.idx = xcalloc(2 * (size_t)map->u.map.cap, sizeof *map->u.map.idx);
    for (uint32_t k = 0; k < map->u.map.n; k++) index_put(map, k);
}

/* A copy of key, NUL-terminated, in the map's key storage. */
static const char *store_key(value *map, const char *key, size_t klen)
{
    kchunk *c = map->u.map.keys;
    if (!c || c->cap - c->used < klen + 1) {
        size_t cap = c ? 2 * c->cap : 128;
        if (cap > 65536) cap = 65536;
        if (cap < klen + 1) cap = klen + 1;
        kchunk *n = xmalloc(sizeof *n + cap);
        n->next = c;
        n->used = 0;
        n->cap = cap;
        map->u.map.keys = c = n;
    }
    char *p = c->data + c->used;
    memcpy(p, key, klen);
    p[klen] = 0;
    c->used += klen + 1;
    return p;
}

static __attribute__((noinline)) void map_grow(value *map, size_t want)
{
    if (want > UINT32_MAX / 4) {
        fprintf(stderr, "gazette: map too large (%zu keys)\n", want);
        abort();
    }
    uint32_t cap = map->u.map.cap ? map->u.map.cap : 8;
    while (cap < want) cap *= 2;
    map->u.map.e = xrealloc(map->u.map.e, cap * sizeof(map_entry));
    map->u.map.cap = cap;
    if (map->u.map.idx || want > MAP_INDEX_MIN) index_build(map);
}

static inline void map_reserve(value *map, size_t want)
{
    if (want > map->u.map.cap) map_grow(map, want);
}

static void append_entry(value *map, const char *key, size_t klen, uint32_t h, uint64_t w,
                         value *v)
{
    map_reserve(map, (size_t)map->u.map.n + 1);
    uint32_t k = map->u.map.n++;
    map_entry *e = &map->u.map.e[k];
    e->key = store_key(map, key, klen);
    e->klen = (uint32_t)klen;
    e->hash = h;
    e->pre = w;
    e->val = v;
    if (map->u.map.idx) index_put(map, k);
}

value *value_getnh(const value *map, const char *key, size_t klen, uint32_t hash)
{
    if (!map || map->h.type != V_MAP) return NULL;
    long k = find_entry(map, key, klen, hash, key_word(key, klen));
    return k < 0 ? NULL : map->u.map.e[k].val;
}

/* value_getnh_hint past a wrong hint: out of line, so that the hit path
 * saves no registers. */
static __attribute__((noinline)) value *getnh_miss(const value *map, const char *key,
                                                    size_t klen, uint32_t hash,
                                                    uint32_t *hint, uint32_t h)
{
    long k = find_entry(map, key, klen, hash, key_word(key, klen));
    if (k < 0) return NULL;
    /* Write only on change: a stable hint stays a shared, clean line. */
    if ((uint32_t)k != h) __atomic_store_n(hint, (uint32_t)k, __ATOMIC_RELAXED);
    return map->u.map.e[k].val;
}

value *value_getnh_hint(const value *map, const char *key, size_t klen, uint32_t hash,
                        uint32_t *hint)
{
    if (!map || map->h.type != V_MAP) return NULL;
    const map_entry *e = map->u.map.e;
    uint32_t h = __atomic_load_n(hint, __ATOMIC_RELAXED);
    /* Keys are unique in a map: an entry with this key is the answer. */
    if (h < map->u.map.n && e[h].hash == hash && e[h].klen == klen &&
        entry_is(&e[h], key, klen, key_word(key, klen)))
        return e[h].val;
    return getnh_miss(map, key, klen, hash, hint, h);
}

value *value_getn(const value *map, const char *key, size_t klen)
{
    if (!map || map->h.type != V_MAP) return NULL;
    uint64_t w = key_word(key, klen);
    long k = find_entry(map, key, klen, hash_of(key, klen, w), w);
    return k < 0 ? NULL : map->u.map.e[k].val;
}

void value_setn(value *map, const char *key, size_t klen, value *v)
{
    if (!map || map->h.type != V_MAP) { value_unref(v); return; }
    if (!v) v = value_null();
    uint64_t w = key_word(key, klen);
    uint32_t h = hash_of(key, klen, w);
    long k = find_entry(map, key, klen, h, w);
    if (k >= 0) {
        value_unref(map->u.map.e[k].val);
        map->u.map.e[k].val = v;
        return;
    }
    append_entry(map, key, klen, h, w, v);
}

const char *value_key_at(const value *map, size_t i)
{
    if (!map || map->h.type != V_MAP || i >= map->u.map.n) return NULL;
    return map->u.map.e[i].key;
}

value *value_val_at(const value *map, size_t i)
{
    if (!map || map->h.type != V_MAP || i >= map->u.map.n) return NULL;
    return map->u.map.e[i].val;
}

/* Keys are known distinct: entries are copied without lookups, all keys
 * into one chunk (build.c copies a document's summary map per page). */
value *value_map_copy_room(const value *map, size_t extra)
{
    uint32_t n = map && map->h.type == V_MAP ? map->u.map.n : 0;
    if (!n) return value_map_sized(extra);
    value *c = value_map();
    size_t total = 0;
    for (uint32_t k = 0; k < n; k++) total += map->u.map.e[k].klen + 1;
    kchunk *ch = xmalloc(sizeof *ch + total);
    ch->next = NULL;
    ch->used = ch->cap = total;
    c->u.map.keys = ch;
    if (extra > UINT32_MAX / 4) extra = UINT32_MAX / 4;     /* (map_reserve says) */
    uint32_t cap = 8;
    while (cap < n + extra) cap *= 2;
    c->u.map.e = xmalloc(cap * sizeof(map_entry));
    c->u.map.cap = cap;
    c->u.map.n = n;
    char *p = ch->data;
    for (uint32_t k = 0; k < n; k++) {
        const map_entry *s = &map->u.map.e[k];
        memcpy(p, s->key, s->klen + 1);
        c->u.map.e[k] = *s;
        c->u.map.e[k].key = p;
        value_ref(s->val);
        p += s->klen + 1;
    }
    if (cap > MAP_INDEX_MIN) index_build(c);
    return c;
}

value *value_map_sized(size_t n)
{
    value *m = value_map();
    map_reserve(m, n);
    return m;
}

bool value_truthy(const value *v)
{
    if (!v) return false;
    switch (v->h.type) {
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

/* Decimal, as %lld prints it (templates print counts on every page). */
static void int_text(buf *out, long long i)
{
    char tmp[24], *p = tmp + sizeof tmp;
    unsigned long long u = i < 0 ? 0ull - (unsigned long long)i : (unsigned long long)i;
    do *--p = (char)('0' + u % 10); while (u /= 10);
    if (i < 0) *--p = '-';
    buf_put(out, p, (size_t)(tmp + sizeof tmp - p));
}

void value_to_text(buf *out, const value *v)
{
    if (!v) return;
    switch (v->h.type) {
    case V_BOOL: buf_puts(out, v->u.b ? "true" : "false"); break;
    case V_INT: int_text(out, v->u.i); break;
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
