/* importer.c - plain-text 公文 and Jekyll posts to Markdown + front matter.
 * See importer.h for what is recognised and the choices made. */
#include "importer.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ------------------------------------------------------------------ */
/* small UTF-8 helpers                                                 */

static uint32_t first_cp(const char *s)
{
    uint32_t cp = 0;
    if (*s) utf8_decode(s, strlen(s), &cp);
    return cp;
}

/* Last code point of s[0..n). */
static uint32_t last_cp(const char *s, size_t n)
{
    if (n == 0) return 0;
    size_t i = n - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    uint32_t cp;
    utf8_decode(s + i, n - i, &cp);
    return cp;
}

static size_t cp_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

/* Byte length of the first `cps` code points of s. */
static size_t cp_prefix(const char *s, size_t cps)
{
    size_t i = 0;
    while (s[i] && cps) {
        i++;
        while (s[i] && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        cps--;
    }
    return i;
}

static bool is_ascii_alnum(uint32_t c) { return c < 0x80 && isalnum((int)c); }

/* Full-width and CJK punctuation (not 〇 々, which are letters/numerals). */
static bool is_cjk_punct(uint32_t c)
{
    return (c >= 0x3001 && c <= 0x3004) || (c >= 0x3008 && c <= 0x3011) ||
           (c >= 0x3014 && c <= 0x301F) || (c >= 0xFF01 && c <= 0xFF0F) ||
           (c >= 0xFF1A && c <= 0xFF20) || (c >= 0xFF3B && c <= 0xFF40) ||
           (c >= 0xFF5B && c <= 0xFF65) || (c >= 0x2018 && c <= 0x201F) ||
           c == 0x2026 || c == 0x2014 || c == 0x2015;
}

/* Spaces other than ' ' and '\t' that documents pasted from Word or PDF
 * carry: treated as a space. Zero-width ones are removed. */
static int odd_space(uint32_t c)
{
    if (c == 0x3000 || c == 0x00A0 || (c >= 0x2000 && c <= 0x200A) || c == 0x202F || c == 0x205F)
        return 1;
    if (c == 0x200B || c == 0xFEFF) return 2;
    return 0;
}

/* Does a line ending with c end a sentence (no hard wrap after it)? */
static bool is_terminal(uint32_t c)
{
    static const uint32_t t[] = {0x3002, 0xFF01, 0xFF1F, 0xFF1B, 0xFF1A, 0x2026, 0xFF09, 0x201D,
                                 0x2019, 0x300B, 0x300D, 0x300F, 0x3011, 0x3015, '.', '!', '?',
                                 ';', ':', ')', '"'};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (c == t[i]) return true;
    return false;
}

static bool has_any(const char *s, const char *const *needles)
{
    for (; *needles; needles++)
        if (strstr(s, *needles)) return true;
    return false;
}

static void str_list_push(char ***list, size_t *n, char *s)
{
    *list = xrealloc(*list, (*n + 2) * sizeof **list);
    (*list)[(*n)++] = s;
    (*list)[*n] = NULL;
}

static void str_list_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++) free(list[i]);
    free(list);
}

/* ------------------------------------------------------------------ */
/* decoding                                                            */

/* GB18030 (or another encoding) -> UTF-8 with iconv(3). Returns 0, or -1
 * with the offset of the first bad byte in *bad. */
static int to_utf8(const char *from, const char *data, size_t len, buf *out, size_t *bad)
{
    iconv_t cd = iconv_open("UTF-8", from);
    if (cd == (iconv_t)-1) { *bad = 0; return -1; }
    char *in = (char *)data;
    size_t inleft = len;
    int rc = 0;
    while (inleft > 0) {
        buf_grow(out, inleft * 2 + 16);
        char *o = out->ptr + out->len;
        size_t oleft = out->cap - out->len - 1;
        size_t r = iconv(cd, &in, &inleft, &o, &oleft);
        out->len = (size_t)(o - out->ptr);
        out->ptr[out->len] = 0;
        if (r == (size_t)-1 && errno != E2BIG) {
            *bad = (size_t)(in - data);
            rc = -1;
            break;
        }
    }
    iconv_close(cd);
    return rc;
}

int import_decode(const char *file, const char *data, size_t len, buf *out,
                  const char **encoding, diag *d)
{
    buf raw = BUF_INIT;
    size_t bad = 0;
    *encoding = "UTF-8";
    if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3)) { data += 3; len -= 3; }
    bool utf16 = len >= 2 && (!memcmp(data, "\xFF\xFE", 2) || !memcmp(data, "\xFE\xFF", 2));
    if (utf16 && to_utf8("UTF-16", data, len, &raw, &bad) == 0) {
        /* Word's "Unicode text": iconv reads the BOM and drops it. */
        *encoding = "UTF-16";
    } else if (!utf16 && utf8_valid(data, len, &bad)) {
        buf_put(&raw, data, len);
    } else if (!utf16 && to_utf8("GB18030", data, len, &raw, &bad) == 0) {
        *encoding = "GB18030";
    } else {
        diag_error(d, file, line_of_offset(data, bad),
                   "not %s (bad byte 0x%02x at offset %zu)", utf16 ? "UTF-16" : "UTF-8 nor GB18030",
                   (unsigned char)data[bad < len ? bad : 0], bad);
        buf_free(&raw);
        return -1;
    }
    /* CRLF and lone CR to LF; NUL bytes cannot be kept in C strings. */
    buf_clear(out);
    bool nul = false;
    for (size_t i = 0; i < raw.len; i++) {
        char c = raw.ptr[i];
        if (c == '\r') {
            buf_putc(out, '\n');
            if (i + 1 < raw.len && raw.ptr[i + 1] == '\n') i++;
        } else if (c == 0) {
            nul = true;
        } else {
            buf_putc(out, c);
        }
    }
    if (!out->ptr) buf_puts(out, "");
    if (nul) diag_warn(d, file, 0, "NUL bytes removed");
    buf_free(&raw);
    return 0;
}

/* ------------------------------------------------------------------ */
/* recognisers                                                         */

/* Chinese numeral value of a run of 〇零一二…九十 (up to 99), or -1. For
 * years, digits are read one by one ("二〇一七"). Returns bytes used. */
static int cn_digit(uint32_t c)
{
    static const uint32_t dg[] = {0x3007, 0x4E00, 0x4E8C, 0x4E09, 0x56DB, 0x4E94,
                                  0x516D, 0x4E03, 0x516B, 0x4E5D};
    if (c == 0x96F6 || c == 0x25CB) return 0;  /* 零 ○ */
    for (int i = 0; i < 10; i++)
        if (c == dg[i]) return i;
    return -1;
}

/* Parse a number at s: ASCII digits, full-width digits, or Chinese
 * numerals; spaces inside are skipped. year: Chinese digits positional.
 * Returns value or -1; *used = bytes. */
static int parse_num(const char *s, bool year, size_t *used)
{
    size_t i = 0, n = strlen(s);
    int v = 0, digits = 0, tens = -1;
    for (;;) {
        while (s[i] == ' ') i++;
        uint32_t c;
        size_t k = utf8_decode(s + i, n - i, &c);
        if (k == 0) break;
        int dv = -1;
        if (c >= '0' && c <= '9') dv = (int)(c - '0');
        else if (c >= 0xFF10 && c <= 0xFF19) dv = (int)(c - 0xFF10);
        else if (!year && c == 0x5341) {        /* 十 */
            tens = digits ? v : 1;
            v = 0; digits = 0;
            i += k;
            continue;
        } else dv = cn_digit(c);
        if (dv < 0) break;
        v = v * 10 + dv;
        if (++digits > 4) return -1;
        i += k;
    }
    *used = i;        /* trailing spaces included: "9 月" */
    if (tens >= 0) return tens * 10 + (digits ? v : 0);
    return digits ? v : -1;
}

static bool valid_ymd(int y, int m, int d)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 2199 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return false;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return false;
    return true;
}

/* "2017-09-29", "2017.9.29", "2017/9/29": bytes used or 0. */
static size_t parse_sep_date(const char *s, char out[11])
{
    int y, m, d, n = 0;
    char s1, s2;
    if (!isdigit((unsigned char)s[0]) || sscanf(s, "%4d%c%2d%c%2d%n", &y, &s1, &m, &s2, &d, &n) != 5 ||
        s1 != s2 || !strchr("-./", s1) || n < 8 || isdigit((unsigned char)s[n]) || !valid_ymd(y, m, d))
        return 0;
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u, (unsigned)d % 100u);
    return (size_t)n;
}

/* Parse "Y年M月D日" (or a numeric date) at s; returns bytes used or 0. */
static size_t parse_cn_date(const char *s, char out[11])
{
    size_t i = 0, k;
    if ((k = parse_sep_date(s, out))) return k;
    int y = parse_num(s, true, &k);
    if (y < 0 || !str_starts(s + (i += k), "年")) return 0;
    i += 3;
    int m = parse_num(s + i, false, &k);
    if (m < 0 || !str_starts(s + (i += k), "月")) return 0;
    i += 3;
    int d = parse_num(s + i, false, &k);
    if (d < 0 || !str_starts(s + (i += k), "日")) return 0;
    i += 3;
    if (!valid_ymd(y, m, d)) return 0;
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u, (unsigned)d % 100u);
    return i;
}

