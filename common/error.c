/* error.c: messages and names for the codes listed in error.h. */
#include "error.h"

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
