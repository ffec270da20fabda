/* content.c - see content.h. */
#include "content.h"
#include "alloc.h"
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frontmatter.h"
#include "pool.h"

/* ---- dates ---- */

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int parse_date(const char *s, int *y, int *m, int *d, char **rfc3339)
{
    while (*s == ' ') s++;
    if (strlen(s) < 10 || digits(s, 4, y) || s[4] != '-' || digits(s + 5, 2, m) ||
        s[7] != '-' || digits(s + 8, 2, d))
        return -1;
    if (*y < 1900 || *y > 2999 || *m < 1 || *m > 12 || *d < 1 || *d > days_in_month(*y, *m))
        return -1;
    const char *p = s + 10;
    int hh = 0, mm = 0, ss = 0;
    char zone[16] = "+08:00";           /* documents are Chinese: default UTC+8 */
    if (*p == ' ' || *p == 'T') {
        p++;
        if (digits(p, 2, &hh) || p[2] != ':' || digits(p + 3, 2, &mm)) return -1;
        p += 5;
        if (*p == ':') {
            if (digits(p + 1, 2, &ss)) return -1;
            p += 3;
        }
        if (hh > 23 || mm > 59 || ss > 60) return -1;
        while (*p == ' ') p++;
        if (*p == 'Z') {
            strcpy(zone, "Z");
            p++;
        } else if (*p == '+' || *p == '-') {
            int zh, zm;
            if (digits(p + 1, 2, &zh)) return -1;
            const char *q = p + 3;
            if (*q == ':') q++;
            if (digits(q, 2, &zm) || zh > 14 || zm > 59) return -1;
            snprintf(zone, sizeof zone, "%c%02u:%02u", *p, (unsigned)zh % 100u, (unsigned)zm % 100u);
            p = q + 2;
        }
    }
    while (*p == ' ' || *p == '\r') p++;
    if (*p) return -1;
    if (rfc3339) {
        /* (every date of every document: no printf) */
        buf r = BUF_INIT;
        const int f[] = {*y, *m, *d, hh, mm, ss};
        const char sep[] = "--T::";
        for (int i = 0; i < 6; i++) {
            buf_put_dec(&r, (uint64_t)(unsigned)f[i], i ? 2 : 4);
            if (i < 5) buf_putc(&r, sep[i]);
        }
        buf_puts(&r, zone);
        *rfc3339 = buf_detach(&r);
    }
    return 0;
}

void term_slug(buf *out, const char *name)
{
    size_t start = out->len, n = strlen(name);
    int dash = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t k = utf8_decode(name + i, n - i, &c);
        if (k == 0) break;
        int keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                   (c >= 'A' && c <= 'Z') || (c >= 0x80 && !(c >= 0x3000 && c <= 0x303F) &&
                                              !(c >= 0xFF00 && c <= 0xFF0F) && c != 0xFF1A &&
                                              c != 0xFF1B && c != 0xFF1F && c != 0xFF01);
        if (keep) {
            if (dash && out->len > start) buf_putc(out, '-');
            dash = 0;
            if (c >= 'A' && c <= 'Z') buf_putc(out, (int)(c - 'A' + 'a'));
            else buf_put(out, name + i, k);
        } else {
            dash = 1;
        }
        i += k;
    }
    if (out->len == start) {
        /* Nothing usable (all punctuation): a stable hash of the name. */
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < n; i++) { h ^= (unsigned char)name[i]; h *= 16777619u; }
        buf_printf(out, "t%08x", h);
    }
}

/* ---- site.yaml ---- */

static value *site_defaults(void)
{
    value *s = value_map();
    value_set_str(s, "title", "工会信息公开");
    value_set_str(s, "description", "通知公告、工作报告与统计数据");
    value_set_str(s, "base_url", "https://example.org/");
    value_set_str(s, "lang", "zh-CN");
    value_set_str(s, "organization", "");
    value_set(s, "paginate", value_int(20));
    value_set(s, "excerpt_length", value_int(120));
    value_set(s, "unsafe_html", value_bool(false));
    return s;
}

static value *load_site(const char *dir, diag *d)
{
    value *s = site_defaults();
    char *path = path_join(dir, "site.yaml");
    char *text;
    size_t len;
    if (read_file(path, &text, &len) < 0) {
        if (errno != ENOENT) diag_error(d, path, 0, "cannot read: %s", strerror(errno));
        free(path);
        return s;
    }
    size_t bad;
    if (!utf8_valid(text, len, &bad)) {
        diag_error(d, path, line_of_offset(text, bad), "invalid UTF-8");
    } else {
        value *y = yaml_parse_doc(path, text, len, 1, d);
        for (size_t i = 0; i < value_len(y); i++)
            value_set(s, value_key_at(y, i), value_ref(value_val_at(y, i)));
        value_unref(y);
    }
    /* base_url always ends in '/'. */
    const char *b = value_str_ptr(value_get(s, "base_url"));
    if (!*b || b[strlen(b) - 1] != '/') value_set(s, "base_url", value_strf("%s/", b));
    if (value_int_of(value_get(s, "paginate")) < 1) {
        diag_error(d, path, 0, "paginate must be a positive number");
        value_set(s, "paginate", value_int(20));
    }
    free(text);
    free(path);
    return s;
}

/* ---- finding files ---- */

/* The Markdown files found. A file the directory listing says is a
 * regular file is stat'ed later, by the thread that loads it (relative to
 * its directory, kept open meanwhile): 10k stats were a tenth of the main
 * thread's time in a rebuild. `st` is what lstat said (the document
 * cache's key) once `statted`. */
typedef struct {
    char *path;
    const char *name;    /* into path */
    int dirfd;           /* of the directory holding it; -1: use path */
    bool statted;
    struct stat st;
} md_file;

