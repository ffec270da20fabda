/* Unit tests for the Mustache engine (mustache.c). The spec itself is
 * covered by tests/spec/mustache_spec.c; these test what the spec does not:
 * error reporting, strict mode, recursion limits, value trees built in C,
 * layouts, the loader and concurrent rendering. */
#include "diag.h"
#include "mustache.h"
#include "test.h"
#include "util.h"
#include "value.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first (sorted) diagnostic, or "" if none. */
static const char *first_msg(diag *d)
{
    diag_sort(d);
    return diag_total(d) ? diag_message(d, 0) : "";
}

static int add(mustache_set *s, const char *name, const char *src, const char *path, diag *d)
{
    return mustache_add(s, name, src, strlen(src), path, d);
}

/* Compile `src` as "t.mustache" in a fresh set; return the first error. */
static char *compile_error(const char *src)
{
    diag *d = diag_new();
    mustache_set *s = mustache_set_new(NULL, NULL);
    int rc = mustache_add(s, "t", src, strlen(src), "t.mustache", d);
    char *msg = xstrdup(rc == 0 ? "(compiled)" : first_msg(d));
    mustache_set_free(s);
    diag_free(d);
    return msg;
}

/* Render template `name` of s; returns the output (caller frees) or NULL. */
static char *render(mustache_set *s, const char *name, const value *ctx, diag *d)
{
    const mustache_tpl *t = mustache_get(s, name, d);
    if (!t) return NULL;
    buf out = BUF_INIT;
    if (mustache_render(s, t, ctx, &out, d) != 0) {
        buf_free(&out);
        return NULL;
    }
    return buf_detach(&out);
}

/* Render a one-off template with partials given as name, source pairs. */
static char *render_src(const char *src, const value *ctx, const char *const *partials)
{
    diag *d = diag_new();
    mustache_set *s = mustache_set_new(NULL, NULL);
    for (size_t i = 0; partials && partials[i]; i += 2)
        mustache_add(s, partials[i], partials[i + 1], strlen(partials[i + 1]), NULL, d);
    mustache_add(s, "main", src, strlen(src), NULL, d);
    char *out = render(s, "main", ctx, d);
    if (diag_total(d)) {
        free(out);
        out = xstrdup(first_msg(d));
    }
    mustache_set_free(s);
    diag_free(d);
    return out ? out : xstrdup("(null)");
}

#define CHECK_ERR(src, want) do { char *m_ = compile_error(src); CHECK_STR(m_, want); free(m_); } while (0)
#define CHECK_RENDER(src, ctx, parts, want) do { \
    char *o_ = render_src(src, ctx, parts); CHECK_STR(o_, want); free(o_); } while (0)

TEST(error_unclosed_tag)
{
    CHECK_ERR("line one\n  {{name", "t.mustache:2:3: error: unclosed tag: no \"}}\" after \"{{\"");
    CHECK_ERR("{{{name}}", "t.mustache:1:1: error: unclosed tag: no \"}}\" after \"{{\"");
    CHECK_ERR("{{=<% %>=}}\n<%x}}", "t.mustache:2:1: error: unclosed tag: no \"%>\" after \"<%\"");
    /* Columns count characters, not bytes. */
    CHECK_ERR("通知：{{#a}}", "t.mustache:1:4: error: unclosed section {{#a}}");
}

TEST(error_sections)
{
    CHECK_ERR("a\n{{#list}}\n{{name}}\n", "t.mustache:2:1: error: unclosed section {{#list}}");
    CHECK_ERR("{{#a}}{{^b}}x{{/a}}{{/b}}",
              "t.mustache:1:14: error: closing tag {{/a}} does not match {{^b}} opened at 1:7");
    CHECK_ERR("x\n  {{/a}}", "t.mustache:2:3: error: closing tag {{/a}} without an open section");
    CHECK_ERR("{{<layout}}{{$main}}x{{/layout}}",
              "t.mustache:1:22: error: closing tag {{/layout}} does not match {{$main}} opened at 1:12");
    CHECK_ERR("{{<layout}}", "t.mustache:1:1: error: unclosed section {{<layout}}");
    buf deep = BUF_INIT;
    for (int i = 0; i < MUSTACHE_MAX_NESTING + 1; i++) buf_puts(&deep, "{{#a}}");
    char *m = compile_error(deep.ptr);
    CHECK_STR(m, "t.mustache:1:601: error: sections nested more than 100 deep");
    free(m);
    buf_free(&deep);
}

