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

static value *scalar_value(const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
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
