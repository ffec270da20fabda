/* cache.h - the build cache: what lets a rebuild skip work it did before.
 *
 * Two stores live in the cache directory (default .gazette-cache/ next to
 * content/; `gazette build --no-cache` ignores it):
 *
 *   markdown.cache   Markdown bodies already rendered (HTML, excerpt,
 *                    toc; the plain text only where mdcache_put says),
 *                    keyed by the fingerprint of the body's bytes.
 *                    md_render() is a pure function of the body and the
 *                    settings in the file's header (unsafe_html, excerpt
 *                    length, the gazette binary), so a hit is exactly what
 *                    rendering would give.
 *                    An append-only log: each entry is written with one
 *                    write(), carries a fingerprint of its own bytes, and a
 *                    torn or damaged entry ends the log (the rest is
 *                    rendered again). Rewritten (compacted) when more than
 *                    half of it is dead.
 *   pages-<out>.cache  For one output directory: each page written by the
 *                    last good build, with the fingerprint of everything
 *                    that made it (binary, templates, site settings, the
 *                    page's whole template context) and the file's size,
 *                    inode, mtime and ctime. A page whose fingerprint is
 *                    unchanged and whose file is still exactly as written is
 *                    not rendered again. Every other file the build left
 *                    is recorded too (stat only), so that a release can
 *                    tell a build's output from hand edits. Written only
 *                    after a good build.
 *
 * A cache that cannot be read is an empty cache; one that cannot be written
 * is a warning. Neither can change what a build produces, only how fast.
 * Thread-safe where noted.
 */
#ifndef GAZETTE_CACHE_H
#define GAZETTE_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include "diag.h"
#include "markdown.h"
#include "util.h"
#include "value.h"

/* Each file's first line, naming its format (a new format, a new line:
 * an older file is then simply not read). */
#define CACHE_MD_MAGIC "gazette markdown cache 2\n"
#define CACHE_DOC_MAGIC "gazette document cache 2\n"
#define CACHE_PAGE_MAGIC "gazette page cache 3\n"

/* A 128-bit fingerprint (XXH3-128 from libxxhash). */
typedef struct { uint64_t lo, hi; } fp128;

fp128 fp_bytes(const void *data, size_t n);
static inline bool fp_eq(fp128 a, fp128 b) { return a.lo == b.lo && a.hi == b.hi; }
/* Append an unambiguous encoding of v (types, lengths, bytes; maps in
 * insertion order) to out: equal encodings mean equal values. */
void fp_encode_value(buf *out, const value *v);
/* Append a length-prefixed string (NULL and "" differ). */
void fp_encode_str(buf *out, const char *s);
/* The running gazette binary's fingerprint (so that a new gazette never
 * trusts an old one's cache); zero if it cannot be read. */
fp128 fp_self(void);

/* ---- rendered Markdown ---- */

typedef struct mdcache mdcache;

/* Open (creating the directory and file as needed) the cache at path for
 * these settings. Never NULL; problems are warnings in d and give a cache
 * that remembers nothing. */
mdcache *mdcache_open(const char *path, fp128 settings, diag *d);
/* Fill out with the rendering of a body of that fingerprint; true on a hit
 * (its text NULL when it was put without one). Thread-safe. */
bool mdcache_get(mdcache *c, fp128 key, md_result *out);
/* The same without the HTML and text (left NULL), for a caller that
 * reads them later with mdcache_body. Thread-safe. */
bool mdcache_get_meta(mdcache *c, fp128 key, md_result *out);
/* Remember a rendering, its plain text only when text. The text's one
 * reader is the search index, which keeps what it needs of each text in
 * its own state: a text is read back only by a build whose index lacks
 * the document while its body is unchanged (its key changed, or a new
 * output directory), or by one that did not keep it in memory (more
 * bodies than a build holds: the caller then stores it). Leaving it out
 * of a body kept in memory is ~40% of the file, and of the bytes a first
 * build writes for it. Thread-safe. Entries are written in batches:
 * mdcache_has says true at once, a read of one not written yet writes the
 * batch first, mdcache_flush (and mdcache_close) write what is left. */
