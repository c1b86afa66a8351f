/* tls.h: the one place that configures mbedTLS. A cl_tls holds what every connection of one
 * program shares: its own certificate chain and key, the trusted root, the RNG, the session cache
 * (server) and the TLS policy: TLS 1.2 only, verification required on both ends, renegotiation
 * off, AEAD ECDHE suites over P-256 (x25519 is listed but a certline server never negotiates it:
 * its own order puts P-256 first, see README.md). Connections are made by soap_tls.c. */
#ifndef CERTLINE_TLS_H
#define CERTLINE_TLS_H

#include <stddef.h>

#include "peer.h"

struct cl_tls;
struct cl_verify_cache; /* tls_verify.h */
struct cl_crl_holder;   /* crl_holder.h */

struct cl_tls_settings {
    const char *cert_file;  /* own certificate, PEM; leaf first, then intermediates */
    const char *key_file;   /* own private key, PEM or DER, mode 0600 or stricter (never logged) */
    const char *trust_file; /* trusted root certificate(s), PEM */
    /* Instead of a file, the same content in memory (NUL-terminated PEM; the key as DER, never
     * turned into PEM text), used when the matching *_file is NULL: a device holds its keys only
     * decrypted in memory. The key is copied by mbedTLS; the caller zeroises its own copy. */
    const char *cert_pem;
    const unsigned char *key_der;
    size_t key_der_len;
    const char *trust_pem;
    /* 1: the caller has already proven that the key is the certificate's (e.g. checked before it
     * was sealed, and it opened authenticated): the key-pair check (one point multiplication) is
     * not made again. Possession is still proven to every peer by the handshake signature. */
    int key_pair_checked;
};

enum cl_tls_side { CL_TLS_CLIENT, CL_TLS_SERVER };

/* Loads the files and builds the shared configuration. A key file that its group or others can
 * access is refused (CL_ERR_PERMISSION). On failure returns a negative cl_err code and writes a
 * message naming the file (never its contents) into err. */
int cl_tls_new(enum cl_tls_side side, const struct cl_tls_settings *settings, struct cl_tls **out,
               char *err, size_t errlen);

/* A context for the other side (or the same side) with from's certificate chain, key and trusted
 * roots, copied from the parsed ones: nothing is read or parsed from text again and the key-pair
 * check is not repeated (from passed it). Its own RNG, configuration and, for a server, session
 * cache; opt-ins below are not copied. Returns a cl_err code; err says why. */
int cl_tls_new_sibling(struct cl_tls *from, enum cl_tls_side side, struct cl_tls **out, char *err,
                       size_t errlen);

/* Opt-in, for a program that meets the same peer chains again and again (the factory terminal:
 * every device of a model presents the same common chain; the device-agent: S7 and S10 both
 * meet the factory terminal's chain). Call before the first connection; several contexts of one
 * program with the same trusted roots may share one cache.
 *
 * What changes: on the client side, mbedTLS no longer verifies the server's chain inside the
 * handshake (authmode NONE); soap_tls.c checks it right after the handshake, before any
 * application data is sent, with cl_tls_verify_peer (the same checks as VERIFY_REQUIRED, see
 * tls_internal.h), and refuses the connection with a fatal alert if it fails. So the client sends
 * its own Certificate and CertificateVerify before it has checked the server's chain. That is
 * safe: in TLS 1.2 the client certificate is on the wire in clear anyway, CertificateVerify signs
 * this handshake's transcript (it cannot be replayed to another server), and no application data
 * is sent before the check passes. On the server side nothing changes in the handshake
 * (VERIFY_REQUIRED); a chain mbedTLS verified during a full handshake is recorded (a resumed
 * session verifies nothing and records nothing).
 *
 * What is cached, and why it is safe: only "this exact list of certificates (SHA-256 over each
 * DER, bound to the SHA-256 of the trusted roots) had valid signatures up to one of our roots
 * under our profile". An entry is used only while it is younger than the cache's max age and
 * every presented certificate and root is inside its validity period; everything else (name,
 * curve, key usage, extended key usage, role) is checked on every connection. The trusted roots
 * of a context never change; revocation is never cached (cl_tls_check_revocation checks every
 * connection against the current CRL).
 * Proof of possession is untouched: mbedTLS still checks the peer's handshake signature
 * (ServerKeyExchange, CertificateVerify) with the presented leaf's key on every connection.
 * Returns CL_OK or CL_ERR_INVALID_ARGUMENT. */
