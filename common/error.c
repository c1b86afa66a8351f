/* error.c: messages and names for the codes listed in error.h. */
#include "error.h"

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
