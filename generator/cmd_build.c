/* cmd_build.c - `gazette build`, `gazette check` and `gazette new`. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "commands.h"
#include "content.h"
#include "release.h"
#include "util.h"
#include "watch.h"

static const char build_usage[] =
    "usage: gazette build [--content DIR] [--templates DIR] [--out DIR] [--drafts]\n"
    "                     [--strict] [--quiet] [--threads N] [--cache DIR | --no-cache]\n"
    "                     [--watch]\n"
    "\n"
    "Render content/ into a complete static site in site/.\n"
    "\n"
    "  --content DIR    content directory (default: content)\n"
    "  --templates DIR  templates overriding the built-in theme by name\n"
    "                   (default: templates; optional)\n"
    "  --out DIR        output directory (default: site)\n"
    "  --drafts         also publish documents with draft: true\n"
    "  --strict         treat warnings (e.g. stats that do not add up) as errors\n"
    "  --quiet          no progress line or summary\n"
    "  --threads N      worker threads (default: all CPUs)\n"
    "  --cache DIR      build cache: rendered Markdown and a record of the pages\n"
    "                   written, so a rebuild redoes only what changed (default:\n"
    "                   .gazette-cache next to the content directory)\n"
    "  --no-cache       neither read nor write the build cache\n"
    "  --watch          after the build, stay and rebuild whenever anything in\n"
    "                   the content or templates directory changes, until\n"
    "                   Ctrl-C. The last build is kept in memory: after edits\n"
    "                   of documents only, a rebuild remakes just their pages\n"
    "                   and the search index. While it watches, the output is\n"
    "                   taken as its own (a release into it is noticed)\n"
    "\n"
    "Nothing is written unless all content is valid; errors are printed as\n"
    "FILE:LINE: error: MESSAGE and the exit status is 1 (with --watch, the\n"
    "output stays as the last good build left it, and watching goes on).\n";

static const char check_usage[] =
    "usage: gazette check [--content DIR] [--templates DIR] [--drafts] [--strict]\n"
    "\n"
    "Validate all content, the stats snapshot and the templates; build nothing.\n"
    "Reports every error, not just the first. With --strict, warnings fail too.\n";

static const char new_usage[] =
    "usage: gazette new notice|report SLUG [--content DIR] [--title TITLE] [--date YYYY-MM-DD]\n"
    "\n"
    "Create content/notices/YYYY/SLUG.md (or reports/) with front matter filled in.\n"
    "An existing file is never overwritten.\n";

/* Parse the options shared by build and check. Returns 0, 1 (help shown)
 * or 2 (usage error). */
