/* search.c - see search.h for the index format and the token rules. */
#include "search.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "pool.h"

#define TOKEN_MAX 64          /* bytes; longer words are cut at a char boundary */
#define DOC_CHUNK 8           /* docs per docs/N.json: a result page of 10
                                 touches at most 10 small files */
#define SHARD_TARGET 24000    /* aim for about this many bytes per shard */
#define SHARD_MAX 4096
#define SNIPPET_CHARS 110     /* code points of body text kept for snippets */

/* Rare paths kept out of the per-token code, so that the hot functions
 * stay small (inlined, they made lookup save and restore 6 registers);
 * INLINE_ALWAYS for a walker whose callback should be inlined in turn. */
#if defined(__GNUC__)
#define COLD __attribute__((noinline, cold))
#define INLINE_ALWAYS inline __attribute__((always_inline))
#else
#define COLD
#define INLINE_ALWAYS inline
#endif

/* ---- characters ---------------------------------------------------- */

/* The CJK Unified Ideographs block: nearly every char of the corpus. */
#define CJK_LO 0x4E00
#define CJK_HI 0x9FFF

enum { C_SEP, C_CJK, C_WORD };

/* Class of a code point and its folded form (lowercase ASCII). The same
 * table is in search.js (charClass). */
static inline int char_class(uint32_t cp, uint32_t *fold)
{
    *fold = cp;
    if (cp >= CJK_LO && cp <= CJK_HI) return C_CJK;          /* most text: test first */
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
    bool cjk;               /* ix has its cjk table: add_cjk */
    bool count;             /* ... and the text is a body: count_cjk */
    void (*fn)(const char *tok, size_t len, void *ctx);
    void *ctx;
} sink;

static inline void add_k(index_t *ix, const char *tok, size_t len, uint64_t key, uint8_t mask);
static inline void add_cjk(index_t *ix, const char *tok, uint32_t cp, uint64_t key,
                           uint32_t prevcp, uint64_t prevkey, uint8_t mask);
static inline void count_cjk(index_t *ix, const char *tok, uint32_t c, uint64_t key,
                             uint32_t prevcp, uint64_t prevkey);
static inline size_t count_run(index_t *ix, const unsigned char *u, size_t i, size_t n,
                               uint32_t *prevcp, uint64_t *prevkey);

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
    uint32_t prevcp = 0;        /* and the char, when a CJK_LO..CJK_HI one (else 0) */
    for (size_t i = 0; i <= n;) {
        if (out->count && !wlen && (!prevlen || prevcp)) {
            /* A body's run of chars of CJK_LO..CJK_HI (most of its text),
             * each counted as the general path below would count it, with
             * none of its other cases to rule out per char: such a char
             * is a 3-byte sequence whose range leaves out the overlong and
             * surrogate ones, its class is C_CJK, and no word is open. */
            size_t at = i;
            if (!prevlen) prevcp = 0;         /* (left over from a char before a gap) */
            i = count_run(out->ix, u, i, n, &prevcp, &prevkey);
            if (i != at) {
                prevlen = 3;
                continue;
            }
        }
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
            uint32_t c = cp >= CJK_LO && cp <= CJK_HI ? cp : 0;
            if (c && out->count && (!prevlen || prevcp)) {
                count_cjk(out->ix, s + i, c, k, prevlen ? prevcp : 0, prevkey);
            } else if (c && out->cjk && (!prevlen || prevcp)) {
                add_cjk(out->ix, s + i, c, k, prevlen ? prevcp : 0, prevkey, out->mask);
            } else {
                emit(out, s + i, used, k);
                if (prevlen) emit(out, s + i - prevlen, prevlen + used, prevkey | k << (8 * prevlen));
            }
            prevlen = used;
            prevkey = k;
            prevcp = c;
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

/* What the index knows of a char c in CJK_LO..CJK_HI: its term, the
 * term of the last bigram that started with it (c and next), and its rank
 * among the first RANKS chars seen, which index the pairs table. */
typedef struct {
    uint32_t id;            /* 1 + index in terms; 0: not looked up yet */
    uint32_t next;          /* the bigram's second char (0: none) */
    uint32_t bigram;        /* 1 + its term's index */
    uint32_t rank;          /* 1..RANKS (0: none) */
} cjk_ref;

/* The bigrams of the first RANKS chars seen (the common ones: the corpus
 * of 10,000 documents has ~150 chars in all, Chinese text at large a few
 * hundred for most of it) by their two ranks: a table, not a hash. */
#define RANKS 256

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
    cjk_ref *cjk;           /* CJK_LO..CJK_HI, see cjk_terms (NULL: none) */
    uint32_t *pairs;        /* with cjk: RANKS x RANKS bigrams, 1 + term index */
    uint32_t nrank;         /* ranks given */
    int overflow;           /* an arena passed 4 GB: the index is unusable */
    /* With seen (doc_tokens): a bit per term, set when the document being
     * added starts a posting of it, i.e. the document's terms; seen_words
     * 64-bit words, grown with the terms. */
    uint64_t *seen;
    size_t seen_words;
    /* With cjk: a body's CJK chars and bigrams are counted (count_cjk),
     * cnt[id] per term (capped at 3, the most a posting says), touched the
     * terms counted, in order of first sight, and added once each when the
     * body ends (add_counted): per char no branch on whether the document
     * is new to the term, which no predictor guesses (half the bigrams of a
     * document are new to it). tcap + 1 of each. */
    uint8_t *cnt;
    uint32_t *touched;
    size_t ntouched;
};

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
        if (ix->cnt) {
            ix->cnt = xrealloc(ix->cnt, ix->tcap + 1);
            memset(ix->cnt + ix->n, 0, ix->tcap + 1 - ix->n);
            ix->touched = xrealloc(ix->touched, (ix->tcap + 1) * sizeof *ix->touched);
        }
        if (ix->seen) {
            size_t nw = ix->tcap / 64 + 1;
            ix->seen = xrealloc(ix->seen, nw * sizeof *ix->seen);
            memset(ix->seen + ix->seen_words, 0, (nw - ix->seen_words) * sizeof *ix->seen);
            ix->seen_words = nw;
        }
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
        ix->post = big_grow(ix->post, ix->pcap, ncap);
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
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(e, &t->stage, sizeof e);     /* the same bytes, one store */
#else
    for (size_t i = 0; i < 8; i++) e[i] = (char)(t->stage >> (8 * i));
#endif
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

/* v (< 2^20) as base-64 varint chars into the low bytes of *w from byte
 * k on; returns the new k (at most k + 4). */
static inline size_t b64_pack(uint64_t *w, size_t k, uint64_t v)
{
    do {
        unsigned d = v & 31;
        v >>= 5;
        if (v) d |= 32;
        *w |= (uint64_t)(unsigned char)SEARCH_B64[d] << (8 * k++);
    } while (v);
    return k;
}

/* The varint of each v < B64_SMALL (a gap of under 128 documents, and
 * every field mask), looked up instead of made a char at a time: its one
 * or two chars in the low bytes, their count in the top byte. */
#define B64_SMALL 1024
static uint32_t b64_small[B64_SMALL];
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;

static void b64_small_make(void)
{
    for (uint32_t v = 0; v < B64_SMALL; v++) {
        uint64_t w = 0;
        size_t k = b64_pack(&w, 0, v);
        b64_small[v] = (uint32_t)w | (uint32_t)k << 24;
    }
}

/* t's staged bytes are too many for w's k more: spill, then stage them. */
static __attribute__((noinline)) void stage_spill(index_t *ix, term *t, uint64_t w, size_t k)
{
    spill(ix, t);
    t->stage = w;
    t->nstage = (uint8_t)k;
}

static void flush_pending_slow(index_t *ix, term *t, uint64_t v);

/* Encode t's pending posting (into stage, spilling it when full). The
 * common case makes no call: no registers saved and restored per posting. */
static inline void flush_pending(index_t *ix, term *t)
{
    uint64_t v = (uint64_t)(t->last - t->prev) << 3 | (unsigned)t->tf << 1 | (t->mask != 0);
    if (v >= B64_SMALL) {
        flush_pending_slow(ix, t, v);
        return;
    }
    uint32_t a = b64_small[v];
    uint64_t w = a & 0xFFFF;
    size_t k = a >> 24;
    if (t->mask) {
        uint32_t m = b64_small[t->mask];
        w |= (uint64_t)(m & 0xFFFF) << (8 * k);
        k += m >> 24;
    }
    t->prev = t->last;
    if (t->nstage + k > 8) {
        stage_spill(ix, t, w, k);
        return;
    }
    t->stage |= w << (8 * t->nstage);
    t->nstage = (uint8_t)(t->nstage + k);
}

