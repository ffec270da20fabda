/* Unit tests for release.c, on a fake build step that writes a small site
 * from an in-memory model (so the git logic is tested on its own). The git
 * CLI is used only to check results (fsck, status). */
#include "diag.h"
#include "output.h"
#include "release.h"
#include "test.h"
#include "util.h"
#include "value.h"

#include <fcntl.h>
#include <git2.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the fake site model ---- */

typedef struct { const char *path, *title, *date, *body; } fdoc;   /* path: "notices/2017/a" */
static fdoc docs[32];
static size_t ndocs;
static const char *stats_text = "stats v1";
static int builds;            /* number of fake builds run */

static void model_reset(void)
{
    ndocs = 0;
    docs[ndocs++] = (fdoc){"notices/2017/a", "关于《甲》的通知", "2017-09-29", "body a"};
    docs[ndocs++] = (fdoc){"notices/2016/b", "乙 & 报告", "2016-05-01", "body b"};
    docs[ndocs++] = (fdoc){"reports/2015/c", "丙", "2015-01-02", "body c"};
    stats_text = "stats v1";
}

static void page(buf *b, const char *title, const char *body)
{
    buf_clear(b);
    buf_puts(b, "<html><head><title>");
    esc_html(b, title, strlen(title));
    buf_puts(b, " - site</title></head><body><h1>");
    esc_html(b, title, strlen(title));
    buf_printf(b, "</h1>%s", body);
}

static int cmp_doc(const void *a, const void *b)
{
    return strcmp(((const build_doc *)a)->url, ((const build_doc *)b)->url);
}

/* Writes docs (with their history entries), an index, /releases/ (the
 * whole releases list as JSON) and stats/. */
static int fake_build(const build_opts *o, build_result *res, diag *d)
{
    builds++;
    outdir *od = out_open(o->out_dir, d);
    if (!od) return -1;
    buf b = BUF_INIT, idx = BUF_INIT;
    res->docs = xcalloc(ndocs + 1, sizeof(build_doc));
    for (size_t i = 0; i < ndocs; i++) {
        char *url = xasprintf("/%s/", docs[i].path);
        buf body = BUF_INIT;
        buf_puts(&body, docs[i].body);
        value *h = o->history ? value_get(value_get(o->history, "docs"), url) : NULL;
        for (size_t k = 0; k < value_len(h); k++)
            buf_printf(&body, "<li>%s %s %s</li>", value_str_ptr(value_get(value_at(h, k), "action")),
                       value_str_ptr(value_get(value_at(h, k), "tag")),
                       value_str_ptr(value_get(value_at(h, k), "url")));
        page(&b, docs[i].title, buf_cstr(&body));
        buf_free(&body);
        char *rel = xasprintf("%s/index.html", docs[i].path);
        out_write(od, rel, b.ptr, b.len);
        buf_printf(&idx, "<li>%s</li>", docs[i].title);
        build_doc *bd = &res->docs[res->ndocs++];
        bd->url = url;
        bd->path = rel;
        bd->title = xstrdup(docs[i].title);
        bd->source = xasprintf("content/%s.md", docs[i].path);
        bd->date = xstrdup(docs[i].date);
        if (strcmp(docs[i].date, res->newest_date) > 0) snprintf(res->newest_date, 11, "%s", docs[i].date);
    }
    qsort(res->docs, res->ndocs, sizeof(build_doc), cmp_doc);
    page(&b, "首页", buf_cstr(&idx));
    out_write(od, "index.html", b.ptr, b.len);
    buf_clear(&idx);
    value_to_json(&idx, o->history ? value_get(o->history, "releases") : NULL);
    out_write(od, "releases/index.html", idx.ptr, idx.len);
    out_write(od, "stats/index.html", stats_text, strlen(stats_text));
    out_write(od, "assets/style.css", "body{}", 6);
    snprintf(res->snapshot_sha256, sizeof res->snapshot_sha256, "%064d", 7);
    out_stats st;
    int rc = out_finish(od, &st);
    char **p;
    size_t n;
    out_changed(od, &p, &n);
    res->changed = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) res->changed[res->nchanged++] = xstrdup(p[i]);
    out_removed(od, &p, &n);
    res->removed_paths = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) res->removed_paths[res->nremoved++] = xstrdup(p[i]);
    res->site = value_map();
    out_close(od);
    buf_free(&b);
    buf_free(&idx);
    return rc;
}

/* ---- helpers ---- */

static char tmp[256];

static char *tpath(const char *rel) { return xasprintf("%s/%s", tmp, rel); }

