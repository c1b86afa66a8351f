/* ca_token.c: the CA's keys in PKCS#11 tokens, made and found again (see ca_token.h). */
#include "ca_token.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "x509_issue.h"

static void key_init(struct ca_token_key *k)
{
    k->token = NULL;
    mbedtls_pk_init(&k->sign);
    mbedtls_pk_init(&k->pub);
    k->made_pub = k->made_priv = 0;
}

void ca_token_key_free(struct ca_token_key *k)
{
    if (k == NULL)
        return;
    mbedtls_pk_free(&k->sign);
    mbedtls_pk_free(&k->pub);
    cl_p11_token_close(k->token);
    k->token = NULL;
    k->made_pub = k->made_priv = 0;
}

void ca_token_key_discard(struct ca_token_key *k)
{
    if (k == NULL)
        return;
    mbedtls_pk_free(&k->sign); /* it refers to the private half */
    if (k->token != NULL && k->made_priv != 0)
        cl_p11_destroy(k->token, k->made_priv, NULL, 0);
    if (k->token != NULL && k->made_pub != 0)
        cl_p11_destroy(k->token, k->made_pub, NULL, 0);
    ca_token_key_free(k);
}

static int signing_uri(const char *uri_text, struct cl_p11_uri *uri, char *err, size_t errlen)
{
    int rc = cl_p11_uri_parse(uri_text, uri, err, errlen);

    if (rc == CL_OK && (uri->object[0] == '\0' || uri->id_len != 0 ||
                        (uri->type != CL_P11_ANY && uri->type != CL_P11_PRIVATE))) {
        cl_err_set(err, errlen,
                   "a CA key URI names its key by object= (the label), with no id= (the key "
                   "identifier is set by certline) and type=private if any");
        rc = CL_ERR_CONFIG;
    }
    return rc;
}

int ca_token_generate(const char *uri_text, int refuse_existing, struct ca_token_key *out,
                      char *err, size_t errlen)
{
    struct cl_p11_uri uri;
    unsigned char id[CL_KEY_ID_LEN];
    cl_p11_handle pub = 0, priv = 0, found;
    int rc;

    key_init(out);
    if ((rc = signing_uri(uri_text, &uri, err, errlen)) != CL_OK ||
        (rc = cl_p11_token_open(&uri, 1, &out->token, err, errlen)) != CL_OK)
        return rc;
    rc = cl_p11_find(out->token, CL_P11_PRIVATE, uri.object, NULL, 0, &found, err, errlen);
    if (refuse_existing && rc != CL_ERR_NOT_FOUND) {
        if (rc == CL_OK || rc == CL_ERR_CONFLICT) {
            cl_err_set(err, errlen,
                       "the token \"%s\" already holds a key labelled \"%s\": a new CA gets a new "
                       "label (or delete the old key)",
                       uri.token, uri.object);
            rc = CL_ERR_EXISTS;
        }
        goto fail;
    }
    /* the key identifier is known once the key is: set on both halves right after */
    if ((rc = cl_p11_generate_pair(out->token, CL_P11_EC_P256, uri.object, NULL, 0, 0, &pub, &priv,
                                   err, errlen)) != CL_OK ||
        (rc = cl_p11_public_key(out->token, pub, &out->pub, err, errlen)) != CL_OK ||
        (rc = cl_key_identifier(&out->pub, id)) != CL_OK ||
        (rc = cl_p11_set_id(out->token, pub, id, sizeof(id), err, errlen)) != CL_OK ||
        (rc = cl_p11_set_id(out->token, priv, id, sizeof(id), err, errlen)) != CL_OK ||
        (rc = cl_p11_pk_setup(&out->sign, out->token, priv, &out->pub, err, errlen)) != CL_OK) {
        if (priv != 0) {
            cl_p11_destroy(out->token, priv, NULL, 0);
            cl_p11_destroy(out->token, pub, NULL, 0);
        }
        goto fail;
    }
    out->made_pub = pub;
    out->made_priv = priv;
    return CL_OK;
fail:
    ca_token_key_free(out);
    return rc;
}

int ca_token_open(const char *uri_text, const char *cert_pem, int sessions,
                  struct ca_token_key *out, char *err, size_t errlen)
{
    struct cl_p11_uri uri;
    unsigned char id[64];
    size_t id_len = 0;
    int rc, attempt = 0;

    key_init(out);
    if ((rc = signing_uri(uri_text, &uri, err, errlen)) != CL_OK)
        return rc;
    if (cert_pem == NULL || cl_cert_key_identifier((const unsigned char *)cert_pem,
                                                   strlen(cert_pem) + 1, id, &id_len) != CL_OK) {
        cl_err_set(err, errlen, "the CA certificate does not parse");
        return CL_ERR_PARSE;
    }
    do {
        if ((rc = cl_p11_token_open(&uri, sessions, &out->token, err, errlen)) != CL_OK)
            return rc; /* tried again there */
        rc = cl_p11_signing_key(out->token, uri.object, id, id_len, &out->sign, &out->pub, err,
                                errlen);
        if (rc == CL_ERR_NOT_FOUND)
            cl_err_set(err, errlen,
                       "the token \"%s\" holds no key labelled \"%s\" for this CA certificate "
                       "(CKA_ID = its subjectKeyIdentifier)",
                       uri.token, uri.object);
        if (rc != CL_OK)
            ca_token_key_free(out); /* and the module with the token: read afresh next time */
    } while (rc == CL_ERR_NOT_FOUND && cl_p11_retry(&attempt, rc, uri.token, err));
    return rc;
}
