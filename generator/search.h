/* search.h - the static full-text search index behind /search/.
 *
 * search_write() turns the published documents into JSON files under
 * search/ that search.js (templates/assets/search.js) queries in the
 * browser. The index is split so that a query fetches only what it needs:
 *
 *   search/meta.json        {"v":1, "ndocs", "shards", "chunk",
 *                            "kinds": "nnr..." (one char per doc id:
 *                                     n = notice, r = report),
 *                            "years": [{"y":2017,"from":0,"to":12}...]
 *                                     (doc ids are ordered newest first,
 *                                      so a year is a range [from, to)),
 *                            "districts": [{"id","name"}...]}
 *   search/idx/N.json       one shard of the inverted index: {token:
 *                            "postings"} with tokens sorted. A token lives
 *                            in shard fnv1a32(token) % shards. Postings are
 *                            base-64 varints (alphabet SEARCH_B64; each char
 *                            holds 5 bits, low bits first, +32 = more
 *                            follow). Per posting v = delta << 3 | tf << 1
 *                            | has_mask, then the field mask if has_mask.
 *                            delta: doc id minus the previous id (the first
 *                            is the id itself); tf: body count capped at 3;
 *                            mask: SEARCH_F_* bits. A token in most docs
 *                            costs about 1 byte per doc.
 *   search/docs/N.json      doc ids [k*chunk, (k+1)*chunk): [{"u" url,
 *                            "t" title, "n" doc number, "i" issuer,
 *                            "d" date, "k" kind, "c" category,
 *                            "g" [district names], "s" snippet text}...]
 *
 * Tokens (the same rules are implemented in search.js, keep them in sync):
 *   - CJK (Han, kana, Hangul): every character alone and every adjacent
 *     pair in a run (bigrams), so any substring of 1+ chars is findable;
 *   - letters and digits: lowercased words (full-width forms folded to
 *     ASCII); a run of digits next to CJK is its own word ("2017", "28");
 *   - the doc number also as one normalised token: punctuation, brackets
 *     and spaces removed, lowercased ("大工办发〔2017〕28号" ->
 *     "大工办发201728号"), which ranks an exactly typed 文号 first;
 *   - "d:<district id>" for the district filter.
 * Queries (search.js): a document must hold every query token: each word,
 * bigrams covering each CJK run without overlap (小微企业 -> 小微 企业), a
 * lone CJK char only when there is nothing else. The whole normalised query
 * is looked up too when it mixes CJK and digits: an exact 文号 hit ranks
 * first, then documents whose title or 文号 hold every token, then by the
 * field weights, then newest first.
 * Size: 10,000 make-corpus.py documents give 512 shards (median 9 KB) and
 * 1,250 docs files; a 1-4 token query fetches 74-172 KB of search data
 * (tests/browser/measure.js). Output is deterministic: same docs in any
 * order -> same bytes.
 */
#ifndef GAZETTE_SEARCH_H
#define GAZETTE_SEARCH_H

#include <stddef.h>
#include <stdint.h>
#include "cache.h"
#include "diag.h"
#include "output.h"
#include "util.h"

typedef struct {
    const char *url;            /* "/notices/2017/slug/" */
    const char *title;
    const char *doc_number;     /* 文号, may be NULL */
    const char *issuer;         /* may be NULL */
    const char *date;           /* "YYYY-MM-DD" */
    const char *kind;           /* "notice" | "report" */
    const char *category;       /* may be NULL */
    const char *const *tags;
    size_t ntags;
    const char *const *districts;       /* ids */
    size_t ndistricts;
    const char *const *district_names;  /* parallel to districts, may be NULL */
    const char *text;           /* plain body text, UTF-8 */
    /* When text is NULL (fetched through the hooks): bytes that identify
     * it, like its cache key, so the incremental index (cache_path) knows
     * an unchanged text without fetching it. NULL: the document counts as
     * changed in every build. */
    const void *text_id;
    size_t text_id_len;
} search_doc;

#define SEARCH_B64 "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"

/* Field mask bits in the postings. */
enum {
    SEARCH_F_TITLE = 1,
    SEARCH_F_DOCNUM = 2,
    SEARCH_F_ISSUER = 4,
    SEARCH_F_TAGS = 8,
    SEARCH_F_DISTRICT = 16,
    SEARCH_F_DATE = 32,
    SEARCH_F_CATEGORY = 64,
};

/* Writes search/meta.json, search/idx/N.json and search/docs/N.json through
 * o. docs are borrowed and may come in any order. Returns 0, or -1 with the
 * reason in d (a document without url is an error). */
