/* release.c - see release.h. All git work goes through libgit2; there is
 * no git executable at run time. */
#include "release.h"

#include <dirent.h>
#include <zlib.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "commands.h"

/* build_site() is the lead's module; a weak reference keeps this module
 * (and its unit tests, which pass their own builder) linkable before it
 * lands. With build.c present the strong definition is used. */
#pragma weak build_site
#pragma weak build_opts_default
#pragma weak build_result_free
#pragma weak build_keep_new
#pragma weak build_keep_free
#pragma weak build_records_id
#pragma weak build_left_as_is

#define LOCK_NAME "gazette-release.lock"
#define TZ_OFFSET_MIN 480   /* +0800 */
#define MAX_LISTED 20       /* paths named in an error before "... and N more" */

/* ---- small helpers ---------------------------------------------------- */

/* GAZETTE_TIMING=1 (as for build.c's phases): time spent in each step of
 * a release, on stderr, for benchmarks and profiling; CPU time as well,
 * as wall time on a shared machine says little. */
static void rphase(const char *name)
{
    static double last, last_cpu;
    if (!getenv("GAZETTE_TIMING")) return;
    double t = clock_seconds(CLOCK_MONOTONIC), c = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    if (last > 0 && *name)
        fprintf(stderr, "gazette: release %-14s %7.3f s cpu %7.3f s wall\n", name, c - last_cpu, t - last);
    last = t;
    last_cpu = c;
}

/* Report the last libgit2 error with what we were doing. Returns -1. */
static int gerr(diag *d, const char *where, const char *what)
{
    const git_error *e = git_error_last();
    diag_error(d, where, 0, "%s: %s", what, e && e->message ? e->message : "unknown libgit2 error");
    return -1;
}

/* Test hook: GAZETTE_RELEASE_TEST_KILL_AT=step kills the process at that
 * step, to prove an interrupted release leaves the repository intact. */
static void kill_point(const char *step)
{
    const char *at = getenv("GAZETTE_RELEASE_TEST_KILL_AT");
    if (at && !strcmp(at, step)) raise(SIGKILL);
}

static const char *or_default(const char *s, const char *def) { return s && *s ? s : def; }

static bool valid_date(const char *s)
{
    int y, m, dd;
    char tail;
    return s && strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &dd, &tail) == 3 &&
           s[4] == '-' && s[7] == '-' && m >= 1 && m <= 12 && dd >= 1 && dd <= 31 && y >= 1970;
}

/* YYYY-MM-DD 00:00:00 +0800 as a Unix time. */
static git_time_t date_to_time(const char *s)
{
    struct tm tm = {0};
    sscanf(s, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (git_time_t)timegm(&tm) - TZ_OFFSET_MIN * 60;
}

/* A commit's date in its own time zone, YYYY-MM-DD. */
static void commit_date(const git_commit *c, char out[11])
{
    time_t t = (time_t)git_commit_time(c) + git_commit_time_offset(c) * 60;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static void oid_hex(const git_oid *id, char out[41]) { git_oid_tostr(out, 41, id); }

typedef struct { char **v; size_t n, cap; } strlist;

static void sl_add(strlist *l, char *owned)
{
    if (l->n + 1 >= l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof(char *));
    }
    l->v[l->n++] = owned;
    l->v[l->n] = NULL;
}

static void sl_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

void release_free_list(char **list)
{
    if (!list) return;
    for (char **p = list; *p; p++) free(*p);
    free(list);
}

/* ---- settings (content/site.yaml release: {...}) ---------------------- */

/* The release settings are needed before the build (the history passed to
 * it links to repo_url), so they are read straight from site.yaml. */
static const char *yaml_scalar(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
            return v && v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : NULL;
    }
    return NULL;
}

static yaml_node_t *yaml_child(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

int release_settings_load(const char *content_dir, release_settings *s, diag *d)
{
    memset(s, 0, sizeof *s);
    char *path = path_join(or_default(content_dir, "content"), "site.yaml");
    char *data = NULL;
    size_t len = 0;
    int rc = 0;
    const char *br = NULL, *an = NULL, *ae = NULL, *url = NULL;
    yaml_parser_t p;
    yaml_document_t doc;
    bool have_doc = false;
    if (read_file(path, &data, &len) == 0) {
        yaml_parser_initialize(&p);
        yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
        if (!yaml_parser_load(&p, &doc)) {
            diag_error(d, path, (int)p.problem_mark.line + 1, "cannot parse: %s",
                       p.problem ? p.problem : "YAML error");
            rc = -1;
        } else {
            have_doc = true;
            yaml_node_t *rel = yaml_child(&doc, yaml_document_get_root_node(&doc), "release");
            br = yaml_scalar(&doc, rel, "branch");
            an = yaml_scalar(&doc, rel, "author_name");
            ae = yaml_scalar(&doc, rel, "author_email");
            url = yaml_scalar(&doc, rel, "repo_url");
        }
        yaml_parser_delete(&p);
    }
    s->branch = xstrdup(or_default(br, "main"));
    s->author_name = xstrdup(or_default(an, "Gazette"));
    s->author_email = xstrdup(or_default(ae, "gazette@localhost"));
    s->repo_url = xstrdup(url ? url : "");
    /* Trailing slashes would double up in REPO_URL/commit/ID. */
    for (size_t n = strlen(s->repo_url); n && s->repo_url[n - 1] == '/'; n--) s->repo_url[n - 1] = 0;
    if (have_doc) yaml_document_delete(&doc);
    free(data);
    free(path);
    return rc;
}

void release_settings_free(release_settings *s)
{
    free(s->branch);
    free(s->author_name);
    free(s->author_email);
    free(s->repo_url);
    memset(s, 0, sizeof *s);
}

/* ---- writing a pack ---------------------------------------------------- */

/* The new objects of a release are written as one pack, made here rather
 * than by git_packbuilder: the packbuilder's delta search over thousands
 * of pages took most of a first release (16 of 21 s for 10,000 documents),
 * and its indexer inflates and hashes every object again. Here each object
 * is deflated once (zlib level 1, as git does for loose objects, on every
 * CPU) and the .idx is written from ids already known. Git's own tools
 * repack (with deltas) when they gc. */

/* Run fn(ctx, i) for every i < n on every CPU (this thread included). */
typedef struct {
    void (*fn)(void *ctx, size_t i);
    void *ctx;
    size_t n;
    atomic_size_t next;
} pjob;

static void *pworker(void *arg)
{
    pjob *j = arg;
    for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) j->fn(j->ctx, i);
    return NULL;
}

static void run_parallel(size_t n, void (*fn)(void *ctx, size_t i), void *ctx)
{
    pjob j = {fn, ctx, n, 0};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cpus < 1 ? 1 : cpus > 16 ? 16 : (int)cpus;
    pthread_t tid[16];
    int started = 0;
    for (int t = 1; t < threads && (size_t)t < n; t++)
        if (pthread_create(&tid[started], NULL, pworker, &j) == 0) started++;
    pworker(&j);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
}

/* SHA-1 (FIPS 180-4) for the pack and index checksums; libgit2 exports
 * none. Object ids still come from libgit2. */
typedef struct {
    uint32_t h[5];
    uint64_t len;
    unsigned char blk[64];
    size_t nblk;
} sha1_ctx;

static uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], dd = h[3], e = h[4], t;
    /* Four rounds of 20 steps, each with its own function and constant. */
#define SHA1_STEP(f, k, i) \
    t = rol32(a, 5) + (f) + e + (k) + w[i]; e = dd; dd = c; c = rol32(b, 30); b = a; a = t
    for (int i = 0; i < 20; i++) { SHA1_STEP((b & c) | (~b & dd), 0x5A827999u, i); }
    for (int i = 20; i < 40; i++) { SHA1_STEP(b ^ c ^ dd, 0x6ED9EBA1u, i); }
    for (int i = 40; i < 60; i++) { SHA1_STEP((b & c) | (b & dd) | (c & dd), 0x8F1BBCDCu, i); }
    for (int i = 60; i < 80; i++) { SHA1_STEP(b ^ c ^ dd, 0xCA62C1D6u, i); }
#undef SHA1_STEP
    h[0] += a; h[1] += b; h[2] += c; h[3] += dd; h[4] += e;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI 1

/* The same blocks with the CPU's SHA instructions (~8x faster: a 1.7 MB
 * index, a 46 MB first pack), after Intel's published sequence: 20 groups
 * of 4 rounds, the message schedule kept in four registers M[0..3]. */
#define SHA1_GROUP(i)                                                                        \
    do {                                                                                     \
        __m128i *cur = (i) % 2 ? &e1 : &e0, *nxt = (i) % 2 ? &e0 : &e1;                      \
        if ((i) < 4) m[(i) % 4] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * ((i) % 4))), mask); \
        *cur = (i) == 0 ? _mm_add_epi32(*cur, m[0]) : _mm_sha1nexte_epu32(*cur, m[(i) % 4]); \
        *nxt = abcd;                                                                         \
        if ((i) >= 3 && (i) <= 18) m[((i) + 1) % 4] = _mm_sha1msg2_epu32(m[((i) + 1) % 4], m[(i) % 4]); \
        abcd = _mm_sha1rnds4_epu32(abcd, *cur, (i) / 5);                                     \
        if ((i) >= 1 && (i) <= 16) m[((i) + 3) % 4] = _mm_sha1msg1_epu32(m[((i) + 3) % 4], m[(i) % 4]); \
        if ((i) >= 2 && (i) <= 17) m[((i) + 2) % 4] = _mm_xor_si128(m[((i) + 2) % 4], m[(i) % 4]); \
    } while (0)

__attribute__((target("sha,sse4.1,ssse3"))) static void sha1_blocks_ni(uint32_t h[5], const unsigned char *p,
                                                                       size_t n)
{
    const __m128i mask = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);
    __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0x1B);
    __m128i e0 = _mm_set_epi32((int)h[4], 0, 0, 0), e1, m[4];
    for (; n--; p += 64) {
        __m128i abcd_save = abcd, e0_save = e0;
        SHA1_GROUP(0); SHA1_GROUP(1); SHA1_GROUP(2); SHA1_GROUP(3); SHA1_GROUP(4);
        SHA1_GROUP(5); SHA1_GROUP(6); SHA1_GROUP(7); SHA1_GROUP(8); SHA1_GROUP(9);
        SHA1_GROUP(10); SHA1_GROUP(11); SHA1_GROUP(12); SHA1_GROUP(13); SHA1_GROUP(14);
        SHA1_GROUP(15); SHA1_GROUP(16); SHA1_GROUP(17); SHA1_GROUP(18); SHA1_GROUP(19);
        e0 = _mm_sha1nexte_epu32(e0, e0_save);
        abcd = _mm_add_epi32(abcd, abcd_save);
    }
    _mm_storeu_si128((__m128i *)h, _mm_shuffle_epi32(abcd, 0x1B));
    h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}
#undef SHA1_GROUP

static bool cpu_has_sha(void)
{
    static int has = -1;   /* racy but idempotent; GAZETTE_NO_SHA_NI: the portable code */
    if (has < 0) {
        unsigned a, b, c, d;
        bool base = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3) && (c & bit_SSE4_1);
        has = base && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA) && !getenv("GAZETTE_NO_SHA_NI");
    }
    return has;
}
#endif

/* n whole blocks. */
static void sha1_blocks(uint32_t h[5], const unsigned char *p, size_t n)
{
#ifdef HAVE_SHA_NI
    if (cpu_has_sha()) {
        sha1_blocks_ni(h, p, n);
        return;
    }
#endif
    for (; n--; p += 64) sha1_block(h, p);
}

static void sha1_init(sha1_ctx *s)
{
    static const uint32_t h0[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    memset(s, 0, sizeof *s);
    memcpy(s->h, h0, sizeof h0);
}

static void sha1_update(sha1_ctx *s, const void *data, size_t n)
{
    const unsigned char *p = data;
    s->len += n;
    if (s->nblk) {
        size_t k = 64 - s->nblk < n ? 64 - s->nblk : n;
        memcpy(s->blk + s->nblk, p, k);
        s->nblk += k;
        p += k;
        n -= k;
        if (s->nblk < 64) return;
        sha1_blocks(s->h, s->blk, 1);
        s->nblk = 0;
    }
    sha1_blocks(s->h, p, n / 64);
    p += n / 64 * 64;
    n %= 64;
    memcpy(s->blk, p, n);
    s->nblk = n;
}

static void sha1_final(sha1_ctx *s, unsigned char out[20])
{
    uint64_t bits = s->len * 8;
    unsigned char pad[72] = {0x80};
    size_t npad = (s->nblk < 56 ? 56 : 120) - s->nblk;
    for (int i = 0; i < 8; i++) pad[npad + i] = (unsigned char)(bits >> (56 - 8 * i));
    sha1_update(s, pad, npad + 8);
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 4; k++) out[4 * i + k] = (unsigned char)(s->h[i] >> (24 - 8 * k));
}

/* The pack is deflated with zlib (Debian's zlib1g). libgit2's packbuilder
 * remains as the other way to write a pack; GAZETTE_RELEASE_PACKBUILDER
 * selects it (the tests check that both give the same commit). */
static bool own_pack_writer(void)
{
    return !getenv("GAZETTE_RELEASE_PACKBUILDER");
}

typedef struct {
    git_oid id;
    git_odb_object *obj;     /* while being packed */
    unsigned char *z;        /* entry: type/size header + zlib data */
    size_t zlen;
    bool zfailed;
    bool borrowed;           /* z belongs to a zstore */
    uint32_t crc;
    uint64_t off;
} pentry;

/* One pack entry: the type and size header, then the object deflated. */
static int deflate_data(pentry *e, git_object_t type, const unsigned char *data, size_t len)
{
    e->zfailed = false;
    unsigned char hdr[16];
    size_t h = 0, sz = len >> 4;
    unsigned char c = (unsigned char)((type << 4) | (len & 15));
    for (; sz; sz >>= 7) {   /* little-endian base 128, high bit: more follows */
        hdr[h++] = c | 0x80;
        c = sz & 0x7f;
    }
    hdr[h++] = c;
    unsigned long zcap = compressBound((unsigned long)len);
    e->z = xmalloc(h + zcap);
    memcpy(e->z, hdr, h);
    if (compress2(e->z + h, &zcap, data, (unsigned long)len, 1) != Z_OK) {
        e->zfailed = true;
        return -1;
    }
    e->zlen = h + zcap;
    unsigned long crc = crc32(0, NULL, 0);
    for (size_t done = 0; done < e->zlen;) {   /* crc32 takes an unsigned int length */
        size_t k = e->zlen - done > (1u << 30) ? (1u << 30) : e->zlen - done;
        crc = crc32(crc, e->z + done, (unsigned int)k);
        done += k;
    }
    e->crc = (uint32_t)crc;
    return 0;
}

static void deflate_one(void *ctx, size_t i)
{
    pentry *e = (pentry *)ctx + i;
    if (e->obj)   /* else deflated already */
        deflate_data(e, git_odb_object_type(e->obj), git_odb_object_data(e->obj), git_odb_object_size(e->obj));
}

/* Blobs deflated as pack entries when they were hashed (a first release
 * reads every file once, on every CPU, and does not keep them in memory
 * uncompressed); the pack takes them from here. */
typedef struct { pentry *v; size_t n, cap; bool sorted; } zstore;

static void zs_add(zstore *zs, pentry *e)
{
    if (zs->n == zs->cap) {
        zs->cap = zs->cap ? zs->cap * 2 : 1024;
        zs->v = xrealloc(zs->v, zs->cap * sizeof *zs->v);
    }
    zs->v[zs->n++] = *e;
    zs->sorted = false;
}

static void zs_free(zstore *zs)
{
    for (size_t i = 0; i < zs->n; i++) free(zs->v[i].z);
    free(zs->v);
    memset(zs, 0, sizeof *zs);
}

/* New objects staged in memory (see "staging objects" below). */
typedef struct {
    git_odb *odb;
    git_odb_backend *mem;    /* owned by odb */
    git_odb *disk;           /* the same objects/ without the staging */
    zstore zs;               /* staged blobs kept deflated, not in mem */
} staging;

/* Deflate v[lo..hi) on every CPU. */
static int deflate_range(pentry *v, size_t lo, size_t hi)
{
    run_parallel(hi - lo, deflate_one, v + lo);
    for (size_t i = lo; i < hi; i++)
        if (v[i].zfailed) return -1;
    return 0;
}

static void put_be32(unsigned char *p, uint32_t x)
{
    p[0] = (unsigned char)(x >> 24); p[1] = (unsigned char)(x >> 16);
    p[2] = (unsigned char)(x >> 8); p[3] = (unsigned char)x;
}

/* write() all of it, and feed it to the checksum. */
static int write_all(int fd, sha1_ctx *s, const void *p, size_t n)
{
    if (s) sha1_update(s, p, n);
    return write_all_fd(fd, p, n);
}

static int oid_cmp_entry(const void *a, const void *b)
{
    return git_oid_cmp(&((const pentry *)a)->id, &((const pentry *)b)->id);
}

#define PACK_BATCH_BYTES (64u << 20)   /* objects held in memory at once */

/* The pack: header, entries in id order, SHA-1 trailer (into sum). */
static int pack_entries(git_odb *odb, zstore *zs, pentry *v, size_t n, int fd, unsigned char sum[20],
                        const char *path, diag *d)
{
    if (zs && zs->n && !zs->sorted) {
        qsort(zs->v, zs->n, sizeof *zs->v, oid_cmp_entry);
        zs->sorted = true;
    }
    for (size_t i = 0; zs && zs->n && i < n; i++) {
        const pentry *z = bsearch(&v[i], zs->v, zs->n, sizeof *zs->v, oid_cmp_entry);
        if (!z) continue;
        v[i].z = z->z;
        v[i].zlen = z->zlen;
        v[i].crc = z->crc;
        v[i].borrowed = true;
    }
    sha1_ctx s;
    sha1_init(&s);
    unsigned char hdr[12] = {'P', 'A', 'C', 'K'};
    put_be32(hdr + 4, 2);
    put_be32(hdr + 8, (uint32_t)n);
    if (write_all(fd, &s, hdr, sizeof hdr) < 0) goto io;
    uint64_t off = sizeof hdr;
    for (size_t lo = 0; lo < n;) {
        size_t hi = lo, bytes = 0;
        int rc = 0;
        for (; hi < n && (hi == lo || bytes < PACK_BATCH_BYTES); hi++) {
            if (v[hi].borrowed) continue;
            if (git_odb_read(&v[hi].obj, odb, &v[hi].id) < 0) { rc = gerr(d, NULL, "cannot read a new object"); break; }
            bytes += git_odb_object_size(v[hi].obj);
        }
        if (rc == 0 && deflate_range(v, lo, hi) < 0) {
            diag_error(d, path, 0, "cannot compress an object (zlib)");
            rc = -1;
        }
        for (size_t i = lo; i < hi; i++) {
            if (rc == 0 && write_all(fd, &s, v[i].z, v[i].zlen) < 0) {
                diag_error(d, path, 0, "cannot write: %s", strerror(errno));
                rc = -1;
            }
            v[i].off = off;
            off += v[i].zlen;
            if (!v[i].borrowed) free(v[i].z);
            v[i].z = NULL;
            git_odb_object_free(v[i].obj);
            v[i].obj = NULL;
        }
        if (rc < 0) return -1;
        lo = hi;
    }
    sha1_final(&s, sum);
    if (write_all(fd, NULL, sum, 20) < 0) goto io;
    return 0;
io:
    diag_error(d, path, 0, "cannot write: %s", strerror(errno));
    return -1;
}

