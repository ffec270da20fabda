/* money.c - integer-only money formatting (see money.h for the rules). */
#include "money.h"
#include <limits.h>

/* Magnitude as unsigned, so that LLONG_MIN does not overflow. */
static unsigned long long magnitude(long long v)
{
    return v < 0 ? (unsigned long long)(-(v + 1)) + 1 : (unsigned long long)v;
}

static void put_grouped(buf *out, unsigned long long n)
{
    char digits[32];
    int len = 0;
    do { digits[len++] = (char)('0' + n % 10); n /= 10; } while (n > 0);
    for (int i = len - 1; i >= 0; i--) {
        buf_putc(out, digits[i]);
        if (i > 0 && i % 3 == 0) buf_putc(out, ',');
    }
}

void int_grouped(buf *out, long long n)
{
    if (n < 0) buf_putc(out, '-');
    put_grouped(out, magnitude(n));
}

void money_yuan(buf *out, long long fen)
{
    unsigned long long m = magnitude(fen);
    if (fen < 0) buf_putc(out, '-');
    put_grouped(out, m / 100);
    buf_printf(out, ".%02llu", m % 100);
}

void money_wan(buf *out, long long fen)
{
    /* Hundredths of a 万元 are units of 10,000 fen; round half up on the
     * magnitude. Done as quotient/remainder so m + 5000 cannot overflow. */
    unsigned long long m = magnitude(fen);
    unsigned long long q = m / 10000, r = m % 10000;
    if (r >= 5000) q++;
    if (fen < 0 && q > 0) buf_putc(out, '-');
    put_grouped(out, q / 100);
    buf_printf(out, ".%02llu", q % 100);
}

char *money_yuan_str(long long fen)
{
    buf b = BUF_INIT;
    money_yuan(&b, fen);
    return buf_detach(&b);
}

char *money_wan_str(long long fen)
{
    buf b = BUF_INIT;
    money_wan(&b, fen);
    return buf_detach(&b);
}

bool ratio_pct(buf *out, long long num, long long den)
{
    if (den <= 0 || num < 0) return false;
    /* Tenths of a percent = num * 1000 / den, rounded half up. 128-bit
     * intermediate: num * 2000 overflows 64 bits for huge amounts. */
    unsigned __int128 n = (unsigned __int128)(unsigned long long)num * 2000u + (unsigned long long)den;
    unsigned __int128 t = n / ((unsigned __int128)(unsigned long long)den * 2u);
    /* num/den may exceed 1 (a 建会率 over 100% from odd data), so t can
     * exceed 64 bits in theory; clamp rather than wrap. */
    unsigned long long tenths = t > (unsigned __int128)ULLONG_MAX ? ULLONG_MAX : (unsigned long long)t;
    buf_printf(out, "%llu.%llu", tenths / 10, tenths % 10);
    return true;
}

char *ratio_pct_str(long long num, long long den)
{
    buf b = BUF_INIT;
    if (!ratio_pct(&b, num, den)) { buf_free(&b); return NULL; }
    return buf_detach(&b);
}