TEST(error_delimiters_and_names)
{
    CHECK_ERR("{{=<%=}}", "t.mustache:1:1: error: bad delimiter change \"{{=<%=}}\": want two "
              "delimiters without '=' separated by a space, like {{=<% %>=}}");
    CHECK_ERR("ok\n{{= a b c =}}", "t.mustache:2:1: error: bad delimiter change \"{{= a b c =}}\": "
              "want two delimiters without '=' separated by a space, like {{=<% %>=}}");
    CHECK_ERR("a {{=x}}", "t.mustache:1:3: error: bad delimiter change \"{{=x}}\": want two "
              "delimiters without '=' separated by a space, like {{=<% %>=}}");
    CHECK_ERR("{{}}", "t.mustache:1:1: error: empty tag name");
    CHECK_ERR("{{a..b}}", "t.mustache:1:1: error: invalid tag name \"a..b\"");
    CHECK_ERR("{{#a b}}{{/a b}}", "t.mustache:1:1: error: invalid tag name \"a b\"");
    /* Several errors are all reported. */
    diag *d = diag_new();
    mustache_set *s = mustache_set_new(NULL, NULL);
    CHECK(add(s, "t", "{{}} {{a.}}", "t.mustache", d) < 0);
    CHECK(diag_count(d, DIAG_ERROR) == 2);
    CHECK(mustache_get(s, "t", d) == NULL);   /* not registered */
    mustache_set_free(s);
    diag_free(d);
}

TEST(error_duplicate_template)
{
    diag *d = diag_new();
    mustache_set *s = mustache_set_new(NULL, NULL);
    CHECK(add(s, "a", "x", "a.mustache", d) == 0);
    CHECK(add(s, "a", "y", "a2.mustache", d) < 0);
    CHECK_STR(first_msg(d), "a2.mustache: error: template \"a\" is already defined");
    mustache_set_free(s);
    diag_free(d);
}

/* A loader over a fixed table: {name, source, ...}. */
static const char *const *loader_table;
static int loads;

static int table_loader(void *ud, const char *name, char **src, size_t *len, char **path)
{
    (void)ud;
    for (size_t i = 0; loader_table[i]; i += 2)
        if (strcmp(loader_table[i], name) == 0) {
            *src = xstrdup(loader_table[i + 1]);
            *len = strlen(*src);
            *path = xasprintf("templates/%s.mustache", name);
            __atomic_add_fetch(&loads, 1, __ATOMIC_RELAXED);
            return 0;
        }
    return 1;
}

TEST(strict_unknown_partial)
{
    static const char *const table[] = {
        "page", "<h1>{{title}}</h1>\n{{>header}}\n{{>missing}}\n", "header", "[head]", NULL};
    loader_table = table;
    diag *d = diag_new();
    /* Spec mode: a missing partial renders as nothing. */
    mustache_set *s = mustache_set_new(table_loader, NULL);
    value *ctx = value_map();
    value_set_str(ctx, "title", "标题");
    char *out = render(s, "page", ctx, d);
    CHECK_STR(out, "<h1>标题</h1>\n[head]");
    CHECK(diag_total(d) == 0);
    free(out);
    mustache_set_free(s);
    /* Strict: an error at the tag, when the template is first fetched. */
    s = mustache_set_new(table_loader, NULL);
    mustache_set_strict(s, true);
    CHECK(mustache_get(s, "page", d) == NULL);
    CHECK_STR(first_msg(d), "templates/page.mustache:3:1: error: unknown partial \"missing\"");
    diag_clear(d);
    CHECK(mustache_get(s, "nope", d) == NULL);
    CHECK_STR(first_msg(d), "error: unknown template \"nope\"");
    diag_clear(d);
    /* Once the partial exists the template links. */
    CHECK(add(s, "missing", "!", NULL, d) == 0);
    out = render(s, "page", ctx, d);
    CHECK_STR(out, "<h1>标题</h1>\n[head]!");
    free(out);
    mustache_set_free(s);
    /* Strict parents too, and dynamic names naming a missing template. */
    s = mustache_set_new(table_loader, NULL);
    mustache_set_strict(s, true);
    const char *child = "x\n{{<nolayout}}{{/nolayout}}";
    add(s, "child", child, "child.mustache", d);
    CHECK(mustache_get(s, "child", d) == NULL);
    CHECK_STR(first_msg(d), "child.mustache:2:1: error: unknown parent template \"nolayout\"");
    diag_clear(d);
    add(s, "dyn", "a {{>*which}}", "dyn.mustache", d);
    value_set_str(ctx, "which", "ghost");
    CHECK(render(s, "dyn", ctx, d) == NULL);
    CHECK_STR(first_msg(d), "dyn.mustache:1:3: error: unknown partial \"ghost\"");
    diag_clear(d);
    value_set_str(ctx, "which", "header");
    out = render(s, "dyn", ctx, d);
    CHECK_STR(out, "a [head]");
    free(out);
    mustache_set_free(s);
    value_unref(ctx);
    diag_free(d);
}

TEST(partial_with_errors_reports_its_file)
{
    static const char *const table[] = {"page", "{{>bad}}", "bad", "ok\n{{#x}}", NULL};
    loader_table = table;
    diag *d = diag_new();
    mustache_set *s = mustache_set_new(table_loader, NULL);
    CHECK(mustache_get(s, "page", d) == NULL);
    CHECK_STR(first_msg(d), "templates/bad.mustache:2:1: error: unclosed section {{#x}}");
    mustache_set_free(s);
    diag_free(d);
}

