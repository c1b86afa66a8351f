/* fuzz_scan.c: fuzz target for the scan stream of a factory terminal
 * (factory-terminal/scan_source.c: ft_scan_open_file and ft_scan_next over a file held in
 * memory, each scan then checked as a device number as ft_main.c does). */
#include <stdatomic.h>
#include <string.h>

#include "fuzz_common.h"
#include "input_check.h"
#include "scan_source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_file file;
    static const atomic_int stop = 0;
    struct ft_scan_source *source;
    char line[FT_SCAN_MAX + 1], err[256];
    enum ft_scan_kind kind;

    fuzz_init();
    if (fuzz_file_set(&file, data, size, 0600) != 0 ||
        ft_scan_open_file(file.path, &source, err, sizeof(err)) != 0)
        return 0;
    /* Every call consumes at least one byte or ends the stream. */
    for (size_t scans = 0; scans <= size; scans++) {
        kind = ft_scan_next(source, line, &stop, err, sizeof(err));
        if (kind != FT_SCAN_LINE && kind != FT_SCAN_TOO_LONG)
            break;
        if (strlen(line) > FT_SCAN_MAX)
            __builtin_trap(); /* the bound the header promises */
        (void)cl_wire_device_number_ok(line);
    }
    (void)ft_scan_describe(source);
    ft_scan_close(source);
    return 0;
}
