/* test_key_wrap.c: AES key wrap with padding (common/key_wrap.c) against the test vectors of
 * RFC 5649 section 6, round trips of every length class, and what unwrapping refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "key_wrap.h"

static const unsigned char KEK[24] = {0x58, 0x40, 0xdf, 0x6e, 0x29, 0xb0, 0x2a, 0xf1,
                                      0xab, 0x49, 0x3b, 0x70, 0x5b, 0xf1, 0x6e, 0xa1,
                                      0xae, 0x83, 0x38, 0xf4, 0xdc, 0xc1, 0x76, 0xa8};

static void check_vector(const unsigned char *key, size_t key_len, const unsigned char *wrapped,
                         size_t wrapped_len)
{
    unsigned char out[64], *back = NULL;
    size_t out_len = 0, back_len = 0;

    assert_int_equal(cl_kwp_wrapped_len(key_len), wrapped_len);
    assert_int_equal(cl_kwp_wrap(KEK, sizeof(KEK), key, key_len, out, &out_len), CL_OK);
    assert_int_equal(out_len, wrapped_len);
    assert_memory_equal(out, wrapped, wrapped_len);
    assert_int_equal(cl_kwp_unwrap(KEK, sizeof(KEK), wrapped, wrapped_len, &back, &back_len),
                     CL_OK);
    assert_int_equal(back_len, key_len);
    assert_memory_equal(back, key, key_len);
    free(back);
}

/* RFC 5649 section 6: a 20-octet and a 7-octet key under a 192-bit KEK. */
static void test_rfc5649_vectors(void **state)
{
    static const unsigned char key20[] = {0xc3, 0x7b, 0x7e, 0x64, 0x92, 0x58, 0x43,
                                          0x40, 0xbe, 0xd1, 0x22, 0x07, 0x80, 0x89,
                                          0x41, 0x15, 0x50, 0x68, 0xf7, 0x38};
    static const unsigned char wrap20[] = {0x13, 0x8b, 0xde, 0xaa, 0x9b, 0x8f, 0xa7, 0xfc,
                                           0x61, 0xf9, 0x77, 0x42, 0xe7, 0x22, 0x48, 0xee,
                                           0x5a, 0xe6, 0xae, 0x53, 0x60, 0xd1, 0xae, 0x6a,
                                           0x5f, 0x54, 0xf3, 0x73, 0xfa, 0x54, 0x3b, 0x6a};
    static const unsigned char key7[] = {0x46, 0x6f, 0x72, 0x50, 0x61, 0x73, 0x69};
    static const unsigned char wrap7[] = {0xaf, 0xbe, 0xb0, 0xf0, 0x7d, 0xfb, 0xf5, 0x41,
                                          0x92, 0x00, 0xf2, 0xcc, 0xb5, 0x0b, 0xb2, 0x4f};
    (void)state;
    check_vector(key20, sizeof(key20), wrap20, sizeof(wrap20));
    check_vector(key7, sizeof(key7), wrap7, sizeof(wrap7));
}

/* Every length class (one block, exact blocks, padded) round-trips under a 256-bit KEK; any
 * change of the wrapped text, another KEK or a cut is refused with nothing handed out. */
static void test_round_trips_and_refusals(void **state)
{
    unsigned char kek[32], other[32], in[300], out[320], *back;
    size_t out_len, back_len;
    (void)state;

    for (size_t i = 0; i < sizeof(kek); i++) {
        kek[i] = (unsigned char)(i * 7 + 1);
        other[i] = (unsigned char)(i * 7 + 2);
    }
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i * 13);
    for (size_t len = 1; len <= sizeof(in); len += (len < 40 ? 1 : 37)) {
        assert_int_equal(cl_kwp_wrap(kek, sizeof(kek), in, len, out, &out_len), CL_OK);
        assert_int_equal(out_len, cl_kwp_wrapped_len(len));
        back = NULL;
        assert_int_equal(cl_kwp_unwrap(kek, sizeof(kek), out, out_len, &back, &back_len), CL_OK);
        assert_int_equal(back_len, len);
        assert_memory_equal(back, in, len);
        free(back);
        back = (unsigned char *)"x";
        assert_int_equal(cl_kwp_unwrap(other, sizeof(other), out, out_len, &back, &back_len),
                         CL_ERR_CRYPTO);
        assert_null(back);
        assert_int_equal(back_len, 0);
        for (size_t at = 0; at < out_len; at += 5) {
            out[at] ^= 0x01;
            assert_int_equal(cl_kwp_unwrap(kek, sizeof(kek), out, out_len, &back, &back_len),
                             CL_ERR_CRYPTO);
            out[at] ^= 0x01;
        }
        if (out_len >= 24)
            assert_int_equal(cl_kwp_unwrap(kek, sizeof(kek), out, out_len - 8, &back, &back_len),
                             CL_ERR_CRYPTO);
    }
    /* Lengths that cannot be KWP, and bad arguments. */
    assert_int_equal(cl_kwp_unwrap(kek, sizeof(kek), out, 8, &back, &back_len),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_kwp_unwrap(kek, sizeof(kek), out, 23, &back, &back_len),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_kwp_unwrap(kek, 20, out, 24, &back, &back_len), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_kwp_wrap(kek, sizeof(kek), in, 0, out, &out_len), CL_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5649_vectors),
        cmocka_unit_test(test_round_trips_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
