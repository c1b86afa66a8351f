/* tls.c: builds the shared mbedTLS configuration of a program (see tls.h for the policy). */
#include "tls_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/error.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/version.h>

#include "error.h"
#include "private_file.h"

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

/* The same suites for a console's browsers, ChaCha20-Poly1305 first: the server picks by this
 * order, and mbedTLS 2.28 encrypts a large download with it in about 60% of AES-GCM's time (17.3
 * MB: 40 against 70 ms of CPU, AES-NI and all, on the reference machine). Machine-to-machine
 * links keep AES-GCM first. */
static const int browser_ciphersuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
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

static int load_key(mbedtls_pk_context *key, const char *file, const unsigned char *der,
                    size_t der_len)
{
    if (file != NULL)
        return mbedtls_pk_parse_keyfile(key, file, NULL);
    return mbedtls_pk_parse_key(key, der, der_len, NULL, 0);
}

/* A zeroed context with every mbedTLS part initialised and its RNG seeded. */
static int tls_alloc(enum cl_tls_side side, struct cl_tls **out, char *err, size_t errlen)
{
    static const char personalisation[] = "certline tls";
    struct cl_tls *tls = calloc(1, sizeof(*tls));
    int ret;

    *out = NULL;
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
    cl_tls_handover_init(tls);
    ret = mbedtls_ctr_drbg_seed(&tls->drbg, mbedtls_entropy_func, &tls->entropy,
                                (const unsigned char *)personalisation, sizeof(personalisation));
    if (ret != 0) {
        cl_tls_free(tls);
        return fail(err, errlen, "seeding the random generator", NULL, ret);
    }
    *out = tls;
    return CL_OK;
}

/* The policy (tls.h) on top of the loaded chain, key and roots. */
static int tls_configure(struct cl_tls *tls, const char *cert_source, char *err, size_t errlen)
{
    int ret;

    cl_tls_digest_certs(&tls->trust, NULL, tls->trust_digest);
    ret = mbedtls_ssl_config_defaults(
        &tls->conf, tls->side == CL_TLS_SERVER ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
        MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0)
        return fail(err, errlen, "TLS configuration", NULL, ret);
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
    if ((ret = mbedtls_ssl_conf_own_cert(&tls->conf, &tls->own_chain, &tls->own_key)) != 0)
        return fail(err, errlen, "TLS own certificate", cert_source, ret);
    if (tls->side == CL_TLS_SERVER) {
        mbedtls_ssl_cache_set_timeout(&tls->cache, 3600);
        mbedtls_ssl_cache_set_max_entries(&tls->cache, 1024);
        mbedtls_ssl_conf_session_cache(&tls->conf, &tls->cache, mbedtls_ssl_cache_get,
                                       mbedtls_ssl_cache_set);
    }
    return CL_OK;
}

int cl_tls_new(enum cl_tls_side side, const struct cl_tls_settings *settings, struct cl_tls **out,
               char *err, size_t errlen)
{
    struct cl_tls *tls;
    int ret, rc;

    *out = NULL;
    if ((!settings->cert_file && !settings->cert_pem) ||
        (!settings->key_file && !settings->key_der) ||
        (!settings->trust_file && !settings->trust_pem)) {
        snprintf(err, errlen, "TLS needs a certificate, a key and a trust file");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = tls_alloc(side, &tls, err, errlen)) != CL_OK)
        return rc;
    rc = CL_ERR_TLS_SETUP;
    if ((ret = load_certs(&tls->own_chain, settings->cert_file, settings->cert_pem)) != 0) {
        rc = fail(err, errlen, "cannot load certificate", source(settings->cert_file), ret);
        goto out;
    }
    if (settings->key_file != NULL &&
        (rc = cl_private_file_ok("private key file", settings->key_file, err, errlen)) != CL_OK)
        goto out;
    rc = CL_ERR_TLS_SETUP;
    if ((ret = load_key(&tls->own_key, settings->key_file, settings->key_der,
                        settings->key_der_len)) != 0) {
        rc = fail(err, errlen, "cannot load private key", source(settings->key_file), ret);
        goto out;
    }
    if (!settings->key_pair_checked &&
        (ret = mbedtls_pk_check_pair(&tls->own_chain.pk, &tls->own_key)) != 0) {
        rc = fail(err, errlen, "private key does not match certificate",
                  source(settings->cert_file), ret);
        goto out;
    }
    if ((ret = load_certs(&tls->trust, settings->trust_file, settings->trust_pem)) != 0) {
        rc = fail(err, errlen, "cannot load trusted root", source(settings->trust_file), ret);
        goto out;
    }
    if ((rc = tls_configure(tls, settings->cert_file, err, errlen)) != CL_OK)
        goto out;
    *out = tls;
    return CL_OK;
