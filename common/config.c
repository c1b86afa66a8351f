/* config.c: strict JSON configuration loading through cJSON, driven by the tables of config.h. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "atomic_file.h"
#include "error.h"

#define PATH_MAX_BYTES 256                  /* longest dotted key path shown in a message */
#define TABLE_DEPTH_MAX 16                  /* nesting of tables, a guard against cycles */
#define EXACT_DOUBLE_MAX 9007199254740992.0 /* 2^53: beyond, doubles skip integers */

struct ctx {
    const char *name;
    char *err;
    size_t errlen;
};

static int fail(struct ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, int code, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (c->err == NULL || c->errlen == 0)
        return code;
    n = snprintf(c->err, c->errlen, "%s: ", c->name);
    if (n < 0 || (size_t)n >= c->errlen)
        return code;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

/* Writes prefix "." key (or key alone) into path, with control characters, quotes and
 * backslashes of the key escaped, since keys from the file end up in messages. */
static void join_path(char *path, size_t cap, const char *prefix, const char *key)
{
    static const char hexdigits[] = "0123456789abcdef";
    size_t len = 0;

    path[0] = '\0';
    if (prefix != NULL && prefix[0] != '\0') {
        len = (size_t)snprintf(path, cap, "%s.", prefix);
        if (len >= cap) {
            path[cap - 1] = '\0';
            return;
        }
    }
    for (const char *p = key; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        char esc[4];
        size_t n;

        if (ch < 0x20 || ch == 0x7f) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hexdigits[ch >> 4];
            esc[3] = hexdigits[ch & 0xf];
            n = 4;
        } else if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            n = 2;
        } else {
            esc[0] = (char)ch;
            n = 1;
        }
        if (len + n >= cap)
            break;
        memcpy(path + len, esc, n);
        len += n;
    }
    path[len] = '\0';
}

static int check_table(struct ctx *c, const struct cl_cfg_table *t, const char *prefix, int depth)
{
    char path[PATH_MAX_BYTES];

    if (t == NULL || (t->fields == NULL && t->count > 0) || depth > TABLE_DEPTH_MAX)
        return fail(c, CL_ERR_INTERNAL, "configuration table under \"%s\" is invalid", prefix);
    for (size_t i = 0; i < t->count; i++) {
        const struct cl_cfg_field *f = &t->fields[i];
        const char *why = NULL;

        if (f->key == NULL || f->key[0] == '\0' || strchr(f->key, '.') != NULL)
            return fail(c, CL_ERR_INTERNAL, "configuration table under \"%s\": bad key", prefix);
        join_path(path, sizeof(path), prefix, f->key);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(t->fields[j].key, f->key) == 0)
                why = "listed twice";
        }
        switch (f->type) {
        case CL_CFG_STRING:
            if (f->size == 0 || f->min < 0 || f->min > f->max || (size_t)f->max >= f->size)
                why = "string bounds do not fit the member";
            else if (f->default_str != NULL && strlen(f->default_str) > (size_t)f->max)
                why = "default longer than the member";
            break;
        case CL_CFG_INT:
            if (f->size != sizeof(long long) || f->min > f->max)
                why = "bad integer member or bounds";
            break;
        case CL_CFG_BOOL:
            if (f->size != sizeof(bool))
                why = "bad boolean member";
            break;
        case CL_CFG_LOG_LEVEL:
            if (f->size != sizeof(enum cl_log_level) || f->default_int < CL_LOG_ERROR ||
                f->default_int > CL_LOG_DEBUG)
                why = "bad log level member or default";
            break;
        case CL_CFG_LIST:
            if (f->size == 0 || f->min < 1 || f->min > f->max || (size_t)f->max >= f->size)
                why = "list bounds do not fit the member";
            break;
        case CL_CFG_OBJECT: {
            int rc;
            if (f->sub == NULL) {
                why = "object without a table";
                break;
            }
            rc = check_table(c, f->sub, path, depth + 1);
            if (rc != CL_OK)
                return rc;
            break;
        }
        default:
            why = "unknown type";
            break;
        }
        if (why != NULL)
            return fail(c, CL_ERR_INTERNAL, "configuration table: key \"%s\": %s", path, why);
    }
    return CL_OK;
}

