/* test_pack_v2.c: version 2 packs (PACK.md): a key wrapped with RFC 5649 under the pre-write
 * key, as a token's C_WrapKey makes it (here wrapped in software). Built, parsed and opened; its
 * values as the device recomputes them; and the refusals: another pre-write key, a changed
 * wrapped key, a wrapped key moved into another device's pack, a key that is not the
 * certificate's, a wrapped length that cannot be KWP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>

#include "error.h"
#include "key_wrap.h"
#include "pack_fixture.h"

struct built {
    char *pack;
    char server_value[CL_VERIFY_HEX + 1];
};

/* Device d's pack of version 2 under key, as ca-server builds it in token mode. */
static int build_v2(const struct device *d, const char *number, const unsigned char *key,
                    struct built *out)
{
    unsigned char wrapped[4096], spki[1024], proof[32];
    size_t wrapped_len = 0, spki_len = 0;
    struct cl_pack_contents c = contents_of(d, number, "p256");
    int rc;

    assert_int_equal(cl_kwp_wrap(key, CL_PREWRITE_KEY_BYTES, d->issued.key_der, d->issued.key_len,
                                 wrapped, &wrapped_len),
                     CL_OK);
    assert_int_equal(
        cl_pack_key_spki(d->issued.key_der, d->issued.key_len, spki, sizeof(spki), &spki_len),
        CL_OK);
    assert_int_equal(cl_pack_proof_key(key, number, d->issued.serial_hex, d->issued.cert_der,
                                       d->issued.cert_len, proof),
                     CL_OK);
    rc = cl_pack_build_wrapped(&c, d->issued.cert_der, d->issued.cert_len, wrapped, wrapped_len,
                               spki, spki_len, proof, &out->pack, out->server_value);
    return rc;
}

/* The device's check: open the key, recompute both values. */
static void device_values(const struct cl_pack *pack, const struct device *d,
                          const unsigned char *key, char device_value[CL_VERIFY_HEX + 1],
                          char server_value[CL_VERIFY_HEX + 1])
{
    unsigned char *opened = NULL;
    size_t opened_len = 0;

    assert_int_equal(cl_pack_open_key(pack, key, &opened, &opened_len), CL_OK);
    assert_int_equal(cl_pack_device_values(2, pack->device_number, pack->serial_hex,
                                           d->issued.cert_der, d->issued.cert_len, opened,
                                           opened_len, key, device_value, server_value),
                     CL_OK);
    free(opened);
}

static void test_build_parse_open(void **state)
{
    char device_value[CL_VERIFY_HEX + 1], server_value[CL_VERIFY_HEX + 1];
    struct built b;
    struct cl_pack pack;
    unsigned char *opened = NULL;
    size_t opened_len = 0;
    (void)state;

    assert_int_equal(build_v2(&dev1, "3012-000001", prewrite, &b), CL_OK);
    assert_null(strstr(b.pack, "PRIVATE KEY"));
    parse_ok(b.pack, &pack);
    assert_int_equal(pack.version, 2);
    assert_int_equal(pack.sealed_key_len, cl_kwp_wrapped_len(dev1.issued.key_len));
    assert_int_equal(cl_pack_open_key(&pack, prewrite, &opened, &opened_len), CL_OK);
    assert_int_equal(opened_len, dev1.issued.key_len);
    assert_memory_equal(opened, dev1.issued.key_der, opened_len);
    free(opened);
    device_values(&pack, &dev1, prewrite, device_value, server_value);
    assert_string_equal(device_value, pack.device_value);
    assert_string_equal(server_value, b.server_value); /* the proof ca-server expects */
    /* Not version 1's values: a proof of one version never passes for the other. */
    assert_string_not_equal(b.server_value, dev1.server_value);
    cl_pack_free(&pack);
    free(b.pack);
}

static void test_refusals(void **state)
{
    char device_value[CL_VERIFY_HEX + 1], server_value[CL_VERIFY_HEX + 1];
    unsigned char other[CL_PREWRITE_KEY_BYTES], spki[1024], proof[32];
    size_t spki_len = 0;
    struct built b1, b2;
    struct cl_pack p1, p2;
    unsigned char *opened = NULL;
    size_t opened_len = 0;
    (void)state;

    assert_int_equal(build_v2(&dev1, "3012-000001", prewrite, &b1), CL_OK);
    assert_int_equal(build_v2(&dev2, "3012-000002", prewrite, &b2), CL_OK);
    parse_ok(b1.pack, &p1);
    parse_ok(b2.pack, &p2);

    /* Another pre-write key (another key id's): nothing opens. */
    memcpy(other, prewrite, sizeof(other));
    other[0] ^= 0x80;
    expect_no_key(&p1, other);
    /* A changed wrapped key: nothing opens. */
    p1.sealed_key[p1.sealed_key_len / 2] ^= 0x01;
    expect_no_key(&p1, prewrite);
    p1.sealed_key[p1.sealed_key_len / 2] ^= 0x01;

    /* Device 1's wrapped key moved into device 2's pack: it unwraps (one pre-write key per model)
     * but it is not device 2's certificate's key, and the device value says so. */
    unsigned char *saved = p2.sealed_key;
    size_t saved_len = p2.sealed_key_len;
    p2.sealed_key = p1.sealed_key;
    p2.sealed_key_len = p1.sealed_key_len;
    assert_int_equal(cl_pack_open_key(&p2, prewrite, &opened, &opened_len), CL_OK);
    assert_int_equal(cl_pack_device_values(2, p2.device_number, p2.serial_hex, dev2.issued.cert_der,
                                           dev2.issued.cert_len, opened, opened_len, prewrite,
                                           device_value, server_value),
                     CL_OK);
    assert_string_not_equal(device_value, p2.device_value);
    free(opened);
    p2.sealed_key = saved;
    p2.sealed_key_len = saved_len;

    /* ca-server refuses to build a pack whose key is not its certificate's. */
    assert_int_equal(
        cl_pack_key_spki(dev2.issued.key_der, dev2.issued.key_len, spki, sizeof(spki), &spki_len),
        CL_OK);
    memset(proof, 1, sizeof(proof));
    struct cl_pack_contents c = contents_of(&dev1, "3012-000001", "p256");
    char *json = NULL, value[CL_VERIFY_HEX + 1];
    assert_int_equal(cl_pack_build_wrapped(&c, dev1.issued.cert_der, dev1.issued.cert_len,
                                           p1.sealed_key, p1.sealed_key_len, spki, spki_len, proof,
                                           &json, value),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(json);

    /* The parser: a version 2 sealed_key must be a whole number of 64-bit blocks. */
    {
        cJSON *obj = cJSON_Parse(b1.pack);
        unsigned char raw[60];
        char b64[128], err[256];
        size_t olen = 0;
        struct cl_pack p;
        memset(raw, 7, sizeof(raw));
        mbedtls_base64_encode((unsigned char *)b64, sizeof(b64), &olen, raw, sizeof(raw));
        cJSON_ReplaceItemInObjectCaseSensitive(obj, "sealed_key", cJSON_CreateString(b64));
        json = cJSON_PrintUnformatted(obj);
        cJSON_Delete(obj);
        assert_int_equal(cl_pack_parse(json, &p, err, sizeof(err)), CL_ERR_PARSE);
        assert_non_null(strstr(err, "multiple of 8"));
        free(json);
    }
    cl_pack_free(&p1);
    cl_pack_free(&p2);
    free(b1.pack);
    free(b2.pack);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_parse_open),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, pack_group_setup, pack_group_teardown);
}
