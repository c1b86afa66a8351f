/* error.h: the one list of certline error codes and their messages, kept together as an X-macro
 * so that a code, its name and its text can never drift apart. */
#ifndef CERTLINE_ERROR_H
#define CERTLINE_ERROR_H

#include <stddef.h>

/* X(name, value, message). Values are part of the interface: they are never renumbered or
 * reused; new codes are appended with the next free negative value. CL_OK is the only
 * non-negative code. Two entries with one value do not compile (error.c switches over the list). */
#define CL_ERRORS(X)                                                                               \
    X(CL_OK, 0, "success")                                                                         \
    X(CL_ERR_NOMEM, -1, "out of memory")                                                           \
    X(CL_ERR_INVALID_ARGUMENT, -2, "invalid argument")                                             \
    X(CL_ERR_IO, -3, "input/output error")                                                         \
    X(CL_ERR_CONFIG, -4, "invalid configuration")                                                  \
    X(CL_ERR_PARSE, -5, "malformed input")                                                         \
    X(CL_ERR_TOO_LARGE, -6, "input exceeds the size limit")                                        \
    X(CL_ERR_TIMEOUT, -7, "operation timed out")                                                   \
    X(CL_ERR_NOT_FOUND, -8, "not found")                                                           \
    X(CL_ERR_CONFLICT, -9, "conflicts with the current state of the resource")                     \
    X(CL_ERR_EXISTS, -10, "already exists")                                                        \
    X(CL_ERR_PERMISSION, -11, "permission denied")                                                 \
    X(CL_ERR_CRYPTO, -12, "cryptographic operation failed")                                        \
    X(CL_ERR_TLS_SETUP, -13, "TLS setup failed")                                                   \
    X(CL_ERR_TLS_HANDSHAKE, -14, "TLS handshake failed")                                           \
    X(CL_ERR_TLS_PEER_VERIFY, -15, "peer certificate verification failed")                         \
    X(CL_ERR_TLS_VERSION, -16, "TLS protocol version not allowed")                                 \
    X(CL_ERR_PEER_ROLE, -17, "peer role not admitted for this interface")                          \
    X(CL_ERR_PEER_NAME, -18, "server name mismatch")                                               \
    X(CL_ERR_CONNECT, -19, "cannot connect")                                                       \
    X(CL_ERR_CLOSED, -20, "peer closed the connection")                                            \
    X(CL_ERR_SOAP_FAULT, -21, "SOAP fault")                                                        \
    X(CL_ERR_SERVER_BUSY, -22, "server busy: connection limit reached")                            \
    X(CL_ERR_DB, -23, "database error")                                                            \
    X(CL_ERR_STATE, -24, "operation not allowed in the current state")                             \
    X(CL_ERR_INTERNAL, -25, "internal error")

#define CL_ERR_ENUM_ITEM_(name, value, message) name = (value),

typedef enum cl_err { CL_ERRORS(CL_ERR_ENUM_ITEM_) } cl_err;

/* The message for code, e.g. "out of memory"; "unknown error" for a value not in the list.
 * Never NULL; the string is static. */
const char *cl_err_str(int code);

/* The symbolic name for code, e.g. "CL_ERR_TIMEOUT"; "CL_ERR_UNKNOWN" for a value not in the
 * list. Never NULL; the string is static. */
const char *cl_err_name(int code);

/* Formats a message into the caller's buffer err of errlen bytes (truncated to fit); nothing if
 * err is NULL or errlen is 0. */
void cl_err_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The code for a failed system call's errno: CL_ERR_NOT_FOUND (ENOENT, ENOTDIR),
 * CL_ERR_PERMISSION (EACCES, EPERM, EROFS), CL_ERR_EXISTS (EEXIST), CL_ERR_NOMEM (ENOMEM),
 * CL_ERR_INVALID_ARGUMENT (ENAMETOOLONG, EINVAL), CL_ERR_TOO_LARGE (EFBIG), else CL_ERR_IO. */
int cl_err_from_errno(int e);

#endif
