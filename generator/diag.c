/* diag.c - see diag.h. */
#include "diag.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    diag_level lv;
    char *file;
    int line, col;
    size_t seq;          /* insertion order, for a stable sort */
    char *text;          /* formatted message */
} diag_msg;

struct diag {
    pthread_mutex_t mu;
    diag_msg *msgs;
    size_t n, cap;
    size_t count[2];
};

diag *diag_new(void)
{
    diag *d = xcalloc(1, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
    return d;
}

void diag_clear(diag *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->msgs[i].file);
        free(d->msgs[i].text);
    }
    d->n = 0;
    d->count[0] = d->count[1] = 0;
}

void diag_free(diag *d)
{
    if (!d) return;
    diag_clear(d);
    free(d->msgs);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

void diag_add(diag *d, diag_level lv, const char *file, int line, int col,
              const char *fmt, ...)
{
    buf b = BUF_INIT;
    if (file) {
        buf_puts(&b, file);
        if (line > 0) buf_printf(&b, ":%d", line);
        if (line > 0 && col > 0) buf_printf(&b, ":%d", col);
        buf_puts(&b, ": ");
    }
    buf_puts(&b, lv == DIAG_ERROR ? "error: " : "warning: ");
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&d->mu);
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->msgs = xrealloc(d->msgs, d->cap * sizeof *d->msgs);
    }
    diag_msg *m = &d->msgs[d->n];
    m->lv = lv;
    m->file = file ? xstrdup(file) : NULL;
    m->line = line;
    m->col = col;
    m->seq = d->n;
    m->text = buf_detach(&b);
    d->n++;
    d->count[lv]++;
    pthread_mutex_unlock(&d->mu);
}

void diag_move(diag *dst, diag *src)
{
    if (!src->n) return;
    pthread_mutex_lock(&dst->mu);
    if (dst->n + src->n > dst->cap) {
        while (dst->n + src->n > dst->cap) dst->cap = dst->cap ? dst->cap * 2 : 16;
        dst->msgs = xrealloc(dst->msgs, dst->cap * sizeof *dst->msgs);
    }
    for (size_t i = 0; i < src->n; i++) {
        diag_msg m = src->msgs[i];
        m.seq = dst->n;
        dst->msgs[dst->n++] = m;
        dst->count[m.lv]++;
    }
    pthread_mutex_unlock(&dst->mu);
    src->n = 0;                       /* the strings moved with the messages */
    src->count[0] = src->count[1] = 0;
}

size_t diag_count(const diag *d, diag_level lv) { return d->count[lv]; }
size_t diag_total(const diag *d) { return d->n; }

static int msg_cmp(const void *pa, const void *pb)
{
    const diag_msg *a = pa, *b = pb;
    /* Messages without a file come last; then by file, line, col, order. */
    if (!a->file != !b->file) return a->file ? -1 : 1;
    if (a->file && b->file) {
        int c = strcmp(a->file, b->file);
        if (c) return c;
    }
    if (a->line != b->line) return a->line < b->line ? -1 : 1;
    if (a->col != b->col) return a->col < b->col ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void diag_sort(diag *d)
{
    if (d->n > 1) qsort(d->msgs, d->n, sizeof *d->msgs, msg_cmp);
    for (size_t i = 0; i < d->n; i++) d->msgs[i].seq = i;
}

const char *diag_message(const diag *d, size_t i)
{
    return i < d->n ? d->msgs[i].text : NULL;
}

void diag_print(diag *d, FILE *f)
{
    diag_sort(d);
    for (size_t i = 0; i < d->n; i++) fprintf(f, "%s\n", d->msgs[i].text);
    fflush(f);
    diag_clear(d);
}
