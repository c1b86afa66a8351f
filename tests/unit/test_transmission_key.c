/* test_transmission_key.c: the MAC that binds a write result (S10) to its S7 is HMAC-SHA256 over
 * exactly the encoding transmission_key.h documents (rebuilt byte by byte here); changing any
 * field, the key, or moving bytes between fields breaks it; another tag (domain) or none does not
 * verify; malformed MACs are refused; fresh transmissions differ and their keys survive the wire
 * form (hex) unchanged; wiping clears the key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <mbedtls/md.h>

#include "error.h"
#include "transmission_key.h"

#define ID "00112233445566778899aabbccddeeff"
#define VV "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct cl_transmission fixed(void)
{
    struct cl_transmission t;
    memset(&t, 0, sizeof(t));
    memcpy(t.id, ID, sizeof(ID));
    for (size_t i = 0; i < sizeof(t.key); i++)
        t.key[i] = (unsigned char)(0xa0 + i);
    return t;
}

static struct cl_write_result_fields ok_fields(void)
{
    struct cl_write_result_fields f = {.transmission_id = ID,
                                       .device_number = "3012-000001",
                                       .ok = 1,
                                       .reason = NULL,
                                       .certificate_serial = "0A1B2C",
                                       .verification_value = VV};
    return f;
}

/* Appends u32be(len) text to buf at *n. */
static void field(unsigned char *buf, size_t *n, const char *text)
{
    size_t len = text != NULL ? strlen(text) : 0;
    buf[(*n)++] = (unsigned char)(len >> 24);
    buf[(*n)++] = (unsigned char)(len >> 16);
    buf[(*n)++] = (unsigned char)(len >> 8);
    buf[(*n)++] = (unsigned char)len;
    memcpy(buf + *n, text != NULL ? text : "", len);
    *n += len;
}

