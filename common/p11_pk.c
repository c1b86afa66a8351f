/* p11_pk.c: a token key as an mbedtls_pk_context, so that whatever signs with mbedTLS (the X.509
 * writer, the CRL writer, receipts) signs in the token without knowing it.
 *
 * mbedTLS 2.28 has a hook for RSA only (mbedtls_pk_setup_rsa_alt; MBEDTLS_ECDSA_SIGN_ALT is a
 * build-time switch of the library), so the context gets a key-type descriptor of its own
 * (mbedtls_pk_info_t from mbedtls/pk_internal.h, which 2.28 installs), one for P-256 and one for
 * RSA: type MBEDTLS_PK_OPAQUE (mbedtls_pk_ec()/mbedtls_pk_rsa() then return NULL instead of
 * misreading the context), can_do ECKEY+ECDSA or RSA, sign_func asking the token (ECDSA over the
 * hash, or PKCS#1 v1.5 over its DigestInfo), and its context freed with the pk context; the
 * same shape for both, where rsa_alt would leave the token-key context to free elsewhere.
 * mbedTLS 3.x note: pk_info is private there; the PSA driver interface or an opaque PSA key takes
 * this file's place. */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/pk_internal.h>

#include "error.h"
#include "p11_internal.h"

struct token_key {
    struct cl_p11_token *token;
    cl_p11_handle priv;
    size_t bits;
};

static size_t ec_bitlen(const void *ctx)
{
    return ((const struct token_key *)ctx)->bits;
}

static int ec_can_do(mbedtls_pk_type_t type)
{
    return type == MBEDTLS_PK_ECKEY || type == MBEDTLS_PK_ECDSA;
}

static int ec_sign(void *ctx, mbedtls_md_type_t md_alg, const unsigned char *hash, size_t hash_len,
                   unsigned char *sig, size_t *sig_len,
                   int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
    struct token_key *k = ctx;

    (void)f_rng;
    (void)p_rng;
    /* mbedtls_pk_sign's contract: sig has room for MBEDTLS_PK_SIGNATURE_MAX_SIZE */
    return cl_p11_sign_hash(k->token, k->priv, CL_P11_EC_P256, md_alg, hash, hash_len, sig,
                            MBEDTLS_PK_SIGNATURE_MAX_SIZE, sig_len) == CL_OK
               ? 0
               : MBEDTLS_ERR_PK_HW_ACCEL_FAILED;
}

static void *key_alloc(void)
{
    return calloc(1, sizeof(struct token_key));
}

static void key_free(void *ctx)
{
    free(ctx);
}

static const mbedtls_pk_info_t token_ecdsa_info = {
    .type = MBEDTLS_PK_OPAQUE,
    .name = "PKCS#11 ECDSA",
    .get_bitlen = ec_bitlen,
    .can_do = ec_can_do,
    .sign_func = ec_sign,
    .ctx_alloc_func = key_alloc,
    .ctx_free_func = key_free,
};

static size_t rsa_bitlen(const void *ctx)
{
    return ((const struct token_key *)ctx)->bits;
}

static int rsa_can_do(mbedtls_pk_type_t type)
{
    return type == MBEDTLS_PK_RSA;
}

static int rsa_sign(void *ctx, mbedtls_md_type_t md_alg, const unsigned char *hash, size_t hash_len,
                    unsigned char *sig, size_t *sig_len,
                    int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
    struct token_key *k = ctx;

    (void)f_rng;
    (void)p_rng;
    return cl_p11_sign_hash(k->token, k->priv, CL_P11_RSA2048, md_alg, hash, hash_len, sig,
                            MBEDTLS_PK_SIGNATURE_MAX_SIZE, sig_len) == CL_OK &&
                   *sig_len == (k->bits + 7) / 8
               ? 0
               : MBEDTLS_ERR_PK_HW_ACCEL_FAILED;
}

static const mbedtls_pk_info_t token_rsa_info = {
    .type = MBEDTLS_PK_OPAQUE,
    .name = "PKCS#11 RSA",
    .get_bitlen = rsa_bitlen,
    .can_do = rsa_can_do,
    .sign_func = rsa_sign,
    .ctx_alloc_func = key_alloc,
    .ctx_free_func = key_free,
};

