/* render.h - render pages through the template set and write them.
 *
 * A renderer holds the compiled templates (templates/ over the built-in
 * theme, compiled once per build), the site-wide context and the outdir.
 * Every page template receives, besides its own keys:
 *   site  - site.yaml settings (title, base_url, description, lang, ...)
 *   page  - {title, url} of the page being rendered
 * All links in pages are root-relative ("/notices/").
 * Templates use layout inheritance: a page template is
 *   {{<layout}}{{$title}}...{{/title}}{{$main}}...{{/main}}{{/layout}}
 * Thread-safe: render_page may be called from several threads.
 */
#ifndef GAZETTE_RENDER_H
#define GAZETTE_RENDER_H

#include "diag.h"
#include "output.h"
#include "value.h"

typedef struct renderer renderer;
struct stat;

/* templates_dir may be NULL or missing: then only the built-in theme. */
renderer *renderer_new(const char *templates_dir, outdir *out, value *site, diag *d);
void renderer_free(renderer *r);

/* Render template `tpl` (name without ".mustache") with ctx, which is
 * borrowed; `site` is added to it, and page.url is derived from relpath
 * when ctx has no "page". Writes relpath. Returns 0 or -1 (in diag). */
int render_page(renderer *r, const char *relpath, const char *tpl, value *ctx);
/* The same, and with st (may be NULL) the written file's stat, as
 * out_write_st gives it (st_mode 0: unknown). */
int render_page_st(renderer *r, const char *relpath, const char *tpl, value *ctx,
                   struct stat *st);
/* Render to a buffer instead of a file. */
int render_to(renderer *r, const char *tpl, value *ctx, buf *out);
/* Is there a template of that name (theme or templates dir)? */
int renderer_has(renderer *r, const char *tpl);
/* Compile a template now, reporting its errors; 0 or -1. Used to check
 * every template before anything is written. */
int renderer_check(renderer *r, const char *tpl);
outdir *renderer_out(renderer *r);
/* Templates are checked before the output directory is opened; the
 * outdir is attached afterwards. */
void renderer_set_out(renderer *r, outdir *out);
/* List items the renderer remembers, and renders copied from them
 * (mustache_memo; GAZETTE_TIMING reports them). */
void renderer_memo_counts(renderer *r, size_t *items, size_t *hits);
/* Report to d from now on (a renderer kept for another build). */
void renderer_set_diag(renderer *r, diag *d);

#endif
