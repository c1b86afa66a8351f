/* fuzz_crl.c: fuzz target for the CRL reader (common/crl_check.c: cl_crl_parse over DER or PEM,
 * as a comm-terminal reads ca-server's answer and a factory terminal its comm-terminal's, then
 * the lookups a handshake makes), against the fixed CA that signed the seeds in corpus/crl/. */
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "crl_check.h"
#include "error.h"
#include "fuzz_common.h"

/* The seeds' CA (P-256, self-signed); a CRL the fuzzer changes no longer verifies, but every
 * byte is read by the structure parser before the signature is checked. */
static const char ca_pem[] = "-----BEGIN CERTIFICATE-----\n"
                             "MIIBmjCCAUCgAwIBAgICEjQwCgYIKoZIzj0EAwIwMzEWMBQGA1UECgwNY2VydGxp\n"
                             "bmUgZnV6ejEZMBcGA1UEAwwQY2VydGxpbmUgZnV6eiBDQTAgFw0yNjEyMDEwMDAw\n"
                             "MDBaGA8yMTI2MTEwNzAwMDAwMFowMzEWMBQGA1UECgwNY2VydGxpbmUgZnV6ejEZ\n"
                             "MBcGA1UEAwwQY2VydGxpbmUgZnV6eiBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
                             "A0IABGZHEBrO77cIZ8IcE3x5tNhESh38BwudJ9WK4V9N65ne5R7XERXg3S3MufQk\n"
                             "J9LEPkiax9mRWup0ODgEHI2RpnGjQjBAMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0P\n"
                             "AQH/BAQDAgEGMB0GA1UdDgQWBBTRUGrR73EI4oI3CS6xdY9HRFifDDAKBggqhkjO\n"
                             "PQQDAgNIADBFAiBBO5YfJUo1q4l8D8f7F30j+dYi52Tj6UmOds2hWDVJjAIhANNW\n"
                             "wtkHJpXDf6OvrX4IYIwTq9zVUTkAUbKci5hJZvGh\n"
                             "-----END CERTIFICATE-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mbedtls_x509_crt ca;
    static int ready;
    struct cl_crl *crl = NULL;
    struct cl_crl_revoked revoked;
    char err[256], issuer[256];

    fuzz_init();
    if (!ready) {
        mbedtls_x509_crt_init(&ca);
        if (mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem, sizeof(ca_pem)) != 0)
            __builtin_trap(); /* the embedded CA must parse */
        ready = 1;
    }
    if (cl_crl_parse(data, size, &ca, &crl, err, sizeof(err)) == CL_OK) {
        (void)cl_crl_number(crl);
        (void)cl_crl_next_update(crl);
        cl_crl_issuer_text(crl, issuer, sizeof(issuer));
        (void)cl_crl_lookup_hex(crl, "2A16C55E", &revoked);
        (void)cl_crl_lookup_hex(crl, "00FF00FF00FF00FF00FF", &revoked);
        (void)cl_crl_lists(crl, &ca, &revoked);
        cl_crl_release(crl);
    }
    return 0;
}
