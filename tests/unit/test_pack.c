/* test_pack.c: a pack built by ca-server parses back field for field, opens on the device to the
 * very key that matches its certificate, and follows the layout PACK.md documents (checked with
 * an independent AES-GCM decryption and SHA-256 computation); tampering with the device number,
 * serial, IV, ciphertext, tag or pre-write key gives CL_ERR_CRYPTO; the parser refuses oversize,
 * wrong version, missing, mistyped, over-long, unknown, duplicate and malformed fields and text
 * that is not JSON; no private key appears in the pack text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <mbedtls/gcm.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "error.h"
#include "keyfile.h"
#include "log.h"
#include "input_check.h"
#include "pack.h"
#include "x509_issue.h"

#define ORG "certline test"

struct device {
    struct cl_issued issued;
    char *cert_pem;
    char *pack;
    char server_value[CL_VERIFY_HEX + 1];
};

static struct cl_issued root, issuing;
static struct cl_signer *signer;
static char *chain_pem; /* issuing then root */
static unsigned char prewrite[CL_PREWRITE_KEY_BYTES];
static struct device dev1, dev2;
static time_t now;

static struct cl_pack_contents contents_of(const struct device *d, const char *number,
                                           const char *key_type)
{
    return (struct cl_pack_contents){
        .device_number = number,
        .model_code = "3012",
        .serial_hex = d->issued.serial_hex,
        .key_type = key_type,
        .chain_pem = chain_pem,
        .certificate_pem = d->cert_pem,
        .key_id = "3012-1A2B3C4D",
    };
}

static int make_device(struct device *d, const char *number, enum cl_key_type type)
{
    char serial[CL_SERIAL_HEX_MAX + 1];
    struct cl_pack_contents c;

    if (cl_serial_random(serial) != CL_OK ||
        cl_issue_device(signer, number, "3012", type, serial, now, 365, &d->issued) != CL_OK ||
        cl_cert_der_to_pem(d->issued.cert_der, d->issued.cert_len, &d->cert_pem) != CL_OK)
        return -1;
    c = contents_of(d, number, cl_key_type_name(type));
    return cl_pack_build(&c, d->issued.cert_der, d->issued.cert_len, d->issued.key_der,
                         d->issued.key_len, prewrite, &d->pack, d->server_value) == CL_OK
               ? 0
               : -1;
}

static void free_device(struct device *d)
{
    cl_issued_free(&d->issued);
    free(d->cert_pem);
    free(d->pack);
    memset(d, 0, sizeof(*d));
}