static void defaults(const struct cl_cfg_table *t, char *base)
{
    for (size_t i = 0; i < t->count; i++) {
        const struct cl_cfg_field *f = &t->fields[i];
        char *p = base + f->offset;

        switch (f->type) {
        case CL_CFG_STRING:
            memset(p, 0, f->size);
            if (f->default_str != NULL)
                memcpy(p, f->default_str, strlen(f->default_str));
            break;
        case CL_CFG_INT: {
            long long v = f->default_int;
            memcpy(p, &v, sizeof(v));
            break;
        }
        case CL_CFG_BOOL: {
            bool v = f->default_int != 0;
            memcpy(p, &v, sizeof(v));
            break;
        }
        case CL_CFG_LOG_LEVEL: {
            enum cl_log_level v = (enum cl_log_level)f->default_int;
            memcpy(p, &v, sizeof(v));
            break;
        }
        case CL_CFG_OBJECT:
            defaults(f->sub, p);
            break;
        case CL_CFG_LIST:
            memset(p, 0, f->size);
            break;
        }
    }
}

int cl_config_apply_defaults(const struct cl_cfg_table *table, void *out, char *err, size_t errlen)
{
    struct ctx c = {"configuration", err, errlen};
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (table == NULL || out == NULL)
        return fail(&c, CL_ERR_INVALID_ARGUMENT, "no table or no output");
    rc = check_table(&c, table, "", 0);
    if (rc != CL_OK)
        return rc;
    defaults(table, out);
    return CL_OK;
}

/* cJSON keeps numbers only as doubles, so "5.0" and "5" look alike. This finds, in document
 * order, which number tokens of text are written as integers (no fraction, no exponent); flags
 * is NULL to count only. It also refuses what cJSON accepts but JSON does not, or would lose
 * silently: "\u0000" in a string (cJSON cuts the string there) and leading zeros ("0600" would
 * be read as 600, not as octal). Returns the number of number tokens, or -1 with *bad_line and
 * *why set. */
static long scan_numbers(const char *text, unsigned char *flags, long *bad_line, const char **why)
{
    long count = 0, line = 1;
    const char *p = text;

    while (*p != '\0') {
        if (*p == '"') {
            for (p++; *p != '\0' && *p != '"'; p++) {
                if (*p == '\n')
                    line++;
                if (*p != '\\')
                    continue;
                if (strncmp(p, "\\u0000", 6) == 0) {
                    *bad_line = line;
                    *why = "\\u0000 in a string";
                    return -1;
                }
                if (p[1] != '\0')
                    p++;
            }
            if (*p == '"')
                p++;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            const char *digits = *p == '-' ? p + 1 : p;
            int integer = 1;
            if (digits[0] == '0' && digits[1] >= '0' && digits[1] <= '9') {
                *bad_line = line;
                *why = "number with a leading zero";
                return -1;
            }
            for (; *p != '\0' && strchr("0123456789+-.eE", *p) != NULL; p++) {
                if (*p == '.' || *p == 'e' || *p == 'E')
                    integer = 0;
            }
            if (flags != NULL)
                flags[count] = (unsigned char)integer;
            count++;
        } else {
            if (*p == '\n')
                line++;
            p++;
        }
    }
    return count;
}

/* Sets the value of every number not written as an integer to NaN, walking the tree in
 * document order as scan_numbers walked the text. */
static void mark_numbers(cJSON *item, const unsigned char *flags, long count, long *index)
{
    for (; item != NULL; item = item->next) {
        if (cJSON_IsNumber(item)) {
            if (*index >= count || !flags[*index])
                item->valuedouble = NAN;
            (*index)++;
        }
        if (item->child != NULL)
            mark_numbers(item->child, flags, count, index);
    }
}

