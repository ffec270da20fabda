/* test.h - a minimal unit test harness.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_STR(got, "want"); }
 *   int main(void) { RUN(name); return test_summary(); }
 *
 * Prints "PASS name" or "FAIL name: file:line: expr" per test; tests/run.sh
 * counts those lines. */
#ifndef GAZETTE_TEST_H
#define GAZETTE_TEST_H
#include <stdio.h>
#include <string.h>

static int test_failed_now, test_npass, test_nfail;
static const char *test_name_now;

#define TEST(name) static void name(void)
#define CHECK(cond) do { if (!(cond)) { \
    if (!test_failed_now) printf("FAIL %s: %s:%d: %s\n", test_name_now, __FILE__, __LINE__, #cond); \
    test_failed_now = 1; } } while (0)
#define CHECK_STR(got, want) do { const char *g_ = (got), *w_ = (want); \
    if (!g_ || strcmp(g_, w_) != 0) { \
      if (!test_failed_now) printf("FAIL %s: %s:%d: got \"%s\", want \"%s\"\n", test_name_now, \
                                   __FILE__, __LINE__, g_ ? g_ : "(null)", w_); \
      test_failed_now = 1; } } while (0)
#define CHECK_CONTAINS(hay, needle) do { const char *h_ = (hay), *n_ = (needle); \
    if (!h_ || !strstr(h_, n_)) { \
      if (!test_failed_now) printf("FAIL %s: %s:%d: \"%s\" not in \"%.300s\"\n", test_name_now, \
                                   __FILE__, __LINE__, n_, h_ ? h_ : "(null)"); \
      test_failed_now = 1; } } while (0)
#define RUN(name) do { test_name_now = #name; test_failed_now = 0; name(); \
    if (test_failed_now) test_nfail++; else { test_npass++; printf("PASS %s\n", #name); } } while (0)

static inline int test_summary(void)
{
    printf("%d passed, %d failed\n", test_npass, test_nfail);
    return test_nfail ? 1 : 0;
}
#endif
