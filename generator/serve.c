/* serve.c - see serve.h. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- content types ------------------------------------------------- */

static const struct { const char *ext, *type; } types[] = {
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json; charset=utf-8"},
    {".xml", "application/xml; charset=utf-8"},
    {".svg", "image/svg+xml; charset=utf-8"},
    {".txt", "text/plain; charset=utf-8"},
    {".csv", "text/csv; charset=utf-8"},
    {".md", "text/markdown; charset=utf-8"},
    {".map", "application/json; charset=utf-8"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".webp", "image/webp"},
    {".ico", "image/x-icon"},
    {".pdf", "application/pdf"},
    {".woff2", "font/woff2"},
    {".woff", "font/woff"},
    {".wasm", "application/wasm"},
};

const char *serve_content_type(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (dot && (!slash || dot > slash)) {
        for (size_t i = 0; i < sizeof types / sizeof *types; i++)
            if (!strcasecmp(dot, types[i].ext)) return types[i].type;
    }
    return "application/octet-stream";
}

/* ---- path resolution ----------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int serve_url_decode(const char *raw, buf *out)
{
    for (const char *p = raw; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);
            if (l < 0) return -1;
            c = h * 16 + l;
            p += 2;
        }
        if (c < 0x20 || c == 0x7f) return -1;     /* NUL, CR, LF, ... */
        buf_putc(out, c);
    }
    if (!out->ptr) buf_puts(out, "");
    return 0;
}

void serve_target_free(serve_target *t)
{
    free(t->path);
    free(t->location);
    t->path = t->location = NULL;
}

/* Is real (a realpath) root_real itself or below it? */
static int inside(const char *root_real, const char *real)
{
    size_t n = strlen(root_real);
    if (n == 1 && root_real[0] == '/') return 1;
    return !strncmp(real, root_real, n) && (real[n] == 0 || real[n] == '/');
}

/* Split the decoded path into clean segments joined by '/', without
 * leading slash. Returns -1 on a ".." segment. */
static int clean_path(const char *dec, buf *rel)
{
    const char *p = dec;
    while (*p) {
        while (*p == '/') p++;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return -1;
        if (n && !(n == 1 && p[0] == '.')) {
            if (rel->len) buf_putc(rel, '/');
            buf_put(rel, p, n);
        }
        p += n;
    }
    if (!rel->ptr) buf_puts(rel, "");
    return 0;
}

void serve_resolve(const char *root_real, const char *raw, serve_target *t)
{
    t->kind = SERVE_NOT_FOUND;
    t->path = t->location = NULL;
    buf dec = BUF_INIT, rel = BUF_INIT;
    if (!raw || raw[0] != '/' || serve_url_decode(raw, &dec) < 0 ||
        clean_path(dec.ptr, &rel) < 0) {
        t->kind = SERVE_FORBIDDEN;
        goto out;
    }
    char *full = rel.len ? path_join(root_real, rel.ptr) : xstrdup(root_real);
    char real[PATH_MAX];
    if (!realpath(full, real)) {
        free(full);
        goto out;                                   /* missing: 404 */
    }
    free(full);
    if (!inside(root_real, real)) { t->kind = SERVE_FORBIDDEN; goto out; }
    struct stat st;
    if (stat(real, &st) < 0) goto out;
    if (S_ISDIR(st.st_mode)) {
        if (dec.len && dec.ptr[dec.len - 1] != '/') {
            /* rebuild the location from the clean segments, so that a
             * request like "//host" cannot redirect off-site */
            buf loc = BUF_INIT;
            buf_putc(&loc, '/');
            if (rel.len) {                          /* "/." is the root: "/" */
                esc_url(&loc, rel.ptr, rel.len);
                buf_putc(&loc, '/');
            }
            t->kind = SERVE_REDIRECT;
            t->location = buf_detach(&loc);
            goto out;
        }
        char *idx = path_join(real, "index.html");
        char ireal[PATH_MAX];
        int ok = realpath(idx, ireal) != NULL;
        free(idx);
        if (!ok) goto out;
        if (!inside(root_real, ireal)) { t->kind = SERVE_FORBIDDEN; goto out; }
        if (stat(ireal, &st) < 0 || !S_ISREG(st.st_mode)) goto out;
        t->kind = SERVE_FILE;
        t->path = xstrdup(ireal);
        goto out;
    }
    if (!S_ISREG(st.st_mode) || dec.ptr[dec.len - 1] == '/') goto out;   /* "/a.css/" */
    t->kind = SERVE_FILE;
    t->path = xstrdup(real);
out:
    buf_free(&dec);
    buf_free(&rel);
}

/* ---- error pages --------------------------------------------------- */

void serve_error_page(buf *out, const char *messages)
{
    const char *m = messages ? messages : "";
    buf_puts(out, "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
                  "<meta http-equiv=\"refresh\" content=\"2\">"
                  "<title>Build failed - gazette serve</title>"
                  "<style>body{font-family:sans-serif;margin:2em}"
                  "pre{background:#fee;border:1px solid #c00;padding:1em;"
                  "white-space:pre-wrap}</style></head><body>\n"
                  "<h1>构建失败 / Build failed</h1>\n<pre>");
    esc_html(out, m, strlen(m));
    buf_puts(out, "</pre>\n<p>Fix the file and save: the site is rebuilt and this "
                  "page reloads.</p>\n</body></html>\n");
}

