/* fuzz_stats.c - libFuzzer target: the snapshot loader. The input is
 * written to a private temp content dir as stats/snapshot.sql (or, in the
 * fuzz_stats_sqlite build, -DSQLITE_FILE, as stats/snapshot.sqlite) and
 * loaded with stats_load, the way a build does. When it loads, every page
 * context and data file is built too (escaping, money formatting, charts
 * data). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "stats.h"

#ifdef SQLITE_FILE
#define SNAP "snapshot.sqlite"
#else
#define SNAP "snapshot.sql"
#endif

static char dir[64], path[128];

static void cleanup(void)
{
    remove(path);
    char sd[96];
    snprintf(sd, sizeof sd, "%s/stats", dir);
    rmdir(sd);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(dir, sizeof dir, "/tmp/gz-fuzz-stats-XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); exit(1); }
    char sd[96];
    snprintf(sd, sizeof sd, "%s/stats", dir);
    if (mkdir(sd, 0700) < 0) { perror("mkdir"); exit(1); }
    snprintf(path, sizeof path, "%s/" SNAP, sd);
    atexit(cleanup);
    return 0;
}

static const char *pages[] = {"stats/", "stats/refunds/", "stats/lookup/", "districts/"};
static const char *files[] = {"districts.csv", "districts.json", "refunds.csv", "refunds.json",
                              "reported-totals.csv", "union-building.json", "achievements.csv",
                              "enterprise-refunds.csv", "enterprise-refunds.json", "lookup.json"};

/* stats.o links render.o, which needs the Mustache engine; this target
 * never renders, so weak stand-ins let it link whether or not mustache.c
 * is in the library (the linker does not pull an archive member to replace
 * a weak definition, so these are what gets linked). */
#include "mustache.h"
__attribute__((weak)) mustache_set *mustache_set_new(mustache_loader l, void *u) { (void)l; (void)u; return NULL; }
__attribute__((weak)) void mustache_set_free(mustache_set *s) { (void)s; }
__attribute__((weak)) void mustache_set_strict(mustache_set *s, bool b) { (void)s; (void)b; }
__attribute__((weak)) const mustache_tpl *mustache_get(mustache_set *s, const char *n, diag *d) { (void)s; (void)n; (void)d; abort(); }
__attribute__((weak)) int mustache_render(mustache_set *s, const mustache_tpl *t, const value *c, buf *o, diag *d) { (void)s; (void)t; (void)c; (void)o; (void)d; abort(); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); abort(); }
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    diag *d = diag_new();
    stats *s = NULL;
    if (stats_load(dir, &s, d) == 0 && s) {
        for (size_t i = 0; i < sizeof pages / sizeof *pages; i++)
            value_unref(stats_page_context(s, pages[i], NULL, NULL, d));
        for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
            size_t n;
            free(stats_data_file(s, files[i], &n));
        }
    }
    stats_free(s);
    diag_free(d);
    return 0;
}
