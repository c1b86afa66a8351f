/* console_gate.c: an operator console's gate in front of a program's pages: login (lockout,
 * audited), logout, the session and CSRF checks before every view and action, dispatch by the
 * program's routes, the page frame with its navigation, and error pages; a store connection
 * taken only for the requests that need one (503, busy, when none is free). */
#include <stdio.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "console_core.h"
#include "error.h"
#include "log.h"

#define COOKIE_ATTRIBUTES "; Path=/; Secure; HttpOnly; SameSite=Strict"
#define PASSWORD_FIELD_MAX 1025

void cs_today(char day[11])
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(day, 11, "%Y-%m-%d", &tm);
}

int cs_role_at_least(const struct cs_session *session, const char *role)
{
    static const char *const order[] = {"viewer", "operator", "admin"};
    int have = -1, need = 3;
    for (int i = 0; i < 3; i++) {
        if (strcmp(session->role, order[i]) == 0)
            have = i;
        if (strcmp(role, order[i]) == 0)
            need = i;
    }
    return have >= need;
}

void cs_query(const struct cs_ctx *ctx, const char *name, char *out, size_t cap)
{
    if (cs_form_value(ctx->req->query, strlen(ctx->req->query), name, out, cap) != 1)
        out[0] = '\0';
}

void cs_redirect(struct cs_response *resp, const char *location)
{
    size_t used = strlen(resp->headers);
    resp->status = 303;
    snprintf(resp->headers + used, sizeof(resp->headers) - used, "Location: %s\r\n", location);
}

/* A cookie header: __Host-<site's cookie><suffix>=value with the console's attributes,
 * expiring in max_age seconds (suffix "" for the session, "-login" for the login form's). */
static void add_cookie(const struct cs_site *site, struct cs_response *resp, const char *suffix,
                       const char *value, long max_age)
{
    size_t used = strlen(resp->headers);
    snprintf(resp->headers + used, sizeof(resp->headers) - used,
             "Set-Cookie: __Host-%.*s%s=%s" COOKIE_ATTRIBUTES "; Max-Age=%ld\r\n",
             CS_COOKIE_NAME_MAX, site->cookie, suffix, value, max_age);
}

static void head(struct cs_buf *b, const char *site_title, const char *title)
{
    cs_puts(b, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width\"><title>");
    cs_html(b, title);
    cs_puts(b, " - ");
    cs_html(b, site_title);
    cs_puts(b, "</title><style>"
               "body{font-family:sans-serif;margin:0;color:#222}"
               "nav{background:#234;padding:.5em 1em}nav a,nav button{color:#fff;margin-right:1em;"
               "text-decoration:none;background:none;border:0;font:inherit;cursor:pointer}"
               "nav form{display:inline;float:right}main{padding:1em}"
               "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;"
               "padding:.2em .6em;text-align:left}th{background:#eee}td.n{text-align:right}"
               ".alert{background:#fdd;border:1px solid #c66;padding:.4em;margin:.3em 0}"
               ".ok{background:#dfd;border:1px solid #6a6;padding:.4em;margin:.3em 0}"
               "form.box{border:1px solid #ccc;padding:.6em;margin:.6em 0;max-width:40em}"
               "</style></head><body>");
}

void cs_page_start(struct cs_ctx *ctx, const char *title)
{
    struct cs_buf *b = &ctx->resp->body;
    head(b, ctx->site->title, title);
    cs_puts(b, "<nav>");
    for (size_t i = 0; i < ctx->site->nav_count; i++) {
        const struct cs_nav *link = &ctx->site->nav[i];
        if (link->role != NULL && !cs_role_at_least(ctx->session, link->role))
            continue;
        cs_puts(b, "<a href=\"");
        cs_html(b, link->href);
        cs_puts(b, "\">");
        cs_html(b, link->label);
        cs_puts(b, "</a>");
    }
    cs_puts(b, "<form method=\"post\" action=\"/logout\">");
    cs_csrf_field(ctx);
    cs_puts(b, "<button type=\"submit\">Log out ");
    cs_html(b, ctx->session->operator_id);
    cs_puts(b, " (");
    cs_html(b, ctx->session->role);
    cs_puts(b, ")</button></form></nav><main><h1>");
    cs_html(b, title);
    cs_puts(b, "</h1>");
}

void cs_page_end(struct cs_ctx *ctx)
{
    cs_puts(&ctx->resp->body, "</main></body></html>\n");
}

