/* watch.h - wait for changes under the content and templates trees.
 *
 * Recursive inotify watches on content/ and templates/, and a quiet
 * period so that an editor's burst of writes makes one change: what
 * `gazette serve` and `gazette build --watch` wait on between builds.
 * A change is either edits of Markdown files under content/ (their paths
 * as a content load names them, path_join(content_dir, ...)) or unknown
 * (anything else: a directory, site.yaml, the stats snapshot, a template,
 * an attachment, lost events), which the caller answers with a full
 * build. Editors' side files (swap files, backups, auto-saves) are not
 * changes. */
#ifndef GAZETTE_WATCH_H
#define GAZETTE_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#define WATCH_QUIET_MS 100

typedef struct watch watch;

/* Watches on both trees (templates_dir may be missing). NULL, with a
 * message on stderr, when inotify is not available. */
watch *watch_new(const char *content_dir, const char *templates_dir);
void watch_free(watch *w);

/* Block until a change has settled (no event for WATCH_QUIET_MS, or 50
 * such periods of an endless writer) or stop_fd (a signalfd; -1: none)
 * is readable. Returns 1 for a change, 0 when stop_fd is readable (not
 * read here), -1 on an error (said on stderr). After an unknown change
 * the trees are watched anew before returning, so that new directories
 * are watched and a save during the next build makes the next change. */
int watch_next(watch *w, int stop_fd);

/* Block the stop signals (SIGINT, SIGTERM, SIGHUP) in the calling thread
 * and in every thread it starts from now on, and return a signalfd that
 * reads them: the stop_fd for watch_next. -1 on failure, said on stderr
 * as "gazette: WHO: ...". */
int watch_stop_fd(const char *who);

/* The signal waiting on stop_fd, read from it; 0 if none could be read. */
unsigned watch_stop_signal(int stop_fd);

/* The change watch_next returned: the Markdown files edited under
 * content/ (each once), or NULL when unknown. Valid until the next
 * watch_next. */
const char *const *watch_edited(const watch *w, size_t *n);

#endif
