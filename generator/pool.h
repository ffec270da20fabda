/* pool.h - run fn(i, ud) for i in [0, n) on several threads. */
#ifndef GAZETTE_POOL_H
#define GAZETTE_POOL_H
#include <stddef.h>

/* threads 0 = number of online CPUs. Blocks until all are done. fn must be
 * thread-safe; items are handed out in order from an atomic counter. */
void parallel_for(size_t n, int threads, void (*fn)(size_t i, void *ud), void *ud);
int cpu_count(void);

#endif
