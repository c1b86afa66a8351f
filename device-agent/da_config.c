/* da_config.c: the configuration table of device-agent and its -n check. */
#include "da_config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client_failover.h"
#include "da_crl.h"
#include "da_identity.h"
#include "error.h"
#include "nv_image.h"

/* The shared "listen" keys, with the jig's port as the default. */
static const struct cl_cfg_field listen_fields[] = {
    CL_CFG_STR_DEF(struct cl_listen_config, host, "host", "127.0.0.1", 1,
                   "address the writing interface listens on (loopback by default)"),
    CL_CFG_INT(struct cl_listen_config, port, "port", 0, 0, 65535, DA_DEFAULT_PORT,
               "TCP port of the writing interface (0: any free)"),
    CL_CFG_INT(struct cl_listen_config, max_connections, "max_connections", 0, 1, 64, 4,
               "connections served at once (one thread each); more are refused"),
};
static const struct cl_cfg_table listen_table = CL_CFG_TABLE(listen_fields);

static const struct cl_cfg_field da_fields[] = {
    CL_CFG_STR(struct da_config, flash_image, "flash_image", 1, 1,
               "the flash image file [FIG 5] (made by mkimage)"),
    CL_CFG_STR(struct da_config, nvram_image, "nvram_image", 1, 1,
               "the NVRAM image file [FIG 6] (made by mkimage)"),
    CL_CFG_OBJ(struct da_config, listen, "listen", 0, &listen_table,
               "the device's writing interface, for the factory terminal (the jig)"),
    CL_CFG_OBJ(struct da_config, line, "line", 0, &cl_endpoint_config_table,
               "the factory terminal's line interface, for write results (needed by serve)"),
    CL_CFG_OBJ(struct da_config, ca_server, "ca_server", 0, &cl_endpoints_config_table,
               "ca-server, for check-in (needed by check-in)"),
    CL_CFG_LIMITS_ROW(struct da_config),
    CL_CFG_STR_DEF(struct da_config, crl_file, "crl_file", "", 0,
                   "a CRL (DER or PEM) to enforce on the factory terminal at S7 and S10 (empty: "
                   "none; see README.md, revocation on the line)"),
    CL_CFG_STR_DEF(struct da_config, crl_ca_file, "crl_ca_file", "", 0,
                   "the CA certificates that may sign crl_file (root and issuing CA, PEM)"),
};
const struct cl_cfg_table da_config_table = CL_CFG_TABLE(da_fields);

static int https_endpoint(const char *key, const struct cl_endpoint_config *peer, char *err,
                          size_t errlen)
{
    if (peer->endpoint[0] != '\0' && strncmp(peer->endpoint, "https://", 8) != 0) {
        snprintf(err, errlen, "%s.endpoint \"%s\" is not an https:// address", key, peer->endpoint);
        return CL_ERR_CONFIG;
    }
    return CL_OK;
}

int da_config_check(const void *config, char *err, size_t errlen)
{
    const struct da_config *c = config;
    int flash = access(c->flash_image, F_OK) == 0, nvram = access(c->nvram_image, F_OK) == 0;
    struct nv_device device;
    struct cl_tls *tls = NULL;
    char why[512];
    int rc;

    if ((rc = https_endpoint("line", &c->line, err, errlen)) != CL_OK)
        return rc;
    if ((c->ca_server.endpoint[0] != '\0' || c->ca_server.endpoints[0] != '\0') &&
        (rc = cl_failover_new(&c->ca_server, "ca_server", NULL, err, errlen)) != CL_OK)
        return rc;
    if (c->crl_file[0] != '\0' && c->crl_ca_file[0] == '\0') {
        snprintf(err, errlen, "crl_file needs crl_ca_file (the CAs that may sign it)");
        return CL_ERR_CONFIG;
    }
    if ((rc = da_crl_check(c, err, errlen)) != CL_OK)
        return rc;
    if (!flash && !nvram)
        return CL_OK; /* a board still to be made (mkimage) */
    if (flash != nvram) {
        snprintf(err, errlen, "%s exists but %s does not", flash ? c->flash_image : c->nvram_image,
                 flash ? c->nvram_image : c->flash_image);
        return CL_ERR_CONFIG;
    }
    if ((rc = nv_open(c->flash_image, c->nvram_image, &device, why, sizeof(why))) != CL_OK) {
        snprintf(err, errlen, "the images do not open: %s", why);
        return rc;
    }
    /* The writing interface can be served: the common key opens and matches. */
    rc = da_tls_common(&device, CL_TLS_SERVER, &tls, why, sizeof(why));
    if (rc != CL_OK)
        snprintf(err, errlen, "the device's common identity is not usable: %s", why);
    cl_tls_free(tls);
    nv_close(&device);
    return rc;
}
