/* Unit tests for the preview server's request logic (serve.c), without
 * sockets, plus one loopback round trip through libmicrohttpd. */
#include "serve.h"
#include "test.h"
#include "util.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static char root[PATH_MAX];     /* realpath of the test site */
static char outside[PATH_MAX];  /* a sibling dir with a secret */

static void put(const char *rel, const char *text)
{
    char *p = path_join(root, rel);
    if (write_file_atomic(p, text, strlen(text)) < 0) printf("# cannot write %s\n", p);
    free(p);
}

/* site/: index.html, notices/index.html, a.css, 404.html, empty/ (no
 * index), link-out -> ../outside, secret-link -> ../outside/secret.txt,
 * in-link -> notices (a symlink inside the root is fine) */
static int setup(void)
{
    char tmpl[] = "/tmp/gz-serve-XXXXXX";
    if (!mkdtemp(tmpl)) return -1;
    char *site = path_join(tmpl, "site"), *out = path_join(tmpl, "outside");
    mkdir_p(site);
    mkdir_p(out);
    if (!realpath(site, root) || !realpath(out, outside)) return -1;
    free(site);
    free(out);
    put("index.html", "<h1>home</h1>");
    put("notices/index.html", "<h1>notices</h1>");
    put("notices/2017/a b/index.html", "spaced");
    put("a.css", "body{}");
    put("404.html", "<h1>missing</h1>");
    char *e = path_join(root, "empty");
    mkdir_p(e);
    free(e);
    char *sec = path_join(outside, "secret.txt");
    write_file_atomic(sec, "secret", 6);
    char *l1 = path_join(root, "link-out"), *l2 = path_join(root, "secret-link"),
         *l3 = path_join(root, "in-link");
    int rc = symlink(outside, l1) | symlink(sec, l2) | symlink("notices", l3);
    free(sec);
    free(l1);
    free(l2);
    free(l3);
    return rc;
}

static serve_kind resolve(const char *url, char **path)
{
    serve_target t;
    serve_resolve(root, url, &t);
    serve_kind k = t.kind;
    if (path) *path = t.kind == SERVE_FILE ? xstrdup(t.path) : t.location ? xstrdup(t.location) : NULL;
    serve_target_free(&t);
    return k;
}

static int is(const char *url, serve_kind want, const char *suffix)
{
    char *p = NULL;
    serve_kind k = resolve(url, &p);
    int ok = k == want && (!suffix || (p && str_ends(p, suffix)));
    if (!ok) printf("# %s -> kind %d, %s\n", url, (int)k, p ? p : "(none)");
    free(p);
    return ok;
}

TEST(content_types)
{
    CHECK_STR(serve_content_type("/x/index.html"), "text/html; charset=utf-8");
    CHECK_STR(serve_content_type("a.CSS"), "text/css; charset=utf-8");
    CHECK_STR(serve_content_type("s.js"), "text/javascript; charset=utf-8");
    CHECK_STR(serve_content_type("search/meta.json"), "application/json; charset=utf-8");
    CHECK_STR(serve_content_type("feed.xml"), "application/xml; charset=utf-8");
    CHECK_STR(serve_content_type("c.svg"), "image/svg+xml; charset=utf-8");
    CHECK_STR(serve_content_type("p.png"), "image/png");
    CHECK_STR(serve_content_type("p.jpg"), "image/jpeg");
    CHECK_STR(serve_content_type("d.pdf"), "application/pdf");
    CHECK_STR(serve_content_type("t.csv"), "text/csv; charset=utf-8");
    CHECK_STR(serve_content_type("robots.txt"), "text/plain; charset=utf-8");
    CHECK_STR(serve_content_type("noext"), "application/octet-stream");
    CHECK_STR(serve_content_type("dir.html/file"), "application/octet-stream");
}

TEST(url_decode)
{
    buf b = BUF_INIT;
    CHECK(serve_url_decode("/%E7%BB%8F%e8%b4%b9/a%20b", &b) == 0);
    CHECK_STR(b.ptr, "/经费/a b");
    buf_clear(&b);
    CHECK(serve_url_decode("/a%00b", &b) == -1);
    buf_clear(&b);
    CHECK(serve_url_decode("/a%0d%0aLocation:x", &b) == -1);
    buf_clear(&b);
    CHECK(serve_url_decode("/a%zz", &b) == -1);
    buf_clear(&b);
    CHECK(serve_url_decode("/a%4", &b) == -1);
    buf_free(&b);
}

