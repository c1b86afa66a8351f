/* exchange_file.h: the files carried by hand between a factory cut off from the service centre
 * and ca-server [seed 004]: JSON objects with "format" and "version", read whole with a bound.
 *
 *   certline-batch v2    ca-server batch --out -> comm-terminal import-batch (batch_file.h)
 *   certline-reports v1  comm-terminal export-reports -> ca-server import-reports:
 *     {"format": "certline-reports", "version": 1, "factory": NAME, "created_at": SECONDS,
 *      "reports": [{"device_number", "serial", "proof", "written_at"}, ...]}
 *   certline-receipts v1 ca-server import-reports --out -> comm-terminal import-receipts:
 *     {"format": "certline-receipts", "version": 1, "created_at": SECONDS,
 *      "signer_certificate": PEM,
 *      "receipts": [{"device_number", "serial", "proof", "received_at", "signature"}, ...]}
 *     each signature as receipt.h (the issuing CA over the receipt's canonical text). */
#ifndef CERTLINE_EXCHANGE_FILE_H
#define CERTLINE_EXCHANGE_FILE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define CL_REPORTS_FORMAT "certline-reports"
#define CL_RECEIPTS_FORMAT "certline-receipts"
#define CL_EXCHANGE_VERSION 1
#define CL_EXCHANGE_MAX_ENTRIES 100000
#define CL_EXCHANGE_MAX_BYTES (64L * 1024 * 1024)

/* Reads path (at most max_bytes) and parses it; format NULL: any (the caller checks). *doc is
 * the parsed object (cJSON_Delete it). CL_OK, or CL_ERR_TOO_LARGE / CL_ERR_PARSE / an I/O code
 * with err saying why. */
int cl_exchange_file_read(const char *path, size_t max_bytes, const char *format, int version,
                          cJSON **doc, char *err, size_t errlen);

/* The array named name of doc, with 0..CL_EXCHANGE_MAX_ENTRIES objects, or NULL (err says why). */
const cJSON *cl_exchange_entries(const cJSON *doc, const char *name, char *err, size_t errlen);

/* A string member of o, or NULL. */
const char *cl_exchange_text(const cJSON *o, const char *name);

/* A whole number member of o in 0..1e11 (seconds), or -1. */
long long cl_exchange_time(const cJSON *o, const char *name);

/* Writes doc to path atomically (temporary file, fsync, rename) with mode 0600. */
int cl_exchange_file_write(const char *path, const cJSON *doc, char *err, size_t errlen);

#endif