TEST(recursion_limit)
{
    diag *d = diag_new();
    mustache_set *s = mustache_set_new(NULL, NULL);
    add(s, "loop", "x{{>loop}}", "loop.mustache", d);
    value *ctx = value_map();
    CHECK(render(s, "loop", ctx, d) == NULL);
    CHECK_STR(first_msg(d),
              "loop.mustache:1:2: error: partial \"loop\" nested more than 200 deep (runaway recursion?)");
    diag_clear(d);
    /* Mutual recursion through a parent and a dynamic name. */
    add(s, "a", "{{<b}}{{/b}}", "a.mustache", d);
    add(s, "b", "{{>*next}}", "b.mustache", d);
    value_set_str(ctx, "next", "a");
    CHECK(render(s, "a", ctx, d) == NULL);
    CHECK(diag_count(d, DIAG_ERROR) == 1);
    diag_clear(d);
    /* Sections around the recursion: the total nesting limit trips first. */
    buf deep = BUF_INIT;
    for (int i = 0; i < 30; i++) buf_puts(&deep, "{{#a}}");
    buf_puts(&deep, "{{>sec}}");
    for (int i = 0; i < 30; i++) buf_puts(&deep, "{{/a}}");
    add(s, "sec", deep.ptr, "sec.mustache", d);
    buf_free(&deep);
    value_set(ctx, "a", value_bool(true));
    CHECK(render(s, "sec", ctx, d) == NULL);
    CHECK_STR(first_msg(d), "sec.mustache:1:97: error: templates nested more than 2000 deep while rendering");
    diag_clear(d);
    /* Legitimate recursion bounded by the data is fine. */
    add(s, "tree", "{{name}}({{#kids}}{{>tree}}{{/kids}})", NULL, d);
    value *root = value_map(), *cur = root;
    for (int i = 0; i < 150; i++) {
        value_set(cur, "name", value_int(i));
        value *kids = value_list();
        value_set(cur, "kids", kids);
        if (i == 149) break;
        value *kid = value_map();
        value_push(kids, kid);
        cur = kid;
    }
    char *out = render(s, "tree", root, d);
    CHECK(out && str_starts(out, "0(1(2(") && strstr(out, "148(149())))") && str_ends(out, ")))"));
    CHECK(diag_total(d) == 0);
    free(out);
    value_unref(root);
    value_unref(ctx);
    mustache_set_free(s);
    diag_free(d);
}

TEST(render_value_trees)
{
    value *ctx = value_map();
    value_set_str(ctx, "title", "工会 <通知> & \"报告\"");
    value_set(ctx, "count", value_int(-42));
    value_set(ctx, "ratio", value_double(0.125));
    value_set(ctx, "big", value_double(1e21));
    value_set(ctx, "yes", value_bool(true));
    value_set(ctx, "empty", value_str(""));
    value_set(ctx, "zero", value_int(0));
    value *site = value_map();
    value_set_str(site, "name", "大连市总工会");
    value *meta = value_map();
    value_set_str(meta, "lang", "zh-CN");
    value_set(site, "meta", meta);
    value_set(ctx, "site", site);
    value *docs = value_list();
    for (int i = 1; i <= 3; i++) {
        value *doc = value_map();
        value_set(doc, "n", value_int(i));
        value_set(doc, "title", value_strf("文件%d", i));
        value *tags = value_list();
        if (i == 2) {
            value_push(tags, value_str("经费"));
            value_push(tags, value_str("a&b"));
        }
        value_set(doc, "tags", tags);
        value_push(docs, doc);
    }
    value_set(ctx, "docs", docs);

    CHECK_RENDER("{{title}}|{{{title}}}|{{&title}}", ctx, NULL,
                 "工会 &lt;通知&gt; &amp; &quot;报告&quot;|工会 <通知> & \"报告\"|工会 <通知> & \"报告\"");
    CHECK_RENDER("{{count}} {{ratio}} {{big}} {{yes}} [{{missing}}] [{{site}}]", ctx, NULL,
                 "-42 0.125 1e+21 true [] []");
    CHECK_RENDER("{{site.name}} {{site.meta.lang}} [{{site.meta.nope.x}}] [{{title.x}}]", ctx, NULL,
                 "大连市总工会 zh-CN [] []");
    CHECK_RENDER("{{#site.meta}}{{lang}}/{{site.name}}{{/site.meta}}", ctx, NULL,
                 "zh-CN/大连市总工会");
    CHECK_RENDER("<ul>\n{{#docs}}\n  <li>{{n}}. {{title}}{{#tags}} #{{.}}{{/tags}}"
                 "{{^tags}} (none){{/tags}}</li>\n{{/docs}}\n</ul>\n", ctx, NULL,
                 "<ul>\n  <li>1. 文件1 (none)</li>\n  <li>2. 文件2 #经费 #a&amp;b</li>\n"
                 "  <li>3. 文件3 (none)</li>\n</ul>\n");
    /* Truthiness: "" is falsey (value_truthy), 0 is truthy. */
    CHECK_RENDER("{{#empty}}E{{/empty}}{{^empty}}e{{/empty}}{{#zero}}Z{{/zero}}{{#yes}}Y{{/yes}}",
                 ctx, NULL, "eZY");
    /* A non-map root: implicit iterator and dotted names on it. */
    CHECK_RENDER("{{#.}}<{{.}}>{{/.}}", docs, NULL, "<><><>");   /* maps render as nothing */
    value *strs = value_list();
    value_push(strs, value_str("x"));
    value_push(strs, value_int(7));
    CHECK_RENDER("{{#.}}<{{.}}>{{/.}}", strs, NULL, "<x><7>");
    value_unref(strs);
    CHECK_RENDER("[{{x}}]", NULL, NULL, "[]");
    value_unref(ctx);
}

