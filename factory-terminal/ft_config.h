/* ft_config.h: factory-terminal's configuration (JSON, strict; see README.md) and the checks
 * made before a line starts: TLS files, endpoints, and the line id against the certificate. */
#ifndef CERTLINE_FT_CONFIG_H
#define CERTLINE_FT_CONFIG_H

#include <stddef.h>

#include "config.h"
#include "crl_config.h"
#include "tls.h"
#include "metrics_http.h"
#include "transport_config.h"

#define FT_LINE_ID_MAX 32 /* also the longest serialNumber a peer certificate may carry */

struct ft_config {
    char line_id[FT_LINE_ID_MAX + 1]; /* == serialNumber of the own certificate */
    struct cl_tls_config tls;         /* a factory-terminal-role certificate, both directions */
    struct cl_endpoint_config comm_terminal;
    char device_endpoint[256];      /* the jig: the device-agent's writing interface */
    struct cl_listen_config listen; /* the line interface (S10 in, S13 out) */
    struct cl_metrics_config metrics;
    struct cl_limits_config limits;
    long long write_result_timeout_s; /* after S8 OK, how long to wait for S10 */
    char events_file[1024];           /* "" = none; JSON event lines appended and fsynced */
    struct cl_crl_config crl;         /* crl_stale_policy, crl_missing_policy, crl_fetch_s */
    char crl_file[1024];              /* "" = none; the last CRL from the comm-terminal (DER) */
};

extern const struct cl_cfg_table ft_config_table;

/* -n: everything ft_config_prepare checks, without keeping anything. */
int ft_config_check(const void *config, char *err, size_t errlen);

/* Loads the TLS material for both directions and checks that the certificate is a
 * factory-terminal certificate whose serialNumber is line_id, and that both endpoints are
 * usable. On success the caller owns *client_tls and *server_tls (either may be NULL to skip
 * keeping it). Returns a cl_err code; err says what to fix. */
int ft_config_prepare(const struct ft_config *config, struct cl_tls **client_tls,
                      struct cl_tls **server_tls, char *err, size_t errlen);

#endif
