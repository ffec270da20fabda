/* chart.h - horizontal bar charts as inline SVG, rendered at build time.
 *
 * No JavaScript, integer coordinates only (byte-identical output for the
 * same data), role="img" with <title> and <desc> for screen readers, and
 * every bar carries its label and value as text, so the chart reads the
 * same in black-and-white print (no colour-only information). All text is
 * XML-escaped. */
#ifndef GAZETTE_CHART_H
#define GAZETTE_CHART_H

#include <stddef.h>
#include "util.h"

typedef struct {
    const char *label;       /* e.g. "海港区" or "2020" */
    long long value;         /* bar length is proportional; <= 0 draws none */
    const char *value_text;  /* printed after the bar, e.g. "34.18万元" */
} chart_bar;

/* Append an <svg> element. id must be unique within the page and consist
 * of [A-Za-z0-9_-] (other bytes are replaced by '-'); it prefixes the ids
 * of <title>/<desc>. title is the accessible name; desc (may be NULL) is
 * followed in <desc> by the full data ("label: value; ..."). n = 0 yields
 * an empty chart with just the title. */
void chart_bars_svg(buf *out, const char *id, const char *title, const char *desc,
                    const chart_bar *bars, size_t n);

#endif