static void setup(void)
{
    snprintf(tmp, sizeof tmp, "%s/gz-release-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) abort();
    char *c = tpath("content");
    mkdir_p(c);
    char *y = tpath("content/site.yaml");
    const char *yaml = "title: t\nrelease:\n  author_name: 测试\n  author_email: t@example.org\n"
                       "  repo_url: https://git.example.org/site/\n";
    write_file_atomic(y, yaml, strlen(yaml));
    free(c);
    free(y);
    model_reset();
}

static void teardown(void) { rm_rf(tmp); }

static void opts(release_opts *o, const char *out)
{
    static char content[300], outdir_[300];
    release_opts_default(o);
    snprintf(content, sizeof content, "%s/content", tmp);
    snprintf(outdir_, sizeof outdir_, "%s/%s", tmp, out);
    o->content_dir = content;
    o->out_dir = outdir_;
    o->templates_dir = content;
    o->build = fake_build;
}

/* Release with the fake build; returns rc, fills out. */
static int rel(const char *out, const char *msg, release_outcome *ro, diag *d)
{
    release_opts o;
    opts(&o, out);
    o.message = msg;
    return release_run(&o, ro, d);
}

static int sh(const char *fmt, const char *arg)
{
    char *cmd = xasprintf(fmt, arg, arg, arg);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

static bool diag_has(diag *d, const char *needle)
{
    diag_sort(d);
    for (size_t i = 0; i < diag_total(d); i++)
        if (strstr(diag_message(d, i), needle)) return true;
    return false;
}

/* Tree id of path in commit rev of repo dir ("" when absent). */
static void tree_id_of(const char *dir, const char *rev, const char *path, char out[41])
{
    git_repository *r = NULL;
    git_object *o = NULL;
    out[0] = 0;
    git_libgit2_init();
    if (git_repository_open(&r, dir) == 0) {
        char *spec = xasprintf("%s:%s", rev, path);
        if (git_revparse_single(&o, r, spec) == 0) git_oid_tostr(out, 41, git_object_id(o));
        free(spec);
    }
    git_object_free(o);
    git_repository_free(r);
    git_libgit2_shutdown();
}

/* ---- tests ---- */

TEST(first_release_then_noop)
{
    setup();
    diag *d = diag_new();
    release_outcome ro;
    CHECK(rel("site", NULL, &ro, d) == 0);
    CHECK(!ro.nothing && strlen(ro.commit) == 40);
    CHECK_STR(ro.tag, "release-2017-09-29");
    CHECK_CONTAINS(ro.message, "Release 2017-09-29\n\nDocuments added (3):\n");
    CHECK_CONTAINS(ro.message, "  + 关于《甲》的通知 (/notices/2017/a/)\n");
    CHECK_CONTAINS(ro.message, "Stats pages changed (1):\n  + stats/index.html\n");
    CHECK_CONTAINS(ro.message, "\nRelease-Tag: release-2017-09-29\n");
    CHECK_CONTAINS(ro.message, "Snapshot-SHA256: 000");
    CHECK_CONTAINS(ro.message, "Generator: gazette ");
    char *first = xstrdup(ro.commit);
    release_outcome_free(&ro);
    /* The site lists its own release as pending. */
    char *rp = tpath("site/releases/index.html"), *data;
    size_t len;
    CHECK(read_file(rp, &data, &len) == 0);
    CHECK_CONTAINS(data, "\"tag\":\"release-2017-09-29\"");
    CHECK_CONTAINS(data, "\"pending\":true");
    free(data);
    free(rp);
    /* Nothing changed: no commit, and not a single object written. */
    char *objs = tpath("site/.git/objects");
    CHECK(sh("cd %s && find . -type f | sort > ../objs.before", objs) == 0);
    CHECK(rel("site", NULL, &ro, d) == 0);
    CHECK(ro.nothing);
    CHECK(sh("cd %s && find . -type f | sort | cmp -s - ../objs.before", objs) == 0);
    /* One pack for the release, one loose tag object, nothing else. */
    CHECK(sh("test $(find %s/pack -name '*.pack' | wc -l) = 1", objs) == 0);
    CHECK(sh("test $(find %s -type f -path '*/[0-9a-f][0-9a-f]/*' | wc -l) = 1", objs) == 0);
    free(objs);
    CHECK_STR(ro.commit, first);
    CHECK(diag_total(d) == 0);
    release_outcome_free(&ro);
    /* git agrees: clean status, strict fsck, an annotated tag. */
    char *site = tpath("site");
    CHECK(sh("cd %s && s=$(git status --porcelain) && { test -z \"$s\" || { echo \"$s\" | head -5; false; }; }", site) == 0);
    CHECK(sh("git -C %s fsck --strict --no-dangling >/dev/null 2>&1", site) == 0);
    CHECK(sh("test \"$(git -C %s cat-file -t release-2017-09-29)\" = tag", site) == 0);
    CHECK(sh("test \"$(git -C %s log -1 --format=%%ad --date=iso)\" = '2017-09-29 00:00:00 +0800'", site) == 0);
    free(site);
    free(first);
    diag_free(d);
    teardown();
}

TEST(change_release_message_tags_and_reuse)
{
    setup();
    diag *d = diag_new();
    release_outcome ro;
    CHECK(rel("site", NULL, &ro, d) == 0);
    release_outcome_free(&ro);
    char *site = tpath("site");
    char before[41], after[41];
    tree_id_of(site, "HEAD", "reports", before);
    /* Change a, remove b, add d (older than a: the date stays 2017-09-29). */
    docs[0].body = "body a, revised";
    docs[1] = (fdoc){"notices/2017/d", "丁", "2017-03-03", "body d"};
    stats_text = "stats v2";
    CHECK(rel("site", "Quarterly update\nwith a body line", &ro, d) == 0);
    CHECK_STR(ro.tag, "release-2017-09-29.2");
    CHECK_CONTAINS(ro.message, "Quarterly update\n\nwith a body line\n");
    CHECK_CONTAINS(ro.message, "Documents added (1):\n  + 丁 (/notices/2017/d/)\n");
    CHECK_CONTAINS(ro.message, "Documents changed (1):\n  * 关于《甲》的通知 (/notices/2017/a/)\n");
    /* The removed title comes from the old page's <h1>, entities decoded. */
    CHECK_CONTAINS(ro.message, "Documents removed (1):\n  - 乙 & 报告 (/notices/2016/b/)\n");
    CHECK_CONTAINS(ro.message, "Stats pages changed (1):\n  stats/index.html\n");
    release_outcome_free(&ro);
    /* reports/ was not touched: the very same subtree object is reused. */
    tree_id_of(site, "HEAD", "reports", after);
    CHECK(*before && !strcmp(before, after));
    /* A third release the same day: .3; --tag overrides. */
    docs[0].body = "body a, third";
    CHECK(rel("site", NULL, &ro, d) == 0);
    CHECK_STR(ro.tag, "release-2017-09-29.3");
    release_outcome_free(&ro);
    release_opts o;
    opts(&o, "site");
    o.tag = "v4";
    o.date = "2018-01-02";
    docs[0].body = "body a, fourth";
    CHECK(release_run(&o, &ro, d) == 0);
    CHECK_STR(ro.tag, "v4");
    release_outcome_free(&ro);
    /* An existing tag is never moved. */
    docs[0].body = "body a, fifth";
    CHECK(release_run(&o, &ro, d) < 0 && diag_has(d, "exists already"));
    release_outcome_free(&ro);
    diag_clear(d);
    CHECK(sh("cd %s && s=$(git status --porcelain) && { test -z \"$s\" || { echo \"$s\" | head -5; false; }; }", site) == 0);
    CHECK(sh("git -C %s fsck --strict --no-dangling >/dev/null 2>&1", site) == 0);
    CHECK(sh("test $(git -C %s rev-list --count HEAD) = 4", site) == 0);
    free(site);
    diag_free(d);
    teardown();
}

TEST(history_structure)
{
    setup();
    diag *d = diag_new();
    release_outcome ro;
    char *site = tpath("site");
    value *h = release_history(site, "https://x", d);   /* no repository yet */
    CHECK(h && value_len(value_get(h, "releases")) == 0 && value_len(value_get(h, "docs")) == 0);
    value_unref(h);
    CHECK(rel("site", NULL, &ro, d) == 0);
    char first[41];
    memcpy(first, ro.commit, 41);
    release_outcome_free(&ro);
    docs[0].body = "changed";
    CHECK(rel("site", "Second", &ro, d) == 0);
    release_outcome_free(&ro);
    h = release_history(site, "https://git.example.org/site", d);
    value *rels = value_get(h, "releases");
    CHECK(value_len(rels) == 2);
    value *r0 = value_at(rels, 0), *r1 = value_at(rels, 1);
    CHECK_STR(value_str_ptr(value_get(r0, "tag")), "release-2017-09-29.2");
    CHECK_STR(value_str_ptr(value_get(r0, "summary")), "Second");
    CHECK(value_int_of(value_get(r0, "changed")) == 1 && value_int_of(value_get(r0, "added")) == 0);
    CHECK(value_int_of(value_get(r1, "added")) == 3);
    CHECK_STR(value_str_ptr(value_get(r1, "commit")), first);
    CHECK(value_str_len(value_get(r1, "short")) == 7);
    CHECK_STR(value_str_ptr(value_get(r1, "date")), "2017-09-29");
    char *url = xasprintf("https://git.example.org/site/commit/%s", first);
    CHECK_STR(value_str_ptr(value_get(r1, "url")), url);
    free(url);
    value *da = value_get(value_get(h, "docs"), "/notices/2017/a/");
    CHECK(value_len(da) == 2);
    CHECK_STR(value_str_ptr(value_get(value_at(da, 0), "action")), "added");
    CHECK_STR(value_str_ptr(value_get(value_at(da, 1), "action")), "changed");
    CHECK_STR(value_str_ptr(value_get(value_at(da, 1), "url")), "/releases/#release-2017-09-29.2");
    CHECK(value_len(value_get(value_get(h, "docs"), "/notices/2016/b/")) == 1);
    value_unref(h);
    /* As-of view: the latest release pending, as it was built. */
    h = release_history_asof(site, "", NULL, d);
    r0 = value_at(value_get(h, "releases"), 0);
    CHECK(value_bool_of(value_get(r0, "pending")) && !*value_str_ptr(value_get(r0, "commit")));
    CHECK(value_len(value_get(h, "releases")) == 2);
    value_unref(h);
    CHECK(diag_total(d) == 0);
    free(site);
    diag_free(d);
    teardown();
}

TEST(verify_ok_and_tampered)
{
    setup();
    diag *d = diag_new();
    release_outcome ro;
    CHECK(rel("site", NULL, &ro, d) == 0);
    release_outcome_free(&ro);
    docs[0].body = "v2";
    CHECK(rel("site", NULL, &ro, d) == 0);
    release_outcome_free(&ro);
    release_opts o;
    opts(&o, "site");
    char **diffs = NULL;
    char *objs = tpath("site/.git/objects");
    CHECK(sh("cd %s && find . -type f | sort > ../objs.before", objs) == 0);
    CHECK(release_verify(&o, NULL, &diffs, d) == 0 && !diffs);
    docs[0].body = "verify builds this in memory only";
    CHECK(release_verify(&o, NULL, &diffs, d) == 1);
    release_free_list(diffs);
    docs[0].body = "v2";
    CHECK(sh("cd %s && find . -type f | sort | cmp -s - ../objs.before", objs) == 0);   /* nothing written */
    free(objs);
    CHECK(release_verify(&o, "release-2017-09-29.2", &diffs, d) == 0);
    /* The first release had the old body. */
    CHECK(release_verify(&o, "release-2017-09-29", &diffs, d) == 1);
    CHECK(diffs && diffs[0]);
    bool found = false;
    for (char **p = diffs; p && *p; p++) found |= !strcmp(*p, "M notices/2017/a/index.html");
    CHECK(found);
    release_free_list(diffs);
    /* Content changed since: verify names the page. */
    docs[2].title = "丙（修订）";
    CHECK(release_verify(&o, NULL, &diffs, d) == 1);
    CHECK(diffs && !strcmp(diffs[0], "M index.html"));
    release_free_list(diffs);
    CHECK(release_verify(&o, "nope", &diffs, d) < 0 && diag_has(d, "no release named 'nope'"));
    diag_free(d);
    teardown();
}

TEST(deterministic_across_directories)
{
    setup();
    diag *d = diag_new();
    release_outcome a, b;
    CHECK(rel("one", NULL, &a, d) == 0);
    CHECK(rel("two", NULL, &b, d) == 0);
    CHECK(!strcmp(a.commit, b.commit));
    release_outcome_free(&a);
    release_outcome_free(&b);
    docs[1].title = "乙（修订）";
    CHECK(rel("one", NULL, &a, d) == 0);
    CHECK(rel("two", NULL, &b, d) == 0);
    CHECK(!strcmp(a.commit, b.commit) && !strcmp(a.tag, b.tag));
    release_outcome_free(&a);
    release_outcome_free(&b);
    char x[41], y[41];
    char *one = tpath("one"), *two = tpath("two");
    tree_id_of(one, "release-2017-09-29.2", "", x);
    tree_id_of(two, "release-2017-09-29.2", "", y);
    CHECK(*x && !strcmp(x, y));
    free(one);
    free(two);
    diag_free(d);
    teardown();
}

TEST(dirty_work_tree_refused)
{
    setup();
    diag *d = diag_new();
    release_outcome ro;
    CHECK(rel("site", NULL, &ro, d) == 0);
    release_outcome_free(&ro);
    char *f = tpath("site/notices/2017/a/index.html"), *extra = tpath("site/hand.html");
    write_file_atomic(f, "edited", 6);
    write_file_atomic(extra, "x", 1);
    docs[0].body = "new";
    CHECK(rel("site", NULL, &ro, d) < 0);
    char *data = NULL;
    size_t len = 0;
    CHECK(read_file(f, &data, &len) == 0 && len == 6 && !memcmp(data, "edited", 6));   /* untouched */
    free(data);
    CHECK(diag_has(d, "modified: notices/2017/a/index.html"));
    CHECK(diag_has(d, "added: hand.html"));
    release_outcome_free(&ro);
    diag_clear(d);
    unlink(extra);
    char *site = tpath("site");
    CHECK(sh("git -C %s checkout -q -- .", site) == 0);
    char *g = tpath("site/stats/index.html");
    unlink(g);
    CHECK(rel("site", NULL, &ro, d) < 0 && diag_has(d, "deleted: stats/index.html"));
    release_outcome_free(&ro);
    diag_clear(d);
    CHECK(sh("git -C %s checkout -q -- .", site) == 0);
    CHECK(rel("site", NULL, &ro, d) == 0 && !ro.nothing);
    release_outcome_free(&ro);
    free(site);
    free(f);
    free(g);
    free(extra);
    diag_free(d);
    teardown();
}

/* A release whose check went by the record of directories writes the
 * index itself (release.c): libgit2 reads it (checksum verified), it holds
 * exactly HEAD's tree, and its stat data matches the work tree. Added,
 * changed and removed documents exercise every kind of index update. */
TEST(index_written_by_release_is_git_index)
{
    setup();
    diag *d = diag_new();
    release_outcome ro;
    CHECK(rel("site", NULL, &ro, d) == 0);
    release_outcome_free(&ro);
    char *rec = tpath("site/.git/gazette-dirs");
    CHECK(path_exists(rec));
    docs[0].body = "changed";
    docs[1] = docs[--ndocs];   /* notices/2016/b removed */
    docs[ndocs++] = (fdoc){"notices/2018/d", "丁", "2018-01-01", "body d"};
    CHECK(rel("site", NULL, &ro, d) == 0 && !ro.nothing);
    release_outcome_free(&ro);
    CHECK(diag_total(d) == 0);
    CHECK(path_exists(rec));
    char *site = tpath("site");
    git_libgit2_init();
    git_repository *r = NULL;
    git_index *idx = NULL;
    git_object *head = NULL;
    git_tree *tree = NULL;
    git_diff *staged = NULL, *unstaged = NULL;
    CHECK(git_repository_open(&r, site) == 0);
    CHECK(r && git_repository_index(&idx, r) == 0 && git_index_read(idx, 1) == 0);
    CHECK(idx && git_revparse_single(&head, r, "HEAD^{tree}") == 0);
    tree = (git_tree *)head;
    CHECK(tree && git_diff_tree_to_index(&staged, r, tree, idx, NULL) == 0);
    CHECK(staged && git_diff_num_deltas(staged) == 0);
    CHECK(idx && git_diff_index_to_workdir(&unstaged, r, idx, NULL) == 0);
    CHECK(unstaged && git_diff_num_deltas(unstaged) == 0);
    CHECK(idx && git_index_get_bypath(idx, "notices/2018/d/index.html", 0) != NULL);
    CHECK(idx && git_index_get_bypath(idx, "notices/2016/b/index.html", 0) == NULL);
    const git_index_entry *e = idx ? git_index_get_bypath(idx, "notices/2017/a/index.html", 0) : NULL;
    char *f = tpath("site/notices/2017/a/index.html");
    struct stat st;
    CHECK(e && stat(f, &st) == 0 && e->file_size == (uint32_t)st.st_size && e->ino == (uint32_t)st.st_ino &&
          e->mtime.seconds == (int32_t)st.st_mtim.tv_sec && e->mtime.nanoseconds == (uint32_t)st.st_mtim.tv_nsec);
    git_diff_free(staged);
    git_diff_free(unstaged);
    git_object_free(head);
    git_index_free(idx);
    git_repository_free(r);
    git_libgit2_shutdown();
    CHECK(sh("git -C %s diff-index --cached --quiet HEAD", site) == 0);
    CHECK(sh("git -C %s fsck --strict --no-dangling >/dev/null 2>&1", site) == 0);
    /* Then an edit in place (same size, mtime put back) is still refused. */
    char *data = NULL;
    size_t len = 0;
    CHECK(read_file(f, &data, &len) == 0 && len > 0);
    if (data && len) {
        data[0] ^= 1;
        int fd = open(f, O_WRONLY);
        CHECK(fd >= 0 && write(fd, data, len) == (ssize_t)len);
        if (fd >= 0) close(fd);
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        CHECK(utimensat(AT_FDCWD, f, ts, 0) == 0);
    }
    free(data);
    docs[0].body = "changed again";
    CHECK(rel("site", NULL, &ro, d) < 0 && diag_has(d, "modified: notices/2017/a/index.html"));
    release_outcome_free(&ro);
    free(f);
    free(site);
    free(rec);
    diag_free(d);
    teardown();
}

/* `gazette build --out site` between releases leaves site/ differing from
 * the last release exactly as a build writes it: that is not refused, and
 * the release contains those changes. */
TEST(prebuilt_work_tree_accepted)
{
    setup();
    diag *d = diag_new();
    release_outcome ro;
    CHECK(rel("site", NULL, &ro, d) == 0);
    release_outcome_free(&ro);
    char *site = tpath("site");
    docs[0].body = "previewed";
    docs[1] = (fdoc){"notices/2017/e", "戊", "2017-01-01", "body e"};   /* b's page deleted */
    build_opts bo;
    memset(&bo, 0, sizeof bo);
    bo.out_dir = site;
    bo.history = release_history_asof(site, "https://git.example.org/site", NULL, d);
    build_result br;
    memset(&br, 0, sizeof br);
    CHECK(fake_build(&bo, &br, d) == 0);
    value_unref(bo.history);
    for (size_t i = 0; i < br.ndocs; i++) {
        free(br.docs[i].url); free(br.docs[i].path); free(br.docs[i].title);
        free(br.docs[i].source); free(br.docs[i].date);
    }
    free(br.docs);
    for (size_t i = 0; i < br.nchanged; i++) free(br.changed[i]);
    for (size_t i = 0; i < br.nremoved; i++) free(br.removed_paths[i]);
    free(br.changed);
    free(br.removed_paths);
    value_unref(br.site);
    CHECK(rel("site", NULL, &ro, d) == 0 && !ro.nothing);
    CHECK_CONTAINS(ro.message, "Documents changed (1):\n  * 关于《甲》的通知");
    CHECK_CONTAINS(ro.message, "Documents removed (1):\n  - 乙 & 报告");
    CHECK_CONTAINS(ro.message, "Documents added (1):\n  + 戊");
    release_outcome_free(&ro);
    release_opts o;
    opts(&o, "site");
    char **diffs = NULL;
    CHECK(release_verify(&o, NULL, &diffs, d) == 0);
    release_free_list(diffs);
    CHECK(sh("cd %s && test -z \"$(git status --porcelain)\"", site) == 0);
    CHECK(diag_count(d, DIAG_ERROR) == 0);
    free(site);
    diag_free(d);
    teardown();
}

TEST(lock_refused)
{
    setup();
    diag *d = diag_new();
    release_outcome ro;
    CHECK(rel("site", NULL, &ro, d) == 0);
    release_outcome_free(&ro);
    char *lock = tpath("site/.git/gazette-release.lock");
    char *pid = xasprintf("%ld\n", (long)getppid());   /* a live process */
    write_file_atomic(lock, pid, strlen(pid));
    docs[0].body = "x";
    CHECK(rel("site", NULL, &ro, d) < 0 && diag_has(d, "another release is running"));
    release_outcome_free(&ro);
    diag_clear(d);
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0);                              /* now surely dead */
    free(pid);
    pid = xasprintf("%ld\n", (long)child);
    write_file_atomic(lock, pid, strlen(pid));
    CHECK(rel("site", NULL, &ro, d) < 0 && diag_has(d, "stale lock") && diag_has(d, "rm "));
    release_outcome_free(&ro);
    diag_clear(d);
    CHECK(path_exists(lock));   /* not stolen */
    unlink(lock);
    CHECK(rel("site", NULL, &ro, d) == 0 && !ro.nothing);
    CHECK(!path_exists(lock));
    release_outcome_free(&ro);
    free(lock);
    free(pid);
    diag_free(d);
    teardown();
}

/* Kill the release at each named step: the repository stays valid and HEAD
 * is the old or the new release; once cleaned up, the release completes
 * with the same commit an uninterrupted one makes. */
TEST(kill_at_every_step)
{
    static const char *steps[] = {"locked", "built", "built2", "pack", "commit", "ref", "tag", "index"};
    setup();
    diag *d = diag_new();
    release_outcome ro;
    CHECK(rel("ref", NULL, &ro, d) == 0);
    release_outcome_free(&ro);
    docs[0].body = "after";
    CHECK(rel("ref", NULL, &ro, d) == 0);
    char want[41];
    memcpy(want, ro.commit, 41);
    release_outcome_free(&ro);
    docs[0].body = "body a";
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        char *site = tpath("site");
        rm_rf(site);
        CHECK(rel("site", NULL, &ro, d) == 0);
        char old[41];
        memcpy(old, ro.commit, 41);
        release_outcome_free(&ro);
        docs[0].body = "after";
        fflush(stdout);
        pid_t p = fork();
        if (p == 0) {
            setenv("GAZETTE_RELEASE_TEST_KILL_AT", steps[i], 1);
            diag *cd = diag_new();
            release_outcome cro;
            rel("site", NULL, &cro, cd);
            _exit(3);
        }
        int st = 0;
        waitpid(p, &st, 0);
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) { printf("  step %s: not killed\n", steps[i]); CHECK(0); }
        CHECK(sh("git -C %s fsck --strict --no-dangling >/dev/null 2>&1", site) == 0);
        char *q = xasprintf("h=$(git -C %s rev-parse HEAD); test $h = %s -o $h = %s", site, old, want);
        CHECK(system(q) == 0);
        free(q);
        /* The stale lock is reported, then the documented clean-up. */
        CHECK(rel("site", NULL, &ro, d) < 0 && diag_has(d, "stale lock"));
        release_outcome_free(&ro);
        diag_clear(d);
        CHECK(sh("rm -f %s/.git/gazette-release.lock && git -C %s reset -q --hard && git -C %s clean -qfd", site) == 0);
        CHECK(rel("site", NULL, &ro, d) == 0);
        CHECK_STR(ro.commit, want);
        release_outcome_free(&ro);
        CHECK(sh("test \"$(git -C %s tag -l 'release-2017-09-29.2')\" = release-2017-09-29.2", site) == 0);
        CHECK(sh("cd %s && s=$(git status --porcelain) && { test -z \"$s\" || { echo \"$s\" | head -5; false; }; }", site) == 0);
        docs[0].body = "body a";
        free(site);
    }
    diag_free(d);
    teardown();
}

