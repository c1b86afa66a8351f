/* console_server.c: an operator console's HTTPS server: a TLS context for browsers (no client
 * certificate) over soap_server.c's accept loop and connection threads, gSOAP's HTTP reading (its
 * fget and fform hooks) with bounded headers and bodies, the gate's database connections taken
 * from the console's share of the pool (only by the requests that need one), and the answers,
 * whole or in parts (console_stream.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "console_config.h"
#include "console_core.h"
#include "error.h"
#include "log.h"
#include "soapH.h"
#include "soap_server.h"
#include "tls.h"
#include "transport_config.h"

#define BODY_MAX (2u << 20) /* the largest request body taken (a plan upload) */
#define REQUESTS_PER_CONNECTION 200

struct cs_console {
    const struct cs_site *site;
    struct cs_site gate_site;     /* site as the gate sees it when site->take is set */
    struct cs_sessions *sessions; /* cs_console_open's, freed with the console */
    struct cl_tls *tls;
    struct cl_server *server;
    pthread_t thread;
    int running;
};

/* What the hooks of one connection share; each connection has a thread of its own. */
struct cs_conn {
    const struct cs_site *site; /* the program's */
    const struct cs_site *gate; /* what cs_handle is given */
    struct cs_request req;
    int too_large;
    int last; /* the last request this connection serves: answered with Connection: close */
    int (*chained)(struct soap *, const char *, const char *);
    char session_cookie[CS_COOKIE_NAME_MAX + 16], login_cookie[CS_COOKIE_NAME_MAX + 24];
};
static _Thread_local struct cs_conn *current;

static int send_response(struct soap *soap, struct cs_response *resp)
{
    char head[2048];
    static const char fallback[] = "out of memory\n";
    const char *body = resp->body.failed || resp->body.data == NULL ? fallback : resp->body.data;
    size_t len = resp->body.failed ? strlen(fallback) : resp->body.len;
    int status = resp->body.failed ? 500 : resp->status;

    int n = cs_response_head(resp, status, resp->body.failed ? "text/plain" : resp->content_type,
                             (long long)len, head, sizeof(head));
    if (n < 0)
        return SOAP_EOF;
    if (soap->fsend(soap, head, (size_t)n) != SOAP_OK)
        return SOAP_EOF;
    return len == 0 ? SOAP_OK : soap->fsend(soap, body, len);
}

/* An answer's part to the browser, through the TLS hooks to gSOAP's socket send, whose send
 * timeout applies: a browser that stops reading fails the send and frees the worker. */
static int send_part(void *conn, const char *data, size_t len)
{
    return ((struct soap *)conn)->fsend(conn, data, len) == SOAP_OK ? 0 : -1;
}

/* The gate's acquire when the site takes its connections from the console's share: waits at
 * most CS_STORE_WAIT_MS, NULL if none is free (the gate answers 503). */
static void *take_store(struct cs_app *app)
{
    return current->site->take(app, CS_STORE_WAIT_MS);
}

/* Splits soap->path into the request's path and query; 0, or -1 if either is too long. */
static int take_path(struct soap *soap, struct cs_request *req)
{
    const char *path = soap->path[0] != '\0' ? soap->path : "/";
    size_t n = strcspn(path, "?");
    if (n >= sizeof(req->path) || strlen(path + n) > sizeof(req->query))
        return -1;
    memcpy(req->path, path, n);
    req->path[n] = '\0';
    if (path[n] == '?')
        snprintf(req->query, sizeof(req->query), "%s", path + n + 1);
    return 0;
}

/* Answers the request in current->req, or a plain refusal; closes after a refusal. */
static int answer(struct soap *soap, int refusal, const char *why)
{
    struct cs_response resp = {
        .status = 200, .content_type = "text/html; charset=utf-8", .send = send_part, .conn = soap};
    int rc;

    if (current->last)
        soap->keep_alive = 0;
    if (refusal == 0 && take_path(soap, &current->req) != 0) {
        refusal = 414;
        why = "the address is too long";
    }
    if (refusal != 0) {
        resp.status = refusal == 414 ? 400 : refusal;
        resp.content_type = "text/plain; charset=utf-8";
        cs_puts(&resp.body, why);
        cs_puts(&resp.body, "\n");
        soap->keep_alive = 0;
    }
    resp.keep_alive = soap->keep_alive;
    if (refusal == 0) /* gives back its connection before a whole answer goes to the browser */
        cs_handle(current->gate, &current->req, &resp);
    if (resp.parts == CS_WHOLE) {
        rc = send_response(soap, &resp);
    } else { /* sent in parts: a series broken off (or never ended) closes the connection */
        rc = resp.parts == CS_PARTS_ENDED ? SOAP_OK : SOAP_EOF;
        if (rc != SOAP_OK)
            soap->keep_alive = 0;
    }
    cs_buf_free(&resp.body);
    return rc == SOAP_OK ? SOAP_STOP : SOAP_EOF;
}

