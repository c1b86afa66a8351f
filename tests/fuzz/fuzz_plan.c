/* fuzz_plan.c: fuzz target for production plans, CSV and JSON (comm-terminal/plan_import.c:
 * plan_read over a file held in memory). */
#include "fuzz_common.h"
#include "plan_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_file file;
    struct plan plan;
    char err[512];

    fuzz_init();
    if (fuzz_file_set(&file, data, size, 0600) != 0)
        return 0;
    if (plan_read(file.path, &plan, err, sizeof(err)) == 0)
        plan_free(&plan);
    return 0;
}
