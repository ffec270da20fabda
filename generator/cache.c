/* cache.c - see cache.h. */
#include "cache.h"
#include "pool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* ---- fingerprints ---- */

fp128 fp_bytes(const void *data, size_t n)
{
    XXH128_hash_t h = XXH3_128bits(data, n);
    return (fp128){h.low64, h.high64};
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_LE 1           /* a word's bytes are its little-endian form */
#else
#define HOST_LE 0
#endif

/* v's little-endian bytes at p (one store where the host is little-endian:
 * the byte loop was not merged into one, and runs for every encoded node) */
static inline void le64_at(unsigned char *p, uint64_t v)
{
    if (HOST_LE) memcpy(p, &v, 8);
    else for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(buf *out, uint64_t v)
{
    unsigned char b[8];
    le64_at(b, v);
    buf_put(out, b, 8);
}

static void put_u32(buf *out, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
    buf_put(out, b, 4);
}

static inline uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    if (HOST_LE) memcpy(&v, p, 8);
    else for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A tag byte and a little-endian u64, written in place: encoding runs for
 * every node of every page's context. */
static inline void put_tag_u64(buf *out, char tag, uint64_t v)
{
    buf_grow(out, 9);
    unsigned char *p = (unsigned char *)out->ptr + out->len;
    p[0] = (unsigned char)tag;
    le64_at(p + 1, v);
    out->len += 9;
    out->ptr[out->len] = 0;
}

static inline void put_bytes(buf *out, char tag, const char *s, size_t n)
{
    put_tag_u64(out, tag, n);
    buf_grow(out, n);
    memcpy(out->ptr + out->len, s, n);
    out->len += n;
    out->ptr[out->len] = 0;
}

void fp_encode_str(buf *out, const char *s)
{
    if (!s) buf_putc(out, 'N');
    else put_bytes(out, 's', s, strlen(s));
}

void fp_encode_value(buf *out, const value *v)
{
    switch (value_type(v)) {
    case V_NULL: buf_putc(out, 'n'); break;
    case V_BOOL: buf_putc(out, value_bool_of(v) ? 't' : 'f'); break;
    case V_INT: put_tag_u64(out, 'i', (uint64_t)value_int_of(v)); break;
    case V_DOUBLE: {
        double d = value_double_of(v);
        uint64_t bits;
        memcpy(&bits, &d, 8);
        put_tag_u64(out, 'd', bits);
        break;
    }
    case V_STRING: put_bytes(out, 's', value_str_ptr(v), value_str_len(v)); break;
    case V_LIST: {
        size_t n = value_len(v);
        put_tag_u64(out, 'l', n);
        for (size_t i = 0; i < n; i++) fp_encode_value(out, value_at(v, i));
        break;
    }
    case V_MAP: {
        size_t n = value_len(v);
        put_tag_u64(out, 'm', n);
        for (size_t i = 0; i < n; i++) {
            fp_encode_str(out, value_key_at(v, i));
            fp_encode_value(out, value_val_at(v, i));
        }
        break;
    }
    }
}

/* Room asked for up front for a map of n keys: each key takes at least 10
 * bytes of the encoding, and a damaged n (still within the bytes) must not
 * make a large allocation; a larger map grows as it is filled. */
#define DECODE_MAP_ROOM 64

/* One encoding at *pp (the inverse of fp_encode_value), made into *out,
 * or with out NULL checked and passed over, nothing made; false (*pp as
 * it was, nothing made) when malformed. skip: for a list, a bit per item
 * (of the first 64) that is checked, not made: a null stands in its place. */
static bool decode_node(const unsigned char **pp, const unsigned char *end, int depth,
                        uint64_t skip, value **out)
{
    const unsigned char *p = *pp;
    if (p >= end || depth > 16) return false;
    value *v = NULL;
    char t = (char)*p++;
    if (t == 'n' || t == 't' || t == 'f') {
        if (out) v = t == 'n' ? value_null() : value_bool(t == 't');
    } else if ((t == 'i' || t == 'd') && end - p >= 8) {
        uint64_t bits = get_u64(p);
        p += 8;
        if (out && t == 'i') v = value_int((long long)bits);
        else if (out) { double d; memcpy(&d, &bits, 8); v = value_double(d); }
    } else if (t == 's' && end - p >= 8) {
        uint64_t n = get_u64(p);
        p += 8;
        if (n > (uint64_t)(end - p)) return false;
        if (out) v = value_strn((const char *)p, (size_t)n);
        p += n;
    } else if ((t == 'l' || t == 'm') && end - p >= 8) {
        uint64_t n = get_u64(p);
        p += 8;
        if (n > (uint64_t)(end - p)) return false;
        if (out) v = t == 'l' ? value_list() : value_map_sized(n < DECODE_MAP_ROOM ? (size_t)n : DECODE_MAP_ROOM);
        for (uint64_t i = 0; i < n; i++) {
            const char *key = NULL;
            size_t klen = 0;
            if (t == 'm') {
                if (end - p < 9 || *p != 's') { value_unref(v); return false; }
                uint64_t kn = get_u64(p + 1);
                p += 9;
                if (kn > (uint64_t)(end - p)) { value_unref(v); return false; }
                key = (const char *)p;
                klen = (size_t)kn;
                p += kn;
            }
            bool make = out && !(t == 'l' && i < 64 && (skip >> i & 1));
            value *it = NULL;
            if (!decode_node(&p, end, depth + 1, 0, make ? &it : NULL)) { value_unref(v); return false; }
            if (!out) continue;
            if (!it) it = value_null();                 /* a skipped item */
            if (key) value_setn(v, key, klen, it);
            else value_push(v, it);
        }
    } else {
        return false;
    }
    *pp = p;
    if (out) *out = v;
    return true;
}

/* The value at *pp (decode_node), or NULL when malformed. */
static value *decode_value(const unsigned char **pp, const unsigned char *end, int depth)
{
    value *v = NULL;
    return decode_node(pp, end, depth, 0, &v) ? v : NULL;
}

static fp128 self_fp;

/* A whole file's bytes: mapped read-only (no copy into fresh memory,
 * whose page faults cost more than the read), or read when it cannot be
 * mapped. *maplen is the mapping's length, 0 when read; free with
 * file_bytes_free. A mapping sees the file change under it only if it is
 * written in place, which nothing here does: every writer renames a new
 * file over it, and the mapping keeps the old one. */
static int file_bytes(const char *path, char **data, size_t *n, size_t *maplen)
{
    *maplen = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (m != MAP_FAILED) {
            close(fd);
            *data = m;
            *maplen = *n = (size_t)st.st_size;
            return 0;
        }
    }
    close(fd);
    return read_file(path, data, n);
}

static void file_bytes_free(char *data, size_t maplen)
{
    if (maplen) munmap(data, maplen);
    else free(data);
}

/* The binary is mapped, not read: read_file's copy into 1.8 MB of fresh
 * memory (page faults) was 1.8-2.0 ms of every build's start. */
static void init_self(void)
{
    char *data;
    size_t n, maplen;
    if (file_bytes("/proc/self/exe", &data, &n, &maplen) == 0) {
        self_fp = fp_bytes(data, n);
        file_bytes_free(data, maplen);
    }
}

fp128 fp_self(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_self);
    return self_fp;
}

/* ---- rendered Markdown ---- */

/* File: header, then entries. Entry: "GZE1", u32 payload length, key
 * (16), fingerprint of the payload (16), payload. Payload: u32 lengths of
 * html, excerpt and text, the three strings, and the toc encoded as by
 * fp_encode_value. A text length of MD_NO_TEXT: the entry holds no text
 * (mdcache_put with text false), none of its bytes follow the excerpt. */
#define MD_MAGIC CACHE_MD_MAGIC
#define MD_NO_TEXT 0xFFFFFFFFu
#define MD_HEADER (sizeof MD_MAGIC - 1 + 16)
#define ENTRY_HEAD 40
#define ENTRY_MAX (256u << 20)

typedef struct {
    fp128 key;
    off_t off;           /* of the payload; < 0: pending, at -off - 1 in the buffer */
    uint32_t len;
    uint16_t used;       /* read or added in this build */
    uint16_t checked;    /* its payload is known to match its fingerprint:
                            written by this process, or read and checked */
} md_entry;

/* Entries put are appended in batches of about this many bytes (a write
 * and an lseek per entry, under the lock both loaders take, were 20k
 * syscalls of a 10k build); mdcache_flush writes the rest. */
#define MD_BATCH (1u << 20)

