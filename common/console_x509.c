/* console_x509.c: a certificate's details as the operator consoles show them (console_x509.h):
 * read with mbedTLS from the certificate alone, every value HTML-escaped. */
#include "console_x509.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "console_core.h"

static void row(struct cs_buf *b, const char *label, const char *id, const char *value)
{
    cs_printf(b, "<tr><th>%s</th><td id=\"x509-%s\">", label, id);
    cs_html(b, value);
    cs_puts(b, "</td></tr>");
}

static void time_row(struct cs_buf *b, const char *label, const char *id,
                     const mbedtls_x509_time *t)
{
    char text[40];
    snprintf(text, sizeof(text), "%04d-%02d-%02d %02d:%02d:%02d UTC", t->year, t->mon, t->day,
             t->hour, t->min, t->sec);
    row(b, label, id, text);
}

/* The public key's algorithm and size: "EC secp256r1 (256 bits)", "RSA (2048 bits)". */
static void key_text(const mbedtls_pk_context *pk, char *out, size_t cap)
{
    size_t bits = mbedtls_pk_get_bitlen(pk);
    mbedtls_pk_type_t type = mbedtls_pk_get_type(pk);

    if (type == MBEDTLS_PK_ECKEY || type == MBEDTLS_PK_ECDSA || type == MBEDTLS_PK_ECKEY_DH) {
        const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
        const mbedtls_ecp_curve_info *curve =
            ec != NULL ? mbedtls_ecp_curve_info_from_grp_id(ec->grp.id) : NULL;
        snprintf(out, cap, "EC %s (%zu bits)", curve != NULL ? curve->name : "?", bits);
    } else {
        snprintf(out, cap, "%s (%zu bits)", mbedtls_pk_get_name(pk), bits);
    }
}

/* Upper-case hex of data, pairs joined by sep ('\0': none), into out (cap >= 3 * len). */
static void hex(const unsigned char *data, size_t len, char sep, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < len && o + 3 < cap; i++) {
        if (i > 0 && sep != '\0')
            out[o++] = sep;
        o += (size_t)snprintf(out + o, cap - o, "%02X", data[i]);
    }
}

int cs_x509_table(struct cs_buf *b, const unsigned char *cert, size_t len)
{
    mbedtls_x509_crt crt;
    char subject[512], issuer[512], text[160];
    unsigned char digest[32];
    int rc = -1;

    mbedtls_x509_crt_init(&crt);
    if (cert == NULL || len == 0 || mbedtls_x509_crt_parse(&crt, cert, len) != 0 ||
        mbedtls_x509_dn_gets(subject, sizeof(subject), &crt.subject) < 0 ||
        mbedtls_x509_dn_gets(issuer, sizeof(issuer), &crt.issuer) < 0 ||
        mbedtls_sha256_ret(crt.raw.p, crt.raw.len, digest, 0) != 0)
        goto out;
    cs_puts(b, "<table id=\"x509\">");
    row(b, "Subject", "subject", subject);
    row(b, "Issuer", "issuer", issuer);
    time_row(b, "Not before", "not-before", &crt.valid_from);
    time_row(b, "Not after", "not-after", &crt.valid_to);
    /* The INTEGER's value: a leading zero octet (kept by mbedTLS for a high first bit) is not. */
    const unsigned char *serial = crt.serial.p;
    size_t serial_len = crt.serial.len;
    while (serial_len > 1 && serial[0] == 0)
        serial++, serial_len--;
    hex(serial, serial_len > 40 ? 40 : serial_len, '\0', text, sizeof(text));
    row(b, "Serial", "serial", text);
    key_text(&crt.pk, text, sizeof(text));
    row(b, "Public key", "key", text);
    hex(digest, sizeof(digest), ':', text, sizeof(text));
    row(b, "SHA-256 fingerprint", "sha256", text);
    cs_puts(b, "</table>");
    rc = 0;
out:
    mbedtls_x509_crt_free(&crt);
    return rc;
}
