/* console_core.h: the machinery the operator consoles share (comm-terminal's and ca-server's):
 * HTTPS for browsers on a port of its own (console_server.c), text building and form parsing
 * (console_http.c), sessions, CSRF tokens and lockout (console_session.c), and the gate in front
 * of a program's pages: login, logout, session and CSRF checks, dispatch, page frame
 * (console_gate.c). A program hands in its routes, navigation and login/audit callbacks. */
#ifndef CERTLINE_CONSOLE_CORE_H
#define CERTLINE_CONSOLE_CORE_H

#include <stddef.h>
#include <time.h>

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
/* Table cells: escaped text, a local time, a right-aligned number; a link to href_prefix followed
 * by value percent-encoded, showing value (href_prefix is ours: "/device?number="). */
void cs_cell(struct cs_buf *b, const char *s);
void cs_cell_link(struct cs_buf *b, const char *href_prefix, const char *value);
void cs_cell_time(struct cs_buf *b, time_t t);
void cs_cell_number(struct cs_buf *b, long long n);

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
#define CS_COOKIE_NAME_MAX 32
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
    /* Set by the server: where an answer in parts goes (0, or -1 if the browser is gone; NULL:
     * no server, the parts stay in body), and whether the connection is kept alive after it. */
    int (*send)(void *conn, const char *data, size_t len);
    void *conn;
    int keep_alive;
    int parts; /* enum cs_parts */
};

/* ---- answers sent in parts as they are produced (console_stream.c) ---- */
enum cs_parts {
    CS_WHOLE,         /* body is the whole answer, sent by the server after the handler */
    CS_PARTS_SENDING, /* head sent, chunks follow */
    CS_PARTS_ENDED,   /* the last chunk sent: the connection serves the next request */
    CS_PARTS_BROKEN   /* broken off: the server closes the connection without the last chunk */
};
#define CS_PART_BYTES (64u << 10) /* a part is sent once the body holds this much */
/* The head of an answer into out: Content-Length: length, or chunked if length < 0; its
 * length, or -1 if it does not fit in cap. */
int cs_response_head(const struct cs_response *resp, int status, const char *content_type,
                     long long length, char *out, size_t cap);
/* Sends the head (resp's status, content type and headers) of an answer in parts: what is then
 * added to resp->body goes out with cs_parts_flush and cs_parts_end. 0, or -1 (broken off). */
int cs_parts_start(struct cs_response *resp);
/* Sends the body as a part once it holds CS_PART_BYTES: 0, or -1 if the answer is broken off
 * (the browser gone, out of memory): the handler stops producing it. */
int cs_parts_flush(struct cs_response *resp);
/* Ends the answer: complete sends the rest and the last chunk; else (a failure the handler
 * logged) it is broken off, and the server closes the connection without the last chunk. 0, or
 * -1 if broken off. */
int cs_parts_end(struct cs_response *resp, int complete);

/* ---- sessions, CSRF tokens, lockout (console_session.c) ---- */
#define CS_OPERATOR_ID_MAX 32 /* operator ids: 1..32 printable characters, no spaces */
#define CS_STAMP_MAX 48
struct cs_session {
    char id[CS_TOKEN_HEX + 1];
    char csrf[CS_TOKEN_HEX + 1];
    char operator_id[CS_OPERATOR_ID_MAX + 1];
    char role[16];
    char stamp[CS_STAMP_MAX]; /* the operator's standing at login (cs_site.standing) */
    time_t expires;
};
struct cs_sessions;
#define CS_LOCKOUT_FAILURES 5
#define CS_LOCKOUT_WINDOW_S 600
int cs_sessions_new(long lifetime_s, struct cs_sessions **out);
void cs_sessions_free(struct cs_sessions *sessions);
/* A fresh random token (CS_TOKEN_HEX hex digits). 0, or -1 if the system has no randomness. */
int cs_random_token(char out[CS_TOKEN_HEX + 1]);
/* Opens a session for an operator who logged in (stamp: its standing then, "" if none): 0, or
 * -1 if the table is full or no randomness. */
int cs_session_open(struct cs_sessions *sessions, const char *operator_id, const char *role,
                    const char *stamp, struct cs_session *out);
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

/* ---- a program's console: its pages and callbacks (console_gate.c) ---- */
struct cs_app; /* each program's own: what its pages need (runtime, sessions, ...) */
struct cs_ctx;

