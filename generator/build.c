/* build.c - see build.h. The pipeline:
 *   1. load: content (parallel: read, front matter, Markdown), snapshot
 *   2. validate: cross-document checks, districts, attachments, templates
 *      -- nothing has been written up to here: bad input leaves out_dir alone
 *   3. model: summaries, sections, years, taxonomies (serial, cheap)
 *   4. render: every page job in parallel, each written atomically
 *   5. feed, sitemap, search index, stats, stale-file sweep */
#include "build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cache.h"
#include "content.h"
#include "output.h"
#include "pool.h"
#include "render.h"
#include "search.h"
#include "stats.h"
#include "theme.h"

static const char *const SECTION_TITLE[2] = {"通知公告", "工作报告"};
static const char *const SECTION_NAME[2] = {"notices", "reports"};

/* ---- taxonomies ---- */

/* Documents by index into content.docs (newest first). Lists hold indices,
 * not summaries: a summary is made only when a page that shows it renders
 * (summary()), so a rebuild that renders few pages makes few. */
typedef struct {
    size_t *v;
    size_t n, cap;
} ixlist;

static void ix_push(ixlist *l, size_t i)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = i;
}

typedef struct {
    char *name, *slug, *url;
    const char *label;     /* a district's display name (district_name); else name */
    size_t made;           /* its index when made (tax_finish sorts them) */
    ixlist items;          /* documents, newest first */
} term;

typedef struct {
    const char *key;       /* "tags" */
    const char *title;     /* "标签" */
    term *terms;
    size_t n, cap;
    value *index;          /* name -> int term index, while making them */
} taxonomy;

enum { TAX_TAGS, TAX_CATEGORIES, TAX_ISSUERS, TAX_DISTRICTS, NTAX };

typedef struct {
    char *relpath;
    const char *tpl;
    value *ctx;            /* NULL for documents and lists (built by the worker) */
    doc *dc;
    size_t doc_index;
    struct list_spec *list;   /* a list page: its list, and which page */
    size_t page;
    bool history;          /* ctx holds the release history (build_again) */
} job;

/* Search index files in the page cache (see search.h for the layout). */
enum { GROUP_SEARCH = 1 };

/* What write_search hands the index: an entry per document (strings
 * borrowed from the documents), their arrays in one block, text ids, keys
 * and the index's order. Kept with the build, so that a build made from
 * it with some documents swapped in (build_edit, fresh: their indexes)
 * makes only their entries again. */
typedef struct {
    search_doc *sd;
    const char **strs;
    char (*text_ids)[80];
    fp128 *keys;              /* with a build cache */
    size_t *order;
    size_t n;
    size_t *fresh, nfresh;
} search_in;

static void search_in_free(search_in *si)
{
    free(si->sd);
    free(si->strs);
    free(si->text_ids);
    free(si->keys);
    free(si->order);
    free(si->fresh);
    memset(si, 0, sizeof *si);
}

typedef struct {
    const build_opts *o;
    diag *d;
    content c;
    stats *st;
    renderer *r;
    outdir *out;
    value *site;
    value **summ;          /* per document, made when first needed (summary()) */
    size_t nsumm;          /* summ's length */
    size_t *again, nagain; /* build_again: the jobs to render again */
    fp128 *summ_fp;        /* per document: what its summary is made of */
    ixlist sections[2];
    taxonomy tax[NTAX];
    /* Each document's terms as indexes into tax[].terms, so that a page
     * (and its fingerprint, made for every page of every rebuild) finds a
     * term's URL without looking its name up: document i's terms of
     * taxonomy t are dterm[dterm_at[i][t] .. dterm_at[i][t + 1]), in the
     * order the document lists them (category and issuer: 0 or 1). */
    uint32_t *dterm;
    size_t (*dterm_at)[NTAX + 1];
    job *jobs;
    size_t njobs, capjobs;
    struct list_spec **lists;
    size_t nlists, caplists;
    size_t done;           /* rendered jobs, for progress */
    int progress;          /* show a progress line */
    size_t paginate;
    int timing;            /* GAZETTE_TIMING=1: phase times on stderr */
    double t_phase, cpu_phase;
    pagecache *pc;         /* NULL without a build cache */
    buf global;            /* what every page depends on: binary, templates, site */
    char search_global[33];  /* what every search entry depends on (make_global_key) */
    size_t skipped;        /* pages the cache said were already there */
    fp128 search_fp;       /* of a search index written in this build */
    int search_written;    /* ... and its files are to be noted */
    /* The search thread (when there is one): running, and whether it has
     * written its output files yet (it writes its own state after). */
    pthread_t search_tid;
    bool search_running;
    pthread_mutex_t search_mu;
    pthread_cond_t search_cv;
    bool search_out_done;
    struct scan_job *scan; /* the output tree being read on its own thread */
    search_in sx;          /* the search index's input (write_search) */
    diag *stats_said;      /* what loading the stats snapshot said */
} build;

static char *out_cache_file(const build_opts *o, const char *prefix, const char *suffix);

/* With GAZETTE_TIMING set, print how long each phase took (profiling aid). */
static void phase(build *b, const char *name)
{
    if (!b->timing) return;
    double t = clock_seconds(CLOCK_MONOTONIC);
    /* Resident memory at the phase's end (mallinfo would count only the
     * main thread's arena). */
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%*s %ld", &pages) != 1) pages = 0;
        fclose(f);
    }
    /* CPU time too: on a shared machine wall time says little. */
    double cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    fprintf(stderr, "gazette: %-10s %7.3f s  cpu %6.3f s  rss %6.1f MB\n", name, t - b->t_phase,
            cpu - b->cpu_phase, (double)pages * (double)sysconf(_SC_PAGESIZE) / 1048576.0);
    b->t_phase = t;
    b->cpu_phase = cpu;
}

static term *tax_term(taxonomy *t, const char *name)
{
    value *ix = value_get(t->index, name);
    if (ix) return &t->terms[value_int_of(ix)];
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->terms = xrealloc(t->terms, t->cap * sizeof(term));
    }
    term *tm = &t->terms[t->n];
    tm->name = xstrdup(name);
    buf s = BUF_INIT;
    term_slug(&s, name);
    tm->slug = buf_detach(&s);
    tm->url = NULL;
    tm->label = tm->name;
    tm->made = t->n;
    tm->items = (ixlist){0};
    value_set(t->index, name, value_int((long long)t->n));
    t->n++;
    return tm;
}

static int term_cmp(const void *pa, const void *pb)
{
    const term *a = pa, *b = pb;
    return strcmp(a->slug, b->slug) ? strcmp(a->slug, b->slug) : strcmp(a->name, b->name);
}

/* Sort terms by slug and make slugs unique (a-b and a_b collide otherwise).
 * moved[k] is then where the term made k-th went. */
static void tax_finish(taxonomy *t, uint32_t *moved)
{
    if (t->n > 1) qsort(t->terms, t->n, sizeof(term), term_cmp);
    for (size_t i = 0; i < t->n; i++) moved[t->terms[i].made] = (uint32_t)i;
    /* Names are looked up only while the terms are made (make_model);
     * afterwards documents hold their terms' indexes (build.dterm). */
    value_unref(t->index);
    t->index = NULL;
    for (size_t i = 0; i < t->n; i++) {
        if (i > 0 && !strcmp(t->terms[i].slug, t->terms[i - 1].slug)) {
            char *s = xasprintf("%s-%zu", t->terms[i].slug, i + 1);
            free(t->terms[i].slug);
            t->terms[i].slug = s;
        }
        t->terms[i].url = xasprintf("/%s/%s/", t->key, t->terms[i].slug);
    }
}

static void tax_free(taxonomy *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->terms[i].name);
        free(t->terms[i].slug);
        free(t->terms[i].url);
        free(t->terms[i].items.v);
    }
    free(t->terms);
    value_unref(t->index);
}

/* Document i's k-th term of taxonomy tx (k within what it lists). */
static const term *doc_term(const build *b, size_t i, int tx, size_t k)
{
    return &b->tax[tx].terms[b->dterm[b->dterm_at[i][tx] + k]];
}

/* ---- jobs ---- */

static void add_job(build *b, char *relpath, const char *tpl, value *ctx, doc *dc, size_t di)
{
    if (b->njobs == b->capjobs) {
        b->capjobs = b->capjobs ? b->capjobs * 2 : 256;
        b->jobs = xrealloc(b->jobs, b->capjobs * sizeof(job));
    }
    b->jobs[b->njobs++] = (job){relpath, tpl, ctx, dc, di, NULL, 0, false};
}

static value *page_value(const char *title, const char *url)
{
    value *p = value_map();
    value_set_str(p, "title", title);
    value_set_str(p, "url", url);
    return p;
}


static value *summary(build *b, size_t i);

/* A paginated list ("notices/" -> /notices/, /notices/page/2/, ...).
 * Its pages' contexts are made when each page renders, not all up front:
 * they hold nothing but references, yet at 100k documents building them
 * all first cost ~0.5 GB of maps. */
typedef struct list_spec {
    char *base, *title;
    size_t *items, n;      /* documents (a copy) */
    value *extra;          /* a reference; may be NULL */
    size_t pages;
} list_spec;

static void add_list_pages(build *b, const char *base, const char *title, const size_t *items,
                           size_t n, value *extra)
{
    size_t per = b->paginate;
    list_spec *ls = xcalloc(1, sizeof *ls);
    ls->base = xstrdup(base);
    ls->title = xstrdup(title);
    ls->items = xmalloc((n ? n : 1) * sizeof *ls->items);
    if (n) memcpy(ls->items, items, n * sizeof *items);
    ls->n = n;
    ls->extra = value_ref(extra);
    ls->pages = n ? (n + per - 1) / per : 1;
    if (b->nlists == b->caplists) {
        b->caplists = b->caplists ? b->caplists * 2 : 64;
        b->lists = xrealloc(b->lists, b->caplists * sizeof *b->lists);
    }
    b->lists[b->nlists++] = ls;
    for (size_t k = 1; k <= ls->pages; k++) {
        char *rel = k == 1 ? xasprintf("%sindex.html", base)
                           : xasprintf("%spage/%zu/index.html", base, k);
        add_job(b, rel, "list", NULL, NULL, 0);
        b->jobs[b->njobs - 1].list = ls;
        b->jobs[b->njobs - 1].page = k;
    }
}

static void list_spec_free(list_spec *ls)
{
    free(ls->base);
    free(ls->title);
    free(ls->items);
    value_unref(ls->extra);
    free(ls);
}

/* The URL of page k of the list at base: /base or /base/page/k/ (made
 * for each link of each page's pagination: no printf). */
static value *page_url(const char *base, size_t k)
{
    buf u = BUF_INIT;
    buf_putc(&u, '/');
    buf_puts(&u, base);
    if (k > 1) {
        buf_puts(&u, "page/");
        buf_put_dec(&u, k, 0);
        buf_putc(&u, '/');
    }
    value *v = value_strn(u.ptr, u.len);
    buf_free(&u);
    return v;
}

/* The context of page k of a list. */
static value *list_context(build *b, const list_spec *ls, size_t k)
{
    const char *base = ls->base;
    size_t n = ls->n, per = b->paginate, pages = ls->pages;
    char *url = k == 1 ? xasprintf("/%s", base) : xasprintf("/%spage/%zu/", base, k);
    value *ctx = ls->extra ? value_map_copy(ls->extra) : value_map();
    char *ptitle = k == 1 ? xstrdup(ls->title) : xasprintf("%s（第%zu页）", ls->title, k);
    value_set(ctx, "page", page_value(ptitle, url));
    value *list = value_map();
    value_set_str(list, "title", ls->title);
    value_set(list, "count", value_int((long long)n));
    value *slice = value_list();
    for (size_t i = (k - 1) * per; i < n && i < k * per; i++)
        value_push(slice, value_ref(summary(b, ls->items[i])));
    value_set(list, "items", slice);
    value_set(ctx, "list", list);
    if (pages > 1) {
        /* A window of page links around the current one: first, last,
         * and three either side, so large archives stay linear. */
        value *pg = value_map();
        value_set(pg, "current", value_int((long long)k));
        value_set(pg, "total", value_int((long long)pages));
        if (k > 1)
            value_set(pg, "prev_url", page_url(base, k - 1));
        if (k < pages) value_set(pg, "next_url", page_url(base, k + 1));
        value *links = value_list();
        size_t last = 0;
        /* The pages shown, ascending, each once: visiting only these (a
         * walk over every page for each page was quadratic in a list's
         * pages: 4,000 of them at 100k documents). */
        size_t lo = k > 3 ? k - 3 : 1, hi = k + 3 < pages ? k + 3 : pages;
        size_t shown[9], nshown = 0;
        if (lo > 1) shown[nshown++] = 1;
        for (size_t p = lo; p <= hi; p++) shown[nshown++] = p;
        if (hi < pages) shown[nshown++] = pages;
        for (size_t w = 0; w < nshown; w++) {
            size_t p = shown[w];
            if (last && p > last + 1) {
                value *gap = value_map();
                value_set(gap, "gap", value_bool(true));
                value_push(links, gap);
            }
            value *l = value_map();
            value_set(l, "n", value_int((long long)p));
            value_set(l, "url", page_url(base, p));
            value_set(l, "current", value_bool(p == k));
            value_push(links, l);
            last = p;
        }
        value_set(pg, "pages", links);
        value_set(ctx, "pagination", pg);
    }
    free(url);
    free(ptitle);
    return ctx;
}

/* ---- the model ---- */

static value *summary_of(const doc *dc)
{
    value *s = value_map_sized(16);
    value_set_str(s, "title", dc->title);
    value_set_str(s, "url", dc->url);
    value_set_str(s, "date", dc->date);
    value_set_str(s, "date_zh", dc->date_zh);
    value_set_str(s, "datetime", dc->datetime);
    value_set(s, "year", value_int(dc->year));
    value_set_str(s, "kind", dc->kind);
    value_set_str(s, "section", dc->section);
    value_set_str(s, "section_title", SECTION_TITLE[!strcmp(dc->section, "reports")]);
    value_set_str(s, "slug", dc->slug);
    if (dc->doc_number) value_set_str(s, "doc_number", dc->doc_number);
    if (dc->issuer) value_set_str(s, "issuer", dc->issuer);
    if (dc->category) value_set_str(s, "category", dc->category);
    value_set_str(s, "excerpt", dc->summary ? dc->summary : dc->md.excerpt ? dc->md.excerpt : "");
    return s;
}

