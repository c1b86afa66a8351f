/* test_config.c: typed loading with defaults and nested objects, and the exact refusal message
 * (naming the file and the dotted key) for each kind of bad configuration. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "config.h"
#include "error.h"
#include "test_util.h"

#define NAME "/etc/certline/ca.json"

struct tls_cfg {
    char cert_file[256];
    char key_file[256];
    char ca_file[256];
};

struct db_cfg {
    char conninfo[512];
    long long pool;
};

struct limits_cfg {
    long long max_connections;
    long long timeout_s;
};

struct app_cfg {
    char name[64];
    char site[16];
    long long listen_port;
    long long offset;
    bool foreground;
    bool strict;
    enum cl_log_level log_level;
    struct tls_cfg tls;
    struct db_cfg db;
    struct limits_cfg limits;
};

static const struct cl_cfg_field tls_fields[] = {
    CL_CFG_STR(struct tls_cfg, cert_file, "cert_file", 1, 1, "certificate chain (PEM)"),
    CL_CFG_STR(struct tls_cfg, key_file, "key_file", 1, 1, "private key (PEM)"),
    CL_CFG_STR_DEF(struct tls_cfg, ca_file, "ca_file", "/etc/certline/root.pem", 1,
                   "trusted root (PEM)"),
};
static const struct cl_cfg_table tls_table = CL_CFG_TABLE(tls_fields);

static const struct cl_cfg_field db_fields[] = {
    CL_CFG_STR(struct db_cfg, conninfo, "conninfo", 1, 1, "libpq connection string"),
    CL_CFG_INT(struct db_cfg, pool, "pool", 0, 1, 64, 4, "database connections"),
};
static const struct cl_cfg_table db_table = CL_CFG_TABLE(db_fields);

static const struct cl_cfg_field limits_fields[] = {
    CL_CFG_INT(struct limits_cfg, max_connections, "max_connections", 0, 1, 10000, 64,
               "concurrent connections"),
    CL_CFG_INT(struct limits_cfg, timeout_s, "timeout_s", 0, 1, 3600, 30, "I/O timeout"),
};
static const struct cl_cfg_table limits_table = CL_CFG_TABLE(limits_fields);

static const struct cl_cfg_field app_fields[] = {
    CL_CFG_STR_DEF(struct app_cfg, name, "name", "ca", 1, "name shown in logs"),
    CL_CFG_STR_DEF(struct app_cfg, site, "site", "abc", 3, "site code"),
    CL_CFG_INT(struct app_cfg, listen_port, "listen_port", 1, 1, 65535, 0, "TCP port"),
    CL_CFG_INT(struct app_cfg, offset, "offset", 0, -1000, 1000, -5, "signed value"),
    CL_CFG_BOOL(struct app_cfg, foreground, "foreground", 0, 0, "stay in the foreground"),
    CL_CFG_BOOL(struct app_cfg, strict, "strict", 0, 1, "strict mode"),
    CL_CFG_LOG_LEVEL(struct app_cfg, log_level, "log_level", 0, CL_LOG_INFO, "log verbosity"),
    CL_CFG_OBJ(struct app_cfg, tls, "tls", 1, &tls_table, "TLS settings"),
    CL_CFG_OBJ(struct app_cfg, db, "db", 1, &db_table, "database"),
    CL_CFG_OBJ(struct app_cfg, limits, "limits", 0, &limits_table, "resource limits"),
};
static const struct cl_cfg_table app_table = CL_CFG_TABLE(app_fields);

#define TLS_OK "\"tls\": {\"cert_file\": \"/etc/certline/ca.crt\", \"key_file\": \"/k\"}"
#define DB_OK "\"db\": {\"conninfo\": \"dbname=certline\"}"
#define GOOD "{\"listen_port\": 8443, " TLS_OK ", " DB_OK "}"

static void test_good_with_defaults(void **state)
{
    struct app_cfg cfg;
    char err[256];

    (void)state;
    memset(&cfg, 0xAA, sizeof(cfg));
    assert_int_equal(cl_config_load_string(NAME, GOOD, &app_table, &cfg, err, sizeof(err)), CL_OK);
    assert_string_equal(err, "");
    assert_string_equal(cfg.name, "ca");
    assert_string_equal(cfg.site, "abc");
    assert_int_equal(cfg.listen_port, 8443);
    assert_int_equal(cfg.offset, -5);
    assert_false(cfg.foreground);
    assert_true(cfg.strict);
    assert_int_equal(cfg.log_level, CL_LOG_INFO);
    assert_string_equal(cfg.tls.cert_file, "/etc/certline/ca.crt");
    assert_string_equal(cfg.tls.key_file, "/k");
    assert_string_equal(cfg.tls.ca_file, "/etc/certline/root.pem");
    assert_string_equal(cfg.db.conninfo, "dbname=certline");
    assert_int_equal(cfg.db.pool, 4);
    assert_int_equal(cfg.limits.max_connections, 64);
    assert_int_equal(cfg.limits.timeout_s, 30);
}

static void test_good_all_values(void **state)
{
    static const char json[] =
        "{\n"
        "  \"name\": \"ca-line-1 \\\"quoted\\\" 1.5e3 \\\\\",\n"
        "  \"site\": \"xyz\",\n"
        "  \"offset\": -1000,\n"
        "  \"listen_port\": 65535,\n"
        "  \"foreground\": true,\n"
        "  \"strict\": false,\n"
        "  \"log_level\": \"debug\",\n"
        "  \"tls\": {\"cert_file\": \"c\", \"key_file\": \"k\", \"ca_file\": \"r\"},\n"
        "  \"db\": {\"conninfo\": \"host=/run/postgresql\", \"pool\": 64},\n"
        "  \"limits\": {\"timeout_s\": 1}\n"
        "}\n";
    struct app_cfg cfg;
    char err[256];

    (void)state;
    assert_int_equal(cl_config_load_string(NAME, json, &app_table, &cfg, err, sizeof(err)), CL_OK);
    assert_string_equal(cfg.name, "ca-line-1 \"quoted\" 1.5e3 \\");
    assert_string_equal(cfg.site, "xyz");
    assert_int_equal(cfg.offset, -1000);
    assert_int_equal(cfg.listen_port, 65535);
    assert_true(cfg.foreground);
    assert_false(cfg.strict);
    assert_int_equal(cfg.log_level, CL_LOG_DEBUG);
    assert_string_equal(cfg.tls.ca_file, "r");
    assert_string_equal(cfg.db.conninfo, "host=/run/postgresql");
    assert_int_equal(cfg.db.pool, 64);
    /* A partial nested object keeps the defaults of what it leaves out. */
    assert_int_equal(cfg.limits.timeout_s, 1);
    assert_int_equal(cfg.limits.max_connections, 64);
}

