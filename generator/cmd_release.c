/* cmd_release.c - gazette release / log / verify (see release.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "diag.h"
#include "release.h"
#include "value.h"

static const char release_usage[] =
    "usage: gazette release [-m MESSAGE] [--content DIR] [--templates DIR] [--out DIR]\n"
    "                       [--tag NAME] [--date YYYY-MM-DD] [--push REMOTE]\n"
    "                       [--cache DIR | --no-cache]\n"
    "\n"
    "Build the site into DIR (default site/) and commit it, on the branch of\n"
    "site.yaml release.branch (default main), as a tagged release. The commit\n"
    "is dated by the newest document (00:00 +0800) unless --date is given, so\n"
    "the same content gives the same commit anywhere. Prints the commit id and\n"
    "tag, or \"nothing to release\" when the site has not changed.\n"
    "\n"
    "  -m, --message TEXT   first line (and body) of the commit message\n"
    "  --content DIR        content directory (default content)\n"
    "  --templates DIR      templates directory (default templates)\n"
    "  --out DIR            work tree of the release repository (default site)\n"
    "  --tag NAME           tag name (default release-DATE, release-DATE.N)\n"
    "  --date YYYY-MM-DD    release date\n"
    "  --push REMOTE        then push the branch and all tags to REMOTE\n"
    "  --cache DIR          build cache (default .gazette-cache next to the content\n"
    "                       directory; see gazette build --help)\n"
    "  --no-cache           neither read nor write the build cache\n";

static const char log_usage[] =
    "usage: gazette log [--out DIR]\n"
    "\n"
    "List the releases in DIR (default site/), newest first: tag, date,\n"
    "short commit id, summary and documents added/changed/removed.\n";

static const char verify_usage[] =
    "usage: gazette verify [TAG] [--content DIR] [--templates DIR] [--out DIR]\n"
    "\n"
    "Rebuild the site from the current content into a temporary directory\n"
    "and compare it with release TAG (default: the latest). Exit 0 when the\n"
    "trees are equal, 1 listing the paths that differ\n"
    "(M changed, + only in the rebuild, - only in the release).\n";

/* Shared option parser: --opt VALUE and --opt=VALUE. Returns 1 when arg i
 * was an option (consuming *i as needed), 0 when not, -1 on a usage error. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char *alias, const char **out)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (!strncmp(a, name, n) && a[n] == '=') { *out = a + n + 1; return 1; }
    if (strcmp(a, name) && !(alias && !strcmp(a, alias))) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "gazette: %s needs a value\n", a);
        return -1;
    }
    *out = argv[++*i];
    return 1;
}

static bool is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

static int finish(diag *d, int rc)
{
    diag_print(d, stderr);
    diag_free(d);
    return rc;
}

int cmd_release(int argc, char **argv)
{
    release_opts o;
    release_opts_default(&o);
    bool no_cache = false;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (is_help(argv[i])) { fputs(release_usage, stdout); return 0; }
        if (!strcmp(argv[i], "--no-cache")) { no_cache = true; continue; }
        if ((r = opt_value(argc, argv, &i, "--message", "-m", &o.message)) ||
            (r = opt_value(argc, argv, &i, "--content", NULL, &o.content_dir)) ||
            (r = opt_value(argc, argv, &i, "--templates", NULL, &o.templates_dir)) ||
            (r = opt_value(argc, argv, &i, "--out", NULL, &o.out_dir)) ||
            (r = opt_value(argc, argv, &i, "--tag", NULL, &o.tag)) ||
            (r = opt_value(argc, argv, &i, "--date", NULL, &o.date)) ||
            (r = opt_value(argc, argv, &i, "--push", NULL, &o.push_remote)) ||
            (r = opt_value(argc, argv, &i, "--cache", NULL, &o.cache_dir))) {
            if (r < 0) return 2;
            continue;
        }
        fprintf(stderr, "gazette: release: unknown argument '%s'\n%s", argv[i], release_usage);
        return 2;
    }
    char *dflt = NULL;
    if (no_cache) o.cache_dir = NULL;
    else if (!o.cache_dir) o.cache_dir = dflt = build_default_cache_dir(o.content_dir);
    diag *d = diag_new();
    release_outcome out;
    /* As gazette build does (cmd_build.c): no piecewise freeing of what
     * the builds made, except where leak checkers look. */
