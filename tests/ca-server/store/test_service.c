/* test_service.c: ca-server store, service certificates: one serial space with device certificates,
 * and serial collisions retried. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ca_store_fixture.h"
#include "error.h"
#include "pg_fixture.h"
#include "store.h"

/* ---- serial collisions ---- */

static const char *const *script;
static size_t script_at;

static int scripted_serial(char serial_hex[CA_SERIAL_HEX_MAX + 1])
{
    snprintf(serial_hex, CA_SERIAL_HEX_MAX + 1, "%s", script[script_at]);
    if (script[script_at + 1] != NULL)
        script_at++;
    return CL_OK;
}

static void test_serial_collision(void **state)
{
    /* 0C0D is a service certificate's: one CA, one serial space. */
    static const char *const collide[] = {"0102", "0C0D", "0102", "0A0B", NULL};
    static const char *const stuck[] = {"0102", NULL};
    struct ca_store *store = fresh_store("serials", NULL, 0);
    char **numbers = make_numbers("3012", 1, 2), **more = make_numbers("3012", 3, 1), err[512];
    struct ca_batch_item items[2], one[1];
    (void)state;

    add_model(store, "3012", "p256", 1);
    assert_int_equal(ca_store_service_issued(store, "0C0D", "comm-terminal", "ct-1", NULL, "op"),
                     CL_OK);
    script = collide;
    script_at = 0;
    ca_store_set_serial_source(store, scripted_serial);
    begin(store, "r-1", 1, 0, CONST_LIST(numbers), 2, items, CA_BATCH_NEW);
    assert_string_equal(items[0].serial_hex, "0102");
    assert_string_equal(items[1].serial_hex, "0A0B");
    assert_int_equal(ca_store_service_issued(store, "0102", "comm-terminal", "ct-2", NULL, "op"),
                     CL_ERR_EXISTS);

    /* Every draw collides: refused after a few tries, nothing recorded. */
    script = stuck;
    script_at = 0;
    begin_refused(store, "r-2", 2, 0, (const char *const *)more, 1, CL_ERR_INTERNAL, err,
                  sizeof(err));
    assert_contains(err, "3012-000003");
    assert_int_equal(count_certs(store, NULL, NULL), 2);

    ca_store_set_serial_source(store, NULL); /* back to cl_serial_ordered */
    begin(store, "r-2", 2, 0, CONST_LIST(more), 1, one, CA_BATCH_NEW);
    assert_string_not_equal(one[0].serial_hex, "0102");
    free_numbers(numbers, 2);
    free_numbers(more, 1);
    ca_store_close(store);
}

int ca_store_service_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_collision),
    };
    return cmocka_run_group_tests_name("ca_store service", tests, NULL, NULL);
}
