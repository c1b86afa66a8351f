/* run_nv_tests.c: the device image tests, one group per layer of device-agent/nv_*.c. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "log.h"
#include "nv_fixture.h"

int main(void)
{
    static int (*const groups[])(void) = {
        nv_codec_tests, nv_records_tests, nv_file_tests,
        nv_image_tests, nv_slots_tests,   nv_inspect_tests,
    };
    int failed = 0;

    signal(SIGPIPE, SIG_IGN);
    cl_log_set_level(CL_LOG_ERROR); /* ignored spare slots are logged as warnings */
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        failed += groups[i]();
    return failed != 0;
}
