/* tls_internal.h: the cl_tls layout and the post-handshake peer check, shared only by tls.c,
 * tls_verify.c and soap_tls.c. */
#ifndef CERTLINE_TLS_INTERNAL_H
#define CERTLINE_TLS_INTERNAL_H

#include "tls.h"

#include <pthread.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/x509_crt.h>

#include "tls_verify.h"

#define CL_TLS_DIGEST_LEN 32 /* SHA-256 */

struct cl_tls {
    enum cl_tls_side side;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg; /* thread-safe: mbedTLS is built with threading */
    mbedtls_x509_crt own_chain;
    mbedtls_pk_context own_key;
    mbedtls_x509_crt trust;
    mbedtls_ssl_cache_context cache; /* server side session cache */
    mbedtls_ssl_config conf;
    /* cl_tls_share_verified_chains: NULL, or the cache of chains already verified (the client
     * side then checks the server's chain itself, right after the handshake). */
    struct cl_verify_cache *verify_cache;
    unsigned char trust_digest[CL_TLS_DIGEST_LEN]; /* of the trusted roots; binds cache entries */
    struct cl_crl_holder *crl; /* cl_tls_check_revocation: NULL, or the CRL every peer meets */
    /* cl_tls_hand_sessions: NULL, or the other-side context this one's sessions with peers of
     * hand_role go to (tls_handover.c). */
    struct cl_tls *hand_to;
    enum cl_role hand_role;
    /* Client side: the session its server sibling handed over, offered on the next connection
     * (once), with the chain verified in that session's full handshake. */
    pthread_mutex_t handed_lock;
    int have_handed;
    mbedtls_ssl_session handed;
    mbedtls_x509_crt handed_chain;
    int browsers; /* cl_tls_serve_browsers: a server that asks no client certificate */
};

/* SHA-256 over prefix (CL_TLS_DIGEST_LEN bytes, may be NULL) and every certificate of the list,
 * each as its length (4 bytes, big-endian) and DER. */
void cl_tls_digest_certs(const mbedtls_x509_crt *certs, const unsigned char *prefix,
                         unsigned char digest[CL_TLS_DIGEST_LEN]);

/* Checks a peer's chain as MBEDTLS_SSL_VERIFY_REQUIRED does in the handshake: it chains to the
 * trusted roots under the configuration's profile, every certificate on the path is current;
 * then, on the leaf: its name is server_name (NULL on the server side: no name check), its key
 * is on an allowed curve, its key usage allows digitalSignature, its extended key usage allows
 * serverAuth (server_name given) or clientAuth. The chain part comes from tls->verify_cache when
 * this exact chain was verified before (see tls.h). Returns 0, or -1 with *flags saying why
 * (MBEDTLS_X509_BADCERT_*; MISSING if chain is NULL). Revocation: cl_tls_check_revoked. */
int cl_tls_verify_peer(struct cl_tls *tls, mbedtls_x509_crt *chain, const char *server_name,
                       uint32_t *flags);

/* A chain verified in full earlier (cl_tls_verify_peer or mbedTLS in a full handshake), met again
 * in a resumed session: every certificate of it and of the roots is still current, and the leaf
 * passes the same checks as in cl_tls_verify_peer (chain may be the leaf alone: a server keeps
 * only the client's leaf in its session cache), and none of it is revoked by the current CRL.
 * Signatures are not checked again. Returns 0, or
 * -1 with *flags saying why. */
int cl_tls_recheck_peer(const struct cl_tls *tls, const mbedtls_x509_crt *chain,
                        const char *server_name, uint32_t *flags);

/* The revocation check of a peer's chain (tls->crl; nothing without one): 0, or -1 with
 * *flags |= MBEDTLS_X509_BADCERT_REVOKED (or BADCRL_* by the holder's policy), logged with the
 * peer ("server <server_name>", or "client" when server_name is NULL). cl_tls_verify_peer and
 * cl_tls_recheck_peer make it too; soap_tls.c calls it alone after a chain mbedTLS verified in
 * the handshake. */
int cl_tls_check_revoked(const struct cl_tls *tls, const mbedtls_x509_crt *chain,
                         const char *server_name, uint32_t *flags);

/* Server side: records a chain mbedTLS verified in full during the handshake (no-op without a
 * cache), so the client side of the same program need not check its signatures again. */
void cl_tls_note_verified(struct cl_tls *tls, const mbedtls_x509_crt *chain);

/* The class of a refused handshake, for the metrics: "revoked" (flags, from a verification;
 * (uint32_t)-1 is none), else by the refusal's cl_err code: "name", "role", "certificate",
 * "version", "closed", or "handshake" for any other failure. */
const char *cl_tls_refusal_class(int code, uint32_t flags);
/* tls_handover.c: set-up and clean-up of the handover fields (tls.c). */
void cl_tls_handover_init(struct cl_tls *tls);
void cl_tls_handover_free(struct cl_tls *tls);

/* After a handshake that passed every peer check (soap_tls.c): with cl_tls_hand_sessions and a
 * peer of the chosen role, hands this connection's session over. A client's session goes into its
 * server sibling's session cache; a server's goes to its client sibling's next offer, only when
 * verified_chain is the client chain mbedTLS verified in full in this handshake (NULL otherwise:
 * nothing handed). */
void cl_tls_handover_note(struct cl_tls *tls, const mbedtls_ssl_session *session,
                          const mbedtls_x509_crt *verified_chain, enum cl_role peer_role);

/* Client side: if a session was handed over, replaces *session and *chain (both initialised,
 * freed here) with it and the chain verified with it, and returns 1; else 0, nothing changed. */
int cl_tls_handover_take(struct cl_tls *tls, mbedtls_ssl_session *session, mbedtls_x509_crt *chain);

#endif
