/* ca_config.h: ca-server's configuration (JSON, see deploy/ for an example), loaded once and never
 * changed afterwards. */
#ifndef CERTLINE_CA_CONFIG_H
#define CERTLINE_CA_CONFIG_H

#include "ca_token.h"
#include "config.h"
#include "console_config.h"
#include "metrics_http.h"
#include "transport_config.h"

struct ca_database_config {
    char conninfo[1024]; /* libpq connection string; never logged */
};

struct ca_config {
    char ca_dir[512];          /* CA certificates and encrypted keys */
    char organisation[64];     /* O= of every certificate issued */
    char passphrase_file[512]; /* "" = environment variable CERTLINE_CA_PASSPHRASE */
    struct ca_database_config database;
    struct cl_tls_config tls;
    struct cl_listen_config listen;
    struct cl_metrics_config metrics; /* GET /metrics; port 0: none */
    struct cs_console_config console; /* the CA operators' console; port 0: none */
    struct cl_limits_config limits;
    long long workers;              /* signing threads per batch */
    long long max_batch;            /* device numbers per FIG 21 request */
    long long device_validity_days; /* device certificate lifetime */
    long long db_connections;       /* pooled database connections */
    long long issuing_ca_warn_days; /* warn when the issuing CA has fewer days left; 0: never */
    long long crl_period_s;         /* serve publishes a CRL this often (and after revocations) */
    long long crl_validity_s;       /* nextUpdate - thisUpdate; more than crl_period_s */
    char crl_file[512];             /* where the current CRL is written (PEM); "": ca_dir/crl.pem */
    char device_key_token[2048];    /* PKCS#11 URI: device keys and pre-write keys; "": files */
    long long pack_retention_hours; /* packs issued and never installed are purged after */
    long long issuance_fold_s;      /* serve folds the issuance counts this often */
    char issuing_key_uri[2048];     /* PKCS#11 URI of the issuing CA key; "": issuing.key.enc */
    char root_key_uri[2048];        /* PKCS#11 URI of the root key; "": root.key.enc */
};

extern const struct cl_cfg_table ca_config_table;

/* The deeper check for -n: the TLS files load, the CA directory holds a CA. */
int ca_config_check(const void *config, char *err, size_t errlen);

/* Where config's CA keys are (tokens or files), with a session per signing thread and two more
 * (the CRL publisher, a receipt). */
struct ca_key_place ca_config_key_place(const struct ca_config *config);

#define CA_PASSPHRASE_ENV "CERTLINE_CA_PASSPHRASE"

#endif
