/* main.c - placeholder CLI until the build pipeline lands. */
#include <stdio.h>
int main(void) { puts("gazette"); return 0; }