typedef struct {
    md_file *v;
    size_t n, cap;
    DIR **dirs;          /* kept open for the loaders' fstatat */
    size_t ndirs, dcap;
} strlist;

/* Directories kept open at most; beyond, files are stat'ed by path. */
#define MAX_OPEN_DIRS 256

static void sl_add(strlist *l, char *s, int dirfd, const struct stat *st)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    const char *slash = strrchr(s, '/');
    l->v[l->n++] = (md_file){s, slash ? slash + 1 : s, dirfd, st != NULL, st ? *st : (struct stat){0}};
}

static void sl_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i].path);
    free(l->v);
    for (size_t i = 0; i < l->ndirs; i++) closedir(l->dirs[i]);
    free(l->dirs);
    memset(l, 0, sizeof *l);
}

static int md_file_cmp(const void *a, const void *b)
{
    return strcmp(((const md_file *)a)->path, ((const md_file *)b)->path);
}

static void find_md(const char *dir, strlist *out, diag *d, int depth)
{
    DIR *dh = opendir(dir);
    if (!dh) {
        if (errno != ENOENT) diag_error(d, dir, 0, "cannot read directory: %s", strerror(errno));
        return;
    }
    bool keep = false;   /* dh stays open: files below are stat'ed through it */
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (e->d_name[0] == '.') continue;
        /* Only directories and .md files matter: skip the rest unstatted,
         * and stat relative to the directory (no walk of its path). */
        if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN && e->d_type != DT_LNK &&
            !str_ends(e->d_name, ".md"))
            continue;
        if (e->d_type == DT_REG) {
            if (!keep && out->ndirs < MAX_OPEN_DIRS) {
                if (out->ndirs == out->dcap) {
                    out->dcap = out->dcap ? out->dcap * 2 : 16;
                    out->dirs = xrealloc(out->dirs, out->dcap * sizeof *out->dirs);
                }
                out->dirs[out->ndirs++] = dh;
                keep = true;
            }
            sl_add(out, path_join(dir, e->d_name), keep ? dirfd(dh) : -1, NULL);
            continue;
        }
        struct stat st;
        if (fstatat(dirfd(dh), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
        char *p = path_join(dir, e->d_name);
        if (S_ISLNK(st.st_mode)) {
            diag_warn(d, p, 0, "symbolic link skipped");
            free(p);
        } else if (S_ISDIR(st.st_mode) && depth < 8) {
            find_md(p, out, d, depth + 1);
            free(p);
        } else if (S_ISREG(st.st_mode) && str_ends(e->d_name, ".md")) {
            sl_add(out, p, -1, &st);
        } else {
            free(p);
        }
    }
    if (!keep) closedir(dh);
}

/* lstat of a file the listing named, on the loader's thread. False when
 * it is gone or no longer a regular file (changed since the listing):
 * then it is passed over, as if the listing had not seen it. A symbolic
 * link put in its place is reported, as the listing would have. */
static bool md_stat(md_file *f, diag *d)
{
    if (f->statted) return true;
    int rc = f->dirfd >= 0 ? fstatat(f->dirfd, f->name, &f->st, AT_SYMLINK_NOFOLLOW)
                           : lstat(f->path, &f->st);
    if (rc < 0) return false;
    if (S_ISLNK(f->st.st_mode)) diag_warn(d, f->path, 0, "symbolic link skipped");
    f->statted = true;
    return S_ISREG(f->st.st_mode);
}

/* ---- one document ---- */

typedef struct {
    md_file *files;
    doc **docs;        /* NULL where the file had errors */
    const char *section_of_path;
    bool unsafe;
    size_t excerpt_chars;
    diag *d;
    mdcache *mc;       /* may be NULL */
    doccache *dcache;  /* NULL without a build cache */
    bool identify;     /* set identities without a document cache (content_load_one) */
    size_t kept;       /* bytes of bodies rendered here and kept in memory (atomic) */
    size_t keep_max;   /* ... up to this many (keep_bodies_bytes) */
} load_job;

/* Bodies rendered by this load are also kept in memory up to this many
 * bytes, so that their pages and the search index need not read them back
 * from the Markdown cache (a read of every body in a build from nothing);
 * beyond it they are read back when needed, which bounds the memory at
 * 100k documents. */
#define KEEP_BODIES_BYTES (64u << 20)

/* KEEP_BODIES_BYTES, or GAZETTE_TEST_KEEP_BODIES (bytes) for the tests of
 * bodies read back (a few KB there stand for 100k documents). */
static size_t keep_bodies_bytes(void)
{
    const char *e = getenv("GAZETTE_TEST_KEEP_BODIES");
    return e && *e ? (size_t)strtoull(e, NULL, 10) : KEEP_BODIES_BYTES;
}

static char *opt_string(doc *dc, const char *key, diag *d)
{
    value *v = value_get(dc->fm, key);
    if (!v || value_type(v) == V_NULL) return NULL;
    if (value_type(v) != V_STRING) {
        diag_error(d, dc->source, (int)value_int_of(value_get(dc->fm_lines, key)),
                   "'%s' must be text", key);
        return NULL;
    }
    return xstrdup(value_str_ptr(v));
}