TEST(partial_indentation)
{
    static const char *const parts[] = {
        "list", "<ul>\n{{#items}}\n  <li>{{.}}</li>\n{{/items}}\n</ul>\n",
        "box", "<div>\n  {{>list}}\n</div>\n",
        NULL};
    value *ctx = value_map();
    value *items = value_list();
    value_push(items, value_str("a\nb"));   /* data newlines are not indented */
    value_push(items, value_str("c"));
    value_set(ctx, "items", items);
    CHECK_RENDER("<body>\n    {{>box}}\n</body>\n", ctx, parts,
                 "<body>\n    <div>\n      <ul>\n        <li>a\nb</li>\n        <li>c</li>\n"
                 "      </ul>\n    </div>\n</body>\n");
    /* A line holding only non-variable tags is standalone; only its first
     * tag takes the indentation (as in mustache.js). */
    static const char *const li[] = {"li", "<li>{{.}}</li>", NULL};
    CHECK_RENDER("<ul>\n  {{#items}}{{>li}}{{/items}}\n</ul>", ctx, li,
                 "<ul>\n<li>a\nb</li><li>c</li></ul>");
    /* As if each source line of the partial were indented: the indentation
     * of "{{/no}}bar" lies inside the skipped section. */
    static const char *const sec[] = {"s", "{{#no}}\nfoo\n{{/no}}bar\n{{#items}}\n- {{.}}\n{{/items}}", NULL};
    CHECK_RENDER("  {{>s}}\n", ctx, sec, "bar\n  - a\nb\n  - c\n");
    /* Inline partials are not indented. */
    CHECK_RENDER("  x {{>box}}", ctx, parts,
                 "  x <div>\n  <ul>\n    <li>a\nb</li>\n    <li>c</li>\n  </ul>\n</div>\n");
    value_unref(ctx);
}

TEST(inheritance_layout)
{
    static const char *const parts[] = {
        "layout",
        "<html>\n<head><title>{{$title}}{{site}}{{/title}}</title></head>\n<body>\n"
        "  <main>\n    {{$main}}{{/main}}\n  </main>\n"
        "{{$footer}}\n<footer>default</footer>\n{{/footer}}\n</body>\n</html>\n",
        NULL};
    value *ctx = value_map();
    value_set_str(ctx, "site", "Gazette");
    value_set_str(ctx, "title", "通知 <1>");
    value *paras = value_list();
    value_push(paras, value_str("one"));
    value_push(paras, value_str("two"));
    value_set(ctx, "paras", paras);
    CHECK_RENDER("{{<layout}}\n"
                 "{{$title}}{{title}} - {{site}}{{/title}}\n"
                 "{{$main}}\n"
                 "<h1>{{title}}</h1>\n"
                 "{{#paras}}\n"
                 "<p>{{.}}</p>\n"
                 "{{/paras}}\n"
                 "{{/main}}\n"
                 "{{/layout}}\n",
                 ctx, parts,
                 "<html>\n<head><title>通知 &lt;1&gt; - Gazette</title></head>\n<body>\n"
                 "  <main>\n    <h1>通知 &lt;1&gt;</h1>\n    <p>one</p>\n    <p>two</p>\n"
                 /* The spec keeps the newline after "{{$main}}{{/main}}" on
                  * its own line ("Standalone block"), hence the empty line. */
                 "\n  </main>\n<footer>default</footer>\n</body>\n</html>\n");
    /* Without overrides the layout renders its defaults. */
    CHECK_RENDER("{{<layout}}{{/layout}}", ctx, parts,
                 "<html>\n<head><title>Gazette</title></head>\n<body>\n  <main>\n\n"
                 "  </main>\n<footer>default</footer>\n</body>\n</html>\n");
    value_unref(ctx);
}

TEST(dynamic_names)
{
    static const char *const parts[] = {"text", "T:{{content}}", "image", "<img src=\"{{url}}\">",
                                        NULL};
    value *ctx = value_map();
    value *items = value_list();
    value *a = value_map();
    value_set_str(a, "kind", "text");
    value_set_str(a, "content", "hi");
    value *b = value_map();
    value_set_str(b, "kind", "image");
    value_set_str(b, "url", "/a.png");
    value *c = value_map();
    value_set_str(c, "kind", "nothing");
    value_push(items, a);
    value_push(items, b);
    value_push(items, c);
    value_set(ctx, "items", items);
    CHECK_RENDER("{{#items}}\n{{>*kind}}\n{{/items}}", ctx, parts, "T:hi<img src=\"/a.png\">");
    /* Data may not name templates outside the template directory. */
    static const char *const bad[] = {"../secret", "/etc/passwd", "a/../../b", "", "x y", NULL};
    for (int i = 0; bad[i]; i++) {
        static const char *const table[] = {"page", "[{{>*kind}}]", NULL};
        loader_table = table;
        loads = 0;
        value_set_str(a, "kind", bad[i]);
        diag *d = diag_new();
        mustache_set *s = mustache_set_new(table_loader, NULL);
        char *out = render(s, "page", a, d);
        CHECK_STR(out, "[]");
        CHECK(loads == 1);   /* only "page" itself reached the loader */
        free(out);
        mustache_set_strict(s, true);
        CHECK(render(s, "page", a, d) == NULL);
        CHECK_CONTAINS(first_msg(d), "error: unknown partial");
        mustache_set_free(s);
        diag_free(d);
    }
    value_unref(ctx);
}