static int on_get(struct soap *soap)
{
    return answer(soap, 0, NULL);
}

static int on_form(struct soap *soap)
{
    size_t len = 0;
    current->req.post = 1;
    if (current->too_large)
        return answer(soap, 413, "the request is larger than the console takes (2 MiB)");
    const char *body = soap_http_get_body(soap, &len);
    if (body == NULL && soap->error != SOAP_OK)
        return answer(soap, 400, "the request body could not be read");
    current->req.body = body != NULL ? body : "";
    current->req.body_len = body != NULL ? len : 0;
    return answer(soap, 0, NULL);
}

/* A 64-hex-digit cookie value named by prefix in a Cookie header, into out. */
static void take_cookie(const char *header, const char *prefix, char out[CS_TOKEN_HEX + 1])
{
    for (const char *p = header; (p = strstr(p, prefix)) != NULL; p++) {
        if (p != header && p[-1] != ' ' && p[-1] != ';')
            continue;
        p += strlen(prefix);
        size_t n = strspn(p, "0123456789abcdef");
        if (n == CS_TOKEN_HEX && (p[n] == '\0' || p[n] == ';')) {
            memcpy(out, p, CS_TOKEN_HEX);
            out[CS_TOKEN_HEX] = '\0';
        }
        return;
    }
}

static int on_header(struct soap *soap, const char *key, const char *val)
{
    soap->fform = on_form; /* reset by gSOAP for each request; only POST, PUT... reach it */
    if (strcasecmp(key, "Cookie") == 0) {
        take_cookie(val, current->session_cookie, current->req.session_id);
        take_cookie(val, current->login_cookie, current->req.login_token);
        return SOAP_OK;
    }
    if (strcasecmp(key, "Content-Type") == 0) {
        snprintf(current->req.content_type, sizeof(current->req.content_type), "%s", val);
        /* gSOAP would read a multipart body as MIME attachments: the console reads it itself */
        if (strncasecmp(val, "multipart/", 10) == 0)
            return current->chained(soap, key, "application/octet-stream");
    }
    if (strcasecmp(key, "Content-Length") == 0) {
        char *end = NULL;
        unsigned long long n = strtoull(val, &end, 10);
        if (end == val || *end != '\0' || n > BODY_MAX) {
            current->too_large = 1;
            return current->chained(soap, key, "0"); /* nothing read; refused with 413 */
        }
    }
    return current->chained(soap, key, val);
}

/* Serves one browser connection (soap_server.c calls it after the handshake). */
static void serve_connection(struct soap *soap, void *app, const atomic_int *stopping)
{
    const struct cs_console *console = app;
    struct cs_conn conn = {.site = console->site,
                           .gate =
                               console->site->take != NULL ? &console->gate_site : console->site,
                           .chained = soap->fparsehdr};

    snprintf(conn.session_cookie, sizeof(conn.session_cookie), "__Host-%.*s=", CS_COOKIE_NAME_MAX,
             console->site->cookie);
    snprintf(conn.login_cookie, sizeof(conn.login_cookie), "__Host-%.*s-login=", CS_COOKIE_NAME_MAX,
             console->site->cookie);

    current = &conn;
    soap->fparsehdr = on_header;
    soap->fget = on_get;
    soap->keep_alive = 1;
    for (int i = 0; i < REQUESTS_PER_CONNECTION && !atomic_load(stopping); i++) {
        memset(&conn.req, 0, sizeof(conn.req));
        conn.too_large = 0;
        conn.last = i + 1 == REQUESTS_PER_CONNECTION;
        snprintf(conn.req.address, sizeof(conn.req.address), "%.63s", soap->host);
        int rc = soap_begin_serve(soap);
        if (rc == SOAP_OK) /* a request gSOAP would read as SOAP: not served here */
            (void)answer(soap, 405, "the console answers GET and POST with a form");
        if (rc == SOAP_OK || soap->error != SOAP_STOP || !soap->keep_alive)
            break;
        soap_destroy(soap);
        soap_end(soap);
    }
    soap->fparsehdr = conn.chained;
    current = NULL;
}