/* Document i's summary, made on first use (by any thread). */
static value *summary(build *b, size_t i)
{
    value *s = __atomic_load_n(&b->summ[i], __ATOMIC_ACQUIRE);
    if (s) return s;
    value *mine = summary_of(b->c.docs[i]);
    /* Never changed once made (a new one replaces it): the renderer may
     * keep its list items rendered (mustache_memo). */
    value_set_stable(mine);
    value *none = NULL;
    if (__atomic_compare_exchange_n(&b->summ[i], &none, mine, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return mine;
    value_unref(mine);                 /* another thread made it first */
    return none;
}

static const char *district_name(build *b, const char *id)
{
    const char *n = b->st ? stats_district_name(b->st, id) : NULL;
    return n ? n : id;
}

static void make_model(build *b)
{
    static const char *keys[NTAX] = {"tags", "categories", "issuers", "districts"};
    static const char *titles[NTAX] = {"标签", "分类", "发文单位", "地区"};
    for (int t = 0; t < NTAX; t++) {
        b->tax[t].key = keys[t];
        b->tax[t].title = titles[t];
        b->tax[t].index = value_map();
    }
    b->summ = xcalloc(b->c.n ? b->c.n : 1, sizeof(value *));
    b->nsumm = b->c.n;
    size_t nterms = 0;
    for (size_t i = 0; i < b->c.n; i++) {
        const doc *dc = b->c.docs[i];
        nterms += value_len(dc->tags) + value_len(dc->districts) + !!dc->category + !!dc->issuer;
    }
    b->dterm = xmalloc((nterms ? nterms : 1) * sizeof *b->dterm);
    b->dterm_at = xmalloc((b->c.n ? b->c.n : 1) * sizeof *b->dterm_at);
    size_t at = 0;
    for (size_t i = 0; i < b->c.n; i++) {
        doc *dc = b->c.docs[i];
        ix_push(&b->sections[!strcmp(dc->section, "reports")], i);
        for (int t = 0; t < NTAX; t++) {
            const value *names = t == TAX_TAGS ? dc->tags : t == TAX_DISTRICTS ? dc->districts : NULL;
            const char *one = t == TAX_CATEGORIES ? dc->category : t == TAX_ISSUERS ? dc->issuer : NULL;
            size_t n = names ? value_len(names) : !!one;
            b->dterm_at[i][t] = at;
            for (size_t k = 0; k < n; k++) {
                term *tm = tax_term(&b->tax[t], names ? value_str_ptr(value_at(names, k)) : one);
                ix_push(&tm->items, i);
                b->dterm[at++] = (uint32_t)tm->made;
            }
        }
        b->dterm_at[i][NTAX] = at;
    }
    for (int t = 0; t < NTAX; t++) {
        uint32_t *moved = xmalloc((b->tax[t].n ? b->tax[t].n : 1) * sizeof *moved);
        tax_finish(&b->tax[t], moved);
        for (size_t i = 0; i < b->c.n; i++)
            for (size_t k = b->dterm_at[i][t]; k < b->dterm_at[i][t + 1]; k++)
                b->dterm[k] = moved[b->dterm[k]];
        free(moved);
    }
    /* With a snapshot, district pages are /districts/ID/ (written by stats). */
    for (size_t i = 0; i < b->tax[TAX_DISTRICTS].n; i++) {
        term *tm = &b->tax[TAX_DISTRICTS].terms[i];
        tm->label = district_name(b, tm->name);
        if (!b->st) continue;
        free(tm->url);
        tm->url = xasprintf("/districts/%s/", tm->name);
    }
}

/* Document i's terms of taxonomy tx, whose names it lists in names. */
static value *terms_list(build *b, size_t i, int tx, const value *names, bool with_id)
{
    value *l = value_list();
    for (size_t k = 0; k < value_len(names); k++) {
        const char *name = value_str_ptr(value_at(names, k));
        const term *tm = doc_term(b, i, tx, k);
        value *t = page_value(tm->label, tm->url);
        value_set_str(t, "name", tm->label);
        if (with_id) value_set_str(t, "id", name);
        value_push(l, t);
    }
    return l;
}

/* The fields of a document's release history that its page shows. */
static const char *const HISTORY_KEEP[] = {"tag", "date", "action", "url"};

/* The context of a document page; built by the worker that renders it. */
static value *doc_context(build *b, size_t i)
{
    doc *dc = b->c.docs[i];
    value *fm, *toc;
    doc_fm_toc(dc, &fm, &toc);
    value *d = value_map_copy_room(summary(b, i), 20);     /* (the keys set below) */
    int sec = !strcmp(dc->section, "reports");
    /* A body kept in the build cache stands in by its fingerprint (the
     * HTML is a pure function of it); render_job reads the HTML only when
     * the page is rendered. */
    if (dc->md_on_disk) {
        buf s = BUF_INIT;
        buf_puts(&s, "\x01md:");
        buf_put_hex64(&s, dc->md_key.hi);
        buf_put_hex64(&s, dc->md_key.lo);
        value_set(d, "content", value_strn(s.ptr, s.len));
        buf_free(&s);
    } else
        value_set(d, "content", value_strn(dc->md.html ? dc->md.html : "", md_html_len(&dc->md)));
    value_set(d, "toc", value_ref(toc));
    value_set(d, "recipients", value_ref(dc->recipients));
    value_set(d, "tags", terms_list(b, i, TAX_TAGS, dc->tags, false));
    value_set(d, "districts", terms_list(b, i, TAX_DISTRICTS, dc->districts, true));
    if (dc->category) value_set_str(d, "category_url", doc_term(b, i, TAX_CATEGORIES, 0)->url);
    if (dc->issuer) value_set_str(d, "issuer_url", doc_term(b, i, TAX_ISSUERS, 0)->url);
    value *atts = value_list();
    for (size_t k = 0; k < value_len(dc->attachments); k++) {
        value *a = value_at(dc->attachments, k);
        const char *f = value_str_ptr(value_get(a, "file"));
        value *o = value_map();
        value_set(o, "title", value_ref(value_get(a, "title")));
        if (*f) {
            buf u = BUF_INIT;
            buf_puts(&u, "/files/");
            esc_url(&u, f, strlen(f));
            value_set(o, "url", value_strn(u.ptr, u.len));
            buf_free(&u);
        }
        value_push(atts, o);
    }
    value_set(d, "attachments", atts);
    /* Previous/next within the section, in date order (older / newer). */
    for (size_t k = i + 1; k < b->c.n; k++)
        if (b->c.docs[k]->section == dc->section) {
            value_set(d, "prev", page_value(b->c.docs[k]->title, b->c.docs[k]->url));
            break;
        }
    for (size_t k = i; k-- > 0;)
        if (b->c.docs[k]->section == dc->section) {
            value_set(d, "next", page_value(b->c.docs[k]->title, b->c.docs[k]->url));
            break;
        }
    /* Flags and joined forms, since Mustache repeats a section per item. */
    buf rt = BUF_INIT;
    for (size_t k = 0; k < value_len(dc->recipients); k++) {
        if (k) buf_puts(&rt, "、");
        buf_puts(&rt, value_str_ptr(value_at(dc->recipients, k)));
    }
    value_set(d, "recipients_text", value_strn(buf_cstr(&rt), rt.len));
    buf_free(&rt);
    value_set(d, "has_attachments", value_bool(value_len(dc->attachments) > 0));
    value_set(d, "has_tags", value_bool(value_len(dc->tags) > 0));
    value_set(d, "has_districts", value_bool(value_len(dc->districts) > 0));
    value_set(d, "has_toc", value_bool(value_len(toc) > 2));
    value *hist = b->o->history ? value_get(value_get(b->o->history, "docs"), dc->url) : NULL;
    if (value_len(hist)) {
        value *h = value_list();
        /* Only what reads the same before and after the release is
         * committed (no commit ids, no pending flag): a page must not
         * change when its release lands, or a build after a release would
         * differ from the released tree, and the build cache would see
         * every page of the release as changed. */
        for (size_t k = 0; k < value_len(hist); k++) {
            const value *src = value_at(hist, k);
            value *e = value_map();
            for (size_t f = 0; f < sizeof HISTORY_KEEP / sizeof *HISTORY_KEEP; f++) {
                value *v = value_get(src, HISTORY_KEEP[f]);
                if (v) value_set(e, HISTORY_KEEP[f], value_ref(v));
            }
            const char *a = value_str_ptr(value_get(e, "action"));
            value_set_str(e, "action_zh", !strcmp(a, "added") ? "首次发布" : "修订");
            value_push(h, e);
        }
        value_set(d, "history", h);
        value_set(d, "has_history", value_bool(true));
    }
    value_set(d, "params", fm);
    value_unref(toc);

    value *ctx = value_map();
    value *page = page_value(dc->title, dc->url);
    value_set_str(page, "description", value_str_ptr(value_get(summary(b, i), "excerpt")));
    value_set_str(page, "type", "article");
    value_set(ctx, "page", page);
    value_set(ctx, "doc", d);
    value *section = page_value(SECTION_TITLE[sec], sec ? "/reports/" : "/notices/");
    value_set(ctx, "section", section);
    buf u = BUF_INIT;
    buf_putc(&u, '/');
    buf_puts(&u, dc->section);
    buf_putc(&u, '/');
    buf_put_dec(&u, (uint64_t)dc->year, 4);
    buf_putc(&u, '/');
    value_set(ctx, "year_url", value_strn(u.ptr, u.len));
    buf_free(&u);
    return ctx;
}

/* The template of a document page: its layout, except the Jekyll names
 * that mean "the default" (post, page, default). */
static const char *doc_template(const doc *dc)
{
    if (dc->layout && strcmp(dc->layout, "post") && strcmp(dc->layout, "page") &&
        strcmp(dc->layout, "default") && strcmp(dc->layout, "doc"))
        return dc->layout;
    return "doc";
}

/* List pages in the order of their newest item (items are document
 * indices, newest first), then as made: an item shown on several lists
 * (its year, its section, each of its tags...) is then rendered by pages
 * close together, which the renderer's memo of list items, forgetting
 * its oldest when full, answers at any size of site. */
typedef struct {
    size_t key, at;         /* the newest item; the job's place among the lists */
} list_order;

static int list_order_cmp(const void *a, const void *b)
{
    const list_order *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

static void order_list_jobs(build *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->njobs; i++) n += b->jobs[i].list != NULL;
    if (n < 2) return;
    list_order *o = xmalloc(n * sizeof *o);
    job *moved = xmalloc(n * sizeof *moved);
    size_t *places = xmalloc(n * sizeof *places);
    size_t k = 0;
    for (size_t i = 0; i < b->njobs; i++) {
        const job *j = &b->jobs[i];
        if (!j->list) continue;
        size_t first = (j->page - 1) * b->paginate;
        o[k] = (list_order){first < j->list->n ? j->list->items[first] : SIZE_MAX, k};
        places[k] = i;
        moved[k++] = *j;
    }
    qsort(o, n, sizeof *o, list_order_cmp);
    /* the list jobs' places, in order, take the list jobs sorted */
    for (size_t m = 0; m < n; m++) b->jobs[places[m]] = moved[o[m].at];
    free(places);
    free(moved);
    free(o);
}

static void make_jobs(build *b)
{
    /* Document pages. */
    for (size_t i = 0; i < b->c.n; i++) {
        doc *dc = b->c.docs[i];
        add_job(b, xasprintf("%sindex.html", dc->url + 1), doc_template(dc), NULL, dc, i);
    }
    /* Sections, with their year archives. */
    for (int s = 0; s < 2; s++) {
        const ixlist *items = &b->sections[s];
        value *years = value_list();
        size_t n = items->n;
        for (size_t i = 0; i < n;) {
            long long y = b->c.docs[items->v[i]]->year;
            size_t j = i;
            while (j < n && b->c.docs[items->v[j]]->year == y) j++;
            value *yv = value_map();
            value_set(yv, "year", value_int(y));
            value_set(yv, "url", value_strf("/%s/%04lld/", SECTION_NAME[s], y));
            value_set(yv, "count", value_int((long long)(j - i)));
            value_push(years, yv);
            char *base = xasprintf("%s/%04lld/", SECTION_NAME[s], y);
            char *title = xasprintf("%s · %lld年", SECTION_TITLE[s], y);
            value *extra = value_map();
            value_set(extra, "section", page_value(SECTION_TITLE[s], s ? "/reports/" : "/notices/"));
            add_list_pages(b, base, title, items->v + i, j - i, extra);
            value_unref(extra);
            free(base);
            free(title);
            i = j;
        }
        value *extra = value_map();
        value_set(extra, "has_years", value_bool(value_len(years) > 1));
        value_set(extra, "years", years);
        value_set(extra, "section", page_value(SECTION_TITLE[s], s ? "/reports/" : "/notices/"));
        char *base = xasprintf("%s/", SECTION_NAME[s]);
        add_list_pages(b, base, SECTION_TITLE[s], items->v, items->n, extra);
        free(base);
        value_unref(extra);
    }
    /* Taxonomies: an index of terms, and a list per term. Districts with a
     * snapshot are the stats module's pages. */
    for (int t = 0; t < NTAX; t++) {
        taxonomy *tx = &b->tax[t];
        if (t == TAX_DISTRICTS && b->st) continue;
        value *terms = value_list();
        for (size_t i = 0; i < tx->n; i++) {
            term *tm = &tx->terms[i];
            value *tv = page_value(tm->name, tm->url);
            value_set_str(tv, "name", tm->name);
            value_set(tv, "count", value_int((long long)tm->items.n));
            value_push(terms, tv);
            char *base = xasprintf("%s/%s/", tx->key, tm->slug);
            char *title = xasprintf("%s：%s", tx->title, tm->name);
            value *extra = value_map();
            char *tax_url = xasprintf("/%s/", tx->key);
            value_set(extra, "taxonomy", page_value(tx->title, tax_url));
            free(tax_url);
            add_list_pages(b, base, title, tm->items.v, tm->items.n, extra);
            value_unref(extra);
            free(base);
            free(title);
        }
        value *ctx = value_map();
        char *url = xasprintf("/%s/", tx->key);
        value_set(ctx, "page", page_value(tx->title, url));
        value *tv = page_value(tx->title, url);
        value_set(tv, "terms", terms);
        value_set(tv, "count", value_int((long long)tx->n));
        value_set(ctx, "taxonomy", tv);
        add_job(b, xasprintf("%s/index.html", tx->key), "terms", ctx, NULL, 0);
        free(url);
    }
    /* Home. */
    value *ctx = value_map();
    value_set(ctx, "page", page_value(value_str_ptr(value_get(b->site, "title")), "/"));
    for (int s = 0; s < 2; s++) {
        value *latest = value_list();
        for (size_t i = 0; i < b->sections[s].n && i < 8; i++)
            value_push(latest, value_ref(summary(b, b->sections[s].v[i])));
        value_set(ctx, s ? "latest_reports" : "latest_notices", latest);
        value_set(ctx, s ? "reports_count" : "notices_count",
                  value_int((long long)b->sections[s].n));
    }
    value *tags = value_list();
    for (size_t i = 0; i < b->tax[TAX_TAGS].n; i++) {
        term *tm = &b->tax[TAX_TAGS].terms[i];
        value *tv = page_value(tm->name, tm->url);
        value_set_str(tv, "name", tm->name);
        value_set(tv, "count", value_int((long long)tm->items.n));
        value_push(tags, tv);
    }
    value_set(ctx, "tags", tags);
    add_job(b, xstrdup("index.html"), "home", ctx, NULL, 0);
    /* 404 and the release history. */
    ctx = value_map();
    value_set(ctx, "page", page_value("页面未找到", "/404.html"));
    add_job(b, xstrdup("404.html"), "404", ctx, NULL, 0);
    ctx = value_map();
    value_set(ctx, "page", page_value("发布记录", "/releases/"));
    value *rel = b->o->history ? value_get(b->o->history, "releases") : NULL;
    value_set(ctx, "releases", rel ? value_ref(rel) : value_list());
    add_job(b, xstrdup("releases/index.html"), "releases", ctx, NULL, 0);
    b->jobs[b->njobs - 1].history = true;
    /* Search page. */
    ctx = value_map();
    value_set(ctx, "page", page_value("搜索", "/search/"));
    value *kinds = value_list();
    value *k1 = value_map(); value_set_str(k1, "id", "notice"); value_set_str(k1, "name", "通知公告");
    value *k2 = value_map(); value_set_str(k2, "id", "report"); value_set_str(k2, "name", "工作报告");
    value_push(kinds, k1);
    value_push(kinds, k2);
    value_set(ctx, "kinds", kinds);
    value *years = value_list();
    int last = 0;
    /* Years, newest first, from the date-sorted documents (deduplicated). */
    int *ys = xmalloc((b->c.n ? b->c.n : 1) * sizeof(int));
    size_t ny = 0;
    for (size_t i = 0; i < b->c.n; i++) {
        int y = b->c.docs[i]->year, seen = 0;
        for (size_t k = 0; k < ny && !seen; k++) seen = ys[k] == y;
        if (!seen) ys[ny++] = y;
    }
    for (size_t i = 1; i < ny; i++)
        for (size_t k = i; k > 0 && ys[k - 1] < ys[k]; k--) { int t = ys[k]; ys[k] = ys[k - 1]; ys[k - 1] = t; }
    for (size_t i = 0; i < ny; i++) {
        if (ys[i] == last) continue;
        value_push(years, value_int(ys[i]));
        last = ys[i];
    }
    free(ys);
    value_set(ctx, "years", years);
    value *dl = value_list();
    for (size_t i = 0; i < b->tax[TAX_DISTRICTS].n; i++) {
        value *dv = value_map();
        value_set_str(dv, "id", b->tax[TAX_DISTRICTS].terms[i].name);
        value_set_str(dv, "name", b->tax[TAX_DISTRICTS].terms[i].label);
        value_push(dl, dv);
    }
    value_set(ctx, "districts", dl);
    add_job(b, xstrdup("search/index.html"), "search", ctx, NULL, 0);
    order_list_jobs(b);
}

/* One encoding buffer per thread, reused for every page's fingerprint
 * (a fresh 10+ KB buffer per page costs more than the hashing). */
static pthread_key_t encode_key;
static pthread_once_t encode_once = PTHREAD_ONCE_INIT;

static void encode_buf_free(void *p)
{
    buf_free(p);
    free(p);
}

static void encode_key_make(void)
{
    if (pthread_key_create(&encode_key, encode_buf_free) != 0) abort();
}

static buf *encode_buf(void)
{
    pthread_once(&encode_once, encode_key_make);
    buf *k = pthread_getspecific(encode_key);
    if (!k) {
        k = xcalloc(1, sizeof *k);
        if (pthread_setspecific(encode_key, k) != 0) abort();
    }
    buf_clear(k);
    return k;
}

/* (GAZETTE_TEST_NO_MD_FETCH: the tests' way to take the path where the
 * cache cannot give a body back.) */
static bool no_fetch(void) { return getenv("GAZETTE_TEST_NO_MD_FETCH") != NULL; }

/* A document's HTML (text false) or plain text (text true) as this
 * build kept it, in memory or in the build cache, as a new string, with
 * its length in *len (bodies are long: their users need not count them
 * again); NULL when neither has it (doc_body renders it again). */
static char *body_kept(build *b, const doc *dc, bool text, size_t *len)
{
    /* Kept from this build's rendering: taken (its page and the search
     * index are its only users, each once, each on one thread). */
    md_result *md = &((doc *)dc)->md;
    char **mem = text ? &md->text : &md->html;
    if (*mem) {
        *len = text ? md_text_len(md) : md_html_len(md);
        *(text ? &md->text_len : &md->html_len) = 0;
        char *s = *mem;
        *mem = NULL;
        return s;
    }
    return no_fetch() ? NULL : mdcache_body(b->c.mc, dc->md_key, text, len);
}

/* The same, rendered again from its source when it was not kept. */
static char *doc_body(build *b, const doc *dc, bool text, size_t *len)
{
    char *s = body_kept(b, dc, text, len);
    if (s) return s;
    md_result r = content_rerender(&b->c, dc, b->d);
    char **field = text ? &r.text : &r.html;
    *len = text ? md_text_len(&r) : md_html_len(&r);
    s = *field ? *field : xstrdup("");
    *field = NULL;
    md_free(&r);
    return s;
}

/* Render a page, first putting a document's HTML in place of its stand-in.
 * st (may be NULL): the written file's stat (see render_page_st). */
static int render_job_page(build *b, const job *j, value *ctx, struct stat *st)
{
    if (j->dc && j->dc->md_on_disk) {
        size_t n;
        char *html = doc_body(b, j->dc, false, &n);
        /* ctx.doc is this job's own map (made by doc_context). */
        value_set(value_get(ctx, "doc"), "content", value_strn(html, n));
        free(html);
    }
    return render_page_st(b->r, j->relpath, j->tpl, ctx, st);
}

/* ---- page fingerprints ----
 *
 * A page is a pure function of the templates, the site settings and its
 * context, and a context is a pure function of what the functions above
 * read to make it. So a page's fingerprint is made from those inputs,
 * without making the context: a document stands in by its identity (its
 * path and bytes, see content.h), since everything made of it derives
 * from those. Keep these in step with doc_context and list_context: an
 * input missing here is a page not rebuilt when it changes (e2e:cache
 * compares cached rebuilds with builds from nothing to catch that). */

static void put_fp(buf *k, fp128 f)
{
    buf_put(k, &f, sizeof f);
}

/* What document i's summary is made of (summary_of reads these), so that
 * a list page stays when an edit leaves its items' titles and excerpts
 * be, without making the summaries. */
static fp128 summary_fp(const doc *dc)
{
    buf *k = encode_buf();
    const char *f[] = {dc->title, dc->url, dc->date, dc->date_zh, dc->datetime, dc->kind,
                       dc->section, dc->slug, dc->doc_number, dc->issuer, dc->category,
                       dc->summary ? dc->summary : dc->md.excerpt ? dc->md.excerpt : ""};
    for (size_t n = 0; n < sizeof f / sizeof *f; n++) fp_encode_str(k, f[n]);
    buf_put_dec(k, (uint64_t)(unsigned)dc->year, 0);
    return fp_bytes(k->ptr, k->len);
}

static void summary_fp_one(size_t i, void *ud)
{
    build *b = ud;
    b->summ_fp[i] = summary_fp(b->c.docs[i]);
}

static void fingerprint_summaries(build *b)
{
    b->summ_fp = xcalloc(b->c.n ? b->c.n : 1, sizeof *b->summ_fp);
    parallel_for(b->c.n, b->o->threads, summary_fp_one, b);
}

/* The previous (dir > 0: older) or next document's title and URL. */
static void encode_neighbour(buf *k, build *b, size_t i, int dir)
{
    const doc *dc = b->c.docs[i], *nb = NULL;
    if (dir > 0) {
        for (size_t n = i + 1; n < b->c.n && !nb; n++)
            if (b->c.docs[n]->section == dc->section) nb = b->c.docs[n];
    } else {
        for (size_t n = i; n-- > 0 && !nb;)
            if (b->c.docs[n]->section == dc->section) nb = b->c.docs[n];
    }
    fp_encode_str(k, nb ? nb->title : NULL);
    fp_encode_str(k, nb ? nb->url : NULL);
}

static void encode_terms(buf *k, build *b, size_t i, int tx, const value *names)
{
    buf_putc(k, 'T');
    buf_put_dec(k, (uint64_t)tx, 0);
    buf_putc(k, ':');
    buf_put_dec(k, value_len(names), 0);
    for (size_t n = 0; n < value_len(names); n++) {
        const term *tm = doc_term(b, i, tx, n);
        fp_encode_str(k, tm->url);
        if (tx == TAX_DISTRICTS) fp_encode_str(k, tm->label);
    }
}

/* Of history's entries for the document at url, the fields doc_context
 * keeps. (The history is read in three places only: doc_context, this,
 * and the release list's job, marked history; build_again relies on it.) */
static void encode_doc_history(buf *k, const value *history, const char *url)
{
    value *hist = history ? value_get(value_get(history, "docs"), url) : NULL;
    buf_putc(k, 'H');
    buf_put_dec(k, value_len(hist), 0);
    for (size_t n = 0; n < value_len(hist); n++)
        for (size_t f = 0; f < sizeof HISTORY_KEEP / sizeof *HISTORY_KEEP; f++)
            fp_encode_value(k, value_get(value_at(hist, n), HISTORY_KEEP[f]));
}

/* What doc_context reads besides the document itself. */
static void encode_doc_inputs(buf *k, build *b, size_t i)
{
    const doc *dc = b->c.docs[i];
    buf_putc(k, 'D');
    put_fp(k, dc->identity);
    encode_terms(k, b, i, TAX_TAGS, dc->tags);
    encode_terms(k, b, i, TAX_DISTRICTS, dc->districts);
    fp_encode_str(k, dc->category ? doc_term(b, i, TAX_CATEGORIES, 0)->url : NULL);
    fp_encode_str(k, dc->issuer ? doc_term(b, i, TAX_ISSUERS, 0)->url : NULL);
    encode_neighbour(k, b, i, +1);
    encode_neighbour(k, b, i, -1);
    encode_doc_history(k, b->o->history, dc->url);
}

/* What list_context reads for page pg of ls. */
static void encode_list_inputs(buf *k, build *b, const list_spec *ls, size_t pg)
{
    size_t n = ls->n, per = b->paginate;
    buf_putc(k, 'L');
    buf_put_dec(k, pg, 0);
    buf_putc(k, '/');
    buf_put_dec(k, n, 0);
    buf_putc(k, '/');
    buf_put_dec(k, per, 0);
    fp_encode_str(k, ls->base);
    fp_encode_str(k, ls->title);
    fp_encode_value(k, ls->extra);
    for (size_t i = (pg - 1) * per; i < n && i < pg * per; i++)
        put_fp(k, b->summ_fp[ls->items[i]]);
}

static fp128 page_fp(build *b, const job *j)
{
    buf *k = encode_buf();
    buf_put(k, b->global.ptr, b->global.len);
    fp_encode_str(k, j->relpath);
    fp_encode_str(k, j->tpl);
    if (j->ctx) fp_encode_value(k, j->ctx);
    else if (j->list) encode_list_inputs(k, b, j->list, j->page);
    else encode_doc_inputs(k, b, j->doc_index);
    return fp_bytes(k->ptr, k->len);
}

static value *job_context(build *b, const job *j)
{
    return j->ctx ? value_ref(j->ctx) : j->list ? list_context(b, j->list, j->page)
                                                : doc_context(b, j->doc_index);
}

static void render_job(size_t i, void *ud)
{
    build *b = ud;
    job *j = &b->jobs[i];
    if (b->pc) {
        /* Nothing to do when the page's inputs are unchanged and the file
         * is as the last build left it. */
        fp128 fp = page_fp(b, j);
        if (pagecache_keep(b->pc, j->relpath, fp)) {
            out_keep(b->out, j->relpath);
            __atomic_add_fetch(&b->skipped, 1, __ATOMIC_RELAXED);
        } else {
            value *ctx = job_context(b, j);
            /* With the stat the writer took: no stat of it at save. */
            struct stat st;
            if (render_job_page(b, j, ctx, &st) == 0) pagecache_note_st(b->pc, j->relpath, fp, &st);
            value_unref(ctx);
        }
    } else {
        value *ctx = job_context(b, j);
        render_job_page(b, j, ctx, NULL);
        value_unref(ctx);
    }
    if (j->dc) {
        /* A document's HTML is needed by its own page only: free it now
         * rather than holding every body until the build ends. */
        free(j->dc->md.html);
        j->dc->md.html = NULL;
    }
    size_t done = __atomic_add_fetch(&b->done, 1, __ATOMIC_RELAXED);
    if (b->progress && done % 500 == 0)
        fprintf(stderr, "\rgazette: rendering %zu/%zu pages", done, b->njobs);
}

/* ---- feeds, sitemap, robots ---- */

static void abs_url(buf *out, build *b, const char *path)
{
    const char *base = value_str_ptr(value_get(b->site, "base_url"));
    size_t bl = strlen(base);
    if (bl && base[bl - 1] == '/' && path[0] == '/') bl--;
    buf_put(out, base, bl);
    esc_url(out, path, strlen(path));
}

static void xml_text(buf *out, const char *s) { esc_xml(out, s, strlen(s)); }

static int write_feed(build *b)
{
    buf f = BUF_INIT, u = BUF_INIT;
    const char *title = value_str_ptr(value_get(b->site, "title"));
    buf_puts(&f, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"zh-CN\">\n  <title>");
    xml_text(&f, title);
    buf_puts(&f, "</title>\n  <id>");
    abs_url(&u, b, "/");
    xml_text(&f, buf_cstr(&u));
    buf_puts(&f, "</id>\n  <link rel=\"alternate\" type=\"text/html\" href=\"");
    xml_text(&f, buf_cstr(&u));
    buf_clear(&u);
    abs_url(&u, b, "/feed.xml");
    buf_puts(&f, "\"/>\n  <link rel=\"self\" type=\"application/atom+xml\" href=\"");
    xml_text(&f, buf_cstr(&u));
    buf_puts(&f, "\"/>\n  <updated>");
    xml_text(&f, b->c.n ? b->c.docs[0]->datetime : "1970-01-01T00:00:00Z");
    buf_puts(&f, "</updated>\n  <author><name>");
    const char *org = value_str_ptr(value_get(b->site, "organization"));
    xml_text(&f, *org ? org : title);
    buf_puts(&f, "</name></author>\n  <generator>Gazette</generator>\n");
    for (size_t i = 0; i < b->c.n && i < 20; i++) {
        doc *dc = b->c.docs[i];
        buf_clear(&u);
        abs_url(&u, b, dc->url);
        buf_puts(&f, "  <entry>\n    <title>");
        xml_text(&f, dc->title);
        buf_puts(&f, "</title>\n    <link rel=\"alternate\" type=\"text/html\" href=\"");
        xml_text(&f, buf_cstr(&u));
        buf_puts(&f, "\"/>\n    <id>");
        xml_text(&f, buf_cstr(&u));
        buf_puts(&f, "</id>\n    <published>");
        xml_text(&f, dc->datetime);
        buf_puts(&f, "</published>\n    <updated>");
        xml_text(&f, dc->datetime);
        buf_puts(&f, "</updated>\n");
        if (dc->issuer) {
            buf_puts(&f, "    <author><name>");
            xml_text(&f, dc->issuer);
            buf_puts(&f, "</name></author>\n");
        }
        if (dc->category) {
            buf_puts(&f, "    <category term=\"");
            xml_text(&f, dc->category);
            buf_puts(&f, "\"/>\n");
        }
        buf_puts(&f, "    <summary>");
        xml_text(&f, value_str_ptr(value_get(summary(b, i), "excerpt")));
        buf_puts(&f, "</summary>\n  </entry>\n");
    }
    buf_puts(&f, "</feed>\n");
    int rc = out_write(b->out, "feed.xml", f.ptr, f.len);
    buf_free(&f);
    buf_free(&u);
    return rc;
}

/* Documents by URL, for the sitemap's lookups (one per page: a binary
 * search was 17 string compares on cold memory each, a third of a
 * second at 100k documents). Open addressing, a power-of-two size; keyed
 * by the URL without its leading '/', i.e. the page's directory. */
typedef struct { doc **slot; size_t mask; } url_index;

static void url_index_make(url_index *ix, build *b)
{
    size_t n = 16;
    while (n < 2 * b->c.n + 2) n *= 2;
    ix->slot = xcalloc(n, sizeof *ix->slot);
    ix->mask = n - 1;
    for (size_t i = 0; i < b->c.n; i++) {
        doc *dc = b->c.docs[i];
        size_t k = XXH3_64bits(dc->url + 1, strlen(dc->url + 1)) & ix->mask;
        while (ix->slot[k]) k = (k + 1) & ix->mask;
        ix->slot[k] = dc;
    }
}

/* The document whose URL is '/' and the len bytes at dir, or NULL. */
static doc *url_index_get(const url_index *ix, const char *dir, size_t len)
{
    size_t k = XXH3_64bits(dir, len) & ix->mask;
    for (doc *dc; (dc = ix->slot[k]); k = (k + 1) & ix->mask)
        if (!strncmp(dc->url + 1, dir, len) && !dc->url[1 + len]) return dc;
    return NULL;
}

/* What the sitemap is made of: the site's address, the pages (every
 * index.html written or kept) and the documents' dates. The pages are
 * taken as a set, in whatever order the output holds them: the sum of
 * their 128-bit fingerprints (with their count) stands for it, so that a
 * kept sitemap costs no copy or sort of 15k paths. */
typedef struct { uint64_t lo, hi, n; } page_sum;

static void sum_page(const char *p, void *ud)
{
    /* (one strlen for the test and the fingerprint: this runs for every
     * file of the output, 15k+) */
    static const char tail[] = "/index.html";
    size_t n = strlen(p), t = sizeof tail - 1;
    if (!(n >= t && !memcmp(p + n - t, tail, t)) && strcmp(p, "index.html")) return;
    page_sum *ps = ud;
    fp128 f = fp_bytes(p, n);
    ps->lo += f.lo;
    ps->hi += f.hi;
    ps->n++;
}

static fp128 sitemap_fp(build *b)
{
    page_sum ps = {0, 0, 0};
    out_each(b->out, sum_page, &ps);
    buf *k = encode_buf();
    fp_encode_str(k, "sitemap 2");
    fp_encode_str(k, value_str_ptr(value_get(b->site, "base_url")));
    put_fp(k, (fp128){ps.lo, ps.hi});
    buf_put(k, &ps.n, sizeof ps.n);
    for (size_t i = 0; i < b->c.n; i++) {
        fp_encode_str(k, b->c.docs[i]->url);
        fp_encode_str(k, b->c.docs[i]->date);
    }
    return fp_bytes(k->ptr, k->len);
}

static int write_sitemap(build *b)
{
    /* Unchanged inputs, file as left: kept without being made (1.3 MB of
     * XML at 10k documents, and a read of the old file to compare). */
    fp128 fp = {0, 0};
    if (b->pc) {
        fp = sitemap_fp(b);
        if (pagecache_keep(b->pc, "sitemap.xml", fp)) return out_keep(b->out, "sitemap.xml");
    }
    size_t n;
    const char **paths = out_paths(b->out, &n);
    url_index byurl;
    url_index_make(&byurl, b);
    buf f = BUF_INIT;
    buf_puts(&f, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    /* One line per page, appended in place: the site's address (escaped
     * for XML once) and the page's path, URL-escaped, which leaves
     * nothing XML would escape (137k lines at 100k documents). */
    buf base = BUF_INIT;
    const char *bu = value_str_ptr(value_get(b->site, "base_url"));
    size_t bl = strlen(bu);
    if (bl && bu[bl - 1] == '/') bl--;          /* every path starts with '/' */
    esc_xml(&base, bu, bl);
    for (size_t i = 0; i < n; i++) {
        const char *p = paths[i];
        size_t pl = strlen(p);
        if (!str_ends(p, "/index.html") && strcmp(p, "index.html")) continue;
        size_t dl = pl - strlen("index.html");          /* "notices/2017/x/" */
        buf_puts(&f, "  <url><loc>");
        buf_put(&f, base.ptr, base.len);
        buf_putc(&f, '/');
        esc_url(&f, p, dl);
        buf_puts(&f, "</loc>");
        /* Documents carry their date as lastmod. */
        doc *dc = url_index_get(&byurl, p, dl);
        if (dc) {
            buf_puts(&f, "<lastmod>");
            buf_puts(&f, dc->date);
            buf_puts(&f, "</lastmod>");
        }
        buf_puts(&f, "</url>\n");
    }
    buf_free(&base);
    free(paths);
    free(byurl.slot);
    buf_puts(&f, "</urlset>\n");
    struct stat st;
    int rc = out_write_st(b->out, "sitemap.xml", f.ptr, f.len, &st);
    if (rc == 0 && b->pc) pagecache_note_st(b->pc, "sitemap.xml", fp, &st);
    buf_free(&f);
    return rc;
}

static int write_robots(build *b)
{
    buf f = BUF_INIT, u = BUF_INIT;
    abs_url(&u, b, "/sitemap.xml");
    buf_printf(&f, "User-agent: *\nAllow: /\n\nSitemap: %s\n", buf_cstr(&u));
    int rc = out_write(b->out, "robots.txt", f.ptr, f.len);
    buf_free(&f);
    buf_free(&u);
    return rc;
}

/* Theme assets (templates/assets/ over the built-in ones) into /assets/. */
static int write_assets(build *b)
{
    int rc = 0;
    for (size_t i = 0; i < theme_files_count; i++) {
        const theme_file *tf = &theme_files[i];
        if (!str_starts(tf->name, "assets/")) continue;
        char *own = b->o->templates_dir ? path_join(b->o->templates_dir, tf->name) : NULL;
        if (own && path_exists(own)) rc |= out_copy(b->out, tf->name, own);
        else rc |= out_write(b->out, tf->name, tf->data, tf->len);
        free(own);
    }
    return rc;
}

/* Attachments: each file under content/files/ must exist, and stay there
 * (no symlink or .. escaping). Checked before anything is written. */
static int check_attachments(build *b, int write)
{
    int rc = 0;
    /* The root is content/'s real path plus "/files", not realpath of
     * content/files: a content/files that is itself a symlink must not
     * turn any folder on the machine into publishable attachments. */
    char *files = path_join(b->c.dir, "files");
    char *content_real = realpath(b->c.dir, NULL);
    char *root = content_real ? path_join(content_real, "files") : NULL;
    free(content_real);
    for (size_t i = 0; i < b->c.n; i++) {
        doc *dc = b->c.docs[i];
        for (size_t k = 0; k < value_len(dc->attachments); k++) {
            const char *f = value_str_ptr(value_get(value_at(dc->attachments, k), "file"));
            if (!*f) continue;
            char *p = path_join(files, f);
            char *real = realpath(p, NULL);
            if (!real || !root || strncmp(real, root, strlen(root)) != 0 || real[strlen(root)] != '/') {
                doc_unpack(dc);
                int line = (int)value_int_of(value_get(dc->fm_lines, "attachments"));
                diag_error(b->d, dc->source, line, "attachment '%s' %s", f,
                           real ? "points outside content/files/" : "not found under content/files/");
                rc = -1;
            } else if (write) {
                char *rel = xasprintf("files/%s", f);
                if (!out_has(b->out, rel)) rc |= out_copy(b->out, rel, real);
                free(rel);
            }
            free(real);
            free(p);
        }
    }
    free(root);
    free(files);
    return rc;
}

/* Search hooks: a document's plain text, from the build cache when it is
 * kept there, and released as soon as the index has it. */
typedef struct {
    build *b;
    const search_doc *base;    /* sd[i] describes b->c.docs[i] */
    /* The texts the index said it will fetch next, in its order
     * (prefetch_texts), and how far it has fetched. */
    const search_doc **want;
    size_t nwant, at;
} text_owner;

/* How many texts are made ready at once, when one must be made again. */
enum { TEXTS_AHEAD = 256 };

/* The index will fetch the texts of docs[0..n), in that order. */
static void prefetch_texts(const search_doc *const *docs, size_t n, void *ud)
{
    text_owner *t = ud;
    t->want = xrealloc(t->want, (n ? n : 1) * sizeof *t->want);
    memcpy(t->want, docs, n * sizeof *docs);
    t->nwant = n;
    t->at = 0;
}

/* Make wanted text i ready in its document (md.text), from the build
 * cache or rendered again, unless the index has it in place or it is. */
static void make_text(size_t i, void *ud)
{
    text_owner *t = ud;
    const search_doc *sd = t->want[t->at + i];
    doc *dc = t->b->c.docs[sd - t->base];
    if (sd->text || dc->md.text) return;
    size_t len;
    char *s = doc_body(t->b, dc, true, &len);
    dc->md.text = s;
    dc->md.text_len = len;
}

/* A document's text for the index. One that must be rendered again (the
 * build cache keeps none for it: a body kept in memory when it was
 * stored) is most often one of many, as in a build into a new output
 * directory, where the index takes every text: then the next wanted
 * ones are made ready with it, on every core, instead of one by one on
 * the index's thread (0.2 s of such a build at 10k). */
static char *fetch_text(const search_doc *sd, void *ud, size_t *len)
{
    text_owner *t = ud;
    doc *dc = t->b->c.docs[sd - t->base];
    char *s = body_kept(t->b, dc, true, len);
    if (s) return s;
    while (t->at < t->nwant && t->want[t->at] != sd) t->at++;
    if (t->at < t->nwant) {
        size_t ahead = t->nwant - t->at < TEXTS_AHEAD ? t->nwant - t->at : TEXTS_AHEAD;
        parallel_for(ahead, t->b->o->threads, make_text, t);
    }
    return doc_body(t->b, dc, true, len);
}

static void release_text(const search_doc *sd, void *ud)
{
    text_owner *t = ud;
    doc *dc = t->b->c.docs[sd - t->base];
    free(dc->md.text);
    dc->md.text = NULL;
}

/* A document's search key (search_doc_keys), for the index to tell an
 * unchanged document by. A document with an identity (its path and bytes,
 * see content.h) gives the index what any document of the same identity
 * gives under the same settings (b->search_global) and district names
 * (from the stats, not in it): its key is made of those (one is a scratch
 * buffer). Hashing its fields and text instead (search_doc_keys, for the
 * others) reads every document's strings, cold and scattered over the
 * heap: 6 ms of a one-edit rebuild at 10k. */
static fp128 search_key(build *b, const doc *dc, const search_doc *sd, buf *one)
{
    fp128 key, id = dc->identity;
    if (!id.lo && !id.hi) {
        search_doc_keys(sd, 1, &key);
        return key;
    }
    buf_clear(one);
    buf_puts(one, "search doc ");
    buf_puts(one, b->search_global);
    buf_put(one, &id, sizeof id);
    buf_putc(one, 'd');
    buf_put_dec(one, sd->ndistricts, 0);
    for (size_t j = 0; j < sd->ndistricts; j++) fp_encode_str(one, sd->district_names[j]);
    key = fp_bytes(one->ptr, one->len);
    if (!key.lo && !key.hi) key.lo = 1;         /* zero matches nothing */
    return key;
}

/* Everything the search index is made of, for its fingerprint: each
 * document's search key (keys, n entries, also handed to the index). */
static void search_encode(buf *k, const fp128 *keys, size_t n)
{
    buf_printf(k, "search %zu", n);
    buf_put(k, keys, n * sizeof *keys);
}

/* The search index's output files are all written (search.h,
 * outputs_done): the build may sweep the output while the index's state
 * is still being stored. Idempotent. */
static void search_outputs_done(build *b)
{
    pthread_mutex_lock(&b->search_mu);
    b->search_out_done = true;
    pthread_cond_broadcast(&b->search_cv);
    pthread_mutex_unlock(&b->search_mu);
}

static void outputs_done_hook(void *ud) { search_outputs_done(((text_owner *)ud)->b); }

/* Document i's entry of the index's input, its strings borrowed from the
 * document, its arrays (tags, district ids, names: NULL-ended) at slots,
 * and its key (with keys). */
static void search_entry(build *b, size_t i, const char **slots, buf *one)
{
    search_in *si = &b->sx;
    doc *dc = b->c.docs[i];
    size_t nt = value_len(dc->tags), nd = value_len(dc->districts);
    const char **tags = slots, **dists = tags + nt + 1, **names = dists + nd + 1;
    for (size_t k = 0; k < nt; k++) tags[k] = value_str_ptr(value_at(dc->tags, k));
    for (size_t k = 0; k < nd; k++) {
        dists[k] = value_str_ptr(value_at(dc->districts, k));
        names[k] = district_name(b, dists[k]);
    }
    search_doc *sd = &si->sd[i];
    *sd = (search_doc){.url = dc->url, .title = dc->title, .doc_number = dc->doc_number,
                       .issuer = dc->issuer, .date = dc->date, .kind = dc->kind,
                       .category = dc->category, .tags = tags, .ntags = nt,
                       .districts = dists, .ndistricts = nd, .district_names = names,
                       .text = dc->md_on_disk ? NULL : dc->md.text ? dc->md.text : ""};
    if (dc->md_on_disk && !dc->identity.lo && !dc->identity.hi) {
        /* 64 chars: always fits */
        snprintf(si->text_ids[i], sizeof si->text_ids[i], "%016llx%016llx%s",
                 (unsigned long long)dc->md_key.hi, (unsigned long long)dc->md_key.lo,
                 b->search_global);
        sd->text_id = si->text_ids[i];
        sd->text_id_len = strlen(si->text_ids[i]);
    }
    if (si->keys) si->keys[i] = search_key(b, dc, sd, one);
}

/* The index's input for every document (b->sx), and its order. */
static void search_inputs(build *b)
{
    search_in *si = &b->sx;
    search_in_free(si);
    size_t n = b->c.n, nd0 = n ? n : 1;
    si->n = n;
    si->sd = xcalloc(nd0, sizeof *si->sd);
    /* Each document's tags, districts and district names, NULL-ended, in
     * one block (three allocations per document were a fifth of this). */
    size_t nstr = 0;
    for (size_t i = 0; i < n; i++)
        nstr += value_len(b->c.docs[i]->tags) + 2 * value_len(b->c.docs[i]->districts) + 3;
    si->strs = xcalloc(nstr ? nstr : 1, sizeof *si->strs);
    /* a text kept in the build cache is told by its body's fingerprint and
     * the settings it was rendered with (in the search key); only needed
     * for a key made of the fields (search_key) */
    si->text_ids = xmalloc(nd0 * sizeof *si->text_ids);
    /* the keys are made in the same pass: the documents' memory is cold,
     * and read once */
    si->keys = b->pc ? xmalloc(nd0 * sizeof *si->keys) : NULL;
    buf one = BUF_INIT;
    const char **next = si->strs;
    for (size_t i = 0; i < n; i++) {
        search_entry(b, i, next, &one);
        next += si->sd[i].ntags + 2 * si->sd[i].ndistricts + 3;
    }
    buf_free(&one);
    si->order = xmalloc(nd0 * sizeof *si->order);
    search_order(si->sd, n, si->order);
}

/* After build_edit swapped documents in (sx.fresh: their indexes), each
 * still in the same place with the same terms (same_place): only their
 * entries are made again, in their slots, the order stands. */
static void search_inputs_again(build *b)
{
    search_in *si = &b->sx;
    buf one = BUF_INIT;
    for (size_t k = 0; k < si->nfresh; k++) {
        size_t i = si->fresh[k];
        search_entry(b, i, (const char **)si->sd[i].tags, &one);
    }
    buf_free(&one);
    si->nfresh = 0;
}

static int write_search(build *b)
{
    search_in *si = &b->sx;
    if (si->sd && si->n == b->c.n && b->pc) search_inputs_again(b);
    else search_inputs(b);
    search_doc *sd = si->sd;
    fp128 fp = {0, 0};
    int rc = 0;
    if (b->pc) {
        buf k = BUF_INIT;
        buf_puts(&k, b->search_global);
        search_encode(&k, si->keys, b->c.n);
        fp = fp_bytes(k.ptr, k.len);
        buf_free(&k);
        const char **paths;
        size_t n = pagecache_group(b->pc, GROUP_SEARCH, fp, &paths);
        for (size_t i = 0; i < n; i++)
            if (out_keep(b->out, paths[i]) == 0) pagecache_note_in(b->pc, GROUP_SEARCH, paths[i], fp);
        free(paths);
        if (n) goto done;
    }
    text_owner owner = {b, sd, NULL, 0, 0};
    /* with a build cache, the index is patched from the last build's
     * (search.h): one file per output directory, as the page cache */
    char *state = b->pc ? out_cache_file(b->o, "search-", ".cache") : NULL;
    search_hooks hooks = {fetch_text, release_text, &owner, state, si->keys, outputs_done_hook,
                          b->o->trust_out, si->order, b->o->threads == 1, prefetch_texts};
    /* (set before the outputs are done: build_edit notes the files then) */
    b->search_fp = fp;
    b->search_written = b->pc != NULL;
    rc = search_write_hooks(sd, b->c.n, b->out, b->d, &hooks);
    free(owner.want);
    free(state);
done:
    /* Kept for a build made from this one (build_edit) with a build cache:
     * then only the edited documents' entries change. */
    if (!b->pc) search_in_free(si);
    return rc;
}

/* The search index needs only the loaded documents, so it is built on its
 * own thread while the pages render. */
static void *search_thread(void *arg)
{
    write_search(arg);
    search_outputs_done(arg);       /* (also when it kept the index or failed) */
    return NULL;
}

static void search_wait_outputs(build *b)
{
    pthread_mutex_lock(&b->search_mu);
    while (b->search_running && !b->search_out_done) pthread_cond_wait(&b->search_cv, &b->search_mu);
    pthread_mutex_unlock(&b->search_mu);
}

static void search_join(build *b)
{
    if (!b->search_running) return;
    pthread_join(b->search_tid, NULL);
    b->search_running = false;
}

static int write_stats(build *b)
{
    if (!b->st) return 0;
    value *by_district = value_map();
    value *by_slug = value_map();
    for (size_t i = 0; i < b->c.n; i++) {
        doc *dc = b->c.docs[i];
        value_set_str(by_slug, dc->slug, dc->url);
        for (size_t k = 0; k < value_len(dc->districts); k++) {
            const char *id = value_str_ptr(value_at(dc->districts, k));
            value *l = value_get(by_district, id);
            if (!l) { l = value_list(); value_set(by_district, id, l); }
            value_push(l, value_ref(summary(b, i)));
        }
    }
    int rc = stats_write(b->st, b->r, by_district, by_slug, b->d);
    value_unref(by_district);
    value_unref(by_slug);
    return rc;
}

/* ---- validation ---- */

static int validate(build *b)
{
    int rc = 0;
    /* Districts named in front matter must exist in the snapshot. */
    if (b->st)
        for (size_t i = 0; i < b->c.n; i++) {
            doc *dc = b->c.docs[i];
            for (size_t k = 0; k < value_len(dc->districts); k++) {
                const char *id = value_str_ptr(value_at(dc->districts, k));
                if (!stats_has_district(b->st, id)) {
                    doc_unpack(dc);
                    diag_error(b->d, dc->source, (int)value_int_of(value_get(dc->fm_lines, "districts")),
                               "unknown district '%s' (not in the stats snapshot)", id);
                    rc = -1;
                }
            }
        }
    if (check_attachments(b, 0) < 0) rc = -1;
    /* Every template the build will use must exist and compile. */
    static const char *base[] = {"layout", "doc", "list", "terms", "home", "404", "releases", "search"};
    for (size_t i = 0; i < sizeof base / sizeof *base; i++)
        if (renderer_check(b->r, base[i]) < 0) rc = -1;
    if (b->st) {
        static const char *st[] = {"stats", "stats-refunds", "lookup", "districts", "district"};
        for (size_t i = 0; i < sizeof st / sizeof *st; i++)
            if (renderer_check(b->r, st[i]) < 0) rc = -1;
    }
    for (size_t i = 0; i < b->c.n; i++) {
        doc *dc = b->c.docs[i];
        const char *t = doc_template(dc);
        if (strcmp(t, "doc") && !renderer_has(b->r, t)) {
            doc_unpack(dc);
            diag_error(b->d, dc->source, (int)value_int_of(value_get(dc->fm_lines, "layout")),
                       "unknown template '%s' (no templates/%s.mustache)", t, t);
            rc = -1;
        }
    }
    return rc;
}

/* ---- entry points ---- */

/* ---- the build cache ---- */

/* Hash every file under dir, names and bytes, in name order. */
static void encode_tree(buf *k, const char *dir, int depth)
{
    DIR *dh = depth < 8 ? opendir(dir) : NULL;
    if (!dh) return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) names = xrealloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
        names[n++] = xstrdup(e->d_name);
    }
    closedir(dh);
    if (n > 1) qsort(names, n, sizeof *names, str_cmp_ptr);
    for (size_t i = 0; i < n; i++) {
        char *p = path_join(dir, names[i]);
        char *data;
        size_t len;
        fp_encode_str(k, names[i]);
        if (is_dir(p)) {
            buf_putc(k, '{');
            encode_tree(k, p, depth + 1);
            buf_putc(k, '}');
        } else if (read_file(p, &data, &len) == 0) {
            fp128 f = fp_bytes(data, len);
            buf_printf(k, "%016llx%016llx", (unsigned long long)f.hi, (unsigned long long)f.lo);
            free(data);
        }
        free(p);
        free(names[i]);
    }
    free(names);
}

/* What every page depends on besides its own context: this gazette, the
 * built-in theme, templates/, and the site settings. */
static void make_global_key(build *b)
{
    fp128 self = fp_self();
    /* The search index reads the documents alone (search.h): their
     * entries depend on what a load reads (content.settings: the binary
     * and the Markdown settings), not on the templates or the rest of
     * site.yaml. An edit of those keeps the index, instead of taking in
     * every document's text again (rendered again where the Markdown
     * cache holds no text, see mdcache_put). */
    snprintf(b->search_global, sizeof b->search_global, "%016llx%016llx",
             (unsigned long long)b->c.settings.hi, (unsigned long long)b->c.settings.lo);
    buf_printf(&b->global, "gazette pages 1 %016llx%016llx", (unsigned long long)self.hi,
               (unsigned long long)self.lo);
    for (const theme_file *t = theme_files; t->name; t++) {
        fp_encode_str(&b->global, t->name);
        fp128 f = fp_bytes(t->data, t->len);
        buf_printf(&b->global, "%016llx%016llx", (unsigned long long)f.hi, (unsigned long long)f.lo);
    }
    if (b->o->templates_dir) {
        buf_putc(&b->global, 'T');
        encode_tree(&b->global, b->o->templates_dir, 0);
    }
    fp_encode_value(&b->global, b->site);
    /* Keep the key short: every page's fingerprint starts with it. */
    fp128 f = fp_bytes(b->global.ptr, b->global.len);
    buf_clear(&b->global);
    buf_printf(&b->global, "%016llx%016llx", (unsigned long long)f.hi, (unsigned long long)f.lo);
}

/* p made absolute with links resolved, also when p (or some of its
 * parents) does not exist yet: the nearest existing ancestor is resolved
 * and the rest appended. NULL when nothing resolves. */
static char *resolve(const char *p)
{
    char *head = xstrdup(*p ? p : ".");
    size_t n = strlen(head);
    for (;;) {
        char *r = realpath(head, NULL);
        if (r) {
            const char *rest = p + n;
            while (*rest == '/') rest++;
            char *out = *rest ? xasprintf("%s/%s", r, rest) : xstrdup(r);
            free(r);
            free(head);
            return out;
        }
        char *slash = strrchr(head, '/');
        if (!slash) {                       /* relative: the rest hangs off "." */
            r = realpath(".", NULL);
            char *out = r ? xasprintf("%s/%s", r, p) : NULL;
            free(r);
            free(head);
            return out;
        }
        if (slash == head) { free(head); return NULL; }
        *slash = 0;
        n = (size_t)(slash - head);
    }
}

/* The build cache's file PREFIX<hex>SUFFIX for this output directory:
 * pages-, out- and search- files share the hex (of the directory's
 * resolved path), so that the pages record's pruning (cache.c) removes
 * all three once the directory is gone. */
static char *out_cache_file(const build_opts *o, const char *prefix, const char *suffix)
{
    char *real = resolve(o->out_dir);
    const char *key = real ? real : o->out_dir;
    char *name = xasprintf("%s%016llx%s", prefix, (unsigned long long)fp_bytes(key, strlen(key)).lo, suffix);
    char *path = path_join(o->cache_dir, name);
    free(name);
    free(real);
    return path;
}

/* The build cache must not live in the output directory: the sweep would
 * delete it and a release would publish it. */
static int check_cache_dir(const build_opts *o, diag *d)
{
    char *c = resolve(o->cache_dir), *out = resolve(o->out_dir);
    int bad = c && out && (!strcmp(c, out) || (str_starts(c, out) && c[strlen(out)] == '/'));
    if (bad)
        diag_error(d, o->cache_dir, 0, "the build cache cannot be inside the output directory %s "
                                       "(it would be swept and published); give --cache a directory outside it",
                   o->out_dir);
    free(c);
    free(out);
    return bad ? -1 : 0;
}

/* pages-<fingerprint of the output directory's real path>.cache; at is
 * where the output tree is now (out_root: a missing output directory is
 * built beside it, output.h). */
static pagecache *open_pages(const build_opts *o, const char *at)
{
    char *real = resolve(o->out_dir);       /* (also when not in place yet) */
    char *path = out_cache_file(o, "pages-", ".cache");
    pagecache *pc = pagecache_open(path, at, real);
    if (o->trust_out) pagecache_trust(pc);
    free(path);
    free(real);
    return pc;
}

/* Is p one of the search index's files (search.h: the index writes or
 * keeps every one of its files in each build it makes)? */
static bool search_file(const char *p)
{
    return !strcmp(p, "search/meta.json") || str_starts(p, "search/idx/") || str_starts(p, "search/docs/");
}

/* Noting the files a build left: the build, and the files it wrote
 * (sorted) for telling the search index's written files from its kept
 * ones. */
typedef struct { build *b; char **written; size_t n; } noting;

/* A search index file, in its group with the index's fingerprint: as
 * written, or (a patch rewrites a few of the ~1,800) as kept, whose
 * record's stat stands when the records are trusted: no stat at save. */
static void note_search(const noting *nt, const char *p)
{
    build *b = nt->b;
    if (nt->n && bsearch(&p, nt->written, nt->n, sizeof *nt->written, str_cmp_ptr))
        pagecache_note_in(b->pc, GROUP_SEARCH, p, b->search_fp);
    else
        pagecache_note_kept(b->pc, GROUP_SEARCH, p, b->search_fp);
}

/* A file this build left, recorded: a search index file it wrote, or any
 * other file not noted yet (assets, feed, stats data...), so that the
 * records name every file (build_left_as_is). */
static void note_file(const char *p, void *ud)
{
    const noting *nt = ud;
    if (nt->b->search_written && search_file(p)) note_search(nt, p);
    else pagecache_note_other(nt->b->pc, p);
}

/* Record the files the build left that its pages did not note: one pass
 * over the output, after out_finish (out_changed is sorted then). */
static void note_files(build *b)
{
    noting nt = {b, NULL, 0};
    out_changed(b->out, &nt.written, &nt.n);
    out_each(b->out, note_file, &nt);
}

/* The output directory's scan, on its own thread (see build_site). */
typedef struct scan_job {
    const build_opts *o;
    diag *d;
    outdir *out;
    pthread_t tid;
} scan_job;

/* With a build cache, the output tree's directories are recorded too, so
 * the next build reads only those that changed (output.h). */
static char *out_state_path(const build_opts *o)
{
    return o->cache_dir ? out_cache_file(o, "out-", ".state") : NULL;
}

/* n bytes at offset off of path (off < 0: from the end). */
static int read_part(const char *path, long off, void *out, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size >= n + (off < 0 ? 0 : (size_t)off)) {
        off_t at = off < 0 ? st.st_size - (off_t)n : (off_t)off;
        rc = pread(fd, out, n, at) == (ssize_t)n ? 0 : -1;
    }
    close(fd);
    return rc;
}