TEST(damaged_repository)
{
    setup();
    diag *d = diag_new();
    release_outcome ro;
    CHECK(rel("site", NULL, &ro, d) == 0);
    release_outcome_free(&ro);
    char *site = tpath("site");
    /* Point the branch at an object that does not exist. */
    CHECK(sh("echo 0123456789012345678901234567890123456789 > %s/.git/refs/heads/main", site) == 0);
    docs[0].body = "x";
    CHECK(rel("site", NULL, &ro, d) < 0);
    CHECK(diag_has(d, "damaged") || diag_has(d, "cannot"));
    release_outcome_free(&ro);
    diag_clear(d);
    value *h = release_history(site, "", d);
    CHECK(!h && diag_total(d) > 0);
    free(site);
    diag_free(d);
    teardown();
}

TEST(push_to_bare)
{
    setup();
    diag *d = diag_new();
    release_outcome ro;
    char *bare = tpath("bare.git"), *site = tpath("site");
    CHECK(sh("git init -q --bare %s", bare) == 0);
    CHECK(rel("site", NULL, &ro, d) == 0);
    release_outcome_free(&ro);
    char *cmd = xasprintf("git -C %s remote add origin %s", site, bare);
    CHECK(system(cmd) == 0);
    free(cmd);
    release_opts o;
    opts(&o, "site");
    o.push_remote = "origin";
    docs[0].body = "pushed";
    CHECK(release_run(&o, &ro, d) == 0);
    char *q = xasprintf("test $(git -C %s rev-parse main) = %s && git -C %s rev-parse -q --verify release-2017-09-29 >/dev/null "
                        "&& git -C %s rev-parse -q --verify release-2017-09-29.2 >/dev/null",
                        bare, ro.commit, bare, bare);
    CHECK(system(q) == 0);
    free(q);
    release_outcome_free(&ro);
    o.push_remote = "nosuch";
    CHECK(release_run(&o, &ro, d) < 0 && diag_has(d, "remote add nosuch"));
    release_outcome_free(&ro);
    free(bare);
    free(site);
    diag_free(d);
    teardown();
}