/* A list of strings; a single string is a list of one. */
static value *opt_list(doc *dc, const char *key, diag *d)
{
    value *v = value_get(dc->fm, key);
    value *l = value_list();
    int line = (int)value_int_of(value_get(dc->fm_lines, key));
    if (!v || value_type(v) == V_NULL) return l;
    if (value_type(v) == V_STRING) {
        if (value_str_len(v)) value_push(l, value_ref(v));
        return l;
    }
    if (value_type(v) != V_LIST) {
        diag_error(d, dc->source, line, "'%s' must be a list", key);
        return l;
    }
    for (size_t i = 0; i < value_len(v); i++) {
        value *it = value_at(v, i);
        if (value_type(it) != V_STRING) {
            diag_error(d, dc->source, line, "'%s' item %zu must be text", key, i + 1);
            continue;
        }
        /* Drop duplicates and blanks, keep order. */
        int dup = !value_str_len(it);
        for (size_t j = 0; j < value_len(l) && !dup; j++)
            dup = !strcmp(value_str_ptr(value_at(l, j)), value_str_ptr(it));
        if (!dup) value_push(l, value_ref(it));
    }
    return l;
}

static value *opt_attachments(doc *dc, diag *d)
{
    value *v = value_get(dc->fm, "attachments");
    value *l = value_list();
    int line = (int)value_int_of(value_get(dc->fm_lines, "attachments"));
    if (!v || value_type(v) == V_NULL) return l;
    if (value_type(v) != V_LIST) {
        diag_error(d, dc->source, line, "'attachments' must be a list");
        return l;
    }
    for (size_t i = 0; i < value_len(v); i++) {
        value *it = value_at(v, i), *a = value_map();
        if (value_type(it) == V_STRING) {
            value_set(a, "title", value_ref(it));
            value_set_str(a, "file", "");
        } else if (value_type(it) == V_MAP && value_type(value_get(it, "title")) == V_STRING) {
            value_set(a, "title", value_ref(value_get(it, "title")));
            value *f = value_get(it, "file");
            if (f && value_type(f) != V_STRING && value_type(f) != V_NULL)
                diag_error(d, dc->source, line, "attachment %zu: 'file' must be text", i + 1);
            const char *fs = value_str_ptr(f);
            if (strstr(fs, "..") || fs[0] == '/' || strchr(fs, '\\'))
                diag_error(d, dc->source, line,
                           "attachment %zu: file '%s' must be a path under content/files/", i + 1, fs);
            else
                value_set_str(a, "file", fs);
        } else {
            diag_error(d, dc->source, line, "attachment %zu needs a 'title'", i + 1);
            value_unref(a);
            continue;
        }
        value_push(l, a);
    }
    return l;
}

/* The site.yaml settings a body's rendering depends on. */
static bool md_unsafe(const value *site) { return value_bool_of(value_get(site, "unsafe_html")); }
static size_t md_excerpt_chars(const value *site)
{
    return (size_t)value_int_of(value_get(site, "excerpt_length"));
}

/* The body's rendering, from the build cache when it has this body (the
 * body is valid UTF-8: load_doc checked its file). With
 * a cache, the HTML and the text then stay on disk until the document's
 * page renders and the search index takes it in (see build.c): at 100k
 * documents that is hundreds of MB not held. */
static void render_body(const load_job *j, const char *body, size_t len, doc *dc)
{
    md_result *out = &dc->md;
    if (!j->mc) {
        md_render_utf8(body, len, j->unsafe, j->excerpt_chars, out);
        return;
    }
    dc->md_key = fp_bytes(body, len);
    if (mdcache_get_meta(j->mc, dc->md_key, out)) {   /* a hit is on disk */
        dc->md_on_disk = true;
        return;
    }
    md_render_utf8(body, len, j->unsafe, j->excerpt_chars, out);
    /* Past the bodies a build keeps, the body leaves memory once the
     * cache has it, so its text is stored too for the index to read back;
     * a body kept has its text in memory for this build's index, and later
     * ones seldom read it (mdcache_put): not stored. */
    size_t n = md_html_len(out) + md_text_len(out);
    load_job *lj = (load_job *)j;
    bool leaves = __atomic_add_fetch(&lj->kept, n, __ATOMIC_RELAXED) > j->keep_max;
    mdcache_put(j->mc, dc->md_key, out, leaves);
    if (mdcache_has(j->mc, dc->md_key)) {
        dc->md_on_disk = true;
        if (leaves) {
            free(out->html);
            free(out->text);
            out->html = out->text = NULL;
            out->html_len = out->text_len = 0;
        }
    }
}

/* Everything a document is, from its front matter (fm and lines are
 * taken); NULL when it has no title or date (reported in d). */