int build_records_id(const build_opts *o, char hex[33])
{
    *hex = 0;
    if (!o->cache_dir) return -1;
    /* Each file carries the checksum of all its bytes: the page records
     * their last 16 (cache.c), the output state its header (output.c).
     * Both are written whole and renamed into place. */
    char *pages = out_cache_file(o, "pages-", ".cache"), *state = out_state_path(o);
    unsigned char ids[16 + 32];
    int rc = read_part(pages, -1, ids, 16) == 0 && read_part(state, 0, ids + 16, 32) == 0 ? 0 : -1;
    free(pages);
    free(state);
    if (rc == 0) {
        fp128 id = fp_bytes(ids, sizeof ids);
        snprintf(hex, 33, "%016llx%016llx", (unsigned long long)id.hi, (unsigned long long)id.lo);
    }
    return rc;
}

int build_left_as_is(const build_opts *o, const char *const *paths, const bool *gone, size_t n)
{
    if (!o->cache_dir) return 0;
    char *real = realpath(o->out_dir, NULL);
    char *path = out_cache_file(o, "pages-", ".cache");
    pagecache *pc = pagecache_open(path, o->out_dir, real);
    int yes = pagecache_recorded(pc);
    for (size_t i = 0; i < n && yes; i++) {
        page_left l = pagecache_left(pc, paths[i]);
        yes = gone[i] ? l == PAGE_UNRECORDED : l == PAGE_LEFT;
    }
    pagecache_free(pc);
    free(path);
    free(real);
    return yes;
}

