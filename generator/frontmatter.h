/* frontmatter.h - split a document into YAML front matter and body, and
 * parse the YAML (libyaml) into a value map.
 *
 * Scalars stay strings (no YAML implicit typing, so "2017-09-29" and
 * "001" are kept as written), except the plain scalars true/false, which
 * become booleans. Aliases are refused (they make "billion laughs" bombs
 * possible and no real front matter needs them). Nesting depth is limited.
 *
 * Front matter made only of one-line `key: "text"`, `key: ["a", "b"]`,
 * `key: word-or-date` and `key:` + `  - item` entries (with blank and
 * comment lines) is read without libyaml, to the same fields and lines
 * (see fast_yaml); any other text goes to libyaml as a whole.
 */
#ifndef GAZETTE_FRONTMATTER_H
#define GAZETTE_FRONTMATTER_H

#include "diag.h"
#include "value.h"

typedef struct {
    value *fields;      /* map of front matter keys (owned) */
    value *lines;       /* map key -> int line in the file, for messages */
    size_t body_off;    /* byte offset of the body in the input */
    int body_line;      /* line number where the body starts */
} frontmatter;

/* Parse text (the whole file; a UTF-8 BOM is skipped). A file without
 * front matter is an error. Returns 0, or -1 with errors in d (named
 * `file`, with lines). On success the caller owns fm->fields and fm->lines. */
int fm_parse(const char *file, const char *text, size_t len, frontmatter *fm, diag *d);
void fm_free(frontmatter *fm);

/* For tests: front matter text (between the fences, its first line
 * first_line) as fm_parse reads it, by its fast path alone (fast: NULL
 * when the text is not of the subset it takes) or by libyaml alone; key
 * lines into lines (may be NULL). */
value *fm_parse_yaml(const char *text, size_t len, int first_line, bool fast, value *lines, diag *d);

/* Parse a whole YAML document (site.yaml) into a value. Returns NULL on error. */
value *yaml_parse_doc(const char *file, const char *text, size_t len, int first_line, diag *d);

#endif
