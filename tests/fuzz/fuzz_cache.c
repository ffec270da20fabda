/* fuzz_cache.c - libFuzzer target: the build cache's readers. The cache is
 * a file on disk that anything may damage; reading it must never crash,
 * and a damaged entry must read as a miss, never as wrong data.
 *
 * Input: first byte = mode, mod 4. 0: the rest is the body of a Markdown
 * cache (after a valid header), opened, every entry's key looked up with
 * get/html/text, then one entry appended. 1: the rest is a page record
 * (made valid by appending its checksum), opened and queried. 2: the rest
 * is a document cache (checksum appended), opened, every source it names
 * looked up, saved. 3: the rest is one document record, decoded and its
 * front matter unpacked. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cache.h"
#include "content.h"

static char dir[64];

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* path := magic, head (hlen bytes), data, and the XXH3-128 of all that,
 * as the cache files end (so that the fuzzer gets past the checksum). */
static void write_checked(const char *path, const char *magic, const uint8_t *head, size_t hlen,
                          const uint8_t *data, size_t size)
{
    size_t ml = strlen(magic), n = ml + hlen + size;
    uint8_t *buf = malloc(n + 16);
    if (!buf) return;
    memcpy(buf, magic, ml);
    if (hlen) memcpy(buf + ml, head, hlen);
    if (size) memcpy(buf + ml + hlen, data, size);
    fp128 f = fp_bytes(buf, n);
    put64(buf + n, f.lo);
    put64(buf + n + 8, f.hi);
    FILE *fh = fopen(path, "wb");
    if (fh) {
        fwrite(buf, 1, n + 16, fh);
        fclose(fh);
    }
    free(buf);
}

static void md_case(const uint8_t *data, size_t size, const char *path)
{
    static const char magic[] = CACHE_MD_MAGIC;
    fp128 settings = {1, 2};
    FILE *f = fopen(path, "wb");
    if (!f) return;
    uint8_t s[16];
    put64(s, settings.lo);
    put64(s + 8, settings.hi);
    fwrite(magic, 1, sizeof magic - 1, f);
    fwrite(s, 1, 16, f);
    fwrite(data, 1, size, f);
    fclose(f);
    diag *d = diag_new();
    mdcache *c = mdcache_open(path, settings, d);
    /* Every key the input names (entries are 40-byte heads + payload). */
    for (size_t off = 0; off + 40 <= size;) {
        uint32_t len = (uint32_t)data[off + 4] | (uint32_t)data[off + 5] << 8 |
                       (uint32_t)data[off + 6] << 16 | (uint32_t)data[off + 7] << 24;
        fp128 key = {rd64(data + off + 8), rd64(data + off + 16)};
        md_result r;
        if (mdcache_get(c, key, &r)) {
            /* (no text: an entry put without it) */
            if (!r.html || !r.excerpt || !r.toc) __builtin_trap();
            md_free(&r);
        }
        size_t n;
        free(mdcache_body(c, key, false, &n));
        free(mdcache_body(c, key, true, &n));
        if (len > size - off - 40) break;
        off += 40 + len;
    }
    md_result w = {.html = "<p>x</p>", .excerpt = "x", .text = "x", .toc = NULL};
    mdcache_put(c, (fp128){7, 7}, &w, size & 1);
    size_t hn;
    char *h = mdcache_body(c, (fp128){7, 7}, false, &hn);
    if (h && strcmp(h, "<p>x</p>")) __builtin_trap();   /* what was put reads back */
    free(h);
    mdcache_close(c, d);
    /* Again through the index the close wrote: the same answers. */
    c = mdcache_open(path, settings, d);
    h = mdcache_body(c, (fp128){7, 7}, false, &hn);
    if (h && strcmp(h, "<p>x</p>")) __builtin_trap();
    free(h);
    mdcache_close(c, d);
    char *ix = xasprintf("%s.index", path);
    unlink(ix);
    free(ix);
    diag_free(d);
}

