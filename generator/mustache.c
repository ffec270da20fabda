/* mustache.c - see mustache.h.
 *
 * Compiling a template runs four passes over its source:
 *   1. tokenize: text runs and tags, applying {{=| |=}} delimiter changes;
 *   2. standalone: a line holding only whitespace and "standalone-capable"
 *      tags (sections, inverted, closes, comments, partials, delimiter
 *      changes, parents, blocks) loses its whitespace and newline; the
 *      leading whitespace is remembered as the indentation of partials,
 *      parents and blocks on that line;
 *   3. match: pair each open tag with its close tag (structure errors);
 *   4. build: the node tree. Text is copied; the bodies of blocks opened on
 *      standalone lines are dedented (the spec: block indentation is removed
 *      at the site of definition and added at the site of expansion); every
 *      node that starts an output line is flagged `bol`.
 * Rendering walks the tree without parsing anything. The indentation of a
 * standalone partial is applied at render time, through the `bol` flags and
 * the line starts recorded in text nodes, so one compiled template serves
 * every indentation and nothing is compiled lazily except dynamic names.
 */
#include "mustache.h"
#include "pool.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- compiled form ---- */

typedef struct node node;
typedef struct {
    node *v;
    size_t n, cap;
} nodes;

typedef struct {
    const char *s;
    size_t n;
    uint32_t hash;       /* value_hash(s, n): names are looked up per tag per
                            page, in every map up the context stack */
    uint32_t hint;       /* entry index where it was last found (a hint for
                            value_getnh_hint; written while rendering, by
                            any thread, atomically) */
} seg;

/* A tag name. For lookups the dotted name is pre-split into segments
 * (nseg == 0 is the implicit iterator "."). */
typedef struct {
    char *text;          /* the whole name, NUL-terminated */
    size_t len;
    seg *segs;
    size_t nseg;
} mname;

enum {
    N_TEXT,       /* literal text */
    N_INDENT,     /* emit the current indentation (a line that starts with a
                     tag producing no output, e.g. a non-standalone {{/x}}) */
    N_ETAG,       /* {{x}} */
    N_UTAG,       /* {{{x}}} {{&x}} */
    N_SECTION,    /* {{#x}} */
    N_INVERTED,   /* {{^x}} */
    N_PARTIAL,    /* {{>x}} {{>*x}} */
    N_PARENT,     /* {{<x}}...{{/x}}; body holds only its argument blocks */
    N_BLOCK       /* {{$x}}...{{/x}} */
};

struct node {
    unsigned char type;
    bool bol;             /* first output of its line: indent before it */
    bool standalone;      /* partial/parent/block tag alone on its line */
    bool dynamic;         /* partial/parent named by {{>*name}} */
    int line, col;
    mname name;
    char *text;           /* N_TEXT */
    size_t len;
    size_t *lines;        /* N_TEXT: offsets of line starts inside text */
    size_t nlines;
    char *indent;         /* partial/parent: leading whitespace; block: the
                             indentation to add at expansion */
    size_t ilen;
    nodes body;
    mustache_tpl *target; /* static partial/parent, set when linking */
    const mustache_tpl *owner;
};

enum { L_NEW, L_LINKING, L_OK, L_FAILED };

struct mustache_tpl {
    char *name, *path;
    nodes body;
    node **refs;          /* static partial/parent nodes, to link */
    size_t nrefs;
    int state;
    mustache_tpl *next;   /* hash chain */
};

#define NBUCKETS 256

struct mustache_set {
    pthread_mutex_t mu;   /* guards the table and compilation/linking */
    mustache_loader load;
    void *ud;
    bool strict;
    mustache_tpl *bucket[NBUCKETS];
};

/* ---- small helpers ---- */

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Does a newline ("\n" or "\r\n") start at s[0]? */
static bool newline_at(const char *s, size_t n)
{
    return n > 0 && (s[0] == '\n' || (s[0] == '\r' && n > 1 && s[1] == '\n'));
}

static size_t find(const char *s, size_t len, size_t from, const char *pat, size_t plen)
{
    if (from > len || len - from < plen) return SIZE_MAX;
    const char *p = memmem(s + from, len - from, pat, plen);
    return p ? (size_t)(p - s) : SIZE_MAX;
}

static node *push_node(nodes *ns, int type)
{
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? ns->cap * 2 : 4;
        ns->v = xrealloc(ns->v, ns->cap * sizeof *ns->v);
    }
    node *n = &ns->v[ns->n++];
    memset(n, 0, sizeof *n);
    n->type = (unsigned char)type;
    return n;
}

static void free_nodes(nodes *ns);

static void free_node(node *n)
{
    free(n->name.text);
    free(n->name.segs);
    free(n->text);
    free(n->lines);
    free(n->indent);
    free_nodes(&n->body);
}

static void free_nodes(nodes *ns)
{
    for (size_t i = 0; i < ns->n; i++) free_node(&ns->v[i]);
    free(ns->v);
    ns->v = NULL;
    ns->n = ns->cap = 0;
}

static void free_tpl(mustache_tpl *t)
{
    if (!t) return;
    free_nodes(&t->body);
    free(t->refs);
    free(t->name);
    free(t->path);
    free(t);
}

/* ---- pass 1: tokens ---- */

enum {
    T_TEXT, T_ETAG, T_UTAG,
    /* standalone-capable tags from here on */
    T_SECTION, T_INVERTED, T_CLOSE, T_COMMENT, T_PARTIAL, T_DELIM, T_PARENT, T_BLOCK
};

typedef struct {
    int type;
    size_t s, e;        /* text: live range (standalone cuts shrink it);
                           tag: the whole tag including delimiters */
    size_t ns, ne;      /* tag name, trimmed, without a leading '*' */
    size_t bs, be;      /* standalone tag: its line's leading whitespace */
    size_t match;       /* open/close tag: index of its partner */
    int line, col;
    bool dynamic, standalone;
} tok;

typedef struct {
    const char *src;
    size_t len;
    const char *file;
    diag *d;
    int errors;
    tok *t;
    size_t n, cap;
    size_t lpos;           /* where() has counted lines up to here */
    int line, lcol;
} parser;

static void perr(parser *P, int line, int col, const char *fmt, ...) GZ_PRINTF(4, 5);
static void perr(parser *P, int line, int col, const char *fmt, ...)
{
    buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    diag_add(P->d, DIAG_ERROR, P->file, line, col, "%s", buf_cstr(&b));
    buf_free(&b);
    P->errors++;
}

