/* private_file.h: the check that a file holding a secret (a passphrase, a private key) is
 * private to its owner: a regular file that neither its group nor others can access. */
#ifndef CERTLINE_PRIVATE_FILE_H
#define CERTLINE_PRIVATE_FILE_H

#include <stddef.h>
#include <sys/stat.h>

/* CL_OK if st is a regular file with no group or other permission bit; otherwise
 * CL_ERR_INVALID_ARGUMENT (not a regular file) or CL_ERR_PERMISSION, with err naming what
 * ("passphrase file", "private key file"), the path and the mode. */
int cl_private_file_stat_ok(const struct stat *st, const char *what, const char *path, char *err,
                            size_t errlen);

/* The same for the file at path (followed if a link); CL_ERR_NOT_FOUND/CL_ERR_IO if it cannot
 * be looked at. */
int cl_private_file_ok(const char *what, const char *path, char *err, size_t errlen);

#endif
