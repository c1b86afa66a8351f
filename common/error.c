/* error.c: messages and names for the codes listed in error.h, and the code for an errno. */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#define CL_ERR_STR_CASE_(name, value, message)                                                     \
    case name:                                                                                     \
        return message;

#define CL_ERR_NAME_CASE_(name, value, message)                                                    \
    case name:                                                                                     \
        return #name;

const char *cl_err_str(int code)
{
    switch (code) {
        CL_ERRORS(CL_ERR_STR_CASE_)
    default:
        return "unknown error";
    }
}

const char *cl_err_name(int code)
{
    switch (code) {
        CL_ERRORS(CL_ERR_NAME_CASE_)
    default:
        return "CL_ERR_UNKNOWN";
    }
}

void cl_err_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int cl_err_from_errno(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return CL_ERR_NOT_FOUND;
    case EACCES:
    case EPERM:
    case EROFS:
        return CL_ERR_PERMISSION;
    case EEXIST:
        return CL_ERR_EXISTS;
    case ENOMEM:
        return CL_ERR_NOMEM;
    case ENAMETOOLONG:
    case EINVAL:
        return CL_ERR_INVALID_ARGUMENT;
    case EFBIG:
        return CL_ERR_TOO_LARGE;
    default:
        return CL_ERR_IO;
    }
}
