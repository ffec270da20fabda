/* util.c - see util.h. */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static void oom(size_t n)
{
    fprintf(stderr, "gazette: out of memory (allocating %zu bytes)\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

/* A large calloc comes from fresh mmap'd pages, which calloc leaves
 * untouched: a table probed (read) before it is written then maps the
 * shared zero page first and copies it at the first write, and with more
 * than one thread running each such copy flushes the other cores' TLBs.
 * Writing the zeros ourselves faults each page in once, writable (at 10k
 * documents a rebuild spent ~6% of its CPU time on those copies). */
#define XCALLOC_TOUCH (64u << 10)
void *xcalloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n ? n : 1, size ? size : 1, &total)) oom(SIZE_MAX);
    if (total < XCALLOC_TOUCH) {
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p) oom(total);
        return p;
    }
    void *p = malloc(total);
    if (!p) oom(total);
    /* through a volatile pointer: gcc turns malloc + memset(0) back into
     * calloc */
    static void *(*volatile zero)(void *, int, size_t) = memset;
    return zero(p, 0, total);
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

#if defined(__SANITIZE_ADDRESS__)
#define BIG_FROM_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BIG_FROM_MALLOC 1
#endif
#endif

#ifdef BIG_FROM_MALLOC
void *big_grow(void *p, size_t old_cap, size_t new_cap)
{
    (void)old_cap;
    return xrealloc(p, new_cap);
}

void big_free(void *p, size_t cap)
{
    (void)cap;
    free(p);
}
#else
/* A mapping's length for cap bytes: whole pages (the same rounding for
 * every call on one buffer, so mremap and munmap get the length mmap
 * made). */
static size_t big_len(size_t cap)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return cap ? (cap + page - 1) / page * page : page;
}

void *big_grow(void *p, size_t old_cap, size_t new_cap)
{
    size_t nl = big_len(new_cap);
    void *q = !p ? mmap(NULL, nl, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                 : mremap(p, big_len(old_cap), nl, MREMAP_MAYMOVE);
    if (q == MAP_FAILED) oom(new_cap);
    return q;
}

void big_free(void *p, size_t cap)
{
    if (p) munmap(p, big_len(cap));
}
#endif

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* Most formatted strings (paths, URLs, dates) are short: format them on
 * the stack and allocate once, at their size. */
char *xasprintf(const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return xstrdup("");
    if ((size_t)n < sizeof tmp) return xstrndup(tmp, (size_t)n);
    buf b = BUF_INIT;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return buf_detach(&b);
}

/* ---- buf ---- */

void buf_init(buf *b) { b->ptr = NULL; b->len = b->cap = 0; }
void buf_free(buf *b) { free(b->ptr); buf_init(b); }
void buf_clear(buf *b) { b->len = 0; if (b->ptr) b->ptr[0] = 0; }

/* Out of line: growing is rare, checking is per byte in some callers. */
static void grow_slow(buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    b->ptr = xrealloc(b->ptr, cap);
    b->cap = cap;
}

/* The check every append in this file makes inline. */
static inline void grow(buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need > b->cap) grow_slow(b, need);
}

void buf_grow(buf *b, size_t extra) { grow(b, extra); }

void buf_put(buf *b, const void *p, size_t n)
{
    grow(b, n);
    if (n) memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = 0;
}

void buf_puts(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

void buf_put_dec(buf *b, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width && n < (int)sizeof tmp) tmp[n++] = '0';
    grow(b, (size_t)n);
    for (int i = n - 1; i >= 0; i--) b->ptr[b->len++] = tmp[i];
    b->ptr[b->len] = 0;
}

void buf_put_hex64(buf *b, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    grow(b, 16);
    for (int i = 15; i >= 0; i--) b->ptr[b->len + (size_t)(15 - i)] = hex[(v >> (4 * i)) & 15];
    b->len += 16;
    b->ptr[b->len] = 0;
}

void buf_putc(buf *b, int c)
{
    grow(b, 1);
    b->ptr[b->len++] = (char)c;
    b->ptr[b->len] = 0;
}

/* One vsnprintf in the common case: in place when there is room, else on
 * the stack first (a second pass only for results of 256 bytes or more). */