/* ---- the real build, sharing its load (build_keep in build.h) ---- */

static void write_doc(const char *rel, const char *title, const char *date, const char *extra)
{
    char *p = tpath(rel), *dir = xstrdup(p);
    *strrchr(dir, '/') = 0;
    mkdir_p(dir);
    char *t = xasprintf("---\ntitle: \"%s\"\ndate: %s\n%s---\n\n%s 的正文。\n", title, date, extra, title);
    write_file_atomic(p, t, strlen(t));
    free(t);
    free(dir);
    free(p);
}

static bool file_has(const char *rel, const char *needle)
{
    char *p = tpath(rel), *data = NULL;
    size_t len;
    bool yes = read_file(p, &data, &len) == 0 && strstr(data, needle);
    free(data);
    free(p);
    return yes;
}

/* The real build, with content/ edited just before each later build of a
 * release: a build that loads again sees the edit, one given the first
 * build's content does not. */
static int real_builds, keeps_given;
static int edit_then_build(const build_opts *o, build_result *res, diag *d)
{
    if (real_builds++ > 0) {
        write_doc("content/notices/2017/a.md", "甲改", "2017-09-29", "");
        char *b = tpath("content/notices/2016/b.md");
        unlink(b);
        free(b);
    }
    if (build_keep_full(o->keep)) keeps_given++;
    return build_site(o, res, d);
}

