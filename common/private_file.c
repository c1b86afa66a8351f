/* private_file.c: a file that holds a secret must be private to its owner (private_file.h). */
#include "private_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

int cl_private_file_stat_ok(const struct stat *st, const char *what, const char *path, char *err,
                            size_t errlen)
{
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "%s %s is not a regular file", what, path);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((st->st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        snprintf(err, errlen,
                 "%s %s is accessible by group or others (mode %04o); it must be "
                 "private to its owner (chmod 600)",
                 what, path, (unsigned)(st->st_mode & 07777));
        return CL_ERR_PERMISSION;
    }
    return CL_OK;
}

int cl_private_file_ok(const char *what, const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot look at %s %s: %s", what, path, strerror(e));
        return e == ENOENT || e == ENOTDIR ? CL_ERR_NOT_FOUND : CL_ERR_IO;
    }
    return cl_private_file_stat_ok(&st, what, path, err, errlen);
}
