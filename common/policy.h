/* policy.h: which roles may call which operation of which interface (DESIGN.md "The sequence").
 * The server checks it for every request, before the request body is read or a handler runs. */
#ifndef CERTLINE_POLICY_H
#define CERTLINE_POLICY_H

#include <stddef.h>

#include "peer.h"

struct soap;

enum cl_interface {
    CL_IFACE_CA,            /* served by ca-server */
    CL_IFACE_COMM_TERMINAL, /* served by comm-terminal */
    CL_IFACE_DEVICE,        /* served by device-agent */
    CL_IFACE_LINE,          /* served by factory-terminal */
};

struct cl_operation {
    const char *element; /* request element, e.g. "ca:CheckIn" */
    enum cl_interface iface;
    unsigned admitted_roles; /* a mask of enum cl_role */
};

/* "ca", "comm-terminal", "device" or "line". */
const char *cl_interface_name(enum cl_interface iface);

/* The operation table, for documentation and tests. */
const struct cl_operation *cl_policy_operations(size_t *count);

/* Decides whether peer may call the operation whose request element soap has just peeked at, on
 * a server that serves iface. Returns CL_OK; CL_ERR_NOT_FOUND if the element is no certline
 * operation (gSOAP then answers "method not implemented"); or CL_ERR_PEER_ROLE with a reason. */
int cl_policy_admit(struct soap *soap, enum cl_interface served, const struct cl_peer *peer,
                    char *reason, size_t len);

/* The table's spelling ("ca:CheckIn") of the element soap has peeked at, whatever prefix the
 * client used; NULL if it is no certline operation. */
const char *cl_policy_operation_name(struct soap *soap);

#endif
