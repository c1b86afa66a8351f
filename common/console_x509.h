/* console_x509.h: a certificate's details as the operator consoles show them (console_x509.c). */
#ifndef CERTLINE_CONSOLE_X509_H
#define CERTLINE_CONSOLE_X509_H

#include <stddef.h>

struct cs_buf;

/* Appends a table (id "x509") of the certificate cert (DER, or PEM NUL-terminated with the NUL
 * counted in len): subject, issuer, not before and not after (UTC), serial (upper-case hex),
 * public key type and size, SHA-256 fingerprint of the DER (upper-case hex pairs joined by
 * ':', as `openssl x509 -fingerprint -sha256` prints it). Each value's cell has the id
 * "x509-" and its name (subject, issuer, not-before, not-after, serial, key, sha256). Returns 0,
 * or -1 with nothing appended if the certificate does not parse. */
int cs_x509_table(struct cs_buf *b, const unsigned char *cert, size_t len);

#endif
