/* main.c: ca-server: options, the passphrase, and dispatch to a subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca_config.h"
#include "cli.h"
#include "commands.h"
#include "error.h"
#include "keyfile.h"

static void usage(FILE *out)
{
    fprintf(out, "\ncommands (each takes --help):\n");
    for (const struct ca_command *c = ca_commands; c->name != NULL; c++)
        fprintf(out, "  %-14s %s\n", c->name, c->summary);
}

int main(int argc, char **argv)
{
    static const struct cl_program program = {
        "ca-server", "certline certificate authority: issues packs, proves installations",
        "COMMAND [ARGS]", &ca_config_table, ca_config_check};
    static struct ca_config config;
    const struct ca_command *command = NULL;
    struct cl_cli cli;
    char *passphrase = NULL, err[512];
    int code;

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
        fprintf(stderr, "ca-server: a command is needed\n");
        usage(stderr);
        return 2;
    }
    for (const struct ca_command *c = ca_commands; c->name != NULL; c++)
        if (strcmp(c->name, argv[cli.first_argument]) == 0)
            command = c;
    if (command == NULL) {
        fprintf(stderr, "ca-server: unknown command \"%.64s\"\n", argv[cli.first_argument]);
        usage(stderr);
        return 2;
    }
    int sub_argc = argc - cli.first_argument;
    char **sub_argv = argv + cli.first_argument;
    for (int i = 1; i < sub_argc; i++) {
        if (strcmp(sub_argv[i], "--help") == 0 || strcmp(sub_argv[i], "-h") == 0) {
            printf("usage: ca-server [-c FILE] %s %s\n%s\n", command->name, command->usage,
                   command->summary);
            return 0;
        }
    }
    if (command->needs_passphrase &&
        cl_passphrase_load(config.passphrase_file[0] ? config.passphrase_file : NULL,
                           CA_PASSPHRASE_ENV, &passphrase, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
        return 1;
    }
    code = command->run(&config, passphrase, sub_argc, sub_argv);
    if (passphrase != NULL)
        cl_secret_free(passphrase, strlen(passphrase));
    return code;
}