static __attribute__((noinline)) void flush_pending_slow(index_t *ix, term *t, uint64_t v)
{
    char e[16];                 /* at most 7 + 2 chars */
    if (v < (1u << 20)) {
        /* nearly always: a gap under 2^17 documents, at most 4 + 2 chars
         * made straight into a word (no bytes in between) */
        uint64_t w = 0;
        size_t k = b64_pack(&w, 0, v);
        if (t->mask) k = b64_pack(&w, k, t->mask);
        t->prev = t->last;
        if (t->nstage + k > 8) spill(ix, t);
        t->stage |= w << (8 * t->nstage);
        t->nstage = (uint8_t)(t->nstage + k);
        return;
    }
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

/* t's pending posting is for the current doc, begun now if it was not. */
static inline void at_doc(index_t *ix, term *t)
{
    if (!t->np || t->last != ix->doc) {
        if (t->np) flush_pending(ix, t);
        if (ix->seen) {
            size_t id = (size_t)(t - ix->terms);
            ix->seen[id / 64] |= (uint64_t)1 << (id % 64);
        }
        t->np++;
        t->last = ix->doc;
        t->tf = 0;
        t->mask = 0;
    }
}

/* Record one occurrence of tok in the current doc: field bit, or body
 * (mask 0) which counts occurrences. */
static inline void add_t(index_t *ix, term *t, uint8_t mask)
{
    at_doc(ix, t);
    if (mask) t->mask |= mask;
    else if (t->tf < 3) t->tf++;
}

/* One occurrence of term id in the body being counted: no branch. */
static inline void count_id(index_t *ix, uint32_t id)
{
    uint8_t c = ix->cnt[id];
    ix->touched[ix->ntouched] = id;
    ix->ntouched += c == 0;
    ix->cnt[id] = (uint8_t)(c + (c < 3));
}

/* The counted body's terms into the current doc, in order of first sight
 * (as add_t would have met them: the same index). */
static void add_counted(index_t *ix)
{
    for (size_t k = 0; k < ix->ntouched; k++) {
        uint32_t id = ix->touched[k];
        term *t = &ix->terms[id];
        at_doc(ix, t);
        unsigned tf = t->tf + ix->cnt[id];
        t->tf = (uint8_t)(tf < 3 ? tf : 3);
        ix->cnt[id] = 0;
    }
    ix->ntouched = 0;
}

static inline void add_k(index_t *ix, const char *tok, size_t len, uint64_t key, uint8_t mask)
{
    if (len) add_t(ix, lookup(ix, tok, len, key), mask);
}

/* The terms of a char c (CJK_LO..CJK_HI; tok, key: its 3 bytes), returned,
 * and, when prevcp is not 0, of the bigram of the char before it (prevcp,
 * prevkey) and c, in *bigram; looked up in that order, as emit would meet
 * them, so the index is the same. Text is mostly these chars, each a
 * token twice (alone and in a bigram): the char's term is found by c in
 * ix->cjk, a bigram's by the chars' ranks in ix->pairs or else by the one
 * its first char saw last (the next char of a word is mostly the same),
 * with no hash and no table probe. */
static inline uint32_t cjk_terms(index_t *ix, const char *tok, uint32_t c, uint64_t key,
                                 uint32_t prevcp, uint64_t prevkey, uint32_t *bigram)
{
    cjk_ref *r = &ix->cjk[c - CJK_LO];
    if (!r->id) {
        const term *t = lookup(ix, tok, 3, key);       /* (terms may move) */
        r->id = (uint32_t)(t - ix->terms) + 1;
        if (ix->nrank < RANKS) r->rank = ++ix->nrank;
    }
    if (!prevcp) return r->id - 1;
    cjk_ref *p = &ix->cjk[prevcp - CJK_LO];
    uint32_t *pair = p->rank && r->rank ? &ix->pairs[(p->rank - 1) * RANKS + r->rank - 1] : NULL;
    if (pair && *pair) {                /* the common case: two ranked chars */
        *bigram = *pair - 1;
        return r->id - 1;
    }
    if (p->next != c) {
        const term *t = lookup(ix, tok - 3, 6, prevkey | key << 24);
        p->bigram = (uint32_t)(t - ix->terms) + 1;
        if (pair) *pair = p->bigram;
        p->next = c;
    }
    *bigram = p->bigram - 1;
    return r->id - 1;
}

/* A char c and the bigram before it (cjk_terms), added with mask. */
static inline void add_cjk(index_t *ix, const char *tok, uint32_t c, uint64_t key,
                           uint32_t prevcp, uint64_t prevkey, uint8_t mask)
{
    uint32_t bigram = 0, id = cjk_terms(ix, tok, c, key, prevcp, prevkey, &bigram);
    add_t(ix, &ix->terms[id], mask);
    if (prevcp) add_t(ix, &ix->terms[bigram], mask);
}

/* The same for a body's char (mask 0), counted instead (count_id). */
static inline void count_cjk(index_t *ix, const char *tok, uint32_t c, uint64_t key,
                             uint32_t prevcp, uint64_t prevkey)
{
    uint32_t bigram = 0, id = cjk_terms(ix, tok, c, key, prevcp, prevkey, &bigram);
    count_id(ix, id);
    if (prevcp) count_id(ix, bigram);
}

/* The key of the 3-byte char at p (key_of). */
static inline uint64_t key3(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16;
}

/* count_run's other cases: count_cjk, out of line (its registers are then
 * not the loop's). A char before c (prevcp) is the 3 bytes before it. */
static __attribute__((noinline)) void count_slow(index_t *ix, const unsigned char *u, size_t i,
                                                 uint32_t c, uint32_t prevcp)
{
    count_cjk(ix, (const char *)u + i, c, key3(u + i), prevcp, prevcp ? key3(u + i - 3) : 0);
}

/* A body's run of chars of CJK_LO..CJK_HI from u[i] on (n bytes in all),
 * each counted as count_cjk counts it (*prevcp: the char before the run,
 * adjacent, or 0 for none; then the run's last, *prevkey its key); returns
 * where the run ends. Both of a char's terms are mostly known, its char
 * and the one before it both ranked: that case is done here with the
 * index's arrays in locals. Through ix, each count's byte store (a char
 * type: it may alias anything) made the compiler load every array pointer
 * of ix again for each char. The rest goes to count_slow, which may move
 * the arrays: they are read again after it. */
static INLINE_ALWAYS size_t count_run(index_t *ix, const unsigned char *u, size_t i, size_t n,
                                      uint32_t *prevcp_io, uint64_t *prevkey_io)
{
    size_t start = i;
    uint32_t prevcp = *prevcp_io;
    const cjk_ref *cjk = ix->cjk;
    const uint32_t *pairs = ix->pairs;
    uint8_t *cnt = ix->cnt;
    uint32_t *touched = ix->touched;
    size_t nt = ix->ntouched;
    uint32_t prank = prevcp ? cjk[prevcp - CJK_LO].rank : 0;     /* the char before's rank */
    while (n - i >= 3) {
        /* the 3 bytes as one number, byte j in bits 8j.. (key_of) */
        uint32_t w;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (n - i >= 4) {
            memcpy(&w, u + i, 4);
            w &= 0xFFFFFF;
        } else
#endif
            w = (uint32_t)key3(u + i);
        if ((w & 0xC0C0F0) != 0x8080E0) break;          /* a 3-byte sequence */
        uint32_t c = (w & 0x0F) << 12 | (w >> 2 & 0xFC0) | (w >> 16 & 0x3F);
        if (c < CJK_LO || c > CJK_HI) break;
        const cjk_ref *r = &cjk[c - CJK_LO];
        uint32_t id = r->id, rank = r->rank, bigram = 0;
        if (prevcp && prank && rank) bigram = pairs[(prank - 1) * RANKS + rank - 1];
        if (id && (!prevcp || bigram)) {
            uint8_t m = cnt[id - 1];                 /* count_id, twice */
            touched[nt] = id - 1;
            nt += m == 0;
            cnt[id - 1] = (uint8_t)(m + (m < 3));
            if (prevcp) {
                m = cnt[bigram - 1];
                touched[nt] = bigram - 1;
                nt += m == 0;
                cnt[bigram - 1] = (uint8_t)(m + (m < 3));
            }
        } else {
            ix->ntouched = nt;
            count_slow(ix, u, i, c, prevcp);
            cjk = ix->cjk;
            pairs = ix->pairs;
            cnt = ix->cnt;
            touched = ix->touched;
            nt = ix->ntouched;
            rank = cjk[c - CJK_LO].rank;             /* (given now, maybe) */
        }
        prevcp = c;
        prank = rank;
        i += 3;
    }
    ix->ntouched = nt;
    *prevcp_io = prevcp;
    if (i != start) *prevkey_io = key3(u + i - 3);
    return i;
}

static void add(index_t *ix, const char *tok, size_t len, uint8_t mask)
{
    add_k(ix, tok, len, key_of(tok, len), mask);
}

/* The n bytes at s (a body's text, with mask 0, is known by its length:
 * counting it was a pass over cold memory). */
static void add_text_n(index_t *ix, const char *s, size_t n, uint8_t mask)
{
    sink k = {.ix = ix, .mask = mask, .cjk = ix->cjk != NULL, .count = !mask && ix->cnt};
    tokenize(s, n, &k);
    if (k.count) add_counted(ix);
}

static void add_text(index_t *ix, const char *s, uint8_t mask)
{
    if (s) add_text_n(ix, s, strlen(s), mask);
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
    big_free(ix->post, ix->pcap);
    buf_free(&ix->strs);
    free(ix->cjk);
    free(ix->pairs);
    free(ix->seen);
    free(ix->cnt);
    free(ix->touched);
    *ix = (index_t){0};
}

/* text: n bytes (SIZE_MAX: up to its NUL, counted here). */
static void index_doc(index_t *ix, const search_doc *d, const char *text, size_t n)
{
    pthread_once(&b64_once, b64_small_make);
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
    if (text) add_text_n(ix, text, n == SIZE_MAX ? strlen(text) : n, 0);
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
 * order the caller passes documents in, and a year is a range of ids.
 * Sorted as items holding the first bytes of date and url as big-endian
 * integers (strcmp's order), so most comparisons stay in one array
 * instead of following two pointers per string (util.h str_key). */
enum { SORT_WORDS = 5 };        /* date: words 0-1, url: words 2-4 */
typedef struct {
    uint64_t k[SORT_WORDS];
    const search_doc *d;
} doc_sort;

static int doc_cmp(const void *a, const void *b)
{
    const doc_sort *x = a, *y = b;
    int c = str_key_cmp(y->k, nz(y->d->date), x->k, nz(x->d->date), 2);
    return c ? c : str_key_cmp(x->k + 2, nz(x->d->url), y->k + 2, nz(y->d->url), 3);
}

static void sort_docs(const search_doc **ord, size_t n)
{
    if (n < 2) return;
    doc_sort *v = xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i].d = ord[i];
        str_key(nz(ord[i]->date), v[i].k, 2);
        str_key(nz(ord[i]->url), v[i].k + 2, 3);
    }
    qsort(v, n, sizeof *v, doc_cmp);
    for (size_t i = 0; i < n; i++) ord[i] = v[i].d;
    free(v);
}

void search_order(const search_doc *docs, size_t n, size_t *order)
{
    const search_doc **ord = xmalloc((n ? n : 1) * sizeof *ord);
    for (size_t i = 0; i < n; i++) ord[i] = &docs[i];
    sort_docs(ord, n);
    for (size_t i = 0; i < n; i++) order[i] = (size_t)(ord[i] - docs);
    free(ord);
}

/* A run of bytes in memory. */
typedef struct { const char *p; size_t len; } piece;

/* A term as the shard writer sorts it. */
typedef struct {
    const char *tok;        /* a long token's bytes (short ones are in buf) */
    size_t len;
    const term *t;          /* its postings in the index, or (NULL) the pieces sp */
    const piece *sp;
    size_t nsp;
    uint32_t np;
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
    /* (no strlen: a NUL among the first four bytes is not a digit) */
    if (!date) return 0;
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
    /* (up to the NUL, not strlen: a text is thousands of bytes, a
     * snippet a few hundred; utf8_decode never reads past a NUL) */
    text = nz(text);
    size_t i = 0, chars = 0;
    buf s = BUF_INIT;
    buf_grow(&s, 4 * SNIPPET_CHARS + 8);      /* all of it: bytes stored below */
    int space = 1;
    while (text[i] && chars < SNIPPET_CHARS) {
        /* ASCII and 3-byte sequences (nearly all of it) copied as they
         * are; anything else decoded (a bad byte becomes U+FFFD) */
        const char *c = text + i;
        size_t used = (unsigned char)*c < 0x80 ? 1 : utf8_is3(c) ? 3 : 0;
        uint32_t cp = 0;
        if (!used) used = utf8_decode(c, SIZE_MAX - i, &cp);
        int ws = used == 1 ? *c == ' ' || *c == '\n' || *c == '\t' || *c == '\r'
                           : used == 3 && !memcmp(c, "\xE3\x80\x80", 3);   /* U+3000 */
        if (ws) {
            if (!space) { s.ptr[s.len++] = ' '; chars++; }
            space = 1;
        } else {
            if (cp) {
                utf8_encode(&s, cp);
            } else {
                for (size_t k = 0; k < used; k++) s.ptr[s.len + k] = c[k];
                s.len += used;
            }
            chars++;
            space = 0;
        }
        i += used;
    }
    while (s.len && s.ptr[s.len - 1] == ' ') s.len--;
    s.ptr[s.len] = 0;
    if (text[i]) buf_puts(&s, "…");
    /* (valid UTF-8 as made: copies of valid sequences, U+FFFD for the rest) */
    buf_putc(b, '"');
    esc_json(b, s.ptr, s.len);
    buf_putc(b, '"');
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

/* The districts of meta.json: each id once, with the least of the names
 * it was given (strcmp order), sorted by id. There is one (id, name) per
 * document and district (20k at 10k documents) but only a few ids:
 * sorting them all made nearly every comparison a tie (two strcmps), so
 * they are first made distinct in a small hash table, then sorted. */
typedef struct { const char *id, *name; uint32_t hash; } district;

static int district_cmp(const void *a, const void *b)
{
    return strcmp(((const district *)a)->id, ((const district *)b)->id);
}

typedef struct {
    district *v;       /* the distinct ids */
    size_t n, cap;
    uint32_t *slot;    /* index into v + 1; 0: empty */
    size_t mask;
} district_set;

static void district_grow(district_set *s)
{
    size_t cap = s->mask ? (s->mask + 1) * 2 : 64;
    free(s->slot);
    s->slot = xcalloc(cap, sizeof *s->slot);
    s->mask = cap - 1;
    for (size_t i = 0; i < s->n; i++) {
        size_t k = s->v[i].hash & s->mask;
        while (s->slot[k]) k = (k + 1) & s->mask;
        s->slot[k] = (uint32_t)(i + 1);
    }
}

static void district_add(district_set *s, const char *id, const char *name)
{
    if (2 * (s->n + 1) > s->mask) district_grow(s);
    uint32_t h = search_hash(id, strlen(id));
    size_t k = h & s->mask;
    for (; s->slot[k]; k = (k + 1) & s->mask) {
        district *d = &s->v[s->slot[k] - 1];
        if (d->hash != h || strcmp(d->id, id)) continue;
        if (d->name != name && strcmp(name, d->name) < 0) d->name = name;
        return;
    }
    if (s->n == s->cap) s->v = xrealloc(s->v, (s->cap = s->cap ? s->cap * 2 : 16) * sizeof *s->v);
    s->v[s->n] = (district){id, name, h};
    s->slot[k] = (uint32_t)++s->n;
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
    district_set ds = {0};
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < ord[i]->ndistricts; k++) {
            if (!ord[i]->districts[k]) continue;
            const char *nm = ord[i]->district_names && ord[i]->district_names[k]
                                 ? ord[i]->district_names[k] : ord[i]->districts[k];
            district_add(&ds, ord[i]->districts[k], nm);
        }
    if (ds.n > 1) qsort(ds.v, ds.n, sizeof *ds.v, district_cmp);
    for (size_t i = 0; i < ds.n; i++) {
        buf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
        json_str(&b, ds.v[i].id);
        buf_puts(&b, ",\"name\":");
        json_str(&b, ds.v[i].name);
        buf_putc(&b, '}');
    }
    free(ds.v);
    free(ds.slot);
    buf_puts(&b, "]}\n");
    int rc = write_buf(o, "search/meta.json", &b);
    buf_free(&b);
    return rc;
}

/* What the incremental index knows of one idx/ or docs/ file: the
 * fingerprint of its bytes and the file's stat once written (as the page
 * cache keeps them), so a rebuild that makes the same bytes keeps the
 * file without reading it. */
typedef struct {
    fp128 fp;
    uint64_t size, ino, mtime_ns, ctime_ns;
} fstamp;

/* The idx/ or docs/ files of a build: written through o; with stamp,
 * also stamped in cur (file i in cur[i]), and kept when old says the same
 * bytes are still there. */
typedef struct {
    outdir *o;
    const fstamp *old;
    size_t nold;
    fstamp *cur;
    size_t ncur;
    bool stamp;
    bool trust;          /* the files are as old says (search_hooks.trust_out) */
} fileset;

static uint64_t ns_of(struct timespec t) { return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec; }

static int stat_out(outdir *o, const char *rel, fstamp *st)
{
    char *full = path_join(out_root(o), rel);
    struct stat sb;
    int r = lstat(full, &sb);
    free(full);
    if (r < 0 || !S_ISREG(sb.st_mode)) return -1;
    st->size = (uint64_t)sb.st_size;
    st->ino = (uint64_t)sb.st_ino;
    st->mtime_ns = ns_of(sb.st_mtim);
    st->ctime_ns = ns_of(sb.st_ctim);
    return 0;
}

/* Is file i of fs, of which the last build recorded a stamp, still as
 * that build left it: by its stat, or by trust? */
static bool as_stamped(const fileset *fs, size_t i, const char *rel)
{
    if (fs->trust) return true;
    fstamp disk;
    return stat_out(fs->o, rel, &disk) == 0 && disk.size == fs->old[i].size && disk.ino == fs->old[i].ino &&
           disk.mtime_ns == fs->old[i].mtime_ns && disk.ctime_ns == fs->old[i].ctime_ns;
}

/* File i of fs, with the bytes in b. A stamp that cannot be taken stays
 * zero, which no file's fingerprint and stat match. */
static int put_file(fileset *fs, size_t i, const char *rel, buf *b)
{
    if (!fs->stamp) return write_buf(fs->o, rel, b);
    if (i >= fs->ncur) {
        fs->cur = xrealloc(fs->cur, (i + 1) * sizeof *fs->cur);
        memset(fs->cur + fs->ncur, 0, (i + 1 - fs->ncur) * sizeof *fs->cur);
        fs->ncur = i + 1;
    }
    fstamp now = {.fp = fp_bytes(b->ptr ? b->ptr : "", b->len)}, disk;
    if (i < fs->nold && fp_eq(fs->old[i].fp, now.fp) && (fs->old[i].fp.lo || fs->old[i].fp.hi) &&
        as_stamped(fs, i, rel)) {
        fs->cur[i] = fs->old[i];
        return out_keep(fs->o, rel);
    }
    fs->cur[i] = (fstamp){{0, 0}, 0, 0, 0, 0};
    int rc = write_buf(fs->o, rel, b);
    if (rc == 0 && stat_out(fs->o, rel, &disk) == 0) {
        fs->cur[i] = disk;
        fs->cur[i].fp = now.fp;
    }
    return rc;
}

/* Is file i of fs still as the last build wrote it (by its stat)? */
static bool stamp_fresh(fileset *fs, size_t i, const char *rel)
{
    return fs->stamp && i < fs->nold && (fs->old[i].fp.lo || fs->old[i].fp.hi) && as_stamped(fs, i, rel);
}

/* Claim file i as written, with the last build's stamp. */
static int keep_stamped(fileset *fs, size_t i, const char *rel)
{
    if (i >= fs->ncur) {
        fs->cur = xrealloc(fs->cur, (i + 1) * sizeof *fs->cur);
        memset(fs->cur + fs->ncur, 0, (i + 1 - fs->ncur) * sizeof *fs->cur);
        fs->ncur = i + 1;
    }
    fs->cur[i] = fs->old[i];
    return out_keep(fs->o, rel);
}

/* Keep file i of fs when the last build wrote it with the bytes this one
 * would write (the caller knows) and it is still as written; true then. */
static bool keep_fresh(fileset *fs, size_t i, const char *rel)
{
    return stamp_fresh(fs, i, rel) && keep_stamped(fs, i, rel) == 0;
}

/* search/docs/N.json: chunk c, held in b until its last document. */
static int flush_docs(buf *b, size_t c, fileset *fs)
{
    buf_puts(b, "]\n");
    char rel[64];
    snprintf(rel, sizeof rel, "search/docs/%zu.json", c);
    int rc = put_file(fs, c, rel, b);
    buf_clear(b);
    return rc;
}


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

/* The shard count for terms of this many JSON bytes (term_bytes). */
static unsigned shard_count(size_t total)
{
    unsigned ns = 1;
    while (ns < SHARD_MAX && total / ns > SHARD_TARGET) ns *= 2;
    return ns;
}

/* The shard count for these terms: by their rough JSON size (len + 6 +
 * 2 per posting). */
static unsigned refs_shards(const term_ref *refs, size_t nr)
{
    size_t total = 0;
    for (size_t i = 0; i < nr; i++) total += refs[i].len + 6 + (size_t)refs[i].np * 2;
    return shard_count(total);
}

/* refs (nr, postings np > 0) go to shard hash % shards, sorted by their
 * bytes within a shard; one shard is built and written at a time, so the
 * whole index never exists twice in memory. A shard s with dirty[s] 0
 * (dirty non-NULL) holds what it held in the last build: kept as it is
 * when still fresh. */
static int write_refs(const index_t *ix, term_ref *refs, size_t nr, fileset *fs,
                      const uint8_t *dirty, unsigned *nshards_out)
{
    unsigned ns = refs_shards(refs, nr);
    *nshards_out = ns;

    /* bucket the terms by shard: start[s] .. start[s + 1] */
    uint32_t *shard = xmalloc((nr ? nr : 1) * sizeof *shard);
    size_t *start = xcalloc(ns + 1, sizeof *start);
    for (size_t i = 0; i < nr; i++) {
        shard[i] = search_hash(ref_tok(&refs[i]), refs[i].len) % ns;
        start[shard[i] + 1]++;
    }
    for (unsigned s = 0; s < ns; s++) start[s + 1] += start[s];
    term_ref *sorted = xmalloc((nr ? nr : 1) * sizeof *sorted);
    size_t *fill = xmalloc(ns * sizeof *fill);
    memcpy(fill, start, ns * sizeof *fill);
    for (size_t i = 0; i < nr; i++) {
        term_ref *r = &sorted[fill[shard[i]]++];
        *r = refs[i];           /* a short token's bytes come along in buf */
    }
    free(fill);
    free(shard);

    int rc = 0;
    buf b = BUF_INIT, chain = BUF_INIT;
    for (unsigned s = 0; s < ns; s++) {
        term_ref *r = sorted + start[s];
        size_t n = start[s + 1] - start[s];
        char rel[64];
        snprintf(rel, sizeof rel, "search/idx/%u.json", s);
        if (dirty && !dirty[s] && keep_fresh(fs, s, rel)) continue;
        if (n > 1) qsort(r, n, sizeof *r, term_cmp);
        buf_clear(&b);
        for (size_t i = 0; i < n; i++) {
            buf_puts(&b, i ? ",\n\"" : "{\"");
            esc_json(&b, ref_tok(&r[i]), r[i].len);
            buf_puts(&b, "\":\"");
            if (r[i].t) put_postings(&b, ix, r[i].t, &chain);
            else
                for (size_t k = 0; k < r[i].nsp; k++) buf_put(&b, r[i].sp[k].p, r[i].sp[k].len);
            buf_putc(&b, '"');
        }
        buf_puts(&b, n ? "}\n" : "{}\n");
        if (put_file(fs, s, rel, &b) < 0) rc = -1;
    }
    buf_free(&b);
    buf_free(&chain);
    free(sorted);
    free(start);
    return rc;
}

/* The shards of a whole index. */
static int write_shards(const index_t *ix, fileset *fs, unsigned *nshards_out)
{
    term_ref *refs = xmalloc((ix->n ? ix->n : 1) * sizeof *refs);
    for (size_t i = 0; i < ix->n; i++) {
        const term *t = &ix->terms[i];
        term_ref *r = &refs[i];
        r->t = t;
        r->np = t->np;
        r->len = term_len(ix, t);
        r->tok = term_tok(ix, t, r->buf);
    }
    int rc = write_refs(ix, refs, ix->n, fs, NULL, nshards_out);
    free(refs);
    return rc;
}

/* GAZETTE_TIMING=1: CPU time of this thread (the build runs the index on a
 * thread of its own) in each step, so the index's cost is visible apart
 * from the page rendering it overlaps with. */
typedef struct { int on; double t0, w0; } timing;

static void timing_step(timing *t, const char *name)
{
    if (!t->on) return;
    double c = clock_seconds(CLOCK_THREAD_CPUTIME_ID), w = clock_seconds(CLOCK_MONOTONIC);
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
    search_hooks h = {.consumed = consumed, .ud = ud};
    return search_write_hooks(docs, n, o, d, &h);
}

/* ---- the incremental index (search_hooks.cache_path) ---------------- */

/* A document's fingerprint: everything index_doc and doc_json read. Zero
 * (never matched) when its text cannot be told without reading it. */
static fp128 doc_key(const search_doc *d, buf *kb)
{
    if (!d->text && !d->text_id) return (fp128){0, 0};
    buf k = *kb;                /* one buffer for all: no malloc per doc */
    buf_clear(&k);
    const char *f[] = {d->url, d->title, d->doc_number, d->issuer, d->date, d->kind, d->category};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) fp_encode_str(&k, f[i]);
    buf_printf(&k, "t%zu", d->ntags);
    for (size_t i = 0; i < d->ntags; i++) fp_encode_str(&k, d->tags[i]);
    buf_printf(&k, "d%zu", d->ndistricts);
    for (size_t i = 0; i < d->ndistricts; i++) {
        fp_encode_str(&k, d->districts[i]);
        fp_encode_str(&k, d->district_names ? d->district_names[i] : NULL);
    }
    if (d->text) {
        fp128 t = fp_bytes(d->text, strlen(d->text));
        buf_printf(&k, "x%016llx%016llx", (unsigned long long)t.hi, (unsigned long long)t.lo);
    } else {
        buf_printf(&k, "i%zu:", d->text_id_len);
        buf_put(&k, d->text_id, d->text_id_len);
    }
    fp128 r = fp_bytes(k.ptr, k.len);
    *kb = k;
    if (!r.lo && !r.hi) r.lo = 1;
    return r;
}

