/* pack.c: builds, parses and opens certificate packs (the format is documented in PACK.md) and
 * computes the two installation verification values. The device key travels only sealed with
 * AES-256-GCM under the model's pre-write key; nothing here logs a key or a pre-write key. */
#include "pack.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <mbedtls/gcm.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "error.h"
#include "input_check.h"
#include "key_wrap.h"
#include "log.h"
#include "pack_internal.h"
#include "x509_issue.h"

#define PACK_FORMAT "certline-pack"
#define AAD_LABEL "certline-pack-v1"

#define IV_LEN 12
#define TAG_LEN 16
#define KEY_DER_MAX 3072 /* an RSA-3072 private key is about 1,800 bytes */
#define SEALED_MIN (IV_LEN + 1 + TAG_LEN)
#define SEALED_MAX (IV_LEN + KEY_DER_MAX + TAG_LEN)
#define SEALED_B64_MAX (4 * ((SEALED_MAX + 2) / 3))
#define CERT_PEM_MAX 8192
#define CHAIN_PEM_MAX 16384
#define CHAIN_CERTS_MAX 4
#define CERT_DER_MAX 8192
#define AAD_MAX (sizeof(AAD_LABEL) + 32 + CL_SERIAL_HEX_MAX + 1)

#define PEM_CERT_BEGIN "-----BEGIN CERTIFICATE-----"

/* ---- field rules ---- */

static int valid_key_type(const char *s)
{
    enum cl_key_type t;
    return cl_key_type_parse(s, &t) == CL_OK;
}

static int valid_verify_hex(const char *s)
{
    size_t n;

    for (n = 0; s[n] != '\0'; n++)
        if (n >= CL_VERIFY_HEX || !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n == CL_VERIFY_HEX;
}

/* Standard base64 with padding, no whitespace. */
static int valid_base64(const char *s, size_t len)
{
    size_t pad = 0;

    if (len == 0 || len % 4 != 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '=') {
            if (i < len - 2)
                return 0;
            pad++;
        } else if (pad > 0 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                (c >= '0' && c <= '9') || c == '+' || c == '/')) {
            return 0;
        }
    }
    return 1;
}

/* PEM text: starts with a certificate block, printable ASCII and line breaks only, every block a
 * certificate (so no key can hide in it). Returns the number of blocks, or -1. */
static int pem_certificate_blocks(const char *pem)
{
    int blocks = 0;

    if (strncmp(pem, PEM_CERT_BEGIN, strlen(PEM_CERT_BEGIN)) != 0)
        return -1;
    for (const char *p = pem; *p != '\0'; p++)
        if ((*p < 0x20 || *p > 0x7e) && *p != '\n' && *p != '\r')
            return -1;
    for (const char *p = strstr(pem, "-----BEGIN "); p != NULL; p = strstr(p + 1, "-----BEGIN ")) {
        if (strncmp(p, PEM_CERT_BEGIN, strlen(PEM_CERT_BEGIN)) != 0)
            return -1;
        blocks++;
    }
    if (strstr(pem, "PRIVATE KEY") != NULL || strstr(pem, "ENCRYPTED") != NULL)
        return -1;
    return blocks;
}

/* Copies a subject attribute of crt into out ("" if absent or unprintable). */
static void subject_attr(const mbedtls_x509_crt *crt, const char *oid, size_t oid_len, char *out,
                         size_t cap)
{
    out[0] = '\0';
    for (const mbedtls_x509_name *n = &crt->subject; n != NULL; n = n->next)
        if (n->oid.p != NULL && n->oid.len == oid_len && memcmp(n->oid.p, oid, oid_len) == 0) {
            if (n->val.len >= cap)
                return;
            for (size_t i = 0; i < n->val.len; i++)
                if (n->val.p[i] < 0x20 || n->val.p[i] > 0x7e)
                    return;
            memcpy(out, n->val.p, n->val.len);
            out[n->val.len] = '\0';
            return;
        }
}

