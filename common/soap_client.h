/* soap_client.h: a mutual-TLS SOAP client for one server endpoint. The connection is kept alive
 * across calls, re-opened when the server has closed it, and TLS sessions are resumed. */
#ifndef CERTLINE_SOAP_CLIENT_H
#define CERTLINE_SOAP_CLIENT_H

#include <stddef.h>

#include "peer.h"
#include "soap_tls.h"

struct cl_client;
struct soap;

struct cl_client_settings {
    const char *endpoint;    /* https://host:port/path; the port is required */
    const char *server_name; /* name the server certificate must carry (checked) */
    enum cl_role server_role;
    struct cl_soap_limits limits;
};

/* Returns a cl_err code; err says what is wrong with the settings. */
int cl_client_new(const struct cl_client_settings *settings, struct cl_tls *tls,
                  struct cl_client **out, char *err, size_t errlen);

/* The gSOAP context and endpoint to pass to a generated soap_call_... function. */
struct soap *cl_client_soap(struct cl_client *client);
const char *cl_client_endpoint(const struct cl_client *client);

/* Points the client at another endpoint of the same service (client_failover.c): the next call
 * connects there. CL_OK, or CL_ERR_INVALID_ARGUMENT for an endpoint that is no
 * https://host:port/path. */
int cl_client_set_endpoint(struct cl_client *client, const char *endpoint);

/* After a failed call: a cl_err code and a sentence saying why (transport or SOAP fault). */
int cl_client_explain(struct cl_client *client, char *buf, size_t len);

/* Frees what the last call allocated; the connection stays open for the next call. */
void cl_client_end_call(struct cl_client *client);

/* Whether the server answered the last call ended by cl_client_end_call (a result or a SOAP
 * fault): 1, 0 if it could not be reached (connection, TLS, lost answer), -1 before any call.
 * Safe to read from any thread. */
int cl_client_reached(const struct cl_client *client);

/* TLS handshakes made so far, and how many of them resumed a session. */
void cl_client_handshakes(const struct cl_client *client, unsigned *total, unsigned *resumed);

void cl_client_free(struct cl_client *client);

#endif
