/* test_verified_chains.h: what the parts of test_verified_chains share (names, certificates
 * made at run time, the rogue server's check). */
#ifndef CERTLINE_TEST_VERIFIED_CHAINS_H
#define CERTLINE_TEST_VERIFIED_CHAINS_H

#include <stddef.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>

#include "test_pki.h"

#define CA_NAME "ca.certline.test"
#define EVIL_NAME "evil.certline.test"
#define COMM_NAME "comm.certline.test"

/* ---- test_verified_chains.c ---- */

/* out = the test PKI's folder/name, PATH_MAX bytes. */
void vc_path(char *out, const char *name);

/* One call from a new connection (a new client) made with tls; returns the cl_err code of its
 * failure (CL_OK if served) and the explanation in why. */
int vc_call_once(struct cl_tls *tls, int port, const char *server_name, enum cl_role role,
                 char *why, size_t whylen);

/* ---- test_verified_chains_certs.c ---- */

extern mbedtls_ctr_drbg_context vc_drbg;

/* Seeds vc_drbg (0 or -1); vc_rng_free frees it. */
int vc_rng_start(void);
void vc_rng_free(void);

#define EKU_SERVER 1
#define EKU_CLIENT 2

struct cert_spec {
    const char *name;    /* writes NAME.key, NAME.crt and NAME.chain.crt (leaf, then issuer) */
    const char *subject; /* e.g. "O=certline test,OU=ca-server,CN=ca.certline.test" */
    const char *issuer;  /* NAME of the issuer's .crt and .key; NULL: a self-signed root CA */
    mbedtls_ecp_group_id curve;
    unsigned key_usage; /* MBEDTLS_X509_KU_* */
    int eku;            /* EKU_SERVER | EKU_CLIENT (leaves only) */
    const char *san;    /* a subjectAltName dNSName, or NULL for none */
    time_t not_after;   /* 0: in two years */
};

/* Writes text to the PKI file name, then the content of the PKI file append_from (if not NULL). */
void vc_write_text(const char *name, const char *text, const char *append_from);

/* A new key and certificate as spec says, signed by its issuer (or itself), written to the PKI
 * directory under spec->name. */
void vc_make_cert(const struct cert_spec *spec);

/* A ca-server leaf under the issuing CA: the name, role and extensions of the real one unless
 * the arguments say otherwise. */
void vc_make_server_leaf(const char *name, const char *cn, const char *san,
                         mbedtls_ecp_group_id curve, unsigned key_usage, int eku, time_t not_after);

/* ---- test_verified_chains_rogue.c ---- */

/* The client (tls, expecting the ca-server) completes the handshake with a rogue server
 * presenting NAME's chain, then refuses it with the expected code and words: a fatal alert,
 * and not one byte of a request sent. */
void vc_assert_client_refuses(struct cl_tls *tls, const char *name, int code, const char *needle);

#endif
