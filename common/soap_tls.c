/* soap_tls.c: gSOAP I/O hooks that run every byte through mbedTLS. mbedTLS's own bio callbacks
 * call gSOAP's original fsend/frecv, so gSOAP's socket timeouts and MSG_NOSIGNAL still apply,
 * the handshake included. */
#include "soap_tls.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl_internal.h> /* the handshake's resume flag */

#include "error.h"
#include "log.h"
#include "metrics_catalog.h"
#include "soapH.h"
#include "tls_internal.h"

/* Lingering close: how long and how much unread input a server drops before closing. */
#define LINGER_WAIT_MS 200
#define LINGER_MAX_BYTES (256u << 10)
#define LINGER_TOTAL_S 1

/* Per-connection state, owned by one soap context (soap->user). */
/* gSOAP's plain I/O hooks that TLS replaces, kept to be called below it and put back on detach. */
struct plain_hooks {
    int (*send)(struct soap *, const char *, size_t);
    size_t (*recv)(struct soap *, char *, size_t);
    int (*close)(struct soap *);
    int (*closesocket)(struct soap *, SOAP_SOCKET);
    SOAP_SOCKET (*open)(struct soap *, const char *, const char *, int);
    int (*parsehdr)(struct soap *, const char *, const char *);
};

struct cl_conn {
    struct cl_tls *tls;
    mbedtls_ssl_context ssl;
    int ssl_active;
    int handshake_done; /* the peer was authenticated on this connection */
    int chain_verified; /* server: mbedTLS verified the client's chain in this handshake */
    int resumed_now;    /* this handshake resumed a session (either side; run_handshake) */
    struct cl_peer peer;
    void *app;
    /* client side */
    char server_name[256];
    enum cl_role server_role;
    mbedtls_ssl_session saved_session; /* for resumption on the next connect */
    int have_saved_session;
    /* The server's whole chain as verified in the saved session's full handshake: a resumed
     * session carries only the leaf (mbedTLS 2.28), so it is checked against this copy. */
    mbedtls_x509_crt saved_chain;
    unsigned handshakes, resumed;
    /* gSOAP's own functions, called underneath TLS */
    struct plain_hooks plain;
    /* last failure */
    int error_code;
    char error[320];
};

static struct cl_conn *conn_of(const struct soap *soap)
{
    return (struct cl_conn *)soap->user;
}

static void set_error(struct cl_conn *conn, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(struct cl_conn *conn, int code, const char *fmt, ...)
{
    va_list ap;
    conn->error_code = code;
    va_start(ap, fmt);
    vsnprintf(conn->error, sizeof(conn->error), fmt, ap);
    va_end(ap);
}

/* mbedTLS bio: down to gSOAP's plain socket functions. */
static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct soap *soap = ctx;
    if (conn_of(soap)->plain.send(soap, (const char *)buf, len) != SOAP_OK)
        return MBEDTLS_ERR_NET_SEND_FAILED;
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct soap *soap = ctx;
    size_t n = conn_of(soap)->plain.recv(soap, (char *)buf, len);
    return (int)n; /* 0: closed, timed out or failed; mbedTLS reports a closed connection */
}

/* Client: drops the saved session and its chain. */
static void drop_session(struct cl_conn *conn)
{
    if (conn->have_saved_session)
        mbedtls_ssl_session_free(&conn->saved_session);
    conn->have_saved_session = 0;
    mbedtls_x509_crt_free(&conn->saved_chain);
    mbedtls_x509_crt_init(&conn->saved_chain);
}

/* Client: the saved session is never offered again (it was refused, or its server failed). */
static void forget_session(struct cl_conn *conn)
{
    if (conn->have_saved_session)
        cl_log_debug("TLS session with %s forgotten", conn->server_name);
    drop_session(conn);
}

