/* test_plan_import.c: production plans in CSV and JSON, and every refusal naming file, line or
 * entry and field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "plan_import.h"
#include "test_util.h"

static char dir[64];

static const char *write_plan(const char *name, const char *text)
{
    static char path[256];
    cl_test_write_file(cl_test_path(path, sizeof(path), dir, name), text);
    return path;
}

static void test_csv_first_serial_and_explicit(void **state)
{
    struct plan plan;
    char err[512];
    (void)state;

    const char *path = write_plan("plan.csv", "# FIG 19B, 3/17\n"
                                              "device_code,date,units,first_serial,serial_digits\n"
                                              "3012,2026-11-21,1000,123456,6\n"
                                              "\n"
                                              "3013, 2026-11-21 ,500,1\r\n");
    assert_int_equal(plan_read(path, &plan, err, sizeof(err)), CL_OK);
    assert_int_equal(plan.count, 2);
    assert_string_equal(plan.entries[0].model_code, "3012");
    assert_string_equal(plan.entries[0].day, "2026-11-21");
    assert_int_equal(plan.entries[0].units, 1000);
    assert_int_equal(plan.entries[0].first_serial, 123456);
    assert_int_equal(plan.entries[0].serial_digits, 6);
    assert_null(plan.entries[0].serials);
    assert_string_equal(plan.entries[1].model_code, "3013");
    assert_int_equal(plan.entries[1].serial_digits, 6); /* the default */
    plan_free(&plan);

    path = write_plan("explicit.csv", "device_code,date,units,serials\n"
                                      "A123,2026-11-21,3,654321;654322;654330\n");
    assert_int_equal(plan_read(path, &plan, err, sizeof(err)), CL_OK);
    assert_int_equal(plan.count, 1);
    assert_non_null(plan.entries[0].serials);
    assert_int_equal(plan.entries[0].serials[2], 654330);
    plan_free(&plan);
}

static void test_json(void **state)
{
    struct plan plan;
    char err[512];
    (void)state;

    const char *path = write_plan(
        "plan.json", "[{\"device_code\": \"3012\", \"date\": \"2026-11-21\", \"units\": 2, "
                     "\"first_serial\": 1, \"serial_digits\": 6},\n"
                     " {\"device_code\": \"A123\", \"date\": \"2026-11-22\", \"units\": 2, "
                     "\"serials\": [654321, 7]}]");
    assert_int_equal(plan_read(path, &plan, err, sizeof(err)), CL_OK);
    assert_int_equal(plan.count, 2);
    assert_int_equal(plan.entries[0].first_serial, 1);
    assert_string_equal(plan.entries[1].day, "2026-11-22");
    assert_int_equal(plan.entries[1].serials[0], 654321);
    assert_int_equal(plan.entries[1].serials[1], 7);
    plan_free(&plan);
}

