/* frontmatter.c - see frontmatter.h. */
#include "frontmatter.h"

#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64

typedef struct {
    yaml_parser_t p;
    const char *file;
    int first_line;      /* line of the YAML text's first line in the file */
    diag *d;
    value *lines;        /* optional: top-level key -> line */
    int failed;
} yreader;

static int mark_line(yreader *r, yaml_mark_t m) { return r->first_line + (int)m.line; }

static int next(yreader *r, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&r->p, ev)) {
        int line = r->first_line + (int)r->p.problem_mark.line;
        diag_error(r->d, r->file, line, "invalid YAML: %s%s%s",
                   r->p.problem ? r->p.problem : "syntax error",
                   r->p.context ? " " : "", r->p.context ? r->p.context : "");
        r->failed = 1;
        return -1;
    }
    return 0;
}

/* A scalar's value: a string, or for a plain one (not quoted) the few
 * words that are booleans and nulls. */
static value *scalar_of(const char *s, size_t n, bool plain)
{
    if (plain) {
        if ((n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "True", 4))) ||
            (n == 3 && !memcmp(s, "yes", 3)))
            return value_bool(true);
        if ((n == 5 && (!memcmp(s, "false", 5) || !memcmp(s, "False", 5))) ||
            (n == 2 && !memcmp(s, "no", 2)))
            return value_bool(false);
        if (n == 0 || (n == 1 && s[0] == '~') || (n == 4 && !memcmp(s, "null", 4)))
            return value_null();
    }
    return value_strn(s, n);
}

