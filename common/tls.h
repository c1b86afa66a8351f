/* tls.h: the one place that configures mbedTLS. A cl_tls holds what every connection of one
 * program shares: its own certificate chain and key, the trusted root, the RNG, the session cache
 * (server) and the TLS policy: TLS 1.2 only, verification required on both ends, renegotiation
 * off, P-256/x25519, AEAD ECDHE suites. Connections are made by soap_tls.c. */
#ifndef CERTLINE_TLS_H
#define CERTLINE_TLS_H

#include <stddef.h>

struct cl_tls;

struct cl_tls_settings {
    const char *cert_file;  /* own certificate, PEM; leaf first, then intermediates */
    const char *key_file;   /* own private key, PEM (never logged) */
    const char *trust_file; /* trusted root certificate(s), PEM */
    /* Instead of a file, the same content in memory (NUL-terminated PEM), used when the matching
     * *_file is NULL: a device holds its keys only decrypted in memory. The key text is copied
     * by mbedTLS; the caller zeroises its own copy. */
    const char *cert_pem;
    const char *key_pem;
    const char *trust_pem;
};

enum cl_tls_side { CL_TLS_CLIENT, CL_TLS_SERVER };

/* Loads the files and builds the shared configuration. On failure returns a negative cl_err code
 * and writes a message naming the file (never its contents) into err. */
int cl_tls_new(enum cl_tls_side side, const struct cl_tls_settings *settings, struct cl_tls **out,
               char *err, size_t errlen);

/* Frees everything; key material is zeroised by mbedTLS. cl_tls_free(NULL) does nothing. */
void cl_tls_free(struct cl_tls *tls);

/* mbedTLS error code as text, e.g. "SSL - ...", for logs and error messages. */
void cl_tls_strerror(int mbedtls_ret, char *buf, size_t len);

#endif