bool import_parse_date(const char *s, bool suffix_ok, char out[11])
{
    while (*s == ' ') s++;
    size_t k = parse_cn_date(s, out);
    if (!k) return false;
    s += k;
    while (*s == ' ') s++;
    return suffix_ok || *s == 0;
}

/* A date followed by 印发 / 发布 (the printing line of a 版记). */
static bool is_print_date(const char *s)
{
    char tmp[11];
    while (*s == ' ') s++;
    size_t k = parse_cn_date(s, tmp);
    if (!k) return false;
    s += k;
    while (*s == ' ') s++;
    return str_starts(s, "印发") || str_starts(s, "发布") || str_starts(s, "印");
}

bool import_is_doc_number(const char *s)
{
    /* PREFIX [〔[(（【] YYYY [〕])）】] N 号, nothing else on the line. */
    static const char *const open[] = {"〔", "[", "(", "（", "【", "〖", "［", NULL};
    static const char *const close[] = {"〕", "]", ")", "）", "】", "〗", "］", NULL};
    size_t n = strlen(s);
    if (n < 8 || n > 90 || !str_ends(s, "号")) return false;
    for (int b = 0; open[b]; b++) {
        const char *p = strstr(s, open[b]);
        if (!p || p == s) continue;
        p += strlen(open[b]);
        int digits = 0;
        while (isdigit((unsigned char)*p)) { p++; digits++; }
        if (digits != 4 || !str_starts(p, close[b])) continue;
        p += strlen(close[b]);
        int nd = 0;
        while (isdigit((unsigned char)*p) || *p == ' ') { if (*p != ' ') nd++; p++; }
        if (nd == 0 || strcmp(p, "号") != 0) continue;
        /* The prefix is an agency abbreviation: no sentence punctuation. */
        if (strstr(s, "，") || strstr(s, "。") || strstr(s, "：")) return false;
        return true;
    }
    return false;
}

/* Category words, matched at the end of a title (longest first). */
static const char *const category_words[] = {
    "经验交流", "实施细则", "实施方案", "工作要点", "工作总结", "会议纪要",
    "通知", "通报", "报告", "决定", "方案", "意见", "办法", "规定", "细则",
    "请示", "批复", "公告", "通告", "决议", "纪要", "规划", "计划", "总结",
    "汇报", "讲话", "函", NULL};

const char *import_category(const char *title)
{
    if (!title) return NULL;
    size_t n = strlen(title);
    while (n > 0 && title[n - 1] == ' ') n--;
    char *t = xstrndup(title, n);
    const char *found = NULL;
    for (int i = 0; category_words[i] && !found; i++)
        if (str_ends(t, category_words[i])) found = category_words[i];
    free(t);
    if (found) {
        /* Collapse specific forms to the category proper. */
        if (!strcmp(found, "实施细则")) return "细则";
        if (!strcmp(found, "实施方案")) return "方案";
        if (!strcmp(found, "工作要点")) return "计划";
        if (!strcmp(found, "工作总结")) return "总结";
        if (!strcmp(found, "会议纪要")) return "纪要";
        if (!strcmp(found, "函") && !str_ends(title, "的函")) return NULL;
        return found;
    }
    if (strstr(title, "经验交流")) return "经验交流";
    return NULL;
}

static import_kind kind_of_category(const char *cat)
{
    static const char *const reports[] = {"报告", "经验交流", "总结", "汇报", "讲话",
                                          "调研", "简报", "新闻", "信息", NULL};
    if (!cat) return IMPORT_AUTO;
    for (int i = 0; reports[i]; i++)
        if (strstr(cat, reports[i])) return IMPORT_REPORT;
    for (int i = 0; category_words[i]; i++)
        if (!strcmp(cat, category_words[i])) return IMPORT_NOTICE;
    return IMPORT_AUTO;
}

char **import_split_list(const char *s, size_t *n)
{
    char **out = NULL;
    *n = 0;
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == ' ') len--;
    if (len >= 3 && !memcmp(s + len - 3, "：", 3)) len -= 3;
    else if (len > 0 && s[len - 1] == ':') len--;
    buf item = BUF_INIT;
    int depth = 0;
    size_t i = 0;
    while (i <= len) {
        uint32_t c = 0;
        size_t k = i < len ? utf8_decode(s + i, len - i, &c) : 1;
        bool sep = i == len || (depth == 0 && (c == 0x3001 || c == 0xFF0C || c == ',' || c == 0xFF1B || c == ';'));
        if (sep) {
            char *t = buf_detach(&item);
            char *a = t, *z = t + strlen(t);
            while (*a == ' ') a++;
            while (z > a && z[-1] == ' ') z--;
            if (z > a) str_list_push(&out, n, xstrndup(a, (size_t)(z - a)));
            free(t);
        } else {
            if (c == 0xFF08 || c == '(' || c == 0x300A || c == 0x3014 || c == 0x3010) depth++;
            if ((c == 0xFF09 || c == ')' || c == 0x300B || c == 0x3015 || c == 0x3011) && depth > 0) depth--;
            buf_put(&item, s + i, k);
        }
        i += k;
    }
    buf_free(&item);
    if (!out) out = xcalloc(1, sizeof *out);
    return out;
}

uint32_t import_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 16777619u; }
    return h;
}

void import_yaml_quote(buf *out, const char *s)
{
    buf_putc(out, '"');
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { buf_putc(out, '\\'); buf_putc(out, c); i++; continue; }
        if (c == '\n') { buf_puts(out, "\\n"); i++; continue; }
        if (c == '\t') { buf_puts(out, "\\t"); i++; continue; }
        if (c < 0x20 || c == 0x7F) { buf_printf(out, "\\x%02x", c); i++; continue; }
        if (c < 0x80) { buf_putc(out, c); i++; continue; }
        uint32_t cp;
        size_t k = utf8_decode(s + i, n - i, &cp);
        /* YAML treats these as line breaks or refuses them unescaped. */
        if (cp == 0x85 || cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF ||
            cp == 0xFFFE || cp == 0xFFFF || (cp >= 0x80 && cp < 0xA0))
            buf_printf(out, "\\u%04x", (unsigned)cp);
        else if (cp == 0xFFFD && k == 1)      /* not UTF-8: never emit raw */
            buf_puts(out, "\\ufffd");
        else
            buf_put(out, s + i, k);
        i += k;
    }
    buf_putc(out, '"');
}

/* ------------------------------------------------------------------ */
/* Markdown escaping                                                   */

/* Append text so that Markdown shows it literally. */
static void md_text(buf *out, const char *s, size_t n, bool in_table)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        char next = i + 1 < n ? s[i + 1] : 0;
        char prev = i > 0 ? s[i - 1] : 0;
        bool esc = false;
        switch (c) {
        case '\\': case '*': case '`': case '[': case ']':
            esc = true; break;
        case '_':
            esc = !(isalnum((unsigned char)prev) && isalnum((unsigned char)next)); break;
        case '<':
            esc = isalpha((unsigned char)next) || next == '/' || next == '!' || next == '?'; break;
        case '&':
            esc = isalpha((unsigned char)next) || next == '#'; break;
        case '~':
            esc = next == '~' || prev == '~'; break;
        case '|':
            esc = in_table; break;
        default: break;
        }
        if (esc) buf_putc(out, '\\');
        buf_putc(out, c);
    }
}

/* Escape what would start a block construct at the beginning of a
 * paragraph, then the text. */
static void md_para(buf *out, const char *s)
{
    if (strchr("#>-+=~", *s) && *s) buf_putc(out, '\\');
    else if (isdigit((unsigned char)*s)) {
        size_t k = 0;
        while (isdigit((unsigned char)s[k])) k++;
        if (k <= 9 && (s[k] == '.' || s[k] == ')') && (s[k + 1] == ' ' || s[k + 1] == 0)) {
            md_text(out, s, k, false);
            buf_putc(out, '\\');
            md_text(out, s + k, strlen(s + k), false);
            return;
        }
    }
    md_text(out, s, strlen(s), false);
}

/* ------------------------------------------------------------------ */
/* plain text: lines                                                   */

enum role {
    R_BODY, R_USED, R_TABLE, R_DATE, R_SIGN, R_RECIP, R_ATT_HEAD, R_ATT_ITEM, R_CLOSING
};

typedef struct {
    char *text;     /* normalised */
    char *left;     /* for "ISSUER<gap>DATE": the two halves, else NULL */
    char *right;
    int lineno;
    bool blank;
    enum role role;
} tline;

typedef struct {
    tline *v;
    size_t n;
} tlines;

/* Normalise one line: odd spaces to ' ', trim, collapse runs of spaces
 * (remembering the widest gap), drop spaces next to CJK punctuation.
 * Tabs are kept when the line is a table row (has a tab between text). */