void mdcache_put(mdcache *c, fp128 key, const md_result *r, bool text);
/* Write the entries put and not written yet. NULL-safe. Thread-safe. */
void mdcache_flush(mdcache *c);
/* The same, counted as a hit and kept at compaction: for a caller that
 * has the excerpt and toc from elsewhere (the document cache). */
bool mdcache_use(mdcache *c, fp128 key);
/* Can the HTML of key be read back (it is in the file, or written when
 * read)? Thread-safe. */
bool mdcache_has(mdcache *c, fp128 key);
/* The HTML (text false) or plain text (for the search index) of key's
 * rendering, a new string, with its length in *len (set only when a
 * string is returned); NULL when it cannot be read or is damaged, or
 * is the text of an entry put without it (render it again). Lets a
 * build keep bodies on disk, not in memory, until their page renders.
 * Thread-safe. */
char *mdcache_body(mdcache *c, fp128 key, bool text, size_t *len);
/* Compact when needed, close and free. NULL-safe; d may be NULL (no
 * warning when compaction fails). */
void mdcache_close(mdcache *c, diag *d);
void mdcache_counts(const mdcache *c, size_t *hits, size_t *misses);

/* Remove temporary files in the cache directory dir left by builds that
 * were killed (NAME.tmp-PID whose process is gone). */
void cache_sweep_tmp(const char *dir);

/* ---- loaded documents ---- */

/* docs.cache.0 ... .f: per source file, what loading it gave (an opaque payload,
 * see content.c), keyed by the file's size, inode, mtime and ctime, so
 * that a rebuild reads and parses only the files that changed. A record
 * of a file changed within 2 s of being recorded is used only when the
 * file's bytes still have the recorded fingerprint. */
typedef struct doccache doccache;

/* Never NULL; a missing, damaged or other-settings shard file is empty.
 * path is the shards' common prefix (PATH.0 ... PATH.f). */
doccache *doccache_open(const char *path, fp128 settings);
/* The payload recorded for source if the file still has this stat (a
 * borrowed pointer, valid until doccache_free), its length and the file's
 * fingerprint; NULL otherwise. Thread-safe. */
const unsigned char *doccache_get(doccache *c, const char *source, const struct stat *st,
                                  size_t *len, fp128 *file);
/* Carry source's record into this build's file unchanged. Thread-safe. */
void doccache_keep(doccache *c, const char *source);
/* Record source's payload (copied) for this build. Thread-safe. */
void doccache_put(doccache *c, const char *source, const struct stat *st, fp128 file,
                  const void *payload, size_t len);
/* Write the kept and put records of each shard whose records differ
 * from the file read. Returns 0, or -1 with a warning in d. */
int doccache_save(doccache *c, diag *d);
void doccache_free(doccache *c);
/* The inverse of fp_encode_value; NULL unless data is exactly one
 * well-formed encoding. */
value *fp_decode_value(const void *data, size_t n);
/* The same for the encoding of a list, except that the items whose bit is
 * set in skip (bit i: item i, of the first 64) are checked, not made: a
 * null stands in for each. */
value *fp_decode_list_skipping(const void *data, size_t n, uint64_t skip);

/* ---- pages of one output directory ---- */

typedef struct pagecache pagecache;

/* Never NULL; a missing or unreadable file is an empty manifest. Files
 * are stat'ed relative to out_root, opened here (the descriptor follows
 * the directory when an unseen build renames it into place, output.h).
 * out_real is the output directory's resolved path (may be NULL), kept in
 * the record so that saving can remove the records of directories that
 * are gone. */
pagecache *pagecache_open(const char *path, const char *out_root, const char *out_real);
/* The output files are known to be exactly as the records say (the same
 * process's previous build saved them, and nothing else wrote since):
 * pagecache_keep and pagecache_group then skip the stat of each file. */
