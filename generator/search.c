/* search.c - see search.h for the index format and the token rules. */
#include "search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX 64          /* bytes; longer words are cut at a char boundary */
#define DOC_CHUNK 8           /* docs per docs/N.json: a result page of 10
                                 touches at most 10 small files */
#define SHARD_TARGET 24000    /* aim for about this many bytes per shard */
#define SHARD_MAX 4096
#define SNIPPET_CHARS 110     /* code points of body text kept for snippets */

/* ---- characters ---------------------------------------------------- */

enum { C_SEP, C_CJK, C_WORD };

/* Class of a code point and its folded form (lowercase ASCII). The same
 * table is in search.js (charClass). */
static int char_class(uint32_t cp, uint32_t *fold)
{
    *fold = cp;
    if (cp < 0x80) {
        if (cp >= 'A' && cp <= 'Z') { *fold = cp + 32; return C_WORD; }
        if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) return C_WORD;
        return C_SEP;
    }
    if (cp >= 0xFF10 && cp <= 0xFF19) { *fold = cp - 0xFF10 + '0'; return C_WORD; }
    if (cp >= 0xFF21 && cp <= 0xFF3A) { *fold = cp - 0xFF21 + 'a'; return C_WORD; }
    if (cp >= 0xFF41 && cp <= 0xFF5A) { *fold = cp - 0xFF41 + 'a'; return C_WORD; }
    if ((cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
        (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x3040 && cp <= 0x30FF) ||
        (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x20000 && cp <= 0x2FFFF) ||
        cp == 0x3005 || cp == 0x3007)
        return C_CJK;
    if ((cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) ||
        (cp >= 0x370 && cp <= 0x4FF))
        return C_WORD;
    return C_SEP;
}

uint32_t search_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* ---- tokenizer ----------------------------------------------------- */

void search_tokenize(const char *s, size_t n,
                     void (*fn)(const char *tok, size_t len, void *ctx), void *ctx)
{
    if (!s) return;
    buf word = BUF_INIT;
    char prev[8];               /* previous CJK char's UTF-8, for bigrams */
    size_t prevlen = 0;
    size_t i = 0;
    while (i <= n) {
        uint32_t cp = 0, f = 0;
        size_t used = 1;
        int cls = C_SEP;
        if (i < n) {
            used = utf8_decode(s + i, n - i, &cp);
            cls = char_class(cp, &f);
        }
        if (cls != C_WORD && word.len) {
            fn(word.ptr, word.len, ctx);
            buf_clear(&word);
        }
        if (cls != C_CJK) prevlen = 0;
        if (cls == C_WORD) {
            size_t before = word.len;
            utf8_encode(&word, f);
            if (word.len > TOKEN_MAX) word.len = before;   /* cut, whole chars only */
            word.ptr[word.len] = 0;
        } else if (cls == C_CJK) {
            buf one = BUF_INIT;
            utf8_encode(&one, f);
            fn(one.ptr, one.len, ctx);
            if (prevlen) {
                char pair[16];
                memcpy(pair, prev, prevlen);
                memcpy(pair + prevlen, one.ptr, one.len);
                fn(pair, prevlen + one.len, ctx);
            }
            memcpy(prev, one.ptr, one.len);
            prevlen = one.len;
            buf_free(&one);
        }
        i += used;
    }
    buf_free(&word);
}

void search_norm_docnum(buf *out, const char *s)
{
    if (!s) return;
    size_t n = strlen(s), i = 0, start = out->len;
    while (i < n) {
        uint32_t cp, f;
        i += utf8_decode(s + i, n - i, &cp);
        if (char_class(cp, &f) != C_SEP && out->len - start < TOKEN_MAX)
            utf8_encode(out, f);
    }
    if (!out->ptr) buf_puts(out, "");
}

/* ---- the inverted index -------------------------------------------- */

typedef struct {
    uint32_t doc;
    uint8_t mask, tf;
} posting;

typedef struct {
    char *tok;
    size_t len;
    uint32_t hash;
    posting *p;
    size_t np, cap;
} term;

typedef struct {
    term *terms;            /* open addressing, cap a power of two */
    size_t cap, n;
    uint32_t doc;           /* the document being added */
} index_t;