static int parse_build_opts(int argc, char **argv, build_opts *o, const char *usage, bool *watching)
{
    static const struct option longopts[] = {
        {"content", required_argument, 0, 'c'}, {"templates", required_argument, 0, 't'},
        {"out", required_argument, 0, 'o'},     {"drafts", no_argument, 0, 'D'},
        {"strict", no_argument, 0, 's'},        {"quiet", no_argument, 0, 'q'},
        {"threads", required_argument, 0, 'j'}, {"help", no_argument, 0, 'h'},
        {"cache", required_argument, 0, 'C'},   {"no-cache", no_argument, 0, 'N'},
        {"watch", no_argument, 0, 'W'},         {0, 0, 0, 0}};
    optind = 1;
    int c;
    bool no_cache = false;
    while ((c = getopt_long(argc, argv, "c:t:o:Dsqj:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->content_dir = optarg; break;
        case 't': o->templates_dir = optarg; break;
        case 'o': o->out_dir = optarg; break;
        case 'D': o->drafts = true; break;
        case 's': o->strict = true; break;
        case 'q': o->quiet = true; break;
        case 'j': o->threads = atoi(optarg); break;
        case 'C': o->cache_dir = optarg; break;
        case 'N': no_cache = true; break;
        case 'W':
            if (!watching) { fputs(usage, stderr); return 2; }
            *watching = true;
            break;
        case 'h': fputs(usage, stdout); return 1;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gazette: unexpected argument '%s'\n%s", argv[optind], usage);
        return 2;
    }
    if (no_cache) o->cache_dir = NULL;
    else if (!o->cache_dir) {
        /* Lives as long as the process: one build per command. */
        static char *dflt;
        free(dflt);
        o->cache_dir = dflt = build_default_cache_dir(o->content_dir);
    }
    return 0;
}

/* When the output directory is a release repository, publish its history
 * as of its latest release, so that building unchanged content reproduces
 * the released tree and leaves site/ clean. Returns a reference or NULL. */
static value *load_history(const build_opts *o, diag *d)
{
    char *git = path_join(o->out_dir, ".git");
    int repo = is_dir(git);
    free(git);
    if (!repo) return NULL;
    /* A build only shows the history; an unreadable repository is worth a
     * warning here (gazette release refuses it outright). */
    diag *scratch = diag_new();
    release_settings rs;
    value *h = NULL;
    if (release_settings_load(o->content_dir, &rs, scratch) == 0) {
        h = release_history_asof(o->out_dir, rs.repo_url, NULL, scratch);
        release_settings_free(&rs);
    }
    diag_sort(scratch);
    for (size_t i = 0; i < diag_total(scratch); i++)
        diag_warn(d, NULL, 0, "release history not shown: %s", diag_message(scratch, i));
    diag_free(scratch);
    return h;
}

/* A stamp of the release repository in out_dir, if it is one: what a
 * release into it changes (HEAD, the index, the refs). 0: no repository. */
static uint64_t repo_stamp(const char *out_dir)
{
    static const char *const parts[] = {".git/HEAD", ".git/index", ".git/packed-refs",
                                        ".git/refs/tags", ".git/refs/heads"};
    uint64_t h = 0;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        char *p = path_join(out_dir, parts[i]);
        struct stat st;
        if (stat(p, &st) == 0) {
            uint64_t v[4] = {(uint64_t)st.st_ino, (uint64_t)st.st_size,
                             (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec,
                             (uint64_t)st.st_ctim.tv_sec * 1000000000u + (uint64_t)st.st_ctim.tv_nsec};
            for (int k = 0; k < 4; k++) h = (h ^ v[k]) * 1099511628211u + i + 1;
        }
        free(p);
    }
    return h;
}

/* One build of o, its messages (with what d already holds) and summary
 * printed; d is freed. first: the command's first build (else a rebuild
 * under --watch). Returns 0 when good. */
static int build_once(build_opts *o, bool first, bool *recorded, diag *d)
{
    build_result res;
    int rc = build_site(o, &res, d);
    size_t warnings = diag_count(d, DIAG_WARNING);
    diag_print(d, stderr);
    if (recorded) *recorded = rc == 0 && res.out_recorded;
    if (rc == 0) {
        if (!o->quiet && first)
            fprintf(stderr, "gazette: %zu documents; %zu files written, %zu unchanged, %zu removed; "
                            "%zu warning(s); %.2f s\n",
                    res.ndocs, res.written, res.unchanged, res.removed, warnings, res.seconds);
        else if (!o->quiet)
            fprintf(stderr, "gazette: rebuilt %zu documents (%zu written, %zu removed) in %.3f s\n",
                    res.ndocs, res.written, res.removed, res.seconds);
        build_result_free(&res);
    } else {
        fprintf(stderr, "gazette: build failed; %s was not changed\n", o->out_dir);
    }
    diag_free(d);
    return rc == 0 ? 0 : 1;
}

/* `gazette build --watch`: the first build, then one per change until a
 * stop signal. The last good build is kept (build_keep) and the output
 * trusted as it recorded it, as `gazette serve` does in its own output:
 * a rebuild after edits of documents only remakes their pages and the
 * search index. A release into the output (its repository changed) ends
 * that trust for the next build, and its history is read again. */
static int build_watching(build_opts *o)
{
    int sfd = watch_stop_fd("build --watch");    /* (before the build's threads) */
    if (sfd < 0) return 1;
    watch *w = watch_new(o->content_dir, o->templates_dir);   /* before: no change missed */
    if (!w) {
        close(sfd);
        return 1;
    }
    build_keep *keep = o->cache_dir ? build_keep_new() : NULL;
    o->keep = keep;
    diag *d = diag_new();
    value *history = load_history(o, d);
    o->history = history;
    uint64_t stamp = repo_stamp(o->out_dir);
    bool recorded = false;
    int rc = build_once(o, true, &recorded, d);
    if (!o->quiet) {
        bool tpl = is_dir(o->templates_dir);
        fprintf(stderr, "gazette: watching %s%s%s for changes (Ctrl-C to stop)\n", o->content_dir,
                tpl ? " and " : "", tpl ? o->templates_dir : "");
    }
    for (;;) {
        int r = watch_next(w, sfd);
        if (r < 0) { rc = 1; break; }
        if (r == 0) {
            unsigned sig = watch_stop_signal(sfd);
            if (sig && !o->quiet) fprintf(stderr, "gazette: stopping (signal %u)\n", sig);
            break;
        }
        d = diag_new();
        bool released = repo_stamp(o->out_dir) != stamp;
        if (released) {                    /* its history and files moved on */
            value_unref(history);
            history = load_history(o, d);
            o->history = history;
        }
        o->trust_out = recorded && !released;
        o->content_changed = true;
        o->edited = watch_edited(w, &o->nedited);
        rc = build_once(o, false, &recorded, d);
        o->edited = NULL;
        o->nedited = 0;
        stamp = repo_stamp(o->out_dir);
    }
    build_keep_free(keep, NULL);
    value_unref(history);
    watch_free(w);
    close(sfd);
    return rc;
}

int cmd_build(int argc, char **argv)
{
    build_opts o;
    build_opts_default(&o);
    bool watching = false;
    int p = parse_build_opts(argc, argv, &o, build_usage, &watching);
    if (p) return p == 1 ? 0 : 2;
    if (watching) {
        o.no_result_docs = true;
        return build_watching(&o);
    }
    diag *d = diag_new();
    value *history = load_history(&o, d);
    o.history = history;
    /* The process ends after the build: no piecewise freeing, except
     * where leak checkers look (ASan builds; GAZETTE_FREE_AT_EXIT=1, which
     * tests/valgrind.sh sets). */
#if !defined(__SANITIZE_ADDRESS__)
    o.exit_after = !getenv("GAZETTE_FREE_AT_EXIT");
    o.no_result_docs = true;
#endif
    int rc = build_once(&o, true, NULL, d);
    value_unref(history);
    return rc;
}

int cmd_check(int argc, char **argv)
{
    build_opts o;
    build_opts_default(&o);
    int p = parse_build_opts(argc, argv, &o, check_usage, NULL);
    if (p) return p == 1 ? 0 : 2;
    o.check_only = true;
    o.cache_dir = NULL;      /* check reads; it leaves no files behind */
    diag *d = diag_new();
    build_result res;
    int rc = build_site(&o, &res, d);
    size_t errors = diag_count(d, DIAG_ERROR), warnings = diag_count(d, DIAG_WARNING);
    diag_print(d, stderr);
    if (rc == 0) {
        printf("gazette: %zu documents checked, no errors, %zu warning(s)\n", res.ndocs, warnings);
        build_result_free(&res);
    } else {
        fprintf(stderr, "gazette: %zu error(s), %zu warning(s)\n", errors, warnings);
    }
    diag_free(d);
    return rc == 0 ? 0 : 1;
}

static int valid_slug(const char *s)
{
    if (!*s || *s == '.' || *s == '-') return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
              (unsigned char)*s >= 0x80))
            return 0;
    return 1;
}

