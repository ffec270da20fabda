/* output.c - see output.h. */
#include "output.h"
#include "pool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* An open-addressing map from strings to pointers (a set: val unused).
 * Keys are not owned. */
typedef struct {
    const char **keys;
    void **vals;
    size_t nslots, used;
} map;

/* One entry of a directory listing kept for the state file: 'f' (any
 * non-directory) or 'd'. */
typedef struct {
    char *name;
    char type;
} ent;

/* A directory of the output tree. With a state file, listed means ents is
 * the directory's content as of the (mtime, ctime, ino) taken before
 * reading it, and that stamp is old enough that a later change cannot
 * share it (see settled()). touched: this build added or removed an entry,
 * so the listing is out of date. */
typedef struct {
    char *rel;                        /* "" for the root */
    int64_t mtime, ctime;
    uint64_t ino;
    ent *ents;
    size_t nents, capents;
    unsigned char listed, touched, gone;
    unsigned char from_state;         /* listing taken from the state file */
    /* Its record as the last state_save wrote it (rec_ok: still what it
     * would write; every change to the stamp or the listing clears it),
     * so that a save after a build that touched a few directories copies
     * the others' records instead of encoding 13.8k listings again. */
    char *rec;
    size_t rec_len;
    unsigned char rec_ok;
} dnode;

struct outdir {
    char *root;
    /* A root missing when scanned is built unseen: in a new directory
     * beside it (.NAME.new-PID in the same parent) that out_finish renames
     * into place. Readers never see a half-built site, a build that fails
     * or is killed leaves no root at all (out_close removes the new tree,
     * the next unseen build a killed one's), and new files need no
     * temporary inode or name (write_file_unseen_at). While building it
     * (given not NULL), root is the new directory and given the root as
     * given; the rename puts given back in root. */
    bool missing;        /* out_scan found no root */
    char *given;
    /* While building unseen: the new directory, open (O_PATH), so that its
     * files and directories are made relative to it: ~4 fewer components
     * for the kernel to walk per file than from the full path, on a build
     * that makes every one of its ~29k files and directories. -1 else. */
    int ufd;
    diag *d;
    pthread_mutex_t mu;
    map claimed;         /* relpaths written (or kept) by this build; keys owned */
    size_t written, unchanged, dirs_read;
    char **changed; size_t nchanged, capchanged;
    char **removed; size_t nremoved, capremoved;
    char **existing; size_t nexisting, capexisting;   /* files found by out_open */
    char **dirs; size_t ndirs, capdirs;               /* directories that may end empty */
    char **links; size_t nlinks, caplinks;            /* found by the scan, removed by out_begin */
    int begun;           /* out_begin done: root made, links removed */
    map exist;           /* the same files, for lookups (keys in existing) */
    map dmap;            /* rel -> dnode: every directory known to exist */
    dnode **dnodes; size_t ndnodes, capdnodes;
    /* Optional state file (out_open_state). */
    char *state_path;
    char *sblob; size_t slen;   /* the previous build's state, validated */
    map srecs;                  /* rel -> record in sblob (keys owned) */
    size_t nrecs;               /* records in the state read */
    struct timespec stamp;      /* coarse clock before the scan's first stat */
    bool trust;                 /* the state is known to be current (out_scan_ex) */
    bool state_current;         /* out_finish left a state file that describes the tree */
};

static uint64_t hash_str(const char *s);

static void map_grow(map *m);

/* Returns 1 if inserted, 0 if key was there (val unchanged). */
static int map_put(map *m, const char *key, void *val)
{
    if ((m->used + 1) * 2 > m->nslots) map_grow(m);
    size_t i = hash_str(key) & (m->nslots - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0) return 0;
        i = (i + 1) & (m->nslots - 1);
    }
    m->keys[i] = key;
    m->vals[i] = val;
    m->used++;
    return 1;
}

static void *map_get(const map *m, const char *key)
{
    if (!m->nslots) return NULL;
    size_t i = hash_str(key) & (m->nslots - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0) return m->vals[i];
        i = (i + 1) & (m->nslots - 1);
    }
    return NULL;
}

/* Rehash into nslots slots (a power of two above twice the keys). */
static void map_resize(map *m, size_t nslots)
{
    const char **ok = m->keys;
    void **ov = m->vals;
    size_t n = m->nslots;
    m->nslots = nslots;
    m->keys = xcalloc(m->nslots, sizeof *m->keys);
    m->vals = xcalloc(m->nslots, sizeof *m->vals);
    m->used = 0;
    for (size_t i = 0; i < n; i++)
        if (ok[i]) map_put(m, ok[i], ov[i]);
    free(ok);
    free(ov);
}

static void map_grow(map *m) { map_resize(m, m->nslots ? m->nslots * 2 : 256); }

/* Room for n keys without growing. Where the count is known up front
 * (the scan's files, the state's directories) the map is made at its
 * size once: grown step by step, each rehash hashed every key again and
 * faulted in fresh zeroed pages (2-3% of a one-edit rebuild). */
static void map_reserve(map *m, size_t n)
{
    if (!n) return;
    size_t slots = m->nslots ? m->nslots : 256;
    while ((n + 1) * 2 > slots) slots *= 2;
    if (slots != m->nslots) map_resize(m, slots);
}

