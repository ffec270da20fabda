/* util.h - memory, growable buffers, escaping, UTF-8 and file helpers.
 *
 * Ownership: functions returning char* return memory the caller frees.
 * The x* allocators never return NULL: out of memory aborts with a message,
 * since a static site generator has no sensible way to continue without it.
 */
#ifndef GAZETTE_UTIL_H
#define GAZETTE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct stat;

#define GZ_PRINTF(a, b) __attribute__((format(printf, a, b)))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* A big buffer that only grows (a search index's postings and token
 * lists: tens of MB), with its memory straight from the OS: grown with
 * mremap, which moves pages instead of copying bytes, so a growth step
 * never holds two copies (a realloc from 64 to 128 MB touched both).
 * big_grow(NULL, 0, n) makes one; cap is what was asked for last; the
 * contents move like realloc's. Dies on out of memory. (With
 * AddressSanitizer: realloc and free, so that it still checks them.) */
void *big_grow(void *p, size_t old_cap, size_t new_cap);
void big_free(void *p, size_t cap);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) GZ_PRINTF(1, 2);

/* A growable byte buffer, always NUL-terminated once anything is written. */
typedef struct {
    char *ptr;
    size_t len, cap;
} buf;

#define BUF_INIT {NULL, 0, 0}
void buf_init(buf *b);
void buf_free(buf *b);
void buf_clear(buf *b);                 /* len = 0, keeps memory */
void buf_grow(buf *b, size_t extra);    /* room for extra more bytes + NUL */
void buf_put(buf *b, const void *p, size_t n);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, int c);
void buf_printf(buf *b, const char *fmt, ...) GZ_PRINTF(2, 3);
void buf_vprintf(buf *b, const char *fmt, va_list ap);
/* Numbers without printf (whose per-call cost showed in the hot paths):
 * v in decimal, zero-padded to at least width digits; v as 16 lowercase
 * hex digits (as "%016llx"). */
void buf_put_dec(buf *b, uint64_t v, int width);
void buf_put_hex64(buf *b, uint64_t v);
char *buf_detach(buf *b);               /* returns ptr ("" if empty), resets b */
const char *buf_cstr(buf *b);           /* "" when empty */

/* Escaping. All append to out. */
void esc_html(buf *out, const char *s, size_t n);   /* & < > " ' */
void esc_xml(buf *out, const char *s, size_t n);    /* same set, XML-safe */
void esc_json(buf *out, const char *s, size_t n);   /* body of a JSON string, no quotes;
                                                       < > & escaped as \u003c etc. */
void esc_url(buf *out, const char *s, size_t n);    /* percent-encode all but
                                                       unreserved and '/' */

/* UTF-8. */
/* Valid UTF-8 (no overlongs, no surrogates)? On failure *bad = byte offset. */
bool utf8_valid(const char *s, size_t n, size_t *bad);
/* Decode one code point at s; returns bytes used (>=1), *cp = 0xFFFD on error. */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp);
void utf8_encode(buf *out, uint32_t cp);
/* Is s[0..3) a valid 3-byte sequence (U+0800..U+FFFF, no surrogate)? s
 * must have 3 bytes, or a NUL before (a NUL fails the check before any
 * byte after it is read). */
static inline bool utf8_is3(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    return (u[0] & 0xF0) == 0xE0 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80 &&
           (u[0] != 0xE0 || u[1] >= 0xA0) && (u[0] != 0xED || u[1] < 0xA0);
}
/* The bytes utf8_decode would take at s (n >= 1), without the code point:
 * ASCII and 3-byte sequences (all of CJK) inline, the rest by the call.
 * For counting characters, a call per character being most of the work. */
static inline size_t utf8_step(const char *s, size_t n)
{
    if ((unsigned char)s[0] < 0x80) return 1;
    if (n >= 3 && utf8_is3(s)) return 3;
    uint32_t cp;
    return utf8_decode(s, n, &cp);
}
/* Line number (1-based) of byte offset off in s. */
int line_of_offset(const char *s, size_t off);

struct stat;

/* Files. Return 0 on success, -1 with errno set on failure. */
int read_file(const char *path, char **data, size_t *len);
/* read_file of name relative to dirfd (AT_FDCWD: as read_file). known: what
 * a stat of it said a moment ago, when the caller has that (a regular
 * file: its size sizes the buffer, with no fstat; the read still goes to
 * the end of whatever the file holds now), or NULL. */
