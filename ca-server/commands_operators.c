/* commands_operators.c: CA operators, the accounts of ca-server's console: operator-add (the
 * password typed at a prompt without echo, or read from a file or standard input for scripts),
 * operator-disable and operator-enable, each audited under the uid that ran it. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "keyfile.h"
#include "password_hash.h"
#include "password_input.h"
#include "store_console.h"

int ca_command_operator_add(const struct ca_config *config, const char *passphrase, int argc,
                            char **argv)
{
    static const char *const values[] = {"--role", "--password-file", NULL};
    const char *role = cl_arg_value(argc, argv, "--role");
    const char *file = cl_arg_value(argc, argv, "--password-file");
    struct ca_store *store = NULL;
    char *args[1] = {NULL}, err[256], *password;
    int rc;
    (void)passphrase;

    if (role == NULL)
        role = "operator";
    if (ca_positionals(argc, argv, values, args, 1) != 1 ||
        (strcmp(role, "viewer") != 0 && strcmp(role, "operator") != 0 &&
         strcmp(role, "admin") != 0)) {
        fprintf(stderr, "usage: ca-server operator-add LOGIN [--role viewer|operator|admin] "
                        "[--password-file FILE | --password-stdin]\n");
        return 2;
    }
    password = cl_password_read(file, cl_arg_flag(argc, argv, "--password-stdin"),
                                "new CA operator's password: ", err, sizeof(err));
    if (password == NULL) {
        fprintf(stderr, "ca-server: %s\n", err);
        return 1;
    }
    if (!cl_password_length_ok(password)) {
        fprintf(stderr, "ca-server: a password is %d to %d bytes\n", CL_PASSWORD_MIN,
                CL_PASSWORD_MAX);
        cl_secret_free(password, strlen(password));
        return 2;
    }
    if (ca_open_store(config, &store) != 0) {
        cl_secret_free(password, strlen(password));
        return 1;
    }
    rc = ca_store_operator_add(store, args[0], password, role, ca_operator_name());
    cl_secret_free(password, strlen(password));
    ca_store_close(store);
    if (rc != CL_OK) {
        fprintf(stderr, "ca-server: cannot add CA operator %.40s: %s\n", args[0],
                rc == CL_ERR_EXISTS             ? "the login is taken"
                : rc == CL_ERR_INVALID_ARGUMENT ? "a login is 1 to 32 printable characters"
                                                : cl_err_str(rc));
        return 1;
    }
    printf("CA operator %s added (%s)\n", args[0], role);
    return 0;
}

/* operator-disable, operator-enable LOGIN. */
int ca_command_operator_state(const struct ca_config *config, const char *passphrase, int argc,
                              char **argv)
{
    const char *state = strcmp(argv[0], "operator-enable") == 0 ? "active" : "disabled";
    struct ca_store *store = NULL;
    char *args[1] = {NULL};
    (void)passphrase;

    if (ca_positionals(argc, argv, NULL, args, 1) != 1) {
        fprintf(stderr, "usage: ca-server %s LOGIN\n", argv[0]);
        return 2;
    }
    if (ca_open_store(config, &store) != 0)
        return 1;
    int rc = ca_store_operator_state(store, args[0], state, ca_operator_name());
    ca_store_close(store);
    if (rc != CL_OK) {
        fprintf(stderr, "ca-server: %s %.40s: %s\n", argv[0], args[0],
                rc == CL_ERR_NOT_FOUND ? "no such CA operator" : cl_err_str(rc));
        return 1;
    }
    printf("CA operator %s %s\n", args[0], strcmp(state, "active") == 0 ? "enabled" : "disabled");
    return 0;
}
