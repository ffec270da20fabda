/* cmd_import.c - stub until the module lands. */
#include <stdio.h>
#include "commands.h"
int cmd_import(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "gazette: import: not implemented yet\n"); return 1; }
