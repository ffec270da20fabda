/* cmd_build.c - stub until the build pipeline lands. */
#include <stdio.h>
#include "commands.h"
int cmd_build(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "gazette: build: not implemented yet\n"); return 1; }
int cmd_check(int argc, char **argv) { (void)argc; (void)argv; return 1; }
int cmd_new(int argc, char **argv) { (void)argc; (void)argv; return 1; }