static term *lookup(index_t *ix, const char *tok, size_t len)
{
    if ((ix->n + 1) * 2 > ix->cap) {              /* keep load under 1/2 */
        size_t ncap = ix->cap ? ix->cap * 2 : 1024;
        term *nt = xcalloc(ncap, sizeof *nt);
        for (size_t i = 0; i < ix->cap; i++) {
            if (!ix->terms[i].tok) continue;
            size_t j = ix->terms[i].hash & (ncap - 1);
            while (nt[j].tok) j = (j + 1) & (ncap - 1);
            nt[j] = ix->terms[i];
        }
        free(ix->terms);
        ix->terms = nt;
        ix->cap = ncap;
    }
    uint32_t h = search_hash(tok, len);
    size_t j = h & (ix->cap - 1);
    while (ix->terms[j].tok) {
        term *t = &ix->terms[j];
        if (t->hash == h && t->len == len && !memcmp(t->tok, tok, len)) return t;
        j = (j + 1) & (ix->cap - 1);
    }
    term *t = &ix->terms[j];
    t->tok = xstrndup(tok, len);
    t->len = len;
    t->hash = h;
    ix->n++;
    return t;
}

/* Record one occurrence of tok in the current doc: field bit, or body
 * (mask 0) which counts occurrences. */
static void add(index_t *ix, const char *tok, size_t len, uint8_t mask)
{
    if (!len) return;
    term *t = lookup(ix, tok, len);
    if (!t->np || t->p[t->np - 1].doc != ix->doc) {
        if (t->np == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 4;
            t->p = xrealloc(t->p, t->cap * sizeof *t->p);
        }
        t->p[t->np++] = (posting){ix->doc, 0, 0};
    }
    posting *p = &t->p[t->np - 1];
    if (mask) p->mask |= mask;
    else if (p->tf < 3) p->tf++;
}

typedef struct { index_t *ix; uint8_t mask; } add_ctx;

static void add_cb(const char *tok, size_t len, void *ctx)
{
    add_ctx *a = ctx;
    add(a->ix, tok, len, a->mask);
}

static void add_text(index_t *ix, const char *s, uint8_t mask)
{
    if (!s) return;
    add_ctx a = {ix, mask};
    search_tokenize(s, strlen(s), add_cb, &a);
}

static void add_str(index_t *ix, const char *s, uint8_t mask)
{
    if (s) add(ix, s, strlen(s), mask);
}

static void index_free(index_t *ix)
{
    for (size_t i = 0; i < ix->cap; i++) {
        free(ix->terms[i].tok);
        free(ix->terms[i].p);
    }
    free(ix->terms);
}

static void index_doc(index_t *ix, const search_doc *d)
{
    add_text(ix, d->title, SEARCH_F_TITLE);
    if (d->doc_number && *d->doc_number) {
        add_text(ix, d->doc_number, SEARCH_F_DOCNUM);
        buf b = BUF_INIT;
        search_norm_docnum(&b, d->doc_number);
        if (b.len) add(ix, b.ptr, b.len, SEARCH_F_DOCNUM);
        buf_free(&b);
    }
    add_text(ix, d->issuer, SEARCH_F_ISSUER);
    add_text(ix, d->category, SEARCH_F_CATEGORY);
    if (d->date) {
        /* "2017-09-29": 2017, 09, 29 and also 9, so that 2017年9月 works */
        add_text(ix, d->date, SEARCH_F_DATE);
        for (int k = 5; k <= 8; k += 3)
            if (strlen(d->date) >= (size_t)k + 2 && d->date[k] == '0')
                add(ix, d->date + k + 1, 1, SEARCH_F_DATE);
    }
    for (size_t i = 0; i < d->ntags; i++) add_text(ix, d->tags[i], SEARCH_F_TAGS);
    for (size_t i = 0; i < d->ndistricts; i++) {
        if (!d->districts[i]) continue;
        add_text(ix, d->districts[i], SEARCH_F_DISTRICT);
        if (d->district_names && d->district_names[i])
            add_text(ix, d->district_names[i], SEARCH_F_DISTRICT);
        char *f = xasprintf("d:%s", d->districts[i]);
        add_str(ix, f, SEARCH_F_DISTRICT);
        free(f);
    }
    add_text(ix, d->text, 0);
}

/* ---- output -------------------------------------------------------- */

static const char *nz(const char *s) { return s ? s : ""; }

/* A JSON string; invalid UTF-8 becomes U+FFFD so the file always parses. */
static void json_str(buf *b, const char *s)
{
    buf_putc(b, '"');
    size_t n = s ? strlen(s) : 0, bad;
    if (utf8_valid(s, n, &bad)) {
        esc_json(b, s, n);
    } else {
        buf clean = BUF_INIT;
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            i += utf8_decode(s + i, n - i, &cp);
            utf8_encode(&clean, cp);
        }
        esc_json(b, clean.ptr, clean.len);
        buf_free(&clean);
    }
    buf_putc(b, '"');
}

/* Newest first, then by url, so ids (and so output) do not depend on the
 * order the caller passes documents in, and a year is a range of ids. */
static int doc_cmp(const void *a, const void *b)
{
    const search_doc *x = *(const search_doc *const *)a, *y = *(const search_doc *const *)b;
    int c = strcmp(nz(y->date), nz(x->date));
    return c ? c : strcmp(nz(x->url), nz(y->url));
}

