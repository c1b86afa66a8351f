/* console_config.h: the "console" section of a server's configuration, the same in every server
 * with an operator console:
 *   "console": { "host", "port", "cert_file", "key_file", "session_minutes",
 *                "max_connections" }   (absent, or port 0: no console) */
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
};

extern const struct cl_cfg_table cs_console_config_table;

/* The row for a member named console, the same way in every server's table. */
#define CL_CFG_CONSOLE_ROW(T)                                                                      \
    CL_CFG_OBJ(T, console, "console", 0, &cs_console_config_table,                                 \
               "the operator console over HTTPS (absent: none)")

#endif