TEST(release_builds_share_one_load)
{
    setup();
    write_doc("content/notices/2017/a.md", "甲", "2017-09-29", "");
    write_doc("content/notices/2016/b.md", "乙", "2016-05-01", "");
    diag *d = diag_new();
    release_opts o;
    opts(&o, "site");
    char *cache = tpath("cache");
    o.cache_dir = cache;
    o.build = edit_then_build;
    o.templates_dir = "/nonexistent";          /* the built-in theme */
    release_outcome ro;
    /* First release: a check-only build, then the pending one. */
    real_builds = keeps_given = 0;
    CHECK(release_run(&o, &ro, d) == 0);
    CHECK(real_builds == 2 && keeps_given == 1);
    CHECK(!ro.nothing);
    CHECK_CONTAINS(ro.message, "Documents added (2):");
    release_outcome_free(&ro);
    /* What the first build read is what was published: a reload would
     * have published the new title and no b. */
    CHECK(file_has("site/notices/2017/a/index.html", "甲 的正文"));
    CHECK(!file_has("site/notices/2017/a/index.html", "甲改"));
    CHECK(file_has("site/notices/2016/b/index.html", "乙"));
    CHECK(diag_count(d, DIAG_ERROR) == 0);
    /* A release after one: a full as-of build, then the pending one; the
     * last edits (b's removal) are now what the first build reads. */
    write_doc("content/notices/2017/a.md", "甲二", "2017-09-29", "");
    real_builds = keeps_given = 0;
    CHECK(release_run(&o, &ro, d) == 0);
    CHECK(real_builds == 2 && keeps_given == 1);
    CHECK(!ro.nothing);
    release_outcome_free(&ro);
    CHECK(file_has("site/notices/2017/a/index.html", "甲二"));
    CHECK(!file_has("site/notices/2017/a/index.html", "甲改"));
    char *b = tpath("site/notices/2016/b/index.html");
    CHECK(!path_exists(b));                   /* its file went in the first release's edit */
    free(b);
    CHECK(diag_count(d, DIAG_ERROR) == 0);
    char *site = tpath("site");
    CHECK(sh("git -C %s fsck --strict --no-dangling >/dev/null 2>&1", site) == 0);
    CHECK(sh("cd %s && test -z \"$(git status --porcelain)\"", site) == 0);
    free(site);
    free(cache);
    diag_free(d);
    teardown();
}

