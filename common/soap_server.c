/* soap_server.c: accept loop, bounded connection threads and the per-connection serve loop. */
#include "soap_server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

#include "error.h"
#include "log.h"
#include "soapH.h"
#include "wire_check.h"

#define ACCEPT_POLL_US 200000 /* how often the accept loop looks at the stop flag */
#define THREAD_STACK_BYTES (1u << 20)

struct cl_server {
    struct cl_server_settings settings;
    struct cl_tls *tls;
    struct soap *listener;
    int port;
    atomic_int stopping;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int active;           /* connection threads alive */
    SOAP_SOCKET *sockets; /* per slot: the socket being served, or SOAP_INVALID_SOCKET */
};

struct connection {
    struct cl_server *server;
    struct soap *soap;
    int slot;
    char address[64];
};

/* The port the socket is bound to (the one the kernel chose for port 0). */
static int bound_port(SOAP_SOCKET sk)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    if (getsockname(sk, (struct sockaddr *)&addr, &len) != 0)
        return -1;
    if (addr.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&addr)->sin_port);
    if (addr.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return -1;
}

int cl_server_new(const struct cl_server_settings *settings, struct cl_tls *tls,
                  struct cl_server **out, char *err, size_t errlen)
{
    struct cl_server *server;

    *out = NULL;
    if (settings->max_connections < 1 || settings->max_connections > 4096 || settings->port < 0 ||
        settings->port > 65535 || settings->host == NULL) {
        snprintf(err, errlen, "server settings out of range (connections 1..4096, port 0..65535)");
        return CL_ERR_INVALID_ARGUMENT;
    }
    server = calloc(1, sizeof(*server));
    if (server == NULL)
        goto nomem;
    pthread_mutex_init(&server->lock, NULL);
    pthread_cond_init(&server->idle, NULL);
    server->sockets = malloc(sizeof(SOAP_SOCKET) * (size_t)settings->max_connections);
    server->listener = soap_new();
    if (server->sockets == NULL || server->listener == NULL)
        goto nomem;
    for (int i = 0; i < settings->max_connections; i++)
        server->sockets[i] = SOAP_INVALID_SOCKET;
    server->settings = *settings;
    server->tls = tls;

    cl_soap_apply_limits(server->listener, &settings->limits);
    server->listener->bind_flags = SO_REUSEADDR;
    server->listener->accept_timeout = -ACCEPT_POLL_US;
    if (!soap_valid_socket(soap_bind(server->listener, settings->host, settings->port, 64))) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", settings->host, settings->port,
                 server->listener->errnum ? strerror(server->listener->errnum) : "bind failed");
        cl_server_free(server);
        return CL_ERR_IO;
    }
    server->port = bound_port(server->listener->master);
    *out = server;
    return CL_OK;
nomem:
    snprintf(err, errlen, "out of memory");
    cl_server_free(server);
    return CL_ERR_NOMEM;
}

int cl_server_port(const struct cl_server *server)
{
    return server->port;
}

/* Logs why a request could not be read: over the size cap, malformed, or simply a closed
 * kept-alive connection (which is normal and logged at debug level only). */
static void log_broken_request(const struct cl_server *server, const char *who, struct soap *soap)
{
    const char *iface = cl_interface_name(server->settings.iface);
    const char **text = soap_faultstring(soap), **detail = soap_faultdetail(soap);
    const char *wire = cl_wire_check_refusal(soap);

    if (wire != NULL)
        cl_log_warn("%s: request from %s refused: %s", iface, who, wire);
    else if (cl_soap_tls_error_code(soap) == CL_ERR_TOO_LARGE)
        cl_log_warn("%s: request from %s refused: %s", iface, who, cl_soap_tls_error(soap));
    else if (soap->error == SOAP_EOF && soap->count > soap->recv_maxlength)
        cl_log_warn("%s: request from %s refused: message exceeds the limit of %llu bytes (with "
                    "headers)",
                    iface, who, (unsigned long long)soap->recv_maxlength);
    else if (soap->error == SOAP_EOF)
        cl_log_debug("%s: connection from %s closed", iface, who);
    else
        cl_log_warn("%s: request from %s refused: %s%s%s", iface, who,
                    text && *text ? *text : "malformed request", detail && *detail ? ": " : "",
                    detail && *detail ? *detail : "");
}

