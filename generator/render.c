/* render.c - see render.h. */
#include "render.h"
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mustache.h"
#include "theme.h"

/* What the renderer's memo of list items may hold. */
#define RENDER_MEMO_BYTES (16u << 20)

struct renderer {
    mustache_set *set;
    char *tdir;          /* templates dir, or NULL */
    outdir *out;
    value *site;
    diag *d;
    pthread_mutex_t mu;  /* guards compilation through mustache_get */
    mustache_memo *memo; /* list items rendered (a summary on many lists) */
};

/* Templates come from templates/NAME.mustache when present, else from the
 * built-in theme: a site overrides the theme file by file. */
static int loader(void *ud, const char *name, char **src, size_t *len, char **path)
{
    renderer *r = ud;
    char *file = xasprintf("%s.mustache", name);
    if (r->tdir) {
        char *p = path_join(r->tdir, file);
        if (read_file(p, src, len) == 0) {
            *path = p;
            free(file);
            return 0;
        }
        int e = errno;
        if (e != ENOENT) {
            diag_error(r->d, p, 0, "cannot read template: %s", strerror(e));
            free(p);
            free(file);
            return -1;
        }
        free(p);
    }
    const theme_file *tf = theme_find(file);
    if (!tf) { free(file); return 1; }
    *src = xstrndup((const char *)tf->data, tf->len);
    *len = tf->len;
    *path = xasprintf("(built-in theme)/%s", file);
    free(file);
    return 0;
}

renderer *renderer_new(const char *templates_dir, outdir *out, value *site, diag *d)
{
    renderer *r = xcalloc(1, sizeof *r);
    r->tdir = templates_dir && is_dir(templates_dir) ? xstrdup(templates_dir) : NULL;
    r->out = out;
    r->site = value_ref(site);
    r->d = d;
    pool_mutex_init(&r->mu);
    r->set = mustache_set_new(loader, r);
    mustache_set_strict(r->set, true);
    /* 10k documents' items are ~7 MB; at 100k the cap keeps the build
     * within its memory target, and the memo forgets its oldest items,
     * which list pages rendered in date order no longer need. */
    r->memo = mustache_memo_new(RENDER_MEMO_BYTES);
    return r;
}

void renderer_free(renderer *r)
{
    if (!r) return;
    mustache_memo_free(r->memo);
    mustache_set_free(r->set);
    value_unref(r->site);
    free(r->tdir);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

outdir *renderer_out(renderer *r) { return r->out; }
void renderer_set_out(renderer *r, outdir *out) { r->out = out; }

void renderer_set_diag(renderer *r, diag *d) { r->d = d; }

void renderer_memo_counts(renderer *r, size_t *items, size_t *hits)
{
    mustache_memo_counts(r->memo, items, hits);
}

static const mustache_tpl *get(renderer *r, const char *tpl, diag *d)
{
    pthread_mutex_lock(&r->mu);
    const mustache_tpl *t = mustache_get(r->set, tpl, d);
    pthread_mutex_unlock(&r->mu);
    return t;
}

int renderer_has(renderer *r, const char *tpl)
{
    diag *scratch = diag_new();
    int ok = get(r, tpl, scratch) != NULL;
    diag_free(scratch);
    return ok;
}

int renderer_check(renderer *r, const char *tpl)
{
    return get(r, tpl, r->d) ? 0 : -1;
}

int render_to(renderer *r, const char *tpl, value *ctx, buf *out)
{
    const mustache_tpl *t = get(r, tpl, r->d);
    if (!t) return -1;
    value *c = value_map_copy(ctx);
    value_set(c, "site", value_ref(r->site));
    int rc = mustache_render_memo(r->set, t, c, out, r->d, r->memo);
    value_unref(c);
    return rc;
}

int render_page(renderer *r, const char *relpath, const char *tpl, value *ctx)
{
    return render_page_st(r, relpath, tpl, ctx, NULL);
}

int render_page_st(renderer *r, const char *relpath, const char *tpl, value *ctx, struct stat *st)
{
    value *c = ctx;
    value *own = NULL;
    if (!value_get(ctx, "page")) {
        own = c = value_map_copy(ctx);
        value *page = value_map();
        /* "notices/index.html" -> "/notices/" */
        const char *slash = strrchr(relpath, '/');
        if (str_ends(relpath, "index.html"))
            value_set(page, "url", value_strf("/%.*s", slash ? (int)(slash - relpath + 1) : 0, relpath));
        else
            value_set(page, "url", value_strf("/%s", relpath));
        value_set(c, "page", page);
    }
    /* Pages are 4-16 KiB: start there instead of doubling up from 64. */
    buf out = BUF_INIT;
    buf_grow(&out, 16384);
    int rc = render_to(r, tpl, c, &out);
    if (rc == 0) rc = out_write_st(r->out, relpath, out.ptr ? out.ptr : "", out.len, st);
    buf_free(&out);
    value_unref(own);
    return rc;
}