void search_doc_keys(const search_doc *docs, size_t n, fp128 *keys)
{
    buf k = BUF_INIT;
    for (size_t i = 0; i < n; i++) keys[i] = doc_key(&docs[i], &k);
    buf_free(&k);
}

/* Bytes that must stay where they are once a piece points at them: blocks
 * that are never reallocated. */
typedef struct {
    char **blk;
    size_t nblk;
    char *cur;
    size_t used, cap;
    size_t total;               /* bytes put */
} arena;

static const char *arena_put(arena *a, const void *p, size_t n)
{
    if (!a->cur || n > a->cap - a->used) {
        size_t cap = n > ((size_t)1 << 16) ? n : (size_t)1 << 16;
        a->blk = xrealloc(a->blk, (a->nblk + 1) * sizeof *a->blk);
        a->cur = a->blk[a->nblk++] = xmalloc(cap);
        a->cap = cap;
        a->used = 0;
    }
    char *dst = a->cur + a->used;
    memcpy(dst, p, n);
    a->used += n;
    a->total += n;
    return dst;
}

static void arena_free(arena *a)
{
    for (size_t i = 0; i < a->nblk; i++) free(a->blk[i]);
    free(a->blk);
    *a = (arena){0};
}

/* The index as the next build needs it. Doc i (in id order) has the
 * fingerprint key[i], its docs/N.json entry json[i] and its terms
 * toks[i] (ids ascending, as LEB128 deltas, each followed by the term's
 * posting for the document, mask << 2 | tf, doc_tokens). Term t is str[t] with np[t]
 * postings (np 0: no document holds it any more; kept so that term ids
 * stay put), whose bytes are the pieces span[sfirst[t] .. sfirst[t + 1])
 * one after the other, each of whole postings (but in a state made from
 * an index, state_from_index, which is only stored): a patched term is the
 * old term's unchanged runs where they lie with the postings encoded again
 * between them (on a body edit, a few bytes of a term's thousands).
 * Pieces point into a loaded file, into the b* blobs, the arena or an
 * index's blocks, or into the state a patched one was made from (which
 * then lives until this one is saved): unchanged bytes are never copied,
 * in memory nor, when the state is appended to its file (state_save), on
 * disk. */
