/* csv.c - RFC 4180 CSV writer. */
#include "csv.h"
#include <string.h>

void csv_begin(csv_writer *w)
{
    buf_init(&w->out);
    w->ncol = 0;
    buf_puts(&w->out, "\xEF\xBB\xBF");
}

static void sep(csv_writer *w)
{
    if (w->ncol++ > 0) buf_putc(&w->out, ',');
}

void csv_text(csv_writer *w, const char *s)
{
    sep(w);
    if (!s) s = "";
    bool formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@';
    bool quote = formula || strpbrk(s, ",\"\r\n") != NULL ||
                 (s[0] && (s[0] == ' ' || s[strlen(s) - 1] == ' '));
    if (!quote) { buf_puts(&w->out, s); return; }
    buf_putc(&w->out, '"');
    if (formula) buf_putc(&w->out, '\'');
    for (const char *p = s; *p; p++) {
        if (*p == '"') buf_putc(&w->out, '"');
        buf_putc(&w->out, *p);
    }
    buf_putc(&w->out, '"');
}

void csv_int(csv_writer *w, long long v)
{
    sep(w);
    buf_printf(&w->out, "%lld", v);
}

void csv_raw(csv_writer *w, const char *s)
{
    sep(w);
    buf_puts(&w->out, s ? s : "");
}

void csv_end_row(csv_writer *w)
{
    buf_puts(&w->out, "\r\n");
    w->ncol = 0;
}