void cs_csrf_field(struct cs_ctx *ctx)
{
    cs_puts(&ctx->resp->body, "<input type=\"hidden\" name=\"csrf\" value=\"");
    cs_puts(&ctx->resp->body, ctx->session->csrf);
    cs_puts(&ctx->resp->body, "\">");
}

static void bare_error(const struct cs_site *site, struct cs_response *resp, int status,
                       const char *message)
{
    resp->status = status;
    resp->body.len = 0;
    head(&resp->body, site->title, "Error");
    cs_printf(&resp->body, "<main><h1>Error %d</h1><p class=\"alert\">", status);
    cs_html(&resp->body, message);
    cs_puts(&resp->body, "</p><p><a href=\"/\">Back to the console</a></p></main></body></html>\n");
}

/* The store connection for a request that needs one, or NULL: then the request is answered
 * 503 (busy, Retry-After: 2) and logged. */
static void *take_store(const struct cs_site *site, const struct cs_request *req,
                        struct cs_response *resp)
{
    void *store = site->acquire(site->app);
    if (store != NULL)
        return store;
    cl_log_warn("console: %s %s from %s answered 503: the console's database connections are "
                "all in use (console.db_connections)",
                req->post ? "POST" : "GET", req->path, req->address);
    size_t used = strlen(resp->headers);
    snprintf(resp->headers + used, sizeof(resp->headers) - used, "Retry-After: 2\r\n");
    resp->status = 503;
    resp->content_type = "text/plain; charset=utf-8";
    resp->body.len = 0;
    cs_puts(&resp->body, "the console is busy (all its database connections are in use): try "
                         "again in a moment\n");
    return NULL;
}

void cs_error_page(struct cs_ctx *ctx, int status, const char *message)
{
    if (ctx->session == NULL) {
        bare_error(ctx->site, ctx->resp, status, message);
        return;
    }
    ctx->resp->status = status;
    ctx->resp->body.len = 0;
    cs_page_start(ctx, "Error");
    cs_puts(&ctx->resp->body, "<p class=\"alert\">");
    cs_html(&ctx->resp->body, message);
    cs_puts(&ctx->resp->body, "</p>");
    cs_page_end(ctx);
}

/* The login form; its CSRF token is the one the browser holds already (a login cookie; another
 * tab or a favicon request must not make the open form stale), else a fresh one. */
static void login_page(const struct cs_site *site, struct cs_response *resp, const char *held,
                       const char *message)
{
    char token[CS_TOKEN_HEX + 1];
    struct cs_buf *b = &resp->body;

    if (held[0] != '\0')
        snprintf(token, sizeof(token), "%s", held);
    else if (cs_random_token(token) != 0) {
        bare_error(site, resp, 503, "no randomness available for a login form");
        return;
    }
    /* The login form's CSRF token: the same random value in a cookie and the form. */
    add_cookie(site, resp, "-login", token, 1800);
    head(b, site->title, "Log in");
    cs_puts(b, "<main><h1>");
    cs_html(b, site->title);
    cs_puts(b, ": log in</h1>");
    if (message != NULL) {
        cs_puts(b, "<p class=\"alert\" id=\"login-error\">");
        cs_html(b, message);
        cs_puts(b, "</p>");
    }
    cs_puts(b, "<form class=\"box\" method=\"post\" action=\"/login\">"
               "<input type=\"hidden\" name=\"csrf\" value=\"");
    cs_puts(b, token);
    cs_puts(b, "\"><p><label>Operator id <input name=\"operator\" maxlength=\"32\" required "
               "autocomplete=\"username\"></label></p><p><label>Password <input type=\"password\" "
               "name=\"password\" maxlength=\"1024\" required autocomplete=\"current-password\">"
               "</label></p><p><button type=\"submit\">Log in</button></p></form></main>"
               "</body></html>\n");
}

