/* soap_server.h: a mutual-TLS SOAP server for one certline interface: a listening socket on
 * loopback or a configured address, one thread per connection up to a bound, kept-alive
 * connections, the role policy checked before any handler runs. */
#ifndef CERTLINE_SOAP_SERVER_H
#define CERTLINE_SOAP_SERVER_H

#include <stdatomic.h>
#include <stddef.h>

#include "policy.h"
#include "soap_tls.h"

struct cl_server;

struct cl_server_settings {
    const char *host;        /* address to listen on, e.g. "127.0.0.1" */
    int port;                /* 0: pick a free port (see cl_server_port) */
    enum cl_interface iface; /* the interface this server serves */
    int max_connections;     /* connections (= threads) served at once; more are refused */
    struct cl_soap_limits limits;
    void *app; /* handed to handlers through cl_soap_app() */
    /* NULL: the SOAP serve loop with the role policy. Else called after the TLS handshake to
     * serve the whole connection itself (the operator console's HTTP); it returns when the
     * connection should close, and should return soon after *stopping becomes nonzero. */
    void (*serve)(struct soap *soap, void *app, const atomic_int *stopping);
};

/* Binds the socket. Returns a cl_err code; err says why (address in use, ...). */
int cl_server_new(const struct cl_server_settings *settings, struct cl_tls *tls,
                  struct cl_server **out, char *err, size_t errlen);

/* The port actually bound. */
int cl_server_port(const struct cl_server *server);

/* Accepts and serves until cl_server_stop; returns CL_OK, or a cl_err code on a fatal error. */
int cl_server_run(struct cl_server *server);

/* Asks cl_server_run to return and wakes every connection thread; async-signal-safe. */
void cl_server_stop(struct cl_server *server);

/* Waits for connection threads to end and frees the server. cl_server_free(NULL) does nothing. */
void cl_server_free(struct cl_server *server);

#endif