static void normalise_line(tline *L, const char *s, size_t n)
{
    buf a = BUF_INIT;
    bool table = false;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t k = utf8_decode(s + i, n - i, &c);
        int os = odd_space(c);
        if (os == 1) buf_putc(&a, ' ');
        else if (os == 2) { /* drop */ }
        else if (c == '\t') { buf_putc(&a, '\t'); table = true; }
        else if (c < 0x20 || c == 0x7F) buf_putc(&a, ' ');
        else buf_put(&a, s + i, k);
        i += k;
    }
    const char *t = buf_cstr(&a);
    /* A table row needs a tab after some text. */
    if (table) {
        const char *tab = strchr(t, '\t');
        const char *p = t;
        while (p < tab && *p == ' ') p++;
        table = p < tab || strchr(tab + 1, '\t');
    }
    buf o = BUF_INIT;
    size_t len = a.len, i = 0;
    while (i < len && (t[i] == ' ' || (!table && t[i] == '\t'))) i++;
    while (len > i && (t[len - 1] == ' ' || (!table && t[len - 1] == '\t'))) len--;
    if (table) {
        /* Trim each cell, keep the tabs. */
        while (len > i && (t[len - 1] == ' ')) len--;
        size_t start = i;
        for (size_t j = i; j <= len; j++) {
            if (j == len || t[j] == '\t') {
                size_t a0 = start, z = j;
                while (a0 < z && t[a0] == ' ') a0++;
                while (z > a0 && t[z - 1] == ' ') z--;
                for (size_t q = a0; q < z; q++) {
                    if (t[q] == ' ' && q + 1 < z && t[q + 1] == ' ') continue;
                    buf_putc(&o, t[q]);
                }
                if (j < len) buf_putc(&o, '\t');
                start = j + 1;
            }
        }
        L->text = buf_detach(&o);
        L->role = R_TABLE;
        buf_free(&a);
        return;
    }
    size_t gap_at = 0, gap_len = 0;
    for (size_t j = i; j < len; j++) {
        if (t[j] == ' ' || t[j] == '\t') {
            size_t run = j;
            while (run < len && (t[run] == ' ' || t[run] == '\t')) run++;
            if (run - j >= 2 && run - j > gap_len) { gap_at = o.len; gap_len = run - j; }
            j = run - 1;
            /* Drop the space when a neighbour is CJK punctuation. */
            uint32_t before = last_cp(o.ptr ? o.ptr : "", o.len), after = first_cp(t + run);
            if (!is_cjk_punct(before) && !is_cjk_punct(after)) buf_putc(&o, ' ');
            continue;
        }
        buf_putc(&o, t[j]);
    }
    L->text = buf_detach(&o);
    if (gap_len >= 3 && gap_at > 0) {
        L->left = xstrndup(L->text, gap_at);
        const char *r = L->text + gap_at;
        while (*r == ' ') r++;
        L->right = xstrdup(r);
    }
    buf_free(&a);
}

static void split_lines(const char *text, tlines *ls)
{
    ls->v = NULL;
    ls->n = 0;
    size_t cap = 0;
    const char *p = text;
    int lineno = 1;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (ls->n == cap) { cap = cap ? cap * 2 : 64; ls->v = xrealloc(ls->v, cap * sizeof *ls->v); }
        tline *L = &ls->v[ls->n++];
        memset(L, 0, sizeof *L);
        L->lineno = lineno++;
        normalise_line(L, p, n);
        L->blank = L->text[0] == 0 || (L->role == R_TABLE && strspn(L->text, "\t") == strlen(L->text));
        if (L->blank) L->role = R_BODY;
        if (!e) break;
        p = e + 1;
    }
}

static void free_lines(tlines *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        free(ls->v[i].text);
        free(ls->v[i].left);
        free(ls->v[i].right);
    }
    free(ls->v);
}

/* Index of the next non-blank line after i, or ls->n. */
static size_t next_nb(const tlines *ls, size_t i)
{
    for (i++; i < ls->n; i++)
        if (!ls->v[i].blank) return i;
    return ls->n;
}

static size_t prev_nb(const tlines *ls, size_t i)
{
    while (i > 0) {
        i--;
        if (!ls->v[i].blank) return i;
    }
    return ls->n;
}

/* ---- line shapes ---- */

/* "一、" style: returns bytes of the marker or 0. */
static size_t h1_marker(const char *s)
{
    size_t i = 0, n = strlen(s);
    int count = 0;
    for (;;) {
        uint32_t c;
        size_t k = utf8_decode(s + i, n - i, &c);
        if (!k || (cn_digit(c) <= 0 && c != 0x5341)) break;  /* 一..九, 十 */
        i += k;
        count++;
    }
    if (count == 0 || count > 3) return 0;
    if (str_starts(s + i, "、")) return i + 3;
    return 0;
}

/* "一是": bytes of the marker or 0. */
static size_t h1_marker_shi(const char *s)
{
    uint32_t c;
    size_t k = utf8_decode(s, strlen(s), &c);
    if (!k || cn_digit(c) <= 0 || !str_starts(s + k, "是")) return 0;
    return k + 3;
}

/* "（一）" or "(一)": bytes of the marker or 0. */
static size_t h2_marker(const char *s)
{
    size_t i;
    if (str_starts(s, "（")) i = 3;
    else if (*s == '(') i = 1;
    else return 0;
    size_t n = strlen(s), start = i;
    for (;;) {
        uint32_t c;
        size_t k = utf8_decode(s + i, n - i, &c);
        if (!k || (cn_digit(c) <= 0 && c != 0x5341)) break;
        i += k;
    }
    if (i == start || i - start > 9) return 0;
    if (str_starts(s + i, "）")) return i + 3;
    if (s[i] == ')') return i + 1;
    return 0;
}

/* "1." "1．" (dot, *dot = true) or "1、": bytes of the marker (with a
 * following space) or 0. The number goes to *num. */
static size_t item_marker(const char *s, bool *dot, int *num)
{
    size_t i = 0;
    while (isdigit((unsigned char)s[i])) i++;
    if (i == 0 || i > 3) return 0;
    *num = atoi(s);
    size_t m;
    if (s[i] == '.') { *dot = true; m = i + 1; }
    else if (str_starts(s + i, "．")) { *dot = true; m = i + 3; }
    else if (str_starts(s + i, "、")) { *dot = false; m = i + 3; }
    else return 0;
    if (isdigit((unsigned char)s[m])) return 0;      /* 1.3亿元 */
    while (s[m] == ' ') m++;
    if (!s[m]) return 0;
    return m;
}

/* "（1）" or "(1)". */
static bool paren_num_marker(const char *s)
{
    size_t i;
    if (str_starts(s, "（")) i = 3;
    else if (*s == '(') i = 1;
    else return false;
    size_t d = i;
    while (isdigit((unsigned char)s[i])) i++;
    return i > d && i - d <= 3 && (s[i] == ')' || str_starts(s + i, "）"));
}

static const char *const labels[] = {
    "编者按", "联系人", "联系电话", "电话：", "电子邮箱", "邮箱：", "传真：", "地址：",
    "邮编：", "附件", "抄送", "抄报", "送：", "发：", "分送", "主题词", "印发：", "签发人", NULL};

static bool is_label(const char *s)
{
    for (int i = 0; labels[i]; i++)
        if (str_starts(s, labels[i])) return true;
    return false;
}

static bool starts_structure(const char *s)
{
    bool dot;
    int num;
    char tmp[11];
    return h1_marker(s) || h2_marker(s) || item_marker(s, &dot, &num) || is_label(s) ||
           import_parse_date(s, true, tmp) || paren_num_marker(s);
}

static bool has_sentence_punct(const char *s)
{
    static const char *const p[] = {"。", "；", "：", "！", "？", ";", ":", NULL};
    return has_any(s, p);
}

/* A short line without sentence punctuation: a headline, heading or
 * issuer. */
static bool is_short_plain(const char *s, size_t max_cps)
{
    size_t n = strlen(s);
    return n && cp_count(s) <= max_cps && !has_sentence_punct(s) && !is_terminal(last_cp(s, n)) &&
           last_cp(s, n) != 0xFF0C && last_cp(s, n) != 0x3001;
}

static bool is_closing_line(const tline *L)
{
    static const char *const starts[] = {"抄送", "抄报", "送：", "发：", "分送", "主题词", "印发：", NULL};
    for (int i = 0; starts[i]; i++)
        if (str_starts(L->text, starts[i])) return true;
    if (L->right && is_print_date(L->right)) return true;
    return is_print_date(L->text);
}

/* ------------------------------------------------------------------ */
/* plain text: front matter recognisers                                */

typedef struct {
    const char *file;
    diag *d;
    import_doc *doc;
    tlines ls;
    size_t title_end;        /* index after the last title line, 0 if none */
    char *masthead_issuer;   /* from "XXX文件" */
    char *title_issuer;      /* from "XXX 关于…" */
} pctx;

static void find_doc_number(pctx *c)
{
    size_t seen = 0;
    for (size_t i = 0; i < c->ls.n && seen < 12; i++) {
        tline *L = &c->ls.v[i];
        if (L->blank || L->role != R_BODY) continue;
        seen++;
        if (h1_marker(L->text)) return;
        const char *t = L->text;
        /* "签发人：…" may share the line: keep the number part. */
        if (import_is_doc_number(t)) {
            c->doc->doc_number = xstrdup(t);
            L->role = R_USED;
            return;
        }
        if (L->left && L->right && import_is_doc_number(L->left)) {
            c->doc->doc_number = xstrdup(L->left);
            return;   /* the line stays in the body: it holds more */
        }
    }
}