/* gSOAP hooks: up through TLS. */
static int tls_send(struct soap *soap, const char *s, size_t n)
{
    struct cl_conn *conn = conn_of(soap);
    while (n > 0) {
        int r = mbedtls_ssl_write(&conn->ssl, (const unsigned char *)s, n);
        if (r > 0) {
            s += r;
            n -= (size_t)r;
        } else if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE) {
            return SOAP_EOF;
        }
    }
    return SOAP_OK;
}

static size_t tls_recv(struct soap *soap, char *s, size_t n)
{
    struct cl_conn *conn = conn_of(soap);
    for (;;) {
        int r = mbedtls_ssl_read(&conn->ssl, (unsigned char *)s, n);
        if (r > 0)
            return (size_t)r;
        if (r == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && conn->tls->side == CL_TLS_CLIENT)
            forget_session(conn); /* the server refused this connection: start afresh */
        if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
            return 0;
    }
}

static void tls_end(struct cl_conn *conn)
{
    if (conn->ssl_active) {
        mbedtls_ssl_free(&conn->ssl);
        conn->ssl_active = 0;
    }
}

/* Client: keeps the session of this full or resumed handshake, and after a full one a copy of
 * the chain just verified. */
static void save_session(struct cl_conn *conn)
{
    const mbedtls_x509_crt *chain = conn->ssl.session ? conn->ssl.session->peer_cert : NULL;

    if (conn->have_saved_session)
        mbedtls_ssl_session_free(&conn->saved_session);
    mbedtls_ssl_session_init(&conn->saved_session);
    conn->have_saved_session = mbedtls_ssl_get_session(&conn->ssl, &conn->saved_session) == 0;
    if (conn->resumed_now)
        return;
    mbedtls_x509_crt_free(&conn->saved_chain);
    mbedtls_x509_crt_init(&conn->saved_chain);
    for (const mbedtls_x509_crt *c = chain; c != NULL && c->raw.p != NULL; c = c->next)
        if (mbedtls_x509_crt_parse_der(&conn->saved_chain, c->raw.p, c->raw.len) != 0) {
            forget_session(conn); /* no chain to check a resumption against: resume nothing */
            return;
        }
}

/* Lingering close (server side): a peer whose request was refused before it was read may still
 * be sending; closing with unread input makes the kernel reset the connection, and the peer can
 * lose the fault it was sent. So stop writing, then read and drop input briefly before closing. */