struct mdcache {
    char *path;
    int fd;              /* -1: remembers nothing */
    fp128 settings;
    md_entry *slots;     /* open addressing by key.lo */
    size_t nslots, n;
    pthread_mutex_t mu;
    size_t hits, misses;
    bool reindex;        /* the index file (md_index_save) is out of date */
    buf pend;            /* entries put, not yet written (whole, in order) */
    fp128 *pend_keys;    /* their keys */
    size_t npend, cappend;
    /* A full batch is written by the put that filled it, outside mu, so
     * that the other loader is not held up by the write (~1 MB); one at a
     * time: writing says one is under way, cv tells when it is done. */
    bool writing;
    pthread_cond_t cv;
    buf spare;           /* the batch written last, emptied: its memory reused */
    fp128 *spare_keys;
    size_t capspare;
};

static md_entry *md_slot(mdcache *c, fp128 key)
{
    size_t i = key.lo & (c->nslots - 1);
    while (c->slots[i].len && !fp_eq(c->slots[i].key, key)) i = (i + 1) & (c->nslots - 1);
    return &c->slots[i];
}

static void md_index(mdcache *c, fp128 key, off_t off, uint32_t len)
{
    if ((c->n + 1) * 2 > c->nslots) {
        md_entry *old = c->slots;
        size_t n = c->nslots;
        c->nslots = n ? n * 2 : 1024;
        c->slots = xcalloc(c->nslots, sizeof *c->slots);
        for (size_t i = 0; i < n; i++)
            if (old[i].len) *md_slot(c, old[i].key) = old[i];
        free(old);
    }
    md_entry *e = md_slot(c, key);
    if (!e->len) c->n++;
    *e = (md_entry){.key = key, .off = off, .len = len};
}

static int pread_all(int fd, void *p, size_t n, off_t off)
{
    while (n) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p = (char *)p + r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/* Read the entry heads; the log ends at the first one that does not fit. */
static void md_scan(mdcache *c, off_t from)
{
    struct stat st;
    if (fstat(c->fd, &st) < 0) return;
    off_t off = from;
    /* The headers are read through a 1 MB window (one pread per entry was
     * ~10k system calls at every build of a 10k-document site). Not
     * mmap: another build truncating a torn tail would be a SIGBUS. */
    enum { WINDOW = 1 << 20 };
    unsigned char *win = xmalloc(WINDOW);
    off_t wstart = 0, wend = 0;
    while (off + ENTRY_HEAD <= st.st_size) {
        if (off < wstart || off + ENTRY_HEAD > wend) {
            size_t want = st.st_size - off < WINDOW ? (size_t)(st.st_size - off) : WINDOW;
            if (pread_all(c->fd, win, want, off) < 0) break;
            wstart = off;
            wend = off + (off_t)want;
        }
        const unsigned char *h = win + (off - wstart);
        if (memcmp(h, "GZE1", 4)) break;
        uint32_t len = get_u32(h + 4);
        if (len == 0 || len > ENTRY_MAX || off + ENTRY_HEAD + (off_t)len > st.st_size) break;
        md_index(c, (fp128){get_u64(h + 8), get_u64(h + 16)}, off + ENTRY_HEAD, len);
        c->reindex = true;
        off += ENTRY_HEAD + (off_t)len;
    }
    free(win);
    if (off < st.st_size) {
        /* A torn append (a killed build) or damage: drop the tail so that
         * new entries follow good ones. */
        if (ftruncate(c->fd, off) < 0) { close(c->fd); c->fd = -1; }
    }
}

/* The file header for these settings (MD_HEADER bytes). */
static void md_header(buf *h, fp128 settings)
{
    buf_puts(h, MD_MAGIC);
    put_u64(h, settings.lo);
    put_u64(h, settings.hi);
}

/* Write a fresh header to fd (truncated first: a new or incompatible
 * file starts over). */
static int md_start(int fd, fp128 settings)
{
    if (ftruncate(fd, 0) < 0) return -1;
    buf h = BUF_INIT;
    md_header(&h, settings);
    int rc = write_all_fd(fd, h.ptr, h.len);
    buf_free(&h);
    return rc;
}

/* markdown.cache.index: where each entry of the log is, so that a build
 * does not read the whole log (48 MB at 10k documents) to find out.
 * Magic, settings (16), the log's inode and the size it had (8 each),
 * count, entries (key 16, offset 8, length 4), fingerprint of all before
 * (16). Only a shortcut: a log it does not describe (other inode, shorter)
 * is scanned instead, the log's entries after the indexed size are
 * scanned as before, and every read checks the entry's own head and
 * fingerprint, so a stale index can cost a miss, never a wrong body. */
#define MDX_MAGIC "gazette markdown index 1\n"

static char *md_index_path(const mdcache *c) { return xasprintf("%s.index", c->path); }

/* Load the index; returns where the scan of the log is to go on from. */
static off_t md_index_load(mdcache *c)
{
    struct stat st;
    char *p = md_index_path(c), *data = NULL;
    size_t n, ml = sizeof MDX_MAGIC - 1;
    off_t from = (off_t)MD_HEADER;
    int r = read_file(p, &data, &n);
    free(p);
    const unsigned char *u = (const unsigned char *)data;
    if (r == 0 && fstat(c->fd, &st) == 0 && n >= ml + 16 + 24 + 16 && !memcmp(u, MDX_MAGIC, ml) &&
        fp_eq(fp_bytes(u, n - 16), (fp128){get_u64(u + n - 16), get_u64(u + n - 8)}) &&
        fp_eq(c->settings, (fp128){get_u64(u + ml), get_u64(u + ml + 8)})) {
        uint64_t ino = get_u64(u + ml + 16), size = get_u64(u + ml + 24), count = get_u64(u + ml + 32);
        const unsigned char *e = u + ml + 40;
        if (ino == (uint64_t)st.st_ino && size >= MD_HEADER && size <= (uint64_t)st.st_size &&
            count == (n - 16 - (ml + 40)) / 28 && (n - 16 - (ml + 40)) % 28 == 0) {
            for (uint64_t k = 0; k < count; k++, e += 28) {
                uint64_t off = get_u64(e + 16);
                uint32_t len = get_u32(e + 24);
                if (off < ENTRY_HEAD || off + len > size || len == 0 || len > ENTRY_MAX) continue;
                md_index(c, (fp128){get_u64(e), get_u64(e + 8)}, (off_t)off, len);
            }
            from = (off_t)size;
        }
    }
    free(data);
    c->reindex = from == (off_t)MD_HEADER;
    return from;
}

/* Write the index of the log as it is now (after a build that added to it). */
static void md_index_save(mdcache *c)
{
    struct stat st;
    if (fstat(c->fd, &st) < 0) return;
    buf b = BUF_INIT;
    buf_puts(&b, MDX_MAGIC);
    put_u64(&b, c->settings.lo);
    put_u64(&b, c->settings.hi);
    put_u64(&b, (uint64_t)st.st_ino);
    put_u64(&b, (uint64_t)st.st_size);
    size_t at = b.len;
    put_u64(&b, 0);
    uint64_t count = 0;
    for (size_t i = 0; i < c->nslots; i++) {
        const md_entry *e = &c->slots[i];
        if (!e->len || e->off <= 0) continue;
        put_u64(&b, e->key.lo);
        put_u64(&b, e->key.hi);
        put_u64(&b, (uint64_t)e->off);
        put_u32(&b, e->len);
        count++;
    }
    for (int k = 0; k < 8; k++) b.ptr[at + k] = (char)(count >> (8 * k));
    fp128 f = fp_bytes(b.ptr, b.len);
    put_u64(&b, f.lo);
    put_u64(&b, f.hi);
    char *p = md_index_path(c);
    (void)write_file_atomic(p, b.ptr, b.len);   /* a shortcut: failing costs a scan */
    free(p);
    buf_free(&b);
}

mdcache *mdcache_open(const char *path, fp128 settings, diag *d)
{
    mdcache *c = xcalloc(1, sizeof *c);
    c->path = xstrdup(path);
    c->settings = settings;
    c->fd = -1;
    pool_mutex_init(&c->mu);
    pthread_cond_init(&c->cv, NULL);
    c->nslots = 1024;
    c->slots = xcalloc(c->nslots, sizeof *c->slots);
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) { *slash = 0; (void)mkdir_p(dir); }
    free(dir);
    c->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (c->fd < 0) {
        diag_warn(d, path, 0, "cannot open the build cache (%s); building without it", strerror(errno));
        return c;
    }
    unsigned char h[MD_HEADER];
    buf want = BUF_INIT;
    md_header(&want, settings);
    bool same = pread_all(c->fd, h, MD_HEADER, 0) == 0 && memcmp(h, want.ptr, MD_HEADER) == 0;
    buf_free(&want);
    if (same) {
        md_scan(c, md_index_load(c));
    } else if (md_start(c->fd, settings) < 0) {
        diag_warn(d, path, 0, "cannot write the build cache (%s); building without it", strerror(errno));
        close(c->fd);
        c->fd = -1;
    }
    return c;
}

