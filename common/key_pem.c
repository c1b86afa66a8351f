/* key_pem.c: a private key as PEM text for a key file, every copy wiped (key_pem.h). */
#include "key_pem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>

#include "error.h"
#include "keyfile.h"

#define KEY_DER_MAX 8192 /* an RSA-4096 key in PKCS#1 is under 2,400 bytes */
#define LINE_BYTES 48    /* 64 base64 characters */

/* The base64 body, 64 characters and "\n" a line, at out (cap bytes); *used grows. */
static int put_body(const unsigned char *der, size_t len, char *out, size_t cap, size_t *used)
{
    for (size_t at = 0; at < len; at += LINE_BYTES) {
        size_t n = len - at < LINE_BYTES ? len - at : LINE_BYTES, olen = 0;
        if (mbedtls_base64_encode((unsigned char *)out + *used, cap - *used, &olen, der + at, n) !=
                0 ||
            *used + olen + 1 >= cap)
            return CL_ERR_INTERNAL;
        *used += olen;
        out[(*used)++] = '\n';
    }
    return CL_OK;
}

int cl_key_der_to_pem(const unsigned char *der, size_t len, char **pem, size_t *pem_size)
{
    mbedtls_pk_context key;
    unsigned char *buf = NULL;
    const char *label;
    char *out = NULL;
    size_t cap = 0, used = 0;
    int ret, rc = CL_ERR_PARSE;

    *pem = NULL;
    *pem_size = 0;
    mbedtls_pk_init(&key);
    if (der == NULL || mbedtls_pk_parse_key(&key, der, len, NULL, 0) != 0)
        goto out;
    label = mbedtls_pk_get_type(&key) == MBEDTLS_PK_RSA ? "RSA PRIVATE KEY" : "EC PRIVATE KEY";
    rc = CL_ERR_NOMEM;
    if ((buf = calloc(1, KEY_DER_MAX)) == NULL)
        goto out;
    /* The DER of the key's own form (PKCS#1 or SEC1) at the end of buf. */
    rc = CL_ERR_CRYPTO;
    if ((ret = mbedtls_pk_write_key_der(&key, buf, KEY_DER_MAX)) <= 0)
        goto out;
    cap = 2 * 40 + ((size_t)ret + LINE_BYTES - 1) / LINE_BYTES * 65 + 1;
    rc = CL_ERR_NOMEM;
    if ((out = calloc(1, cap)) == NULL)
        goto out;
    used = (size_t)snprintf(out, cap, "-----BEGIN %s-----\n", label);
    if ((rc = put_body(buf + KEY_DER_MAX - (size_t)ret, (size_t)ret, out, cap, &used)) != CL_OK)
        goto out;
    if (used + strlen(label) + 16 >= cap) {
        rc = CL_ERR_INTERNAL;
        goto out;
    }
    snprintf(out + used, cap - used, "-----END %s-----\n", label);
    *pem = out;
    *pem_size = cap;
    out = NULL;
    rc = CL_OK;
out:
    mbedtls_pk_free(&key);
    cl_secret_free(buf, buf != NULL ? KEY_DER_MAX : 0);
    cl_secret_free(out, out != NULL ? cap : 0);
    return rc;
}