static int load_object(struct ctx *c, const cJSON *obj, const struct cl_cfg_table *t, char *base,
                       const char *prefix);

/* A list: its strings joined by single spaces into p. */
static int load_list(struct ctx *c, const cJSON *item, const struct cl_cfg_field *f, char *p,
                     const char *path)
{
    const cJSON *e;
    size_t used = 0;
    int n = 0;

    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) < 1)
        return fail(c, CL_ERR_CONFIG, "key \"%s\": expected a list of strings", path);
    memset(p, 0, f->size);
    cJSON_ArrayForEach(e, item)
    {
        size_t len = cJSON_IsString(e) && e->valuestring != NULL ? strlen(e->valuestring) : 0;
        n++;
        for (size_t i = 0; i < len; i++)
            if (e->valuestring[i] <= ' ' || e->valuestring[i] > '~')
                len = 0; /* a space or a control character: refused below */
        if (len < (size_t)f->min || len > (size_t)f->max)
            return fail(c, CL_ERR_CONFIG,
                        "key \"%s\": item %d must be a string of %lld to %lld printable bytes "
                        "without spaces",
                        path, n, f->min, f->max);
        if (used + (used > 0) + len >= f->size)
            return fail(c, CL_ERR_CONFIG, "key \"%s\": the list is longer than %zu bytes", path,
                        f->size - 1);
        if (used > 0)
            p[used++] = ' ';
        memcpy(p + used, e->valuestring, len);
        used += len;
    }
    return CL_OK;
}

static int load_value(struct ctx *c, const cJSON *item, const struct cl_cfg_field *f, char *p,
                      const char *path)
{
    switch (f->type) {
    case CL_CFG_STRING: {
        size_t len;
        if (!cJSON_IsString(item) || item->valuestring == NULL)
            return fail(c, CL_ERR_CONFIG, "key \"%s\": expected a string", path);
        len = strlen(item->valuestring);
        if (len > (size_t)f->max)
            return fail(c, CL_ERR_CONFIG, "key \"%s\": longer than %lld bytes", path, f->max);
        if (len < (size_t)f->min) {
            if (f->min == 1)
                return fail(c, CL_ERR_CONFIG, "key \"%s\": must not be empty", path);
            return fail(c, CL_ERR_CONFIG, "key \"%s\": shorter than %lld bytes", path, f->min);
        }
        memset(p, 0, f->size);
        memcpy(p, item->valuestring, len);
        return CL_OK;
    }
    case CL_CFG_INT: {
        double d = item->valuedouble;
        long long v;
        if (!cJSON_IsNumber(item) || isnan(d))
            return fail(c, CL_ERR_CONFIG, "key \"%s\": expected an integer", path);
        if (d < -EXACT_DOUBLE_MAX || d > EXACT_DOUBLE_MAX)
            return fail(c, CL_ERR_CONFIG, "key \"%s\": value is out of range %lld..%lld", path,
                        f->min, f->max);
        v = (long long)d;
        if ((double)v != d)
            return fail(c, CL_ERR_CONFIG, "key \"%s\": expected an integer", path);
        if (v < f->min || v > f->max)
            return fail(c, CL_ERR_CONFIG, "key \"%s\": %lld is out of range %lld..%lld", path, v,
                        f->min, f->max);
        memcpy(p, &v, sizeof(v));
        return CL_OK;
    }
    case CL_CFG_BOOL: {
        bool v;
        if (!cJSON_IsBool(item))
            return fail(c, CL_ERR_CONFIG, "key \"%s\": expected true or false", path);
        v = cJSON_IsTrue(item) != 0;
        memcpy(p, &v, sizeof(v));
        return CL_OK;
    }
    case CL_CFG_LOG_LEVEL: {
        enum cl_log_level v;
        if (!cJSON_IsString(item) || item->valuestring == NULL ||
            cl_log_level_parse(item->valuestring, &v) != CL_OK)
            return fail(c, CL_ERR_CONFIG,
                        "key \"%s\": expected \"error\", \"warn\", \"info\" or \"debug\"", path);
        memcpy(p, &v, sizeof(v));
        return CL_OK;
    }
    case CL_CFG_OBJECT:
        if (!cJSON_IsObject(item))
            return fail(c, CL_ERR_CONFIG, "key \"%s\": expected an object", path);
        return load_object(c, item, f->sub, p, path);
    case CL_CFG_LIST:
        return load_list(c, item, f, p, path);
    }
    return fail(c, CL_ERR_INTERNAL, "key \"%s\": unknown field type", path);
}