static value *scalar_value(const yaml_event_t *ev)
{
    return scalar_of((const char *)ev->data.scalar.value, ev->data.scalar.length,
                     ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
}

static value *parse_node(yreader *r, yaml_event_t *ev, int depth);

/* ev is the start event of a node (already read). Consumes through its end. */
static value *parse_node(yreader *r, yaml_event_t *ev, int depth)
{
    if (depth > MAX_DEPTH) {
        diag_error(r->d, r->file, mark_line(r, ev->start_mark), "YAML nested too deeply");
        r->failed = 1;
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return scalar_value(ev);
    case YAML_ALIAS_EVENT:
        diag_error(r->d, r->file, mark_line(r, ev->start_mark),
                   "YAML aliases (*%s) are not allowed in front matter", ev->data.alias.anchor);
        r->failed = 1;
        return NULL;
    case YAML_SEQUENCE_START_EVENT: {
        value *list = value_list();
        for (;;) {
            yaml_event_t e;
            if (next(r, &e) < 0) { value_unref(list); return NULL; }
            if (e.type == YAML_SEQUENCE_END_EVENT) { yaml_event_delete(&e); return list; }
            value *item = parse_node(r, &e, depth + 1);
            yaml_event_delete(&e);
            if (!item) { value_unref(list); return NULL; }
            value_push(list, item);
        }
    }
    case YAML_MAPPING_START_EVENT: {
        value *map = value_map();
        for (;;) {
            yaml_event_t k;
            if (next(r, &k) < 0) { value_unref(map); return NULL; }
            if (k.type == YAML_MAPPING_END_EVENT) { yaml_event_delete(&k); return map; }
            if (k.type != YAML_SCALAR_EVENT) {
                diag_error(r->d, r->file, mark_line(r, k.start_mark), "YAML keys must be plain text");
                r->failed = 1;
                yaml_event_delete(&k);
                value_unref(map);
                return NULL;
            }
            char *key = xstrndup((const char *)k.data.scalar.value, k.data.scalar.length);
            int kline = mark_line(r, k.start_mark);
            yaml_event_delete(&k);
            yaml_event_t v;
            if (next(r, &v) < 0) { free(key); value_unref(map); return NULL; }
            value *val = parse_node(r, &v, depth + 1);
            yaml_event_delete(&v);
            if (!val) { free(key); value_unref(map); return NULL; }
            if (value_get(map, key))
                diag_warn(r->d, r->file, kline, "duplicate key '%s' (the last one wins)", key);
            if (depth == 0 && r->lines) value_set(r->lines, key, value_int(kline));
            value_set(map, key, val);
            free(key);
        }
    }
    default:
        diag_error(r->d, r->file, mark_line(r, ev->start_mark), "unexpected YAML structure");
        r->failed = 1;
        return NULL;
    }
}

/* Parse one YAML document; an empty document gives an empty map. */
static value *parse_yaml(const char *file, const char *text, size_t len, int first_line,
                         value *lines, diag *d)
{
    yreader r = {.file = file, .first_line = first_line, .d = d, .lines = lines};
    if (!yaml_parser_initialize(&r.p)) {
        diag_error(d, file, 0, "cannot initialise YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&r.p, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&r.p, YAML_UTF8_ENCODING);
    value *root = NULL;
    yaml_event_t ev;
    int started = 0;
    while (!r.failed && next(&r, &ev) == 0) {
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) { yaml_event_delete(&ev); break; }
        if (t == YAML_DOCUMENT_START_EVENT) {
            if (started) {
                diag_error(d, file, mark_line(&r, ev.start_mark), "more than one YAML document");
                r.failed = 1;
            }
            started = 1;
        } else if (t == YAML_SCALAR_EVENT || t == YAML_SEQUENCE_START_EVENT ||
                   t == YAML_MAPPING_START_EVENT || t == YAML_ALIAS_EVENT) {
            int line = mark_line(&r, ev.start_mark);
            value *v = parse_node(&r, &ev, 0);
            if (v && value_type(v) == V_MAP) {
                root = v;
            } else if (v && !(value_type(v) == V_NULL)) {
                diag_error(d, file, line, "front matter must be a map of keys and values");
                r.failed = 1;
                value_unref(v);
            } else {
                value_unref(v);
            }
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&r.p);
    if (r.failed) { value_unref(root); return NULL; }
    return root ? root : value_map();
}

value *yaml_parse_doc(const char *file, const char *text, size_t len, int first_line, diag *d)
{
    return parse_yaml(file, text, len, first_line, NULL, d);
}

/* ---- the common front matter without libyaml ----
 *
 * Nearly every document's front matter is lines of `key: "text"`,
 * `key: ["a", "b"]`, `key: 2017-09-29 10:00:00 +0800` and `key:` with
 * `  - item` lines under it, with blank and comment lines between;
 * libyaml's scanner, token queue and events cost ~50k instructions for
 * such eight lines, 8% of a full build. This reads exactly that subset
 * and nothing else: any other line (an escape, a trailing space, a tab, a
 * CR, a nested map, a duplicate key, a character YAML folds or does not
 * allow) makes it decline, and libyaml reads the text as before. What it gives
 * is what libyaml gives (tests/unit/test_frontmatter.c compares the two
 * over generated front matter). */

/* A character libyaml reads as itself in a quoted scalar, at s, of the
 * valid UTF-8 the file was checked to be: its length, or 0 for the rest
 * (control characters, tab, U+0080..U+009F with NEL, U+2028/2029, which
 * YAML 1.1 counts as line breaks and folds, U+FEFF, U+FFFE/FFFF). */
static size_t printable_at(const unsigned char *s)
{
    if (s[0] < 0x80) return s[0] >= 0x20 && s[0] != 0x7F ? 1 : 0;
    if (s[0] < 0xE0) return s[0] == 0xC2 && s[1] < 0xA0 ? 0 : 2;
    if (s[0] < 0xF0) {
        if (s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9)) return 0;
        if (s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) return 0;
        if (s[0] == 0xEF && s[1] == 0xBF && (s[2] == 0xBE || s[2] == 0xBF)) return 0;
        return 3;
    }
    return 4;
}

/* A double-quoted scalar with no escape at s: its bytes are s+1..*end-1,
 * *end just past the closing quote; false when it is not one. */
static bool quoted_at(const char *s, const char *lim, const char **end)
{
    if (*s != '"') return false;
    const unsigned char *u = (const unsigned char *)s + 1;
    while ((const char *)u < lim && *u != '"') {
        if (*u == '\\') return false;
        size_t k = printable_at(u);
        if (!k || (const char *)u + k > lim) return false;
        u += k;
    }
    if ((const char *)u >= lim) return false;
    *end = (const char *)u + 1;
    return true;
}

/* A plain scalar of the conservative kind: a letter or digit, then
 * letters, digits, spaces and + - . : / _ with no ": " and no trailing
 * space or ':' (a date, a number, a word). */
static bool plain_ok(const char *s, size_t n)
{
    if (!n || !((s[0] >= '0' && s[0] <= '9') || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == ' ' || c == '+' || c == '-' || c == '.' || c == ':' || c == '/' || c == '_';
        if (!ok || (c == ':' && (i + 1 == n || s[i + 1] == ' '))) return false;
    }
    return s[n - 1] != ' ';
}

/* The value of one line after "key: " (s..lim, no line break in it), or
 * NULL when it is not of the subset. */
static value *fast_value(const char *s, const char *lim)
{
    const char *end;
    if (*s == '"') {
        if (!quoted_at(s, lim, &end) || end != lim) return NULL;
        return value_strn(s + 1, (size_t)(end - s - 2));
    }
    if (*s == '[') {
        value *list = value_list();
        const char *p = s + 1;
        if (p < lim && *p == ']') {
            if (p + 1 == lim) return list;
            value_unref(list);
            return NULL;
        }
        for (;;) {
            if (p >= lim || !quoted_at(p, lim, &end)) break;
            value_push(list, value_strn(p + 1, (size_t)(end - p - 2)));
            p = end;
            if (p < lim && *p == ']' && p + 1 == lim) return list;
            if (p + 1 >= lim || p[0] != ',' || p[1] != ' ') break;
            p += 2;
        }
        value_unref(list);
        return NULL;
    }
    if (!plain_ok(s, (size_t)(lim - s))) return NULL;
    return scalar_of(s, (size_t)(lim - s), true);
}

/* A line of the text: [s, e) without its line break. */
typedef struct { const char *s, *e; } fline;

/* The line at *p (< end), and *p past its line break. */
static fline next_line(const char **p, const char *end)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    fline l = {*p, nl ? nl : end};
    *p = nl ? nl + 1 : end;
    return l;
}

static bool key_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && ((c >= '0' && c <= '9') || c == '-'));
}

