/* ft_config.c: the configuration table of factory-terminal and the start-up checks (TLS files,
 * the line id against the certificate's serialNumber, endpoint syntax). */
#include "ft_config.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "error.h"
#include "input_check.h"
#include "peer.h"
#include "soap_client.h"

static const struct cl_cfg_field ft_fields[] = {
    CL_CFG_STR(struct ft_config, line_id, "line_id", 1, 1,
               "this line's id; must equal the serialNumber of tls.cert_file"),
    CL_CFG_TLS_ROW(struct ft_config,
                   "the factory terminal's certificate (role factory-terminal), both directions"),
    CL_CFG_OBJ(struct ft_config, comm_terminal, "comm_terminal", 1, &cl_endpoint_config_table,
               "the factory's comm-terminal (S5, S9, S11)"),
    CL_CFG_STR_DEF(struct ft_config, device_endpoint, "device_endpoint",
                   "https://127.0.0.1:8446/device", 12,
                   "https://host:port/path of the device on the jig (S7)"),
    CL_CFG_LISTEN_ROW(struct ft_config,
                      "the line interface where the device reports its write result (S10); e.g. "
                      "8445"),
    CL_CFG_LIMITS_ROW(struct ft_config),
    CL_CFG_METRICS_ROW(struct ft_config),
    CL_CFG_INT(struct ft_config, write_result_timeout_s, "write_result_timeout_s", 0, 1, 600, 30,
               "seconds to wait for the device's write result (S10) after it accepted the pack"),
    CL_CFG_STR_DEF(struct ft_config, events_file, "events_file", "", 0,
                   "file to append one JSON event line per device to, fsynced (empty: none)"),
    CL_CFG_CRL_ROWS(struct ft_config, crl),
    CL_CFG_STR_DEF(struct ft_config, crl_file, "crl_file", "", 0,
                   "file keeping the last CRL from the comm-terminal, so that a restart with the "
                   "comm-terminal away still enforces it (empty: kept in memory only)"),
};
const struct cl_cfg_table ft_config_table = CL_CFG_TABLE(ft_fields);

/* The identity in the first (leaf) certificate of path. */
static int own_identity(const char *path, struct cl_peer *peer, char *err, size_t errlen)
{
    mbedtls_x509_crt crt;
    int ret;

    mbedtls_x509_crt_init(&crt);
    ret = mbedtls_x509_crt_parse_file(&crt, path);
    if (ret != 0) {
        char why[128];
        cl_tls_strerror(ret, why, sizeof(why));
        snprintf(err, errlen, "tls.cert_file %s: cannot read the certificate: %s", path, why);
        mbedtls_x509_crt_free(&crt);
        return CL_ERR_CONFIG;
    }
    cl_peer_from_cert(&crt, peer);
    mbedtls_x509_crt_free(&crt);
    return CL_OK;
}

static int check_identity(const struct ft_config *c, char *err, size_t errlen)
{
    struct cl_peer me;
    char shown[48];
    int rc;

    if (!cl_token_ok(c->line_id, FT_LINE_ID_MAX)) {
        snprintf(err, errlen, "line_id \"%s\" must be 1 to %d printable characters without spaces",
                 cl_shown(c->line_id, shown, sizeof(shown)), FT_LINE_ID_MAX);
        return CL_ERR_CONFIG;
    }
    if ((rc = own_identity(c->tls.cert_file, &me, err, errlen)) != CL_OK)
        return rc;
    if (me.role != CL_ROLE_FACTORY_TERMINAL) {
        snprintf(err, errlen,
                 "tls.cert_file %s is a %s certificate (CN \"%s\"); a factory terminal needs a "
                 "factory-terminal certificate (subject OU=factory-terminal)",
                 c->tls.cert_file, cl_role_name(me.role), me.name[0] ? me.name : "-");
        return CL_ERR_CONFIG;
    }
    if (strcmp(me.number, c->line_id) != 0) {
        snprintf(err, errlen,
                 "line_id \"%s\" does not match the certificate %s: it was issued for line "
                 "\"%s\" (subject serialNumber); use that line id or this line's certificate",
                 c->line_id, c->tls.cert_file, me.number[0] ? me.number : "(none)");
        return CL_ERR_CONFIG;
    }
    return CL_OK;
}

/* Endpoint syntax, checked the way the client will use it. */
static int check_endpoint(struct cl_tls *tls, const struct ft_config *c, const char *key,
                          const char *endpoint, const char *server_name, char *err, size_t errlen)
{
    struct cl_client_settings settings = {.endpoint = endpoint, .server_name = server_name};
    struct cl_client *client = NULL;
    char why[384];
    int rc;

    cl_limits_config_apply(&c->limits, &settings.limits);
    settings.server_role = CL_ROLE_NONE;
    rc = cl_client_new(&settings, tls, &client, why, sizeof(why));
    cl_client_free(client);
    if (rc != CL_OK)
        snprintf(err, errlen, "%s: %s", key, why);
    return rc;
}

int ft_config_prepare(const struct ft_config *c, struct cl_tls **client_tls,
                      struct cl_tls **server_tls, char *err, size_t errlen)
{
    struct cl_tls *client = NULL, *server = NULL;
    struct cl_crl_policy policy;
    int rc;

    if (client_tls != NULL)
        *client_tls = NULL;
    if (server_tls != NULL)
        *server_tls = NULL;
    if ((rc = cl_crl_config_policy(&c->crl, &policy, err, errlen)) != CL_OK)
        goto out;
    if ((rc = cl_tls_config_new(&c->tls, CL_TLS_CLIENT, &client, err, errlen)) != CL_OK)
        goto out;
    if ((rc = cl_tls_config_new(&c->tls, CL_TLS_SERVER, &server, err, errlen)) != CL_OK)
        goto out;
    if ((rc = check_identity(c, err, errlen)) != CL_OK)
        goto out;
    if ((rc = check_endpoint(client, c, "comm_terminal.endpoint", c->comm_terminal.endpoint,
                             c->comm_terminal.server_name, err, errlen)) != CL_OK)
        goto out;
    if ((rc = check_endpoint(client, c, "device_endpoint", c->device_endpoint, "device", err,
                             errlen)) != CL_OK)
        goto out;
    if (client_tls != NULL) {
        *client_tls = client;
        client = NULL;
    }
    if (server_tls != NULL) {
        *server_tls = server;
        server = NULL;
    }
out:
    cl_tls_free(client);
    cl_tls_free(server);
    return rc;
}

int ft_config_check(const void *config, char *err, size_t errlen)
{
    return ft_config_prepare(config, NULL, NULL, err, errlen);
}