TEST(files_and_directories)
{
    CHECK(is("/", SERVE_FILE, "/index.html"));
    CHECK(is("/a.css", SERVE_FILE, "/a.css"));
    CHECK(is("/notices/", SERVE_FILE, "/notices/index.html"));
    CHECK(is("/notices/index.html", SERVE_FILE, "/notices/index.html"));
    CHECK(is("/notices/2017/a%20b/", SERVE_FILE, "/a b/index.html"));
    CHECK(is("//notices//./", SERVE_FILE, "/notices/index.html"));
    CHECK(is("/in-link/", SERVE_FILE, "/notices/index.html"));   /* symlink inside root */
}

TEST(redirects_add_slash)
{
    CHECK(is("/notices", SERVE_REDIRECT, "/notices/"));
    char *loc = NULL;
    CHECK(resolve("/notices/2017/a%20b", &loc) == SERVE_REDIRECT);
    CHECK_STR(loc, "/notices/2017/a%20b/");
    free(loc);
    loc = NULL;
    /* "//notices" must not become a protocol-relative off-site redirect */
    CHECK(resolve("//notices", &loc) == SERVE_REDIRECT);
    CHECK_STR(loc, "/notices/");
    free(loc);
    loc = NULL;
    CHECK(resolve("/.", &loc) == SERVE_REDIRECT);       /* not "//" */
    CHECK_STR(loc, "/");
    free(loc);
}

TEST(not_found)
{
    CHECK(is("/nope", SERVE_NOT_FOUND, NULL));
    CHECK(is("/notices/nope.html", SERVE_NOT_FOUND, NULL));
    CHECK(is("/empty/", SERVE_NOT_FOUND, NULL));          /* dir without index */
    CHECK(is("/a.css/", SERVE_NOT_FOUND, NULL));          /* file with a slash */
}

TEST(traversal_is_forbidden)
{
    CHECK(is("/../outside/secret.txt", SERVE_FORBIDDEN, NULL));
    CHECK(is("/notices/../../outside/secret.txt", SERVE_FORBIDDEN, NULL));
    CHECK(is("/%2e%2e/outside/secret.txt", SERVE_FORBIDDEN, NULL));
    CHECK(is("/%2E%2E%2Foutside%2Fsecret.txt", SERVE_FORBIDDEN, NULL));
    CHECK(is("/notices/%2e%2e/%2e%2e/outside/secret.txt", SERVE_FORBIDDEN, NULL));
    CHECK(is("/..", SERVE_FORBIDDEN, NULL));
    CHECK(is("/link-out/secret.txt", SERVE_FORBIDDEN, NULL));  /* symlinked dir */
    CHECK(is("/secret-link", SERVE_FORBIDDEN, NULL));          /* symlinked file */
    CHECK(is("/link-out/", SERVE_FORBIDDEN, NULL));
    CHECK(is("/a%00.css", SERVE_FORBIDDEN, NULL));
    CHECK(is("relative", SERVE_FORBIDDEN, NULL));
    CHECK(is("", SERVE_FORBIDDEN, NULL));
    CHECK(is("/..%2f..%2fetc/passwd", SERVE_FORBIDDEN, NULL));
    CHECK(is("/...", SERVE_NOT_FOUND, NULL));                 /* just a name */
}

TEST(error_page_escapes)
{
    buf b = BUF_INIT;
    serve_error_page(&b, "content/x.md:3: error: bad <script>alert(1)</script> & \"q\"");
    CHECK_CONTAINS(b.ptr, "content/x.md:3: error: bad &lt;script&gt;alert(1)&lt;/script&gt; &amp;");
    CHECK(!strstr(b.ptr, "<script>"));
    CHECK_CONTAINS(b.ptr, "<meta charset=\"utf-8\">");
    buf_free(&b);
    diag *d = diag_new();
    diag_error(d, "b.md", 2, "second");
    diag_error(d, "a.md", 1, "first");
    char *t = serve_diag_text(d);
    CHECK(strstr(t, "a.md:1") && strstr(t, "b.md:2") && strstr(t, "a.md:1") < strstr(t, "b.md:2"));
    free(t);
    diag_free(d);
}

