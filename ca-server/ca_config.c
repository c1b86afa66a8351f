/* ca_config.c: the configuration table of ca-server and its -n check. */
#include "ca_config.h"

#include <stdio.h>
#include <sys/stat.h>

#include "error.h"
#include "tls.h"

static const struct cl_cfg_field database_fields[] = {
    CL_CFG_STR(struct ca_database_config, conninfo, "conninfo", 1, 1,
               "libpq connection string of ca-server's database"),
};
static const struct cl_cfg_table database_table = CL_CFG_TABLE(database_fields);

static const struct cl_cfg_field ca_fields[] = {
    CL_CFG_STR(struct ca_config, ca_dir, "ca_dir", 1, 1,
               "folder of the CA certificates and passphrase-encrypted keys"),
    CL_CFG_STR_DEF(struct ca_config, organisation, "organisation", "certline", 1,
                   "organisation (O=) in every certificate issued"),
    CL_CFG_STR_DEF(struct ca_config, passphrase_file, "passphrase_file", "", 0,
                   "file holding the CA passphrase (mode 0600); empty: environment "
                   "CERTLINE_CA_PASSPHRASE"),
    CL_CFG_OBJ(struct ca_config, database, "database", 1, &database_table, "PostgreSQL"),
    CL_CFG_TLS_ROW(struct ca_config, "ca-server's own service certificate"),
    CL_CFG_LISTEN_ROW(struct ca_config, "where the ca interface listens"),
    CL_CFG_LIMITS_ROW(struct ca_config),
    CL_CFG_METRICS_ROW(struct ca_config),
    CL_CFG_CONSOLE_ROW(struct ca_config),
    CL_CFG_INT(struct ca_config, workers, "workers", 0, 1, 64, 2, "signing threads per batch"),
    CL_CFG_INT(struct ca_config, max_batch, "max_batch", 0, 1, 1000, 1000,
               "device numbers per certificate transmission request"),
    CL_CFG_INT(struct ca_config, device_validity_days, "device_validity_days", 0, 1, 36500, 3650,
               "lifetime of a device certificate (never past the issuing CA's end)"),
    CL_CFG_INT(struct ca_config, db_connections, "db_connections", 0, 1, 256, 8,
               "database connections shared by the request threads"),
    CL_CFG_INT(struct ca_config, issuing_ca_warn_days, "issuing_ca_warn_days", 0, 0, 36500, 365,
               "warn (serve's log, operator commands) when the issuing CA has fewer days left; "
               "0: never"),
    CL_CFG_INT(struct ca_config, crl_period_s, "crl_period_s", 0, 10, 7 * 86400, 3600,
               "seconds between the CRLs serve publishes (one is also published soon after any "
               "revocation)"),
    CL_CFG_INT(struct ca_config, crl_validity_s, "crl_validity_s", 0, 20, 30 * 86400, 7200,
               "a CRL's nextUpdate after its thisUpdate; more than crl_period_s, so that a new "
               "CRL is out before the last goes stale"),
    CL_CFG_STR_DEF(struct ca_config, crl_file, "crl_file", "", 0,
                   "file serve writes each CRL to (PEM, atomically); empty: ca_dir/crl.pem"),
    CL_CFG_INT(struct ca_config, pack_retention_hours, "pack_retention_hours", 0, 1, 87600, 168,
               "hours a pack (sealed device key) issued but never installed is kept for a retried "
               "request; installation, supersession and revocation purge it at once"),
    CL_CFG_INT(struct ca_config, issuance_fold_s, "issuance_fold_s", 0, 1, 3600, 60,
               "seconds between the folds serve makes of the issuance counts (the rows each write "
               "appends, summed into one per day and factory for the console's page)"),
    CL_CFG_STR_DEF(struct ca_config, issuing_key_uri, "issuing_key_uri", "", 0,
                   "PKCS#11 URI (RFC 7512) of the issuing CA key in a token, e.g. "
                   "pkcs11:token=certline;object=issuing-ca;type=private?module-path=/usr/lib/"
                   "softhsm/libsofthsm2.so&pin-source=file:/etc/certline/token.pin (init makes "
                   "it there); empty: the passphrase-encrypted ca_dir/issuing.key.enc"),
    CL_CFG_STR_DEF(struct ca_config, root_key_uri, "root_key_uri", "", 0,
                   "PKCS#11 URI of the root key (init makes it there; only init and rollover use "
                   "it, never serve); may be another token; empty: ca_dir/root.key.enc"),
    CL_CFG_STR_DEF(struct ca_config, device_key_token, "device_key_token", "", 0,
                   "PKCS#11 URI (RFC 7512: token=, module-path=, pin-source=) of the token that "
                   "makes device keys and holds the pre-write keys: packs of version 2, keys "
                   "never in clear in ca-server; empty: device keys made in software, packs of "
                   "version 1"),
};
const struct cl_cfg_table ca_config_table = CL_CFG_TABLE(ca_fields);

struct ca_key_place ca_config_key_place(const struct ca_config *c)
{
    long long sessions = c->workers + 2;
    return (struct ca_key_place){
        c->issuing_key_uri, c->root_key_uri,
        (int)(sessions > CL_P11_SESSIONS_MAX ? CL_P11_SESSIONS_MAX : sessions)};
}

int ca_config_check(const void *config, char *err, size_t errlen)
{
    const struct ca_config *c = config;
    struct cl_p11_uri uri;
    struct stat st;

    if (stat(c->ca_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "ca_dir %s is not a folder", c->ca_dir);
        return CL_ERR_CONFIG;
    }
    if (c->crl_validity_s <= c->crl_period_s) {
        snprintf(err, errlen,
                 "crl_validity_s (%lld) must be more than crl_period_s (%lld): a CRL must not go "
                 "stale before the next is published",
                 c->crl_validity_s, c->crl_period_s);
        return CL_ERR_CONFIG;
    }
    size_t share;
    if (cs_console_db_share(&c->console, c->db_connections, &share, err, errlen) != CL_OK)
        return CL_ERR_CONFIG;
    if ((c->issuing_key_uri[0] != '\0' &&
         cl_p11_uri_parse(c->issuing_key_uri, &uri, err, errlen) != CL_OK) ||
        (c->root_key_uri[0] != '\0' &&
         cl_p11_uri_parse(c->root_key_uri, &uri, err, errlen) != CL_OK))
        return CL_ERR_CONFIG;
    return cl_tls_config_check(&c->tls, CL_TLS_SERVER, err, errlen);
}
