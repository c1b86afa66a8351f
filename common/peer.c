/* peer.c: reads a certline peer identity (role, name, number) from an X.509 subject. */
#include "peer.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

static const struct {
    enum cl_role role;
    const char *name;
} role_names[] = {
    {CL_ROLE_CA_SERVER, "ca-server"},
    {CL_ROLE_COMM_TERMINAL, "comm-terminal"},
    {CL_ROLE_FACTORY_TERMINAL, "factory-terminal"},
    {CL_ROLE_DEVICE, "device"},
    {CL_ROLE_DEVICE_COMMON, "device-common"},
    {CL_ROLE_PRODUCTION, "production"},
};

const char *cl_role_name(enum cl_role role)
{
    for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
        if (role_names[i].role == role)
            return role_names[i].name;
    return "none";
}

enum cl_role cl_role_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
        if (strcmp(role_names[i].name, name) == 0)
            return role_names[i].role;
    return CL_ROLE_NONE;
}

/* Copies a printable ASCII attribute value; returns -1 if it is too long or not printable. */
static int copy_attribute(const mbedtls_asn1_buf *val, char *out, size_t cap)
{
    if (val->len == 0 || val->len >= cap)
        return -1;
    for (size_t i = 0; i < val->len; i++)
        if (val->p[i] < 0x20 || val->p[i] > 0x7e)
            return -1;
    memcpy(out, val->p, val->len);
    out[val->len] = '\0';
    return 0;
}

void cl_peer_from_cert(const struct mbedtls_x509_crt *crt, struct cl_peer *peer)
{
    char ou[CL_PEER_NAME_MAX + 1] = "";
    int bad = 0, ou_count = 0;

    memset(peer, 0, sizeof(*peer));
    if (crt == NULL)
        return;
    for (const mbedtls_x509_name *n = &crt->subject; n != NULL; n = n->next) {
        if (n->oid.p == NULL)
            continue;
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
            bad |= copy_attribute(&n->val, peer->name, sizeof(peer->name));
        else if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_SERIAL_NUMBER, &n->oid) == 0)
            bad |= copy_attribute(&n->val, peer->number, sizeof(peer->number));
        else if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_ORG_UNIT, &n->oid) == 0) {
            ou_count++;
            bad |= copy_attribute(&n->val, ou, sizeof(ou));
        }
    }
    const unsigned char *serial = crt->serial.p;
    size_t serial_len = crt->serial.len;
    while (serial_len > 1 && serial[0] == 0) { /* a DER sign octet is not part of the number */
        serial++;
        serial_len--;
    }
    if (serial_len > 0 && serial_len <= 20) {
        for (size_t i = 0; i < serial_len; i++)
            snprintf(peer->serial_hex + 2 * i, 3, "%02X", serial[i]);
    } else {
        bad = 1;
    }
    /* Exactly one OU naming a certline role; anything ambiguous is admitted nowhere. */
    peer->role = (bad || ou_count != 1) ? CL_ROLE_NONE : cl_role_from_name(ou);
}

void cl_peer_describe(const struct cl_peer *peer, char *buf, size_t len)
{
    if (peer->number[0] != '\0')
        snprintf(buf, len, "%s %s (%s)", cl_role_name(peer->role), peer->name[0] ? peer->name : "-",
                 peer->number);
    else
        snprintf(buf, len, "%s %s", cl_role_name(peer->role), peer->name[0] ? peer->name : "-");
}
