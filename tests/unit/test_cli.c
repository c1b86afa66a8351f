/* test_cli.c: the options every program shares (-c, -n, -l, -h, -V), the subcommand dispatcher
 * and the shared transport configuration sections. */
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
#include "test_util.h"
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
    cl_test_write_file(cl_test_path(path, sizeof(path), dir, name), json);
}

/* Runs cl_dispatch_start with dispatch, else cl_cli_start, with argv built from the list ap;
 * captures out and err. */
static enum cl_cli_outcome run_list(const struct cl_dispatch *dispatch, struct cl_cli *cli,
                                    struct cl_call *call, struct sample_config *cfg, int *code,
                                    va_list ap)
{
    char *argv[16];
    int argc = 0;
    FILE *out = tmpfile(), *err = tmpfile();
    enum cl_cli_outcome outcome;
    size_t n;

    argv[argc++] = (char *)"sample-program";
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 15;)
        argv[argc++] = a;
    argv[argc] = NULL;
    assert_non_null(out);
    assert_non_null(err);
    if (dispatch != NULL)
        outcome = cl_dispatch_start(dispatch, argc, argv, cfg, out, err, call, code);
    else
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

/* cl_cli_start with the arguments after code (NULL-terminated). */
static enum cl_cli_outcome run(struct cl_cli *cli, struct sample_config *cfg, int *code, ...)
{
    enum cl_cli_outcome outcome;
    va_list ap;
    va_start(ap, code);
    outcome = run_list(NULL, cli, NULL, cfg, code, ap);
    va_end(ap);
    return outcome;
}

/* cl_dispatch_start on the sample commands with the arguments after code (NULL-terminated). */
static const struct cl_dispatch sample_dispatch;
static enum cl_cli_outcome dispatch(struct cl_call *call, struct sample_config *cfg, int *code, ...)
{
    enum cl_cli_outcome outcome;
    va_list ap;
    va_start(ap, code);
    outcome = run_list(&sample_dispatch, NULL, call, cfg, code, ap);
    va_end(ap);
    return outcome;
}

static const char good_json[] =
    "{\"name\": \"line-1\", \"tls\": {\"cert_file\": \"a.crt\", \"key_file\": \"a.key\", "
    "\"trust_file\": \"root.crt\"}, \"listen\": {\"port\": 8443}, \"limits\": "
    "{\"recv_timeout_s\": 7}}";

/* Writes good.json; its path. */
static const char *good_config(void)
{
    static char path[256];
    write_config("good.json", good_json);
    snprintf(path, sizeof(path), "%s/good.json", dir);
    return path;
}