/* Line and column (in UTF-8 characters) of pos; pos never decreases, so
 * this is linear over the whole source however long its lines are. */
static void where(parser *P, size_t pos, int *line, int *col)
{
    for (; P->lpos < pos; P->lpos++) {
        unsigned char ch = (unsigned char)P->src[P->lpos];
        if (ch == '\n') {
            P->line++;
            P->lcol = 1;
        } else if ((ch & 0xC0) != 0x80) {
            P->lcol++;
        }
    }
    *line = P->line;
    *col = P->lcol;
}

static tok *push_tok(parser *P, int type, size_t s, size_t e)
{
    if (P->n == P->cap) {
        P->cap = P->cap ? P->cap * 2 : 64;
        P->t = xrealloc(P->t, P->cap * sizeof *P->t);
    }
    tok *t = &P->t[P->n++];
    memset(t, 0, sizeof *t);
    t->type = type;
    t->s = s;
    t->e = e;
    return t;
}

static void trim(const char *s, size_t *a, size_t *b)
{
    while (*a < *b && is_ws(s[*a])) (*a)++;
    while (*b > *a && is_ws(s[*b - 1])) (*b)--;
}

static const char *sigil_of(int type)
{
    switch (type) {
    case T_SECTION: return "#";
    case T_INVERTED: return "^";
    case T_PARENT: return "<";
    case T_BLOCK: return "$";
    case T_PARTIAL: return ">";
    default: return "";
    }
}

/* Check the name of tag t: non-empty, no whitespace and, for names looked
 * up in the context, a valid dotted name ("." or non-empty segments). */
static void check_name(parser *P, tok *t, bool dotted)
{
    const char *s = P->src + t->ns;
    size_t n = t->ne - t->ns;
    if (n == 0) {
        perr(P, t->line, t->col, "empty tag name");
        return;
    }
    bool bad = false;
    for (size_t i = 0; i < n; i++)
        if (is_ws(s[i])) bad = true;
    if (dotted && !(n == 1 && s[0] == '.')) {
        if (s[0] == '.' || s[n - 1] == '.') bad = true;
        for (size_t i = 1; i < n; i++)
            if (s[i] == '.' && s[i - 1] == '.') bad = true;
    }
    if (bad) perr(P, t->line, t->col, "invalid tag name \"%.*s\"", (int)n, s);
}

/* Parse "OPEN CLOSE" of a {{=OPEN CLOSE=}} tag. */
static bool parse_delims(const char *s, size_t a, size_t b, size_t *os, size_t *ol,
                         size_t *cs, size_t *cl)
{
    trim(s, &a, &b);
    size_t m = a;
    while (m < b && !is_ws(s[m])) m++;
    size_t c = m;
    while (c < b && is_ws(s[c])) c++;
    if (m == a || c == b) return false;
    for (size_t i = c; i < b; i++)
        if (is_ws(s[i])) return false;
    for (size_t i = a; i < b; i++)
        if (s[i] == '=') return false;
    *os = a;
    *ol = m - a;
    *cs = c;
    *cl = b - c;
    return true;
}

static int tokenize(parser *P)
{
    const char *src = P->src;
    size_t len = P->len;
    const char *o = "{{", *c = "}}";
    size_t ol = 2, cl = 2;
    size_t pos = 0;
    while (pos < len) {
        size_t k = find(src, len, pos, o, ol);
        if (k == SIZE_MAX) {
            push_tok(P, T_TEXT, pos, len);
            break;
        }
        if (k > pos) push_tok(P, T_TEXT, pos, k);
        int line, col;
        where(P, k, &line, &col);
        size_t p = k + ol, q, cs, ce, end;
        int type;
        char sig = p < len ? src[p] : 0;
        if (sig == '{' || sig == '=') {
            /* {{{name}}} and {{=<% %>=}}: the closer is sig' + ctag. */
            char want = sig == '{' ? '}' : '=';
            size_t from = p + 1;
            for (;;) {
                q = find(src, len, from, c, cl);
                if (q == SIZE_MAX || (q > p + 1 && src[q - 1] == want)) break;
                from = q + 1;
            }
            type = sig == '{' ? T_UTAG : T_DELIM;
            cs = p + 1;
            ce = q == SIZE_MAX ? 0 : q - 1;
        } else {
            q = find(src, len, p, c, cl);
            switch (sig) {
            case '#': type = T_SECTION; break;
            case '^': type = T_INVERTED; break;
            case '/': type = T_CLOSE; break;
            case '!': type = T_COMMENT; break;
            case '>': type = T_PARTIAL; break;
            case '&': type = T_UTAG; break;
            case '<': type = T_PARENT; break;
            case '$': type = T_BLOCK; break;
            default: type = T_ETAG; break;
            }
            cs = type == T_ETAG ? p : p + 1;
            ce = q;
        }
        if (q == SIZE_MAX && type == T_DELIM) {
            /* "{{=x}}": closed, but not as a delimiter change. */
            size_t q2 = find(src, len, p, c, cl);
            if (q2 != SIZE_MAX) {
                perr(P, line, col, "bad delimiter change \"%.*s\": want two delimiters "
                     "without '=' separated by a space, like {{=<%% %%>=}}",
                     (int)(q2 + cl - k), src + k);
                pos = q2 + cl;
                continue;
            }
        }
        if (q == SIZE_MAX) {
            perr(P, line, col, "unclosed tag: no \"%.*s\" after \"%.*s\"",
                 (int)cl, c, (int)ol, o);
            return -1;
        }
        end = q + cl;
        tok *t = push_tok(P, type, k, end);
        t->line = line;
        t->col = col;
        t->ns = cs;
        t->ne = ce;
        if (type != T_COMMENT && type != T_DELIM) {
            trim(src, &t->ns, &t->ne);
            if ((type == T_PARTIAL || type == T_PARENT || type == T_CLOSE) &&
                t->ns < t->ne && src[t->ns] == '*') {
                t->dynamic = true;
                t->ns++;
                trim(src, &t->ns, &t->ne);
            }
            bool dotted = type == T_ETAG || type == T_UTAG || type == T_SECTION ||
                          type == T_INVERTED || t->dynamic;
            check_name(P, t, dotted);
        } else if (type == T_DELIM) {
            size_t os, nol, ncs, ncl;
            if (!parse_delims(src, cs, ce, &os, &nol, &ncs, &ncl)) {
                perr(P, line, col, "bad delimiter change \"%.*s\": want two delimiters "
                     "without '=' separated by a space, like {{=<%% %%>=}}",
                     (int)(end - k), src + k);
            } else {
                o = src + os;
                ol = nol;
                c = src + ncs;
                cl = ncl;
            }
        }
        pos = end;
    }
    return P->errors ? -1 : 0;
}

