/* test_pack_build.c: a pack built by ca-server parses back field for field, opens on the device
 * to the very key that matches its certificate (P-256 and RSA-2048), and follows the layout
 * PACK.md documents (checked with an independent AES-GCM decryption and SHA-256 computation); the
 * verification values depend on every input; no private key appears in the pack text; the builder
 * refuses contents that do not match the certificate or break the field rules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <mbedtls/gcm.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "error.h"
#include "keyfile.h"
#include "pack_fixture.h"

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

static void test_round_trip(void **state)
{
    struct cl_pack pack;
    unsigned char *key = NULL;
    size_t key_len = 0;
    mbedtls_x509_crt crt;
    mbedtls_pk_context pk;
    (void)state;

    parse_ok(dev1.pack, &pack);
    assert_int_equal(pack.version, 1); /* cl_pack_build writes version 1 (file-key mode) */
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
        cmocka_unit_test(test_build_refusals),
        cmocka_unit_test(test_verify_values),
        cmocka_unit_test(test_rsa_round_trip),
    };
    return cmocka_run_group_tests(tests, pack_group_setup, pack_group_teardown);
}
