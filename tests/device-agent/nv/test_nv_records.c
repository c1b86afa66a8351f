/* test_nv_records.c: device images, the records' bounds: bad caller input refused before anything
 * is written, hostile fields behind valid checksums refused without a crash. Each test works in a
 * fresh mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "nv_fixture.h"
#include "nv_image.h"

static void test_write_refuses_bad_input(void **state)
{
    struct fixture *f = *state;
    struct nv_device d;
    struct nv_certificate c;
    unsigned char *before, *after;
    size_t blen, alen;
    char err[256] = "";
    char *pem;
    unsigned char *key;

    make_board(f);
    open_ok(f, &d);
    before = slurp(f->flash, &blen);
    cert_std(&c, 'A');

    pem = c.certificate_pem;
    c.certificate_pem = text_of(NV_PEM_MAX + 1, 'X');
    assert_int_equal(nv_write_certificate(&d, &c, NULL, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "certificate"));
    free(c.certificate_pem);
    c.certificate_pem = pem;

    c.sealed_key_len = 0;
    assert_int_equal(nv_write_certificate(&d, &c, NULL, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    key = c.sealed_key;
    c.sealed_key = calloc(1, NV_SEALED_MAX + 1);
    c.sealed_key_len = NV_SEALED_MAX + 1;
    assert_int_equal(nv_write_certificate(&d, &c, NULL, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "sealed key"));
    free(c.sealed_key);
    c.sealed_key = key;
    c.sealed_key_len = 60 + 'A';

    memset(c.device_number, 'A', sizeof(c.device_number)); /* not terminated */
    assert_int_equal(nv_write_certificate(&d, &c, NULL, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "device number"));
    snprintf(c.device_number, sizeof(c.device_number), "%s", DEVICE_NUMBER);
    c.model_code[1] = '\n';
    assert_int_equal(nv_write_certificate(&d, &c, NULL, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "model code"));

    after = slurp(f->flash, &alen);
    assert_int_equal(alen, blen);
    assert_memory_equal(before, after, blen);
    assert_int_equal(d.has_certificate, 0);
    free(before);
    free(after);
    nv_certificate_free(&c);
    nv_close(&d);
}

/* Hostile fields behind valid checksums: refused by their bounds, without a crash. */
static void test_hostile_lengths(void **state)
{
    struct fixture *f = *state;
    struct nv_certificate a, b;
    struct nv_device d;

    /* The only slot claims a 4 GiB certificate. */
    two_certificates(f, &a, &b);
    {
        size_t len;
        unsigned char *img = slurp(f->flash, &len);
        memset(img + SLOT_OFF(1), 0xFF, 0x0A000u); /* slot 1 never written */
        spit(f->flash, img, len);
        free(img);
    }
    poke32(f->flash, SLOT_OFF(0), SLOT_CERT_LEN, 0xFFFFFFFFu);
    open_fails(f, CL_ERR_PARSE, "certificate PEM length 4294967295");
    assert_inspect(f, "certificate slot 0", 0, "certificate PEM length");
    nv_certificate_free(&a);
    nv_certificate_free(&b);

    /* The newer slot is hostile: the older, valid one wins. */
    two_certificates(f, &a, &b);
    poke32(f->flash, SLOT_OFF(1), SLOT_SEALED_LEN, 0xFFFFFFFFu);
    open_ok(f, &d);
    assert_int_equal(d.current_slot, 0);
    assert_cert_equal(&d.current, &a);
    nv_close(&d);
    nv_certificate_free(&a);
    nv_certificate_free(&b);

    /* Lengths within their bounds that do not add up to the record. */
    two_certificates(f, &a, &b);
    poke32(f->flash, SLOT_OFF(1), SLOT_CHAIN_LEN, (uint32_t)strlen(b.chain_pem) + 1000);
    poke32(f->flash, SLOT_OFF(0), SLOT_CERT_LEN, (uint32_t)strlen(a.certificate_pem) - 1);
    open_fails(f, CL_ERR_PARSE, "record ends inside");
    assert_inspect(f, "certificate slot 0", 0, "unexpected bytes");
    nv_certificate_free(&a);
    nv_certificate_free(&b);

    /* A header whose body length runs past the slot. */
    two_certificates(f, &a, &b);
    patch(f->flash, SLOT_OFF(1), 16, 0xFFFFFFFFu, 4);
    assert_inspect(f, "certificate slot 1", 0, "body length 4294967295 exceeds");
    open_ok(f, &d);
    assert_cert_equal(&d.current, &a);
    nv_close(&d);
    nv_certificate_free(&a);
    nv_certificate_free(&b);

    /* Text fields: a length beyond the field, a NUL, a control byte; a NUL inside a PEM. */
    two_certificates(f, &a, &b);
    poke8(f->flash, SLOT_OFF(1), SLOT_DEVICE_NUMBER, 200);
    poke8(f->flash, SLOT_OFF(0), SLOT_MODEL_CODE + 2, 0);
    open_fails(f, CL_ERR_PARSE, "device number length 200");
    assert_inspect(f, "certificate slot 0", 0, "model code holds a NUL");
    nv_certificate_free(&a);
    nv_certificate_free(&b);
    two_certificates(f, &a, &b);
    poke8(f->flash, SLOT_OFF(1), SLOT_DATA + 7, 0);
    poke8(f->flash, SLOT_OFF(0), SLOT_DEVICE_NUMBER + 1, 0x07);
    open_fails(f, CL_ERR_PARSE, "certificate PEM holds a NUL");
    assert_inspect(f, "certificate slot 0", 0, "device number holds a NUL or control byte");
    nv_certificate_free(&a);
    nv_certificate_free(&b);

    /* Required areas. */
    make_board(f);
    poke32(f->flash, COMMON_OFF, COMMON_SEALED_LEN, 0xFFFFFFFFu);
    open_fails(f, CL_ERR_PARSE, "common certificate area: common sealed key length 4294967295");
    make_board(f);
    poke32(f->flash, PROGRAM_OFF, PROGRAM_ROOT_LEN, 0x7FFFFFFFu);
    open_fails(f, CL_ERR_PARSE, "program area: root PEM length 2147483647");
    assert_inspect(f, "program area", 0, "root PEM length");
    make_board(f);
    poke32(f->nvram, BANK_OFF(0), BANK_PEM_LEN, 0xFFFFFFFFu);
    open_fails(f, CL_ERR_PARSE, "common certificate PEM length 4294967295");
    assert_inspect(f, "nvram bank 0", 0, "common certificate PEM length");

    /* A slot header naming the other slot, and two slots claiming one sequence. */
    two_certificates(f, &a, &b);
    patch(f->flash, SLOT_OFF(1), 6, 0, 1); /* index 0 in slot 1 */
    assert_inspect(f, "certificate slot 1", 0, "index 0");
    nv_certificate_free(&a);
    nv_certificate_free(&b);
    two_certificates(f, &a, &b);
    patch(f->flash, SLOT_OFF(1), 8, 1, 1);       /* header sequence 1 */
    patch(f->flash, SLOT_OFF(1), HDR + 0, 1, 1); /* record sequence 1 */
    open_fails(f, CL_ERR_PARSE, "both slots claim sequence 1");
    assert_inspect(f, "certificate slot 0", 0, "ambiguous");
    nv_certificate_free(&a);
    nv_certificate_free(&b);
}

int nv_records_tests(void)
{
    const struct CMUnitTest tests[] = {
        NV_TEST(test_write_refuses_bad_input),
        NV_TEST(test_hostile_lengths),
    };
    return cmocka_run_group_tests_name("nv records", tests, NULL, NULL);
}
