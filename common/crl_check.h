/* crl_check.h: reads a certificate revocation list (RFC 5280 v2, as crl_build.c writes it),
 * verifies it against trusted CA certificates and holds it as an immutable set of revoked
 * serials sorted for O(log n) lookup. The holder that keeps the current CRL of a program and
 * checks peer chains against it is crl_holder.h.
 *
 * What is accepted: DER or PEM ("X509 CRL"), at most CL_CRL_INPUT_MAX octets; version v2; a
 * nextUpdate and a cRLNumber (at most 8 octets); the issuer one of the given CA certificates
 * (same subject, byte for byte, a CA whose keyUsage, if present, allows cRLSign) whose key
 * verifies the signature; the two signature AlgorithmIdentifiers identical. Refused: a delta CRL
 * (deltaCRLIndicator), any other critical extension certline does not know (an indirect CRL's
 * certificateIssuer, an issuingDistributionPoint), trailing data. Entry serials are compared as
 * unsigned magnitudes (leading zero octets ignored). mbedtls_x509_crl_parse is not used: it
 * keeps one allocation per entry in a linked list. */
#ifndef CERTLINE_CRL_CHECK_H
#define CERTLINE_CRL_CHECK_H

#include <stddef.h>
#include <time.h>

#include <mbedtls/x509_crt.h>

/* The longest serial number (RFC 5280 4.1.2.2), in octets. */
#define CL_CRL_SERIAL_MAX 20

/* A serial in hex (either case, even length) to its magnitude: at most one leading 00 octet,
 * dropped (the sign octet of a serial whose first octet has its top bit set). 0 and out[0..*len)
 * (1..20 octets, the first not zero), or -1. */
int cl_crl_serial_parse(const char *hex, unsigned char out[CL_CRL_SERIAL_MAX], size_t *len);

/* The largest CRL read (a million entries take about 50 MB). */
#define CL_CRL_INPUT_MAX (64u << 20)

/* A parsed and verified CRL. Immutable once made; shared by reference count between the holder
 * and the threads that read it. */
struct cl_crl;

/* Reads a CRL file (DER or PEM) into *data (malloc'd; NUL-terminated, the NUL not counted in
 * *len), through cl_read_file_capped. CL_OK, or its error (CL_ERR_TOO_LARGE beyond
 * CL_CRL_INPUT_MAX, CL_ERR_NOT_FOUND, CL_ERR_IO, ...) with err naming the file. */
int cl_crl_read_file(const char *path, unsigned char **data, size_t *len, char *err, size_t errlen);

/* Parses data (DER, or PEM with or without a final NUL), verifies its signature with the CA
 * certificate of cas that issued it (not changed; the caller trusts cas: crl_holder.c checks
 * that they chain to
 * its roots) and sorts its serials. *out holds one reference (cl_crl_release). Returns CL_OK,
 * CL_ERR_TOO_LARGE, CL_ERR_PARSE (malformed or unsupported, said in err), CL_ERR_PERMISSION (no
 * trusted CA issued it, or the signature does not verify) or CL_ERR_NOMEM. */
int cl_crl_parse(const unsigned char *data, size_t len, mbedtls_x509_crt *cas, struct cl_crl **out,
                 char *err, size_t errlen);

/* One more reference (returns crl), and one less: the last frees the CRL. NULL does nothing.
 * Thread-safe. */
struct cl_crl *cl_crl_retain(struct cl_crl *crl);
void cl_crl_release(struct cl_crl *crl);

/* What the CRL says of itself. */
unsigned long long cl_crl_number(const struct cl_crl *crl);
time_t cl_crl_this_update(const struct cl_crl *crl);
time_t cl_crl_next_update(const struct cl_crl *crl);
size_t cl_crl_count(const struct cl_crl *crl);
/* The issuer's Name, DER; and the issuer as text ("O=..., CN=...") into buf. */
const unsigned char *cl_crl_issuer_der(const struct cl_crl *crl, size_t *len);
void cl_crl_issuer_text(const struct cl_crl *crl, char *buf, size_t len);

/* Once per CRL: returns 1 the first time it is called for crl, 0 after (for "warn once"). */
int cl_crl_first_notice(struct cl_crl *crl);

/* A revoked certificate's record. */
struct cl_crl_revoked {
    time_t revoked_at;
    int reason; /* enum cl_crl_reason; 0 (unspecified) if the entry has no reasonCode */
};

/* Is the serial (DER INTEGER content octets, leading zeros ignored) listed? 1 and *out filled
 * (out may be NULL), or 0. O(log n), no allocation, thread-safe. */
int cl_crl_lookup(const struct cl_crl *crl, const unsigned char *serial, size_t len,
                  struct cl_crl_revoked *out);

/* The same for a serial in hex (either case), and for a certificate: 1 only if crt was issued
 * by this CRL's issuer (same issuer Name) and its serial is listed. */
int cl_crl_lookup_hex(const struct cl_crl *crl, const char *serial_hex, struct cl_crl_revoked *out);
int cl_crl_lists(const struct cl_crl *crl, const mbedtls_x509_crt *crt, struct cl_crl_revoked *out);

/* 1 if crt was issued by this CRL's issuer (same issuer Name, byte for byte), else 0. */
int cl_crl_covers(const struct cl_crl *crl, const mbedtls_x509_crt *crt);

#endif