void buf_vprintf(buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    bool in_place = b->cap - b->len >= sizeof tmp;
    char *dst = in_place ? b->ptr + b->len : tmp;
    size_t room = in_place ? b->cap - b->len : sizeof tmp;
    int n = vsnprintf(dst, room, fmt, ap);
    if (n < 0) { va_end(ap2); return; }
    if ((size_t)n < room) {
        if (in_place) b->len += (size_t)n;
        else buf_put(b, tmp, (size_t)n);
    } else {
        grow(b, (size_t)n);
        vsnprintf(b->ptr + b->len, b->cap - b->len, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *buf_detach(buf *b)
{
    /* Detached strings live long (document text, HTML); give back the
     * growth slack, up to half of the allocation. */
    if (b->ptr && b->cap > b->len + 64) b->ptr = xrealloc(b->ptr, b->len + 1);
    char *p = b->ptr ? b->ptr : xstrdup("");
    buf_init(b);
    return p;
}

const char *buf_cstr(buf *b) { return b->ptr ? b->ptr : ""; }

/* ---- escaping ---- */

/* Replacement of each byte esc_html escapes (by index 1..5), and the index
 * of every byte: one table load per byte instead of a switch, and runs of
 * plain bytes copied at once. Escaping is most of what rendering a page
 * does besides looking names up. */
static const struct { const char *s; size_t n; } html_rep[] = {
    {"", 0}, {"&amp;", 5}, {"&lt;", 4}, {"&gt;", 4}, {"&quot;", 6}, {"&#39;", 5},
};
static const unsigned char html_class[256] = {
    ['&'] = 1, ['<'] = 2, ['>'] = 3, ['"'] = 4, ['\''] = 5,
};

/* Index of the first byte at or after i that esc_html replaces, or n.
 * SSE2 (always there on x86-64) looks at 16 bytes at a time: most escaped
 * text (titles, excerpts, URLs) has nothing to escape. */
static size_t html_plain_run(const char *s, size_t i, size_t n)
{
#if defined(__SSE2__)
    const __m128i amp = _mm_set1_epi8('&'), lt = _mm_set1_epi8('<'), gt = _mm_set1_epi8('>'),
                  quot = _mm_set1_epi8('"'), apos = _mm_set1_epi8('\'');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, amp), _mm_cmpeq_epi8(v, lt)),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, gt),
                                              _mm_or_si128(_mm_cmpeq_epi8(v, quot),
                                                           _mm_cmpeq_epi8(v, apos))));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask) return i + (size_t)__builtin_ctz(mask);
    }
#endif
    while (i < n && !html_class[(unsigned char)s[i]]) i++;
    return i;
}

void esc_html(buf *out, const char *s, size_t n)
{
    grow(out, n);              /* the common case: nothing to escape */
    size_t start = 0;
    for (;;) {
        size_t i = html_plain_run(s, start, n);
        buf_put(out, s + start, i - start);
        if (i == n) return;
        unsigned k = html_class[(unsigned char)s[i]];
        buf_put(out, html_rep[k].s, html_rep[k].n);
        start = i + 1;
    }
}

void esc_xml(buf *out, const char *s, size_t n)
{
    /* Drop control characters XML 1.0 forbids; escape the rest like HTML. */
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') rep = "";
            else continue;
        }
        buf_put(out, s + start, i - start);
        buf_puts(out, rep);
        start = i + 1;
    }
    buf_put(out, s + start, n - start);
}

/* The bytes esc_json looks at: control characters, " \\ < > & and 0xE2
 * (the lead byte of U+2028/2029); the rest are copied in runs. */
static const unsigned char json_special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,         /* 0x00-0x1F */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1, ['<'] = 1, ['>'] = 1, ['&'] = 1, [0xE2] = 1,
};

void esc_json(buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        while (i < n && !json_special[(unsigned char)s[i]]) i++;
        if (i == n) break;
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        const char *rep = NULL;
        switch (c) {
        case '"': rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        default:
            if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                tmp[0] = '\\'; tmp[1] = 'u'; tmp[2] = '0'; tmp[3] = '0';
                tmp[4] = hex[c >> 4]; tmp[5] = hex[c & 15]; tmp[6] = 0;
                rep = tmp;
            } else if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                       ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
                /* U+2028/2029 break JavaScript string literals. */
                buf_put(out, s + start, i - start);
                buf_puts(out, (unsigned char)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
                i += 2;
                start = i + 1;
                continue;
            } else {
                continue;
            }
        }
        buf_put(out, s + start, i - start);
        buf_puts(out, rep);
        start = i + 1;
    }
    buf_put(out, s + start, n - start);
}

