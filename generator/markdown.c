/* markdown.c - see markdown.h. */
#include "markdown.h"

#include <cmark-gfm.h>
#include <cmark-gfm-core-extensions.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void register_extensions(void) { cmark_gfm_core_extensions_ensure_registered(); }

void md_init(void) { pthread_once(&once, register_extensions); }

static bool is_cjk(uint32_t c)
{
    return (c >= 0x2E80 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x20000 && c <= 0x2FA1F);
}

void md_slugify(buf *out, const char *s, size_t n)
{
    size_t start = out->len;
    int dash = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t k = utf8_decode(s + i, n - i, &c);
        if (k == 0) break;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
            if (dash && out->len > start) buf_putc(out, '-');
            dash = 0;
            buf_putc(out, (int)c);
        } else if (c >= 'A' && c <= 'Z') {
            if (dash && out->len > start) buf_putc(out, '-');
            dash = 0;
            buf_putc(out, (int)(c - 'A' + 'a'));
        } else if (is_cjk(c) && !(c >= 0x3000 && c <= 0x303F)) {
            /* CJK ideographs are kept; CJK punctuation (3000-303F) is not. */
            if (dash && out->len > start) buf_putc(out, '-');
            dash = 0;
            buf_put(out, s + i, k);
        } else if (c == ' ' || c == '-' || c == '\t' || c == 0x3000) {
            dash = 1;
        }
        i += k;
    }
    if (out->len == start) buf_puts(out, "section");
}

void text_truncate(buf *out, const char *s, size_t len, size_t n)
{
    size_t i = 0, chars = 0;
    for (; i < len && chars < n; chars++) i += utf8_step(s + i, len - i);
    buf_put(out, s, i);
    if (i < len) buf_puts(out, "…");
}

/* Text collection over the AST. */
typedef struct {
    buf all;        /* every text */
    buf excerpt;    /* body text outside headings */
    size_t excerpt_chars, limit;
} collect;

static void put_text(collect *c, const char *s, size_t n, bool in_heading)
{
    buf_put(&c->all, s, n);
    if (in_heading || c->excerpt_chars > c->limit) return;
    for (size_t i = 0; i < n; c->excerpt_chars++) i += utf8_step(s + i, n - i);
    buf_put(&c->excerpt, s, n);
}

/* Separator between blocks or at soft breaks: a space unless both sides are
 * CJK text (where a line break is not a word boundary). */
static void put_break(collect *c, bool in_heading)
{
    buf *bs[2] = {&c->all, &c->excerpt};
    for (int j = 0; j < 2; j++) {
        buf *b = bs[j];
        if (j == 1 && (in_heading || c->excerpt_chars > c->limit)) continue;
        if (b->len && b->ptr[b->len - 1] != ' ' && (unsigned char)b->ptr[b->len - 1] < 0x80) {
            buf_putc(b, ' ');
            if (j == 1) c->excerpt_chars++;
        }
    }
}

static void heading_text(cmark_node *h, buf *out)
{
    cmark_iter *it = cmark_iter_new(h);
    cmark_event_type ev;
    while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        cmark_node *n = cmark_iter_get_node(it);
        if (ev != CMARK_EVENT_ENTER) continue;
        cmark_node_type t = cmark_node_get_type(n);
        if (t == CMARK_NODE_TEXT || t == CMARK_NODE_CODE) buf_puts(out, cmark_node_get_literal(n));
    }
    cmark_iter_free(it);
}

/* Is "<hN>" (a heading's opening tag as cmark writes it) at p? */
static bool heading_tag_at(const char *p)
{
    return p[0] == '<' && p[1] == 'h' && p[2] >= '1' && p[2] <= '6' && p[3] == '>';
}

/* Insert id="..." into the k-th "<hN>" of html, in document order. Only
 * done when the count of tags matches the headings, so raw HTML (unsafe
 * mode) can never shift ids onto the wrong heading. One scan finds the
 * tags (counted before anything is copied). */