/* Each bad plan is refused with a message containing needle. */
static void expect_refused(const char *name, const char *text, const char *needle)
{
    struct plan plan;
    char err[512] = "";
    const char *path = write_plan(name, text);
    assert_int_not_equal(plan_read(path, &plan, err, sizeof(err)), CL_OK);
    if (strstr(err, needle) == NULL)
        fail_msg("%s: expected \"%s\" in \"%s\"", name, needle, err);
    assert_null(plan.entries);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_refused("noheader.csv", "3012,2026-11-21,10,1\n", "noheader.csv line 1: the header");
    expect_refused("code.csv", "device_code,date,units,first_serial\n30-12,2026-11-21,10,1\n",
                   "code.csv line 2: device code \"30-12\"");
    expect_refused("date.csv", "device_code,date,units,first_serial\n3012,21/11/2026,10,1\n",
                   "date.csv line 2: date \"21/11/2026\"");
    expect_refused("units.csv", "device_code,date,units,first_serial\n3012,2026-11-21,0,1\n",
                   "units.csv line 2: bad device code, date or units \"0\"");
    expect_refused("many.csv", "device_code,date,units,first_serial\n3012,2026-11-21,100001,1\n",
                   "many.csv line 2");
    expect_refused("wide.csv",
                   "device_code,date,units,first_serial\n3012,2026-11-21,10,999999999999,12\n",
                   "do not fit 12 digits");
    expect_refused("count.csv", "device_code,date,units,serials\nA123,2026-11-21,3,1;2\n",
                   "count.csv line 2: 2 serials listed for 3 units");
    expect_refused("fields.csv", "device_code,date,units,first_serial\n3012,2026-11-21\n",
                   "fields.csv line 2: expected 4 or 5 fields");
    expect_refused("empty.csv", "device_code,date,units,first_serial\n", "empty.csv: no plan");
    expect_refused("bad.json", "[{\"device_code\": \"3012\"}]",
                   "bad.json entry 1: needs device_code, date");
    expect_refused("float.json",
                   "[{\"device_code\": \"3012\", \"date\": \"2026-11-21\", \"units\": 2.5, "
                   "\"first_serial\": 1}]",
                   "float.json entry 1");
    expect_refused("unknown.json",
                   "[{\"device_code\": \"3012\", \"date\": \"2026-11-21\", \"units\": 2, "
                   "\"first_serial\": 1, \"colour\": \"red\"}]",
                   "unknown field \"colour\"");
    expect_refused("object.json", "[1, 2]", "object.json entry 1");
    expect_refused("notjson.json", "[{\"device_code\": ", "not a JSON array");
}

/* Numbers out of every integer's range (cJSON reads 1e400 as infinity; JSON has no NaN) are
 * refused, in every numeric field, before any conversion: the sanitizer build includes
 * float-cast-overflow and aborts on such a conversion. */
static void test_huge_numbers(void **state)
{
    static const char *const values[] = {"1e300", "-1e300", "1e400", "-1e400", "9.3e18", "-9.3e18"};
    /* Each field in turn: the text before the number and after it. */
    static const char *const around[][2] = {
        {"[{\"device_code\": \"3012\", \"date\": \"2026-11-21\", \"units\": ",
         ", \"first_serial\": 1}]"},
        {"[{\"device_code\": \"3012\", \"date\": \"2026-11-21\", \"units\": 2, "
         "\"first_serial\": ",
         "}]"},
        {"[{\"device_code\": \"3012\", \"date\": \"2026-11-21\", \"units\": 2, "
         "\"first_serial\": 1, \"serial_digits\": ",
         "}]"},
        {"[{\"device_code\": \"A123\", \"date\": \"2026-11-21\", \"units\": 2, "
         "\"serials\": [1, ",
         "]}]"},
    };
    (void)state;
    for (size_t t = 0; t < sizeof(around) / sizeof(around[0]); t++) {
        for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
            char text[512], path[256];
            snprintf(text, sizeof(text), "%s%s%s", around[t][0], values[v], around[t][1]);
            expect_refused("huge.json", text, "huge.json entry 1");
            unlink(cl_test_path(path, sizeof(path), dir, "huge.json"));
        }
    }
}

/* A plan handed over as text (the plan feed's ct:SubmitPlan): read as a file is, the name standing
 * for the file in the reasons. */
static void test_parse_text(void **state)
{
    struct plan plan;
    char err[512] = "";
    (void)state;

    assert_int_equal(plan_parse("submitted",
                                "device_code,date,units,first_serial\n3012,2026-11-21,2,1\n", &plan,
                                err, sizeof(err)),
                     CL_OK);
    assert_int_equal(plan.count, 1);
    assert_int_equal(plan.entries[0].units, 2);
    plan_free(&plan);
    assert_int_not_equal(plan_parse("submitted",
                                    "device_code,date,units,first_serial\n3012,2026-1-21,2,1\n",
                                    &plan, err, sizeof(err)),
                         CL_OK);
    assert_non_null(strstr(err, "submitted line 2: date"));
    assert_null(plan.entries);
}

