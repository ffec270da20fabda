/* cmd_serve.c - `gazette serve`: build, serve over HTTP, rebuild on change.
 *
 * The main thread waits (poll) on an inotify descriptor watching content/
 * and templates/ recursively and on a signalfd for SIGINT/SIGTERM; the
 * HTTP daemon (serve.c) runs in libmicrohttpd's own thread. A change
 * starts a quiet period of DEBOUNCE_MS, so that an editor's burst of
 * writes causes one rebuild. A failed build puts the server into error
 * mode (every request gets the messages with status 500) until a build
 * succeeds. SIGINT/SIGTERM are blocked before the daemon starts so that
 * only the signalfd sees them. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "commands.h"
#include "serve.h"
#include "util.h"

#define DEBOUNCE_MS 100

static const char serve_usage[] =
    "usage: gazette serve [--port N] [--bind ADDR] [--content DIR] [--templates DIR]\n"
    "                     [--out DIR] [--drafts]\n"
    "\n"
    "Build the site, serve it at http://ADDR:N/ and rebuild when anything in\n"
    "the content or templates directory changes. A failed build is shown as\n"
    "an error page (status 500) until the next good build. Ctrl-C stops.\n"
    "\n"
    "  --port N         TCP port (default 1313; 0 picks a free one)\n"
    "  --bind ADDR      address to listen on (default 127.0.0.1)\n"
    "  --content DIR    content directory (default: content)\n"
    "  --templates DIR  templates directory (default: templates)\n"
    "  --out DIR        output directory (default: a temporary directory in\n"
    "                   $TMPDIR or /tmp, removed on exit; there a rebuild\n"
    "                   after edits of documents only remakes just their\n"
    "                   pages and the search index)\n"
    "  --drafts         also show documents with draft: true\n";

/* ---- recursive inotify --------------------------------------------- */

#define WATCH_MASK (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | \
                    IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

/* The watched directories by watch descriptor, and whether each is under
 * the content directory (a change under templates/ is no document's). */
typedef struct {
    char **dir;          /* by wd; NULL where none */
    bool *content;
    size_t cap;
} watches;

static void watches_clear(watches *w)
{
    for (size_t i = 0; i < w->cap; i++) free(w->dir[i]);
    free(w->dir);
    free(w->content);
    memset(w, 0, sizeof *w);
}

static void watches_add(watches *w, int wd, const char *dir, bool content)
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
static int watch_tree(int ifd, watches *w, const char *dir, bool content)
{
    if (!is_dir(dir)) return 0;
    int n = 0;
    int wd = inotify_add_watch(ifd, dir, WATCH_MASK | IN_ONLYDIR);
    if (wd >= 0) {
        n++;
        watches_add(w, wd, dir, content);
    } else {
        fprintf(stderr, "gazette: serve: cannot watch %s: %s\n", dir, strerror(errno));
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
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) n += watch_tree(ifd, w, p, content);
        free(p);
    }
    closedir(dh);
    return n;
}

/* Editor noise that should not trigger a rebuild: hidden files (vim's
 * swap files, emacs's locks), backups, vim's write probe, emacs's
 * auto-saves (#name#), JetBrains' safe-write files. */
static int ignored(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' || str_ends(name, "~") || !strcmp(name, "4913") ||
           str_ends(name, ".swp") || str_ends(name, ".tmp") || (n > 1 && name[0] == '#' && name[n - 1] == '#') ||
           str_ends(name, "___jb_tmp___") || str_ends(name, "___jb_old___");
}

/* What changed since the last build, from the events: the Markdown files
 * under content/ that were written, made, moved or removed (edited), or
 * anything else (unknown: a directory, site.yaml, the stats snapshot, an
 * attachment, a template, a lost event). */
typedef struct {
    char **edited;
    size_t n, cap;
    bool unknown;
} changes;

static void changes_clear(changes *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->edited[i]);
    free(c->edited);
    memset(c, 0, sizeof *c);
}

static void changes_add(changes *c, char *path)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->edited[i], path)) { free(path); return; }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->edited = xrealloc(c->edited, c->cap * sizeof *c->edited);
    }
    c->edited[c->n++] = path;
}

/* Drain pending events into ch. Returns 1 when one of them matters. New
 * directories are not watched here: an event on a directory makes the
 * change unknown, and the caller watches anew before that rebuild, which
 * also covers renamed and replaced trees. */
