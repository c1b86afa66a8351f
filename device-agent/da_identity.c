/* da_identity.c: unsealing the device's keys with the peculiar key and building its TLS contexts
 * from memory (cl_tls_settings *_pem); every clear copy of a key is wiped right after use. */
#include "da_identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert_check.h"
#include "error.h"
#include "keyfile.h"

void da_peculiar_identity(const struct nv_device *device, struct peculiar_identity *id)
{
    id->generator = device->firmware.peculiar_generator;
    id->mac = device->fixed.mac;
    id->device_number = device->nvram.device_number;
}

/* Unseals the common-certificate key (DER, malloc'd) without checking it. */
static int unseal_common_key(const struct nv_device *device, unsigned char **key_der,
                             size_t *key_len, char *err, size_t errlen)
{
    struct peculiar_identity id;
    int rc;

    da_peculiar_identity(device, &id);
    rc = peculiar_open(&id, PECULIAR_COMMON_KEY, NULL, device->common.sealed_key,
                       device->common.sealed_key_len, key_der, key_len);
    if (rc != CL_OK)
        snprintf(err, errlen, "the common key does not open with this board's peculiar key (%s)",
                 cl_err_str(rc));
    return rc;
}

int da_common_key(const struct nv_device *device, unsigned char **key_der, size_t *key_len,
                  char *err, size_t errlen)
{
    int rc = unseal_common_key(device, key_der, key_len, err, errlen);

    if (rc != CL_OK)
        return rc;
    if ((rc = cc_key_matches(device->common.certificate_pem, *key_der, *key_len)) != CL_OK) {
        snprintf(err, errlen, "the common key does not match the common certificate");
        cl_secret_free(*key_der, *key_len);
        *key_der = NULL;
        *key_len = 0;
    }
    return rc;
}

int da_own_key(const struct nv_device *device, unsigned char **key_der, size_t *key_len, char *err,
               size_t errlen)
{
    const struct nv_certificate *cert = &device->current;
    struct peculiar_identity id;
    int rc;

    *key_der = NULL;
    *key_len = 0;
    if (!device->has_certificate) {
        snprintf(err, errlen, "no certificate is written on this device");
        return CL_ERR_NOT_FOUND;
    }
    da_peculiar_identity(device, &id);
    rc = peculiar_open(&id, PECULIAR_DEVICE_KEY, cert->serial_hex, cert->sealed_key,
                       cert->sealed_key_len, key_der, key_len);
    if (rc != CL_OK) {
        snprintf(err, errlen,
                 "the key of certificate %s does not open with this board's peculiar key (%s)",
                 cert->serial_hex, cl_err_str(rc));
        return rc;
    }
    if ((rc = cc_key_matches(cert->certificate_pem, *key_der, *key_len)) != CL_OK) {
        snprintf(err, errlen, "the key of certificate %s does not match it", cert->serial_hex);
        cl_secret_free(*key_der, *key_len);
        *key_der = NULL;
        *key_len = 0;
    }
    return rc;
}

/* "a\nb", malloc'd (NULL if out of memory). */
static char *joined(const char *a, const char *b)
{
    size_t a_len = strlen(a), b_len = strlen(b);
    char *out = malloc(a_len + 1 + b_len + 1);

    if (out != NULL) {
        memcpy(out, a, a_len);
        out[a_len] = '\n';
        memcpy(out + a_len + 1, b, b_len + 1);
    }
    return out;
}

/* cl_tls_new with leaf + chain as the own certificate, the key from DER, the firmware root and,
 * if issuers is not NULL, these issuing CA certificates as trust anchors beside it. */
static int tls_from(const struct nv_device *device, enum cl_tls_side side, const char *leaf_pem,
                    const char *chain_pem, const char *issuers, const unsigned char *key_der,
                    size_t key_len, struct cl_tls **out, char *err, size_t errlen)
{
    struct cl_tls_settings settings = {0};
    char *own = joined(leaf_pem, chain_pem);
    char *trust = issuers != NULL ? joined(device->firmware.root_pem, issuers) : NULL;
    int rc;

    if (own == NULL || (issuers != NULL && trust == NULL)) {
        free(own);
        free(trust);
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    settings.cert_pem = own;
    settings.key_der = key_der; /* DER straight to mbedTLS: no PEM text of the key */
    settings.key_der_len = key_len;
    settings.trust_pem = trust != NULL ? trust : device->firmware.root_pem;
    settings.key_pair_checked = 1; /* see da_tls_common and da_own_key */
    rc = cl_tls_new(side, &settings, out, err, errlen);
    free(own);
    free(trust);
    return rc;
}

int da_tls_common(const struct nv_device *device, enum cl_tls_side side, struct cl_tls **out,
                  char *err, size_t errlen)
{
    unsigned char *key = NULL;
    size_t key_len = 0;
    int rc;

    *out = NULL;
    /* No key-pair check here: mkimage checked the common key against the common certificate
     * before sealing it, and it opens only authenticated (AES-256-GCM under the peculiar key). A
     * certificate changed in the image since would fail the first handshake: the peer checks
     * this key's signature with the certificate's key. */
    if ((rc = unseal_common_key(device, &key, &key_len, err, errlen)) != CL_OK)
        return rc;
    /* The firmware's issuing CA (chain_pem) was verified against the root by mkimage, with the
     * common certificate it issued, and is kept beside the root: as a trust anchor, a factory
     * terminal chain through that very certificate (same DER) costs its leaf's signature only;
     * any other issuing CA is still verified up to the root. Validity is checked for every
     * certificate, revocation for every presented one (the CRL holder). */
    rc = tls_from(device, side, device->common.certificate_pem, device->firmware.chain_pem,
                  device->firmware.chain_pem, key, key_len, out, err, errlen);
    cl_secret_free(key, key_len);
    return rc;
}

int da_tls_common_pair(const struct nv_device *device, struct cl_tls **server,
                       struct cl_tls **client, char *err, size_t errlen)
{
    int rc;

    *client = NULL;
    if ((rc = da_tls_common(device, CL_TLS_SERVER, server, err, errlen)) != CL_OK)
        return rc;
    if ((rc = cl_tls_new_sibling(*server, CL_TLS_CLIENT, client, err, errlen)) != CL_OK) {
        cl_tls_free(*server);
        *server = NULL;
    }
    return rc;
}

int da_tls_own(const struct nv_device *device, struct cl_tls **out, char *err, size_t errlen)
{
    unsigned char *key = NULL;
    size_t key_len = 0;
    int rc;

    *out = NULL;
    if ((rc = da_own_key(device, &key, &key_len, err, errlen)) != CL_OK)
        return rc;
    rc = tls_from(device, CL_TLS_CLIENT, device->current.certificate_pem, device->current.chain_pem,
                  NULL, key, key_len, out, err, errlen);
    cl_secret_free(key, key_len);
    return rc;
}