/* Options of a quiet build with a build cache and a new keep. */
static void keep_opts(build_opts *bo, const char *content, const char *tpl, const char *out, const char *cache)
{
    build_opts_default(bo);
    bo->content_dir = content;
    bo->templates_dir = tpl;
    bo->out_dir = out;
    bo->cache_dir = cache;
    bo->quiet = true;
    bo->keep = build_keep_new();
}

/* build_keep on its own: reuse, the load's warnings said again, line
 * numbers kept for a later validation, and a failed build empties it. */
TEST(build_keep_reuse_warnings_and_failure)
{
    setup();
    /* A folder year that disagrees with the date: a load warning (and so
     * a document the document cache does not record). */
    write_doc("content/notices/2016/w.md", "乙", "2017-05-01", "layout: special\n");
    write_doc("content/notices/2017/a.md", "甲", "2017-09-29", "");
    char *tpl = tpath("tpl"), *special = tpath("tpl/special.mustache");
    char *cache = tpath("cache"), *out = tpath("out"), *content = tpath("content");
    mkdir_p(tpl);
    write_file_atomic(special, "{{> layout}}", 12);
    build_opts bo;
    keep_opts(&bo, content, tpl, out, cache);
    build_result res;
    diag *d1 = diag_new(), *d2 = diag_new(), *d3 = diag_new();
    CHECK(build_site(&bo, &res, d1) == 0);
    build_result_free(&res);
    CHECK(build_keep_full(bo.keep));
    CHECK(diag_count(d1, DIAG_WARNING) == 1 && diag_has(d1, "w.md"));
    /* Edited after the first load: the second build does not see it. */
    write_doc("content/notices/2017/a.md", "甲改", "2017-09-29", "");
    CHECK(build_site(&bo, &res, d2) == 0);
    build_result_free(&res);
    CHECK(build_keep_full(bo.keep));
    CHECK(!file_has("out/notices/2017/a/index.html", "甲改"));
    diag_sort(d1);
    diag_sort(d2);
    CHECK(diag_total(d2) == diag_total(d1));
    for (size_t i = 0; i < diag_total(d1) && i < diag_total(d2); i++)
        CHECK_STR(diag_message(d2, i), diag_message(d1, i));
    /* Without its template the kept document fails validation, with its
     * line; the failed build leaves the keep empty... */
    bo.templates_dir = "/nonexistent";
    CHECK(build_site(&bo, &res, d3) < 0);
    build_result_free(&res);
    CHECK(diag_has(d3, "w.md:4: error: unknown template 'special'"));
    CHECK(!build_keep_full(bo.keep));
    /* ... so the next build loads again and sees the edit. */
    bo.templates_dir = tpl;
    diag_clear(d3);
    CHECK(build_site(&bo, &res, d3) == 0);
    build_result_free(&res);
    CHECK(file_has("out/notices/2017/a/index.html", "甲改"));
    CHECK(build_keep_full(bo.keep));
    /* Other options: the keep is neither used nor changed. */
    bo.cache_dir = NULL;
    write_doc("content/notices/2017/a.md", "甲三", "2017-09-29", "");
    diag_clear(d3);
    CHECK(build_site(&bo, &res, d3) == 0);
    build_result_free(&res);
    CHECK(file_has("out/notices/2017/a/index.html", "甲三"));
    CHECK(build_keep_full(bo.keep));
    build_keep_free(bo.keep, d3);
    CHECK(diag_count(d3, DIAG_ERROR) == 0);
    diag_free(d1);
    diag_free(d2);
    diag_free(d3);
    free(tpl);
    free(special);
    free(cache);
    free(out);
    free(content);
    teardown();
}