static void map_free(map *m, int free_keys)
{
    if (free_keys)
        for (size_t i = 0; i < m->nslots; i++) free((char *)m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static void list_add(char ***list, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *list = xrealloc(*list, *cap * sizeof(char *));
    }
    (*list)[(*n)++] = xstrdup(s);
}

/* Free a list of owned strings and empty it. */
static void list_clear(char ***list, size_t *n, size_t *cap)
{
    for (size_t i = 0; i < *n; i++) free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = *cap = 0;
}

/* XXH3: FNV-1a (used before) spread long paths with shared prefixes so
 * badly over the low bits that probing was a tenth of a scan. */
static uint64_t hash_str(const char *s) { return XXH3_64bits(s, strlen(s)); }

/* The set of claimed relpaths: a map whose values only say "present". */
static int set_add(outdir *o, char *p) { return map_put(&o->claimed, p, o); }
static int set_has(const outdir *o, const char *p) { return map_get(&o->claimed, p) != NULL; }

/* ---- directories ---- */

/* a/b, or b when a is empty. Paths are joined per entry while scanning:
 * memcpy, not a printf. */
static char *join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (!na) return xstrndup(b, nb);
    char *p = xmalloc(na + nb + 2);
    memcpy(p, a, na);
    p[na] = '/';
    memcpy(p + na + 1, b, nb + 1);
    return p;
}

static dnode *dir_get(outdir *o, const char *rel) { return map_get(&o->dmap, rel); }

/* The dnode of rel, made if new. Caller holds o->mu (or is single-threaded). */
static dnode *dir_add(outdir *o, const char *rel)
{
    dnode *dn = dir_get(o, rel);
    if (dn) return dn;
    dn = xcalloc(1, sizeof *dn);
    dn->rel = xstrdup(rel);
    if (o->ndnodes == o->capdnodes) {
        o->capdnodes = o->capdnodes ? o->capdnodes * 2 : 256;
        o->dnodes = xrealloc(o->dnodes, o->capdnodes * sizeof *o->dnodes);
    }
    o->dnodes[o->ndnodes++] = dn;
    map_put(&o->dmap, dn->rel, dn);
    return dn;
}

/* The directory part of relpath ("" at the top), in a new string. */
static char *parent_of(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    return slash ? xstrndup(rel, (size_t)(slash - rel)) : xstrdup("");
}

/* An entry of the directory holding rel was added or removed by this
 * build: its listing must be read again for the state file. Caller holds
 * o->mu. */
static void touch_parent_locked(outdir *o, const char *rel)
{
    char *p = parent_of(rel);
    dir_add(o, p)->touched = 1;
    free(p);
}

static void ent_add_owned(dnode *dn, char *name, char type)
{
    dn->rec_ok = 0;
    if (dn->nents == dn->capents) {
        dn->capents = dn->capents ? dn->capents * 2 : 8;
        dn->ents = xrealloc(dn->ents, dn->capents * sizeof *dn->ents);
    }
    dn->ents[dn->nents].name = name;
    dn->ents[dn->nents++].type = type;
}

static void ent_add(dnode *dn, const char *name, char type) { ent_add_owned(dn, xstrdup(name), type); }

static void ents_clear(dnode *dn)
{
    for (size_t i = 0; i < dn->nents; i++) free(dn->ents[i].name);
    dn->nents = 0;
    dn->rec_ok = 0;
}

static void dnode_free(dnode *dn)
{
    ents_clear(dn);
    free(dn->ents);
    free(dn->rec);
    free(dn->rel);
    free(dn);
}

static int64_t ts_ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

static void note_stat(dnode *dn, const struct stat *st)
{
    dn->rec_ok = 0;
    dn->mtime = ts_ns(st->st_mtim);
    dn->ctime = ts_ns(st->st_ctim);
    dn->ino = (uint64_t)st->st_ino;
}

/* Can a listing read after st was taken be trusted while the directory
 * keeps this mtime and ctime? Not if the directory changed too close to
 * stamp (the coarse clock read before st was taken): a later change in the
 * same clock tick would get the same timestamps (git's "racily clean"
 * problem). File systems with whole-second timestamps (nanoseconds 0)
 * get a 2 s margin. */
static int settled(const struct stat *st, struct timespec stamp)
{
    int64_t t = ts_ns(st->st_ctim) > ts_ns(st->st_mtim) ? ts_ns(st->st_ctim) : ts_ns(st->st_mtim);
    int64_t margin = st->st_mtim.tv_nsec == 0 && st->st_ctim.tv_nsec == 0 ? 2000000000 : 10000000;
    return t + margin < ts_ns(stamp);
}

static struct timespec coarse_now(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_REALTIME_COARSE, &t) < 0) clock_gettime(CLOCK_REALTIME, &t);
    return t;
}

/* ---- the state file ----
 * Header: magic (8), version (4), byte-order mark (4), payload length (8),
 * XXH64 of the payload (8). Payload: root path (u32 length + bytes),
 * directory count (u32), then per directory: rel (u32 + bytes), ino (u64),
 * mtime and ctime in ns (i64), entry count (u32), entries (type byte,
 * u32 length, name). Native byte order; anything that does not check out
 * means a full scan. */

#define STATE_MAGIC "GZOUTST\0"
#define STATE_VERSION 1u
#define STATE_BOM 0x01020304u
#define STATE_HDR 32

