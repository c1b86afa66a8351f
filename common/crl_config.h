/* crl_config.h: what every certline program needs to hold and pass on a CRL: the configuration
 * keys they share ("crl_stale_policy", "crl_missing_policy", "crl_fetch_s"), the holder made
 * from them and the program's own TLS files (CRL.md), and the CRL as the wire carries it
 * (base64 of its DER). */
#ifndef CERTLINE_CRL_CONFIG_H
#define CERTLINE_CRL_CONFIG_H

#include <stddef.h>

#include "config.h"
#include "crl_holder.h"
#include "transport_config.h"

struct cl_crl_config {
    char stale_policy[8];   /* warn | refuse */
    char missing_policy[8]; /* allow | refuse */
    long long fetch_s;      /* seconds between fetches of the CRL */
};

/* The three rows, for a member m of T holding a struct cl_crl_config. */
#define CL_CFG_CRL_ROWS(T, m)                                                                      \
    CL_CFG_STR_DEF(T, m.stale_policy, "crl_stale_policy", "warn", 1,                               \
                   "a CRL past its nextUpdate: warn (keep enforcing it) or refuse (every peer)"),  \
        CL_CFG_STR_DEF(T, m.missing_policy, "crl_missing_policy", "allow", 1,                      \
                       "no CRL held yet: allow peers or refuse them"),                             \
        CL_CFG_INT(T, m.fetch_s, "crl_fetch_s", 0, 1, 86400, 300,                                  \
                   "seconds between fetches of the CRL")

/* The policies the configuration names (CL_ERR_CONFIG with err naming the key if one is not
 * known). */
int cl_crl_config_policy(const struct cl_crl_config *config, struct cl_crl_policy *out, char *err,
                         size_t errlen);

/* A holder trusting the CAs that may sign CRLs: the certificates of tls->trust_file (the root)
 * and those following the leaf in tls->cert_file (the issuing CA of the own chain). */
int cl_crl_config_holder(const struct cl_crl_config *config, const struct cl_tls_config *tls,
                         struct cl_crl_holder **out, char *err, size_t errlen);

/* A CRL's DER as base64 text (NUL-terminated, free()), and back (CL_ERR_PARSE if not base64). */
int cl_crl_to_wire(const unsigned char *der, size_t len, char **out);
int cl_crl_from_wire(const char *text, unsigned char **der, size_t *len);

#endif