/* Random request paths (bounded, fixed seed): never a crash, never a file
 * outside the root. */
TEST(random_paths_stay_inside)
{
    const char alphabet[] = "/.%2eE5fF0aA\\x~-_ ";
    unsigned r = 7;
    char url[40];
    size_t rootlen = strlen(root);
    for (int i = 0; i < 20000; i++) {
        size_t n = 1 + i % 30;
        url[0] = '/';
        for (size_t k = 1; k < n; k++) {
            r = r * 1103515245u + 12345u;
            url[k] = alphabet[(r >> 16) % (sizeof alphabet - 1)];
        }
        url[n] = 0;
        serve_target t;
        serve_resolve(root, url, &t);
        if (t.kind == SERVE_FILE)
            CHECK(!strncmp(t.path, root, rootlen) && t.path[rootlen] == '/');
        if (t.kind == SERVE_REDIRECT) CHECK(t.location[0] == '/' && t.location[1] != '/');
        serve_target_free(&t);
    }
}

/* ---- one real request over loopback -------------------------------- */

static char *http_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return NULL;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { close(fd); return NULL; }
    char *req = xasprintf("GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
    ssize_t w = write(fd, req, strlen(req));
    free(req);
    buf b = BUF_INIT;
    char tmp[4096];
    ssize_t n;
    while (w > 0 && (n = read(fd, tmp, sizeof tmp)) > 0) buf_put(&b, tmp, (size_t)n);
    close(fd);
    return buf_detach(&b);
}

TEST(server_round_trip)
{
    diag *d = diag_new();
    server *s = server_start("127.0.0.1", 0, root, d);
    CHECK(s != NULL);
    if (!s) { diag_print(d, stdout); diag_free(d); return; }
    int port = server_port(s);
    CHECK(port > 0);
    char *r = http_get(port, "/a.css");
    CHECK(r && str_starts(r, "HTTP/1.0 200") | str_starts(r, "HTTP/1.1 200"));
    CHECK_CONTAINS(r, "Content-Type: text/css; charset=utf-8");
    CHECK_CONTAINS(r, "body{}");
    free(r);
    r = http_get(port, "/nope/");
    CHECK_CONTAINS(r, " 404 ");
    CHECK_CONTAINS(r, "<h1>missing</h1>");
    free(r);
    r = http_get(port, "/%2e%2e/outside/secret.txt");
    CHECK_CONTAINS(r, " 403 ");
    CHECK(r && !strstr(r, "secret\n") && !str_ends(r, "secret"));
    free(r);
    r = http_get(port, "/notices");
    CHECK_CONTAINS(r, " 301 ");
    CHECK_CONTAINS(r, "Location: /notices/");
    free(r);
    server_set_error(s, "x.md:1: error: <bad>");
    r = http_get(port, "/a.css");
    CHECK_CONTAINS(r, " 500 ");
    CHECK_CONTAINS(r, "x.md:1: error: &lt;bad&gt;");
    free(r);
    server_set_error(s, NULL);
    r = http_get(port, "/");
    CHECK_CONTAINS(r, "<h1>home</h1>");
    free(r);
    server_stop(s);
    CHECK(server_start("not-an-address", 0, root, d) == NULL);
    CHECK(server_start("127.0.0.1", 0, "/nonexistent/dir", d) == NULL);
    CHECK(diag_count(d, DIAG_ERROR) == 2);
    diag_free(d);
}

int main(void)
{
    if (setup() < 0) {
        printf("FAIL setup: cannot make the test site\n");
        return 1;
    }
    RUN(content_types);
    RUN(url_decode);
    RUN(files_and_directories);
    RUN(redirects_add_slash);
    RUN(not_found);
    RUN(traversal_is_forbidden);
    RUN(error_page_escapes);
    RUN(random_paths_stay_inside);
    RUN(server_round_trip);
    /* root is <tmp>/site: remove <tmp> */
    char *top = xstrdup(root);
    char *slash = strrchr(top, '/');
    if (slash) *slash = 0;
    rm_rf(top);
    free(top);
    return test_summary();
}
