/* test_nv_codec.c: device images, the bytes on disk follow IMAGES.md: magics, offsets, checksums,
 * erased slots. Each test works in a fresh mkdtemp directory. */
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

/* The bytes on disk follow IMAGES.md: magics, offsets, checksums, erased slots. */
static void test_documented_layout(void **state)
{
    struct fixture *f = *state;
    struct nv_certificate a;
    struct nv_device d;
    unsigned char *img;
    size_t len;

    make_board(f);
    img = slurp(f->flash, &len);
    assert_int_equal(len, FLASH_SIZE);
    assert_memory_equal(img, "CLFLASH\0", 8);
    assert_int_equal(le32(img + 8), 1);
    assert_int_equal(le32(img + 12), FLASH_SIZE);
    assert_int_equal(le32(img + 28), crc32_t(img, 28));
    assert_memory_equal(img + PROGRAM_OFF, "PROG", 4);
    assert_memory_equal(img + COMMON_OFF, "COMN", 4);
    assert_memory_equal(img + FIXED_OFF, "FIXD", 4);
    for (int i = 0; i < 3; i++) {
        size_t off = (size_t[]){PROGRAM_OFF, COMMON_OFF, FIXED_OFF}[i];
        assert_int_equal(le32(img + off + 28), crc32_t(img + off, 28));
        assert_int_equal(le32(img + off + 20), crc32_t(img + off + HDR, le32(img + off + 16)));
    }
    /* The firmware's pre-write key is in the program area as a firmware binary holds it. */
    assert_memory_equal(img + PROGRAM_OFF + HDR + PROGRAM_PREWRITE, g_firmware.prewrite_key,
                        NV_SECRET_BYTES);
    for (size_t i = 0; i < 2 * 0x0A000u; i++)
        if (img[SLOT_OFF(0) + i] != 0xFF)
            fail_msg("slot byte %zu not erased", i);
    free(img);

    img = slurp(f->nvram, &len);
    assert_int_equal(len, NVRAM_SIZE);
    assert_memory_equal(img, "CLNVRAM\0", 8);
    assert_int_equal(le32(img + 28), crc32_t(img, 28));
    assert_memory_equal(img + BANK_OFF(0), "BANK", 4);
    assert_int_equal(img[BANK_OFF(0) + 8], 1); /* sequence 1 */
    assert_int_equal(img[BANK_OFF(1)], 0xFF);
    free(img);

    open_ok(f, &d);
    cert_std(&a, 'A');
    write_ok(&d, &a);
    nv_close(&d);
    img = slurp(f->flash, &len);
    assert_memory_equal(img + SLOT_OFF(0), "CERT", 4);
    assert_int_equal(img[SLOT_OFF(0) + 8], 1);
    assert_int_equal(le32(img + SLOT_OFF(0) + HDR + SLOT_CERT_LEN), strlen(a.certificate_pem));
    assert_memory_equal(img + SLOT_OFF(0) + HDR + SLOT_DATA, a.certificate_pem,
                        strlen(a.certificate_pem));
    assert_int_equal(img[SLOT_OFF(1)], 0xFF);
    free(img);
    nv_certificate_free(&a);
}

int nv_codec_tests(void)
{
    const struct CMUnitTest tests[] = {
        NV_TEST(test_documented_layout),
    };
    return cmocka_run_group_tests_name("nv codec", tests, NULL, NULL);
}
