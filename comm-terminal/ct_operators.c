/* ct_operators.c: operator login for console commands [FIG 14, 0076]: an operator id and a
 * password, typed at a prompt without echo or read from a file (mode 0600) for scripts, and the
 * role the command needs; operator-add, -disable, -enable and -remove. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ct_commands.h"
#include "error.h"
#include "keyfile.h"
#include "password_input.h"

/* The password for this command: --password-file FILE, else a prompt. */
static char *password_for(int argc, char **argv, const char *prompt, char *err, size_t errlen)
{
    const char *file = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--password-file") == 0)
            file = argv[i + 1];
    return cl_password_read(file, 0, prompt, err, errlen);
}

/* The level a role reaches (CT_OPEN for none). */
static enum ct_access role_level(const char *role)
{
    if (strcmp(role, "admin") == 0)
        return CT_ADMIN;
    if (strcmp(role, "operator") == 0)
        return CT_ACT;
    return strcmp(role, "viewer") == 0 ? CT_VIEW : CT_OPEN;
}

int ct_login(struct ct_runtime *rt, int argc, char **argv, enum ct_access level, char *err,
             size_t errlen)
{
    static const char *const needed[] = {"", "viewer", "operator", "admin"};
    const char *id = NULL;
    char *password, role[16] = "";
    int rc;

    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--operator") == 0)
            id = argv[i + 1];
    if (id == NULL || strlen(id) >= sizeof(ct_operator)) {
        snprintf(err, errlen, "this is an operator action: give --operator ID");
        return CL_ERR_PERMISSION;
    }
    password = password_for(argc, argv, "operator password: ", err, errlen);
    if (password == NULL)
        return CL_ERR_PERMISSION;
    struct ct_store *store = cl_pool_acquire(rt->pool);
    rc = ct_store_operator_login(store, id, password, role, sizeof(role));
    if (rc == CL_OK && role_level(role) < level) {
        char detail[96];
        snprintf(detail, sizeof(detail), "%s refused: role %s, needs %s", argv[0], role,
                 needed[level]);
        ct_store_audit(store, id, "refused", detail);
        cl_pool_release(rt->pool, store);
        cl_secret_free(password, strlen(password));
        snprintf(err, errlen, "operator %s (role %s) may not run %s: it needs the role %s or above",
                 id, role, argv[0], needed[level]);
        return CL_ERR_PERMISSION;
    }
    if (rc == CL_OK)
        ct_store_audit(store, id, "login", argv[0]);
    cl_pool_release(rt->pool, store);
    cl_secret_free(password, strlen(password));
    if (rc != CL_OK) {
        snprintf(err, errlen, "operator id or password not accepted (or the operator is disabled)");
        return CL_ERR_PERMISSION;
    }
    snprintf(ct_operator, sizeof(ct_operator), "%s", id);
    return CL_OK;
}

int ct_command_operator_add(struct ct_runtime *rt, int argc, char **argv)
{
    const char *id = NULL;
    char err[256], *password;
    int rc;

    const char *role = cl_arg_value(argc, argv, "--role");

    id = ct_positional(argc, argv);
    if (id == NULL || strlen(id) < 1 || strlen(id) > 32 ||
        (role != NULL && role_level(role) == CT_OPEN)) {
        fprintf(stderr, "usage: comm-terminal operator-add ID [--role admin|operator|viewer] "
                        "[--new-password-file FILE]\n");
        return 2;
    }
    /* The first operator is an admin; later ones are operators unless told. */
    if (ct_operator[0] == '\0')
        role = "admin";
    else if (role == NULL)
        role = "operator";
    /* The new operator's password: its own file, or a prompt. */
    const char *file = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--new-password-file") == 0)
            file = argv[i + 1];
    if (file != NULL) {
        if (cl_passphrase_load(file, NULL, &password, err, sizeof(err)) != CL_OK) {
            fprintf(stderr, "comm-terminal: %s\n", err);
            return 1;
        }
    } else {
        char *args[] = {argv[0], NULL};
        password = password_for(1, args, "new operator's password: ", err, sizeof(err));
        if (password == NULL) {
            fprintf(stderr, "comm-terminal: %s\n", err);
            return 1;
        }
    }
    struct ct_store *store = cl_pool_acquire(rt->pool);
    /* Without a login (no operator when main looked): only as the very first one, an admin. */
    rc = ct_operator[0]
             ? ct_store_operator_add(store, id, password, role, ct_operator)
             : ct_store_operator_set(store, id, password, CT_OPERATOR_FIRST, "bootstrap");
    cl_pool_release(rt->pool, store);
    cl_secret_free(password, strlen(password));
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: cannot add operator %s: %s\n", id,
                rc == CL_ERR_EXISTS       ? "the id is taken"
                : rc == CL_ERR_PERMISSION ? "an operator exists already: log in (--operator ID)"
                                          : cl_err_str(rc));
        return 1;
    }
    printf("operator %s added (%s)\n", id, role);
    return 0;
}

/* operator-disable, operator-enable, operator-remove ID. */
int ct_command_operator_state(struct ct_runtime *rt, int argc, char **argv)
{
    const char *id = ct_positional(argc, argv);
    const char *state = strcmp(argv[0], "operator-disable") == 0  ? "disabled"
                        : strcmp(argv[0], "operator-enable") == 0 ? "active"
                                                                  : "removed";
    char err[256];

    if (id == NULL) {
        fprintf(stderr, "usage: comm-terminal %s ID\n", argv[0]);
        return 2;
    }
    struct ct_store *store = cl_pool_acquire(rt->pool);
    int rc = ct_store_operator_state(store, id, state, ct_operator, err, sizeof(err));
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: %s refused: %s\n", argv[0], err);
        return 1;
    }
    printf("operator %s %s\n", id, strcmp(state, "active") == 0 ? "enabled" : state);
    return 0;
}