static void *run(void *arg)
{
    struct cs_console *console = arg;
    if (cl_server_run(console->server) != CL_OK)
        cl_log_error("the operator console stopped on an error");
    return NULL;
}

int cs_console_tls(const struct cl_tls_config *base, const char *cert_file, const char *key_file,
                   struct cl_tls *sibling, struct cl_tls **out, char *err, size_t errlen)
{
    int rc;
    *out = NULL;
    if (cert_file[0] != '\0' || key_file[0] != '\0') {
        struct cl_tls_config own = *base;
        if (cert_file[0] != '\0')
            snprintf(own.cert_file, sizeof(own.cert_file), "%s", cert_file);
        if (key_file[0] != '\0')
            snprintf(own.key_file, sizeof(own.key_file), "%s", key_file);
        rc = cl_tls_config_new(&own, CL_TLS_SERVER, out, err, errlen);
    } else {
        rc = cl_tls_new_sibling(sibling, CL_TLS_SERVER, out, err, errlen);
    }
    if (rc == CL_OK && (rc = cl_tls_serve_browsers(*out)) != CL_OK) {
        cl_tls_free(*out);
        *out = NULL;
    }
    return rc;
}

int cs_console_start(const struct cs_server_settings *cs, struct cl_tls *tls,
                     const struct cs_site *site, struct cs_console **out, char *err, size_t errlen)
{
    struct cl_server_settings settings = {.iface = (enum cl_interface)cs->iface};
    struct cs_console *console;
    int rc;

    *out = NULL;
    if ((console = calloc(1, sizeof(*console))) == NULL) {
        cl_tls_free(tls);
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    console->site = site;
    console->gate_site = *site;
    console->gate_site.acquire = take_store;
    console->tls = tls;
    settings.host = cs->host;
    settings.port = cs->port;
    settings.max_connections = cs->max_connections;
    settings.app = console;
    settings.serve = serve_connection;
    cl_soap_limits_default(&settings.limits);
    settings.limits.max_message_bytes = BODY_MAX;
    settings.limits.max_keep_alive = REQUESTS_PER_CONNECTION;
    if (cs->send_timeout_s > 0)
        settings.limits.send_timeout_s = cs->send_timeout_s;
    if ((rc = cl_server_new(&settings, console->tls, &console->server, err, errlen)) != CL_OK)
        goto fail;
    if (pthread_create(&console->thread, NULL, run, console) != 0) {
        snprintf(err, errlen, "cannot start the console's thread");
        rc = CL_ERR_IO;
        goto fail;
    }
    console->running = 1;
    cl_log_info("operator console on https://%s:%d/", cs->host, cl_server_port(console->server));
    *out = console;
    return CL_OK;
fail:
    cs_console_free(console);
    return rc;
}

int cs_console_open(const struct cs_console_config *cc, const struct cl_tls_config *tls_config,
                    struct cl_tls *sibling, int iface, struct cs_site *site,
                    struct cs_console **out, char *err, size_t errlen)
{
    struct cs_server_settings settings = {.host = cc->host,
                                          .port = (int)cc->port,
                                          .max_connections = (int)cc->max_connections,
                                          .iface = iface,
                                          .send_timeout_s = (int)cc->send_timeout_s};
    struct cl_tls *tls = NULL;
    int rc;

    *out = NULL;
    site->sessions = NULL;
    if (cc->port == 0)
        return CL_OK;
    if (cs_sessions_new((long)cc->session_minutes * 60, &site->sessions) != 0) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    if ((rc = cs_console_tls(tls_config, cc->cert_file, cc->key_file, sibling, &tls, err,
                             errlen)) != CL_OK ||
        (rc = cs_console_start(&settings, tls, site, out, err, errlen)) != CL_OK) {
        cs_sessions_free(site->sessions);
        site->sessions = NULL;
        return rc;
    }
    (*out)->sessions = site->sessions;
    return CL_OK;
}

int cs_console_port(const struct cs_console *console)
{
    return cl_server_port(console->server);
}

void cs_console_stop(struct cs_console *console)
{
    if (console != NULL && console->server != NULL)
        cl_server_stop(console->server);
}

void cs_console_free(struct cs_console *console)
{
    if (console == NULL)
        return;
    cs_console_stop(console);
    if (console->running)
        pthread_join(console->thread, NULL);
    cl_server_free(console->server);
    cl_tls_free(console->tls);
    cs_sessions_free(console->sessions);
    free(console);
}