/* The last chain_pem that parsed. Whether a chain parses depends on its text alone, and a batch
 * of packs (built at ca-server, parsed at the comm-terminal) shares one chain: it is parsed once,
 * not once per pack. */
static pthread_mutex_t parsed_chain_lock = PTHREAD_MUTEX_INITIALIZER;
static char *parsed_chain;

static int chain_parsed_before(const char *pem)
{
    pthread_mutex_lock(&parsed_chain_lock);
    int same = parsed_chain != NULL && strcmp(parsed_chain, pem) == 0;
    pthread_mutex_unlock(&parsed_chain_lock);
    return same;
}

static void chain_parsed_now(const char *pem)
{
    char *copy = strdup(pem); /* on failure, nothing is remembered */
    pthread_mutex_lock(&parsed_chain_lock);
    free(parsed_chain);
    parsed_chain = copy;
    pthread_mutex_unlock(&parsed_chain_lock);
}

struct fields {
    const char *device_number, *model_code, *serial_hex, *key_type, *key_id;
    const char *chain_pem, *certificate_pem;
};

/* Checks every field and that the certificate and chain are what they claim: the chain is 1 to
 * CHAIN_CERTS_MAX certificates, the certificate exactly one, issued for device_number (CN and
 * serialNumber), with serial serial_hex and a key of key_type. If cert_der is given, the
 * certificate must be exactly that DER. Signatures are not checked here (the device checks the
 * chain against the root it trusts). */
