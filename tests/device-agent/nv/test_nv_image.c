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

/* The program area's optional tail: the next pre-write keys of a version 2 bundle round-trip and
 * are wiped at close; a board without them is the version 1 layout, byte for byte; too many are
 * refused before anything is written. */
static void test_next_prewrite_keys(void **state)
{
    struct fixture *f = *state;
    unsigned char zero[NV_SECRET_BYTES] = {0}, *plain, *with;
    size_t plain_len, with_len;
    struct nv_board b;
    struct nv_device d;
    char err[256] = "";

    make_board(f);
    plain = slurp(f->flash, &plain_len);
    b = board_make(DEVICE_NUMBER); /* resets g_firmware: the next keys go in after it */
    g_firmware.next_key_count = 2;
    snprintf(g_firmware.next_keys[0].key_id, sizeof(g_firmware.next_keys[0].key_id), "MX200-k2");
    memset(g_firmware.next_keys[0].key, 0x42, NV_SECRET_BYTES);
    snprintf(g_firmware.next_keys[1].key_id, sizeof(g_firmware.next_keys[1].key_id), "MX200-k3");
    memset(g_firmware.next_keys[1].key, 0x43, NV_SECRET_BYTES);
    assert_int_equal(nv_create(f->flash, f->nvram, &b, 1, err, sizeof(err)), CL_OK);
    with = slurp(f->flash, &with_len);
    assert_int_equal(plain_len, with_len);
    assert_memory_not_equal(plain, with, plain_len);
    free(with);
    open_ok(f, &d);
    assert_int_equal(d.firmware.next_key_count, 2);
    assert_string_equal(d.firmware.next_keys[1].key_id, "MX200-k3");
    assert_memory_equal(d.firmware.next_keys[1].key, g_firmware.next_keys[1].key, NV_SECRET_BYTES);
    nv_close(&d);
    assert_int_equal(d.firmware.next_key_count, 0);
    assert_memory_equal(d.firmware.next_keys[0].key, zero, NV_SECRET_BYTES);

    g_firmware.next_key_count = NV_NEXT_KEYS_MAX + 1;
    assert_int_equal(nv_create(f->flash, f->nvram, &b, 1, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "next pre-write keys"));
    make_board(f); /* without next keys: the version 1 layout, byte for byte */
    with = slurp(f->flash, &with_len);
    assert_memory_equal(plain, with, plain_len);
    free(plain);
    free(with);
}

int nv_image_tests(void)
{
    const struct CMUnitTest tests[] = {
        NV_TEST(test_next_prewrite_keys),
        NV_TEST(test_create_open_round_trip),
        NV_TEST(test_close_zeroises),
        NV_TEST(test_read_back_reads_the_file),
    };
    return cmocka_run_group_tests_name("nv image", tests, NULL, NULL);
}
