/* fuzz_receipt.c: fuzz target for installation receipts as the comm-terminal checks them
 * (common/receipt.c: cl_receipt_verify). The input holds the receipt's fields separated by NUL
 * bytes, as they arrive from ca-server: device number, serial, verification value, received-at
 * (decimal), signature (base64), signer certificate (PEM), then the trusted root (PEM), which is
 * local in the comm-terminal but comes with the input here so that the seeds verify in full. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "receipt.h"

#define FIELDS 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *field[FIELDS];
    struct cl_receipt receipt;
    char err[512], *text, *end;
    size_t at = 0;
    int n = 0;

    fuzz_init();
    if ((text = fuzz_strndup(data, size)) == NULL)
        return 0;
    while (n < FIELDS) { /* missing fields are "" */
        field[n++] = text + at;
        at += strlen(text + at);
        if (at < size)
            at++;
    }
    receipt.device_number = field[0];
    receipt.serial_hex = field[1];
    receipt.verification_value = field[2];
    receipt.received_at = (time_t)strtoll(field[3], &end, 10);
    (void)cl_receipt_verify(&receipt, field[4], field[5], field[6], err, sizeof(err));
    free(text);
    return 0;
}
