/* same_value.h - for unit tests: do two values encode to the same bytes
 * (fp_encode_value: the same types, keys in the same order, the same
 * contents)? */
#ifndef GAZETTE_TEST_SAME_VALUE_H
#define GAZETTE_TEST_SAME_VALUE_H
#include <stdbool.h>
#include <string.h>

#include "cache.h"

static inline bool same_value(const value *a, const value *b)
{
    buf x = BUF_INIT, y = BUF_INIT;
    fp_encode_value(&x, a);
    fp_encode_value(&y, b);
    bool same = x.len == y.len && !memcmp(x.ptr, y.ptr, x.len);
    buf_free(&x);
    buf_free(&y);
    return same;
}
#endif