/* ---- pass 2: standalone lines ---- */

static bool same_name(const parser *P, const tok *a, const tok *b)
{
    return a->dynamic == b->dynamic && a->ne - a->ns == b->ne - b->ns &&
           memcmp(P->src + a->ns, P->src + b->ns, a->ne - a->ns) == 0;
}

/* The line from (ltok, lpos) to just before (etok, epos) is standalone:
 * cut its whitespace and the newline ending it, and tell its tags. */
static void mark_line(parser *P, size_t ltok, size_t lpos, size_t etok, size_t epos)
{
    tok *t = P->t;
    size_t first = ltok, bs = lpos, be = lpos;
    if (t[ltok].type == T_TEXT) {
        be = t[ltok].e;
        t[ltok].e = lpos;
        first = ltok + 1;
    }
    /* The spec keeps the newline after a block opened and closed on its
     * own line ("  {{$b}}{{/b}}\n"): the block stands for a line of text. */
    bool keep_nl = false;
    for (size_t k = first; k < etok; k++) {
        if (t[k].type == T_TEXT) {
            t[k].s = t[k].e;
            continue;
        }
        /* Only the first tag of the line owns its indentation (as in
         * mustache.js): "  {{#a}}{{>p}}{{/a}}" does not indent p. */
        t[k].standalone = true;
        t[k].bs = bs;
        t[k].be = be;
        be = bs;
        if (t[k].type == T_BLOCK && k + 1 < etok && t[k + 1].type == T_CLOSE &&
            same_name(P, &t[k], &t[k + 1]))
            keep_nl = true;
    }
    if (etok < P->n) {
        size_t cut = epos;
        if (keep_nl) {
            cut = epos - 1;
            if (cut > t[etok].s && P->src[cut - 1] == '\r') cut--;
        }
        t[etok].s = cut;
    }
}

static void standalone_pass(parser *P)
{
    const char *src = P->src;
    size_t ltok = 0, lpos = 0, ntags = 0;
    bool ok = true;
    for (size_t i = 0; i < P->n; i++) {
        tok *t = &P->t[i];
        if (t->type != T_TEXT) {
            if (t->type < T_SECTION) ok = false;
            ntags++;
            continue;
        }
        for (size_t p = t->s; p < t->e; p++) {
            char ch = src[p];
            if (ch == '\n') {
                if (ok && ntags) mark_line(P, ltok, lpos, i, p + 1);
                ltok = i;
                lpos = p + 1;
                ok = true;
                ntags = 0;
            } else if (!is_blank(ch) && !(ch == '\r' && p + 1 < t->e && src[p + 1] == '\n')) {
                ok = false;
            }
        }
    }
    if (ok && ntags) mark_line(P, ltok, lpos, P->n, P->len);
}

/* ---- pass 3: pair open and close tags ---- */

static bool is_open(int type)
{
    return type == T_SECTION || type == T_INVERTED || type == T_PARENT || type == T_BLOCK;
}

static int match_pass(parser *P)
{
    size_t *stack = NULL, sp = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; i < P->n && rc == 0; i++) {
        tok *t = &P->t[i];
        if (is_open(t->type)) {
            if (sp >= MUSTACHE_MAX_NESTING) {
                perr(P, t->line, t->col, "sections nested more than %d deep",
                     MUSTACHE_MAX_NESTING);
                rc = -1;
                break;
            }
            if (sp == cap) {
                cap = cap ? cap * 2 : 16;
                stack = xrealloc(stack, cap * sizeof *stack);
            }
            stack[sp++] = i;
        } else if (t->type == T_CLOSE) {
            const char *nm = P->src + t->ns;
            int nl = (int)(t->ne - t->ns);
            const char *star = t->dynamic ? "*" : "";
            if (sp == 0) {
                perr(P, t->line, t->col, "closing tag {{/%s%.*s}} without an open section",
                     star, nl, nm);
                rc = -1;
                break;
            }
            tok *o = &P->t[stack[--sp]];
            if (!same_name(P, o, t)) {
                perr(P, t->line, t->col,
                     "closing tag {{/%s%.*s}} does not match {{%s%s%.*s}} opened at %d:%d",
                     star, nl, nm, sigil_of(o->type), o->dynamic ? "*" : "",
                     (int)(o->ne - o->ns), P->src + o->ns, o->line, o->col);
                rc = -1;
                break;
            }
            o->match = i;
            t->match = stack[sp];
        }
    }
    if (rc == 0)
        for (size_t k = 0; k < sp; k++) {
            tok *o = &P->t[stack[k]];
            perr(P, o->line, o->col, "unclosed section {{%s%s%.*s}}", sigil_of(o->type),
                 o->dynamic ? "*" : "", (int)(o->ne - o->ns), P->src + o->ns);
            rc = -1;
        }
    free(stack);
    return rc;
}

/* ---- pass 4: the node tree ---- */

typedef struct {
    parser *P;
    mustache_tpl *tpl;
    buf text;        /* pending text, not yet a node */
    bool text_bol;   /* the pending text starts a line */
    bool at_bol;     /* the next output starts a line */
} builder;

/* Append source text [s, e), dropping up to `strip` blanks at each line
 * start (dedenting a block body). */
static void add_text(builder *B, size_t s, size_t e, size_t strip)
{
    const char *src = B->P->src;
    size_t before = B->text.len;
    size_t p = s;
    while (p < e) {
        if (strip && (p == 0 || src[p - 1] == '\n'))
            for (size_t k = 0; k < strip && p < e && is_blank(src[p]); k++) p++;
        size_t q = p;
        while (q < e && src[q] != '\n') q++;
        if (q < e) q++;
        buf_put(&B->text, src + p, q - p);
        p = q;
    }
    if (B->text.len > before) {
        if (before == 0) B->text_bol = B->at_bol;
        B->at_bol = B->text.ptr[B->text.len - 1] == '\n';
    }
}