out:
    cl_tls_free(tls);
    return rc;
}

/* Appends a copy of every certificate of from (its DER, parsed again) to to. */
static int copy_certs(mbedtls_x509_crt *to, const mbedtls_x509_crt *from)
{
    int ret = 0;
    for (const mbedtls_x509_crt *c = from; ret == 0 && c != NULL && c->raw.p != NULL; c = c->next)
        ret = mbedtls_x509_crt_parse_der(to, c->raw.p, c->raw.len);
    return ret;
}

/* A copy of a parsed private key: EC by value (no point multiplication), others through DER. */
static int copy_key(mbedtls_pk_context *to, mbedtls_pk_context *from)
{
    unsigned char der[4096];
    int ret;

    if (mbedtls_pk_get_type(from) == MBEDTLS_PK_ECKEY ||
        mbedtls_pk_get_type(from) == MBEDTLS_PK_ECDSA) {
        ret = mbedtls_pk_setup(to, mbedtls_pk_info_from_type(mbedtls_pk_get_type(from)));
        if (ret == 0)
            ret = mbedtls_ecdsa_from_keypair(mbedtls_pk_ec(*to), mbedtls_pk_ec(*from));
        return ret;
    }
    ret = mbedtls_pk_write_key_der(from, der, sizeof(der)); /* not changed; 2.28 is not const */
    if (ret > 0)
        ret = mbedtls_pk_parse_key(to, der + sizeof(der) - (size_t)ret, (size_t)ret, NULL, 0);
    mbedtls_platform_zeroize(der, sizeof(der));
    return ret;
}

int cl_tls_new_sibling(struct cl_tls *from, enum cl_tls_side side, struct cl_tls **out, char *err,
                       size_t errlen)
{
    struct cl_tls *tls;
    int ret, rc;

    *out = NULL;
    if ((rc = tls_alloc(side, &tls, err, errlen)) != CL_OK)
        return rc;
    if ((ret = copy_certs(&tls->own_chain, &from->own_chain)) != 0 ||
        (ret = copy_key(&tls->own_key, &from->own_key)) != 0 ||
        (ret = copy_certs(&tls->trust, &from->trust)) != 0) {
        cl_tls_free(tls);
        return fail(err, errlen, "copying the TLS identity", NULL, ret);
    }
    if ((rc = tls_configure(tls, "(copied)", err, errlen)) != CL_OK) {
        cl_tls_free(tls);
        return rc;
    }
    *out = tls;
    return CL_OK;
}