/* A history of releases, each {tag, [doc urls it added or changed]},
 * oldest first, in the shape build.h describes (the fields the pages
 * read). */
static value *history_of(const char *const rels[][3], size_t n)
{
    value *h = value_map(), *list = value_list(), *dmap = value_map();
    for (size_t i = n; i-- > 0;) {                  /* releases: newest first */
        value *r = value_map();
        value_set_str(r, "tag", rels[i][0]);
        value_set_str(r, "date", "2017-10-01");
        value_set_str(r, "summary", rels[i][0]);
        value_push(list, r);
    }
    for (size_t i = 0; i < n; i++)                   /* docs: oldest first */
        for (int k = 1; k < 3; k++) {
            if (!rels[i][k]) continue;
            value *l = value_get(dmap, rels[i][k]);
            if (!l) { l = value_list(); value_set(dmap, rels[i][k], l); }
            value *e = value_map();
            value_set_str(e, "tag", rels[i][0]);
            value_set_str(e, "date", "2017-10-01");
            value_set_str(e, "action", value_len(l) ? "changed" : "added");
            value_set_str(e, "url", "https://example.org/r");
            value_push(l, e);
        }
    value_set(h, "releases", list);
    value_set(h, "docs", dmap);
    return h;
}

/* A build with a keep, then one with another history and trust_out: only
 * /releases/ and the pages of documents whose entries changed are
 * rendered, and the site is the one a build from nothing gives. Other
 * options (no trust) or a failure drop the kept build. */
