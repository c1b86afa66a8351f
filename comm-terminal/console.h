/* console.h: the comm-terminal's operator console, HTTPS for browsers on its own port: what its
 * files share (console_server.c: connections and HTTP; console_http.c: buffers, escaping, form
 * fields; console_session.c: sessions, CSRF tokens, lockout; console_routes.c: login, layout,
 * dispatch; console_pages.c: the views; console_actions.c: the actions). */
#ifndef CERTLINE_CONSOLE_H
#define CERTLINE_CONSOLE_H

#include <stddef.h>
#include <time.h>

#include "ct_runtime.h"

/* ---- the server (console_server.c) ---- */
struct ct_console;
/* Starts the console on config.console (a TLS context for browsers with the console's or the
 * comm-terminal's certificate) in a thread of its own; *out stays NULL when the console is off
 * (port 0). Returns a cl_err code; err says why. */
int ct_console_start(struct ct_runtime *runtime, struct cl_tls *line_tls, struct ct_console **out,
                     char *err, size_t errlen);
/* Async-signal-safe. */
void ct_console_stop(struct ct_console *console);
/* Stops (if not yet), waits for its threads and frees it; NULL does nothing. */
void ct_console_free(struct ct_console *console);

/* ---- a growing text buffer (console_http.c) ---- */
struct cs_buf {
    char *data;
    size_t len, cap;
    int failed; /* out of memory, or over CS_BODY_MAX */
};
#define CS_BODY_MAX (64u << 20)
void cs_add(struct cs_buf *b, const char *s, size_t n);
void cs_puts(struct cs_buf *b, const char *s);
void cs_printf(struct cs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cs_html(struct cs_buf *b, const char *s); /* HTML-escaped text (attributes too) */
void cs_url(struct cs_buf *b, const char *s);  /* percent-encoded for a query value */
void cs_csv(struct cs_buf *b, const char *s);  /* one CSV field (RFC 4180 quoting) */
void cs_json(struct cs_buf *b, const char *s); /* a JSON string, quotes included */
void cs_time(struct cs_buf *b, time_t t);      /* local "YYYY-MM-DD HH:MM:SS", "" for 0 */
void cs_buf_free(struct cs_buf *b);

/* One value of an application/x-www-form-urlencoded text (a body or a query string) by name,
 * decoded into out: 1 found, 0 absent, -1 longer than cap - 1, holding a NUL or a control
 * character other than tab, CR and LF, or malformed. */
int cs_form_value(const char *text, size_t len, const char *name, char *out, size_t cap);
/* One part of a multipart/form-data body by its field name: 1 with *data and *len (not
 * NUL-terminated), 0 absent, -1 malformed. content_type holds the boundary. */
int cs_multipart_part(const char *body, size_t len, const char *content_type, const char *name,
                      const char **data, size_t *data_len);

/* ---- one request and its answer ---- */
#define CS_TOKEN_HEX 64
#define CS_PATH_MAX 128
#define CS_QUERY_MAX 1024
struct cs_request {
    int post;
    char path[CS_PATH_MAX];
    char query[CS_QUERY_MAX];
    char session_id[CS_TOKEN_HEX + 1];  /* from the session cookie, or "" */
    char login_token[CS_TOKEN_HEX + 1]; /* from the login form's cookie, or "" */
    char content_type[256];
    const char *body;
    size_t body_len;
    char address[64]; /* the browser's IP address */
};
struct cs_response {
    int status;
    const char *content_type;
    char headers[1024]; /* more header lines, each ending in \r\n */
    struct cs_buf body;
};

/* ---- sessions, CSRF tokens, lockout (console_session.c) ---- */
struct cs_session {
    char id[CS_TOKEN_HEX + 1];
    char csrf[CS_TOKEN_HEX + 1];
    char operator_id[CT_OPERATOR_ID_MAX + 1];
    char role[16];
    time_t expires;
};
struct cs_sessions;
#define CS_LOCKOUT_FAILURES 5
#define CS_LOCKOUT_WINDOW_S 600
int cs_sessions_new(long lifetime_s, struct cs_sessions **out);
void cs_sessions_free(struct cs_sessions *sessions);
/* A fresh random token (CS_TOKEN_HEX hex digits). 0, or -1 if the system has no randomness. */
int cs_random_token(char out[CS_TOKEN_HEX + 1]);
/* Opens a session for an operator who logged in: 0, or -1 if the table is full or no
 * randomness. */
int cs_session_open(struct cs_sessions *sessions, const char *operator_id, const char *role,
                    struct cs_session *out);
/* The live session with this id (its expiry pushed on): 0, or -1 if none or expired. */
int cs_session_find(struct cs_sessions *sessions, const char *id, struct cs_session *out);
void cs_session_close(struct cs_sessions *sessions, const char *id);
/* Ends every session of an operator (disabled, password changed). */
void cs_session_close_operator(struct cs_sessions *sessions, const char *operator_id);
/* 1 if operator_id had CS_LOCKOUT_FAILURES failed logins within CS_LOCKOUT_WINDOW_S. */
int cs_locked(struct cs_sessions *sessions, const char *operator_id);
void cs_login_failed(struct cs_sessions *sessions, const char *operator_id);
void cs_login_succeeded(struct cs_sessions *sessions, const char *operator_id);
long cs_session_lifetime(const struct cs_sessions *sessions);

/* ---- the console's state and dispatch (console_routes.c) ---- */
struct cs_app {
    struct ct_runtime *rt;
    struct cs_sessions *sessions;
};
/* Answers one request (never NULL fields in resp on return). */
void cs_handle(struct cs_app *app, const struct cs_request *req, struct cs_response *resp);

/* What a page handler gets: the request, the operator's session, a store connection. */
struct cs_ctx {
    struct cs_app *app;
    const struct cs_request *req;
    const struct cs_session *session;
    struct ct_store *store;
    struct cs_response *resp;
};
/* The page frame around a view: head, navigation, title; then cs_page_end. */
void cs_page_start(struct cs_ctx *ctx, const char *title);
void cs_page_end(struct cs_ctx *ctx);
/* A hidden input with the session's CSRF token, for every form. */
void cs_csrf_field(struct cs_ctx *ctx);
/* An error page with status and message. */
void cs_error_page(struct cs_ctx *ctx, int status, const char *message);
/* 303 to location (a path of this console). */
void cs_redirect(struct cs_response *resp, const char *location);
/* The query value name (cs_form_value on the query string); "" when absent or bad. */
void cs_query(const struct cs_ctx *ctx, const char *name, char *out, size_t cap);
/* Today's date in local time. */
void cs_today(char day[11]);
int cs_role_at_least(const struct cs_session *session, const char *role);

/* ---- views (console_pages.c) and actions (console_actions.c) ---- */
void cs_page_today(struct cs_ctx *ctx);
void cs_page_devices(struct cs_ctx *ctx);
void cs_page_device(struct cs_ctx *ctx);
void cs_page_audit(struct cs_ctx *ctx, int format); /* 0 HTML, 1 CSV, 2 JSON */
void cs_page_log(struct cs_ctx *ctx);
void cs_page_lines(struct cs_ctx *ctx);
void cs_page_actions(struct cs_ctx *ctx);
void cs_action_plan(struct cs_ctx *ctx);
void cs_action_enter(struct cs_ctx *ctx);
void cs_action_fetch(struct cs_ctx *ctx);
void cs_page_operators(struct cs_ctx *ctx);
void cs_action_operator(struct cs_ctx *ctx);

/* ---- issue 17 part 1's leftovers: the Lines page (console_lines.c), fetch now with its
 * progress (console_fetch.c), deleting a discontinued model (console_models.c), the plan
 * upload's errors (console_actions.c) ---- */

/* Table cells (HTML-escaped text, local time, a number) and the day picker (console_pages.c). */
void cs_cell_text(struct cs_buf *b, const char *s);
void cs_cell_time(struct cs_buf *b, time_t t);
void cs_cell_number(struct cs_buf *b, long n);
/* The day= query value if it is a date, else today. */
void cs_query_day(struct cs_ctx *ctx, char day[11]);
void cs_day_form(struct cs_ctx *ctx, const char *action, const char *day);
/* A page's result line (id "result", class ok or alert) and a link back to the actions. */
void cs_message(struct cs_ctx *ctx, const char *title, const char *cls, const char *text);
/* Actions need the role (operator or admin): 1, or the refusal audited, an error page and 0. */
int cs_may_act(struct cs_ctx *ctx, const char *role);

/* The Lines page's figures alone, for its script (GET /lines.part), and the script that
 * refreshes them every few seconds (GET /console.js). */
void cs_page_lines_part(struct cs_ctx *ctx);
void cs_console_script(struct cs_ctx *ctx);

/* GET /fetch: the fetch under way (or the last one) with its progress, refreshing itself
 * until it ends; POST /fetch starts one in a thread of its own. */
void cs_page_fetch(struct cs_ctx *ctx);
/* Waits for a fetch the console started (at shutdown, after ct_console_free). */
void cs_fetch_wait(void);

/* GET /model-delete?code=: what deleting a discontinued model's packs does, to confirm;
 * POST /model-delete deletes them once confirmed (confirm=yes). */
void cs_page_model_delete(struct cs_ctx *ctx);
void cs_action_model_delete(struct cs_ctx *ctx);

#endif
