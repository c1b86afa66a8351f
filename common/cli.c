/* cli.c: common option parsing, configuration check (-n), help and subcommand dispatch. */
#include "cli.h"

#include <string.h>

#include "error.h"

#ifndef CERTLINE_VERSION
#define CERTLINE_VERSION "0.1.0"
#endif

static void print_help(const struct cl_program *program, FILE *out)
{
    fprintf(out,
            "%s: %s\n\n"
            "usage: %s [-c FILE] [-n] [-l LEVEL] [-h] [-V] %s\n\n"
            "  -c FILE   configuration file (default /etc/certline/%s.json)\n"
            "  -n        check the configuration and exit\n"
            "  -l LEVEL  log level: error, warn, info or debug (default info)\n"
            "  -h        this help\n"
            "  -V        version\n\n"
            "configuration keys:\n",
            program->name, program->summary, program->name, program->usage, program->name);
    cl_config_print_help(out, program->config_table);
}

enum cl_cli_outcome cl_cli_start(const struct cl_program *program, int argc, char **argv,
                                 struct cl_cli *cli, void *config, FILE *out, FILE *err,
                                 int *exit_code)
{
    char problem[1024];
    int i;

    memset(cli, 0, sizeof(*cli));
    cli->log_level = CL_LOG_INFO;
    snprintf(cli->config_path, sizeof(cli->config_path), "/etc/certline/%s.json", program->name);
    cl_log_set_program(program->name);
    *exit_code = 2;

    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(opt, "-h") == 0 || strcmp(opt, "--help") == 0) {
            print_help(program, out);
            cli->help_shown = 1;
            *exit_code = 0;
            return CL_CLI_EXIT_OK;
        }
        if (strcmp(opt, "-V") == 0 || strcmp(opt, "--version") == 0) {
            fprintf(out, "%s %s\n", program->name, CERTLINE_VERSION);
            *exit_code = 0;
            return CL_CLI_EXIT_OK;
        }
        if (strcmp(opt, "-n") == 0) {
            cli->check_only = 1;
        } else if (strcmp(opt, "-c") == 0 || strcmp(opt, "-l") == 0) {
            if (i + 1 >= argc) {
                fprintf(err, "%s: option %s needs a value (see -h)\n", program->name, opt);
                return CL_CLI_EXIT_USAGE;
            }
            const char *value = argv[++i];
            if (opt[1] == 'c') {
                if (strlen(value) >= sizeof(cli->config_path) || value[0] == '\0') {
                    fprintf(err, "%s: configuration path is empty or too long\n", program->name);
                    return CL_CLI_EXIT_USAGE;
                }
                strcpy(cli->config_path, value);
            } else if (cl_log_level_parse(value, &cli->log_level) != CL_OK) {
                fprintf(err, "%s: unknown log level \"%.32s\" (error, warn, info, debug)\n",
                        program->name, value);
                return CL_CLI_EXIT_USAGE;
            }
        } else {
            fprintf(err, "%s: unknown option \"%.64s\" (see -h)\n", program->name, opt);
            return CL_CLI_EXIT_USAGE;
        }
    }
    cli->first_argument = i;
    cl_log_set_level(cli->log_level);

    if (cl_config_load_file(cli->config_path, program->config_table, config, problem,
                            sizeof(problem)) != CL_OK) {
        fprintf(err, "%s: %s\n", program->name, problem);
        *exit_code = 1;
        return CL_CLI_EXIT_USAGE;
    }
    if (cli->check_only && program->check_config != NULL &&
        program->check_config(config, problem, sizeof(problem)) != CL_OK) {
        fprintf(err, "%s: %s: %s\n", program->name, cli->config_path, problem);
        *exit_code = 1;
        return CL_CLI_EXIT_USAGE;
    }
    if (cli->check_only) {
        fprintf(out, "%s: configuration OK\n", cli->config_path);
        *exit_code = 0;
        return CL_CLI_EXIT_OK;
    }
    return CL_CLI_RUN;
}

const char *cl_arg_value(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

int cl_arg_flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

static const char *field(const void *entry, size_t offset)
{
    return *(const char *const *)((const char *)entry + offset);
}

static const void *entry_at(const struct cl_command_table *table, size_t i)
{
    return (const char *)table->entries + i * table->entry_size;
}

const void *cl_command_find(const struct cl_command_table *table, const char *name)
{
    const void *e;
    for (size_t i = 0; field(e = entry_at(table, i), table->name) != NULL; i++)
        if (strcmp(field(e, table->name), name) == 0)
            return e;
    return NULL;
}

void cl_dispatch_list(const struct cl_dispatch *dispatch, FILE *out)
{
    const struct cl_command_table *t = &dispatch->commands;
    const void *e;

    fprintf(out, "\n%s\n", dispatch->list_heading);
    for (size_t i = 0; field(e = entry_at(t, i), t->name) != NULL; i++) {
        const char *tag = dispatch->list_tag != NULL ? dispatch->list_tag(e) : NULL;
        fprintf(out, "  %-*s %s%s\n", dispatch->name_width, field(e, t->name), field(e, t->summary),
                tag != NULL ? tag : "");
    }
    if (dispatch->list_footer != NULL)
        fprintf(out, "\n%s\n", dispatch->list_footer);
}

enum cl_cli_outcome cl_dispatch_start(const struct cl_dispatch *dispatch, int argc, char **argv,
                                      void *config, FILE *out, FILE *err, struct cl_call *call,
                                      int *exit_code)
{
    const struct cl_command_table *t = &dispatch->commands;
    const char *name = dispatch->program.name;
    struct cl_cli *cli = &call->cli;
    enum cl_cli_outcome outcome;

    call->command = NULL;
    call->argc = 0;
    call->argv = NULL;
    outcome = cl_cli_start(&dispatch->program, argc, argv, cli, config, out, err, exit_code);
    if (outcome != CL_CLI_RUN) {
        if (outcome == CL_CLI_EXIT_OK && cli->help_shown)
            cl_dispatch_list(dispatch, out);
        return outcome;
    }
    *exit_code = 2;
    if (cli->first_argument >= argc) {
        fprintf(err, "%s: a command is needed\n", name);
        cl_dispatch_list(dispatch, err);
        return CL_CLI_EXIT_USAGE;
    }
    call->command = cl_command_find(t, argv[cli->first_argument]);
    if (call->command == NULL) {
        fprintf(err, "%s: unknown command \"%.64s\"\n", name, argv[cli->first_argument]);
        cl_dispatch_list(dispatch, err);
        return CL_CLI_EXIT_USAGE;
    }
    call->argc = argc - cli->first_argument;
    call->argv = argv + cli->first_argument;
    for (int i = 1; i < call->argc; i++) {
        if (strcmp(call->argv[i], "--help") == 0 || strcmp(call->argv[i], "-h") == 0) {
            const char *tag = dispatch->help_tag != NULL ? dispatch->help_tag(call->command) : NULL;
            fprintf(out, "usage: %s %s %s %s%s\n%s\n", name, dispatch->help_options,
                    field(call->command, t->name), field(call->command, t->usage),
                    tag != NULL ? tag : "", field(call->command, t->summary));
            *exit_code = 0;
            return CL_CLI_EXIT_OK;
        }
    }
    return CL_CLI_RUN;
}
