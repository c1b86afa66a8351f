/* main.c: ca-server: options, the passphrase, and dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "ca_config.h"
#include "cli.h"
#include "commands.h"
#include "error.h"
#include "keyfile.h"

int main(int argc, char **argv)
{
    static const struct cl_dispatch dispatch = {
        .program = {"ca-server",
                    "certline certificate authority: issues packs, proves installations",
                    "COMMAND [ARGS]", &ca_config_table, ca_config_check},
        .commands = CL_COMMAND_TABLE(ca_commands, struct ca_command),
        .help_options = "[-c FILE]",
        .list_heading = "commands (each takes --help):",
        .name_width = 14,
    };
    static struct ca_config config;
    struct cl_call call;
    char *passphrase = NULL, err[512];
    int code;

    if (cl_dispatch_start(&dispatch, argc, argv, &config, stdout, stderr, &call, &code) !=
        CL_CLI_RUN)
        return code;
    const struct ca_command *command = call.command;
    if (command->needs_passphrase &&
        cl_passphrase_load(config.passphrase_file[0] ? config.passphrase_file : NULL,
                           CA_PASSPHRASE_ENV, &passphrase, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
        return 1;
    }
    code = command->run(&config, passphrase, call.argc, call.argv);
    if (passphrase != NULL)
        cl_secret_free(passphrase, strlen(passphrase));
    return code;
}