TEST(build_again_renders_history_pages_only)
{
    setup();
    write_doc("content/notices/2017/a.md", "甲", "2017-09-29", "");
    write_doc("content/notices/2016/b.md", "乙", "2016-05-01", "");
    char *cache = tpath("cache"), *out = tpath("out"), *content = tpath("content"), *ref = tpath("ref");
    char *tpl = tpath("tpl"), *t404 = tpath("tpl/404.mustache");
    mkdir_p(tpl);
    write_file_atomic(t404, "v1", 2);
    build_opts bo;
    keep_opts(&bo, content, tpl, out, cache);
    static const char *const r1[][3] = {{"r1", "/notices/2017/a/", "/notices/2016/b/"}};
    static const char *const r2[][3] = {{"r1", "/notices/2017/a/", "/notices/2016/b/"},
                                        {"r2", "/notices/2017/a/", NULL}};
    value *h1 = history_of(r1, 1), *h2 = history_of(r2, 2);
    build_result res;
    diag *d = diag_new();
    bo.history = h1;
    CHECK(build_site(&bo, &res, d) == 0);      /* (a new directory: not recorded yet) */
    build_result_free(&res);
    CHECK(build_site(&bo, &res, d) == 0);
    CHECK(res.out_recorded);
    build_result_free(&res);
    CHECK(build_keep_full(bo.keep));
    /* An edit now is not seen: the kept content is published, with the
     * kept templates (the 404 page is not rendered again). */
    write_doc("content/notices/2016/b.md", "乙改", "2016-05-01", "");
    write_file_atomic(t404, "v2", 2);
    bo.history = h2;
    bo.trust_out = true;
    CHECK(build_site(&bo, &res, d) == 0);
    CHECK(res.out_recorded);
    CHECK(res.nchanged == 2);
    CHECK(res.nchanged == 2 && !strcmp(res.changed[0], "notices/2017/a/index.html") &&
          !strcmp(res.changed[1], "releases/index.html"));
    CHECK(res.ndocs == 2 && res.unchanged > 10);
    build_result_free(&res);
    CHECK(file_has("out/notices/2017/a/index.html", "r2"));
    CHECK(!file_has("out/notices/2016/b/index.html", "r2"));
    CHECK(!file_has("out/notices/2016/b/index.html", "乙改"));
    CHECK(file_has("out/releases/index.html", "r2"));
    CHECK(file_has("out/404.html", "v1"));
    /* The same history again: nothing to render, nothing changed. */
    CHECK(build_site(&bo, &res, d) == 0);
    CHECK(res.nchanged == 0 && res.nremoved == 0);
    build_result_free(&res);
    /* What a build from nothing gives, of the same content and history. */
    write_doc("content/notices/2016/b.md", "乙", "2016-05-01", "");
    write_file_atomic(t404, "v1", 2);
    build_opts fresh = bo;
    fresh.out_dir = ref;
    fresh.cache_dir = NULL;
    fresh.keep = NULL;
    fresh.trust_out = false;
    CHECK(build_site(&fresh, &res, d) == 0);
    build_result_free(&res);
    CHECK(sh("diff -r %s/out %s/ref >/dev/null", tmp) == 0);
    /* Without trust_out the kept build is dropped and its content used:
     * a full check, the edit still unseen. */
    write_doc("content/notices/2016/b.md", "乙改", "2016-05-01", "");
    bo.trust_out = false;
    bo.history = h1;
    CHECK(build_site(&bo, &res, d) == 0);
    CHECK(res.nchanged == 2);
    build_result_free(&res);
    CHECK(!file_has("out/notices/2016/b/index.html", "乙改"));
    CHECK(!file_has("out/notices/2017/a/index.html", "r2"));
    CHECK(diag_count(d, DIAG_ERROR) == 0);
    build_keep_free(bo.keep, d);
    value_unref(h1);
    value_unref(h2);
    diag_free(d);
    free(cache);
    free(out);
    free(content);
    free(ref);
    free(tpl);
    free(t404);
    teardown();
}

/* TEST_ONLY=name runs one test (for debugging). */
#define RUN1(t) do { const char *o_ = getenv("TEST_ONLY"); if (!o_ || !strcmp(o_, #t)) RUN(t); } while (0)

int main(void)
{
    RUN1(first_release_then_noop);
    RUN1(change_release_message_tags_and_reuse);
    RUN1(history_structure);
    RUN1(verify_ok_and_tampered);
    RUN1(deterministic_across_directories);
    RUN1(dirty_work_tree_refused);
    RUN1(index_written_by_release_is_git_index);
    RUN1(prebuilt_work_tree_accepted);
    RUN1(lock_refused);
    RUN1(kill_at_every_step);
    RUN1(damaged_repository);
    RUN1(push_to_bare);
    RUN1(release_builds_share_one_load);
    RUN1(build_keep_reuse_warnings_and_failure);
    RUN1(build_again_renders_history_pages_only);
    return test_summary();
}
