/* console_config.c: the configuration table of an operator console's section. */
#include "console_config.h"

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
};
const struct cl_cfg_table cs_console_config_table = CL_CFG_TABLE(console_fields);
