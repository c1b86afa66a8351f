/* fuzz_pack.c: fuzz target for certificate packs (common/pack.c: cl_pack_parse, then
 * cl_pack_open_key under a fixed pre-write key, as the device reads a pack it was sent). */
#include <stdlib.h>

#include "error.h"
#include "fuzz_common.h"
#include "keyfile.h"
#include "pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char prewrite_key[CL_PREWRITE_KEY_BYTES] = {0x5a};
    struct cl_pack pack;
    unsigned char *key = NULL;
    size_t key_len = 0;
    char err[256];
    char *json;

    fuzz_init();
    if ((json = fuzz_strndup(data, size)) == NULL)
        return 0;
    if (cl_pack_parse(json, &pack, err, sizeof(err)) == CL_OK) {
        if (cl_pack_open_key(&pack, prewrite_key, &key, &key_len) == CL_OK)
            cl_secret_free(key, key_len);
        cl_pack_free(&pack);
    }
    free(json);
    return 0;
}