/* The version 2 index of v[0..n) (sorted by id) for the pack `sum`. */
static int index_entries(const pentry *v, size_t n, int fd, const unsigned char sum[20], const char *path, diag *d)
{
    sha1_ctx s;
    sha1_init(&s);
    buf b = BUF_INIT;
    unsigned char x[8] = {0xff, 't', 'O', 'c'};
    put_be32(x + 4, 2);
    buf_put(&b, x, 8);
    size_t k = 0;
    for (int byte = 0; byte < 256; byte++) {
        while (k < n && v[k].id.id[0] == byte) k++;
        put_be32(x, (uint32_t)k);
        buf_put(&b, x, 4);
    }
    for (size_t i = 0; i < n; i++) buf_put(&b, v[i].id.id, GIT_OID_RAWSZ);
    for (size_t i = 0; i < n; i++) { put_be32(x, v[i].crc); buf_put(&b, x, 4); }
    uint32_t nlarge = 0;
    for (size_t i = 0; i < n; i++) {
        put_be32(x, v[i].off < 0x80000000u ? (uint32_t)v[i].off : 0x80000000u | nlarge++);
        buf_put(&b, x, 4);
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].off >= 0x80000000u) {
            put_be32(x, (uint32_t)(v[i].off >> 32));
            put_be32(x + 4, (uint32_t)v[i].off);
            buf_put(&b, x, 8);
        }
    buf_put(&b, sum, 20);
    unsigned char isum[20];
    sha1_update(&s, b.ptr, b.len);
    sha1_final(&s, isum);
    buf_put(&b, isum, 20);
    int rc = write_all(fd, NULL, b.ptr, b.len);
    if (rc < 0) diag_error(d, path, 0, "cannot write: %s", strerror(errno));
    buf_free(&b);
    return rc;
}

/* A temp file in dir: tmp_pack_XXXXXX, as git names them (git gc removes
 * old ones). */
static int temp_in(const char *dir, const char *kind, char **path, diag *d)
{
    *path = xasprintf("%s/tmp_%s_XXXXXX", dir, kind);
    int fd = mkstemp(*path);
    if (fd < 0) {
        diag_error(d, *path, 0, "cannot create: %s", strerror(errno));
        free(*path);
        *path = NULL;
    }
    return fd;
}

/* Write ids[0..n) (staged in odb) as objects/pack/pack-SUM.{pack,idx}.
 * Both go to temp files first; the .pack is renamed into place before the
 * .idx, and git sees a pack only through its .idx, so a kill leaves at
 * most unused files and never a pack git would read half of. */
static int write_pack(git_odb *odb, zstore *zs, const char *objects_dir, const git_oid *ids, size_t n, diag *d)
{
    pentry *v = xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++) git_oid_cpy(&v[i].id, &ids[i]);
    if (n > 1) qsort(v, n, sizeof *v, oid_cmp_entry);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (!u || !git_oid_equal(&v[u - 1].id, &v[i].id)) v[u++] = v[i];
    n = u;
    char *dir = path_join(objects_dir, "pack");
    char *tpack = NULL, *tidx = NULL, *fpack = NULL, *fidx = NULL;
    unsigned char sum[20];
    int rc = 0;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        diag_error(d, dir, 0, "cannot create: %s", strerror(errno));
        rc = -1;
    }
    int fd = rc == 0 ? temp_in(dir, "pack", &tpack, d) : -1;
    if (fd < 0) rc = -1;
    if (rc == 0) rc = pack_entries(odb, zs, v, n, fd, sum, tpack, d);
    if (fd >= 0 && close(fd) < 0 && rc == 0) {
        diag_error(d, tpack, 0, "cannot write: %s", strerror(errno));
        rc = -1;
    }
    fd = rc == 0 ? temp_in(dir, "idx", &tidx, d) : -1;
    if (rc == 0 && fd < 0) rc = -1;
    if (rc == 0) rc = index_entries(v, n, fd, sum, tidx, d);
    if (fd >= 0 && close(fd) < 0 && rc == 0) {
        diag_error(d, tidx, 0, "cannot write: %s", strerror(errno));
        rc = -1;
    }
    if (rc == 0) kill_point("pack");
    if (rc == 0) {
        char hex[41];
        for (int i = 0; i < 20; i++) snprintf(hex + 2 * i, 3, "%02x", sum[i]);
        fpack = xasprintf("%s/pack-%s.pack", dir, hex);
        fidx = xasprintf("%s/pack-%s.idx", dir, hex);
        chmod(tpack, 0444);
        chmod(tidx, 0444);
        if (rename(tpack, fpack) < 0 || rename(tidx, fidx) < 0) {
            diag_error(d, fpack, 0, "cannot move the new pack into place: %s", strerror(errno));
            rc = -1;
        }
    }
    if (rc < 0 && tpack) unlink(tpack);
    if (rc < 0 && tidx) unlink(tidx);
    free(tpack);
    free(tidx);
    free(fpack);
    free(fidx);
    free(dir);
    free(v);
    return rc;
}

/* ---- trees from files ------------------------------------------------- */

/* One path to put into (or take out of) a tree. */
typedef struct {
    char *path;      /* relative to the work tree, '/'-separated */
    git_oid id;
    bool del;
} change;

typedef struct { change *v; size_t n, cap; } changes;

static void ch_add(changes *c, const char *path, const git_oid *id, bool del)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = xrealloc(c->v, c->cap * sizeof(change));
    }
    change *e = &c->v[c->n++];
    e->path = xstrdup(path);
    if (id) git_oid_cpy(&e->id, id); else memset(&e->id, 0, sizeof e->id);
    e->del = del;
}

static void ch_free(changes *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->v[i].path);
    free(c->v);
    memset(c, 0, sizeof *c);
}

static int ch_cmp(const void *a, const void *b)
{
    return strcmp(((const change *)a)->path, ((const change *)b)->path);
}

/* Sort, and keep only the last entry of a path given twice. */
static void ch_sort(changes *c)
{
    if (c->n) qsort(c->v, c->n, sizeof(change), ch_cmp);
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (w && !strcmp(c->v[w - 1].path, c->v[i].path)) {
            free(c->v[w - 1].path);
            c->v[w - 1] = c->v[i];
        } else {
            c->v[w++] = c->v[i];
        }
    }
    c->n = w;
}

/* Write a file as a blob (libgit2 skips objects that already exist, so an
 * unchanged file is never written twice). */
static int blob_from_file(git_odb *odb, const char *full, git_oid *id, diag *d)
{
    char *data;
    size_t len;
    if (read_file(full, &data, &len) < 0) {
        diag_error(d, full, 0, "cannot read: %s", strerror(errno));
        return -1;
    }
    int rc = git_odb_write(id, odb, data, len, GIT_OBJECT_BLOB);
    free(data);
    return rc < 0 ? gerr(d, full, "cannot write blob") : 0;
}

/* Apply the sorted changes c[0..n) (paths with `skip` prefix bytes already
 * consumed) to base (NULL = empty) and write the result. Only the
 * directories that changes touch are rebuilt; every other entry keeps its
 * id, so untouched subtrees are reused as they are. *empty is set when the
 * result has no entries (the caller then drops it from its parent). */
static int tree_apply(git_repository *repo, const git_tree *base, const change *c, size_t n,
                      size_t skip, git_oid *out, bool *empty, diag *d)
{
    git_treebuilder *bld = NULL;
    if (git_treebuilder_new(&bld, repo, base) < 0) return gerr(d, NULL, "cannot start tree");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        const char *name = c[i].path + skip;
        const char *slash = strchr(name, '/');
        if (!slash) {
            if (c[i].del) {
                if (git_treebuilder_remove(bld, name) < 0) git_error_clear();   /* already absent */
            } else if (git_treebuilder_insert(NULL, bld, name, &c[i].id, GIT_FILEMODE_BLOB) < 0) {
                rc = gerr(d, c[i].path, "cannot add to tree");
            }
            i++;
            continue;
        }
        /* All changes under directory `comp` are contiguous in sorted order. */
        size_t k = (size_t)(slash - name), j = i;
        while (j < n && !strncmp(c[j].path + skip, name, k + 1)) j++;
        char *comp = xstrndup(name, k);
        const git_tree_entry *old = git_treebuilder_get(bld, comp);
        git_tree *sub = NULL;
        if (old && git_tree_entry_type(old) == GIT_OBJECT_TREE &&
            git_tree_lookup(&sub, repo, git_tree_entry_id(old)) < 0)
            rc = gerr(d, c[i].path, "cannot read tree");
        git_oid sid;
        bool sempty = false;
        if (rc == 0) rc = tree_apply(repo, sub, c + i, j - i, skip + k + 1, &sid, &sempty, d);
        if (rc == 0) {
            if (sempty) {
                /* Only a directory that emptied goes; a file of that name
                 * (a/b removed, a written as a file) stays. */
                if (sub && git_treebuilder_remove(bld, comp) < 0) git_error_clear();
            } else if (git_treebuilder_insert(NULL, bld, comp, &sid, GIT_FILEMODE_TREE) < 0) {
                rc = gerr(d, c[i].path, "cannot add to tree");
            }
        }
        git_tree_free(sub);
        free(comp);
        i = j;
    }
    if (rc == 0) {
        *empty = git_treebuilder_entrycount(bld) == 0;
        if (git_treebuilder_write(out, bld) < 0) rc = gerr(d, NULL, "cannot write tree");
    }
    git_treebuilder_free(bld);
    return rc;
}

/* Files read and hashed in parallel, then staged in order. */
typedef struct {
    char **full;
    char **data;
    size_t *len;
    git_oid *id;
    int *err;      /* errno of a failed read; -1: hashing failed */
    pentry *pe;    /* non-NULL: deflate each file into pe[i] and drop its data */
} hashjob;

static void hash_one(void *ctx, size_t i)
{
    hashjob *h = ctx;
    h->err[i] = 0;
    if (h->pe) memset(&h->pe[i], 0, sizeof h->pe[i]);
    if (read_file(h->full[i], &h->data[i], &h->len[i]) < 0) {
        h->err[i] = errno ? errno : EIO;
        h->data[i] = NULL;
    } else if (git_odb_hash(&h->id[i], h->data[i], h->len[i], GIT_OBJECT_BLOB) < 0) {
        h->err[i] = -1;
    } else if (h->pe) {
        git_oid_cpy(&h->pe[i].id, &h->id[i]);
        deflate_data(&h->pe[i], GIT_OBJECT_BLOB, (const unsigned char *)h->data[i], h->len[i]);
        free(h->data[i]);
        h->data[i] = NULL;
    }
}

#define HASH_BATCH 1024   /* files held in memory at once */

/* Blob ids of files full[0..n) into c->v[0..n).id, each file staged as a
 * blob: hashed once, on every CPU, and handed to the staging backend `mem`
 * as it is (git_odb_write would hash it again, and look for it on disk
 * first); without mem, through git_odb_write. With zs (and zlib), each
 * is deflated right away into zs instead, for the pack. */
static int stage_files(git_odb *odb, git_odb_backend *mem, zstore *zs, char **full, change *c, size_t n, diag *d)
{
    hashjob h = {0};
    int rc = 0;
    if (zs && mem && own_pack_writer()) h.pe = xcalloc(HASH_BATCH, sizeof *h.pe);
    h.data = xcalloc(HASH_BATCH, sizeof *h.data);
    h.len = xcalloc(HASH_BATCH, sizeof *h.len);
    h.id = xcalloc(HASH_BATCH, sizeof *h.id);
    h.err = xcalloc(HASH_BATCH, sizeof *h.err);
    for (size_t lo = 0; lo < n && rc == 0; lo += HASH_BATCH) {
        size_t k = n - lo < HASH_BATCH ? n - lo : HASH_BATCH;
        h.full = full + lo;
        run_parallel(k, hash_one, &h);
        for (size_t i = 0; i < k; i++) {
            if (rc == 0 && h.err[i] > 0) {
                diag_error(d, full[lo + i], 0, "cannot read: %s", strerror(h.err[i]));
                rc = -1;
            } else if (rc == 0 && h.err[i] < 0) {
                rc = gerr(d, full[lo + i], "cannot hash");
            } else if (rc == 0 && h.pe && h.pe[i].zfailed) {
                diag_error(d, full[lo + i], 0, "cannot compress (zlib)");
                rc = -1;
            } else if (rc == 0 && h.pe) {
                git_oid_cpy(&c[lo + i].id, &h.id[i]);
                zs_add(zs, &h.pe[i]);
                h.pe[i].z = NULL;
            } else if (rc == 0) {
                git_oid_cpy(&c[lo + i].id, &h.id[i]);
                int e = mem ? mem->write(mem, &h.id[i], h.data[i], h.len[i], GIT_OBJECT_BLOB)
                            : git_odb_write(&c[lo + i].id, odb, h.data[i], h.len[i], GIT_OBJECT_BLOB);
                if (e < 0) rc = gerr(d, full[lo + i], "cannot write blob");
            }
            free(h.data[i]);
            h.data[i] = NULL;
            if (h.pe) {
                free(h.pe[i].z);
                h.pe[i].z = NULL;
            }
        }
    }
    free(h.pe);
    free(h.data);
    free(h.len);
    free(h.id);
    free(h.err);
    return rc;
}

/* Collect every regular file under dir (skipping .git at the top) as a
 * change (its blob id still to be filled in) and its full path. Symlinks
 * and other special files are errors: the generator never writes them. */
static int walk_files(const char *dir, const char *rel, changes *out, strlist *fulls, diag *d)
{
    DIR *dh = opendir(dir);
    if (!dh) {
        diag_error(d, dir, 0, "cannot read directory: %s", strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(dh))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (!*rel && !strcmp(e->d_name, ".git")) continue;
        char *full = path_join(dir, e->d_name);
        char *r = *rel ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
        struct stat st;
        if (lstat(full, &st) < 0) {
            diag_error(d, full, 0, "cannot stat: %s", strerror(errno));
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk_files(full, r, out, fulls, d);
        } else if (S_ISREG(st.st_mode)) {
            ch_add(out, r, NULL, false);
            sl_add(fulls, full);
            full = NULL;
        } else {
            diag_error(d, full, 0, "not a regular file; a release holds only files the generator wrote");
            rc = -1;
        }
        free(full);
        free(r);
    }
    closedir(dh);
    return rc;
}

/* The tree of the whole directory, built bottom-up from its files; the
 * blobs go to `mem` (the staging backend; NULL: the repository's odb). */
static int tree_of_dir(git_repository *repo, git_odb_backend *mem, zstore *zs, const char *dir, git_oid *out,
                       diag *d)
{
    git_odb *odb = NULL;
    if (git_repository_odb(&odb, repo) < 0) return gerr(d, dir, "cannot open object database");
    changes all = {0};
    strlist fulls = {0};
    bool empty;
    int rc = walk_files(dir, "", &all, &fulls, d);
    if (rc == 0) rc = stage_files(odb, mem, zs, fulls.v, all.v, all.n, d);
    sl_free(&fulls);
    if (rc == 0) {
        ch_sort(&all);
        rc = tree_apply(repo, NULL, all.v, all.n, 0, out, &empty, d);
    }
    ch_free(&all);
    git_odb_free(odb);
    return rc;
}

/* The previous tree with only `paths` (changed or removed by a build)
 * re-read from disk. */
static int tree_update(git_repository *repo, const git_tree *base, const char *dir,
                       char **paths, size_t npaths, git_oid *out, diag *d)
{
    git_odb *odb = NULL;
    if (git_repository_odb(&odb, repo) < 0) return gerr(d, dir, "cannot open object database");
    changes cs = {0};
    int rc = 0;
    for (size_t i = 0; i < npaths && rc == 0; i++) {
        char *full = path_join(dir, paths[i]);
        struct stat st;
        if (lstat(full, &st) < 0) {
            if (errno == ENOENT) {
                ch_add(&cs, paths[i], NULL, true);
            } else {
                diag_error(d, full, 0, "cannot stat: %s", strerror(errno));
                rc = -1;
            }
        } else if (S_ISREG(st.st_mode)) {
            git_oid id;
            rc = blob_from_file(odb, full, &id, d);
            if (rc == 0) ch_add(&cs, paths[i], &id, false);
        } else {
            diag_error(d, full, 0, "not a regular file");
            rc = -1;
        }
        free(full);
    }
    bool empty;
    if (rc == 0) {
        ch_sort(&cs);
        rc = tree_apply(repo, base, cs.v, cs.n, 0, out, &empty, d);
    }
    ch_free(&cs);
    git_odb_free(odb);
    return rc;
}

/* ---- tree diff -------------------------------------------------------- */

typedef enum { D_ADDED = 'A', D_MODIFIED = 'M', D_DELETED = 'D' } dstatus;

typedef struct {
    char *path;
    dstatus st;
    git_oid old_id, new_id;   /* zero when absent */
} dentry;

typedef struct { dentry *v; size_t n, cap; } dlist;

static void dl_add(dlist *l, const char *path, dstatus st, const git_oid *o, const git_oid *nw)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 32;
        l->v = xrealloc(l->v, l->cap * sizeof(dentry));
    }
    dentry *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    e->path = xstrdup(path);
    e->st = st;
    if (o) git_oid_cpy(&e->old_id, o);
    if (nw) git_oid_cpy(&e->new_id, nw);
}

static void dl_free(dlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i].path);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int dl_cmp(const void *a, const void *b)
{
    return strcmp(((const dentry *)a)->path, ((const dentry *)b)->path);
}

static int diff_rec(git_repository *repo, const git_tree *a, const git_tree *b, const char *prefix,
                    bool top_docs_only, dlist *out, diag *d);

/* One side of an entry that is a tree: everything under it is added or
 * deleted. */
static int diff_entry(git_repository *repo, const git_tree_entry *ea, const git_tree_entry *eb,
                      const char *path, dlist *out, diag *d)
{
    bool ta = ea && git_tree_entry_type(ea) == GIT_OBJECT_TREE;
    bool tb = eb && git_tree_entry_type(eb) == GIT_OBJECT_TREE;
    if (ea && eb && !git_oid_cmp(git_tree_entry_id(ea), git_tree_entry_id(eb)) &&
        git_tree_entry_filemode(ea) == git_tree_entry_filemode(eb))
        return 0;   /* identical, subtrees included: skip without reading */
    git_tree *sa = NULL, *sb = NULL;
    int rc = 0;
    if (ta && git_tree_lookup(&sa, repo, git_tree_entry_id(ea)) < 0) rc = gerr(d, path, "cannot read tree");
    if (rc == 0 && tb && git_tree_lookup(&sb, repo, git_tree_entry_id(eb)) < 0) rc = gerr(d, path, "cannot read tree");
    if (rc == 0 && (ta || tb)) {
        char *p = xasprintf("%s/", path);
        rc = diff_rec(repo, sa, sb, p, false, out, d);
        free(p);
    }
    if (rc == 0) {
        const git_oid *ia = ea && !ta ? git_tree_entry_id(ea) : NULL;
        const git_oid *ib = eb && !tb ? git_tree_entry_id(eb) : NULL;
        if (ia && ib) dl_add(out, path, D_MODIFIED, ia, ib);
        else if (ia) dl_add(out, path, D_DELETED, ia, NULL);
        else if (ib) dl_add(out, path, D_ADDED, NULL, ib);
    }
    git_tree_free(sa);
    git_tree_free(sb);
    return rc;
}

