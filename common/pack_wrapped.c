/* pack_wrapped.c: builds a version 2 pack (PACK.md): a device key born in a PKCS#11 token, which
 * ca-server only ever holds wrapped (RFC 5649) under the model's pre-write key. */
#include <stddef.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "error.h"
#include "log.h"
#include "pack.h"
#include "pack_internal.h"
#include "x509_issue.h"

int cl_pack_build_wrapped(const struct cl_pack_contents *contents, const unsigned char *cert_der,
                          size_t cert_len, const unsigned char *wrapped_key, size_t wrapped_len,
                          const unsigned char *spki_der, size_t spki_len,
                          const unsigned char proof_key[32], char **pack_json,
                          char server_value[CL_VERIFY_HEX + 1])
{
    char device_value[CL_VERIFY_HEX + 1];
    mbedtls_x509_crt crt;
    int rc, same;

    if (pack_json != NULL)
        *pack_json = NULL;
    if (server_value != NULL)
        server_value[0] = '\0';
    if (!cl_packi_contents_ok(contents) || pack_json == NULL || server_value == NULL ||
        cert_der == NULL || cert_len == 0 || wrapped_key == NULL || wrapped_len % 8 != 0 ||
        spki_der == NULL || spki_len == 0 || proof_key == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    /* The SubjectPublicKeyInfo must be the certificate's: the device value binds the key the
     * device unwraps to this certificate, hence to this device number and serial. */
    mbedtls_x509_crt_init(&crt);
    same = mbedtls_x509_crt_parse_der(&crt, cert_der, cert_len) == 0 &&
           crt.pk_raw.len == spki_len && memcmp(crt.pk_raw.p, spki_der, spki_len) == 0;
    mbedtls_x509_crt_free(&crt);
    if (!same) {
        cl_log_warn("pack for %.31s refused: the key is not the certificate's",
                    contents->device_number);
        return CL_ERR_INVALID_ARGUMENT;
    }
    cl_verify_value(CL_VERIFY_DEVICE_V2, contents->device_number, contents->serial_hex, cert_der,
                    cert_len, spki_der, spki_len, device_value);
    rc = cl_packi_emit(contents, 2, cert_der, cert_len, wrapped_key, wrapped_len, device_value,
                       pack_json);
    if (rc == CL_OK)
        cl_verify_value(CL_VERIFY_SERVER_V2, contents->device_number, contents->serial_hex,
                        cert_der, cert_len, proof_key, 32, server_value);
    return rc;
}
