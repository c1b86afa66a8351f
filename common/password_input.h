/* password_input.h: an operator's password for a command: from a file for scripts, from
 * standard input for scripts, or typed at a prompt without echo. */
#ifndef CERTLINE_PASSWORD_INPUT_H
#define CERTLINE_PASSWORD_INPUT_H

#include <stddef.h>

/* Reads a password from /dev/tty without echo: 0, or -1 without a terminal. */
int cl_password_prompt(const char *prompt, char *out, size_t cap);

/* The password: file (mode 0600, as cl_passphrase_load) if not NULL, else the first line of
 * standard input if from_stdin, else a prompt. malloc'd (free with cl_secret_free), or NULL
 * with err saying why. */
char *cl_password_read(const char *file, int from_stdin, const char *prompt, char *err,
                       size_t errlen);

#endif