static void drain_before_close(SOAP_SOCKET sk)
{
    char sink[4096];
    struct pollfd p = {.fd = sk, .events = POLLIN};
    size_t total = 0;
    time_t deadline = time(NULL) + LINGER_TOTAL_S;

    (void)shutdown(sk, SHUT_WR);
    while (total < LINGER_MAX_BYTES && time(NULL) < deadline && poll(&p, 1, LINGER_WAIT_MS) == 1) {
        ssize_t n = recv(sk, sink, sizeof(sink), MSG_DONTWAIT);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
}

/* fclose: say goodbye properly, then let gSOAP close the socket (which calls tls_closesocket). */
static int tls_close(struct soap *soap)
{
    struct cl_conn *conn = conn_of(soap);
    if (conn->ssl_active && soap_valid_socket(soap->socket)) {
        (void)mbedtls_ssl_close_notify(&conn->ssl);
        /* Only an authenticated peer gets the lingering close; a failed handshake ends now. */
        if (conn->tls->side == CL_TLS_SERVER && conn->handshake_done)
            drain_before_close(soap->socket);
    }
    tls_end(conn);
    return conn->plain.close(soap);
}

/* fclosesocket: also reached by soap_force_closesock, which bypasses fclose. */
static int tls_closesocket(struct soap *soap, SOAP_SOCKET sk)
{
    struct cl_conn *conn = conn_of(soap);
    if (sk == soap->socket)
        tls_end(conn);
    return conn->plain.closesocket(soap, sk);
}

/* fpoll (client): an idle kept connection is good only if nothing arrived on it. In this
 * request/response protocol anything readable (close_notify, FIN, reset) means the server
 * has closed it, so gSOAP must reconnect instead of writing into a dead connection. */
static int tls_poll(struct soap *soap)
{
    struct pollfd p = {.fd = soap->socket, .events = POLLIN | POLLOUT};
    if (!soap_valid_socket(soap->socket))
        return SOAP_EOF;
    if (poll(&p, 1, 0) != 1)
        return SOAP_EOF;
    if (p.revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
        return SOAP_EOF;
    return (p.revents & POLLOUT) ? SOAP_OK : SOAP_EOF;
}

static void set_nodelay(SOAP_SOCKET sk)
{
    int one = 1;
    (void)setsockopt(sk, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Explains a refused peer certificate from its verification flags. */
static void explain_certificate(struct cl_conn *conn, uint32_t flags, const char *who)
{
    char detail[200];
    int code = CL_ERR_TLS_PEER_VERIFY;

    if (flags & MBEDTLS_X509_BADCERT_MISSING) {
        set_error(conn, code, "%s presented no usable certificate", who);
        return;
    }
    mbedtls_x509_crt_verify_info(detail, sizeof(detail), "", flags);
    for (char *p = detail; *p; p++)
        if (*p == '\n')
            *p = (p[1] != '\0') ? ';' : '\0';
    if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
        code = CL_ERR_PEER_NAME;
    set_error(conn, code, "%s certificate rejected: %s", who, detail);
}

/* Explains a failed handshake: the certificate verdict if there is one, else the TLS error. */
static void explain_handshake(struct cl_conn *conn, int ret, const char *who)
{
    char detail[200];
    uint32_t flags = mbedtls_ssl_get_verify_result(&conn->ssl);

    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags != 0 && flags != (uint32_t)-1) {
        explain_certificate(conn, flags, who);
        return;
    }
    cl_tls_strerror(ret, detail, sizeof(detail));
    if (ret == MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION)
        set_error(conn, CL_ERR_TLS_VERSION,
                  "TLS handshake failed: peer offered a version below TLS 1.2 (%s)", detail);
    else if (ret == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE ||
             ret == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE)
        set_error(conn, CL_ERR_TLS_PEER_VERIFY, "%s presented no usable certificate (%s)", who,
                  detail);
    else if (ret == MBEDTLS_ERR_SSL_CONN_EOF || ret == MBEDTLS_ERR_NET_RECV_FAILED ||
             ret == MBEDTLS_ERR_NET_SEND_FAILED)
        set_error(conn, CL_ERR_CLOSED,
                  "TLS handshake failed: connection closed or timed out by the %s (%s)", who,
                  detail);
    else
        set_error(conn, CL_ERR_TLS_HANDSHAKE, "TLS handshake failed: %s", detail);
}

/* The alert that tells a refused server why (as mbedTLS would have sent in the handshake). */
static unsigned char alert_for(uint32_t flags)
{
    if (flags & MBEDTLS_X509_BADCERT_REVOKED)
        return MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED;
    if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
        return MBEDTLS_SSL_ALERT_MSG_BAD_CERT;
    if (flags & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
                 MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY))
        return MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT;
    if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
        return MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED;
    if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
        return MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA;
    return MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN;
}

static const char *side_name(const struct cl_conn *conn)
{
    return conn->tls->side == CL_TLS_SERVER ? "server" : "client";
}

/* Counts a refused handshake by the class of its reason. */
static void count_refused(const struct cl_conn *conn, uint32_t flags)
{
    CL_METRIC_INC(CL_M_TLS_REFUSED, side_name(conn), cl_tls_refusal_class(conn->error_code, flags));
}

/* After a completed handshake, before any application data: the peer is authenticated to the
 * same standard whether the session is new or resumed. A full handshake: the server records the
 * chain mbedTLS verified; the client with a verified-chain cache checks the server's chain here
 * (the handshake ran with authmode NONE). A resumed session (its certificates were verified when
 * it was made; only the leaf comes back): the client checks the chain it saved then, the server
 * the client's leaf, for what time or configuration may have changed since. Every path checks the
 * chain against the current CRL (cl_tls_check_revoked, with cl_tls_check_revocation). Returns CL_OK
 * or the refusal's cl_err code. */
static int check_peer(struct cl_conn *conn)
{
    /* The session's own pointer: mbedtls_ssl_get_peer_cert gives a const one, and mbedTLS's
     * verification function takes a non-const chain (it does not change it). */
    mbedtls_x509_crt *chain = conn->ssl.session != NULL ? conn->ssl.session->peer_cert : NULL;
    int server = conn->tls->side == CL_TLS_SERVER;
    uint32_t flags = 0;
    int ret;

    if (server && conn->tls->browsers)
        return CL_OK; /* cl_tls_serve_browsers: no peer certificate is asked for or used */
    if (server && conn->chain_verified) {
        cl_tls_note_verified(conn->tls, chain); /* no-op without a cache */
        ret = cl_tls_check_revoked(conn->tls, chain, NULL, &flags);
    } else if (server) {
        ret = cl_tls_recheck_peer(conn->tls, chain, NULL, &flags);
    } else if (conn->resumed_now) {
        const mbedtls_x509_crt *saved = &conn->saved_chain;
        if (chain == NULL || saved->raw.p == NULL || chain->raw.len != saved->raw.len ||
            memcmp(chain->raw.p, saved->raw.p, chain->raw.len) != 0) {
            flags = MBEDTLS_X509_BADCERT_OTHER; /* not the leaf of the saved chain */
            ret = -1;
        } else {
            ret = cl_tls_recheck_peer(conn->tls, saved, conn->server_name, &flags);
        }
    } else if (conn->tls->verify_cache == NULL) {
        /* mbedTLS verified it in the handshake (VERIFY_REQUIRED) */
        ret = cl_tls_check_revoked(conn->tls, chain, conn->server_name, &flags);
    } else {
        ret = cl_tls_verify_peer(conn->tls, chain, conn->server_name, &flags);
    }
    if (ret == 0)
        return CL_OK;
    (void)mbedtls_ssl_send_alert_message(&conn->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                         alert_for(flags));
    explain_certificate(conn, flags, server ? "client" : "server");
    count_refused(conn, flags);
    return conn->error_code;
}

/* mbedTLS's verification callback (server): called for every certificate of the client's chain
 * when mbedTLS verifies that chain during this handshake, never for a resumed session. It only
 * marks the connection; the verdict stays mbedTLS's. */
static int note_verification(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    struct cl_conn *conn = ctx;

    (void)crt;
    (void)flags;
    if (depth == 0)
        conn->chain_verified = 1;
    return 0;
}

/* mbedTLS's handshake (mbedtls_ssl_handshake's loop, retried on WANT_READ/WRITE), step by step
 * so as to read whether a session was resumed: the client's offered session accepted by the
 * server, or the server's cache found the session a client (a browser too) offered. mbedTLS
 * 2.28 keeps that flag only in the handshake parameters, which the last step frees. */
static int run_handshake(mbedtls_ssl_context *ssl, int *resumed)
{
    int ret = 0;

    *resumed = 0;
    while (ssl->state != MBEDTLS_SSL_HANDSHAKE_OVER) {
        ret = mbedtls_ssl_handshake_step(ssl);
        if (ssl->handshake != NULL)
            *resumed = ssl->handshake->resume != 0;
        if (ret != 0 && ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE)
            return ret;
    }
    return 0;
}

/* Runs the handshake on soap->socket and records the verified peer. */
static int handshake(struct soap *soap, struct cl_conn *conn)
{
    int ret;

    mbedtls_ssl_init(&conn->ssl);
    conn->ssl_active = 1;
    conn->handshake_done = 0;
    conn->chain_verified = 0;
    conn->resumed_now = 0;
    if ((ret = mbedtls_ssl_setup(&conn->ssl, &conn->tls->conf)) != 0)
        goto fail;
    if (conn->tls->side == CL_TLS_SERVER)
        mbedtls_ssl_set_verify(&conn->ssl, note_verification, conn);
    if (conn->tls->side == CL_TLS_CLIENT) {
        if ((ret = mbedtls_ssl_set_hostname(&conn->ssl, conn->server_name)) != 0)
            goto fail;
        if (cl_tls_handover_take(conn->tls, &conn->saved_session, &conn->saved_chain))
            conn->have_saved_session = 1; /* from this program's server side: the newest */
        if (conn->have_saved_session) {
            cl_log_debug("offering the saved TLS session to %s", conn->server_name);
            (void)mbedtls_ssl_set_session(&conn->ssl, &conn->saved_session);
        }
    }
    mbedtls_ssl_set_bio(&conn->ssl, soap, bio_send, bio_recv, NULL);
    soap->start = (ULONG64)time(NULL); /* the handshake counts against the transfer timeout */
    if ((ret = run_handshake(&conn->ssl, &conn->resumed_now)) != 0)
        goto fail;
    if (check_peer(conn) != CL_OK) {
        forget_session(conn);
        return conn->error_code; /* refused: the caller closes without sending anything */
    }

    conn->handshake_done = 1;
    cl_peer_from_cert(conn->tls->browsers ? NULL : mbedtls_ssl_get_peer_cert(&conn->ssl),
                      &conn->peer);
    if (conn->tls->side == CL_TLS_CLIENT) {
        if (conn->peer.role != conn->server_role) {
            set_error(conn, CL_ERR_PEER_ROLE, "server %s has role %s, expected %s",
                      conn->server_name, cl_role_name(conn->peer.role),
                      cl_role_name(conn->server_role));
            forget_session(conn);
            count_refused(conn, 0);
            return conn->error_code;
        }
        conn->handshakes++;
        conn->resumed += conn->resumed_now ? 1u : 0u;
        save_session(conn);
    }
    CL_METRIC_INC(CL_M_TLS_HANDSHAKES, side_name(conn), conn->resumed_now ? "resumed" : "full");
    /* The session to this program's other side (cl_tls_hand_sessions); a server's only with the
     * client chain mbedTLS verified in full in this handshake. */
    if (conn->tls->side == CL_TLS_SERVER)
        cl_tls_handover_note(conn->tls, conn->ssl.session,
                             conn->chain_verified ? conn->ssl.session->peer_cert : NULL,
                             conn->peer.role);
    else if (conn->have_saved_session)
        cl_tls_handover_note(conn->tls, &conn->saved_session, NULL, conn->peer.role);
    conn->error_code = CL_OK;
    conn->error[0] = '\0';
    return CL_OK;
fail:
    explain_handshake(conn, ret, conn->tls->side == CL_TLS_CLIENT ? "server" : "client");
    count_refused(conn, mbedtls_ssl_get_verify_result(&conn->ssl));
    if (conn->tls->side == CL_TLS_CLIENT)
        forget_session(conn);
    return conn->error_code;
}

/* fopen (client): TCP connect through gSOAP, then TLS. */
static SOAP_SOCKET tls_open(struct soap *soap, const char *endpoint, const char *host, int port)
{
    struct cl_conn *conn = conn_of(soap);
    SOAP_SOCKET sk;

    if (endpoint == NULL || strncmp(endpoint, "https://", 8) != 0) {
        set_error(conn, CL_ERR_INVALID_ARGUMENT, "endpoint %s is not an https:// URL",
                  endpoint ? endpoint : "(none)");
        soap_set_sender_error(soap, "certline transport", conn->error, SOAP_SSL_ERROR);
        return SOAP_INVALID_SOCKET;
    }
    /* gSOAP's plain connect refuses https: hand it no endpoint, only host and port. */
    sk = conn->plain.open(soap, NULL, host, port);
    if (!soap_valid_socket(sk)) {
        set_error(conn, CL_ERR_CONNECT, "cannot connect to %s port %d: %s", host, port,
                  soap->errnum ? strerror(soap->errnum) : "connection failed or timed out");
        return SOAP_INVALID_SOCKET;
    }
    set_nodelay(sk);
    soap->socket = sk;
    if (handshake(soap, conn) != CL_OK) {
        soap_set_sender_error(soap, "certline transport", conn->error, SOAP_SSL_ERROR);
        tls_end(conn);
        conn->plain.closesocket(soap, sk);
        soap->socket = SOAP_INVALID_SOCKET;
        return SOAP_INVALID_SOCKET;
    }
    return sk;
}

/* fparsehdr (server): refuse an announced body over the cap with a clear fault, before reading
 * it. Bodies without Content-Length are still cut off by recv_maxlength. */
static int tls_parsehdr(struct soap *soap, const char *key, const char *val)
{
    struct cl_conn *conn = conn_of(soap);
    if (soap_tag_cmp(key, "Content-Length") == 0) {
        char *end = NULL;
        unsigned long long n = strtoull(val, &end, 10);
        unsigned long long cap = soap->recv_maxlength - CL_HTTP_HEADER_ALLOWANCE;
        if (end == val || *end != '\0' || n > cap) {
            set_error(conn, CL_ERR_TOO_LARGE,
                      "message of %.20s bytes exceeds the limit of %llu bytes", val, cap);
            soap->version = 2; /* certline speaks SOAP 1.2 only; the envelope is not read yet */
            return soap_sender_fault(soap, "Message too large", conn->error);
        }
    }
    return conn->plain.parsehdr(soap, key, val);
}

/* A connection's state, holding soap's plain hooks (not replaced yet), as soap->user. */
static struct cl_conn *new_conn(struct soap *soap, struct cl_tls *tls)
{
    struct cl_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return NULL;
    conn->tls = tls;
    mbedtls_x509_crt_init(&conn->saved_chain);
    conn->plain = (struct plain_hooks){soap->fsend,        soap->frecv, soap->fclose,
                                       soap->fclosesocket, soap->fopen, soap->fparsehdr};
    soap->user = conn;
    return conn;
}

/* Saves gSOAP's plain hooks and puts TLS in their place. soap must carry plain hooks: a fresh
 * context, or a soap_copy of a listening context (which is never attached itself). */
static struct cl_conn *attach(struct soap *soap, struct cl_tls *tls)
{
    struct cl_conn *conn = new_conn(soap, tls);
    if (conn == NULL)
        return NULL;
    soap->fsend = tls_send;
    soap->frecv = tls_recv;
    soap->fclose = tls_close;
    soap->fclosesocket = tls_closesocket;
    return conn;
}

int cl_soap_tls_attach_client(struct soap *soap, struct cl_tls *tls, const char *server_name,
                              enum cl_role server_role)
{
    struct cl_conn *conn;

    if (tls->side != CL_TLS_CLIENT || server_name == NULL ||
        strlen(server_name) >= sizeof(conn->server_name))
        return CL_ERR_INVALID_ARGUMENT;
    conn = attach(soap, tls);
    if (conn == NULL)
        return CL_ERR_NOMEM;
    strcpy(conn->server_name, server_name);
    conn->server_role = server_role;
    soap->fopen = tls_open;
    soap->fpoll = tls_poll;
    return CL_OK;
}

int cl_soap_tls_accept(struct soap *soap, struct cl_tls *tls)
{
    struct cl_conn *conn;

    if (tls->side != CL_TLS_SERVER)
        return CL_ERR_INVALID_ARGUMENT;
    conn = attach(soap, tls);
    if (conn == NULL)
        return CL_ERR_NOMEM;
    soap->fparsehdr = tls_parsehdr;
    set_nodelay(soap->socket);
    return handshake(soap, conn);
}

int cl_soap_attach_plain(struct soap *soap, const struct cl_peer *peer)
{
    struct cl_conn *conn;

    if (peer == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if ((conn = new_conn(soap, NULL)) == NULL)
        return CL_ERR_NOMEM;
    conn->peer = *peer;
    conn->handshake_done = 1;
    soap->fparsehdr = tls_parsehdr;
    return CL_OK;
}

void cl_soap_tls_detach(struct soap *soap)
{
    struct cl_conn *conn = conn_of(soap);
    if (conn == NULL)
        return;
    tls_end(conn);
    drop_session(conn);
    soap->fsend = conn->plain.send;
    soap->frecv = conn->plain.recv;
    soap->fclose = conn->plain.close;
    soap->fclosesocket = conn->plain.closesocket;
    soap->fopen = conn->plain.open;
    soap->fparsehdr = conn->plain.parsehdr;
    soap->user = NULL;
    free(conn);
}

void cl_soap_tls_free_context(struct soap *soap)
{
    soap_destroy(soap);
    soap_end(soap);
    soap->keep_alive = 0;
    (void)soap_closesock(soap);
    cl_soap_tls_detach(soap);
    soap_free(soap);
}

int cl_soap_tls_peer_revoked(const struct soap *soap)
{
    const struct cl_conn *conn = conn_of(soap);
    uint32_t flags = 0;

    if (conn == NULL || !conn->ssl_active || !conn->handshake_done || conn->ssl.session == NULL)
        return 0;
    /* a client checks the chain it verified (a resumed session brings back only the leaf) */
    const mbedtls_x509_crt *chain = conn->tls->side == CL_TLS_CLIENT && conn->resumed_now
                                        ? &conn->saved_chain
                                        : conn->ssl.session->peer_cert;
    return cl_tls_check_revoked(conn->tls, chain,
                                conn->tls->side == CL_TLS_CLIENT ? conn->server_name : NULL,
                                &flags) != 0;
}

const struct mbedtls_x509_crt *cl_soap_tls_verified_chain(const struct soap *soap)
{
    const struct cl_conn *conn = conn_of(soap);

    if (conn == NULL || conn->tls == NULL || conn->tls->side != CL_TLS_SERVER ||
        !conn->ssl_active || !conn->handshake_done || !conn->chain_verified ||
        conn->ssl.session == NULL)
        return NULL;
    return conn->ssl.session->peer_cert;
}

const struct cl_peer *cl_soap_peer(const struct soap *soap)
{
    static const struct cl_peer nobody;
    const struct cl_conn *conn = conn_of(soap);
    return conn ? &conn->peer : &nobody;
}

const char *cl_soap_tls_error(const struct soap *soap)
{
    const struct cl_conn *conn = conn_of(soap);
    return (conn && conn->error[0]) ? conn->error : "no error";
}

int cl_soap_tls_error_code(const struct soap *soap)
{
    const struct cl_conn *conn = conn_of(soap);
    return conn ? conn->error_code : CL_OK;
}

void cl_soap_set_app(struct soap *soap, void *app)
{
    struct cl_conn *conn = conn_of(soap);
    if (conn)
        conn->app = app;
}

void *cl_soap_app(const struct soap *soap)
{
    const struct cl_conn *conn = conn_of(soap);
    return conn ? conn->app : NULL;
}

void cl_soap_tls_handshakes(const struct soap *soap, unsigned *total, unsigned *resumed)
{
    const struct cl_conn *conn = conn_of(soap);
    *total = conn ? conn->handshakes : 0;
    *resumed = conn ? conn->resumed : 0;
}
