/* output.c - see output.h. */
#include "output.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct outdir {
    char *root;
    diag *d;
    pthread_mutex_t mu;
    char **slots;        /* open-addressing set of written relpaths */
    size_t nslots, used;
    size_t written, unchanged;
    char **changed; size_t nchanged, capchanged;
    char **removed; size_t nremoved, capremoved;
    char **existing; size_t nexisting, capexisting;   /* files found by out_open */
    char **dirs; size_t ndirs, capdirs;               /* directories that may end empty */
};

static void list_add(char ***list, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *list = xrealloc(*list, *cap * sizeof(char *));
    }
    (*list)[(*n)++] = xstrdup(s);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) { h ^= (unsigned char)*s++; h *= 1099511628211ull; }
    return h;
}

static void set_grow(outdir *o);

/* Insert p (owned on success). Returns 1 if inserted, 0 if already there. */
static int set_add(outdir *o, char *p)
{
    if ((o->used + 1) * 2 > o->nslots) set_grow(o);
    size_t i = hash_str(p) & (o->nslots - 1);
    while (o->slots[i]) {
        if (strcmp(o->slots[i], p) == 0) return 0;
        i = (i + 1) & (o->nslots - 1);
    }
    o->slots[i] = p;
    o->used++;
    return 1;
}

static int set_has(const outdir *o, const char *p)
{
    size_t i = hash_str(p) & (o->nslots - 1);
    while (o->slots[i]) {
        if (strcmp(o->slots[i], p) == 0) return 1;
        i = (i + 1) & (o->nslots - 1);
    }
    return 0;
}

static void set_grow(outdir *o)
{
    char **old = o->slots;
    size_t n = o->nslots;
    o->nslots = n ? n * 2 : 1024;
    o->slots = xcalloc(o->nslots, sizeof(char *));
    o->used = 0;
    for (size_t i = 0; i < n; i++)
        if (old[i]) set_add(o, old[i]);
    free(old);
}

/* What the output directory held when the build began: every file (to
 * remove the ones this build does not write) and every empty directory.
 * A build writes only regular files and directories; a symbolic link in
 * the tree (put there by hand or by a checkout) could make a write land
 * outside it, so every link is removed before anything is written.
 * One walk does both. Returns the number of entries in dir, or -1 on an
 * error (reported). */
static long scan(outdir *o, const char *dir, const char *rel)
{
    DIR *dh = opendir(dir);
    if (!dh) {
        diag_error(o->d, dir, 0, "cannot read directory: %s", strerror(errno));
        return -1;
    }
    long n = 0;
    int err = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        if (!*rel && !strcmp(e->d_name, ".git")) continue;
        unsigned char type = e->d_type;
        char *full = path_join(dir, e->d_name);
        if (type == DT_UNKNOWN) {
            struct stat st;
            type = lstat(full, &st) < 0 ? DT_UNKNOWN : S_ISLNK(st.st_mode) ? DT_LNK
                                                     : S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
        }
        char *r = *rel ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
        if (type == DT_LNK) {
            if (unlink(full) < 0) {
                diag_error(o->d, full, 0, "cannot remove symbolic link: %s", strerror(errno));
                err = 1;
            } else {
                diag_warn(o->d, full, 0, "removed a symbolic link from the output directory");
            }
        } else if (type == DT_DIR) {
            long k = scan(o, full, r);
            if (k < 0) err = 1;
            else if (k == 0) list_add(&o->dirs, &o->ndirs, &o->capdirs, r);
        } else {
            list_add(&o->existing, &o->nexisting, &o->capexisting, r);
        }
        free(r);
        free(full);
    }
    closedir(dh);
    return err ? -1 : n;
}

outdir *out_open(const char *root, diag *d)
{
    /* The output directory itself may be a link (a deliberate choice of
     * where the site lives); links inside it are not. */
    if (mkdir_p(root) < 0) {
        diag_error(d, root, 0, "cannot create output directory: %s", strerror(errno));
        return NULL;
    }
    outdir *o = xcalloc(1, sizeof *o);
    o->root = xstrdup(root);
    o->d = d;
    pthread_mutex_init(&o->mu, NULL);
    set_grow(o);
    if (scan(o, root, "") < 0) { out_close(o); return NULL; }
    return o;
}

const char *out_root(const outdir *o) { return o->root; }

static int valid_relpath(const char *p)
{
    if (!*p || *p == '/') return 0;
    const char *s = p;
    for (;;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return 0;
        if (s == p && n == 4 && memcmp(s, ".git", 4) == 0) return 0;
        if (!e) break;
        s = e + 1;
    }
    return 1;
}

/* Claim relpath for this build; reports a duplicate. */
static int claim(outdir *o, const char *relpath)
{
    if (!valid_relpath(relpath)) {
        diag_error(o->d, relpath, 0, "refusing to write outside the output directory");
        return -1;
    }
    char *p = xstrdup(relpath);
    pthread_mutex_lock(&o->mu);
    int fresh = set_add(o, p);
    pthread_mutex_unlock(&o->mu);
    if (!fresh) {
        free(p);
        diag_error(o->d, relpath, 0, "two sources produce the same output file /%s", relpath);
        return -1;
    }
    return 0;
}