static void *scan_thread(void *arg)
{
    scan_job *sj = arg;
    char *state = out_state_path(sj->o);
    sj->out = out_scan_ex(sj->o->out_dir, state, sj->o->trust_out && sj->o->cache_dir, sj->d);
    free(state);
    return NULL;
}

/* The scanned output directory, ready to write into (b->out). */
static int out_join_scan(build *b)
{
    if (b->scan) {
        pthread_join(b->scan->tid, NULL);
        b->out = b->scan->out;
        b->scan = NULL;
        if (b->out && out_begin(b->out) < 0) return -1;
    } else {
        char *state = out_state_path(b->o);
        b->out = out_scan_ex(b->o->out_dir, state, b->o->trust_out && b->o->cache_dir, b->d);
        if (b->out && out_begin(b->out) < 0) { out_close(b->out); b->out = NULL; }
        free(state);
    }
    return b->out ? 0 : -1;
}

char *build_default_cache_dir(const char *content_dir)
{
    size_t n = strlen(content_dir);
    while (n > 1 && content_dir[n - 1] == '/') n--;         /* "content/" */
    size_t k = n;                                          /* start of the last name */
    while (k > 0 && content_dir[k - 1] != '/') k--;
    if (k == 0) return xstrdup(".gazette-cache");
    if (k == 1) return xstrdup("/.gazette-cache");
    return xasprintf("%.*s/.gazette-cache", (int)(k - 1), content_dir);
}