/* Loads json and asserts CL_ERR_CONFIG with exactly NAME ": " message. */
static void expect_error(const char *json, const char *message)
{
    struct app_cfg cfg;
    char err[512], expected[512];
    int rc;

    rc = cl_config_load_string(NAME, json, &app_table, &cfg, err, sizeof(err));
    snprintf(expected, sizeof(expected), "%s: %s", NAME, message);
    if (rc != CL_ERR_CONFIG || strcmp(err, expected) != 0)
        fail_msg("for %s\nexpected %s (%s)\n     got %s (%s)", json, expected,
                 cl_err_name(CL_ERR_CONFIG), err, cl_err_name(rc));
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_error("{\"tls\": {\"cert_file\": 5}}", "key \"tls.cert_file\": expected a string");
    expect_error("{\"tls\": {\"cert_file\": null}}", "key \"tls.cert_file\": expected a string");
    expect_error("{\"name\": true}", "key \"name\": expected a string");
    expect_error("{\"name\": [\"a\"]}", "key \"name\": expected a string");
    expect_error("{\"listen_port\": \"5\"}", "key \"listen_port\": expected an integer");
    expect_error("{\"listen_port\": true}", "key \"listen_port\": expected an integer");
    expect_error("{\"listen_port\": null}", "key \"listen_port\": expected an integer");
    expect_error("{\"listen_port\": 5.5}", "key \"listen_port\": expected an integer");
    expect_error("{\"listen_port\": 5.0}", "key \"listen_port\": expected an integer");
    expect_error("{\"listen_port\": 5e0}", "key \"listen_port\": expected an integer");
    expect_error("{\"listen_port\": 1E400}", "key \"listen_port\": expected an integer");
    expect_error("{\"limits\": {\"timeout_s\": 30, \"max_connections\": 1.0}}",
                 "key \"limits.max_connections\": expected an integer");
    expect_error("{\"foreground\": 1}", "key \"foreground\": expected true or false");
    expect_error("{\"foreground\": \"true\"}", "key \"foreground\": expected true or false");
    expect_error("{\"log_level\": \"verbose\"}",
                 "key \"log_level\": expected \"error\", \"warn\", \"info\" or \"debug\"");
    expect_error("{\"log_level\": 3}",
                 "key \"log_level\": expected \"error\", \"warn\", \"info\" or \"debug\"");
    expect_error("{\"log_level\": \"WARN\"}",
                 "key \"log_level\": expected \"error\", \"warn\", \"info\" or \"debug\"");
    expect_error("{\"tls\": \"x\"}", "key \"tls\": expected an object");
    expect_error("{\"tls\": []}", "key \"tls\": expected an object");
    expect_error("{\"tls\": null}", "key \"tls\": expected an object");
}

