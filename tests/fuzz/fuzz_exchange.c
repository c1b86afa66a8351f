/* fuzz_exchange.c: fuzz target for the hand-carried files of the offline factory as the
 * comm-terminal and ca-server read them: common/exchange_file.c (cl_exchange_file_read, the
 * entries and their fields) and common/batch_file.c (cl_batch_file_verify: canonical text,
 * signature, signer certificate). The input is the file; after a NUL byte may follow the trusted
 * root (PEM), which is local in the comm-terminal but comes with the input here so that the
 * seeds verify in full. */
#include <stdlib.h>
#include <string.h>

#include "batch_file.h"
#include "exchange_file.h"
#include "fuzz_common.h"

static void walk(const cJSON *doc, const char *name)
{
    char err[256];
    const cJSON *entries = cl_exchange_entries(doc, name, err, sizeof(err)), *entry;
    static const char *const fields[] = {"device_number", "serial", "proof",
                                         "signature",     "pack",   NULL};
    if (entries == NULL)
        return;
    cJSON_ArrayForEach(entry, entries)
    {
        for (int i = 0; fields[i] != NULL; i++)
            (void)cl_exchange_text(entry, fields[i]);
        (void)cl_exchange_time(entry, "written_at");
        (void)cl_exchange_time(entry, "received_at");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_file file;
    const uint8_t *nul = memchr(data, 0, size);
    size_t file_size = nul != NULL ? (size_t)(nul - data) : size;
    char err[512], *root;
    cJSON *doc = NULL;

    fuzz_init();
    if (fuzz_file_set(&file, data, file_size, 0600) != 0)
        return 0;
    root = nul != NULL ? fuzz_strndup(nul + 1, size - file_size - 1) : strdup("");
    if (root == NULL)
        return 0;
    if (cl_exchange_file_read(file.path, 1 << 20, NULL, 0, &doc, err, sizeof(err)) == 0) {
        (void)cl_batch_file_verify(doc, root, err, sizeof(err));
        walk(doc, "items");
        walk(doc, "reports");
        walk(doc, "receipts");
        (void)cl_exchange_text(doc, "signer_certificate");
        cJSON_Delete(doc);
    }
    free(root);
    return 0;
}
