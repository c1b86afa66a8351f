/* test_cli.c: the options every program shares (-c, -n, -l, -h, -V) and the shared transport
 * configuration sections. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "transport_config.h"

struct sample_config {
    char name[32];
    struct cl_tls_config tls;
    struct cl_limits_config limits;
    struct cl_listen_config listen;
    struct cl_endpoint_config peer;
};

static const struct cl_cfg_field sample_fields[] = {
    CL_CFG_STR_DEF(struct sample_config, name, "name", "sample", 1, "a name"),
    CL_CFG_OBJ(struct sample_config, tls, "tls", 1, &cl_tls_config_table, "TLS files"),
    CL_CFG_OBJ(struct sample_config, limits, "limits", 0, &cl_limits_config_table, "limits"),
    CL_CFG_OBJ(struct sample_config, listen, "listen", 1, &cl_listen_config_table, "listening"),
    CL_CFG_OBJ(struct sample_config, peer, "peer", 0, &cl_endpoint_config_table, "a peer"),
};
static const struct cl_cfg_table sample_table = CL_CFG_TABLE(sample_fields);

static int refuse_name_bad(const void *config, char *err, size_t errlen)
{
    const struct sample_config *c = config;
    if (strcmp(c->name, "bad") == 0) {
        snprintf(err, errlen, "name \"bad\" is refused by the program's own check");
        return CL_ERR_CONFIG;
    }
    return CL_OK;
}

static const struct cl_program sample = {"sample-program", "a program for tests", "serve",
                                         &sample_table, refuse_name_bad};

static char dir[64];
static char out_text[65536], err_text[65536];

static void write_config(const char *name, const char *json)
{
    char path[256];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
}

/* Runs cl_cli_start with argv built from a NULL-terminated list; captures out and err. */
static enum cl_cli_outcome run(struct cl_cli *cli, struct sample_config *cfg, int *code, ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;
    FILE *out = tmpfile(), *err = tmpfile();
    enum cl_cli_outcome outcome;
    size_t n;

    argv[argc++] = (char *)"sample-program";
    va_start(ap, code);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 15;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    assert_non_null(out);
    assert_non_null(err);
    outcome = cl_cli_start(&sample, argc, argv, cli, cfg, out, err, code);
    rewind(out);
    rewind(err);
    n = fread(out_text, 1, sizeof(out_text) - 1, out);
    out_text[n] = '\0';
    n = fread(err_text, 1, sizeof(err_text) - 1, err);
    err_text[n] = '\0';
    fclose(out);
    fclose(err);
    return outcome;
}

static const char good_json[] =
    "{\"name\": \"line-1\", \"tls\": {\"cert_file\": \"a.crt\", \"key_file\": \"a.key\", "
    "\"trust_file\": \"root.crt\"}, \"listen\": {\"port\": 8443}, \"limits\": "
    "{\"recv_timeout_s\": 7}}";

static void test_check_only_accepts_good_config(void **state)
{
    struct cl_cli cli;
    struct sample_config cfg;
    char path[256];
    int code = -1;
    (void)state;

    write_config("good.json", good_json);
    snprintf(path, sizeof(path), "%s/good.json", dir);
    assert_int_equal(run(&cli, &cfg, &code, "-c", path, "-n", NULL), CL_CLI_EXIT_OK);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out_text, "good.json: configuration OK"));
    assert_string_equal(err_text, "");
}

static void test_run_loads_config_and_finds_subcommand(void **state)
{
    struct cl_cli cli;
    struct sample_config cfg;
    struct cl_soap_limits limits;
    char path[256];
    int code = -1;
    (void)state;

    write_config("good.json", good_json);
    snprintf(path, sizeof(path), "%s/good.json", dir);
    assert_int_equal(run(&cli, &cfg, &code, "-l", "debug", "-c", path, "serve", "--now", NULL),
                     CL_CLI_RUN);
    assert_int_equal(cli.first_argument, 5);
    assert_int_equal(cli.log_level, CL_LOG_DEBUG);
    assert_string_equal(cfg.name, "line-1");
    assert_string_equal(cfg.tls.trust_file, "root.crt");
    assert_string_equal(cfg.listen.host, "127.0.0.1"); /* loopback unless configured */
    assert_int_equal(cfg.listen.port, 8443);
    assert_int_equal(cfg.listen.max_connections, 128);
    cl_limits_config_apply(&cfg.limits, &limits);
    assert_int_equal(limits.recv_timeout_s, 7);
    assert_int_equal(limits.send_timeout_s, CL_DEFAULT_SEND_TIMEOUT_S);
    cl_log_set_level(CL_LOG_INFO);
}

static void test_config_defaults_match_transport_defaults(void **state)
{
    struct cl_limits_config config;
    struct cl_soap_limits from_config, builtin;
    char err[256];
    (void)state;

    assert_int_equal(cl_config_apply_defaults(&cl_limits_config_table, &config, err, sizeof(err)),
                     CL_OK);
    cl_limits_config_apply(&config, &from_config);
    cl_soap_limits_default(&builtin);
    assert_int_equal(from_config.connect_timeout_s, builtin.connect_timeout_s);
    assert_int_equal(from_config.recv_timeout_s, builtin.recv_timeout_s);
    assert_int_equal(from_config.send_timeout_s, builtin.send_timeout_s);
    assert_int_equal(from_config.transfer_timeout_s, builtin.transfer_timeout_s);
    assert_int_equal(from_config.max_message_bytes, builtin.max_message_bytes);
    assert_int_equal(from_config.max_string_bytes, builtin.max_string_bytes);
    assert_int_equal(from_config.max_list_items, builtin.max_list_items);
    assert_int_equal(from_config.max_nesting, builtin.max_nesting);
    assert_int_equal(from_config.max_keep_alive, builtin.max_keep_alive);
}

