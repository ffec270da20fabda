/* output.h - writes the site into its output directory.
 *
 * Each file is written atomically: a new one (not there when out_open
 * scanned the tree) is linked to its name once complete, an existing one
 * replaced through a temp file and rename, and only when its bytes differ,
 * so unchanged files keep their mtime. out_finish() removes every file that this build
 * did not write (never touching the release repository in .git), and empty
 * directories. Thread-safe: any number of threads may call out_write().
 *
 * An output directory that does not exist when scanned is built unseen:
 * in a new directory beside it (.NAME.new-PID, same parent) which
 * out_finish renames into place once every file is in it (and fails if
 * the directory appeared meanwhile); out_close of an unfinished one
 * removes it, and the next unseen build removes a killed process's. Its
 * files are written in place, with no temporary inode or name. Until
 * out_finish, out_root() names the new directory.
 */
#ifndef GAZETTE_OUTPUT_H
#define GAZETTE_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include "diag.h"

typedef struct outdir outdir;
struct stat;

typedef struct {
    size_t written;     /* new or changed files */
    size_t unchanged;   /* same bytes already there */
    size_t removed;     /* stale files deleted by out_finish */
    size_t dirs_read;   /* directories out_open read (with a state file,
                           the others' listings came from it) */
    bool state_current; /* the state file describes the tree as left */
} out_stats;

/* root is created if missing. Errors go to d. */
outdir *out_open(const char *root, diag *d);
/* The same, with a state file (state_path NULL: none): out_finish records
 * in it every directory of the tree with its mtime, ctime and inode and
 * its entries, and the next out_open_state reads only the directories
 * whose stamp changed since (a file added or removed by hand changes its
 * directory's). Same results as the full scan: stray files are swept,
 * links removed. A missing, damaged, truncated or foreign (other root)
 * state file means a full scan. Keep it outside root, e.g. in the build
 * cache directory. */
outdir *out_open_state(const char *root, const char *state_path, diag *d);
/* out_open_state in two steps: out_scan only reads (creates nothing,
 * removes no link), so it may run while the content loads, before the
 * build knows whether it will write at all; out_begin then makes root and
 * removes the links the scan found. Write only after out_begin. */
outdir *out_scan(const char *root, const char *state_path, diag *d);
/* out_scan, and with trust the state file's directory stamps are taken as
 * they are, unchecked (no stat per directory): only for a tree known to be
 * exactly as the build that wrote the state left it (out_stats'
 * state_current), e.g. a second build in the same process with nothing
 * else writing. A directory without a record is read as usual. */
outdir *out_scan_ex(const char *root, const char *state_path, bool trust, diag *d);
int out_begin(outdir *o);
/* relpath like "notices/2017/x/index.html" (no leading slash, no "..").
 * Returns 0 or -1 (reported to d). Writing one path twice is an error
 * (two sources claim one URL): the second call returns -1. */
int out_write(outdir *o, const char *relpath, const void *data, size_t len);
/* The same, and with st (may be NULL) the file's stat as this build left
 * it, for the page records (cache.h): taken on the file while it was
 * open, so no later stat is needed. st_mode 0: unknown (stat it later). */
int out_write_st(outdir *o, const char *relpath, const void *data, size_t len, struct stat *st);
/* Claim relpath as written by this build, keeping the file that is there
 * (the caller knows it is what it would write: see cache.h). Same errors
 * as out_write. */
int out_keep(outdir *o, const char *relpath);
/* Copy a file from disk (attachments, assets) with the same semantics. */
int out_copy(outdir *o, const char *relpath, const char *src_path);
/* Has relpath been written in this build? */
int out_has(outdir *o, const char *relpath);
/* Remove stale files; fills stats. Returns 0 or -1. */
int out_finish(outdir *o, out_stats *st);
/* Where the tree is now: the root, or the new directory of an unseen
 * build until out_finish placed it. */
const char *out_root(const outdir *o);
/* After out_finish: the relpaths written (new or changed) and removed in
 * this build, sorted. Arrays and strings are owned by the outdir. */
void out_changed(const outdir *o, char ***paths, size_t *n);
void out_removed(const outdir *o, char ***paths, size_t *n);
/* Every relpath written in this build so far, sorted (the strings are
 * the outdir's, valid until out_close and unchanged by later writes;
 * free the array only). */
const char **out_paths(outdir *o, size_t *n);
/* The same, each given to fn in no particular order (no copies; fn must
 * not write to o). */
void out_each(outdir *o, void (*fn)(const char *relpath, void *ud), void *ud);
/* Make o, finished (out_finish, with its state file current) and with
 * nothing else written to the tree since, ready for another build of
 * it: as out_scan_ex with trust would read it back from the state file,
 * without reading it (the files there are the ones this build claimed).
 * Then out_keep and out_write as for any build, and out_finish; errors
 * go to d from now on. -1 (o unchanged) when the state is not current. */
int out_again(outdir *o, diag *d);
/* After out_again, before out_finish: each file that was there, given to
 * fn (which may write to o, from this thread only). */
void out_each_existing(outdir *o, void (*fn)(const char *relpath, void *ud), void *ud);
void out_close(outdir *o);

#endif
