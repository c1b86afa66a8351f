/* test_peculiar_key.c: the device's sealing at rest (device-agent/peculiar_key.c) follows its
 * documented format (a blob made by an independent implementation, Python's cryptography, opens),
 * round-trips, and binds everything it promises: a sealed key does not open on another board
 * (MAC), under another device number, generator, purpose or certificate serial, nor after any byte
 * changed; bad arguments are refused and no partial key is ever handed out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keyfile.h"
#include "peculiar_key.h"

static const unsigned char generator[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                            11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                            22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static const unsigned char mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const char plain[] = "certline test plaintext: not a real key";

/* Made with Python's cryptography from README.md's definition: HKDF-SHA256(generator, salt
 * "certline peculiar-key v1", info MAC || "3012-000001"), IV 100..111, purpose device-key, serial
 * 5A0C01. */
static const unsigned char python_blob[] = {
    0x01, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x39,
    0x3e, 0xd9, 0x73, 0x04, 0x11, 0x9c, 0xd0, 0x7a, 0xda, 0xf4, 0x84, 0x32, 0x35, 0x56,
    0x42, 0x04, 0x4f, 0xe2, 0x11, 0xb2, 0xdd, 0xaf, 0xae, 0xcc, 0x43, 0x32, 0x8f, 0x8f,
    0x11, 0xe0, 0x22, 0x6f, 0x26, 0x48, 0xa3, 0xf0, 0x47, 0xbb, 0x49, 0xe4, 0xef, 0xae,
    0x06, 0xcf, 0x2b, 0x0a, 0x8e, 0x0f, 0x47, 0x20, 0x04, 0x97, 0x17, 0x77};

static const struct peculiar_identity board = {generator, mac, "3012-000001"};

static int contains(const unsigned char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return 1;
    return 0;
}

static void expect_refused(const struct peculiar_identity *id, enum peculiar_purpose purpose,
                           const char *serial, const unsigned char *sealed, size_t len, int rc)
{
    unsigned char *out = (unsigned char *)"untouched";
    size_t out_len = 99;
    assert_int_equal(peculiar_open(id, purpose, serial, sealed, len, &out, &out_len), rc);
    assert_null(out);
    assert_int_equal(out_len, 0);
}

static void test_independent_blob_opens(void **state)
{
    unsigned char *out = NULL;
    size_t len = 0;
    (void)state;
    assert_int_equal(peculiar_open(&board, PECULIAR_DEVICE_KEY, "5A0C01", python_blob,
                                   sizeof(python_blob), &out, &len),
                     CL_OK);
    assert_int_equal(len, strlen(plain));
    assert_memory_equal(out, plain, len);
    cl_secret_free(out, len);
}