typedef struct { const unsigned char *p, *end; int bad; } rd;

static uint32_t rd_u32(rd *r)
{
    uint32_t v = 0;
    if (r->bad || r->end - r->p < 4) { r->bad = 1; return 0; }
    memcpy(&v, r->p, 4);
    r->p += 4;
    return v;
}

static uint64_t rd_u64(rd *r)
{
    uint64_t v = 0;
    if (r->bad || r->end - r->p < 8) { r->bad = 1; return 0; }
    memcpy(&v, r->p, 8);
    r->p += 8;
    return v;
}

/* A length-prefixed string; NULL (and r->bad) if it runs past the end. */
static const char *rd_str(rd *r, uint32_t *n)
{
    *n = rd_u32(r);
    if (r->bad || (uint64_t)(r->end - r->p) < *n) { r->bad = 1; return NULL; }
    const char *s = (const char *)r->p;
    r->p += *n;
    return s;
}

/* A name the scan could have read from a directory: not empty, no '/',
 * no NUL, not "." or "..". A state file naming "../x" must not make the
 * scan (and then the sweep) reach outside the tree. */
static int valid_name(const char *s, uint32_t n)
{
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    return memchr(s, '/', n) == NULL && memchr(s, 0, n) == NULL;
}

/* One directory record (after its rel): fills the stamp and walks the
 * entries; 0 or -1 if malformed. */
static int rd_record(rd *r, uint64_t *ino, int64_t *mt, int64_t *ct, uint32_t *nents)
{
    *ino = rd_u64(r);
    *mt = (int64_t)rd_u64(r);
    *ct = (int64_t)rd_u64(r);
    *nents = rd_u32(r);
    for (uint32_t i = 0; i < *nents && !r->bad; i++) {
        if (r->p >= r->end) { r->bad = 1; break; }
        unsigned char type = *r->p++;
        uint32_t n;
        const char *name = rd_str(r, &n);
        if (r->bad || (type != 'f' && type != 'd') || !valid_name(name, n)) r->bad = 1;
    }
    return r->bad ? -1 : 0;
}

/* Check every byte of the state file and index its records by rel. On
 * any fault nothing is kept (full scan). */
static void state_load(outdir *o)
{
    char *data;
    size_t len;
    if (read_file(o->state_path, &data, &len) < 0) return;
    uint32_t ver, bom;
    uint64_t plen, sum;
    if (len < STATE_HDR || memcmp(data, STATE_MAGIC, 8) != 0) goto bad;
    memcpy(&ver, data + 8, 4);
    memcpy(&bom, data + 12, 4);
    memcpy(&plen, data + 16, 8);
    memcpy(&sum, data + 24, 8);
    if (ver != STATE_VERSION || bom != STATE_BOM || plen != len - STATE_HDR ||
        XXH64(data + STATE_HDR, plen, 0) != sum)
        goto bad;
    rd r = {(const unsigned char *)data + STATE_HDR, (const unsigned char *)data + len, 0};
    uint32_t n;
    const char *root = rd_str(&r, &n);
    if (!root || n != strlen(o->root) || memcmp(root, o->root, n) != 0) goto bad;  /* foreign */
    uint32_t ndirs = rd_u32(&r);
    /* A record takes at least 32 bytes: a count beyond that is damage,
     * found below; do not size the map by it. */
    if (!r.bad && ndirs <= (size_t)(r.end - r.p) / 32) map_reserve(&o->srecs, ndirs);
    for (uint32_t i = 0; i < ndirs && !r.bad; i++) {
        const char *rel = rd_str(&r, &n);
        const unsigned char *rec = r.p;
        uint64_t ino;
        int64_t mt, ct;
        uint32_t ne;
        if (!rel || memchr(rel, 0, n) || rd_record(&r, &ino, &mt, &ct, &ne) < 0) goto bad;
        char *key = xstrndup(rel, n);
        if (!map_put(&o->srecs, key, (void *)rec)) { free(key); goto bad; }   /* twice */
    }
    if (r.bad || r.p != r.end) goto bad;
    o->sblob = data;
    o->slen = len;
    o->nrecs = ndirs;
    return;
bad:
    map_free(&o->srecs, 1);
    free(data);
}

/* Fill dn's listing from the state record of dn->rel if the directory
 * (just stat'ed as st) has not changed since. Returns 1 if it did. */
static int from_state(outdir *o, dnode *dn, const struct stat *st)
{
    const unsigned char *rec = map_get(&o->srecs, dn->rel);
    if (!rec) return 0;
    rd r = {rec, (const unsigned char *)o->sblob + o->slen, 0};
    uint64_t ino = rd_u64(&r);
    int64_t mt = (int64_t)rd_u64(&r), ct = (int64_t)rd_u64(&r);
    if (ino != (uint64_t)st->st_ino || mt != ts_ns(st->st_mtim) || ct != ts_ns(st->st_ctim))
        return 0;
    uint32_t ne = rd_u32(&r);
    for (uint32_t i = 0; i < ne; i++) {
        char type = (char)*r.p++;
        uint32_t n;
        const char *name = rd_str(&r, &n);
        ent_add_owned(dn, xstrndup(name, n), type);
    }
    return 1;
}

