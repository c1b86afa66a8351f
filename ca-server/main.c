/* main.c: ca-server: options, the passphrase, and dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "ca_config.h"
#include "cli.h"
#include "commands.h"
#include "error.h"
#include "keyfile.h"
#include "process_guard.h"

static char *passphrase; /* of the running command, until ca_passphrase_forget */

void ca_passphrase_forget(void)
{
    if (passphrase != NULL)
        cl_secret_free(passphrase, strlen(passphrase));
    passphrase = NULL;
}

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
    char err[512];
    int code;

    (void)cl_process_guard(); /* the CA keys, pre-write keys and passphrase stay in memory */
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
    ca_passphrase_forget();
    return code;
}
