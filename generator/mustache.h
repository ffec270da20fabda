/* mustache.h - a compiled Mustache template engine over value trees.
 *
 * Implements the Mustache spec (v1.3: interpolation, sections, inverted
 * sections, comments, partials, set delimiters) plus the optional
 * inheritance ({{<parent}} / {{$block}}) and dynamic names ({{>*name}},
 * {{<*name}}) modules. No lambdas.
 *
 * A mustache_set is a registry of named templates. Templates come either
 * from mustache_add (source in memory) or from the loader, are compiled once
 * into a node tree (standalone lines, indentation and dotted names are all
 * resolved at compile time) and are linked to every partial/parent they name
 * statically the first time mustache_get returns them.
 *
 * Threads: mustache_get, mustache_add and mustache_render may be called from
 * several threads at once on the same set. Rendering a linked template takes
 * no lock; only dynamic names ({{>*x}}) take the set's mutex to find or
 * lazily compile the template they name.
 *
 * Errors are reported to the diag as "FILE:LINE:COL: error: ..." (COL counts
 * UTF-8 characters from 1); nothing is printed.
 */
#ifndef GAZETTE_MUSTACHE_H
#define GAZETTE_MUSTACHE_H

#include <stdbool.h>
#include <stddef.h>
#include "diag.h"
#include "util.h"
#include "value.h"

/* Maximum nesting of partial/parent expansions while rendering; deeper
 * (runaway) recursion is reported as an error instead of overflowing the
 * stack. */
#define MUSTACHE_MAX_DEPTH 200
/* Maximum nesting of sections/blocks within one template. */
#define MUSTACHE_MAX_NESTING 100
/* Maximum nesting of sections, blocks and expansions together while
 * rendering: bounds the C stack (a level takes well under 1 KiB). */
#define MUSTACHE_MAX_NEST_TOTAL 2000

typedef struct mustache_set mustache_set;   /* a registry of named templates */
typedef struct mustache_tpl mustache_tpl;   /* one compiled template */

/* Loader: find template `name`. Return 0 and set *src (malloc'd; freed by
 * the set after compiling), *len and *path (malloc'd display path used in
 * error messages, e.g. "templates/page.mustache"; the set takes it; may be
 * left NULL, then the name is used). Return 1 if there is no such template,
 * -1 on error (the loader reports the error itself). Called with the set's
 * mutex held, so it is never called concurrently for one set. */
typedef int (*mustache_loader)(void *ud, const char *name, char **src, size_t *len,
                               char **path);

/* load may be NULL: then only templates added with mustache_add exist. */
mustache_set *mustache_set_new(mustache_loader load, void *ud);
void mustache_set_free(mustache_set *s);

/* Strict mode: a partial or parent named statically that cannot be found
 * is an error when the template is linked (mustache_get), and a dynamic name
 * naming a missing template is an error when rendering. Default (spec mode):
 * both render as the empty string. */
void mustache_set_strict(mustache_set *s, bool strict);

/* Register and compile template `name` from memory (src need not be
 * NUL-terminated and is not kept). path is the display path for errors
 * (NULL: the name). Returns 0, or -1 with errors in d (syntax errors, or a
 * template of that name already exists). Partials it names are resolved
 * later, by mustache_get. */
int mustache_add(mustache_set *s, const char *name, const char *src, size_t len,
                 const char *path, diag *d);

/* The compiled template `name` (compiled through the loader if it was not
 * added), with every partial/parent it names statically compiled and linked
 * too. NULL with errors in d. The template lives as long as the set. */
const mustache_tpl *mustache_get(mustache_set *s, const char *name, diag *d);

/* Render t (from mustache_get on the same set) with the context ctx
 * (borrowed; may be any value), appending to out. Returns 0, or -1 with an
 * error in d (runaway recursion, or a dynamic name that fails to compile or,
 * in strict mode, names a missing template); out then holds partial output.
 * A dynamic name must resolve to a plain relative template name (no "..",
 * no leading '/', no whitespace or control characters); anything else
 * counts as a missing template. */
int mustache_render(mustache_set *s, const mustache_tpl *t, const value *ctx,
                    buf *out, diag *d);

/* A memo of rendered list items, shared by the renders that are given it
 * (any threads). A section over a list renders each item that is a stable
 * map (value_set_stable) once per section node: when the item's output
 * looked up nothing outside the item (no name found, or missed, in an
 * enclosing context, no {{$block}}) and the section starts a line at no
 * indentation, later renders of that section for that item copy the
 * bytes. The memo keeps a reference to each item it remembers, so a
 * remembered address is never reused while it lives. */
typedef struct mustache_memo mustache_memo;
/* max_bytes: the rendered bytes it may hold (to take a new item past it,
 * the memo forgets the items it took first); 0: no limit. */
mustache_memo *mustache_memo_new(size_t max_bytes);
void mustache_memo_free(mustache_memo *m);        /* NULL-safe */
/* Items remembered and renders answered from the memo (for tests). */
void mustache_memo_counts(mustache_memo *m, size_t *items, size_t *hits);

/* mustache_render with a memo (NULL: none). The output is the same. */
int mustache_render_memo(mustache_set *s, const mustache_tpl *t, const value *ctx,
                         buf *out, diag *d, mustache_memo *m);

/* Name and display path of a compiled template. */
const char *mustache_tpl_name(const mustache_tpl *t);
const char *mustache_tpl_path(const mustache_tpl *t);

#endif
