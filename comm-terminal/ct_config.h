/* ct_config.h: comm-terminal's configuration (JSON; deploy/examples/comm-terminal.json). */
#ifndef CERTLINE_CT_CONFIG_H
#define CERTLINE_CT_CONFIG_H

#include "config.h"
#include "console_config.h"
#include "crl_config.h"
#include "metrics_http.h"
#include "transport_config.h"

struct ct_database_config {
    char conninfo[1024]; /* never logged */
};

struct ct_config {
    char factory[33]; /* names this factory in request ids */
    struct ct_database_config database;
    struct cl_tls_config tls;       /* the comm-terminal's certificate, for both directions */
    struct cl_listen_config listen; /* the line service */
    struct cl_metrics_config metrics;
    struct cl_limits_config limits;
    struct cl_endpoints_config ca_server;
    char fetch_time[6];      /* HH:MM, daily; "" = only on demand */
    long long fetch_chunk;   /* device numbers per FIG 21 request */
    long long claim_seconds; /* how long a pack is reserved for the line that asked */
    bool delete_written;     /* delete a pack once written and its receipt held [effect 5] */
    long long report_interval_s;
    long long stock_retention_days; /* unwritten packs older are deleted and retired; 0: kept */
    char events_file[1024];         /* JSON event lines for the MES; "" = none */
    long long db_connections;
    struct cl_crl_config crl; /* crl_stale_policy, crl_missing_policy, crl_fetch_s */
    long long crl_max_bytes;  /* the largest ca:RevocationList answer received */
    char plan_inbox[1024];    /* the plan feed's folder (plan_inbox.c); "" = none */
    long long plan_inbox_poll_s;
    long long plan_inbox_max_files;   /* per round */
    long long plan_inbox_max_bytes;   /* per file */
    struct cs_console_config console; /* the operator console; port 0 = off */
};

extern const struct cl_cfg_table ct_config_table;
int ct_config_check(const void *config, char *err, size_t errlen);

#endif
