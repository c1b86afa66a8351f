/* console_start.c: ca-server's console started on config.console: its TLS context, sessions,
 * pages and navigation, and what common/console_gate.c asks of it (store connections from the
 * console's share of the pool, CA operator logins, the audit log under "console:LOGIN"). */
#include <stdio.h>
#include <stdlib.h>

#include "ca_console.h"
#include "error.h"
#include "policy.h"
#include "store_console.h"

struct ca_console {
    struct cs_app app;
    struct cs_site site;
    struct cs_console *server;
};

static const struct cs_route routes[] = {
    {"/", 0, ca_page_issuance},
    {"/models", 0, ca_page_models},
    {"/certificates", 0, ca_page_certificates},
    {"/certificate", 0, ca_page_certificate},
    {"/revoke", 0, ca_page_revoke},
    {"/revoke", 1, ca_action_revoke},
    {"/log", 0, ca_page_log},
};

/* The query values the pages read: beyond these the console answers 400 naming the field. */
static const struct cs_query_bound query_bounds[] = {
    {"number", CA_DEVICE_NUMBER_MAX, 0},
    {"serial", CA_SERIAL_HEX_MAX, 0},
    {"state", 15, 0},
    {"factory", CA_FACTORY_MAX, 0},
    {"day", 10, 1},
    {"since", 10, 1},
    {"actor", 71, 0},
    {"action", 71, 0},
    {"text", 127, 0},
};

static const struct cs_nav nav[] = {
    {"/", "Issuance", NULL},
    {"/models", "Models", NULL},
    {"/certificates", "Certificates", NULL},
    {"/log", "Audit log", NULL},
};

void ca_console_actor(const struct cs_ctx *ctx, char *out, size_t cap)
{
    snprintf(out, cap, "console:%s", ctx->session->operator_id);
}

/* A request's connection, from the console's share of the pool (console.db_connections). */
static void *take(struct cs_app *app, long wait_ms)
{
    return ca_db_pool_acquire_share(app->rt->pool, wait_ms);
}

static void release(struct cs_app *app, void *store)
{
    ca_db_pool_release_share(app->rt->pool, store);
}

static int login(void *store, const char *login, const char *password, char *role, size_t role_len)
{
    return ca_store_operator_login(store, login, password, role, role_len) == CL_OK ? 0 : -1;
}

static int standing(void *store, const char *login, char *stamp, size_t cap)
{
    int rc = ca_store_operator_stamp(store, login, stamp, cap);
    return rc == CL_OK ? 0 : rc == CL_ERR_PERMISSION ? 1 : -1;
}

static void audit(void *store, const char *login, const char *action, const char *detail)
{
    char actor[64];
    snprintf(actor, sizeof(actor), "console:%s", login);
    (void)ca_store_audit(store, actor, action, detail);
}

int ca_console_start(struct ca_runtime *rt, struct cl_tls *tls, struct ca_console **out, char *err,
                     size_t errlen)
{
    struct ca_console *console;
    size_t share;
    int rc;

    *out = NULL;
    if ((rc = cs_console_db_share(&rt->config->console, rt->config->db_connections, &share, err,
                                  errlen)) != CL_OK)
        return rc;
    ca_db_pool_set_share(rt->pool, share);
    if ((console = calloc(1, sizeof(*console))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    console->app.rt = rt;
    console->site = (struct cs_site){.title = "certline CA console",
                                     .cookie = "certline-ca",
                                     .routes = routes,
                                     .route_count = sizeof(routes) / sizeof(routes[0]),
                                     .nav = nav,
                                     .nav_count = sizeof(nav) / sizeof(nav[0]),
                                     .app = &console->app,
                                     .take = take,
                                     .release = release,
                                     .login = login,
                                     .audit = audit};
    console->site.standing = standing;
    console->site.query_bounds = query_bounds;
    console->site.query_bound_count = sizeof(query_bounds) / sizeof(query_bounds[0]);
    rc = cs_console_open(&rt->config->console, &rt->config->tls, tls, CL_IFACE_CA, &console->site,
                         &console->server, err, errlen);
    if (rc != CL_OK || console->server == NULL) { /* failed, or no console (port 0) */
        free(console);
        return rc;
    }
    console->app.sessions = console->site.sessions;
    *out = console;
    return CL_OK;
}

void ca_console_free(struct ca_console *console)
{
    if (console == NULL)
        return;
    cs_console_free(console->server); /* and its sessions */
    free(console);
}
