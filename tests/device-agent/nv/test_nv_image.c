/* test_nv_image.c: device images, the images' API: creation, a round trip of every field, closing
 * that zeroises, and a read back that reads the file. Each test works in a fresh mkdtemp directory.
 */
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

static void test_create_open_round_trip(void **state)
{
    struct fixture *f = *state;
    struct nv_device d;
    struct stat st;

    make_board(f);
    assert_int_equal(stat(f->flash, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, FLASH_SIZE);
    assert_int_equal(stat(f->nvram, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, NVRAM_SIZE);

    open_ok(f, &d);
    assert_string_equal(d.flash_path, f->flash);
    assert_string_equal(d.nvram_path, f->nvram);
    assert_string_equal(d.firmware.model_code, "MX200");
    assert_string_equal(d.firmware.key_type, "p256");
    assert_string_equal(d.firmware.key_id, "MX200-prewrite-2026-01");
    assert_memory_equal(d.firmware.prewrite_key, g_firmware.prewrite_key, NV_SECRET_BYTES);
    assert_memory_equal(d.firmware.peculiar_generator, g_firmware.peculiar_generator,
                        NV_SECRET_BYTES);
    assert_string_equal(d.firmware.root_pem, g_firmware.root_pem);
    assert_string_equal(d.firmware.chain_pem, g_firmware.chain_pem);
    assert_memory_equal(d.fixed.mac, g_fixed.mac, NV_MAC_BYTES);
    assert_string_equal(d.fixed.model_code, "MX200");
    assert_int_equal(d.fixed.board_made_at, 1767225600);
    assert_string_equal(d.common.certificate_pem, g_common.certificate_pem);
    assert_int_equal(d.common.sealed_key_len, sizeof(g_common_key));
    assert_memory_equal(d.common.sealed_key, g_common_key, sizeof(g_common_key));
    assert_int_equal(d.nvram.sequence, 1);
    assert_string_equal(d.nvram.device_number, DEVICE_NUMBER);
    assert_int_equal(d.nvram.initial_operational_value, 0x01020304);
    assert_int_equal(d.nvram.initial_apl_value, 0xA0B0C0D0);
    assert_int_equal(d.nvram.counters.certificate_writes, 0);
    assert_int_equal(d.nvram.counters.failed_writes, 0);
    assert_int_equal(d.nvram.counters.last_write_at, 0);
    assert_string_equal(d.nvram.common_certificate_pem, g_common.certificate_pem);
    assert_int_equal(d.has_certificate, 0);
    assert_int_equal(d.current_slot, -1);
    nv_close(&d);
}

static void test_close_zeroises(void **state)
{
    struct fixture *f = *state;
    struct nv_device d;
    unsigned char zero[NV_SECRET_BYTES] = {0};

    make_board(f);
    open_ok(f, &d);
    assert_memory_not_equal(d.firmware.prewrite_key, zero, NV_SECRET_BYTES);
    assert_memory_not_equal(d.firmware.peculiar_generator, zero, NV_SECRET_BYTES);
    nv_close(&d);
    assert_memory_equal(d.firmware.prewrite_key, zero, NV_SECRET_BYTES);
    assert_memory_equal(d.firmware.peculiar_generator, zero, NV_SECRET_BYTES);
    assert_null(d.firmware.root_pem);
    assert_null(d.common.sealed_key);
    assert_null(d.current.certificate_pem);
    nv_close(&d); /* twice is harmless */
    nv_close(NULL);
}

static void test_read_back_reads_the_file(void **state)
{
    struct fixture *f = *state;
    struct nv_certificate a, b, back;
    struct nv_device d;
    char err[256] = "";

    two_certificates(f, &a, &b);
    open_ok(f, &d);
    flip_byte(f->flash, SLOT_OFF(1) + HDR + SLOT_DATA + 3);
    assert_int_equal(nv_read_back(&d, &back, err, sizeof(err)), CL_ERR_PARSE);
    assert_non_null(strstr(err, "certificate slot 1"));
    assert_null(back.certificate_pem);
    nv_close(&d);
    nv_certificate_free(&a);
    nv_certificate_free(&b);
}

int nv_image_tests(void)
{
    const struct CMUnitTest tests[] = {
        NV_TEST(test_create_open_round_trip),
        NV_TEST(test_close_zeroises),
        NV_TEST(test_read_back_reads_the_file),
    };
    return cmocka_run_group_tests_name("nv image", tests, NULL, NULL);
}