static int group_setup(void **state)
{
    char err[256], *root_pem = NULL, *issuing_pem = NULL;
    (void)state;

    cl_log_set_level(CL_LOG_ERROR);
    now = time(NULL) - 60;
    if (cl_issue_ca_pair(ORG, now, 3650, 1825, &root, &issuing) != CL_OK ||
        cl_signer_new(issuing.cert_der, issuing.cert_len, issuing.key_der, issuing.key_len, ORG,
                      &signer, err, sizeof(err)) != CL_OK ||
        cl_cert_der_to_pem(root.cert_der, root.cert_len, &root_pem) != CL_OK ||
        cl_cert_der_to_pem(issuing.cert_der, issuing.cert_len, &issuing_pem) != CL_OK)
        return -1;
    chain_pem = malloc(strlen(root_pem) + strlen(issuing_pem) + 1);
    if (chain_pem == NULL)
        return -1;
    strcpy(chain_pem, issuing_pem);
    strcat(chain_pem, root_pem);
    free(root_pem);
    free(issuing_pem);
    if (cl_random_bytes(prewrite, sizeof(prewrite)) != CL_OK ||
        make_device(&dev1, "3012-000001", CL_KEY_P256) != 0 ||
        make_device(&dev2, "3012-000002", CL_KEY_P256) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free_device(&dev1);
    free_device(&dev2);
    cl_signer_free(signer);
    cl_issued_free(&root);
    cl_issued_free(&issuing);
    free(chain_pem);
    return 0;
}

/* ---- helpers ---- */

static void parse_ok(const char *json, struct cl_pack *pack)
{
    char err[256] = "";
    int rc = cl_pack_parse(json, pack, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("cl_pack_parse: %s (%s)", cl_err_name(rc), err);
}

/* The pack of dev1 with field replaced by value (a cJSON item, consumed), or removed (NULL). */
static char *mutate(const char *field, cJSON *value)
{
    cJSON *obj = cJSON_Parse(dev1.pack);
    char *text;
    assert_non_null(obj);
    if (value == NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(obj, field);
    else if (cJSON_GetObjectItemCaseSensitive(obj, field) != NULL)
        assert_true(cJSON_ReplaceItemInObjectCaseSensitive(obj, field, value));
    else
        assert_true(cJSON_AddItemToObject(obj, field, value));
    text = cJSON_PrintUnformatted(obj);
    assert_non_null(text);
    cJSON_Delete(obj);
    return text;
}

/* json must be refused with code, and err must mention needle; the pack is left empty. */
static void expect_refused(const char *json, int code, const char *needle)
{
    struct cl_pack pack;
    char err[256] = "";

    memset(&pack, 0x5a, sizeof(pack));
    int rc = cl_pack_parse(json, &pack, err, sizeof(err));
    if (rc != code)
        fail_msg("expected %s, got %s (%s)", cl_err_name(code), cl_err_name(rc), err);
    if (needle != NULL && strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
    assert_null(pack.chain_pem);
    assert_null(pack.certificate_pem);
    assert_null(pack.sealed_key);
}

static void expect_field_refused(const char *field, cJSON *value, const char *needle)
{
    char *json = mutate(field, value);
    expect_refused(json, CL_ERR_PARSE, needle);
    free(json);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* The documented verification value, computed here from PACK.md's definition. */
static void documented_value(const char *tag, const char *number, const char *serial,
                             const struct cl_issued *is, char out[CL_VERIFY_HEX + 1])
{
    unsigned char buf[8192], hash[32];
    size_t n = 0;

    memcpy(buf + n, tag, strlen(tag) + 1);
    n += strlen(tag) + 1;
    memcpy(buf + n, number, strlen(number) + 1);
    n += strlen(number) + 1;
    memcpy(buf + n, serial, strlen(serial) + 1);
    n += strlen(serial) + 1;
    buf[n++] = (unsigned char)(is->cert_len >> 24);
    buf[n++] = (unsigned char)(is->cert_len >> 16);
    buf[n++] = (unsigned char)(is->cert_len >> 8);
    buf[n++] = (unsigned char)is->cert_len;
    memcpy(buf + n, is->cert_der, is->cert_len);
    n += is->cert_len;
    buf[n++] = (unsigned char)(is->key_len >> 24);
    buf[n++] = (unsigned char)(is->key_len >> 16);
    buf[n++] = (unsigned char)(is->key_len >> 8);
    buf[n++] = (unsigned char)is->key_len;
    memcpy(buf + n, is->key_der, is->key_len);
    n += is->key_len;
    assert_true(n < sizeof(buf));
    assert_int_equal(mbedtls_sha256_ret(buf, n, hash, 0), 0);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", hash[i]);
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
    struct cl_pack pack;
    unsigned char *key = NULL;
    size_t key_len = 0;
    mbedtls_x509_crt crt;
    mbedtls_pk_context pk;
    (void)state;

    parse_ok(dev1.pack, &pack);
    assert_int_equal(pack.version, CL_PACK_VERSION);
    assert_string_equal(pack.device_number, "3012-000001");
    assert_string_equal(pack.model_code, "3012");
    assert_string_equal(pack.serial_hex, dev1.issued.serial_hex);
    assert_string_equal(pack.key_type, "p256");
    assert_string_equal(pack.key_id, "3012-1A2B3C4D");
    assert_string_equal(pack.chain_pem, chain_pem);
    assert_string_equal(pack.certificate_pem, dev1.cert_pem);
    assert_int_equal(pack.sealed_key_len, 12 + dev1.issued.key_len + 16);

    assert_int_equal(cl_pack_open_key(&pack, prewrite, &key, &key_len), CL_OK);
    assert_int_equal(key_len, dev1.issued.key_len);
    assert_memory_equal(key, dev1.issued.key_der, key_len);

    /* the opened key belongs to the certificate in the pack */
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&pk);
    assert_int_equal(mbedtls_x509_crt_parse(&crt, (const unsigned char *)pack.certificate_pem,
                                            strlen(pack.certificate_pem) + 1),
                     0);
    assert_int_equal(mbedtls_pk_parse_key(&pk, key, key_len, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_check_pair(&crt.pk, &pk), 0);

    /* the device value in the pack is the one the device computes after writing */
    char value[CL_VERIFY_HEX + 1];
    cl_verify_value_device(pack.device_number, pack.serial_hex, crt.raw.p, crt.raw.len, key,
                           key_len, value);
    assert_string_equal(pack.device_value, value);
    /* and the server value is what the device sends as proof */
    cl_verify_value_server(pack.device_number, pack.serial_hex, crt.raw.p, crt.raw.len, key,
                           key_len, value);
    assert_string_equal(dev1.server_value, value);
    assert_string_not_equal(dev1.server_value, pack.device_value);

    mbedtls_pk_free(&pk);
    mbedtls_x509_crt_free(&crt);
    cl_secret_free(key, key_len);
    cl_pack_free(&pack);
    cl_pack_free(&pack); /* a freed pack can be freed again */
    cl_pack_free(NULL);
}

static void test_documented_layout(void **state)
{
    struct cl_pack pack;
    unsigned char aad[128], plain[4096];
    char expected[CL_VERIFY_HEX + 1];
    mbedtls_gcm_context gcm;
    size_t aad_len = 0, ct_len;
    cJSON *obj;
    (void)state;

    parse_ok(dev1.pack, &pack);
    /* AES-256-GCM: iv (12) || ciphertext || tag (16); AAD "certline-pack-v1" NUL number NUL
     * serial */
    memcpy(aad, "certline-pack-v1", 17);
    aad_len = 17;
    memcpy(aad + aad_len, "3012-000001", 12);
    aad_len += 12;
    memcpy(aad + aad_len, dev1.issued.serial_hex, strlen(dev1.issued.serial_hex));
    aad_len += strlen(dev1.issued.serial_hex);
    ct_len = pack.sealed_key_len - 28;
    mbedtls_gcm_init(&gcm);
    assert_int_equal(mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, prewrite, 256), 0);
    assert_int_equal(mbedtls_gcm_auth_decrypt(&gcm, ct_len, pack.sealed_key, 12, aad, aad_len,
                                              pack.sealed_key + 12 + ct_len, 16,
                                              pack.sealed_key + 12, plain),
                     0);
    mbedtls_gcm_free(&gcm);
    assert_int_equal(ct_len, dev1.issued.key_len);
    assert_memory_equal(plain, dev1.issued.key_der, ct_len);
    memset(plain, 0, sizeof(plain));

    /* the two values, from their definitions */
    documented_value("certline device-check v1", "3012-000001", dev1.issued.serial_hex,
                     &dev1.issued, expected);
    assert_string_equal(pack.device_value, expected);
    documented_value("certline install-proof v1", "3012-000001", dev1.issued.serial_hex,
                     &dev1.issued, expected);
    assert_string_equal(dev1.server_value, expected);

    /* the JSON members and their types */
    obj = cJSON_Parse(dev1.pack);
    assert_non_null(obj);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(obj, "format")->valuestring,
                        "certline-pack");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(obj, "version")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(obj, "version")->valueint, 1);
    assert_int_equal(cJSON_GetArraySize(obj), 11);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(obj, "serial")->valuestring,
                        dev1.issued.serial_hex);
    cJSON_Delete(obj);
    cl_pack_free(&pack);
}

static void test_no_private_key_in_text(void **state)
{
    unsigned char b64[512];
    size_t n = 0;
    (void)state;

    assert_null(strstr(dev1.pack, "PRIVATE KEY"));
    assert_null(strstr(dev1.pack, "BEGIN EC"));
    assert_null(strstr(dev1.pack, "BEGIN RSA"));
    /* nor the key DER in base64 (any 24-character window of it) */
    assert_int_equal(
        mbedtls_base64_encode(b64, sizeof(b64), &n, dev1.issued.key_der, dev1.issued.key_len), 0);
    for (size_t i = 0; i + 24 <= n; i += 4) {
        char window[25];
        memcpy(window, b64 + i, 24);
        window[24] = '\0';
        assert_null(strstr(dev1.pack, window));
    }
}

static void expect_no_key(const struct cl_pack *pack, const unsigned char *key_bytes)
{
    unsigned char *key = (unsigned char *)"x";
    size_t len = 99;
    assert_int_equal(cl_pack_open_key(pack, key_bytes, &key, &len), CL_ERR_CRYPTO);
    assert_null(key);
    assert_int_equal(len, 0);
}

static void test_tampering(void **state)
{
    struct cl_pack pack, other;
    unsigned char wrong[CL_PREWRITE_KEY_BYTES];
    char err[256];
    (void)state;

    parse_ok(dev1.pack, &pack);
    /* another device number */
    strcpy(pack.device_number, "3012-000002");
    expect_no_key(&pack, prewrite);
    strcpy(pack.device_number, "3012-000001");
    /* another serial (one hex digit) */
    pack.serial_hex[5] = pack.serial_hex[5] == 'A' ? 'B' : 'A';
    expect_no_key(&pack, prewrite);
    strcpy(pack.serial_hex, dev1.issued.serial_hex);
    /* IV, first and last ciphertext bytes, tag */
    size_t positions[] = {
        0, 11, 12, pack.sealed_key_len - 17, pack.sealed_key_len - 16, pack.sealed_key_len - 1};
    for (size_t i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
        pack.sealed_key[positions[i]] ^= 0x01;
        expect_no_key(&pack, prewrite);
        pack.sealed_key[positions[i]] ^= 0x01;
    }
    /* shortened by one byte */
    pack.sealed_key_len--;
    expect_no_key(&pack, prewrite);
    pack.sealed_key_len++;
    /* the wrong pre-write key (one bit off) */
    memcpy(wrong, prewrite, sizeof(wrong));
    wrong[31] ^= 0x80;
    expect_no_key(&pack, wrong);
    /* another pack's sealed key moved into this pack */
    parse_ok(dev2.pack, &other);
    unsigned char *saved = pack.sealed_key;
    size_t saved_len = pack.sealed_key_len;
    pack.sealed_key = other.sealed_key;
    pack.sealed_key_len = other.sealed_key_len;
    expect_no_key(&pack, prewrite);
    pack.sealed_key = saved;
    pack.sealed_key_len = saved_len;
    /* untouched, it still opens */
    unsigned char *key = NULL;
    size_t len = 0;
    assert_int_equal(cl_pack_open_key(&pack, prewrite, &key, &len), CL_OK);
    cl_secret_free(key, len);
    assert_int_equal(cl_pack_open_key(NULL, prewrite, &key, &len), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_pack_open_key(&pack, NULL, &key, &len), CL_ERR_INVALID_ARGUMENT);
    cl_pack_free(&other);
    cl_pack_free(&pack);

    /* in the JSON: another device number no longer matches the certificate */
    char *json = mutate("device_number", cJSON_CreateString("3012-000002"));
    expect_refused(json, CL_ERR_PARSE, "not issued for device number 3012-000002");
    free(json);
    /* another serial does not match the certificate either */
    json = mutate("serial", cJSON_CreateString(dev2.issued.serial_hex));
    expect_refused(json, CL_ERR_PARSE, "serial");
    free(json);
    /* one base64 character of the sealed key changed: parses, does not open */
    {
        cJSON *obj = cJSON_Parse(dev1.pack);
        char *sealed = strdup(cJSON_GetObjectItemCaseSensitive(obj, "sealed_key")->valuestring);
        sealed[20] = sealed[20] == 'A' ? 'B' : 'A';
        cJSON_Delete(obj);
        json = mutate("sealed_key", cJSON_CreateString(sealed));
        free(sealed);
        assert_int_equal(cl_pack_parse(json, &pack, err, sizeof(err)), CL_OK);
        expect_no_key(&pack, prewrite);
        cl_pack_free(&pack);
        free(json);
    }
}

static void test_parse_refusals(void **state)
{
    static const char *const fields[] = {
        "format", "version",   "device_number",   "model_code", "serial",       "key_type",
        "key_id", "chain_pem", "certificate_pem", "sealed_key", "device_value",
    };
    struct cl_pack pack;
    char *json, *big, err[256];
    (void)state;

    /* size: the limit itself is fine (trailing whitespace), one byte more is not */
    big = malloc(CL_PACK_MAX_BYTES + 2);
    assert_non_null(big);
    memset(big, ' ', CL_PACK_MAX_BYTES + 1);
    memcpy(big, dev1.pack, strlen(dev1.pack));
    big[CL_PACK_MAX_BYTES] = '\0';
    assert_int_equal(cl_pack_parse(big, &pack, err, sizeof(err)), CL_OK);
    cl_pack_free(&pack);
    big[CL_PACK_MAX_BYTES] = ' ';
    big[CL_PACK_MAX_BYTES + 1] = '\0';
    expect_refused(big, CL_ERR_TOO_LARGE, "larger than 32768");
    free(big);

    /* version */
    expect_field_refused("version", cJSON_CreateNumber(2), "unsupported pack version 2");
    expect_field_refused("version", cJSON_CreateNumber(0), "unsupported pack version 0");
    expect_field_refused("version", cJSON_CreateNumber(1.5), "version must be an integer");
    expect_field_refused("version", cJSON_CreateString("1"), "version must be an integer");
    /* a newer pack is refused for its version even if it has fields this build does not know */
    {
        cJSON *obj = cJSON_Parse(dev1.pack);
        cJSON_ReplaceItemInObjectCaseSensitive(obj, "version", cJSON_CreateNumber(2));
        cJSON_AddStringToObject(obj, "new_field", "x");
        json = cJSON_PrintUnformatted(obj);
        cJSON_Delete(obj);
        expect_refused(json, CL_ERR_PARSE, "unsupported pack version 2");
        free(json);
    }

    /* every field: missing, and of the wrong type */
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char needle[64];
        snprintf(needle, sizeof(needle), "missing field %s", fields[i]);
        expect_field_refused(fields[i], NULL, needle);
        if (strcmp(fields[i], "version") != 0) {
            snprintf(needle, sizeof(needle), "field %s must be a string", fields[i]);
            expect_field_refused(fields[i], cJSON_CreateNumber(5), needle);
            expect_field_refused(fields[i], cJSON_CreateObject(), needle);
            expect_field_refused(fields[i], cJSON_CreateNull(), needle);
        }
    }

    /* over-long fields */
    char *s = repeat('1', 32);
    expect_field_refused("device_number", cJSON_CreateString(s), "device_number is longer");
    free(s);
    s = repeat('1', 16);
    expect_field_refused("model_code", cJSON_CreateString(s), "model_code is longer");
    free(s);
    s = repeat('A', 65);
    expect_field_refused("key_id", cJSON_CreateString(s), "key_id is longer");
    free(s);
    s = repeat('7', 42);
    expect_field_refused("serial", cJSON_CreateString(s), "serial is longer");
    free(s);
    s = repeat('a', 16385);
    expect_field_refused("chain_pem", cJSON_CreateString(s), "chain_pem is longer");
    free(s);
    s = repeat('a', 8193);
    expect_field_refused("certificate_pem", cJSON_CreateString(s), "certificate_pem is longer");
    free(s);
    s = repeat('A', 4200);
    expect_field_refused("sealed_key", cJSON_CreateString(s), "sealed_key is longer");
    free(s);

    /* bad values */
    expect_field_refused("format", cJSON_CreateString("other-pack"), "format must be");
    expect_field_refused("device_number", cJSON_CreateString("3012 1"), "device_number must be");
    expect_field_refused("model_code", cJSON_CreateString(""), "model_code must be");
    expect_field_refused("serial", cJSON_CreateString("abcdef"), "serial must be");
    expect_field_refused("serial", cJSON_CreateString("00AB"), "serial must be");
    expect_field_refused("key_type", cJSON_CreateString("rsa4096"), "key_type must be");
    expect_field_refused("key_type", cJSON_CreateString("rsa2048"), "not of key_type rsa2048");
    expect_field_refused("key_id", cJSON_CreateString("a b"), "key_id must be");
    s = repeat('A', 64);
    expect_field_refused("device_value", cJSON_CreateString(s), "device_value must be");
    free(s);
    expect_field_refused("device_value", cJSON_CreateString("abc"), "device_value must be");
    /* base64 */
    expect_field_refused("sealed_key", cJSON_CreateString("!!!!"), "sealed_key must be base64");
    expect_field_refused("sealed_key", cJSON_CreateString("QUJDRA="), "sealed_key must be base64");
    expect_field_refused("sealed_key", cJSON_CreateString("QUJD QUJD"),
                         "sealed_key must be base64");
    expect_field_refused("sealed_key", cJSON_CreateString("QU=D"), "sealed_key must be base64");
    expect_field_refused("sealed_key", cJSON_CreateString("QUJD"), "sealed_key must be base64");
    expect_field_refused("sealed_key", cJSON_CreateString(""), "sealed_key must be base64");
    /* certificates: a key hidden in a PEM field, two certificates, none, garbage */
    {
        size_t n = strlen(dev1.cert_pem);
        char *with_key = malloc(n + 200);
        strcpy(with_key, dev1.cert_pem);
        strcat(with_key, "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE "
                         "KEY-----\n");
        expect_field_refused("certificate_pem", cJSON_CreateString(with_key), "certificate_pem");
        expect_field_refused("chain_pem", cJSON_CreateString(with_key), "chain_pem");
        strcpy(with_key, dev1.cert_pem);
        strcat(with_key, "PRIVATE KEY");
        expect_field_refused("certificate_pem", cJSON_CreateString(with_key), "certificate_pem");
        free(with_key);
    }
    expect_field_refused("certificate_pem", cJSON_CreateString(chain_pem), "exactly one");
    expect_field_refused("chain_pem", cJSON_CreateString(""), "chain_pem must be");
    expect_field_refused("certificate_pem",
                         cJSON_CreateString("-----BEGIN CERTIFICATE-----\nAAAA\n-----END "
                                            "CERTIFICATE-----\n"),
                         "does not parse");
    /* A chain that does not parse is refused even right after the good chain parsed (the
     * good one is remembered, a bad one never is), twice in a row. */
    for (int round = 0; round < 2; round++) {
        char *bad = strdup(chain_pem);
        char *body = strchr(bad, '\n') + 1; /* first base64 line of the issuing certificate */
        body[10] = body[10] == 'A' ? 'B' : 'A';
        expect_field_refused("chain_pem", cJSON_CreateString(bad), "chain_pem does not parse");
        free(bad);
        expect_field_refused("chain_pem",
                             cJSON_CreateString("-----BEGIN CERTIFICATE-----\nAAAA\n-----END "
                                                "CERTIFICATE-----\n"),
                             "chain_pem does not parse");
    }
    /* \u0000 in a string (cJSON would cut 3012-000001\u0000x to 3012-000001), but an escaped
     * backslash followed by the text u0000 is only text. */
    {
        const char *number = strstr(dev1.pack, "3012-");
        size_t at = (size_t)(number - dev1.pack) + 11;
        json = malloc(strlen(dev1.pack) + 16);
        memcpy(json, dev1.pack, at);
        strcpy(json + at, "\\u0000x");
        strcat(json, dev1.pack + at);
        expect_refused(json, CL_ERR_PARSE, "\\u0000 in a string");
        free(json);
        const char *escaped_backslash = "\"a\\\\u0000\"", *nul = "\"a\\u0000\"";
        assert_int_equal(cl_json_has_nul_escape(escaped_backslash, strlen(escaped_backslash)), 0);
        assert_int_equal(cl_json_has_nul_escape(nul, strlen(nul)), 1);
    }
    /* unknown and repeated fields */
    expect_field_refused("extra", cJSON_CreateString("x"), "unknown field \"extra\"");
    {
        size_t n = strlen(dev1.pack);
        json = malloc(n + 64);
        strcpy(json, "{\"key_id\":\"3012-1A2B3C4D\",");
        strcat(json, dev1.pack + 1);
        expect_refused(json, CL_ERR_PARSE, "field key_id appears twice");
        free(json);
    }

    /* not JSON, or not a pack object */
    expect_refused("not json", CL_ERR_PARSE, "not JSON");
    expect_refused("", CL_ERR_PARSE, "not JSON");
    expect_refused("{", CL_ERR_PARSE, "not JSON");
    expect_refused("{\"version\":1,}", CL_ERR_PARSE, "not JSON");
    expect_refused("[1,2]", CL_ERR_PARSE, "not a JSON object");
    expect_refused("\"pack\"", CL_ERR_PARSE, "not a JSON object");
    expect_refused("{}", CL_ERR_PARSE, "missing field version");
    /* Out of int's range (1e400 reads as infinity; JSON has no NaN): refused before any
     * conversion, which the sanitizer build (float-cast-overflow) would abort on. */
    expect_refused("{\"version\":1e300}", CL_ERR_PARSE, "version must be an integer");
    expect_refused("{\"version\":-1e300}", CL_ERR_PARSE, "version must be an integer");
    expect_refused("{\"version\":1e400}", CL_ERR_PARSE, "version must be an integer");
    expect_refused("{\"version\":-1e400}", CL_ERR_PARSE, "version must be an integer");
    expect_refused("{\"version\":4294967297}", CL_ERR_PARSE, "version must be an integer");
    expect_field_refused("version", cJSON_CreateNumber(NAN), "version must be an integer");
    {
        size_t n = strlen(dev1.pack);
        json = malloc(n + 8);
        strcpy(json, dev1.pack);
        strcat(json, " {}");
        expect_refused(json, CL_ERR_PARSE, "text after");
        free(json);
    }
    /* deep nesting is refused without harm */
    big = malloc(20001);
    assert_non_null(big);
    memset(big, '[', 20000);
    big[20000] = '\0';
    expect_refused(big, CL_ERR_PARSE, NULL);
    free(big);
    assert_int_equal(cl_pack_parse(NULL, &pack, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_pack_parse(dev1.pack, NULL, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    /* no error buffer is fine */
    assert_int_equal(cl_pack_parse("{}", &pack, NULL, 0), CL_ERR_PARSE);
}

static void expect_build_refused(const struct cl_pack_contents *c, const unsigned char *cert,
                                 size_t cert_len, const unsigned char *key, size_t key_len)
{
    char *json = (char *)"x", value[CL_VERIFY_HEX + 1] = "x";
    assert_int_not_equal(cl_pack_build(c, cert, cert_len, key, key_len, prewrite, &json, value),
                         CL_OK);
    assert_null(json);
    assert_string_equal(value, "");
}

static void test_build_refusals(void **state)
{
    const struct cl_issued *is = &dev1.issued;
    struct cl_pack_contents c;
    unsigned char big_key[4000] = {0};
    (void)state;

    /* the DER is not the certificate in the PEM */
    c = contents_of(&dev1, "3012-000001", "p256");
    expect_build_refused(&c, dev2.issued.cert_der, dev2.issued.cert_len, is->key_der, is->key_len);
    /* the certificate is not for this device number / serial / key type */
    c = contents_of(&dev1, "3012-000002", "p256");
    expect_build_refused(&c, is->cert_der, is->cert_len, is->key_der, is->key_len);
    c = contents_of(&dev1, "3012-000001", "p256");
    c.serial_hex = dev2.issued.serial_hex;
    expect_build_refused(&c, is->cert_der, is->cert_len, is->key_der, is->key_len);
    c = contents_of(&dev1, "3012-000001", "rsa2048");
    expect_build_refused(&c, is->cert_der, is->cert_len, is->key_der, is->key_len);
    /* field rules */
    c = contents_of(&dev1, "3012 000001", "p256");
    expect_build_refused(&c, is->cert_der, is->cert_len, is->key_der, is->key_len);
    c = contents_of(&dev1, "3012-000001", "p256");
    c.key_id = "";
    expect_build_refused(&c, is->cert_der, is->cert_len, is->key_der, is->key_len);
    c = contents_of(&dev1, "3012-000001", "p256");
    c.model_code = NULL;
    expect_build_refused(&c, is->cert_der, is->cert_len, is->key_der, is->key_len);
    c = contents_of(&dev1, "3012-000001", "p256");
    c.chain_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    expect_build_refused(&c, is->cert_der, is->cert_len, is->key_der, is->key_len);
    /* key sizes */
    c = contents_of(&dev1, "3012-000001", "p256");
    expect_build_refused(&c, is->cert_der, is->cert_len, is->key_der, 0);
    expect_build_refused(&c, is->cert_der, is->cert_len, big_key, sizeof(big_key));
    expect_build_refused(NULL, is->cert_der, is->cert_len, is->key_der, is->key_len);
    expect_build_refused(&c, NULL, is->cert_len, is->key_der, is->key_len);
}

static void test_verify_values(void **state)
{
    const struct cl_issued *is = &dev1.issued;
    unsigned char cert[4096], key[512];
    char base[CL_VERIFY_HEX + 1], v[CL_VERIFY_HEX + 1];
    (void)state;

    memcpy(cert, is->cert_der, is->cert_len);
    memcpy(key, is->key_der, is->key_len);
    cl_verify_value_device("3012-000001", is->serial_hex, cert, is->cert_len, key, is->key_len,
                           base);
    assert_int_equal(strlen(base), 64);
    assert_int_equal(strspn(base, "0123456789abcdef"), 64);
    cl_verify_value_device("3012-000002", is->serial_hex, cert, is->cert_len, key, is->key_len, v);
    assert_string_not_equal(base, v);
    cl_verify_value_device("3012-000001", dev2.issued.serial_hex, cert, is->cert_len, key,
                           is->key_len, v);
    assert_string_not_equal(base, v);
    cert[is->cert_len - 1] ^= 1;
    cl_verify_value_device("3012-000001", is->serial_hex, cert, is->cert_len, key, is->key_len, v);
    assert_string_not_equal(base, v);
    cert[is->cert_len - 1] ^= 1;
    key[is->key_len / 2] ^= 1; /* the value depends on the private key */
    cl_verify_value_device("3012-000001", is->serial_hex, cert, is->cert_len, key, is->key_len, v);
    assert_string_not_equal(base, v);
    key[is->key_len / 2] ^= 1;
    cl_verify_value_device("3012-000001", is->serial_hex, cert, is->cert_len, key, is->key_len, v);
    assert_string_equal(base, v);
    cl_verify_value_server("3012-000001", is->serial_hex, cert, is->cert_len, key, is->key_len, v);
    assert_string_not_equal(base, v);
    cl_verify_value_device(NULL, is->serial_hex, cert, is->cert_len, key, is->key_len, v);
    assert_string_equal(v, "");
    memset(key, 0, sizeof(key));
}

/* An RSA-2048 device: the bigger key goes through the same round trip. */
static void test_rsa_round_trip(void **state)
{
    struct device rsa = {0};
    struct cl_pack pack;
    unsigned char *key = NULL;
    size_t key_len = 0;
    (void)state;

    assert_int_equal(make_device(&rsa, "3012-000003", CL_KEY_RSA2048), 0);
    assert_true(strlen(rsa.pack) < CL_PACK_MAX_BYTES / 4);
    parse_ok(rsa.pack, &pack);
    assert_string_equal(pack.key_type, "rsa2048");
    assert_int_equal(cl_pack_open_key(&pack, prewrite, &key, &key_len), CL_OK);
    assert_int_equal(key_len, rsa.issued.key_len);
    assert_memory_equal(key, rsa.issued.key_der, key_len);
    assert_null(strstr(rsa.pack, "PRIVATE KEY"));
    cl_secret_free(key, key_len);
    cl_pack_free(&pack);
    free_device(&rsa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_documented_layout),
        cmocka_unit_test(test_no_private_key_in_text),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_build_refusals),
        cmocka_unit_test(test_verify_values),
        cmocka_unit_test(test_rsa_round_trip),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