/* A line with nothing for YAML: empty, or a comment (its first non-space
 * a '#': no scalar of the subset spans lines, so it is in none). */
static bool blank_line(fline l)
{
    const char *p = l.s;
    while (p < l.e && *p == ' ') p++;
    return p == l.e || *p == '#';
}

/* "INDENT- VALUE" with INDENT spaces: the value's start, else NULL. */
static const char *item_at(fline l, size_t indent)
{
    if ((size_t)(l.e - l.s) < indent + 3) return NULL;
    for (size_t i = 0; i < indent; i++)
        if (l.s[i] != ' ') return NULL;
    const char *p = l.s + indent;
    return p[0] == '-' && p[1] == ' ' && p[2] != ' ' ? p + 2 : NULL;
}

/* The front matter text (between the fences) as a map, with each key's
 * line (first_line: the text's first) into lines; NULL (nothing put in
 * lines) when it is not all of the subset: lines of `key: VALUE` and of
 * `key:` then `  - VALUE` items (any one indentation), VALUE a quoted
 * scalar with no escape, a flow list of those, or a plain word, number or
 * date (fast_value); blank and comment lines between. */
static value *fast_yaml(const char *text, size_t len, int first_line, value *lines)
{
    value *map = value_map(), *ln = value_map();
    const char *p = text, *end = text + len;
    int line = first_line;
    fline l = {0};
    bool have = false;                  /* l is read and not used yet */
    for (;;) {
        if (!have) {
            if (p >= end) break;
            l = next_line(&p, end);
        }
        have = false;
        int at = line++;
        if (blank_line(l)) continue;
        const char *key = l.s, *k = l.s;
        if (!key_char(*k, true)) goto decline;
        while (k < l.e && key_char(*k, false)) k++;
        if (k == l.e || *k != ':') goto decline;
        size_t kl = (size_t)(k - key);
        if (value_getn(map, key, kl)) goto decline;     /* libyaml's warning */
        value *v;
        if (k + 1 == l.e) {
            /* a block list: its items, blank and comment lines between */
            v = value_list();
            size_t indent = 0;
            bool first = true;
            while (p < end) {
                l = next_line(&p, end);
                if (blank_line(l)) { line++; continue; }
                if (first) {
                    while (l.s + indent < l.e && l.s[indent] == ' ') indent++;
                    first = false;
                }
                const char *vs = item_at(l, indent);
                if (!vs) { have = true; break; }        /* the next key's line */
                value *it = fast_value(vs, l.e);
                if (!it || value_type(it) == V_LIST) { value_unref(it); value_unref(v); goto decline; }
                value_push(v, it);
                line++;
            }
            if (!value_len(v)) { value_unref(v); goto decline; }      /* null, in YAML */
        } else {
            if (k[1] != ' ' || k + 2 == l.e || k[2] == ' ') goto decline;
            v = fast_value(k + 2, l.e);
            if (!v) goto decline;
        }
        value_setn(map, key, kl, v);
        value_setn(ln, key, kl, value_int(at));
    }
    if (lines) {
        for (size_t i = 0; i < value_len(ln); i++)
            value_set(lines, value_key_at(ln, i), value_ref(value_val_at(ln, i)));
    }
    value_unref(ln);
    return map;
decline:
    value_unref(map);
    value_unref(ln);
    return NULL;
}

