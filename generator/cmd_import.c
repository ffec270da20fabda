/* cmd_import.c - `gazette import`: read files (or every file in a folder),
 * convert them with importer.c, write content/KIND/YYYY/SLUG.md, never
 * overwriting an existing file unless --force, and say what was found. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "diag.h"
#include "importer.h"
#include "util.h"

typedef struct {
    import_opts opts;
    const char *to;
    const char *slug;
    bool force;
    bool dry_run;
    size_t files, imported, failed, warnings;
} import_run;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gazette import FILE... [--kind notice|report] [--to DIR] [--slug SLUG]\n"
            "                      [--date YYYY-MM-DD] [--force] [--dry-run]\n"
            "\n"
            "Convert plain-text official documents (公文; UTF-8, GB18030 or UTF-16 with\n"
            "a BOM; any line ends) and Jekyll posts into Markdown with YAML front matter,\n"
            "written to DIR/notices/YYYY/SLUG.md or DIR/reports/YYYY/SLUG.md. A FILE may\n"
            "be a folder: every file in it is imported, with a summary at the end.\n"
            "\n"
            "  --kind KIND   notice or report (default: from the document's category)\n"
            "  --to DIR      content directory (default: content)\n"
            "  --slug SLUG   file name without .md (one FILE only; default: derived from\n"
            "                the title, or MM-DD-HASH for Chinese titles)\n"
            "  --date DATE   the document's date, when the text has none or it is wrong\n"
            "  --force       overwrite an existing file\n"
            "  --dry-run     convert and report, write nothing\n"
            "\n"
            "Warnings (FILE:LINE: warning: ...) name what was not recognised; the\n"
            "document is still imported. Exit status: 0 ok, 1 a file failed, 2 usage.\n");
}

static bool slug_ok(const char *s)
{
    if (!*s || *s == '-' || *s == '.') return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
              (*s >= 'A' && *s <= 'Z')))
            return false;
    return true;
}

static bool date_ok(const char *s)
{
    int y, m, d, n = 0;
    return strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10 &&
           m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static const char *kind_name(import_kind k) { return k == IMPORT_NOTICE ? "notice" : "report"; }

/* What was found, for the writer to check. */
static void report(const char *file, const char *out, const import_doc *doc)
{
    printf("%s -> %s\n", file, out);
    printf("  title:       %s\n", doc->title);
    printf("  date:        %s%s\n", doc->date, doc->undated ? " (not found; draft: true)" : doc->draft ? " (draft: true)" : "");
    if (doc->doc_number) printf("  doc_number:  %s\n", doc->doc_number);
    if (doc->issuer) printf("  issuer:      %s\n", doc->issuer);
    if (doc->nrecipients) printf("  recipients:  %zu\n", doc->nrecipients);
    printf("  category:    %s (%s)\n", doc->category ? doc->category : "-", kind_name(doc->kind));
    if (doc->ntags) printf("  tags:        %zu\n", doc->ntags);
    if (doc->nattachments) printf("  attachments: %zu\n", doc->nattachments);
    printf("  format:      %s, %s\n", doc->jekyll ? "Jekyll post" : "plain text", doc->encoding);
}

static void import_one(import_run *r, const char *file)
{
    r->files++;
    diag *d = diag_new();
    char *data = NULL;
    size_t len = 0;
    import_doc doc;
    memset(&doc, 0, sizeof doc);
    char *slug = NULL, *rel = NULL, *out = NULL, *text = NULL;
    bool ok = false;

    if (read_file(file, &data, &len) < 0) {
        diag_error(d, file, 0, "cannot read: %s", strerror(errno));
        goto done;
    }
    if (import_convert(file, data, len, &r->opts, &doc, d) < 0) goto done;
    slug = r->slug ? xstrdup(r->slug) : import_slug(&doc, file);
    rel = import_relpath(&doc, slug);
    out = path_join(r->to, rel);
    if (path_exists(out) && !r->force) {
        diag_error(d, file, 0, "%s exists; not overwritten (use --force, or --slug for another name)", out);
        goto done;
    }
    text = import_render(&doc);
    if (!r->dry_run && write_file_atomic(out, text, strlen(text)) < 0) {
        diag_error(d, file, 0, "cannot write %s: %s", out, strerror(errno));
        goto done;
    }
    report(file, out, &doc);
    ok = true;
done:
    r->warnings += diag_count(d, DIAG_WARNING);
    fflush(stdout);
    if (diag_total(d)) diag_print(d, stderr);   /* (qsort of an empty list trips UBSan) */
    if (ok) r->imported++;
    else r->failed++;
    diag_free(d);
    free(data);
    free(slug);
    free(rel);
    free(out);
    free(text);
    import_doc_free(&doc);
}