static void test_unknown_and_duplicate(void **state)
{
    (void)state;
    expect_error("{\"tls\": {\"certfile\": \"x\"}}", "unknown key \"tls.certfile\"");
    expect_error("{\"listen_prot\": 1}", "unknown key \"listen_prot\"");
    expect_error("{\"Name\": \"x\"}", "unknown key \"Name\"");
    expect_error("{\"bad\\nkey\\\"\": 1}", "unknown key \"bad\\x0akey\\\"\"");
    expect_error("{\"listen_port\": 1, \"listen_port\": 2}", "duplicate key \"listen_port\"");
    expect_error("{\"tls\": {\"cert_file\": \"a\", \"cert_file\": \"b\"}}",
                 "duplicate key \"tls.cert_file\"");
    expect_error("{\"tls\": {\"cert_file\": \"a\", \"key_file\": \"k\"}, \"tls\": {}}",
                 "duplicate key \"tls\"");
}

static void test_bounds(void **state)
{
    char json[256];
    char name63[64], name64[65];

    (void)state;
    expect_error("{\"listen_port\": 70000}", "key \"listen_port\": 70000 is out of range 1..65535");
    expect_error("{\"listen_port\": 0}", "key \"listen_port\": 0 is out of range 1..65535");
    expect_error("{\"listen_port\": -0}", "key \"listen_port\": 0 is out of range 1..65535");
    expect_error("{\"listen_port\": -1}", "key \"listen_port\": -1 is out of range 1..65535");
    expect_error("{\"offset\": -1001}", "key \"offset\": -1001 is out of range -1000..1000");
    expect_error("{\"listen_port\": 99999999999999999999}",
                 "key \"listen_port\": value is out of range 1..65535");
    expect_error("{\"limits\": {\"max_connections\": 0}}",
                 "key \"limits.max_connections\": 0 is out of range 1..10000");

    memset(name63, 'n', 63);
    name63[63] = '\0';
    memset(name64, 'n', 64);
    name64[64] = '\0';
    snprintf(json, sizeof(json), "{\"name\": \"%s\"}", name64);
    expect_error(json, "key \"name\": longer than 63 bytes");
    snprintf(json, sizeof(json), "{\"name\": \"%s\", \"listen_port\": 1, %s, %s}", name63, TLS_OK,
             DB_OK);
    {
        struct app_cfg cfg;
        assert_int_equal(cl_config_load_string(NAME, json, &app_table, &cfg, NULL, 0), CL_OK);
        assert_string_equal(cfg.name, name63);
    }
    expect_error("{\"name\": \"\"}", "key \"name\": must not be empty");
    expect_error("{\"site\": \"ab\"}", "key \"site\": shorter than 3 bytes");
    expect_error("{\"site\": \"0123456789abcdefg\"}", "key \"site\": longer than 15 bytes");
}

static void test_missing_required(void **state)
{
    (void)state;
    expect_error("{\"listen_port\": 1, " TLS_OK ", \"db\": {}}",
                 "missing required key \"db.conninfo\"");
    expect_error("{\"listen_port\": 1, " TLS_OK "}", "missing required key \"db\"");
    expect_error("{" TLS_OK ", " DB_OK "}", "missing required key \"listen_port\"");
    expect_error("{\"listen_port\": 1, \"tls\": {\"cert_file\": \"c\"}, " DB_OK "}",
                 "missing required key \"tls.key_file\"");
    expect_error("{}", "missing required key \"listen_port\"");
}

static void test_invalid_json(void **state)
{
    (void)state;
    expect_error("{\n  \"listen_port\": 1,\n  \"name\": ,\n}", "invalid JSON near line 3");
    expect_error("", "invalid JSON near line 1");
    expect_error("{} x", "invalid JSON near line 1");
    expect_error("{\"listen_port\": NaN}", "invalid JSON near line 1");
    expect_error("{\"listen_port\": Infinity}", "invalid JSON near line 1");
    expect_error("{\"listen_port\": +5}", "invalid JSON near line 1");
    expect_error("{\"a\": 1 /* comment */}", "invalid JSON near line 1");
    expect_error("{\n\"name\": \"a\\u0000b\"}", "invalid JSON near line 2: \\u0000 in a string");
    expect_error("{\"listen_port\": 0600}", "invalid JSON near line 1: number with a leading zero");
    expect_error("{\n\n\"offset\": -01}", "invalid JSON near line 3: number with a leading zero");
    expect_error("[]", "the top level must be a JSON object");
    expect_error("\"x\"", "the top level must be a JSON object");
    expect_error("5", "the top level must be a JSON object");
    expect_error("null", "the top level must be a JSON object");
}

