/* console_config.h: the "console" section of a server's configuration, the same in every server
 * with an operator console:
 *   "console": { "host", "port", "cert_file", "key_file", "session_minutes",
 *                "max_connections", "send_timeout_s", "db_connections" }   (absent, or port 0: no
 * console) */
#ifndef CERTLINE_CONSOLE_CONFIG_H
#define CERTLINE_CONSOLE_CONFIG_H

#include "config.h"

struct cs_console_config {
    char host[64];
    long long port;
    char cert_file[256]; /* "" = tls.cert_file */
    char key_file[256];  /* "" = tls.key_file */
    long long session_minutes;
    long long max_connections;
    long long send_timeout_s;
    long long db_connections; /* 0: a quarter of the program's, at least 1 */
};

extern const struct cl_cfg_table cs_console_config_table;

/* The console's share of a program's pool_size database connections (cc->db_connections, or
 * a quarter of pool_size, at least 1) into *share; 0 without a console. CL_OK, or
 * CL_ERR_CONFIG with err saying why when it would leave production no connection. */
int cs_console_db_share(const struct cs_console_config *cc, long long pool_size, size_t *share,
                        char *err, size_t errlen);

/* The row for a member named console, the same way in every server's table. */
#define CL_CFG_CONSOLE_ROW(T)                                                                      \
    CL_CFG_OBJ(T, console, "console", 0, &cs_console_config_table,                                 \
               "the operator console over HTTPS (absent: none)")

#endif
