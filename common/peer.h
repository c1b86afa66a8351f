/* peer.h: who is on the other end of a verified TLS connection: role, name and number,
 * read from the certificate subject (OU = role, CN = name, serialNumber = line id or device
 * number or model code). */
#ifndef CERTLINE_PEER_H
#define CERTLINE_PEER_H

#include <stddef.h>

struct mbedtls_x509_crt;

/* The roles certline certificates carry in their subject OU. */
enum cl_role {
    CL_ROLE_NONE = 0, /* no certificate, or an OU that is not a certline role */
    CL_ROLE_CA_SERVER = 1 << 0,
    CL_ROLE_COMM_TERMINAL = 1 << 1,
    CL_ROLE_FACTORY_TERMINAL = 1 << 2,
    CL_ROLE_DEVICE = 1 << 3,        /* a device's own certificate (CN = device number) */
    CL_ROLE_DEVICE_COMMON = 1 << 4, /* a device model's common certificate [S1703] */
    CL_ROLE_PRODUCTION = 1 << 5,    /* the production management system (plan feed) */
};

#define CL_PEER_NAME_MAX 64
#define CL_PEER_NUMBER_MAX 32

struct cl_peer {
    enum cl_role role;
    char name[CL_PEER_NAME_MAX + 1];     /* subject CN */
    char number[CL_PEER_NUMBER_MAX + 1]; /* subject serialNumber: line id, device number, model */
    char serial_hex[41];                 /* the certificate's serial, upper-case hex */
};

/* The OU spelling of a role ("ca-server", ...), or "none". */
const char *cl_role_name(enum cl_role role);

/* Parses an OU spelling; returns CL_ROLE_NONE for anything else. */
enum cl_role cl_role_from_name(const char *name);

/* Fills *peer from a verified certificate. Over-long or non-printable CN/serialNumber values
 * make the role CL_ROLE_NONE, so such a peer is admitted nowhere. */
void cl_peer_from_cert(const struct mbedtls_x509_crt *crt, struct cl_peer *peer);

/* "factory-terminal line-1001.certline.test (1001)" style text for logs and faults. */
void cl_peer_describe(const struct cl_peer *peer, char *buf, size_t len);

#endif