int cl_p11_pk_setup(mbedtls_pk_context *pk, struct cl_p11_token *token, cl_p11_handle priv,
                    const mbedtls_pk_context *pub, char *err, size_t errlen)
{
    const mbedtls_ecp_keypair *ec;
    struct token_key *k;

    if (pk == NULL || token == NULL || pub == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (mbedtls_pk_get_type(pub) == MBEDTLS_PK_RSA) {
        if (mbedtls_pk_setup(pk, &token_rsa_info) != 0)
            return CL_ERR_NOMEM;
        k = pk->pk_ctx;
        k->token = token;
        k->priv = priv;
        k->bits = mbedtls_pk_get_bitlen(pub);
        return CL_OK;
    }
    ec = mbedtls_pk_ec(*pub); /* NULL unless an EC key */
    if (ec == NULL) {
        cl_err_set(err, errlen, "the token key is neither EC nor RSA");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (ec->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
        cl_err_set(err, errlen, "the token's EC key is not P-256");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (mbedtls_pk_setup(pk, &token_ecdsa_info) != 0)
        return CL_ERR_NOMEM;
    k = pk->pk_ctx;
    k->token = token;
    k->priv = priv;
    k->bits = 256;
    return CL_OK;
}

int cl_p11_signing_key(struct cl_p11_token *token, const char *label, const unsigned char *id,
                       size_t id_len, mbedtls_pk_context *pk, mbedtls_pk_context *pub, char *err,
                       size_t errlen)
{
    mbedtls_pk_context own;
    cl_p11_handle priv = 0, pubh = 0;
    int rc;

    if (token == NULL || pk == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    mbedtls_pk_init(&own);
    if ((rc = cl_p11_find(token, CL_P11_PRIVATE, label, id, id_len, &priv, err, errlen)) == CL_OK &&
        (rc = cl_p11_find(token, CL_P11_PUBLIC, label, id, id_len, &pubh, err, errlen)) == CL_OK &&
        (rc = cl_p11_public_key(token, pubh, &own, err, errlen)) == CL_OK)
        rc = cl_p11_pk_setup(pk, token, priv, &own, err, errlen);
    if (rc == CL_OK && pub != NULL) {
        *pub = own; /* a pointer pair: ownership moves */
        mbedtls_pk_init(&own);
    }
    mbedtls_pk_free(&own);
    return rc;
}

int cl_p11_open_signing_key(const char *uri_text, int sessions, const unsigned char *want_id,
                            size_t want_id_len, struct cl_p11_token **token, mbedtls_pk_context *pk,
                            char *err, size_t errlen)
{
    struct cl_p11_uri uri;
    int rc, attempt = 0;

    if (token == NULL || pk == NULL || (want_id == NULL && want_id_len > 0))
        return CL_ERR_INVALID_ARGUMENT;
    *token = NULL;
    if ((rc = cl_p11_uri_parse(uri_text, &uri, err, errlen)) != CL_OK)
        return rc;
    if (uri.id_len == 0 && want_id_len > 0 && want_id_len <= sizeof(uri.id)) {
        memcpy(uri.id, want_id, want_id_len);
        uri.id_len = want_id_len;
    }
    if ((uri.type != CL_P11_ANY && uri.type != CL_P11_PRIVATE) ||
        (uri.object[0] == '\0' && uri.id_len == 0)) {
        cl_err_set(err, errlen, "a signing key URI names a private key by object= or id=");
        return CL_ERR_CONFIG;
    }
    do {
        if ((rc = cl_p11_token_open(&uri, sessions, token, err, errlen)) != CL_OK)
            return rc; /* tried again there */
        rc = cl_p11_signing_key(*token, uri.object, uri.id, uri.id_len, pk, NULL, err, errlen);
        if (rc != CL_OK) {
            cl_p11_token_close(*token);
            *token = NULL;
        }
    } while (rc == CL_ERR_NOT_FOUND && cl_p11_retry(&attempt, rc, uri.token, err));
    return rc;
}