static int drain(int ifd, const watches *w, changes *ch)
{
    char evbuf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    int relevant = 0;
    for (;;) {
        ssize_t len = read(ifd, evbuf, sizeof evbuf);
        if (len <= 0) break;
        for (char *p = evbuf; p < evbuf + len;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_IGNORED) continue;           /* a watch dropped */
            /* (a change to the tree itself, or events lost) */
            bool tree = ev->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_ISDIR);
            if (!tree && ev->len && ignored(ev->name)) continue;
            relevant = 1;
            const char *dir = ev->wd >= 0 && (size_t)ev->wd < w->cap ? w->dir[ev->wd] : NULL;
            if (tree || !ev->len || !dir || !w->content[ev->wd] || !str_ends(ev->name, ".md"))
                ch->unknown = true;
            else
                changes_add(ch, path_join(dir, ev->name));
        }
    }
    return relevant;
}

typedef struct {
    build_opts bo;
    server *srv;
    const char *url;
    char *error;        /* the last build's messages while it is broken */
    int ifd;
    /* The output is this session's own temporary directory: nothing but
     * its builds writes there, so a build after a good one may take the
     * output as that one recorded it (build_opts.trust_out: no stat of
     * every page and directory). Not for a --out given by the user. */
    bool own_out;
    bool recorded;      /* the last build was good and recorded the output */
    /* With own_out, the last good build is kept whole (build_keep), and
     * a rebuild after edits of documents only is made from it (build_opts
     * .edited): their pages and the search index, the rest kept. */
    build_keep *keep;
    watches w;
    changes ch;         /* since the last build */
} serve_state;

/* Fresh watches on the content and templates trees (closing the old
 * inotify instance drops every old watch at once). */
static int rewatch(serve_state *s)
{
    if (s->ifd >= 0) close(s->ifd);
    watches_clear(&s->w);
    s->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->ifd < 0) {
        fprintf(stderr, "gazette: serve: inotify: %s\n", strerror(errno));
        return -1;
    }
    watch_tree(s->ifd, &s->w, s->bo.content_dir, true);
    watch_tree(s->ifd, &s->w, s->bo.templates_dir, false);
    return 0;
}

static void rebuild(serve_state *s, int first)
{
    diag *d = diag_new();
    build_result res;
    memset(&res, 0, sizeof res);
    s->bo.trust_out = s->own_out && s->recorded;
    s->bo.keep = s->keep;
    s->bo.content_changed = !first;
    s->bo.edited = s->ch.unknown ? NULL : (const char *const *)s->ch.edited;
    s->bo.nedited = s->ch.unknown ? 0 : s->ch.n;
    int rc = build_site(&s->bo, &res, d);
    s->bo.edited = NULL;
    changes_clear(&s->ch);
    s->recorded = rc == 0 && diag_count(d, DIAG_ERROR) == 0 && res.out_recorded;
    free(s->error);
    s->error = NULL;
    if (rc == 0 && diag_count(d, DIAG_ERROR) == 0) {
        if (s->srv) server_set_error(s->srv, NULL);
        diag_print(d, stderr);                      /* warnings */
        fprintf(stderr, "gazette: %s %zu documents (%zu written, %zu removed) in %.3f s\n",
                first ? "built" : "rebuilt", res.ndocs, res.written, res.removed, res.seconds);
        build_result_free(&res);
    } else {
        char *text = serve_diag_text(d);
        if (!*text) {
            free(text);
            text = xstrdup("build failed (no message)");
        }
        if (s->srv) server_set_error(s->srv, text);
        fprintf(stderr, "%sgazette: build failed; serving the errors at %s until it is fixed\n",
                text, s->url ? s->url : "the server");
        s->error = text;
    }
    diag_free(d);
}

static int parse_port(const char *s, int *port)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < 0 || v > 65535) return -1;
    *port = (int)v;
    return 0;
}

/* Run until SIGINT/SIGTERM. Returns the exit status. */
static int loop(serve_state *s, int sfd)
{
    for (;;) {
        struct pollfd p[2] = {{sfd, POLLIN, 0}, {s->ifd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "gazette: serve: poll: %s\n", strerror(errno));
            return 1;
        }
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) > 0)
                fprintf(stderr, "\ngazette: stopping (signal %u)\n", si.ssi_signo);
            return 0;
        }
        if (!(p[1].revents & POLLIN) || !drain(s->ifd, &s->w, &s->ch)) continue;
        /* quiet period: wait until no event arrives for DEBOUNCE_MS, but
         * stop waiting after 50 periods (an endless writer) */
        for (int i = 0; i < 50; i++) {
            struct pollfd q[2] = {{sfd, POLLIN, 0}, {s->ifd, POLLIN, 0}};
            int r = poll(q, 2, DEBOUNCE_MS);
            if (r <= 0 || (q[0].revents & POLLIN)) break;
            drain(s->ifd, &s->w, &s->ch);
        }
        /* After a change to the tree (or a lost event), watch anew before
         * building: new directories get watches, and a save during the
         * build triggers the next one. Edits of files need no new watch. */
        if (s->ch.unknown && rewatch(s) < 0) return 1;
        rebuild(s, 0);
    }
}

