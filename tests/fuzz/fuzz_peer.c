/* fuzz_peer.c: fuzz target for the peer identity read from a certificate (common/peer.c:
 * cl_peer_from_cert and cl_peer_describe over a DER certificate, as a TLS server reads its
 * client's). */
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "fuzz_common.h"
#include "peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mbedtls_x509_crt crt;
    struct cl_peer peer;
    char text[160];

    fuzz_init();
    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse_der(&crt, data, size) == 0) {
        memset(&peer, 0x5a, sizeof(peer)); /* whatever was there before must not leak through */
        cl_peer_from_cert(&crt, &peer);
        cl_peer_describe(&peer, text, sizeof(text));
        (void)cl_role_from_name(peer.name);
    }
    mbedtls_x509_crt_free(&crt);
    return 0;
}