static int load_object(struct ctx *c, const cJSON *obj, const struct cl_cfg_table *t, char *base,
                       const char *prefix)
{
    char path[PATH_MAX_BYTES];
    unsigned char *seen;
    int rc = CL_OK;

    seen = calloc(t->count > 0 ? t->count : 1, 1);
    if (seen == NULL)
        return fail(c, CL_ERR_NOMEM, "out of memory");

    for (const cJSON *item = obj->child; item != NULL; item = item->next) {
        const char *key = item->string != NULL ? item->string : "";
        size_t i;

        join_path(path, sizeof(path), prefix, key);
        for (i = 0; i < t->count; i++) {
            if (strcmp(t->fields[i].key, key) == 0)
                break;
        }
        if (i == t->count) {
            rc = fail(c, CL_ERR_CONFIG, "unknown key \"%s\"", path);
            goto out;
        }
        if (seen[i]) {
            rc = fail(c, CL_ERR_CONFIG, "duplicate key \"%s\"", path);
            goto out;
        }
        seen[i] = 1;
        rc = load_value(c, item, &t->fields[i], base + t->fields[i].offset, path);
        if (rc != CL_OK)
            goto out;
    }
    for (size_t i = 0; i < t->count; i++) {
        if (!seen[i] && t->fields[i].required) {
            join_path(path, sizeof(path), prefix, t->fields[i].key);
            rc = fail(c, CL_ERR_CONFIG, "missing required key \"%s\"", path);
            goto out;
        }
    }

out:
    free(seen);
    return rc;
}

/* The 1-based line of text that holds offset pos. */
static long line_of(const char *text, size_t pos)
{
    long line = 1;

    for (size_t i = 0; i < pos && text[i] != '\0'; i++) {
        if (text[i] == '\n')
            line++;
    }
    return line;
}

int cl_config_load_string(const char *name, const char *json, const struct cl_cfg_table *table,
                          void *out, char *err, size_t errlen)
{
    struct ctx c = {name != NULL ? name : "configuration", err, errlen};
    cJSON *root = NULL;
    unsigned char *flags = NULL;
    const char *end = NULL;
    long count, index = 0, bad_line = 0;
    const char *why = "";
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (json == NULL || table == NULL || out == NULL)
        return fail(&c, CL_ERR_INVALID_ARGUMENT, "no text, table or output");
    rc = check_table(&c, table, "", 0);
    if (rc != CL_OK)
        return rc;
    defaults(table, out);

    root = cJSON_ParseWithOpts(json, &end, 1);
    if (root == NULL) {
        size_t pos = end != NULL && end >= json ? (size_t)(end - json) : 0;
        rc = fail(&c, CL_ERR_CONFIG, "invalid JSON near line %ld", line_of(json, pos));
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc = fail(&c, CL_ERR_CONFIG, "the top level must be a JSON object");
        goto out;
    }
    count = scan_numbers(json, NULL, &bad_line, &why);
    if (count < 0) {
        rc = fail(&c, CL_ERR_CONFIG, "invalid JSON near line %ld: %s", bad_line, why);
        goto out;
    }
    flags = malloc(count > 0 ? (size_t)count : 1);
    if (flags == NULL) {
        rc = fail(&c, CL_ERR_NOMEM, "out of memory");
        goto out;
    }
    scan_numbers(json, flags, &bad_line, &why);
    mark_numbers(root, flags, count, &index);
    if (index != count) {
        rc = fail(&c, CL_ERR_INTERNAL, "cannot match the numbers of the JSON text");
        goto out;
    }
    rc = load_object(&c, root, table, out, "");

out:
    free(flags);
    cJSON_Delete(root);
    return rc;
}

