/* value.h - the site model's dynamic values, as seen by templates.
 *
 * A value is null, bool, int, double, string, list or map. Values are
 * reference-counted (atomically, so threads may share them): constructors
 * return one reference owned by the caller; list_push and map_set take
 * ownership of the reference passed in; getters return borrowed pointers.
 * Maps keep insertion order; map_set on an existing key replaces its
 * value. Keys are hashed; a map past a few keys also gets a hash index, so
 * lookups stay O(1) in maps with a key per document. A key pointer from
 * value_key_at stays valid as long as the map.
 * Strings are immutable byte strings with a length (may hold NUL) and are
 * always NUL-terminated as well.
 */
#ifndef GAZETTE_VALUE_H
#define GAZETTE_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "util.h"

typedef enum { V_NULL, V_BOOL, V_INT, V_DOUBLE, V_STRING, V_LIST, V_MAP } vtype;

typedef struct value value;

value *value_null(void);
value *value_bool(bool b);
value *value_int(long long i);
value *value_double(double d);
value *value_str(const char *s);
value *value_strn(const char *s, size_t n);
value *value_strf(const char *fmt, ...) GZ_PRINTF(1, 2);
value *value_list(void);
value *value_map(void);

value *value_ref(value *v);          /* NULL-safe; returns v */
void value_unref(value *v);          /* NULL-safe */

/* The first member of every value, so that the commonest question (the
 * type: asked for every name a template looks up) needs no call. */
typedef struct { int refs; unsigned char type, stable; } value_head;
static inline vtype value_type(const value *v)   /* NULL counts as V_NULL */
{
    return v ? (vtype)((const value_head *)(const void *)v)->type : V_NULL;
}
/* A promise by v's owner: from now on neither v nor anything it holds
 * changes while v lives. A template renderer may then keep what it
 * rendered from v (mustache_memo) for as long as it keeps a reference. */
void value_set_stable(value *v);                  /* NULL-safe */
static inline bool value_stable(const value *v)
{
    return v && ((const value_head *)(const void *)v)->stable;
}
bool value_bool_of(const value *v);
long long value_int_of(const value *v);
double value_double_of(const value *v);
const char *value_str_ptr(const value *v);   /* "" unless V_STRING */
size_t value_str_len(const value *v);

/* Lists and maps. value_len is the number of items/keys (0 otherwise). */
size_t value_len(const value *v);
void value_push(value *list, value *item);                 /* takes item */
value *value_at(const value *list, size_t i);              /* borrowed */
void value_setn(value *map, const char *key, size_t klen, value *v);   /* takes v */
value *value_getn(const value *map, const char *key, size_t klen);   /* borrowed or NULL */
/* The same with a NUL-terminated key; inline, so that a literal key's
 * length is known when compiling. */
static inline void value_set(value *map, const char *key, value *v)
{
    value_setn(map, key, strlen(key), v);
}
static inline value *value_get(const value *map, const char *key)
{
    return value_getn(map, key, strlen(key));
}
/* The hash maps use for a key, and a lookup with it precomputed (for
 * callers that look the same name up many times, e.g. compiled templates). */
uint32_t value_hash(const char *key, size_t klen);
value *value_getnh(const value *map, const char *key, size_t klen, uint32_t hash);
/* value_getnh with a hint: *hint is the entry index where this key was
 * found last time (any value is safe: it is checked against the key before
 * use, and rewritten when the key is found elsewhere). Same-shaped maps
 * (one per document, built the same way) keep a key at the same index, so
 * a compiled template's lookup goes straight to the entry instead of
 * probing the hash index (a cache miss per lookup on cold per-document
 * maps). *hint is read and written with relaxed atomics: threads rendering
 * the same template may share it. */
value *value_getnh_hint(const value *map, const char *key, size_t klen, uint32_t hash,
                        uint32_t *hint);
/* If v is a string: its bytes, length and memo, true. Else false (one call
 * for the commonest question a template asks about a value). The memo is 0
 * until value_str_memo records a fact about the bytes; strings are
 * immutable, so the fact stays true. Any thread may read or record it
 * (relaxed atomics: racing writers record the same fact). */
enum {
    VALUE_MEMO_HTML_PLAIN = 1,    /* esc_html would copy it unchanged */
    VALUE_MEMO_HTML_ESCAPES = 2   /* esc_html changes it */
};
bool value_str_view(const value *v, const char **s, size_t *n, unsigned *memo);
void value_str_memo(const value *v, unsigned memo);   /* no-op unless a string */
const char *value_key_at(const value *map, size_t i);
value *value_val_at(const value *map, size_t i);           /* borrowed */
/* Convenience: set a string. */
static inline void value_set_str(value *map, const char *key, const char *s)
{
    value_set(map, key, value_str(s));
}
/* A map with room for n keys: set that many without growing it. */
value *value_map_sized(size_t n);
/* A shallow copy of a map (new map, same child references), with room for
 * extra more keys. */
value *value_map_copy_room(const value *map, size_t extra);
static inline value *value_map_copy(const value *map) { return value_map_copy_room(map, 0); }

/* Mustache truthiness: null, false, empty list and empty string are false. */
bool value_truthy(const value *v);
/* Append a scalar as text (ints plainly, doubles in the shortest form that
 * round-trips, bools as true/false, null as nothing). Lists/maps: nothing. */
void value_to_text(buf *out, const value *v);
/* Append as JSON (deterministic: maps in insertion order). */
void value_to_json(buf *out, const value *v);

#endif