static void test_error_buffer(void **state)
{
    struct app_cfg cfg;
    char small[16];

    (void)state;
    assert_int_equal(cl_config_load_string(NAME, "{\"x\": 1}", &app_table, &cfg, NULL, 0),
                     CL_ERR_CONFIG);
    assert_int_equal(
        cl_config_load_string(NAME, "{\"x\": 1}", &app_table, &cfg, small, sizeof(small)),
        CL_ERR_CONFIG);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_true(strncmp(small, NAME, sizeof(small) - 1) == 0);
    assert_int_equal(cl_config_load_string(NAME, NULL, &app_table, &cfg, NULL, 0),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_config_load_string(NAME, "{}", NULL, &cfg, NULL, 0),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_config_load_string(NAME, "{}", &app_table, NULL, NULL, 0),
                     CL_ERR_INVALID_ARGUMENT);
}

/* The folder of the file tests (made once) and the configuration file in it. */
static char config_dir[64], config_path[128];

static int group_setup(void **state)
{
    (void)state;
    if (cl_test_dir_make(config_dir, sizeof(config_dir), "test_config") != 0)
        return -1;
    snprintf(config_path, sizeof(config_path), "%s/ca.json", config_dir);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return cl_test_dir_remove(config_dir);
}

static void test_file(void **state)
{
    struct app_cfg cfg;
    char err[512], expected[512];
    (void)state;

    assert_int_equal(cl_atomic_write(config_path, GOOD, strlen(GOOD), 0600), CL_OK);
    assert_int_equal(cl_config_load_file(config_path, &app_table, &cfg, err, sizeof(err)), CL_OK);
    assert_int_equal(cfg.listen_port, 8443);
    assert_string_equal(cfg.tls.key_file, "/k");

    /* Errors inside the file name the file. */
    assert_int_equal(cl_atomic_write(config_path, "{\"tls\": {\"certfile\": 1}}", 24, 0600), CL_OK);
    assert_int_equal(cl_config_load_file(config_path, &app_table, &cfg, err, sizeof(err)),
                     CL_ERR_CONFIG);
    snprintf(expected, sizeof(expected), "%s: unknown key \"tls.certfile\"", config_path);
    assert_string_equal(err, expected);

    /* A NUL byte would hide the rest of the file from the parser. */
    assert_int_equal(cl_atomic_write(config_path, "{}\0{\"x\":1}", 10, 0600), CL_OK);
    assert_int_equal(cl_config_load_file(config_path, &app_table, &cfg, err, sizeof(err)),
                     CL_ERR_CONFIG);
    snprintf(expected, sizeof(expected), "%s: file contains a NUL byte", config_path);
    assert_string_equal(err, expected);
}

static void test_file_missing(void **state)
{
    struct app_cfg cfg;
    char err[512], expected[512], missing[128];
    (void)state;

    cl_test_path(missing, sizeof(missing), config_dir, "missing.json");
    assert_int_equal(cl_config_load_file(missing, &app_table, &cfg, err, sizeof(err)),
                     CL_ERR_CONFIG);
    snprintf(expected, sizeof(expected), "%s: cannot read file: %s", missing, strerror(ENOENT));
    assert_string_equal(err, expected);

    assert_int_equal(cl_config_load_file(config_dir, &app_table, &cfg, err, sizeof(err)),
                     CL_ERR_CONFIG);
    snprintf(expected, sizeof(expected), "%s: cannot read file: %s", config_dir, strerror(EISDIR));
    assert_string_equal(err, expected);
}

static void test_file_size_cap(void **state)
{
    struct app_cfg cfg;
    char err[512], expected[512];
    size_t size = CL_CONFIG_MAX_BYTES;
    char *text = malloc(size + 1);
    (void)state;

    assert_non_null(text);
    /* Exactly at the cap: a valid document padded with spaces loads. */
    memset(text, ' ', size + 1);
    memcpy(text, GOOD, strlen(GOOD));
    assert_int_equal(cl_atomic_write(config_path, text, size, 0600), CL_OK);
    assert_int_equal(cl_config_load_file(config_path, &app_table, &cfg, err, sizeof(err)), CL_OK);

    /* One byte more is refused before parsing. */
    assert_int_equal(cl_atomic_write(config_path, text, size + 1, 0600), CL_OK);
    assert_int_equal(cl_config_load_file(config_path, &app_table, &cfg, err, sizeof(err)),
                     CL_ERR_CONFIG);
    snprintf(expected, sizeof(expected), "%s: file is larger than 1048576 bytes", config_path);
    assert_string_equal(err, expected);
    free(text);
}