void esc_url(buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    /* Room for the worst case once, then bytes stored directly (a call
     * per byte was most of a 10k sitemap's time). */
    buf_grow(out, 3 * n);
    char *w = out->ptr + out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            *w++ = (char)c;
        } else {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        }
    }
    out->len = (size_t)(w - out->ptr);
    out->ptr[out->len] = 0;
}

/* ---- UTF-8 ---- */

size_t utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    *cp = 0xFFFD;
    if (n == 0) return 0;
    if (u[0] < 0x80) { *cp = u[0]; return 1; }
    /* Three bytes first: the corpus is Chinese, most characters are. */
    if ((u[0] & 0xF0) == 0xE0) {
        if (n < 3 || (u[1] & 0xC0) != 0x80 || (u[2] & 0xC0) != 0x80) return 1;
        uint32_t c = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
        if (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF)) return 1;
        *cp = c;
        return 3;
    }
    size_t len;
    uint32_t c, min;
    if ((u[0] & 0xE0) == 0xC0) { len = 2; c = u[0] & 0x1F; min = 0x80; }
    else if ((u[0] & 0xF8) == 0xF0) { len = 4; c = u[0] & 0x07; min = 0x10000; }
    else return 1;
    if (n < len) return 1;
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) return 1;
        c = (c << 6) | (u[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF) return 1;
    *cp = c;
    return len;
}

/* Length of the valid UTF-8 sequence at u[0..n) (lead byte >= 0x80), or 0.
 * The ranges of the second byte rule out overlongs (E0, F0), surrogates
 * (ED) and code points past U+10FFFF (F4); C0, C1 and F5..FF never lead. */