value *fm_parse_yaml(const char *text, size_t len, int first_line, bool fast, value *lines, diag *d)
{
    if (fast) return fast_yaml(text, len, first_line, lines);
    return parse_yaml("(test)", text, len, first_line, lines, d);
}

/* Is the line at s (length up to n) exactly "---" or "..." (+ spaces, CR)? */
static int is_fence(const char *s, size_t n, int allow_dots)
{
    if (n < 3) return 0;
    if (memcmp(s, "---", 3) != 0 && !(allow_dots && memcmp(s, "...", 3) == 0)) return 0;
    for (size_t i = 3; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

int fm_parse(const char *file, const char *text, size_t len, frontmatter *fm, diag *d)
{
    memset(fm, 0, sizeof *fm);
    size_t off = 0;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) off = 3;
    const char *nl = memchr(text + off, '\n', len - off);
    size_t l1 = nl ? (size_t)(nl - text - off) : len - off;
    if (!is_fence(text + off, l1, 0)) {
        diag_error(d, file, 1, "missing front matter (the file must start with a '---' line)");
        return -1;
    }
    size_t yaml_start = nl ? (size_t)(nl - text) + 1 : len;
    size_t p = yaml_start;
    int line = 2;
    while (p < len) {
        const char *e = memchr(text + p, '\n', len - p);
        size_t ll = e ? (size_t)(e - text - p) : len - p;
        if (is_fence(text + p, ll, 1)) {
            fm->lines = value_map();
            fm->fields = fast_yaml(text + yaml_start, p - yaml_start, 2, fm->lines);
            if (!fm->fields)
                fm->fields = parse_yaml(file, text + yaml_start, p - yaml_start, 2, fm->lines, d);
            if (!fm->fields) { fm_free(fm); return -1; }
            fm->body_off = e ? (size_t)(e - text) + 1 : len;
            fm->body_line = line + 1;
            return 0;
        }
        if (!e) break;
        p = (size_t)(e - text) + 1;
        line++;
    }
    diag_error(d, file, 1, "front matter is not closed (no '---' line after it)");
    return -1;
}

void fm_free(frontmatter *fm)
{
    value_unref(fm->fields);
    value_unref(fm->lines);
    fm->fields = fm->lines = NULL;
}
