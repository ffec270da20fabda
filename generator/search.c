/* search.c - see search.h for the index format and the token rules. */
#include "search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
static inline int char_class(uint32_t cp, uint32_t *fold)
{
    *fold = cp;
    if (cp >= 0x4E00 && cp <= 0x9FFF) return C_CJK;          /* most text: test first */
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

/* A token of up to 8 bytes as an integer: byte i in bits 8i..8i+7, the
 * rest zero. Tokens hold no NUL byte, so the key alone identifies such a
 * token; the index compares and hashes keys instead of bytes. */
#define KEY_MAX 8

static inline uint64_t key_of(const char *s, size_t n)
{
    uint64_t k = 0;
    for (size_t i = 0; i < n && i < KEY_MAX; i++) k |= (uint64_t)(unsigned char)s[i] << (8 * i);
    return k;
}

/* Where the tokenizer's tokens go: straight into the index (ix, with the
 * field mask; a call through a pointer per token was measurable), or to
 * fn. The index also gets each token's key (when len <= KEY_MAX), built as
 * the tokenizer goes: a bigram's key is its two chars' keys. */
typedef struct index_t index_t;
typedef struct {
    index_t *ix;
    uint8_t mask;
    void (*fn)(const char *tok, size_t len, void *ctx);
    void *ctx;
} sink;

static inline void add_k(index_t *ix, const char *tok, size_t len, uint64_t key, uint8_t mask);

static inline void emit(const sink *k, const char *tok, size_t len, uint64_t key)
{
    if (k->ix) add_k(k->ix, tok, len, key, k->mask);
    else k->fn(tok, len, k->ctx);
}

/* One code point at s[0..n), n >= 1: its byte length, *cp (U+FFFD for a bad
 * byte, as utf8_decode). The common cases, ASCII and 3-byte sequences (all
 * of CJK but the supplementary planes), are done here without a call. */
static inline size_t next_cp(const unsigned char *u, size_t n, uint32_t *cp)
{
    if (u[0] < 0x80) { *cp = u[0]; return 1; }
    if ((u[0] & 0xF0) == 0xE0 && n >= 3 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80) {
        uint32_t c = (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
        if (c >= 0x800 && (c < 0xD800 || c > 0xDFFF)) { *cp = c; return 3; }
    }
    return utf8_decode((const char *)u, n, cp);
}

/* UTF-8 of cp into out (room for 4); returns the length. */
static inline size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The rules of search.h. A CJK char is only ever decoded from a valid
 * sequence, which is byte for byte its own encoding, so CJK tokens (chars
 * and bigrams) are handed over in place in s; only words, which are
 * folded, are copied. */
static void tokenize(const char *s, size_t n, const sink *out)
{
    const unsigned char *u = (const unsigned char *)s;
    char word[TOKEN_MAX + 4];
    size_t wlen = 0;
    uint64_t wkey = 0;
    size_t prevlen = 0;         /* previous CJK char's length (0: none) */
    uint64_t prevkey = 0;       /* and its key */
    for (size_t i = 0; i <= n;) {
        uint32_t cp = 0, f = 0;
        size_t used = 1;
        int cls = C_SEP;
        if (i < n) {
            used = next_cp(u + i, n - i, &cp);
            cls = char_class(cp, &f);
        }
        if (cls != C_WORD && wlen) {
            emit(out, word, wlen, wkey);
            wlen = 0;
            wkey = 0;
        }
        if (cls == C_WORD) {
            char e[4];
            size_t k = put_utf8(e, f);
            if (wlen + k <= TOKEN_MAX) {          /* cut, whole chars only */
                for (size_t j = 0; j < k; j++, wlen++) {
                    word[wlen] = e[j];
                    if (wlen < KEY_MAX) wkey |= (uint64_t)(unsigned char)e[j] << (8 * wlen);
                }
            }
            prevlen = 0;
        } else if (cls == C_CJK) {
            /* a char is 1-4 bytes, a bigram <= 8 */
            uint64_t k = used == 3 ? (uint64_t)u[i] | (uint64_t)u[i + 1] << 8 | (uint64_t)u[i + 2] << 16
                                   : key_of(s + i, used);
            emit(out, s + i, used, k);
            if (prevlen) emit(out, s + i - prevlen, prevlen + used, prevkey | k << (8 * prevlen));
            prevlen = used;
            prevkey = k;
        } else {
            prevlen = 0;
        }
        i += used;
    }
}

void search_tokenize(const char *s, size_t n,
                     void (*fn)(const char *tok, size_t len, void *ctx), void *ctx)
{
    if (!s) return;
    sink k = {.fn = fn, .ctx = ctx};
    tokenize(s, n, &k);
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

/* The index of 10,000 documents holds ~6,000 terms but ~4 million postings
 * (40 million for 100,000 documents), so postings dominate its memory: they
 * are kept in their output form (base-64 varints, about 1-2 bytes each, see
 * search.h) in chains of blocks in one arena, instead of an array of
 * structs per term grown by realloc. A term's newest posting stays
 * "pending" in the term (its tf and field mask may still change while its
 * document is being indexed) and is encoded when the next document touches
 * the term, or at the end. */

#define TOK_LONG (KEY_MAX + 1)      /* len value: the token is in ix->strs */
#define BLOCK_MIN 16          /* bytes of a term's first posting block */
#define BLOCK_SHIFT_MAX 7     /* blocks double up to BLOCK_MIN << 7 = 2 KB */

/* One term: 40 bytes (the token's search_hash, only needed for the shard,
 * is computed when the shards are written), no pointers, the token inline as its key (CJK
 * chars are 3 bytes, bigrams 6). Terms are kept in the order they were
 * first seen, so the frequent ones, met early, share cache lines. */
typedef struct {
    uint64_t key;           /* the token's key, or (TOK_LONG) its offset in strs */
    uint64_t stage;         /* encoded postings not yet in a block: byte i in
                               bits 8i.. (most postings are 1-2 bytes, so the
                               block, a cache line elsewhere, is written once
                               per ~5 postings instead of each time) */
    uint32_t np;            /* postings, the pending one included */
    uint32_t last;          /* doc id of the pending posting */
    uint32_t prev;          /* doc id of the encoded posting before it (0) */
    uint32_t tail;          /* last posting block in ix->post (0: none); each
                               block starts with the offset of the one before */
    uint16_t used;          /* bytes used in the tail block */
    uint8_t tf, mask;       /* of the pending posting */
    uint8_t len;            /* 1..KEY_MAX, or TOK_LONG */
    uint8_t shift;          /* the tail block is BLOCK_MIN << shift bytes */
    uint8_t nstage;         /* bytes in stage */
} term;

/* A slot of the open-addressing table: 8 bytes, so the table a lookup
 * probes stays small (128 KB for 6,000 terms) and a probe that is not the
 * token is mostly rejected without touching the term. */
typedef struct {
    uint32_t hash;          /* table_hash */
    uint32_t id;            /* 1 + index in terms; 0 = empty */
} slot;

struct index_t {
    slot *slots;            /* cap a power of two, load under 1/2 */
    size_t cap;
    unsigned bits;          /* cap == 1 << bits */
    term *terms;            /* dense, in order of first sight */
    size_t n, tcap;
    uint32_t doc;           /* the document being added */
    char *post;             /* posting blocks: [next offset u32][bytes] */
    size_t plen, pcap;      /* offset 0 is never a block */
    buf strs;               /* long tokens: [length u32][bytes] */
    int overflow;           /* an arena passed 4 GB: the index is unusable */
};

/* Rare paths kept out of the per-token code, so that the hot functions
 * stay small (inlined, they made lookup save and restore 6 registers). */
#if defined(__GNUC__)
#define COLD __attribute__((noinline, cold))
#else
#define COLD
#endif

static uint32_t get32(const char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void set32(char *p, uint32_t v) { memcpy(p, &v, 4); }

static size_t term_len(const index_t *ix, const term *t)
{
    return t->len == TOK_LONG ? get32(ix->strs.ptr + t->key) : t->len;
}

/* The token's bytes: in place for a long one, else spelled out in tmp. */
static const char *term_tok(const index_t *ix, const term *t, char tmp[KEY_MAX])
{
    if (t->len == TOK_LONG) return ix->strs.ptr + t->key + 4;
    for (size_t i = 0; i < KEY_MAX; i++) tmp[i] = (char)(t->key >> (8 * i));
    return tmp;
}

/* The table's own hash: one multiply of the key (FNV, a multiply per byte,
 * is only computed for new terms), FNV for long tokens. */
static inline uint32_t table_hash(const char *tok, size_t len, uint64_t key)
{
    if (len > KEY_MAX) key = search_hash(tok, len);
    return (uint32_t)((key * 0x9E3779B97F4A7C15u) >> 32);
}

/* The top bits of table_hash, the well mixed ones. */
static size_t slot_of(const index_t *ix, uint32_t h) { return h >> (32 - ix->bits); }

COLD static void grow_table(index_t *ix)
{
    unsigned nbits = ix->cap ? ix->bits + 1 : 10;
    size_t ncap = (size_t)1 << nbits;
    free(ix->slots);
    ix->slots = xcalloc(ncap, sizeof *ix->slots);
    ix->cap = ncap;
    ix->bits = nbits;
    for (size_t i = 0; i < ix->n; i++) {
        const term *t = &ix->terms[i];
        char tmp[KEY_MAX];
        uint32_t h = table_hash(term_tok(ix, t, tmp), term_len(ix, t), t->key);
        size_t j = slot_of(ix, h);
        while (ix->slots[j].id) j = (j + 1) & (ncap - 1);
        ix->slots[j] = (slot){h, (uint32_t)i + 1};
    }
}

COLD static term *new_term(index_t *ix, const char *tok, size_t len, uint64_t key)
{
    if (ix->n == ix->tcap) {
        ix->tcap = ix->tcap ? ix->tcap * 2 : 512;
        ix->terms = xrealloc(ix->terms, ix->tcap * sizeof *ix->terms);
    }
    term *t = &ix->terms[ix->n++];
    *t = (term){.len = 0};
    if (len <= KEY_MAX) {
        t->len = (uint8_t)len;
        t->key = key;
    } else {
        t->len = TOK_LONG;
        if (ix->strs.len + len + 4 > UINT32_MAX) ix->overflow = 1;
        char lenb[4];
        set32(lenb, (uint32_t)len);
        t->key = ix->strs.len;
        buf_put(&ix->strs, lenb, 4);
        buf_put(&ix->strs, tok, len);
    }
    return t;
}

static int same_tok(const index_t *ix, const term *t, const char *tok, size_t len,
                    uint64_t key)
{
    if (len <= KEY_MAX) return t->key == key && t->len == len;
    return t->len == TOK_LONG && term_len(ix, t) == len &&
           !memcmp(ix->strs.ptr + t->key + 4, tok, len);
}

/* The term of tok (key: key_of(tok, len) when len <= KEY_MAX), new if need be. */
static term *lookup(index_t *ix, const char *tok, size_t len, uint64_t key)
{
    uint32_t h = table_hash(tok, len, key);
    if ((ix->n + 1) * 2 > ix->cap) grow_table(ix);
    size_t mask = ix->cap - 1, j = slot_of(ix, h);
    for (; ix->slots[j].id; j = (j + 1) & mask) {
        if (ix->slots[j].hash != h) continue;
        term *t = &ix->terms[ix->slots[j].id - 1];
        if (same_tok(ix, t, tok, len, key)) return t;
    }
    if (ix->n >= UINT32_MAX - 1) ix->overflow = 1;
    term *t = new_term(ix, tok, len, key);
    ix->slots[j] = (slot){h, (uint32_t)ix->n};
    return t;
}

/* A new block of BLOCK_MIN << shift bytes; returns its offset. */
static uint32_t new_block(index_t *ix, unsigned shift)
{
    size_t size = (size_t)BLOCK_MIN << shift;
    if (ix->plen + size > ix->pcap) {
        size_t ncap = ix->pcap ? ix->pcap * 2 : 1 << 16;
        while (ncap < ix->plen + size) ncap *= 2;
        if (ncap > UINT32_MAX) {
            ix->overflow = 1;
            ncap = (size_t)UINT32_MAX;
            if (ix->plen + size > ncap) return 0;
        }
        ix->post = xrealloc(ix->post, ncap);
        ix->pcap = ncap;
    }
    if (!ix->plen) ix->plen = 4;                /* offset 0 means none */
    uint32_t off = (uint32_t)ix->plen;
    set32(ix->post + off, 0);
    ix->plen += size;
    return off;
}

/* Append bytes to t's posting chain. */
COLD static void post_put(index_t *ix, term *t, const char *p, size_t n)
{
    while (n) {
        size_t room = t->tail ? ((size_t)BLOCK_MIN << t->shift) - 4 - t->used : 0;
        if (!room) {
            unsigned shift = !t->tail ? 0 : t->shift < BLOCK_SHIFT_MAX ? t->shift + 1u : t->shift;
            uint32_t b = new_block(ix, shift);
            if (!b) return;                     /* overflow, reported later */
            set32(ix->post + b, t->tail);
            t->tail = b;
            t->shift = (uint8_t)shift;
            t->used = 0;
            room = ((size_t)BLOCK_MIN << shift) - 4;
        }
        size_t k = n < room ? n : room;
        char *dst = ix->post + t->tail + 4 + t->used;
        for (size_t i = 0; i < k; i++) dst[i] = p[i];     /* 1-9 bytes: no call */
        t->used = (uint16_t)(t->used + k);
        p += k;
        n -= k;
    }
}

/* v as base-64 varint chars into out (room for 13); returns the count. */
static size_t b64_varint(char *out, uint64_t v)
{
    size_t k = 0;
    do {
        unsigned d = v & 31;
        v >>= 5;
        if (v) d |= 32;
        out[k++] = SEARCH_B64[d];
    } while (v);
    return k;
}

/* Move t's staged bytes into its chain. */
static void spill(index_t *ix, term *t)
{
    char e[8];
    for (size_t i = 0; i < 8; i++) e[i] = (char)(t->stage >> (8 * i));
    if (t->tail && ((size_t)BLOCK_MIN << t->shift) - 4 - t->used >= sizeof e) {
        /* the common case: a fixed-size copy, no call; bytes past nstage
         * are overwritten by the next spill */
        memcpy(ix->post + t->tail + 4 + t->used, e, sizeof e);
        t->used = (uint16_t)(t->used + t->nstage);
    } else {
        post_put(ix, t, e, t->nstage);
    }
    t->stage = 0;
    t->nstage = 0;
}

/* Encode t's pending posting (into stage, spilling it when full). */
static void flush_pending(index_t *ix, term *t)
{
    char e[16];                 /* at most 7 + 2 chars */
    uint64_t v = (uint64_t)(t->last - t->prev) << 3 | (unsigned)t->tf << 1 | (t->mask != 0);
    size_t k = b64_varint(e, v);
    if (t->mask) k += b64_varint(e + k, t->mask);
    t->prev = t->last;
    if (t->nstage + k > 8) spill(ix, t);
    if (k > 8) {                            /* a gap of 2^30+ documents */
        post_put(ix, t, e, k);
        return;
    }
    for (size_t i = 0; i < k; i++) t->stage |= (uint64_t)(unsigned char)e[i] << (8 * (t->nstage + i));
    t->nstage = (uint8_t)(t->nstage + k);
}

/* Record one occurrence of tok in the current doc: field bit, or body
 * (mask 0) which counts occurrences. */
static inline void add_k(index_t *ix, const char *tok, size_t len, uint64_t key, uint8_t mask)
{
    if (!len) return;
    term *t = lookup(ix, tok, len, key);
    if (!t->np || t->last != ix->doc) {
        if (t->np) flush_pending(ix, t);
        t->np++;
        t->last = ix->doc;
        t->tf = 0;
        t->mask = 0;
    }
    if (mask) t->mask |= mask;
    else if (t->tf < 3) t->tf++;
}

static void add(index_t *ix, const char *tok, size_t len, uint8_t mask)
{
    add_k(ix, tok, len, key_of(tok, len), mask);
}

static void add_text(index_t *ix, const char *s, uint8_t mask)
{
    if (!s) return;
    sink k = {.ix = ix, .mask = mask};
    tokenize(s, strlen(s), &k);
}

static void add_str(index_t *ix, const char *s, uint8_t mask)
{
    if (s) add(ix, s, strlen(s), mask);
}

/* Encode every pending posting: the index is complete. */
static void index_finish(index_t *ix)
{
    for (size_t i = 0; i < ix->n; i++) {
        if (ix->terms[i].np) flush_pending(ix, &ix->terms[i]);
        if (ix->terms[i].nstage) spill(ix, &ix->terms[i]);
    }
}

static void index_free(index_t *ix)
{
    free(ix->slots);
    free(ix->terms);
    free(ix->post);
    buf_free(&ix->strs);
    *ix = (index_t){0};
}

static void index_doc(index_t *ix, const search_doc *d, const char *text)
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
    add_text(ix, text, 0);
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

/* A term as the shard writer sorts it. */
typedef struct {
    const char *tok;        /* a long token's bytes (short ones are in buf) */
    size_t len;
    const term *t;
    char buf[KEY_MAX];
} term_ref;

/* (qsort moves refs, so a short token's bytes are found afresh) */
static const char *ref_tok(const term_ref *r) { return r->len <= KEY_MAX ? r->buf : r->tok; }

static int term_cmp(const void *a, const void *b)
{
    const term_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(ref_tok(x), ref_tok(y), n);
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

static void doc_json(buf *b, const search_doc *d, const char *text)
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
    snippet(b, text);
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

/* search/docs/N.json: chunk c, held in b until its last document. */
static int flush_docs(buf *b, size_t c, outdir *o)
{
    buf_puts(b, "]\n");
    char rel[64];
    snprintf(rel, sizeof rel, "search/docs/%zu.json", c);
    int rc = write_buf(o, rel, b);
    buf_clear(b);
    return rc;
}

/* Rough size of a term's JSON, to pick the shard count. */
static size_t term_bytes(size_t len, const term *t) { return len + 6 + (size_t)t->np * 2; }

/* t's postings, already encoded, appended to b. */
static void put_postings(buf *b, const index_t *ix, const term *t, buf *chain)
{
    /* the chain links backwards: collect it, then write oldest first; the
     * k-th block (from the first) is BLOCK_MIN << min(k, BLOCK_SHIFT_MAX) */
    buf_clear(chain);
    for (uint32_t blk = t->tail; blk; blk = get32(ix->post + blk)) {
        char o[4];
        set32(o, blk);
        buf_put(chain, o, 4);
    }
    size_t nb = chain->len / 4;
    for (size_t k = 0; k < nb; k++) {
        uint32_t blk = get32(chain->ptr + 4 * (nb - 1 - k));
        unsigned shift = k < BLOCK_SHIFT_MAX ? (unsigned)k : BLOCK_SHIFT_MAX;
        size_t n = k + 1 < nb ? ((size_t)BLOCK_MIN << shift) - 4 : t->used;
        buf_put(b, ix->post + blk + 4, n);
    }
}

/* Terms go to shard hash % shards, sorted by their bytes within a shard;
 * one shard is built and written at a time, so the whole index never
 * exists twice in memory. */
static int write_shards(const index_t *ix, outdir *o, unsigned *nshards_out)
{
    size_t total = 0;
    for (size_t i = 0; i < ix->n; i++)
        total += term_bytes(term_len(ix, &ix->terms[i]), &ix->terms[i]);
    unsigned ns = 1;
    while (ns < SHARD_MAX && total / ns > SHARD_TARGET) ns *= 2;
    *nshards_out = ns;

    /* bucket the terms by shard: start[s] .. start[s + 1] */
    uint32_t *shard = xmalloc((ix->n ? ix->n : 1) * sizeof *shard);
    size_t *start = xcalloc(ns + 1, sizeof *start);
    for (size_t i = 0; i < ix->n; i++) {
        char tmp[KEY_MAX];
        const term *t = &ix->terms[i];
        shard[i] = search_hash(term_tok(ix, t, tmp), term_len(ix, t)) % ns;
        start[shard[i] + 1]++;
    }
    for (unsigned s = 0; s < ns; s++) start[s + 1] += start[s];
    term_ref *refs = xmalloc((ix->n ? ix->n : 1) * sizeof *refs);
    size_t *fill = xmalloc(ns * sizeof *fill);
    memcpy(fill, start, ns * sizeof *fill);
    for (size_t i = 0; i < ix->n; i++) {
        const term *t = &ix->terms[i];
        term_ref *r = &refs[fill[shard[i]]++];
        r->t = t;
        r->len = term_len(ix, t);
        r->tok = term_tok(ix, t, r->buf);
    }
    free(fill);
    free(shard);

    int rc = 0;
    buf b = BUF_INIT, chain = BUF_INIT;
    for (unsigned s = 0; s < ns; s++) {
        term_ref *r = refs + start[s];
        size_t nr = start[s + 1] - start[s];
        if (nr > 1) qsort(r, nr, sizeof *r, term_cmp);
        buf_clear(&b);
        for (size_t i = 0; i < nr; i++) {
            buf_puts(&b, i ? ",\n\"" : "{\"");
            esc_json(&b, ref_tok(&r[i]), r[i].len);
            buf_puts(&b, "\":\"");
            put_postings(&b, ix, r[i].t, &chain);
            buf_putc(&b, '"');
        }
        buf_puts(&b, nr ? "}\n" : "{}\n");
        char rel[64];
        snprintf(rel, sizeof rel, "search/idx/%u.json", s);
        if (write_buf(o, rel, &b) < 0) rc = -1;
    }
    buf_free(&b);
    buf_free(&chain);
    free(refs);
    free(start);
    return rc;
}

/* GAZETTE_TIMING=1: CPU time of this thread (the build runs the index on a
 * thread of its own) in each step, so the index's cost is visible apart
 * from the page rendering it overlaps with. */
typedef struct { int on; double t0, w0; } timing;

static double cpu_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void timing_step(timing *t, const char *name)
{
    if (!t->on) return;
    double c = cpu_now(), w = wall_now();
    fprintf(stderr, "gazette: search %-7s %7.3f s cpu %7.3f s wall\n", name, c - t->t0, w - t->w0);
    t->t0 = c;
    t->w0 = w;
}

int search_write(const search_doc *docs, size_t n, outdir *o, diag *d)
{
    return search_write_hooks(docs, n, o, d, NULL);
}

int search_write_ex(const search_doc *docs, size_t n, outdir *o, diag *d,
                    void (*consumed)(const search_doc *doc, void *ud), void *ud)
{
    search_hooks h = {NULL, consumed, ud};
    return search_write_hooks(docs, n, o, d, &h);
}

int search_write_hooks(const search_doc *docs, size_t n, outdir *o, diag *d, const search_hooks *h)
{
    static const search_hooks none = {0};
    if (!h) h = &none;
    for (size_t i = 0; i < n; i++)
        if (!docs[i].url || !*docs[i].url) {
            diag_error(d, NULL, 0, "search: document %zu (%s) has no url", i,
                       nz(docs[i].title));
            return -1;
        }
    timing tm = {getenv("GAZETTE_TIMING") != NULL, cpu_now(), wall_now()};
    const search_doc **ord = xmalloc((n ? n : 1) * sizeof *ord);
    for (size_t i = 0; i < n; i++) ord[i] = &docs[i];
    if (n) qsort(ord, n, sizeof *ord, doc_cmp);

    /* One pass: each document's text (fetched when the caller keeps it
     * elsewhere) goes into its docs chunk (the snippet) and the index, and
     * is then released, so no more than one text is needed at a time. */
    int rc = 0;
    index_t ix = {0};
    buf chunk = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const search_doc *sd = ord[i];
        char *fetched = !sd->text && h->fetch_text ? h->fetch_text(sd, h->ud) : NULL;
        const char *text = sd->text ? sd->text : fetched;
        buf_putc(&chunk, i % DOC_CHUNK ? ',' : '[');
        if (i % DOC_CHUNK) buf_putc(&chunk, '\n');
        doc_json(&chunk, sd, text);
        if ((i + 1) % DOC_CHUNK == 0 || i + 1 == n)
            if (flush_docs(&chunk, i / DOC_CHUNK, o) < 0) rc = -1;
        ix.doc = (uint32_t)i;
        index_doc(&ix, sd, text);
        free(fetched);
        if (h->consumed) h->consumed(sd, h->ud);
    }
    if (n == 0) {
        buf_putc(&chunk, '[');
        if (flush_docs(&chunk, 0, o) < 0) rc = -1;
    }
    buf_free(&chunk);
    index_finish(&ix);
    timing_step(&tm, "index");
    if (tm.on)
        fprintf(stderr, "gazette: search index: %zu terms, %zu KB of postings, %zu KB table\n",
                ix.n, ix.plen / 1024, (ix.cap * sizeof(slot) + ix.tcap * sizeof(term)) / 1024);
    unsigned ns = 1;
    if (ix.overflow) {
        diag_error(d, NULL, 0, "search: the index of %zu documents passed 4 GB", n);
        rc = -1;
    } else if (write_shards(&ix, o, &ns) < 0) {
        rc = -1;
    }
    timing_step(&tm, "shards");
    index_free(&ix);
    if (write_meta(ord, n, ns, o) < 0) rc = -1;
    free(ord);
    return rc;
}