static void flush(builder *B, nodes *out)
{
    if (!B->text.len) return;
    node *n = push_node(out, N_TEXT);
    n->len = B->text.len;
    n->text = xstrndup(B->text.ptr, n->len);
    n->owner = B->tpl;
    /* Empty lines are not indented, like the spec's "each line". */
    n->bol = B->text_bol && !newline_at(n->text, n->len);
    size_t cap = 0;
    for (size_t i = 1; i < n->len; i++) {
        if (n->text[i - 1] != '\n' || newline_at(n->text + i, n->len - i)) continue;
        if (n->nlines == cap) {
            cap = cap ? cap * 2 : 4;
            n->lines = xrealloc(n->lines, cap * sizeof *n->lines);
        }
        n->lines[n->nlines++] = i;
    }
    buf_clear(&B->text);
}

static void set_name(node *n, const char *s, size_t len, bool dotted)
{
    n->name.text = xstrndup(s, len);
    n->name.len = len;
    if (!dotted || (len == 1 && s[0] == '.')) return;
    size_t k = 1;
    for (size_t i = 0; i < len; i++) k += s[i] == '.';
    n->name.segs = xmalloc(k * sizeof(seg));
    const char *p = n->name.text, *end = p + len;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot) dot = end;
        n->name.segs[n->name.nseg].s = p;
        n->name.segs[n->name.nseg].n = (size_t)(dot - p);
        n->name.segs[n->name.nseg].hash = value_hash(p, (size_t)(dot - p));
        n->name.segs[n->name.nseg].hint = 0;
        n->name.nseg++;
        p = dot + 1;
    }
}

static void set_indent(node *n, const char *s, size_t len)
{
    n->indent = xstrndup(s, len);
    n->ilen = len;
}

/* The common leading whitespace of the non-blank lines in the body of the
 * standalone block open..close, as (*ms, return value); SIZE_MAX when the
 * body has no such line. */
static size_t block_margin(parser *P, const tok *open, const tok *close, size_t *ms)
{
    const char *src = P->src;
    size_t limit = close->standalone ? close->bs : close->s;
    size_t p = open->e, mlen = SIZE_MAX;
    while (p < limit) {
        const char *nl = memchr(src + p, '\n', limit - p);
        if (!nl) break;
        p = (size_t)(nl - src) + 1;
        size_t w = p;
        while (w < limit && is_blank(src[w])) w++;
        if (w >= limit || newline_at(src + w, limit - w)) continue;
        if (mlen == SIZE_MAX) {
            *ms = p;
            mlen = w - p;
        } else {
            size_t k = 0;
            while (k < mlen && k < w - p && src[*ms + k] == src[p + k]) k++;
            mlen = k;
        }
    }
    return mlen;
}

static void build(builder *B, size_t i, size_t end, size_t strip, nodes *out);

/* A standalone tag's leading whitespace, minus the dedent. */
static void tag_before(const tok *t, size_t strip, size_t *s, size_t *n)
{
    size_t len = t->be - t->bs;
    size_t k = strip < len ? strip : len;
    *s = t->bs + k;
    *n = len - k;
}

static void build_container(builder *B, size_t i, size_t strip, nodes *out)
{
    parser *P = B->P;
    tok *t = &P->t[i];
    size_t j = t->match;
    static const int ntype[] = {[T_SECTION] = N_SECTION, [T_INVERTED] = N_INVERTED,
                                [T_PARENT] = N_PARENT, [T_BLOCK] = N_BLOCK};
    flush(B, out);
    node *n = push_node(out, ntype[t->type]);
    n->line = t->line;
    n->col = t->col;
    n->owner = B->tpl;
    n->dynamic = t->dynamic;
    n->standalone = t->standalone;
    set_name(n, P->src + t->ns, t->ne - t->ns,
             t->type == T_SECTION || t->type == T_INVERTED || t->dynamic);
    if (!t->standalone) {
        n->bol = B->at_bol;
        B->at_bol = false;
    }
    size_t inner = strip, bs, bn;
    if (t->standalone) tag_before(t, strip, &bs, &bn);
    if (t->type == T_PARENT && t->standalone) set_indent(n, P->src + bs, bn);
    if (t->type == T_BLOCK && t->standalone) {
        size_t ms = 0, ml = block_margin(P, t, &P->t[j], &ms);
        if (ml != SIZE_MAX && ml > strip) {
            set_indent(n, P->src + ms + strip, ml - strip);  /* intrinsic indentation */
            inner = ml;
        } else {
            set_indent(n, P->src + bs, bn);
        }
    }
    build(B, i + 1, j, inner, &n->body);
    if (!P->t[j].standalone) {
        if (B->at_bol) {
            /* The close tag starts a line: indent it inside the section. */
            flush(B, &n->body);
            push_node(&n->body, N_INDENT)->bol = true;
        }
        B->at_bol = false;
    }
    flush(B, &n->body);
    if (n->type == N_PARENT) {
        /* Only the blocks inside a parent tag matter: they are its arguments. */
        size_t k = 0;
        for (size_t m = 0; m < n->body.n; m++) {
            node *a = &n->body.v[m];
            if (a->type != N_BLOCK) {
                free_node(a);
                continue;
            }
            /* An argument ends where its close tag is; what follows that
             * tag on its line is not part of it, so neither is its indent. */
            if (a->body.n && a->body.v[a->body.n - 1].type == N_INDENT) a->body.n--;
            n->body.v[k++] = *a;
        }
        n->body.n = k;
    }
}

static void build(builder *B, size_t i, size_t end, size_t strip, nodes *out)
{
    parser *P = B->P;
    while (i < end) {
        tok *t = &P->t[i];
        switch (t->type) {
        case T_TEXT:
            add_text(B, t->s, t->e, strip);
            break;
        case T_COMMENT:
        case T_DELIM:
            break;   /* no output; a following tag inherits the line start */
        case T_ETAG:
        case T_UTAG:
        case T_PARTIAL: {
            flush(B, out);
            int type = t->type == T_ETAG ? N_ETAG : t->type == T_UTAG ? N_UTAG : N_PARTIAL;
            node *n = push_node(out, type);
            n->line = t->line;
            n->col = t->col;
            n->owner = B->tpl;
            n->dynamic = t->dynamic;
            n->standalone = t->standalone;
            set_name(n, P->src + t->ns, t->ne - t->ns, type != N_PARTIAL || t->dynamic);
            if (t->standalone) {
                size_t bs, bn;
                tag_before(t, strip, &bs, &bn);
                set_indent(n, P->src + bs, bn);
            } else {
                n->bol = B->at_bol;
                B->at_bol = false;
            }
            break;
        }
        case T_SECTION:
        case T_INVERTED:
        case T_PARENT:
        case T_BLOCK:
            build_container(B, i, strip, out);
            i = t->match;
            break;
        default:
            break;   /* T_CLOSE never reaches here: containers consume it */
        }
        i++;
    }
}