static int term_cmp(const void *a, const void *b)
{
    const term *x = *(const term *const *)a, *y = *(const term *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->tok, y->tok, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int year_of(const char *date)
{
    if (!date || strlen(date) < 4) return 0;
    int y = 0;
    for (int i = 0; i < 4; i++) {
        if (date[i] < '0' || date[i] > '9') return 0;
        y = y * 10 + (date[i] - '0');
    }
    return y;
}

/* The first SNIPPET_CHARS code points of text, whitespace runs as one space. */
static void snippet(buf *b, const char *text)
{
    size_t n = strlen(nz(text)), i = 0, chars = 0;
    buf s = BUF_INIT;
    int space = 1;
    while (i < n && chars < SNIPPET_CHARS) {
        uint32_t cp;
        size_t used = utf8_decode(text + i, n - i, &cp);
        int ws = cp == ' ' || cp == '\n' || cp == '\t' || cp == '\r' || cp == 0x3000;
        if (ws) {
            if (!space) { buf_putc(&s, ' '); chars++; }
            space = 1;
        } else {
            utf8_encode(&s, cp);
            chars++;
            space = 0;
        }
        i += used;
    }
    while (s.len && s.ptr[s.len - 1] == ' ') s.len--;
    if (s.ptr) s.ptr[s.len] = 0;
    if (i < n) buf_puts(&s, "…");
    json_str(b, buf_cstr(&s));
    buf_free(&s);
}

static void doc_json(buf *b, const search_doc *d)
{
    buf_puts(b, "{\"u\":");  json_str(b, d->url);
    buf_puts(b, ",\"t\":");  json_str(b, d->title);
    buf_puts(b, ",\"n\":");  json_str(b, d->doc_number);
    buf_puts(b, ",\"i\":");  json_str(b, d->issuer);
    buf_puts(b, ",\"d\":");  json_str(b, d->date);
    buf_puts(b, ",\"k\":");  json_str(b, d->kind);
    buf_puts(b, ",\"c\":");  json_str(b, d->category);
    buf_puts(b, ",\"g\":[");
    for (size_t i = 0; i < d->ndistricts; i++) {
        if (i) buf_putc(b, ',');
        const char *nm = d->district_names && d->district_names[i] ? d->district_names[i]
                                                                   : d->districts[i];
        json_str(b, nm);
    }
    buf_puts(b, "],\"s\":");
    snippet(b, d->text);
    buf_putc(b, '}');
}

static int write_buf(outdir *o, const char *rel, buf *b)
{
    return out_write(o, rel, buf_cstr(b), b->len);
}

typedef struct { const char *id, *name; } district;

static int district_cmp(const void *a, const void *b)
{
    const district *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : strcmp(x->name, y->name);
}

static int write_meta(const search_doc *const *ord, size_t n, unsigned nshards,
                      outdir *o)
{
    buf b = BUF_INIT;
    buf_printf(&b, "{\"v\":1,\"ndocs\":%zu,\"shards\":%u,\"chunk\":%d,\"kinds\":\"",
               n, nshards, DOC_CHUNK);
    for (size_t i = 0; i < n; i++)
        buf_putc(&b, !strcmp(nz(ord[i]->kind), "report") ? 'r' : 'n');
    buf_puts(&b, "\",\"years\":[");
    int first = 1;
    for (size_t i = 0; i < n;) {
        int y = year_of(ord[i]->date);
        size_t j = i + 1;
        while (j < n && year_of(ord[j]->date) == y) j++;
        if (y) {
            buf_printf(&b, "%s{\"y\":%d,\"from\":%zu,\"to\":%zu}", first ? "" : ",", y, i, j);
            first = 0;
        }
        i = j;
    }
    buf_puts(&b, "],\"districts\":[");
    size_t nd = 0, cap = 0;
    district *ds = NULL;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < ord[i]->ndistricts; k++) {
            if (!ord[i]->districts[k]) continue;
            if (nd == cap) ds = xrealloc(ds, (cap = cap ? cap * 2 : 16) * sizeof *ds);
            const char *nm = ord[i]->district_names && ord[i]->district_names[k]
                                 ? ord[i]->district_names[k] : ord[i]->districts[k];
            ds[nd++] = (district){ord[i]->districts[k], nm};
        }
    if (nd) qsort(ds, nd, sizeof *ds, district_cmp);
    first = 1;
    for (size_t i = 0; i < nd; i++) {
        if (i && !strcmp(ds[i].id, ds[i - 1].id)) continue;
        buf_puts(&b, first ? "{\"id\":" : ",{\"id\":");
        json_str(&b, ds[i].id);
        buf_puts(&b, ",\"name\":");
        json_str(&b, ds[i].name);
        buf_putc(&b, '}');
        first = 0;
    }
    free(ds);
    buf_puts(&b, "]}\n");
    int rc = write_buf(o, "search/meta.json", &b);
    buf_free(&b);
    return rc;
}

static int write_docs(const search_doc *const *ord, size_t n, outdir *o)
{
    int rc = 0;
    buf b = BUF_INIT;
    for (size_t c = 0; c * DOC_CHUNK < n || (c == 0 && n == 0); c++) {
        buf_clear(&b);
        buf_putc(&b, '[');
        for (size_t i = c * DOC_CHUNK; i < n && i < (c + 1) * DOC_CHUNK; i++) {
            if (i > c * DOC_CHUNK) buf_puts(&b, ",\n");
            doc_json(&b, ord[i]);
        }
        buf_puts(&b, "]\n");
        char rel[64];
        snprintf(rel, sizeof rel, "search/docs/%zu.json", c);
        if (write_buf(o, rel, &b) < 0) rc = -1;
    }
    buf_free(&b);
    return rc;
}

/* Rough size of a term's JSON, to pick the shard count. */
static size_t term_bytes(const term *t) { return t->len + 6 + t->np * 2; }

static void varint(buf *b, uint64_t v)
{
    do {
        unsigned d = v & 31;
        v >>= 5;
        if (v) d |= 32;
        buf_putc(b, SEARCH_B64[d]);
    } while (v);
}

static int write_shards(index_t *ix, outdir *o, unsigned *nshards_out)
{
    term **ts = xmalloc((ix->n ? ix->n : 1) * sizeof *ts);
    size_t nt = 0, total = 0;
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->terms[i].tok) {
            ts[nt++] = &ix->terms[i];
            total += term_bytes(&ix->terms[i]);
        }
    if (nt) qsort(ts, nt, sizeof *ts, term_cmp);
    unsigned ns = 1;
    while (ns < SHARD_MAX && total / ns > SHARD_TARGET) ns *= 2;
    *nshards_out = ns;

    buf *sh = xcalloc(ns, sizeof *sh);
    for (size_t i = 0; i < nt; i++) {
        term *t = ts[i];
        buf *b = &sh[t->hash % ns];
        buf_puts(b, b->len ? ",\n" : "{");
        buf_putc(b, '"');
        esc_json(b, t->tok, t->len);
        buf_puts(b, "\":\"");
        uint32_t last = 0;
        for (size_t k = 0; k < t->np; k++) {
            posting *p = &t->p[k];
            varint(b, (uint64_t)(p->doc - last) << 3 | (unsigned)p->tf << 1 | (p->mask != 0));
            if (p->mask) varint(b, p->mask);
            last = p->doc;
        }
        buf_putc(b, '"');
    }
    int rc = 0;
    for (unsigned s = 0; s < ns; s++) {
        buf_puts(&sh[s], sh[s].len ? "}\n" : "{}\n");
        char rel[64];
        snprintf(rel, sizeof rel, "search/idx/%u.json", s);
        if (write_buf(o, rel, &sh[s]) < 0) rc = -1;
        buf_free(&sh[s]);
    }
    free(sh);
    free(ts);
    return rc;
}

