/* ct_main.c: comm-terminal: options, the database pool, operator login, and dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ct_commands.h"
#include "ct_crl.h"
#include "error.h"
#include "process_guard.h"

static const char *operator_tag(const void *command)
{
    static const char *const tags[] = {NULL, " [viewer]", " [operator]", " [admin]"};
    return tags[((const struct ct_command *)command)->operator_action];
}

static const char *operator_options(const void *command)
{
    return ((const struct ct_command *)command)->operator_action
               ? " --operator ID [--password-file FILE]"
               : NULL;
}

static int open_store(const void *conninfo, void **store, char *err, size_t errlen)
{
    return ct_store_open(conninfo, (struct ct_store **)store, err, errlen);
}

static void close_store(void *store)
{
    ct_store_close(store);
}

int main(int argc, char **argv)
{
    static const struct cl_dispatch dispatch = {
        .program = {"comm-terminal",
                    "certline communication terminal: the factory's certificate store",
                    "COMMAND [ARGS]", &ct_config_table, ct_config_check},
        .commands = CL_COMMAND_TABLE(ct_commands, struct ct_command),
        .help_options = "[-c FILE]",
        .list_heading = "commands (each takes --help; all but migrate and serve take --operator ID "
                        "and a password at the prompt or --password-file FILE, and need the "
                        "role shown):",
        .name_width = 13,
        .list_tag = operator_tag,
        .help_tag = operator_options,
    };
    static struct ct_config config;
    struct ct_runtime rt = {.config = &config};
    struct cl_call call;
    char err[512];
    int code, linked = 0;

    (void)cl_process_guard(); /* its TLS key, packs, operator passwords stay in memory */
    if (cl_dispatch_start(&dispatch, argc, argv, &config, stdout, stderr, &call, &code) !=
        CL_CLI_RUN)
        return code;
    const struct ct_command *command = call.command;
    int sub_argc = call.argc;
    char **sub_argv = call.argv;
    /* Only serve shares the pool between threads; every other command uses one connection at
     * a time (fetch's storing thread opens its own), so it opens just one. */
    size_t connections = strcmp(command->name, "serve") == 0 ? (size_t)config.db_connections : 1;
    if (cl_pool_new(connections, open_store, close_store, config.database.conninfo, &rt.pool, err,
                    sizeof(err)) != CL_OK) {
        fprintf(stderr, "comm-terminal: %s\n", err);
        return 1;
    }
    code = 1;
    if (strcmp(command->name, "operator-add") == 0) {
        /* The first operator (an admin) is added without a login; every later one needs an
         * admin's. */
        int has_login = 0;
        for (int i = 1; i < sub_argc; i++)
            has_login |= strcmp(sub_argv[i], "--operator") == 0;
        struct ct_store *store = cl_pool_acquire(rt.pool);
        long operators = ct_store_operator_count(store);
        cl_pool_release(rt.pool, store);
        if ((operators != 0 || has_login) &&
            ct_login(&rt, sub_argc, sub_argv, CT_ADMIN, err, sizeof(err)) != CL_OK) {
            fprintf(stderr, "comm-terminal: %s\n", err);
            goto out;
        }
    } else if (command->operator_action != CT_OPEN &&
               ct_login(&rt, sub_argc, sub_argv, command->operator_action, err, sizeof(err)) !=
                   CL_OK) {
        fprintf(stderr, "comm-terminal: %s\n", err);
        goto out;
    }
    if (command->needs_ca) {
        linked = 1; /* unlinking also frees what a link that failed half-way made */
        if (ct_runtime_link(&rt, err, sizeof(err)) != CL_OK) {
            fprintf(stderr, "comm-terminal: %s\n", err);
            goto out;
        }
    }
    code = command->run(&rt, sub_argc, sub_argv);
out:
    if (linked)
        ct_runtime_unlink(&rt);
    ct_crl_close(&rt); /* after every TLS context that checks against it */
    cl_pool_free(rt.pool);
    return code;
}