int search_write(const search_doc *docs, size_t n, outdir *o, diag *d);
/* The same; consumed(doc, ud) is called once the index no longer needs
 * doc->text, so a caller may free it early (keeps peak memory down).
 * write_meta still reads the other fields afterwards. (An index patched
 * from the last build's, search_hooks.cache_path, calls it only for the
 * documents with a text: a call per document touched 10k cold ones.) */
int search_write_ex(const search_doc *docs, size_t n, outdir *o, diag *d,
                    void (*consumed)(const search_doc *doc, void *ud), void *ud);

/* The same with hooks (any may be NULL): fetch_text(doc, ud, &len) gives
 * the text of a doc whose text is NULL (a new string, freed here after
 * use) and its length, for callers that keep texts on disk; consumed as
 * above. Each document's
 * text is fetched once, on the calling thread. An index made from nothing
 * of 16+ documents makes its docs/ chunks on a second thread, which reads
 * the texts too: consumed is then called (on the calling thread) once
 * both are past a document, with at most ~1024 texts held meanwhile. */
typedef struct {
    char *(*fetch_text)(const search_doc *doc, void *ud, size_t *len);
    void (*consumed)(const search_doc *doc, void *ud);
    void *ud;
    /* The incremental index, NULL for none. A file (checksummed, written
     * atomically) holding, per document, the fingerprint of everything it
     * gives the index, its docs/N.json entry and its token ids with its
     * posting of each, and per token its postings, plus the fingerprint
     * and stat of each idx/ and docs/ file written. The next build with
     * the same path fetches and tokenizes only the documents whose
     * fingerprint is new, re-encodes only the postings of the tokens
     * those change (a document edited in place: the tokens whose posting
     * for it is not the old one; all, when doc ids shift), and keeps
     * (out_keep) each file whose bytes are the same and
     * that is still as written. A missing, damaged or foreign file means
     * a build from nothing, with the same output. */
    const char *cache_path;
    /* With cache_path: the keys search_doc_keys gives for docs, when the
     * caller has them already (NULL: computed here). */
    const fp128 *keys;
    /* Called (if set) once every output file of the index is written or
     * kept, before the incremental state is stored: from then on the
     * writer no longer touches the outdir, so the caller may finish it
     * while the state is written. */
    void (*outputs_done)(void *ud);
    /* With cache_path: the output's idx/ and docs/ files are as the state
     * stored with them says (nothing but the build that stored it wrote
     * them since: build_opts.trust_out), so a file whose bytes are the
     * same is kept without a stat. */
    bool trust_out;
    /* docs[order[0]], docs[order[1]], ... is the index's order, as
     * search_order gives it (NULL: sorted here). */
    const size_t *order;
    /* Everything on the calling thread (the build's --threads 1). */
    bool one_thread;
    /* Called (if set) before the index fetches the texts of docs[0..n)
     * (pointers into the index's input; valid during the call only), in
     * the order it will fetch them (one with its text in place is not
     * fetched, and may be among them): the caller may make them ready on
     * every core, so that fetch_text, still called once for each, only
     * hands them over. A text the caller must make again (not kept, or
     * kept without its text) is the expensive case: made one by one on
     * this thread, the texts of a build into a new output directory are
     * most of it. */
    void (*prefetch)(const search_doc *const *docs, size_t n, void *ud);
} search_hooks;
int search_write_hooks(const search_doc *docs, size_t n, outdir *o, diag *d, const search_hooks *h);

/* The index's order of docs (doc ids: newest first, then by URL) as
 * indexes into docs: order[0..n). */
void search_order(const search_doc *docs, size_t n, size_t *order);

/* For each doc the fingerprint of everything it gives the index: its
 * fields, and its text or (text NULL) text_id. Zero, which matches
 * nothing, when it has neither. */
void search_doc_keys(const search_doc *docs, size_t n, fp128 *keys);

/* Building blocks, exposed for the unit tests. */

/* Calls fn(tok, len, ctx) for each token of s (see the rules above; no
 * doc-number or district tokens). Tokens are at most 64 bytes. */
void search_tokenize(const char *s, size_t n,
                     void (*fn)(const char *tok, size_t len, void *ctx), void *ctx);
/* The normalised whole doc number, appended to out ("" for none). */
void search_norm_docnum(buf *out, const char *s);
/* FNV-1a, 32 bit, over the token's UTF-8 bytes (search.js has the same). */
uint32_t search_hash(const char *s, size_t n);

#endif