static size_t utf8_seq_len(const unsigned char *u, size_t n)
{
    unsigned b = u[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) len = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        if (b == 0xE0) lo = 0xA0;
        else if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        if (b == 0xF0) lo = 0x90;
        else if (b == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || u[1] < lo || u[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((u[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* Three-byte leads whose second byte may be any continuation byte (not
 * E0: overlongs, not ED: surrogates): nearly every CJK character. */
static bool plain_lead3(unsigned b) { return b >= 0xE1 && b <= 0xEF && b != 0xED; }

/* Every document and page text is checked (some twice): ASCII 8 bytes at a
 * time, common CJK characters with two mask tests, the rest by ranges. */
bool utf8_valid(const char *s, size_t n, size_t *bad)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned b = u[i];
        if (b < 0x80) {
            uint64_t w;
            while (i + 8 <= n && (memcpy(&w, u + i, 8), (w & 0x8080808080808080ull) == 0)) i += 8;
            while (i < n && u[i] < 0x80) i++;
            continue;
        }
        if (plain_lead3(b) && n - i >= 3 && (u[i + 1] & 0xC0) == 0x80 && (u[i + 2] & 0xC0) == 0x80) {
            i += 3;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            /* Chinese text: two characters of U+1000..U+CFFF (lead bytes
             * E1..EC, no overlong or surrogate among them) per test of an
             * 8-byte load, bytes 0-5. */
            uint64_t w;
            while (n - i >= 8 && (memcpy(&w, u + i, 8),
                                  (w & 0x0000C0C0F0C0C0F0ull) == 0x00008080E08080E0ull) &&
                   (unsigned)(w & 0xFF) - 0xE1u <= 0xBu && (unsigned)((w >> 24) & 0xFF) - 0xE1u <= 0xBu)
                i += 6;
#endif
            continue;
        }
        size_t k = utf8_seq_len(u + i, n - i);
        if (!k) {
            if (bad) *bad = i;
            return false;
        }
        i += k;
    }
    return true;
}

/* Written in place after one room check (the search index encodes every
 * character it keeps). */
void utf8_encode(buf *out, uint32_t cp)
{
    grow(out, 4);
    unsigned char *t = (unsigned char *)out->ptr + out->len;
    size_t n;
    if (cp < 0x80) {
        t[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (unsigned char)(0xC0 | (cp >> 6)); t[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        t[0] = (unsigned char)(0xE0 | (cp >> 12)); t[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        t[0] = (unsigned char)(0xF0 | (cp >> 18)); t[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); t[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    out->len += n;
    out->ptr[out->len] = 0;
}

int line_of_offset(const char *s, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off; i++)
        if (s[i] == '\n') line++;
    return line;
}

/* ---- files ---- */

int read_file(const char *path, char **data, size_t *len)
{
    return read_file_at(AT_FDCWD, path, NULL, data, len);
}

int read_file_at(int dirfd, const char *name, const struct stat *known, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (known && S_ISREG(known->st_mode)) st = *known;   /* (the loop below copes with a change) */
    else if (fstat(fd, &st) < 0) { int e = errno; close(fd); errno = e; return -1; }
    if (S_ISDIR(st.st_mode)) { close(fd); errno = EISDIR; return -1; }
    /* The size, the NUL, and one byte more for the read that finds the
     * end (with only +1 every whole read doubled the buffer at EOF). */
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 2 : 4096, n = 0;
    char *p = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) { cap *= 2; p = xrealloc(p, cap); }
        size_t want = cap - n - 1;
        ssize_t r = read(fd, p + n, want);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno; free(p); close(fd); errno = e; return -1;
        }
        if (r == 0) break;
        n += (size_t)r;
        /* A regular file read short at (or past) the size fstat gave is at
         * its end: no second read to be told so (10k reads a build). Not
         * one of size 0 (/proc's files say 0 and give a page at a time). */
        if (S_ISREG(st.st_mode) && st.st_size > 0 && (size_t)r < want && n >= (size_t)st.st_size) break;
    }
    close(fd);
    p[n] = 0;
    *data = p;
    *len = n;
    return 0;
}

/* mkdir -p: try the directory itself first and climb only while parents
 * are missing, so the common case (parent exists) is one system call. */
int mkdir_p(const char *path)
{
    if (mkdir(path, 0755) == 0) return 0;
    if (errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) < 0) return -1;
        if (!S_ISDIR(st.st_mode)) { errno = ENOTDIR; return -1; }
        return 0;
    }
    if (errno != ENOENT) return -1;
    const char *slash = strrchr(path, '/');
    while (slash && slash > path && slash[1] == 0) {      /* trailing '/' */
        const char *q = slash - 1;
        while (q > path && *q != '/') q--;
        slash = *q == '/' ? q : NULL;
    }
    if (!slash || slash == path) return -1;
    char *parent = xstrndup(path, (size_t)(slash - path));
    int r = mkdir_p(parent);
    free(parent);
    if (r < 0) return -1;
    if (mkdir(path, 0755) == 0 || errno == EEXIST) return 0;
    return -1;
}

int write_all_fd(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) { errno = EIO; return -1; }   /* no progress: never loop on it */
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Tests only (util_test_write_mode): force_named_tmp makes tmpfile_with
 * report that O_TMPFILE is missing; refuse_empty_path makes link_fd act
 * as if linkat(AT_EMPTY_PATH) failed with EPERM. */
static int force_named_tmp, refuse_empty_path;

/* The preferred way: an unnamed O_TMPFILE inode in the target directory,
 * given a name only once it is complete. A process killed while writing
 * (kill -9, OOM) leaves nothing behind, since an unlinked inode just
 * vanishes: interrupted builds do not litter the site with *.tmp-gz*
 * files, and a full disk fails the write before any name exists.
 * Returns the open fd holding data, -1 with errno set, or -2 when
 * O_TMPFILE is not available (the caller falls back to a named temp file). */
static int tmpfile_with(const char *dir, const void *data, size_t len)
{
    if (__atomic_load_n(&force_named_tmp, __ATOMIC_RELAXED)) return -2;
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) return (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) ? -2 : -1;
    if (write_all_fd(fd, data, len) < 0) { int e = errno; close(fd); errno = e; return -1; }
    return fd;
}

/* Set once linkat(AT_EMPTY_PATH) has been refused: every later link goes
 * straight through /proc. Shared by the writer threads (atomic). */
static int link_proc_only;

/* Give the unnamed inode fd the name path (fails with EEXIST if taken).
 * linkat(fd, "", AT_EMPTY_PATH) names the inode directly; through
 * /proc/self/fd/N the kernel first resolves that path (its lookup was 2%
 * of a full build's CPU). AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH before
 * Linux 6.10 (EPERM or ENOENT for others), and some kernels and file
 * systems refuse it (EINVAL, EOPNOTSUPP): then /proc, from then on. */
static int link_fd(int fd, const char *path)
{
    if (!__atomic_load_n(&link_proc_only, __ATOMIC_RELAXED)) {
        int r = __atomic_load_n(&refuse_empty_path, __ATOMIC_RELAXED)
                    ? (errno = EPERM, -1) : linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH);
        if (r == 0) return 0;
        if (errno != EPERM && errno != ENOENT && errno != EINVAL && errno != EOPNOTSUPP)
            return -1;
        __atomic_store_n(&link_proc_only, 1, __ATOMIC_RELAXED);
    }
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

int util_test_write_mode(int how)
{
    int was = __atomic_exchange_n(&link_proc_only, how == 1, __ATOMIC_RELAXED);
    __atomic_store_n(&force_named_tmp, how == 2, __ATOMIC_RELAXED);
    __atomic_store_n(&refuse_empty_path, how == 3, __ATOMIC_RELAXED);
    return was;
}

/* Close fd; on failure remove the name it was given (relative to dirfd,
 * or AT_FDCWD). */
static int close_named(int dirfd, int fd, const char *name)
{
    if (close(fd) < 0) { int e = errno; unlinkat(dirfd, name, 0); errno = e; return -1; }
    return 0;
}

/* fd, just published as path, is closed; with st_out its stat is taken
 * first. After the link or rename: both change the inode's ctime, and
 * the page records compare it (cache.c same_file). Should fstat fail,
 * st_mode 0 says "unknown". Returns close_named's result. */
static int finish_fd(int dirfd, int fd, const char *path, struct stat *st_out)
{
    if (st_out && fstat(fd, st_out) < 0) memset(st_out, 0, sizeof *st_out);
    return close_named(dirfd, fd, path);
}

/* Publish the complete inode fd as path. When fresh (path is believed not
 * to exist) it is linked straight to its final name: one linkat, no temp
 * name, no rename, and still atomic since the name appears only on a
 * complete file. Otherwise, or if path appeared meanwhile (EEXIST), it
 * gets a temporary name and is renamed over path; fd stays open until
 * then, for the stat. Closes fd. Returns 0, -1 with errno set, or 1 when
 * /proc is missing (nothing done). */
static int publish_fd(int fd, const char *path, int fresh, struct stat *st_out)
{
    if (fresh) {
        if (link_fd(fd, path) == 0) return finish_fd(AT_FDCWD, fd, path, st_out);
        if (errno != EEXIST) {
            int e = errno;
            close(fd);
            if (e == ENOENT) return 1;    /* no /proc */
            errno = e;
            return -1;
        }
    }
    char *tmp = xasprintf("%s.tmp-gz%ld", path, (long)getpid());
    int r = link_fd(fd, tmp);
    if (r < 0 && errno == EEXIST) {   /* left by a killed run with our pid */
        unlink(tmp);
        r = link_fd(fd, tmp);
    }
    if (r < 0) {
        int e = errno;
        close(fd);
        free(tmp);
        if (e == ENOENT) return 1;    /* no /proc */
        errno = e;
        return -1;
    }
    if (rename(tmp, path) < 0) {
        int e = errno; close(fd); unlink(tmp); free(tmp); errno = e; return -1;
    }
    free(tmp);
    return finish_fd(AT_FDCWD, fd, path, st_out);
}

/* Without O_TMPFILE or /proc: a named temp file, then rename. A killed
 * process can leave the temp file behind. */
static int write_named_tmp(const char *path, const void *data, size_t len, struct stat *st_out)
{
    char *tmp = xasprintf("%s.tmp-gz%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { int e = errno; free(tmp); errno = e; return -1; }
    if (write_all_fd(fd, data, len) < 0 || rename(tmp, path) < 0) {
        int e = errno; close(fd); unlink(tmp); free(tmp); errno = e; return -1;
    }
    free(tmp);
    return finish_fd(AT_FDCWD, fd, path, st_out);
}

static int write_atomic(const char *path, const void *data, size_t len, int fresh,
                        struct stat *st_out)
{
    const char *slash = strrchr(path, '/');
    char *dir = path_dir(path);
    int fd = tmpfile_with(dir, data, len);
    /* Parent directories are made only when missing, so writing many files
     * into existing directories costs no mkdir calls. */
    if (fd == -1 && errno == ENOENT && slash && slash != path) {
        if (mkdir_p(dir) < 0) { int e = errno; free(dir); errno = e; return -1; }
        fd = tmpfile_with(dir, data, len);
    }
    int r = fd >= 0 ? publish_fd(fd, path, fresh, st_out) : fd == -2 ? 1 : -1;
    if (r <= 0) { int e = errno; free(dir); errno = e; return r; }
    /* The fallback needs the directory too (O_TMPFILE may have failed
     * before telling whether it exists). */
    int m = slash && slash != path ? mkdir_p(dir) : 0;
    free(dir);
    return m < 0 ? -1 : write_named_tmp(path, data, len, st_out);
}

int write_file_unseen_at(int dirfd, const char *path, const void *data, size_t len,
                         struct stat *st_out)
{
    int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    if (write_all_fd(fd, data, len) < 0) {
        int e = errno;
        close(fd);
        unlinkat(dirfd, path, 0);
        errno = e;
        return -1;
    }
    return finish_fd(dirfd, fd, path, st_out);
}

int write_file_atomic(const char *path, const void *data, size_t len)
{
    return write_atomic(path, data, len, 0, NULL);
}

int write_file_fresh(const char *path, const void *data, size_t len)
{
    return write_atomic(path, data, len, 1, NULL);
}

int write_file_atomic_st(const char *path, const void *data, size_t len, struct stat *st_out)
{
    return write_atomic(path, data, len, 0, st_out);
}

int write_file_fresh_st(const char *path, const void *data, size_t len, struct stat *st_out)
{
    return write_atomic(path, data, len, 1, st_out);
}

char *path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    return slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
}

char *path_join(const char *a, const char *b)
{
    if (!a || !*a) return xstrdup(b);
    size_t n = strlen(a), m = strlen(b), slash = a[n - 1] != '/';
    char *p = xmalloc(n + slash + m + 1);
    memcpy(p, a, n);
    p[n] = '/';
    memcpy(p + n + slash, b, m + 1);
    return p;
}

bool path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *sub = path_join(path, e->d_name);
        if (rm_rf(sub) < 0) rc = -1;
        free(sub);
    }
    closedir(d);
    if (rmdir(path) < 0) rc = -1;
    return rc;
}