static char *add_heading_ids(const char *html, size_t hlen, char **ids, int *levels, size_t n,
                             size_t *out_len)
{
    if (n == 0) return NULL;
    const char **at = xmalloc(n * sizeof *at);
    size_t count = 0;
    for (const char *p = html; (p = strstr(p, "<h")); p += 2)
        if (heading_tag_at(p)) {
            if (count == n) { count++; break; }   /* more tags than headings */
            at[count++] = p;
        }
    if (count != n) { free(at); return NULL; }
    /* Sized once: a doubling realloc of a whole page of HTML was fresh
     * heap pages (faults) for most documents with headings. */
    size_t extra = 0;
    for (size_t k = 0; k < n; k++) extra += 16 + 6 * strlen(ids[k]);   /* (esc_html: at most 6x) */
    buf out = BUF_INIT;
    buf_grow(&out, hlen + extra);
    const char *p = html;
    for (size_t k = 0; k < n; k++) {
        buf_put(&out, p, (size_t)(at[k] - p));
        buf_puts(&out, "<h");
        buf_put_dec(&out, (uint64_t)(unsigned)levels[k], 0);
        buf_puts(&out, " id=\"");
        esc_html(&out, ids[k], strlen(ids[k]));
        buf_puts(&out, "\">");
        p = at[k] + 4;
    }
    buf_put(&out, p, hlen - (size_t)(p - html));
    free(at);
    *out_len = out.len;
    return buf_detach(&out);
}

/* Heading ids handed out so far, each with the next suffix to try, in an
 * open-addressing hash table. A document may hold thousands of identical
 * headings (hostile or generated input): looking ids up in a joined string
 * and probing -1, -2 ... from 1 each time was cubic and made such a build
 * hang; this keeps de-duplication linear. */
typedef struct {
    char **keys;
    int *next;          /* next suffix to try for this id used as a base */
    size_t cap, n;
} idset;

static size_t idset_hash(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* Slot of key: its slot if present, else the empty slot where it belongs. */
static size_t idset_slot(const idset *t, const char *key)
{
    size_t i = idset_hash(key) & (t->cap - 1);
    while (t->keys[i] && strcmp(t->keys[i], key) != 0) i = (i + 1) & (t->cap - 1);
    return i;
}

static int *idset_find(const idset *t, const char *key)
{
    if (!t->cap) return NULL;
    size_t i = idset_slot(t, key);
    return t->keys[i] ? &t->next[i] : NULL;
}

static void idset_add(idset *t, const char *key)
{
    if (2 * (t->n + 1) > t->cap) {
        idset old = *t;
        t->cap = old.cap ? old.cap * 2 : 16;
        t->keys = xcalloc(t->cap, sizeof *t->keys);
        t->next = xcalloc(t->cap, sizeof *t->next);
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i]) {
                size_t j = idset_slot(t, old.keys[i]);
                t->keys[j] = old.keys[i];
                t->next[j] = old.next[i];
            }
        free(old.keys);
        free(old.next);
    }
    size_t i = idset_slot(t, key);
    t->keys[i] = xstrdup(key);
    t->next[i] = 1;
    t->n++;
}

static void idset_free(idset *t)
{
    for (size_t i = 0; i < t->cap; i++) free(t->keys[i]);
    free(t->keys);
    free(t->next);
}

/* Make id unique among those seen: id, else id-1, id-2 ... (the first one
 * free), and record it. Suffixes below the base's counter are all taken
 * (ids are never released), so starting there gives the same result. */
static void unique_id(idset *seen, buf *id)
{
    int *next = idset_find(seen, buf_cstr(id));
    if (next) {
        char *base = xstrdup(buf_cstr(id));
        int k = *next;
        do {
            buf_clear(id);
            buf_printf(id, "%s-%d", base, k++);
        } while (idset_find(seen, buf_cstr(id)));
        /* idset_add may move the table: look the base up again after. */
        idset_add(seen, buf_cstr(id));
        *idset_find(seen, base) = k;
        free(base);
        return;
    }
    idset_add(seen, buf_cstr(id));
}

/* ---- cmark's memory for one document ----
 *
 * Parsing a document makes ~150 small cmark allocations (nodes, strbufs,
 * delimiters, inline subjects), each freed at the end: with two threads
 * that was ~5% of the build's CPU in malloc/calloc/free. They come instead
 * from chunks owned by the md_render call, freed together at its end.
 * cmark_mem has no context pointer, hence the thread-local; md_render is
 * the only user, and nothing escapes it (the HTML is rendered with the
 * default allocator). Large inputs use malloc as before, since an arena
 * never reuses memory within a document. */
