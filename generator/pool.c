/* pool.c - see pool.h. */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"

typedef struct {
    size_t n, next;
    void (*fn)(size_t, void *);
    void *ud;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    for (;;) {
        size_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (i >= j->n) break;
        j->fn(i, j->ud);
    }
    return NULL;
}

void pool_mutex_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) == 0 &&
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP) == 0 &&
        pthread_mutex_init(m, &a) == 0) {
        pthread_mutexattr_destroy(&a);
        return;
    }
    pthread_mutex_init(m, NULL);           /* (never fails on Linux) */
}

int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void parallel_for(size_t n, int threads, void (*fn)(size_t, void *), void *ud)
{
    if (threads <= 0) threads = cpu_count();
    if ((size_t)threads > n) threads = (int)n;
    job j = {n, 0, fn, ud};
    if (threads <= 1) { worker(&j); return; }
    pthread_t *t = xmalloc((size_t)threads * sizeof *t);
    int started = 0;
    for (int k = 1; k < threads; k++)
        if (pthread_create(&t[started], NULL, worker, &j) == 0) started++;
    worker(&j);          /* the calling thread works too */
    for (int k = 0; k < started; k++) pthread_join(t[k], NULL);
    free(t);
}