static doc *make_doc(const char *path, const char *section, value *fields, value *lines,
                     int body_line, diag *d)
{
    doc *dc = xcalloc(1, sizeof *dc);
    dc->source = xstrdup(path);
    dc->section = section;
    dc->kind = !strcmp(section, "notices") ? "notice" : "report";
    dc->fm = fields;
    dc->fm_lines = lines;
    dc->body_line = body_line;

    /* slug: the file name without .md. ASCII letters, digits, '-', '_'
     * and '.' are kept, and so is non-ASCII text (CJK names); any other
     * ASCII character (space, quotes, <, &, ?, #, %, ...) becomes '-', so
     * a URL never needs escaping to be safe. */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    dc->slug = xstrndup(base, strlen(base) - 3);
    for (char *p = dc->slug; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!(ch >= 0x80 || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
            *p = '-';
    }
    if (!*dc->slug) diag_error(d, path, 0, "empty file name");

    value *t = value_get(dc->fm, "title");
    if (value_type(t) != V_STRING || !value_str_len(t))
        diag_error(d, path, t ? (int)value_int_of(value_get(dc->fm_lines, "title")) : 1,
                   t ? "'title' must be non-empty text" : "missing required 'title'");
    else
        dc->title = xstrdup(value_str_ptr(t));

    value *dv = value_get(dc->fm, "date");
    int dline = (int)value_int_of(value_get(dc->fm_lines, "date"));
    if (!dv || value_type(dv) == V_NULL) {
        diag_error(d, path, 1, "missing required 'date' (YYYY-MM-DD)");
    } else if (value_type(dv) != V_STRING ||
               parse_date(value_str_ptr(dv), &dc->year, &dc->month, &dc->day, &dc->datetime) < 0) {
        diag_error(d, path, dline, "cannot parse date '%s' (want YYYY-MM-DD or YYYY-MM-DD HH:MM:SS +0800)",
                   value_str_ptr(dv));
    } else {
        /* (no printf: every document, and printf's cost showed) */
        memcpy(dc->date, dc->datetime, 10);         /* its first 10: YYYY-MM-DD */
        dc->date[10] = 0;
        buf u = BUF_INIT;
        buf_put_dec(&u, (uint64_t)dc->year, 0);
        buf_puts(&u, "年");
        buf_put_dec(&u, (uint64_t)dc->month, 0);
        buf_puts(&u, "月");
        buf_put_dec(&u, (uint64_t)dc->day, 0);
        buf_puts(&u, "日");
        dc->date_zh = buf_detach(&u);
        buf_putc(&u, '/');
        buf_puts(&u, section);
        buf_putc(&u, '/');
        buf_put_dec(&u, (uint64_t)dc->year, 4);
        buf_putc(&u, '/');
        buf_puts(&u, dc->slug);
        buf_putc(&u, '/');
        dc->url = buf_detach(&u);
        /* A YYYY folder that disagrees with the date is probably a typo. */
        char folder[16];
        snprintf(folder, sizeof folder, "/%04d/", dc->year);
        const char *sec = strstr(path, section);
        const char *rest = sec ? sec + strlen(section) : NULL;
        if (rest && rest[0] == '/' && rest[1] >= '0' && rest[1] <= '9' && rest[5] == '/' &&
            strncmp(rest, folder, 6) != 0)
            diag_warn(d, path, dline, "date %s is not in the folder's year %.4s", dc->date, rest + 1);
    }

    dc->doc_number = opt_string(dc, "doc_number", d);
    dc->issuer = opt_string(dc, "issuer", d);
    dc->summary = opt_string(dc, "summary", d);
    dc->layout = opt_string(dc, "layout", d);
    value *cat = value_get(dc->fm, "category");
    if (!cat) cat = value_get(dc->fm, "categories");
    if (value_type(cat) == V_STRING) dc->category = xstrdup(value_str_ptr(cat));
    else if (value_type(cat) == V_LIST && value_type(value_at(cat, 0)) == V_STRING)
        dc->category = xstrdup(value_str_ptr(value_at(cat, 0)));
    dc->tags = opt_list(dc, "tags", d);
    dc->districts = opt_list(dc, "districts", d);
    dc->recipients = opt_list(dc, "recipients", d);
    dc->attachments = opt_attachments(dc, d);
    value *dr = value_get(dc->fm, "draft");
    if (dr && value_type(dr) != V_BOOL && value_type(dr) != V_NULL)
        diag_error(d, path, (int)value_int_of(value_get(dc->fm_lines, "draft")), "'draft' must be true or false");
    dc->draft = value_type(dr) == V_BOOL && value_bool_of(dr);

    /* Without a title or a date there is no page to make (already reported). */
    if (!dc->title || !dc->url) {
        doc_free(dc);
        return NULL;
    }
    return dc;
}

/* A document's identity for the build cache's page fingerprints: it is a
 * pure function of its path, section and bytes (and of the site settings
 * and the binary, which every page fingerprint holds anyway). */
static fp128 doc_identity(const char *path, const char *section, fp128 file)
{
    buf k = BUF_INIT;
    fp_encode_str(&k, path);
    fp_encode_str(&k, section);
    buf_put_hex64(&k, file.hi);
    buf_put_hex64(&k, file.lo);
    fp128 f = fp_bytes(k.ptr, k.len);
    buf_free(&k);
    return f;
}

/* ---- the document cache's records ----
 *
 * What loading a file gave, flat: the derived fields as strings and
 * numbers, so that a cached load makes a document with a few allocations,
 * and the front matter, its line numbers and the toc as one encoded value
 * (fp_encode_value) that is decoded only when something asks for them
 * (doc_unpack): a rebuild that renders few pages never decodes most. */

#define REC_NULL 0xFFFFFFFFu

static void rec_u32(buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    buf_put(b, x, 4);
}

static void rec_u64(buf *b, uint64_t v)
{
    rec_u32(b, (uint32_t)v);
    rec_u32(b, (uint32_t)(v >> 32));
}

static void rec_str(buf *b, const char *s)
{
    if (!s) { rec_u32(b, REC_NULL); return; }
    size_t n = strlen(s);
    rec_u32(b, (uint32_t)n);
    buf_put(b, s, n);
}

static void rec_strings(buf *b, const value *l)
{
    rec_u32(b, (uint32_t)value_len(l));
    for (size_t i = 0; i < value_len(l); i++) rec_str(b, value_str_ptr(value_at(l, i)));
}

/* Returns the offset of the encoded front matter, lines and toc (the
 * record's tail). */
static size_t record_encode(buf *out, const doc *dc)
{
    rec_u32(out, (uint32_t)dc->year);
    rec_u32(out, (uint32_t)dc->month);
    rec_u32(out, (uint32_t)dc->day);
    rec_u32(out, (uint32_t)dc->body_line);
    rec_u32(out, dc->draft);
    rec_u64(out, dc->md_key.lo);
    rec_u64(out, dc->md_key.hi);
    const char *strs[] = {dc->slug, dc->datetime, dc->date_zh, dc->url, dc->title, dc->doc_number,
                          dc->issuer, dc->category, dc->summary, dc->layout, dc->md.excerpt};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) rec_str(out, strs[i]);
    rec_strings(out, dc->tags);
    rec_strings(out, dc->districts);
    rec_strings(out, dc->recipients);
    rec_u32(out, (uint32_t)value_len(dc->attachments));
    for (size_t i = 0; i < value_len(dc->attachments); i++) {
        const value *a = value_at(dc->attachments, i);
        rec_str(out, value_str_ptr(value_get(a, "title")));
        rec_str(out, value_str_ptr(value_get(a, "file")));
    }
    value *l = value_list();
    value_push(l, value_ref(dc->fm));
    value_push(l, value_ref(dc->fm_lines));
    value_push(l, value_ref(dc->md.toc));
    buf lazy = BUF_INIT;
    fp_encode_value(&lazy, l);
    value_unref(l);
    rec_u32(out, (uint32_t)lazy.len);
    size_t at = out->len;
    buf_put(out, lazy.ptr, lazy.len);
    buf_free(&lazy);
    return at;
}

