/* tls.c: builds the shared mbedTLS configuration of a program (see tls.h for the policy). */
#include "tls_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>

#include "error.h"

/* AEAD suites with forward secrecy only. */
static const int allowed_ciphersuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

static const mbedtls_ecp_group_id allowed_curves[] = {
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_NONE,
};

void cl_tls_strerror(int mbedtls_ret, char *buf, size_t len)
{
    mbedtls_strerror(mbedtls_ret, buf, len);
}

static int fail(char *err, size_t errlen, const char *what, const char *path, int ret)
{
    char detail[160];
    cl_tls_strerror(ret, detail, sizeof(detail));
    snprintf(err, errlen, "%s %s: %s", what, path ? path : "(not set)", detail);
    return CL_ERR_TLS_SETUP;
}

/* Where a credential came from, for messages: the file name, or "(in memory)". */
static const char *source(const char *file)
{
    return file != NULL ? file : "(in memory)";
}

static int load_certs(mbedtls_x509_crt *crt, const char *file, const char *pem)
{
    if (file != NULL)
        return mbedtls_x509_crt_parse_file(crt, file);
    return mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, strlen(pem) + 1);
}

static int load_key(mbedtls_pk_context *key, const char *file, const char *pem)
{
    if (file != NULL)
        return mbedtls_pk_parse_keyfile(key, file, NULL);
    return mbedtls_pk_parse_key(key, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0);
}

int cl_tls_new(enum cl_tls_side side, const struct cl_tls_settings *settings, struct cl_tls **out,
               char *err, size_t errlen)
{
    static const char personalisation[] = "certline tls";
    struct cl_tls *tls;
    int ret, rc = CL_ERR_TLS_SETUP;

    *out = NULL;
    if ((!settings->cert_file && !settings->cert_pem) ||
        (!settings->key_file && !settings->key_pem) ||
        (!settings->trust_file && !settings->trust_pem)) {
        snprintf(err, errlen, "TLS needs a certificate, a key and a trust file");
        return CL_ERR_INVALID_ARGUMENT;
    }
    tls = calloc(1, sizeof(*tls));
    if (tls == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    tls->side = side;
    mbedtls_entropy_init(&tls->entropy);
    mbedtls_ctr_drbg_init(&tls->drbg);
    mbedtls_x509_crt_init(&tls->own_chain);
    mbedtls_pk_init(&tls->own_key);
    mbedtls_x509_crt_init(&tls->trust);
    mbedtls_ssl_cache_init(&tls->cache);
    mbedtls_ssl_config_init(&tls->conf);

    ret = mbedtls_ctr_drbg_seed(&tls->drbg, mbedtls_entropy_func, &tls->entropy,
                                (const unsigned char *)personalisation, sizeof(personalisation));
    if (ret != 0) {
        rc = fail(err, errlen, "seeding the random generator", NULL, ret);
        goto out;
    }
    if ((ret = load_certs(&tls->own_chain, settings->cert_file, settings->cert_pem)) != 0) {
        rc = fail(err, errlen, "cannot load certificate", source(settings->cert_file), ret);
        goto out;
    }
    if ((ret = load_key(&tls->own_key, settings->key_file, settings->key_pem)) != 0) {
        rc = fail(err, errlen, "cannot load private key", source(settings->key_file), ret);
        goto out;
    }
    if ((ret = mbedtls_pk_check_pair(&tls->own_chain.pk, &tls->own_key)) != 0) {
        rc = fail(err, errlen, "private key does not match certificate",
                  source(settings->cert_file), ret);
        goto out;
    }
    if ((ret = load_certs(&tls->trust, settings->trust_file, settings->trust_pem)) != 0) {
        rc = fail(err, errlen, "cannot load trusted root", source(settings->trust_file), ret);
        goto out;
    }

    ret = mbedtls_ssl_config_defaults(
        &tls->conf, side == CL_TLS_SERVER ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
        MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        rc = fail(err, errlen, "TLS configuration", NULL, ret);
        goto out;
    }
    mbedtls_ssl_conf_min_version(&tls->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&tls->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_authmode(&tls->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_renegotiation(&tls->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    mbedtls_ssl_conf_legacy_renegotiation(&tls->conf, MBEDTLS_SSL_LEGACY_BREAK_HANDSHAKE);
    mbedtls_ssl_conf_curves(&tls->conf, allowed_curves);
    mbedtls_ssl_conf_ciphersuites(&tls->conf, allowed_ciphersuites);
    mbedtls_ssl_conf_rng(&tls->conf, mbedtls_ctr_drbg_random, &tls->drbg);
    mbedtls_ssl_conf_ca_chain(&tls->conf, &tls->trust, NULL);
    if ((ret = mbedtls_ssl_conf_own_cert(&tls->conf, &tls->own_chain, &tls->own_key)) != 0) {
        rc = fail(err, errlen, "TLS own certificate", settings->cert_file, ret);
        goto out;
    }
    if (side == CL_TLS_SERVER) {
        mbedtls_ssl_cache_set_timeout(&tls->cache, 3600);
        mbedtls_ssl_cache_set_max_entries(&tls->cache, 1024);
        mbedtls_ssl_conf_session_cache(&tls->conf, &tls->cache, mbedtls_ssl_cache_get,
                                       mbedtls_ssl_cache_set);
    }
    *out = tls;
    return CL_OK;
out:
    cl_tls_free(tls);
    return rc;
}

void cl_tls_free(struct cl_tls *tls)
{
    if (tls == NULL)
        return;
    mbedtls_ssl_config_free(&tls->conf);
    mbedtls_ssl_cache_free(&tls->cache);
    mbedtls_x509_crt_free(&tls->trust);
    mbedtls_pk_free(&tls->own_key);
    mbedtls_x509_crt_free(&tls->own_chain);
    mbedtls_ctr_drbg_free(&tls->drbg);
    mbedtls_entropy_free(&tls->entropy);
    free(tls);
}
