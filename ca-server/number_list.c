/* number_list.c: device-number lists in files (one a line), for the commands that take one. */
#include "commands.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "error.h"

#define LIST_FILE_MAX (4u << 20)

int ca_read_numbers(const char *path, size_t max, char ***numbers, size_t *count, char **buffer)
{
    size_t len, n = 0;
    char *text = NULL, *line, *save = NULL;
    int rc = cl_read_file_capped(path, LIST_FILE_MAX, &text, &len);

    if (rc != CL_OK) {
        fprintf(stderr, "ca-server: cannot read %s: %s\n", path, cl_err_str(rc));
        return rc;
    }
    *numbers = calloc(max, sizeof(char *));
    if (*numbers == NULL) {
        free(text);
        return CL_ERR_NOMEM;
    }
    for (line = strtok_r(text, "\r\n", &save); line != NULL; line = strtok_r(NULL, "\r\n", &save)) {
        while (isspace((unsigned char)*line))
            line++;
        if (*line == '\0' || *line == '#')
            continue;
        if (n == max) {
            fprintf(stderr, "ca-server: %s lists more than %zu device numbers\n", path, max);
            free(*numbers);
            *numbers = NULL;
            free(text);
            return CL_ERR_TOO_LARGE;
        }
        (*numbers)[n++] = line;
    }
    *count = n;
    *buffer = text;
    return CL_OK;
}