enum { ARENA_CHUNK = 64 * 1024, ARENA_HDR = 16 };
#define ARENA_MAX_INPUT ((size_t)1 << 20)

typedef struct achunk {
    struct achunk *next;
    size_t used, cap, pad;   /* header of 32 bytes keeps data 16-aligned */
    unsigned char data[];
} achunk;

static _Thread_local achunk *md_arena;

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Each block has a 16-byte header holding its size (for realloc). */
static void *arena_alloc(size_t n)
{
    if (n > SIZE_MAX / 2) { fprintf(stderr, "gazette: out of memory (markdown)\n"); abort(); }
    size_t need = ARENA_HDR + align16(n);
    achunk *c = md_arena;
    if (!c || c->cap - c->used < need) {
        size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;
        achunk *nc = xmalloc(sizeof *nc + cap);
        nc->next = c;
        nc->used = 0;
        nc->cap = cap;
        md_arena = c = nc;
    }
    unsigned char *h = c->data + c->used;
    memcpy(h, &n, sizeof n);
    c->used += need;
    return h + ARENA_HDR;
}

static void *arena_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / 2 / size) { fprintf(stderr, "gazette: out of memory (markdown)\n"); abort(); }
    void *p = arena_alloc(n * size);
    memset(p, 0, n * size);
    return p;
}

static void *arena_realloc(void *p, size_t n)
{
    if (!p) return arena_alloc(n);
    unsigned char *h = (unsigned char *)p - ARENA_HDR;
    size_t old;
    memcpy(&old, h, sizeof old);
    achunk *c = md_arena;
    /* The newest block of the current chunk grows in place (strbufs being
     * appended to, the common case). */
    if (h + ARENA_HDR + align16(old) == c->data + c->used &&
        (size_t)(c->data + c->cap - h) >= ARENA_HDR + align16(n) && n <= SIZE_MAX / 2) {
        c->used = (size_t)(h - c->data) + ARENA_HDR + align16(n);
        memcpy(h, &n, sizeof n);
        return p;
    }
    if (n <= old) return p;
    void *q = arena_alloc(n);
    memcpy(q, p, old);
    return q;
}

static void arena_free(void *p) { (void)p; }   /* all at once, in arena_release */

static void arena_release(void)
{
    for (achunk *c = md_arena; c;) {
        achunk *next = c->next;
        free(c);
        c = next;
    }
    md_arena = NULL;
}

static cmark_mem arena_mem = {arena_calloc, arena_realloc, arena_free};

static void render(const char *src, size_t len, bool valid, bool unsafe, size_t excerpt_chars,
                   md_result *out);

/* cmark's own UTF-8 check copies every line through a per-byte validator;
 * for input that is valid (checked here much faster, and always true for
 * loaded documents) it changes nothing. */
void md_render(const char *src, size_t len, bool unsafe, size_t excerpt_chars, md_result *out)
{
    render(src, len, utf8_valid(src, len, NULL), unsafe, excerpt_chars, out);
}

void md_render_utf8(const char *src, size_t len, bool unsafe, size_t excerpt_chars, md_result *out)
{
    render(src, len, true, unsafe, excerpt_chars, out);
}

