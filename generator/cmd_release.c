/* cmd_release.c - stub until the module lands. */
#include <stdio.h>
#include "commands.h"
int cmd_release(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "gazette: release: not implemented yet\n"); return 1; }
int cmd_log(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "gazette: log: not implemented yet\n"); return 1; }
int cmd_verify(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "gazette: verify: not implemented yet\n"); return 1; }