#if !defined(__SANITIZE_ADDRESS__)
    o.exit_after = !getenv("GAZETTE_FREE_AT_EXIT");
#endif
    int rc = release_run(&o, &out, d);
    free(dflt);
    if (rc == 0 && out.tag_repaired)
        fprintf(stderr, "gazette: release: made the missing tag %s (an interrupted release)\n", out.tag);
    if (rc == 0 && out.nothing) {
        printf("nothing to release (%s is release %s, commit %s)\n", o.out_dir, *out.tag ? out.tag : "-",
               out.commit);
    } else if (rc == 0) {
        printf("commit %s\ntag %s\n", out.commit, out.tag);
        fprintf(stderr, "gazette: released %s (build %.2fs, git %.2fs)\n", out.tag, out.build_seconds,
                out.git_seconds);
    }
    if (rc == 0 && o.push_remote) printf("pushed to %s\n", o.push_remote);
    release_outcome_free(&out);
    diag_print(d, stderr);
    if (rc < 0) fprintf(stderr, "gazette: release failed; the last release is unchanged\n");
    return finish(d, rc < 0 ? 1 : 0);
}

int cmd_log(int argc, char **argv)
{
    const char *dir = "site";
    for (int i = 1; i < argc; i++) {
        int r;
        if (is_help(argv[i])) { fputs(log_usage, stdout); return 0; }
        if ((r = opt_value(argc, argv, &i, "--out", NULL, &dir))) {
            if (r < 0) return 2;
            continue;
        }
        fprintf(stderr, "gazette: log: unknown argument '%s'\n%s", argv[i], log_usage);
        return 2;
    }
    diag *d = diag_new();
    value *h = release_history(dir, NULL, d);
    if (!h) return finish(d, 1);
    value *rels = value_get(h, "releases");
    for (size_t i = 0; i < value_len(rels); i++) {
        value *e = value_at(rels, i);
        printf("%-24s %s  %s  %s  (+%lld ~%lld -%lld)\n", value_str_ptr(value_get(e, "tag")),
               value_str_ptr(value_get(e, "date")), value_str_ptr(value_get(e, "short")),
               value_str_ptr(value_get(e, "summary")), value_int_of(value_get(e, "added")),
               value_int_of(value_get(e, "changed")), value_int_of(value_get(e, "removed")));
    }
    if (!value_len(rels)) printf("no releases in %s\n", dir);
    value_unref(h);
    return finish(d, 0);
}

int cmd_verify(int argc, char **argv)
{
    release_opts o;
    release_opts_default(&o);
    const char *tag = NULL;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (is_help(argv[i])) { fputs(verify_usage, stdout); return 0; }
        if ((r = opt_value(argc, argv, &i, "--content", NULL, &o.content_dir)) ||
            (r = opt_value(argc, argv, &i, "--templates", NULL, &o.templates_dir)) ||
            (r = opt_value(argc, argv, &i, "--out", NULL, &o.out_dir))) {
            if (r < 0) return 2;
            continue;
        }
        if (argv[i][0] != '-' && !tag) { tag = argv[i]; continue; }
        fprintf(stderr, "gazette: verify: unknown argument '%s'\n%s", argv[i], verify_usage);
        return 2;
    }
    diag *d = diag_new();
    char **diffs = NULL;
    int rc = release_verify(&o, tag, &diffs, d);
    const char *what = tag ? tag : "the latest release";
    if (rc == 0) {
        printf("ok: the rebuilt site equals %s\n", what);
    } else if (rc == 1) {
        printf("differs from %s:\n", what);
        for (char **p = diffs; p && *p; p++) printf("  %s\n", *p);
    }
    release_free_list(diffs);
    return finish(d, rc == 0 ? 0 : 1);
}
