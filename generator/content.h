/* content.h - the documents of a site: load, validate, model.
 *
 * Layout (the content contract, see README):
 *   content/site.yaml                 site settings
 *   content/notices/YYYY/SLUG.md      -> /notices/YYYY/SLUG/
 *   content/reports/YYYY/SLUG.md      -> /reports/YYYY/SLUG/
 *   content/files/...                 attachments, copied as they are
 * The URL's year is the document's date's year; a YYYY folder that
 * disagrees is a warning. */
#ifndef GAZETTE_CONTENT_H
#define GAZETTE_CONTENT_H

#include <stdbool.h>
#include "diag.h"
#include "cache.h"
#include "markdown.h"
#include "value.h"

typedef struct {
    char *source;          /* "content/notices/2017/x.md" */
    const char *section;   /* "notices" | "reports" */
    const char *kind;      /* "notice" | "report" */
    char *slug;
    int year, month, day;
    char date[11];         /* "2017-09-29" */
    char *datetime;        /* "2017-09-29T00:00:00+08:00" (RFC 3339) */
    char *date_zh;         /* "2017年9月29日" */
    char *url;             /* "/notices/2017/x/" */
    char *title, *doc_number, *issuer, *category, *summary, *layout;
    char *strs_own;        /* NULL, or the block holding slug .. layout and
                              md.excerpt (a document from the cache): then
                              those are not separate allocations */
    value *tags, *districts, *recipients;   /* lists of strings */
    value *attachments;    /* list of {title, file} (file may be "") */
    bool draft;
    value *fm;             /* every front matter key, for templates */
    value *fm_lines;       /* key -> line */
    /* From the document cache: fm, fm_lines and md.toc still encoded
     * (NULL, and those set, otherwise); see doc_unpack. */
    const unsigned char *lazy;   /* into content.dcache, or lazy_own */
    size_t lazy_len;
    unsigned char *lazy_own;     /* owned (a document loaded from its file) */
    md_result md;          /* rendered body; with md_on_disk, html and text may be
                              NULL (then read from the cache) or a copy kept
                              from this load's rendering (taken by its one user) */
    bool md_on_disk;       /* html is in the build cache under md_key, and the
                              text unless it was put without (mdcache_put) */
    fp128 md_key;          /* fingerprint of the body (with a build cache) */
    fp128 identity;        /* of path, section and bytes (with a build cache) */
    int body_line;
} doc;

typedef struct {
    char *dir;             /* content dir */
    value *site;           /* site.yaml merged over defaults */
    doc **docs;            /* published documents, sorted newest first */
    doc **by_url;          /* the same, sorted by URL (then source) */
    size_t n;
    size_t drafts_skipped;
    size_t md_hits, md_misses;   /* bodies from the build cache / rendered */
    mdcache *mc;           /* the Markdown cache, open while content is (owned) */
    doccache *dcache;      /* the document cache, likewise (documents borrow from it) */
    /* The fingerprint of what a load reads besides the files: the
     * settings rendering depends on (site.yaml's unsafe_html and
     * excerpt_length) and the binary. The caches are keyed by it, and so
     * is anything made from the documents alone (the search index). */
    fp128 settings;
} content;

/* Load and validate everything under dir. Returns 0 if there were no
 * errors (warnings allowed). threads 0 = all CPUs. */
int content_load(const char *dir, bool drafts, int threads, content *c, diag *d);
/* The same with the build cache in cache_dir (see cache.h): rendered
 * bodies in markdown.cache, and documents whose files did not change
 * since the last load taken from docs.cache. NULL = no cache. */
int content_load_cached(const char *dir, bool drafts, int threads, const char *cache_dir,
                        content *c, diag *d);
void content_free(content *c);
/* The document at path (a source under c->dir, named as a load names
 * it: "content/notices/2017/x.md") loaded again as content_load_cached
 * loaded c: the same settings, its body through c's Markdown cache, its
 * identity set. Not recorded in the document cache. For a rebuild told
 * which file changed (build_opts.edited). NULL when it has errors (in
 * d); warnings go to d too. Owned by the caller (doc_free). */
doc *content_load_one(const content *c, const char *path, diag *d);
/* A document's body rendered again from its source file, with the same
 * settings as at load (for when the build cache cannot give it back: its
 * text was not stored, or the entry is damaged). Errors go to d: the file
 * is unreadable, no longer valid, or (with a build cache) its body is no
 * longer the one loaded, which would put a newer body beside the older
 * title and dates. */
md_result content_rerender(const content *c, const doc *dc, diag *d);
void doc_free(doc *dc);
/* Decode fm, fm_lines and md.toc of a document that came from the
 * document cache (nothing to do otherwise). Not thread-safe for one
 * document. -1 (and empty values) if the record was damaged. */
int doc_unpack(doc *dc);
/* A document's front matter and toc for one page context (new
 * references), decoded afresh from its record when it has one, so that
 * the document itself stays encoded. Thread-safe for one document. */
void doc_fm_toc(const doc *dc, value **fm, value **toc);
/* A document from a document cache record (a borrowed payload: the
 * document points into it), NULL if the record is not well formed. For
 * the fuzzer; loading uses it through content_load_cached. */
doc *content_record_decode(const void *p, size_t n, const char *path, const char *section);

/* Parse "2017-09-29", "2022-01-14 08:10:30 +0800", "2017-09-29T08:00:00+08:00".
 * Returns 0 and fills the fields, -1 if not a valid date. */
int parse_date(const char *s, int *y, int *m, int *d, char **rfc3339);

/* A term's URL segment: CJK and ASCII letters/digits kept, ASCII
 * lowercased, spaces and separators to '-', other punctuation dropped. */
void term_slug(buf *out, const char *name);

#endif