static int same_text(const char *a, const char *b)
{
    unsigned char diff = (unsigned char)(strlen(a) != strlen(b));
    for (size_t i = 0; a[i] != '\0' && b[i] != '\0'; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static void login(const struct cs_site *site, const struct cs_request *req,
                  struct cs_response *resp)
{
    char id[CS_OPERATOR_ID_MAX + 1], password[PASSWORD_FIELD_MAX], csrf[CS_TOKEN_HEX + 1],
        role[16] = "", detail[128];
    struct cs_session session;

    if (cs_form_value(req->body, req->body_len, "csrf", csrf, sizeof(csrf)) != 1 ||
        req->login_token[0] == '\0' || !same_text(csrf, req->login_token)) {
        bare_error(site, resp, 403,
                   "the login form has expired or was not sent by this console: "
                   "open the login page again");
        return;
    }
    if (cs_form_value(req->body, req->body_len, "operator", id, sizeof(id)) != 1 || id[0] == '\0' ||
        cs_form_value(req->body, req->body_len, "password", password, sizeof(password)) != 1) {
        login_page(site, resp, req->login_token,
                   "give an operator id (at most 32 characters) and a password");
        resp->status = 400;
        return;
    }
    void *store = take_store(site, req, resp);
    if (store == NULL) {
        mbedtls_platform_zeroize(password, sizeof(password));
        return;
    }
    if (cs_locked(site->sessions, id)) {
        snprintf(detail, sizeof(detail), "console login refused (locked out) from %s",
                 req->address);
        site->audit(store, id, "login_locked", detail);
        site->release(site->app, store);
        login_page(site, resp, req->login_token,
                   "too many failed logins: this operator id is locked for 10 minutes");
        resp->status = 429;
        mbedtls_platform_zeroize(password, sizeof(password));
        return;
    }
    int rc = site->login(store, id, password, role, sizeof(role));
    mbedtls_platform_zeroize(password, sizeof(password));
    char stamp[CS_STAMP_MAX] = "";
    if (rc == 0 && site->standing != NULL && site->standing(store, id, stamp, sizeof(stamp)) != 0) {
        site->release(site->app, store);
        bare_error(site, resp, 503, "the operator could not be checked: try again later");
        return;
    }
    snprintf(detail, sizeof(detail), "console from %s", req->address);
    if (rc != 0) {
        cs_login_failed(site->sessions, id);
        site->audit(store, id, "login_failed", detail);
        site->release(site->app, store);
        login_page(site, resp, req->login_token,
                   "operator id or password not accepted (or the operator is disabled)");
        resp->status = 403;
        return;
    }
    cs_login_succeeded(site->sessions, id);
    if (cs_session_open(site->sessions, id, role, stamp, &session) != 0) {
        site->release(site->app, store);
        bare_error(site, resp, 503, "too many open sessions: try again later");
        return;
    }
    site->audit(store, id, "login", detail);
    site->release(site->app, store);
    add_cookie(site, resp, "", session.id, cs_session_lifetime(site->sessions));
    add_cookie(site, resp, "-login", "x", 0);
    cs_redirect(resp, "/");
}

static void logout(struct cs_ctx *ctx)
{
    cs_session_close(ctx->site->sessions, ctx->session->id);
    ctx->site->audit(ctx->store, ctx->session->operator_id, "logout", "console");
    add_cookie(ctx->site, ctx->resp, "", "x", 0);
    cs_redirect(ctx->resp, "/login");
}

static const struct cs_route logout_route = {"/logout", 1, logout};

int cs_day_ok(const char *text)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    static const char shape[] = "dddd-dd-dd";
    int y = 0, m = 0, d = 0;

    if (strlen(text) != 10)
        return 0;
    for (int i = 0; i < 10; i++)
        if (shape[i] == 'd' ? text[i] < '0' || text[i] > '9' : text[i] != '-')
            return 0;
    if (sscanf(text, "%4d-%2d-%2d", &y, &m, &d) != 3 || y < 1 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

/* The query values within the site's bounds: 1, or 0 with message naming the first outside. */
static int query_within_bounds(const struct cs_site *site, const struct cs_request *req,
                               char *message, size_t cap)
{
    char value[CS_QUERY_MAX];
    for (size_t i = 0; i < site->query_bound_count; i++) {
        const struct cs_query_bound *bound = &site->query_bounds[i];
        size_t room = bound->max + 1 < sizeof(value) ? bound->max + 1 : sizeof(value);
        int rc = cs_form_value(req->query, strlen(req->query), bound->name, value, room);
        if (rc < 0) {
            snprintf(message, cap,
                     "the field %s is at most %zu characters (none a control character)",
                     bound->name, bound->max);
            return 0;
        }
        if (rc == 1 && bound->day && value[0] != '\0' && !cs_day_ok(value)) {
            snprintf(message, cap,
                     "the field %s is a date YYYY-MM-DD (e.g. 2026-02-28): %.16s is "
                     "not one",
                     bound->name, value);
            return 0;
        }
    }
    return 1;
}

/* A request without a live session: a page is sent to the login, a form refused. */
static void not_logged_in(const struct cs_site *site, const struct cs_request *req,
                          struct cs_response *resp)
{
    if (req->post)
        bare_error(site, resp, 403, "not logged in, or the session has ended: log in again");
    else
        cs_redirect(resp, "/login");
}

/* 1 if the session's operator stands as at login (or the store cannot say); else 0 and the
 * session ended, audited: disabled, removed or given a new password since. */
static int still_standing(const struct cs_site *site, void *store, const struct cs_session *session)
{
    char stamp[CS_STAMP_MAX] = "";
    if (site->standing == NULL)
        return 1;
    int rc = site->standing(store, session->operator_id, stamp, sizeof(stamp));
    if (rc < 0 || (rc == 0 && strcmp(stamp, session->stamp) == 0))
        return 1;
    cs_session_close(site->sessions, session->id);
    site->audit(store, session->operator_id, "session_ended",
                "console: the operator was disabled or its password or role changed");
    cl_log_info("console: a session of operator %s ended: disabled or its password or role "
                "changed since its login",
                session->operator_id);
    return 0;
}

/* The CSRF token of a POST: a form field (urlencoded or multipart). */
static int csrf_ok(const struct cs_request *req, const struct cs_session *session)
{
    char token[CS_TOKEN_HEX + 1] = "";
    if (strncmp(req->content_type, "multipart/form-data", 19) == 0) {
        const char *data;
        size_t len;
        if (cs_multipart_part(req->body, req->body_len, req->content_type, "csrf", &data, &len) !=
                1 ||
            len != CS_TOKEN_HEX)
            return 0;
        memcpy(token, data, CS_TOKEN_HEX);
    } else if (cs_form_value(req->body, req->body_len, "csrf", token, sizeof(token)) != 1) {
        return 0;
    }
    return same_text(token, session->csrf);
}

static const struct cs_route *find_route(const struct cs_route *routes, size_t count,
                                         const struct cs_request *req)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(routes[i].path, req->path) == 0 && routes[i].post == req->post)
            return &routes[i];
    return NULL;
}

void cs_handle(const struct cs_site *site, const struct cs_request *req, struct cs_response *resp)
{
    struct cs_session session;
    const struct cs_route *route = NULL;

    if (strcmp(req->path, "/login") == 0) {
        if (req->post)
            login(site, req, resp);
        else
            login_page(site, resp, req->login_token, NULL);
        return;
    }
    if (strcmp(req->path, "/favicon.ico") == 0) {
        bare_error(site, resp, 404, "no icon");
        return;
    }
    if ((route = find_route(site->static_routes, site->static_route_count, req)) != NULL) {
        struct cs_ctx ctx = {.app = site->app, .site = site, .req = req, .resp = resp};
        route->run(&ctx);
        return;
    }
    route = find_route(site->routes, site->route_count, req);
    if (route == NULL && req->post && strcmp(req->path, "/logout") == 0)
        route = &logout_route;
    if (req->session_id[0] == '\0' || cs_session_find(site->sessions, req->session_id, &session)) {
        not_logged_in(site, req, resp);
        return;
    }
    void *store = take_store(site, req, resp);
    if (store == NULL)
        return;
    if (!still_standing(site, store, &session)) {
        site->release(site->app, store);
        not_logged_in(site, req, resp);
        return;
    }
    struct cs_ctx ctx = {.app = site->app,
                         .site = site,
                         .req = req,
                         .session = &session,
                         .store = store,
                         .resp = resp};
    /* The browser keeps the cookie as long as the session lives: each answer to the session
     * (cs_session_find pushed its end on) sends it again with the whole lifetime. */
    if (route != &logout_route)
        add_cookie(site, resp, "", session.id, cs_session_lifetime(site->sessions));
    if (route == NULL) {
        cs_error_page(&ctx, 404, "no such page in the console");
        goto out;
    }
    if (req->post && !csrf_ok(req, &session)) {
        cl_log_warn("console: POST %s from %s (operator %s) refused: no valid CSRF token (%zu "
                    "bytes of %.40s)",
                    req->path, req->address, session.operator_id, req->body_len, req->content_type);
        cs_error_page(&ctx, 403,
                      "the form was refused: its CSRF token is missing or wrong "
                      "(reload the page and send it again)");
        goto out;
    }
    char message[200];
    if (!query_within_bounds(site, req, message, sizeof(message))) {
        cs_error_page(&ctx, 400, message);
        goto out;
    }
    route->run(&ctx);
out:
    site->release(site->app, store);
}
