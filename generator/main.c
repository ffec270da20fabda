/* main.c - the gazette command line: dispatch to cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "commands.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"build", cmd_build, "render content/ into site/"},
    {"check", cmd_check, "validate content and snapshot, write nothing"},
    {"new", cmd_new, "create a notice or report with front matter"},
    {"import", cmd_import, "import plain-text documents and Jekyll posts"},
    {"release", cmd_release, "build and commit the site as a release"},
    {"log", cmd_log, "list releases"},
    {"verify", cmd_verify, "rebuild and compare with a release's tree"},
    {"serve", cmd_serve, "preview the site locally, rebuilding on change"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: gazette COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nRun 'gazette COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    alloc_start();
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) { printf("gazette %s\n", GAZETTE_VERSION); return 0; }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "gazette: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
