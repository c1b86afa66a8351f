/* device_key_token.c: a device key born in a PKCS#11 token and taken out only wrapped under the
 * model's pre-write key, with its certificate and a version 2 pack's other inputs. */
#include "device_key_token.h"

#include <string.h>

#include <mbedtls/platform_util.h>

#include "error.h"
#include "p11_wrap.h"
#include "pack.h"

static enum cl_p11_key_kind kind_of(enum cl_key_type type)
{
    return type == CL_KEY_P256      ? CL_P11_EC_P256
           : type == CL_KEY_RSA2048 ? CL_P11_RSA2048
                                    : CL_P11_RSA3072;
}

/* The public key's SubjectPublicKeyInfo DER into out. */
static int spki_of(mbedtls_pk_context *pk, struct cl_token_device *out)
{
    int n = mbedtls_pk_write_pubkey_der(pk, out->spki, sizeof(out->spki));
    if (n <= 0)
        return CL_ERR_CRYPTO;
    memmove(out->spki, out->spki + sizeof(out->spki) - (size_t)n, (size_t)n);
    out->spki_len = (size_t)n;
    return CL_OK;
}

int cl_token_device_issue(struct cl_p11_token *token, cl_p11_handle prewrite,
                          struct cl_signer *signer, const char *device_number,
                          const char *model_code, enum cl_key_type type, const char *serial_hex,
                          time_t not_before, int validity_days, struct cl_token_device *out,
                          char *err, size_t errlen)
{
    cl_p11_handle pub = 0, priv = 0;
    unsigned char t[32];
    mbedtls_pk_context pk;
    int rc;

    if (out == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    mbedtls_pk_init(&pk);
    /* The pair: session objects (gone with the session at the latest), the private half
     * sensitive and extractable only through C_WrapKey. */
    rc = cl_p11_generate_pair(token, kind_of(type), "certline-device", NULL, 0,
                              CL_P11_SESSION_OBJECT | CL_P11_WRAPPABLE, &pub, &priv, err, errlen);
    if (rc == CL_OK)
        rc = cl_p11_public_key(token, pub, &pk, err, errlen);
    if (rc == CL_OK &&
        (rc = cl_issue_device_key(signer, device_number, model_code, type, &pk, serial_hex,
                                  not_before, validity_days, &out->issued)) != CL_OK)
        cl_err_set(err, errlen, "cannot issue the certificate of %s: %s", device_number,
                   cl_err_str(rc));
    if (rc == CL_OK && (rc = spki_of(&pk, out)) != CL_OK)
        cl_err_set(err, errlen, "cannot write the public key of %s", device_number);
    if (rc == CL_OK)
        rc = cl_p11_wrap(token, prewrite, priv, out->wrapped, sizeof(out->wrapped),
                         &out->wrapped_len, err, errlen);
    if (rc == CL_OK) {
        cl_pack_proof_input(device_number, serial_hex, out->issued.cert_der, out->issued.cert_len,
                            t);
        rc = cl_p11_aes_ecb(token, prewrite, t, sizeof(t), out->proof_key, err, errlen);
    }
    if (priv != 0)
        cl_p11_destroy(token, priv, NULL, 0);
    if (pub != 0)
        cl_p11_destroy(token, pub, NULL, 0);
    mbedtls_pk_free(&pk);
    if (rc != CL_OK)
        cl_token_device_free(out);
    return rc;
}

void cl_token_device_free(struct cl_token_device *device)
{
    if (device == NULL)
        return;
    cl_issued_free(&device->issued);
    mbedtls_platform_zeroize(device, sizeof(*device));
}