/* Join title pieces; a space only between ASCII letters/digits. */
static void join_piece(buf *b, const char *s)
{
    if (b->len && is_ascii_alnum(last_cp(b->ptr, b->len)) && is_ascii_alnum(first_cp(s)))
        buf_putc(b, ' ');
    buf_puts(b, s);
}

/* "关于…的通知" possibly over several lines, possibly prefixed by the
 * issuer and a space. */
static bool find_guanyu_title(pctx *c)
{
    size_t seen = 0;
    for (size_t i = 0; i < c->ls.n && seen < 15; i++) {
        tline *L = &c->ls.v[i];
        if (L->blank || L->role != R_BODY) continue;
        seen++;
        if (h1_marker(L->text)) return false;
        const char *t = L->text, *g = strstr(t, "关于");
        if (!g || str_ends(t, "。") || str_ends(t, "：")) continue;
        size_t prefix = (size_t)(g - t);
        char *pre = NULL;
        if (prefix) {
            /* An issuer prefix ends with a space and has no punctuation. */
            if (t[prefix - 1] != ' ' || prefix > 90) continue;
            pre = xstrndup(t, prefix - 1);
            if (!is_short_plain(pre, 30)) { free(pre); continue; }
        }
        /* Join up to 4 lines until the text ends with a category word. */
        buf b = BUF_INIT;
        buf_puts(&b, g);
        size_t last = i, j = i;
        for (int pieces = 1; !import_category(b.ptr) && pieces < 4; pieces++) {
            j = next_nb(&c->ls, j);
            if (j >= c->ls.n || c->ls.v[j].role != R_BODY) break;
            const char *u = c->ls.v[j].text;
            if (starts_structure(u) || str_ends(u, "：") || str_ends(u, "。") || cp_count(u) > 40) break;
            join_piece(&b, u);
            last = j;
        }
        if (!import_category(b.ptr)) {
            /* No category word: a single short unpunctuated line still is
             * a title; a sentence that starts with 关于 is not. */
            buf_free(&b);
            if (!is_short_plain(g, 40) || strstr(g, "，")) { free(pre); continue; }
            buf_puts(&b, g);
            last = i;
        }
        for (size_t k = i; k <= last; k++)
            if (!c->ls.v[k].blank) c->ls.v[k].role = R_USED;
        c->doc->title = buf_detach(&b);
        c->title_end = last + 1;
        free(c->title_issuer);
        c->title_issuer = pre;
        return true;
    }
    return false;
}

/* Headline: 1-3 short unpunctuated lines at the top (seed 000). */
static bool find_headline(pctx *c)
{
    size_t i = c->ls.n && !c->ls.v[0].blank ? 0 : next_nb(&c->ls, 0);
    char tmp[11];
    /* Skip a masthead ("XXX文件"), a doc number, and an issuer/date line. */
    while (i < c->ls.n && (c->ls.v[i].role == R_USED || str_ends(c->ls.v[i].text, "文件") ||
                           (c->ls.v[i].right && import_parse_date(c->ls.v[i].right, true, tmp))))
        i = next_nb(&c->ls, i);
    size_t first = i, last = c->ls.n;
    int count = 0;
    while (i < c->ls.n && count < 3) {
        tline *L = &c->ls.v[i];
        if (L->role != R_BODY || !is_short_plain(L->text, 30) || strstr(L->text, "，") ||
            starts_structure(L->text) || import_parse_date(L->text, true, tmp))
            break;
        last = i;
        count++;
        i = next_nb(&c->ls, i);
    }
    /* Something must follow the headline. */
    if (count == 0 || i >= c->ls.n) return false;
    buf b = BUF_INIT;
    for (size_t k = first; k <= last; k++) {
        if (c->ls.v[k].blank) continue;
        if (b.len) buf_putc(&b, ' ');
        buf_puts(&b, c->ls.v[k].text);
        c->ls.v[k].role = R_USED;
    }
    c->doc->title = buf_detach(&b);
    c->title_end = last + 1;
    return true;
}

static void find_title(pctx *c)
{
    for (size_t i = 0; i < c->ls.n; i++) {
        tline *L = &c->ls.v[i];
        if (!L->blank && L->role == R_BODY && str_ends(L->text, "文件") && cp_count(L->text) <= 30) {
            c->masthead_issuer = xstrndup(L->text, strlen(L->text) - strlen("文件"));
            break;
        }
    }
    if (find_guanyu_title(c) || find_headline(c)) return;
    size_t i = c->ls.n && !c->ls.v[0].blank ? 0 : next_nb(&c->ls, 0);
    int lineno = i < c->ls.n ? c->ls.v[i].lineno : 1;
    diag_warn(c->d, c->file, lineno, "no title found; using the first line");
    if (i < c->ls.n) {
        const char *t = c->ls.v[i].text;
        c->doc->title = xstrndup(t, cp_prefix(t, 40));
    } else {
        c->doc->title = xstrdup("(untitled)");
    }
}

static void find_recipients(pctx *c)
{
    size_t i = c->title_end ? c->title_end - 1 : (size_t)-1;
    for (int tries = 0; tries < 3; tries++) {
        i = next_nb(&c->ls, i);
        if (i >= c->ls.n) return;
        tline *L = &c->ls.v[i];
        if (L->role != R_BODY) continue;
        const char *t = L->text;
        if ((str_ends(t, "：") || str_ends(t, ":")) && !strstr(t, "。") && !is_label(t) &&
            !h1_marker(t) && cp_count(t) <= 200) {
            c->doc->recipients = import_split_list(t, &c->doc->nrecipients);
            L->role = R_RECIP;
            return;
        }
        if (c->title_end) return;    /* 主送 directly follows the title */
    }
}

/* The signature: issuer line + date line (best), "ISSUER<gap>DATE" on one
 * line, or a printing date "…印发" as a last resort. The first of the
 * best kind wins: attachments after the signature carry their own dates. */
static void find_signature(pctx *c)
{
    int best = -1;
    size_t best_i = 0, best_issuer = c->ls.n;
    char date[11] = "", tmp[11];
    const char *issuer_text = NULL;
    for (size_t i = 0; i < c->ls.n; i++) {
        tline *L = &c->ls.v[i];
        if (L->blank || (L->role != R_BODY)) continue;
        int prio = -1;
        size_t iss = c->ls.n;
        const char *it = NULL;
        if (import_parse_date(L->text, false, tmp)) {
            prio = 2;
            size_t p = prev_nb(&c->ls, i);
            if (p < c->ls.n && c->ls.v[p].role == R_BODY && is_short_plain(c->ls.v[p].text, 30) &&
                !starts_structure(c->ls.v[p].text)) {
                iss = p;
                it = c->ls.v[p].text;
            }
        } else if (L->left && L->right && import_parse_date(L->right, false, tmp) &&
                   is_short_plain(L->left, 30)) {
            prio = 1;
            it = L->left;
        } else if (L->left && L->right && is_print_date(L->right) && is_short_plain(L->left, 30)) {
            prio = 0;
            import_parse_date(L->right, true, tmp);
            it = L->left;
        } else if (is_print_date(L->text)) {
            prio = 0;
            import_parse_date(L->text, true, tmp);
        }
        if (prio > best) {
            best = prio;
            best_i = i;
            best_issuer = iss;
            issuer_text = it;
            memcpy(date, tmp, sizeof date);
        }
    }
    if (best < 0) return;
    c->doc->date = xstrdup(date);
    if (issuer_text) c->doc->issuer = xstrdup(issuer_text);
    if (best >= 1) c->ls.v[best_i].role = R_DATE;
    if (best_issuer < c->ls.n) c->ls.v[best_issuer].role = R_SIGN;
}

/* "附件：1. …" and its continuation lines "2. …". */
static void find_attachments(pctx *c)
{
    for (size_t i = 0; i < c->ls.n; i++) {
        tline *L = &c->ls.v[i];
        if (L->blank || L->role != R_BODY) continue;
        const char *t = L->text;
        size_t k;
        if (str_starts(t, "附件：")) k = strlen("附件：");
        else if (str_starts(t, "附件:")) k = strlen("附件:");
        else continue;
        while (t[k] == ' ') k++;
        bool dot;
        int num = 0;
        L->role = R_ATT_HEAD;
        size_t m = item_marker(t + k, &dot, &num);
        if (t[k] && !m) {           /* a single attachment */
            str_list_push(&c->doc->attachments, &c->doc->nattachments, xstrdup(t + k));
            return;
        }
        if (m) str_list_push(&c->doc->attachments, &c->doc->nattachments, xstrdup(t + k + m));
        size_t j = i;
        for (;;) {
            size_t nj = next_nb(&c->ls, j);
            if (nj >= c->ls.n || c->ls.v[nj].role != R_BODY) break;
            int n2 = 0;
            size_t m2 = item_marker(c->ls.v[nj].text, &dot, &n2);
            if (!m2 || n2 != num + 1 || strstr(c->ls.v[nj].text, "。")) break;
            str_list_push(&c->doc->attachments, &c->doc->nattachments,
                          xstrdup(c->ls.v[nj].text + m2));
            c->ls.v[nj].role = R_ATT_ITEM;
            num = n2;
            j = nj;
        }
        return;
    }
}