/* The lengths of html, excerpt and text in l from the start of a payload
 * of len bytes (lens: its first 12), a text's 0 when the entry holds none
 * (*has_text false). False when they do not fit in the payload. */
static bool md_lens(const unsigned char *lens, size_t len, uint64_t l[3], bool *has_text)
{
    if (len < 12) return false;
    l[0] = get_u32(lens);
    l[1] = get_u32(lens + 4);
    l[2] = get_u32(lens + 8);
    *has_text = l[2] != MD_NO_TEXT;
    if (!*has_text) l[2] = 0;
    return l[0] + l[1] + l[2] <= len - 12;
}

/* Decode a payload into out; the HTML and text only when bodies. */
static bool md_decode(const unsigned char *p, size_t n, bool bodies, md_result *out)
{
    uint64_t l[3];
    bool has_text;
    if (!md_lens(p, n, l, &has_text)) return false;
    size_t hl = (size_t)l[0], el = (size_t)l[1], tl = (size_t)l[2];
    const unsigned char *s = p + 12, *end = p + n;
    const unsigned char *t = s + hl + el + tl;
    value *toc = decode_value(&t, end, 0);
    if (!toc || t != end || value_type(toc) != V_LIST) { value_unref(toc); return false; }
    out->excerpt = xstrndup((const char *)s + hl, el);
    if (bodies) {
        out->html = xstrndup((const char *)s, hl);
        out->text = has_text ? xstrndup((const char *)s + hl + el, tl) : NULL;
    }
    out->toc = toc;
    return true;
}

/* Does a payload match the fingerprint in its entry's head? */
static bool intact(const unsigned char *head, const unsigned char *payload, uint32_t len)
{
    return fp_eq(fp_bytes(payload, len), (fp128){get_u64(head + 24), get_u64(head + 32)});
}

/* Append a batch of entries (data, n bytes) to the file in one write;
 * returns the offset it starts at, or -1 when it could not be written.
 * One writer at a time (mu held, or writing set by the caller). With
 * O_APPEND the write went to the end of the file, and the file position
 * is now just past it (another process appending later does not move our
 * position). A kill leaves at most one torn entry at the end, which the
 * next load drops; a failed write leaves the entries unwritten
 * (md_placed forgets them: a later read renders again). */
static off_t md_write(mdcache *c, const void *data, size_t n)
{
    if (c->fd < 0 || write_all_fd(c->fd, data, n) < 0) return -1;
    off_t end = lseek(c->fd, 0, SEEK_CUR);
    return end >= (off_t)n ? end - (off_t)n : -1;
}

/* Give a written batch's entries their offsets (mu held). */
static void md_placed(mdcache *c, const fp128 *keys, size_t nkeys, off_t base)
{
    for (size_t i = 0; i < nkeys; i++) {
        md_entry *e = md_slot(c, keys[i]);
        if (e->off >= 0) continue;                 /* (put twice: the first stands) */
        e->off = base >= 0 ? base + (-e->off - 1) + ENTRY_HEAD : 0;
        e->checked = base >= 0;
    }
    c->reindex = true;
}

/* Write the pending entries and give them their offsets (mu held). */
static void md_flush(mdcache *c)
{
    while (c->writing) pthread_cond_wait(&c->cv, &c->mu);   /* (its entries first) */
    if (!c->npend) return;
    md_placed(c, c->pend_keys, c->npend, md_write(c, c->pend.ptr, c->pend.len));
    buf_clear(&c->pend);
    c->npend = 0;
}

/* Write the pending batch with mu released (mu held on entry and on
 * return): the entries stay pending (negative offsets, relative to their
 * batch) until md_placed, and a reader of one waits in md_flush. */
static void md_flush_unlocked(mdcache *c)
{
    buf batch = c->pend;
    fp128 *keys = c->pend_keys;
    size_t nkeys = c->npend, capkeys = c->cappend;
    c->pend = c->spare;
    c->pend_keys = c->spare_keys;
    c->cappend = c->capspare;
    c->npend = 0;
    c->writing = true;
    pthread_mutex_unlock(&c->mu);
    off_t base = md_write(c, batch.ptr, batch.len);
    pthread_mutex_lock(&c->mu);
    md_placed(c, keys, nkeys, base);
    c->writing = false;
    pthread_cond_broadcast(&c->cv);
    buf_clear(&batch);
    c->spare = batch;
    c->spare_keys = keys;
    c->capspare = capkeys;
}

void mdcache_flush(mdcache *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    md_flush(c);
    pthread_mutex_unlock(&c->mu);
}

/* key's entry as it is now (a pending one written first), taken under
 * mu; len 0 when there is none. */
static md_entry md_entry_now(mdcache *c, fp128 key)
{
    pthread_mutex_lock(&c->mu);
    if (md_slot(c, key)->off < 0) md_flush(c);      /* put in this batch */
    md_entry copy = *md_slot(c, key);
    pthread_mutex_unlock(&c->mu);
    return copy;
}

/* Is h (ENTRY_HEAD bytes read before e's payload) e's own head? */
static bool md_head_is(const unsigned char *h, const md_entry *e, fp128 key)
{
    return !memcmp(h, "GZE1", 4) && get_u32(h + 4) == e->len && get_u64(h + 8) == key.lo &&
           get_u64(h + 16) == key.hi;
}

/* Where string `which` (0 html, 1 excerpt, 2 text) lies in a payload of
 * len bytes that starts with lens (the three u32 lengths): *at from the
 * payload's start, *n bytes. Returns 1, 0 when the string is the text and
 * the entry holds none, -1 when the lengths do not fit. */
static int md_string_at(const unsigned char *lens, uint32_t len, int which, uint64_t *at,
                        uint64_t *n)
{
    uint64_t l[3];
    bool has_text;
    if (!md_lens(lens, len, l, &has_text)) return -1;
    if (which == 2 && !has_text) return 0;
    *at = 12;
    for (int i = 0; i < which; i++) *at += l[i];
    *n = l[which];
    return 1;
}

/* The payload of the entry copy (of key), checked against its own
 * fingerprint; NULL when absent or damaged. */