static void test_help(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    (void)state;
    assert_non_null(fp);
    cl_config_print_help(fp, &app_table);
    fclose(fp);
    assert_non_null(strstr(buf, "listen_port"));
    assert_non_null(strstr(buf, "integer, 1..65535, required"));
    assert_non_null(strstr(buf, "TCP port"));
    assert_non_null(strstr(buf, "tls.cert_file"));
    assert_non_null(strstr(buf, "string, 1..255 bytes, required"));
    assert_non_null(strstr(buf, "tls.ca_file"));
    assert_non_null(strstr(buf, "default \"/etc/certline/root.pem\""));
    assert_non_null(strstr(buf, "limits.max_connections"));
    assert_non_null(strstr(buf, "integer, 1..10000, default 64"));
    assert_non_null(strstr(buf, "true or false, default true"));
    assert_non_null(strstr(buf, "default \"info\""));
    assert_non_null(strstr(buf, "resource limits"));
    free(buf);
}

struct small {
    char s[4];
    long long n;
};

static void test_bad_tables(void **state)
{
    struct small out;
    char err[256];
    /* Built by hand to break the rules the macros keep. */
    const struct cl_cfg_field too_long[] = {
        {.key = "s", .type = CL_CFG_STRING, .offset = 0, .size = 4, .min = 0, .max = 4},
    };
    const struct cl_cfg_field bad_default[] = {
        CL_CFG_STR_DEF(struct small, s, "s", "toolong", 0, "x"),
    };
    const struct cl_cfg_field twice[] = {
        CL_CFG_INT(struct small, n, "n", 0, 0, 1, 0, "x"),
        CL_CFG_INT(struct small, n, "n", 0, 0, 1, 0, "x"),
    };
    const struct cl_cfg_field dotted[] = {
        CL_CFG_INT(struct small, n, "a.b", 0, 0, 1, 0, "x"),
    };
    const struct cl_cfg_field good[] = {
        CL_CFG_STR_DEF(struct small, s, "s", "abc", 0, "x"),
        CL_CFG_INT(struct small, n, "n", 0, 0, 100, 42, "x"),
    };
    const struct cl_cfg_table t1 = CL_CFG_TABLE(too_long);
    const struct cl_cfg_table t2 = CL_CFG_TABLE(bad_default);
    const struct cl_cfg_table t3 = CL_CFG_TABLE(twice);
    const struct cl_cfg_table t4 = CL_CFG_TABLE(dotted);
    const struct cl_cfg_table t5 = CL_CFG_TABLE(good);

    (void)state;
    assert_int_equal(cl_config_load_string("t", "{}", &t1, &out, err, sizeof(err)),
                     CL_ERR_INTERNAL);
    assert_non_null(strstr(err, "key \"s\""));
    assert_int_equal(cl_config_load_string("t", "{}", &t2, &out, err, sizeof(err)),
                     CL_ERR_INTERNAL);
    assert_int_equal(cl_config_load_string("t", "{}", &t3, &out, err, sizeof(err)),
                     CL_ERR_INTERNAL);
    assert_non_null(strstr(err, "listed twice"));
    assert_int_equal(cl_config_apply_defaults(&t4, &out, err, sizeof(err)), CL_ERR_INTERNAL);

    assert_int_equal(sizeof(out.s), 4);
    memset(&out, 0x55, sizeof(out));
    assert_int_equal(cl_config_apply_defaults(&t5, &out, err, sizeof(err)), CL_OK);
    assert_string_equal(out.s, "abc");
    assert_int_equal(out.n, 42);
    assert_int_equal(cl_config_load_string("t", "{\"s\": \"xyz\"}", &t5, &out, err, sizeof(err)),
                     CL_OK);
    assert_string_equal(out.s, "xyz");
    assert_int_equal(cl_config_load_string("t", "{\"s\": \"wxyz\"}", &t5, &out, err, sizeof(err)),
                     CL_ERR_CONFIG);
    assert_string_equal(err, "t: key \"s\": longer than 3 bytes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_with_defaults),
        cmocka_unit_test(test_good_all_values),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_unknown_and_duplicate),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_error_buffer),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_file_missing),
        cmocka_unit_test(test_file_size_cap),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bad_tables),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