/* Every bad line (or entry) of a plan is named, in order, up to PLAN_ERRORS_MAX; the first is
 * plan_parse's err, and what is accepted does not change. */
static void test_every_error(void **state)
{
    struct plan plan;
    struct plan_errors *errors = malloc(sizeof(*errors));
    char err[512] = "", *big = malloc(200 * 40 + 100);
    (void)state;

    assert_non_null(errors);
    assert_non_null(big);
    static const char bad3[] = "device_code,date,units,first_serial,serial_digits\n"
                               "3012,2026-11-21,2,1\n"
                               "3012,2026-11-21,none,10\n"
                               "3012,2026-11-21,2,20\n"
                               "3012,2026-13-01,2,30\n"
                               "# a comment\n"
                               "3012,2026-11-21,2\n";
    assert_int_equal(plan_parse_all("up", bad3, &plan, errors), CL_ERR_PARSE);
    assert_null(plan.entries);
    assert_int_equal(errors->count, 3);
    assert_int_equal(errors->kept, 3);
    assert_non_null(strstr(errors->text[0], "up line 3: bad device code, date or units"));
    assert_non_null(strstr(errors->text[1], "up line 5: date \"2026-13-01\""));
    assert_non_null(strstr(errors->text[2], "up line 7: expected 4 or 5 fields, found 3"));
    assert_int_equal(plan_parse("up", bad3, &plan, err, sizeof(err)), CL_ERR_PARSE);
    assert_string_equal(err, errors->text[0]);

    static const char json[] = "[{\"device_code\": \"3012\", \"date\": \"2026-11-21\", "
                               "\"units\": 2, \"first_serial\": 1}, {\"device_code\": \"30-12\", "
                               "\"date\": \"2026-11-21\", \"units\": 2, \"first_serial\": 1}, "
                               "{\"units\": 2, \"colour\": 1}]";
    assert_int_equal(plan_parse_all("up", json, &plan, errors), CL_ERR_PARSE);
    assert_int_equal(errors->count, 2);
    assert_non_null(strstr(errors->text[0], "up entry 2: device code"));
    assert_non_null(strstr(errors->text[1], "up entry 3: unknown field \"colour\""));

    /* 200 bad lines: all counted, the first 100 kept. */
    strcpy(big, "device_code,date,units,first_serial\n");
    for (int i = 0; i < 200; i++)
        strcat(big, "3012,2026-11-21,0,1\n");
    assert_int_equal(plan_parse_all("up", big, &plan, errors), CL_ERR_PARSE);
    assert_int_equal(errors->count, 200);
    assert_int_equal(errors->kept, PLAN_ERRORS_MAX);
    assert_non_null(strstr(errors->text[99], "up line 101:"));

    /* A good plan is read as before, with no error. */
    assert_int_equal(plan_parse_all("up",
                                    "device_code,date,units,first_serial\n3012,2026-11-21,2,1\n",
                                    &plan, errors),
                     CL_OK);
    assert_int_equal(errors->count, 0);
    assert_int_equal(plan.count, 1);
    plan_free(&plan);
    free(big);
    free(errors);
}

static void test_missing_file(void **state)
{
    struct plan plan;
    char err[512];
    (void)state;
    assert_int_not_equal(plan_read("/nonexistent/plan.csv", &plan, err, sizeof(err)), CL_OK);
    assert_non_null(strstr(err, "/nonexistent/plan.csv: cannot read the plan"));
}

static int setup(void **state)
{
    (void)state;
    return cl_test_dir_make(dir, sizeof(dir), "certline-plan");
}

static int teardown(void **state)
{
    (void)state;
    return cl_test_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_first_serial_and_explicit),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_parse_text),
        cmocka_unit_test(test_every_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