static void page_case(const uint8_t *data, size_t size, const char *path, const char *out)
{
    write_checked(path, CACHE_PAGE_MAGIC, NULL, 0, data, size);
    pagecache *pc = pagecache_open(path, out, out);
    (void)pagecache_recorded(pc);
    (void)pagecache_left(pc, "index.html");
    (void)pagecache_left(pc, "a/index.html");
    (void)pagecache_keep(pc, "index.html", (fp128){1, 1});
    (void)pagecache_keep(pc, "a/index.html", (fp128){0, 0});
    const char **paths;
    size_t k = pagecache_group(pc, 1, (fp128){0, 0}, &paths);
    if (k) free(paths);
    pagecache_note(pc, "index.html", (fp128){3, 4});
    pagecache_note_other(pc, "feed.xml");
    pagecache_note_other(pc, "index.html");        /* noted already: nothing */
    diag *d = diag_new();
    (void)pagecache_save(pc, d);
    /* Another build from these records, as a release's second one. */
    pagecache_again(pc);
    (void)pagecache_carry(pc, "index.html");
    (void)pagecache_carry(pc, "a/index.html");
    (void)pagecache_save(pc, d);
    diag_free(d);
    pagecache_free(pc);
}

static void doc_case(const uint8_t *data, size_t size, const char *path)
{
    fp128 settings = {5, 6};
    uint8_t set[16];
    put64(set, settings.lo);
    put64(set + 8, settings.hi);
    /* The input is the first of the shard files (whose records are used
     * wherever they are found). */
    char *shard = xasprintf("%s.0", path);
    write_checked(shard, CACHE_DOC_MAGIC, set, 16, data, size);
    free(shard);
    doccache *c = doccache_open(path, settings);
    /* The first entry's source (u32 length + name), with the stat fields
     * as written, so that a well-formed entry is found. */
    if (size >= 4) {
        uint32_t sl = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                      (uint32_t)data[3] << 24;
        if (sl <= size - 4 && size - 4 - sl >= 33) {
            char *src = xstrndup((const char *)data + 4, sl);
            const uint8_t *p = data + 4 + sl;
            struct stat st;
            memset(&st, 0, sizeof st);
            st.st_size = (off_t)rd64(p);
            st.st_ino = (ino_t)rd64(p + 8);
            st.st_mtim.tv_sec = (time_t)(rd64(p + 16) / 1000000000u);
            st.st_mtim.tv_nsec = (long)(rd64(p + 16) % 1000000000u);
            st.st_ctim.tv_sec = (time_t)(rd64(p + 24) / 1000000000u);
            st.st_ctim.tv_nsec = (long)(rd64(p + 24) % 1000000000u);
            size_t len;
            fp128 file;
            const unsigned char *pl = doccache_get(c, src, &st, &len, &file);
            if (pl) {
                doc *dc = content_record_decode(pl, len, src, "notices");
                if (dc) doc_unpack(dc);
                doc_free(dc);
                doccache_keep(c, src);
            }
            free(src);
        }
    }
    diag *d = diag_new();
    (void)doccache_save(c, d);
    diag_free(d);
    doccache_free(c);
    for (unsigned k = 0; k < 16; k++) {     /* a save may have moved a record */
        char *p = xasprintf("%s.%x", path, k);
        unlink(p);
        free(p);
    }
}

static void record_case(const uint8_t *data, size_t size)
{
    doc *dc = content_record_decode(data, size, "content/notices/2017/x.md", "notices");
    if (dc) {
        if (!dc->title || !dc->url || !dc->md.excerpt) __builtin_trap();
        doc_unpack(dc);
        if (!dc->fm || !dc->fm_lines || !dc->md.toc) __builtin_trap();
    }
    doc_free(dc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/gazette-fuzz-cache-%ld", (long)getpid());
        if (mkdir_p(dir) < 0) return 0;
    }
    if (size < 1) return 0;
    char *path = xasprintf("%s/c", dir), *out = xasprintf("%s/out", dir);
    switch (data[0] % 4) {
    case 0: md_case(data + 1, size - 1, path); break;
    case 1: page_case(data + 1, size - 1, path, out); break;
    case 2: doc_case(data + 1, size - 1, path); break;
    default: record_case(data + 1, size - 1); break;
    }
    unlink(path);
    free(path);
    free(out);
    return 0;
}