static void test_round_trip_and_bindings(void **state)
{
    unsigned char other_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
    unsigned char other_generator[32];
    struct peculiar_identity id;
    unsigned char *sealed = NULL, *sealed2 = NULL, *out = NULL;
    size_t sealed_len = 0, sealed2_len = 0, out_len = 0;
    (void)state;

    assert_int_equal(peculiar_seal(&board, PECULIAR_DEVICE_KEY, "5A0C01",
                                   (const unsigned char *)plain, strlen(plain), &sealed,
                                   &sealed_len),
                     CL_OK);
    assert_int_equal(sealed_len, strlen(plain) + PECULIAR_OVERHEAD);
    assert_false(contains(sealed, sealed_len, plain));
    assert_int_equal(
        peculiar_open(&board, PECULIAR_DEVICE_KEY, "5A0C01", sealed, sealed_len, &out, &out_len),
        CL_OK);
    assert_memory_equal(out, plain, strlen(plain));
    cl_secret_free(out, out_len);

    /* A fresh IV every time. */
    assert_int_equal(peculiar_seal(&board, PECULIAR_DEVICE_KEY, "5A0C01",
                                   (const unsigned char *)plain, strlen(plain), &sealed2,
                                   &sealed2_len),
                     CL_OK);
    assert_memory_not_equal(sealed, sealed2, sealed_len);
    free(sealed2);

    id = board;
    id.mac = other_mac;
    expect_refused(&id, PECULIAR_DEVICE_KEY, "5A0C01", sealed, sealed_len, CL_ERR_CRYPTO);
    id = board;
    id.device_number = "3012-000002";
    expect_refused(&id, PECULIAR_DEVICE_KEY, "5A0C01", sealed, sealed_len, CL_ERR_CRYPTO);
    memcpy(other_generator, generator, sizeof(other_generator));
    other_generator[31] ^= 1;
    id = board;
    id.generator = other_generator;
    expect_refused(&id, PECULIAR_DEVICE_KEY, "5A0C01", sealed, sealed_len, CL_ERR_CRYPTO);
    expect_refused(&board, PECULIAR_DEVICE_KEY, "5A0C02", sealed, sealed_len, CL_ERR_CRYPTO);
    expect_refused(&board, PECULIAR_COMMON_KEY, NULL, sealed, sealed_len, CL_ERR_CRYPTO);

    /* Every byte after the version is covered (IV, ciphertext, tag). */
    for (size_t i = 1; i < sealed_len; i++) {
        sealed[i] ^= 0x40;
        expect_refused(&board, PECULIAR_DEVICE_KEY, "5A0C01", sealed, sealed_len, CL_ERR_CRYPTO);
        sealed[i] ^= 0x40;
    }
    sealed[0] = 2;
    expect_refused(&board, PECULIAR_DEVICE_KEY, "5A0C01", sealed, sealed_len, CL_ERR_PARSE);
    sealed[0] = 1;
    expect_refused(&board, PECULIAR_DEVICE_KEY, "5A0C01", sealed, PECULIAR_OVERHEAD, CL_ERR_PARSE);
    expect_refused(&board, PECULIAR_DEVICE_KEY, "5A0C01", sealed, sealed_len - 1, CL_ERR_CRYPTO);
    free(sealed);
}

static void test_common_key(void **state)
{
    unsigned char *sealed = NULL, *out = NULL;
    size_t sealed_len = 0, out_len = 0;
    (void)state;

    assert_int_equal(peculiar_seal(&board, PECULIAR_COMMON_KEY, "", (const unsigned char *)plain,
                                   strlen(plain), &sealed, &sealed_len),
                     CL_OK);
    assert_int_equal(
        peculiar_open(&board, PECULIAR_COMMON_KEY, NULL, sealed, sealed_len, &out, &out_len),
        CL_OK);
    cl_secret_free(out, out_len);
    expect_refused(&board, PECULIAR_DEVICE_KEY, "5A0C01", sealed, sealed_len, CL_ERR_CRYPTO);
    free(sealed);
}

static void test_bad_arguments(void **state)
{
    static unsigned char big[PECULIAR_PLAIN_MAX + 1];
    struct peculiar_identity id = board;
    unsigned char *sealed = (unsigned char *)"untouched";
    size_t len = 7;
    (void)state;

    assert_int_equal(peculiar_seal(&board, PECULIAR_DEVICE_KEY, NULL, big, 16, &sealed, &len),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(sealed);
    assert_int_equal(len, 0);
    assert_int_equal(peculiar_seal(&board, PECULIAR_DEVICE_KEY, "5a0c01", big, 16, &sealed, &len),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(peculiar_seal(&board, PECULIAR_COMMON_KEY, "5A0C01", big, 16, &sealed, &len),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(peculiar_seal(&board, PECULIAR_COMMON_KEY, NULL, big, 0, &sealed, &len),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        peculiar_seal(&board, PECULIAR_COMMON_KEY, NULL, big, sizeof(big), &sealed, &len),
        CL_ERR_INVALID_ARGUMENT);
    id.device_number = "not a device number";
    assert_int_equal(peculiar_seal(&id, PECULIAR_COMMON_KEY, NULL, big, 16, &sealed, &len),
                     CL_ERR_INVALID_ARGUMENT);
    id = board;
    id.mac = NULL;
    assert_int_equal(peculiar_seal(&id, PECULIAR_COMMON_KEY, NULL, big, 16, &sealed, &len),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(sealed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_independent_blob_opens),
        cmocka_unit_test(test_round_trip_and_bindings),
        cmocka_unit_test(test_common_key),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