bool str_starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_ends(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

void str_key(const char *s, uint64_t *key, int words)
{
    unsigned char b[32] = {0};
    memcpy(b, s, strnlen(s, 8 * (size_t)words));
    for (int w = 0; w < words; w++) {        /* big-endian: integer order is byte order */
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v = v << 8 | b[8 * w + i];
        key[w] = v;
    }
}

int str_key_cmp(const uint64_t *p, const char *s, const uint64_t *q, const char *t, int words)
{
    for (int w = 0; w < words; w++)
        if (p[w] != q[w]) return p[w] < q[w] ? -1 : 1;
    /* Equal keys: the strings differ (if at all) after them, unless one
     * ended within them (then both did: equal). */
    if (!(p[words - 1] & 0xff)) return 0;
    return strcmp(s + 8 * words, t + 8 * words);
}

int str_cmp_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

double clock_seconds(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool pid_alive(long pid)
{
    if (pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno != EPERM)) return false;
    char path[64], *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (read_file(path, &data, &len) < 0) return true;
    const char *rp = strrchr(data, ')');   /* "pid (comm) S ..." */
    bool zombie = rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
    free(data);
    return !zombie;
}

bool pid_gone(const char *s)
{
    char *end;
    long pid = strtol(s, &end, 10);
    return end != s && !*end && pid > 0 && !pid_alive(pid);
}

char *tmp_template(const char *name)
{
    const char *dir = getenv("TMPDIR");
    return xasprintf("%s/%s-XXXXXX", dir && *dir ? dir : "/tmp", name);
}
