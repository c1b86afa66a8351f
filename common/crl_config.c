/* crl_config.c: the revocation keys of a program's configuration, its CRL holder, and the CRL
 * as base64 on the wire. */
#include "crl_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

#include "atomic_file.h"
#include "error.h"

#define PEM_FILE_MAX (256 * 1024)
#define BEGIN_CERT "-----BEGIN CERTIFICATE-----"

int cl_crl_config_policy(const struct cl_crl_config *c, struct cl_crl_policy *out, char *err,
                         size_t errlen)
{
    char why[128];
    if (cl_crl_stale_policy_parse(c->stale_policy, &out->stale, why, sizeof(why)) != CL_OK) {
        snprintf(err, errlen, "crl_stale_policy: %s", why);
        return CL_ERR_CONFIG;
    }
    if (cl_crl_missing_policy_parse(c->missing_policy, &out->missing, why, sizeof(why)) != CL_OK) {
        snprintf(err, errlen, "crl_missing_policy: %s", why);
        return CL_ERR_CONFIG;
    }
    return CL_OK;
}

int cl_crl_config_holder(const struct cl_crl_config *c, const struct cl_tls_config *tls,
                         struct cl_crl_holder **out, char *err, size_t errlen)
{
    struct cl_crl_policy policy;
    char *trust = NULL, *own = NULL, *pem = NULL;
    size_t trust_len = 0, own_len = 0;
    int rc;

    *out = NULL;
    if ((rc = cl_crl_config_policy(c, &policy, err, errlen)) != CL_OK)
        return rc;
    if ((rc = cl_read_file_capped(tls->trust_file, PEM_FILE_MAX, &trust, &trust_len)) != CL_OK ||
        (rc = cl_read_file_capped(tls->cert_file, PEM_FILE_MAX, &own, &own_len)) != CL_OK) {
        snprintf(err, errlen, "cannot read %s: %s",
                 trust == NULL ? tls->trust_file : tls->cert_file, cl_err_str(rc));
        goto out;
    }
    /* The own chain's CA certificates: everything after its first (the leaf). */
    const char *first = strstr(own, BEGIN_CERT);
    const char *chain = first != NULL ? strstr(first + 1, BEGIN_CERT) : NULL;
    size_t chain_len = chain != NULL ? strlen(chain) : 0;
    pem = malloc(trust_len + chain_len + 2);
    if (pem == NULL) {
        rc = CL_ERR_NOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    memcpy(pem, trust, trust_len);
    pem[trust_len] = '\n';
    memcpy(pem + trust_len + 1, chain != NULL ? chain : "", chain_len);
    pem[trust_len + 1 + chain_len] = '\0';
    rc = cl_crl_holder_new(&policy, NULL, pem, out, err, errlen);
out:
    free(trust);
    free(own);
    free(pem);
    return rc;
}

int cl_crl_to_wire(const unsigned char *der, size_t len, char **out)
{
    size_t need = 0;
    mbedtls_base64_encode(NULL, 0, &need, der, len);
    if ((*out = malloc(need + 1)) == NULL)
        return CL_ERR_NOMEM;
    if (mbedtls_base64_encode((unsigned char *)*out, need + 1, &need, der, len) != 0) {
        free(*out);
        *out = NULL;
        return CL_ERR_INTERNAL;
    }
    return CL_OK;
}

int cl_crl_from_wire(const char *text, unsigned char **der, size_t *len)
{
    size_t n = strlen(text), need = 0;
    *der = NULL;
    *len = 0;
    if (mbedtls_base64_decode(NULL, 0, &need, (const unsigned char *)text, n) ==
            MBEDTLS_ERR_BASE64_INVALID_CHARACTER ||
        need == 0)
        return CL_ERR_PARSE;
    if ((*der = malloc(need)) == NULL)
        return CL_ERR_NOMEM;
    if (mbedtls_base64_decode(*der, need, len, (const unsigned char *)text, n) != 0) {
        free(*der);
        *der = NULL;
        return CL_ERR_PARSE;
    }
    return CL_OK;
}
