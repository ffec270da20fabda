/* cmd_serve.c - stub until the module lands. */
#include <stdio.h>
#include "commands.h"
int cmd_serve(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "gazette: serve: not implemented yet\n"); return 1; }
