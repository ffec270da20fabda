/* commands.h - one function per CLI command, each in its own cmd_*.c file.
 * Each takes the arguments after the command name (argv[0] is the command)
 * and returns the process exit status: 0 ok, 1 failure, 2 usage error. */
#ifndef GAZETTE_COMMANDS_H
#define GAZETTE_COMMANDS_H

int cmd_build(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_new(int argc, char **argv);
int cmd_import(int argc, char **argv);    /* cmd_import.c */
int cmd_release(int argc, char **argv);   /* cmd_release.c */
int cmd_log(int argc, char **argv);       /* cmd_release.c */
int cmd_verify(int argc, char **argv);    /* cmd_release.c */
int cmd_serve(int argc, char **argv);     /* cmd_serve.c */

#define GAZETTE_VERSION "0.1.0"

#endif