struct cs_route {
    const char *path;
    int post;
    void (*run)(struct cs_ctx *ctx);
};
/* A link of the navigation bar, shown to role and above (NULL: everyone). */
struct cs_nav {
    const char *href, *label, *role;
};
struct cs_site {
    const char *title;  /* "certline console", in every page's title */
    const char *cookie; /* the cookies' name after "__Host-" (consoles on one host differ) */
    const struct cs_route *routes;
    size_t route_count;
    /* Static content (a script): served to anyone, without a session or a store connection
     * (ctx->session and ctx->store NULL), even while the console's connections are all busy. */
    const struct cs_route *static_routes;
    size_t static_route_count;
    const struct cs_nav *nav;
    size_t nav_count;
    struct cs_app *app;
    struct cs_sessions *sessions;
    /* A store connection for one request (given back with release), or NULL if none is free
     * in time: the request is answered 503, busy, with Retry-After. The gate takes one only for
     * a request that needs it (a login sent, any request of a session: its operator's standing
     * is checked each time) and gives it back before a whole answer is sent; the login form,
     * static content, a request without a live session and the error pages take none. */
    void *(*acquire)(struct cs_app *app);
    void (*release)(struct cs_app *app, void *store);
    /* Or (when set, the server makes it the gate's acquire): the request's connection from the
     * console's share of the pool, waiting at most wait_ms (CS_STORE_WAIT_MS), NULL if none. */
    void *(*take)(struct cs_app *app, long wait_ms);
    /* Checks an operator's password: 0 with the role, else refused (unknown, wrong, disabled). */
    int (*login)(void *store, const char *operator_id, const char *password, char *role,
                 size_t role_len);
    /* The operator's standing now, asked before every request of a session: 0 with stamp, a
     * text that changes whenever its password, role or state changes; 1 if it may no longer
     * log in (unknown, disabled, removed); -1 if the store cannot say (store NULL included).
     * A session whose stamp is no longer the operator's ends: disabled or given a new password
     * anywhere (the command line too), the operator is logged out. NULL: not checked. */
    int (*standing)(void *store, const char *operator_id, char *stamp, size_t cap);
    /* Writes one audit-log entry under the operator. */
    void (*audit)(void *store, const char *operator_id, const char *action, const char *detail);
    /* The query values the pages read, with their bounds (any page, any method). */
    const struct cs_query_bound *query_bounds;
    size_t query_bound_count;
};

/* A query value the pages of a site read, checked by the gate before any page runs: at most
 * max characters (none a control character) and, with day set, "" or a calendar date
 * YYYY-MM-DD. A request outside a bound is answered 400 naming the field and its bound. */
struct cs_query_bound {
    const char *name;
    size_t max;
    int day;
};
/* 1 if text is a calendar date YYYY-MM-DD (year 1 to 9999, the month's days). */
int cs_day_ok(const char *text);

/* What a page handler gets: the request, the operator's session, a store connection. */
struct cs_ctx {
    struct cs_app *app;
    const struct cs_site *site;
    const struct cs_request *req;
    const struct cs_session *session;
    void *store;
    struct cs_response *resp;
};

/* Answers one request (never NULL fields in resp on return). */
void cs_handle(const struct cs_site *site, const struct cs_request *req, struct cs_response *resp);
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
/* viewer < operator < admin. */
int cs_role_at_least(const struct cs_session *session, const char *role);

/* ---- the server (console_server.c) ---- */
/* How long a request that needs a store connection waits for one of the console's share
 * before it is answered 503 (busy, try again). */
#define CS_STORE_WAIT_MS 1000
struct cl_tls;
struct cs_console;
struct cs_server_settings {
    const char *host;
    int port; /* 0: a free port */
    int max_connections;
    int iface;          /* enum cl_interface of the program */
    int send_timeout_s; /* a browser not reading for this long is cut off (0: the default) */
};
/* A TLS context for browsers: base with cert_file and key_file when either is set (""
 * keeps base's), else a sibling of the program's server context. */
struct cl_tls_config;
int cs_console_tls(const struct cl_tls_config *base, const char *cert_file, const char *key_file,
                   struct cl_tls *sibling, struct cl_tls **out, char *err, size_t errlen);
/* Serves site over HTTPS with tls (taken over: freed with the console; already set up for
 * browsers by the caller) in a thread of its own. Returns a cl_err code; err says why. */
int cs_console_start(const struct cs_server_settings *settings, struct cl_tls *tls,
                     const struct cs_site *site, struct cs_console **out, char *err, size_t errlen);
/* The console of a program's config section cc (port 0: none, CL_OK with *out NULL): sessions
 * of cc's lifetime into site->sessions (freed with the console), the TLS context as
 * cs_console_tls makes it, and cs_console_start. */
struct cs_console_config;
int cs_console_open(const struct cs_console_config *cc, const struct cl_tls_config *tls_config,
                    struct cl_tls *sibling, int iface, struct cs_site *site,
                    struct cs_console **out, char *err, size_t errlen);
int cs_console_port(const struct cs_console *console);
/* Async-signal-safe. */
void cs_console_stop(struct cs_console *console);
/* Stops (if not yet), waits for its threads and frees it (with tls, and the sessions of
 * cs_console_open); NULL does nothing. */
void cs_console_free(struct cs_console *console);

#endif
