/* transmission_key.c: the per-transmission key of S7 and the MAC that binds S10 to it (the
 * encoding is documented in transmission_key.h). */
#include "transmission_key.h"

#include <stdint.h>
#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "error.h"
#include "x509_issue.h"

#define MAC_TAG "certline write-result v1"
#define MAC_BYTES 32

static const char hex_digits[] = "0123456789abcdef";

static void to_hex(const unsigned char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int cl_lower_hex_ok(const char *s, size_t len)
{
    if (s == NULL || strlen(s) != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (hex_value(s[i]) < 0)
            return 0;
    return 1;
}

/* Decodes exactly 2 * len lower-case hex digits (already checked) into out. */
static void from_hex(const char *hex, unsigned char *out, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (unsigned char)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
}

int cl_transmission_new(struct cl_transmission *t)
{
    unsigned char id[CL_TRANSMISSION_ID_BYTES];

    memset(t, 0, sizeof(*t));
    if (cl_random_bytes(id, sizeof(id)) != CL_OK ||
        cl_random_bytes(t->key, sizeof(t->key)) != CL_OK) {
        cl_transmission_wipe(t);
        return CL_ERR_CRYPTO;
    }
    to_hex(id, sizeof(id), t->id);
    return CL_OK;
}

void cl_transmission_key_hex(const struct cl_transmission *t, char *out)
{
    to_hex(t->key, sizeof(t->key), out);
}

int cl_transmission_parse(const char *id_hex, const char *key_hex, struct cl_transmission *t)
{
    memset(t, 0, sizeof(*t));
    if (!cl_lower_hex_ok(id_hex, CL_TRANSMISSION_ID_HEX) ||
        !cl_lower_hex_ok(key_hex, CL_TRANSMISSION_KEY_HEX))
        return CL_ERR_INVALID_ARGUMENT;
    memcpy(t->id, id_hex, CL_TRANSMISSION_ID_HEX + 1);
    from_hex(key_hex, t->key, sizeof(t->key));
    return CL_OK;
}

/* One field: u32be(length) then its bytes (NULL: empty). */
static int put_field(mbedtls_md_context_t *md, const char *text)
{
    size_t n = text != NULL ? strlen(text) : 0;
    unsigned char len[4];

    if (n > UINT32_MAX)
        return -1;
    len[0] = (unsigned char)(n >> 24);
    len[1] = (unsigned char)(n >> 16);
    len[2] = (unsigned char)(n >> 8);
    len[3] = (unsigned char)n;
    if (mbedtls_md_hmac_update(md, len, sizeof(len)) != 0)
        return -1;
    return n == 0 ? 0 : mbedtls_md_hmac_update(md, (const unsigned char *)text, n);
}

static int compute(const struct cl_transmission *t, const struct cl_write_result_fields *f,
                   unsigned char mac[MAC_BYTES])
{
    mbedtls_md_context_t md;
    int rc = CL_ERR_CRYPTO;

    mbedtls_md_init(&md);
    if (mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1) == 0 &&
        mbedtls_md_hmac_starts(&md, t->key, sizeof(t->key)) == 0 &&
        mbedtls_md_hmac_update(&md, (const unsigned char *)MAC_TAG, sizeof(MAC_TAG)) == 0 &&
        put_field(&md, f->transmission_id) == 0 && put_field(&md, f->device_number) == 0 &&
        put_field(&md, f->ok ? "OK" : "NG") == 0 && put_field(&md, f->reason) == 0 &&
        put_field(&md, f->certificate_serial) == 0 && put_field(&md, f->verification_value) == 0 &&
        mbedtls_md_hmac_finish(&md, mac) == 0)
        rc = CL_OK;
    mbedtls_md_free(&md); /* zeroises the HMAC pads */
    return rc;
}

int cl_write_result_mac(const struct cl_transmission *t, const struct cl_write_result_fields *f,
                        char *out)
{
    unsigned char mac[MAC_BYTES];
    int rc = compute(t, f, mac);

    out[0] = '\0';
    if (rc == CL_OK)
        to_hex(mac, sizeof(mac), out);
    mbedtls_platform_zeroize(mac, sizeof(mac));
    return rc;
}

int cl_write_result_mac_ok(const struct cl_transmission *t, const struct cl_write_result_fields *f,
                           const char *mac_hex)
{
    unsigned char expected[MAC_BYTES], given[MAC_BYTES];
    volatile unsigned char diff = 0;

    if (!cl_lower_hex_ok(mac_hex, CL_WRITE_RESULT_MAC_HEX) || compute(t, f, expected) != CL_OK)
        return 0;
    from_hex(mac_hex, given, sizeof(given));
    for (size_t i = 0; i < sizeof(given); i++)
        diff |= (unsigned char)(expected[i] ^ given[i]);
    mbedtls_platform_zeroize(expected, sizeof(expected));
    return diff == 0;
}

void cl_transmission_wipe(struct cl_transmission *t)
{
    if (t != NULL)
        mbedtls_platform_zeroize(t, sizeof(*t));
}