static int check_fields(const struct fields *f, const unsigned char *cert_der, size_t cert_len,
                        char *err, size_t errlen)
{
    mbedtls_x509_crt chain, cert;
    char cn[64], number[64], serial[CL_SERIAL_HEX_MAX + 1];
    int chain_blocks, cert_blocks, rc = CL_ERR_PARSE;

    if (!cl_device_number_valid(f->device_number)) {
        snprintf(err, errlen, "device_number must be 1 to 31 characters 0-9 A-Z a-z . -");
        return CL_ERR_PARSE;
    }
    if (!cl_model_code_valid(f->model_code)) {
        snprintf(err, errlen, "model_code must be 1 to 15 characters 0-9 A-Z a-z . -");
        return CL_ERR_PARSE;
    }
    if (!cl_serial_hex_valid(f->serial_hex)) {
        snprintf(err, errlen,
                 "serial must be 2 to 40 upper-case hex digits (whole octets, no "
                 "leading 00)");
        return CL_ERR_PARSE;
    }
    if (!valid_key_type(f->key_type)) {
        snprintf(err, errlen, "key_type must be p256, rsa2048 or rsa3072");
        return CL_ERR_PARSE;
    }
    if (!cl_label_ok(f->key_id, CL_KEY_ID_MAX)) {
        snprintf(err, errlen, "key_id must be 1 to %d characters 0-9 A-Z a-z . _ : -",
                 CL_KEY_ID_MAX);
        return CL_ERR_PARSE;
    }
    if (strlen(f->chain_pem) > CHAIN_PEM_MAX || strlen(f->certificate_pem) > CERT_PEM_MAX) {
        snprintf(err, errlen, "chain_pem or certificate_pem is too long (%d / %d characters)",
                 CHAIN_PEM_MAX, CERT_PEM_MAX);
        return CL_ERR_PARSE;
    }
    chain_blocks = pem_certificate_blocks(f->chain_pem);
    cert_blocks = pem_certificate_blocks(f->certificate_pem);
    if (chain_blocks < 1 || chain_blocks > CHAIN_CERTS_MAX || cert_blocks != 1) {
        snprintf(err, errlen,
                 "chain_pem must be 1 to %d PEM certificates and certificate_pem exactly one, "
                 "with nothing else in them",
                 CHAIN_CERTS_MAX);
        return CL_ERR_PARSE;
    }
    mbedtls_x509_crt_init(&chain);
    mbedtls_x509_crt_init(&cert);
    if (!chain_parsed_before(f->chain_pem)) {
        if (mbedtls_x509_crt_parse(&chain, (const unsigned char *)f->chain_pem,
                                   strlen(f->chain_pem) + 1) != 0) {
            snprintf(err, errlen, "chain_pem does not parse as certificates");
            goto out;
        }
        chain_parsed_now(f->chain_pem);
    }
    if (mbedtls_x509_crt_parse(&cert, (const unsigned char *)f->certificate_pem,
                               strlen(f->certificate_pem) + 1) != 0 ||
        cert.next != NULL) {
        snprintf(err, errlen, "certificate_pem does not parse as one certificate");
        goto out;
    }
    if (cert_der != NULL && (cert.raw.len != cert_len || memcmp(cert.raw.p, cert_der, cert_len))) {
        snprintf(err, errlen, "certificate_pem is not the certificate given as DER");
        rc = CL_ERR_INVALID_ARGUMENT;
        goto out;
    }
    {
        const unsigned char *p = cert.serial.p;
        size_t n = cert.serial.len;
        while (n > 1 && p[0] == 0) {
            p++;
            n--;
        }
        serial[0] = '\0';
        if (n >= 1 && n <= CL_SERIAL_HEX_MAX / 2)
            for (size_t i = 0; i < n; i++)
                snprintf(serial + 2 * i, 3, "%02X", p[i]);
    }
    if (strcmp(serial, f->serial_hex) != 0) {
        snprintf(err, errlen, "the certificate's serial is not %s", f->serial_hex);
        goto out;
    }
    subject_attr(&cert, MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN), cn, sizeof(cn));
    subject_attr(&cert, MBEDTLS_OID_AT_SERIAL_NUMBER,
                 MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_SERIAL_NUMBER), number, sizeof(number));
    if (strcmp(cn, f->device_number) != 0 || strcmp(number, f->device_number) != 0) {
        snprintf(err, errlen, "the certificate is not issued for device number %s",
                 f->device_number);
        goto out;
    }
    {
        mbedtls_pk_type_t type = mbedtls_pk_get_type(&cert.pk);
        size_t bits = mbedtls_pk_get_bitlen(&cert.pk);
        const mbedtls_ecp_keypair *ec = type == MBEDTLS_PK_ECKEY ? mbedtls_pk_ec(cert.pk) : NULL;
        int ok = strcmp(f->key_type, "p256") == 0
                     ? (ec != NULL && ec->grp.id == MBEDTLS_ECP_DP_SECP256R1)
                     : (type == MBEDTLS_PK_RSA &&
                        bits == (strcmp(f->key_type, "rsa2048") == 0 ? 2048u : 3072u));
        if (!ok) {
            snprintf(err, errlen, "the certificate's key is not of key_type %s", f->key_type);
            goto out;
        }
    }
    rc = CL_OK;
out:
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&cert);
    return rc;
}

/* "certline-pack-v1" NUL device_number NUL serial_hex; returns its length, 0 if too long. */
static size_t build_aad(const char *device_number, const char *serial_hex,
                        unsigned char aad[AAD_MAX])
{
    size_t a = sizeof(AAD_LABEL), d = strlen(device_number), s = strlen(serial_hex);

    if (a + d + 1 + s > AAD_MAX)
        return 0;
    memcpy(aad, AAD_LABEL, a); /* with its NUL */
    memcpy(aad + a, device_number, d + 1);
    memcpy(aad + a + d + 1, serial_hex, s);
    return a + d + 1 + s;
}

/* ---- build ---- */

static int add_string(cJSON *obj, const char *name, const char *value)
{
    return cJSON_AddStringToObject(obj, name, value) != NULL ? CL_OK : CL_ERR_NOMEM;
}

