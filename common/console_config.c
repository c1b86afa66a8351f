/* console_config.c: the configuration table of an operator console's section, and the
 * console's share of its program's database connections. */
#include "console_config.h"

#include <stdio.h>

#include "error.h"

static const struct cl_cfg_field console_fields[] = {
    CL_CFG_STR_DEF(struct cs_console_config, host, "host", "127.0.0.1", 0,
                   "address the console listens on"),
    CL_CFG_INT(struct cs_console_config, port, "port", 0, 0, 65535, 0,
               "the console's HTTPS port (0: no console)"),
    CL_CFG_STR_DEF(struct cs_console_config, cert_file, "cert_file", "", 0,
                   "the console's certificate chain, PEM (empty: tls.cert_file)"),
    CL_CFG_STR_DEF(struct cs_console_config, key_file, "key_file", "", 0,
                   "the console's private key (empty: tls.key_file)"),
    CL_CFG_INT(struct cs_console_config, session_minutes, "session_minutes", 0, 1, 1440, 30,
               "minutes a console session lives without use"),
    CL_CFG_INT(struct cs_console_config, max_connections, "max_connections", 0, 1, 256, 16,
               "browser connections served at once"),
    CL_CFG_INT(struct cs_console_config, send_timeout_s, "send_timeout_s", 0, 1, 3600, 30,
               "seconds a browser may leave an answer unread before the console breaks it off "
               "(and frees its database connection)"),
    CL_CFG_INT(struct cs_console_config, db_connections, "db_connections", 0, 0, 255, 0,
               "database connections the console may hold at once, of the program's "
               "db_connections (0: a quarter of them, at least 1); the rest are production's"),
};
const struct cl_cfg_table cs_console_config_table = CL_CFG_TABLE(console_fields);

int cs_console_db_share(const struct cs_console_config *cc, long long pool_size, size_t *share,
                        char *err, size_t errlen)
{
    long long n = cc->db_connections;

    *share = 0;
    if (cc->port == 0)
        return CL_OK; /* no console */
    if (n == 0)
        n = pool_size / 4 > 0 ? pool_size / 4 : 1;
    if (n >= pool_size) {
        if (cc->db_connections == 0)
            snprintf(err, errlen,
                     "db_connections %lld leaves no database connection for the console beside "
                     "production's: set db_connections to 2 or more (or console.port 0: no "
                     "console)",
                     pool_size);
        else
            snprintf(err, errlen,
                     "console.db_connections %lld must be less than db_connections %lld (the "
                     "rest are production's)",
                     n, pool_size);
        return CL_ERR_CONFIG;
    }
    *share = (size_t)n;
    return CL_OK;
}
