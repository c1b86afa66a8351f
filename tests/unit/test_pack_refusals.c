/* test_pack_refusals.c: tampering with the device number, serial, IV, ciphertext, tag or
 * pre-write key gives CL_ERR_CRYPTO; the parser refuses oversize, wrong version, missing,
 * mistyped, over-long, unknown, duplicate and malformed fields and text that is not JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "input_check.h"
#include "keyfile.h"
#include "pack_fixture.h"

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

/* Each field one character over its bound. */
static const struct {
    const char *field;
    char fill;
    size_t len;
} too_long[] = {
    {"device_number", '1', 32}, {"model_code", '1', 16},   {"key_id", 'A', 65},
    {"serial", '7', 42},        {"chain_pem", 'a', 16385}, {"certificate_pem", 'a', 8193},
    {"sealed_key", 'A', 4200},
};

/* A string field with a value it must not take, and what the refusal says. */
static const struct {
    const char *field, *value, *needle;
} bad_values[] = {
    {"format", "other-pack", "format must be"},
    {"device_number", "3012 1", "device_number must be"},
    {"model_code", "", "model_code must be"},
    {"serial", "abcdef", "serial must be"},
    {"serial", "00AB", "serial must be"},
    {"key_type", "rsa4096", "key_type must be"},
    {"key_type", "rsa2048", "not of key_type rsa2048"},
    {"key_id", "a b", "key_id must be"},
    {"device_value", "abc", "device_value must be"},
    {"sealed_key", "!!!!", "sealed_key must be base64"},
    {"sealed_key", "QUJDRA=", "sealed_key must be base64"},
    {"sealed_key", "QUJD QUJD", "sealed_key must be base64"},
    {"sealed_key", "QU=D", "sealed_key must be base64"},
    {"sealed_key", "QUJD", "sealed_key must be base64"},
    {"sealed_key", "", "sealed_key must be base64"},
};

/* Text that is no pack at all, and what the refusal says. */
static const struct {
    const char *json, *needle;
} bad_texts[] = {
    /* not JSON, or not a pack object */
    {"not json", "not JSON"},
    {"", "not JSON"},
    {"{", "not JSON"},
    {"{\"version\":1,}", "not JSON"},
    {"[1,2]", "not a JSON object"},
    {"\"pack\"", "not a JSON object"},
    {"{}", "missing field version"},
    /* Out of int's range (1e400 reads as infinity; JSON has no NaN): refused before any
     * conversion, which the sanitizer build (float-cast-overflow) would abort on. */
    {"{\"version\":1e300}", "version must be an integer"},
    {"{\"version\":-1e300}", "version must be an integer"},
    {"{\"version\":1e400}", "version must be an integer"},
    {"{\"version\":-1e400}", "version must be an integer"},
    {"{\"version\":4294967297}", "version must be an integer"},
};

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
    expect_field_refused("version", cJSON_CreateNumber(3), "unsupported pack version 3");
    expect_field_refused("version", cJSON_CreateNumber(0), "unsupported pack version 0");
    expect_field_refused("version", cJSON_CreateNumber(1.5), "version must be an integer");
    expect_field_refused("version", cJSON_CreateString("1"), "version must be an integer");
    /* a newer pack is refused for its version even if it has fields this build does not know */
    {
        cJSON *obj = cJSON_Parse(dev1.pack);
        cJSON_ReplaceItemInObjectCaseSensitive(obj, "version", cJSON_CreateNumber(3));
        cJSON_AddStringToObject(obj, "new_field", "x");
        json = cJSON_PrintUnformatted(obj);
        cJSON_Delete(obj);
        expect_refused(json, CL_ERR_PARSE, "unsupported pack version 3");
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
    for (size_t i = 0; i < sizeof(too_long) / sizeof(too_long[0]); i++) {
        char needle[64], *s = repeat(too_long[i].fill, too_long[i].len);
        snprintf(needle, sizeof(needle), "%s is longer", too_long[i].field);
        expect_field_refused(too_long[i].field, cJSON_CreateString(s), needle);
        free(s);
    }

    /* bad values, base64 among them */
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++)
        expect_field_refused(bad_values[i].field, cJSON_CreateString(bad_values[i].value),
                             bad_values[i].needle);
    char *s = repeat('A', 64);
    expect_field_refused("device_value", cJSON_CreateString(s), "device_value must be");
    free(s);
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

    /* not JSON, not a pack object, a version out of range */
    for (size_t i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++)
        expect_refused(bad_texts[i].json, CL_ERR_PARSE, bad_texts[i].needle);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_parse_refusals),
    };
    return cmocka_run_group_tests(tests, pack_group_setup, pack_group_teardown);
}