void build_opts_default(build_opts *o)
{
    memset(o, 0, sizeof *o);
    o->content_dir = "content";
    o->templates_dir = "templates";
    o->out_dir = "site";
}

/* ---- content kept between builds (build_keep, see build.h) ---- */

struct build_keep {
    bool full;                 /* c holds a good build's content */
    char *content_dir, *cache_dir;   /* what c was loaded for */
    bool drafts;
    bool exit_after;           /* the process ends after: keep c's memory */
    content c;
    diag *said;                /* the load's messages, said again by each user */
    /* The last good build whole, its content in it (full is then false),
     * for build_again; the history it published (a reference) and the
     * options it was made with besides the content's. */
    build *last;
    value *last_history;
    char *last_out, *last_templates;
    bool last_strict;
};

build_keep *build_keep_new(void)
{
    build_keep *k = xcalloc(1, sizeof *k);
    k->said = diag_new();
    return k;
}

bool build_keep_full(const build_keep *k) { return k && (k->full || k->last); }

/* Contents handed to build_keep_free with exit_after: reachable until exit
 * (as build_site keeps its builds, see there). */
typedef struct kept_content { content c; struct kept_content *next; } kept_content;
static kept_content *kept_contents;

/* Builds handed to build_keep_free with exit_after (as kept_contents). */
typedef struct kept_whole { build *b; struct kept_whole *next; } kept_whole;
static kept_whole *kept_wholes;