typedef struct {
    const unsigned char *p, *end;
    bool bad;
} rec_reader;

static uint32_t rd_u32(rec_reader *r)
{
    if (r->bad || r->end - r->p < 4) { r->bad = true; return 0; }
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                 (uint32_t)r->p[3] << 24;
    r->p += 4;
    return v;
}

static uint64_t rd_u64(rec_reader *r)
{
    uint64_t lo = rd_u32(r);
    return lo | (uint64_t)rd_u32(r) << 32;
}

/* A string (a new copy) or NULL; bytes of length n at *at when at. */
static char *rd_str(rec_reader *r)
{
    uint32_t n = rd_u32(r);
    if (r->bad || n == REC_NULL) return NULL;
    if ((uint64_t)(r->end - r->p) < n) { r->bad = true; return NULL; }
    char *s = xstrndup((const char *)r->p, n);
    r->p += n;
    return s;
}

/* n strings (each NULL or a copy) into *strs[0..n), the copies in one
 * block (*block, freed by doc_free): 11 small mallocs per document were
 * ~110k at 10k documents in every rebuild, and their fresh heap pages a
 * good part of its page faults. */
static void rd_str_block(rec_reader *r, char **const *strs, size_t n, char **block)
{
    rec_reader scan = *r;
    size_t total = 0;
    for (size_t i = 0; i < n && !scan.bad; i++) {
        uint32_t len = rd_u32(&scan);
        if (scan.bad || len == REC_NULL) continue;
        if ((uint64_t)(scan.end - scan.p) < len) { scan.bad = true; break; }
        scan.p += len;
        total += (size_t)len + 1;
    }
    if (scan.bad) { r->bad = true; return; }
    char *p = *block = xmalloc(total ? total : 1);
    for (size_t i = 0; i < n; i++) {
        uint32_t len = rd_u32(r);
        if (len == REC_NULL) { *strs[i] = NULL; continue; }
        memcpy(p, r->p, len);
        p[len] = 0;
        *strs[i] = p;
        p += (size_t)len + 1;
        r->p += len;
    }
}

static value *rd_strings(rec_reader *r)
{
    value *l = value_list();
    uint32_t n = rd_u32(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint32_t len = rd_u32(r);
        if (r->bad || len == REC_NULL || (uint64_t)(r->end - r->p) < len) { r->bad = true; break; }
        value_push(l, value_strn((const char *)r->p, len));
        r->p += len;
    }
    return l;
}

static doc *record_decode(const unsigned char *p, size_t len, const char *path, const char *section)
{
    if (!p) return NULL;
    rec_reader r = {p, p + len, false};
    doc *dc = xcalloc(1, sizeof *dc);
    dc->source = xstrdup(path);
    dc->section = section;
    dc->kind = !strcmp(section, "notices") ? "notice" : "report";
    dc->year = (int)rd_u32(&r);
    dc->month = (int)rd_u32(&r);
    dc->day = (int)rd_u32(&r);
    dc->body_line = (int)rd_u32(&r);
    dc->draft = rd_u32(&r) != 0;
    dc->md_key.lo = rd_u64(&r);
    dc->md_key.hi = rd_u64(&r);
    char **strs[] = {&dc->slug, &dc->datetime, &dc->date_zh, &dc->url, &dc->title, &dc->doc_number,
                     &dc->issuer, &dc->category, &dc->summary, &dc->layout, &dc->md.excerpt};
    rd_str_block(&r, strs, sizeof strs / sizeof *strs, &dc->strs_own);
    dc->tags = rd_strings(&r);
    dc->districts = rd_strings(&r);
    dc->recipients = rd_strings(&r);
    dc->attachments = value_list();
    uint32_t na = rd_u32(&r);
    for (uint32_t i = 0; i < na && !r.bad; i++) {
        char *t = rd_str(&r), *f = rd_str(&r);
        value *a = value_map();
        value_set_str(a, "title", t ? t : "");
        value_set_str(a, "file", f ? f : "");
        value_push(dc->attachments, a);
        free(t);
        free(f);
    }
    uint32_t ll = rd_u32(&r);
    if (!r.bad && (uint64_t)(r.end - r.p) == ll) {
        dc->lazy = r.p;               /* in the document cache, open as long as content is */
        dc->lazy_len = ll;
    } else {
        r.bad = true;
    }
    if (r.bad || !dc->slug || !dc->datetime || !dc->date_zh || !dc->url || !dc->title ||
        !dc->md.excerpt || dc->year < 1900 || dc->year > 2999 || dc->month < 1 || dc->month > 12 ||
        dc->day < 1 || dc->day > 31) {
        doc_free(dc);
        return NULL;
    }
    snprintf(dc->date, sizeof dc->date, "%04u-%02u-%02u", (unsigned)dc->year % 10000u,
             (unsigned)dc->month % 100u, (unsigned)dc->day % 100u);
    return dc;
}

