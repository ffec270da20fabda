/* markdown.h - Markdown to HTML with cmark-gfm (tables, strikethrough,
 * autolinks, tagfilter), plus what the site needs from a body: heading ids,
 * an excerpt and the plain text for search.
 *
 * Raw HTML and unsafe URLs (javascript:, vbscript:, file:, most data:) are
 * dropped unless `unsafe` is set (site.yaml unsafe_html: true). Headings
 * get stable ids made from their text (CJK kept, ASCII lowercased, spaces
 * to '-', punctuation dropped; duplicates get -1, -2 ...). */
#ifndef GAZETTE_MARKDOWN_H
#define GAZETTE_MARKDOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include "value.h"

typedef struct {
    char *html;       /* the body as HTML */
    char *excerpt;    /* first `excerpt_chars` characters of body text,
                         headings skipped, "…" appended when cut */
    char *text;       /* all text, for the search index */
    value *toc;       /* list of {level, id, text} for h2/h3 */
    /* strlen(html) and strlen(text) when md_render set them (bodies are
     * tens of KB, counted again by every user otherwise); 0: not known.
     * Read them through md_html_len/md_text_len. */
    size_t html_len, text_len;
} md_result;

/* The length of a result's html/text: the one kept with it, else counted
 * (a result made by hand, or whose length was not kept). */
static inline size_t md_known_len(const char *s, size_t known)
{
    return !s ? 0 : known ? known : strlen(s);
}
static inline size_t md_html_len(const md_result *r) { return md_known_len(r->html, r->html_len); }
static inline size_t md_text_len(const md_result *r) { return md_known_len(r->text, r->text_len); }

/* Call once before using md_render from several threads. */
void md_init(void);
void md_render(const char *src, size_t len, bool unsafe, size_t excerpt_chars, md_result *out);
/* md_render of src already known to be valid UTF-8 (a loaded document's
 * body, checked with its file): the check is not made again. */
void md_render_utf8(const char *src, size_t len, bool unsafe, size_t excerpt_chars, md_result *out);
void md_free(md_result *r);

/* Heading id of a text (exposed for tests). Appends to out. */
void md_slugify(buf *out, const char *text, size_t len);
/* Cut plain text to at most n characters (code points) at a character
 * boundary, appending "…" when cut. Appends to out. */
void text_truncate(buf *out, const char *s, size_t len, size_t n);

#endif
