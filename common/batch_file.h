/* batch_file.h: the offline batch file [seed 004], version 2: what `ca-server batch --out`
 * writes for a factory cut off from the service centre and `comm-terminal import-batch` reads.
 * A JSON object:
 *   {"format": "certline-batch", "version": 2, "factory": NAME, "request_id": ID,
 *    "created_at": SECONDS, "items": [{"device_number", "serial", "pack"}, ...],
 *    "signature": BASE64, "signer_certificate": PEM}
 * The issuing CA signs (ca_signature.h) the canonical text
 *   "certline-batch v2\n" factory "\n" request_id "\n" created_at "\n" item count "\n"
 * followed, per item in order, by device number " " serial " " SHA-256(pack) in lower-case hex
 * "\n". Version 1 (no factory, no signature) is refused by the reader. */
#ifndef CERTLINE_BATCH_FILE_H
#define CERTLINE_BATCH_FILE_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct cl_signer;

#define CL_BATCH_FILE_VERSION 2
#define CL_BATCH_FILE_MAX_ITEMS 100000
#define CL_BATCH_FILE_MAX_BYTES (512L * 1024 * 1024) /* 100000 packs of about 4 KiB, with room */

/* Adds "format", "version" (2) and the signature fields to doc, which holds factory,
 * request_id, created_at and items. CL_OK, or a cl_err code with err saying why. */
int cl_batch_file_sign(cJSON *doc, struct cl_signer *signer, const char *signer_pem, char *err,
                       size_t errlen);

/* Checks doc: format and version 2, every field well typed, at most CL_BATCH_FILE_MAX_ITEMS
 * items, and the signature by a CA that chains to trust_pem. CL_OK, or CL_ERR_PARSE (not such a
 * file) or CL_ERR_CRYPTO (not signed by our CA, or altered), with err saying why. */
int cl_batch_file_verify(const cJSON *doc, const char *trust_pem, char *err, size_t errlen);

#endif