int cl_packi_emit(const struct cl_pack_contents *contents, int version,
                  const unsigned char *cert_der, size_t cert_len, const unsigned char *sealed,
                  size_t sealed_len, const char *device_value, char **pack_json)
{
    char err[200], *b64 = NULL, *text = NULL;
    size_t b64_len;
    cJSON *obj = NULL;
    int rc;

    const struct fields f = {contents->device_number,  contents->model_code, contents->serial_hex,
                             contents->key_type,       contents->key_id,     contents->chain_pem,
                             contents->certificate_pem};
    if ((rc = check_fields(&f, cert_der, cert_len, err, sizeof(err))) != CL_OK) {
        cl_log_warn("pack refused: %s", err);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (sealed_len < SEALED_MIN || sealed_len > SEALED_MAX) {
        cl_log_warn("pack for %s refused: its sealed key is %zu bytes", contents->device_number,
                    sealed_len);
        return CL_ERR_INVALID_ARGUMENT;
    }
    b64_len = 4 * ((sealed_len + 2) / 3) + 1;
    if ((b64 = malloc(b64_len)) == NULL)
        return CL_ERR_NOMEM;
    rc = CL_ERR_CRYPTO;
    if (mbedtls_base64_encode((unsigned char *)b64, b64_len, &b64_len, sealed, sealed_len) != 0)
        goto out;
    rc = CL_ERR_NOMEM;
    if ((obj = cJSON_CreateObject()) == NULL || add_string(obj, "format", PACK_FORMAT) ||
        cJSON_AddNumberToObject(obj, "version", version) == NULL ||
        add_string(obj, "device_number", contents->device_number) ||
        add_string(obj, "model_code", contents->model_code) ||
        add_string(obj, "serial", contents->serial_hex) ||
        add_string(obj, "key_type", contents->key_type) ||
        add_string(obj, "key_id", contents->key_id) ||
        add_string(obj, "chain_pem", contents->chain_pem) ||
        add_string(obj, "certificate_pem", contents->certificate_pem) ||
        add_string(obj, "sealed_key", b64) || add_string(obj, "device_value", device_value) ||
        (text = cJSON_PrintUnformatted(obj)) == NULL)
        goto out;
    if (strlen(text) > CL_PACK_MAX_BYTES) {
        cl_log_warn("pack for %s refused: it would be larger than %d bytes",
                    contents->device_number, CL_PACK_MAX_BYTES);
        rc = CL_ERR_TOO_LARGE;
        goto out;
    }
    *pack_json = text;
    text = NULL;
    rc = CL_OK;
out:
    free(b64);
    free(text);
    cJSON_Delete(obj);
    return rc;
}

int cl_packi_contents_ok(const struct cl_pack_contents *c)
{
    return c != NULL && c->device_number != NULL && c->model_code != NULL &&
           c->serial_hex != NULL && c->key_type != NULL && c->key_id != NULL &&
           c->chain_pem != NULL && c->certificate_pem != NULL;
}

int cl_pack_build(const struct cl_pack_contents *contents, const unsigned char *cert_der,
                  size_t cert_len, const unsigned char *key_der, size_t key_len,
                  const unsigned char prewrite_key[CL_PREWRITE_KEY_BYTES], char **pack_json,
                  char server_value[CL_VERIFY_HEX + 1])
{
    unsigned char aad[AAD_MAX], *sealed = NULL;
    char device_value[CL_VERIFY_HEX + 1];
    size_t aad_len, sealed_len;
    mbedtls_gcm_context gcm;
    int rc;

    if (pack_json != NULL)
        *pack_json = NULL;
    if (server_value != NULL)
        server_value[0] = '\0';
    if (!cl_packi_contents_ok(contents) || pack_json == NULL || server_value == NULL ||
        prewrite_key == NULL || cert_der == NULL || key_der == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (cert_len == 0 || cert_len > CERT_DER_MAX || key_len == 0 || key_len > KEY_DER_MAX) {
        cl_log_warn("pack for %.31s refused: certificate or key size out of bounds",
                    contents->device_number);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_device_number_valid(contents->device_number) ||
        !cl_serial_hex_valid(contents->serial_hex)) {
        cl_log_warn("pack refused: device_number or serial malformed");
        return CL_ERR_INVALID_ARGUMENT;
    }

    /* Seal the key: iv || ciphertext || tag. */
    aad_len = build_aad(contents->device_number, contents->serial_hex, aad);
    sealed_len = IV_LEN + key_len + TAG_LEN;
    if ((sealed = malloc(sealed_len)) == NULL)
        return CL_ERR_NOMEM;
    mbedtls_gcm_init(&gcm);
    rc = CL_ERR_CRYPTO;
    if (aad_len == 0 || cl_random_bytes(sealed, IV_LEN) != CL_OK ||
        mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, prewrite_key, 256) != 0 ||
        mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, key_len, sealed, IV_LEN, aad, aad_len,
                                  key_der, sealed + IV_LEN, TAG_LEN,
                                  sealed + IV_LEN + key_len) != 0)
        goto out;
    cl_verify_value(CL_VERIFY_DEVICE, contents->device_number, contents->serial_hex, cert_der,
                    cert_len, key_der, key_len, device_value);
    rc =
        cl_packi_emit(contents, 1, cert_der, cert_len, sealed, sealed_len, device_value, pack_json);
    if (rc == CL_OK)
        cl_verify_value(CL_VERIFY_SERVER, contents->device_number, contents->serial_hex, cert_der,
                        cert_len, key_der, key_len, server_value);
out:
    mbedtls_gcm_free(&gcm);
    free(sealed);
    return rc;
}

