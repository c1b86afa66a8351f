/* fuzz_p11_uri.c: fuzz target for PKCS#11 URIs (common/p11_uri.c: cl_p11_uri_parse over a
 * configuration's issuing_key_uri / root_key_uri). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "p11.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cl_p11_uri uri;
    char err[256], *text;

    fuzz_init();
    if ((text = malloc(size + 1)) == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (cl_p11_uri_parse(text, &uri, err, sizeof(err)) == 0 &&
        (uri.token[0] == '\0' || uri.module_path[0] != '/' || uri.id_len > sizeof(uri.id)))
        abort(); /* a parsed URI always has a token and an absolute module path */
    free(text);
    return 0;
}