static void find_closing(pctx *c)
{
    for (size_t i = 0; i < c->ls.n; i++) {
        tline *L = &c->ls.v[i];
        if (!L->blank && (L->role == R_BODY || L->role == R_DATE) && is_closing_line(L))
            L->role = R_CLOSING;
    }
}

/* Join hard-wrapped lines: a long line ending mid-sentence continues on
 * the next non-blank line unless that one starts a new structure. */
static void join_wraps(pctx *c)
{
    for (size_t i = 0; i < c->ls.n; i++) {
        tline *A = &c->ls.v[i];
        if (A->blank || A->role != R_BODY) continue;
        for (;;) {
            const char *t = A->text;
            size_t n = strlen(t);
            if (cp_count(t) < 20 || is_terminal(last_cp(t, n)) || h1_marker(t) || is_label(t))
                break;
            if (h2_marker(t) && !has_sentence_punct(t) && !strstr(t, "，")) break;
            size_t j = i, blanks = 0;
            for (j = i + 1; j < c->ls.n && c->ls.v[j].blank; j++) blanks++;
            if (j >= c->ls.n || blanks > 2) break;
            tline *B = &c->ls.v[j];
            if (B->role != R_BODY || starts_structure(B->text) || B->right) break;
            buf b = BUF_INIT;
            buf_puts(&b, A->text);
            join_piece(&b, B->text);
            free(A->text);
            A->text = buf_detach(&b);
            B->role = R_USED;
            B->blank = true;   /* consumed */
        }
    }
}

/* ------------------------------------------------------------------ */
/* plain text: body                                                    */

typedef struct {
    buf out;
    int last_level;          /* of the last heading emitted, 0 = none */
    int shift;               /* 1 after an annex title: its 一、 go one level down */
    bool closing_started;
} emitter;

static void block_start(emitter *e)
{
    if (e->out.len) buf_puts(&e->out, "\n\n");
}

static void emit_para(emitter *e, const char *text)
{
    block_start(e);
    md_para(&e->out, text);
}

static void emit_heading(emitter *e, int level, const char *text)
{
    block_start(e);
    for (int i = 0; i < level; i++) buf_putc(&e->out, '#');
    buf_putc(&e->out, ' ');
    md_text(&e->out, text, strlen(text), false);
    e->last_level = level;
}

/* "**（一）lead**。rest": the lead up to the first 。 in bold. The 。 stays
 * outside the ** so that CommonMark sees a closing delimiter. */
static void emit_runin(emitter *e, const char *text)
{
    const char *dot = strstr(text, "。");
    if (!dot || dot == text) { emit_para(e, text); return; }
    block_start(e);
    buf_puts(&e->out, "**");
    md_text(&e->out, text, (size_t)(dot - text), false);
    buf_puts(&e->out, "**");
    md_text(&e->out, dot, strlen(dot), false);
}

static void emit_table(emitter *e, tlines *ls, size_t *pi)
{
    size_t i = *pi, end = i;
    size_t cols = 0;
    while (end < ls->n && ls->v[end].role == R_TABLE && !ls->v[end].blank) {
        size_t nc = 1;
        for (const char *p = ls->v[end].text; *p; p++) nc += *p == '\t';
        if (nc > cols) cols = nc;
        end++;
    }
    block_start(e);
    for (size_t r = i; r < end; r++) {
        const char *p = ls->v[r].text;
        buf_putc(&e->out, '|');
        for (size_t col = 0; col < cols; col++) {
            const char *q = p ? strchr(p, '\t') : NULL;
            size_t n = p ? (q ? (size_t)(q - p) : strlen(p)) : 0;
            buf_putc(&e->out, ' ');
            if (n) { md_text(&e->out, p, n, true); buf_putc(&e->out, ' '); }
            buf_putc(&e->out, '|');
            p = q ? q + 1 : NULL;
        }
        buf_putc(&e->out, '\n');
        if (r == i) {
            buf_putc(&e->out, '|');
            for (size_t col = 0; col < cols; col++) buf_puts(&e->out, "---|");
            buf_putc(&e->out, '\n');
        }
    }
    e->out.len--;                   /* no trailing newline inside a block */
    e->out.ptr[e->out.len] = 0;
    *pi = end - 1;
}

static void emit_line(emitter *e, tlines *ls, size_t *pi)
{
    tline *L = &ls->v[*pi];
    const char *t = L->text;
    bool dot;
    int num;
    size_t m;
    switch (L->role) {
    case R_USED: return;
    case R_SIGN: case R_RECIP: emit_para(e, t); return;
    case R_TABLE: emit_table(e, ls, pi); return;
    case R_CLOSING:
        if (!e->closing_started) { block_start(e); buf_puts(&e->out, "* * *"); e->closing_started = true; }
        /* fall through */
    case R_DATE:
        if (L->left && L->right) {
            char *s = xasprintf("%s %s", L->left, L->right);
            emit_para(e, s);
            free(s);
        } else {
            emit_para(e, t);
        }
        return;
    case R_ATT_HEAD: {
        size_t k = str_starts(t, "附件：") ? strlen("附件：") : strlen("附件:");
        while (t[k] == ' ') k++;
        m = item_marker(t + k, &dot, &num);
        if (!m) { emit_para(e, t); return; }
        block_start(e);
        md_text(&e->out, t, k, false);
        buf_puts(&e->out, "\n\n");
        buf_printf(&e->out, "%d. ", num);
        md_text(&e->out, t + k + m, strlen(t + k + m), false);
        return;
    }
    case R_ATT_ITEM:
        /* Continues the list started by the head: same block, tight. */
        m = item_marker(t, &dot, &num);
        buf_printf(&e->out, "\n%d. ", num);
        md_text(&e->out, t + m, strlen(t + m), false);
        return;
    default: break;
    }
    if (str_starts(t, "编者按：")) {
        block_start(e);
        buf_puts(&e->out, "**编者按**：");
        md_text(&e->out, t + strlen("编者按："), strlen(t + strlen("编者按：")), false);
        return;
    }
    if ((m = h1_marker(t))) {
        const char *dotp = strstr(t, "。");
        if (dotp && dotp[3]) emit_runin(e, t);
        else emit_heading(e, 2 + e->shift, t);
        return;
    }
    if ((m = h2_marker(t))) {
        const char *dotp = strstr(t, "。");
        if (cp_count(t) <= 40 && !(dotp && dotp[3])) emit_heading(e, 3 + e->shift, t);
        else emit_runin(e, t);
        return;
    }
    if (h1_marker_shi(t) && strstr(t, "。")) {
        /* "一是深入摸底，精确测算。按照…": the lead in bold. */
        emit_runin(e, t);
        return;
    }
    if ((m = item_marker(t, &dot, &num))) {
        if (is_short_plain(t, 30) && !has_sentence_punct(t)) {
            /* A numbered heading ("1、 提高站位，统一思想精谋划"). */
            int level = e->last_level ? e->last_level + 1 : 2;
            if (level > 4) level = 4;
            int keep = e->last_level;
            /* "1、 xxx": the space after 、 goes, as next to any CJK
             * punctuation; the number stays as written. */
            char *h = dot ? xstrdup(t) : xasprintf("%.*s、%s", (int)strspn(t, "0123456789"), t, t + m);
            emit_heading(e, level, h);
            e->last_level = keep ? keep : level;
            free(h);
            return;
        }
        if (dot) {
            block_start(e);
            buf_printf(&e->out, "%d. ", num);
            md_text(&e->out, t + m, strlen(t + m), false);
            return;
        }
        emit_para(e, t);
        return;
    }
    if (str_starts(t, "附件") && cp_count(t) <= 6 && !strstr(t, "：")) {
        /* An annex header ("附件 2") before the annex itself. */
        emit_heading(e, 2, t);
        e->shift = 1;
        return;
    }
    if (cp_count(t) <= 80 && import_category(t) && !has_sentence_punct(t) && !strstr(t, "，")) {
        /* A document title inside the body (an annex's own title). */
        emit_heading(e, 2, t);
        e->shift = 1;
        return;
    }
    size_t nx = next_nb(ls, *pi);
    if (nx < ls->n && ls->v[nx].role == R_TABLE && is_short_plain(t, 40)) {
        /* A table's caption. */
        block_start(e);
        buf_puts(&e->out, "**");
        md_text(&e->out, t, strlen(t), false);
        buf_puts(&e->out, "**");
        return;
    }
    emit_para(e, t);
}

static void convert_plain(pctx *c)
{
    find_doc_number(c);
    find_title(c);
    find_recipients(c);
    find_signature(c);
    find_attachments(c);
    find_closing(c);
    join_wraps(c);
    if (!c->doc->issuer && c->masthead_issuer) c->doc->issuer = xstrdup(c->masthead_issuer);
    if (!c->doc->issuer && c->title_issuer) c->doc->issuer = xstrdup(c->title_issuer);

    emitter e = {BUF_INIT, 0, 0, false};
    for (size_t i = 0; i < c->ls.n; i++) {
        if (c->ls.v[i].blank && c->ls.v[i].role != R_TABLE) continue;
        emit_line(&e, &c->ls, &i);
    }
    buf_putc(&e.out, '\n');
    c->doc->body = buf_detach(&e.out);
}

