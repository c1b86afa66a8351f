/* fuzz_metrics_request.c: fuzz target for the request line the metrics listener reads from any
 * client (common/metrics_http.c: cl_metrics_http_status over at most its 4 KiB of request). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "metrics_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char request[4097];
    int status;

    fuzz_init();
    if (size > 4096)
        return 0;
    memcpy(request, data, size);
    request[size] = '\0';
    status = cl_metrics_http_status(request, size);
    if (status != 200 && status != 400 && status != 404 && status != 405)
        abort();
    /* only a GET of /metrics is answered with the metrics */
    if (status == 200 && strncmp(request, "GET /metrics", 12) != 0)
        abort();
    return 0;
}