typedef struct {
    size_t ndocs, nterms, ns, nchunks, nspan;
    fp128 *key;
    piece *json, *toks;                     /* ndocs */
    piece *str;                             /* nterms */
    uint32_t *np;                           /* nterms */
    size_t *sfirst;                         /* nterms + 1 */
    piece *span;                            /* nspan */
    fstamp *shard_st, *chunk_st;            /* ns, nchunks */
    buf bjson, btoks, bstrs, bpost;         /* bytes made in this build */
    /* Made by state_from_index (big_grow; their caps): the index's
     * posting blocks, and the documents' token lists. */
    char *blocks, *tokens;
    size_t blocks_cap, tokens_cap;
    arena made;                             /* postings encoded in this build */
    const char *file;                       /* a loaded state's file, mapped */
    size_t flen;                            /* its length */
    size_t good;                            /* the end of its last good record */
    uint64_t dev, ino;                      /* which file it was */
} sstate;

/* The file: records, one after another. The first is a whole state; a
 * patched build appends one more (or, when the file has grown to twice
 * what one record of its state would be, writes a new file of one). A
 * record: STATE_MAGIC, the length of its body (u64) and the body's
 * fingerprint; the body: fp_self, the counts (ndocs, nterms, ns, nchunks,
 * nspan: u64), keys, the json lengths (u32), toks and str pieces (each a
 * dpiece: file offset and length), per term its count of spans (u32), the
 * spans (dpieces), np (u32), the shard and chunk stamps, then the bytes
 * of its pieces that are not in the file before it. The state is the last
 * record that checks out, and all before it do: a torn or damaged tail
 * (a build killed while appending) costs the edits since, never the
 * output. Records are only ever added at the end (under flock) and the
 * file is replaced whole by rename, never truncated: a loaded state is
 * mapped. */
#define STATE_MAGIC "GZSIDX4\n"
#define STATE_HEAD 32       /* magic, body length u64, fingerprint of the body */
#define STATE_COUNTS 5

typedef struct { uint32_t off, len; } dpiece;

static void state_free(sstate *st)
{
    free(st->key);
    free(st->json);
    free(st->toks);
    free(st->str);
    free(st->np);
    free(st->sfirst);
    free(st->span);
    free(st->shard_st);
    free(st->chunk_st);
    buf_free(&st->bjson);
    buf_free(&st->btoks);
    buf_free(&st->bstrs);
    buf_free(&st->bpost);
    big_free(st->blocks, st->blocks_cap);
    big_free(st->tokens, st->tokens_cap);
    arena_free(&st->made);
    if (st->file) munmap((void *)st->file, st->flen);
    *st = (sstate){0};
}

static bool self_known(fp128 self) { return self.lo || self.hi; }

/* The pieces to write, neighbours in memory joined. */
typedef struct {
    struct iovec *v;
    size_t n, cap, len;
} gather;

static void gather_add(gather *g, const void *p, size_t len)
{
    if (!len) return;
    g->len += len;
    if (g->n && (const char *)g->v[g->n - 1].iov_base + g->v[g->n - 1].iov_len == p) {
        g->v[g->n - 1].iov_len += len;
        return;
    }
    if (g->n == g->cap) g->v = xrealloc(g->v, (g->cap = g->cap ? g->cap * 2 : 256) * sizeof *g->v);
    g->v[g->n++] = (struct iovec){(void *)p, len};
}

static int write_gather(int fd, const gather *g)
{
    for (size_t i = 0; i < g->n;) {
        size_t k = g->n - i < 512 ? g->n - i : 512;
        ssize_t w = writev(fd, g->v + i, (int)k);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        /* a short write: finish the pieces one by one */
        size_t done = (size_t)w;
        for (; k && done >= g->v[i].iov_len; k--) done -= g->v[i++].iov_len;
        if (k && done) {
            if (write_all_fd(fd, (const char *)g->v[i].iov_base + done, g->v[i].iov_len - done) < 0)
                return -1;
            i++;
        }
    }
    return 0;
}

/* One record being made, to go at file offset start of a file whose
 * first blen bytes are base (the loaded state's good records; NULL for
 * a new file): a piece that lies there is written as its offset, any
 * other's bytes go into the record's own blob. */
typedef struct {
    const char *base;
    size_t blen;
    uint64_t at;            /* file offset of the blob's next byte */
    buf tabs;               /* the body up to the blob */
    gather blob;
    uint64_t live;          /* bytes the state's pieces hold */
    bool ok;                /* no offset past 4 GB */
} rec;

static void rec_piece(rec *r, piece pc)
{
    uint64_t off = 0;
    uintptr_t p = (uintptr_t)pc.p, b = (uintptr_t)r->base;
    if (!pc.len) {
        off = 0;
    } else if (r->base && p >= b && p - b <= r->blen && pc.len <= r->blen - (p - b)) {
        off = p - b;
    } else {
        off = r->at;
        gather_add(&r->blob, pc.p, pc.len);
        r->at += pc.len;
    }
    if (off + pc.len > UINT32_MAX) r->ok = false;
    dpiece d = {(uint32_t)off, (uint32_t)pc.len};
    buf_put(&r->tabs, &d, sizeof d);
    r->live += pc.len;
}

/* The body's length up to the blob, with nspan spans. */
static uint64_t rec_tables(const sstate *st, size_t nspan)
{
    return sizeof(fp128) + STATE_COUNTS * 8 + st->ndocs * (sizeof(fp128) + 4 + sizeof(dpiece)) +
           st->nterms * (sizeof(dpiece) + 4 + 4) + nspan * sizeof(dpiece) +
           (st->ns + st->nchunks) * sizeof(fstamp);
}

/* The pieces pc[0..n) one after another in the blob, as one dpiece. */
static void rec_run(rec *r, const piece *pc, size_t n)
{
    uint64_t start = r->at;
    for (size_t i = 0; i < n; i++) {
        gather_add(&r->blob, pc[i].p, pc[i].len);
        r->at += pc[i].len;
        r->live += pc[i].len;
    }
    if (r->at > UINT32_MAX) r->ok = false;
    dpiece d = {(uint32_t)start, (uint32_t)(r->at - start)};
    buf_put(&r->tabs, &d, sizeof d);
}

/* A record of st. In a new file (no base) a term's pieces come one after
 * another in the blob: one dpiece a term, so the same state is always the
 * same file. */
static void rec_make(rec *r, const sstate *st, fp128 self, const char *base, size_t blen,
                     uint64_t start)
{
    size_t nspan = st->nspan;
    if (!base)
        for (size_t t = nspan = 0; t < st->nterms; t++) nspan += st->sfirst[t + 1] > st->sfirst[t];
    *r = (rec){base, blen, start + STATE_HEAD + rec_tables(st, nspan), BUF_INIT, {0}, 0, true};
    uint64_t c[STATE_COUNTS] = {st->ndocs, st->nterms, st->ns, st->nchunks, nspan};
    buf_put(&r->tabs, &self, sizeof self);
    buf_put(&r->tabs, c, sizeof c);
    buf_put(&r->tabs, st->key, st->ndocs * sizeof *st->key);
    /* a doc's json only by its length: the bytes are in docs/N.json */
    for (size_t i = 0; i < st->ndocs; i++) {
        uint32_t l = (uint32_t)st->json[i].len;
        if (st->json[i].len > UINT32_MAX) r->ok = false;
        buf_put(&r->tabs, &l, 4);
    }
    for (size_t i = 0; i < st->ndocs; i++) rec_piece(r, st->toks[i]);
    for (size_t t = 0; t < st->nterms; t++) rec_piece(r, st->str[t]);
    for (size_t t = 0; t < st->nterms; t++) {
        uint32_t k = (uint32_t)(st->sfirst[t + 1] - st->sfirst[t]);
        if (!base && k) k = 1;
        buf_put(&r->tabs, &k, 4);
    }
    if (base)
        for (size_t s = 0; s < st->nspan; s++) rec_piece(r, st->span[s]);
    else
        for (size_t t = 0; t < st->nterms; t++)
            if (st->sfirst[t + 1] > st->sfirst[t])
                rec_run(r, st->span + st->sfirst[t], st->sfirst[t + 1] - st->sfirst[t]);
    buf_put(&r->tabs, st->np, st->nterms * 4);
    buf_put(&r->tabs, st->shard_st, st->ns * sizeof(fstamp));
    buf_put(&r->tabs, st->chunk_st, st->nchunks * sizeof(fstamp));
}

static void rec_free(rec *r)
{
    buf_free(&r->tabs);
    free(r->blob.v);
}

/* The record's bytes, header first (head: room for STATE_HEAD). */
static void rec_gather(const rec *r, char *head, gather *g)
{
    *g = (gather){0};
    gather_add(g, head, STATE_HEAD);
    gather_add(g, r->tabs.ptr, r->tabs.len);
    for (size_t i = 0; i < r->blob.n; i++) gather_add(g, r->blob.v[i].iov_base, r->blob.v[i].iov_len);
    uint64_t body = g->len - STATE_HEAD;
    fp128 sum = fp_pieces(g->v + 1, g->n - 1);
    memcpy(head, STATE_MAGIC, 8);
    memcpy(head + 8, &body, 8);
    memcpy(head + 16, &sum, 16);
}

/* g at the end of the loaded file, when it is still the one loaded, as
 * long as it was (no torn tail, no other build's record since), under an
 * exclusive lock so two builds never append at once. */
static int state_append(const char *path, const sstate *old, const gather *g)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat sb, sp;
    int rc = -1;
    if (flock(fd, LOCK_EX) == 0 && fstat(fd, &sb) == 0 && stat(path, &sp) == 0 &&
        (uint64_t)sb.st_dev == old->dev && (uint64_t)sb.st_ino == old->ino &&
        sp.st_dev == sb.st_dev && sp.st_ino == sb.st_ino && (uint64_t)sb.st_size == old->flen &&
        old->good == old->flen && lseek(fd, (off_t)old->flen, SEEK_SET) == (off_t)old->flen)
        rc = write_gather(fd, g);
    if (close(fd) < 0) rc = -1;             /* (and the lock goes) */
    return rc;
}

/* Host byte order: the file is a cache of this machine's gazette (its
 * fingerprint is in each record), never shared. Appended to the loaded
 * file (old, when st was patched from it) while that stays under twice
 * the size of st written alone, else written from the pieces where they
 * lie (no 11 MB copy) into a temporary file renamed over the old one, as
 * write_file_atomic does. */
static int state_save(const char *path, const sstate *st, const sstate *old, diag *d)
{
    /* A state that does not describe the files just written is worse
     * than none (search_hooks.trust_out keeps files by it): where none is
     * stored, the old one goes. */
    fp128 self = fp_self();
    if (!self_known(self)) {
        unlink(path);
        return 0;
    }
    char head[STATE_HEAD];
    gather g;
    rec r;
    if (old && old->file && old->good == old->flen) {
        rec_make(&r, st, self, old->file, old->good, old->good);
        uint64_t whole = STATE_HEAD + rec_tables(st, st->nterms) + r.live;
        bool fits = r.ok && old->good + STATE_HEAD + r.tabs.len + r.blob.len <= 2 * whole;
        int rc = -1;
        if (fits) {
            rec_gather(&r, head, &g);
            rc = state_append(path, old, &g);
            free(g.v);
        }
        rec_free(&r);
        if (rc == 0) return 0;
    }
    rec_make(&r, st, self, NULL, 0, 0);
    rec_gather(&r, head, &g);
    int rc = -1;
    char *tmp = xasprintf("%s.tmp-gz%ld", path, (long)getpid());
    int fd = r.ok ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    if (fd >= 0) {
        rc = write_gather(fd, &g);
        if (close(fd) < 0) rc = -1;
        if (rc == 0 && rename(tmp, path) < 0) rc = -1;
        if (rc < 0) {
            int e = errno;
            unlink(tmp);
            errno = e;
        }
    }
    if (rc < 0 && r.ok) diag_warn(d, path, 0, "cannot write the search index cache: %s", strerror(errno));
    if (rc < 0 || !r.ok) unlink(path);      /* (past 4 GB: no state) */
    free(tmp);
    free(g.v);
    rec_free(&r);
    return rc;
}

/* count items of size bytes from *p (a copy), or NULL past end. */
static void *take(const char **p, const char *end, size_t count, size_t size)
{
    if (count > (size_t)(end - *p) / size) return NULL;
    size_t n = count * size;
    void *v = xmalloc(n ? n : 1);
    memcpy(v, *p, n);
    *p += n;
    return v;
}

/* n pieces, dpieces at *p into the file (each before lim); NULL when one
 * is not. */
static piece *take_pieces(const char **p, const char *end, size_t n, const char *file, size_t lim)
{
    dpiece *dp = take(p, end, n, sizeof *dp);
    if (!dp) return NULL;
    piece *pc = xmalloc((n ? n : 1) * sizeof *pc);
    for (size_t i = 0; i < n; i++) {
        if (dp[i].off > lim || dp[i].len > lim - dp[i].off) {
            free(pc);
            free(dp);
            return NULL;
        }
        pc[i] = (piece){file + dp[i].off, dp[i].len};
    }
    free(dp);
    return pc;
}

