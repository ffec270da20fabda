/* fuzz_importer.c - libFuzzer target: the importer's pure conversion
 * (import_convert: decoding, 公文 recognisers, Jekyll/HTML conversion) and
 * what cmd_import does with the result (render, slug, relpath). Property:
 * the rendered file must itself be a valid Gazette document (its front
 * matter parses), since imports must never produce files the build rejects
 * for syntax. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "frontmatter.h"
#include "importer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    diag *d = diag_new();
    import_opts o = {IMPORT_AUTO, NULL};
    import_doc doc;
    const char *file = (size && (data[0] & 1)) ? "2020-01-02-post.md" : "doc.txt";
    if (import_convert(file, (const char *)data, size, &o, &doc, d) == 0) {
        char *out = import_render(&doc);
        char *slug = import_slug(&doc, file);
        char *rel = import_relpath(&doc, slug);
        if (!out || !slug || !rel || !doc.title || !doc.body) __builtin_trap();
        frontmatter fm;
        diag *d2 = diag_new();
        if (fm_parse(rel, out, strlen(out), &fm, d2) < 0) {
            diag_print(d2, stderr);
            fprintf(stderr, "import_render produced invalid front matter:\n%s\n", out);
            __builtin_trap();
        }
        fm_free(&fm);
        diag_free(d2);
        free(out); free(slug); free(rel);
        import_doc_free(&doc);
    }
    diag_free(d);
    return 0;
}
