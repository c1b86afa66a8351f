/* crl_holder.h: the current CRL of a program, shared by its connection threads, and the check of
 * a peer's certificate chain against it that every TLS handshake makes (tls.h,
 * cl_tls_check_revocation). A newer CRL (a higher cRLNumber) is installed while connections run
 * and takes effect on the next verification; the one in use stays alive until its last reader
 * lets it go.
 *
 * Trust: the holder is made with the CA certificates that may sign CRLs (the root and the
 * issuing CA(s), PEM); each one not self-signed must chain to a self-signed one among them. A CRL
 * is installed only if one of them issued and signed it (crl_check.h). One CRL at a time: that
 * of the issuing CA; it covers the certificates of a chain issued by that CA (leaves; the issuing
 * CA itself is issued by the root and would need the root's CRL).
 *
 * Policies, set at creation and fixed after:
 *   - a CRL past its nextUpdate ("stale"): warn (the default: a warning once per CRL, its
 *     entries still enforced) or refuse (no peer can be verified until a newer CRL is
 *     installed: every handshake is refused);
 *   - no CRL installed yet: allow (the default: peers are accepted until the first CRL) or
 *     refuse. */
#ifndef CERTLINE_CRL_HOLDER_H
#define CERTLINE_CRL_HOLDER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <mbedtls/x509_crt.h>

#include "crl_check.h"

enum cl_crl_stale_policy { CL_CRL_STALE_WARN = 0, CL_CRL_STALE_REFUSE = 1 };
enum cl_crl_missing_policy { CL_CRL_MISSING_ALLOW = 0, CL_CRL_MISSING_REFUSE = 1 };

struct cl_crl_policy {
    enum cl_crl_stale_policy stale;
    enum cl_crl_missing_policy missing;
};

/* "warn" / "refuse", and "allow" / "refuse" (exactly, lower case), for configurations. CL_OK, or
 * CL_ERR_INVALID_ARGUMENT with a message in err. */
int cl_crl_stale_policy_parse(const char *name, enum cl_crl_stale_policy *out, char *err,
                              size_t errlen);
int cl_crl_missing_policy_parse(const char *name, enum cl_crl_missing_policy *out, char *err,
                                size_t errlen);
const char *cl_crl_stale_policy_name(enum cl_crl_stale_policy policy);
const char *cl_crl_missing_policy_name(enum cl_crl_missing_policy policy);

struct cl_crl_holder;

/* A holder with no CRL yet. The CA certificates come from ca_file (PEM or DER) or, if it is
 * NULL, from ca_pem (NUL-terminated). policy NULL: the defaults (warn, allow). Returns CL_OK, or
 * CL_ERR_INVALID_ARGUMENT / CL_ERR_TLS_SETUP / CL_ERR_PERMISSION / CL_ERR_NOMEM with err saying
 * which certificate is not usable. */
int cl_crl_holder_new(const struct cl_crl_policy *policy, const char *ca_file, const char *ca_pem,
                      struct cl_crl_holder **out, char *err, size_t errlen);

/* Frees the holder and its CRL (once no thread reads it); every TLS context using it must be
 * freed first. NULL does nothing. */
void cl_crl_holder_free(struct cl_crl_holder *holder);

/* Verifies and installs a CRL (DER or PEM) in place of the current one, if its cRLNumber is
 * higher; logs the installed number, entries and nextUpdate. Returns CL_OK; CL_ERR_EXISTS (this
 * number is already installed: nothing changes), CL_ERR_STATE (older than the installed one:
 * refused), or cl_crl_parse's error; err says why. Thread-safe. */
int cl_crl_holder_install(struct cl_crl_holder *holder, const unsigned char *data, size_t len,
                          char *err, size_t errlen);

/* The same from a file (cl_crl_read_file). */
int cl_crl_holder_install_file(struct cl_crl_holder *holder, const char *path, char *err,
                               size_t errlen);

/* The CRL in use, with one reference for the caller (cl_crl_release), or NULL if none. */
struct cl_crl *cl_crl_holder_current(struct cl_crl_holder *holder);

/* What operators are shown. */
struct cl_crl_status {
    int installed; /* 0: no CRL yet (the other fields are 0) */
    unsigned long long number;
    time_t this_update, next_update;
    size_t entries;
    int stale; /* now past next_update */
    struct cl_crl_policy policy;
};
void cl_crl_holder_status(struct cl_crl_holder *holder, struct cl_crl_status *out);

/* The revocation check of a peer's chain (leaf first; a leaf alone is fine). Every certificate
 * issued by the CRL's issuer whose serial is listed is refused: *flags |= BADCERT_REVOKED and a
 * warning names who (e.g. "client", "server ca.certline.test"), the certificate's subject, its
 * serial, the revocation date, the reason and the CRL number. By the policies: a stale CRL under
 * refuse sets BADCRL_EXPIRED, no CRL under refuse sets BADCRL_NOT_TRUSTED (each logged). Returns
 * 0 (nothing to refuse) or -1. Thread-safe; O(log n) per certificate. */
int cl_crl_holder_check_chain(struct cl_crl_holder *holder, const mbedtls_x509_crt *chain,
                              const char *who, uint32_t *flags);

#endif
