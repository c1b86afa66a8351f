/* da_main.c: device-agent, the device on the production line with its emulated flash and NVRAM:
 * options, the configuration, each command's own options checked, and dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "da_commands.h"
#include "error.h"
#include "process_guard.h"

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

int main(int argc, char **argv)
{
    static const struct cl_dispatch dispatch = {
        .program = {"device-agent", "certline device agent: the device on the production line",
                    "COMMAND [ARGS]", &da_config_table, da_config_check},
        .commands = CL_COMMAND_TABLE(da_commands, struct da_command),
        .help_options = "[-c FILE] [-l LEVEL]",
        .list_heading = "commands (options before the command; each command takes --help):",
        .name_width = 9,
        .list_footer = "exit codes: 0 done, 1 error, 2 usage, 3 a check failed / NG / not "
                       "installed, 75 simulated power cut",
    };
    static struct da_config config;
    struct cl_call call;
    int code;

    /* The device holds its firmware secrets and, while serving, keys decrypted in memory. */
    (void)cl_process_guard();

    if (cl_dispatch_start(&dispatch, argc, argv, &config, stdout, stderr, &call, &code) !=
        CL_CLI_RUN)
        return code;
    if (check_arguments(call.command, call.argc, call.argv) != 0)
        return DA_EXIT_USAGE;
    return ((const struct da_command *)call.command)->run(&config, call.argc, call.argv);
}