int search_write(const search_doc *docs, size_t n, outdir *o, diag *d)
{
    return search_write_ex(docs, n, o, d, NULL, NULL);
}

int search_write_ex(const search_doc *docs, size_t n, outdir *o, diag *d,
                    void (*consumed)(const search_doc *doc, void *ud), void *ud)
{
    for (size_t i = 0; i < n; i++)
        if (!docs[i].url || !*docs[i].url) {
            diag_error(d, NULL, 0, "search: document %zu (%s) has no url", i,
                       nz(docs[i].title));
            return -1;
        }
    const search_doc **ord = xmalloc((n ? n : 1) * sizeof *ord);
    for (size_t i = 0; i < n; i++) ord[i] = &docs[i];
    if (n) qsort(ord, n, sizeof *ord, doc_cmp);

    /* The metadata files (which need the start of each text for snippets)
     * come first, so that each document's text can be released as soon as
     * the index has taken it in. */
    int rc = 0;
    if (write_docs(ord, n, o) < 0) rc = -1;
    index_t ix = {0};
    for (size_t i = 0; i < n; i++) {
        ix.doc = (uint32_t)i;
        index_doc(&ix, ord[i]);
        if (consumed) consumed(ord[i], ud);
    }
    unsigned ns = 1;
    if (write_shards(&ix, o, &ns) < 0) rc = -1;
    if (write_meta(ord, n, ns, o) < 0) rc = -1;
    index_free(&ix);
    free(ord);
    return rc;
}