/* The stamp the state recorded for directory rel, as a stat: for a
 * trusted state (out_scan_ex), in place of asking the file system. */
static bool rec_stat(const outdir *o, const char *rel, struct stat *st)
{
    const unsigned char *rec = map_get(&o->srecs, rel);
    if (!rec) return false;
    rd r = {rec, (const unsigned char *)o->sblob + o->slen, 0};
    uint64_t ino = rd_u64(&r);
    int64_t mt = (int64_t)rd_u64(&r), ct = (int64_t)rd_u64(&r);
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFDIR | 0755;
    st->st_ino = (ino_t)ino;
    st->st_mtim = (struct timespec){mt / 1000000000, mt % 1000000000};
    st->st_ctim = (struct timespec){ct / 1000000000, ct % 1000000000};
    return !r.bad;
}

static void put_u32(buf *b, uint32_t v) { buf_put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { buf_put(b, &v, 8); }
static void put_str(buf *b, const char *s)
{
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    buf_put(b, s, n);
}

/* ---- scanning ---- */

/* A directory's entries in the order getdents64 gives them. opendir
 * would add an fstat and a 32 KB allocation per directory (13.8k of them
 * in the 10k site). The d_type of each entry ('l' link, 'd', 'f' anything
 * else; DT_UNKNOWN resolved with fstatat). Returns the count (names and
 * array for the caller to free), or -1 with errno set. */
static long list_fd(int fd, ent **out)
{
    char dbuf[16384] __attribute__((aligned(8)));
    ent *v = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        ssize_t got = getdents64(fd, dbuf, sizeof dbuf);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            int e = errno;
            for (size_t i = 0; i < n; i++) free(v[i].name);
            free(v);
            errno = e;
            return -1;
        }
        if (got == 0) break;
        for (ssize_t off = 0; off < got;) {
            struct dirent64 *e = (struct dirent64 *)(void *)(dbuf + off);
            off += e->d_reclen;
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            unsigned char type = e->d_type;
            if (type == DT_UNKNOWN) {
                struct stat st;
                type = fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? DT_UNKNOWN
                     : S_ISLNK(st.st_mode) ? DT_LNK : S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
            }
            if (n == cap) { cap = cap ? cap * 2 : 16; v = xrealloc(v, cap * sizeof *v); }
            v[n].name = xstrdup(e->d_name);
            v[n++].type = type == DT_LNK ? 'l' : type == DT_DIR ? 'd' : type == DT_UNKNOWN ? '?' : 'f';
        }
    }
    *out = v;
    return (long)n;
}

/* Read the directory full into a fresh listing (*out; see list_fd). With
 * a state file the directory is stat'ed first through the descriptor (its
 * stamp). Returns the count or -1 (reported). */
static long read_dir(outdir *o, dnode *dn, const char *full, ent **out)
{
    int fd = open(full, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
    long n = -1;
    if (fd >= 0) {
        o->dirs_read++;
        struct stat st;
        if (o->state_path && fstat(fd, &st) == 0) {
            note_stat(dn, &st);
            dn->listed = settled(&st, o->stamp);
        }
        n = list_fd(fd, out);
        int e = errno;
        close(fd);
        errno = e;
    }
    if (n < 0) diag_error(o->d, full, 0, "cannot read directory: %s", strerror(errno));
    return n;
}

static long scan(outdir *o, const char *full, const char *rel, const struct stat *st);

/* One entry of the directory dn (at full): a link is removed, a
 * directory scanned, a file remembered. Returns 0 or -1 (reported). */
static int scan_entry(outdir *o, dnode *dn, int dfd, const char *full, const char *rel, ent *e)
{
    char *path = join(full, e->name);
    char *r = join(rel, e->name);
    struct stat st;
    int err = 0;
    /* With a state file every directory is stat'ed anyway (its stamp);
     * lstat tells too whether it is still a directory. Relative to the
     * parent's descriptor: the path walk was half of a scan's time. */
    if (e->type == 'd' && o->state_path && o->trust && rec_stat(o, r, &st)) {
        /* as recorded: nothing has touched the tree since */
    } else if (e->type == 'd' && o->state_path) {
        if ((dfd >= 0 ? fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) : lstat(path, &st)) < 0)
            e->type = 'x';                                   /* gone: parent changed too */
        else e->type = S_ISLNK(st.st_mode) ? 'l' : S_ISDIR(st.st_mode) ? 'd' : 'f';
    }
    if (e->type == 'l') {
        /* Removed by out_begin, once the build knows it will write. */
        list_add(&o->links, &o->nlinks, &o->caplinks, path);
        dn->touched = 1;
    } else if (e->type == 'd') {
        long k = scan(o, path, r, o->state_path ? &st : NULL);
        if (k < 0) err = 1;
        else if (k == 0) list_add(&o->dirs, &o->ndirs, &o->capdirs, r);
    } else if (e->type == 'f' || e->type == '?') {
        /* '?': could not tell (it vanished?); swept like a file, and the
         * listing is not trusted for the state file. */
        list_add(&o->existing, &o->nexisting, &o->capexisting, r);
        if (e->type == '?') dn->listed = 0;
    }
    if (o->state_path && (e->type == 'f' || e->type == 'd')) {
        ent_add_owned(dn, e->name, e->type);      /* the listing takes the name */
        e->name = NULL;
    }
    free(r);
    free(path);
    return err ? -1 : 0;
}

