#include "alloc.h"

#include <mimalloc.h>

/* Weak: a build without mimalloc (MALLOC_LIB=) leaves them NULL. */
#pragma weak mi_option_get
#pragma weak mi_option_set

static long commit_delay = -1;    /* mimalloc's own, while large pages are on */

bool alloc_start(void)
{
    if (!mi_option_get || !mi_option_set) return false;
    /* A thread's first segments are committed as they are used, not at
     * once, by default: with large pages that costs most of the gain
     * (16k page faults instead of 9k at 10k documents). */
    commit_delay = mi_option_get(mi_option_eager_commit_delay);
    mi_option_set(mi_option_eager_commit_delay, 0);
    mi_option_set(mi_option_large_os_pages, 1);
    return true;
}

bool alloc_expect_docs(size_t ndocs)
{
    if (!mi_option_get || !mi_option_set || commit_delay < 0) return false;
    if (ndocs > ALLOC_LARGE_PAGES_MAX_DOCS && mi_option_get(mi_option_large_os_pages)) {
        mi_option_set(mi_option_large_os_pages, 0);
        mi_option_set(mi_option_eager_commit_delay, commit_delay);
    }
    return mi_option_get(mi_option_large_os_pages) != 0;
}