static bool is_doc_root(const char *name) { return !strcmp(name, "notices") || !strcmp(name, "reports"); }

static int diff_rec(git_repository *repo, const git_tree *a, const git_tree *b, const char *prefix,
                    bool top_docs_only, dlist *out, diag *d)
{
    size_t na = a ? git_tree_entrycount(a) : 0, nb = b ? git_tree_entrycount(b) : 0;
    int rc = 0;
    for (size_t i = 0; i < na && rc == 0; i++) {
        const git_tree_entry *ea = git_tree_entry_byindex(a, i);
        const char *name = git_tree_entry_name(ea);
        if (top_docs_only && !is_doc_root(name)) continue;
        const git_tree_entry *eb = b ? git_tree_entry_byname(b, name) : NULL;
        char *path = xasprintf("%s%s", prefix, name);
        rc = diff_entry(repo, ea, eb, path, out, d);
        free(path);
    }
    for (size_t i = 0; i < nb && rc == 0; i++) {
        const git_tree_entry *eb = git_tree_entry_byindex(b, i);
        const char *name = git_tree_entry_name(eb);
        if (top_docs_only && !is_doc_root(name)) continue;
        if (a && git_tree_entry_byname(a, name)) continue;
        char *path = xasprintf("%s%s", prefix, name);
        rc = diff_entry(repo, NULL, eb, path, out, d);
        free(path);
    }
    return rc;
}

/* Files that differ between trees a and b (either may be NULL), sorted.
 * docs_only: only under notices/ and reports/. */
static int diff_trees(git_repository *repo, const git_tree *a, const git_tree *b, bool docs_only,
                      dlist *out, diag *d)
{
    int rc = diff_rec(repo, a, b, "", docs_only, out, d);
    if (out->n) qsort(out->v, out->n, sizeof(dentry), dl_cmp);
    return rc;
}

/* "notices/2017/slug/index.html" -> "/notices/2017/slug/" (a document
 * page); anything else (lists, years, pagination) -> NULL. */
static char *doc_url_of(const char *path)
{
    if (!str_starts(path, "notices/") && !str_starts(path, "reports/")) return NULL;
    const char *y = path + 8;
    for (int i = 0; i < 4; i++)
        if (y[i] < '0' || y[i] > '9') return NULL;
    if (y[4] != '/') return NULL;
    const char *slug = y + 5, *sl = strchr(slug, '/');
    if (!sl || sl == slug || strcmp(sl, "/index.html")) return NULL;
    return xasprintf("/%.*s", (int)(sl + 1 - path), path);
}

/* ---- history ---------------------------------------------------------- */

/* One release as the history shows it. */
typedef struct {
    char *tag, *summary;
    char commit[41];          /* "" while pending */
    char date[11];
    long long added, changed, removed;
    strlist add_urls, chg_urls;
} relinfo;

static void ri_free(relinfo *ri)
{
    free(ri->tag);
    free(ri->summary);
    sl_free(&ri->add_urls);
    sl_free(&ri->chg_urls);
    memset(ri, 0, sizeof *ri);
}

/* Counts and document URLs from a notices/ + reports/ diff. */
static void ri_fill_docs(relinfo *ri, const dlist *docs)
{
    for (size_t i = 0; i < docs->n; i++) {
        char *url = doc_url_of(docs->v[i].path);
        if (!url) continue;
        if (docs->v[i].st == D_ADDED) { ri->added++; sl_add(&ri->add_urls, url); }
        else if (docs->v[i].st == D_MODIFIED) { ri->changed++; sl_add(&ri->chg_urls, url); }
        else { ri->removed++; free(url); }
    }
}

/* Value of trailer `key` in a commit message, or NULL (owned). */
static char *trailer(const char *msg, const char *key)
{
    git_message_trailer_array arr = {0};
    char *out = NULL;
    if (git_message_trailers(&arr, msg) < 0) { git_error_clear(); return NULL; }
    for (size_t i = 0; i < arr.count && !out; i++)
        if (!strcmp(arr.trailers[i].key, key)) out = xstrdup(arr.trailers[i].value);
    git_message_trailer_array_free(&arr);
    return out;
}

static int first_parent(git_commit *c, git_commit **p, diag *d)
{
    *p = NULL;
    if (git_commit_parentcount(c) == 0) return 0;
    return git_commit_parent(p, c, 0) < 0 ? gerr(d, NULL, "cannot read parent commit") : 0;
}

static bool ts_equal(struct timespec a, struct timespec b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

/* A whole file (NUL-terminated) and its stat, in one buffer of its size:
 * util's read_file() grows its buffer to twice the size at the end of the
 * file (a copy of the 1.7 MB index and page faults for 3.4 MB). A file
 * that grows meanwhile is read as far as its size said. */
static int read_whole(const char *path, char **data, size_t *len, struct stat *st)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    size_t cap = (size_t)st->st_size, n = 0;
    char *p = xmalloc(cap + 1);
    while (n < cap) {
        ssize_t r = read(fd, p + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    p[n] = 0;
    *data = p;
    *len = n;
    return 0;
}

/* ---- document lists of past releases, kept ------------------------------
 *
 * A history lists, for every release, the documents it added and changed:
 * a diff of its tree with its parent's under notices/ and reports/. For
 * the first release of 10k documents that walks 10k trees (~30 ms), and a
 * release computes the history of the same commits two or three times
 * (as of the last release, then with the new one pending). A commit's id
 * fixes its tree and its parent's, so its lists never change: a release
 * keeps them in .git/gazette-history, by commit id, and reads them back. */

#define HISTORY_CACHE "gazette-history"
#define HISTORY_CACHE_MAGIC "gazette-history 1\n"

typedef struct {
    git_oid id;
    long long added, changed, removed;
    strlist add_urls, chg_urls;
} ridocs;

typedef struct {
    ridocs *v;
    size_t n, cap;
    bool dirty;   /* has lists the file lacks */
} ricache;

/* The cache of the release running now (NULL: none; history is only
 * computed from one thread). */
static ricache *active_ric;

static ridocs *ric_add(ricache *c, const git_oid *id)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = xrealloc(c->v, c->cap * sizeof *c->v);
    }
    ridocs *e = &c->v[c->n++];
    memset(e, 0, sizeof *e);
    git_oid_cpy(&e->id, id);
    return e;
}

static ridocs *ric_find(ricache *c, const git_oid *id)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (git_oid_equal(&c->v[i].id, id)) return &c->v[i];
    return NULL;
}

static void ric_free(ricache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        sl_free(&c->v[i].add_urls);
        sl_free(&c->v[i].chg_urls);
    }
    free(c->v);
    memset(c, 0, sizeof *c);
}

static void sl_copy(strlist *to, const strlist *from)
{
    for (size_t i = 0; i < from->n; i++) sl_add(to, xstrdup(from->v[i]));
}

/* "C <id> <added> <changed> <removed>" then "A <url>" / "M <url>" lines.
 * Anything malformed: the whole file is ignored (recomputed). */
static void ric_load(ricache *c, git_repository *repo)
{
    memset(c, 0, sizeof *c);
    char *path = path_join(git_repository_path(repo), HISTORY_CACHE), *data = NULL;
    size_t len = 0;
    struct stat st;
    bool ok = read_whole(path, &data, &len, &st) == 0 && len >= sizeof HISTORY_CACHE_MAGIC - 1 &&
              !memcmp(data, HISTORY_CACHE_MAGIC, sizeof HISTORY_CACHE_MAGIC - 1) && data[len - 1] == '\n';
    free(path);
    ridocs *e = NULL;
    for (char *p = ok ? data + sizeof HISTORY_CACHE_MAGIC - 1 : NULL, *end = data + len; ok && p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        *nl = 0;
        git_oid id;
        if (p[0] == 'C' && p[1] == ' ' && strlen(p) > 43 && p[42] == ' ' && git_oid_fromstrn(&id, p + 2, 40) == 0) {
            e = ric_add(c, &id);
            ok = sscanf(p + 43, "%lld %lld %lld", &e->added, &e->changed, &e->removed) == 3;
        } else if (e && (p[0] == 'A' || p[0] == 'M') && p[1] == ' ' && p[2] == '/') {
            sl_add(p[0] == 'A' ? &e->add_urls : &e->chg_urls, xstrdup(p + 2));
        } else {
            ok = false;
        }
        p = nl + 1;
    }
    for (size_t i = 0; ok && i < c->n; i++)
        ok = c->v[i].add_urls.n == (size_t)c->v[i].added && c->v[i].chg_urls.n == (size_t)c->v[i].changed;
    git_error_clear();
    free(data);
    if (!ok) ric_free(c);
}

/* Only when it has lists the file lacks; failing only costs time. */
static void ric_save(ricache *c, git_repository *repo)
{
    if (!c->dirty) return;
    for (size_t i = 0; i < c->n; i++)   /* one URL a line */
        for (size_t k = 0; k < c->v[i].add_urls.n + c->v[i].chg_urls.n; k++) {
            const strlist *l = k < c->v[i].add_urls.n ? &c->v[i].add_urls : &c->v[i].chg_urls;
            if (strchr(l->v[k < c->v[i].add_urls.n ? k : k - c->v[i].add_urls.n], '\n')) return;
        }
    buf b = BUF_INIT;
    buf_printf(&b, "%s", HISTORY_CACHE_MAGIC);
    for (size_t i = 0; i < c->n; i++) {
        const ridocs *e = &c->v[i];
        char hex[41];
        oid_hex(&e->id, hex);
        buf_printf(&b, "C %s %lld %lld %lld\n", hex, e->added, e->changed, e->removed);
        for (size_t k = 0; k < e->add_urls.n; k++) buf_printf(&b, "A %s\n", e->add_urls.v[k]);
        for (size_t k = 0; k < e->chg_urls.n; k++) buf_printf(&b, "M %s\n", e->chg_urls.v[k]);
    }
    char *path = path_join(git_repository_path(repo), HISTORY_CACHE);
    if (write_file_atomic(path, buf_cstr(&b), b.len) < 0) unlink(path);
    free(path);
    buf_free(&b);
    c->dirty = false;
}

/* Release info of commit c from its message and its diff with its first
 * parent; pending: leave the commit id out (as when it was being made). */
static int ri_of_commit(git_repository *repo, git_commit *c, bool pending, relinfo *ri, diag *d)
{
    memset(ri, 0, sizeof *ri);
    const char *msg = git_commit_message(c);
    ri->tag = trailer(msg ? msg : "", "Release-Tag");
    if (!ri->tag) {   /* a commit not made by gazette: name it by its id */
        char hex[41];
        oid_hex(git_commit_id(c), hex);
        ri->tag = xstrndup(hex, 7);
    }
    ri->summary = xstrdup(git_commit_summary(c) ? git_commit_summary(c) : "");
    commit_date(c, ri->date);
    if (!pending) oid_hex(git_commit_id(c), ri->commit);
    const ridocs *known = ric_find(active_ric, git_commit_id(c));
    if (known) {
        ri->added = known->added;
        ri->changed = known->changed;
        ri->removed = known->removed;
        sl_copy(&ri->add_urls, &known->add_urls);
        sl_copy(&ri->chg_urls, &known->chg_urls);
        return 0;
    }
    git_commit *p = NULL;
    git_tree *tp = NULL, *tc = NULL;
    dlist docs = {0};
    int rc = first_parent(c, &p, d);
    if (rc == 0 && p && git_commit_tree(&tp, p) < 0) rc = gerr(d, NULL, "cannot read tree");
    if (rc == 0 && git_commit_tree(&tc, c) < 0) rc = gerr(d, NULL, "cannot read tree");
    if (rc == 0) rc = diff_trees(repo, tp, tc, true, &docs, d);
    if (rc == 0) ri_fill_docs(ri, &docs);
    if (rc == 0 && active_ric) {
        ridocs *e = ric_add(active_ric, git_commit_id(c));
        e->added = ri->added;
        e->changed = ri->changed;
        e->removed = ri->removed;
        sl_copy(&e->add_urls, &ri->add_urls);
        sl_copy(&e->chg_urls, &ri->chg_urls);
        active_ric->dirty = true;
    }
    dl_free(&docs);
    git_tree_free(tp);
    git_tree_free(tc);
    git_commit_free(p);
    return rc;
}

static value *empty_history(void)
{
    value *h = value_map();
    value_set(h, "releases", value_list());
    value_set(h, "docs", value_map());
    return h;
}

static void set_commit_fields(value *m, const relinfo *ri, const char *repo_url)
{
    value_set_str(m, "commit", ri->commit);
    value_set(m, "short", value_strn(ri->commit, *ri->commit ? 7 : 0));
    if (*ri->commit && repo_url && *repo_url)
        value_set(m, "url", value_strf("%s/commit/%s", repo_url, ri->commit));
    else
        value_set_str(m, "url", "");
    value_set(m, "pending", value_bool(!*ri->commit));
}

/* URL -> its list in history.docs. value maps look keys up linearly, and
 * this one has a key per document: found here instead, in O(1). */
typedef struct { const char **k; value **v; size_t n, cap; } urlmap;

static size_t url_hash(const char *s)
{
    size_t h = 1469598103934665603u;   /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static value **um_slot(urlmap *m, const char *key)
{
    size_t i = url_hash(key) & (m->cap - 1);
    while (m->k[i] && strcmp(m->k[i], key)) i = (i + 1) & (m->cap - 1);
    return &m->v[i];
}

/* Keys are borrowed: they must outlive the map. */
static void um_put(urlmap *m, const char *key, value *v)
{
    if (2 * (m->n + 1) > m->cap) {
        urlmap g = {xcalloc(m->cap ? 2 * m->cap : 1024, sizeof *g.k), NULL, 0, m->cap ? 2 * m->cap : 1024};
        g.v = xcalloc(g.cap, sizeof *g.v);
        for (size_t i = 0; i < m->cap; i++)
            if (m->k[i]) um_put(&g, m->k[i], m->v[i]);
        free(m->k);
        free(m->v);
        *m = g;
    }
    value **slot = um_slot(m, key);
    m->k[slot - m->v] = key;
    *slot = v;
    m->n++;
}

static value *um_get(urlmap *m, const char *key) { return m->cap ? *um_slot(m, key) : NULL; }

static void add_doc_entries(value *docs, urlmap *lists, const relinfo *ri, const strlist *urls,
                            const char *action, const char *repo_url)
{
    if (!urls->n) return;
    /* The entry is the same for every document of the release: made once
     * and shared by their lists (values are never changed once built, and
     * atomically counted; build.c only reads them), its fields in the
     * order set_commit_fields gives them. The url links to the
     * release's row on /releases/, not to the commit: a document page must
     * look the same before and after its release is committed, or every
     * release would re-publish the previous release's documents. */
    value *proto = value_map();
    value_set_str(proto, "tag", ri->tag);
    value_set_str(proto, "date", ri->date);
    set_commit_fields(proto, ri, repo_url);
    value_set(proto, "url", value_strf("/releases/#%s", ri->tag));
    value_set_str(proto, "action", action);
    for (size_t i = 0; i < urls->n; i++) {
        value *list = um_get(lists, urls->v[i]);
        if (!list) {
            list = value_list();
            value_set(docs, urls->v[i], list);
            um_put(lists, urls->v[i], list);
        }
        value_push(list, value_ref(proto));
    }
    value_unref(proto);
}

/* ris[0..n) newest first. */
static value *history_value(relinfo *ris, size_t n, const char *repo_url)
{
    value *h = empty_history();
    value *rels = value_get(h, "releases"), *docs = value_get(h, "docs");
    urlmap lists = {0};
    for (size_t i = 0; i < n; i++) {
        value *e = value_map();
        value_set_str(e, "tag", ris[i].tag);
        value_set_str(e, "date", ris[i].date);
        value_set_str(e, "summary", ris[i].summary);
        value_set(e, "added", value_int(ris[i].added));
        value_set(e, "changed", value_int(ris[i].changed));
        value_set(e, "removed", value_int(ris[i].removed));
        set_commit_fields(e, &ris[i], repo_url);
        value_push(rels, e);
    }
    for (size_t i = n; i-- > 0;) {   /* oldest first */
        add_doc_entries(docs, &lists, &ris[i], &ris[i].add_urls, "added", repo_url);
        add_doc_entries(docs, &lists, &ris[i], &ris[i].chg_urls, "changed", repo_url);
    }
    free(lists.k);
    free(lists.v);
    return h;
}

/* History of the first-parent chain from `start` (may be NULL), with
 * `pending` (may be NULL, taken over) as the newest entry. */
static value *history_from(git_repository *repo, git_commit *start, relinfo *pending,
                           const char *repo_url, diag *d)
{
    relinfo *ris = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (pending) {
        ris = xmalloc(sizeof *ris);
        cap = 1;
        ris[n++] = *pending;
        memset(pending, 0, sizeof *pending);
    }
    git_commit *c = NULL;
    if (start && git_commit_dup(&c, start) < 0) rc = gerr(d, NULL, "cannot read commit");
    while (rc == 0 && c) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            ris = xrealloc(ris, cap * sizeof *ris);
        }
        rc = ri_of_commit(repo, c, false, &ris[n], d);
        if (rc == 0) n++;
        git_commit *p = NULL;
        if (rc == 0) rc = first_parent(c, &p, d);
        git_commit_free(c);
        c = p;
    }
    git_commit_free(c);
    value *h = rc == 0 ? history_value(ris, n, repo_url) : NULL;
    for (size_t i = 0; i < n; i++) ri_free(&ris[i]);
    free(ris);
    return h;
}