int cmd_new(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"content", required_argument, 0, 'c'}, {"title", required_argument, 0, 'T'},
        {"date", required_argument, 0, 'd'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *content_dir = "content", *title = NULL, *date = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:T:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': content_dir = optarg; break;
        case 'T': title = optarg; break;
        case 'd': date = optarg; break;
        case 'h': fputs(new_usage, stdout); return 0;
        default: fputs(new_usage, stderr); return 2;
        }
    }
    if (argc - optind != 2 || (strcmp(argv[optind], "notice") && strcmp(argv[optind], "report"))) {
        fputs(new_usage, stderr);
        return 2;
    }
    const char *kind = argv[optind], *slug = argv[optind + 1];
    if (!valid_slug(slug)) {
        fprintf(stderr, "gazette: slug '%s' must be lowercase letters, digits, '-' or '_'\n", slug);
        return 2;
    }
    char today[11];
    int y, m, dd;
    if (date) {
        if (parse_date(date, &y, &m, &dd, NULL) < 0) {
            fprintf(stderr, "gazette: cannot parse date '%s' (want YYYY-MM-DD)\n", date);
            return 2;
        }
    } else {
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        y = tm.tm_year + 1900; m = tm.tm_mon + 1; dd = tm.tm_mday;
    }
    snprintf(today, sizeof today, "%04d-%02d-%02d", y, m, dd);
    int notice = !strcmp(kind, "notice");
    char *path = xasprintf("%s/%s/%04d/%s.md", content_dir, notice ? "notices" : "reports", y, slug);
    if (path_exists(path)) {
        fprintf(stderr, "gazette: %s already exists; not overwritten\n", path);
        free(path);
        return 1;
    }
    buf b = BUF_INIT;
    buf_puts(&b, "---\ntitle: \"");
    const char *t = title ? title : (notice ? "关于……的通知" : "关于……的报告");
    for (const char *p = t; *p; p++) {
        if (*p == '"' || *p == '\\') buf_putc(&b, '\\');
        buf_putc(&b, *p);
    }
    buf_printf(&b, "\"\ndate: %s\n", today);
    if (notice) buf_printf(&b, "doc_number: \"\"          # 文号, e.g. 大工办发〔%04d〕1号\n", y);
    buf_printf(&b, "issuer: \"\"              # 发文单位\n");
    if (notice) buf_puts(&b, "recipients: []          # 主送, one entry per addressee\n");
    buf_printf(&b, "category: %s\ntags: []\ndistricts: []           # ids from content/stats/snapshot\n"
                   "draft: true\n---\n\n", notice ? "通知" : "报告");
    buf_puts(&b, notice ? "正文。\n\n## 一、\n\n## 二、\n" : "正文。\n");
    int rc = write_file_atomic(path, b.ptr, b.len);
    if (rc < 0) fprintf(stderr, "gazette: cannot write %s: %s\n", path, strerror(errno));
    else printf("%s\n", path);
    buf_free(&b);
    free(path);
    return rc < 0 ? 1 : 0;
}
