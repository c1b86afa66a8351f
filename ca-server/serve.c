/* serve.c: `ca-server serve`: loads the CA and the database pool, serves the ca interface until
 * SIGINT or SIGTERM. */
#include <mbedtls/platform_util.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca_console.h"
#include "commands.h"
#include "crl_holder.h"
#include "crl_publisher.h"
#include "error.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics_catalog.h"
#include "prewrite_token.h"
#include "runtime.h"
#include "soap_server.h"

static struct cl_server *running;

static void on_signal(int sig)
{
    (void)sig;
    if (running != NULL)
        cl_server_stop(running);
}

/* Opens every pre-write key of every model now, while the passphrase is at hand (file mode), so
 * that serving needs no passphrase for them. A key that cannot be opened is logged. */
static void cache_prewrite_keys(struct ca_store *store, struct ca_authority *authority)
{
    unsigned char key[CL_PREWRITE_KEY_BYTES];
    struct ca_model *models = NULL;
    size_t count = 0;
    char err[512];

    if (ca_store_model_list(store, &models, &count) != CL_OK)
        return;
    for (size_t m = 0; m < count; m++) {
        struct ca_prewrite_key *keys = NULL;
        size_t nkeys = 0;
        if (ca_store_prewrite_list(store, models[m].code, time(NULL), &keys, &nkeys) != CL_OK)
            continue;
        for (size_t k = 0; k < nkeys; k++)
            if (ca_authority_prewrite_key(authority, models[m].code, keys[k].key_id, keys[k].first,
                                          key, err, sizeof(err)) != CL_OK)
                cl_log_warn("pre-write key %s of model %s: %s", keys[k].key_id, models[m].code,
                            err);
        free(keys);
    }
    mbedtls_platform_zeroize(key, sizeof(key));
    free(models);
}

int ca_command_serve(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    struct ca_runtime runtime = {.config = config};
    struct cl_server_settings settings = {.iface = CL_IFACE_CA};
    struct cl_tls_settings tls_settings;
    struct cl_tls *tls = NULL;
    struct cl_crl_holder *holder = NULL;
    struct ca_store *store = NULL;
    struct cl_metrics_http *metrics = NULL;
    struct ca_console *console = NULL;
    struct ca_key_place keys = ca_config_key_place(config); /* the issuing key only */
    char err[512] = "";
    int applied = 0, code = 1;
    (void)argc;
    (void)argv;

    size_t share; /* the console's connections: checked before anything starts */
    if (cs_console_db_share(&config->console, config->db_connections, &share, err, sizeof(err)) !=
        CL_OK) {
        cl_log_error("%s", err);
        goto out;
    }
    if (ca_store_open(config->database.conninfo, &store, err, sizeof(err)) != CL_OK ||
        ca_store_migrate(store, &applied, err, sizeof(err)) != CL_OK) {
        cl_log_error("database: %s", err);
        goto out;
    }
    if (applied > 0)
        cl_log_info("database: %d migration(s) applied", applied);
    if (ca_authority_open(config->ca_dir, config->organisation, passphrase, &keys,
                          &runtime.authority, err, sizeof(err)) != CL_OK ||
        ca_db_pool_new(config->database.conninfo, (size_t)config->db_connections, &runtime.pool,
                       err, sizeof(err)) != CL_OK ||
        ca_prewrite_token_of(config, 0, &runtime.prewrite_token, err, sizeof(err)) != CL_OK) {
        cl_log_error("%s", err);
        goto out;
    }
    /* The keys are open: serving keeps no passphrase (a key added later is opened with the
     * passphrase file read again). */
    if (runtime.prewrite_token == NULL)
        cache_prewrite_keys(store, runtime.authority);
    ca_authority_forget_passphrase(runtime.authority, config->passphrase_file);
    ca_passphrase_forget();
    passphrase = NULL;
    if (config->crl_validity_s <= config->crl_period_s) {
        cl_log_error("crl_validity_s must be more than crl_period_s");
        goto out;
    }
    cl_tls_config_settings(&config->tls, &tls_settings);
    /* Every handshake checks the peer (comm-terminals; devices at check-in) against the CRL the
     * publisher installs into the holder: the first one before the first connection. */
    if (cl_tls_new(CL_TLS_SERVER, &tls_settings, &tls, err, sizeof(err)) != CL_OK ||
        cl_crl_holder_new(NULL, NULL, ca_authority_chain_pem(runtime.authority), &holder, err,
                          sizeof(err)) != CL_OK ||
        cl_tls_check_revocation(tls, holder) != CL_OK ||
        ca_crl_publisher_start(&runtime, holder, &runtime.crl, err, sizeof(err)) != CL_OK) {
        cl_log_error("%s", err[0] ? err : "cannot check revocation in handshakes");
        goto out;
    }
    settings.host = config->listen.host;
    settings.port = (int)config->listen.port;
    settings.max_connections = (int)config->listen.max_connections;
    settings.app = &runtime;
    cl_limits_config_apply(&config->limits, &settings.limits);
    if (cl_server_new(&settings, tls, &running, err, sizeof(err)) != CL_OK ||
        cl_metrics_http_start(&config->metrics, cl_metrics_global(), CL_METRICS_CA, &metrics, err,
                              sizeof(err)) != CL_OK ||
        ca_console_start(&runtime, tls, &console, err, sizeof(err)) != CL_OK) {
        cl_log_error("%s", err);
        goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (ca_pack_purge_start(&runtime) != CL_OK)
        cl_log_warn("packs past pack_retention_hours are not purged: no thread");
    cl_log_info("serving the ca interface on %s port %d", settings.host, cl_server_port(running));
    {
        char msg[320];
        enum ca_life life = ca_life_of(config, ca_authority_issuing_not_after(runtime.authority),
                                       time(NULL), msg, sizeof(msg));
        if (life == CA_LIFE_ENDED)
            cl_log_error("%s", msg);
        else if (life == CA_LIFE_ENDING)
            cl_log_warn("%s", msg);
        else
            cl_log_info("%s", msg);
    }
    /* A line on stdout that scripts and tests can wait for. */
    printf("listening on %s:%d\n", settings.host, cl_server_port(running));
    fflush(stdout);
    code = cl_server_run(running) == CL_OK ? 0 : 1;
    cl_log_info("stopping");
out : {
    struct cl_server *server = running;
    running = NULL; /* before freeing: a late signal must not touch a freed server */
    cl_server_free(server);
}
    cl_metrics_http_stop(metrics);
    ca_console_free(console);
    ca_crl_publisher_stop(runtime.crl);
    ca_pack_purge_stop(&runtime);
    cl_tls_free(tls);
    cl_crl_holder_free(holder);
    ca_db_pool_free(runtime.pool);
    ca_prewrite_token_free(runtime.prewrite_token);
    ca_authority_free(runtime.authority);
    ca_store_close(store);
    return code;
}
