/* ct_operators.c: operator login for console commands [FIG 14]: an operator id and a password,
 * typed at a prompt without echo or read from a file (mode 0600) for scripts; and operator-add. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ct_commands.h"
#include "error.h"
#include "keyfile.h"

#define PASSWORD_MAX 256

/* Reads a password from /dev/tty without echo. */
static int prompt_password(const char *prompt, char *out, size_t cap)
{
    FILE *tty = fopen("/dev/tty", "r+");
    struct termios old, quiet;
    int rc = -1;

    if (tty == NULL)
        return -1;
    fputs(prompt, tty);
    fflush(tty);
    if (tcgetattr(fileno(tty), &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
        if (fgets(out, (int)cap, tty) != NULL) {
            out[strcspn(out, "\r\n")] = '\0';
            rc = 0;
        }
        tcsetattr(fileno(tty), TCSAFLUSH, &old);
        fputc('\n', tty);
    }
    fclose(tty);
    return rc;
}

/* The password for this command: --password-file FILE, else a prompt. */
static char *password_for(int argc, char **argv, const char *prompt, char *err, size_t errlen)
{
    const char *file = NULL;
    char *password = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--password-file") == 0)
            file = argv[i + 1];
    if (file != NULL) {
        if (cl_passphrase_load(file, NULL, &password, err, errlen) != CL_OK)
            return NULL;
        return password;
    }
    password = calloc(1, PASSWORD_MAX);
    if (password == NULL || prompt_password(prompt, password, PASSWORD_MAX) != 0 ||
        password[0] == '\0') {
        snprintf(err, errlen, "no password given (no terminal for a prompt? use --password-file)");
        free(password);
        return NULL;
    }
    return password;
}

int ct_login(struct ct_runtime *rt, int argc, char **argv, char *err, size_t errlen)
{
    const char *id = NULL;
    char *password;
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
    rc = ct_store_operator_check(store, id, password);
    if (rc == CL_OK)
        ct_store_audit(store, id, "login", argv[0]);
    cl_pool_release(rt->pool, store);
    cl_secret_free(password, strlen(password));
    if (rc != CL_OK) {
        snprintf(err, errlen, "operator id or password not accepted");
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

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--operator") == 0 || strcmp(argv[i], "--password-file") == 0 ||
            strcmp(argv[i], "--new-password-file") == 0)
            i++;
        else if (strncmp(argv[i], "--", 2) != 0)
            id = argv[i];
    }
    if (id == NULL || strlen(id) < 1 || strlen(id) > 32) {
        fprintf(stderr, "usage: comm-terminal operator-add ID [--new-password-file FILE]\n");
        return 2;
    }
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
    /* Without a login (no operator when main looked): only as the very first one. */
    rc = ct_operator[0]
             ? ct_store_operator_set(store, id, password, 0, ct_operator)
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
    printf("operator %s added\n", id);
    return 0;
}