doc *content_record_decode(const void *p, size_t n, const char *path, const char *section)
{
    return record_decode(p, n, path, section);
}

void doc_fm_toc(const doc *dc, value **fm, value **toc)
{
    if (!dc->lazy) {
        *fm = value_ref(dc->fm);
        *toc = value_ref(dc->md.toc);
        return;
    }
    /* (not the lines: only validation reads them) */
    value *l = fp_decode_list_skipping(dc->lazy, dc->lazy_len, 1u << 1);
    value *f = value_at(l, 0), *t = value_at(l, 2);
    bool ok = value_len(l) == 3 && value_type(f) == V_MAP && value_type(t) == V_LIST;
    *fm = ok ? value_ref(f) : value_map();
    *toc = ok ? value_ref(t) : value_list();
    value_unref(l);
}

int doc_unpack(doc *dc)
{
    if (!dc->lazy) return 0;
    value *l = fp_decode_value(dc->lazy, dc->lazy_len);
    dc->lazy = NULL;
    free(dc->lazy_own);
    dc->lazy_own = NULL;
    value *fm = value_at(l, 0), *lines = value_at(l, 1), *toc = value_at(l, 2);
    int ok = value_len(l) == 3 && value_type(fm) == V_MAP && value_type(lines) == V_MAP &&
             value_type(toc) == V_LIST;
    dc->fm = ok ? value_ref(fm) : value_map();
    dc->fm_lines = ok ? value_ref(lines) : value_map();
    dc->md.toc = ok ? value_ref(toc) : value_list();
    value_unref(l);
    return ok ? 0 : -1;
}

/* The document as the cache recorded it, when its file has not changed
 * since and the Markdown cache still holds its body; else NULL. */
static doc *load_recorded(const md_file *f, const char *section, const load_job *j)
{
    size_t len;
    fp128 file;
    const unsigned char *p = doccache_get(j->dcache, f->path, &f->st, &len, &file);
    doc *dc = p ? record_decode(p, len, f->path, section) : NULL;
    if (!dc) return NULL;
    if (!mdcache_use(j->mc, dc->md_key)) { doc_free(dc); return NULL; }
    dc->md_on_disk = true;
    dc->identity = doc_identity(f->path, section, file);
    doccache_keep(j->dcache, f->path);
    return dc;
}

static doc *load_doc(const md_file *f, const char *section, const load_job *j, diag *d)
{
    const char *path = f->path;
    if (j->dcache) {
        doc *dc = load_recorded(f, section, j);
        if (dc) return dc;
    }
    char *text;
    size_t len;
    /* (through the directory the listing kept open: no walk of the path,
     * and the size md_stat just read, not a second stat) */
    bool at = f->dirfd >= 0;
    if (read_file_at(at ? f->dirfd : AT_FDCWD, at ? f->name : path, f->statted ? &f->st : NULL,
                     &text, &len) < 0) {
        diag_error(d, path, 0, "cannot read: %s", strerror(errno));
        return NULL;
    }
    size_t bad;
    if (!utf8_valid(text, len, &bad)) {
        diag_error(d, path, line_of_offset(text, bad), "invalid UTF-8 (byte %zu); save the file as UTF-8", bad);
        free(text);
        return NULL;
    }
    if (memchr(text, 0, len)) {
        diag_error(d, path, line_of_offset(text, (size_t)((char *)memchr(text, 0, len) - text)),
                   "NUL byte in text");
        free(text);
        return NULL;
    }
    frontmatter fm;
    if (fm_parse(path, text, len, &fm, d) < 0) { free(text); return NULL; }
    doc *dc = make_doc(path, section, fm.fields, fm.lines, fm.body_line, d);
    if (!dc) { free(text); return NULL; }
    render_body(j, text + fm.body_off, len - fm.body_off, dc);
    fp128 file = {0, 0};
    if (j->dcache || j->identify) {
        file = fp_bytes(text, len);
        dc->identity = doc_identity(path, section, file);
    }
    if (j->dcache) {
        /* Only a document that loads without a word is recorded: a cached
         * load could not say the warnings again. */
        if (diag_total(d) == 0 && dc->md_on_disk) {
            buf rec = BUF_INIT;
            size_t lazy_at = record_encode(&rec, dc);
            doccache_put(j->dcache, path, &f->st, file, rec.ptr, rec.len);
            /* From here the document is as a cached load makes it: its
             * front matter, lines and toc encoded (a third of the memory
             * of the values; decoded only for a page that renders). */
            value_unref(dc->fm);
            value_unref(dc->fm_lines);
            value_unref(dc->md.toc);
            dc->fm = dc->fm_lines = dc->md.toc = NULL;
            dc->lazy_len = rec.len - lazy_at;
            dc->lazy_own = xmalloc(dc->lazy_len ? dc->lazy_len : 1);
            memcpy(dc->lazy_own, rec.ptr + lazy_at, dc->lazy_len);
            dc->lazy = dc->lazy_own;
            buf_free(&rec);
        }
    }
    free(text);
    return dc;
}

/* The section of the file at p: the first folder under the content dir
 * (prefix: the content dir and a slash). */
static const char *section_of(const char *p, const char *prefix)
{
    const char *section = strstr(p, "/reports/") ? "reports" : "notices";
    const char *s = p + strlen(prefix);
    if (!strncmp(s, "reports/", 8)) section = "reports";
    else if (!strncmp(s, "notices/", 8)) section = "notices";
    return section;
}