/* ---- parse ---- */

static const char *const known_fields[] = {
    "format", "version",   "device_number",   "model_code", "serial",       "key_type",
    "key_id", "chain_pem", "certificate_pem", "sealed_key", "device_value",
};

/* The string member name of obj into out (bounded by cap - 1 characters). */
static int get_string(const cJSON *obj, const char *name, size_t max, const char **out, char *err,
                      size_t errlen)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (item == NULL) {
        snprintf(err, errlen, "missing field %s", name);
        return CL_ERR_PARSE;
    }
    if (!cJSON_IsString(item) || item->valuestring == NULL) {
        snprintf(err, errlen, "field %s must be a string", name);
        return CL_ERR_PARSE;
    }
    if (strlen(item->valuestring) > max) {
        snprintf(err, errlen, "field %s is longer than %zu characters", name, max);
        return CL_ERR_PARSE;
    }
    *out = item->valuestring;
    return CL_OK;
}

static int parse_object(const cJSON *obj, struct cl_pack *pack, char *err, size_t errlen)
{
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(obj, "version");
    const char *format, *device_number, *model_code, *serial, *key_type, *key_id, *chain, *cert,
        *sealed, *device_value;
    struct fields f;
    size_t sealed_len = 0, b64_len;
    int rc;

    /* The version first: a newer pack is refused for its version, not for its new fields. */
    if (version == NULL) {
        snprintf(err, errlen, "missing field version");
        return CL_ERR_PARSE;
    }
    /* In range first (NaN fails both comparisons): converting an out-of-range double to int is
     * undefined behaviour. */
    if (!cJSON_IsNumber(version) ||
        !(version->valuedouble >= 0 && version->valuedouble <= 1000000) ||
        version->valuedouble != (double)(int)version->valuedouble) {
        snprintf(err, errlen, "field version must be an integer");
        return CL_ERR_PARSE;
    }
    if (version->valueint != 1 && version->valueint != CL_PACK_VERSION) {
        snprintf(err, errlen, "unsupported pack version %d (this build reads versions 1 and %d)",
                 version->valueint, CL_PACK_VERSION);
        return CL_ERR_PARSE;
    }
    for (const cJSON *m = obj->child; m != NULL; m = m->next) {
        size_t k;
        for (k = 0; k < sizeof(known_fields) / sizeof(known_fields[0]); k++)
            if (m->string != NULL && strcmp(m->string, known_fields[k]) == 0)
                break;
        if (k == sizeof(known_fields) / sizeof(known_fields[0])) {
            snprintf(err, errlen, "unknown field \"%.40s\"", m->string ? m->string : "");
            return CL_ERR_PARSE;
        }
        for (const cJSON *o = obj->child; o != m; o = o->next)
            if (strcmp(o->string, m->string) == 0) {
                snprintf(err, errlen, "field %s appears twice", m->string);
                return CL_ERR_PARSE;
            }
    }
    if ((rc = get_string(obj, "format", 32, &format, err, errlen)) != CL_OK ||
        (rc = get_string(obj, "device_number", sizeof(pack->device_number) - 1, &device_number, err,
                         errlen)) != CL_OK ||
        (rc = get_string(obj, "model_code", sizeof(pack->model_code) - 1, &model_code, err,
                         errlen)) != CL_OK ||
        (rc = get_string(obj, "serial", CL_SERIAL_HEX_MAX, &serial, err, errlen)) != CL_OK ||
        (rc = get_string(obj, "key_type", sizeof(pack->key_type) - 1, &key_type, err, errlen)) !=
            CL_OK ||
        (rc = get_string(obj, "key_id", CL_KEY_ID_MAX, &key_id, err, errlen)) != CL_OK ||
        (rc = get_string(obj, "chain_pem", CHAIN_PEM_MAX, &chain, err, errlen)) != CL_OK ||
        (rc = get_string(obj, "certificate_pem", CERT_PEM_MAX, &cert, err, errlen)) != CL_OK ||
        (rc = get_string(obj, "sealed_key", SEALED_B64_MAX, &sealed, err, errlen)) != CL_OK ||
        (rc = get_string(obj, "device_value", CL_VERIFY_HEX, &device_value, err, errlen)) != CL_OK)
        return rc;
    if (strcmp(format, PACK_FORMAT) != 0) {
        snprintf(err, errlen, "field format must be \"%s\"", PACK_FORMAT);
        return CL_ERR_PARSE;
    }
    if (!valid_verify_hex(device_value)) {
        snprintf(err, errlen, "device_value must be %d lower-case hex digits", CL_VERIFY_HEX);
        return CL_ERR_PARSE;
    }
    b64_len = strlen(sealed);
    if (!valid_base64(sealed, b64_len) ||
        mbedtls_base64_decode(NULL, 0, &sealed_len, (const unsigned char *)sealed, b64_len) !=
            MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL ||
        sealed_len < SEALED_MIN || sealed_len > SEALED_MAX ||
        (version->valueint == 2 && sealed_len % 8 != 0)) {
        snprintf(err, errlen, "sealed_key must be base64 of %d to %d bytes%s", SEALED_MIN,
                 SEALED_MAX, version->valueint == 2 ? ", a multiple of 8" : "");
        return CL_ERR_PARSE;
    }
    f = (struct fields){device_number, model_code, serial, key_type, key_id, chain, cert};
    if ((rc = check_fields(&f, NULL, 0, err, errlen)) != CL_OK)
        return rc;

    pack->version = version->valueint;
    strcpy(pack->device_number, device_number);
    strcpy(pack->model_code, model_code);
    strcpy(pack->serial_hex, serial);
    strcpy(pack->key_type, key_type);
    strcpy(pack->key_id, key_id);
    strcpy(pack->device_value, device_value);
    if ((pack->chain_pem = strdup(chain)) == NULL ||
        (pack->certificate_pem = strdup(cert)) == NULL ||
        (pack->sealed_key = malloc(sealed_len)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    if (mbedtls_base64_decode(pack->sealed_key, sealed_len, &pack->sealed_key_len,
                              (const unsigned char *)sealed, b64_len) != 0) {
        snprintf(err, errlen, "sealed_key is not valid base64");
        return CL_ERR_PARSE;
    }
    return CL_OK;
}

int cl_pack_parse(const char *json, struct cl_pack *pack, char *err, size_t errlen)
{
    const char *end = NULL;
    char dummy[8];
    cJSON *root;
    size_t len;
    int rc;

    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (pack == NULL || json == NULL) {
        snprintf(err, errlen, "no pack");
        return CL_ERR_INVALID_ARGUMENT;
    }
    memset(pack, 0, sizeof(*pack));
    len = strnlen(json, (size_t)CL_PACK_MAX_BYTES + 1);
    if (len > CL_PACK_MAX_BYTES) {
        snprintf(err, errlen, "pack is larger than %d bytes", CL_PACK_MAX_BYTES);
        return CL_ERR_TOO_LARGE;
    }
    if (cl_json_has_nul_escape(json, len)) {
        snprintf(err, errlen, "pack holds \\u0000 in a string");
        return CL_ERR_PARSE;
    }
    root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root == NULL) {
        size_t at = end != NULL && end >= json ? (size_t)(end - json) : 0;
        snprintf(err, errlen, "pack is not JSON (error near byte %zu)", at);
        return CL_ERR_PARSE;
    }
    for (const char *p = end; p != NULL && p < json + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            snprintf(err, errlen, "pack has text after its JSON object");
            cJSON_Delete(root);
            return CL_ERR_PARSE;
        }
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "pack is not a JSON object");
        rc = CL_ERR_PARSE;
    } else {
        rc = parse_object(root, pack, err, errlen);
    }
    cJSON_Delete(root);
    if (rc != CL_OK)
        cl_pack_free(pack);
    return rc;
}