static void build_free_parts(build *b, diag *d);

/* The keep's last build, dropped: its content back into the keep (full)
 * when it can serve a later build's load, the rest freed (kept reachable
 * with exit_after). */
static void keep_unbuild(build_keep *k, diag *d)
{
    build *b = k->last;
    if (!b) return;
    k->last = NULL;
    value_unref(k->last_history);
    k->last_history = NULL;
    k->c = b->c;
    memset(&b->c, 0, sizeof b->c);
    k->full = true;
    if (k->exit_after) {
        kept_whole *e = xmalloc(sizeof *e);
        e->b = b;
        e->next = kept_wholes;
        kept_wholes = e;
    } else {
        build_free_parts(b, d);
        free(b);
    }
}

/* Empty the keep, as a failed build leaves it: its last build and its
 * content freed (kept reachable with exit_after), what a build does last
 * with its content (the Markdown cache's compaction) done. */
static void keep_drop(build_keep *k, diag *d)
{
    keep_unbuild(k, d);
    if (k->full) {
        mdcache_close(k->c.mc, d);
        k->c.mc = NULL;
        if (k->exit_after) {
            kept_content *e = xmalloc(sizeof *e);
            e->c = k->c;
            e->next = kept_contents;
            kept_contents = e;
        } else {
            content_free(&k->c);
        }
        memset(&k->c, 0, sizeof k->c);
        k->full = false;
    }
    diag_clear(k->said);
}

void build_keep_free(build_keep *k, diag *d)
{
    if (!k) return;
    keep_drop(k, d);
    free(k->last_out);
    free(k->last_templates);
    free(k->content_dir);
    free(k->cache_dir);
    diag_free(k->said);
    free(k);
}