/* What the output directory held when the build began: every file (to
 * remove the ones this build does not write) and every empty directory.
 * A build writes only regular files and directories; a symbolic link in
 * the tree (put there by hand or by a checkout) could make a write land
 * outside it, so every link is removed before anything is written.
 * One walk does both. With a state file, a directory whose stamp matches
 * the previous build's record is not read: its listing comes from the
 * record. st: the directory's stat (with a state file). Returns the number
 * of entries in the directory, or -1 on an error (reported). */
static long scan(outdir *o, const char *full, const char *rel, const struct stat *st)
{
    dnode *dn = dir_add(o, rel);
    ent *v = NULL;
    long n;
    if (st && from_state(o, dn, st)) {
        note_stat(dn, st);
        dn->listed = dn->from_state = 1;
        /* The record's entries, moved out (scan_entry adds back the ones
         * that are still there). */
        v = dn->ents;
        n = (long)dn->nents;
        dn->ents = NULL;
        dn->nents = dn->capents = 0;
        dn->rec_ok = 0;
    } else if ((n = read_dir(o, dn, full, &v)) < 0) {
        return -1;
    }
    /* A descriptor to stat subdirectories by name (O_PATH: no read
     * access needed), opened only where there are any: ~1% of them. */
    int dfd = -1;
    for (long i = 0; o->state_path && i < n && dfd < 0; i++)
        if (v[i].type == 'd')
            dfd = open(full, O_PATH | O_DIRECTORY | O_CLOEXEC | (*rel ? O_NOFOLLOW : 0));
    int err = 0;
    for (long i = 0; i < n; i++) {
        if (!*rel && !strcmp(v[i].name, ".git")) {
            if (o->state_path) ent_add(dn, v[i].name, 'd');
            continue;
        }
        if (scan_entry(o, dn, dfd, full, rel, &v[i]) < 0) err = 1;
    }
    if (dfd >= 0) close(dfd);
    for (long i = 0; i < n; i++) free(v[i].name);
    free(v);
    return err ? -1 : n;
}

/* The files found (existing) as a map for lookups, and the claims sized
 * for them: a build mostly writes again the files that are there. */
static void index_existing(outdir *o)
{
    map_reserve(&o->exist, o->nexisting);
    for (size_t i = 0; i < o->nexisting; i++) map_put(&o->exist, o->existing[i], o);
    map_reserve(&o->claimed, o->nexisting);
}

outdir *out_scan(const char *root, const char *state_path, diag *d)
{
    return out_scan_ex(root, state_path, false, d);
}

outdir *out_scan_ex(const char *root, const char *state_path, bool trust, diag *d)
{
    outdir *o = xcalloc(1, sizeof *o);
    o->ufd = -1;
    o->trust = trust && state_path;
    o->root = xstrdup(root);
    o->d = d;
    pool_mutex_init(&o->mu);
    struct stat st, *stp = NULL;
    /* The output directory itself may be a link (a deliberate choice of
     * where the site lives); links inside it are not. Missing: nothing to
     * scan (out_begin makes it). */
    if (stat(root, &st) < 0) {
        if (errno == ENOENT) {
            o->missing = true;
            return o;
        }
        diag_error(d, root, 0, "cannot read directory: %s", strerror(errno));
        out_close(o);
        return NULL;
    }
    if (state_path) {
        o->state_path = xstrdup(state_path);
        o->stamp = coarse_now();
        state_load(o);
        /* Every directory of the tree is in the state, and will be in dmap. */
        map_reserve(&o->dmap, o->nrecs);
        stp = &st;
    }
    if (scan(o, root, "", stp) < 0) { out_close(o); return NULL; }
    index_existing(o);
    /* The previous state is used up: free it now, not at out_close. */
    map_free(&o->srecs, 1);
    free(o->sblob);
    o->sblob = NULL;
    return o;
}

/* Remove the new trees (.BASE.new-PID) in parent left by builds that
 * were killed: nobody will finish them. */
static void sweep_unseen(const char *parent, const char *base)
{
    DIR *dh = opendir(parent);
    if (!dh) return;
    size_t bl = strlen(base);
    struct dirent *e;
    while ((e = readdir(dh))) {
        const char *n = e->d_name;
        if (n[0] != '.' || strncmp(n + 1, base, bl) || strncmp(n + 1 + bl, ".new-", 5)) continue;
        if (!pid_gone(n + 1 + bl + 5)) continue;
        char *p = path_join(parent, n);
        (void)rm_rf(p);
        free(p);
    }
    closedir(dh);
}

/* Begin building a missing root unseen (see struct outdir): 0, or 1 when
 * the root's name does not allow it (it is then made as it is), or -1. */
