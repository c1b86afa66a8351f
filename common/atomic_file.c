/* atomic_file.c: atomic whole-file writes (temp file, fsync, rename or link, directory fsync),
 * whole writes to an open file, and capped whole-file reads. */
#define _GNU_SOURCE /* renameat2() and RENAME_NOREPLACE */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

#define READ_CHUNK 4096

/* Splits path into a new string *dir ("." if there is no slash) and its last component *base
 * (a pointer into path). */
static int split_path(const char *path, char **dir, const char **base)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL) {
        *dir = strdup(".");
        *base = path;
    } else if (slash == path) {
        *dir = strdup("/");
        *base = slash + 1;
    } else {
        *dir = strndup(path, (size_t)(slash - path));
        *base = slash + 1;
    }
    if (*dir == NULL) {
        errno = ENOMEM;
        return CL_ERR_NOMEM;
    }
    if ((*base)[0] == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0) {
        errno = EINVAL;
        return CL_ERR_INVALID_ARGUMENT;
    }
    return CL_OK;
}

/* Writes all of data at off (positioned) or at the file offset, EINTR retried. */
static int write_whole(int fd, const void *data, size_t len, off_t off, int positioned)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = positioned ? pwrite(fd, p, len, off) : write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

int cl_write_all(int fd, const void *data, size_t len)
{
    return write_whole(fd, data, len, 0, 0);
}

int cl_pwrite_all(int fd, const void *data, size_t len, off_t off)
{
    return write_whole(fd, data, len, off, 1);
}

/* fsyncs a directory so that a rename or link in it is durable. File systems that cannot sync
 * directories (EINVAL) are accepted. */
static int sync_dir(const char *dir)
{
    int fd, saved;

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fsync(fd) != 0 && errno != EINVAL) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    close(fd);
    return 0;
}

/* Gives the synced temp file the name path unless path exists. Returns 0 if tmp was renamed,
 * 1 if path was linked to tmp (which then still exists), -1 with errno on failure. */
static int place_new(const char *tmp, const char *path)
{
#ifdef RENAME_NOREPLACE
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return -1;
#endif
    if (link(tmp, path) != 0)
        return -1;
    return 1;
}

static int atomic_write(const char *path, const void *data, size_t len, mode_t mode, int noreplace)
{
    char *dir = NULL, *tmp = NULL;
    const char *base;
    size_t tmplen;
    int fd = -1, tmp_exists = 0, saved_errno, placed, rc;
    struct stat st;

    /* Failures set errno and go to fail, which turns it into the code returned. */
    if (path == NULL || path[0] == '\0' || (data == NULL && len > 0)) {
        errno = EINVAL;
        goto fail;
    }
    if (split_path(path, &dir, &base) != CL_OK)
        goto fail;
    /* An early, non-authoritative check so that no temp file is written in vain. */
    if (noreplace && lstat(path, &st) == 0) {
        errno = EEXIST;
        goto fail;
    }

    tmplen = strlen(dir) + strlen(base) + sizeof("/..XXXXXX");
    tmp = malloc(tmplen);
    if (tmp == NULL) {
        errno = ENOMEM;
        goto fail;
    }
    snprintf(tmp, tmplen, "%s/.%s.XXXXXX", dir, base);
    fd = mkstemp(tmp);
    if (fd < 0)
        goto fail;
    tmp_exists = 1;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fchmod(fd, mode & 07777) != 0 ||
        cl_write_all(fd, data, len) != 0 || fsync(fd) != 0)
        goto fail;
    rc = close(fd);
    fd = -1;
    if (rc != 0)
        goto fail;

    if (noreplace) {
        placed = place_new(tmp, path);
        if (placed < 0)
            goto fail;
        if (placed == 0)
            tmp_exists = 0;
    } else {
        if (rename(tmp, path) != 0)
            goto fail;
        tmp_exists = 0;
    }
    /* Drop the temp name now, so that it is gone before the directory is synced. */
    if (tmp_exists && unlink(tmp) == 0)
        tmp_exists = 0;
    if (sync_dir(dir) != 0)
        goto fail;
    rc = CL_OK;
    goto out;

fail:
    rc = cl_err_from_errno(errno);
out:
    saved_errno = errno; /* the cause, kept through the clean-up */
    if (fd >= 0)
        close(fd);
    if (tmp_exists)
        unlink(tmp);
    free(tmp);
    free(dir);
    errno = saved_errno;
    return rc;
}

int cl_atomic_write(const char *path, const void *data, size_t len, mode_t mode)
{
    return atomic_write(path, data, len, mode, 0);
}

int cl_atomic_write_new(const char *path, const void *data, size_t len, mode_t mode)
{
    return atomic_write(path, data, len, mode, 1);
}

int cl_read_file_capped(const char *path, size_t cap, char **out, size_t *outlen)
{
    char *buf = NULL, *grown;
    size_t len = 0, room, limit;
    int fd = -1, saved_errno, rc;
    struct stat st;

    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL) {
        errno = EINVAL;
        goto fail;
    }
    if (cap > SIZE_MAX - 2)
        cap = SIZE_MAX - 2;
    limit = cap + 1; /* reading this much proves the file is too large */

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0)
        goto fail;
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        goto fail;
    }
    if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > (uintmax_t)cap) {
        errno = EFBIG;
        goto fail;
    }
    /* Regular files: size + 1 so that EOF is seen without growing; others: one chunk. */
    room = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : READ_CHUNK;
    if (room > limit)
        room = limit;
    buf = malloc(room + 1);
    if (buf == NULL)
        goto fail;

    for (;;) {
        ssize_t n;

        if (len == room) {
            if (room == limit)
                break;
            room = room > limit / 2 ? limit : room * 2;
            grown = realloc(buf, room + 1);
            if (grown == NULL)
                goto fail;
            buf = grown;
        }
        n = read(fd, buf + len, room - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > cap) {
        errno = EFBIG;
        goto fail;
    }
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
    if (outlen != NULL)
        *outlen = len;
    rc = CL_OK;
    goto out;

fail:
    rc = cl_err_from_errno(errno);
out:
    saved_errno = errno;
    if (fd >= 0)
        close(fd);
    free(buf);
    errno = saved_errno;
    return rc;
}
