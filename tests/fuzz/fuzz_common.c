/* fuzz_common.c: shared helpers of the fuzz targets (quiet logs, memory files, copies). */
#define _GNU_SOURCE /* memfd_create */

#include "fuzz_common.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

void fuzz_init(void)
{
    static int done;
    int fd;

    if (done)
        return;
    done = 1;
    fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    cl_log_set_sink(fd >= 0 ? fd : -1);
    cl_log_set_level(CL_LOG_DEBUG);
}

int fuzz_file_set(struct fuzz_file *f, const void *data, size_t size, unsigned mode)
{
    const unsigned char *p = data;
    size_t done = 0;

    if (f->path[0] == '\0') {
        f->fd = memfd_create("certline-fuzz", MFD_CLOEXEC);
        if (f->fd < 0)
            return -1;
        snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
    }
    if (ftruncate(f->fd, 0) != 0 || fchmod(f->fd, (mode_t)mode) != 0)
        return -1;
    while (done < size) {
        ssize_t n = pwrite(f->fd, p + done, size - done, (off_t)done);
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s != NULL) {
        if (size > 0)
            memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}
