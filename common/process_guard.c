/* process_guard.c: core dumps and ptrace attachment off at a program's start (process_guard.h). */
#include "process_guard.h"

#include <sys/prctl.h>
#include <sys/resource.h>

int cl_process_guard(void)
{
    struct rlimit none = {0, 0};
    int rc = 0;

    if (setrlimit(RLIMIT_CORE, &none) != 0)
        rc = -1;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        rc = -1;
    return rc;
}
