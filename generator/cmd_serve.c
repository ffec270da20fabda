/* cmd_serve.c - `gazette serve`: build, serve over HTTP, rebuild on change.
 *
 * The main thread waits (watch.c) on the content and templates trees and
 * on a signalfd for SIGINT/SIGTERM; the HTTP daemon (serve.c) runs in
 * libmicrohttpd's own thread. A change is an editor's burst of writes,
 * settled: one rebuild. A failed build puts the server into error
 * mode (every request gets the messages with status 500) until a build
 * succeeds. SIGINT/SIGTERM are blocked before the daemon starts so that
 * only the signalfd sees them. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "commands.h"
#include "serve.h"
#include "util.h"
#include "watch.h"

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

typedef struct {
    build_opts bo;
    server *srv;
    const char *url;
    char *error;        /* the last build's messages while it is broken */
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
    watch *w;
} serve_state;

static void rebuild(serve_state *s, int first)
{
    diag *d = diag_new();
    build_result res;
    memset(&res, 0, sizeof res);
    s->bo.trust_out = s->own_out && s->recorded;
    s->bo.keep = s->keep;
    s->bo.content_changed = !first;
    s->bo.edited = watch_edited(s->w, &s->bo.nedited);     /* (none before the first change) */
    int rc = build_site(&s->bo, &res, d);
    s->bo.edited = NULL;
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
        int r = watch_next(s->w, sfd);
        if (r < 0) return 1;
        if (r == 0) {
            unsigned sig = watch_stop_signal(sfd);
            if (sig) fprintf(stderr, "\ngazette: stopping (signal %u)\n", sig);
            return 0;
        }
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

    /* The stop signals blocked in every thread (the daemon's too, started
     * below), taken by signalfd. */
    int rc = 1, sfd = watch_stop_fd("serve");
    if (sfd < 0) goto done;
    /* Watched before the build: no change is missed. */
    if (!(s.w = watch_new(s.bo.content_dir, s.bo.templates_dir))) goto done;
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
    watch_free(s.w);
    if (sfd >= 0) close(sfd);
    if (out == tmp) rm_rf(tmp);
    if (s.bo.cache_dir) rm_rf(ctmp);
    free(tmp);
    free(ctmp);
    free(s.error);
    return rc;
}
