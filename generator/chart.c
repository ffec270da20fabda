/* chart.c - deterministic SVG bar charts. */
#include "chart.h"
#include <string.h>

enum {
    WIDTH = 640, ROW = 26, BAR = 18, PAD = 6,
    VALUE_W = 150,          /* room right of the longest bar for its value */
    LABEL_MIN = 40, LABEL_MAX = 220,
};

/* Approximate rendered width in pixels at font-size 12: wide (CJK,
 * fullwidth) code points count 12px, others 7px. Integer arithmetic. */
static int text_px(const char *s)
{
    int px = 0;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        uint32_t cp;
        i += utf8_decode(s + i, n - i, &cp);
        px += cp >= 0x1100 ? 12 : 7;
    }
    return px;
}

static void put_id(buf *out, const char *id)
{
    for (const char *p = id; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_';
        buf_putc(out, ok ? c : '-');
    }
}

static void put_esc(buf *out, const char *s)
{
    if (s) esc_xml(out, s, strlen(s));
}

void chart_bars_svg(buf *out, const char *id, const char *title, const char *desc,
                    const chart_bar *bars, size_t n)
{
    int label_w = LABEL_MIN;
    long long max = 0;
    for (size_t i = 0; i < n; i++) {
        int w = text_px(bars[i].label ? bars[i].label : "") + 2 * PAD;
        if (w > label_w) label_w = w;
        if (bars[i].value > max) max = bars[i].value;
    }
    if (label_w > LABEL_MAX) label_w = LABEL_MAX;
    int area = WIDTH - label_w - VALUE_W;
    int height = (int)n * ROW + 2 * PAD;

    buf_puts(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" aria-labelledby=\"");
    put_id(out, id); buf_puts(out, "-title ");
    put_id(out, id); buf_printf(out, "-desc\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\">",
                                WIDTH, height, WIDTH, height);
    buf_puts(out, "<title id=\"");
    put_id(out, id); buf_puts(out, "-title\">");
    put_esc(out, title);
    buf_puts(out, "</title><desc id=\"");
    put_id(out, id); buf_puts(out, "-desc\">");
    if (desc && *desc) { put_esc(out, desc); buf_puts(out, " "); }
    for (size_t i = 0; i < n; i++) {
        if (i) buf_puts(out, "; ");
        put_esc(out, bars[i].label);
        buf_puts(out, ": ");
        put_esc(out, bars[i].value_text);
    }
    buf_puts(out, "</desc>");
    buf_puts(out, "<g font-family=\"sans-serif\" font-size=\"12\" fill=\"#000\">");
    for (size_t i = 0; i < n; i++) {
        int y = PAD + (int)i * ROW;
        int len = 0;
        if (bars[i].value > 0 && max > 0) {
            /* 128-bit product: value * area overflows for huge fen sums. */
            len = (int)((__int128)bars[i].value * area / max);
            if (len < 1) len = 1;   /* a non-zero figure stays visible */
        }
        int ty = y + BAR - 4;       /* text baseline inside the row */
        buf_printf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - PAD, ty);
        put_esc(out, bars[i].label);
        buf_puts(out, "</text>");
        if (len > 0)
            buf_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#7a9cc6\" "
                            "stroke=\"#000\" stroke-width=\"1\"/>", label_w, y + 2, len, BAR);
        buf_printf(out, "<text x=\"%d\" y=\"%d\">", label_w + len + PAD, ty);
        put_esc(out, bars[i].value_text);
        buf_puts(out, "</text>");
    }
    buf_puts(out, "</g></svg>");
}
