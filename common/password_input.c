/* password_input.c: an operator's password read from a file, standard input or a silent prompt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "error.h"
#include "keyfile.h"
#include "password_input.h"

#define TYPED_MAX 1026 /* a password of CL_PASSWORD_MAX bytes, its newline and NUL */

int cl_password_prompt(const char *prompt, char *out, size_t cap)
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

char *cl_password_read(const char *file, int from_stdin, const char *prompt, char *err,
                       size_t errlen)
{
    char *password = NULL;
    int rc = -1;

    if (file != NULL)
        return cl_passphrase_load(file, NULL, &password, err, errlen) == CL_OK ? password : NULL;
    if ((password = calloc(1, TYPED_MAX)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (from_stdin) {
        if (fgets(password, TYPED_MAX, stdin) != NULL) {
            password[strcspn(password, "\r\n")] = '\0';
            rc = 0;
        }
    } else {
        rc = cl_password_prompt(prompt, password, TYPED_MAX);
    }
    if (rc != 0 || password[0] == '\0') {
        snprintf(err, errlen,
                 from_stdin ? "no password on standard input"
                            : "no password given (no terminal for a prompt? use --password-file)");
        cl_secret_free(password, TYPED_MAX);
        return NULL;
    }
    return password;
}
