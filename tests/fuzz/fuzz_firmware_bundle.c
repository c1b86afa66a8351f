/* fuzz_firmware_bundle.c: fuzz target for a device model's firmware bundle
 * (device-agent/firmware_bundle.c: fw_bundle_load over a file held in memory). */
#include "firmware_bundle.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_file file;
    struct fw_bundle bundle;
    char err[512];

    fuzz_init();
    if (fuzz_file_set(&file, data, size, 0600) != 0)
        return 0;
    if (fw_bundle_load(file.path, &bundle, err, sizeof(err)) == 0)
        fw_bundle_free(&bundle);
    return 0;
}
