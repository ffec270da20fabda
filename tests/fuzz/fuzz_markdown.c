/* fuzz_markdown.c - libFuzzer target: the Markdown path (md_render with
 * heading ids, TOC, excerpt and search text), in safe and unsafe mode, and
 * the helpers it exposes. The first byte picks the mode and excerpt length.
 * Checks the safety promise too: in safe mode no raw <script> tag and no
 * javascript: link may come out. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "markdown.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    bool unsafe = data[0] & 1;
    size_t excerpt = (data[0] >> 1) % 64 + 1;
    const char *src = (const char *)data + 1;
    size_t len = size - 1;
    md_result r;
    md_render(src, len, unsafe, excerpt, &r);
    if (!r.html || !r.excerpt || !r.text || !r.toc) __builtin_trap();
    if (!unsafe && (strstr(r.html, "<script") || strstr(r.html, "href=\"javascript:")))
        __builtin_trap();
    if (!utf8_valid(r.excerpt, strlen(r.excerpt), NULL)) __builtin_trap();
    md_free(&r);

    buf b = BUF_INIT;
    md_slugify(&b, src, len);
    text_truncate(&b, src, len, excerpt);
    buf_free(&b);
    return 0;
}