static int begin_unseen(outdir *o)
{
    char *r = xstrdup(o->root);
    size_t n = strlen(r);
    while (n > 1 && r[n - 1] == '/') r[--n] = 0;
    char *slash = strrchr(r, '/');
    const char *base = slash ? slash + 1 : r;
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) { free(r); return 1; }
    char *parent = path_dir(r);
    int rc = -1;
    if (mkdir_p(parent) < 0) {
        diag_error(o->d, parent, 0, "cannot create output directory: %s", strerror(errno));
    } else {
        sweep_unseen(parent, base);
        char *name = xasprintf(".%s.new-%ld", base, (long)getpid());
        char *dir = path_join(strcmp(parent, ".") ? parent : "", name);
        (void)rm_rf(dir);          /* a killed build's that had our pid */
        if (mkdir(dir, 0755) < 0) {
            diag_error(o->d, o->root, 0, "cannot create output directory (as %s): %s", dir,
                       strerror(errno));
            free(dir);
        } else {
            o->given = o->root;
            o->root = dir;
            o->ufd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);   /* (-1: full paths) */
            rc = 0;
        }
        free(name);
    }
    free(parent);
    free(r);
    return rc;
}

/* Where a path of the tree is made from: the unseen tree's descriptor
 * with the path relative to it, else the full path. */
static int tree_fd(const outdir *o) { return o->ufd >= 0 ? o->ufd : AT_FDCWD; }
static const char *tree_path(const outdir *o, const char *rel, const char *full)
{
    return o->ufd >= 0 ? rel : full;
}

static void close_ufd(outdir *o)
{
    if (o->ufd >= 0) close(o->ufd);
    o->ufd = -1;
}

/* Move an unseen root into place: it must still be missing there (two
 * builds of one missing root: the second fails, not merges). */
static int place_unseen(outdir *o)
{
    close_ufd(o);
    if (renameat2(AT_FDCWD, o->root, AT_FDCWD, o->given, RENAME_NOREPLACE) < 0 &&
        ((errno != EINVAL && errno != ENOSYS) || rename(o->root, o->given) < 0)) {
        diag_error(o->d, o->given, 0, "cannot move the new site into place (from %s): %s", o->root,
                   strerror(errno));
        return -1;
    }
    free(o->root);
    o->root = o->given;
    o->given = NULL;
    dnode *top = dir_get(o, "");
    if (top) top->touched = 1;     /* renamed: a new ctime */
    return 0;
}

int out_begin(outdir *o)
{
    if (o->begun) return 0;
    o->begun = 1;
    int u = o->missing ? begin_unseen(o) : 1;
    if (u < 0) return -1;
    if (u > 0 && mkdir_p(o->root) < 0) {
        diag_error(o->d, o->root, 0, "cannot create output directory: %s", strerror(errno));
        return -1;
    }
    if (!dir_get(o, "")) dir_add(o, "");
    int err = 0;
    for (size_t i = 0; i < o->nlinks; i++) {
        if (unlink(o->links[i]) < 0 && errno != ENOENT) {
            diag_error(o->d, o->links[i], 0, "cannot remove symbolic link: %s", strerror(errno));
            err = 1;
        } else {
            diag_warn(o->d, o->links[i], 0, "removed a symbolic link from the output directory");
        }
    }
    return err ? -1 : 0;
}

outdir *out_open_state(const char *root, const char *state_path, diag *d)
{
    outdir *o = out_scan(root, state_path, d);
    if (o && out_begin(o) < 0) { out_close(o); return NULL; }
    return o;
}

outdir *out_open(const char *root, diag *d) { return out_open_state(root, NULL, d); }

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

/* Does the file at path hold exactly data? One open, fstat, read and
 * close (a symbolic link, FIFO or device is never the same: O_NOFOLLOW,
 * O_NONBLOCK and the S_ISREG check). If so and st_out is set, the fstat
 * is given there. */
static int same_content(const char *path, const void *data, size_t len, struct stat *st_out)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    int same = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len) {
        char *old = xmalloc(len ? len : 1);
        size_t n = 0;
        while (n < len) {
            ssize_t r = read(fd, old + n, len - n);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            n += (size_t)r;
        }
        same = n == len && memcmp(old, data, len) == 0;
        free(old);
        if (same && st_out) *st_out = st;
    }
    close(fd);
    return same;
}

/* Count a claimed file; a written one also touches its directory. */
static void count(outdir *o, const char *relpath, int changed)
{
    pthread_mutex_lock(&o->mu);
    if (changed) {
        o->written++;
        list_add(&o->changed, &o->nchanged, &o->capchanged, relpath);
        touch_parent_locked(o, relpath);
    } else {
        o->unchanged++;
    }
    pthread_mutex_unlock(&o->mu);
}

/* Make the directory rel (and missing parents) unless it is known to
 * exist: the directories found by the scan and those made since. A new
 * directory costs one mkdir, with no failed open first. */
static int ensure_dir(outdir *o, const char *rel)
{
    pthread_mutex_lock(&o->mu);
    int known = dir_get(o, rel) != NULL;
    pthread_mutex_unlock(&o->mu);
    if (known) return 0;
    char *full = path_join(o->root, rel);
    int r = mkdirat(tree_fd(o), tree_path(o, rel, full), 0755);
    if (r < 0 && errno == ENOENT && strchr(rel, '/')) {
        char *p = parent_of(rel);
        r = ensure_dir(o, p);
        free(p);
        if (r == 0) r = mkdirat(tree_fd(o), tree_path(o, rel, full), 0755);
    }
    if (r < 0 && errno == EEXIST) r = 0;    /* another thread, or by hand: it is re-read */
    if (r < 0) {
        diag_error(o->d, full, 0, "cannot create directory: %s", strerror(errno));
    } else {
        pthread_mutex_lock(&o->mu);
        dir_add(o, rel)->touched = 1;
        touch_parent_locked(o, rel);
        pthread_mutex_unlock(&o->mu);
    }
    free(full);
    return r;
}

