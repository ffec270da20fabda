/* money.h - exact formatting of money held as integer fen (1 元 = 100 fen).
 *
 * No floating point anywhere: every figure is computed with integers.
 *
 *   money_yuan(b, 431490000)  -> "4,314,900.00"   (元, thousands separators)
 *   money_wan(b, 431490000)   -> "431.49"         (万元, two decimals)
 *   ratio_pct(b, 1, 3)        -> "33.3"           (percent, one decimal)
 *
 * Rounding rule (万元 and percentages): round half up, applied to the
 * magnitude, i.e. halves round away from zero, so a negative difference
 * shows as the mirror of the positive one: 5000 fen -> "0.01" 万元 and
 * -5000 fen -> "-0.01". 元 are exact (fen are the last two decimals).
 * Negative amounts (differences) get a leading '-'. The full range of
 * long long is handled, LLONG_MIN included. The unit suffix (元, 万元, %)
 * is not appended; callers add it where it reads right. */
#ifndef GAZETTE_MONEY_H
#define GAZETTE_MONEY_H

#include <stdbool.h>
#include "util.h"

#define FEN_PER_YUAN 100LL
#define FEN_PER_WAN  1000000LL          /* 1 万元 = 10,000 元 */

void money_yuan(buf *out, long long fen);
void money_wan(buf *out, long long fen);
/* Newly allocated variants. */
char *money_yuan_str(long long fen);
char *money_wan_str(long long fen);
/* num/den as a percentage with one decimal, half up; den <= 0 or num < 0
 * appends nothing and returns false (not meaningful). */
bool ratio_pct(buf *out, long long num, long long den);
char *ratio_pct_str(long long num, long long den);   /* NULL when not meaningful */
/* Integer with thousands separators: 12345 -> "12,345". */
void int_grouped(buf *out, long long n);

#endif
