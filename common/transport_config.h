/* transport_config.h: the configuration sections every certline program shares, so that TLS
 * files, limits, listening addresses and peer endpoints have the same keys everywhere:
 *   "tls":    { "cert_file", "key_file", "trust_file" }
 *   "limits": { "connect_timeout_s", "recv_timeout_s", "send_timeout_s", "transfer_timeout_s",
 *               "max_message_bytes", "max_string_bytes", "max_list_items", "max_nesting" }
 *   "listen": { "host", "port", "max_connections" }
 *   a peer:   { "endpoint", "server_name" }
 *   a peer of several equal instances: { "endpoint" or "endpoints": [...], "server_name" }
 * Each has a table for config.h's CL_CFG_OBJ and a function turning it into transport settings;
 * the CL_CFG_*_ROW macros are the rows the programs' tables share. */
#ifndef CERTLINE_TRANSPORT_CONFIG_H
#define CERTLINE_TRANSPORT_CONFIG_H

#include "config.h"
#include "soap_tls.h"
#include "tls.h"

struct cl_tls_config {
    char cert_file[256];
    char key_file[256];
    char trust_file[256];
};

struct cl_limits_config {
    long long connect_timeout_s;
    long long recv_timeout_s;
    long long send_timeout_s;
    long long transfer_timeout_s;
    long long max_message_bytes;
    long long max_string_bytes;
    long long max_list_items;
    long long max_nesting;
};

struct cl_listen_config {
    char host[64];
    long long port;
    long long max_connections;
};

struct cl_endpoint_config {
    char endpoint[256];    /* https://host:port/path */
    char server_name[254]; /* the name its certificate must carry */
};

/* Instances of one service that any request may go to (client_failover.h): "endpoint" (one) or
 * "endpoints" (a list, joined by spaces here), not both. */
struct cl_endpoints_config {
    char endpoint[256];    /* https://host:port/path */
    char endpoints[2048];  /* the list, separated by single spaces */
    char server_name[254]; /* the name every instance's certificate must carry */
};

extern const struct cl_cfg_table cl_tls_config_table;
extern const struct cl_cfg_table cl_limits_config_table;
extern const struct cl_cfg_table cl_listen_config_table;
extern const struct cl_cfg_table cl_endpoint_config_table;
extern const struct cl_cfg_table cl_endpoints_config_table;

/* The rows for a member named like its key, in every program's table the same way. */
#define CL_CFG_TLS_ROW(T, help_) CL_CFG_OBJ(T, tls, "tls", 1, &cl_tls_config_table, help_)
#define CL_CFG_LISTEN_ROW(T, help_)                                                                \
    CL_CFG_OBJ(T, listen, "listen", 1, &cl_listen_config_table, help_)
#define CL_CFG_LIMITS_ROW(T)                                                                       \
    CL_CFG_OBJ(T, limits, "limits", 0, &cl_limits_config_table, "timeouts and input bounds")

/* Sets all of settings: the configured TLS files, no in-memory PEM. Points into config, which
 * must outlive the result. */
void cl_tls_config_settings(const struct cl_tls_config *config, struct cl_tls_settings *settings);

/* The TLS context of side from the configured files (cl_tls_new: a cl_err code, err says why). */
int cl_tls_config_new(const struct cl_tls_config *config, enum cl_tls_side side,
                      struct cl_tls **out, char *err, size_t errlen);

/* For -n: the configured TLS files load for side; nothing is kept. */
int cl_tls_config_check(const struct cl_tls_config *config, enum cl_tls_side side, char *err,
                        size_t errlen);

/* Limits from configuration (every value already bounded by the table). */
void cl_limits_config_apply(const struct cl_limits_config *config, struct cl_soap_limits *limits);

#endif