/* Concurrent rendering: the same set from several threads. */
typedef struct {
    mustache_set *s;
    const value *ctx;
    char *first;
    int mismatches;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    diag *d = diag_new();
    const mustache_tpl *t = mustache_get(j->s, "page", d);
    for (int i = 0; i < 300 && t; i++) {
        buf out = BUF_INIT;
        if (mustache_render(j->s, t, j->ctx, &out, d) != 0) j->mismatches++;
        if (!j->first) j->first = buf_detach(&out);
        else if (strcmp(j->first, buf_cstr(&out)) != 0) j->mismatches++;
        buf_free(&out);
    }
    if (!t || diag_total(d)) j->mismatches++;
    diag_free(d);
    return NULL;
}

TEST(concurrent_render)
{
    static const char *const table[] = {
        "page", "{{<layout}}{{$main}}\n{{#docs}}\n  {{>*kind}}\n{{/docs}}\n{{/main}}{{/layout}}",
        "layout", "<main>\n  {{$main}}{{/main}}\n</main>\n",
        "item", "<li>{{title}} {{n}}</li>\n",
        "other", "<p>{{title}}</p>\n",
        NULL};
    loader_table = table;
    loads = 0;
    mustache_set *s = mustache_set_new(table_loader, NULL);
    mustache_set_strict(s, true);
    value *ctx = value_map();
    value *docs = value_list();
    for (int i = 0; i < 50; i++) {
        value *doc = value_map();
        value_set(doc, "title", value_strf("标题 <%d>", i));
        value_set(doc, "n", value_double(i / 4.0));
        value_set_str(doc, "kind", i % 3 ? "item" : "other");
        value_push(docs, doc);
    }
    value_set(ctx, "docs", docs);
    job j[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        j[i] = (job){s, ctx, NULL, 0};
        CHECK(pthread_create(&th[i], NULL, worker, &j[i]) == 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        CHECK(j[i].mismatches == 0);
        CHECK(j[i].first && strcmp(j[i].first, j[0].first) == 0);
    }
    CHECK(j[0].first && str_starts(j[0].first, "<main>\n    <p>标题 &lt;0&gt;</p>\n"
                                               "    <li>标题 &lt;1&gt; 0.25</li>\n"));
    CHECK(loads == 4);   /* each template compiled exactly once */
    for (int i = 0; i < 4; i++) free(j[i].first);
    value_unref(ctx);
    mustache_set_free(s);
}

/* Random templates from tag-ish fragments must compile or fail cleanly. */
TEST(fuzz_smoke)
{
    static const char *frag[] = {"{{", "}}", "{{{", "}}}", "#a", "/a", "^b", "/b", "$c", "/c",
                                 "<p", "/p", ">p", ">*d", "=", "= [ ] =", "[", "]", "!", "&",
                                 "\n", "  ", "\r\n", "x", ".", "a.b", "*", "{{#a}}", "{{/a}}",
                                 "{{$c}}", "{{/c}}", "{{<p}}", "{{/p}}", "{{>p}}", "\t"};
    static const char *const parts[] = {"p", "P{{$c}}C{{/c}}\n{{>*d}}", NULL};
    value *ctx = value_map();
    value_set_str(ctx, "d", "p");
    value_set(ctx, "a", value_bool(true));
    unsigned seed = 12345;
    int compiled = 0;
    for (int i = 0; i < 3000; i++) {
        buf b = BUF_INIT;
        int n = 1 + (int)(seed % 12);
        for (int k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            buf_puts(&b, frag[(seed >> 16) % (sizeof frag / sizeof *frag)]);
        }
        char *out = render_src(buf_cstr(&b), ctx, parts);
        compiled += strstr(out, "error:") == NULL;
        free(out);
        buf_free(&b);
    }
    CHECK(compiled > 100);
    value_unref(ctx);
}

/* Lookups remember where a name was last found (an entry index per name
 * segment) and strings whether escaping changes them: neither may change
 * what renders. One compiled template, contexts of different shapes in
 * turn (the name at another index, missing, shadowed deeper in the stack,
 * in a map too small or large enough for a hash index), the same string
 * values rendered escaped and raw, again and again. */
TEST(render_hints_and_memos)
{
    diag *d = diag_new();
    mustache_set *s = mustache_set_new(NULL, NULL);
    const char *src = "{{a.t}}|{{{a.t}}}|{{#list}}{{t}}{{u}};{{/list}}|{{u}}|{{a.t}}";
    CHECK(mustache_add(s, "h", src, strlen(src), NULL, d) == 0);
    value *plain = value_str("x&y"), *esc = value_str("<b>");
    for (int round = 0; round < 4; round++)
        for (int shape = 0; shape < 4; shape++) {
            value *ctx = value_map(), *a = value_map(), *list = value_list();
            char key[16];
            /* shape 0: t first; 1: t after 3 keys; 2: t after 12 keys
             * (indexed); 3: no t at all. */
            int before = shape == 1 ? 3 : shape == 2 ? 12 : 0;
            for (int i = 0; i < before; i++) {
                snprintf(key, sizeof key, "pad%d", i);
                value_set(a, key, value_int(i));
            }
            if (shape != 3) value_set(a, "t", value_ref(round & 1 ? esc : plain));
            value_set(ctx, "a", a);
            value_set(ctx, "u", value_str(shape & 1 ? "top" : "<top>"));
            for (int k = 0; k < 3; k++) {
                value *item = value_map();
                for (int i = 0; i < (k + shape) % 3; i++) {
                    snprintf(key, sizeof key, "q%d", i);
                    value_set(item, key, value_null());
                }
                value_set(item, "t", value_int(k));
                if (k == 1) value_set(item, "u", value_ref(esc));   /* shadows ctx.u */
                value_push(list, item);
            }
            value_set(ctx, "list", list);
            char *out = render(s, "h", ctx, d);
            const char *t = shape == 3 ? "" : round & 1 ? "&lt;b&gt;" : "x&amp;y";
            const char *traw = shape == 3 ? "" : round & 1 ? "<b>" : "x&y";
            const char *u = shape & 1 ? "top" : "&lt;top&gt;";
            char want[256];
            snprintf(want, sizeof want, "%s|%s|0%s;1&lt;b&gt;;2%s;|%s|%s", t, traw, u, u, u, t);
            CHECK_STR(out, want);
            free(out);
            value_unref(ctx);
        }
    value_unref(plain);
    value_unref(esc);
    CHECK(diag_total(d) == 0);
    mustache_set_free(s);
    diag_free(d);
}

/* ---- the memo of list items (mustache_memo) ---- */

/* Render template main of s with ctx through memo m. */
static char *render_m(mustache_set *s, const value *ctx, mustache_memo *m)
{
    diag *d = diag_new();
    const mustache_tpl *t = mustache_get(s, "main", d);
    buf out = BUF_INIT;
    int rc = t ? mustache_render_memo(s, t, ctx, &out, d, m) : -1;
    char *r = rc == 0 && !diag_total(d) ? buf_detach(&out) : xstrdup("(error)");
    buf_free(&out);
    diag_free(d);
    return r;
}

/* The memo holds `it` items and answered `hi` renders (the counts shown,
 * with what, when they differ). */
#define CHECK_MEMO(m, it, hi, what) do { size_t i_, h_; mustache_memo_counts(m, &i_, &h_); \
    if (i_ != (size_t)(it) || h_ != (size_t)(hi)) \
        fprintf(stderr, "  %s: memo %zu items, %zu hits\n", what, i_, h_); \
    CHECK(i_ == (size_t)(it) && h_ == (size_t)(hi)); } while (0)