/* Serves the requests of one connection until it closes, fails or the server stops. */
static void serve(struct connection *c)
{
    struct cl_server *server = c->server;
    struct soap *soap = c->soap;
    char who[160], reason[256], operation[128];
    const struct cl_peer *peer;

    if (cl_soap_tls_accept(soap, server->tls) != CL_OK) {
        cl_log_warn("%s: refused connection from %s: %s", cl_interface_name(server->settings.iface),
                    c->address, cl_soap_tls_error(soap));
        return;
    }
    if (server->settings.serve != NULL) { /* not SOAP: no wire check, no role policy */
        cl_soap_set_app(soap, server->settings.app);
        server->settings.serve(soap, server->settings.app, &server->stopping);
        return;
    }
    if (cl_wire_check_install(soap) != CL_OK) {
        cl_log_error("%s: out of memory; dropping the connection from %s",
                     cl_interface_name(server->settings.iface), c->address);
        return;
    }
    cl_soap_set_app(soap, server->settings.app);
    peer = cl_soap_peer(soap);
    cl_peer_describe(peer, who, sizeof(who));
    cl_log_debug("%s: connection from %s: %s", cl_interface_name(server->settings.iface),
                 c->address, who);

    soap->keep_alive = soap->max_keep_alive + 1;
    do {
        if (soap->keep_alive > 0 && soap->max_keep_alive > 0)
            soap->keep_alive--;
        if (soap_begin_serve(soap) != SOAP_OK) {
            if (soap->error >= SOAP_STOP)
                continue;
            log_broken_request(server, who, soap);
            break;
        }
        (void)soap_peek_element(soap);
        const char *known = cl_policy_operation_name(soap);
        snprintf(operation, sizeof(operation), "%.127s", known ? known : soap->tag);
        /* A connection kept alive from before a newer CRL: its peer is checked again. */
        if (cl_soap_tls_peer_revoked(soap)) {
            cl_log_warn("%s: refused %s from %s: its certificate is revoked (CRL in force since "
                        "the connection was made)",
                        cl_interface_name(server->settings.iface), operation, who);
            soap_sender_fault(soap, "Not authorised", "the peer's certificate is revoked");
            (void)soap_send_fault(soap);
            break;
        }
        if (cl_policy_admit(soap, server->settings.iface, peer, reason, sizeof(reason)) ==
            CL_ERR_PEER_ROLE) {
            cl_log_warn("%s: refused %s from %s: %s", cl_interface_name(server->settings.iface),
                        operation, who, reason);
            soap_sender_fault(soap, "Not authorised", reason);
            (void)soap_send_fault(soap);
            break; /* the unread request body leaves the stream unusable */
        }
        if (soap_serve_request(soap) != SOAP_OK && soap->error != SOAP_OK &&
            soap->error < SOAP_STOP) {
            const char **text;
            soap_set_fault(soap); /* fills in the text of gSOAP's own errors */
            text = soap_faultstring(soap);
            cl_log_info("%s: %s from %s answered with a fault: %s",
                        cl_interface_name(server->settings.iface), operation, who,
                        text && *text ? *text : "error");
            (void)soap_send_fault(soap); /* gSOAP closes the connection after a fault */
            break;
        }
        soap_destroy(soap);
        soap_end(soap);
    } while (soap->keep_alive && !atomic_load(&server->stopping));
}

static void release_slot(struct cl_server *server, int slot)
{
    pthread_mutex_lock(&server->lock);
    server->sockets[slot] = SOAP_INVALID_SOCKET;
    server->active--;
    pthread_cond_broadcast(&server->idle);
    pthread_mutex_unlock(&server->lock);
}

static void *connection_thread(void *arg)
{
    struct connection *c = arg;
    struct cl_server *server = c->server;

    serve(c);
    cl_soap_tls_free_context(c->soap);

    release_slot(server, c->slot);
    free(c);
    return NULL;
}