/* Every regular, non-hidden file under dir, sorted, recursively. */
static void collect(const char *dir, char ***list, size_t *n, size_t *cap, diag *d)
{
    DIR *dh = opendir(dir);
    if (!dh) { diag_error(d, dir, 0, "cannot open folder: %s", strerror(errno)); return; }
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (e->d_name[0] == '.') continue;
        char *p = path_join(dir, e->d_name);
        if (is_dir(p)) {
            collect(p, list, n, cap, d);
            free(p);
            continue;
        }
        if (*n == *cap) { *cap = *cap ? *cap * 2 : 32; *list = xrealloc(*list, *cap * sizeof **list); }
        (*list)[(*n)++] = p;
    }
    closedir(dh);
}

int cmd_import(int argc, char **argv)
{
    import_run r;
    memset(&r, 0, sizeof r);
    r.to = "content";
    char **files = NULL;
    size_t nfiles = 0;
    int rc = 2;
    files = xcalloc((size_t)argc + 1, sizeof *files);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); rc = 0; goto out; }
        if (!strcmp(a, "--force")) { r.force = true; continue; }
        if (!strcmp(a, "--dry-run")) { r.dry_run = true; continue; }
        if (!strcmp(a, "--kind") || !strcmp(a, "--to") || !strcmp(a, "--slug") || !strcmp(a, "--date")) {
            if (!val) { fprintf(stderr, "gazette import: %s needs a value\n", a); goto usage_err; }
            i++;
            if (!strcmp(a, "--to")) r.to = val;
            else if (!strcmp(a, "--slug")) {
                if (!slug_ok(val)) {
                    fprintf(stderr, "gazette import: --slug '%s': use letters, digits, - and _\n", val);
                    goto usage_err;
                }
                r.slug = val;
            } else if (!strcmp(a, "--date")) {
                if (!date_ok(val)) { fprintf(stderr, "gazette import: --date '%s' is not YYYY-MM-DD\n", val); goto usage_err; }
                r.opts.date = val;
            } else if (!strcmp(val, "notice")) r.opts.kind = IMPORT_NOTICE;
            else if (!strcmp(val, "report")) r.opts.kind = IMPORT_REPORT;
            else { fprintf(stderr, "gazette import: --kind must be notice or report\n"); goto usage_err; }
            continue;
        }
        if (a[0] == '-' && a[1]) { fprintf(stderr, "gazette import: unknown option '%s'\n", a); goto usage_err; }
        files[nfiles++] = argv[i];
    }
    if (!nfiles) { fprintf(stderr, "gazette import: no FILE given\n"); goto usage_err; }

    bool folder = false;
    for (size_t i = 0; i < nfiles; i++) folder |= is_dir(files[i]);
    if (r.slug && (nfiles > 1 || folder)) {
        fprintf(stderr, "gazette import: --slug needs exactly one FILE\n");
        goto usage_err;
    }
    for (size_t i = 0; i < nfiles; i++) {
        if (!is_dir(files[i])) { import_one(&r, files[i]); continue; }
        diag *d = diag_new();
        char **list = NULL;
        size_t n = 0, cap = 0;
        collect(files[i], &list, &n, &cap, d);
        if (diag_count(d, DIAG_ERROR)) r.failed++;
        if (diag_total(d)) diag_print(d, stderr);
        diag_free(d);
        if (n) qsort(list, n, sizeof *list, str_cmp_ptr);
        for (size_t k = 0; k < n; k++) { import_one(&r, list[k]); free(list[k]); }
        free(list);
    }
    if (r.files > 1 || folder)
        printf("imported %zu of %zu file%s, %zu failed, %zu warning%s%s\n", r.imported, r.files,
               r.files == 1 ? "" : "s", r.failed, r.warnings, r.warnings == 1 ? "" : "s",
               r.dry_run ? " (dry run: nothing written)" : "");
    rc = r.failed ? 1 : 0;
    goto out;
usage_err:
    fprintf(stderr, "Run 'gazette import --help' for usage.\n");
    rc = 2;
out:
    free(files);
    return rc;
}