/* Render main of s with ctx through m twice: want each time. */
#define CHECK_TWICE(s, ctx, m, want) do { for (int k_ = 0; k_ < 2; k_++) { \
    char *o_ = render_m(s, ctx, m); CHECK_STR(o_, want); free(o_); } } while (0)

/* A stable item {"t": title, "n": n} and a context {"items": [it], "who": who}. */
static value *memo_item(const char *title, bool stable)
{
    value *it = value_map();
    value_set_str(it, "t", title);
    if (stable) value_set_stable(it);
    return it;
}

static value *memo_ctx(value *item, const char *who, bool flag)
{
    value *c = value_map();
    value *l = value_list();
    value_push(l, value_ref(item));
    value_set(c, "items", l);
    value_set_str(c, "who", who);
    if (flag) value_set(c, "flag", value_bool(true));
    return c;
}

/* Each case renders the same stable item in two contexts that differ
 * outside it; the outputs must be as without a memo, and the memo must
 * answer only where the item's output depends on the item alone. */
TEST(memo_remembers_only_what_depends_on_the_item)
{
    struct { const char *src, *want1, *want2; size_t items, hits; } cases[] = {
        /* only the item's own names: remembered, the second render copies */
        {"{{#items}}<{{t}}>{{/items}}", "<a&amp;b>", "<a&amp;b>", 1, 1},
        /* a name of the context around: never remembered */
        {"{{#items}}{{t}}/{{who}}{{/items}}", "a&amp;b/x", "a&amp;b/y", 0, 0},
        /* a name the item lacks, missed in one context, found in the other */
        {"{{#items}}{{t}}{{#flag}}!{{/flag}}{{/items}}", "a&amp;b", "a&amp;b!", 0, 0},
        {"{{#items}}{{^flag}}-{{/flag}}{{/items}}", "-", "", 0, 0},
        /* dotted: the first name decides */
        {"{{#items}}{{t.x}}{{who.x}}{{/items}}", "", "", 0, 0},
        /* the implicit iterator is the item */
        {"{{#items}}{{#.}}{{t}}{{/.}}{{/items}}", "a&amp;b", "a&amp;b", 1, 1},
        /* a partial holding the item's names only */
        {"{{#items}}{{>p}}{{/items}}", "[a&amp;b]", "[a&amp;b]", 1, 1},
        /* a partial reaching out */
        {"{{#items}}{{>q}}{{/items}}", "x", "y", 0, 0},
        /* a dynamic name found outside the item */
        {"{{#items}}{{>*who}}{{/items}}", "X", "Y", 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        diag *d = diag_new();
        mustache_set *s = mustache_set_new(NULL, NULL);
        add(s, "p", "[{{t}}]", NULL, d);
        add(s, "q", "{{who}}", NULL, d);
        add(s, "x", "X", NULL, d);
        add(s, "y", "Y", NULL, d);
        add(s, "main", cases[k].src, NULL, d);
        value *it = memo_item("a&b", true);
        value *c1 = memo_ctx(it, "x", false), *c2 = memo_ctx(it, "y", true);
        mustache_memo *m = mustache_memo_new(0);
        char *o1 = render_m(s, c1, m), *o2 = render_m(s, c2, m);
        CHECK_STR(o1, cases[k].want1);
        CHECK_STR(o2, cases[k].want2);
        CHECK_MEMO(m, cases[k].items, cases[k].hits, cases[k].src);
        free(o1);
        free(o2);
        mustache_memo_free(m);
        value_unref(c1);
        value_unref(c2);
        value_unref(it);
        mustache_set_free(s);
        diag_free(d);
    }
}

/* Not remembered: an item not marked stable, a section in an indented
 * partial (its lines take the indentation), a block inside the item;
 * remembered per section: the same item in two sections is two entries.
 * Nested stable items: the inner one reaching into the outer one is not
 * remembered, and neither is the outer one then. */
TEST(memo_leaves_what_it_cannot_know)
{
    diag *d = diag_new();
    mustache_set *s = mustache_set_new(NULL, NULL);
    add(s, "ind", "{{#items}}\n{{t}}\n{{/items}}\n", NULL, d);
    add(s, "lay", "{{$b}}B{{/b}}", NULL, d);
    add(s, "main",
        "{{#items}}{{t}}{{/items}}|{{#items}}{{t}}{{/items}}|\n  {{>ind}}\n"
        "{{#items}}{{<lay}}{{$b}}{{t}}{{/b}}{{/lay}}{{/items}}|"
        "{{#outer}}{{#inner}}{{t}}{{o}}{{/inner}}{{/outer}}", NULL, d);
    value *it = memo_item("a", true), *loose = memo_item("b", false);
    value *ctx = value_map(), *l = value_list();
    value_push(l, value_ref(it));
    value_push(l, value_ref(loose));
    value_set(ctx, "items", l);
    value *inner = memo_item("i", true), *outer = value_map();
    value_set_str(outer, "o", "O");
    value *il = value_list();
    value_push(il, value_ref(inner));
    value_set(outer, "inner", il);
    value_set_stable(outer);
    value *ol = value_list();
    value_push(ol, value_ref(outer));
    value_set(ctx, "outer", ol);
    mustache_memo *m = mustache_memo_new(0);
    CHECK_TWICE(s, ctx, m, "ab|ab|\n  a\n  b\nab|iO");
    /* "a" in the first two sections only; on the second render both hit */
    CHECK_MEMO(m, 2, 2, "sections");
    mustache_memo_free(m);
    value_unref(ctx);
    value_unref(it);
    value_unref(loose);
    value_unref(inner);
    value_unref(outer);
    mustache_set_free(s);
    diag_free(d);
}

/* A memo with a cap takes a new item past it by forgetting the items it
 * took first: it answers the most recent ones. */
TEST(memo_forgets_its_oldest)
{
    diag *d = diag_new();
    mustache_set *s = mustache_set_new(NULL, NULL);
    add(s, "main", "{{#items}}[{{t}}]{{/items}}", NULL, d);
    mustache_memo *m = mustache_memo_new(10);     /* two items of 4 bytes */
    value *ctx = value_map(), *l = value_list(), *its[3];
    for (int k = 0; k < 3; k++) {
        char t[4];
        snprintf(t, sizeof t, "t%d", k);
        its[k] = memo_item(t, true);
        value_push(l, value_ref(its[k]));
    }
    value_set(ctx, "items", l);
    char *o = render_m(s, ctx, m);
    CHECK_STR(o, "[t0][t1][t2]");
    free(o);
    CHECK_MEMO(m, 2, 0, "cap: t1 and t2 held");
    value *recent = value_map(), *l2 = value_list();
    value_push(l2, value_ref(its[1]));
    value_push(l2, value_ref(its[2]));
    value_set(recent, "items", l2);
    o = render_m(s, recent, m);
    CHECK_STR(o, "[t1][t2]");
    free(o);
    CHECK_MEMO(m, 2, 2, "cap: the recent ones answered");
    value_unref(recent);
    mustache_memo_free(m);
    value_unref(ctx);
    for (int k = 0; k < 3; k++) value_unref(its[k]);
    mustache_set_free(s);
    diag_free(d);
}

/* Many items through a small memo, in windows that slide and jump: every
 * output is the item's own (entries forgotten from the middle of a probe
 * run must leave the rest findable), an item freed after the memo forgot
 * it can give its address to a new one, and the memo never holds more
 * than its cap. */
TEST(memo_forgets_in_any_order)
{
    diag *d = diag_new();
    mustache_set *s = mustache_set_new(NULL, NULL);
    add(s, "main", "{{#items}}<{{t}}>{{/items}}", NULL, d);
    mustache_memo *m = mustache_memo_new(64);     /* ~10 items of 6 bytes */
    enum { N = 300 };
    value *its[N];
    for (int k = 0; k < N; k++) {
        char t[8];
        snprintf(t, sizeof t, "%04d", k);
        its[k] = memo_item(t, true);
    }
    uint32_t r = 99;
    int bad = 0;
    for (int round = 0; round < 400; round++) {
        r = r * 1103515245u + 12345u;
        /* odd rounds: windows of items not held (the next ten of the
         * first half, in turn), which a FIFO memo of ten must then answer
         * whole; even rounds: anywhere in the second half, strided, only
         * the output checked */
        bool fresh = round % 2;
        int at = fresh ? (round / 2 * 10) % (N / 2) : (int)((r >> 8) % (N / 2));
        int len = 1 + (int)((r >> 20) % (fresh ? 10 : 12));
        value *ctx = value_map(), *l = value_list();
        buf want = BUF_INIT;
        for (int k = 0; k < len; k++) {
            int x = fresh ? at + k : N / 2 + (at + k * 7) % (N / 2);
            value_push(l, value_ref(its[x]));
            buf_printf(&want, "<%s>", value_str_ptr(value_get(its[x], "t")));
        }
        value_set(ctx, "items", l);
        for (int twice = 0; twice < 2; twice++) {
            size_t i0, h0, i1, h1;
            mustache_memo_counts(m, &i0, &h0);
            char *o = render_m(s, ctx, m);
            if (!o || strcmp(o, want.ptr)) bad++;
            free(o);
            mustache_memo_counts(m, &i1, &h1);
            /* every entry kept is still found after others were forgotten
             * from the middle of probe runs */
            if (fresh && twice && h1 - h0 != (size_t)len) bad++;
        }
        buf_free(&want);
        value_unref(ctx);
        if (round % 50 == 49) {             /* replace some items: addresses come back */
            for (int k = 0; k < N; k += 3) {
                value_unref(its[k]);
                char t[8];
                snprintf(t, sizeof t, "n%03d", k % 1000);
                its[k] = memo_item(t, true);
            }
        }
        size_t items, hits;
        mustache_memo_counts(m, &items, &hits);
        if (items > 64 / 6) bad++;
    }
    size_t items, hits;
    mustache_memo_counts(m, &items, &hits);
    CHECK(bad == 0);
    CHECK(hits > 100);
    mustache_memo_free(m);
    for (int k = 0; k < N; k++) value_unref(its[k]);
    mustache_set_free(s);
    diag_free(d);
}

/* The memo keeps a reference: an item freed by its owner is not reused
 * at the same address while the memo lives, so a new item there cannot
 * take an old item's output. */
TEST(memo_holds_its_items)
{
    diag *d = diag_new();
    mustache_set *s = mustache_set_new(NULL, NULL);
    add(s, "main", "{{#items}}{{t}}{{/items}}", NULL, d);
    mustache_memo *m = mustache_memo_new(0);
    for (int k = 0; k < 50; k++) {
        char title[16];
        snprintf(title, sizeof title, "t%d", k);
        value *it = memo_item(title, true);
        value *c = memo_ctx(it, "w", false);
        value_unref(it);
        char *o = render_m(s, c, m);
        CHECK_STR(o, title);
        free(o);
        value_unref(c);                      /* the item lives on in the memo */
    }
    CHECK_MEMO(m, 50, 0, "references");
    mustache_memo_free(m);
    mustache_set_free(s);
    diag_free(d);
}

int main(void)
{
    RUN(error_unclosed_tag);
    RUN(error_sections);
    RUN(error_delimiters_and_names);
    RUN(error_duplicate_template);
    RUN(strict_unknown_partial);
    RUN(partial_with_errors_reports_its_file);
    RUN(recursion_limit);
    RUN(render_value_trees);
    RUN(partial_indentation);
    RUN(inheritance_layout);
    RUN(dynamic_names);
    RUN(render_hints_and_memos);
    RUN(concurrent_render);
    RUN(memo_remembers_only_what_depends_on_the_item);
    RUN(memo_leaves_what_it_cannot_know);
    RUN(memo_holds_its_items);
    RUN(memo_forgets_its_oldest);
    RUN(memo_forgets_in_any_order);
    RUN(fuzz_smoke);
    return test_summary();
}