int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, 0, 'p'},    {"bind", required_argument, 0, 'b'},
        {"content", required_argument, 0, 'c'}, {"templates", required_argument, 0, 't'},
        {"out", required_argument, 0, 'o'},     {"drafts", no_argument, 0, 'D'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    serve_state s;
    memset(&s, 0, sizeof s);
    s.ifd = -1;
    build_opts_default(&s.bo);
    s.bo.no_result_docs = true;
    s.bo.quiet = true;
    int port = 1313, c;
    const char *bind_addr = "127.0.0.1", *out = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:b:c:t:o:Dh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (parse_port(optarg, &port) < 0) {
                fprintf(stderr, "gazette: serve: bad port '%s'\n", optarg);
                return 2;
            }
            break;
        case 'b': bind_addr = optarg; break;
        case 'c': s.bo.content_dir = optarg; break;
        case 't': s.bo.templates_dir = optarg; break;
        case 'o': out = optarg; break;
        case 'D': s.bo.drafts = true; break;
        case 'h': fputs(serve_usage, stdout); return 0;
        default: fputs(serve_usage, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gazette: unexpected argument '%s'\n%s", argv[optind], serve_usage);
        return 2;
    }
    if (!is_dir(s.bo.content_dir)) {
        fprintf(stderr, "gazette: serve: no content directory '%s'\n", s.bo.content_dir);
        return 1;
    }
    /* Temporary directories where TMPDIR says (else /tmp). */
    char *tmp = tmp_template("gazette-serve");
    char *ctmp = tmp_template("gazette-serve-cache");
    if (!out) {
        if (!mkdtemp(tmp)) {
            fprintf(stderr, "gazette: serve: cannot make a temporary directory %s: %s\n", tmp,
                    strerror(errno));
            free(tmp);
            free(ctmp);
            return 1;
        }
        out = tmp;
        s.own_out = true;
    } else if (mkdir_p(out) < 0) {
        fprintf(stderr, "gazette: serve: cannot create %s: %s\n", out, strerror(errno));
        free(tmp);
        free(ctmp);
        return 1;
    }
    s.bo.out_dir = out;
    /* A build cache for this session, so that a rebuild after an edit
     * renders only what the edit changed (see cache.h). Its own temp dir:
     * a page record of a temporary site is of no use afterwards. */
    if (mkdtemp(ctmp)) s.bo.cache_dir = ctmp;
    if (s.own_out && s.bo.cache_dir) s.keep = build_keep_new();

    /* block the stop signals in every thread, then take them by signalfd */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    int rc = 1, sfd = -1;
    if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0 ||
        (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
        fprintf(stderr, "gazette: serve: signalfd: %s\n", strerror(errno));
        goto done;
    }
    if (rewatch(&s) < 0) goto done;          /* before the build: no change is missed */
    rebuild(&s, 1);

    diag *d = diag_new();
    s.srv = server_start(bind_addr, port, out, d);
    diag_print(d, stderr);
    diag_free(d);
    if (!s.srv) goto done;
    /* the first build ran before the server existed: show its errors */
    if (s.error) server_set_error(s.srv, s.error);
    char *url = xasprintf(strchr(bind_addr, ':') ? "http://[%s]:%d/" : "http://%s:%d/",
                          bind_addr, server_port(s.srv));
    s.url = url;
    printf("Serving %s at %s (Ctrl-C to stop)\n", out, url);
    fflush(stdout);
    rc = loop(&s, sfd);
    server_stop(s.srv);
    s.url = NULL;
    free(url);
done:
    build_keep_free(s.keep, NULL);
    watches_clear(&s.w);
    changes_clear(&s.ch);
    if (s.ifd >= 0) close(s.ifd);
    if (sfd >= 0) close(sfd);
    if (out == tmp) rm_rf(tmp);
    if (s.bo.cache_dir) rm_rf(ctmp);
    free(tmp);
    free(ctmp);
    free(s.error);
    return rc;
}
