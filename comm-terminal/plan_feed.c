/* plan_feed.c: a plan handed over by the production management system, parsed and imported
 * once per request id (plan_feed.h). */
#include "plan_feed.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "error.h"
#include "plan_import.h"

#define FILE_ID_PREFIX "file:"

int ct_plan_feed(struct ct_store *store, const char *name, const char *text, const char *request_id,
                 const char *actor, struct ct_feed_result *out, char *err, size_t errlen)
{
    unsigned char digest[32];
    char hex[65], file_id[sizeof(FILE_ID_PREFIX) + 64];
    struct plan plan;
    int rc;

    memset(out, 0, sizeof(*out));
    if (mbedtls_sha256_ret((const unsigned char *)text, strlen(text), digest, 0) != 0) {
        snprintf(err, errlen, "%s: cannot hash the plan", name);
        return CL_ERR_INTERNAL;
    }
    for (size_t i = 0; i < sizeof(digest); i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    if (request_id == NULL) {
        /* 64 characters at most, as every request id. */
        snprintf(file_id, sizeof(file_id), FILE_ID_PREFIX "%.59s", hex);
        request_id = file_id;
    }
    if ((rc = plan_parse(name, text, &plan, err, errlen)) != CL_OK)
        return rc;
    const struct ct_plan_submission submission = {request_id, hex, actor};
    rc = ct_store_plan_submit(store, &submission, plan.entries, plan.count, &out->added,
                              &out->repeated, err, errlen);
    out->entries = plan.count;
    plan_free(&plan);
    return rc;
}

int ct_plan_feed_refused(int rc)
{
    return rc == CL_ERR_PARSE || rc == CL_ERR_TOO_LARGE || rc == CL_ERR_INVALID_ARGUMENT ||
           rc == CL_ERR_NOT_FOUND || rc == CL_ERR_CONFLICT;
}