static bool same_str(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

/* The keep this build uses or fills; NULL (none) when it holds the
 * content of other options. */
static build_keep *keep_for(const build_opts *o)
{
    build_keep *k = o->keep;
    if (!k || !k->full) return k;
    bool same = same_str(k->content_dir, o->content_dir) && same_str(k->cache_dir, o->cache_dir) &&
                k->drafts == o->drafts;
    return same ? k : NULL;
}

/* Copy the messages of from to the end of to, as they were said. diag.h
 * gives them back formatted only ("FILE:LINE:COL: warning: TEXT"), so
 * they are parsed back into their parts (a file name ending in ":N"
 * would sort differently; it reads the same). */
static void say_again(diag *to, diag *from)
{
    for (size_t i = 0; i < diag_total(from); i++) {
        const char *m = diag_message(from, i);
        diag_level lv = DIAG_WARNING;
        const char *text = NULL, *w = strstr(m, ": warning: "), *e = strstr(m, ": error: ");
        size_t flen = 0;
        if (str_starts(m, "warning: ")) text = m + 9;
        else if (str_starts(m, "error: ")) { lv = DIAG_ERROR; text = m + 7; }
        else if (w && (!e || w < e)) { flen = (size_t)(w - m); text = w + 11; }
        else if (e) { lv = DIAG_ERROR; flen = (size_t)(e - m); text = e + 9; }
        else { diag_add(to, lv, NULL, 0, 0, "%s", m); continue; }   /* not made by diag_add */
        int nums[2] = {0, 0}, nn = 0;
        while (flen && nn < 2) {         /* ":LINE" or ":LINE:COL" at the end */
            size_t k = flen;
            while (k && m[k - 1] >= '0' && m[k - 1] <= '9') k--;
            if (k == flen || k < 2 || m[k - 1] != ':' || flen - k > 9) break;
            nums[nn++] = atoi(m + k);
            flen = k - 1;
        }
        int line = nn == 2 ? nums[1] : nums[0], col = nn == 2 ? nums[0] : 0;
        char *file = flen ? xstrndup(m, flen) : NULL;
        diag_add(to, lv, file, line, col, "%s", text);
        free(file);
    }
}

/* With --strict, warnings are errors: one more saying so. */
static bool strict_fails(const build_opts *o, diag *d)
{
    if (!o->strict || diag_count(d, DIAG_WARNING) == 0) return false;
    diag_error(d, NULL, 0, "%zu warning(s), and --strict makes them fatal", diag_count(d, DIAG_WARNING));
    return true;
}

/* Load the content, or take it from the keep (which is then empty until
 * keep_content gives it back). */
static void load_content(build *b, build_keep *k)
{
    const build_opts *o = b->o;
    if (k && k->full) {
        b->c = k->c;
        memset(&k->c, 0, sizeof k->c);
        k->full = false;
        say_again(b->d, k->said);
        return;
    }
    if (!k) {
        content_load_cached(o->content_dir, o->drafts, o->threads, o->cache_dir, &b->c, b->d);
        return;
    }
    diag *ld = diag_new();
    content_load_cached(o->content_dir, o->drafts, o->threads, o->cache_dir, &b->c, ld);
    diag_clear(k->said);
    say_again(k->said, ld);
    diag_move(b->d, ld);
    diag_free(ld);
    free(k->content_dir);
    free(k->cache_dir);
    k->content_dir = o->content_dir ? xstrdup(o->content_dir) : NULL;
    k->cache_dir = o->cache_dir ? xstrdup(o->cache_dir) : NULL;
    k->drafts = o->drafts;
}

/* Can a later build use this build's content as it is now? A body held in
 * memory (no build cache) was freed once its page and the search index
 * had it (render_job, release_text); one in the build cache is read from
 * there by every build. */
static bool content_reusable(const build *b)
{
    if (b->o->check_only) return true;    /* nothing rendered */
    for (size_t i = 0; i < b->c.n; i++)
        if (!b->c.docs[i]->md_on_disk) return false;
    return true;
}

/* At the end of a build with a keep: the content of a good build goes
 * (back) into it, the Markdown cache still open; a failed build's is
 * freed with the build, leaving the keep empty. */
static void keep_content(build *b, build_keep *k, int rc)
{
    if (!k) return;
    if (rc != 0 || !content_reusable(b)) {
        diag_clear(k->said);
        return;
    }
    k->c = b->c;
    memset(&b->c, 0, sizeof b->c);
    k->full = true;
    k->exit_after = b->o->exit_after;
}

/* At the end of a good build that recorded its output, with a keep: the
 * whole build goes into it (moved out of *b), for build_again. */
static bool keep_build(build *b, build_keep *k, const build_result *res)
{
    const build_opts *o = b->o;
    if (!k || !res->out_recorded || !b->pc || o->check_only || !content_reusable(b)) return false;
    keep_unbuild(k, b->d);
    content_free(&k->c);               /* (empty: this build took it, or loaded its own) */
    k->full = false;
    k->last = xmalloc(sizeof *k->last);
    *k->last = *b;
    memset(b, 0, sizeof *b);
    k->last_history = o->history ? value_ref(o->history) : NULL;
    free(k->last_out);
    free(k->last_templates);
    k->last_out = o->out_dir ? xstrdup(o->out_dir) : NULL;
    k->last_templates = o->templates_dir ? xstrdup(o->templates_dir) : NULL;
    k->last_strict = o->strict;
    k->exit_after = o->exit_after;
    return true;
}

static void fill_result(build *b, build_result *res, double t0)
{
    res->ndocs = b->c.n;
    res->docs = b->o->no_result_docs ? NULL : xcalloc(b->c.n ? b->c.n : 1, sizeof(build_doc));
    if (res->docs) {
        /* The strings in one block (doc_text): 50k small allocations were
         * most of the end of a release's build. */
        size_t total = 1;
        for (size_t i = 0; i < b->c.n; i++) {
            const doc *dc = b->c.by_url[i];
            total += 2 * strlen(dc->url) + sizeof "index.html" + strlen(dc->title) + strlen(dc->source) +
                     strlen(dc->date) + 4;
        }
        char *p = res->doc_text = xmalloc(total);
        for (size_t i = 0; i < b->c.n; i++) {   /* sorted by URL, as content keeps them */
            const doc *dc = b->c.by_url[i];
            build_doc *bd = &res->docs[i];
            bd->url = p;
            p = stpcpy(p, dc->url) + 1;
            bd->path = p;
            p = stpcpy(stpcpy(p, dc->url + 1), "index.html") + 1;
            bd->title = p;
            p = stpcpy(p, dc->title) + 1;
            bd->source = p;
            p = stpcpy(p, dc->source) + 1;
            bd->date = p;
            p = stpcpy(p, dc->date) + 1;
        }
    }
    if (b->c.n) memcpy(res->newest_date, b->c.docs[0]->date, 11);
    for (size_t i = 0; i < b->c.n; i++)       /* newest date (docs are sorted by datetime) */
        if (strcmp(b->c.docs[i]->date, res->newest_date) > 0) memcpy(res->newest_date, b->c.docs[i]->date, 11);
    if (b->st) snprintf(res->snapshot_sha256, sizeof res->snapshot_sha256, "%s", stats_sha256(b->st));
    res->site = value_ref(b->site);
    res->seconds = clock_seconds(CLOCK_MONOTONIC) - t0;
}

/* Does the build cache describe the output as this build left it: its
 * page records stored (pages_rc 0) and the output state current? Then
 * res says so, with the records' fingerprint (build_records_id). */
static void record_result(const build_opts *o, build_result *res, int pages_rc, const out_stats *st)
{
    res->out_recorded = pages_rc == 0 && st->state_current && build_records_id(o, res->records_id) == 0;
}

/* The files counted, written and removed (after out_finish), into res. */
static void result_files(build *b, build_result *res, const out_stats *st)
{
    res->written = st->written;
    res->unchanged = st->unchanged;
    res->removed = st->removed;
    char **paths;
    size_t n;
    out_changed(b->out, &paths, &n);
    res->changed = xmalloc((n ? n : 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) res->changed[i] = xstrdup(paths[i]);
    res->nchanged = n;
    out_removed(b->out, &paths, &n);
    res->removed_paths = xmalloc((n ? n : 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) res->removed_paths[i] = xstrdup(paths[i]);
    res->nremoved = n;
}

/* ---- the same build again, with another history (build_again) ---- */

/* A kept build taken up for another round (build_again, build_edit):
 * this round's options, messages and clocks, none of the last round's
 * progress or threads; what the load and the snapshot said, said again. */
static void build_resume(build *b, const build_keep *k, const build_opts *o, diag *d, double t0)
{
    b->o = o;
    b->d = d;
    b->timing = getenv("GAZETTE_TIMING") != NULL;
    b->t_phase = t0;
    b->cpu_phase = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    b->skipped = b->done = 0;
    b->progress = 0;
    b->search_written = 0;
    b->search_running = false;
    b->search_out_done = false;
    b->scan = NULL;
    renderer_set_diag(b->r, d);
    say_again(d, k->said);
    say_again(d, b->stats_said);
}

/* The kept build's output as it left it taken on (out_again: its state
 * is current, as keep_build keeps only builds that recorded it), and its
 * page records as the ones to keep from. -1 when it cannot be (old is
 * not taken: the caller still owns it). */
static int build_reopen(build *b, outdir *old, diag *d)
{
    if (out_again(old, d) < 0) return -1;
    b->out = old;
    if (b->timing) fprintf(stderr, "gazette: output trusted as recorded\n");
    renderer_set_out(b->r, b->out);
    pagecache_again(b->pc);
    phase(b, "reopen");
    return 0;
}

/* May o be built by build_again from the keep's last build: the same
 * content, templates, output and cache, the output as that build left it
 * (trust_out), only the history differing? */
static bool can_again(const build_keep *k, const build_opts *o)
{
    return k->last && o->trust_out && !o->check_only && o->cache_dir && same_str(k->content_dir, o->content_dir) &&
           same_str(k->cache_dir, o->cache_dir) && k->drafts == o->drafts && same_str(k->last_out, o->out_dir) &&
           same_str(k->last_templates, o->templates_dir) && k->last_strict == o->strict &&
           !getenv("GAZETTE_TEST_NO_BUILD_AGAIN");
}

/* Do two values encode alike (fp_encode_value)? Strings are compared
 * as they are, anything else by its encoding. */
static bool same_value(const value *a, const value *b)
{
    if (a == b) return true;
    if (value_type(a) == V_STRING && value_type(b) == V_STRING)
        return value_str_len(a) == value_str_len(b) && !memcmp(value_str_ptr(a), value_str_ptr(b), value_str_len(a));
    buf *x = encode_buf();
    fp_encode_value(x, a);
    buf y = BUF_INIT;
    fp_encode_value(&y, b);
    bool same = x->len == y.len && !memcmp(x->ptr, y.ptr, y.len);
    buf_free(&y);
    return same;
}

/* Does the document at url have the same entries, as its page shows them
 * (encode_doc_history), in two histories' docs maps a and b? */
static bool same_doc_history(const value *a, const value *b, const char *url)
{
    const value *x = a ? value_get(a, url) : NULL, *y = b ? value_get(b, url) : NULL;
    if (value_len(x) != value_len(y)) return false;
    for (size_t n = 0; n < value_len(x); n++)
        for (size_t f = 0; f < sizeof HISTORY_KEEP / sizeof *HISTORY_KEEP; f++)
            if (!same_value(value_get(value_at(x, n), HISTORY_KEEP[f]), value_get(value_at(y, n), HISTORY_KEEP[f])))
                return false;
    return true;
}

/* The page records stored on a thread of their own while the output is
 * finished (out_finish), once every file the build leaves is noted: the
 * records do not read the output (a file noted without its stat, one
 * this build wrote, is not one out_finish removes). Returns out_finish's
 * result; *pages_rc gets pagecache_save's (-1 when out_finish failed
 * without a thread: not stored). */
typedef struct { pagecache *pc; diag *d; int rc; } pages_saver;

static void *save_pages(void *arg)
{
    pages_saver *ps = arg;
    ps->rc = pagecache_save(ps->pc, ps->d);
    return NULL;
}

static int finish_and_save(build *b, out_stats *st, int *pages_rc)
{
    pages_saver ps = {b->pc, b->d, -1};
    pthread_t tid;
    bool saving = b->o->threads != 1 && pthread_create(&tid, NULL, save_pages, &ps) == 0;
    int rc = out_finish(b->out, st);
    if (saving) pthread_join(tid, NULL);
    else if (rc == 0) save_pages(&ps);
    *pages_rc = ps.rc;
    return rc;
}

/* A file of the last build this one does not render again: kept, with
 * its record as it was. */
static void carry_file(const char *p, void *ud)
{
    build *b = ud;
    if (out_has(b->out, p)) return;                /* rendered again */
    if (out_keep(b->out, p) < 0) return;
    if (!pagecache_carry(b->pc, p)) pagecache_note_other_new(b->pc, p);   /* (stat'ed at save) */
}

static void render_again(size_t i, void *ud)
{
    build *b = ud;
    render_job(b->again[i], b);
}

/* A release builds its site as of the last release, then again with the
 * new release in the history (release.c). The second build is the first
 * with another history, and the history is read by two kinds of page
 * only (encode_doc_history): /releases/ and the pages of documents whose
 * entries it changes. So instead of making the model again and checking
 * every page, only those are rendered; every other file of the last build
 * is kept with its record. The content, templates and stats are the
 * last build's (one snapshot for the release, as build_keep's content
 * already was). The result is what build_site would give
 * (e2e:release compares the commits). */
static int build_again(build_keep *k, const build_opts *o, build_result *res, diag *d, double t0)
{
    build *b = k->last;
    value *h1 = k->last_history;
    k->last = NULL;
    k->last_history = NULL;
    size_t errors0 = diag_count(d, DIAG_ERROR);
    build_resume(b, k, o, d, t0);
    int rc = -1;
    outdir *old = b->out;
    b->out = NULL;
    if (diag_count(d, DIAG_ERROR) > errors0) goto done;
    if (strict_fails(o, d)) goto done;
    /* The pages that read the history, where it reads differently. */
    b->again = xmalloc((b->njobs ? b->njobs : 1) * sizeof *b->again);
    b->nagain = 0;
    value *rel = o->history ? value_get(o->history, "releases") : NULL;
    const value *docs1 = h1 ? value_get(h1, "docs") : NULL, *docs2 = o->history ? value_get(o->history, "docs") : NULL;
    for (size_t i = 0; i < b->njobs; i++) {
        job *j = &b->jobs[i];
        if (j->history) {
            value_set(j->ctx, "releases", rel ? value_ref(rel) : value_list());
            b->again[b->nagain++] = i;
        } else if (j->dc && !j->ctx && !j->list && !same_doc_history(docs1, docs2, j->dc->url)) {
            b->again[b->nagain++] = i;
        }
    }
    phase(b, "again");
    if (build_reopen(b, old, d) < 0) goto done;
    old = NULL;
    parallel_for(b->nagain, o->threads, render_again, b);
    out_each_existing(b->out, carry_file, b);
    phase(b, "render");
    if (diag_count(d, DIAG_ERROR) > errors0) goto done;
    out_stats st;
    int prc;
    if (finish_and_save(b, &st, &prc) < 0) goto done;
    record_result(o, res, prc, &st);
    if (b->timing)
        fprintf(stderr, "gazette: again: %zu of %zu pages rendered, the rest kept\n", b->nagain, b->njobs);
    phase(b, "sweep+cache");
    result_files(b, res, &st);
    fill_result(b, res, t0);
    rc = 0;
done:
    if (old) {                          /* not taken on (a failure) */
        out_close(b->out);
        b->out = old;
    }
    value_unref(h1);
    free(b->again);
    b->again = NULL;
    k->last = b;
    if (rc == 0 && res->out_recorded) {   /* kept for another round */
        k->last_history = o->history ? value_ref(o->history) : NULL;
        return rc;
    }
    if (rc != 0) keep_drop(k, d);      /* a failed build leaves its keep empty */
    else keep_unbuild(k, d);
    return rc;
}

/* ---- the last build with some documents edited (build_edit) ---- */

/* May o be built by build_edit from the keep's last build: the same
 * options, history and all, the output as that build left it? */
static bool can_edit(const build_keep *k, const build_opts *o)
{
    return k->last && o->content_changed && o->edited && o->trust_out && !o->check_only && o->cache_dir &&
           same_str(k->content_dir, o->content_dir) && same_str(k->cache_dir, o->cache_dir) &&
           k->drafts == o->drafts && same_str(k->last_out, o->out_dir) &&
           same_str(k->last_templates, o->templates_dir) && k->last_strict == o->strict &&
           k->last_history == o->history && !getenv("GAZETTE_TEST_NO_BUILD_EDIT");
}

/* Two lists (of strings, or of attachments' maps) alike? */
static bool same_list(const value *a, const value *b)
{
    if (!value_len(a) || !value_len(b)) return value_len(a) == value_len(b);
    return same_value(a, b);
}

/* Does document b, loaded again, read the same as a (the last build's,
 * its summary's fingerprint a_summ) on every page but its own? Its
 * summary (lists, home, feed, stats pages) holds its title, URL, dates,
 * section, slug, number, issuer, category and excerpt: so also its place
 * in both orders, and its neighbours' links to it. Its terms make the
 * taxonomy pages, its template and attachments its own page and the
 * files/ it brings. The search index reads its text too: made again. */
static bool same_place(const doc *a, const doc *b, fp128 a_summ)
{
    return a->draft == b->draft && same_str(a->layout, b->layout) && fp_eq(summary_fp(b), a_summ) &&
           same_list(a->tags, b->tags) && same_list(a->districts, b->districts) &&
           same_list(a->attachments, b->attachments);
}

/* Did the last load say anything about the file at path? Then its
 * messages are in the keep's said (said again by every build made from
 * it), and only a full load can tell whether the edit changed them. */
static bool said_of(const build_keep *k, const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < diag_total(k->said); i++) {
        const char *m = diag_message(k->said, i);
        if (!strncmp(m, path, n) && m[n] == ':') return true;
    }
    return false;
}

/* A file of the last build that this one neither rendered nor wrote:
 * kept with its record. The search index's files are the index's own
 * (it claims every file it still has): one it no longer has is swept. */
static void carry_edit_file(const char *p, void *ud)
{
    if (search_file(p)) return;
    carry_file(p, ud);
}

static void note_search_file(const char *p, void *ud)
{
    if (search_file(p)) note_search(ud, p);
}

/* The search index's files noted as note_files notes them, but once its
 * outputs are done and before out_finish (which sorts out_changed): with
 * the files written so far, sorted here. */
static void note_search_files(build *b)
{
    char **w;
    size_t n;
    out_changed(b->out, &w, &n);
    noting nt = {b, xmalloc((n ? n : 1) * sizeof *w), n};
    memcpy(nt.written, w, n * sizeof *w);
    if (n > 1) qsort(nt.written, n, sizeof *w, str_cmp_ptr);
    out_each(b->out, note_search_file, &nt);
    free(nt.written);
}

/* The keep's last build made again with the documents o->edited loaded
 * again, when each still sits where it sat (same_place): their pages
 * and the search index are made again, every other file is kept with its
 * record (as build_again keeps them). Returns 1 when it cannot be (the
 * keep is left as it was: the caller builds as usual), else what
 * build_site returns; the result is what build_site would give
 * (e2e:serve_edit compares). */
static int build_edit(build_keep *k, const build_opts *o, build_result *res, diag *d, double t0)
{
    build *b = k->last;
    size_t n = o->nedited;
    size_t *at = xmalloc((n ? n : 1) * sizeof *at);
    doc **fresh = xcalloc(n ? n : 1, sizeof *fresh);
    diag *ld = diag_new();
    size_t m = 0;
    bool ok = true;
    for (size_t e = 0; e < n && ok; e++) {
        const char *path = o->edited[e];
        size_t i = 0;
        while (i < b->c.n && strcmp(b->c.docs[i]->source, path)) i++;
        bool dup = false;
        for (size_t x = 0; x < m && !dup; x++) dup = at[x] == i;
        if (dup) continue;
        ok = i < b->c.n && !said_of(k, path);
        if (ok) fresh[m] = content_load_one(&b->c, path, ld);
        /* (a body the Markdown cache could not take would be gone once
         * its page and the index had it: content_reusable) */
        ok = ok && fresh[m] && diag_total(ld) == 0 && fresh[m]->md_on_disk &&
             same_place(b->c.docs[i], fresh[m], b->summ_fp[i]);
        if (fresh[m]) at[m++] = i;
    }
    diag_free(ld);
    if (!ok) {
        for (size_t x = 0; x < m; x++) doc_free(fresh[x]);
        free(fresh);
        free(at);
        return 1;
    }
    k->last = NULL;
    size_t errors0 = diag_count(d, DIAG_ERROR);
    build_resume(b, k, o, d, t0);
    pthread_mutex_init(&b->search_mu, NULL);
    pthread_cond_init(&b->search_cv, NULL);
    /* The documents swapped in, their pages to make. */
    b->again = xmalloc((m ? m : 1) * sizeof *b->again);
    b->nagain = 0;
    for (size_t x = 0; x < m; x++) {
        size_t i = at[x];
        doc *old = b->c.docs[i];
        b->c.docs[i] = fresh[x];
        for (size_t u = 0; u < b->c.n; u++)
            if (b->c.by_url[u] == old) { b->c.by_url[u] = fresh[x]; break; }
        value_unref(b->summ[i]);         /* made again from the new one if needed */
        b->summ[i] = NULL;
        for (size_t j = 0; j < b->njobs; j++)
            if (b->jobs[j].dc == old) { b->jobs[j].dc = fresh[x]; b->again[b->nagain++] = j; }
        doc_free(old);
    }
    free(fresh);
    free(b->sx.fresh);
    b->sx.fresh = at;                  /* their search entries, made again */
    b->sx.nfresh = m;
    int rc = -1;
    outdir *old = b->out;
    b->out = NULL;
    if (diag_count(d, DIAG_ERROR) > errors0) goto done;
    if (strict_fails(o, d)) goto done;
    phase(b, "edit");
    if (build_reopen(b, old, d) < 0) goto done;
    old = NULL;
    /* The index on its own thread while the pages render, as build_site. */
    b->search_running = o->threads != 1 && pthread_create(&b->search_tid, NULL, search_thread, b) == 0;
    if (!b->search_running) write_search(b);
    parallel_for(b->nagain, o->threads, render_again, b);
    /* (the index's files are its own: carried while it writes them) */
    out_each_existing(b->out, carry_edit_file, b);
    phase(b, "render");
    search_wait_outputs(b);
    phase(b, "search");
    if (diag_count(d, DIAG_ERROR) > errors0) goto done;
    /* Every file is claimed and written now: the records are complete
     * (the index's files noted here), and stored while out_finish sweeps
     * what the index no longer has and stores the output's state. */
    if (b->search_written) note_search_files(b);
    out_stats st;
    int prc, frc = finish_and_save(b, &st, &prc);
    phase(b, "sweep+cache");
    search_join(b);
    if (frc < 0 || diag_count(d, DIAG_ERROR) > errors0) goto done;
    record_result(o, res, prc, &st);
    if (b->timing)
        fprintf(stderr, "gazette: edit: %zu of %zu pages rendered, the search index patched, the rest kept\n",
                b->nagain, b->njobs);
    phase(b, "search state");
    result_files(b, res, &st);
    fill_result(b, res, t0);
    rc = 0;
done:
    search_join(b);
    pthread_cond_destroy(&b->search_cv);
    pthread_mutex_destroy(&b->search_mu);
    if (old) {                          /* not taken on (a failure) */
        out_close(b->out);
        b->out = old;
    }
    free(b->again);
    b->again = NULL;
    k->last = b;                       /* (its history is o's: can_edit) */
    if (rc == 0 && res->out_recorded) return rc;   /* kept for another round */
    keep_drop(k, d);                   /* its content is the edited one: of no use */
    return rc;
}

int build_site(const build_opts *o, build_result *res, diag *d)
{
    double t0 = clock_seconds(CLOCK_MONOTONIC);
    build_result scratch;
    if (!res) res = &scratch;
    memset(res, 0, sizeof *res);
    if (o->keep && can_edit(o->keep, o)) {
        int rc = build_edit(o->keep, o, res, d, t0);
        if (rc != 1) {
            if (res == &scratch) build_result_free(res);
            return rc;
        }
    }
    if (o->keep && o->content_changed) {
        keep_drop(o->keep, d);          /* stale */
    } else if (o->keep && o->keep->last) {
        if (can_again(o->keep, o)) {
            int rc = build_again(o->keep, o, res, d, t0);
            if (res == &scratch) build_result_free(res);
            return rc;
        }
        keep_unbuild(o->keep, d);       /* its content for this build */
    }
    build b = {.o = o, .d = d, .timing = getenv("GAZETTE_TIMING") != NULL, .t_phase = t0,
               .cpu_phase = clock_seconds(CLOCK_PROCESS_CPUTIME_ID)};
    int rc = -1;
    size_t errors0 = diag_count(d, DIAG_ERROR);

    if (o->cache_dir && check_cache_dir(o, d) < 0) return -1;   /* nothing made yet */
    pthread_mutex_init(&b.search_mu, NULL);
    pthread_cond_init(&b.search_cv, NULL);
    /* The output tree is read while the content loads (out_scan changes
     * nothing: whether the build writes is known only after validation). */
    scan_job sj = {.o = o, .d = d};
    bool scanning = !o->check_only && o->threads != 1 &&
                    pthread_create(&sj.tid, NULL, scan_thread, &sj) == 0;
    b.scan = scanning ? &sj : NULL;
    build_keep *keep = keep_for(o);
    load_content(&b, keep);
    phase(&b, "load");
    /* The snapshot's messages are kept too, for a build made from this
     * one (build_again, build_edit: the same snapshot) to say again. */
    b.stats_said = diag_new();
    diag *sd = diag_new();
    if (stats_load(o->content_dir, &b.st, sd) < 0) b.st = NULL;
    say_again(b.stats_said, sd);
    diag_move(d, sd);
    diag_free(sd);
    b.site = value_ref(b.c.site);
    value_set(b.site, "has_stats", value_bool(b.st != NULL));
    b.paginate = (size_t)value_int_of(value_get(b.site, "paginate"));
    b.r = renderer_new(o->templates_dir, NULL, b.site, d);
    validate(&b);
    phase(&b, "validate");
    if (diag_count(d, DIAG_ERROR) > errors0) goto done;
    if (strict_fails(o, d)) goto done;
    if (o->check_only) { fill_result(&b, res, t0); rc = 0; goto done; }

    /* Line numbers are for validation messages only; drop them before the
     * memory-hungry phases (unless a later build validates them again). */
    for (size_t i = 0; i < b.c.n && !keep; i++) {
        value_unref(b.c.docs[i]->fm_lines);
        b.c.docs[i]->fm_lines = NULL;
    }
    if (o->cache_dir) make_global_key(&b);
    if (out_join_scan(&b) < 0) goto done;
    if (b.timing && o->trust_out) fprintf(stderr, "gazette: output trusted as recorded\n");
    phase(&b, "scan");
    renderer_set_out(b.r, b.out);
    if (o->cache_dir) {
        b.pc = open_pages(o, out_root(b.out));      /* after out_begin: the tree exists */
        phase(&b, "cache open");
    }
    /* The search index needs the documents, the output and the page
     * cache, not the model: it starts first, and the model is made while
     * it runs (in a full build the index's thread is the last to end). */
    b.search_running = o->threads != 1 && pthread_create(&b.search_tid, NULL, search_thread, &b) == 0;
    if (!b.search_running) write_search(&b);
    make_model(&b);
    if (o->cache_dir) fingerprint_summaries(&b);
    make_jobs(&b);
    phase(&b, "model");
    b.progress = !o->quiet && isatty(2) && b.njobs >= 2000;
    parallel_for(b.njobs, o->threads, render_job, &b);
    if (b.progress) fprintf(stderr, "\r%60s\r", "");
    if (b.timing) {
        size_t items, hits;
        renderer_memo_counts(b.r, &items, &hits);
        fprintf(stderr, "gazette: templates: %zu list items remembered, %zu renders copied\n", items, hits);
    }
    phase(&b, "render");
    write_stats(&b);
    check_attachments(&b, 1);
    write_assets(&b);
    phase(&b, "stats");
    /* While the index's thread may still be writing its files (none of
     * them a page): in a full build it often ends after the pages. */
    write_feed(&b);
    write_robots(&b);
    write_sitemap(&b);           /* last: it lists every page written */
    phase(&b, "feeds");
    /* The index's files, not yet its state (stored while the build ends:
     * a second at 100k documents). */
    search_wait_outputs(&b);
    phase(&b, "search");
    if (diag_count(d, DIAG_ERROR) > errors0) goto done;
    out_stats st;
    if (out_finish(b.out, &st) < 0) goto done;
    phase(&b, "sweep");
    /* Every error is known (the index's outputs are done: what is left of
     * it, storing its state, only warns), so the records are stored while
     * the index's state is (at 100k documents its tail is ~0.4 s). */
    if (diag_count(d, DIAG_ERROR) > errors0) goto done;
    if (b.pc) {
        /* Only a good build's pages are trusted next time. */
        note_files(&b);
        record_result(o, res, pagecache_save(b.pc, d), &st);
        if (b.timing)
            fprintf(stderr, "gazette: cache: %zu of %zu pages kept, %zu of %zu bodies from the cache\n",
                    b.skipped, b.njobs, b.c.md_hits, b.c.md_hits + b.c.md_misses);
        phase(&b, "cache");
    }
    search_join(&b);
    phase(&b, "search state");
    result_files(&b, res, &st);
    fill_result(&b, res, t0);
    rc = 0;
done:
    search_join(&b);
    if (rc != 0) {                     /* (a tree built unseen is removed) */
        out_close(b.out);
        b.out = NULL;
    }
    pthread_cond_destroy(&b.search_cv);
    pthread_mutex_destroy(&b.search_mu);
    if (b.scan) {                      /* the build stopped before using it */
        pthread_join(b.scan->tid, NULL);
        out_close(b.scan->out);
    }
    if (rc == 0 && keep_build(&b, keep, res)) {   /* b is in the keep now */
        if (res == &scratch) build_result_free(res);
        return rc;
    }
    keep_content(&b, keep, rc);        /* b.c is empty if kept */
    if (o->exit_after) {
        /* Only what is not memory: the Markdown cache's compaction. */
        mdcache_close(b.c.mc, d);
        b.c.mc = NULL;
        /* Reachable until exit, every build's (a release makes two). */
        typedef struct kept_build { build b; struct kept_build *next; } kept_build;
        static kept_build *kept;
        kept_build *k = xmalloc(sizeof *k);
        k->b = b;
        k->next = kept;
        kept = k;
        if (res == &scratch) build_result_free(res);
        phase(&b, "exit");
        return rc;
    }
    build_free_parts(&b, d);
    content_free(&b.c);
    if (res == &scratch) build_result_free(res);
    phase(&b, "free");
    return rc;
}

/* Everything a build holds but its content's memory (its Markdown cache
 * is closed, compacted as needed, warnings to d). b->nsumm summaries. */
static void build_free_parts(build *b, diag *d)
{
    for (size_t i = 0; i < b->njobs; i++) { free(b->jobs[i].relpath); value_unref(b->jobs[i].ctx); }
    free(b->jobs);
    for (size_t i = 0; i < b->nlists; i++) list_spec_free(b->lists[i]);
    free(b->lists);
    if (b->summ) for (size_t i = 0; i < b->nsumm; i++) value_unref(b->summ[i]);
    free(b->summ);
    free(b->summ_fp);
    for (int s = 0; s < 2; s++) free(b->sections[s].v);
    for (int t = 0; t < NTAX; t++) tax_free(&b->tax[t]);
    free(b->dterm);
    free(b->dterm_at);
    renderer_free(b->r);
    mdcache_close(b->c.mc, d);
    b->c.mc = NULL;
    pagecache_free(b->pc);
    search_in_free(&b->sx);
    buf_free(&b->global);
    out_close(b->out);
    stats_free(b->st);
    diag_free(b->stats_said);
    value_unref(b->site);
}

void build_result_free(build_result *res)
{
    for (size_t i = 0; res->docs && !res->doc_text && i < res->ndocs; i++) {
        free(res->docs[i].url); free(res->docs[i].path); free(res->docs[i].title);
        free(res->docs[i].source); free(res->docs[i].date);
    }
    free(res->docs);
    free(res->doc_text);
    for (size_t i = 0; i < res->nchanged; i++) free(res->changed[i]);
    free(res->changed);
    for (size_t i = 0; i < res->nremoved; i++) free(res->removed_paths[i]);
    free(res->removed_paths);
    value_unref(res->site);
    memset(res, 0, sizeof *res);
}
