/* ca_token.h: the CA's keys in PKCS#11 tokens (config issuing_key_uri, root_key_uri; p11.h): made
 * in the token by init and rollover, found again by the certificate they belong to.
 *
 * A CA key pair in a token carries CKA_LABEL = the URI's object= and CKA_ID = the key identifier
 * its certificate has as subjectKeyIdentifier (cl_key_identifier), so several generations of a
 * CA (before and after a rollover) share a label and each certificate finds its own key. The
 * private key is CKA_SENSITIVE and not CKA_EXTRACTABLE: nothing, not even C_WrapKey, takes it out
 * of the token. */
#ifndef CERTLINE_CA_TOKEN_H
#define CERTLINE_CA_TOKEN_H

#include <stddef.h>

#include <mbedtls/pk.h>

#include "p11.h"

/* Where the CA keys are: each URI "" for the passphrase-encrypted file in ca_dir. */
struct ca_key_place {
    const char *issuing_uri;
    const char *root_uri;
    int sessions; /* sessions for the issuing token: one per signing thread, plus one */
};

/* A CA key in a token: the token (open), the key as a signing mbedtls key, its public key. */
struct ca_token_key {
    struct cl_p11_token *token;
    mbedtls_pk_context sign;
    mbedtls_pk_context pub;
    cl_p11_handle made_pub, made_priv; /* the pair ca_token_generate made; 0 when opened */
};

/* Makes a new P-256 CA key pair in the token of uri, labelled with its object=. Refused
 * (CL_ERR_EXISTS) with refuse_existing when the token already has a private key of that label. */
int ca_token_generate(const char *uri, int refuse_existing, struct ca_token_key *out, char *err,
                      size_t errlen);

/* Opens the key in the token of uri that belongs to the CA certificate cert_pem (its
 * subjectKeyIdentifier as CKA_ID), with sessions sessions. */
int ca_token_open(const char *uri, const char *cert_pem, int sessions, struct ca_token_key *out,
                  char *err, size_t errlen);

/* Frees the keys, then closes the token. The signing key must be moved out (into a signer) or
 * freed before the token goes: ca_token_key_free does both in that order. */
void ca_token_key_free(struct ca_token_key *key);

/* For an init or rollover that failed: destroys in its token the pair ca_token_generate made (so
 * that the next attempt may use the label again), then frees as ca_token_key_free. A key that was
 * opened, not made, is only freed. */
void ca_token_key_discard(struct ca_token_key *key);

#endif