int read_file_at(int dirfd, const char *name, const struct stat *known, char **data, size_t *len);
/* Write via a temp file in the same directory, then rename(2). Creates
 * parent directories. */
int write_file_atomic(const char *path, const void *data, size_t len);
/* The same for a path believed not to exist (a new file): the complete
 * file is linked straight to its name (no temp name, no rename: 3 system
 * calls fewer). If path exists after all it is replaced as above. */
int write_file_fresh(const char *path, const void *data, size_t len);
/* The same two, also giving the published file's stat in *st_out (what
 * lstat(path) would say just after, with no second system call walking
 * the path): taken on the still-open file once it has its name. st_mode
 * is 0 in the unlikely case it could not be taken. */
int write_file_atomic_st(const char *path, const void *data, size_t len, struct stat *st_out);
int write_file_fresh_st(const char *path, const void *data, size_t len, struct stat *st_out);
/* A new file in a directory tree nobody sees yet (a new output tree that
 * is renamed into place once complete, output.c): created and written in
 * place, with no temporary inode or name (~4 us a file less than
 * write_file_fresh on tmpfs: the linkat). path is relative to the
 * directory dirfd (or AT_FDCWD). Fails with EEXIST if path exists; a
 * failed write removes the file. st_out as above. */
int write_file_unseen_at(int dirfd, const char *path, const void *data, size_t len,
                         struct stat *st_out);
/* Tests only: make the writers take the ways other systems need. how: 0
 * as normal, 1 link through /proc/self/fd as if linkat(AT_EMPTY_PATH)
 * had been refused before, 2 a named temp file as if O_TMPFILE were
 * missing, 3 linkat(AT_EMPTY_PATH) fails with EPERM (as for a user
 * before Linux 6.10). Returns whether the writers had gone over to /proc
 * for good (an AT_EMPTY_PATH refusal seen) before this call. */
int util_test_write_mode(int how);
/* Write all len bytes to fd, retrying short writes and EINTR. */
int write_all_fd(int fd, const void *data, size_t len);
int mkdir_p(const char *path);          /* like mkdir -p, mode 0755 */
char *path_join(const char *a, const char *b);
/* The directory part of path, as dirname(3) gives it for a path with no
 * trailing slash: "a/b" for "a/b/c", "/" for "/c", "." for "c". Free it. */
char *path_dir(const char *path);
/* A template for mkdtemp: "$TMPDIR/NAME-XXXXXX" ($TMPDIR unset or empty:
 * /tmp), as mktemp(1) does. Free the result. */
char *tmp_template(const char *name);
/* Is pid a running process (this one included)? One that is gone, or a
 * zombie (killed, not yet reaped), is not: what it left (a lock, a
 * temporary file or tree) will not be finished by it. */
bool pid_alive(long pid);
/* s (the end of a file name: NAME.tmp-PID, .site.new-PID) is a process
 * id (strtol's, all of s, > 0) and that process is not running: what is
 * named so is a leftover nobody will finish. */
bool pid_gone(const char *s);
bool path_exists(const char *path);
bool is_dir(const char *path);
/* Remove a directory tree (no symlink following). */
int rm_rf(const char *path);

/* Strings. */
bool str_starts(const char *s, const char *prefix);
bool str_ends(const char *s, const char *suffix);
/* Sort keys in strcmp's order, for sorting many strings: the first
 * 8 * words bytes of s (at most 4 words) as big-endian integers, bytes past
 * its end 0. Comparing two keys word by word orders the strings as strcmp
 * does as far as the keys reach; str_key_cmp finishes the comparison. */
void str_key(const char *s, uint64_t *key, int words);
/* strcmp(s, t) (its sign) for strings whose str_key(.., words) are p, q:
 * the words first, the bytes past them only when the keys tie and both
 * strings go on past them. */
int str_key_cmp(const uint64_t *p, const char *s, const uint64_t *q, const char *t, int words);
int str_cmp_ptr(const void *a, const void *b);   /* qsort on char** */

/* A clock (CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, ...) in seconds;
 * 0 if it cannot be read. For timing output only. */
double clock_seconds(clockid_t id);

#endif
