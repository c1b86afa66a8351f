/* test_gate_connections.c: the console gate's use of store connections (common/console_gate.c),
 * without a server: what needs no database (the login form, static content, the way to the login
 * without a session, no icon) is answered without taking one, so even while the console's share
 * is busy; a login sent and every request of a session take one (the operator's standing is
 * checked each time), and when none is free they are answered 503 with Retry-After, nothing
 * checked or done without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "console_core.h"

/* The store as the gate sees it: a counter of what it is asked, busy or not. */
struct cs_app {
    int busy; /* acquire finds no connection free */
    int acquired, released, standing_asked, login_asked, audited, page_ran;
    int store; /* the one connection (its address is the store) */
};

static void *acquire(struct cs_app *app)
{
    if (app->busy)
        return NULL;
    app->acquired++;
    return &app->store;
}

static void release(struct cs_app *app, void *store)
{
    assert_ptr_equal(store, &app->store);
    app->released++;
}

static struct cs_app *app_of(void *store)
{
    return (struct cs_app *)((char *)store - offsetof(struct cs_app, store));
}

static int login(void *store, const char *operator_id, const char *password, char *role,
                 size_t role_len)
{
    app_of(store)->login_asked++;
    if (strcmp(operator_id, "alice") != 0 || strcmp(password, "right") != 0)
        return -1;
    snprintf(role, role_len, "operator");
    return 0;
}

static int standing(void *store, const char *operator_id, char *stamp, size_t cap)
{
    (void)operator_id;
    app_of(store)->standing_asked++;
    snprintf(stamp, cap, "s1");
    return 0;
}

static void audit(void *store, const char *operator_id, const char *action, const char *detail)
{
    (void)operator_id;
    (void)action;
    (void)detail;
    app_of(store)->audited++;
}

static void page(struct cs_ctx *ctx)
{
    assert_non_null(ctx->store);
    assert_non_null(ctx->session);
    ctx->app->page_ran++;
    cs_puts(&ctx->resp->body, "the page");
}

static void script(struct cs_ctx *ctx)
{
    assert_null(ctx->store);
    assert_null(ctx->session);
    ctx->resp->content_type = "text/javascript";
    cs_puts(&ctx->resp->body, "'use strict';");
}

static const struct cs_route routes[] = {{"/", 0, page}};
static const struct cs_route static_routes[] = {{"/console.js", 0, script}};

struct gate {
    struct cs_app app;
    struct cs_site site;
    struct cs_session session; /* alice's, logged in */
};

static int gate_setup(void **state)
{
    struct gate *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    g->site = (struct cs_site){.title = "test console",
                               .cookie = "test",
                               .routes = routes,
                               .route_count = 1,
                               .static_routes = static_routes,
                               .static_route_count = 1,
                               .app = &g->app,
                               .acquire = acquire,
                               .release = release,
                               .login = login,
                               .standing = standing,
                               .audit = audit};
    assert_int_equal(cs_sessions_new(600, &g->site.sessions), 0);
    assert_int_equal(cs_session_open(g->site.sessions, "alice", "operator", "s1", &g->session), 0);
    *state = g;
    return 0;
}

static int gate_teardown(void **state)
{
    struct gate *g = *state;
    cs_sessions_free(g->site.sessions);
    free(g);
    return 0;
}

/* Answers one request; the response's body NUL-terminated (freed by the caller). */
static struct cs_response ask(struct gate *g, int post, const char *path, int with_session,
                              const char *body)
{
    struct cs_request req;
    struct cs_response resp = {.status = 200, .content_type = "text/html"};
    memset(&req, 0, sizeof(req));
    req.post = post;
    snprintf(req.path, sizeof(req.path), "%s", path);
    snprintf(req.address, sizeof(req.address), "127.0.0.1");
    if (with_session)
        snprintf(req.session_id, sizeof(req.session_id), "%s", g->session.id);
    if (body != NULL) {
        snprintf(req.login_token, sizeof(req.login_token), "%064d", 7);
        req.body = body;
        req.body_len = strlen(body);
        snprintf(req.content_type, sizeof(req.content_type), "application/x-www-form-urlencoded");
    }
    cs_handle(&g->site, &req, &resp);
    cs_add(&resp.body, "", 1);
    assert_false(resp.body.failed);
    return resp;
}

