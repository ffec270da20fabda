/* Unit tests for alloc.c. This binary links the allocator the program
 * links (the Makefile's MALLOC_LIB; LINKED_MIMALLOC says which), since
 * that is what alloc.c tunes. */
#include <mimalloc.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "test.h"

#pragma weak mi_option_get

TEST(large_pages_for_a_small_site_then_off_for_a_large_one)
{
    bool on = alloc_start();
    CHECK(on == (LINKED_MIMALLOC != 0));
    /* memory is still served (and zeroed where asked) */
    char *p = calloc(3u << 20, 1);
    CHECK(p && p[0] == 0 && p[(3u << 20) - 1] == 0);
    free(p);
    CHECK(alloc_expect_docs(10) == on);
    CHECK(alloc_expect_docs(ALLOC_LARGE_PAGES_MAX_DOCS) == on);
    long delay = on ? mi_option_get(mi_option_eager_commit_delay) : 0;
    CHECK(delay == 0);
    CHECK(!alloc_expect_docs(ALLOC_LARGE_PAGES_MAX_DOCS + 1));
    CHECK(!alloc_expect_docs(10));                 /* off stays off */
    if (on) {
        CHECK(mi_option_get(mi_option_large_os_pages) == 0);
        CHECK(mi_option_get(mi_option_eager_commit_delay) > 0);   /* mimalloc's own again */
    }
}

int main(void)
{
    RUN(large_pages_for_a_small_site_then_off_for_a_large_one);
    return test_summary();
}