/* ------------------------------------------------------------------ */
/* Jekyll                                                              */

/* Length of the front matter block ("---\n...\n---\n") or 0. */
static size_t jekyll_fm_end(const char *text, size_t *yaml_len)
{
    if (!str_starts(text, "---\n")) return 0;
    const char *p = text + 4;
    for (;;) {
        if (str_starts(p, "---\n") || !strcmp(p, "---") || str_starts(p, "...\n") || !strcmp(p, "...")) {
            *yaml_len = (size_t)(p - text) - 4;
            const char *e = strchr(p, '\n');
            return e ? (size_t)(e + 1 - text) : strlen(text);
        }
        const char *e = strchr(p, '\n');
        if (!e) return 0;
        p = e + 1;
    }
}

/* Words of a Jekyll list given as a string ("a b") or a sequence. */
static void yaml_words(yaml_document_t *ydoc, yaml_node_t *v, char ***list, size_t *n, bool split)
{
    if (v->type == YAML_SCALAR_NODE) {
        const char *s = (const char *)v->data.scalar.value;
        if (!split) { if (*s) str_list_push(list, n, xstrdup(s)); return; }
        while (*s) {
            while (*s == ' ' || *s == ',') s++;
            size_t k = strcspn(s, " ,");
            if (k) str_list_push(list, n, xstrndup(s, k));
            s += k;
        }
    } else if (v->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            yaml_node_t *x = yaml_document_get_node(ydoc, *it);
            if (x && x->type == YAML_SCALAR_NODE && x->data.scalar.value[0])
                str_list_push(list, n, xstrdup((const char *)x->data.scalar.value));
        }
    }
}

static bool jekyll_date_ok(const char *s)
{
    char tmp[11];
    if (strlen(s) < 10) return false;
    memcpy(tmp, s, 10);
    tmp[10] = 0;
    int y, m, d;
    char extra;
    if (sscanf(tmp, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3) return false;
    return valid_ymd(y, m, d) && (s[10] == 0 || s[10] == ' ' || s[10] == 'T');
}

static int jekyll_front_matter(pctx *c, const char *yaml, size_t len)
{
    yaml_parser_t p;
    yaml_document_t ydoc;
    if (!yaml_parser_initialize(&p)) { diag_error(c->d, c->file, 1, "libyaml init failed"); return -1; }
    yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&p, &ydoc)) {
        diag_warn(c->d, c->file, (int)p.problem_mark.line + 2, "front matter is not valid YAML (%s); "
                  "importing the file as plain text", p.problem ? p.problem : "?");
        yaml_parser_delete(&p);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&ydoc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        diag_warn(c->d, c->file, 1, "front matter is not a YAML mapping; importing as plain text");
        yaml_document_delete(&ydoc);
        yaml_parser_delete(&p);
        return -1;
    }
    char **cats = NULL;
    size_t ncats = 0;
    import_doc *doc = c->doc;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(&ydoc, pr->key);
        yaml_node_t *v = yaml_document_get_node(&ydoc, pr->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE) continue;
        const char *key = (const char *)k->data.scalar.value;
        int line = (int)k->start_mark.line + 2;
        const char *sv = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : NULL;
        if (!strcmp(key, "title") && sv) {
            free(doc->title);
            doc->title = xstrdup(sv);
        } else if (!strcmp(key, "date") && sv) {
            if (jekyll_date_ok(sv)) { free(doc->date); doc->date = xstrdup(sv); }
            else diag_warn(c->d, c->file, line, "date '%s' is not YYYY-MM-DD[ HH:MM:SS +ZZZZ]; ignored", sv);
        } else if (!strcmp(key, "categories") || !strcmp(key, "category")) {
            yaml_words(&ydoc, v, &cats, &ncats, true);
        } else if (!strcmp(key, "tags") || !strcmp(key, "tag")) {
            yaml_words(&ydoc, v, &doc->tags, &doc->ntags, v->type == YAML_SCALAR_NODE);
        } else if (!strcmp(key, "layout") && sv) {
            if (strcmp(sv, "post") != 0) { free(doc->layout); doc->layout = xstrdup(sv); }
        } else if (!strcmp(key, "published") && sv) {
            /* Jekyll's way to hold a post back is our draft flag. */
            if (!strcmp(sv, "false")) doc->draft = true;
        } else if (!strcmp(key, "draft") && sv) {
            doc->draft = !strcmp(sv, "true");
        } else if (sv) {
            if (!doc->extra) doc->extra = value_map();
            bool plain = v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            if (plain && (!strcmp(sv, "true") || !strcmp(sv, "false")))
                value_set(doc->extra, key, value_bool(!strcmp(sv, "true")));
            else
                value_set(doc->extra, key, value_str(sv));
        } else if (v->type == YAML_SEQUENCE_NODE) {
            char **l = NULL;
            size_t n = 0;
            yaml_words(&ydoc, v, &l, &n, false);
            value *lv = value_list();
            for (size_t i = 0; i < n; i++) value_push(lv, value_str(l[i]));
            str_list_free(l, n);
            if (!doc->extra) doc->extra = value_map();
            value_set(doc->extra, key, lv);
        } else {
            diag_warn(c->d, c->file, line, "front matter key '%s' is a mapping; not imported", key);
        }
    }
    if (ncats) {
        doc->category = xstrdup(cats[0]);
        for (size_t i = 1; i < ncats; i++) str_list_push(&doc->tags, &doc->ntags, xstrdup(cats[i]));
    }
    str_list_free(cats, ncats);
    yaml_document_delete(&ydoc);
    yaml_parser_delete(&p);
    return 0;
}

/* HTML in a Jekyll body to Markdown. */
typedef struct {
    pctx *c;
    const char *text;        /* the whole decoded file, for line numbers */
    buf out;                 /* finished blocks */
    buf cur;                 /* the block being built */
    int depth;               /* open HTML block elements */
    const char *prefix;      /* "## ", "- ", "3. " for the block in cur */
    char prefix_buf[16];
    int list_kind[16];       /* 0 ul, 1 ol */
    int list_no[16];
    int nlists;
    char *href[8];
    int nhref;
    char *warned;            /* "|tag|tag|" already warned about */
    buf pending;             /* short unpunctuated <p> lines: a subhead */
} hconv;

/* A newspaper subhead: a short <p> without any punctuation. */
static bool is_subhead(const char *s, size_t n)
{
    size_t cps = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t k = utf8_decode(s + i, n - i, &c);
        if (is_cjk_punct(c) || (c < 0x80 && ispunct((int)c))) return false;
        i += k;
        cps++;
    }
    return cps > 0 && cps <= 24;
}

static void h_put(hconv *h, const char *s, size_t n)
{
    if (h->out.len) buf_puts(&h->out, "\n\n");
    buf_put(&h->out, s, n);
}

/* Pending subhead lines: a heading when followed by more text. */
static void h_pending(hconv *h, bool as_heading)
{
    if (!h->pending.len) return;
    if (as_heading) {
        char *t = xasprintf("## %s", h->pending.ptr);
        for (char *q = t; *q; q++)
            if (*q == '\n') *q = ' ';
        h_put(h, t, strlen(t));
        free(t);
    } else {
        /* Nothing followed: they were paragraphs after all. */
        const char *p = h->pending.ptr;
        while (*p) {
            const char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            h_put(h, p, n);
            p += n + (e != NULL);
        }
    }
    buf_clear(&h->pending);
}

static void h_block(hconv *h, const char *s, size_t n, bool may_subhead)
{
    while (n && (*s == ' ' || *s == '\n' || *s == '\t')) { s++; n--; }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t')) n--;
    if (!n) return;
    if (may_subhead && is_subhead(s, n)) {
        if (h->pending.len) buf_putc(&h->pending, '\n');
        buf_put(&h->pending, s, n);
        return;
    }
    h_pending(h, true);
    h_put(h, s, n);
}

/* Finish the block in cur. Raw Markdown (depth 0) splits on blank lines. */
static void h_flush(hconv *h, bool raw)
{
    const char *s = buf_cstr(&h->cur);
    if (raw) {
        while (*s) {
            const char *e = strstr(s, "\n\n");
            size_t n = e ? (size_t)(e - s) : strlen(s);
            h_block(h, s, n, false);
            s += n;
            while (*s == '\n') s++;
        }
    } else {
        size_t n = strlen(s);
        while (n && (*s == ' ' || *s == '\n')) { s++; n--; }
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\n')) n--;
        /* A trailing hard break is meaningless. */
        while (n >= 2 && s[n - 1] == '\n' && s[n - 2] == '\\') n -= 2;
        if (n) {
            buf b = BUF_INIT;
            if (h->prefix) buf_puts(&b, h->prefix);
            /* Block starts that Markdown would take as structure. */
            if (!h->prefix || h->prefix[0] != '#') {
                if (strchr("#>-+=", *s)) buf_putc(&b, '\\');
                else if (isdigit((unsigned char)*s)) {
                    size_t k = 0;
                    while (isdigit((unsigned char)s[k])) k++;
                    if (k < n && (s[k] == '.' || s[k] == ')') && (k + 1 == n || s[k + 1] == ' ')) {
                        buf_put(&b, s, k);
                        buf_putc(&b, '\\');
                        s += k;
                        n -= k;
                    }
                }
            }
            buf_put(&b, s, n);
            h_block(h, b.ptr, b.len, !h->prefix);
            buf_free(&b);
        }
    }
    buf_clear(&h->cur);
}