static void render(const char *src, size_t len, bool valid, bool unsafe, size_t excerpt_chars,
                   md_result *out)
{
    md_init();
    int opts = CMARK_OPT_DEFAULT | (unsafe ? CMARK_OPT_UNSAFE : 0);
    if (!valid) opts |= CMARK_OPT_VALIDATE_UTF8;
    bool use_arena = len <= ARENA_MAX_INPUT;
    cmark_parser *p = use_arena ? cmark_parser_new_with_mem(opts, &arena_mem) : cmark_parser_new(opts);
    static const char *exts[] = {"table", "strikethrough", "autolink", "tagfilter"};
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
        cmark_syntax_extension *e = cmark_find_syntax_extension(exts[i]);
        if (e) cmark_parser_attach_syntax_extension(p, e);
    }
    cmark_parser_feed(p, src, len);
    cmark_node *doc = cmark_parser_finish(p);

    collect c = {BUF_INIT, BUF_INIT, 0, excerpt_chars};
    out->toc = value_list();
    char **ids = NULL;
    int *levels = NULL;
    size_t nh = 0, caph = 0;
    idset seen = {0};           /* ids handed out, for de-duplication */
    int in_heading = 0;
    cmark_iter *it = cmark_iter_new(doc);
    cmark_event_type ev;
    while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
        cmark_node *n = cmark_iter_get_node(it);
        cmark_node_type t = cmark_node_get_type(n);
        if (t == CMARK_NODE_HEADING) {
            if (ev == CMARK_EVENT_ENTER) {
                in_heading = 1;
                buf text = BUF_INIT, id = BUF_INIT;
                heading_text(n, &text);
                md_slugify(&id, buf_cstr(&text), text.len);
                unique_id(&seen, &id);
                if (nh == caph) {
                    caph = caph ? caph * 2 : 8;
                    ids = xrealloc(ids, caph * sizeof *ids);
                    levels = xrealloc(levels, caph * sizeof *levels);
                }
                levels[nh] = cmark_node_get_heading_level(n);
                if (levels[nh] >= 2 && levels[nh] <= 3) {
                    value *e = value_map();
                    value_set(e, "level", value_int(levels[nh]));
                    value_set_str(e, "id", buf_cstr(&id));
                    value_set(e, "text", value_strn(buf_cstr(&text), text.len));
                    value_push(out->toc, e);
                }
                ids[nh++] = buf_detach(&id);
                buf_free(&text);
            } else {
                in_heading = 0;
                put_break(&c, true);
            }
            continue;
        }
        if (ev == CMARK_EVENT_ENTER) {
            switch (t) {
            case CMARK_NODE_TEXT: case CMARK_NODE_CODE: case CMARK_NODE_CODE_BLOCK: {
                const char *lit = cmark_node_get_literal(n);
                if (lit) put_text(&c, lit, strlen(lit), in_heading);
                break;
            }
            case CMARK_NODE_SOFTBREAK: case CMARK_NODE_LINEBREAK:
                put_break(&c, in_heading);
                break;
            default: break;
            }
        } else if (ev == CMARK_EVENT_EXIT) {
            const char *ts = cmark_node_get_type_string(n);
            if (t == CMARK_NODE_PARAGRAPH || t == CMARK_NODE_ITEM ||
                (ts && !strcmp(ts, "table_cell")))
                put_break(&c, in_heading);
        }
    }
    cmark_iter_free(it);

    /* Rendered with malloc: the HTML outlives the arena. */
    char *html = cmark_render_html_with_mem(doc, opts, cmark_parser_get_syntax_extensions(p),
                                            cmark_get_default_mem_allocator());
    size_t hlen = strlen(html), idlen = 0;
    char *with_ids = add_heading_ids(html, hlen, ids, levels, nh, &idlen);
    if (with_ids) {
        out->html = with_ids;
        out->html_len = idlen;
        free(html);         /* cmark allocates with the default (malloc) allocator */
    } else {
        out->html = html;   /* malloc'd too: no copy needed */
        out->html_len = hlen;
    }
    for (size_t i = 0; i < nh; i++) free(ids[i]);
    free(ids);
    free(levels);
    idset_free(&seen);
    cmark_node_free(doc);
    cmark_parser_free(p);
    if (use_arena) arena_release();

    /* Excerpt: trim, then cut at the limit. */
    buf ex = BUF_INIT;
    const char *e = buf_cstr(&c.excerpt);
    size_t el = c.excerpt.len;
    while (el && e[el - 1] == ' ') el--;
    while (el && *e == ' ') { e++; el--; }
    text_truncate(&ex, e, el, excerpt_chars);
    out->excerpt = buf_detach(&ex);
    out->text_len = c.all.len;
    out->text = buf_detach(&c.all);
    buf_free(&c.excerpt);
}

void md_free(md_result *r)
{
    free(r->html);
    free(r->excerpt);
    free(r->text);
    value_unref(r->toc);
    memset(r, 0, sizeof *r);
}