int cl_tls_share_verified_chains(struct cl_tls *tls, struct cl_verify_cache *cache)
{
    if (tls == NULL || cache == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    tls->verify_cache = cache;
    /* The client checks the server's chain itself after the handshake (soap_tls.c); the server
     * keeps requiring and verifying client certificates in the handshake. */
    if (tls->side == CL_TLS_CLIENT)
        mbedtls_ssl_conf_authmode(&tls->conf, MBEDTLS_SSL_VERIFY_NONE);
    return CL_OK;
}

int cl_tls_check_revocation(struct cl_tls *tls, struct cl_crl_holder *holder)
{
    if (tls == NULL || holder == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    tls->crl = holder;
    return CL_OK;
}

int cl_tls_serve_browsers(struct cl_tls *tls)
{
    if (tls == NULL || tls->side != CL_TLS_SERVER)
        return CL_ERR_INVALID_ARGUMENT;
    tls->browsers = 1;
    mbedtls_ssl_conf_authmode(&tls->conf, MBEDTLS_SSL_VERIFY_NONE);
    mbedtls_ssl_conf_ciphersuites(&tls->conf, browser_ciphersuites);
    return CL_OK;
}

/* Several connection threads then sign with this one ECDSA context at once, unlocked. That is
 * safe only because of how mbedTLS 2.28's own ECP code (ecp.c, ecp_mul_comb) works: once the
 * group holds the fixed-point table of its generator (grp->T, built by the 1 x G below), a
 * multiplication by G only reads grp->T and writes nothing in the group; the blinding, the
 * internal RNG and the result live in each call's own variables. Nothing promises that of
 * another version or of an alternative ECP implementation, so building against one fails here
 * until this is checked again (or the function is made a no-op for it). */
#if MBEDTLS_VERSION_NUMBER < 0x021C0000 || MBEDTLS_VERSION_NUMBER >= 0x03000000
#error "held signing table: thread safety checked for mbedTLS 2.28 only, see tls.c"
#endif
#if defined(MBEDTLS_ECP_ALT) || defined(MBEDTLS_ECP_INTERNAL_ALT)
#error "held signing table: thread safety checked for mbedTLS's own ECP code only, see tls.c"
#endif

int cl_tls_keep_signing_table(struct cl_tls *tls, char *err, size_t errlen)
{
    mbedtls_pk_context held;
    mbedtls_ecdsa_context *ecdsa = NULL;
    mbedtls_ecp_point point;
    mbedtls_mpi one;
    int ret;

    if (mbedtls_pk_get_type(&tls->own_key) != MBEDTLS_PK_ECKEY)
        return CL_OK;
    mbedtls_pk_init(&held);
    mbedtls_ecp_point_init(&point);
    mbedtls_mpi_init(&one);
    ret = mbedtls_pk_setup(&held, mbedtls_pk_info_from_type(MBEDTLS_PK_ECDSA));
    if (ret == 0) {
        ecdsa = mbedtls_pk_ec(held);
        ret = mbedtls_ecdsa_from_keypair(ecdsa, mbedtls_pk_ec(tls->own_key));
    }
    /* 1 x G builds the table of the generator and keeps it in the group. */
    if (ret == 0)
        ret = mbedtls_mpi_lset(&one, 1);
    if (ret == 0)
        ret = mbedtls_ecp_mul(&ecdsa->grp, &point, &one, &ecdsa->grp.G, mbedtls_ctr_drbg_random,
                              &tls->drbg);
    mbedtls_ecp_point_free(&point);
    mbedtls_mpi_free(&one);
    if (ret != 0) {
        mbedtls_pk_free(&held); /* zeroises the copy */
        return fail(err, errlen, "holding the signing key", NULL, ret);
    }
    /* The configuration points at tls->own_key: swap the contents in place. */
    mbedtls_pk_free(&tls->own_key);
    tls->own_key = held;
    return CL_OK;
}

void cl_tls_free(struct cl_tls *tls)
{
    if (tls == NULL)
        return;
    mbedtls_ssl_config_free(&tls->conf);
    cl_tls_handover_free(tls);
    mbedtls_ssl_cache_free(&tls->cache);
    mbedtls_x509_crt_free(&tls->trust);
    mbedtls_pk_free(&tls->own_key);
    mbedtls_x509_crt_free(&tls->own_chain);
    mbedtls_ctr_drbg_free(&tls->drbg);
    mbedtls_entropy_free(&tls->entropy);
    free(tls);
}

const char *cl_tls_refusal_class(int code, uint32_t flags)
{
    if (flags != (uint32_t)-1 && (flags & MBEDTLS_X509_BADCERT_REVOKED))
        return "revoked";
    switch (code) {
    case CL_ERR_PEER_NAME:
        return "name";
    case CL_ERR_PEER_ROLE:
        return "role";
    case CL_ERR_TLS_PEER_VERIFY:
        return "certificate";
    case CL_ERR_TLS_VERSION:
        return "version";
    case CL_ERR_CLOSED:
        return "closed";
    default:
        return "handshake";
    }
}