/* The state of the record at file[start .. end) (checked); -1 when it
 * does not parse or is not this gazette's. */
static int state_parse(sstate *st, size_t start, size_t end, fp128 self)
{
    const char *p = st->file + start + STATE_HEAD, *e = st->file + end;
    uint64_t c[STATE_COUNTS];
    fp128 fself;
    if ((size_t)(e - p) < sizeof fself + sizeof c) return -1;
    memcpy(&fself, p, sizeof fself);
    memcpy(c, p + sizeof fself, sizeof c);
    p += sizeof fself + sizeof c;
    if (!fp_eq(fself, self)) return -1;
    for (int i = 0; i < STATE_COUNTS; i++)
        if (c[i] > end) return -1;
    st->ndocs = c[0];
    st->nterms = c[1];
    st->ns = c[2];
    st->nchunks = c[3];
    st->nspan = c[4];
    uint32_t *jl = NULL, *cnt = NULL;
    int rc = -1;
    if (!(st->key = take(&p, e, st->ndocs, sizeof *st->key)) ||
        !(jl = take(&p, e, st->ndocs, 4)) ||
        !(st->toks = take_pieces(&p, e, st->ndocs, st->file, end)) ||
        !(st->str = take_pieces(&p, e, st->nterms, st->file, end)) ||
        !(cnt = take(&p, e, st->nterms, 4)) ||
        !(st->span = take_pieces(&p, e, st->nspan, st->file, end)) ||
        !(st->np = take(&p, e, st->nterms, 4)) ||
        !(st->shard_st = take(&p, e, st->ns, sizeof(fstamp))) ||
        !(st->chunk_st = take(&p, e, st->nchunks, sizeof(fstamp))))
        goto out;
    st->json = xmalloc((st->ndocs ? st->ndocs : 1) * sizeof *st->json);
    for (size_t i = 0; i < st->ndocs; i++) st->json[i] = (piece){NULL, jl[i]};
    st->sfirst = xmalloc((st->nterms + 1) * sizeof *st->sfirst);
    size_t s = 0;
    for (size_t t = 0; t < st->nterms; t++) {
        st->sfirst[t] = s;
        s += cnt[t];
        if (!st->str[t].len) goto out;                  /* tokens are not empty */
    }
    st->sfirst[st->nterms] = s;
    if (s != st->nspan) goto out;
    /* a term's pieces that follow each other in the file as one (a state
     * written whole has one a term): the same state, however it was
     * written, is the same pieces (state_same) */
    size_t k = 0;
    for (size_t t = 0; t < st->nterms; t++) {
        size_t from = st->sfirst[t], to = st->sfirst[t + 1];
        st->sfirst[t] = k;
        for (size_t j = from; j < to; j++) {
            if (!st->span[j].len) continue;
            if (k > st->sfirst[t] && st->span[k - 1].p + st->span[k - 1].len == st->span[j].p)
                st->span[k - 1].len += st->span[j].len;
            else
                st->span[k++] = st->span[j];
        }
    }
    st->sfirst[st->nterms] = st->nspan = k;
    rc = 0;
out:
    free(jl);
    free(cnt);
    return rc;
}

/* The state in path: its last good record. -1 (st empty) when there is
 * none, or it is not this gazette's. */
static int state_load(const char *path, sstate *st)
{
    *st = (sstate){0};
    fp128 self = fp_self();
    if (!self_known(self)) return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat sb;
    void *m = MAP_FAILED;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= STATE_HEAD &&
        (uint64_t)sb.st_size < SIZE_MAX / 2)
        m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return -1;
    st->file = m;
    st->flen = (size_t)sb.st_size;
    st->dev = (uint64_t)sb.st_dev;
    st->ino = (uint64_t)sb.st_ino;
    size_t at = 0, last = SIZE_MAX;
    while (st->flen - at >= STATE_HEAD) {
        const char *h = st->file + at;
        uint64_t body;
        fp128 sum;
        memcpy(&body, h + 8, 8);
        memcpy(&sum, h + 16, 16);
        if (memcmp(h, STATE_MAGIC, 8) || body > st->flen - at - STATE_HEAD ||
            !fp_eq(sum, fp_bytes(h + STATE_HEAD, body)))
            break;
        last = at;
        at += STATE_HEAD + body;
    }
    st->good = at;
    if (last == SIZE_MAX || state_parse(st, last, at, self) < 0) {
        state_free(st);
        return -1;
    }
    return 0;
}

/* The value of each SEARCH_B64 char, -1 for any other byte. */
static const signed char B64_VAL[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, -1, -1, -1, -1,
    -1, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50,
    51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, 63,
    -1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
    25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* One varint at *p (< end) into *v, moving *p; false if malformed. */
static inline bool next_b64(const char **p, const char *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; *p < end && shift < 65; shift += 5) {
        int d = B64_VAL[(unsigned char)*(*p)++];
        if (d < 0) return false;
        r |= (uint64_t)(d & 31) << shift;
        if (!(d & 32)) { *v = r; return true; }
    }
    return false;
}

/* One posting at *p: v (delta << 3 | tf << 1 | has mask) and the mask. */
static inline bool next_posting(const char **p, const char *end, uint64_t *v, uint64_t *m)
{
    *m = 0;
    return next_b64(p, end, v) && (!(*v & 1) || (next_b64(p, end, m) && *m && *m <= 255));
}

/* v as LEB128 at p (room for 5 bytes); returns the end. */
static inline unsigned char *leb_at(unsigned char *p, uint32_t v)
{
    while (v >= 128) {
        *p++ = (unsigned char)(v | 128);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

static void put_leb(buf *b, uint32_t v)
{
    buf_grow(b, 5);
    b->len = (size_t)((char *)leb_at((unsigned char *)b->ptr + b->len, v) - b->ptr);
    b->ptr[b->len] = 0;
}

typedef struct { char *ptr; size_t len, cap; } bigbuf;     /* big_grow's */

/* Room in b for extra more bytes. */
static void bigbuf_room(bigbuf *b, size_t extra)
{
    if (b->len + extra <= b->cap && b->ptr) return;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->len + extra) cap *= 2;
    b->ptr = big_grow(b->ptr, b->cap, cap);
    b->cap = cap;
}

/* The document just added to ix (with seen): its term ids, ascending, as
 * LEB128 deltas (the first as it is), each followed by its posting's
 * mask << 2 | tf (LEB128), onto out, and seen cleared for the next: the
 * token lists of the state (what a patch removes of a changed document,
 * and what tells the terms whose posting for it stays the same). Made as
 * the index is built, a bit set per posting begun and a scan of ~100
 * words per document at 10k; inverting the 4 million postings
 * afterwards, as before, was ~0.05 s at the end of a full build (and its
 * peak memory: the lists, 8 MB at 10k, are now held with the index). */
static void doc_tokens(index_t *ix, bigbuf *out)
{
    size_t nw = (ix->n + 63) / 64;
    /* Room for every term first (7 bytes at most each, 5 of id and 2 of
     * mask and tf: headroom in the one growing buffer, not memory used),
     * then bytes stored with no call each: 4 million at 10k documents, a
     * call to buf_putc each was 2% of a full build's instructions. (Not a
     * popcount of the words: without -mpopcnt that is a libgcc call per
     * word.) */
    bigbuf_room(out, ix->n * 7);
    unsigned char *p = (unsigned char *)out->ptr + out->len;
    uint32_t prev = 0;
    for (size_t w = 0; w < nw; w++) {
        uint64_t m = ix->seen[w];
        if (!m) continue;
        ix->seen[w] = 0;
        do {
            uint32_t id = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(m));
            const term *t = &ix->terms[id];         /* its posting: this document's */
            p = leb_at(p, id - prev);       /* the first: id itself (prev 0) */
            p = leb_at(p, (uint32_t)t->mask << 2 | t->tf);
            prev = id;
            m &= m - 1;
        } while (m);
    }
    out->len = (size_t)((char *)p - out->ptr);
}

/* One LEB128 number (< 2^32) at *p into *v; false when malformed. */
static bool next_leb(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (*p == end || shift > 28) return false;
        r |= (uint64_t)(**p & 127) << shift;
        if (!(*(*p)++ & 128)) break;
    }
    *v = r;
    return r <= UINT32_MAX;
}

/* A term of a document and its posting there: mask << 2 | tf. */
typedef struct { uint32_t id, tfm; } doc_term;

/* Doc j's terms into terms (ascending ids); -1 when malformed. */
static int doc_terms(const sstate *st, size_t j, doc_term **terms, size_t *n, size_t *cap)
{
    const unsigned char *p = (const unsigned char *)st->toks[j].p;
    const unsigned char *end = p + st->toks[j].len;
    uint64_t id = 0;
    *n = 0;
    while (p < end) {
        uint64_t v, tfm;
        if (!next_leb(&p, end, &v) || !next_leb(&p, end, &tfm)) return -1;
        id = *n ? id + v : v;
        if ((*n && !v) || id >= st->nterms || tfm >= 512) return -1;
        if (*n == *cap) *terms = xrealloc(*terms, (*cap = *cap ? *cap * 2 : 512) * sizeof **terms);
        (*terms)[(*n)++] = (doc_term){(uint32_t)id, (uint32_t)tfm};
    }
    return 0;
}

