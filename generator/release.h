/* release.h - every published version of site/ is a git commit (libgit2).
 *
 * site/ is both the build's output directory and the work tree of the
 * release repository (site/.git). A release:
 *   1. takes an O_EXCL lock (site/.git/gazette-release.lock, holds the pid);
 *   2. refuses when site/ differs from the last release by hand edits,
 *      naming the paths, before touching anything (differences that a
 *      build of today's content makes, e.g. a preview `gazette build
 *      --out site`, are checked against a temp build and accepted);
 *   3. rebuilds the site exactly as the last release was made (same history
 *      data); if the tree equals HEAD's there is nothing to release;
 *   4. otherwise rebuilds with the new release listed as "pending" in the
 *      history, builds the tree from the files (the previous tree with only
 *      changed paths replaced, untouched subtrees reused), writes the commit,
 *      moves the branch (fast-forward only, atomically: last), tags it,
 *      refreshes site/.git/index so `git status` is clean.
 * New objects are staged in memory and only those the new commit adds are
 * written, as one pack, before any ref points at it; a no-op release or a
 * verify writes no object at all.
 * Commit and tag times are the newest document's date at 00:00 +0800 (or
 * --date), so the same content gives the same commit id on any machine.
 * A kill -9 at any point leaves the previous release intact (objects are
 * written before the ref moves).
 *
 * Each commit message ends with trailers, which are also the data that the
 * history is read back from:
 *   Release-Tag: release-2017-09-29.2
 *   Source-Commit: <content repo HEAD>      (when content/ is in a git repo)
 *   Snapshot-SHA256: <hex>                  (when there is a snapshot)
 *   Generator: gazette 0.1.0
 */
#ifndef GAZETTE_RELEASE_H
#define GAZETTE_RELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include "build.h"
#include "diag.h"
#include "value.h"

/* The build step, replaceable for tests; default build_site(). */
typedef int (*release_build_fn)(const build_opts *o, build_result *res, diag *d);

typedef struct {
    const char *content_dir;    /* default "content" */
    const char *templates_dir;  /* default "templates" */
    const char *out_dir;        /* default "site": work tree + repository */
    const char *message;        /* NULL: "Release YYYY-MM-DD" */
    const char *tag;            /* NULL: release-DATE, release-DATE.N */
    const char *date;           /* YYYY-MM-DD; NULL: newest document date */
    const char *push_remote;    /* NULL: no push */
    const char *cache_dir;      /* build cache (see cache.h); NULL: none */
    release_build_fn build;     /* NULL: build_site */
    bool exit_after;            /* the process ends after the release: builds
                                   keep their memory (build.h, exit_after) */
} release_opts;

void release_opts_default(release_opts *o);

typedef struct {
    bool nothing;               /* tree equal to HEAD's: no commit made */
    char commit[41];            /* new (or, when nothing, current) commit */
    char tag[256];              /* its tag ("" when nothing to release) */
    char *message;              /* full commit message (owned), NULL if nothing */
    bool tag_repaired;          /* nothing to release, but HEAD's tag was missing
                                   (an interrupted release) and has been made */
    double build_seconds, git_seconds;
} release_outcome;

void release_outcome_free(release_outcome *r);

/* Returns 0 (released or nothing to release) or -1 with errors in d. */
int release_run(const release_opts *o, release_outcome *out, diag *d);

/* Release history of repo_dir (a release work tree, e.g. "site") as
 * documented for build_opts.history in build.h. Each release entry also
 * has "pending": false. repo_url (may be NULL/"") makes url
 * REPO_URL/commit/ID. A missing repository gives an empty structure
 * {releases: [], docs: {}}; never NULL unless the repository is damaged
 * (then NULL with the error in d). A document's entries link ("url") to
 * the release's row on /releases/ ("/releases/#TAG"), never to the commit,
 * so a page reads the same before and after its release is committed. */
value *release_history(const char *repo_dir, const char *repo_url, diag *d);

/* The history exactly as it was embedded in release `rev` (a tag, commit
 * id or NULL for HEAD) when it was made: the releases before it, plus rev
 * itself as a pending entry ({tag, date, summary, counts, commit: "",
 * short: "", url: "", pending: true}; its documents likewise). Building
 * the same content with this history reproduces rev's tree; `gazette
 * build --out site` should use it so that an unchanged build leaves site/
 * clean. Empty structure when there is no repository or no release. */
value *release_history_asof(const char *repo_dir, const char *repo_url,
                            const char *rev, diag *d);

/* Rebuild from opts' content into a temp dir and compare the tree with
 * release `rev` (NULL: latest). Returns 0 same, 1 differs (the differing
 * paths, "+ path" / "- path" / "M path", go to *diffs, owned, NULL-ended
 * list), -1 error. */
int release_verify(const release_opts *o, const char *rev, char ***diffs, diag *d);
void release_free_list(char **list);

/* Push the branch and all release tags to `remote`. */
int release_push(const char *repo_dir, const char *branch, const char *remote, diag *d);

/* Settings read from content_dir/site.yaml (release: {...}). */
typedef struct {
    char *branch, *author_name, *author_email, *repo_url;
} release_settings;
int release_settings_load(const char *content_dir, release_settings *s, diag *d);
void release_settings_free(release_settings *s);

#endif
