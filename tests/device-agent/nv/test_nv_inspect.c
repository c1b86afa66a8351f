/* test_nv_inspect.c: device images, nv_inspect: every check named, and each damaged area failing
 * its check alone. Each test works in a fresh mkdtemp directory. */
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

struct damage {
    const char *file; /* "flash" or "nvram" */
    size_t off;
    const char *area; /* named in err and failed in nv_inspect */
};

static void test_damaged_areas(void **state)
{
    struct fixture *f = *state;
    static const struct damage cases[] = {
        {"flash", 3, "flash header"},
        {"flash", PROGRAM_OFF + HDR + 40, "program area"},
        {"flash", PROGRAM_OFF + 1, "program area"},
        {"flash", FIXED_OFF + HDR + 2, "fixed parameters"},
        {"flash", COMMON_OFF + HDR + 10, "common certificate area"},
        {"nvram", 5, "nvram header"},
        {"nvram", BANK_OFF(0) + HDR + 12, "nvram bank 0"},
    };
    static const char *all[] = {"flash header",     "program area",
                                "fixed parameters", "common certificate area",
                                "nvram header",     "nvram bank 0"};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path;
        make_board(f);
        path = strcmp(cases[i].file, "flash") == 0 ? f->flash : f->nvram;
        flip_byte(path, cases[i].off);
        open_fails(f, CL_ERR_PARSE,
                   strncmp(cases[i].area, "nvram bank", 10) == 0 ? "no valid bank" : cases[i].area);
        for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
            assert_inspect(f, all[k], strcmp(all[k], cases[i].area) == 0 ? 0 : 1, NULL);
        assert_inspect(f, "certificate slot 0", -1, "empty");
        assert_inspect(f, "nvram bank 1", -1, "empty");
    }
}

static void test_inspect(void **state)
{
    struct fixture *f = *state;
    static const char *names[] = {
        "flash header",       "program area",       "fixed parameters", "common certificate area",
        "certificate slot 0", "certificate slot 1", "nvram header",     "nvram bank 0",
        "nvram bank 1"};
    struct nv_check checks[NV_CHECKS_MAX];
    struct nv_certificate a, b;
    size_t n;

    make_board(f);
    n = nv_inspect(f->flash, f->nvram, checks, NV_CHECKS_MAX);
    assert_int_equal(n, 9);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(checks[i].name, names[i]);
        if (strstr(names[i], "slot") != NULL || strcmp(names[i], "nvram bank 1") == 0)
            assert_int_equal(checks[i].ok, -1);
        else
            assert_int_equal(checks[i].ok, 1);
    }
    assert_non_null(strstr(checks[1].detail, "MX200"));
    assert_non_null(strstr(checks[2].detail, "02:11:22:33:44:55"));
    assert_int_equal(nv_inspect(f->flash, f->nvram, checks, 3), 3);

    two_certificates(f, &a, &b);
    assert_inspect(f, "certificate slot 0", 1, "sequence 1, older copy");
    assert_inspect(f, "certificate slot 1", 1, "sequence 2, current");
    assert_inspect(f, "nvram bank 0", 1, "sequence 3, current");
    assert_inspect(f, "nvram bank 0", 1, "2 writes");
    assert_inspect(f, "nvram bank 1", 1, "sequence 2, older copy");

    assert_int_equal(unlink(f->flash), 0);
    assert_inspect(f, "flash header", 0, "cannot open");
    assert_inspect(f, "certificate slot 1", 0, "not checked");
    assert_inspect(f, "nvram header", 1, NULL);
    nv_certificate_free(&a);
    nv_certificate_free(&b);
}

int nv_inspect_tests(void)
{
    const struct CMUnitTest tests[] = {
        NV_TEST(test_damaged_areas),
        NV_TEST(test_inspect),
    };
    return cmocka_run_group_tests_name("nv inspect", tests, NULL, NULL);
}
