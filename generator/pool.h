/* pool.h - run fn(i, ud) for i in [0, n) on several threads; the locks
 * of the tables those threads share. */
#ifndef GAZETTE_POOL_H
#define GAZETTE_POOL_H
#include <pthread.h>
#include <stddef.h>

/* threads 0 = number of online CPUs. Blocks until all are done. fn must be
 * thread-safe; items are handed out in order from an atomic counter. */
void parallel_for(size_t n, int threads, void (*fn)(size_t i, void *ud), void *ud);
int cpu_count(void);

/* Initialise m as the lock of a table the pool's threads update many
 * times each (a map insert, a counter): it spins a little before it
 * sleeps, as such a lock is held for less than a sleep and a wake-up
 * cost. Destroy with pthread_mutex_destroy. */
void pool_mutex_init(pthread_mutex_t *m);

#endif