/* Open the repository whose work tree is dir. 1 opened, 0 none, -1 error. */
static int repo_open(git_repository **r, const char *dir, diag *d)
{
    *r = NULL;
    char *dotgit = path_join(dir, ".git");
    bool exists = path_exists(dotgit);
    free(dotgit);
    if (!exists) return 0;
    if (git_repository_open_ext(r, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
        return gerr(d, dir, "cannot open the release repository (damaged?)");
    return 1;
}

/* Commit named by rev (NULL: HEAD). 1 found, 0 no releases yet, -1 error. */
static int resolve_commit(git_repository *repo, const char *rev, git_commit **out, diag *d)
{
    *out = NULL;
    git_object *obj = NULL;
    if (!rev) {
        int unborn = git_repository_head_unborn(repo);
        if (unborn == 1) return 0;
        if (unborn < 0) return gerr(d, "HEAD", "cannot read HEAD (damaged repository?)");
    }
    if (!rev) {
        /* Not git_revparse_single("HEAD"): it leaks the reference when the
         * object is missing (libgit2 1.5). */
        git_reference *h = NULL;
        int e = git_repository_head(&h, repo);
        if (e == 0) e = git_reference_peel((git_object **)out, h, GIT_OBJECT_COMMIT);
        git_reference_free(h);
        return e < 0 ? gerr(d, "HEAD", "cannot read the last release (damaged repository?)") : 1;
    }
    int e = git_revparse_single(&obj, repo, rev);
    if (rev && (e == GIT_ENOTFOUND || e == GIT_EAMBIGUOUS)) {
        git_error_clear();
        diag_error(d, NULL, 0, "no release named '%s'", rev);
        return -1;
    }
    if (e < 0) return gerr(d, rev ? rev : "HEAD", "cannot resolve");
    e = git_object_peel((git_object **)out, obj, GIT_OBJECT_COMMIT);
    git_object_free(obj);
    return e < 0 ? gerr(d, rev ? rev : "HEAD", "not a release commit") : 1;
}

value *release_history(const char *repo_dir, const char *repo_url, diag *d)
{
    git_libgit2_init();
    git_repository *repo = NULL;
    git_commit *head = NULL;
    value *h = NULL;
    int rc = repo_open(&repo, repo_dir, d);
    if (rc > 0) rc = resolve_commit(repo, NULL, &head, d);
    if (rc == 0) h = empty_history();
    else if (rc > 0) h = history_from(repo, head, NULL, repo_url, d);
    git_commit_free(head);
    git_repository_free(repo);
    git_libgit2_shutdown();
    return h;
}

static value *history_asof(git_repository *repo, git_commit *c, const char *repo_url, diag *d)
{
    relinfo pend;
    git_commit *p = NULL;
    if (ri_of_commit(repo, c, true, &pend, d) < 0) { ri_free(&pend); return NULL; }
    value *h = NULL;
    if (first_parent(c, &p, d) == 0) h = history_from(repo, p, &pend, repo_url, d);
    ri_free(&pend);
    git_commit_free(p);
    return h;
}

value *release_history_asof(const char *repo_dir, const char *repo_url, const char *rev, diag *d)
{
    git_libgit2_init();
    git_repository *repo = NULL;
    git_commit *c = NULL;
    value *h = NULL;
    int rc = repo_open(&repo, repo_dir, d);
    if (rc > 0) rc = resolve_commit(repo, rev, &c, d);
    if (rc == 0) h = empty_history();
    else if (rc > 0) h = history_asof(repo, c, repo_url, d);
    git_commit_free(c);
    git_repository_free(repo);
    git_libgit2_shutdown();
    return h;
}

/* ---- lock ------------------------------------------------------------- */

/* git's own *.lock files (index.lock, refs/heads/main.lock ...) under
 * dir: a git process is at work, or one was killed mid-update. */
static void find_git_locks(const char *dir, strlist *out)
{
    DIR *dh = opendir(dir);
    if (!dh) return;
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "objects") ||
            !strcmp(e->d_name, LOCK_NAME))
            continue;
        char *full = path_join(dir, e->d_name);
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode) && (!strcmp(e->d_name, "refs") || strstr(dir, "/refs")))
            find_git_locks(full, out);
        else if (str_ends(e->d_name, ".lock"))
            sl_add(out, xstrdup(full));
        free(full);
    }
    closedir(dh);
}

/* Lock files left by an interrupted update make libgit2 refuse to move
 * refs; say which before building anything. */
static int check_git_locks(git_repository *repo, diag *d)
{
    strlist locks = {0};
    char *gitdir = xstrdup(git_repository_path(repo));
    size_t n = strlen(gitdir);
    if (n > 1 && gitdir[n - 1] == '/') gitdir[n - 1] = 0;
    find_git_locks(gitdir, &locks);
    free(gitdir);
    for (size_t i = 0; i < locks.n; i++)
        diag_error(d, locks.v[i], 0, "lock file exists: a git process is using the release repository, "
                   "or one was interrupted; if none is running, remove it: rm %s", locks.v[i]);
    int rc = locks.n ? -1 : 0;
    sl_free(&locks);
    return rc;
}

/* O_EXCL lock file holding our pid. A lock whose pid is gone is reported,
 * never silently taken over: the release it belonged to may have left
 * partial output in the work tree. */
static char *lock_take(git_repository *repo, const char *work, diag *d)
{
    char *path = path_join(git_repository_path(repo), LOCK_NAME);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
        char *data = NULL;
        size_t len = 0;
        long pid = 0;
        if (read_file(path, &data, &len) == 0) pid = strtol(data, NULL, 10);
        free(data);
        if (pid_alive(pid))
            diag_error(d, path, 0, "another release is running (pid %ld); try again when it has finished", pid);
        else
            diag_error(d, path, 0,
                       "stale lock left by pid %ld, which is no longer running (an interrupted release?). "
                       "If no release is running, remove it: rm %s ; if %s then reports local changes, "
                       "they are the interrupted release's partial output: "
                       "git -C %s reset --hard && git -C %s clean -fd restores the last release",
                       pid, path, work, work, work);
        if (!pid_alive(pid)) check_git_locks(repo, d);
        free(path);
        return NULL;
    }
    if (fd < 0) {
        diag_error(d, path, 0, "cannot create lock: %s", strerror(errno));
        free(path);
        return NULL;
    }
    char pidtxt[32];
    int n = snprintf(pidtxt, sizeof pidtxt, "%ld\n", (long)getpid());
    if (write(fd, pidtxt, (size_t)n) != n) {
        diag_error(d, path, 0, "cannot write lock: %s", strerror(errno));
        close(fd);
        unlink(path);
        free(path);
        return NULL;
    }
    close(fd);
    return path;
}

static void lock_drop(char *path)
{
    if (path) unlink(path);
    free(path);
}

/* ---- the index, read and written here -----------------------------------
 *
 * libgit2 spends ~15 ms loading and ~20 ms writing an index of 15k
 * entries (checksums, an allocation per entry, the tree cache). When the
 * last release's record vouches for the index (its inode, size, mtime and
 * ctime are as the release left it), it is read here without verifying its
 * checksum, changed in place and written back in git's version 2 format,
 * without extensions (git rebuilds its tree cache when it wants one). */

typedef struct {
    const char *path;   /* into ilist.data, or borrowed from the caller */
    uint32_t st[10];    /* ctime s, ns, mtime s, ns, dev, ino, mode, uid, gid, size */
    git_oid id;
    bool gone;
} ientry;

enum { IE_CS, IE_CNS, IE_MS, IE_MNS, IE_DEV, IE_INO, IE_MODE, IE_UID, IE_GID, IE_SIZE };

typedef struct {
    ientry *v;
    size_t n;
    char *data;   /* the index file */
} ilist;

static void il_free(ilist *l)
{
    free(l->v);
    free(l->data);
    memset(l, 0, sizeof *l);
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A version 2 index of stage-0 entries in order, as this file and libgit2
 * write it; anything else (another version, conflicts, flags we do not
 * write) is refused, and the check goes the slow way. */
static bool il_parse(char *data, size_t len, ilist *out)
{
    memset(out, 0, sizeof *out);
    const unsigned char *p = (const unsigned char *)data;
    if (len < 12 + 20 || memcmp(p, "DIRC", 4) || get_be32(p + 4) != 2) return false;
    size_t n = get_be32(p + 8), end = len - 20, off = 12;
    if (n > end / 64) return false;
    out->v = xmalloc((n + 1) * sizeof(ientry));
    for (size_t i = 0; i < n; i++) {
        if (end - off < 64) goto bad;
        const unsigned char *e = p + off;
        unsigned flags = (unsigned)e[60] << 8 | e[61];
        const char *path = (const char *)e + 62;
        const char *nul = memchr(path, 0, end - off - 62);
        if ((flags & 0xF000) || !nul) goto bad;
        size_t plen = (size_t)(nul - path), elen = (62 + plen + 8) & ~(size_t)7;
        if (!plen || elen > end - off || (flags & 0xFFF) != (plen < 0xFFF ? plen : 0xFFF)) goto bad;
        if (i && strcmp(out->v[i - 1].path, path) >= 0) goto bad;
        ientry *ie = &out->v[i];
        ie->path = path;
        for (int k = 0; k < 10; k++) ie->st[k] = get_be32(e + 4 * k);
        git_oid_fromraw(&ie->id, e + 40);
        ie->gone = false;
        off += elen;
    }
    out->n = n;
    out->data = data;
    return true;
bad:
    free(out->v);
    out->v = NULL;
    return false;
}

static int ie_cmp(const void *key, const void *elem) { return strcmp(key, ((const ientry *)elem)->path); }

static ientry *il_find(const ilist *l, const char *path)
{
    return l->n ? bsearch(path, l->v, l->n, sizeof(ientry), ie_cmp) : NULL;
}

/* Stat data of the file at e->path (zeros when it is not a regular file:
 * git then reads it). */
static void ie_stat(ientry *e, int root)
{
    struct stat st;
    uint32_t mode = e->st[IE_MODE];
    memset(e->st, 0, sizeof e->st);
    e->st[IE_MODE] = mode;
    if (fstatat(root, e->path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) return;
    e->st[IE_CS] = (uint32_t)st.st_ctim.tv_sec;
    e->st[IE_CNS] = (uint32_t)st.st_ctim.tv_nsec;
    e->st[IE_MS] = (uint32_t)st.st_mtim.tv_sec;
    e->st[IE_MNS] = (uint32_t)st.st_mtim.tv_nsec;
    e->st[IE_DEV] = (uint32_t)st.st_dev;
    e->st[IE_INO] = (uint32_t)st.st_ino;
    e->st[IE_UID] = (uint32_t)st.st_uid;
    e->st[IE_GID] = (uint32_t)st.st_gid;
    e->st[IE_SIZE] = (uint32_t)st.st_size;
}

/* The changes of a release (all: sorted, paths borrowed) and fresh stat
 * data for the files in extra. */
static void il_apply(ilist *l, const dlist *all, char *const *extra, size_t nextra, int root)
{
    ientry *add = NULL;
    size_t nadd = 0, cap = 0;
    for (size_t i = 0; i < all->n; i++) {
        const dentry *c = &all->v[i];
        ientry *e = il_find(l, c->path);
        if (c->st == D_DELETED) {
            if (e) e->gone = true;
            continue;
        }
        if (!e) {
            if (nadd == cap) {
                cap = cap ? 2 * cap : 64;
                add = xrealloc(add, cap * sizeof(ientry));
            }
            e = &add[nadd++];
            memset(e, 0, sizeof *e);
            e->path = c->path;
            e->st[IE_MODE] = 0100644;
        }
        e->gone = false;
        git_oid_cpy(&e->id, &c->new_id);
        ie_stat(e, root);
    }
    for (size_t i = 0; i < nextra; i++) {
        ientry *e = il_find(l, extra[i]);
        if (e && !e->gone) ie_stat(e, root);
    }
    if (!nadd) return;
    /* Both runs are sorted: merge them. */
    ientry *v = xmalloc((l->n + nadd) * sizeof(ientry));
    size_t i = 0, j = 0, k = 0;
    while (i < l->n || j < nadd)
        v[k++] = j == nadd || (i < l->n && strcmp(l->v[i].path, add[j].path) < 0) ? l->v[i++] : add[j++];
    free(l->v);
    free(add);
    l->v = v;
    l->n = k;
}

/* Write the entries as site/.git/index (through index.lock, as git does);
 * *st gets the new file's stat. */
static int il_write(const ilist *l, const char *path, struct stat *st, diag *d)
{
    size_t n = 0, size = 12 + 20;
    for (size_t i = 0; i < l->n; i++)
        if (!l->v[i].gone) {
            n++;
            size += (62 + strlen(l->v[i].path) + 8) & ~(size_t)7;
        }
    unsigned char *b = xcalloc(1, size), *p = b;
    memcpy(p, "DIRC", 4);
    put_be32(p + 4, 2);
    put_be32(p + 8, (uint32_t)n);
    p += 12;
    for (size_t i = 0; i < l->n; i++) {
        const ientry *e = &l->v[i];
        if (e->gone) continue;
        size_t plen = strlen(e->path);
        for (int k = 0; k < 10; k++) put_be32(p + 4 * k, e->st[k]);
        memcpy(p + 40, e->id.id, 20);
        unsigned flags = plen < 0xFFF ? (unsigned)plen : 0xFFF;
        p[60] = (unsigned char)(flags >> 8);
        p[61] = (unsigned char)flags;
        memcpy(p + 62, e->path, plen);   /* the padding is calloc's zeros */
        p += (62 + plen + 8) & ~(size_t)7;
    }
    sha1_ctx s;
    sha1_init(&s);
    sha1_update(&s, b, (size_t)(p - b));
    sha1_final(&s, p);
    char *lock = xasprintf("%s.lock", path);
    int rc = 0, fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        diag_error(d, lock, 0, "cannot create: %s", strerror(errno));
        rc = -1;
    } else {
        bool ok = write_all(fd, NULL, b, size) == 0;
        ok = close(fd) == 0 && ok;
        if (!ok || rename(lock, path) < 0 || stat(path, st) < 0) {
            diag_error(d, path, 0, "cannot write index: %s", strerror(errno));
            unlink(lock);
            rc = -1;
        }
    }
    free(lock);
    free(b);
    return rc;
}

/* ---- local edits ------------------------------------------------------ */

/* The last release's record of directories (see fast_dirty). */
typedef struct {
    char *path;   /* "" for the root */
    struct timespec mtime, ctime;
    uint64_t ino;
} dirstat;

typedef struct {
    dirstat *v;
    size_t n, cap;
    struct timespec written;   /* the record file's mtime */
} dirrec;

static void dr_free(dirrec *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->v[i].path);
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* site/.git/index as the last release left it (refresh_index), to skip
 * reading files whose stat data it records, as `git status` does. Read
 * here (ilist) when the record vouches for it, else by libgit2, opened on
 * its own rather than as the repository's: libgit2 then does not diff
 * the work tree for "racily clean" entries on every write; the racy rule
 * is applied when reading instead (ie_clean), as git also does. */
typedef struct {
    git_index *idx;            /* by libgit2; NULL when verified */
    ilist il;                  /* read here; verified only */
    bool verified;             /* the index holds exactly the last release's tree */
    struct timespec written;   /* the index file's mtime */
    dirrec dr;                 /* the record; verified only */
    strlist slow;              /* directories found changed (fast_dirty) */
} statcache;

static bool record_load(git_repository *repo, const git_tree *tree, const struct stat *ist, dirrec *out);

static void sc_open(git_repository *repo, const git_tree *tree, statcache *sc)
{
    memset(sc, 0, sizeof *sc);
    char *path = path_join(git_repository_path(repo), "index"), *data = NULL;
    size_t len = 0;
    struct stat st;
    if (stat(path, &st) == 0) {
        sc->written = st.st_mtim;
        struct stat rst;
        if (record_load(repo, tree, &st, &sc->dr) && read_whole(path, &data, &len, &rst) == 0 &&
            rst.st_ino == st.st_ino && ts_equal(rst.st_ctim, st.st_ctim) && il_parse(data, len, &sc->il))
            sc->verified = true;
        else if (git_index_open(&sc->idx, path) < 0)
            sc->idx = NULL;
        if (!sc->verified) {
            free(data);
            dr_free(&sc->dr);
        }
    }
    git_error_clear();
    free(path);
}

static void sc_free(statcache *sc)
{
    git_index_free(sc->idx);
    il_free(&sc->il);
    dr_free(&sc->dr);
    sl_free(&sc->slow);
    memset(sc, 0, sizeof *sc);
}

static bool ts_before(struct timespec a, struct timespec b)
{
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/* Does index entry e vouch for the file with stat st? Only if every stat
 * field it keeps matches, ctime included (a program can set mtime back,
 * not ctime), and the file was last changed before the index was written
 * (a file changed in the same instant as the index is "racy": hashed). */
static bool ie_clean(const statcache *sc, const ientry *e, const struct stat *st)
{
    return !e->gone && e->st[IE_SIZE] == (uint32_t)st->st_size && e->st[IE_INO] == (uint32_t)st->st_ino &&
           e->st[IE_MS] == (uint32_t)st->st_mtim.tv_sec && e->st[IE_MNS] == (uint32_t)st->st_mtim.tv_nsec &&
           e->st[IE_CS] == (uint32_t)st->st_ctim.tv_sec && e->st[IE_CNS] == (uint32_t)st->st_ctim.tv_nsec &&
           ts_before(st->st_mtim, sc->written) && ts_before(st->st_ctim, sc->written);
}

/* The same for an entry of libgit2's index. */
static bool gie_clean(const statcache *sc, const git_index_entry *e, const struct stat *st)
{
    return e->file_size == (uint32_t)st->st_size && e->ino == (uint32_t)st->st_ino &&
           e->mtime.seconds == (int32_t)st->st_mtim.tv_sec && e->mtime.nanoseconds == (uint32_t)st->st_mtim.tv_nsec &&
           e->ctime.seconds == (int32_t)st->st_ctim.tv_sec && e->ctime.nanoseconds == (uint32_t)st->st_ctim.tv_nsec &&
           ts_before(st->st_mtim, sc->written) && ts_before(st->st_ctim, sc->written);
}

/* Does the index vouch that the file at rel (stat st) still holds blob
 * id? Only if it names that blob for it and its stat data is clean. */
static bool sc_clean(const statcache *sc, const char *rel, const struct stat *st, const git_oid *id)
{
    if (sc->verified) {
        const ientry *e = il_find(&sc->il, rel);
        return e && git_oid_equal(&e->id, id) && ie_clean(sc, e, st);
    }
    if (!sc->idx) return false;
    const git_index_entry *e = git_index_get_bypath(sc->idx, rel, 0);
    return e && git_oid_equal(&e->id, id) && gie_clean(sc, e, st);
}

/* Compare dir (relative rel) with tree t (NULL: absent) file by file and
 * collect "modified: path" / "added: path" / "deleted: path". */
static int dirty_rec(git_repository *repo, const statcache *sc, const char *dir, const char *rel, const git_tree *t,
                     strlist *out, diag *d)
{
    int rc = 0;
    DIR *dh = opendir(dir);
    if (dh) {
        struct dirent *e;
        while (rc == 0 && (e = readdir(dh))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            if (!*rel && !strcmp(e->d_name, ".git")) continue;
            char *full = path_join(dir, e->d_name);
            char *r = *rel ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
            const git_tree_entry *te = t ? git_tree_entry_byname(t, e->d_name) : NULL;
            bool tree_e = te && git_tree_entry_type(te) == GIT_OBJECT_TREE;
            struct stat st;
            if (lstat(full, &st) < 0) {
                diag_error(d, full, 0, "cannot stat: %s", strerror(errno));
                rc = -1;
            } else if (S_ISDIR(st.st_mode)) {
                git_tree *sub = NULL;
                if (tree_e && git_tree_lookup(&sub, repo, git_tree_entry_id(te)) < 0)
                    rc = gerr(d, r, "cannot read tree");
                else if (te && !tree_e)
                    sl_add(out, xasprintf("modified: %s (a directory now)", r));
                if (rc == 0) rc = dirty_rec(repo, sc, full, r, sub, out, d);
                git_tree_free(sub);
            } else if (!S_ISREG(st.st_mode)) {
                sl_add(out, xasprintf("%s: %s (not a regular file)", te ? "modified" : "added", r));
            } else if (!te || tree_e) {
                sl_add(out, xasprintf("added: %s", r));
            } else if (sc_clean(sc, r, &st, git_tree_entry_id(te))) {
                /* unchanged since the last release: not read */
            } else {
                char *data;
                size_t len;
                git_oid id;
                if (read_file(full, &data, &len) < 0) {
                    diag_error(d, full, 0, "cannot read: %s", strerror(errno));
                    rc = -1;
                } else {
                    if (git_odb_hash(&id, data, len, GIT_OBJECT_BLOB) < 0) rc = gerr(d, r, "cannot hash");
                    else if (!git_oid_equal(&id, git_tree_entry_id(te))) sl_add(out, xasprintf("modified: %s", r));
                    free(data);
                }
            }
            free(full);
            free(r);
        }
        closedir(dh);
    } else if (errno != ENOENT) {
        diag_error(d, dir, 0, "cannot read directory: %s", strerror(errno));
        return -1;
    }
    /* Entries of the release that are gone from disk, file by file. */
    size_t n = t ? git_tree_entrycount(t) : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const git_tree_entry *te = git_tree_entry_byindex(t, i);
        char *full = path_join(dir, git_tree_entry_name(te));
        struct stat st;
        if (lstat(full, &st) < 0 && errno == ENOENT) {
            char *r = *rel ? xasprintf("%s/%s", rel, git_tree_entry_name(te)) : xstrdup(git_tree_entry_name(te));
            git_tree *sub = NULL;
            if (git_tree_entry_type(te) != GIT_OBJECT_TREE)
                sl_add(out, xasprintf("deleted: %s", r));
            else if (git_tree_lookup(&sub, repo, git_tree_entry_id(te)) < 0)
                rc = gerr(d, r, "cannot read tree");
            else
                rc = dirty_rec(repo, sc, full, r, sub, out, d);   /* dir gone: lists every file deleted */
            git_tree_free(sub);
            free(r);
        }
        free(full);
    }
    return rc;
}

/* ---- fast local-edit check ---------------------------------------------
 *
 * A one-page release should not re-read 14k trees and lstat 30k paths to
 * learn that nothing was touched. After each release, .git/gazette-dirs
 * records the stat of every directory of the release's tree, with the
 * tree and the stat of the index it goes with (which keeps every file's
 * stat data). While a directory's mtime, ctime and inode are as recorded,
 * no name in it was added, removed or renamed (each changes the
 * directory's mtime; a program can set mtime back, not ctime), so only
 * its files need an lstat each, against the index. A directory that
 * changed is compared with the tree the slow way (dirty_rec); anything
 * odd (no record, an index git rewrote, a file turned into something
 * else, many changed directories) falls back to the slow way for the
 * whole site, which is what decides. */

#define DIR_RECORD "gazette-dirs"
#define DIR_RECORD_MAGIC "gazette-dirs 2"
#define MAX_SLOW_DIRS 64

static dirstat *dr_add(dirrec *r, const char *path, size_t len)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->v = xrealloc(r->v, r->cap * sizeof *r->v);
    }
    dirstat *e = &r->v[r->n++];
    memset(e, 0, sizeof *e);
    e->path = xstrndup(path, len);
    return e;
}