static void h_text(hconv *h, const char *s, size_t n)
{
    if (h->depth == 0) { buf_put(&h->cur, s, n); return; }
    /* Inside HTML: collapse white space, decode entities, escape. */
    buf t = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '\n' || ch == '\t' || ch == '\r' || ch == ' ') {
            if (!(h->cur.len && h->cur.ptr[h->cur.len - 1] == ' ') && !(t.len && t.ptr[t.len - 1] == ' '))
                buf_putc(&t, ' ');
            continue;
        }
        if (ch == '&') {
            static const struct { const char *name; uint32_t cp; } ents[] = {
                {"nbsp;", ' '}, {"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'},
                {"apos;", '\''}, {"ldquo;", 0x201C}, {"rdquo;", 0x201D}, {"lsquo;", 0x2018},
                {"rsquo;", 0x2019}, {"mdash;", 0x2014}, {"ndash;", 0x2013}, {"hellip;", 0x2026},
                {"middot;", 0xB7}, {"times;", 0xD7}, {"copy;", 0xA9}};
            bool done = false;
            for (size_t k = 0; k < sizeof ents / sizeof *ents && !done; k++) {
                size_t el = strlen(ents[k].name);
                if (i + 1 + el <= n && !strncmp(s + i + 1, ents[k].name, el)) {
                    buf tmp = BUF_INIT;
                    utf8_encode(&tmp, ents[k].cp);
                    md_text(&t, tmp.ptr, tmp.len, false);
                    buf_free(&tmp);
                    i += el;
                    done = true;
                }
            }
            if (!done && i + 2 < n && s[i + 1] == '#') {
                char *end;
                bool hex = s[i + 2] == 'x' || s[i + 2] == 'X';
                unsigned long cp = strtoul(s + i + (hex ? 3 : 2), &end, hex ? 16 : 10);
                if (end < s + n && *end == ';' && cp > 0 && cp <= 0x10FFFF &&
                    !(cp >= 0xD800 && cp <= 0xDFFF)) {
                    buf tmp = BUF_INIT;
                    utf8_encode(&tmp, (uint32_t)cp);
                    md_text(&t, tmp.ptr, tmp.len, false);
                    buf_free(&tmp);
                    i = (size_t)(end - s);
                    done = true;
                }
            }
            if (done) continue;
        }
        md_text(&t, s + i, 1, false);
    }
    buf_put(&h->cur, t.ptr ? t.ptr : "", t.len);
    buf_free(&t);
}

/* Attribute value of name in the tag text, or NULL (caller frees). */
static char *tag_attr(const char *tag, size_t n, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl < n; i++) {
        if (strncasecmp(tag + i, name, nl) != 0 || (i && !isspace((unsigned char)tag[i - 1]))) continue;
        size_t j = i + nl;
        while (j < n && tag[j] == ' ') j++;
        if (j >= n || tag[j] != '=') continue;
        j++;
        while (j < n && tag[j] == ' ') j++;
        char q = (tag[j] == '"' || tag[j] == '\'') ? tag[j++] : 0;
        size_t s = j;
        while (j < n && (q ? tag[j] != q : !isspace((unsigned char)tag[j]) && tag[j] != '>')) j++;
        return xstrndup(tag + s, j - s);
    }
    return NULL;
}

/* Move trailing punctuation out of an emphasis span before closing it, so
 * that CommonMark sees a closing delimiter in CJK text ("**编者按：**现" is
 * not bold, "**编者按**：现" is). */
static void h_close_emph(hconv *h, const char *marker)
{
    size_t n = h->cur.len, cut = n;
    while (cut > 0) {
        size_t k = cut - 1;
        while (k > 0 && ((unsigned char)h->cur.ptr[k] & 0xC0) == 0x80) k--;
        uint32_t cp;
        utf8_decode(h->cur.ptr + k, cut - k, &cp);
        if (!is_cjk_punct(cp)) break;
        cut = k;
    }
    char *tail = xstrndup(h->cur.ptr + cut, n - cut);
    h->cur.len = cut;
    h->cur.ptr[cut] = 0;
    buf_puts(&h->cur, marker);
    buf_puts(&h->cur, tail);
    free(tail);
}

static bool tag_is(const char *name, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(name, *set)) return true;
    return false;
}

static void h_tag(hconv *h, const char *name, bool closing, const char *tag, size_t tlen, size_t off)
{
    static const char *const blocks[] = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li",
                                         "blockquote", "section", "article", "header", "footer",
                                         "figure", "figcaption", "table", "tr", "td", "th", NULL};
    static const char *const silent[] = {"span", "font", "u", "small", "big", "sup", "sub",
                                         "center", "tbody", "thead", NULL};
    if (tag_is(name, blocks) || !strcmp(name, "ul") || !strcmp(name, "ol")) {
        h_flush(h, h->depth == 0);
        if (!strcmp(name, "ul") || !strcmp(name, "ol")) {
            if (!closing && h->nlists < 16) {
                h->list_kind[h->nlists] = name[0] == 'o';
                h->list_no[h->nlists++] = 0;
            } else if (closing && h->nlists > 0) {
                h->nlists--;
            }
        }
        if (!closing) {
            h->depth++;
            h->prefix = NULL;
            if (name[0] == 'h' && name[1] >= '1' && name[1] <= '6') {
                int lv = name[1] - '0';
                snprintf(h->prefix_buf, sizeof h->prefix_buf, "%.*s ", lv, "######");
                h->prefix = h->prefix_buf;
            } else if (!strcmp(name, "li")) {
                if (h->nlists && h->list_kind[h->nlists - 1])
                    snprintf(h->prefix_buf, sizeof h->prefix_buf, "%d. ", ++h->list_no[h->nlists - 1]);
                else
                    snprintf(h->prefix_buf, sizeof h->prefix_buf, "- ");
                h->prefix = h->prefix_buf;
            } else if (!strcmp(name, "blockquote")) {
                h->prefix = "> ";
            }
        } else {
            if (h->depth > 0) h->depth--;
            h->prefix = NULL;
        }
        return;
    }
    if (!strcmp(name, "br")) {
        if (h->cur.len) buf_puts(&h->cur, h->depth ? "\\\n" : "\n");
        return;
    }
    if (!strcmp(name, "strong") || !strcmp(name, "b")) {
        if (closing) h_close_emph(h, "**"); else buf_puts(&h->cur, "**");
        return;
    }
    if (!strcmp(name, "em") || !strcmp(name, "i")) {
        if (closing) h_close_emph(h, "*"); else buf_puts(&h->cur, "*");
        return;
    }
    if (!strcmp(name, "code")) { buf_putc(&h->cur, '`'); return; }
    if (!strcmp(name, "a")) {
        if (!closing) {
            char *href = tag_attr(tag, tlen, "href");
            if (h->nhref < 8) h->href[h->nhref++] = href;
            else free(href);
            if (href) buf_putc(&h->cur, '[');
        } else if (h->nhref > 0) {
            char *href = h->href[--h->nhref];
            if (href) { buf_printf(&h->cur, "](%s)", href); free(href); }
        }
        return;
    }
    if (!strcmp(name, "img")) {
        char *src = tag_attr(tag, tlen, "src"), *alt = tag_attr(tag, tlen, "alt");
        if (src) buf_printf(&h->cur, "![%s](%s)", alt ? alt : "", src);
        free(src);
        free(alt);
        return;
    }
    if (tag_is(name, silent)) return;
    char *key = xasprintf("|%s|", name);
    if (!h->warned || !strstr(h->warned, key)) {
        diag_warn(h->c->d, h->c->file, line_of_offset(h->text, off),
                  "HTML tag <%s> is not converted: tag removed, its text kept", name);
        char *w = xasprintf("%s%s", h->warned ? h->warned : "", key);
        free(h->warned);
        h->warned = w;
    }
    free(key);
}

static void convert_html_body(pctx *c, const char *text, size_t body_off)
{
    hconv h;
    memset(&h, 0, sizeof h);
    h.c = c;
    h.text = text;
    const char *s = text + body_off;
    size_t n = strlen(s), i = 0, tstart = 0;
    while (i < n) {
        if (s[i] == '<' && !strncmp(s + i, "<!--", 4)) {
            const char *e = strstr(s + i + 4, "-->");
            h_text(&h, s + tstart, i - tstart);
            i = e ? (size_t)(e - s) + 3 : n;
            tstart = i;
            continue;
        }
        if (s[i] == '<') {
            size_t j = i + 1;
            bool closing = s[j] == '/';
            if (closing) j++;
            size_t ns = j;
            while (j < n && isalnum((unsigned char)s[j])) j++;
            const char *gt = memchr(s + j, '>', n - j);
            if (j > ns && isalpha((unsigned char)s[ns]) && gt && (isspace((unsigned char)s[j]) ||
                                                                 s[j] == '/' || s[j] == '>')) {
                h_text(&h, s + tstart, i - tstart);
                char name[16];
                size_t nl = j - ns < sizeof name - 1 ? j - ns : sizeof name - 1;
                for (size_t k = 0; k < nl; k++) name[k] = (char)tolower((unsigned char)s[ns + k]);
                name[nl] = 0;
                size_t tend = (size_t)(gt - s) + 1;
                if (!closing && (!strcmp(name, "script") || !strcmp(name, "style"))) {
                    char *endtag = xasprintf("</%s", name);
                    const char *e = strcasestr(s + tend, endtag);
                    free(endtag);
                    diag_warn(c->d, c->file, line_of_offset(text, body_off + i),
                              "<%s> element dropped", name);
                    const char *e2 = e ? strchr(e, '>') : NULL;
                    i = tstart = e2 ? (size_t)(e2 - s) + 1 : n;
                    continue;
                }
                h_tag(&h, name, closing, s + i, tend - i, body_off + i);
                i = tstart = tend;
                continue;
            }
        }
        i++;
    }
    h_text(&h, s + tstart, n - tstart);
    h_flush(&h, h.depth == 0);
    h_pending(&h, false);
    buf_free(&h.pending);
    for (int k = 0; k < h.nhref; k++) free(h.href[k]);
    buf_free(&h.cur);
    free(h.warned);
    buf_putc(&h.out, '\n');
    c->doc->body = buf_detach(&h.out);
}

