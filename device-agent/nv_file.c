/* nv_file.c: opening, locking, reading and writing the device image files. */
#include "nv_image_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

/* --- Reading and writing files --------------------------------------------------------------- */

/* Opens an image (O_RDONLY or O_RDWR) and locks it (LOCK_SH or LOCK_EX). */
int nvi_open_image(const char *path, int flags, int lock, int *fd, char *why, size_t whylen)
{
    struct stat st;
    int e;

    *fd = open(path, flags | O_CLOEXEC);
    if (*fd < 0) {
        e = errno;
        cl_err_set(why, whylen, "cannot open: %s", strerror(e));
        return cl_err_from_errno(e);
    }
    while (flock(*fd, lock) != 0) {
        if (errno == EINTR)
            continue;
        e = errno;
        cl_err_set(why, whylen, "cannot lock: %s", strerror(e));
        close(*fd);
        *fd = -1;
        return cl_err_from_errno(e);
    }
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cl_err_set(why, whylen, "not a regular file");
        close(*fd);
        *fd = -1;
        return CL_ERR_IO;
    }
    if ((st.st_mode & 077) != 0) /* the flash holds the model's firmware secrets (IMAGES.md) */
        cl_log_warn("%s is readable or writable by others (mode %04o): make it 0600", path,
                    (unsigned)(st.st_mode & 07777));
    return CL_OK;
}

/* Reads up to cap bytes of the image at fd into a new buffer of cap bytes (the rest erased);
 * *have is what was read, *filesize the file's size. */
int nvi_read_image(int fd, size_t cap, unsigned char **img, size_t *have, size_t *filesize,
                   char *why, size_t whylen)
{
    struct stat st;
    size_t got = 0;

    *img = NULL;
    if (fstat(fd, &st) != 0) {
        cl_err_set(why, whylen, "cannot stat: %s", strerror(errno));
        return CL_ERR_IO;
    }
    *filesize = (size_t)st.st_size;
    *img = malloc(cap);
    if (*img == NULL) {
        cl_err_set(why, whylen, "out of memory");
        return CL_ERR_NOMEM;
    }
    memset(*img, ERASED, cap);
    while (got < cap) {
        ssize_t n = pread(fd, *img + got, cap - got, (off_t)got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cl_err_set(why, whylen, "cannot read: %s", strerror(errno));
            nvi_free_image(*img, cap);
            *img = NULL;
            return CL_ERR_IO;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *have = got;
    return CL_OK;
}

/* Opens, locks and reads a whole image (the flash, or the NVRAM if nvram), which must be exactly
 * its size with a good header. With fd it is opened for writing, locked exclusively and kept in
 * *fd; with fd NULL it is read under a shared lock and closed again. On failure err says
 * "flash image: flash header: <why>" (or the nvram's). */
int nvi_load_image(const char *path, int nvram, int *fd, unsigned char **img, char *err,
                   size_t errlen)
{
    const char *name = nvram ? "nvram" : "flash";
    uint32_t size = nvram ? NVRAM_SIZE : FLASH_SIZE;
    size_t have, filesize;
    char why[WHY_MAX];
    int own = -1, *kept = fd != NULL ? fd : &own, rc;

    *img = NULL;
    rc = nvi_open_image(path, fd != NULL ? O_RDWR : O_RDONLY, fd != NULL ? LOCK_EX : LOCK_SH, kept,
                        why, sizeof(why));
    if (rc == CL_OK)
        rc = nvi_read_image(*kept, size, img, &have, &filesize, why, sizeof(why));
    if (rc == CL_OK &&
        !nvi_check_image_header(*img, have, filesize, nvram ? NVRAM_MAGIC : FLASH_MAGIC, size, why,
                                sizeof(why)))
        rc = CL_ERR_PARSE;
    if (rc != CL_OK) {
        nvi_free_image(*img, size);
        *img = NULL;
    }
    if ((rc != CL_OK || fd == NULL) && *kept >= 0) {
        close(*kept);
        *kept = -1;
    }
    if (rc != CL_OK)
        return nvi_fail(err, errlen, rc, "%s image: %s header: %s", name, name, why);
    return CL_OK;
}
