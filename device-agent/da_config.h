/* da_config.h: device-agent's configuration (JSON, strict table): where the device's flash and
 * NVRAM images are, its writing interface for the jig (listen), the factory terminal's line
 * interface it reports write results to (line), and ca-server for check-in (ca_server). The TLS
 * identity is not configured: it is the device's own, from its images. */
#ifndef CERTLINE_DA_CONFIG_H
#define CERTLINE_DA_CONFIG_H

#include "config.h"
#include "transport_config.h"

#define DA_DEFAULT_PORT 8446

struct da_config {
    char flash_image[1024];
    char nvram_image[1024];
    struct cl_listen_config listen;       /* the device interface (the jig) */
    struct cl_endpoint_config line;       /* S10: the factory terminal; "" when absent */
    struct cl_endpoints_config ca_server; /* check-in; "" when absent */
    struct cl_limits_config limits;
    char crl_file[1024];    /* "" = none: a CRL enforced on the factory terminal (da_crl.h) */
    char crl_ca_file[1024]; /* the CAs that may sign it (root and issuing CA, PEM) */
};

extern const struct cl_cfg_table da_config_table;

/* -n: the values the table cannot check, and the images when they exist (opened and checked,
 * the common key unsealed and matched). */
int da_config_check(const void *config, char *err, size_t errlen);

#endif