/* Every directory holding one of the sorted paths, parents before
 * children ("" first). The paths under a directory are one run of a
 * sorted list, so a directory is new exactly where it is not one of the
 * previous path's. */
static void dirs_of_paths(const ilist *l, dirrec *out)
{
    dr_add(out, "", 0);
    const char *prev = "";
    size_t prevlen = 0;   /* length of the previous path's directory */
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].gone) continue;
        const char *p = l->v[i].path, *slash = strrchr(p, '/');
        size_t dlen = slash ? (size_t)(slash - p) : 0;
        size_t common = 0;   /* leading directories shared with prev */
        for (size_t k = 1; k <= dlen && k <= prevlen && p[k - 1] == prev[k - 1]; k++)
            if ((k == dlen || p[k] == '/') && (k == prevlen || prev[k] == '/')) common = k;
        for (size_t k = common + 1; k <= dlen; k++)
            if (k == dlen || p[k] == '/') dr_add(out, p, k);
        prev = p;
        prevlen = dlen;
    }
}

static char *record_path(git_repository *repo) { return path_join(git_repository_path(repo), DIR_RECORD); }

static char *put_num(char *p, uint64_t x, char after)
{
    char t[24];
    int n = 0;
    do t[n++] = (char)('0' + x % 10); while ((x /= 10));
    while (n) *p++ = t[--n];
    *p++ = after;
    return p;
}

static bool get_num(char **p, uint64_t *x, char after)
{
    char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9') return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (*s != after) return false;
    *x = v;
    *p = s + 1;
    return true;
}

/* "tree ino size mtime-s mtime-ns ctime-s ctime-ns\n": the tree the record
 * is for and the index file it goes with. */
static char *record_head(const git_tree *tree, const struct stat *ist, char *p)
{
    memcpy(p, DIR_RECORD_MAGIC "\n", sizeof DIR_RECORD_MAGIC);
    p += sizeof DIR_RECORD_MAGIC;
    oid_hex(git_tree_id(tree), p);
    p[40] = ' ';
    p = put_num(p + 41, (uint64_t)ist->st_ino, ' ');
    p = put_num(p, (uint64_t)ist->st_size, ' ');
    p = put_num(p, (uint64_t)ist->st_mtim.tv_sec, ' ');
    p = put_num(p, (uint64_t)ist->st_mtim.tv_nsec, ' ');
    p = put_num(p, (uint64_t)ist->st_ctim.tv_sec, ' ');
    return put_num(p, (uint64_t)ist->st_ctim.tv_nsec, '\n');
}

/* The order of dirs_of_paths: the root, then by path + "/" (the order of
 * the sorted paths under each directory). */
static int dir_order(const char *a, const char *b)
{
    if (!*a || !*b) return (*a != 0) - (*b != 0);
    for (size_t i = 0;; i++) {
        unsigned ca = a[i] ? (unsigned char)a[i] : '/', cb = b[i] ? (unsigned char)b[i] : '/';
        if (ca != cb) return ca < cb ? -1 : 1;
        if (!a[i] || !b[i]) return (a[i] != 0) - (b[i] != 0);
    }
}

static bool is_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return !n || (!strncmp(path, dir, n) && (path[n] == '/' || !path[n]));
}

static bool under_any(const strlist *dirs, const char *path)
{
    for (size_t i = 0; i < dirs->n; i++)
        if (is_under(path, dirs->v[i])) return true;
    return false;
}

/* Every directory of the paths (sorted, duplicates kept): those whose
 * stat a release's changes moved. */
static void dirs_touched(char *const *paths, size_t n, strlist *out)
{
    for (size_t i = 0; i < n; i++)
        for (const char *s = paths[i]; (s = strchr(s, '/')); s++) sl_add(out, xstrndup(paths[i], (size_t)(s - paths[i])));
    sl_add(out, xstrdup(""));
    if (out->n) qsort(out->v, out->n, sizeof(char *), str_cmp_ptr);
}

static bool sl_has(const strlist *l, const char *s)
{
    return l->n && bsearch(&s, l->v, l->n, sizeof(char *), str_cmp_ptr);
}

/* Write the record for tree and the index entries l (ist: the index
 * file's stat). A directory is stat-ed again when the release touched a
 * path under it, when the check found it changed, or when old (a verified
 * statcache, else NULL) has no entry for it; the others keep their old
 * stat: a directory that did change since is then only checked the slow
 * way next time. Failing is not an error (the next check is only
 * slower); the old record goes first so that it can never vouch for a
 * directory of another tree. */