static void collect_refs(mustache_tpl *t, nodes *ns, size_t *cap)
{
    for (size_t i = 0; i < ns->n; i++) {
        node *n = &ns->v[i];
        if ((n->type == N_PARTIAL || n->type == N_PARENT) && !n->dynamic) {
            if (t->nrefs == *cap) {
                *cap = *cap ? *cap * 2 : 8;
                t->refs = xrealloc(t->refs, *cap * sizeof *t->refs);
            }
            t->refs[t->nrefs++] = n;
        }
        collect_refs(t, &n->body, cap);
    }
}

/* Compile; takes path (may be NULL). NULL with errors in d. */
static mustache_tpl *compile(const char *name, const char *src, size_t len, char *path,
                             diag *d)
{
    mustache_tpl *t = xcalloc(1, sizeof *t);
    t->name = xstrdup(name);
    t->path = path ? path : xstrdup(name);
    parser P = {.src = src, .len = len, .file = t->path, .d = d, .line = 1, .lcol = 1};
    int rc = tokenize(&P);
    if (rc == 0) {
        standalone_pass(&P);
        rc = match_pass(&P);
    }
    if (rc == 0) {
        builder B = {.P = &P, .tpl = t, .at_bol = true};
        build(&B, 0, P.n, 0, &t->body);
        flush(&B, &t->body);
        buf_free(&B.text);
        size_t cap = 0;
        collect_refs(t, &t->body, &cap);
    }
    free(P.t);
    if (rc != 0) {
        free_tpl(t);
        return NULL;
    }
    return t;
}

/* ---- the set ---- */

static unsigned hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h % NBUCKETS;
}

static mustache_tpl *lookup_tpl(mustache_set *s, const char *name)
{
    for (mustache_tpl *t = s->bucket[hash(name)]; t; t = t->next)
        if (strcmp(t->name, name) == 0) return t;
    return NULL;
}

static void insert_tpl(mustache_set *s, mustache_tpl *t)
{
    unsigned h = hash(t->name);
    t->next = s->bucket[h];
    s->bucket[h] = t;
}

mustache_set *mustache_set_new(mustache_loader load, void *ud)
{
    mustache_set *s = xcalloc(1, sizeof *s);
    pool_mutex_init(&s->mu);
    s->load = load;
    s->ud = ud;
    return s;
}