void pagecache_trust(pagecache *pc);
/* Was relpath written from a context of fingerprint fp by the last build,
 * and is the file still exactly as that build left it? Then it is noted
 * for this build too (as pagecache_note does) and true. Thread-safe. */
bool pagecache_keep(pagecache *pc, const char *relpath, fp128 fp);
/* Record that relpath was produced from fp in this build. Thread-safe. */
void pagecache_note(pagecache *pc, const char *relpath, fp128 fp);
/* pagecache_note with the file's stat as written (out_write_st), so that
 * pagecache_save need not stat it. st NULL or not a regular file's stat
 * (st_mode 0: unknown): as pagecache_note. */
void pagecache_note_st(pagecache *pc, const char *relpath, fp128 fp, const struct stat *st);
/* The same for a file of a group (1-255) written together from one
 * fingerprint, like the search index. */
void pagecache_note_in(pagecache *pc, int group, const char *relpath, fp128 fp);
/* pagecache_note_in for a file this build did not write (kept as it
 * was): when the records are trusted (pagecache_trust) and hold it, its
 * recorded stat is still right and pagecache_save need not stat it. */
void pagecache_note_kept(pagecache *pc, int group, const char *relpath, fp128 fp);
/* The files the last build recorded in group with fingerprint fp, if every
 * one of them is still fresh. Returns the count (0: none, or not all
 * fresh) and a new array of borrowed strings in *paths (free the array
 * only; the strings live as long as pc). */
size_t pagecache_group(pagecache *pc, int group, fp128 fp, const char ***paths);
/* Begin another build's records from the ones this build noted and saved
 * (a build in the same process right after, with nothing else writing to
 * the output since): they become the records to keep from, trusted
 * (pagecache_trust), and nothing is noted yet. */
void pagecache_again(pagecache *pc);
/* Note relpath exactly as the records have it (group, fingerprint and
 * stat): a file kept as the last build left it. False when it is not
 * recorded (nothing noted). Thread-safe. */
bool pagecache_carry(pagecache *pc, const char *relpath);
/* The group of pagecache_note_other's files. */
enum { PAGECACHE_OTHER = 255 };
/* Note relpath, a file this build left that is no page or group file
 * (assets, feeds, stats data: written or copied), unless it was noted
 * already: so that the records name every file a build left, for
 * pagecache_left. Recorded with no fingerprint (never kept). "Noted
 * already" is told by the paths noted before its first call (a set made
 * then): call it once the pages are noted, from one thread, and not for a
 * path noted in between. */
void pagecache_note_other(pagecache *pc, const char *relpath);
/* The same without the check (relpath is known not to be noted yet): no
 * set of the noted paths is made. Thread-safe. */
void pagecache_note_other_new(pagecache *pc, const char *relpath);
/* How relpath stands in the records the last good build saved (as
 * pagecache_open read them), stat'ed now whatever pagecache_trust said:
 * PAGE_LEFT when recorded and the file is exactly as that build left it
 * (size, inode, mtime, ctime), PAGE_CHANGED when recorded but changed
 * or gone, PAGE_UNRECORDED when not recorded. Thread-safe. */
typedef enum { PAGE_UNRECORDED, PAGE_CHANGED, PAGE_LEFT } page_left;
page_left pagecache_left(pagecache *pc, const char *relpath);
/* Does the file hold any records (read whole and intact)? */
bool pagecache_recorded(const pagecache *pc);
/* Write the manifest of the pages noted in this build (stat now each
 * file noted without its stat), and remove other output directories'
 * records whose directory no longer exists. Returns 0, or -1 with a
 * warning in d. */
int pagecache_save(pagecache *pc, diag *d);
void pagecache_free(pagecache *pc);

/* The fingerprint of n runs of bytes taken as one (what fp_bytes gives
 * for their concatenation), without copying them together. */
struct iovec;
fp128 fp_pieces(const struct iovec *v, size_t n);

#endif