static int doc_term_cmp(const void *a, const void *b)
{
    const doc_term *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The state of an index built from nothing: docs (keys, and the lengths
 * of their json, jlen) and token lists (doc_tokens) were filled as they
 * were written; terms come from ix, whose posting blocks the state takes
 * (ix->post is NULL after): a term's postings are the pieces of its
 * blocks, oldest first, not a copy (68 MB at 100k documents, which the
 * copy held twice at the build's peak). A posting may span two blocks:
 * such a state is only stored (rec_make writes a term's pieces as one run,
 * and a loaded state joins neighbouring pieces), never patched. */
static void state_from_index(sstate *st, index_t *ix, const size_t *jlen)
{
    st->json = xmalloc((st->ndocs ? st->ndocs : 1) * sizeof *st->json);
    for (size_t i = 0; i < st->ndocs; i++) st->json[i] = (piece){NULL, jlen[i]};
    st->nterms = ix->n;
    size_t *sat = xmalloc((ix->n + 1) * sizeof *sat);
    st->np = xmalloc((ix->n ? ix->n : 1) * sizeof *st->np);
    st->sfirst = xmalloc((ix->n + 1) * sizeof *st->sfirst);
    size_t nspan = 0;
    for (size_t t = 0; t < ix->n; t++) {
        char tmp[KEY_MAX];
        const term *x = &ix->terms[t];
        sat[t] = st->bstrs.len;
        st->np[t] = x->np;
        buf_put(&st->bstrs, term_tok(ix, x, tmp), term_len(ix, x));
        st->sfirst[t] = nspan;
        for (uint32_t blk = x->tail; blk; blk = get32(ix->post + blk)) nspan++;
    }
    sat[ix->n] = st->bstrs.len;
    st->sfirst[ix->n] = st->nspan = nspan;
    st->str = xmalloc((ix->n ? ix->n : 1) * sizeof *st->str);
    st->span = xmalloc((nspan ? nspan : 1) * sizeof *st->span);
    for (size_t t = 0; t < ix->n; t++) {
        const term *x = &ix->terms[t];
        st->str[t] = (piece){st->bstrs.ptr + sat[t], sat[t + 1] - sat[t]};
        /* the chain links backwards; the k-th block from the first is
         * BLOCK_MIN << min(k, BLOCK_SHIFT_MAX) bytes, full but the tail */
        size_t nb = st->sfirst[t + 1] - st->sfirst[t], k = nb;
        for (uint32_t blk = x->tail; blk; blk = get32(ix->post + blk)) {
            k--;
            unsigned shift = k < BLOCK_SHIFT_MAX ? (unsigned)k : BLOCK_SHIFT_MAX;
            size_t len = k + 1 < nb ? ((size_t)BLOCK_MIN << shift) - 4 : x->used;
            st->span[st->sfirst[t] + k] = (piece){ix->post + blk + 4, len};
        }
    }
    free(sat);
    st->blocks = ix->post;
    st->blocks_cap = ix->pcap;
    ix->post = NULL;
    ix->plen = ix->pcap = 0;
}

/* A posting of a document new to the index. */
typedef struct { uint32_t term, doc; uint8_t tf, mask; } triple;

static int triple_cmp(const void *a, const void *b)
{
    const triple *x = a, *y = b;
    if (x->term != y->term) return x->term < y->term ? -1 : 1;
    return (x->doc > y->doc) - (x->doc < y->doc);
}

/* The fast part of remap_term: from p (a posting's start in a piece
 * ending at end) past the postings whose id stays below lim. *id is the
 * id of the posting before p (*first: there is none), *k counts the
 * postings passed; returns where it stopped (a posting at or past lim, or
 * end), NULL when they do not decode. Most postings are one char (a gap
 * of 1-3 documents, no field mask): one table look-up each. On a body edit
 * this is most of the patch's work (a scan of ~1 MB of postings at 10k). */
static const char *skip_below(const char *p, const char *end, uint64_t lim, uint64_t *id,
                              bool *first, uint32_t *k)
{
    uint64_t cur = *id;
    bool f = *first;
    uint32_t n = 0;
    while (p < end) {
        int d = B64_VAL[(unsigned char)*p];
        const char *q = p + 1;
        uint64_t delta;
        if ((unsigned)d < 32 && !(d & 1)) {
            delta = (unsigned)d >> 3;
        } else {
            uint64_t v, m;
            q = p;
            if (!next_posting(&q, end, &v, &m)) return NULL;
            delta = v >> 3;
        }
        uint64_t nid = f ? delta : cur + delta;
        if (nid >= lim) break;
        if (!f && !delta) return NULL;
        cur = nid;
        f = false;
        n++;
        p = q;
    }
    *id = cur;
    *first = f;
    *k = n;
    return p;
}

/* A term's new postings as pieces: runs of the old ones where they lie,
 * and postings encoded again (into the arena). Pieces of this term start
 * at start; neighbours in memory are joined. */
typedef struct {
    piece *v;
    size_t n, cap, start;
    arena *a;
} spans;

static void span_add(spans *o, const char *p, size_t len)
{
    if (!len) return;
    if (o->n > o->start && o->v[o->n - 1].p + o->v[o->n - 1].len == p) {
        o->v[o->n - 1].len += len;
        return;
    }
    if (o->n == o->cap) o->v = xrealloc(o->v, (o->cap = o->cap ? o->cap * 2 : 8192) * sizeof *o->v);
    o->v[o->n++] = (piece){p, len};
}

static void span_posting(spans *o, uint32_t *prev, uint32_t id, unsigned tf, unsigned mask)
{
    char e[32];
    size_t k = b64_varint(e, (uint64_t)(id - *prev) << 3 | tf << 1 | (mask != 0));
    if (mask) k += b64_varint(e + k, mask);
    *prev = id;
    span_add(o, arena_put(o->a, e, k), k);
}

/* Term t's postings in the new ids: the old ones mapped through newid
 * (dropped at -1) merged with the new docs' (tr .. te, by doc), added to
 * out; *np gets the count. Postings whose id and whose predecessor's id
 * are unchanged stay as they are: up to the next id that changes
 * (nextchg[id]: the first old id >= id whose new id differs) they are only
 * scanned, not decoded into the merge. On a body edit that is all but one
 * or two of a term's postings. -1 when the old postings do not decode. */
static int remap_term(const sstate *old, size_t t, const int64_t *newid, const uint32_t *nextchg,
                      const triple *tr, const triple *te, spans *out, uint32_t *np)
{
    uint64_t id = 0, oprev = 0;             /* old ids: this posting's, the one before */
    uint32_t prev = 0, n = 0;               /* new: last id written, postings */
    bool first = true;
    size_t s0 = t < old->nterms ? old->sfirst[t] : 0, s1 = t < old->nterms ? old->sfirst[t + 1] : 0;
    for (size_t s = s0; s < s1; s++) {
        /* each piece holds whole postings */
        const char *p = old->span[s].p, *end = p + old->span[s].len;
        const char *run = NULL;             /* start of the bytes kept as they are */
        while (p < end) {
            if (prev == oprev) {
                /* the fast part: ids below lim are unchanged, with nothing
                 * new before them */
                uint64_t lim = nextchg[first ? 0 : id + 1 < old->ndocs ? id + 1 : old->ndocs];
                if (tr < te && tr->doc < lim) lim = tr->doc;
                uint64_t qid = id;
                bool qfirst = first;
                uint32_t k = 0;
                const char *q = skip_below(p, end, lim, &qid, &qfirst, &k);
                if (!q) return -1;
                if (k) {
                    if (!run) run = p;
                    p = q;
                    id = oprev = qid;
                    prev = (uint32_t)qid;
                    first = false;
                    n += k;
                    continue;
                }
            }
            const char *at = p;
            uint64_t v, m;
            if (!next_posting(&p, end, &v, &m)) return -1;
            id = first ? v >> 3 : id + (v >> 3);
            if ((!first && !(v >> 3)) || id >= old->ndocs) return -1;
            first = false;
            int64_t nid = newid[id];
            if (nid >= 0) {
                for (; tr < te && tr->doc < nid; tr++, n++) {
                    if (run) span_add(out, run, (size_t)(at - run)), run = NULL;
                    span_posting(out, &prev, tr->doc, tr->tf, tr->mask);
                }
                if ((uint64_t)nid == id && prev == oprev) {
                    if (!run) run = at;
                    prev = (uint32_t)id;
                } else {
                    if (run) span_add(out, run, (size_t)(at - run)), run = NULL;
                    span_posting(out, &prev, (uint32_t)nid, (v >> 1) & 3, (unsigned)m);
                }
                n++;
            } else if (run) {
                span_add(out, run, (size_t)(at - run));
                run = NULL;
            }
            oprev = id;
        }
        if (run) span_add(out, run, (size_t)(end - run));
    }
    for (; tr < te; tr++, n++) span_posting(out, &prev, tr->doc, tr->tf, tr->mask);
    *np = n;
    return 0;
}

/* The text of sd when the caller keeps it elsewhere (sd->text NULL): a
 * new string from the hook, with *len its length; else NULL, and *len
 * SIZE_MAX (index_doc counts a text given in place). */
static char *fetch_doc_text(const search_hooks *h, const search_doc *sd, size_t *len)
{
    *len = SIZE_MAX;
    char *s = !sd->text && h->fetch_text ? h->fetch_text(sd, h->ud, len) : NULL;
    if (!s) *len = SIZE_MAX;
    return s;
}

/* An index patched from old: only new documents (no fingerprint in old)
 * are fetched and tokenized. Returns 1 and fills nw when it did the job
 * (files written, *rc set), 0 when old does not fit (nothing written). */
typedef struct {
    const search_doc *const *ord;
    size_t n;
    const fp128 *keys;
    outdir *o;
    diag *d;
    const search_hooks *h;
    timing *tm;
} job;

/* The last build's docs chunks, read when an entry of theirs is needed. */
typedef struct {
    const sstate *old;
    outdir *o;
    char **data;            /* chunk c's bytes, when state[c] is 1 */
    uint8_t *state;         /* 0 not read, 1 good, 2 not what was written */
    char **made;            /* entries made again */
    size_t nmade;
} old_chunks;

/* Does the last build's chunk file that held old doc j still hold
 * exactly what it wrote (its fingerprint)? Read on first ask. */
static bool old_chunk_good(old_chunks *oc, size_t j)
{
    const sstate *old = oc->old;
    size_t c = j / DOC_CHUNK, first = c * DOC_CHUNK;
    if (c < old->nchunks && !oc->state[c]) {
        oc->state[c] = 2;
        size_t want = 1, last = first + DOC_CHUNK < old->ndocs ? first + DOC_CHUNK : old->ndocs;
        for (size_t k = first; k < last; k++) want += old->json[k].len + 2;
        char rel[64];
        snprintf(rel, sizeof rel, "search/docs/%zu.json", c);
        char *path = path_join(out_root(oc->o), rel), *data = NULL;
        size_t len = 0;
        if (read_file(path, &data, &len) == 0 && len == want &&
            fp_eq(fp_bytes(data, len), old->chunk_st[c].fp)) {
            oc->data[c] = data;
            oc->state[c] = 1;
        } else {
            free(data);
        }
        free(path);
    }
    return c < old->nchunks && oc->state[c] == 1;
}

/* Old doc j's entry (as new doc i, whose document it is): from the last
 * build's chunk file when that is good (old_chunk_good), else made again
 * from the document. */
static piece old_entry(old_chunks *oc, size_t j, const job *jb, size_t i)
{
    const sstate *old = oc->old;
    size_t c = j / DOC_CHUNK, first = c * DOC_CHUNK;
    if (old_chunk_good(oc, j)) {
        size_t at = 1;
        for (size_t k = first; k < j; k++) at += old->json[k].len + 2;
        return (piece){oc->data[c] + at, old->json[j].len};
    }
    const search_doc *sd = jb->ord[i];
    size_t tlen;
    char *fetched = fetch_doc_text(jb->h, sd, &tlen);
    buf b = BUF_INIT;
    doc_json(&b, sd, sd->text ? sd->text : fetched);
    free(fetched);
    size_t len = b.len;
    oc->made = xrealloc(oc->made, (oc->nmade + 1) * sizeof *oc->made);
    oc->made[oc->nmade++] = buf_detach(&b);
    return (piece){oc->made[oc->nmade - 1], len};
}

/* Does new document i (of n, none matched to an old one: match[i] < 0)
 * take the id of old document i (of nold), which is gone (newid[i] < 0)?
 * A document edited in place, mostly: its terms are then set against the
 * old one's as it is tokenized, and the old one's are not made dirty
 * again. */
static bool takes_gone_id(const int64_t *match, const int64_t *newid, size_t n, size_t nold,
                          size_t i)
{
    return i < n && i < nold && match[i] < 0 && newid[i] < 0;
}

static int write_patched(const job *jb, const sstate *old, sstate *nw, int *rc, unsigned *ns_out)
{
    size_t n = jb->n;
    /* match each doc to an old one of the same fingerprint */
    size_t cap = 16;
    while (cap < old->ndocs * 2) cap *= 2;
    uint32_t *tab = xcalloc(cap, sizeof *tab);
    for (size_t j = 0; j < old->ndocs; j++) {
        if (!old->key[j].lo && !old->key[j].hi) continue;
        size_t s = old->key[j].lo & (cap - 1);
        while (tab[s]) s = (s + 1) & (cap - 1);
        tab[s] = (uint32_t)j + 1;
    }
    int64_t *match = xmalloc((n ? n : 1) * sizeof *match);
    int64_t *newid = xmalloc((old->ndocs ? old->ndocs : 1) * sizeof *newid);
    for (size_t j = 0; j < old->ndocs; j++) newid[j] = -1;
    size_t fresh = 0;
    for (size_t i = 0; i < n; i++) {
        match[i] = -1;
        fp128 k = jb->keys[i];
        if (k.lo || k.hi)
            for (size_t s = k.lo & (cap - 1); tab[s]; s = (s + 1) & (cap - 1)) {
                size_t j = tab[s] - 1;
                if (newid[j] < 0 && fp_eq(old->key[j], k)) {
                    match[i] = (int64_t)j;
                    newid[j] = (int64_t)i;
                    break;
                }
            }
        if (match[i] < 0) fresh++;
    }
    free(tab);
    int ok = 0;
    index_t dict = {0};
    triple *tr = NULL;
    size_t ntr = 0, trcap = 0;
    size_t *jat = NULL, *tat = NULL;                /* offsets in nw's blobs */
    uint8_t *dirty = NULL;
    uint32_t *nextchg = NULL;
    doc_term *ids = NULL, *olds = NULL;             /* a new document's terms, an old one's */
    size_t nolds = 0, oldcap = 0;
    uint32_t *marks = NULL;                         /* terms dirty by a new document */
    size_t nmarks = 0, markcap = 0;
    size_t nchunks = 0;
    uint8_t *keepc = NULL;
    old_chunks oc = {0};
    fileset chunks = {jb->o, old->chunk_st, old->nchunks, NULL, 0, true, jb->h->trust_out};
    size_t nids = 0, idcap = 0;
    term_ref *refs = NULL;
    /* more than a quarter new: building from nothing is about as quick */
    if (!n || fresh > n / 4 + 16) goto out;

    /* the old terms, in id order, as a dictionary */
    for (size_t t = 0; t < old->nterms; t++) {
        lookup(&dict, old->str[t].p, old->str[t].len, key_of(old->str[t].p, old->str[t].len));
        if (dict.n != t + 1) goto out;              /* a token twice */
    }

    /* tokenize the new documents */
    jat = xmalloc((n + 1) * sizeof *jat);
    tat = xmalloc((n + 1) * sizeof *tat);
    if (jb->h->prefetch) {
        const search_doc **want = xmalloc((fresh ? fresh : 1) * sizeof *want);
        size_t nwant = 0;
        for (size_t i = 0; i < n; i++)
            if (match[i] < 0) want[nwant++] = jb->ord[i];
        if (nwant) jb->h->prefetch(want, nwant, jb->h->ud);
        free(want);
    }
    for (size_t i = 0; i < n; i++) {
        const search_doc *sd = jb->ord[i];
        jat[i] = nw->bjson.len;
        tat[i] = nw->btoks.len;
        if (match[i] >= 0) continue;
        size_t tlen;
        char *fetched = fetch_doc_text(jb->h, sd, &tlen);
        const char *text = sd->text ? sd->text : fetched;
        doc_json(&nw->bjson, sd, text);
        index_t one = {0};
        index_doc(&one, sd, text, tlen);
        free(fetched);
        nids = 0;
        for (size_t k = 0; k < one.n; k++) {
            const term *x = &one.terms[k];
            char tmp[KEY_MAX];
            const char *tok = term_tok(&one, x, tmp);
            size_t len = term_len(&one, x);
            const term *gt = lookup(&dict, tok, len, key_of(tok, len));
            uint32_t g = (uint32_t)(gt - dict.terms);       /* after the call: terms may move */
            if (ntr == trcap) tr = xrealloc(tr, (trcap = trcap ? trcap * 2 : 4096) * sizeof *tr);
            tr[ntr++] = (triple){g, (uint32_t)i, x->tf, x->mask};
            if (nids == idcap) ids = xrealloc(ids, (idcap = idcap ? idcap * 2 : 512) * sizeof *ids);
            ids[nids++] = (doc_term){g, (uint32_t)x->mask << 2 | x->tf};
        }
        index_free(&one);
        if (nids > 1) qsort(ids, nids, sizeof *ids, doc_term_cmp);
        for (size_t k = 0; k < nids; k++) {
            put_leb(&nw->btoks, k ? ids[k].id - ids[k - 1].id : ids[k].id);
            put_leb(&nw->btoks, ids[k].tfm);
        }
        /* Its terms are dirty, but where it takes the id of an old
         * document that is gone (a document edited in place, mostly),
         * only those whose posting at that id is not the old one: the
         * others' postings are the same bytes (a gap is from the last id,
         * which stays). The old document's terms are then done here. */
        bool paired = takes_gone_id(match, newid, n, old->ndocs, i);
        nolds = 0;
        if (paired && doc_terms(old, i, &olds, &nolds, &oldcap) < 0) goto out;
        size_t a = 0, b = 0;
        while (a < nids || b < nolds) {
            uint32_t t;
            if (b == nolds || (a < nids && ids[a].id < olds[b].id)) t = ids[a++].id;
            else if (a == nids || olds[b].id < ids[a].id) t = olds[b++].id;
            else if (ids[a].tfm != olds[b].tfm) t = ids[a++].id, b++;
            else { a++, b++; continue; }                   /* the same posting */
            if (nmarks == markcap) marks = xrealloc(marks, (markcap = markcap ? markcap * 2 : 1024) * sizeof *marks);
            marks[nmarks++] = t;
        }
    }
    jat[n] = nw->bjson.len;
    tat[n] = nw->btoks.len;
    if (dict.overflow) goto out;
    timing_step(jb->tm, "tokenize");

    /* dirty terms: those of new docs (marks), and of old docs gone or
     * moved, but those a new document took the id of (done above) */
    dirty = xcalloc(dict.n ? dict.n : 1, 1);
    for (size_t k = 0; k < nmarks; k++) dirty[marks[k]] = 1;
    for (size_t j = 0; j < old->ndocs; j++) {
        if (newid[j] == (int64_t)j) continue;
        if (takes_gone_id(match, newid, n, old->ndocs, j)) continue;   /* done above */
        if (doc_terms(old, j, &olds, &nolds, &oldcap) < 0) goto out;
        for (size_t k = 0; k < nolds; k++) dirty[olds[k].id] = 1;
    }
    if (ntr > 1) qsort(tr, ntr, sizeof *tr, triple_cmp);
    nextchg = xmalloc((old->ndocs + 1) * sizeof *nextchg);
    nextchg[old->ndocs] = (uint32_t)old->ndocs;
    for (size_t j = old->ndocs; j-- > 0;) nextchg[j] = newid[j] == (int64_t)j ? nextchg[j + 1] : (uint32_t)j;

    /* the terms: clean ones where they are, dirty ones encoded again
     * around the runs of their old postings that stay */
    nw->nterms = dict.n;
    nw->str = xmalloc((dict.n ? dict.n : 1) * sizeof *nw->str);
    nw->np = xmalloc((dict.n ? dict.n : 1) * sizeof *nw->np);
    nw->sfirst = xmalloc((dict.n + 1) * sizeof *nw->sfirst);
    spans sp = {.a = &nw->made};
    const triple *tp = tr, *tend = tr + ntr;
    size_t live = 0, ndirty = 0;
    for (size_t t = 0; t < dict.n; t++) {
        const triple *te = tp;
        while (te < tend && te->term == t) te++;
        nw->sfirst[t] = sp.start = sp.n;
        if (!dirty[t]) {                            /* (a term new to old is dirty) */
            for (size_t k = old->sfirst[t]; k < old->sfirst[t + 1]; k++) span_add(&sp, old->span[k].p, old->span[k].len);
            nw->np[t] = old->np[t];
        } else {
            ndirty++;
            if (remap_term(old, t, newid, nextchg, tp, te, &sp, &nw->np[t]) < 0) {
                free(sp.v);
                goto out;
            }
        }
        tp = te;
        if (t < old->nterms) {
            nw->str[t] = old->str[t];
        } else {
            char tmp[KEY_MAX];
            size_t at = nw->bstrs.len;
            buf_put(&nw->bstrs, term_tok(&dict, &dict.terms[t], tmp), term_len(&dict, &dict.terms[t]));
            nw->str[t] = (piece){(const char *)(uintptr_t)at, nw->bstrs.len - at};
        }
        if (nw->np[t]) live++;
    }
    nw->sfirst[dict.n] = sp.n;
    nw->span = sp.v;
    nw->nspan = sp.n;
    for (size_t t = old->nterms; t < dict.n; t++) nw->str[t].p = nw->bstrs.ptr + (uintptr_t)nw->str[t].p;
    timing_step(jb->tm, "terms");
    if (jb->tm->on)
        fprintf(stderr, "gazette: search patch: %zu docs new, %zu of %zu terms dirty, %zu bytes of postings encoded again\n",
                fresh, ndirty, dict.n, nw->made.total);

    /* the docs, in id order */
    nw->ndocs = n;
    nw->key = xmalloc(n * sizeof *nw->key);
    memcpy(nw->key, jb->keys, n * sizeof *nw->key);
    nw->json = xmalloc(n * sizeof *nw->json);
    nw->toks = xmalloc(n * sizeof *nw->toks);
    for (size_t i = 0; i < n; i++) {
        if (match[i] >= 0) {
            nw->json[i] = old->json[match[i]];
            nw->toks[i] = old->toks[match[i]];
        } else {
            nw->json[i] = (piece){nw->bjson.ptr + jat[i], jat[i + 1] - jat[i]};
            nw->toks[i] = (piece){nw->btoks.ptr + tat[i], tat[i + 1] - tat[i]};
        }
    }
    /* the docs chunks: one with the same docs at the same ids as in the
     * last build, still as written, is kept; the others are built, from
     * the entries in the last build's chunks (those still as written) or
     * entries made again */
    nchunks = (n + DOC_CHUNK - 1) / DOC_CHUNK;
    keepc = xcalloc(nchunks, 1);
    oc.old = old;
    oc.o = jb->o;
    oc.data = xcalloc(old->nchunks ? old->nchunks : 1, sizeof *oc.data);
    oc.state = xcalloc(old->nchunks ? old->nchunks : 1, 1);
    /* (the texts of entries to make again, for the caller to make
     * ready: all of them when the output's chunks are gone) */
    const search_doc **want = NULL;
    size_t nwant = 0;
    for (size_t c = 0; c < nchunks; c++) {
        size_t i0 = c * DOC_CHUNK, end = i0 + DOC_CHUNK < n ? i0 + DOC_CHUNK : n;
        bool same = i0 < old->ndocs &&
                    end - i0 == (i0 + DOC_CHUNK < old->ndocs ? DOC_CHUNK : old->ndocs - i0);
        for (size_t k = i0; same && k < end; k++) same = match[k] == (int64_t)k;
        char rel[64];
        snprintf(rel, sizeof rel, "search/docs/%zu.json", c);
        if (same && stamp_fresh(&chunks, c, rel)) {
            keepc[c] = 1;
            continue;
        }
        for (size_t i = i0; i < end && jb->h->prefetch; i++)
            if (!nw->json[i].p && !old_chunk_good(&oc, (size_t)match[i])) {
                if (!want) want = xmalloc(n * sizeof *want);
                want[nwant++] = jb->ord[i];
            }
    }
    if (nwant) jb->h->prefetch(want, nwant, jb->h->ud);
    free(want);
    for (size_t c = 0; c < nchunks; c++) {
        size_t i0 = c * DOC_CHUNK, end = i0 + DOC_CHUNK < n ? i0 + DOC_CHUNK : n;
        for (size_t i = i0; i < end && !keepc[c]; i++)
            if (!nw->json[i].p) nw->json[i] = old_entry(&oc, (size_t)match[i], jb, i);
    }
    ok = 1;
    /* only now: a caller's consumed may free a text the fallback (a build
     * from nothing) would still read */
    if (jb->h->consumed)
        for (size_t i = 0; i < n; i++)
            if (jb->ord[i]->text) jb->h->consumed(jb->ord[i], jb->h->ud);
    timing_step(jb->tm, "docs");

    /* the files: from here on, the job is done here */
    refs = xmalloc((live ? live : 1) * sizeof *refs);
    size_t nr = 0;
    for (size_t t = 0; t < dict.n; t++) {
        if (!nw->np[t]) continue;
        term_ref *r = &refs[nr++];
        r->t = NULL;
        r->len = nw->str[t].len;
        r->tok = nw->str[t].p;
        if (r->len <= KEY_MAX) memcpy(r->buf, r->tok, r->len);
        r->sp = nw->span + nw->sfirst[t];
        r->nsp = nw->sfirst[t + 1] - nw->sfirst[t];
        r->np = nw->np[t];
    }
    /* a shard is dirty when one of its terms is (live or not), or when
     * the shard count changes */
    unsigned ns = refs_shards(refs, nr);
    uint8_t *sdirty = xcalloc(ns, 1);
    for (size_t t = 0; t < dict.n; t++)
        if (ns != old->ns || (dirty[t] && (nw->np[t] || t < old->nterms)))
            sdirty[search_hash(nw->str[t].p, nw->str[t].len) % ns] = 1;
    fileset shards = {jb->o, old->shard_st, old->ns, NULL, 0, true, jb->h->trust_out};
    if (write_refs(NULL, refs, nr, &shards, sdirty, &ns) < 0) *rc = -1;
    free(sdirty);
    nw->ns = ns;
    nw->shard_st = shards.cur;
    *ns_out = ns;
    timing_step(jb->tm, "shards");
    buf chunk = BUF_INIT;
    for (size_t c = 0; c < nchunks; c++) {
        char rel[64];
        snprintf(rel, sizeof rel, "search/docs/%zu.json", c);
        if (keepc[c]) {
            if (keep_stamped(&chunks, c, rel) < 0) *rc = -1;
            continue;
        }
        for (size_t i = c * DOC_CHUNK; i < n && i < (c + 1) * DOC_CHUNK; i++) {
            buf_putc(&chunk, i % DOC_CHUNK ? ',' : '[');
            if (i % DOC_CHUNK) buf_putc(&chunk, '\n');
            buf_put(&chunk, nw->json[i].p, nw->json[i].len);
        }
        if (flush_docs(&chunk, c, &chunks) < 0) *rc = -1;
    }
    buf_free(&chunk);
    nw->nchunks = chunks.ncur;
    nw->chunk_st = chunks.cur;
    timing_step(jb->tm, "chunks");
    /* the state keeps only the entries' lengths: the bytes may go */
    for (size_t i = 0; i < n; i++) nw->json[i].p = NULL;
out:
    free(match);
    free(newid);
    free(tr);
    free(jat);
    free(tat);
    free(dirty);
    free(ids);
    free(olds);
    free(marks);
    free(nextchg);
    free(refs);
    free(keepc);
    for (size_t c = 0; oc.data && c < old->nchunks; c++) free(oc.data[c]);
    free(oc.data);
    free(oc.state);
    for (size_t k = 0; k < oc.nmade; k++) free(oc.made[k]);
    free(oc.made);
    index_free(&dict);
    return ok;
}

/* The state's file: a new one, or the same (gone) when it holds too many
 * dead terms (a build from nothing makes it small again). */
/* Does st say what old (loaded) does? Then its file needs no new record:
 * nothing new, every document where it was, every file as stamped. */
static bool state_same(const sstate *st, const sstate *old)
{
    if (!old->file || st->ndocs != old->ndocs || st->nterms != old->nterms || st->ns != old->ns ||
        st->nchunks != old->nchunks || st->nspan != old->nspan)
        return false;
    for (size_t i = 0; i < st->ndocs; i++)
        if (!fp_eq(st->key[i], old->key[i]) || st->toks[i].p != old->toks[i].p) return false;
    for (size_t s = 0; s < st->nspan; s++)
        if (st->span[s].p != old->span[s].p || st->span[s].len != old->span[s].len) return false;
    return !memcmp(st->shard_st, old->shard_st, st->ns * sizeof(fstamp)) &&
           !memcmp(st->chunk_st, old->chunk_st, st->nchunks * sizeof(fstamp));
}

static void state_store(const char *path, sstate *st, const sstate *old, diag *d)
{
    if (state_same(st, old)) return;
    size_t live = 0;
    for (size_t t = 0; t < st->nterms; t++) live += st->np[t] != 0;
    if (st->nterms - live > live / 2 + 1024) {
        unlink(path);
        return;
    }
    state_save(path, st, old, d);
}

/* ---- the documents' chunks, beside the index ---- */

/* A build from nothing makes the docs/ chunks (JSON of each document's
 * fields and snippet) on a thread of its own while the calling thread
 * indexes: the two need only the documents and their texts, and in a full
 * build the index's thread is the last to end. The indexer hands each text
 * over (ready), and releases a text once the chunks' thread is past it
 * (done); the two stay at most DOCS_AHEAD documents apart, which bounds
 * the texts held. */
#ifndef DOCS_AHEAD             /* (a test build may set them small) */
#define DOCS_AHEAD 1024
#endif
#ifndef DOCS_WAKE
#define DOCS_WAKE 32           /* texts handed over per wake-up */
#endif
/* (the chunks' thread waits for DOCS_WAKE texts, which the indexer must
 * be allowed to hand over) */
_Static_assert(DOCS_WAKE <= DOCS_AHEAD, "the chunks' thread would wait for texts never handed over");

typedef struct {
    const search_doc *const *ord;
    size_t n;
    const char **texts;        /* texts[i]: document i's (set before ready > i) */
    fileset *chunks;
    size_t *jat;               /* each document's JSON length (NULL: not kept) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t ready, done;        /* (mu) texts handed over; documents in their chunk */
    size_t want;               /* (mu) ready the chunks' thread waits for (0: none) */
    bool idx_waits;            /* (mu) the indexer waits for done */
    int rc;
} docs_job;

/* Document i into chunk (and the chunk's file when it is full). */
static void docs_put(buf *chunk, size_t i, size_t n, const search_doc *sd, const char *text,
                     fileset *chunks, size_t *jat, int *rc)
{
    buf_putc(chunk, i % DOC_CHUNK ? ',' : '[');
    if (i % DOC_CHUNK) buf_putc(chunk, '\n');
    size_t at = chunk->len;
    doc_json(chunk, sd, text);
    if (jat) jat[i] = chunk->len - at;
    if ((i + 1) % DOC_CHUNK == 0 || i + 1 == n)
        if (flush_docs(chunk, i / DOC_CHUNK, chunks) < 0) *rc = -1;
}

static void *docs_thread(void *arg)
{
    docs_job *j = arg;
    buf chunk = BUF_INIT;
    size_t ready = 0;
    for (size_t i = 0; i < j->n; i++) {
        if (i == ready) {
            /* (done first: the indexer may be waiting for it) */
            pthread_mutex_lock(&j->mu);
            j->done = i;
            if (j->idx_waits) pthread_cond_broadcast(&j->cv);
            size_t want = i + DOCS_WAKE < j->n ? i + DOCS_WAKE : j->n;
            while (j->ready < want) {
                j->want = want;
                pthread_cond_wait(&j->cv, &j->mu);
            }
            j->want = 0;
            ready = j->ready;
            pthread_mutex_unlock(&j->mu);
        }
        docs_put(&chunk, i, j->n, j->ord[i], j->texts[i], j->chunks, j->jat, &j->rc);
    }
    pthread_mutex_lock(&j->mu);
    j->done = j->n;
    if (j->idx_waits) pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    buf_free(&chunk);
    return NULL;
}

/* The indexer's side: text i handed over; returns how many documents the
 * chunks' thread is done with (their texts can go), waiting for it when
 * it is DOCS_AHEAD behind. */
static size_t docs_hand(docs_job *j, size_t i, const char *text)
{
    pthread_mutex_lock(&j->mu);
    j->texts[i] = text;
    j->ready = i + 1;
    if (j->want && j->ready >= j->want) pthread_cond_broadcast(&j->cv);
    while (j->ready - j->done > DOCS_AHEAD) {
        j->idx_waits = true;
        pthread_cond_wait(&j->cv, &j->mu);
    }
    j->idx_waits = false;
    size_t done = j->done;
    pthread_mutex_unlock(&j->mu);
    return done;
}

/* The texts of ord[*released .. upto) are no longer needed: free the
 * fetched ones, tell the caller (consumed). */
static void release_texts(const search_hooks *h, const search_doc **ord, char **fetched,
                          size_t *released, size_t upto)
{
    for (; *released < upto; (*released)++) {
        free(fetched[*released]);
        if (h->consumed) h->consumed(ord[*released], h->ud);
    }
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
    timing tm = {getenv("GAZETTE_TIMING") != NULL, clock_seconds(CLOCK_THREAD_CPUTIME_ID), clock_seconds(CLOCK_MONOTONIC)};
    const search_doc **ord = xmalloc((n ? n : 1) * sizeof *ord);
    if (h->order) {
        for (size_t i = 0; i < n; i++) ord[i] = &docs[h->order[i]];
    } else {
        for (size_t i = 0; i < n; i++) ord[i] = &docs[i];
        sort_docs(ord, n);
    }

    int rc = 0;
    unsigned ns = 1;
    const bool keep_state = h->cache_path != NULL && self_known(fp_self());
    bool store = keep_state;
    sstate nw = {0}, old = {0};         /* nw may point into old */
    fp128 *keys = NULL;
    size_t *jat = NULL;
    if (keep_state) {
        timing_step(&tm, "sort");
        keys = xmalloc((n ? n : 1) * sizeof *keys);
        if (h->keys) {
            for (size_t i = 0; i < n; i++) keys[i] = h->keys[ord[i] - docs];
        } else {
            fp128 *given = xmalloc((n ? n : 1) * sizeof *given);
            search_doc_keys(docs, n, given);
            for (size_t i = 0; i < n; i++) keys[i] = given[ord[i] - docs];
            free(given);
        }
        timing_step(&tm, "keys");
        int lrc = n ? state_load(h->cache_path, &old) : -1;
        timing_step(&tm, "load");
        if (lrc == 0) {
            job jb = {ord, n, keys, o, d, h, &tm};
            if (write_patched(&jb, &old, &nw, &rc, &ns)) goto meta;
            state_free(&nw);
            state_free(&old);
        }
    }

    /* From nothing, in one pass: each document's text (fetched when the
     * caller keeps it elsewhere) goes into its docs chunk (the snippet)
     * and the index, and is then released, so no more than one text is
     * needed at a time. */
    index_t ix = {0};
    /* (only here: an index of one document is not worth the table) */
    ix.cjk = xcalloc(CJK_HI - CJK_LO + 1, sizeof *ix.cjk);
    ix.pairs = xcalloc((size_t)RANKS * RANKS, sizeof *ix.pairs);
    ix.cnt = xcalloc(1, 1);             /* (grown with the terms) */
    ix.touched = xmalloc(sizeof *ix.touched);
    buf chunk = BUF_INIT;
    fileset chunks = {o, NULL, 0, NULL, 0, keep_state, false};
    size_t *tat = NULL;         /* where each document's tokens start in toks */
    bigbuf toks = {0};          /* (nw's once made: nw.tokens) */
    if (keep_state) {
        nw.ndocs = n;
        nw.key = keys;
        keys = NULL;
        jat = xmalloc((n + 1) * sizeof *jat);       /* json lengths */
        tat = xmalloc((n + 1) * sizeof *tat);
        ix.seen_words = 1;
        ix.seen = xcalloc(1, sizeof *ix.seen);
    }
    docs_job dj = {.ord = ord, .n = n, .chunks = &chunks, .jat = jat};
    char **fetched = xcalloc(n ? n : 1, sizeof *fetched);
    pthread_t docs_tid;
    bool docs_apart = n >= 2 * DOC_CHUNK && !h->one_thread;
    if (docs_apart) {
        dj.texts = xmalloc(n * sizeof *dj.texts);
        pool_mutex_init(&dj.mu);
        pthread_cond_init(&dj.cv, NULL);
        docs_apart = pthread_create(&docs_tid, NULL, docs_thread, &dj) == 0;
        if (!docs_apart) {
            pthread_cond_destroy(&dj.cv);
            pthread_mutex_destroy(&dj.mu);
        }
    }
    size_t released = 0;       /* texts before this one are released */
    if (h->prefetch && n) h->prefetch(ord, n, h->ud);
    for (size_t i = 0; i < n; i++) {
        const search_doc *sd = ord[i];
        size_t tlen;
        fetched[i] = fetch_doc_text(h, sd, &tlen);
        const char *text = sd->text ? sd->text : fetched[i];
        size_t done = i + 1;                 /* (its chunk made here) */
        if (docs_apart) done = docs_hand(&dj, i, text);
        else docs_put(&chunk, i, n, sd, text, &chunks, jat, &rc);
        ix.doc = (uint32_t)i;
        index_doc(&ix, sd, text, tlen);
        if (tat) {
            tat[i] = toks.len;
            doc_tokens(&ix, &toks);
        }
        release_texts(h, ord, fetched, &released, done);
    }
    if (n == 0) {
        buf_putc(&chunk, '[');
        if (flush_docs(&chunk, 0, &chunks) < 0) rc = -1;
    }
    buf_free(&chunk);
    index_finish(&ix);
    if (docs_apart) {
        pthread_join(docs_tid, NULL);
        release_texts(h, ord, fetched, &released, n);
        if (dj.rc < 0) rc = -1;
        pthread_cond_destroy(&dj.cv);
        pthread_mutex_destroy(&dj.mu);
    }
    free(fetched);
    free(dj.texts);
    timing_step(&tm, "index");
    if (tm.on)
        fprintf(stderr, "gazette: search index: %zu terms, %zu KB of postings (%zu KB room), "
                        "%zu KB table, %zu KB of tokens (%zu KB room)\n",
                ix.n, ix.plen / 1024, ix.pcap / 1024,
                (ix.cap * sizeof(slot) + ix.tcap * sizeof(term)) / 1024, toks.len / 1024,
                toks.cap / 1024);
    fileset shards = {o, NULL, 0, NULL, 0, keep_state, false};
    if (ix.overflow) {
        diag_error(d, NULL, 0, "search: the index of %zu documents passed 4 GB", n);
        rc = -1;
    } else if (write_shards(&ix, &shards, &ns) < 0) {
        rc = -1;
    }
    if (keep_state) {
        nw.ns = ns;
        nw.shard_st = shards.cur;
        nw.nchunks = chunks.ncur;
        nw.chunk_st = chunks.cur;
        if (ix.overflow) store = false;
        else state_from_index(&nw, &ix, jat);
    } else {
        free(shards.cur);
        free(chunks.cur);
    }
    timing_step(&tm, "shards");
    index_free(&ix);
    if (write_meta(ord, n, ns, o) < 0) rc = -1;
    if (h && h->outputs_done) h->outputs_done(h->ud);
    if (tat) {
        tat[n] = toks.len;
        bigbuf_room(&toks, 1);              /* (ptr set even with no tokens) */
        nw.toks = xmalloc((n ? n : 1) * sizeof *nw.toks);
        for (size_t i = 0; i < n; i++) nw.toks[i] = (piece){toks.ptr + tat[i], tat[i + 1] - tat[i]};
        nw.tokens = toks.ptr;
        nw.tokens_cap = toks.cap;
        free(tat);
    }
    goto store;
meta:
    if (write_meta(ord, n, ns, o) < 0) rc = -1;
    if (h && h->outputs_done) h->outputs_done(h->ud);
store:
    if (store && rc == 0) state_store(h->cache_path, &nw, &old, d);
    /* Not stored: the old state, if any, no longer describes the files
     * (a build trusting it, search_hooks.trust_out, would keep them by
     * it), so it goes. */
    else if (h->cache_path) unlink(h->cache_path);
    timing_step(&tm, "state");
    state_free(&nw);
    state_free(&old);
    free(keys);
    free(jat);
    free(ord);
    return rc;
}