static int same_content(const char *path, const void *data, size_t len)
{
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != len) return 0;
    char *old;
    size_t n;
    if (read_file(path, &old, &n) < 0) return 0;
    int same = n == len && memcmp(old, data, len) == 0;
    free(old);
    return same;
}

static void count(outdir *o, const char *relpath, int changed)
{
    pthread_mutex_lock(&o->mu);
    if (changed) {
        o->written++;
        list_add(&o->changed, &o->nchanged, &o->capchanged, relpath);
    } else {
        o->unchanged++;
    }
    pthread_mutex_unlock(&o->mu);
}

int out_write(outdir *o, const char *relpath, const void *data, size_t len)
{
    if (claim(o, relpath) < 0) return -1;
    char *full = path_join(o->root, relpath);
    int rc = 0;
    if (same_content(full, data, len)) {
        count(o, relpath, 0);
    } else if (write_file_atomic(full, data, len) < 0) {
        diag_error(o->d, full, 0, "cannot write: %s", strerror(errno));
        rc = -1;
    } else {
        count(o, relpath, 1);
    }
    free(full);
    return rc;
}

int out_keep(outdir *o, const char *relpath)
{
    if (claim(o, relpath) < 0) return -1;
    count(o, relpath, 0);
    return 0;
}

int out_copy(outdir *o, const char *relpath, const char *src_path)
{
    char *data;
    size_t len;
    if (read_file(src_path, &data, &len) < 0) {
        diag_error(o->d, src_path, 0, "cannot read: %s", strerror(errno));
        return -1;
    }
    int rc = out_write(o, relpath, data, len);
    free(data);
    return rc;
}

int out_has(outdir *o, const char *relpath)
{
    pthread_mutex_lock(&o->mu);
    int r = set_has(o, relpath);
    pthread_mutex_unlock(&o->mu);
    return r;
}

static int longer_first(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return la < lb ? 1 : la > lb ? -1 : strcmp(*(char *const *)a, *(char *const *)b);
}

/* Remove the directories left empty, deepest first, and then their
 * parents while they are empty too. */
static void remove_empty_dirs(outdir *o)
{
    if (o->ndirs > 1) qsort(o->dirs, o->ndirs, sizeof(char *), longer_first);
    for (size_t i = 0; i < o->ndirs; i++) {
        char *rel = xstrdup(o->dirs[i]);
        for (;;) {
            char *full = path_join(o->root, rel);
            int gone = rmdir(full) == 0;
            free(full);
            char *slash = strrchr(rel, '/');
            if (!gone || !slash) break;
            *slash = 0;
        }
        free(rel);
    }
}

int out_finish(outdir *o, out_stats *st)
{
    /* Files that were there before the build and that it did not write
     * are stale. */
    int err = 0;
    size_t removed = 0;
    for (size_t i = 0; i < o->nexisting; i++) {
        const char *r = o->existing[i];
        if (set_has(o, r)) continue;
        char *full = path_join(o->root, r);
        if (unlink(full) == 0 || errno == ENOENT) {
            removed++;
            list_add(&o->removed, &o->nremoved, &o->capremoved, r);
            const char *slash = strrchr(r, '/');
            if (slash) {
                char *parent = xstrndup(r, (size_t)(slash - r));
                list_add(&o->dirs, &o->ndirs, &o->capdirs, parent);
                free(parent);
            }
        } else {
            diag_error(o->d, full, 0, "cannot remove: %s", strerror(errno));
            err = 1;
        }
        free(full);
    }
    remove_empty_dirs(o);
    if (o->nchanged > 1) qsort(o->changed, o->nchanged, sizeof(char *), str_cmp_ptr);
    if (o->nremoved > 1) qsort(o->removed, o->nremoved, sizeof(char *), str_cmp_ptr);
    if (st) {
        st->written = o->written;
        st->unchanged = o->unchanged;
        st->removed = removed;
    }
    return err ? -1 : 0;
}

void out_changed(const outdir *o, char ***paths, size_t *n)
{
    *paths = o->changed;
    *n = o->nchanged;
}

void out_removed(const outdir *o, char ***paths, size_t *n)
{
    *paths = o->removed;
    *n = o->nremoved;
}

char **out_paths(outdir *o, size_t *n)
{
    pthread_mutex_lock(&o->mu);
    char **v = xmalloc((o->used ? o->used : 1) * sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < o->nslots; i++)
        if (o->slots[i]) v[k++] = xstrdup(o->slots[i]);
    pthread_mutex_unlock(&o->mu);
    if (k > 1) qsort(v, k, sizeof(char *), str_cmp_ptr);
    *n = k;
    return v;
}

void out_close(outdir *o)
{
    if (!o) return;
    for (size_t i = 0; i < o->nchanged; i++) free(o->changed[i]);
    for (size_t i = 0; i < o->nremoved; i++) free(o->removed[i]);
    for (size_t i = 0; i < o->nexisting; i++) free(o->existing[i]);
    for (size_t i = 0; i < o->ndirs; i++) free(o->dirs[i]);
    free(o->changed);
    free(o->removed);
    free(o->existing);
    free(o->dirs);
    for (size_t i = 0; i < o->nslots; i++) free(o->slots[i]);
    free(o->slots);
    free(o->root);
    pthread_mutex_destroy(&o->mu);
    free(o);
}
