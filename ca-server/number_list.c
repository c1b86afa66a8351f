/* number_list.c: the device numbers a command is given: on its command line or in a file. */
#include "commands.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "error.h"

#define LIST_FILE_MAX (4u << 20)

/* The device numbers in the file at path, one a line, at most max: *numbers (malloc'd) points
 * into *buffer (malloc'd). On failure the reason is on stderr. */
static int read_numbers(const char *path, size_t max, char ***numbers, size_t *count, char **buffer)
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

int ca_numbers_given(int argc, char **argv, const char *const *values_of, const char *file,
                     size_t max, char ***numbers, size_t *count, char **buffer)
{
    *numbers = NULL;
    *buffer = NULL;
    *count = 0;
    if (file != NULL) {
        if (read_numbers(file, max, numbers, count, buffer) != CL_OK)
            return 1;
    } else {
        if ((*numbers = calloc((size_t)argc, sizeof(char *))) == NULL)
            return 1;
        *count = (size_t)ca_positionals(argc, argv, values_of, *numbers, argc);
    }
    if (*count == 0) {
        fprintf(stderr, "ca-server: no device numbers given\n");
        return 2;
    }
    return 0;
}