static void test_check_only_accepts_good_config(void **state)
{
    struct cl_cli cli;
    struct sample_config cfg;
    const char *path = good_config();
    int code = -1;
    (void)state;

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
    const char *path = good_config();
    int code = -1;
    (void)state;

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

struct sample_command {
    const char *summary; /* fields in another order than cl_command_table's */
    int privileged;
    const char *name;
    const char *usage;
};

static const struct sample_command sample_commands[] = {
    {"runs the service", 0, "serve", "[--now]"},
    {"removes everything", 1, "wipe", "--really"},
    {NULL, 0, NULL, NULL},
};

static const char *privileged_tag(const void *command)
{
    return ((const struct sample_command *)command)->privileged ? " [root]" : NULL;
}

static const struct cl_dispatch sample_dispatch = {
    .program = {"sample-program", "a program for tests", "COMMAND [ARGS]", &sample_table,
                refuse_name_bad},
    .commands = CL_COMMAND_TABLE(sample_commands, struct sample_command),
    .help_options = "[-c FILE] [-l LEVEL]",
    .list_heading = "commands (each takes --help):",
    .name_width = 7,
    .list_footer = "exit codes: 0 done, 1 error, 2 usage",
    .list_tag = privileged_tag,
    .help_tag = privileged_tag,
};

static void test_dispatch_finds_command(void **state)
{
    struct cl_call call;
    struct sample_config cfg;
    const char *path = good_config();
    int code = -1;
    (void)state;

    assert_int_equal(dispatch(&call, &cfg, &code, "-c", path, "wipe", "--really", NULL),
                     CL_CLI_RUN);
    assert_ptr_equal(call.command, &sample_commands[1]);
    assert_int_equal(call.argc, 2);
    assert_string_equal(call.argv[0], "wipe");
    assert_string_equal(call.argv[1], "--really");
    assert_int_equal(call.cli.first_argument, 3);
    assert_string_equal(cfg.name, "line-1");
    assert_ptr_equal(cl_command_find(&sample_dispatch.commands, "serve"), &sample_commands[0]);
    assert_null(cl_command_find(&sample_dispatch.commands, "ser"));
    assert_string_equal(out_text, "");
    assert_string_equal(err_text, "");
}

static void test_dispatch_unknown_or_missing_command(void **state)
{
    struct cl_call call;
    struct sample_config cfg;
    const char *path = good_config();
    int code = -1;
    (void)state;

    assert_int_equal(dispatch(&call, &cfg, &code, "-c", path, "format", NULL), CL_CLI_EXIT_USAGE);
    assert_int_equal(code, 2);
    assert_null(call.command);
    assert_string_equal(err_text, "sample-program: unknown command \"format\"\n"
                                  "\ncommands (each takes --help):\n"
                                  "  serve   runs the service\n"
                                  "  wipe    removes everything [root]\n"
                                  "\nexit codes: 0 done, 1 error, 2 usage\n");
    assert_string_equal(out_text, "");

    code = -1;
    assert_int_equal(dispatch(&call, &cfg, &code, "-c", path, NULL), CL_CLI_EXIT_USAGE);
    assert_int_equal(code, 2);
    assert_non_null(strstr(err_text, "sample-program: a command is needed\n\ncommands"));
}

static void test_dispatch_command_help(void **state)
{
    struct cl_call call;
    struct sample_config cfg;
    const char *path = good_config();
    int code = -1;
    (void)state;

    assert_int_equal(dispatch(&call, &cfg, &code, "-c", path, "wipe", "x", "--help", NULL),
                     CL_CLI_EXIT_OK);
    assert_int_equal(code, 0);
    assert_string_equal(out_text, "usage: sample-program [-c FILE] [-l LEVEL] wipe --really [root]"
                                  "\nremoves everything\n");
    assert_string_equal(err_text, "");
    code = -1;
    assert_int_equal(dispatch(&call, &cfg, &code, "-c", path, "serve", "-h", NULL), CL_CLI_EXIT_OK);
    assert_int_equal(code, 0);
    assert_string_equal(out_text, "usage: sample-program [-c FILE] [-l LEVEL] serve [--now]\n"
                                  "runs the service\n");

    /* -h before the command: the program's help, then the list of commands */
    code = -1;
    assert_int_equal(dispatch(&call, &cfg, &code, "-h", NULL), CL_CLI_EXIT_OK);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out_text, "usage: sample-program [-c FILE] [-n]"));
    assert_non_null(strstr(out_text, "\ncommands (each takes --help):\n  serve   runs"));
    /* -V: no list */
    assert_int_equal(dispatch(&call, &cfg, &code, "-V", NULL), CL_CLI_EXIT_OK);
    assert_null(strstr(out_text, "commands"));
}

static void test_dispatch_config_problems(void **state)
{
    struct cl_call call;
    struct sample_config cfg;
    const char *path = good_config();
    char missing[256];
    int code = -1;
    (void)state;

    /* the configuration is loaded before the command is looked at */
    snprintf(missing, sizeof(missing), "%s/missing.json", dir);
    assert_int_equal(dispatch(&call, &cfg, &code, "-c", missing, "serve", "--help", NULL),
                     CL_CLI_EXIT_USAGE);
    assert_int_equal(code, 1);
    assert_null(call.command);
    assert_non_null(strstr(err_text, "missing.json"));
    assert_string_equal(out_text, "");

    code = -1;
    assert_int_equal(dispatch(&call, &cfg, &code, "-c", path, "-n", "serve", NULL), CL_CLI_EXIT_OK);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out_text, "good.json: configuration OK"));
    code = -1;
    assert_int_equal(dispatch(&call, &cfg, &code, "-x", "serve", NULL), CL_CLI_EXIT_USAGE);
    assert_int_equal(code, 2);
    assert_non_null(strstr(err_text, "unknown option \"-x\""));
}

static int setup(void **state)
{
    (void)state;
    return cl_test_dir_make(dir, sizeof(dir), "certline-cli");
}

static int teardown(void **state)
{
    (void)state;
    return cl_test_dir_remove(dir);
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
        cmocka_unit_test(test_dispatch_finds_command),
        cmocka_unit_test(test_dispatch_unknown_or_missing_command),
        cmocka_unit_test(test_dispatch_command_help),
        cmocka_unit_test(test_dispatch_config_problems),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