char *serve_diag_text(diag *d)
{
    buf b = BUF_INIT;
    diag_sort(d);
    for (size_t i = 0; i < diag_total(d); i++) {
        buf_puts(&b, diag_message(d, i));
        buf_putc(&b, '\n');
    }
    return buf_detach(&b);
}

/* ---- the HTTP server ----------------------------------------------- */

struct server {
    struct MHD_Daemon *mhd;
    char *root;                  /* realpath of the output directory */
    pthread_mutex_t mu;
    char *error;                 /* build error text, or NULL */
    int port;
};

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status,
                                const char *type, const char *data, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
    buf b = BUF_INIT;
    buf_printf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%u</title>"
                   "</head><body><h1>%u</h1><p>", status, status);
    esc_html(&b, msg, strlen(msg));
    buf_puts(&b, "</p></body></html>\n");
    enum MHD_Result ok = send_buf(c, status, "text/html; charset=utf-8", b.ptr, b.len);
    buf_free(&b);
    return ok;
}

/* Send a file with status; -1 when it cannot be opened. */
static int send_file(struct MHD_Connection *c, unsigned status, const char *path,
                     enum MHD_Result *ok)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) { close(fd); return -1; }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!r) { close(fd); return -1; }           /* fd is ours until then */
    MHD_add_response_header(r, "Content-Type", serve_content_type(path));
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    *ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return 0;
}

static enum MHD_Result not_found(server *s, struct MHD_Connection *c)
{
    char *p = path_join(s->root, "404.html");
    enum MHD_Result ok = MHD_NO;
    int sent = send_file(c, MHD_HTTP_NOT_FOUND, p, &ok);
    free(p);
    return sent == 0 ? ok : send_text(c, MHD_HTTP_NOT_FOUND, "Not found");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version,
                              const char *upload, size_t *upload_size, void **con_cls)
{
    server *s = cls;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Only GET and HEAD");

    pthread_mutex_lock(&s->mu);
    char *err = s->error ? xstrdup(s->error) : NULL;
    pthread_mutex_unlock(&s->mu);
    if (err) {
        buf b = BUF_INIT;
        serve_error_page(&b, err);
        free(err);
        enum MHD_Result ok = send_buf(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                      "text/html; charset=utf-8", b.ptr, b.len);
        buf_free(&b);
        return ok;
    }

    serve_target t;
    serve_resolve(s->root, url, &t);
    enum MHD_Result ok = MHD_NO;
    switch (t.kind) {
    case SERVE_FILE:
        if (send_file(c, MHD_HTTP_OK, t.path, &ok) < 0) ok = not_found(s, c);
        break;
    case SERVE_REDIRECT: {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
                                                                 MHD_RESPMEM_PERSISTENT);
        if (r) {
            MHD_add_response_header(r, "Location", t.location);
            ok = MHD_queue_response(c, MHD_HTTP_MOVED_PERMANENTLY, r);
            MHD_destroy_response(r);
        }
        break;
    }
    case SERVE_FORBIDDEN:
        ok = send_text(c, MHD_HTTP_FORBIDDEN, "Forbidden");
        break;
    case SERVE_NOT_FOUND:
        ok = not_found(s, c);
        break;
    }
    serve_target_free(&t);
    return ok;
}

/* Keep the URL as sent: serve_resolve decodes it exactly once, so that
 * %2e%2e cannot slip past the ".." check. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

server *server_start(const char *bind_addr, int port, const char *root, diag *d)
{
    if (!bind_addr) bind_addr = "127.0.0.1";
    if (port < 0 || port > 65535) {
        diag_error(d, NULL, 0, "serve: bad port %d", port);
        return NULL;
    }
    char real[PATH_MAX];
    if (!realpath(root, real)) {
        diag_error(d, root, 0, "serve: cannot open: %s", strerror(errno));
        return NULL;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
    if (strchr(bind_addr, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, bind_addr, &a6->sin6_addr) != 1) goto bad_addr;
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, bind_addr, &a4->sin_addr) != 1) goto bad_addr;
    }
    server *s = xcalloc(1, sizeof *s);
    s->root = xstrdup(real);
    pthread_mutex_init(&s->mu, NULL);
    s->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, s,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                              MHD_OPTION_END);
    if (!s->mhd) {
        diag_error(d, NULL, 0, "serve: cannot listen on %s port %d (in use?)", bind_addr, port);
        server_stop(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info && info->port ? info->port : port;
    return s;
bad_addr:
    diag_error(d, NULL, 0, "serve: bad bind address '%s'", bind_addr);
    return NULL;
}

int server_port(server *s) { return s->port; }

void server_set_error(server *s, const char *text)
{
    pthread_mutex_lock(&s->mu);
    free(s->error);
    s->error = text ? xstrdup(text) : NULL;
    pthread_mutex_unlock(&s->mu);
}

void server_stop(server *s)
{
    if (!s) return;
    if (s->mhd) MHD_stop_daemon(s->mhd);
    pthread_mutex_destroy(&s->mu);
    free(s->error);
    free(s->root);
    free(s);
}