/* Reserves a slot for a new connection, or returns -1 at the connection limit. */
static int take_slot(struct cl_server *server, SOAP_SOCKET sk)
{
    int slot = -1;
    pthread_mutex_lock(&server->lock);
    for (int i = 0; i < server->settings.max_connections; i++) {
        if (!soap_valid_socket(server->sockets[i])) {
            server->sockets[i] = sk;
            server->active++;
            slot = i;
            break;
        }
    }
    pthread_mutex_unlock(&server->lock);
    return slot;
}

static void start_connection(struct cl_server *server, pthread_attr_t *attr)
{
    struct soap *listener = server->listener;
    struct connection *c = NULL;
    pthread_t thread;
    int slot = take_slot(server, listener->socket);

    if (slot < 0) {
        cl_log_warn("%s: connection limit of %d reached; refusing %s",
                    cl_interface_name(server->settings.iface), server->settings.max_connections,
                    listener->host);
        (void)close(listener->socket);
        listener->socket = SOAP_INVALID_SOCKET;
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c != NULL)
        c->soap = soap_copy(listener);
    if (c == NULL || c->soap == NULL)
        goto fail;
    listener->socket = SOAP_INVALID_SOCKET; /* the copy owns it now */
    c->server = server;
    c->slot = slot;
    snprintf(c->address, sizeof(c->address), "%.45s:%d", c->soap->host, c->soap->port);
    if (pthread_create(&thread, attr, connection_thread, c) != 0) {
        soap_free(c->soap); /* closes the socket */
        c->soap = NULL;
        goto fail;
    }
    return;
fail:
    cl_log_error("%s: out of resources; dropping a connection",
                 cl_interface_name(server->settings.iface));
    if (soap_valid_socket(listener->socket)) {
        (void)close(listener->socket);
        listener->socket = SOAP_INVALID_SOCKET;
    }
    free(c);
    release_slot(server, slot);
}

int cl_server_run(struct cl_server *server)
{
    pthread_attr_t attr;
    int rc = CL_OK;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, THREAD_STACK_BYTES);
    while (!atomic_load(&server->stopping)) {
        SOAP_SOCKET sk = soap_accept(server->listener);
        if (!soap_valid_socket(sk)) {
            if (server->listener->errnum == 0 || server->listener->errnum == EINTR ||
                server->listener->errnum == ECONNABORTED)
                continue; /* timeout: look at the stop flag again */
            if (server->listener->errnum == EMFILE || server->listener->errnum == ENFILE) {
                cl_log_error("%s: out of file descriptors; pausing accepts",
                             cl_interface_name(server->settings.iface));
                usleep(ACCEPT_POLL_US);
                continue;
            }
            cl_log_error("%s: accept failed: %s", cl_interface_name(server->settings.iface),
                         strerror(server->listener->errnum));
            rc = CL_ERR_IO;
            break;
        }
        start_connection(server, &attr);
    }
    pthread_attr_destroy(&attr);
    return rc;
}

void cl_server_stop(struct cl_server *server)
{
    atomic_store(&server->stopping, 1);
}

void cl_server_free(struct cl_server *server)
{
    if (server == NULL)
        return;
    atomic_store(&server->stopping, 1);
    if (server->sockets != NULL) {
        pthread_mutex_lock(&server->lock);
        /* Wake threads blocked in a receive; they see the stop flag and end. */
        for (int i = 0; i < server->settings.max_connections; i++)
            if (soap_valid_socket(server->sockets[i]))
                (void)shutdown(server->sockets[i], SHUT_RDWR);
        while (server->active > 0)
            pthread_cond_wait(&server->idle, &server->lock);
        pthread_mutex_unlock(&server->lock);
    }
    pthread_mutex_destroy(&server->lock);
    pthread_cond_destroy(&server->idle);
    if (server->listener != NULL) {
        soap_destroy(server->listener);
        soap_end(server->listener);
        soap_free(server->listener);
    }
    free(server->sockets);
    free(server);
}