int cl_tls_share_verified_chains(struct cl_tls *tls, struct cl_verify_cache *cache);

/* Opt-in: every verification of a peer's chain on this context (a full handshake, a chain from
 * the verified-chain cache, a resumed session) also checks it against the holder's current CRL
 * (crl_holder.h, cl_crl_holder_check_chain): a listed certificate, or the holder's policy for a
 * stale or missing CRL, refuses the connection right after the handshake, before any
 * application data, with a fatal alert (certificate_revoked for a listed one) and a log line
 * naming the peer, the serial and the reason. A CRL installed in the holder while connections
 * run takes effect on the next verification. The holder must outlive the context. Call before
 * the first connection. Returns CL_OK or CL_ERR_INVALID_ARGUMENT. */
int cl_tls_check_revocation(struct cl_tls *tls, struct cl_crl_holder *holder);

/* Opt-in, for two programs that meet each other in both directions (the factory terminal's S7
 * connection to a device, then the device's S10 connection back to the factory terminal): from
 * and to are the same program's contexts for the two sides (same identity and roots). After a
 * handshake on from that passed every peer check with a peer of role peer_role, its session is
 * handed to to: a client's session into to's server session cache, so that peer may resume it
 * when it connects back; a server's session, whose client chain mbedTLS verified in full in that
 * handshake, to to's next connection (offered once). The resumed connection proves the peer holds
 * that session's master secret, which only the authenticated peer of the first handshake has; it
 * is then checked as every resumed session is (soap_tls.c): the client compares the server's leaf
 * with the chain verified then and checks its name, usage, role, validity and revocation now;
 * the server checks the client's leaf's usage, validity, revocation and role. A peer that fails
 * any of it is refused, and a server without the session makes a full handshake. Call before the
 * first connection. Returns CL_OK or CL_ERR_INVALID_ARGUMENT (same side, or no role). */
int cl_tls_hand_sessions(struct cl_tls *from, struct cl_tls *to, enum cl_role peer_role);

/* Opt-in, for long-lived programs: holds an EC own key as an ECDSA context whose fixed-point
 * table is computed now (about one signature's work), so each handshake signature costs about
 * half (mbedTLS 2.28 otherwise copies the key and rebuilds the table on every signature). The
 * table is computed before any connection, so threads only read it. No-op for RSA keys. Call
 * before the first connection. Returns CL_OK or CL_ERR_TLS_SETUP with a message in err. */
int cl_tls_keep_signing_table(struct cl_tls *tls, char *err, size_t errlen);

/* Opt-in, for a server that web browsers reach (an operator console): asks for no client
 * certificate (authmode NONE) and authenticates no peer; its connections carry the role
 * CL_ROLE_NONE and the application authenticates the person itself. Every other part of the
 * policy (TLS 1.2, suites, curves, no renegotiation, the server's own chain) stays. Server side
 * only; call before the first connection. Returns CL_OK or CL_ERR_INVALID_ARGUMENT. */
int cl_tls_serve_browsers(struct cl_tls *tls);

/* Frees everything; key material is zeroised by mbedTLS. cl_tls_free(NULL) does nothing. */
void cl_tls_free(struct cl_tls *tls);

/* mbedTLS error code as text, e.g. "SSL - ...", for logs and error messages. */
void cl_tls_strerror(int mbedtls_ret, char *buf, size_t len);

#endif