/* HMAC-SHA256 under t's key of tag NUL then the fields, as hex (tag NULL: no tag at all). */
static void reference_mac(const struct cl_transmission *t, const char *tag,
                          const struct cl_write_result_fields *f, char out[65])
{
    unsigned char buf[2048], mac[32];
    size_t n = 0;

    if (tag != NULL) {
        memcpy(buf, tag, strlen(tag) + 1);
        n = strlen(tag) + 1;
    }
    field(buf, &n, f->transmission_id);
    field(buf, &n, f->device_number);
    field(buf, &n, f->ok ? "OK" : "NG");
    field(buf, &n, f->reason);
    field(buf, &n, f->certificate_serial);
    field(buf, &n, f->verification_value);
    assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), t->key,
                                     sizeof(t->key), buf, n, mac),
                     0);
    for (size_t i = 0; i < sizeof(mac); i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static void test_documented_encoding(void **state)
{
    struct cl_transmission t = fixed();
    struct cl_write_result_fields f = ok_fields();
    char mac[CL_WRITE_RESULT_MAC_HEX + 1], expected[65];

    (void)state;
    assert_int_equal(cl_write_result_mac(&t, &f, mac), CL_OK);
    reference_mac(&t, "certline write-result v1", &f, expected);
    assert_string_equal(mac, expected);
    assert_true(cl_write_result_mac_ok(&t, &f, mac));

    f = (struct cl_write_result_fields){.transmission_id = ID,
                                        .device_number = "3012-000001",
                                        .ok = 0,
                                        .reason = "write failed: flash step 1"};
    assert_int_equal(cl_write_result_mac(&t, &f, mac), CL_OK);
    reference_mac(&t, "certline write-result v1", &f, expected);
    assert_string_equal(mac, expected);
    assert_true(cl_write_result_mac_ok(&t, &f, mac));
}

static void test_every_field_counts(void **state)
{
    struct cl_transmission t = fixed(), other = fixed();
    struct cl_write_result_fields base = ok_fields(), f;
    char mac[CL_WRITE_RESULT_MAC_HEX + 1];

    (void)state;
    assert_int_equal(cl_write_result_mac(&t, &base, mac), CL_OK);
    f = base, f.transmission_id = "00112233445566778899aabbccddeefe";
    assert_false(cl_write_result_mac_ok(&t, &f, mac));
    f = base, f.device_number = "3012-000002";
    assert_false(cl_write_result_mac_ok(&t, &f, mac));
    f = base, f.ok = 0;
    assert_false(cl_write_result_mac_ok(&t, &f, mac));
    f = base, f.reason = "x";
    assert_false(cl_write_result_mac_ok(&t, &f, mac));
    f = base, f.certificate_serial = "0A1B2D";
    assert_false(cl_write_result_mac_ok(&t, &f, mac));
    f = base,
    f.verification_value = "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_false(cl_write_result_mac_ok(&t, &f, mac));
    f = base, f.certificate_serial = NULL;
    assert_false(cl_write_result_mac_ok(&t, &f, mac));
    f = base, f.verification_value = NULL;
    assert_false(cl_write_result_mac_ok(&t, &f, mac));
    /* Another transmission's key (one bit) with the same fields. */
    other.key[31] ^= 0x01;
    assert_false(cl_write_result_mac_ok(&other, &base, mac));
    /* Unchanged: still verifies. */
    assert_true(cl_write_result_mac_ok(&t, &base, mac));
}

static void test_domain_separation(void **state)
{
    struct cl_transmission t = fixed();
    struct cl_write_result_fields a = {.transmission_id = ID,
                                       .device_number = "3012-000001",
                                       .ok = 0,
                                       .reason = "1 failed"},
                                  b = a;
    char mac[CL_WRITE_RESULT_MAC_HEX + 1], other[65];

    (void)state;
    assert_int_equal(cl_write_result_mac(&t, &a, mac), CL_OK);
    /* Bytes moved from one field to its neighbour: length prefixes tell them apart. */
    b.device_number = "3012-0000011";
    b.reason = " failed";
    assert_false(cl_write_result_mac_ok(&t, &b, mac));
    b = a, b.reason = NULL, b.certificate_serial = "1 failed";
    assert_false(cl_write_result_mac_ok(&t, &b, mac));
    /* Another purpose's tag, or none, under the same key never gives this MAC. */
    reference_mac(&t, "certline install-proof v1", &a, other);
    assert_string_not_equal(mac, other);
    assert_false(cl_write_result_mac_ok(&t, &a, other));
    reference_mac(&t, NULL, &a, other);
    assert_string_not_equal(mac, other);
    assert_false(cl_write_result_mac_ok(&t, &a, other));
    /* Absent and empty are the same text on the wire, and so the same MAC. */
    b = a, b.certificate_serial = "";
    assert_true(cl_write_result_mac_ok(&t, &b, mac));
}

static void test_malformed_mac(void **state)
{
    struct cl_transmission t = fixed();
    struct cl_write_result_fields f = ok_fields();
    char mac[CL_WRITE_RESULT_MAC_HEX + 1], upper[CL_WRITE_RESULT_MAC_HEX + 1];

    (void)state;
    assert_int_equal(cl_write_result_mac(&t, &f, mac), CL_OK);
    assert_false(cl_write_result_mac_ok(&t, &f, NULL));
    assert_false(cl_write_result_mac_ok(&t, &f, ""));
    mac[CL_WRITE_RESULT_MAC_HEX - 1] = '\0';
    assert_false(cl_write_result_mac_ok(&t, &f, mac)); /* one digit short */
    assert_int_equal(cl_write_result_mac(&t, &f, mac), CL_OK);
    for (size_t i = 0; i <= sizeof(upper) - 1; i++)
        upper[i] = (mac[i] >= 'a' && mac[i] <= 'f') ? (char)(mac[i] - 'a' + 'A') : mac[i];
    if (strcmp(upper, mac) != 0)
        assert_false(cl_write_result_mac_ok(&t, &f, upper));
    mac[0] = mac[0] == 'g' ? 'h' : 'g';
    assert_false(cl_write_result_mac_ok(&t, &f, mac));
}

static void test_fresh_and_wire_form(void **state)
{
    struct cl_transmission a, b, parsed;
    char key[CL_TRANSMISSION_KEY_HEX + 1];
    static const unsigned char zero[CL_TRANSMISSION_KEY_BYTES];

    (void)state;
    assert_int_equal(cl_transmission_new(&a), CL_OK);
    assert_int_equal(cl_transmission_new(&b), CL_OK);
    assert_true(cl_lower_hex_ok(a.id, CL_TRANSMISSION_ID_HEX));
    assert_string_not_equal(a.id, b.id);
    assert_memory_not_equal(a.key, b.key, sizeof(a.key));
    assert_memory_not_equal(a.key, zero, sizeof(a.key));

    cl_transmission_key_hex(&a, key);
    assert_true(cl_lower_hex_ok(key, CL_TRANSMISSION_KEY_HEX));
    assert_int_equal(cl_transmission_parse(a.id, key, &parsed), CL_OK);
    assert_string_equal(parsed.id, a.id);
    assert_memory_equal(parsed.key, a.key, sizeof(a.key));

    assert_int_equal(cl_transmission_parse(NULL, key, &parsed), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_transmission_parse(a.id, NULL, &parsed), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_transmission_parse(a.id, key + 1, &parsed), CL_ERR_INVALID_ARGUMENT);
    assert_memory_equal(parsed.key, zero, sizeof(zero)); /* nothing kept of a refused key */
    key[0] = 'A';
    assert_int_equal(cl_transmission_parse(a.id, key, &parsed), CL_ERR_INVALID_ARGUMENT);

    cl_transmission_wipe(&a);
    assert_memory_equal(a.key, zero, sizeof(zero));
    assert_string_equal(a.id, "");
    cl_transmission_wipe(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documented_encoding), cmocka_unit_test(test_every_field_counts),
        cmocka_unit_test(test_domain_separation),   cmocka_unit_test(test_malformed_mac),
        cmocka_unit_test(test_fresh_and_wire_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