int out_write(outdir *o, const char *relpath, const void *data, size_t len)
{
    return out_write_st(o, relpath, data, len, NULL);
}

int out_write_st(outdir *o, const char *relpath, const void *data, size_t len, struct stat *st)
{
    if (st) memset(st, 0, sizeof *st);      /* unknown until a write gives it */
    if (claim(o, relpath) < 0) return -1;
    /* A file that was not there when the build began is new: no old
     * content to compare, and no need for a temporary name. */
    int fresh = !map_get(&o->exist, relpath);
    bool unseen = o->given != NULL;
    if (fresh) {
        char *dir = parent_of(relpath);
        int r = *dir ? ensure_dir(o, dir) : 0;
        free(dir);
        if (r < 0) return -1;
    }
    char *full = path_join(o->root, relpath);
    int rc = 0;
    if (!fresh && same_content(full, data, len, st)) {
        count(o, relpath, 0);
    } else if ((unseen ? write_file_unseen_at(tree_fd(o), tree_path(o, relpath, full), data, len, st)
                : fresh ? write_file_fresh_st(full, data, len, st)
                        : write_file_atomic_st(full, data, len, st)) < 0) {
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
            if (gone) {
                dnode *dn = dir_get(o, rel);
                if (dn) dn->gone = 1;
                touch_parent_locked(o, rel);
            }
            char *slash = strrchr(rel, '/');
            if (!gone || !slash) break;
            *slash = 0;
        }
        free(rel);
    }
}

/* Read a directory this build changed (or could not trust) again, for
 * the state file: stat through the descriptor first, then the entries.
 * A directory with a link in it (made during the build) is left out, so
 * the next scan reads it. */
static void relist(outdir *o, dnode *dn, struct timespec stamp)
{
    char *full = path_join(o->root, dn->rel);
    int fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (*dn->rel ? O_NOFOLLOW : 0));
    free(full);
    ents_clear(dn);
    dn->listed = 0;
    if (fd < 0) { dn->gone = 1; return; }
    struct stat st;
    ent *v = NULL;
    long n = -1;
    if (fstat(fd, &st) == 0 && settled(&st, stamp)) {
        note_stat(dn, &st);
        n = list_fd(fd, &v);
    }
    close(fd);
    int ok = n >= 0;
    for (long i = 0; i < n; i++) {
        if (v[i].type != 'f' && v[i].type != 'd') ok = 0;    /* a link, or unknown */
        ent_add_owned(dn, v[i].name, v[i].type);
    }
    free(v);
    if (!ok) ents_clear(dn);
    dn->listed = ok;
}

/* Record every directory whose listing can be trusted, with its stamp, so
 * that the next out_open_state reads only the directories changed since.
 * Written atomically; a failure only costs the next build a full scan. */
static void state_save(outdir *o)
{
    /* Nothing changed (every listing came from the state, none touched,
     * the same directories): the file on disk says it all already. */
    size_t same = 0;
    for (size_t i = 0; i < o->ndnodes; i++) {
        const dnode *dn = o->dnodes[i];
        if (dn->from_state && !dn->touched && !dn->gone) same++;
    }
    if (same == o->ndnodes && same == o->nrecs) { o->state_current = true; return; }
    struct timespec stamp = coarse_now();
    buf b = BUF_INIT;
    buf_put(&b, STATE_MAGIC, 8);
    put_u32(&b, STATE_VERSION);
    put_u32(&b, STATE_BOM);
    put_u64(&b, 0);
    put_u64(&b, 0);
    put_str(&b, o->root);
    size_t count_at = b.len;
    put_u32(&b, 0);
    uint32_t ndirs = 0;
    for (size_t i = 0; i < o->ndnodes; i++) {
        dnode *dn = o->dnodes[i];
        if (dn->gone) continue;
        if (dn->touched || !dn->listed) relist(o, dn, stamp);
        if (dn->gone || !dn->listed) continue;
        ndirs++;
        if (dn->rec_ok) {
            buf_put(&b, dn->rec, dn->rec_len);
            continue;
        }
        size_t at = b.len;
        put_str(&b, dn->rel);
        put_u64(&b, dn->ino);
        put_u64(&b, (uint64_t)dn->mtime);
        put_u64(&b, (uint64_t)dn->ctime);
        put_u32(&b, (uint32_t)dn->nents);
        for (size_t k = 0; k < dn->nents; k++) {
            buf_putc(&b, dn->ents[k].type);
            put_str(&b, dn->ents[k].name);
        }
        dn->rec_len = b.len - at;
        dn->rec = xrealloc(dn->rec, dn->rec_len);
        memcpy(dn->rec, b.ptr + at, dn->rec_len);
        dn->rec_ok = 1;
    }
    memcpy(b.ptr + count_at, &ndirs, 4);
    uint64_t plen = b.len - STATE_HDR, sum = XXH64(b.ptr + STATE_HDR, plen, 0);
    memcpy(b.ptr + 16, &plen, 8);
    memcpy(b.ptr + 24, &sum, 8);
    if (write_file_atomic(o->state_path, b.ptr, b.len) < 0)
        diag_warn(o->d, o->state_path, 0, "cannot write the output state (the next build reads "
                  "the whole output directory): %s", strerror(errno));
    else
        o->state_current = true;
    buf_free(&b);
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
            touch_parent_locked(o, r);
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
    if (!err && o->given && place_unseen(o) < 0) err = 1;
    if (!err && o->state_path) state_save(o);
    if (o->nchanged > 1) qsort(o->changed, o->nchanged, sizeof(char *), str_cmp_ptr);
    if (o->nremoved > 1) qsort(o->removed, o->nremoved, sizeof(char *), str_cmp_ptr);
    if (st) {
        st->written = o->written;
        st->unchanged = o->unchanged;
        st->removed = removed;
        st->dirs_read = o->dirs_read;
        st->state_current = o->state_current;
    }
    return err ? -1 : 0;
}

