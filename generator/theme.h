/* theme.h - the default theme, compiled into the binary from templates/. */
#ifndef GAZETTE_THEME_H
#define GAZETTE_THEME_H
#include <stddef.h>

typedef struct {
    const char *name;            /* relative to templates/, e.g. "page.mustache" */
    const unsigned char *data;   /* NUL-terminated */
    size_t len;
} theme_file;

extern const theme_file theme_files[];   /* terminated by a {0} entry */
extern const size_t theme_files_count;

/* Find a built-in theme file by name, or NULL. */
const theme_file *theme_find(const char *name);

#endif
