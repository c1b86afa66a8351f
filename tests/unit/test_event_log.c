/* test_event_log.c: the events file of the execution system: no path means no file, lines are
 * appended whole (with their newline, escaped JSON) after what is there, the file is created 0640,
 * and a folder that cannot be opened is refused naming it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "event_log.h"
#include "test_util.h"

static int setup(void **state)
{
    *state = cl_test_dir_new("test_event_log");
    return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    cl_test_dir_free(*state);
    return 0;
}

static void test_no_path(void **state)
{
    struct cl_event_log *log = (struct cl_event_log *)1;
    char err[256] = "";
    (void)state;
    assert_int_equal(cl_event_log_open("", &log, err, sizeof(err)), CL_OK);
    assert_null(log);
    assert_int_equal(cl_event_log_append(NULL, "x\n", err, sizeof(err)), CL_OK);
    cl_event_log_close(NULL);
}

static void test_append(void **state)
{
    char path[512], err[256] = "", text[512];
    struct cl_event_log *log = NULL;
    struct stat st;
    cJSON *event = cJSON_CreateObject();
    FILE *f;

    cl_test_path(path, sizeof(path), *state, "events.jsonl");
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"earlier\":1}\n", f);
    fclose(f);
    assert_int_equal(cl_event_log_open(path, &log, err, sizeof(err)), CL_OK);
    assert_non_null(log);
    assert_non_null(cJSON_AddStringToObject(event, "reason", "a \"quoted\"\nline"));
    assert_int_equal(cl_event_log_write(log, event, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_event_log_append(log, "{\"n\":2}\n", err, sizeof(err)), CL_OK);
    cl_event_log_close(log);
    cJSON_Delete(event);
    f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_string_equal(text,
                        "{\"earlier\":1}\n{\"reason\":\"a \\\"quoted\\\"\\nline\"}\n{\"n\":2}\n");

    cl_test_path(path, sizeof(path), *state, "new.jsonl");
    mode_t old_umask = umask(022);
    assert_int_equal(cl_event_log_open(path, &log, err, sizeof(err)), CL_OK);
    umask(old_umask);
    cl_event_log_close(log);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
}

static void test_refused(void **state)
{
    struct cl_event_log *log = NULL;
    char err[256] = "";
    assert_int_equal(cl_event_log_open(*state, &log, err, sizeof(err)), CL_ERR_IO);
    assert_null(log);
    assert_non_null(strstr(err, "events_file"));
    assert_non_null(strstr(err, (const char *)*state));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