int out_again(outdir *o, diag *d)
{
    if (!o->begun || !o->state_current) return -1;
    o->d = d;
    /* The files there now are the ones the build claimed (it removed the
     * others): they become what the scan would have found. */
    list_clear(&o->existing, &o->nexisting, &o->capexisting);
    map_free(&o->exist, 0);
    o->existing = xmalloc((o->claimed.used ? o->claimed.used : 1) * sizeof(char *));
    o->capexisting = o->claimed.used ? o->claimed.used : 1;
    for (size_t i = 0; i < o->claimed.nslots; i++)
        if (o->claimed.keys[i]) o->existing[o->nexisting++] = (char *)o->claimed.keys[i];   /* moved */
    /* The claims' map is the map of those files as it stands (index_existing
     * would make the same from the same keys: 30k+ paths hashed again). */
    o->exist = o->claimed;
    memset(&o->claimed, 0, sizeof o->claimed);
    map_reserve(&o->claimed, o->nexisting);
    list_clear(&o->changed, &o->nchanged, &o->capchanged);
    list_clear(&o->removed, &o->nremoved, &o->capremoved);
    list_clear(&o->dirs, &o->ndirs, &o->capdirs);
    list_clear(&o->links, &o->nlinks, &o->caplinks);
    o->written = o->unchanged = o->dirs_read = 0;
    /* Directories: those removed are gone for good; each listed one is
     * in the state file as it is now (state_save wrote them all). */
    size_t k = 0, gone = 0;
    for (size_t i = 0; i < o->ndnodes; i++) gone += o->dnodes[i]->gone;
    if (gone) {                 /* (else the map stands as it is) */
        map_free(&o->dmap, 0);
        map_reserve(&o->dmap, o->ndnodes - gone);
    }
    for (size_t i = 0; i < o->ndnodes; i++) {
        dnode *dn = o->dnodes[i];
        if (dn->gone) {
            dnode_free(dn);
            continue;
        }
        dn->touched = 0;
        dn->from_state = dn->listed;
        o->dnodes[k++] = dn;
        if (gone) map_put(&o->dmap, dn->rel, dn);
    }
    o->ndnodes = k;
    o->nrecs = 0;
    for (size_t i = 0; i < o->ndnodes; i++) o->nrecs += o->dnodes[i]->listed;
    o->state_current = false;
    return 0;
}

void out_each_existing(outdir *o, void (*fn)(const char *relpath, void *ud), void *ud)
{
    for (size_t i = 0; i < o->nexisting; i++) fn(o->existing[i], ud);
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

void out_each(outdir *o, void (*fn)(const char *relpath, void *ud), void *ud)
{
    pthread_mutex_lock(&o->mu);
    for (size_t i = 0; i < o->claimed.nslots; i++)
        if (o->claimed.keys[i]) fn(o->claimed.keys[i], ud);
    pthread_mutex_unlock(&o->mu);
}

const char **out_paths(outdir *o, size_t *n)
{
    pthread_mutex_lock(&o->mu);
    const char **v = xmalloc((o->claimed.used ? o->claimed.used : 1) * sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < o->claimed.nslots; i++)
        if (o->claimed.keys[i]) v[k++] = o->claimed.keys[i];
    pthread_mutex_unlock(&o->mu);
    if (k > 1) qsort(v, k, sizeof(char *), str_cmp_ptr);
    *n = k;
    return v;
}

void out_close(outdir *o)
{
    if (!o) return;
    list_clear(&o->changed, &o->nchanged, &o->capchanged);
    list_clear(&o->removed, &o->nremoved, &o->capremoved);
    list_clear(&o->existing, &o->nexisting, &o->capexisting);
    list_clear(&o->dirs, &o->ndirs, &o->capdirs);
    list_clear(&o->links, &o->nlinks, &o->caplinks);
    map_free(&o->claimed, 1);
    for (size_t i = 0; i < o->ndnodes; i++) dnode_free(o->dnodes[i]);
    free(o->dnodes);
    map_free(&o->dmap, 0);
    map_free(&o->exist, 0);
    map_free(&o->srecs, 1);
    free(o->sblob);
    free(o->state_path);
    close_ufd(o);
    if (o->given) (void)rm_rf(o->root);    /* never placed: a failed build's */
    free(o->root);
    free(o->given);
    pthread_mutex_destroy(&o->mu);
    free(o);
}
