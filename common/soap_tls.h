/* soap_tls.h: puts mbedTLS underneath a gSOAP context through its I/O hooks (fopen, fsend, frecv,
 * fclose, fclosesocket, fpoll), for both ends of a connection, and keeps the authenticated peer
 * of each connection where handlers can read it. */
#ifndef CERTLINE_SOAP_TLS_H
#define CERTLINE_SOAP_TLS_H

#include <stddef.h>

#include "peer.h"
#include "tls.h"

struct soap;

/* Room for the HTTP headers on top of the body limit: gSOAP counts header and body bytes
 * together, while the announced Content-Length is checked against the body limit alone. */
#define CL_HTTP_HEADER_ALLOWANCE 8192

/* Defaults of struct cl_soap_limits (also the configuration defaults, see transport_config.h). */
#define CL_DEFAULT_CONNECT_TIMEOUT_S 5
#define CL_DEFAULT_RECV_TIMEOUT_S 30
#define CL_DEFAULT_SEND_TIMEOUT_S 30
#define CL_DEFAULT_TRANSFER_TIMEOUT_S 120
#define CL_DEFAULT_MAX_MESSAGE_BYTES (4 << 20)
#define CL_DEFAULT_MAX_STRING_BYTES (64 << 10)
#define CL_DEFAULT_MAX_LIST_ITEMS 1000
#define CL_DEFAULT_MAX_NESTING 16
#define CL_DEFAULT_MAX_KEEP_ALIVE 10000

/* Bounds on everything a peer can send, and how long it may take. */
struct cl_soap_limits {
    int connect_timeout_s;         /* client: TCP connect */
    int recv_timeout_s;            /* one receive, the TLS handshake included */
    int send_timeout_s;            /* one send */
    int transfer_timeout_s;        /* a whole message */
    size_t max_message_bytes;      /* HTTP body, refused beyond */
    size_t max_string_bytes;       /* any one XML string */
    size_t max_list_items;         /* any one repeated element */
    unsigned short max_nesting;    /* XML element depth */
    unsigned short max_keep_alive; /* requests over one connection before it is closed */
};

/* Sets the CL_DEFAULT_* values above. */
void cl_soap_limits_default(struct cl_soap_limits *limits);

/* Applies limits, strict XML parsing, keep-alive and the certline namespace table to soap. */
void cl_soap_apply_limits(struct soap *soap, const struct cl_soap_limits *limits);

/* Client side: every connection soap opens is TLS to a server that must present a certificate
 * chaining to the trusted root, naming server_name, with role server_role. Uses soap->user. */
int cl_soap_tls_attach_client(struct soap *soap, struct cl_tls *tls, const char *server_name,
                              enum cl_role server_role);

/* Server side, for a context made by soap_copy in the thread that serves the connection:
 * installs the hooks and runs the TLS handshake on soap->socket. Returns a cl_err code; on
 * failure cl_soap_tls_error() says why. Uses soap->user. */
int cl_soap_tls_accept(struct soap *soap, struct cl_tls *tls);

/* Tests and fuzz targets only: serves soap over its own I/O hooks, without TLS, as if peer had
 * been authenticated by a handshake (the Content-Length bound applies as on a TLS connection).
 * Uses soap->user; end with cl_soap_tls_detach. */
int cl_soap_attach_plain(struct soap *soap, const struct cl_peer *peer);

/* Frees the connection state attached to soap (closing TLS first if still open). */
void cl_soap_tls_detach(struct soap *soap);

/* Ends a connection's context for good: frees gSOAP's data of the last message, closes the
 * socket (no keep-alive), detaches TLS and frees soap itself. */
void cl_soap_tls_free_context(struct soap *soap);

/* The authenticated peer of the current connection (role CL_ROLE_NONE if none). */
const struct cl_peer *cl_soap_peer(const struct soap *soap);

/* Server side: the client's chain (leaf first) that mbedTLS verified in full against the trusted
 * roots in this connection's handshake; NULL for a resumed session, a client, no connection. */
const struct mbedtls_x509_crt *cl_soap_tls_verified_chain(const struct soap *soap);

/* Whether the peer of this connection is listed by the CRL its TLS context enforces now (a
 * connection kept alive from before a newer CRL): 1, logged with the peer, serial and reason; 0
 * otherwise (also without a CRL holder). */
int cl_soap_tls_peer_revoked(const struct soap *soap);

/* The last transport failure on soap, as text, and its cl_err code (CL_OK if none). */
const char *cl_soap_tls_error(const struct soap *soap);
int cl_soap_tls_error_code(const struct soap *soap);

/* Client side: TLS handshakes made so far, and how many of them resumed a session. */
void cl_soap_tls_handshakes(const struct soap *soap, unsigned *total, unsigned *resumed);

/* Application data for handlers (soap->user belongs to the transport). */
void cl_soap_set_app(struct soap *soap, void *app);
void *cl_soap_app(const struct soap *soap);

#endif