static unsigned char *md_read_entry(mdcache *c, fp128 key, md_entry copy, uint32_t *len)
{
    if (!copy.len || !copy.off) return NULL;
    unsigned char *p = xmalloc(copy.len);
    unsigned char h[ENTRY_HEAD];
    if (pread_all(c->fd, h, ENTRY_HEAD, copy.off - ENTRY_HEAD) == 0 && md_head_is(h, &copy, key) &&
        pread_all(c->fd, p, copy.len, copy.off) == 0 && intact(h, p, copy.len)) {
        *len = copy.len;
        if (!copy.checked) {
            pthread_mutex_lock(&c->mu);
            md_entry *e = md_slot(c, key);
            if (e->off == copy.off) e->checked = 1;
            pthread_mutex_unlock(&c->mu);
        }
        return p;
    }
    free(p);
    /* Damaged (or a stale index's guess): forget it, so that the next
     * build renders the body again and appends a good entry. */
    pthread_mutex_lock(&c->mu);
    md_entry *e = md_slot(c, key);
    if (e->off == copy.off) { e->off = 0; c->reindex = true; }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* The payload of key's entry, checked; NULL when absent or damaged. */
static unsigned char *md_read(mdcache *c, fp128 key, uint32_t *len)
{
    if (c->fd < 0) return NULL;
    return md_read_entry(c, key, md_entry_now(c, key), len);
}

static bool md_lookup(mdcache *c, fp128 key, bool bodies, md_result *out)
{
    memset(out, 0, sizeof *out);
    uint32_t len;
    unsigned char *p = md_read(c, key, &len);
    bool hit = p && md_decode(p, len, bodies, out);
    free(p);
    pthread_mutex_lock(&c->mu);
    if (hit) md_slot(c, key)->used = 1;
    if (hit) c->hits++; else c->misses++;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

bool mdcache_get(mdcache *c, fp128 key, md_result *out)
{
    return md_lookup(c, key, true, out);
}

bool mdcache_get_meta(mdcache *c, fp128 key, md_result *out)
{
    return md_lookup(c, key, false, out);
}

bool mdcache_use(mdcache *c, fp128 key)
{
    if (c->fd < 0) return false;
    pthread_mutex_lock(&c->mu);
    md_entry *e = md_slot(c, key);
    bool has = e->len && e->off;
    if (has) { e->used = 1; c->hits++; }
    pthread_mutex_unlock(&c->mu);
    return has;
}

bool mdcache_has(mdcache *c, fp128 key)
{
    if (c->fd < 0) return false;
    pthread_mutex_lock(&c->mu);
    const md_entry *e = md_slot(c, key);
    bool has = e->len && e->off;
    pthread_mutex_unlock(&c->mu);
    return has;
}

/* String `which` (0 html, 1 excerpt, 2 text) of a checked entry (copy,
 * taken under mu), read alone: its head (magic, length and key: still
 * the entry that was checked) and the lengths, then just the string. A
 * body is read twice in a build that does not keep bodies (its page and
 * the search index): the second read, or both when this build wrote the
 * entry, neither reads nor hashes the rest of the payload (at 100k
 * documents, ~1.6 GB read and hashed before). NULL if it does not check
 * out (the caller reads the whole payload instead), or, with *none set,
 * when the entry holds no text. */
static char *md_string_checked(mdcache *c, const md_entry *copy, fp128 key, int which, size_t *n,
                               bool *none)
{
    unsigned char h[ENTRY_HEAD + 12];
    uint64_t at, sn;
    if (copy->len < 12 || pread_all(c->fd, h, sizeof h, copy->off - ENTRY_HEAD) < 0 ||
        !md_head_is(h, copy, key))
        return NULL;
    int where = md_string_at(h + ENTRY_HEAD, copy->len, which, &at, &sn);
    *none = where == 0;
    if (where <= 0) return NULL;
    char *str = xmalloc((size_t)sn + 1);
    if (pread_all(c->fd, str, (size_t)sn, copy->off + (off_t)at) < 0) {
        free(str);
        return NULL;
    }
    str[sn] = 0;
    *n = (size_t)sn;
    return str;
}

/* String `which` (0 html, 1 excerpt, 2 text) of key's payload, and its
 * length in *n. (The length stored is the string's strlen: md_encode
 * stores strlens, and md_read checked the payload is the one written.) */
static char *md_string(mdcache *c, fp128 key, int which, size_t *n)
{
    if (c->fd < 0) return NULL;
    md_entry copy = md_entry_now(c, key);
    if (copy.len && copy.off > 0 && copy.checked) {
        bool none = false;
        char *str = md_string_checked(c, &copy, key, which, n, &none);
        if (str || none) return str;
    }
    uint32_t len;
    uint64_t at, sn;
    unsigned char *p = md_read_entry(c, key, copy, &len);
    if (p && md_string_at(p, len, which, &at, &sn) > 0) {
        /* moved to the front of the payload, NUL after it (at >= 12:
         * there is room), instead of copied out */
        memmove(p, p + at, (size_t)sn);
        p[sn] = 0;
        *n = (size_t)sn;
        return (char *)p;
    }
    free(p);
    return NULL;
}

char *mdcache_body(mdcache *c, fp128 key, bool text, size_t *len)
{
    return md_string(c, key, text ? 2 : 0, len);
}

/* Append key's entry for r to b (its head at the old end of b); its
 * text only when text. */
static void md_encode(buf *b, fp128 key, const md_result *r, bool text)
{
    size_t hl = md_html_len(r), el = r->excerpt ? strlen(r->excerpt) : 0;
    size_t tl = text ? md_text_len(r) : 0;
    size_t at = b->len;
    /* Room for all of it at once, not a doubling from 64 bytes (each step
     * fresh heap pages); the toc is a few bytes a heading. */
    buf_grow(b, ENTRY_HEAD + 12 + hl + el + tl + 64 + (r->toc ? 128 * value_len(r->toc) : 0));
    buf_puts(b, "GZE1");
    put_u32(b, 0);                       /* length, set below */
    put_u64(b, key.lo);
    put_u64(b, key.hi);
    put_u64(b, 0);                       /* payload fingerprint, below */
    put_u64(b, 0);
    put_u32(b, (uint32_t)hl);
    put_u32(b, (uint32_t)el);
    put_u32(b, text ? (uint32_t)tl : MD_NO_TEXT);
    buf_put(b, r->html ? r->html : "", hl);
    buf_put(b, r->excerpt ? r->excerpt : "", el);
    buf_put(b, r->text ? r->text : "", tl);
    if (r->toc) fp_encode_value(b, r->toc);
    else { buf_putc(b, 'l'); put_u64(b, 0); }
    size_t len = b->len - at - ENTRY_HEAD;
    fp128 f = fp_bytes(b->ptr + at + ENTRY_HEAD, len);
    buf h = BUF_INIT;
    put_u32(&h, (uint32_t)len);
    put_u64(&h, f.lo);
    put_u64(&h, f.hi);
    memcpy(b->ptr + at + 4, h.ptr, 4);
    memcpy(b->ptr + at + 24, h.ptr + 4, 16);
    buf_free(&h);
}

/* Encoded straight into the pending batch, under the lock: a body is
 * copied once (then by the kernel's write), not into an entry of its own
 * and then into the batch (~10 MB less copied per 10k documents). */
void mdcache_put(mdcache *c, fp128 key, const md_result *r, bool text)
{
    if (c->fd < 0) return;
    pthread_mutex_lock(&c->mu);
    md_entry *had = md_slot(c, key);
    if (had->len && had->off) {
        had->used = 1;                       /* there already, or pending */
    } else if (c->fd >= 0) {
        size_t at = c->pend.len;
        md_encode(&c->pend, key, r, text);
        size_t len = c->pend.len - at - ENTRY_HEAD;
        if (len > ENTRY_MAX) {
            c->pend.len = at;                /* never stored */
        } else {
            if (c->npend == c->cappend) {
                c->cappend = c->cappend ? c->cappend * 2 : 256;
                c->pend_keys = xrealloc(c->pend_keys, c->cappend * sizeof *c->pend_keys);
            }
            c->pend_keys[c->npend++] = key;
            md_index(c, key, -(off_t)at - 1, (uint32_t)len);
            md_slot(c, key)->used = 1;
            if (c->pend.len >= MD_BATCH && !c->writing) md_flush_unlocked(c);
        }
    }
    pthread_mutex_unlock(&c->mu);
}

void mdcache_counts(const mdcache *c, size_t *hits, size_t *misses)
{
    *hits = c->hits;
    *misses = c->misses;
}

/* Rewrite the file with only the entries this build used (read or
 * added), when more than half of it is dead. Damaged entries are left
 * out. */
/* Returns true when the log was rewritten (the index no longer fits). */
static bool md_compact(mdcache *c, diag *d)
{
    struct stat st;
    if (fstat(c->fd, &st) < 0) return false;
    size_t live = 0;
    for (size_t i = 0; i < c->nslots; i++)
        if (c->slots[i].len && c->slots[i].used) live += ENTRY_HEAD + c->slots[i].len;
    if ((size_t)st.st_size < (4u << 20) || live * 2 >= (size_t)st.st_size) return false;
    char *tmp = xasprintf("%s.tmp-%ld", c->path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int ok = fd >= 0 && md_start(fd, c->settings) == 0;
    for (size_t i = 0; ok && i < c->nslots; i++) {
        const md_entry *e = &c->slots[i];
        if (!e->len || !e->used || e->off <= 0) continue;
        unsigned char *p = xmalloc(ENTRY_HEAD + e->len);
        if (pread_all(c->fd, p, ENTRY_HEAD + e->len, e->off - ENTRY_HEAD) == 0 &&
            !memcmp(p, "GZE1", 4) && get_u32(p + 4) == e->len && intact(p, p + ENTRY_HEAD, e->len))
            ok = write_all_fd(fd, p, ENTRY_HEAD + e->len) == 0;
        free(p);
    }
    if (fd >= 0 && close(fd) < 0) ok = 0;
    if (ok && rename(tmp, c->path) == 0) { free(tmp); return true; }
    if (d) diag_warn(d, c->path, 0, "cannot compact the build cache: %s", strerror(errno));
    unlink(tmp);
    free(tmp);
    return false;
}

void mdcache_close(mdcache *c, diag *d)
{
    if (!c) return;
    md_flush(c);
    buf_free(&c->pend);
    free(c->pend_keys);
    buf_free(&c->spare);
    free(c->spare_keys);
    if (c->fd >= 0) {
        if (md_compact(c, d)) {
            char *p = md_index_path(c);        /* the next build scans the new log */
            unlink(p);
            free(p);
        } else if (c->reindex) {
            md_index_save(c);
        }
        close(c->fd);
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c->slots);
    free(c->path);
    free(c);
}

/* ---- leftovers ---- */

void cache_sweep_tmp(const char *dir)
{
    DIR *dh = opendir(dir);
    if (!dh) return;
    struct dirent *e;
    while ((e = readdir(dh))) {
        /* NAME.tmp-PID or NAME.tmp-gzPID, as written by this file, search.c
         * and write_file_atomic */
        const char *t = strstr(e->d_name, ".tmp-");
        if (!t) continue;
        t += 5;
        if (!strncmp(t, "gz", 2)) t += 2;
        if (!pid_gone(t)) continue;
        char *p = path_join(dir, e->d_name);
        (void)unlink(p);                 /* a killed build's: nobody will finish it */
        free(p);
    }
    closedir(dh);
}

/* ---- loaded documents ---- */

/* Files: NAME.0 ... NAME.f, one shard each of the records, by the hash of
 * the source's path. Each: magic, settings (16), entries, u64 count, and
 * the fingerprint (16) of everything before it. Entry: u32 source length,
 * source, size, ino, mtime_ns, ctime_ns (u64 each), u8 racy, file
 * fingerprint (16), u32 payload length, payload. Every shard is read
 * whole at every build (one file and one checksum beat an append log
 * when everything is needed); a build writes anew only the shards whose
 * records changed, so that one edit in 10k documents rewrites ~1 MB, not
 * 17. Records put during the load go straight to their shard's temporary
 * file (nothing held in memory: 100k records are ~170 MB), the kept ones
 * follow at save, then the count and the checksum, and a rename makes the
 * shard current. A record found in another shard than its own (not
 * written so by this code) is still used, and moved at the next save. */
#define DOC_MAGIC CACHE_DOC_MAGIC
#define DOC_SHARDS 16
/* A shard's new file is written in pieces of this size: 16 buffers grown
 * to 1 MB were 32 MB of fresh heap for 17 MB written. */
#define DOC_WBUF (64u << 10)
/* A file changed this recently may change again within the timestamps'
 * granularity without its stat showing it: such a record is used only
 * after its bytes are compared (as git does with "racily clean" entries). */
#define RACY_NS 2000000000ull
#define DOC_FIXED 53         /* an entry's fields after its source */

typedef struct {
    const char *source;  /* into a shard's data, not NUL-terminated; NULL: empty slot */
    uint32_t slen;
    uint64_t size, ino, mtime_ns, ctime_ns;
    bool racy;
    fp128 file;          /* fingerprint of the file's bytes */
    const unsigned char *payload;   /* into a shard's data */
    uint32_t len;
    bool kept;           /* carried into this build unchanged */
    uint8_t from;        /* the shard it was read from */
} doc_entry;

/* One shard file: as read, and the new one being written. */
typedef struct {
    char *path, *tmp;
    char *data;          /* the file as read; entries point into it */
    size_t maplen;       /* > 0: data is a read-only mapping of the file */
    size_t nold, nkept;
    bool dirty;          /* must be written: a record changed, moved or went */
    int fd;              /* of the new file; -1: none yet */
    bool failed;         /* could not write: save gives up on this shard */
    XXH3_state_t *hash;
    uint64_t nput;
    buf wbuf;            /* written out in DOC_WBUF pieces (an entry is ~1.7 KB) */
} doc_shard;

struct doccache {
    char *path;          /* the shards' common prefix */
    fp128 settings;
    doc_entry *old;      /* open addressing by source, over all shards */
    size_t nslots, nold;
    uint64_t now_ns;
    pthread_mutex_t mu;  /* guards the shards' new files and kept flags */
    doc_shard sh[DOC_SHARDS];
};

static uint64_t ns_of(struct timespec t) { return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec; }

static unsigned doc_shard_of(const char *source, size_t len)
{
    return (unsigned)(XXH3_64bits(source, len) >> 60);   /* high bits: slots use the low ones */
}

static doc_entry *doc_slot(doc_entry *slots, size_t n, const char *source, size_t len)
{
    size_t i = XXH3_64bits(source, len) & (n - 1);
    while (slots[i].source && (slots[i].slen != len || memcmp(slots[i].source, source, len)))
        i = (i + 1) & (n - 1);
    return &slots[i];
}

/* The entries of one shard file, checked; 0 if missing, damaged or of
 * other settings (its records are then simply not there). */
typedef struct { const unsigned char *p, *end; uint64_t count; } doc_span;

static doc_span doc_read_shard(doccache *c, doc_shard *s)
{
    doc_span none = {NULL, NULL, 0};
    size_t n, ml = sizeof DOC_MAGIC - 1;
    /* Mapped: 17 MB at 10k documents, whose read() (a copy into fresh
     * anonymous pages) was ~6% of a one-edit rebuild's CPU. */
    if (file_bytes(s->path, &s->data, &n, &s->maplen) < 0) { s->data = NULL; return none; }
    if (n < ml + 16 + 8 + 16) { s->dirty = true; return none; }
    const unsigned char *p = (unsigned char *)s->data, *end = p + n - 16 - 8;
    if (memcmp(p, DOC_MAGIC, ml) ||
        !fp_eq(fp_bytes(p, n - 16), (fp128){get_u64(end + 8), get_u64(end + 16)}) ||
        !fp_eq(c->settings, (fp128){get_u64(p + ml), get_u64(p + ml + 8)})) {
        s->dirty = true;     /* replace it, even if nothing of it is kept */
        return none;
    }
    uint64_t count = get_u64(end);
    p += ml + 16;
    if (count > (uint64_t)(end - p) / (4 + DOC_FIXED)) { s->dirty = true; return none; }
    return (doc_span){p, end, count};
}

static void doc_index(doccache *c, unsigned k, doc_span sp)
{
    const unsigned char *p = sp.p, *end = sp.end;
    for (uint64_t i = 0; i < sp.count; i++) {
        if (end - p < 4) break;
        uint32_t sl = get_u32(p);
        if ((uint64_t)(end - p) < 4 + (uint64_t)sl + DOC_FIXED) break;
        const unsigned char *src = p + 4;
        p += 4 + sl;
        doc_entry e = {.size = get_u64(p), .ino = get_u64(p + 8), .mtime_ns = get_u64(p + 16),
                       .ctime_ns = get_u64(p + 24), .racy = p[32] != 0,
                       .file = {get_u64(p + 33), get_u64(p + 41)}, .len = get_u32(p + 49),
                       .from = (uint8_t)k};
        p += DOC_FIXED;
        if (e.len > (uint64_t)(end - p)) break;
        e.payload = p;
        p += e.len;
        e.source = (const char *)src;
        e.slen = sl;
        doc_entry *slot = doc_slot(c->old, c->nslots, e.source, sl);
        if (slot->source) { c->sh[k].dirty = true; continue; }   /* a duplicate: drop it */
        *slot = e;
        c->sh[k].nold++;
        c->nold++;
    }
}

static void doc_read(doccache *c)
{
    doc_span sp[DOC_SHARDS];
    uint64_t total = 0;
    for (unsigned k = 0; k < DOC_SHARDS; k++) {
        sp[k] = doc_read_shard(c, &c->sh[k]);
        total += sp[k].count;
    }
    while (c->nslots < total * 2 + 2) c->nslots *= 2;
    free(c->old);
    c->old = xcalloc(c->nslots, sizeof *c->old);
    for (unsigned k = 0; k < DOC_SHARDS; k++) doc_index(c, k, sp[k]);
}

doccache *doccache_open(const char *path, fp128 settings)
{
    doccache *c = xcalloc(1, sizeof *c);
    c->path = xstrdup(path);
    c->settings = settings;
    for (unsigned k = 0; k < DOC_SHARDS; k++) {
        c->sh[k].path = xasprintf("%s.%x", path, k);
        c->sh[k].fd = -1;
    }
    c->nslots = 16;
    c->old = xcalloc(c->nslots, sizeof *c->old);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->now_ns = ns_of(ts);
    pool_mutex_init(&c->mu);
    doc_read(c);
    return c;
}

static bool stat_matches(const doc_entry *e, const struct stat *st)
{
    return (uint64_t)st->st_size == e->size && (uint64_t)st->st_ino == e->ino &&
           ns_of(st->st_mtim) == e->mtime_ns && ns_of(st->st_ctim) == e->ctime_ns;
}

const unsigned char *doccache_get(doccache *c, const char *source, const struct stat *st,
                                  size_t *len, fp128 *file)
{
    doc_entry *e = doc_slot(c->old, c->nslots, source, strlen(source));
    if (!e->source || !stat_matches(e, st)) return NULL;
    if (e->racy) {
        char *data;
        size_t n;
        if (read_file(source, &data, &n) < 0) return NULL;
        bool same = fp_eq(fp_bytes(data, n), e->file);
        free(data);
        if (!same) return NULL;
    }
    *len = e->len;
    *file = e->file;
    return e->payload;
}

void doccache_keep(doccache *c, const char *source)
{
    size_t sl = strlen(source);
    pthread_mutex_lock(&c->mu);
    doc_entry *e = doc_slot(c->old, c->nslots, source, sl);
    if (e->source && !e->kept) {
        e->kept = true;
        doc_shard *home = &c->sh[doc_shard_of(source, sl)];
        c->sh[e->from].nkept++;
        if (home != &c->sh[e->from]) home->dirty = c->sh[e->from].dirty = true;
        /* Kept means doccache_get checked it, bytes too when racy: once
         * the file is older than the racy window, its stat alone will
         * show any later change. */
        uint64_t changed = e->mtime_ns > e->ctime_ns ? e->mtime_ns : e->ctime_ns;
        if (e->racy && changed + RACY_NS <= c->now_ns) { e->racy = false; home->dirty = true; }
    }
    pthread_mutex_unlock(&c->mu);
}

/* Write out what is buffered (mu held). */
static void doc_flush(doc_shard *s)
{
    if (!s->failed && s->wbuf.len && write_all_fd(s->fd, s->wbuf.ptr, s->wbuf.len) < 0) s->failed = true;
    buf_clear(&s->wbuf);
}

/* Append bytes to the new file and its checksum (mu held). */
static void doc_emit(doc_shard *s, const void *p, size_t n)
{
    if (s->failed) return;
    XXH3_128bits_update(s->hash, p, n);
    buf_put(&s->wbuf, p, n);
    if (s->wbuf.len >= DOC_WBUF) doc_flush(s);
}

/* Start the shard's new file if not yet (mu held). */
static void doc_start(doccache *c, doc_shard *s)
{
    if (s->fd >= 0 || s->failed) return;
    s->tmp = xasprintf("%s.tmp-%ld", s->path, (long)getpid());
    s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    s->hash = XXH3_createState();
    if (s->fd < 0 || !s->hash || XXH3_128bits_reset(s->hash) != XXH_OK) { s->failed = true; return; }
    buf h = BUF_INIT;
    buf_puts(&h, DOC_MAGIC);
    put_u64(&h, c->settings.lo);
    put_u64(&h, c->settings.hi);
    doc_emit(s, h.ptr, h.len);
    buf_free(&h);
}

static void doc_emit_entry(doc_shard *s, const char *source, size_t sl, const doc_entry *e)
{
    buf b = BUF_INIT;
    buf_grow(&b, 4 + sl + DOC_FIXED);
    put_u32(&b, (uint32_t)sl);
    buf_put(&b, source, sl);
    put_u64(&b, e->size);
    put_u64(&b, e->ino);
    put_u64(&b, e->mtime_ns);
    put_u64(&b, e->ctime_ns);
    buf_putc(&b, e->racy);
    put_u64(&b, e->file.lo);
    put_u64(&b, e->file.hi);
    put_u32(&b, e->len);
    doc_emit(s, b.ptr, b.len);
    doc_emit(s, e->payload, e->len);
    buf_free(&b);
    s->nput++;
}

void doccache_put(doccache *c, const char *source, const struct stat *st, fp128 file,
                  const void *payload, size_t len)
{
    if (len > UINT32_MAX) return;
    doc_entry e = {.size = (uint64_t)st->st_size, .ino = (uint64_t)st->st_ino,
                   .mtime_ns = ns_of(st->st_mtim), .ctime_ns = ns_of(st->st_ctim), .file = file,
                   .payload = payload, .len = (uint32_t)len};
    uint64_t changed = e.mtime_ns > e.ctime_ns ? e.mtime_ns : e.ctime_ns;
    e.racy = changed + RACY_NS > c->now_ns;
    size_t sl = strlen(source);
    doc_shard *s = &c->sh[doc_shard_of(source, sl)];
    pthread_mutex_lock(&c->mu);
    doc_start(c, s);
    doc_emit_entry(s, source, sl, &e);
    pthread_mutex_unlock(&c->mu);
}

static void doc_abandon(doc_shard *s)
{
    if (s->fd >= 0) close(s->fd);
    if (s->tmp) unlink(s->tmp);
    s->fd = -1;
}

/* Finish one shard's new file: its kept records, count, checksum, rename
 * (mu held). Returns 0, or -1 with errno. */
static int doc_finish(doccache *c, unsigned k)
{
    doc_shard *s = &c->sh[k];
    doc_start(c, s);
    for (size_t i = 0; i < c->nslots; i++) {
        const doc_entry *e = &c->old[i];
        if (e->source && e->kept && doc_shard_of(e->source, e->slen) == k)
            doc_emit_entry(s, e->source, e->slen, e);
    }
    buf t = BUF_INIT;
    put_u64(&t, s->nput);
    doc_emit(s, t.ptr, t.len);
    buf_clear(&t);
    if (!s->failed) {
        XXH128_hash_t h = XXH3_128bits_digest(s->hash);
        put_u64(&t, h.low64);
        put_u64(&t, h.high64);
        buf_put(&s->wbuf, t.ptr, t.len);
        doc_flush(s);
    }
    buf_free(&t);
    int e = s->failed ? EIO : 0;
    if (s->fd >= 0 && close(s->fd) < 0 && !s->failed) { s->failed = true; e = errno; }
    s->fd = -1;
    if (!s->failed && rename(s->tmp, s->path) < 0) { s->failed = true; e = errno; }
    if (s->failed) {
        doc_abandon(s);
        errno = e ? e : EIO;
        return -1;
    }
    return 0;
}

int doccache_save(doccache *c, diag *d)
{
    pthread_mutex_lock(&c->mu);
    int rc = 0, err = 0;
    for (unsigned k = 0; k < DOC_SHARDS; k++) {
        doc_shard *s = &c->sh[k];
        /* Nothing new and nothing dropped: the file already says it all. */
        if (s->nput == 0 && s->nkept == s->nold && !s->dirty) continue;
        if (doc_finish(c, k) < 0 && !err) { err = errno; rc = -1; }
    }
    if (rc < 0) diag_warn(d, c->path, 0, "cannot write the build cache: %s", strerror(err));
    (void)unlink(c->path);       /* the one file of earlier versions, if any */
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void doccache_free(doccache *c)
{
    if (!c) return;
    for (unsigned k = 0; k < DOC_SHARDS; k++) {
        doc_shard *s = &c->sh[k];
        doc_abandon(s);               /* a save did not finish */
        free(s->tmp);
        buf_free(&s->wbuf);
        if (s->hash) XXH3_freeState(s->hash);
        file_bytes_free(s->data, s->maplen);
        free(s->path);
    }
    free(c->old);
    pthread_mutex_destroy(&c->mu);
    free(c->path);
    free(c);
}

value *fp_decode_value(const void *data, size_t n)
{
    return fp_decode_list_skipping(data, n, 0);
}

value *fp_decode_list_skipping(const void *data, size_t n, uint64_t skip)
{
    const unsigned char *p = data, *end = p + n;
    value *v = NULL;
    if (!decode_node(&p, end, 0, skip, &v)) return NULL;
    if (v && p != end) { value_unref(v); v = NULL; }
    return v;
}

/* ---- pages of one output directory ---- */

typedef struct {
    char *relpath;       /* NULL: empty slot */
    int group;           /* 0: a page; else files written together */
    bool known;          /* the stat fields are current (kept, or noted with its stat) */
    fp128 fp;
    uint64_t size, ino, mtime_ns, ctime_ns;
} page_entry;

struct pagecache {
    char *path, *root;
    int rootfd;          /* the output directory, for stats relative to it (-1: by path) */
    char *real;          /* the output directory's resolved path, "" if unknown */
    page_entry *old;     /* open addressing by relpath */
    size_t nold_slots;
    page_entry *cur;     /* noted in this build (list) */
    size_t ncur, capcur;
    pthread_mutex_t mu;
    bool trusted;        /* files are as recorded: no stat (pagecache_trust) */
    bool whole;          /* the file was read, intact, with every record */
    uint64_t *noted;     /* pagecache_note_other: a set of cur's paths (noted_slot) */
    size_t nnoted, nnoted_slots;
};

#define PAGE_MAGIC CACHE_PAGE_MAGIC

static uint64_t str_hash(const char *s)
{
    return XXH3_64bits(s, strlen(s));
}

static page_entry *page_slot(page_entry *slots, size_t n, const char *relpath)
{
    size_t i = str_hash(relpath) & (n - 1);
    while (slots[i].relpath && strcmp(slots[i].relpath, relpath)) i = (i + 1) & (n - 1);
    return &slots[i];
}

/* Record: magic, u32 length + the output directory's resolved path (to
 * prune records of directories that are gone), u64 count, then per page:
 * u32 path length, path, u8 group, fp (16), size, ino, mtime_ns, ctime_ns
 * (8 each); the last 16 bytes are the fingerprint of everything before. */
pagecache *pagecache_open(const char *path, const char *out_root, const char *out_real)
{
    pagecache *pc = xcalloc(1, sizeof *pc);
    pc->path = xstrdup(path);
    pc->root = xstrdup(out_root);
    /* Stats relative to the directory skip walking its path each time
     * (tens of thousands of them in a rebuild). */
    pc->rootfd = open(out_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    pc->real = xstrdup(out_real ? out_real : "");
    pool_mutex_init(&pc->mu);
    pc->nold_slots = 16;
    char *data = NULL;
    size_t n = 0;
    size_t ml = sizeof PAGE_MAGIC - 1;
    if (read_file(path, &data, &n) == 0 && n >= ml + 4 + 8 + 16 && !memcmp(data, PAGE_MAGIC, ml) &&
        fp_eq(fp_bytes(data, n - 16), (fp128){get_u64((unsigned char *)data + n - 16),
                                               get_u64((unsigned char *)data + n - 8)})) {
        const unsigned char *p = (unsigned char *)data + ml, *end = (unsigned char *)data + n - 16;
        uint32_t rl = get_u32(p);
        p += 4;
        uint64_t count = 0;
        bool head = rl <= (uint64_t)(end - p) && (uint64_t)(end - p) - rl >= 8;
        if (head) {
            p += rl;
            count = get_u64(p);
            p += 8;
        } else {
            p = end;
        }
        pc->whole = head && count == 0 && p == end;
        if (count && count <= (uint64_t)(end - p) / 53) {
            while (pc->nold_slots < count * 2 + 2) pc->nold_slots *= 2;
            pc->old = xcalloc(pc->nold_slots, sizeof *pc->old);
            uint64_t k = 0;
            for (; k < count; k++) {
                if (end - p < 4) break;
                uint32_t pl = get_u32(p);
                if ((uint64_t)(end - p) < 4 + (uint64_t)pl + 49) break;
                char *rp = xstrndup((const char *)p + 4, pl);
                p += 4 + pl;
                int group = *p++;
                page_entry *e = page_slot(pc->old, pc->nold_slots, rp);
                if (e->relpath) { free(rp); p += 48; continue; }
                *e = (page_entry){.relpath = rp, .group = group, .fp = {get_u64(p), get_u64(p + 8)},
                                  .size = get_u64(p + 16), .ino = get_u64(p + 24),
                                  .mtime_ns = get_u64(p + 32), .ctime_ns = get_u64(p + 40)};
                p += 48;
            }
            pc->whole = k == count && p == end;
        }
    }
    free(data);
    if (!pc->old) pc->old = xcalloc(pc->nold_slots, sizeof *pc->old);
    return pc;
}

static int stat_rel(const pagecache *pc, const char *relpath, struct stat *st)
{
    int r;
    if (pc->rootfd >= 0) {
        r = fstatat(pc->rootfd, relpath, st, AT_SYMLINK_NOFOLLOW);
    } else {
        char *full = path_join(pc->root, relpath);
        r = lstat(full, st);
        free(full);
    }
    return r < 0 || !S_ISREG(st->st_mode) ? -1 : 0;
}

/* Take st's stat fields into e: its record is then current (known). */
static void entry_stat(page_entry *e, const struct stat *st)
{
    e->known = true;
    e->size = (uint64_t)st->st_size;
    e->ino = (uint64_t)st->st_ino;
    e->mtime_ns = ns_of(st->st_mtim);
    e->ctime_ns = ns_of(st->st_ctim);
}

static bool same_file(const page_entry *e, const struct stat *st)
{
    return (uint64_t)st->st_size == e->size && (uint64_t)st->st_ino == e->ino &&
           ns_of(st->st_mtim) == e->mtime_ns && ns_of(st->st_ctim) == e->ctime_ns;
}

static bool entry_fresh(const pagecache *pc, const page_entry *e)
{
    if (pc->trusted) return true;
    struct stat st;
    return stat_rel(pc, e->relpath, &st) == 0 && same_file(e, &st);
}

static void note(pagecache *pc, const page_entry *e)
{
    pthread_mutex_lock(&pc->mu);
    if (pc->ncur == pc->capcur) {
        pc->capcur = pc->capcur ? pc->capcur * 2 : 1024;
        pc->cur = xrealloc(pc->cur, pc->capcur * sizeof *pc->cur);
    }
    pc->cur[pc->ncur] = *e;
    pc->cur[pc->ncur++].relpath = xstrdup(e->relpath);
    pthread_mutex_unlock(&pc->mu);
}

void pagecache_trust(pagecache *pc) { pc->trusted = true; }

/* Note a file as its record e has it (its stat is still right: no second
 * one at save), in group with fingerprint fp. */
static void note_recorded(pagecache *pc, const page_entry *e, int group, fp128 fp)
{
    page_entry k = *e;
    k.group = group;
    k.fp = fp;
    k.known = true;
    note(pc, &k);
}

bool pagecache_keep(pagecache *pc, const char *relpath, fp128 fp)
{
    const page_entry *e = page_slot(pc->old, pc->nold_slots, relpath);
    if (!e->relpath || e->group || !fp_eq(e->fp, fp) || !entry_fresh(pc, e)) return false;
    note_recorded(pc, e, e->group, e->fp);
    return true;
}

void pagecache_note(pagecache *pc, const char *relpath, fp128 fp)
{
    pagecache_note_in(pc, 0, relpath, fp);
}

void pagecache_note_in(pagecache *pc, int group, const char *relpath, fp128 fp)
{
    note(pc, &(page_entry){.relpath = (char *)relpath, .group = group, .fp = fp});
}

void pagecache_note_kept(pagecache *pc, int group, const char *relpath, fp128 fp)
{
    const page_entry *e = page_slot(pc->old, pc->nold_slots, relpath);
    if (pc->trusted && e->relpath) note_recorded(pc, e, group, fp);   /* the recorded stat */
    else note(pc, &(page_entry){.relpath = (char *)relpath, .group = group, .fp = fp});
}

void pagecache_note_st(pagecache *pc, const char *relpath, fp128 fp, const struct stat *st)
{
    page_entry e = {.relpath = (char *)relpath, .fp = fp};
    /* The writer's stat (out_write_st), if it has one: then pagecache_save
     * does not stat the file again (13.8k serial fstatat at the end of a
     * full build). st_mode 0 means it has none. */
    if (st && S_ISREG(st->st_mode)) entry_stat(&e, st);
    note(pc, &e);
}

/* pc->noted's slot for relpath of hash h: where it is, or the empty one
 * to put it in. A slot holds the path's index in cur + 1 (low 32 bits)
 * and its hash's high 32 bits, so that most probes compare no string. */
static uint64_t *noted_slot(const pagecache *pc, const char *relpath, uint64_t h)
{
    size_t mask = pc->nnoted_slots - 1, i = h & mask;
    for (;; i = (i + 1) & mask) {
        uint64_t v = pc->noted[i];
        if (!v) return &pc->noted[i];
        if (v >> 32 == h >> 32 && !strcmp(pc->cur[(uint32_t)v - 1].relpath, relpath)) return &pc->noted[i];
    }
}

/* Put cur[k] (of hash h) in pc->noted (not there yet), growing it as
 * needed. */
static void noted_add(pagecache *pc, size_t k, uint64_t h)
{
    if ((pc->nnoted + 1) * 2 > pc->nnoted_slots) {
        uint64_t *old = pc->noted;
        size_t nold = pc->nnoted_slots;
        pc->nnoted_slots = nold ? nold * 2 : 1024;
        while (pc->nnoted_slots < (pc->nnoted + 1) * 2) pc->nnoted_slots *= 2;
        pc->noted = xcalloc(pc->nnoted_slots, sizeof *pc->noted);
        for (size_t i = 0; i < nold; i++) {
            if (!old[i]) continue;
            const char *p = pc->cur[(uint32_t)old[i] - 1].relpath;
            *noted_slot(pc, p, str_hash(p)) = old[i];
        }
        free(old);
    }
    *noted_slot(pc, pc->cur[k].relpath, h) = (h >> 32) << 32 | (uint64_t)(k + 1);
    pc->nnoted++;
}

void pagecache_note_other(pagecache *pc, const char *relpath)
{
    if (!pc->noted) {                    /* first call: the paths noted so far */
        pc->nnoted_slots = 1024;
        while (pc->nnoted_slots < pc->ncur * 2 + 2) pc->nnoted_slots *= 2;
        pc->noted = xcalloc(pc->nnoted_slots, sizeof *pc->noted);
        for (size_t k = 0; k < pc->ncur; k++) {
            uint64_t h = str_hash(pc->cur[k].relpath);
            if (!*noted_slot(pc, pc->cur[k].relpath, h)) noted_add(pc, k, h);
        }
    }
    uint64_t h = str_hash(relpath);
    if (*noted_slot(pc, relpath, h)) return;
    note(pc, &(page_entry){.relpath = (char *)relpath, .group = PAGECACHE_OTHER});
    noted_add(pc, pc->ncur - 1, h);
}

void pagecache_note_other_new(pagecache *pc, const char *relpath)
{
    note(pc, &(page_entry){.relpath = (char *)relpath, .group = PAGECACHE_OTHER});
}

void pagecache_again(pagecache *pc)
{
    for (size_t i = 0; i < pc->nold_slots; i++) free(pc->old[i].relpath);
    free(pc->old);
    pc->nold_slots = 16;
    while (pc->nold_slots < pc->ncur * 2 + 2) pc->nold_slots *= 2;
    pc->old = xcalloc(pc->nold_slots, sizeof *pc->old);
    for (size_t i = 0; i < pc->ncur; i++) {
        page_entry *c = &pc->cur[i];
        page_entry *e = c->known ? page_slot(pc->old, pc->nold_slots, c->relpath) : NULL;
        if (e && !e->relpath) *e = *c;     /* saved with its stat: a record (the path moves) */
        else free(c->relpath);             /* not saved (no stat), or noted twice */
    }
    pc->ncur = 0;
    free(pc->noted);
    pc->noted = NULL;
    pc->nnoted = pc->nnoted_slots = 0;
    pc->whole = true;
    pc->trusted = true;
}

bool pagecache_carry(pagecache *pc, const char *relpath)
{
    const page_entry *e = page_slot(pc->old, pc->nold_slots, relpath);
    if (!e->relpath) return false;
    note_recorded(pc, e, e->group, e->fp);
    return true;
}

page_left pagecache_left(pagecache *pc, const char *relpath)
{
    const page_entry *e = page_slot(pc->old, pc->nold_slots, relpath);
    if (!e->relpath) return PAGE_UNRECORDED;
    struct stat st;
    return stat_rel(pc, relpath, &st) == 0 && same_file(e, &st) ? PAGE_LEFT : PAGE_CHANGED;
}

bool pagecache_recorded(const pagecache *pc) { return pc->whole; }

size_t pagecache_group(pagecache *pc, int group, fp128 fp, const char ***paths)
{
    size_t n = 0, cap = 64;
    const char **v = xmalloc(cap * sizeof *v);
    bool all = true;
    for (size_t i = 0; i < pc->nold_slots && all; i++) {
        const page_entry *e = &pc->old[i];
        if (!e->relpath || e->group != group) continue;
        if (!fp_eq(e->fp, fp) || !entry_fresh(pc, e)) { all = false; break; }
        if (n == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[n++] = e->relpath;
    }
    if (!all || !n) { free(v); *paths = NULL; return 0; }
    *paths = v;
    return n;
}

/* Remove the records of output directories that no longer exist (a
 * deleted temporary site, a renamed one) and of older formats, so the
 * cache directory does not grow with every directory ever built. */
static void prune_records(const pagecache *pc)
{
    char *dir = xstrdup(pc->path);
    char *slash = strrchr(dir, '/');
    const char *self = slash ? slash + 1 : pc->path;
    if (slash) *slash = 0;
    else { free(dir); dir = xstrdup("."); }
    DIR *dh = opendir(dir);
    struct dirent *e;
    while (dh && (e = readdir(dh))) {
        if (!str_starts(e->d_name, "pages-") || !str_ends(e->d_name, ".cache") || !strcmp(e->d_name, self))
            continue;
        char *p = path_join(dir, e->d_name);
        char head[4096 + 64];
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, head, sizeof head) : -1;
        if (fd >= 0) close(fd);
        size_t ml = sizeof PAGE_MAGIC - 1;
        bool gone = false;
        if (n >= 0 && ((size_t)n < ml + 4 || memcmp(head, PAGE_MAGIC, ml))) {
            gone = true;                          /* another format: obsolete */
        } else if (n >= 0) {
            uint32_t rl = get_u32((unsigned char *)head + ml);
            if (rl && rl <= 4096 && ml + 4 + rl <= (size_t)n) {
                char *root = xstrndup(head + ml + 4, rl);
                struct stat st;
                gone = lstat(root, &st) < 0 && errno == ENOENT;
                free(root);
            }
        }
        if (gone) {
            (void)unlink(p);
            /* The same directory's other records (build.c, out_cache_file). */
            const char *hex = e->d_name + 6;             /* after "pages-" */
            size_t hl = strlen(hex) - 6;                 /* before ".cache" */
            char *o1 = xasprintf("%s/out-%.*s.state", dir, (int)hl, hex);
            char *o2 = xasprintf("%s/search-%.*s.cache", dir, (int)hl, hex);
            (void)unlink(o1);
            (void)unlink(o2);
            free(o1);
            free(o2);
        }
        free(p);
    }
    if (dh) closedir(dh);
    free(dir);
}

int pagecache_save(pagecache *pc, diag *d)
{
    prune_records(pc);
    /* In the order the pages were noted (the reader hashes them): sorting
     * 14k paths was ~3 ms of the main thread at the end of every build. */
    buf b = BUF_INIT;
    buf_puts(&b, PAGE_MAGIC);
    put_u32(&b, (uint32_t)strlen(pc->real));
    buf_puts(&b, pc->real);
    size_t at = b.len, count = 0;
    put_u64(&b, 0);
    for (size_t i = 0; i < pc->ncur; i++) {
        page_entry *e = &pc->cur[i];
        struct stat st;
        if (!e->known) {
            if (stat_rel(pc, e->relpath, &st) < 0) continue;   /* not there: nothing to trust */
            entry_stat(e, &st);
        }
        size_t pl = strlen(e->relpath);
        put_u32(&b, (uint32_t)pl);
        buf_put(&b, e->relpath, pl);
        buf_putc(&b, e->group);
        put_u64(&b, e->fp.lo);
        put_u64(&b, e->fp.hi);
        put_u64(&b, e->size);
        put_u64(&b, e->ino);
        put_u64(&b, e->mtime_ns);
        put_u64(&b, e->ctime_ns);
        count++;
    }
    buf c = BUF_INIT;
    put_u64(&c, count);
    memcpy(b.ptr + at, c.ptr, 8);
    buf_free(&c);
    fp128 f = fp_bytes(b.ptr, b.len);
    put_u64(&b, f.lo);
    put_u64(&b, f.hi);
    int rc = write_file_atomic(pc->path, b.ptr, b.len);
    if (rc < 0) diag_warn(d, pc->path, 0, "cannot write the build cache: %s", strerror(errno));
    buf_free(&b);
    return rc;
}

void pagecache_free(pagecache *pc)
{
    if (!pc) return;
    for (size_t i = 0; i < pc->nold_slots; i++) free(pc->old[i].relpath);
    free(pc->old);
    for (size_t i = 0; i < pc->ncur; i++) free(pc->cur[i].relpath);
    free(pc->cur);
    free(pc->noted);
    pthread_mutex_destroy(&pc->mu);
    if (pc->rootfd >= 0) close(pc->rootfd);
    free(pc->path);
    free(pc->root);
    free(pc->real);
    free(pc);
}

#include <sys/uio.h>

fp128 fp_pieces(const struct iovec *v, size_t n)
{
    XXH3_state_t *s = XXH3_createState();
    if (!s) return (fp128){0, 0};          /* no file checks against it */
    XXH3_128bits_reset(s);
    for (size_t i = 0; i < n; i++) XXH3_128bits_update(s, v[i].iov_base, v[i].iov_len);
    XXH128_hash_t h = XXH3_128bits_digest(s);
    XXH3_freeState(s);
    return (fp128){h.low64, h.high64};
}