void mustache_set_free(mustache_set *s)
{
    if (!s) return;
    for (size_t i = 0; i < NBUCKETS; i++)
        for (mustache_tpl *t = s->bucket[i], *nx; t; t = nx) {
            nx = t->next;
            free_tpl(t);
        }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void mustache_set_strict(mustache_set *s, bool strict)
{
    pthread_mutex_lock(&s->mu);
    s->strict = strict;
    pthread_mutex_unlock(&s->mu);
}

const char *mustache_tpl_name(const mustache_tpl *t) { return t->name; }
const char *mustache_tpl_path(const mustache_tpl *t) { return t->path; }

int mustache_add(mustache_set *s, const char *name, const char *src, size_t len,
                 const char *path, diag *d)
{
    pthread_mutex_lock(&s->mu);
    int rc = -1;
    if (lookup_tpl(s, name)) {
        diag_add(d, DIAG_ERROR, path ? path : name, 0, 0,
                 "template \"%s\" is already defined", name);
    } else {
        mustache_tpl *t = compile(name, src, len, path ? xstrdup(path) : NULL, d);
        if (t) {
            insert_tpl(s, t);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Find or load+compile `name` (mutex held). *missing: no such template. */
static mustache_tpl *find_or_load(mustache_set *s, const char *name, diag *d, bool *missing)
{
    *missing = false;
    mustache_tpl *t = lookup_tpl(s, name);
    if (t) return t;
    if (!s->load) {
        *missing = true;
        return NULL;
    }
    char *src = NULL, *path = NULL;
    size_t len = 0;
    int r = s->load(s->ud, name, &src, &len, &path);
    if (r != 0) {
        free(src);
        free(path);
        if (r > 0) *missing = true;
        else diag_add(d, DIAG_ERROR, NULL, 0, 0, "cannot load template \"%s\"", name);
        return NULL;
    }
    t = compile(name, src ? src : "", src ? len : 0, path, d);
    free(src);
    if (t) insert_tpl(s, t);
    return t;
}

/* Resolve every static partial/parent of t, transitively (mutex held). */
static int link_tpl(mustache_set *s, mustache_tpl *t, diag *d)
{
    if (t->state == L_OK || t->state == L_LINKING) return 0;
    t->state = L_LINKING;
    int rc = 0;
    for (size_t i = 0; i < t->nrefs; i++) {
        node *r = t->refs[i];
        if (!r->target) {
            bool missing;
            mustache_tpl *x = find_or_load(s, r->name.text, d, &missing);
            __atomic_store_n(&r->target, x, __ATOMIC_RELEASE);
            if (!x) {
                if (!missing || s->strict) rc = -1;
                if (missing && s->strict)
                    diag_add(d, DIAG_ERROR, t->path, r->line, r->col, "unknown %s \"%s\"",
                             r->type == N_PARENT ? "parent template" : "partial",
                             r->name.text);
                continue;
            }
        }
        if (link_tpl(s, r->target, d) < 0) rc = -1;
    }
    t->state = rc ? L_FAILED : L_OK;
    return rc;
}

/* mustache_get with the mutex held. */
static const mustache_tpl *get_locked(mustache_set *s, const char *name, diag *d,
                                      bool *missing)
{
    mustache_tpl *t = find_or_load(s, name, d, missing);
    if (!t) return NULL;
    if (t->state == L_FAILED) t->state = L_NEW;   /* retry: partials may exist now */
    return link_tpl(s, t, d) == 0 ? t : NULL;
}

const mustache_tpl *mustache_get(mustache_set *s, const char *name, diag *d)
{
    bool missing;
    pthread_mutex_lock(&s->mu);
    const mustache_tpl *t = get_locked(s, name, d, &missing);
    if (!t && missing) diag_add(d, DIAG_ERROR, NULL, 0, 0, "unknown template \"%s\"", name);
    pthread_mutex_unlock(&s->mu);
    return t;
}

/* ---- rendering ---- */

/* The blocks passed to one {{<parent}}, and the parents around it. */
typedef struct frame {
    const nodes *args;
    const struct frame *outer;
} frame;

/* The current indentation: a range of rstate.ind. */
typedef struct {
    size_t off, len;
} indent;

/* ---- the memo of list items (mustache.h) ---- */

typedef struct {
    const void *node;         /* the section; NULL: empty slot */
    value *item;              /* a reference */
    char *bytes;
    size_t len;
} memo_entry;

/* An entry's key, in the order of insertion (the ring m->fifo). */
typedef struct {
    const void *node;
    const value *item;
} memo_key;

struct mustache_memo {
    pthread_mutex_t mu;
    memo_entry *slot;
    size_t nslots, used, hits;
    size_t bytes, max_bytes;  /* held; allowed (0: any) */
    memo_key *fifo;           /* with max_bytes: the entries, oldest first */
    size_t fhead, fcount, fcap;
};

mustache_memo *mustache_memo_new(size_t max_bytes)
{
    mustache_memo *m = xcalloc(1, sizeof *m);
    m->max_bytes = max_bytes;
    pool_mutex_init(&m->mu);
    return m;
}

void mustache_memo_free(mustache_memo *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slot[i].node) {
            value_unref(m->slot[i].item);
            free(m->slot[i].bytes);
        }
    free(m->slot);
    free(m->fifo);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void mustache_memo_counts(mustache_memo *m, size_t *items, size_t *hits)
{
    pthread_mutex_lock(&m->mu);
    *items = m->used;
    *hits = m->hits;
    pthread_mutex_unlock(&m->mu);
}

/* The slot a key hashes to (before probing). */
static size_t memo_home(size_t nslots, const void *nd, const value *item)
{
    uint64_t h = ((uint64_t)(uintptr_t)nd * 0x9E3779B97F4A7C15u) ^ (uint64_t)(uintptr_t)item;
    h *= 0xD6E8FEB86659FD93u;
    return (size_t)(h >> 17) & (nslots - 1);
}

static size_t memo_at(const memo_entry *slot, size_t nslots, const void *nd, const value *item)
{
    size_t i = memo_home(nslots, nd, item);
    while (slot[i].node && !(slot[i].node == nd && slot[i].item == item)) i = (i + 1) & (nslots - 1);
    return i;
}

/* Forget the entry in slot i (mu held): the entries after it in its
 * probe run move back, so that every lookup still finds its own. */
static void memo_remove(mustache_memo *m, size_t i)
{
    memo_entry *e = &m->slot[i];
    value_unref(e->item);
    free(e->bytes);
    m->bytes -= e->len;
    m->used--;
    size_t mask = m->nslots - 1;
    for (size_t j = i;;) {
        m->slot[i].node = NULL;
        for (;;) {
            j = (j + 1) & mask;
            if (!m->slot[j].node) return;
            size_t k = memo_home(m->nslots, m->slot[j].node, m->slot[j].item);
            /* j's entry stays when its home lies cyclically in (i, j] */
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
            break;
        }
        m->slot[i] = m->slot[j];
        i = j;
    }
}

/* Room for n more bytes (mu held): the oldest entries are forgotten first.
 * List pages render in the order of their newest item (build.c), so the
 * items a page shows were mostly remembered by the pages just before it,
 * and a memo smaller than all the items still answers most renders. */
static bool memo_room(mustache_memo *m, size_t n)
{
    if (n > m->max_bytes) return false;
    while (m->bytes + n > m->max_bytes && m->fcount) {
        memo_key k = m->fifo[m->fhead];
        m->fhead = (m->fhead + 1) % m->fcap;
        m->fcount--;
        size_t i = memo_at(m->slot, m->nslots, k.node, k.item);
        if (m->slot[i].node) memo_remove(m, i);
    }
    return m->bytes + n <= m->max_bytes;
}

static void memo_remember(mustache_memo *m, const void *nd, const value *item)
{
    if (m->fcount == m->fcap) {
        size_t ncap = m->fcap ? 2 * m->fcap : 1024;
        memo_key *nf = xmalloc(ncap * sizeof *nf);
        for (size_t k = 0; k < m->fcount; k++) nf[k] = m->fifo[(m->fhead + k) % m->fcap];
        free(m->fifo);
        m->fifo = nf;
        m->fcap = ncap;
        m->fhead = 0;
    }
    m->fifo[(m->fhead + m->fcount++) % m->fcap] = (memo_key){nd, item};
}

/* Append the remembered output of section nd for item to out; false if none. */
static bool memo_get(mustache_memo *m, const void *nd, const value *item, buf *out)
{
    bool hit = false;
    pthread_mutex_lock(&m->mu);
    if (m->nslots) {
        const memo_entry *e = &m->slot[memo_at(m->slot, m->nslots, nd, item)];
        if (e->node) {
            buf_put(out, e->bytes, e->len);
            m->hits++;
            hit = true;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return hit;
}

static void memo_put(mustache_memo *m, const void *nd, value *item, const char *p, size_t n)
{
    pthread_mutex_lock(&m->mu);
    /* (another thread may have put it first: then nothing to forget) */
    bool have = m->nslots && m->slot[memo_at(m->slot, m->nslots, nd, item)].node;
    if (have || (m->max_bytes && !memo_room(m, n))) {
        pthread_mutex_unlock(&m->mu);
        return;
    }
    if (2 * (m->used + 1) > m->nslots) {
        size_t ns = m->nslots ? 2 * m->nslots : 1024;
        memo_entry *nv = xcalloc(ns, sizeof *nv);
        for (size_t i = 0; i < m->nslots; i++)
            if (m->slot[i].node) nv[memo_at(nv, ns, m->slot[i].node, m->slot[i].item)] = m->slot[i];
        free(m->slot);
        m->slot = nv;
        m->nslots = ns;
    }
    memo_entry *e = &m->slot[memo_at(m->slot, m->nslots, nd, item)];
    e->node = nd;
    e->item = value_ref(item);
    e->bytes = xmalloc(n ? n : 1);
    memcpy(e->bytes, p, n);
    e->len = n;
    m->used++;
    m->bytes += n;
    if (m->max_bytes) memo_remember(m, nd, item);
    pthread_mutex_unlock(&m->mu);
}

typedef struct {
    mustache_set *set;
    buf *out;
    diag *d;
    mustache_memo *memo;
    size_t floor;             /* items being remembered: the stack index of
                                 the innermost one (0: none) */
    bool escaped;             /* its output depends on more than the item */
    const value **stk;        /* the context stack */
    size_t sn, scap;
    const value *stk0[32];
    buf ind;                  /* storage for indentation strings */
    int depth;                /* partial/parent expansions */
    int nest;                 /* sections, blocks and expansions: bounds
                                 the C stack however templates nest */
} rstate;

static int render_list(rstate *st, const nodes *ns, const frame *fr, indent in);

/* buf_put with the room check inline: text nodes are most of the calls
 * (two per tag on average), and most need no growth. */
static inline void put(buf *b, const char *p, size_t n)
{
    if (b->cap - b->len > n) {
        memcpy(b->ptr + b->len, p, n);
        b->len += n;
        b->ptr[b->len] = 0;
    } else {
        buf_put(b, p, n);
    }
}

/* {{name}} of string v (bytes s, n): HTML-escaped. Most strings escape to
 * themselves, and many are rendered again and again (the site's title on
 * every page, a document's title and URL on each list that holds it), so
 * the string remembers whether escaping changed it (the output grows by 3+
 * bytes per escaped byte) and later renders copy it without scanning. */
static void put_escaped(buf *out, const value *v, const char *s, size_t n, unsigned memo)
{
    if (memo == VALUE_MEMO_HTML_PLAIN) {
        put(out, s, n);
        return;
    }
    size_t before = out->len;
    esc_html(out, s, n);
    if (!memo)
        value_str_memo(v, out->len - before == n ? VALUE_MEMO_HTML_PLAIN
                                                 : VALUE_MEMO_HTML_ESCAPES);
}

static void put_indent(rstate *st, indent in)
{
    if (in.len) put(st->out, st->ind.ptr + in.off, in.len);
}

/* The indentation cur + s (restore with st->ind.len = the old length). */
static indent ind_push(rstate *st, indent cur, const char *s, size_t n)
{
    if (!n) return cur;
    buf_grow(&st->ind, cur.len + n);
    char *p = st->ind.ptr + st->ind.len;
    memcpy(p, st->ind.ptr + cur.off, cur.len);
    memcpy(p + cur.len, s, n);
    indent r = {st->ind.len, cur.len + n};
    st->ind.len += cur.len + n;
    return r;
}

static void push_ctx(rstate *st, const value *v)
{
    if (st->sn == st->scap) {
        st->scap *= 2;
        if (st->stk == st->stk0) {
            st->stk = xmalloc(st->scap * sizeof *st->stk);
            memcpy(st->stk, st->stk0, sizeof st->stk0);
        } else {
            st->stk = xrealloc(st->stk, st->scap * sizeof *st->stk);
        }
    }
    st->stk[st->sn++] = v;
}

/* Resolve a name against the context stack (spec "Interpolation"): the
 * first segment in the innermost map that has it, the rest each in the
 * previous result only. NULL when missing. */
static const value *lookup(rstate *st, const mname *nm)
{
    if (nm->nseg == 0) return st->sn ? st->stk[st->sn - 1] : NULL;
    const value *v = NULL;
    /* The hints are the only part of a compiled template written while
     * rendering (segs points to mutable storage even in a const node). */
    seg *s0 = &nm->segs[0];
    size_t i = st->sn;
    while (i-- > 0) {
        /* NULL unless a map */
        v = value_getnh_hint(st->stk[i], s0->s, s0->n, s0->hash, &s0->hint);
        if (v) break;
    }
    /* Found below the item being remembered, or not found after asking
     * the contexts around it: its output depends on them. */
    if (st->floor && (!v || i < st->floor)) st->escaped = true;
    for (size_t k = 1; v && k < nm->nseg; k++) {
        seg *sk = &nm->segs[k];
        v = value_getnh_hint(v, sk->s, sk->n, sk->hash, &sk->hint);
    }
    return v;
}

static void emit_text(rstate *st, const node *n, indent in)
{
    if (!in.len || (!n->bol && !n->nlines)) {
        put(st->out, n->text, n->len);
        return;
    }
    if (n->bol) put_indent(st, in);
    size_t prev = 0;
    for (size_t k = 0; k < n->nlines; k++) {
        put(st->out, n->text + prev, n->lines[k] - prev);
        put_indent(st, in);
        prev = n->lines[k];
    }
    put(st->out, n->text + prev, n->len - prev);
}

static void rerr(rstate *st, const node *n, const char *fmt, const char *arg)
{
    diag_add(st->d, DIAG_ERROR, n->owner ? n->owner->path : NULL, n->line, n->col, fmt, arg);
}

/* Enter one more level of nesting at node n; false (and an error) when
 * that is too deep. Each level costs a few C stack frames. */
static bool enter(rstate *st, const node *n)
{
    if (st->nest >= MUSTACHE_MAX_NEST_TOTAL) {
        diag_add(st->d, DIAG_ERROR, n->owner ? n->owner->path : NULL, n->line, n->col,
                 "templates nested more than %d deep while rendering",
                 MUSTACHE_MAX_NEST_TOTAL);
        return false;
    }
    st->nest++;
    return true;
}

/* Data names templates through dynamic names ({{>*kind}}): only plain
 * relative names, so data cannot reach outside the templates directory. */
static bool safe_template_name(const char *s, size_t n)
{
    if (n == 0 || s[0] == '/' || strlen(s) != n) return false;
    for (size_t i = 0; i < n; i++) {
        if (is_ws(s[i]) || (unsigned char)s[i] < 0x20 || s[i] == '\\') return false;
        if (s[i] == '.' && i + 1 < n && s[i + 1] == '.') return false;
    }
    return true;
}

/* The template a partial/parent node names, or NULL (render nothing).
 * *rc = -1 on error. */
static const mustache_tpl *target_of(rstate *st, const node *n, int *rc)
{
    *rc = 0;
    if (!n->dynamic) {
        /* Written once when linking (maybe by another thread, under the
         * set's mutex, if a failed link is retried). */
        const mustache_tpl *t = __atomic_load_n(&n->target, __ATOMIC_ACQUIRE);
        if (!t && st->set->strict) {
            rerr(st, n, "unknown partial \"%s\"", n->name.text);
            *rc = -1;
        }
        return t;
    }
    const value *v = lookup(st, &n->name);
    if (value_type(v) != V_STRING) return NULL;   /* spec: failed lookup renders nothing */
    const char *name = value_str_ptr(v);
    bool missing = true, strict;
    mustache_set *s = st->set;
    const mustache_tpl *t = NULL;
    pthread_mutex_lock(&s->mu);
    if (safe_template_name(name, value_str_len(v))) t = get_locked(s, name, st->d, &missing);
    strict = s->strict;
    pthread_mutex_unlock(&s->mu);
    if (!t && (!missing || strict)) {
        *rc = -1;
        if (missing) rerr(st, n, "unknown partial \"%s\"", name);
        else rerr(st, n, "partial \"%s\" has errors", name);
    }
    return t;
}

/* {{>partial}} and {{<parent}}: render another template here. */
static int render_include(rstate *st, const node *n, const frame *fr, indent in)
{
    int rc;
    const mustache_tpl *t = target_of(st, n, &rc);
    if (!t) return rc;
    if (st->depth >= MUSTACHE_MAX_DEPTH) {
        diag_add(st->d, DIAG_ERROR, n->owner->path, n->line, n->col,
                 "partial \"%s\" nested more than %d deep (runaway recursion?)", t->name,
                 MUSTACHE_MAX_DEPTH);
        return -1;
    }
    if (!enter(st, n)) return -1;
    size_t mark = st->ind.len;
    /* Only a standalone tag indents the template it includes. */
    indent in2 = n->standalone ? ind_push(st, in, n->indent, n->ilen) : (indent){0, 0};
    frame f = {&n->body, fr};
    st->depth++;
    rc = render_list(st, &t->body, n->type == N_PARENT ? &f : fr, in2);
    st->depth--;
    st->nest--;
    st->ind.len = mark;
    return rc;
}

/* {{$block}}: the outermost parent's argument of that name, else the
 * default content. */
static int render_block(rstate *st, const node *n, const frame *fr, indent in)
{
    const node *arg = NULL;
    const frame *from = NULL;
    for (const frame *f = fr; f; f = f->outer)
        for (size_t k = 0; k < f->args->n; k++) {
            const node *a = &f->args->v[k];
            if (a->name.len == n->name.len && memcmp(a->name.text, n->name.text, n->name.len) == 0) {
                arg = a;
                from = f;
                break;
            }
        }
    if (!enter(st, n)) return -1;
    st->escaped = true;      /* (what a block renders depends on the templates around) */
    size_t mark = st->ind.len;
    int rc;
    if (arg) {
        /* An argument is rendered where the block is, in the current context;
         * blocks inside it can only be overridden from further out. */
        indent in2 = n->standalone ? ind_push(st, in, n->indent, n->ilen) : (indent){0, 0};
        rc = render_list(st, &arg->body, from->outer, in2);
    } else {
        indent in2 = n->standalone ? ind_push(st, in, n->indent, n->ilen) : in;
        rc = render_list(st, &n->body, fr, in2);
    }
    st->ind.len = mark;
    st->nest--;
    return rc;
}

static int render_section(rstate *st, const node *n, const frame *fr, indent in)
{
    const value *v = lookup(st, &n->name);
    bool list = value_type(v) == V_LIST;
    if (n->type == N_INVERTED ? value_truthy(v) : list ? value_len(v) == 0 : !value_truthy(v))
        return 0;
    if (!enter(st, n)) return -1;
    int rc = 0;
    if (n->type == N_INVERTED) {
        rc = render_list(st, &n->body, fr, in);
    } else if (list) {
        size_t len = value_len(v);
        for (size_t i = 0; i < len && rc == 0; i++) {
            value *item = value_at(v, i);
            bool remember = st->memo && st->sn && !in.len && value_type(item) == V_MAP && value_stable(item);
            if (remember && memo_get(st->memo, n, item, st->out)) continue;
            size_t floor = st->floor, start = st->out->len;
            bool escaped = st->escaped;
            push_ctx(st, item);
            if (remember) {
                st->floor = st->sn - 1;
                st->escaped = false;
            }
            rc = render_list(st, &n->body, fr, in);
            st->sn--;
            if (remember) {
                if (!st->escaped && rc == 0)
                    memo_put(st->memo, n, item, st->out->ptr + start, st->out->len - start);
                /* (an item that looked outside itself may have looked
                 * outside an item around it too) */
                st->escaped = escaped || st->escaped;
                st->floor = floor;
            }
        }
    } else {
        push_ctx(st, v);
        rc = render_list(st, &n->body, fr, in);
        st->sn--;
    }
    st->nest--;
    return rc;
}

static int render_list(rstate *st, const nodes *ns, const frame *fr, indent in)
{
    for (size_t i = 0; i < ns->n; i++) {
        const node *n = &ns->v[i];
        if (n->type == N_TEXT) {
            emit_text(st, n, in);
            continue;
        }
        if (n->bol) put_indent(st, in);
        int rc = 0;
        switch (n->type) {
        case N_ETAG: {
            const value *v = lookup(st, &n->name);
            const char *s;
            size_t len;
            unsigned memo;
            /* Numbers and booleans need no escaping. */
            if (value_str_view(v, &s, &len, &memo)) put_escaped(st->out, v, s, len, memo);
            else value_to_text(st->out, v);
            break;
        }
        case N_UTAG:
            value_to_text(st->out, lookup(st, &n->name));
            break;
        case N_SECTION:
        case N_INVERTED:
            rc = render_section(st, n, fr, in);
            break;
        case N_PARTIAL:
        case N_PARENT:
            rc = render_include(st, n, fr, in);
            break;
        case N_BLOCK:
            rc = render_block(st, n, fr, in);
            break;
        default:
            break;   /* N_INDENT: done above */
        }
        if (rc) return rc;
    }
    return 0;
}

int mustache_render(mustache_set *s, const mustache_tpl *t, const value *ctx, buf *out,
                    diag *d)
{
    return mustache_render_memo(s, t, ctx, out, d, NULL);
}

int mustache_render_memo(mustache_set *s, const mustache_tpl *t, const value *ctx, buf *out,
                         diag *d, mustache_memo *m)
{
    if (!t) {
        diag_add(d, DIAG_ERROR, NULL, 0, 0, "no template to render");
        return -1;
    }
    rstate st = {.set = s, .out = out, .d = d, .memo = m, .sn = 0};
    st.stk = st.stk0;
    st.scap = sizeof st.stk0 / sizeof st.stk0[0];
    buf_init(&st.ind);
    if (ctx) push_ctx(&st, ctx);
    int rc = render_list(&st, &t->body, NULL, (indent){0, 0});
    if (st.stk != st.stk0) free(st.stk);
    buf_free(&st.ind);
    return rc;
}
