/* exchange_file.c: reading and writing the hand-carried files of the offline factory
 * (exchange_file.h): bounded, parsed whole, format and version checked, written atomically. */
#include "exchange_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "error.h"

int cl_exchange_file_read(const char *path, size_t max_bytes, const char *format, int version,
                          cJSON **doc, char *err, size_t errlen)
{
    const cJSON *v;
    const char *f;
    char *text = NULL;
    size_t len = 0;
    int rc;

    *doc = NULL;
    rc = cl_read_file_capped(path, max_bytes, &text, &len);
    if (rc == CL_ERR_TOO_LARGE) {
        snprintf(err, errlen, "%s is larger than %zu bytes", path, max_bytes);
        return rc;
    }
    if (rc != CL_OK) {
        snprintf(err, errlen, "cannot read %s: %s", path, cl_err_str(rc));
        return rc;
    }
    *doc = cJSON_ParseWithLength(text, len);
    free(text);
    if (*doc == NULL || !cJSON_IsObject(*doc)) {
        cJSON_Delete(*doc);
        *doc = NULL;
        snprintf(err, errlen, "%s is not a JSON object", path);
        return CL_ERR_PARSE;
    }
    if (format == NULL)
        return CL_OK;
    f = cl_exchange_text(*doc, "format");
    v = cJSON_GetObjectItemCaseSensitive(*doc, "version");
    if (f == NULL || strcmp(f, format) != 0 || !cJSON_IsNumber(v) || v->valuedouble != version) {
        snprintf(err, errlen, "%s is not a %s file of version %d", path, format, version);
        cJSON_Delete(*doc);
        *doc = NULL;
        return CL_ERR_PARSE;
    }
    return CL_OK;
}

const cJSON *cl_exchange_entries(const cJSON *doc, const char *name, char *err, size_t errlen)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, name), *entry;
    size_t i = 0;

    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > CL_EXCHANGE_MAX_ENTRIES) {
        snprintf(err, errlen, "\"%s\" is not a list of at most %d entries", name,
                 CL_EXCHANGE_MAX_ENTRIES);
        return NULL;
    }
    cJSON_ArrayForEach(entry, list)
    {
        i++;
        if (!cJSON_IsObject(entry)) {
            snprintf(err, errlen, "entry %zu of \"%s\" is not an object", i, name);
            return NULL;
        }
    }
    return list;
}

const char *cl_exchange_text(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

long long cl_exchange_time(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e11 ||
        (double)(long long)v->valuedouble != v->valuedouble)
        return -1;
    return (long long)v->valuedouble;
}

int cl_exchange_file_write(const char *path, const cJSON *doc, char *err, size_t errlen)
{
    char *text = cJSON_PrintUnformatted(doc);
    int rc = text != NULL ? cl_atomic_write(path, text, strlen(text), 0600) : CL_ERR_NOMEM;

    free(text);
    if (rc != CL_OK)
        snprintf(err, errlen, "cannot write %s: %s", path, cl_err_str(rc));
    return rc;
}