static void test_check_only_refuses_bad_configs(void **state)
{
    struct cl_cli cli;
    struct sample_config cfg;
    char path[256];
    int code = -1;
    (void)state;

    write_config("typo.json",
                 "{\"tls\": {\"cert_file\": \"a\", \"key_file\": \"b\", "
                 "\"trust_file\": \"c\", \"keyfile\": \"d\"}, \"listen\": {\"port\": 1}}");
    snprintf(path, sizeof(path), "%s/typo.json", dir);
    assert_int_equal(run(&cli, &cfg, &code, "-n", "-c", path, NULL), CL_CLI_EXIT_USAGE);
    assert_int_equal(code, 1);
    assert_non_null(strstr(err_text, "typo.json: unknown key \"tls.keyfile\""));
    assert_null(strstr(out_text, "configuration OK"));

    write_config("range.json", "{\"tls\": {\"cert_file\": \"a\", \"key_file\": \"b\", "
                               "\"trust_file\": \"c\"}, \"listen\": {\"port\": 70000}}");
    snprintf(path, sizeof(path), "%s/range.json", dir);
    assert_int_equal(run(&cli, &cfg, &code, "-n", "-c", path, NULL), CL_CLI_EXIT_USAGE);
    assert_non_null(strstr(err_text, "range.json: key \"listen.port\": 70000 is out of range"));

    write_config("bad.json", "{\"name\": \"bad\", \"tls\": {\"cert_file\": \"a\", \"key_file\": "
                             "\"b\", \"trust_file\": \"c\"}, \"listen\": {\"port\": 1}}");
    snprintf(path, sizeof(path), "%s/bad.json", dir);
    assert_int_equal(run(&cli, &cfg, &code, "-n", "-c", path, NULL), CL_CLI_EXIT_USAGE);
    assert_int_equal(code, 1);
    assert_non_null(strstr(err_text, "bad.json: name \"bad\" is refused"));

    snprintf(path, sizeof(path), "%s/missing.json", dir);
    assert_int_equal(run(&cli, &cfg, &code, "-n", "-c", path, NULL), CL_CLI_EXIT_USAGE);
    assert_int_equal(code, 1);
    assert_non_null(strstr(err_text, "missing.json"));
}

static void test_refuses_bad_options(void **state)
{
    struct cl_cli cli;
    struct sample_config cfg;
    int code = -1;
    (void)state;

    assert_int_equal(run(&cli, &cfg, &code, "-x", NULL), CL_CLI_EXIT_USAGE);
    assert_int_equal(code, 2);
    assert_non_null(strstr(err_text, "unknown option \"-x\""));
    assert_int_equal(run(&cli, &cfg, &code, "-c", NULL), CL_CLI_EXIT_USAGE);
    assert_non_null(strstr(err_text, "option -c needs a value"));
    assert_int_equal(run(&cli, &cfg, &code, "-l", "loud", NULL), CL_CLI_EXIT_USAGE);
    assert_int_equal(code, 2);
    assert_non_null(strstr(err_text, "unknown log level \"loud\""));
}

static void test_help_lists_options_and_keys(void **state)
{
    struct cl_cli cli;
    struct sample_config cfg;
    int code = -1;
    (void)state;

    assert_int_equal(run(&cli, &cfg, &code, "-h", NULL), CL_CLI_EXIT_OK);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out_text, "usage: sample-program [-c FILE] [-n]"));
    assert_non_null(strstr(out_text, "/etc/certline/sample-program.json"));
    assert_non_null(strstr(out_text, "tls.cert_file"));
    assert_non_null(strstr(out_text, "limits.max_message_bytes"));
    assert_non_null(strstr(out_text, "listen.max_connections"));
    assert_int_equal(run(&cli, &cfg, &code, "-V", NULL), CL_CLI_EXIT_OK);
    assert_non_null(strstr(out_text, "sample-program "));
}

static void test_subcommand_arguments(void **state)
{
    char *argv[] = {(char *)"batch", (char *)"--out", (char *)"f.json", (char *)"--replacement",
                    (char *)"--file"};
    (void)state;
    assert_string_equal(cl_arg_value(5, argv, "--out"), "f.json");
    assert_null(cl_arg_value(5, argv, "--file")); /* no value after it */
    assert_null(cl_arg_value(5, argv, "--request-id"));
    assert_true(cl_arg_flag(5, argv, "--replacement"));
    assert_false(cl_arg_flag(5, argv, "--json"));
    assert_false(cl_arg_flag(5, argv, "batch")); /* argv[0] is the subcommand, not a flag */
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/certline-cli-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    const char *names[] = {"good.json", "typo.json", "range.json", "bad.json"};
    char path[256];
    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_only_accepts_good_config),
        cmocka_unit_test(test_run_loads_config_and_finds_subcommand),
        cmocka_unit_test(test_config_defaults_match_transport_defaults),
        cmocka_unit_test(test_check_only_refuses_bad_configs),
        cmocka_unit_test(test_refuses_bad_options),
        cmocka_unit_test(test_help_lists_options_and_keys),
        cmocka_unit_test(test_subcommand_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
