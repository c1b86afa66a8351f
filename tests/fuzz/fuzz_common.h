/* fuzz_common.h: what the fuzz targets share: the libFuzzer entry point, quiet logging, and
 * inputs handed to file-reading parsers as files held in memory (memfd), not on disk. */
#ifndef CERTLINE_FUZZ_COMMON_H
#define CERTLINE_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Each target defines it; libFuzzer or replay_main.c calls it once per input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Once per process: every log record is formatted and redacted (log.c runs on hostile text too)
 * and then written to /dev/null. */
void fuzz_init(void);

/* A file held in memory: path names it for the parsers that take a path
 * (/proc/self/fd/N of a memfd); its content is replaced by each fuzz_file_set. */
struct fuzz_file {
    int fd;
    char path[64];
};

/* Makes f hold exactly data[0..size) with the given mode (0600 for files of secrets); creates
 * the memfd on first use (f must start zeroed). Returns 0, or -1 (then the input is skipped). */
int fuzz_file_set(struct fuzz_file *f, const void *data, size_t size, unsigned mode);

/* A NUL-terminated malloc'd copy of data[0..size) (NULL when out of memory). */
char *fuzz_strndup(const uint8_t *data, size_t size);

#endif
