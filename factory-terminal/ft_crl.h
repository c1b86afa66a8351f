/* ft_crl.h: the CRL a line enforces (ft_crl.c): fetched from its comm-terminal
 * (ct:RevocationList) at start and every crl_fetch_s, kept in crl_file so that a restart with
 * the comm-terminal away still enforces it, and checked on every handshake of the line: its
 * client (the comm-terminal S5/S9/S11, the device S7) and its line server (S10). */
#ifndef CERTLINE_FT_CRL_H
#define CERTLINE_FT_CRL_H

#include "ft_config.h"
#include "tls.h"

struct ft_crl;

/* Makes the holder, sets it on both contexts, installs crl_file's CRL if there is one, fetches
 * the comm-terminal's CRL once (a failure is logged: the line runs with what it holds, under
 * its policies) and starts fetching it every crl_fetch_s. CL_OK, or a cl_err code with err (a
 * bad policy or CA file, an unusable crl_file). */
int ft_crl_start(const struct ft_config *config, struct cl_tls *client_tls,
                 struct cl_tls *server_tls, struct ft_crl **out, char *err, size_t errlen);

/* Stops fetching (prompt) and closes its connection: before the client context is freed. */
void ft_crl_stop(struct ft_crl *crl);

/* Frees it; after every TLS context that checks against it. NULL does nothing. */
void ft_crl_free(struct ft_crl *crl);

#endif
