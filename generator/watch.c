/* watch.c - recursive inotify on the content and templates trees, with a
 * quiet period (see watch.h). Moved here from cmd_serve.c when
 * `gazette build --watch` came to wait on the same changes. */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define WATCH_MASK (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | \
                    IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

struct watch {
    char *content_dir, *templates_dir;
    int ifd;
    /* The watched directories by watch descriptor, and whether each is
     * under the content directory (a change under templates/ is no
     * document's). */
    char **dir;          /* by wd; NULL where none */
    bool *content;
    size_t cap;
    /* What changed since the last watch_next. */
    char **edited;
    size_t n, capn;
    bool unknown;
};

static void dirs_clear(watch *w)
{
    for (size_t i = 0; i < w->cap; i++) free(w->dir[i]);
    free(w->dir);
    free(w->content);
    w->dir = NULL;
    w->content = NULL;
    w->cap = 0;
}

static void dirs_add(watch *w, int wd, const char *dir, bool content)
{
    if (wd < 0) return;
    if ((size_t)wd >= w->cap) {
        size_t cap = w->cap ? w->cap : 64;
        while (cap <= (size_t)wd) cap *= 2;
        w->dir = xrealloc(w->dir, cap * sizeof *w->dir);
        w->content = xrealloc(w->content, cap * sizeof *w->content);
        memset(w->dir + w->cap, 0, (cap - w->cap) * sizeof *w->dir);
        memset(w->content + w->cap, 0, (cap - w->cap) * sizeof *w->content);
        w->cap = cap;
    }
    free(w->dir[wd]);
    w->dir[wd] = xstrdup(dir);
    w->content[wd] = content;
}

/* Watch dir and every directory below it, each named as a content load
 * names the files in it (path_join from the top). Missing dirs are fine
 * (the templates dir is optional). Returns the number of watches added. */
static int watch_tree(watch *w, const char *dir, bool content)
{
    if (!is_dir(dir)) return 0;
    int n = 0;
    int wd = inotify_add_watch(w->ifd, dir, WATCH_MASK | IN_ONLYDIR);
    if (wd >= 0) {
        n++;
        dirs_add(w, wd, dir, content);
    } else {
        fprintf(stderr, "gazette: watch: cannot watch %s: %s\n", dir, strerror(errno));
    }
    DIR *dh = opendir(dir);
    if (!dh) return n;
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (e->d_name[0] == '.') continue;
        /* (d_type says which are directories: no stat of every document) */
        if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
        char *p = path_join(dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) n += watch_tree(w, p, content);
        free(p);
    }
    closedir(dh);
    return n;
}

/* Fresh watches on both trees (closing the old inotify instance drops
 * every old watch at once). */
static int rewatch(watch *w)
{
    if (w->ifd >= 0) close(w->ifd);
    dirs_clear(w);
    w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->ifd < 0) {
        fprintf(stderr, "gazette: watch: inotify: %s\n", strerror(errno));
        return -1;
    }
    watch_tree(w, w->content_dir, true);
    watch_tree(w, w->templates_dir, false);
    return 0;
}

watch *watch_new(const char *content_dir, const char *templates_dir)
{
    watch *w = xcalloc(1, sizeof *w);
    w->ifd = -1;
    w->content_dir = xstrdup(content_dir);
    w->templates_dir = xstrdup(templates_dir ? templates_dir : "");
    if (rewatch(w) < 0) {
        watch_free(w);
        return NULL;
    }
    return w;
}

static void changes_clear(watch *w)
{
    for (size_t i = 0; i < w->n; i++) free(w->edited[i]);
    w->n = 0;
    w->unknown = false;
}

void watch_free(watch *w)
{
    if (!w) return;
    changes_clear(w);
    free(w->edited);
    dirs_clear(w);
    if (w->ifd >= 0) close(w->ifd);
    free(w->content_dir);
    free(w->templates_dir);
    free(w);
}

static void changes_add(watch *w, char *path)
{
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->edited[i], path)) { free(path); return; }
    if (w->n == w->capn) {
        w->capn = w->capn ? w->capn * 2 : 8;
        w->edited = xrealloc(w->edited, w->capn * sizeof *w->edited);
    }
    w->edited[w->n++] = path;
}

/* Editor noise that should not trigger a rebuild: hidden files (vim's
 * swap files, emacs's locks), backups, vim's write probe, emacs's
 * auto-saves (#name#), JetBrains' safe-write files. */
static bool ignored(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' || str_ends(name, "~") || !strcmp(name, "4913") ||
           str_ends(name, ".swp") || str_ends(name, ".tmp") || (n > 1 && name[0] == '#' && name[n - 1] == '#') ||
           str_ends(name, "___jb_tmp___") || str_ends(name, "___jb_old___");
}

/* Drain pending events into the change. Returns true when one of them
 * matters. New directories are not watched here: an event on a directory
 * makes the change unknown, and watch_next watches anew before returning,
 * which also covers renamed and replaced trees. */
static bool drain(watch *w)
{
    char evbuf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool relevant = false;
    for (;;) {
        ssize_t len = read(w->ifd, evbuf, sizeof evbuf);
        if (len <= 0) break;
        for (char *p = evbuf; p < evbuf + len;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_IGNORED) continue;           /* a watch dropped */
            /* (a change to the tree itself, or events lost) */
            bool tree = ev->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_ISDIR);
            if (!tree && ev->len && ignored(ev->name)) continue;
            relevant = true;
            const char *dir = ev->wd >= 0 && (size_t)ev->wd < w->cap ? w->dir[ev->wd] : NULL;
            if (tree || !ev->len || !dir || !w->content[ev->wd] || !str_ends(ev->name, ".md"))
                w->unknown = true;
            else
                changes_add(w, path_join(dir, ev->name));
        }
    }
    return relevant;
}

int watch_next(watch *w, int stop_fd)
{
    changes_clear(w);
    for (;;) {
        struct pollfd p[2] = {{w->ifd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
        if (poll(p, stop_fd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "gazette: watch: poll: %s\n", strerror(errno));
            return -1;
        }
        if (stop_fd >= 0 && (p[1].revents & POLLIN)) return 0;
        if ((p[0].revents & POLLIN) && drain(w)) break;
    }
    /* The quiet period: until no event arrives for WATCH_QUIET_MS, but
     * not longer than 50 periods (an endless writer). */
    for (int i = 0; i < 50; i++) {
        struct pollfd q[2] = {{w->ifd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
        int r = poll(q, stop_fd >= 0 ? 2 : 1, WATCH_QUIET_MS);
        if (r <= 0) break;
        if (stop_fd >= 0 && (q[1].revents & POLLIN)) return 0;
        drain(w);
    }
    /* After a change to the tree (or a lost event), watch anew before
     * building: new directories get watches, and a save during the build
     * makes the next change. Edits of files need no new watch. */
    if (w->unknown && rewatch(w) < 0) return -1;
    return 1;
}

const char *const *watch_edited(const watch *w, size_t *n)
{
    *n = w->unknown ? 0 : w->n;
    return w->unknown ? NULL : (const char *const *)w->edited;
}

int watch_stop_fd(const char *who)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    int fd = -1;
    if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0 || (fd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
        fprintf(stderr, "gazette: %s: signalfd: %s\n", who, strerror(errno));
        return -1;
    }
    return fd;
}

unsigned watch_stop_signal(int stop_fd)
{
    struct signalfd_siginfo si;
    return read(stop_fd, &si, sizeof si) == (ssize_t)sizeof si ? si.ssi_signo : 0;
}
