/* atomic_file.h: writes files so that readers and crashes only ever see the old content or the
 * new content whole (temp file in the same directory, fsync, rename, fsync of the directory),
 * writes all of a buffer to an open file, and reads files with a size cap. */
#ifndef CERTLINE_ATOMIC_FILE_H
#define CERTLINE_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Replaces path with data[0..len), permissions mode (umask does not apply). The content goes to
 * a temp file ".<base>.XXXXXX" beside path, which is fsynced and renamed over path; then the
 * directory is fsynced. A symbolic link at path is itself replaced, not followed.
 * Returns CL_OK, or a negative cl_err code with errno set to the cause:
 *   CL_ERR_INVALID_ARGUMENT  NULL or empty path, path ending in '/', NULL data with len > 0,
 *                            or a name too long for a temp file;
 *   CL_ERR_NOT_FOUND         the directory does not exist;
 *   CL_ERR_PERMISSION        access denied or read-only file system;
 *   CL_ERR_TOO_LARGE         the file size limit was reached (EFBIG);
 *   CL_ERR_NOMEM, CL_ERR_IO  anything else (path is a directory, disk full, ...).
 * On any failure before the rename, the temp file is removed and path is left untouched. If
 * only the final fsync of the directory fails, path already holds the new content (which may
 * not yet be durable) and CL_ERR_IO is returned. */
int cl_atomic_write(const char *path, const void *data, size_t len, mode_t mode);

/* As cl_atomic_write, but never replaces an existing path (a symbolic link included): returns
 * CL_ERR_EXISTS (errno EEXIST) and leaves it untouched. The check and the creation are one
 * atomic step (renameat2 RENAME_NOREPLACE, or link(2) of the synced temp file where the file
 * system lacks it). */
int cl_atomic_write_new(const char *path, const void *data, size_t len, mode_t mode);

/* Writes all of data[0..len) to fd at its file offset (cl_write_all) or at off (cl_pwrite_all),
 * retrying on EINTR. Returns 0, or -1 with errno set (EIO if nothing could be written). */
int cl_write_all(int fd, const void *data, size_t len);
int cl_pwrite_all(int fd, const void *data, size_t len, off_t off);

/* Reads all of path into a new NUL-terminated buffer *out (free with free()), its length
 * without the NUL in *outlen (outlen may be NULL). A file longer than cap bytes is refused with
 * CL_ERR_TOO_LARGE. Other failures: CL_ERR_INVALID_ARGUMENT, CL_ERR_NOT_FOUND,
 * CL_ERR_PERMISSION, CL_ERR_NOMEM, CL_ERR_IO, with errno set to the cause. On failure *out is
 * NULL. The content may itself hold NUL bytes; compare *outlen with strlen() to find out. */
int cl_read_file_capped(const char *path, size_t cap, char **out, size_t *outlen);

#endif
