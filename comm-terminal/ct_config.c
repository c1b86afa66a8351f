/* ct_config.c: the configuration table of comm-terminal and its -n check. */
#include "ct_config.h"

#include <stdio.h>
#include <string.h>

#include "client_failover.h"
#include "error.h"
#include "tls.h"

static const struct cl_cfg_field database_fields[] = {
    CL_CFG_STR(struct ct_database_config, conninfo, "conninfo", 1, 1,
               "libpq connection string of the comm-terminal's database"),
};
static const struct cl_cfg_table database_table = CL_CFG_TABLE(database_fields);

static const struct cl_cfg_field ct_fields[] = {
    CL_CFG_STR(struct ct_config, factory, "factory", 1, 1, "this factory's name (request ids)"),
    CL_CFG_OBJ(struct ct_config, database, "database", 1, &database_table, "PostgreSQL"),
    CL_CFG_TLS_ROW(struct ct_config, "the comm-terminal's certificate"),
    CL_CFG_LISTEN_ROW(struct ct_config, "where the line service listens"),
    CL_CFG_LIMITS_ROW(struct ct_config),
    CL_CFG_METRICS_ROW(struct ct_config),
    CL_CFG_OBJ(struct ct_config, ca_server, "ca_server", 1, &cl_endpoints_config_table,
               "the ca-server (or its instances) to fetch from and report to"),
    CL_CFG_STR_DEF(struct ct_config, fetch_time, "fetch_time", "", 0,
                   "HH:MM: fetch the day's certificates daily at this time (empty: on demand)"),
    CL_CFG_INT(struct ct_config, fetch_chunk, "fetch_chunk", 0, 1, 1000, 500,
               "device numbers per certificate transmission request"),
    CL_CFG_INT(struct ct_config, claim_seconds, "claim_seconds", 0, 5, 3600, 120,
               "seconds a pack stays reserved for the line that asked for it"),
    CL_CFG_BOOL(struct ct_config, delete_written, "delete_written", 0, 1,
                "delete a pack once written and its receipt held"),
    CL_CFG_INT(struct ct_config, report_interval_s, "report_interval_s", 0, 1, 3600, 5,
               "seconds between rounds of installation reports"),
    CL_CFG_INT(struct ct_config, stock_retention_days, "stock_retention_days", 0, 0, 36500, 30,
               "days an unwritten pack is kept; then it is deleted and retired at ca-server "
               "(0: kept)"),
    CL_CFG_STR_DEF(struct ct_config, events_file, "events_file", "", 0,
                   "JSON lines for the execution system (rejected installation reports), "
                   "appended and fsynced; empty: none"),
    CL_CFG_INT(struct ct_config, db_connections, "db_connections", 0, 1, 256, 8,
               "database connections of serve's line threads (a fetch opens one more for "
               "storing answers)"),
    CL_CFG_CRL_ROWS(struct ct_config, crl),
    CL_CFG_INT(struct ct_config, crl_max_bytes, "crl_max_bytes", 0, 64LL << 10, 64LL << 20,
               16LL << 20,
               "largest ca:RevocationList answer taken from ca-server (if above "
               "limits.max_message_bytes); 16 MiB holds about 260 000 CRL entries"),
    CL_CFG_STR_DEF(struct ct_config, plan_inbox, "plan_inbox", "", 0,
                   "folder the production management system drops plan files in (serve takes "
                   "them; done/, rejected/, processing/ beside them); empty: none"),
    CL_CFG_INT(struct ct_config, plan_inbox_poll_s, "plan_inbox_poll_s", 0, 1, 3600, 5,
               "seconds between looks into plan_inbox"),
    CL_CFG_INT(struct ct_config, plan_inbox_max_files, "plan_inbox_max_files", 0, 1, 1000, 20,
               "plan files taken per look"),
    CL_CFG_INT(struct ct_config, plan_inbox_max_bytes, "plan_inbox_max_bytes", 0, 1, 8LL << 20,
               1LL << 20, "largest plan file taken (larger ones are rejected)"),
    CL_CFG_CONSOLE_ROW(struct ct_config),
};
const struct cl_cfg_table ct_config_table = CL_CFG_TABLE(ct_fields);

int ct_config_check(const void *config, char *err, size_t errlen)
{
    const struct ct_config *c = config;
    struct cl_crl_policy policy;
    int h, m;
    char tail;

    if (c->fetch_time[0] != '\0' && (sscanf(c->fetch_time, "%2d:%2d%c", &h, &m, &tail) != 2 ||
                                     h > 23 || m > 59 || h < 0 || m < 0)) {
        snprintf(err, errlen, "fetch_time \"%s\" is not HH:MM", c->fetch_time);
        return CL_ERR_CONFIG;
    }
    size_t share;
    if (cs_console_db_share(&c->console, c->db_connections, &share, err, errlen) != CL_OK)
        return CL_ERR_CONFIG;
    if (cl_crl_config_policy(&c->crl, &policy, err, errlen) != CL_OK ||
        cl_failover_new(&c->ca_server, "ca_server", NULL, err, errlen) != CL_OK)
        return CL_ERR_CONFIG;
    return cl_tls_config_check(&c->tls, CL_TLS_SERVER, err, errlen);
}
