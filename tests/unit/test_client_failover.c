/* test_client_failover.c: ca_server's "endpoint" or "endpoints" (a list in the configuration,
 * config.c's CL_CFG_LIST) turned into the instances a client fails over between, and which
 * failures send a request to the next instance (the failover itself: test_multi_instance.py). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "client_failover.h"
#include "config.h"
#include "error.h"

static int load(const char *json, struct cl_endpoints_config *out, char *err, size_t errlen)
{
    return cl_config_load_string("ct.json", json, &cl_endpoints_config_table, out, err, errlen);
}

static void test_list_loaded(void **state)
{
    struct cl_endpoints_config c;
    struct cl_failover *f = NULL;
    char err[256];
    (void)state;

    assert_int_equal(load("{\"endpoints\": [\"https://a:1/ca\", \"https://b:2/ca\"],"
                          " \"server_name\": \"ca.x\"}",
                          &c, err, sizeof(err)),
                     CL_OK);
    assert_string_equal(c.endpoints, "https://a:1/ca https://b:2/ca");
    assert_string_equal(c.endpoint, "");
    assert_int_equal(cl_failover_new(&c, "ca_server", &f, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_failover_count(f), 2);
    assert_string_equal(cl_failover_endpoint(f), "https://a:1/ca");
    cl_failover_free(f);
    /* The single endpoint still works. */
    assert_int_equal(
        load("{\"endpoint\": \"https://a:1/ca\", \"server_name\": \"ca.x\"}", &c, err, sizeof(err)),
        CL_OK);
    assert_int_equal(cl_failover_new(&c, "ca_server", &f, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_failover_count(f), 1);
    assert_string_equal(cl_failover_endpoint(f), "https://a:1/ca");
    cl_failover_free(f);
    cl_failover_free(NULL);
}

static void test_list_refused(void **state)
{
    struct cl_endpoints_config c;
    char err[256];
    (void)state;

    assert_int_equal(
        load("{\"endpoints\": \"https://a:1/ca\", \"server_name\": \"s\"}", &c, err, sizeof(err)),
        CL_ERR_CONFIG);
    assert_string_equal(err, "ct.json: key \"endpoints\": expected a list of strings");
    assert_int_equal(load("{\"endpoints\": [], \"server_name\": \"s\"}", &c, err, sizeof(err)),
                     CL_ERR_CONFIG);
    assert_int_equal(load("{\"endpoints\": [\"https://a:1/ca\", \"https://b:2/c a\"],"
                          " \"server_name\": \"s\"}",
                          &c, err, sizeof(err)),
                     CL_ERR_CONFIG);
    assert_string_equal(err, "ct.json: key \"endpoints\": item 2 must be a string of 12 to 255 "
                             "printable bytes without spaces");
    assert_int_equal(load("{\"endpoints\": [\"https://a:1/ca\", 7], \"server_name\": \"s\"}", &c,
                          err, sizeof(err)),
                     CL_ERR_CONFIG);
    assert_non_null(strstr(err, "item 2 must be a string"));
}

static void test_instances_refused(void **state)
{
    struct cl_endpoints_config c;
    char err[256];
    (void)state;

    assert_int_equal(load("{\"endpoint\": \"https://a:1/ca\", \"endpoints\": [\"https://b:2/ca\"],"
                          " \"server_name\": \"s\"}",
                          &c, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(cl_failover_new(&c, "ca_server", NULL, err, sizeof(err)), CL_ERR_CONFIG);
    assert_string_equal(err, "ca_server: give \"endpoint\" (one instance) or \"endpoints\" (a "
                             "list), not both");
    assert_int_equal(load("{\"server_name\": \"s\"}", &c, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_failover_new(&c, "ca_server", NULL, err, sizeof(err)), CL_ERR_CONFIG);
    assert_non_null(strstr(err, "one of them"));
    assert_int_equal(load("{\"endpoints\": [\"https://a:1/ca\", \"https://a:1/ca\"],"
                          " \"server_name\": \"s\"}",
                          &c, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(cl_failover_new(&c, "ca_server", NULL, err, sizeof(err)), CL_ERR_CONFIG);
    assert_string_equal(err, "ca_server.endpoints: \"https://a:1/ca\" is listed twice");
    assert_int_equal(load("{\"endpoints\": [\"http://a:1/ca/x\"], \"server_name\": \"s\"}", &c, err,
                          sizeof(err)),
                     CL_OK);
    assert_int_equal(cl_failover_new(&c, "ca_server", NULL, err, sizeof(err)), CL_ERR_CONFIG);
    assert_non_null(strstr(err, "is not an https:// address"));
}

/* Only a failed connection sends the request elsewhere; an answer, a fault included, never. */
static void test_which_failures(void **state)
{
    (void)state;
    assert_true(cl_failover_connection_failed(CL_ERR_CONNECT));
    assert_true(cl_failover_connection_failed(CL_ERR_CLOSED));
    assert_true(cl_failover_connection_failed(CL_ERR_TLS_HANDSHAKE));
    assert_true(cl_failover_connection_failed(CL_ERR_TLS_PEER_VERIFY));
    assert_false(cl_failover_connection_failed(CL_ERR_SOAP_FAULT));
    assert_false(cl_failover_connection_failed(CL_ERR_PARSE));
    assert_false(cl_failover_connection_failed(CL_ERR_PERMISSION));
    assert_false(cl_failover_connection_failed(CL_OK));
    assert_int_equal(cl_failover_retry(NULL, NULL, CL_ERR_CONNECT, NULL, "x"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_loaded),
        cmocka_unit_test(test_list_refused),
        cmocka_unit_test(test_instances_refused),
        cmocka_unit_test(test_which_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
