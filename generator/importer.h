/* importer.h - turn a plain-text official document (公文, GB/T 9704 layout)
 * or a Jekyll post into a Gazette document: front matter fields plus a
 * Markdown body. Pure functions: bytes in, fields + body + warnings out;
 * no file I/O here (cmd_import.c does that).
 *
 * Plain text. Input may be UTF-8 (with or without BOM), UTF-16 with a BOM,
 * or GB18030/GBK (anything that is not valid UTF-8 is converted with
 * iconv; a GBK text that happens to be valid UTF-8 is read as UTF-8, which
 * real Chinese text practically never is), with LF, CRLF
 * or CR line ends; U+3000 and other odd spaces count as spaces. Recognised:
 *   文号 line     "大工办发〔2017〕28号" (also [] () 【】)   -> doc_number
 *   title        "关于…的通知" over up to 4 lines, an issuer prefix
 *                ("XX办公室 关于…") stripped; else a short headline of
 *                1-3 lines at the top                    -> title
 *   主送 line     "各区市县总工会、…：" split on 、 and ，  -> recipients
 *   signature    issuer line + date line, or "ISSUER   DATE" on one line
 *                (2017年9月29日 or 二〇一七年九月二十九日)  -> issuer, date
 *   附件：1. …    with continuation lines "2. …"          -> attachments
 *   headings     一、 -> "##", （一） -> "###" (when short; a long （一）
 *                paragraph becomes a bold run-in), a short unpunctuated
 *                "1、 xxx" line -> heading one level below the last one
 *   items        "1. …" -> ordered list item keeping its number; "1、…"
 *                stays a numbered paragraph
 *   tables       tab-separated rows -> GFM table
 *   closing      抄送：/送：/发：/…印发 -> after a "* * *" rule
 *   hard wraps   a line of 20+ characters that ends mid-sentence is joined
 *                with the next non-blank line unless that starts a new
 *                structure (heading, item, label, table, date)
 * Only the title and 文号 lines leave the body (they are in the front
 * matter); every other line survives in the body, in order.
 *
 * Jekyll post (starts with a "---" front matter block): title and date are
 * kept as given (time and zone too), categories -> category (the first; the
 * rest become tags), tags (list or space separated) -> tags, layout "post"
 * dropped, other scalar keys kept. HTML in the body (p, br, div, h1-h6,
 * strong/b, em/i, a, ul/ol/li, img, code) becomes Markdown; other tags are
 * removed with a warning but their text is kept; Markdown outside HTML is
 * kept as it is.
 *
 * Category is taken from the title's ending (通知 报告 决定 方案 意见 办法
 * …) or 经验交流 in it. Kind: report for 报告/经验交流/总结/汇报 and similar,
 * notice for 通知/决定/方案/… ; with no category, a plain-text document
 * with a 文号 or 主送 line is a notice, anything else (and any Jekyll post)
 * a report. import_opts.kind overrides.
 *
 * Missing date: a warning, date 1970-01-01 and draft: true, so that the
 * document is imported (nothing is lost) but never published by accident
 * with a made-up date; the writer fixes the date and removes the draft flag.
 * (Today's date or the file's mtime would make imports non-reproducible.)
 * import_opts.date overrides a missing or found date.
 * Missing title: a warning, and the first non-blank line (cut to 40
 * characters) is used.
 *
 * Slug (import_slug): a Jekyll file named YYYY-MM-DD-NAME.ext gives NAME; a
 * title of ASCII letters and digits gives its lowercased words joined by
 * '-'; otherwise (Chinese titles: no readable ASCII slug without a
 * dictionary) "MM-DD-xxxxxxxx", the document's month and day and 8 hex
 * digits of the 32-bit FNV-1a hash of the title's UTF-8 bytes. Stable: the
 * same title and date give the same slug; the year is in the directory.
 */
#ifndef GAZETTE_IMPORTER_H
#define GAZETTE_IMPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include "diag.h"
#include "util.h"
#include "value.h"

typedef enum { IMPORT_AUTO = 0, IMPORT_NOTICE, IMPORT_REPORT } import_kind;

typedef struct {
    import_kind kind;        /* IMPORT_AUTO: derive from the category */
    const char *date;        /* "YYYY-MM-DD" override, or NULL */
} import_opts;

typedef struct {
    char *title;             /* never NULL after a successful convert */
    char *date;              /* "YYYY-MM-DD", or a Jekyll date as given */
    bool draft;              /* date missing, or Jekyll draft: true / published: false */
    bool undated;            /* no date found: date is "1970-01-01" */
    char *doc_number;        /* NULL when absent, likewise below */
    char *issuer;
    char *category;
    char *layout;
    char **recipients;   size_t nrecipients;
    char **tags;         size_t ntags;
    char **attachments;  size_t nattachments;   /* titles */
    value *extra;            /* other Jekyll keys: map of string or list of strings */
    import_kind kind;        /* IMPORT_NOTICE or IMPORT_REPORT */
    bool jekyll;             /* input was a Jekyll post */
    const char *encoding;    /* "UTF-8", "UTF-16" or "GB18030" (static) */
    char *body;              /* Markdown, ends with one '\n' */
} import_doc;

/* Convert one input file. `file` names it in warnings ("FILE:LINE:
 * warning: ..."). Returns 0, or -1 (error in d: undecodable bytes). On
 * success the caller frees doc with import_doc_free. */
int import_convert(const char *file, const char *data, size_t len,
                   const import_opts *o, import_doc *doc, diag *d);
void import_doc_free(import_doc *doc);

/* The whole output file: "---\n" YAML front matter "---\n\n" body.
 * Strings are double-quoted and escaped (valid YAML for libyaml). */
char *import_render(const import_doc *doc);

/* Slug as described above. `file` is the input path (for Jekyll names). */
char *import_slug(const import_doc *doc, const char *file);

/* "notices/2017/SLUG.md" or "reports/2017/SLUG.md". */
char *import_relpath(const import_doc *doc, const char *slug);

/* --- Recognisers, exposed for unit tests --- */

/* Input bytes to UTF-8 text with LF line ends and no BOM. *encoding is set
 * to "UTF-8", "UTF-16" (with a BOM) or "GB18030". Returns 0 or -1
 * (reported to d). */
int import_decode(const char *file, const char *data, size_t len, buf *out,
                  const char **encoding, diag *d);
/* A whole line that is a date ("2017年9月29日", "2017年9 月29日",
 * "二〇一七年九月二十九日"): writes "YYYY-MM-DD" to out, returns true.
 * With suffix_ok, trailing text after 日 (e.g. "印发") is allowed. */
bool import_parse_date(const char *s, bool suffix_ok, char out[11]);
/* Is the whole line a 文号 (…〔2017〕28号)? */
bool import_is_doc_number(const char *s);
/* Split a 主送 line (trailing ：removed) on 、 and ， outside brackets.
 * Returns a NULL-terminated array (caller frees each and the array). */
char **import_split_list(const char *s, size_t *n);
/* Category from a title, or NULL (static string). */
const char *import_category(const char *title);
/* Append s as a double-quoted YAML scalar. */
void import_yaml_quote(buf *out, const char *s);
/* 32-bit FNV-1a. */
uint32_t import_hash(const char *s);

#endif
