/* theme.c - lookup in the built-in theme. */
#include "theme.h"
#include <string.h>

const theme_file *theme_find(const char *name)
{
    for (size_t i = 0; i < theme_files_count; i++)
        if (strcmp(theme_files[i].name, name) == 0) return &theme_files[i];
    return NULL;
}