static void load_one(size_t i, void *ud)
{
    load_job *j = ud;
    const char *section = section_of(j->files[i].path, j->section_of_path);
    /* Each document reports into its own list first, to know whether it
     * loaded cleanly (see load_doc). */
    diag *mine = diag_new();
    j->docs[i] = md_stat(&j->files[i], mine) ? load_doc(&j->files[i], section, j, mine) : NULL;
    diag_move(j->d, mine);
    diag_free(mine);
}

/* ---- sorting documents ----
 *
 * 10k documents sorted twice per build: a comparison that follows two
 * doc pointers and strcmps their strings missed the cache every time
 * (~1.5% of a one-edit rebuild). Instead each document gets a sort item
 * holding the first 24 bytes of its keys as big-endian integers (enough
 * for "/notices/2017/" and the start of a slug), so most comparisons are
 * integer compares in one array; only items whose prefixes tie fall back
 * to the strings (util.h str_key). The order is exactly strcmp's: bytes
 * compare unsigned, and a shorter string's missing bytes are zero, below
 * any it could hold. */
#define KEY_WORDS 3
typedef struct {
    uint64_t a[KEY_WORDS], b[KEY_WORDS];   /* prefixes of the first and second key */
    const char *sa, *sb;                   /* the keys themselves */
    doc *dc;
} doc_sort;

/* Newest first, then by URL. */
static int doc_sort_cmp(const void *pa, const void *pb)
{
    const doc_sort *x = pa, *y = pb;
    int c = str_key_cmp(y->a, y->sa, x->a, x->sa, KEY_WORDS);
    return c ? c : str_key_cmp(x->b, x->sb, y->b, y->sb, KEY_WORDS);
}

/* By URL, then by source file. */
static int url_sort_cmp(const void *pa, const void *pb)
{
    const doc_sort *x = pa, *y = pb;
    int c = str_key_cmp(x->a, x->sa, y->a, y->sa, KEY_WORDS);
    return c ? c : strcmp(x->dc->source, y->dc->source);
}

/* Sort docs[0..n) newest first (datetime descending, then URL), or by
 * URL then source (by_url). A NULL datetime or URL counts as "". */
static void sort_docs(doc **docs, size_t n, bool by_url)
{
    if (n < 2) return;
    doc_sort *v = xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        doc *dc = docs[i];
        const char *k1 = by_url ? dc->url : dc->datetime, *k2 = by_url ? "" : dc->url;
        v[i].sa = k1 ? k1 : "";
        v[i].sb = k2 ? k2 : "";
        str_key(v[i].sa, v[i].a, KEY_WORDS);
        str_key(v[i].sb, v[i].b, KEY_WORDS);
        v[i].dc = dc;
    }
    qsort(v, n, sizeof *v, by_url ? url_sort_cmp : doc_sort_cmp);
    for (size_t i = 0; i < n; i++) docs[i] = v[i].dc;
    free(v);
}

typedef struct { doc **v; size_t n; } url_sort;

static void *sort_by_url(void *arg)
{
    url_sort *j = arg;
    sort_docs(j->v, j->n, true);
    return NULL;
}

/* content.settings for these settings. */
static fp128 load_settings(bool unsafe, size_t excerpt_chars)
{
    buf k = BUF_INIT;
    fp128 self = fp_self();
    buf_printf(&k, "%d %zu %016llx%016llx", unsafe, excerpt_chars, (unsigned long long)self.hi,
               (unsigned long long)self.lo);
    fp128 settings = fp_bytes(k.ptr, k.len);
    buf_free(&k);
    return settings;
}

/* The build cache's two stores, opened for the settings a rendering
 * depends on (the body aside). */
typedef struct {
    const char *dir;
    fp128 settings;
    diag *d;
    mdcache *mc;
    doccache *dcache;
} cache_opener;

static void *open_caches(void *arg)
{
    cache_opener *co = arg;
    cache_sweep_tmp(co->dir);
    char *p = path_join(co->dir, "markdown.cache");
    co->mc = mdcache_open(p, co->settings, co->d);
    free(p);
    p = path_join(co->dir, "docs.cache");
    co->dcache = doccache_open(p, co->settings);
    free(p);
    return NULL;
}

int content_load(const char *dir, bool drafts, int threads, content *c, diag *d)
{
    return content_load_cached(dir, drafts, threads, NULL, c, d);
}

