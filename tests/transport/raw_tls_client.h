/* raw_tls_client.h: a deliberately unconstrained TLS client for transport tests: it can offer old
 * TLS versions, present no certificate and send arbitrary bytes, which certline's own client
 * never does. */
#ifndef CERTLINE_TEST_RAW_TLS_CLIENT_H
#define CERTLINE_TEST_RAW_TLS_CLIENT_H

#include <stddef.h>

struct raw_tls_options {
    const char *cert_file; /* NULL: present no client certificate */
    const char *key_file;
    const char *trust_file;
    const char *server_name;
    int max_minor_version; /* 3 = TLS 1.2, 2 = TLS 1.1 */
};

struct raw_tls_result {
    int handshake_ret; /* 0 or the mbedTLS error of the handshake */
    size_t received;   /* bytes of response read into the buffer (NUL-terminated) */
};

/* Connects to 127.0.0.1:port, handshakes, sends request (if the handshake succeeded) and reads
 * the response until the server closes or cap-1 bytes arrived. Returns 0, or -1 if it could not
 * even connect. */
int raw_tls_exchange(int port, const struct raw_tls_options *options, const char *request,
                     size_t request_len, char *response, size_t cap, struct raw_tls_result *result);

#endif
