/* da_main.c: device-agent, the device on the production line with its emulated flash and NVRAM:
 * options, the configuration, each command's own options checked, and dispatch. */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "cli.h"
#include "da_commands.h"
#include "error.h"

static void usage(FILE *out)
{
    fprintf(out, "\ncommands (options before the command; each command takes --help):\n");
    for (const struct da_command *c = da_commands; c->name != NULL; c++)
        fprintf(out, "  %-9s %s\n", c->name, c->summary);
    fprintf(out, "\nexit codes: 0 done, 1 error, 2 usage, 3 a check failed / NG / not installed, "
                 "75 simulated power cut\n");
}

static int listed(const char *const *list, const char *arg)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, arg) == 0)
            return 1;
    return 0;
}

/* Every argument is a known option of the command (with its value), or one of its
 * positionals; nothing is given twice. */
static int check_arguments(const struct da_command *command, int argc, char **argv)
{
    int positionals = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            positionals++;
            continue;
        }
        for (int j = 1; j < i; j++)
            if (strcmp(argv[j], arg) == 0) {
                fprintf(stderr, "device-agent %s: %s is given twice\n", command->name, arg);
                return -1;
            }
        if (listed(command->value_options, arg)) {
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0) {
                fprintf(stderr, "device-agent %s: %s needs a value\n", command->name, arg);
                return -1;
            }
            i++;
        } else if (!listed(command->flag_options, arg)) {
            fprintf(stderr, "device-agent %s: unknown option \"%.64s\" (see --help)\n",
                    command->name, arg);
            return -1;
        }
    }
    if (positionals != command->positionals) {
        fprintf(stderr, "device-agent %s: expected %d argument(s), got %d (see --help)\n",
                command->name, command->positionals, positionals);
        return -1;
    }
    return 0;
}

/* The device holds its firmware secrets and, while serving, keys decrypted in memory: no core
 * dump may carry them to disk. */
static void no_core_dumps(void)
{
    struct rlimit none = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &none);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int main(int argc, char **argv)
{
    static const struct cl_program program = {
        "device-agent", "certline device agent: the device on the production line",
        "COMMAND [ARGS]", &da_config_table, da_config_check};
    static struct da_config config;
    const struct da_command *command;
    struct cl_cli cli;
    int code;

    no_core_dumps();

    switch (cl_cli_start(&program, argc, argv, &cli, &config, stdout, stderr, &code)) {
    case CL_CLI_RUN:
        break;
    case CL_CLI_EXIT_OK:
        if (cli.help_shown)
            usage(stdout);
        return code;
    case CL_CLI_EXIT_USAGE:
        return code;
    }
    if (cli.first_argument >= argc) {
        fprintf(stderr, "device-agent: a command is needed\n");
        usage(stderr);
        return DA_EXIT_USAGE;
    }
    command = da_command_find(argv[cli.first_argument]);
    if (command == NULL) {
        fprintf(stderr, "device-agent: unknown command \"%.64s\"\n", argv[cli.first_argument]);
        usage(stderr);
        return DA_EXIT_USAGE;
    }
    int sub_argc = argc - cli.first_argument;
    char **sub_argv = argv + cli.first_argument;
    for (int i = 1; i < sub_argc; i++) {
        if (strcmp(sub_argv[i], "--help") == 0 || strcmp(sub_argv[i], "-h") == 0) {
            printf("usage: device-agent [-c FILE] [-l LEVEL] %s %s\n%s\n", command->name,
                   command->usage, command->summary);
            return DA_EXIT_OK;
        }
    }
    if (check_arguments(command, sub_argc, sub_argv) != 0)
        return DA_EXIT_USAGE;
    return command->run(&config, sub_argc, sub_argv);
}