void cl_pack_free(struct cl_pack *pack)
{
    if (pack == NULL)
        return;
    free(pack->chain_pem);
    free(pack->certificate_pem);
    free(pack->sealed_key);
    memset(pack, 0, sizeof(*pack));
}

/* ---- open ---- */

int cl_pack_open_key(const struct cl_pack *pack,
                     const unsigned char prewrite_key[CL_PREWRITE_KEY_BYTES],
                     unsigned char **key_der, size_t *key_len)
{
    unsigned char aad[AAD_MAX], *out;
    size_t aad_len, ct_len;
    mbedtls_gcm_context gcm;
    int ret;

    if (key_der != NULL)
        *key_der = NULL;
    if (key_len != NULL)
        *key_len = 0;
    if (pack == NULL || prewrite_key == NULL || key_der == NULL || key_len == NULL ||
        pack->sealed_key == NULL || pack->sealed_key_len < SEALED_MIN ||
        pack->sealed_key_len > SEALED_MAX ||
        memchr(pack->device_number, '\0', sizeof(pack->device_number)) == NULL ||
        memchr(pack->serial_hex, '\0', sizeof(pack->serial_hex)) == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (pack->version == 2) /* RFC 5649 key wrap of the PKCS#8 key (PACK.md) */
        return cl_kwp_unwrap(prewrite_key, CL_PREWRITE_KEY_BYTES, pack->sealed_key,
                             pack->sealed_key_len, key_der, key_len);
    aad_len = build_aad(pack->device_number, pack->serial_hex, aad);
    if (aad_len == 0)
        return CL_ERR_INVALID_ARGUMENT;
    ct_len = pack->sealed_key_len - IV_LEN - TAG_LEN;
    if ((out = malloc(ct_len)) == NULL)
        return CL_ERR_NOMEM;
    mbedtls_gcm_init(&gcm);
    ret = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, prewrite_key, 256);
    if (ret == 0)
        ret = mbedtls_gcm_auth_decrypt(&gcm, ct_len, pack->sealed_key, IV_LEN, aad, aad_len,
                                       pack->sealed_key + IV_LEN + ct_len, TAG_LEN,
                                       pack->sealed_key + IV_LEN, out);
    mbedtls_gcm_free(&gcm);
    if (ret != 0) {
        mbedtls_platform_zeroize(out, ct_len); /* auth_decrypt wipes too; never hand it out */
        free(out);
        return CL_ERR_CRYPTO;
    }
    *key_der = out;
    *key_len = ct_len;
    return CL_OK;
}
