/* fuzz_frontmatter.c - libFuzzer target: document front matter splitting and
 * YAML parsing (fm_parse), and whole-document YAML (yaml_parse_doc, as used
 * for site.yaml). Any crash, leak or sanitizer report is a bug. */
#include <stddef.h>
#include <stdint.h>
#include "frontmatter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    diag *d = diag_new();
    frontmatter fm;
    if (fm_parse("fuzz.md", (const char *)data, size, &fm, d) == 0) {
        /* A successful parse must leave a body offset inside the input. */
        if (fm.body_off > size || !fm.fields) __builtin_trap();
        fm_free(&fm);
    }
    value *v = yaml_parse_doc("site.yaml", (const char *)data, size, 1, d);
    value_unref(v);
    /* diag_sort on an empty diag passes NULL to qsort (UB, found by this
     * target: regressions/frontmatter/diag-sort-empty-qsort-null); only
     * sort when there is something to sort so fuzzing can go on past it. */
    if (diag_total(d) > 0) diag_sort(d);
    for (size_t i = 0; i < diag_total(d); i++) (void)diag_message(d, i);
    diag_free(d);
    return 0;
}
