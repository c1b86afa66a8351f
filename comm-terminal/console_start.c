/* console_start.c: the comm-terminal's operator console started on config.console: its TLS
 * context, its sessions, and what common/console_gate.c asks of it (store connections from the
 * console's share of the pool, operator logins, the audit log). */
#include <stdio.h>
#include <stdlib.h>

#include "console.h"
#include "error.h"
#include "policy.h"

struct ct_console {
    struct cs_app app;
    struct cs_site site;
    struct cs_console *server;
};

/* A request's connection, from the console's share of the pool (console.db_connections). */
static void *take(struct cs_app *app, long wait_ms)
{
    return cl_pool_acquire_share(app->rt->pool, wait_ms);
}

static void release(struct cs_app *app, void *store)
{
    cl_pool_release_share(app->rt->pool, store);
}

static int login(void *store, const char *operator_id, const char *password, char *role,
                 size_t role_len)
{
    return ct_store_operator_login(store, operator_id, password, role, role_len) == CL_OK ? 0 : -1;
}

static int standing(void *store, const char *operator_id, char *stamp, size_t cap)
{
    int rc = ct_store_operator_stamp(store, operator_id, stamp, cap);
    return rc == CL_OK ? 0 : rc == CL_ERR_PERMISSION ? 1 : -1;
}

static void audit(void *store, const char *operator_id, const char *action, const char *detail)
{
    (void)ct_store_audit(store, operator_id, action, detail);
}

int ct_console_start(struct ct_runtime *rt, struct cl_tls *line_tls, struct ct_console **out,
                     char *err, size_t errlen)
{
    struct ct_console *console;
    size_t share;
    int rc;

    *out = NULL;
    if ((rc = cs_console_db_share(&rt->config->console, rt->config->db_connections, &share, err,
                                  errlen)) != CL_OK)
        return rc;
    cl_pool_set_share(rt->pool, share);
    if ((console = calloc(1, sizeof(*console))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    console->app.rt = rt;
    console->site = (struct cs_site){.title = "certline console",
                                     .cookie = "certline",
                                     .routes = ct_console_routes,
                                     .route_count = ct_console_route_count,
                                     .nav = ct_console_nav,
                                     .nav_count = ct_console_nav_count,
                                     .app = &console->app,
                                     .take = take,
                                     .release = release,
                                     .login = login,
                                     .audit = audit};
    console->site.standing = standing;
    console->site.static_routes = ct_console_static_routes;
    console->site.static_route_count = ct_console_static_route_count;
    console->site.query_bounds = ct_console_query_bounds;
    console->site.query_bound_count = ct_console_query_bound_count;
    rc = cs_console_open(&rt->config->console, &rt->config->tls, line_tls, CL_IFACE_COMM_TERMINAL,
                         &console->site, &console->server, err, errlen);
    if (rc != CL_OK || console->server == NULL) { /* failed, or no console (port 0) */
        free(console);
        return rc;
    }
    console->app.sessions = console->site.sessions;
    *out = console;
    return CL_OK;
}

void ct_console_stop(struct ct_console *console)
{
    if (console != NULL)
        cs_console_stop(console->server);
}

void ct_console_free(struct ct_console *console)
{
    if (console == NULL)
        return;
    cs_console_free(console->server); /* and its sessions */
    free(console);
}