int cl_config_load_file(const char *path, const struct cl_cfg_table *table, void *out, char *err,
                        size_t errlen)
{
    struct ctx c = {path != NULL ? path : "(no file)", err, errlen};
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (path == NULL || table == NULL || out == NULL)
        return fail(&c, CL_ERR_INVALID_ARGUMENT, "no file, table or output");

    rc = cl_read_file_capped(path, CL_CONFIG_MAX_BYTES, &text, &len);
    if (rc == CL_ERR_TOO_LARGE) {
        rc = fail(&c, CL_ERR_CONFIG, "file is larger than %d bytes", CL_CONFIG_MAX_BYTES);
        goto out;
    }
    if (rc == CL_ERR_NOMEM) {
        rc = fail(&c, CL_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (rc != CL_OK) {
        rc = fail(&c, CL_ERR_CONFIG, "cannot read file: %s", strerror(errno));
        goto out;
    }
    if (strlen(text) != len) {
        rc = fail(&c, CL_ERR_CONFIG, "file contains a NUL byte");
        goto out;
    }
    rc = cl_config_load_string(path, text, table, out, err, errlen);

out:
    free(text);
    return rc;
}

static void print_fields(FILE *fp, const struct cl_cfg_table *t, const char *prefix, int depth)
{
    char path[PATH_MAX_BYTES];

    if (t == NULL || depth > TABLE_DEPTH_MAX)
        return;
    for (size_t i = 0; i < t->count; i++) {
        const struct cl_cfg_field *f = &t->fields[i];

        join_path(path, sizeof(path), prefix, f->key != NULL ? f->key : "?");
        fprintf(fp, "  %-30s ", path);
        switch (f->type) {
        case CL_CFG_STRING:
            fprintf(fp, "string, %lld..%lld bytes", f->min, f->max);
            if (f->required)
                fprintf(fp, ", required");
            else
                fprintf(fp, ", default \"%s\"", f->default_str != NULL ? f->default_str : "");
            break;
        case CL_CFG_INT:
            fprintf(fp, "integer, %lld..%lld", f->min, f->max);
            if (f->required)
                fprintf(fp, ", required");
            else
                fprintf(fp, ", default %lld", f->default_int);
            break;
        case CL_CFG_BOOL:
            fprintf(fp, "true or false");
            if (f->required)
                fprintf(fp, ", required");
            else
                fprintf(fp, ", default %s", f->default_int ? "true" : "false");
            break;
        case CL_CFG_LOG_LEVEL:
            fprintf(fp, "\"error\", \"warn\", \"info\" or \"debug\"");
            if (f->required)
                fprintf(fp, ", required");
            else
                fprintf(fp, ", default \"%s\"",
                        cl_log_level_name((enum cl_log_level)f->default_int));
            break;
        case CL_CFG_OBJECT:
            fprintf(fp, "object%s", f->required ? ", required" : "");
            break;
        case CL_CFG_LIST:
            fprintf(fp, "list of strings, each %lld..%lld bytes, default none", f->min, f->max);
            break;
        }
        fputc('\n', fp);
        if (f->help != NULL && f->help[0] != '\0')
            fprintf(fp, "      %s\n", f->help);
        if (f->type == CL_CFG_OBJECT)
            print_fields(fp, f->sub, path, depth + 1);
    }
}

void cl_config_print_help(FILE *fp, const struct cl_cfg_table *table)
{
    if (fp == NULL || table == NULL)
        return;
    fprintf(fp, "Configuration keys (JSON):\n");
    print_fields(fp, table, "", 0);
}
