/* diag.h - collected diagnostics ("FILE:LINE:COL: error: message").
 *
 * Every module reports problems into a diag instead of printing, so that
 * `gazette check` can report all errors, output is deterministic even with
 * threads (messages are sorted by file and line when printed), and library
 * code never exits. Thread-safe.
 */
#ifndef GAZETTE_DIAG_H
#define GAZETTE_DIAG_H

#include <stdio.h>
#include <stddef.h>
#include "util.h"

typedef enum { DIAG_ERROR, DIAG_WARNING } diag_level;

typedef struct diag diag;

diag *diag_new(void);
void diag_free(diag *d);
/* line/col 0 = unknown; file NULL = no file. */
void diag_add(diag *d, diag_level lv, const char *file, int line, int col,
              const char *fmt, ...) GZ_PRINTF(6, 7);
#define diag_error(d, file, line, ...) diag_add((d), DIAG_ERROR, (file), (line), 0, __VA_ARGS__)
#define diag_warn(d, file, line, ...) diag_add((d), DIAG_WARNING, (file), (line), 0, __VA_ARGS__)
/* Move every message of src to the end of dst (src ends empty). */
void diag_move(diag *dst, diag *src);
size_t diag_count(const diag *d, diag_level lv);
size_t diag_total(const diag *d);
/* i-th message, formatted, in sorted order (call diag_sort first). */
const char *diag_message(const diag *d, size_t i);
void diag_sort(diag *d);
/* Sort and print all messages, one a line, then clear. */
void diag_print(diag *d, FILE *f);
void diag_clear(diag *d);

#endif
