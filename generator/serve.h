/* serve.h - the local preview server behind `gazette serve`.
 *
 * The request logic (URL path -> file, content types, error pages) is
 * plain functions that the unit tests call without sockets; server_start()
 * wraps them in a libmicrohttpd daemon. cmd_serve.c adds the build and
 * rebuild-on-change loop.
 */
#ifndef GAZETTE_SERVE_H
#define GAZETTE_SERVE_H

#include <stddef.h>
#include "diag.h"
#include "util.h"

/* Content-Type for a file name by extension, with "; charset=utf-8" for
 * text types; "application/octet-stream" when unknown. Static string. */
const char *serve_content_type(const char *path);

typedef enum {
    SERVE_FILE,        /* send file `path` with status 200 */
    SERVE_REDIRECT,    /* 301 to `location` (a directory without its /) */
    SERVE_NOT_FOUND,   /* 404 */
    SERVE_FORBIDDEN,   /* 403: "..", a symlink out of the root, bad encoding */
} serve_kind;

typedef struct {
    serve_kind kind;
    char *path;        /* SERVE_FILE: absolute, resolved file path (owned) */
    char *location;    /* SERVE_REDIRECT: raw URL path + "/" (owned) */
} serve_target;

/* Percent-decode a URL path into out. Returns -1 on a bad escape, an
 * encoded or raw NUL, or a control character. */
int serve_url_decode(const char *raw, buf *out);

/* Map a raw (still percent-encoded) request path, without query string,
 * to what to send. root_real is the output directory as realpath() gives
 * it. Directories serve their index.html; "/dir" redirects to "/dir/"; a
 * ".." segment (also when encoded as %2e%2e) is forbidden, and so is any
 * path whose realpath leaves root_real (symlinks). Fills t (free with
 * serve_target_free). */
void serve_resolve(const char *root_real, const char *raw, serve_target *t);
void serve_target_free(serve_target *t);

/* The page shown while the build is broken: the diagnostics, HTML-escaped,
 * in a page that reloads itself every 2 s. Appends to out. */
void serve_error_page(buf *out, const char *messages);

/* Every message of d (sorted) as text, one a line; caller frees. */
char *serve_diag_text(diag *d);

/* The HTTP server. */
typedef struct server server;

/* Listen on bind_addr (IPv4 or IPv6 literal; NULL = 127.0.0.1) and port
 * (0 = any free port) and serve root. NULL on failure (reason in d). */
server *server_start(const char *bind_addr, int port, const char *root, diag *d);
/* The port actually bound. */
int server_port(server *s);
/* While text is non-NULL every request gets the error page with status
 * 500; NULL goes back to serving files. Thread-safe. */
void server_set_error(server *s, const char *text);
void server_stop(server *s);    /* NULL-safe; waits for requests to end */

#endif