static void assert_busy(struct cs_response *resp)
{
    assert_int_equal(resp->status, 503);
    assert_non_null(strstr(resp->headers, "Retry-After: 2\r\n"));
    assert_non_null(strstr(resp->body.data, "the console is busy"));
}

/* The share busy: the pages that need no database are served and none is asked for; a page of
 * a session, a login and a logout are answered 503 with Retry-After and nothing is checked,
 * written or ended without the database. */
static void test_busy_share(void **state)
{
    struct gate *g = *state;
    struct cs_response resp;
    char login_body[256];

    g->app.busy = 1;
    resp = ask(g, 0, "/login", 0, NULL);
    assert_int_equal(resp.status, 200);
    assert_non_null(strstr(resp.body.data, "name=\"csrf\""));
    cs_buf_free(&resp.body);
    for (int with_session = 0; with_session < 2; with_session++) {
        resp = ask(g, 0, "/console.js", with_session, NULL);
        assert_int_equal(resp.status, 200);
        assert_string_equal(resp.body.data, "'use strict';");
        cs_buf_free(&resp.body);
    }
    resp = ask(g, 0, "/", 0, NULL); /* no session: to the login */
    assert_int_equal(resp.status, 303);
    assert_non_null(strstr(resp.headers, "Location: /login\r\n"));
    cs_buf_free(&resp.body);
    resp = ask(g, 0, "/favicon.ico", 1, NULL);
    assert_int_equal(resp.status, 404);
    cs_buf_free(&resp.body);

    resp = ask(g, 0, "/", 1, NULL);
    assert_busy(&resp);
    assert_null(strstr(resp.headers, "Set-Cookie")); /* the session's cookie is not renewed */
    cs_buf_free(&resp.body);
    snprintf(login_body, sizeof(login_body), "csrf=%064d&operator=alice&password=right", 7);
    resp = ask(g, 1, "/login", 0, login_body);
    assert_busy(&resp);
    cs_buf_free(&resp.body);
    snprintf(login_body, sizeof(login_body), "csrf=%s", g->session.csrf);
    resp = ask(g, 1, "/logout", 1, login_body);
    assert_busy(&resp);
    cs_buf_free(&resp.body);

    struct cs_session still;
    assert_int_equal(cs_session_find(g->site.sessions, g->session.id, &still), 0);
    assert_int_equal(g->app.acquired + g->app.released + g->app.standing_asked +
                         g->app.login_asked + g->app.audited + g->app.page_ran,
                     0);
}

/* A connection free: a page of a session takes one, checks the operator's standing with it
 * once, runs, and gives it back; the login form and the script still take none. */
static void test_free_share(void **state)
{
    struct gate *g = *state;
    struct cs_response resp;

    resp = ask(g, 0, "/", 1, NULL);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body.data, "the page");
    cs_buf_free(&resp.body);
    assert_int_equal(g->app.acquired, 1);
    assert_int_equal(g->app.standing_asked, 1);
    assert_int_equal(g->app.page_ran, 1);
    assert_int_equal(g->app.released, 1);

    resp = ask(g, 0, "/login", 0, NULL);
    assert_int_equal(resp.status, 200);
    cs_buf_free(&resp.body);
    resp = ask(g, 0, "/console.js", 1, NULL);
    assert_int_equal(resp.status, 200);
    cs_buf_free(&resp.body);
    assert_int_equal(g->app.acquired, 1);
    assert_int_equal(g->app.released, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_busy_share, gate_setup, gate_teardown),
        cmocka_unit_test_setup_teardown(test_free_share, gate_setup, gate_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
