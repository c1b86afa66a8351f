/* batch_file.c: the offline batch file's canonical text, its signature by the issuing CA and
 * its check against the root (the format: batch_file.h). */
#include "batch_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "ca_signature.h"
#include "error.h"
#include "exchange_file.h"

#define FORMAT_NAME "certline-batch"

/* The canonical text of doc (fields checked for type, not content); *text is malloc'd. */
static int canonical_text(const cJSON *doc, char **text, size_t *len, char *err, size_t errlen)
{
    const char *factory = cl_exchange_text(doc, "factory"),
               *request_id = cl_exchange_text(doc, "request_id");
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(doc, "created_at");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items"), *item;
    size_t count, cap, at, index = 0;
    char *out;
    int n;

    *text = NULL;
    if (factory == NULL || factory[0] == '\0' || strlen(factory) > 64 || request_id == NULL ||
        request_id[0] == '\0' || strlen(request_id) > 64 || !cJSON_IsNumber(created) ||
        created->valuedouble < 0 || created->valuedouble > 1e11 || !cJSON_IsArray(items)) {
        snprintf(err, errlen, "it lacks a factory, a request id, a creation time or items");
        return CL_ERR_PARSE;
    }
    count = (size_t)cJSON_GetArraySize(items);
    if (count < 1 || count > CL_BATCH_FILE_MAX_ITEMS) {
        snprintf(err, errlen, "it holds %zu items, not 1 to %d", count, CL_BATCH_FILE_MAX_ITEMS);
        return CL_ERR_PARSE;
    }
    cap = 200 + strlen(factory) + strlen(request_id) + count * (32 + 41 + 65 + 3);
    if ((out = malloc(cap)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    n = snprintf(out, cap, "certline-batch v2\n%s\n%s\n%.0f\n%zu\n", factory, request_id,
                 created->valuedouble, count);
    at = (size_t)n;
    cJSON_ArrayForEach(item, items)
    {
        const char *number = cl_exchange_text(item, "device_number"),
                   *serial = cl_exchange_text(item, "serial"),
                   *pack = cl_exchange_text(item, "pack");
        unsigned char hash[32];
        index++;
        if (number == NULL || serial == NULL || pack == NULL || strlen(number) > 31 ||
            strlen(serial) > 40 || strchr(number, ' ') || strchr(number, '\n') ||
            strchr(serial, ' ') || strchr(serial, '\n') ||
            mbedtls_sha256_ret((const unsigned char *)pack, strlen(pack), hash, 0) != 0) {
            snprintf(err, errlen, "item %zu lacks a device number, a serial or a pack", index);
            free(out);
            return CL_ERR_PARSE;
        }
        at += (size_t)snprintf(out + at, cap - at, "%s %s ", number, serial);
        for (int i = 0; i < 32; i++)
            at += (size_t)snprintf(out + at, cap - at, "%02x", hash[i]);
        out[at++] = '\n';
        out[at] = '\0';
    }
    *text = out;
    *len = at;
    return CL_OK;
}

int cl_batch_file_sign(cJSON *doc, struct cl_signer *signer, const char *signer_pem, char *err,
                       size_t errlen)
{
    char *text = NULL, *signature = NULL;
    size_t len = 0;
    int rc;

    if (doc == NULL || signer == NULL || signer_pem == NULL) {
        snprintf(err, errlen, "no batch, signer or signer certificate");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = canonical_text(doc, &text, &len, err, errlen)) != CL_OK)
        return rc;
    rc = cl_ca_sign_text(signer, text, len, &signature);
    free(text);
    if (rc != CL_OK) {
        snprintf(err, errlen, "the batch could not be signed: %s", cl_err_str(rc));
        return rc;
    }
    if (cJSON_AddStringToObject(doc, "format", FORMAT_NAME) == NULL ||
        cJSON_AddNumberToObject(doc, "version", CL_BATCH_FILE_VERSION) == NULL ||
        cJSON_AddStringToObject(doc, "signature", signature) == NULL ||
        cJSON_AddStringToObject(doc, "signer_certificate", signer_pem) == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = CL_ERR_NOMEM;
    }
    free(signature);
    return rc;
}

int cl_batch_file_verify(const cJSON *doc, const char *trust_pem, char *err, size_t errlen)
{
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(doc, "version");
    const char *format = cl_exchange_text(doc, "format");
    char *text = NULL, why[384];
    size_t len = 0;
    int rc;

    if (!cJSON_IsObject(doc)) {
        snprintf(err, errlen, "not a batch file (no JSON object)");
        return CL_ERR_PARSE;
    }
    if (cJSON_IsNumber(version) && version->valuedouble == 1 && format == NULL) {
        snprintf(err, errlen,
                 "a version 1 batch file is not signed: ask the service centre for "
                 "a signed one (ca-server batch --factory NAME)");
        return CL_ERR_PARSE;
    }
    if (format == NULL || strcmp(format, FORMAT_NAME) != 0 || !cJSON_IsNumber(version) ||
        version->valuedouble != CL_BATCH_FILE_VERSION) {
        snprintf(err, errlen, "not a %s file of version %d", FORMAT_NAME, CL_BATCH_FILE_VERSION);
        return CL_ERR_PARSE;
    }
    if ((rc = canonical_text(doc, &text, &len, why, sizeof(why))) != CL_OK) {
        snprintf(err, errlen, "not a well-formed batch file: %s", why);
        return rc;
    }
    rc = cl_ca_verify_text(text, len, cl_exchange_text(doc, "signature"),
                           cl_exchange_text(doc, "signer_certificate"), trust_pem,
                           "batch file refused", err, errlen);
    free(text);
    return rc == CL_OK ? CL_OK : CL_ERR_CRYPTO;
}
