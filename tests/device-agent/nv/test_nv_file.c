/* test_nv_file.c: device images, the image files: no overwrite unless forced, nothing left by a
 * failed creation, truncated and missing files. Each test works in a fresh mkdtemp directory. */
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

static void test_create_refuses_overwrite(void **state)
{
    struct fixture *f = *state;
    struct nv_board b = board_make("DN-OTHER");
    struct nv_device d;
    unsigned char *before, *after;
    size_t blen, alen;
    char err[256] = "";

    make_board(f);
    before = slurp(f->flash, &blen);
    assert_int_equal(nv_create(f->flash, f->nvram, &b, 0, err, sizeof(err)), CL_ERR_EXISTS);
    assert_non_null(strstr(err, "exists"));
    after = slurp(f->flash, &alen);
    assert_int_equal(alen, blen);
    assert_memory_equal(before, after, blen);
    free(after);
    free(before);
    open_ok(f, &d);
    assert_string_equal(d.nvram.device_number, DEVICE_NUMBER);
    nv_close(&d);

    /* Only the NVRAM image exists: still refused, and no flash image is made. */
    assert_int_equal(unlink(f->flash), 0);
    assert_int_equal(nv_create(f->flash, f->nvram, &b, 0, err, sizeof(err)), CL_ERR_EXISTS);
    assert_int_equal(access(f->flash, F_OK), -1);

    /* force replaces both. */
    assert_int_equal(nv_create(f->flash, f->nvram, &b, 1, err, sizeof(err)), CL_OK);
    open_ok(f, &d);
    assert_string_equal(d.nvram.device_number, "DN-OTHER");
    nv_close(&d);
}

static void test_create_leaves_nothing_on_failure(void **state)
{
    struct fixture *f = *state;
    struct nv_board b = board_make(DEVICE_NUMBER);
    char nvram[192], err[256] = "";
    char long_number[NV_DEVICE_NUMBER_MAX + 2];

    /* The NVRAM image cannot be made: the flash image made before it goes again. */
    snprintf(nvram, sizeof(nvram), "%s/missing-dir/nvram.img", f->dir);
    assert_int_equal(nv_create(f->flash, nvram, &b, 0, err, sizeof(err)), CL_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "nvram"));
    assert_int_equal(access(f->flash, F_OK), -1);

    /* A bad board writes nothing. */
    memset(long_number, '7', sizeof(long_number) - 1);
    long_number[sizeof(long_number) - 1] = '\0';
    b = board_make(long_number);
    assert_int_equal(nv_create(f->flash, f->nvram, &b, 0, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "device number"));
    b = board_make(DEVICE_NUMBER);
    g_common.sealed_key_len = NV_SEALED_MAX + 1;
    assert_int_equal(nv_create(f->flash, f->nvram, &b, 0, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(access(f->flash, F_OK), -1);
    assert_int_equal(access(f->nvram, F_OK), -1);
}

static void test_truncated_and_missing_files(void **state)
{
    struct fixture *f = *state;
    static const off_t sizes[] = {0, 20, 100, FLASH_SIZE / 2, FLASH_SIZE - 1, FLASH_SIZE + 1};
    struct nv_device d;
    char err[256] = "";

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        make_board(f);
        truncate_to(f->flash, sizes[i]);
        open_fails(f, CL_ERR_PARSE, "flash header");
        assert_inspect(f, "flash header", 0, "bytes");
        assert_inspect(f, "nvram header", 1, NULL);
    }
    /* Half an image: what is there is still checked. */
    make_board(f);
    truncate_to(f->flash, FLASH_SIZE / 2);
    assert_inspect(f, "program area", 1, NULL);
    assert_inspect(f, "common certificate area", 0, "truncated");

    make_board(f);
    truncate_to(f->nvram, NVRAM_SIZE - 4);
    open_fails(f, CL_ERR_PARSE, "nvram header");
    assert_inspect(f, "nvram bank 1", 0, "truncated");

    make_board(f);
    assert_int_equal(unlink(f->nvram), 0);
    assert_int_equal(nv_open(f->flash, f->nvram, &d, err, sizeof(err)), CL_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "nvram"));
    assert_inspect(f, "nvram header", 0, "cannot open");
    assert_inspect(f, "nvram bank 0", 0, "not checked");
    assert_inspect(f, "program area", 1, NULL);
}

int nv_file_tests(void)
{
    const struct CMUnitTest tests[] = {
        NV_TEST(test_create_refuses_overwrite),
        NV_TEST(test_create_leaves_nothing_on_failure),
        NV_TEST(test_truncated_and_missing_files),
    };
    return cmocka_run_group_tests_name("nv file", tests, NULL, NULL);
}
