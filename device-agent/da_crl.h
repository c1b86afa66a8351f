/* da_crl.h: an optional CRL the device enforces on the factory terminal (da_crl.c): crl_file,
 * signed by a CA of crl_ca_file, checked in S7's handshake and S10's. */
#ifndef CERTLINE_DA_CRL_H
#define CERTLINE_DA_CRL_H

#include "crl_holder.h"
#include "da_config.h"
#include "tls.h"

/* With crl_file configured: a holder trusting crl_ca_file, the CRL installed (its number
 * logged), and both contexts (the jig's server, the sibling client of S10) checking against it;
 * *out for cl_crl_holder_free once both contexts are freed. Without: *out NULL and CL_OK. A CRL
 * that does not verify is an error (err says why): the device does not serve. */
int da_crl_enforce(const struct da_config *config, struct cl_tls *server_tls,
                   struct cl_tls *client_tls, struct cl_crl_holder **out, char *err, size_t errlen);

/* For -n: crl_file (if configured) verifies against crl_ca_file. */
int da_crl_check(const struct da_config *config, char *err, size_t errlen);

#endif
