/* build.h - the build pipeline: content/ to a complete site in out_dir.
 *
 * build_site() loads and validates everything first (content, front matter,
 * snapshot, templates); only when there are no errors does it write, so bad
 * input leaves the output directory untouched. */
#ifndef GAZETTE_BUILD_H
#define GAZETTE_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include "diag.h"
#include "value.h"

/* Loaded content handed from one build to the next (build_opts.keep):
 * a release builds the same content two or three times (release.c), and
 * loading it (walking content/, a stat per file, the document cache) is
 * a third of a one-page release's build. A build given an empty keep
 * fills it with what it loaded instead of freeing it; a build given a
 * filled one (for the same content_dir, cache_dir and drafts) uses that
 * instead of loading, as if it had loaded it itself (the load's warnings
 * are said again). So every build sharing a keep sees one snapshot of
 * content/ (site.yaml and the documents, not the stats snapshot or the
 * templates, which each build reads): an edit made between them shows in
 * none of them. A build that fails leaves its keep empty. Owned by the
 * caller; one build at a time.
 *
 * A good build that recorded its output leaves its whole self in the keep
 * (model, pages, records). The next build with the same options but the
 * history (and trust_out: nothing else wrote to out_dir since) is then
 * made from it: only the pages that show the history and show it
 * differently now (/releases/, and the pages of documents whose entries
 * changed) are rendered, every other file is kept as it is, and the
 * templates and stats snapshot are the last build's too. A release's
 * second build, which lists the new release, is that build. */
typedef struct build_keep build_keep;

build_keep *build_keep_new(void);
/* Release what a keep holds; the Markdown cache's compaction warnings go
 * to d (may be NULL). NULL-safe. */
void build_keep_free(build_keep *k, diag *d);
/* Whether k holds loaded content (a build would use it). */
bool build_keep_full(const build_keep *k);

typedef struct {
    const char *content_dir;     /* default "content" */
    const char *templates_dir;   /* default "templates"; may not exist */
    const char *out_dir;         /* default "site" */
    bool drafts;                 /* publish draft: true documents too */
    bool check_only;             /* validate, write nothing */
    bool strict;                 /* warnings count as errors */
    bool quiet;                  /* no progress / summary on stderr */
    int threads;                 /* 0 = number of CPUs */
    /* Build cache directory (see cache.h): rendered Markdown and the pages
     * of out_dir, so that a rebuild redoes only what changed. NULL = none. */
    const char *cache_dir;
    /* Release history to publish (/releases/ and each document's version
     * history), as made by release_history() in release.h:
     *   {releases: [{tag, commit, short, date, summary, added, changed,
     *                removed, url}...] newest first,
     *    docs: {"/notices/2017/slug/": [{tag, date, commit, short,
     *                action: "added"|"changed", url}...] oldest first}}
     * Borrowed; NULL = no history. */
    value *history;
    /* The process ends right after this build (gazette build): its memory
     * is kept (reachable, for leak checkers) instead of freed piece by
     * piece, as git's UNLEAK does: ~30 ms of a 0.2 s rebuild at 10k
     * documents. Files, caches and descriptors are finished as always. */
    bool exit_after;
    /* The caller needs no list of documents in the result (res->docs stays
     * NULL, ndocs is still set): 60k small copies at 10k documents. */
    bool no_result_docs;
    /* out_dir is exactly as the previous build in this process left it,
     * with its out_recorded set, and nothing else has written to it since
     * (a release's second build): the records of the output are taken as
     * they are, with no stat of every file and directory. */
    bool trust_out;
    /* Content loaded by an earlier build, or to keep for a later one (see
     * build_keep above). NULL = load, and free at the end, as usual. */
    build_keep *keep;
    /* content_dir changed since the keep was filled (gazette serve, told
     * by inotify): what the keep holds of it is stale. When the change is
     * known to be edits of the documents edited[0..nedited) only (their
     * sources as a load names them, "content/notices/2017/x.md"; nothing
     * else under content_dir or templates_dir changed) and the keep holds
     * the last good build whole (with trust_out and the same options),
     * the build is made from that one (build_edit): those documents are
     * loaded again, and if each still sits where it sat in every page
     * but its own (the same summary, place, terms, template and
     * attachments), only its page and the search index are made again,
     * every other file kept. Else (or with edited NULL: anything may have
     * changed) the keep is emptied and the content loaded afresh. */
    bool content_changed;
    const char *const *edited;
    size_t nedited;
} build_opts;

void build_opts_default(build_opts *o);
/* The default build cache directory: .gazette-cache in the directory that
 * holds content_dir (the project's top level). Free the result. */
char *build_default_cache_dir(const char *content_dir);

/* One published document, for release messages and search. */
typedef struct {
    char *url;        /* "/notices/2017/slug/" */
    char *path;       /* output file, relative: "notices/2017/slug/index.html" */
    char *title;
    char *source;     /* "content/notices/2017/slug.md" */
    char *date;       /* "2017-09-29" */
} build_doc;

typedef struct {
    size_t written, unchanged, removed;   /* files */
    size_t ndocs;
    build_doc *docs;                      /* sorted by url */
    char *doc_text;                       /* if set, the docs' strings live in it */
    char newest_date[11];                 /* YYYY-MM-DD of newest document, "" if none */
    char snapshot_sha256[65];             /* hex of the snapshot file, "" if none */
    double seconds;
    value *site;                          /* site.yaml as a map (owned) */
    char **changed;  size_t nchanged;     /* files written (new or changed), sorted */
    char **removed_paths; size_t nremoved; /* stale files removed, sorted */
    bool out_recorded;    /* the build cache describes out_dir as the build left it */
    char records_id[33];  /* ... and the fingerprint of those records (build_records_id) */
} build_result;

/* Returns 0 on success; errors (and warnings) are in d. */
int build_site(const build_opts *o, build_result *res, diag *d);
void build_result_free(build_result *res);
/* The fingerprint (hex) of what the build cache records of o->out_dir
 * (its page records and output state): while it is what a build's
 * records_id said, the records are the ones that build left. -1 (and "")
 * without a build cache or when one of them is missing. */
int build_records_id(const build_opts *o, char hex[33]);
/* Are paths[0..n) of o->out_dir (relative; gone[i]: a file no longer
 * there) exactly as the last good build into out_dir left them, by the
 * build cache's records: each file there with the size, inode, mtime and
 * ctime that build recorded, each gone one not among the files it left?
 * Then they are that build's output, not hand edits (a release takes
 * them as such). 1 yes, 0 no (also without a build cache, or with
 * records that are missing, damaged or from an older gazette). */
int build_left_as_is(const build_opts *o, const char *const *paths, const bool *gone, size_t n);

#endif
