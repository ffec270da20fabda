/* test_money.c - exact money and percentage formatting. */
#include <limits.h>
#include <stdlib.h>
#include "money.h"
#include "test.h"

static char *yuan(long long f) { return money_yuan_str(f); }
static char *wan(long long f) { return money_wan_str(f); }

#define CHECK_OWN(expr, want) do { char *s_ = (expr); CHECK_STR(s_, want); free(s_); } while (0)

TEST(yuan_basic)
{
    CHECK_OWN(yuan(0), "0.00");
    CHECK_OWN(yuan(1), "0.01");
    CHECK_OWN(yuan(99), "0.99");
    CHECK_OWN(yuan(100), "1.00");
    CHECK_OWN(yuan(123456), "1,234.56");
    CHECK_OWN(yuan(431490000), "4,314,900.00");
    CHECK_OWN(yuan(100000000), "1,000,000.00");
}

TEST(yuan_negative_and_huge)
{
    CHECK_OWN(yuan(-1), "-0.01");
    CHECK_OWN(yuan(-10000), "-100.00");
    CHECK_OWN(yuan(LLONG_MAX), "92,233,720,368,547,758.07");
    CHECK_OWN(yuan(LLONG_MIN), "-92,233,720,368,547,758.08");
}

TEST(wan_basic)
{
    CHECK_OWN(wan(0), "0.00");
    CHECK_OWN(wan(431490000), "431.49");
    CHECK_OWN(wan(431480000), "431.48");
    CHECK_OWN(wan(74150000), "74.15");
    CHECK_OWN(wan(1000000000000LL), "1,000,000.00");
}

TEST(wan_rounding_half_up)
{
    CHECK_OWN(wan(1), "0.00");          /* 1 fen */
    CHECK_OWN(wan(4999), "0.00");
    CHECK_OWN(wan(5000), "0.01");       /* exactly half: up */
    CHECK_OWN(wan(5), "0.00");          /* 5 fen */
    CHECK_OWN(wan(15000), "0.02");
    CHECK_OWN(wan(995000), "1.00");     /* carries into the integer part */
    CHECK_OWN(wan(994999), "0.99");
}

TEST(wan_negative_mirrors)
{
    CHECK_OWN(wan(-10000), "-0.01");    /* the seed's 100元 difference */
    CHECK_OWN(wan(-5000), "-0.01");
    CHECK_OWN(wan(-4999), "0.00");      /* rounds to zero: no "-0.00" */
    CHECK_OWN(wan(LLONG_MIN), "-9,223,372,036,854.78");
    CHECK_OWN(wan(LLONG_MAX), "9,223,372,036,854.78");
}

TEST(percent)
{
    CHECK_OWN(ratio_pct_str(1, 3), "33.3");
    CHECK_OWN(ratio_pct_str(2, 3), "66.7");
    CHECK_OWN(ratio_pct_str(1, 2000), "0.1");   /* 0.05% rounds half up */
    CHECK_OWN(ratio_pct_str(1, 2001), "0.0");
    CHECK_OWN(ratio_pct_str(0, 5), "0.0");
    CHECK_OWN(ratio_pct_str(5, 5), "100.0");
    CHECK_OWN(ratio_pct_str(6, 5), "120.0");
    CHECK_OWN(ratio_pct_str(347760000, 431480000), "80.6");
    CHECK_OWN(ratio_pct_str(LLONG_MAX, LLONG_MAX), "100.0");
    CHECK(ratio_pct_str(1, 0) == NULL);
    CHECK(ratio_pct_str(-1, 5) == NULL);
}

TEST(grouping)
{
    buf b = BUF_INIT;
    int_grouped(&b, 0); buf_putc(&b, ' ');
    int_grouped(&b, 999); buf_putc(&b, ' ');
    int_grouped(&b, 1000); buf_putc(&b, ' ');
    int_grouped(&b, -1234567);
    CHECK_STR(buf_cstr(&b), "0 999 1,000 -1,234,567");
    buf_free(&b);
}

int main(void)
{
    RUN(yuan_basic);
    RUN(yuan_negative_and_huge);
    RUN(wan_basic);
    RUN(wan_rounding_half_up);
    RUN(wan_negative_mirrors);
    RUN(percent);
    RUN(grouping);
    return test_summary();
}