static void record_write(git_repository *repo, const git_tree *tree, const struct stat *ist, const ilist *l,
                         const statcache *old, const strlist *touched, const char *work)
{
    char *path = record_path(repo);
    unlink(path);
    dirrec dr = {0};
    dirs_of_paths(l, &dr);
    size_t nold = old ? old->dr.n : 0, j = 0;
    int root = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    size_t cap = 256, len = 0;
    for (size_t i = 0; i < dr.n; i++) cap += strlen(dr.v[i].path) + 6 * 21;
    char *b = xmalloc(cap), *p = record_head(tree, ist, b);
    bool ok = root >= 0;
    for (size_t i = 0; i < dr.n && ok; i++) {
        dirstat *e = &dr.v[i];
        /* Both lists are in dirs_of_paths order: walk them together. */
        while (j < nold && dir_order(old->dr.v[j].path, e->path) < 0) j++;
        const dirstat *o = j < nold && !dir_order(old->dr.v[j].path, e->path) ? &old->dr.v[j] : NULL;
        struct stat st;
        if (o && !sl_has(touched, e->path) && !under_any(&old->slow, e->path)) {
            e->mtime = o->mtime;
            e->ctime = o->ctime;
            e->ino = o->ino;
        } else if (fstatat(root, *e->path ? e->path : ".", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
            e->mtime = st.st_mtim;
            e->ctime = st.st_ctim;
            e->ino = (uint64_t)st.st_ino;
        } else {
            ok = false;
        }
        ok = ok && !strchr(e->path, '\n') && e->mtime.tv_sec >= 0 && e->ctime.tv_sec >= 0;
        if (!ok) break;
        p = put_num(p, (uint64_t)e->mtime.tv_sec, ' ');
        p = put_num(p, (uint64_t)e->mtime.tv_nsec, ' ');
        p = put_num(p, (uint64_t)e->ctime.tv_sec, ' ');
        p = put_num(p, (uint64_t)e->ctime.tv_nsec, ' ');
        p = put_num(p, e->ino, ' ');
        size_t pl = strlen(e->path);
        memcpy(p, e->path, pl);
        p[pl] = '\n';
        p += pl + 1;
    }
    len = (size_t)(p - b);
    if (ok && write_file_atomic(path, b, len) < 0) unlink(path);
    if (root >= 0) close(root);
    free(b);
    dr_free(&dr);
    free(path);
}

/* The record, if it was written for tree and for the index file as ist
 * describes it now; else false (check the slow way). */
static bool record_load(git_repository *repo, const git_tree *tree, const struct stat *ist, dirrec *out)
{
    memset(out, 0, sizeof *out);
    char *path = record_path(repo), *data = NULL;
    size_t len = 0;
    struct stat st;
    bool ok = read_whole(path, &data, &len, &st) == 0;
    free(path);
    if (!ok) return false;
    out->written = st.st_mtim;
    char head[256];
    size_t hl = (size_t)(record_head(tree, ist, head) - head);
    ok = len > hl && !memcmp(data, head, hl) && data[len - 1] == '\n';
    for (char *p = data + hl, *end = data + len; ok && p < end;) {
        uint64_t ms, mns, cs, cns, ino;
        ok = get_num(&p, &ms, ' ') && get_num(&p, &mns, ' ') && get_num(&p, &cs, ' ') && get_num(&p, &cns, ' ') &&
             get_num(&p, &ino, ' ');
        char *nl = ok ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        if (!nl) break;
        dirstat *e = dr_add(out, p, (size_t)(nl - p));
        e->mtime.tv_sec = (time_t)ms;
        e->mtime.tv_nsec = (long)mns;
        e->ctime.tv_sec = (time_t)cs;
        e->ctime.tv_nsec = (long)cns;
        e->ino = ino;
        p = nl + 1;
    }
    free(data);
    if (!ok || !out->n || *out->v[0].path) {
        dr_free(out);
        return false;
    }
    return true;
}

/* Is the directory as recorded (and recorded after it last changed)? */
static bool dir_unchanged(int root, const dirstat *e, struct timespec written)
{
    struct stat st;
    return fstatat(root, *e->path ? e->path : ".", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
           (uint64_t)st.st_ino == e->ino && ts_equal(st.st_mtim, e->mtime) && ts_equal(st.st_ctim, e->ctime) &&
           ts_before(st.st_mtim, written) && ts_before(st.st_ctim, written);
}

/* A changed directory, compared with its tree the slow way. 1: done, 0:
 * the tree has no such directory (the record lies: check everything). */
static int dirty_dir(git_repository *repo, const statcache *sc, const char *work, git_tree *head_tree,
                     const char *rel, strlist *out, diag *d)
{
    git_tree_entry *te = NULL;
    if (git_tree_entry_bypath(&te, head_tree, rel) < 0 || git_tree_entry_type(te) != GIT_OBJECT_TREE) {
        git_error_clear();
        git_tree_entry_free(te);
        return 0;
    }
    git_tree *sub = NULL;
    int rc = git_tree_lookup(&sub, repo, git_tree_entry_id(te)) < 0 ? gerr(d, rel, "cannot read tree") : 0;
    git_tree_entry_free(te);
    char *full = path_join(work, rel);
    if (rc == 0) rc = dirty_rec(repo, sc, full, rel, sub, out, d);
    free(full);
    git_tree_free(sub);
    return rc < 0 ? -1 : 1;
}

/* A file of an unchanged directory whose stat is not as the index has
 * it: compared by its content. Files found clean go to stale, to be given
 * fresh stat data in the next index. */
static int dirty_file(const char *work, const ientry *e, strlist *out, strlist *stale, diag *d)
{
    char *full = path_join(work, e->path), *data = NULL;
    size_t len = 0;
    int rc = read_file(full, &data, &len);
    if (rc < 0) diag_error(d, full, 0, "cannot read: %s", strerror(errno));
    free(full);
    if (rc < 0) return -1;
    git_oid id;
    if (git_odb_hash(&id, data, len, GIT_OBJECT_BLOB) < 0) rc = gerr(d, e->path, "cannot hash");
    else if (!git_oid_equal(&id, &e->id)) sl_add(out, xasprintf("modified: %s", e->path));
    else sl_add(stale, xstrdup(e->path));
    free(data);
    return rc;
}

/* The stats of every recorded directory and indexed file, on every CPU
 * (~30k fstatat calls are nearly all of a check). */
enum { F_CLEAN, F_CHANGED, F_ODD };   /* F_ODD: not a regular file now */
#define STAT_CHUNK 512

typedef struct {
    int root;
    const statcache *sc;
    bool *dir_same;
    unsigned char *file;
} statjob;

static void stat_chunk(void *ctx, size_t k)
{
    statjob *j = ctx;
    size_t nd = j->sc->dr.n, nf = j->sc->il.n, dchunks = (nd + STAT_CHUNK - 1) / STAT_CHUNK;
    if (k < dchunks) {
        for (size_t i = k * STAT_CHUNK; i < nd && i < (k + 1) * STAT_CHUNK; i++)
            j->dir_same[i] = dir_unchanged(j->root, &j->sc->dr.v[i], j->sc->dr.written);
        return;
    }
    k -= dchunks;
    for (size_t i = k * STAT_CHUNK; i < nf && i < (k + 1) * STAT_CHUNK; i++) {
        const ientry *e = &j->sc->il.v[i];
        struct stat st;
        if (fstatat(j->root, e->path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) j->file[i] = F_ODD;
        else j->file[i] = ie_clean(j->sc, e, &st) ? F_CLEAN : F_CHANGED;
    }
}

/* The check by the record. 1: done, 0: it cannot tell (out emptied;
 * check the slow way), -1: error. */
static int fast_dirty(git_repository *repo, statcache *sc, const char *work, git_tree *head_tree, strlist *out,
                      strlist *stale, diag *d)
{
    int root = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return 0;
    const dirrec *dr = &sc->dr;
    strlist *slow = &sc->slow;
    statjob j = {root, sc, xcalloc(dr->n + 1, sizeof(bool)), xcalloc(sc->il.n + 1, 1)};
    run_parallel((dr->n + STAT_CHUNK - 1) / STAT_CHUNK + (sc->il.n + STAT_CHUNK - 1) / STAT_CHUNK, stat_chunk, &j);
    int rc = 1;
    /* Directories: parents come before children, so a changed one is
     * compared whole and what is under it skipped. */
    for (size_t i = 0; i < dr->n && rc == 1; i++) {
        const dirstat *e = &dr->v[i];
        if (j.dir_same[i] || under_any(slow, e->path)) continue;
        if (!*e->path || slow->n == MAX_SLOW_DIRS) rc = 0;   /* cheaper the slow way */
        else rc = dirty_dir(repo, sc, work, head_tree, e->path, out, d);
        sl_add(slow, xstrdup(e->path));
    }
    for (size_t i = 0; i < sc->il.n && rc == 1; i++) {
        if (j.file[i] == F_CLEAN || under_any(slow, sc->il.v[i].path)) continue;
        if (j.file[i] == F_ODD) rc = 0;
        else if (dirty_file(work, &sc->il.v[i], out, stale, d) < 0) rc = -1;
    }
    close(root);
    free(j.dir_same);
    free(j.file);
    if (rc == 0) {
        sl_free(out);
        sl_free(stale);
    }
    return rc;
}

/* "modified: PATH" etc. for every difference between site/ and the last
 * release, sorted. Files found unchanged only by their content go to
 * stale (their stat data in the index is out of date). */
static int find_dirty(git_repository *repo, const char *work, git_tree *head_tree, statcache *sc, strlist *dirty,
                      strlist *stale, diag *d)
{
    int rc = sc->verified ? fast_dirty(repo, sc, work, head_tree, dirty, stale, d) : 0;
    if (rc == 0) rc = dirty_rec(repo, sc, work, "", head_tree, dirty, d);
    if (dirty->n) qsort(dirty->v, dirty->n, sizeof(char *), str_cmp_ptr);
    return rc < 0 ? -1 : 0;
}

static void report_dirty(const char *work, const char *tag, const strlist *dirty, diag *d)
{
    buf b = BUF_INIT;
    for (size_t i = 0; i < dirty->n && i < MAX_LISTED; i++) buf_printf(&b, "\n  %s", dirty->v[i]);
    if (dirty->n > MAX_LISTED) buf_printf(&b, "\n  ... and %zu more", dirty->n - MAX_LISTED);
    diag_error(d, work, 0,
               "the work tree has local changes not in the last release%s%s; a release rebuilds "
               "%s from content/ and would overwrite them. Move the changes into content/ (or "
               "templates/), or discard them (git -C %s reset --hard && git -C %s clean -fd), "
               "then release again:%s",
               *tag ? " " : "", tag, work, work, work, buf_cstr(&b));
    buf_free(&b);
}

/* ---- commit message ---------------------------------------------------- */

/* Inner text of the first <tag>...</tag> in html, tags stripped, the basic
 * entities decoded, whitespace collapsed; NULL when absent. */
static char *html_element_text(const char *html, size_t len, const char *tag)
{
    char open[16], close[16];
    snprintf(open, sizeof open, "<%s", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *s = memmem(html, len, open, strlen(open));
    if (!s) return NULL;
    const char *gt = memchr(s, '>', len - (size_t)(s - html));
    if (!gt) return NULL;
    const char *e = memmem(gt, len - (size_t)(gt - html), close, strlen(close));
    if (!e) return NULL;
    static const struct { const char *ent, *ch; } ents[] = {
        {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&#x27;", "'"}};
    buf b = BUF_INIT;
    bool intag = false, space = false;
    for (const char *p = gt + 1; p < e; p++) {
        if (*p == '<') { intag = true; continue; }
        if (intag) { if (*p == '>') intag = false; continue; }
        if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') { space = b.len > 0; continue; }
        if (space) { buf_putc(&b, ' '); space = false; }
        size_t k = 0;
        for (; k < sizeof ents / sizeof *ents; k++)
            if (!strncmp(p, ents[k].ent, strlen(ents[k].ent))) break;
        if (k < sizeof ents / sizeof *ents) {
            buf_puts(&b, ents[k].ch);
            p += strlen(ents[k].ent) - 1;
        } else {
            buf_putc(&b, *p);
        }
    }
    if (!b.len) { buf_free(&b); return NULL; }
    return buf_detach(&b);
}

/* A page's title from its blob: <h1>, else <title>, else its URL. */
static char *blob_title(git_repository *repo, const git_oid *id, const char *url)
{
    git_blob *blob = NULL;
    char *t = NULL;
    if (git_blob_lookup(&blob, repo, id) == 0) {
        const char *raw = git_blob_rawcontent(blob);
        size_t n = (size_t)git_blob_rawsize(blob);
        t = html_element_text(raw, n, "h1");
        if (!t) t = html_element_text(raw, n, "title");
        git_blob_free(blob);
    } else {
        git_error_clear();
    }
    return t ? t : xstrdup(url);
}

static int doc_cmp_url(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const build_doc *)elem)->url);
}

static char *doc_title(git_repository *repo, const build_result *res, const dentry *e, const char *url)
{
    const build_doc *doc = res && res->docs ? bsearch(url, res->docs, res->ndocs, sizeof(build_doc), doc_cmp_url) : NULL;
    if (doc && doc->title && *doc->title) return xstrdup(doc->title);
    return blob_title(repo, e->st == D_DELETED ? &e->old_id : &e->new_id, url);
}

#define MAX_MSG_LIST 500

static void msg_section(buf *b, const char *head, const strlist *items, char mark)
{
    if (!items->n) return;
    buf_printf(b, "\n%s (%zu):\n", head, items->n);
    for (size_t i = 0; i < items->n && i < MAX_MSG_LIST; i++) buf_printf(b, "  %c %s\n", mark, items->v[i]);
    if (items->n > MAX_MSG_LIST) buf_printf(b, "  ... and %zu more\n", items->n - MAX_MSG_LIST);
}

typedef struct {
    const char *head;         /* first line (and body) */
    const char *tag, *source_commit, *snapshot;
} msg_info;

static char *make_message(git_repository *repo, const dlist *all, const build_result *res, const msg_info *mi)
{
    strlist added = {0}, changed = {0}, removed = {0}, stats = {0};
    size_t other[3] = {0, 0, 0};
    for (size_t i = 0; i < all->n; i++) {
        const dentry *e = &all->v[i];
        char *url = doc_url_of(e->path);
        if (url) {
            char *t = doc_title(repo, res, e, url);
            char *line = xasprintf("%s (%s)", t, url);
            free(t);
            sl_add(e->st == D_ADDED ? &added : e->st == D_MODIFIED ? &changed : &removed, line);
            free(url);
        } else if (str_starts(e->path, "stats/")) {
            sl_add(&stats, xasprintf("%s%s", e->st == D_ADDED ? "+ " : e->st == D_DELETED ? "- " : "", e->path));
        } else {
            other[e->st == D_ADDED ? 0 : e->st == D_MODIFIED ? 1 : 2]++;
        }
    }
    buf b = BUF_INIT;
    buf_puts(&b, mi->head);
    while (b.len && (b.ptr[b.len - 1] == '\n' || b.ptr[b.len - 1] == ' ')) b.ptr[--b.len] = 0;
    buf_putc(&b, '\n');
    msg_section(&b, "Documents added", &added, '+');
    msg_section(&b, "Documents changed", &changed, '*');
    msg_section(&b, "Documents removed", &removed, '-');
    if (stats.n) {
        buf_printf(&b, "\nStats pages changed (%zu):\n", stats.n);
        for (size_t i = 0; i < stats.n && i < MAX_MSG_LIST; i++) buf_printf(&b, "  %s\n", stats.v[i]);
        if (stats.n > MAX_MSG_LIST) buf_printf(&b, "  ... and %zu more\n", stats.n - MAX_MSG_LIST);
    }
    if (other[0] + other[1] + other[2])
        buf_printf(&b, "\nOther files: %zu added, %zu changed, %zu removed.\n", other[0], other[1], other[2]);
    buf_printf(&b, "\nRelease-Tag: %s\n", mi->tag);
    if (mi->source_commit) buf_printf(&b, "Source-Commit: %s\n", mi->source_commit);
    if (mi->snapshot && *mi->snapshot) buf_printf(&b, "Snapshot-SHA256: %s\n", mi->snapshot);
    buf_printf(&b, "Generator: gazette %s\n", GAZETTE_VERSION);
    sl_free(&added);
    sl_free(&changed);
    sl_free(&removed);
    sl_free(&stats);
    return buf_detach(&b);
}

/* HEAD of the git repository holding content_dir, or NULL. */
static char *source_commit(const char *content_dir)
{
    git_repository *r = NULL;
    git_oid id;
    char *out = NULL;
    if (git_repository_open_ext(&r, content_dir, 0, NULL) == 0 &&
        git_reference_name_to_id(&id, r, "HEAD") == 0) {
        out = xmalloc(41);
        oid_hex(&id, out);
    }
    git_error_clear();
    git_repository_free(r);
    return out;
}

/* ---- building --------------------------------------------------------- */

/* Frees a result when build.c (and its build_result_free) is not linked:
 * everything in it is heap memory owned by the result. */
static void result_free(build_result *r)
{
    if (build_result_free) { build_result_free(r); return; }
    for (size_t i = 0; !r->doc_text && i < r->ndocs; i++) {
        free(r->docs[i].url);
        free(r->docs[i].path);
        free(r->docs[i].title);
        free(r->docs[i].source);
        free(r->docs[i].date);
    }
    free(r->docs);
    free(r->doc_text);
    for (size_t i = 0; i < r->nchanged; i++) free(r->changed[i]);
    for (size_t i = 0; i < r->nremoved; i++) free(r->removed_paths[i]);
    free(r->changed);
    free(r->removed_paths);
    value_unref(r->site);
    memset(r, 0, sizeof *r);
}

/* trust: out_dir is as the previous build of this release left it, and
 * that build recorded it (build_result.out_recorded): nothing else writes
 * there while the release holds its lock, so the next build need not
 * stat every page and directory again (build_opts.trust_out). */
/* The options of a release's build into out_dir (what the build cache
 * and the records of it are keyed by, too). */
static void release_build_opts(const release_opts *o, const char *out_dir, build_opts *bo)
{
    memset(bo, 0, sizeof *bo);
    if (build_opts_default) build_opts_default(bo);
    bo->content_dir = o->content_dir;
    bo->templates_dir = o->templates_dir;
    bo->out_dir = out_dir;
    /* The build cache serves the work tree only: a page record for each
     * temporary directory would pile up. */
    bo->cache_dir = strcmp(out_dir, o->out_dir) ? NULL : o->cache_dir;
}

static int run_build_ex(const release_opts *o, const char *out_dir, value *history, bool check_only,
                        build_keep *keep, bool trust, build_result *res, diag *d)
{
    build_opts bo;
    release_build_opts(o, out_dir, &bo);
    bo.history = history;
    bo.quiet = true;
    bo.check_only = check_only;
    bo.exit_after = o->exit_after;
    bo.keep = keep;
    bo.trust_out = trust && !getenv("GAZETTE_TEST_NO_BUILD_KEEP");
    memset(res, 0, sizeof *res);
    release_build_fn fn = o->build ? o->build : build_site;
    if (!fn) {
        diag_error(d, NULL, 0, "this gazette was built without the build pipeline");
        return -1;
    }
    int rc = fn(&bo, res, d);
    if (rc == 0 && diag_count(d, DIAG_ERROR)) rc = -1;
    return rc;
}

static int run_build(const release_opts *o, const char *out_dir, value *history, build_result *res, diag *d)
{
    return run_build_ex(o, out_dir, history, false, NULL, false, res, d);
}

/* ---- trusting the output across releases ------------------------------
 *
 * A release ends with site/ exactly as its last build left it, and that
 * build's records of site/ (page records, output state: the build cache)
 * describing it; .git/gazette-records keeps their fingerprint. The next
 * release first checks site/ against the release's index (find_dirty:
 * every file's stat). When nothing is dirty and the records are still the
 * ones with that fingerprint (no build, checkout or cache change since),
 * they describe site/ as it is, and the first build takes them as they
 * are (trust_out) instead of checking every file and directory a second
 * time. The file is removed when a release starts, so a release that
 * fails, or anything else, leaves no fingerprint to trust. */

#define RECORDS_FILE "gazette-records"
#define RECORDS_MAGIC "gazette-records 2\n"

/* What the last release left: the commit it made (or found current) and
 * its records' fingerprint, both hex ("" if none); the file is removed. */
static void records_take(git_repository *repo, char commit[41], char hex[33])
{
    *commit = *hex = 0;
    char *path = path_join(git_repository_path(repo), RECORDS_FILE), *data = NULL;
    size_t n, ml = sizeof RECORDS_MAGIC - 1;
    if (read_file(path, &data, &n) == 0 && n == ml + 41 + 33 && !memcmp(data, RECORDS_MAGIC, ml) &&
        data[ml + 40] == ' ' && data[n - 1] == '\n') {
        bool ok = true;
        for (size_t i = ml; i < n - 1; i++)
            if (i != ml + 40 && !strchr("0123456789abcdef", data[i] ? data[i] : 'x')) ok = false;
        if (ok) {
            memcpy(commit, data + ml, 40);
            commit[40] = 0;
            memcpy(hex, data + ml + 41, 32);
            hex[32] = 0;
        }
    }
    free(data);
    (void)unlink(path);
    free(path);
}

static void records_put(git_repository *repo, const char *commit, const char *hex)
{
    if (strlen(commit) != 40 || strlen(hex) != 32) return;
    char *path = path_join(git_repository_path(repo), RECORDS_FILE);
    char *text = xasprintf("%s%s %s\n", RECORDS_MAGIC, commit, hex);
    (void)write_file_atomic(path, text, strlen(text));   /* if not: the next release checks */
    free(text);
    free(path);
}

/* Are site/'s records still the ones the last release left, for the
 * release at HEAD? (HEAD moved, by git reset or checkout in site/, means
 * the work tree was rewritten behind the records' back.) */
static bool records_trusted(const release_opts *o, git_commit *parent, const char *commit,
                            const char *stored)
{
    if (!*stored || !parent || !build_records_id || !build_opts_default) return false;
    char head[41];
    oid_hex(git_commit_id(parent), head);
    if (strcmp(head, commit)) return false;
    build_opts bo;
    release_build_opts(o, o->out_dir, &bo);
    char now[33];
    return build_records_id(&bo, now) == 0 && !strcmp(now, stored);
}

/* Warnings in `from` whose text `to` does not hold yet, copied to `to`
 * word for word ("FILE:LINE: warning: ..."). */
static void forward_new_warnings(diag *from, diag *to)
{
    diag_sort(from);
    diag_sort(to);
    size_t nto = diag_total(to);
    for (size_t i = 0; i < diag_total(from); i++) {
        const char *m = diag_message(from, i);
        const char *w = strstr(m, "warning: ");
        if (!w || (w != m && (w < m + 2 || strncmp(w - 2, ": ", 2)))) continue;   /* errors */
        bool seen = false;
        for (size_t k = 0; k < nto && !seen; k++) seen = !strcmp(diag_message(to, k), m);
        if (seen) continue;
        if (w == m) {
            diag_warn(to, NULL, 0, "%s", w + 9);
        } else {
            char *file = xstrndup(m, (size_t)(w - 2 - m));   /* "FILE:LINE" kept as the file */
            diag_warn(to, file, 0, "%s", w + 9);
            free(file);
        }
    }
}

/* The paths a build touched (written or removed). */
/* The paths a build touched (written or removed), plus `extra`. */
static void touched(const build_result *r, char **extra, size_t nextra, char ***paths, size_t *n)
{
    *n = r->nchanged + r->nremoved + nextra;
    *paths = xmalloc((*n + 1) * sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < r->nchanged; i++) (*paths)[k++] = r->changed[i];
    for (size_t i = 0; i < r->nremoved; i++) (*paths)[k++] = r->removed_paths[i];
    for (size_t i = 0; i < nextra; i++) (*paths)[k++] = extra[i];
}

static int tree_after_build(git_repository *repo, staging *st, const git_tree *base, const char *dir,
                            const build_result *r, char **extra, size_t nextra, git_oid *out, diag *d)
{
    if (!base) return tree_of_dir(repo, st->mem, &st->zs, dir, out, d);
    char **paths;
    size_t n;
    touched(r, extra, nextra, &paths, &n);
    int rc = tree_update(repo, base, dir, paths, n, out, d);
    free(paths);
    return rc;
}

/* The path of a find_dirty line ("modified: PATH"). */
static const char *dirty_path(const char *line)
{
    const char *colon = strchr(line, ':');
    return colon ? colon + 2 : "";
}

/* Are the differences all files exactly as the last build into site/ left
 * them, by the build cache's records (build_left_as_is)? The usual case: a
 * `gazette build` (a preview) since the last release, perhaps of other
 * content than today's. A stat per path, no build. */
static bool dirt_left_by_build(const release_opts *o, const strlist *dirty)
{
    if (!build_left_as_is || !build_opts_default || !dirty->n) return false;
    build_opts bo;
    release_build_opts(o, o->out_dir, &bo);
    const char **paths = xmalloc(dirty->n * sizeof *paths);
    bool *gone = xmalloc(dirty->n * sizeof *gone);
    for (size_t i = 0; i < dirty->n; i++) {
        paths[i] = dirty_path(dirty->v[i]);
        gone[i] = str_starts(dirty->v[i], "deleted: ");
    }
    bool yes = build_left_as_is(&bo, paths, gone, dirty->n) == 1;
    free(paths);
    free(gone);
    return yes;
}

/* Are all the differences between site/ and the last release the output
 * of a build rather than hand edits: files a build left exactly as they
 * are (dirt_left_by_build), or else what a build of today's content
 * writes (builds into a temp dir to compare)? On yes, *paths gets the
 * differing paths (owned). */
static int dirt_is_generated(const release_opts *o, const release_settings *s, git_repository *repo,
                             git_commit *parent, const strlist *dirty, strlist *paths, diag *d)
{
    for (size_t i = 0; i < dirty->n; i++)
        if (strstr(dirty->v[i], " (")) return 0;   /* type changes, special files */
    if (dirt_left_by_build(o, dirty)) {
        for (size_t i = 0; i < dirty->n; i++) sl_add(paths, xstrdup(dirty_path(dirty->v[i])));
        return 1;
    }
    value *h = history_asof(repo, parent, s->repo_url, d);
    if (!h) return -1;
    char *tmp = tmp_template("gazette-release");
    build_result res;
    memset(&res, 0, sizeof res);
    int rc = 0;
    if (!mkdtemp(tmp)) {
        diag_error(d, tmp, 0, "cannot create temp dir: %s", strerror(errno));
        rc = -1;
    }
    diag *quiet = diag_new();
    if (rc == 0 && run_build(o, tmp, h, &res, quiet) < 0) rc = 0;   /* no: then it is reported as dirt */
    else if (rc == 0) rc = 1;
    diag_free(quiet);
    value_unref(h);
    for (size_t i = 0; i < dirty->n && rc == 1; i++) {
        const char *path = dirty_path(dirty->v[i]);
        char *mine = path_join(o->out_dir, path), *theirs = path_join(tmp, path);
        char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        bool has_a = read_file(mine, &a, &na) == 0, has_b = read_file(theirs, &b, &nb) == 0;
        if (str_starts(dirty->v[i], "deleted: ")) rc = !has_b;
        else rc = has_a && has_b && na == nb && !memcmp(a, b, na);
        if (rc == 1) sl_add(paths, xstrdup(path));
        free(a);
        free(b);
        free(mine);
        free(theirs);
    }
    result_free(&res);
    if (path_exists(tmp)) rm_rf(tmp);
    free(tmp);
    if (rc != 1) sl_free(paths);
    return rc;
}

/* Next document page (notices/YYYY/SLUG/index.html) at or after *i. */
static const dentry *next_doc(const dlist *l, size_t *i)
{
    for (; *i < l->n; (*i)++) {
        char *url = doc_url_of(l->v[*i].path);
        free(url);
        if (url) return &l->v[(*i)++];
    }
    return NULL;
}

/* Do two diffs name the same documents as added / changed / removed? That
 * is all a pending history entry is made of (ri_fill_docs), so list pages,
 * year pages and the like that differ do not call for another build. */
static bool dl_equal(const dlist *a, const dlist *b)
{
    size_t i = 0, j = 0;
    for (;;) {
        const dentry *x = next_doc(a, &i), *y = next_doc(b, &j);
        if (!x || !y) return !x && !y;
        if (x->st != y->st || strcmp(x->path, y->path)) return false;
    }
}

/* ---- staging objects -------------------------------------------------- */

/* New objects go to memory first (a mempack backend in front of the
 * repository's own) and only those the new commit reaches are written, as
 * one pack, just before a ref is made to point at them: one file instead
 * of thousands of loose objects, and nothing written at all when there is
 * nothing to release or when verifying. A kill before the pack is
 * complete leaves at most an unindexed temp file, which git ignores. */

static int stage_open(git_repository *repo, staging *st, diag *d)
{
    memset(st, 0, sizeof *st);
    if (git_repository_odb(&st->odb, repo) < 0) return gerr(d, NULL, "cannot open object database");
    if (git_mempack_new(&st->mem) < 0) return gerr(d, NULL, "cannot stage objects in memory");
    if (git_odb_add_backend(st->odb, st->mem, 1000) < 0) {
        st->mem->free(st->mem);
        st->mem = NULL;
        return gerr(d, NULL, "cannot stage objects in memory");
    }
    char *objects = path_join(git_repository_path(repo), "objects");
    int rc = git_odb_open(&st->disk, objects) < 0 ? gerr(d, objects, "cannot open object database") : 0;
    free(objects);
    return rc;
}

static void stage_close(staging *st)
{
    zs_free(&st->zs);
    git_odb_free(st->disk);
    git_odb_free(st->odb);
    memset(st, 0, sizeof *st);
}

/* Write an object that is staged but not reachable from a staged commit
 * (git_mempack_dump packs only commits and what they reach): a tag. */
static int stage_write_loose(staging *st, const git_oid *id, diag *d)
{
    git_odb_object *obj = NULL;
    git_oid out;
    int rc = 0;
    if (git_odb_read(&obj, st->odb, id) < 0) return gerr(d, NULL, "cannot read staged object");
    if (git_odb_write(&out, st->disk, git_odb_object_data(obj), git_odb_object_size(obj),
                      git_odb_object_type(obj)) < 0)
        rc = gerr(d, NULL, "cannot write object");
    git_odb_object_free(obj);
    return rc;
}

typedef struct { git_oid *v; size_t n, cap; } oidlist;

static void ol_add(oidlist *l, const git_oid *id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    git_oid_cpy(&l->v[l->n++], id);
}

/* Add tree_id and everything under it that is not on disk yet. A tree
 * already on disk has all its contents there too, so an unchanged subtree
 * costs one lookup. (A blob met twice is listed twice.) */
static int collect_new(git_repository *repo, staging *st, const git_oid *tree_id, oidlist *out, diag *d)
{
    if (git_odb_exists_ext(st->disk, tree_id, GIT_ODB_LOOKUP_NO_REFRESH)) return 0;
    git_tree *t = NULL;
    if (git_tree_lookup(&t, repo, tree_id) < 0) return gerr(d, NULL, "cannot read staged tree");
    ol_add(out, tree_id);
    int rc = 0;
    for (size_t i = 0; i < git_tree_entrycount(t) && rc == 0; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(t, i);
        const git_oid *id = git_tree_entry_id(e);
        if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
            rc = collect_new(repo, st, id, out, d);
        else if (!git_odb_exists_ext(st->disk, id, GIT_ODB_LOOKUP_NO_REFRESH))
            ol_add(out, id);
    }
    git_tree_free(t);
    return rc;
}

/* The same pack made by libgit2 (with a delta search), for when zlib
 * cannot be reached. */
static int pack_with_packbuilder(git_repository *repo, staging *st, const oidlist *ids, diag *d)
{
    git_packbuilder *pb = NULL;
    git_buf pack = GIT_BUF_INIT;
    git_odb_writepack *wp = NULL;
    git_indexer_progress stats;
    memset(&stats, 0, sizeof stats);
    int rc = 0;
    if (git_packbuilder_new(&pb, repo) < 0) return gerr(d, NULL, "cannot pack new objects");
    git_packbuilder_set_threads(pb, 0);   /* delta search on every CPU */
    for (size_t i = 0; i < ids->n && rc == 0; i++)
        if (git_packbuilder_insert(pb, &ids->v[i], NULL) < 0) rc = gerr(d, NULL, "cannot pack new objects");
    if (rc == 0 && git_packbuilder_write_buf(&pack, pb) < 0) rc = gerr(d, NULL, "cannot pack new objects");
    if (rc == 0 && git_odb_write_pack(&wp, st->disk, NULL, NULL) < 0) rc = gerr(d, NULL, "cannot write pack");
    if (rc == 0 && wp->append(wp, pack.ptr, pack.size, &stats) < 0) rc = gerr(d, NULL, "cannot write pack");
    if (rc == 0) kill_point("pack");
    if (rc == 0 && wp->commit(wp, &stats) < 0) rc = gerr(d, NULL, "cannot write pack");
    if (wp) wp->free(wp);
    git_buf_dispose(&pack);
    git_packbuilder_free(pb);
    return rc;
}

/* Write the staged commit and the objects it adds as one pack (indexed,
 * so they are visible once this returns); staged objects it does not
 * reach (trees of the intermediate builds) are dropped. */
static int stage_flush(git_repository *repo, staging *st, git_commit *c, diag *d)
{
    oidlist ids = {0};
    ol_add(&ids, git_commit_id(c));
    int rc = collect_new(repo, st, git_commit_tree_id(c), &ids, d);
    if (rc == 0 && own_pack_writer()) {
        char *objects = path_join(git_repository_path(repo), "objects");
        rc = write_pack(st->odb, &st->zs, objects, ids.v, ids.n, d);
        free(objects);
        if (rc == 0 && git_odb_refresh(st->disk) < 0) rc = gerr(d, NULL, "cannot read the new pack");
    } else if (rc == 0) {
        rc = pack_with_packbuilder(repo, st, &ids, d);
    }
    free(ids.v);
    /* The repository's odb must see the new pack now. */
    if (rc == 0 && git_odb_refresh(st->odb) < 0) rc = gerr(d, NULL, "cannot read the new pack");
    if (rc == 0) git_mempack_reset(st->mem);
    if (rc == 0) zs_free(&st->zs);
    return rc;
}

/* ---- committing -------------------------------------------------------- */

static bool tag_exists(git_repository *repo, const char *name)
{
    char *ref = xasprintf("refs/tags/%s", name);
    git_oid id;
    bool e = git_reference_name_to_id(&id, repo, ref) == 0;
    git_error_clear();
    free(ref);
    return e;
}

/* release-DATE, or release-DATE.2, .3 ... when that day has releases. */
static char *pick_tag(git_repository *repo, const char *date)
{
    char *t = xasprintf("release-%s", date);
    for (int n = 2; tag_exists(repo, t); n++) {
        free(t);
        t = xasprintf("release-%s.%d", date, n);
    }
    return t;
}

/* The tag object first, on disk, then its ref. */
static int make_tag(git_repository *repo, staging *st, const char *name, git_commit *c, diag *d)
{
    git_oid id;
    char *msg = xasprintf("%s\n", git_commit_summary(c) ? git_commit_summary(c) : name);
    int rc = 0;
    if (git_tag_annotation_create(&id, repo, name, (const git_object *)c, git_commit_committer(c), msg) < 0)
        rc = gerr(d, name, "cannot create tag");
    free(msg);
    if (rc == 0) rc = stage_write_loose(st, &id, d);
    char *ref = xasprintf("refs/tags/%s", name);
    git_reference *r = NULL;
    if (rc == 0 && git_reference_create(&r, repo, ref, &id, 0, NULL) < 0) rc = gerr(d, name, "cannot create tag");
    git_reference_free(r);
    free(ref);
    return rc;
}

/* An interrupted release may have moved the branch but not tagged it yet;
 * the tag name is in the commit, so make it now (the same tag object the
 * release would have made). */
static int repair_tag(git_repository *repo, staging *st, git_commit *head, char *tag_out, size_t cap,
                      bool *repaired, diag *d)
{
    char *tag = trailer(git_commit_message(head) ? git_commit_message(head) : "", "Release-Tag");
    int rc = 0;
    if (tag && *tag && !tag_exists(repo, tag)) {
        rc = make_tag(repo, st, tag, head, d);
        *repaired = rc == 0;
    }
    if (tag) snprintf(tag_out, cap, "%s", tag);
    free(tag);
    return rc;
}

/* An index entry for the file at path holding blob id, with its stat
 * data when it is a regular file (else zeros: git will hash it). */
static int index_put(git_index *idx, int root, const char *path, const git_oid *id, diag *d)
{
    git_index_entry e;
    memset(&e, 0, sizeof e);
    e.path = path;
    e.mode = GIT_FILEMODE_BLOB;
    git_oid_cpy(&e.id, id);
    struct stat st;
    if (fstatat(root, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
        e.ctime.seconds = (int32_t)st.st_ctim.tv_sec;
        e.ctime.nanoseconds = (uint32_t)st.st_ctim.tv_nsec;
        e.mtime.seconds = (int32_t)st.st_mtim.tv_sec;
        e.mtime.nanoseconds = (uint32_t)st.st_mtim.tv_nsec;
        e.dev = (uint32_t)st.st_dev;
        e.ino = (uint32_t)st.st_ino;
        e.uid = st.st_uid;
        e.gid = st.st_gid;
        e.file_size = (uint32_t)st.st_size;
    }
    return git_index_add(idx, &e) < 0 ? gerr(d, path, "cannot update index") : 0;
}

/* Every entry of tree, each with its stat data (a first release, or an
 * index that is not known to hold the last release). */
static int index_whole(git_index *idx, git_tree *tree, int root, diag *d)
{
    if (git_index_read_tree(idx, tree) < 0) return gerr(d, NULL, "cannot read tree into index");
    size_t n = git_index_entrycount(idx);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const git_index_entry *e = git_index_get_byindex(idx, i);
        char *path = xstrdup(e->path);
        git_oid id;
        git_oid_cpy(&id, &e->id);
        rc = index_put(idx, root, path, &id, d);
        free(path);
    }
    return rc;
}

/* Make site/.git/index match the new tree, with stat data filled in so
 * that `git status` in site/ is clean without rehashing every file, and
 * record the directories for the next release's check. When the check
 * went by the record, the last release's index is changed in place: only
 * the files the release changed (all), and those in extra whose stat data
 * may be out of date (rewritten with the same bytes, or found clean only
 * by content), are stat-ed again. */
static int refresh_index(git_repository *repo, statcache *sc, git_tree *tree, const dlist *all, char *const *extra,
                         size_t nextra, const char *work, diag *d)
{
    int root = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        diag_error(d, work, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    char *path = path_join(git_repository_path(repo), "index");
    struct stat ist;
    ilist paths = {0};   /* of libgit2's index: the paths only */
    git_index *idx = NULL;
    int rc = 0;
    if (sc->verified) {
        il_apply(&sc->il, all, extra, nextra, root);
        rc = il_write(&sc->il, path, &ist, d);
    } else if (git_index_open(&idx, path) < 0) {
        rc = gerr(d, path, "cannot open index");
    } else {
        rc = index_whole(idx, tree, root, d);
        if (rc == 0 && git_index_write(idx) < 0) rc = gerr(d, path, "cannot write index");
        if (rc == 0 && stat(path, &ist) < 0) {
            diag_error(d, path, 0, "cannot stat: %s", strerror(errno));
            rc = -1;
        }
        paths.n = rc == 0 ? git_index_entrycount(idx) : 0;
        paths.v = xcalloc(paths.n + 1, sizeof(ientry));
        for (size_t i = 0; i < paths.n; i++) paths.v[i].path = git_index_get_byindex(idx, i)->path;
    }
    if (rc == 0) {
        strlist touched = {0};
        if (sc->verified) {
            char **v = xmalloc((all->n + nextra + 1) * sizeof(char *));
            for (size_t i = 0; i < all->n; i++) v[i] = all->v[i].path;
            for (size_t i = 0; i < nextra; i++) v[all->n + i] = extra[i];
            dirs_touched(v, all->n + nextra, &touched);
            free(v);
        }
        record_write(repo, tree, &ist, sc->verified ? &sc->il : &paths, sc->verified ? sc : NULL, &touched, work);
        sl_free(&touched);
    }
    sc->verified = false;   /* sc->il now borrows paths of all */
    free(paths.v);
    git_index_free(idx);
    free(path);
    close(root);
    return rc;
}

/* Write the commit object, then move the branch (only forward from
 * parent), then tag: a kill at any point leaves either the old release or
 * the new one, never a half-made one. */
static int commit_release(git_repository *repo, staging *st, const char *refname, git_commit *parent,
                          git_tree *tree, const char *msg, const char *tag, git_signature *sig, git_oid *out,
                          diag *d)
{
    const git_commit *parents[1] = {parent};
    if (git_commit_create(out, repo, NULL, sig, sig, NULL, msg, tree, parent ? 1 : 0, parents) < 0)
        return gerr(d, NULL, "cannot write commit");
    git_commit *nc = NULL;
    if (git_commit_lookup(&nc, repo, out) < 0) return gerr(d, NULL, "cannot read new commit");
    int frc = stage_flush(repo, st, nc, d);
    git_commit_free(nc);
    if (frc < 0) return -1;
    rphase("commit+pack");
    kill_point("commit");
    git_reference *ref = NULL;
    char *log = xasprintf("gazette release: %s", tag);
    int e = parent ? git_reference_create_matching(&ref, repo, refname, out, 1, git_commit_id(parent), log)
                   : git_reference_create(&ref, repo, refname, out, 0, log);
    free(log);
    git_reference_free(ref);
    if (e < 0)
        return gerr(d, refname, "cannot move the branch (did another program change it meanwhile?)");
    kill_point("ref");
    git_commit *c = NULL;
    if (git_commit_lookup(&c, repo, out) < 0) return gerr(d, NULL, "cannot read new commit");
    int rc = make_tag(repo, st, tag, c, d);
    git_commit_free(c);
    rphase("ref+tag");
    kill_point("tag");
    return rc;
}

/* HEAD must be (or, in a new repository, become) the release branch.
 * Returns 0 with *head the last release (NULL: none yet). */
static int release_head(git_repository *repo, const char *refname, const char *work, git_commit **head, diag *d)
{
    *head = NULL;
    git_reference *h = NULL;
    int e = git_repository_head(&h, repo);
    if (e == GIT_EUNBORNBRANCH || e == GIT_ENOTFOUND) {
        git_error_clear();
        git_oid id;
        if (git_reference_name_to_id(&id, repo, refname) == 0) {
            diag_error(d, work, 0, "HEAD does not point at the release branch %s", refname);
            return -1;
        }
        git_error_clear();
        return git_repository_set_head(repo, refname) < 0 ? gerr(d, work, "cannot set HEAD") : 0;
    }
    if (e < 0) return gerr(d, work, "cannot read HEAD (damaged repository?)");
    int rc = 0;
    if (strcmp(git_reference_name(h), refname)) {
        diag_error(d, work, 0, "%s is checked out, but releases go to %s (site.yaml release.branch)",
                   git_reference_name(h), refname);
        rc = -1;
    } else if (git_reference_peel((git_object **)head, h, GIT_OBJECT_COMMIT) < 0) {
        rc = gerr(d, work, "cannot read the last release (damaged repository?)");
    }
    git_reference_free(h);
    return rc;
}

static int open_or_init(git_repository **repo, const char *work, const char *refname, diag *d)
{
    int rc = repo_open(repo, work, d);
    if (rc != 0) return rc < 0 ? -1 : 0;
    git_repository_init_options io;
    git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
    io.flags = GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
    io.initial_head = refname + strlen("refs/heads/");
    if (git_repository_init_ext(repo, work, &io) < 0) return gerr(d, work, "cannot create the release repository");
    return 0;
}

void release_opts_default(release_opts *o)
{
    memset(o, 0, sizeof *o);
    o->content_dir = "content";
    o->templates_dir = "templates";
    o->out_dir = "site";
}

void release_outcome_free(release_outcome *r)
{
    free(r->message);
    r->message = NULL;
}

static void fill_defaults(release_opts *o)
{
    if (!o->content_dir) o->content_dir = "content";
    if (!o->templates_dir) o->templates_dir = "templates";
    if (!o->out_dir) o->out_dir = "site";
}

/* ---- release ---------------------------------------------------------- */

/* First line and body of -m. The first line is set apart by a blank line
 * so that git's summary of the commit is exactly that line, as the
 * pending history entry shows it. */
static void split_message(const char *m, const char *date, char **first, char **body)
{
    while (m && (*m == ' ' || *m == '\t' || *m == '\n' || *m == '\r')) m++;
    if (!m || !*m) {
        *first = xasprintf("Release %s", date);
        *body = xstrdup("");
        return;
    }
    const char *nl = strchr(m, '\n');
    size_t n = nl ? (size_t)(nl - m) : strlen(m);
    while (n && (m[n - 1] == ' ' || m[n - 1] == '\t' || m[n - 1] == '\r')) n--;
    *first = xstrndup(m, n);
    const char *rest = nl ? nl + 1 : "";
    while (*rest == '\n' || *rest == '\r') rest++;
    *body = xstrdup(rest);
}

typedef struct {
    const release_opts *o;
    const release_settings *s;
    git_repository *repo;
    const char *refname;
    git_commit *parent;       /* last release, NULL for the first */
    git_tree *ptree;
    release_outcome *out;
    staging *st;
    char **generated;         /* paths site/ differs in, as a build wrote them */
    size_t ngenerated;
    diag *d;
    statcache *sc;            /* the last release's index */
    char **stale;             /* files whose stat data in it is out of date */
    size_t nstale;
    relinfo docs;             /* the documents the new release adds and changes */
    /* The content as the first build loaded it, for the next ones (NULL
     * without build.c): the same files, read a fraction of a second
     * earlier. Loading once also gives every build of the release one
     * snapshot of content/: an edit made while it runs cannot make the
     * pending build publish other documents than the first one found. */
    build_keep *keep;
    bool trusted;             /* the last build recorded out_dir as it left it */
    bool trust_first;         /* ... and the first build may trust it too (records_trusted) */
    char records[33];         /* the last good build's records_id ("" if none) */
} rel_ctx;

/* Build with the new release pending in the history until the documents
 * it touches stop changing (the history shown on a page may itself change
 * the page), so that the pending entries name exactly what the commit
 * changes, as release_history_asof() will later compute them. */
static int build_pending(rel_ctx *c, const git_oid *t1, const build_result *r1, const char *tag,
                         const char *date, const char *summary, build_result *res, git_oid *tree_out)
{
    diag *d = c->d;
    dlist S = {0};
    git_tree *cur = NULL;
    int rc = 0;
    if (t1) {
        if (git_tree_lookup(&cur, c->repo, t1) < 0) return gerr(d, NULL, "cannot read tree");
        rc = diff_trees(c->repo, c->ptree, cur, true, &S, d);
    } else {
        /* First release: every document is new; no tree of the first
         * build is needed (the next build rewrites every page anyway). */
        for (size_t i = 0; i < r1->ndocs; i++) {
            char *url = r1->docs[i].path ? doc_url_of(r1->docs[i].path) : NULL;
            if (url) dl_add(&S, r1->docs[i].path, D_ADDED, NULL, NULL);
            free(url);
        }
        if (S.n) qsort(S.v, S.n, sizeof(dentry), dl_cmp);
    }
    bool settled = false;
    for (int round = 0; rc == 0 && round < 4 && !settled; round++) {
        relinfo pend;
        memset(&pend, 0, sizeof pend);
        pend.tag = xstrdup(tag);
        pend.summary = xstrdup(summary);
        snprintf(pend.date, sizeof pend.date, "%s", date);
        ri_fill_docs(&pend, &S);
        value *h = history_from(c->repo, c->parent, &pend, c->s->repo_url, d);
        ri_free(&pend);
        if (!h) { rc = -1; break; }
        rphase("history");
        result_free(res);
        double t0 = clock_seconds(CLOCK_MONOTONIC);
        /* Same content as the first build: its warnings were reported
         * already, only a failure is worth passing on. */
        diag *quiet = diag_new();
        rc = run_build_ex(c->o, c->o->out_dir, h, false, c->keep, c->trusted, res, quiet);
        c->trusted = rc == 0 && res->out_recorded;
        snprintf(c->records, sizeof c->records, "%s", c->trusted ? res->records_id : "");
        if (rc < 0) {
            diag_sort(quiet);
            for (size_t k = 0; k < diag_total(quiet); k++)
                diag_error(d, NULL, 0, "rebuilding with the release listed: %s", diag_message(quiet, k));
            if (!diag_count(d, DIAG_ERROR)) diag_error(d, NULL, 0, "rebuilding with the release listed failed");
        }
        /* After a check-only first build, warnings only a full build
         * gives (e.g. a symbolic link removed from the output) are new. */
        if (rc == 0 && round == 0 && !c->parent) forward_new_warnings(quiet, d);
        diag_free(quiet);
        c->out->build_seconds += clock_seconds(CLOCK_MONOTONIC) - t0;
        rphase("build pending");
        value_unref(h);
        git_oid tid;
        t0 = clock_seconds(CLOCK_MONOTONIC);
        if (rc == 0) rc = tree_after_build(c->repo, c->st, cur, c->o->out_dir, res, NULL, 0, &tid, d);
        git_tree *next = NULL;
        if (rc == 0 && git_tree_lookup(&next, c->repo, &tid) < 0) rc = gerr(d, NULL, "cannot read tree");
        dlist S2 = {0};
        if (rc == 0) rc = diff_trees(c->repo, c->ptree, next, true, &S2, d);
        c->out->git_seconds += clock_seconds(CLOCK_MONOTONIC) - t0;
        rphase("tree pending");
        if (rc == 0) {
            settled = dl_equal(&S, &S2);
            dl_free(&S);
            S = S2;
            memset(&S2, 0, sizeof S2);
            git_tree_free(cur);
            cur = next;
            next = NULL;
        }
        dl_free(&S2);
        git_tree_free(next);
    }
    if (rc == 0 && !settled) {
        diag_error(d, c->o->out_dir, 0, "the documents changed by this release keep changing with their "
                   "own history entries; do the templates show something that changes every build?");
        rc = -1;
    }
    if (rc == 0) git_oid_cpy(tree_out, git_tree_id(cur));
    if (rc == 0) ri_fill_docs(&c->docs, &S);   /* what ri_of_commit will find for the commit */
    git_tree_free(cur);
    dl_free(&S);
    return rc;
}

static int commit_and_tag(rel_ctx *c, const git_oid *tree_id, const build_result *res, const char *tag,
                          const char *date, const char *first, const char *body)
{
    diag *d = c->d;
    double t0 = clock_seconds(CLOCK_MONOTONIC);
    git_tree *tree = NULL;
    dlist all = {0};
    git_signature *sig = NULL;
    char *src = source_commit(c->o->content_dir);
    int rc = 0;
    if (git_tree_lookup(&tree, c->repo, tree_id) < 0) rc = gerr(d, NULL, "cannot read tree");
    if (rc == 0) rc = diff_trees(c->repo, c->ptree, tree, false, &all, d);
    char *head = *body ? xasprintf("%s\n\n%s", first, body) : xstrdup(first);
    msg_info mi = {head, tag, src, res->snapshot_sha256};
    if (rc == 0) c->out->message = make_message(c->repo, &all, res, &mi);
    free(head);
    if (rc == 0 && git_signature_new(&sig, c->s->author_name, c->s->author_email, date_to_time(date),
                                     TZ_OFFSET_MIN) < 0)
        rc = gerr(d, "site.yaml", "bad release.author_name / author_email");
    git_oid id;
    rphase("message");
    if (rc == 0)
        rc = commit_release(c->repo, c->st, c->refname, c->parent, tree, c->out->message, tag, sig, &id, d);
    if (rc == 0 && active_ric && !ric_find(active_ric, &id)) {
        ridocs *e = ric_add(active_ric, &id);
        e->added = c->docs.added;
        e->changed = c->docs.changed;
        e->removed = c->docs.removed;
        sl_copy(&e->add_urls, &c->docs.add_urls);
        sl_copy(&e->chg_urls, &c->docs.chg_urls);
        active_ric->dirty = true;
    }
    if (rc == 0) {
        oid_hex(&id, c->out->commit);
        snprintf(c->out->tag, sizeof c->out->tag, "%s", tag);
        /* Stat data to renew: files the build rewrote, or that site/ had
         * as a build writes them, or that were found clean by content. */
        strlist extra = {0};
        for (size_t i = 0; i < res->nchanged; i++) sl_add(&extra, xstrdup(res->changed[i]));
        for (size_t i = 0; i < c->ngenerated; i++) sl_add(&extra, xstrdup(c->generated[i]));
        for (size_t i = 0; i < c->nstale; i++) sl_add(&extra, xstrdup(c->stale[i]));
        rc = refresh_index(c->repo, c->sc, tree, &all, extra.v, extra.n, c->o->out_dir, d);
        sl_free(&extra);
        rphase("index");
        kill_point("index");
    }
    c->out->git_seconds += clock_seconds(CLOCK_MONOTONIC) - t0;
    git_signature_free(sig);
    dl_free(&all);
    git_tree_free(tree);
    free(src);
    return rc;
}

/* --tag is checked before anything is built. */
static int check_tag_option(git_repository *repo, const char *tag, diag *d)
{
    int valid = 0;
    if (!tag) return 0;
    git_tag_name_is_valid(&valid, tag);
    if (!valid) {
        diag_error(d, NULL, 0, "'%s' is not a valid tag name", tag);
        return -1;
    }
    if (tag_exists(repo, tag)) {
        diag_error(d, NULL, 0, "tag %s exists already; releases never move a tag", tag);
        return -1;
    }
    return 0;
}

/* A release that fails after building has rewritten files in the work
 * tree; put back the last release (the work tree was checked to equal it
 * before building, so nothing of the user's is lost). */
static void restore_work_tree(git_repository *repo, git_commit *parent, const char *work, diag *d)
{
    if (!parent) return;
    git_checkout_options co;
    git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
    co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED;
    if (git_checkout_head(repo, &co) < 0)
        gerr(d, work, "could not restore the work tree to the last release");
}

/* The content loaded for the release's builds, once they are done. */
static void drop_keep(rel_ctx *c)
{
    if (build_keep_free) build_keep_free(c->keep, c->d);
    c->keep = NULL;
}

static int do_release(rel_ctx *c)
{
    const release_opts *o = c->o;
    diag *d = c->d;
    build_result r1, r2;
    memset(&r1, 0, sizeof r1);
    memset(&r2, 0, sizeof r2);
    /* 1. The site as the last release made it, from today's content. */
    value *h = c->parent ? history_asof(c->repo, c->parent, c->s->repo_url, d) : empty_history();
    if (!h) return -1;
    /* (GAZETTE_TEST_NO_BUILD_KEEP: every build loads, as before build_keep;
     * the tests' reference to compare with.) */
    c->keep = build_keep_new && !getenv("GAZETTE_TEST_NO_BUILD_KEEP") ? build_keep_new() : NULL;
    double t0 = clock_seconds(CLOCK_MONOTONIC);
    /* A first release rewrites every page in its pending build, so its
     * first build only validates and finds the documents and the date. */
    int rc = run_build_ex(o, o->out_dir, h, !c->parent, c->keep, c->trust_first, &r1, d);
    c->trusted = rc == 0 && r1.out_recorded;
    snprintf(c->records, sizeof c->records, "%s", c->trusted ? r1.records_id : "");
    c->out->build_seconds += clock_seconds(CLOCK_MONOTONIC) - t0;
    rphase("build as-of");
    value_unref(h);
    git_oid t1;
    t0 = clock_seconds(CLOCK_MONOTONIC);
    if (rc == 0 && c->parent)
        rc = tree_after_build(c->repo, c->st, c->ptree, o->out_dir, &r1, c->generated, c->ngenerated, &t1, d);
    c->out->git_seconds += clock_seconds(CLOCK_MONOTONIC) - t0;
    rphase("tree as-of");
    kill_point("built");
    if (rc == 0 && c->parent && git_oid_equal(&t1, git_tree_id(c->ptree))) {
        c->out->nothing = true;
        oid_hex(git_commit_id(c->parent), c->out->commit);
        drop_keep(c);
        rc = repair_tag(c->repo, c->st, c->parent, c->out->tag, sizeof c->out->tag, &c->out->tag_repaired, d);
        result_free(&r1);
        return rc;
    }
    /* 2. Something changed: name the release and build it listed. */
    const char *date = o->date ? o->date : r1.newest_date;
    if (rc == 0 && !*date) {
        diag_error(d, o->content_dir, 0, "no dated document to date the release by; pass --date YYYY-MM-DD");
        rc = -1;
    }
    char *tag = NULL, *first = NULL, *body = NULL;
    if (rc == 0) tag = o->tag ? xstrdup(o->tag) : pick_tag(c->repo, date);
    if (rc == 0) split_message(o->message, date, &first, &body);
    git_oid t2;
    if (rc == 0) rc = build_pending(c, c->parent ? &t1 : NULL, &r1, tag, date, first, &r2, &t2);
    drop_keep(c);
    kill_point("built2");
    if (rc == 0 && c->parent && git_oid_equal(&t2, git_tree_id(c->ptree))) {
        c->out->nothing = true;
        oid_hex(git_commit_id(c->parent), c->out->commit);
    } else if (rc == 0) {
        rc = commit_and_tag(c, &t2, &r2, tag, date, first, body);
    }
    free(tag);
    free(first);
    free(body);
    result_free(&r1);
    result_free(&r2);
    return rc;
}

int release_run(const release_opts *oin, release_outcome *out, diag *d)
{
    memset(out, 0, sizeof *out);
    release_opts o = *oin;
    fill_defaults(&o);
    rphase("");
    if (o.date && !valid_date(o.date)) {
        diag_error(d, NULL, 0, "--date wants YYYY-MM-DD, not '%s'", o.date);
        return -1;
    }
    release_settings s;
    if (release_settings_load(o.content_dir, &s, d) < 0) {
        release_settings_free(&s);
        return -1;
    }
    git_libgit2_init();
    /* Every object a tree entry names was just written or comes from the
     * previous tree: skip libgit2's existence check per entry (a stat of
     * the loose object each, half the syscalls of a first release). */
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
    char *refname = xasprintf("refs/heads/%s", s.branch);
    int valid = 0;
    git_reference_name_is_valid(&valid, refname);
    git_repository *repo = NULL;
    git_commit *parent = NULL;
    git_tree *ptree = NULL;
    char *lock = NULL;
    int rc = 0;
    if (!valid) {
        diag_error(d, "site.yaml", 0, "release.branch '%s' is not a valid branch name", s.branch);
        rc = -1;
    }
    if (rc == 0) rc = open_or_init(&repo, o.out_dir, refname, d);
    if (rc == 0 && !(lock = lock_take(repo, o.out_dir, d))) rc = -1;
    if (rc == 0) kill_point("locked");
    if (rc == 0) rc = check_git_locks(repo, d);
    ricache ric = {0};
    if (rc == 0) {   /* under the lock: it is written at the end */
        ric_load(&ric, repo);
        active_ric = &ric;
    }
    if (rc == 0) rc = release_head(repo, refname, o.out_dir, &parent, d);
    if (rc == 0 && parent && git_commit_tree(&ptree, parent) < 0)
        rc = gerr(d, o.out_dir, "cannot read the last release's tree (damaged repository?)");
    /* Local changes: refused, unless they are exactly what a build of
     * today's content writes (gazette build --out site before releasing). */
    strlist dirty = {0}, generated = {0}, stale = {0};
    statcache sc;
    memset(&sc, 0, sizeof sc);
    rphase("open+lock");
    char stored[33] = "", stored_commit[41] = "";
    if (rc == 0) records_take(repo, stored_commit, stored);
    if (rc == 0 && parent) {
        sc_open(repo, ptree, &sc);
        rc = find_dirty(repo, o.out_dir, ptree, &sc, &dirty, &stale, d);
    }
    bool trust_first = rc == 0 && parent && !dirty.n && !stale.n &&
                       records_trusted(&o, parent, stored_commit, stored);
    rphase("dirty check");
    if (rc == 0 && dirty.n) {
        int g = dirt_is_generated(&o, &s, repo, parent, &dirty, &generated, d);
        if (g == 0) {
            char *t = trailer(git_commit_message(parent) ? git_commit_message(parent) : "", "Release-Tag");
            report_dirty(o.out_dir, t ? t : "", &dirty, d);
            free(t);
        }
        if (g != 1) rc = -1;
    }
    sl_free(&dirty);
    if (rc == 0) rc = check_tag_option(repo, o.tag, d);
    staging st;
    memset(&st, 0, sizeof st);
    if (rc == 0) rc = stage_open(repo, &st, d);
    if (rc == 0) {
        rel_ctx c = {&o, &s, repo, refname, parent, ptree, out, &st, generated.v, generated.n, d,
                     &sc, stale.v, stale.n, {0}, NULL, false, trust_first, ""};
        rc = do_release(&c);
        if (rc == 0) records_put(repo, out->commit, c.records);
        ri_free(&c.docs);
        if (rc < 0 && !*out->commit) restore_work_tree(repo, parent, o.out_dir, d);
    }
    stage_close(&st);
    sl_free(&generated);
    sl_free(&stale);
    sc_free(&sc);
    if (active_ric) ric_save(active_ric, repo);
    active_ric = NULL;
    ric_free(&ric);
    lock_drop(lock);
    rphase("finish");
    git_tree_free(ptree);
    git_commit_free(parent);
    git_repository_free(repo);
    if (rc == 0 && o.push_remote) rc = release_push(o.out_dir, s.branch, o.push_remote, d);
    free(refname);
    release_settings_free(&s);
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 1);   /* process-wide: put it back */
    git_libgit2_shutdown();
    return rc;
}

/* ---- verify ----------------------------------------------------------- */

static int verify_in(const release_opts *o, const release_settings *s, git_repository *repo, git_odb_backend *mem,
                     git_commit *c, strlist *diffs, diag *d)
{
    value *h = history_asof(repo, c, s->repo_url, d);
    if (!h) return -1;
    char *tmp = tmp_template("gazette-verify");
    int rc = 0;
    if (!mkdtemp(tmp)) {
        diag_error(d, tmp, 0, "cannot create temp dir: %s", strerror(errno));
        rc = -1;
    }
    build_result res;
    memset(&res, 0, sizeof res);
    if (rc == 0) rc = run_build(o, tmp, h, &res, d);
    value_unref(h);
    git_oid tid;
    git_tree *rebuilt = NULL, *released = NULL;
    if (rc == 0) rc = tree_of_dir(repo, mem, NULL, tmp, &tid, d);   /* no pack: nothing to deflate */
    if (rc == 0 && git_tree_lookup(&rebuilt, repo, &tid) < 0) rc = gerr(d, NULL, "cannot read tree");
    if (rc == 0 && git_commit_tree(&released, c) < 0) rc = gerr(d, NULL, "cannot read the release's tree");
    if (rc == 0 && !git_oid_equal(&tid, git_tree_id(released))) {
        dlist dl = {0};
        rc = diff_trees(repo, released, rebuilt, false, &dl, d);
        for (size_t i = 0; i < dl.n; i++)
            sl_add(diffs, xasprintf("%s %s", dl.v[i].st == D_ADDED ? "+" : dl.v[i].st == D_DELETED ? "-" : "M",
                                    dl.v[i].path));
        dl_free(&dl);
        if (rc == 0) rc = 1;
    }
    git_tree_free(rebuilt);
    git_tree_free(released);
    result_free(&res);
    if (path_exists(tmp)) rm_rf(tmp);
    free(tmp);
    return rc;
}

int release_verify(const release_opts *oin, const char *rev, char ***diffs, diag *d)
{
    *diffs = NULL;
    release_opts o = *oin;
    fill_defaults(&o);
    release_settings s;
    if (release_settings_load(o.content_dir, &s, d) < 0) {
        release_settings_free(&s);
        return -1;
    }
    git_libgit2_init();
    git_repository *repo = NULL;
    git_commit *c = NULL;
    strlist dl = {0};
    int rc = repo_open(&repo, o.out_dir, d);
    if (rc == 0) {
        diag_error(d, o.out_dir, 0, "no release repository here (run gazette release first)");
        rc = -1;
    }
    if (rc > 0) rc = resolve_commit(repo, rev, &c, d);
    if (rc == 0) {
        diag_error(d, o.out_dir, 0, "no release yet");
        rc = -1;
    }
    staging st;
    memset(&st, 0, sizeof st);
    if (rc > 0 && stage_open(repo, &st, d) < 0) rc = -1;   /* the rebuilt tree stays in memory */
    if (rc > 0) rc = verify_in(&o, &s, repo, st.mem, c, &dl, d);
    stage_close(&st);
    if (dl.n) *diffs = dl.v;
    else sl_free(&dl);
    git_commit_free(c);
    git_repository_free(repo);
    release_settings_free(&s);
    git_libgit2_shutdown();
    return rc;
}

/* ---- push ------------------------------------------------------------- */

static int push_status(const char *refname, const char *status, void *data)
{
    if (status) diag_error((diag *)data, refname, 0, "push rejected: %s", status);
    return 0;
}

/* The remote's push URL from the repository's config. Not through
 * git_remote_lookup(): libgit2 1.5 leaks PCRE2 match data on every config
 * regex that does not match, and lookup runs several (url.*.insteadOf
 * rewriting is therefore not applied). */
static int open_remote(git_repository *repo, const char *repo_dir, const char *name, git_remote **out, diag *d)
{
    git_config *cfg = NULL;
    git_buf url = GIT_BUF_INIT;
    int rc = 0;
    if (git_repository_config_snapshot(&cfg, repo) < 0) return gerr(d, repo_dir, "cannot read config");
    char *k1 = xasprintf("remote.%s.pushurl", name), *k2 = xasprintf("remote.%s.url", name);
    if (git_config_get_string_buf(&url, cfg, k1) < 0 && git_config_get_string_buf(&url, cfg, k2) < 0) {
        git_error_clear();
        diag_error(d, repo_dir, 0, "no remote '%s' in the release repository; add it with: "
                   "git -C %s remote add %s URL", name, repo_dir, name);
        rc = -1;
    }
    if (rc == 0) {
        git_remote_create_options ro;
        git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
        ro.repository = repo;
        ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
        if (git_remote_create_with_opts(out, url.ptr, &ro) < 0) rc = gerr(d, url.ptr, "bad remote URL");
    }
    free(k1);
    free(k2);
    git_buf_dispose(&url);
    git_config_free(cfg);
    return rc;
}

int release_push(const char *repo_dir, const char *branch, const char *remote, diag *d)
{
    git_libgit2_init();
    git_repository *repo = NULL;
    git_remote *rem = NULL;
    git_strarray tags = {0};
    strlist specs = {0};
    size_t errs = diag_count(d, DIAG_ERROR);
    int rc = repo_open(&repo, repo_dir, d);
    if (rc == 0) {
        diag_error(d, repo_dir, 0, "no release repository to push");
        rc = -1;
    }
    if (rc > 0) rc = 0;
    if (rc == 0) rc = open_remote(repo, repo_dir, remote, &rem, d);
    if (rc == 0 && git_tag_list(&tags, repo) < 0) rc = gerr(d, repo_dir, "cannot list tags");
    if (rc == 0) {
        /* No '+': the remote only ever fast-forwards, like the branch here. */
        sl_add(&specs, xasprintf("refs/heads/%s:refs/heads/%s", branch, branch));
        for (size_t i = 0; i < tags.count; i++)
            sl_add(&specs, xasprintf("refs/tags/%s:refs/tags/%s", tags.strings[i], tags.strings[i]));
        git_strarray arr = {specs.v, specs.n};
        git_push_options po;
        git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
        po.callbacks.push_update_reference = push_status;
        po.callbacks.payload = d;
        if (git_remote_push(rem, &arr, &po) < 0) rc = gerr(d, remote, "push failed");
        else if (diag_count(d, DIAG_ERROR) > errs) rc = -1;
    }
    sl_free(&specs);
    git_strarray_dispose(&tags);
    git_remote_free(rem);
    git_repository_free(repo);
    git_libgit2_shutdown();
    return rc;
}