int content_load_cached(const char *dir, bool drafts, int threads, const char *cache_dir,
                        content *c, diag *d)
{
    memset(c, 0, sizeof *c);
    size_t errors_before = diag_count(d, DIAG_ERROR);
    c->dir = xstrdup(dir);
    if (!is_dir(dir)) {
        diag_error(d, dir, 0, "content directory not found");
        c->site = site_defaults();
        return -1;
    }
    c->site = load_site(dir, d);
    bool unsafe = md_unsafe(c->site);
    size_t excerpt_chars = md_excerpt_chars(c->site);
    c->settings = load_settings(unsafe, excerpt_chars);
    /* The caches are read on a thread of their own while the content
     * directory is walked (both are a few tens of ms at 10k documents). */
    cache_opener co = {cache_dir, c->settings, d, NULL, NULL};
    pthread_t opener;
    bool threaded = cache_dir && threads != 1 && pthread_create(&opener, NULL, open_caches, &co) == 0;
    if (cache_dir && !threaded) open_caches(&co);
    strlist files = {0};
    const char *sections[] = {"notices", "reports"};
    for (int k = 0; k < 2; k++) {
        char *sd = path_join(dir, sections[k]);
        find_md(sd, &files, d, 0);
        free(sd);
    }
    if (files.n > 1) qsort(files.v, files.n, sizeof *files.v, md_file_cmp);
    alloc_expect_docs(files.n);
    if (threaded) pthread_join(opener, NULL);

    char *prefix = path_join(dir, "");
    load_job j = {.files = files.v, .docs = xcalloc(files.n ? files.n : 1, sizeof(doc *)),
                  .keep_max = keep_bodies_bytes(),
                  .section_of_path = prefix, .unsafe = unsafe, .excerpt_chars = excerpt_chars,
                  .d = d, .mc = co.mc, .dcache = co.dcache};
    md_init();
    parallel_for(files.n, threads, load_one, &j);
    mdcache_flush(j.mc);         /* the bodies rendered here, on disk for later readers */
    if (j.dcache) {
        doccache_save(j.dcache, d);
        c->dcache = j.dcache;   /* documents point into its records */
    }
    if (j.mc) {
        mdcache_counts(j.mc, &c->md_hits, &c->md_misses);
        c->mc = j.mc;        /* the build reads bodies from it later */
    }

    c->docs = xcalloc(files.n ? files.n : 1, sizeof(doc *));
    for (size_t i = 0; i < files.n; i++) {
        doc *dc = j.docs[i];
        if (!dc) continue;
        if (dc->draft && !drafts) { c->drafts_skipped++; doc_free(dc); continue; }
        c->docs[c->n++] = dc;
    }
    free(j.docs);
    free(prefix);
    sl_free(&files);

    /* The two orders at once (the URL order is total: its ties go by
     * source file, so it does not depend on the order it starts from). */
    doc **byurl = xmalloc((c->n ? c->n : 1) * sizeof(doc *));
    memcpy(byurl, c->docs, c->n * sizeof(doc *));
    url_sort sj = {byurl, c->n};
    pthread_t sorter;
    bool sorting = threads != 1 && c->n >= 1000 && pthread_create(&sorter, NULL, sort_by_url, &sj) == 0;
    sort_docs(c->docs, c->n, false);
    if (sorting) pthread_join(sorter, NULL);
    else sort_docs(byurl, c->n, true);
    /* Two files with one URL (e.g. the same slug in two year folders). */
    for (size_t i = 1; i < c->n; i++)
        if (!strcmp(byurl[i - 1]->url, byurl[i]->url))
            diag_error(d, byurl[i]->source, 1, "URL %s is already used by %s",
                       byurl[i]->url, byurl[i - 1]->source);
    c->by_url = byurl;         /* kept: the build result lists documents in this order */
    return diag_count(d, DIAG_ERROR) == errors_before ? 0 : -1;
}

doc *content_load_one(const content *c, const char *path, diag *d)
{
    char *prefix = path_join(c->dir, "");
    if (!str_starts(path, prefix)) {
        diag_error(d, path, 0, "not in the content directory %s", c->dir);
        free(prefix);
        return NULL;
    }
    const char *slash = strrchr(path, '/');
    md_file f = {.path = (char *)path, .name = slash ? slash + 1 : path, .dirfd = -1};
    load_job j = {.files = &f, .section_of_path = prefix, .unsafe = md_unsafe(c->site),
                  .keep_max = keep_bodies_bytes(),
                  .excerpt_chars = md_excerpt_chars(c->site), .d = d, .mc = c->mc, .identify = true};
    doc *dc = NULL;
    errno = 0;
    if (!md_stat(&f, d)) diag_error(d, path, 0, "cannot read: %s", errno ? strerror(errno) : "not a regular file");
    else dc = load_doc(&f, section_of(path, prefix), &j, d);
    mdcache_flush(c->mc);
    free(prefix);
    return dc;
}

md_result content_rerender(const content *c, const doc *dc, diag *d)
{
    md_result r;
    memset(&r, 0, sizeof r);
    char *text;
    size_t len;
    if (read_file(dc->source, &text, &len) < 0) {
        diag_error(d, dc->source, 0, "cannot read: %s", strerror(errno));
        return r;
    }
    frontmatter fm;
    diag *scratch = diag_new();
    bool keyed = c->mc && (dc->md_key.lo || dc->md_key.hi);
    if (fm_parse(dc->source, text, len, &fm, scratch) == 0 &&
        (!keyed || fp_eq(fp_bytes(text + fm.body_off, len - fm.body_off), dc->md_key))) {
        md_render(text + fm.body_off, len - fm.body_off, md_unsafe(c->site), md_excerpt_chars(c->site), &r);
    } else {
        diag_error(d, dc->source, 0, "changed during the build");
    }
    fm_free(&fm);
    diag_free(scratch);
    free(text);
    return r;
}

void doc_free(doc *dc)
{
    if (!dc) return;
    free(dc->source);
    if (dc->strs_own) {          /* the strings are in one block (record_decode) */
        free(dc->strs_own);
        dc->md.excerpt = NULL;
    } else {
        free(dc->slug); free(dc->datetime); free(dc->date_zh); free(dc->url);
        free(dc->title); free(dc->doc_number); free(dc->issuer); free(dc->category);
        free(dc->summary); free(dc->layout);
    }
    value_unref(dc->tags); value_unref(dc->districts); value_unref(dc->recipients);
    value_unref(dc->attachments); value_unref(dc->fm); value_unref(dc->fm_lines);
    free(dc->lazy_own);
    md_free(&dc->md);
    free(dc);
}

void content_free(content *c)
{
    mdcache_close(c->mc, NULL);
    doccache_free(c->dcache);
    for (size_t i = 0; i < c->n; i++) doc_free(c->docs[i]);
    free(c->docs);
    free(c->by_url);
    value_unref(c->site);
    free(c->dir);
    memset(c, 0, sizeof *c);
}