/* Jekyll file name YYYY-MM-DD-NAME.ext: the date part, or false. */
static bool jekyll_name_date(const char *file, char out[11], const char **name)
{
    const char *b = strrchr(file, '/');
    b = b ? b + 1 : file;
    int y, m, d, used = 0;
    if (sscanf(b, "%4d-%2d-%2d-%n", &y, &m, &d, &used) != 3 || used != 11 || !valid_ymd(y, m, d))
        return false;
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u, (unsigned)d % 100u);
    if (name) *name = b + 11;
    return true;
}

/* ------------------------------------------------------------------ */
/* entry points                                                        */

int import_convert(const char *file, const char *data, size_t len,
                   const import_opts *o, import_doc *doc, diag *d)
{
    memset(doc, 0, sizeof *doc);
    buf text = BUF_INIT;
    if (import_decode(file, data, len, &text, &doc->encoding, d) < 0) {
        buf_free(&text);
        return -1;
    }
    pctx c;
    memset(&c, 0, sizeof c);
    c.file = file;
    c.d = d;
    c.doc = doc;

    size_t yaml_len = 0, body_off = jekyll_fm_end(text.ptr, &yaml_len);
    if (body_off && jekyll_front_matter(&c, text.ptr + 4, yaml_len) == 0) {
        doc->jekyll = true;
        convert_html_body(&c, text.ptr, body_off);
        char fdate[11];
        if (!doc->date && jekyll_name_date(file, fdate, NULL)) doc->date = xstrdup(fdate);
        if (!doc->title) {
            diag_warn(d, file, 1, "no title in the front matter; using the file name");
            const char *b = strrchr(file, '/');
            doc->title = xstrdup(b ? b + 1 : file);
        }
    } else {
        split_lines(text.ptr, &c.ls);
        convert_plain(&c);
        free_lines(&c.ls);
    }
    free(c.masthead_issuer);
    free(c.title_issuer);
    buf_free(&text);

    if (!doc->category && !doc->jekyll) {
        const char *cat = import_category(doc->title);
        if (cat) doc->category = xstrdup(cat);
    }
    if (o && o->date) {
        free(doc->date);
        doc->date = xstrdup(o->date);
    } else if (!doc->date) {
        diag_warn(d, file, 1, "no date found; written as 1970-01-01 with draft: true "
                  "(set the date, or pass --date)");
        doc->date = xstrdup("1970-01-01");
        doc->draft = true;
        doc->undated = true;
    }
    import_kind k = o && o->kind != IMPORT_AUTO ? o->kind : kind_of_category(doc->category);
    if (k == IMPORT_AUTO && doc->jekyll) k = kind_of_category(import_category(doc->title));
    if (k == IMPORT_AUTO)
        k = !doc->jekyll && (doc->doc_number || doc->nrecipients) ? IMPORT_NOTICE : IMPORT_REPORT;
    doc->kind = k;
    return 0;
}

void import_doc_free(import_doc *doc)
{
    if (!doc) return;
    free(doc->title);
    free(doc->date);
    free(doc->doc_number);
    free(doc->issuer);
    free(doc->category);
    free(doc->layout);
    str_list_free(doc->recipients, doc->nrecipients);
    str_list_free(doc->tags, doc->ntags);
    str_list_free(doc->attachments, doc->nattachments);
    value_unref(doc->extra);
    free(doc->body);
    memset(doc, 0, sizeof *doc);
}

static void yaml_list(buf *b, const char *key, char **l, size_t n)
{
    if (!n) return;
    buf_printf(b, "%s:\n", key);
    for (size_t i = 0; i < n; i++) {
        buf_puts(b, "  - ");
        import_yaml_quote(b, l[i]);
        buf_putc(b, '\n');
    }
}

static void yaml_field(buf *b, const char *key, const char *v)
{
    if (!v) return;
    buf_printf(b, "%s: ", key);
    import_yaml_quote(b, v);
    buf_putc(b, '\n');
}

/* A key that can be written plain. */
static void yaml_key(buf *b, const char *k)
{
    bool plain = *k != 0;
    for (const char *p = k; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') plain = false;
    if (plain) buf_puts(b, k);
    else import_yaml_quote(b, k);
    buf_puts(b, ": ");
}

char *import_render(const import_doc *doc)
{
    buf b = BUF_INIT;
    buf_puts(&b, "---\n");
    yaml_field(&b, "title", doc->title);
    if (doc->undated)
        buf_puts(&b, "# No date was found in the source: set the date, then remove draft.\n");
    if (jekyll_date_ok(doc->date) && strspn(doc->date, "0123456789-:+ T") == strlen(doc->date))
        buf_printf(&b, "date: %s\n", doc->date);
    else
        yaml_field(&b, "date", doc->date);
    if (doc->draft) buf_puts(&b, "draft: true\n");
    yaml_field(&b, "doc_number", doc->doc_number);
    yaml_field(&b, "issuer", doc->issuer);
    yaml_list(&b, "recipients", doc->recipients, doc->nrecipients);
    yaml_field(&b, "category", doc->category);
    yaml_list(&b, "tags", doc->tags, doc->ntags);
    if (doc->nattachments) {
        buf_puts(&b, "attachments:\n");
        for (size_t i = 0; i < doc->nattachments; i++) {
            buf_puts(&b, "  - title: ");
            import_yaml_quote(&b, doc->attachments[i]);
            buf_putc(&b, '\n');
        }
    }
    yaml_field(&b, "layout", doc->layout);
    for (size_t i = 0; i < value_len(doc->extra); i++) {
        const char *k = value_key_at(doc->extra, i);
        value *v = value_val_at(doc->extra, i);
        if (value_type(v) == V_LIST) {
            if (!value_len(v)) continue;
            yaml_key(&b, k);
            b.len -= 1;                /* "key:" then the items */
            buf_putc(&b, '\n');
            for (size_t j = 0; j < value_len(v); j++) {
                buf_puts(&b, "  - ");
                import_yaml_quote(&b, value_str_ptr(value_at(v, j)));
                buf_putc(&b, '\n');
            }
        } else if (value_type(v) == V_BOOL) {
            yaml_key(&b, k);
            buf_puts(&b, value_bool_of(v) ? "true\n" : "false\n");
        } else {
            yaml_key(&b, k);
            import_yaml_quote(&b, value_str_ptr(v));
            buf_putc(&b, '\n');
        }
    }
    buf_puts(&b, "---\n\n");
    buf_puts(&b, doc->body ? doc->body : "\n");
    return buf_detach(&b);
}

/* Lowercased ASCII words joined by '-', at most 60 characters. */
static char *ascii_slug(const char *s)
{
    buf b = BUF_INIT;
    bool dash = false;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x80) { buf_free(&b); return NULL; }
        if (isalnum(ch)) {
            if (dash && b.len) buf_putc(&b, '-');
            dash = false;
            if (b.len >= 60) break;
            buf_putc(&b, (char)tolower(ch));
        } else {
            dash = true;
        }
    }
    if (!b.len) { buf_free(&b); return NULL; }
    return buf_detach(&b);
}

char *import_slug(const import_doc *doc, const char *file)
{
    char tmp[11];
    const char *name;
    if (doc->jekyll && file && jekyll_name_date(file, tmp, &name)) {
        char *base = xstrdup(name);
        char *dot = strrchr(base, '.');
        if (dot) *dot = 0;
        char *s = ascii_slug(base);
        free(base);
        if (s) return s;
    }
    char *s = ascii_slug(doc->title ? doc->title : "");
    if (s) return s;
    const char *dt = doc->date && strlen(doc->date) >= 10 ? doc->date : "0000-00-00";
    return xasprintf("%.2s-%.2s-%08x", dt + 5, dt + 8, import_hash(doc->title ? doc->title : ""));
}

char *import_relpath(const import_doc *doc, const char *slug)
{
    const char *dt = doc->date && strlen(doc->date) >= 4 ? doc->date : "1970";
    return xasprintf("%s/%.4s/%s.md", doc->kind == IMPORT_NOTICE ? "notices" : "reports", dt, slug);
}
