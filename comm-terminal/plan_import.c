/* plan_import.c: CSV and JSON production plans into validated plan entries. */
#include "plan_import.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "atomic_file.h"
#include "error.h"
#include "input_check.h"

#define SERIAL_MAX 999999999999LL /* 12 digits, the wire contract's bound */

static int valid_code(const char *code)
{
    size_t n = strlen(code);
    if (n < 1 || n > CT_MODEL_CODE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)code[i]) && !isupper((unsigned char)code[i]))
            return 0;
    return 1;
}

static int valid_day(const char *day)
{
    int y, m, d;
    char tail;
    if (strlen(day) != 10 || sscanf(day, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return 0;
    return y >= 2000 && y <= 2999 && m >= 1 && m <= 12 && d >= 1 && d <= 31 && day[4] == '-' &&
           day[7] == '-';
}

/* A whole decimal number in lo..hi. */
static int parse_number(const char *text, long long lo, long long hi, long long *out)
{
    char *end;
    long long v;
    if (text[0] == '\0' || !isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Checks an entry once its fields are set; where names the line or entry. */
static int check_entry(const struct ct_plan_entry *e, const char *where, char *err, size_t errlen)
{
    if (!valid_code(e->model_code)) {
        snprintf(err, errlen, "%s: device code \"%s\" is not 1-8 characters 0-9 A-Z", where,
                 e->model_code);
        return CL_ERR_PARSE;
    }
    if (!valid_day(e->day)) {
        snprintf(err, errlen, "%s: date \"%s\" is not YYYY-MM-DD", where, e->day);
        return CL_ERR_PARSE;
    }
    if (e->units < 1 || e->units > PLAN_UNITS_MAX) {
        snprintf(err, errlen, "%s: units %ld is not 1..%d", where, e->units, PLAN_UNITS_MAX);
        return CL_ERR_PARSE;
    }
    if (e->serials == NULL && (e->first_serial < 0 || e->first_serial + e->units - 1 > SERIAL_MAX ||
                               e->serial_digits < 1 || e->serial_digits > 12)) {
        snprintf(err, errlen, "%s: serials %lld.. with %d digits do not fit 12 digits", where,
                 e->first_serial, e->serial_digits);
        return CL_ERR_PARSE;
    }
    return CL_OK;
}

static int grow(struct plan *plan, size_t *cap)
{
    if (plan->count < *cap)
        return CL_OK;
    if (*cap >= PLAN_ENTRIES_MAX)
        return CL_ERR_TOO_LARGE;
    size_t next = *cap ? *cap * 2 : 16;
    if (next > PLAN_ENTRIES_MAX)
        next = PLAN_ENTRIES_MAX;
    struct ct_plan_entry *e = realloc(plan->entries, next * sizeof(*e));
    if (e == NULL)
        return CL_ERR_NOMEM;
    plan->entries = e;
    *cap = next;
    return CL_OK;
}

/* Explicit serials are kept in one array; entries point into it once reading is done. */
struct serial_store {
    long long *values;
    size_t count, cap;
};

static int add_serial(struct serial_store *s, long long v)
{
    if (s->count == s->cap) {
        size_t next = s->cap ? s->cap * 2 : 256;
        if (next > (size_t)PLAN_UNITS_MAX * 16)
            return CL_ERR_TOO_LARGE;
        long long *n = realloc(s->values, next * sizeof(*n));
        if (n == NULL)
            return CL_ERR_NOMEM;
        s->values = n;
        s->cap = next;
    }
    s->values[s->count++] = v;
    return CL_OK;
}

/* Splits a CSV line in place on commas; returns the field count (at most max). */
static int split(char *line, char **fields, int max)
{
    int n = 0;
    for (char *p = line;; p++) {
        if (n < max)
            fields[n] = p;
        n++;
        p = strchr(p, ',');
        if (p == NULL)
            break;
        *p = '\0';
    }
    for (int i = 0; i < n && i < max; i++) { /* trim */
        char *f = fields[i];
        while (isspace((unsigned char)*f))
            f++;
        char *end = f + strlen(f);
        while (end > f && isspace((unsigned char)end[-1]))
            *--end = '\0';
        fields[i] = f;
    }
    return n;
}

static int read_csv(const char *path, char *text, struct plan *plan, struct serial_store *ss,
                    size_t *offsets, char *err, size_t errlen)
{
    size_t cap = 0;
    int line_no = 0, have_header = 0, explicit_serials = 0, rc;
    char *save = NULL, where[300];

    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *fields[6];
        line_no++;
        line[strcspn(line, "\r")] = '\0';
        char *start = line;
        while (isspace((unsigned char)*start))
            start++;
        if (*start == '\0' || *start == '#')
            continue;
        int n = split(start, fields, 6);
        snprintf(where, sizeof(where), "%s line %d", path, line_no);
        if (!have_header) {
            if (n >= 4 && strcmp(fields[0], "device_code") == 0 && strcmp(fields[1], "date") == 0 &&
                strcmp(fields[2], "units") == 0 &&
                (strcmp(fields[3], "first_serial") == 0 || strcmp(fields[3], "serials") == 0)) {
                explicit_serials = strcmp(fields[3], "serials") == 0;
                have_header = 1;
                continue;
            }
            snprintf(err, errlen,
                     "%s: the header must be device_code,date,units,first_serial[,serial_digits]"
                     " or device_code,date,units,serials",
                     where);
            return CL_ERR_PARSE;
        }
        if (n < 4 || n > (explicit_serials ? 4 : 5)) {
            snprintf(err, errlen, "%s: expected %s fields, found %d", where,
                     explicit_serials ? "4" : "4 or 5", n);
            return CL_ERR_PARSE;
        }
        if ((rc = grow(plan, &cap)) != CL_OK) {
            snprintf(err, errlen, "%s: more than %d plan entries", where, PLAN_ENTRIES_MAX);
            return rc;
        }
        struct ct_plan_entry *e = &plan->entries[plan->count];
        long long units = 0, value = 0;
        memset(e, 0, sizeof(*e));
        snprintf(e->model_code, sizeof(e->model_code), "%.*s", CT_MODEL_CODE_MAX, fields[0]);
        snprintf(e->day, sizeof(e->day), "%.10s", fields[1]);
        if (strlen(fields[0]) > CT_MODEL_CODE_MAX || strlen(fields[1]) > 10 ||
            parse_number(fields[2], 1, PLAN_UNITS_MAX, &units) != 0) {
            snprintf(err, errlen, "%s: bad device code, date or units \"%.20s\"", where, fields[2]);
            return CL_ERR_PARSE;
        }
        e->units = (long)units;
        offsets[plan->count] = (size_t)-1;
        if (explicit_serials) {
            char *s_save = NULL;
            long count = 0;
            offsets[plan->count] = ss->count;
            for (char *s = strtok_r(fields[3], ";", &s_save); s; s = strtok_r(NULL, ";", &s_save)) {
                if (parse_number(s, 0, SERIAL_MAX, &value) != 0) {
                    snprintf(err, errlen, "%s: serial \"%.20s\" is not 0..%lld", where, s,
                             SERIAL_MAX);
                    return CL_ERR_PARSE;
                }
                if ((rc = add_serial(ss, value)) != CL_OK)
                    return rc;
                count++;
            }
            if (count != e->units) {
                snprintf(err, errlen, "%s: %ld serials listed for %ld units", where, count,
                         e->units);
                return CL_ERR_PARSE;
            }
            e->serial_digits = 6;
        } else {
            long long digits = 6;
            if (parse_number(fields[3], 0, SERIAL_MAX, &value) != 0 ||
                (n == 5 && parse_number(fields[4], 1, 12, &digits) != 0)) {
                snprintf(err, errlen, "%s: bad first_serial or serial_digits", where);
                return CL_ERR_PARSE;
            }
            e->first_serial = value;
            e->serial_digits = (int)digits;
        }
        if ((rc = check_entry(e, where, err, errlen)) != CL_OK)
            return rc;
        plan->count++;
    }
    if (plan->count == 0) {
        snprintf(err, errlen, "%s: no plan entries", path);
        return CL_ERR_PARSE;
    }
    return CL_OK;
}

static int json_string(const cJSON *o, const char *key, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return -1;
    strcpy(out, v->valuestring);
    return 0;
}

/* A JSON number that is a whole number in lo..hi (|lo|, |hi| < 2^53). The range is checked
 * before the conversion (NaN fails both comparisons): converting an out-of-range double to an
 * integer is undefined behaviour. */
static int whole_number(const cJSON *v, long long lo, long long hi, long long *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= (double)lo && v->valuedouble <= (double)hi) ||
        v->valuedouble != (double)(long long)v->valuedouble)
        return -1;
    *out = (long long)v->valuedouble;
    return 0;
}

static int json_integer(const cJSON *o, const char *key, long long lo, long long hi, long long *out)
{
    return whole_number(cJSON_GetObjectItemCaseSensitive(o, key), lo, hi, out);
}

static int read_json(const char *path, const char *text, struct plan *plan, struct serial_store *ss,
                     size_t *offsets, char *err, size_t errlen)
{
    cJSON *root = NULL;
    size_t cap = 0, index = 0;
    int rc = CL_OK;
    char where[300];

    if (cl_json_has_nul_escape(text, strlen(text))) {
        snprintf(err, errlen, "%s: holds \\u0000 in a string", path);
        return CL_ERR_PARSE;
    }
    root = cJSON_Parse(text);

    if (!cJSON_IsArray(root)) {
        snprintf(err, errlen, "%s: not a JSON array of plan entries", path);
        cJSON_Delete(root);
        return CL_ERR_PARSE;
    }
    for (const cJSON *o = root->child; o != NULL; o = o->next, index++) {
        long long units = 0, value = 0, digits = 6;
        snprintf(where, sizeof(where), "%s entry %zu", path, index + 1);
        if ((rc = grow(plan, &cap)) != CL_OK) {
            snprintf(err, errlen, "%s: more than %d plan entries", where, PLAN_ENTRIES_MAX);
            break;
        }
        struct ct_plan_entry *e = &plan->entries[plan->count];
        memset(e, 0, sizeof(*e));
        for (const cJSON *f = cJSON_IsObject(o) ? o->child : NULL; f != NULL; f = f->next) {
            static const char *const known[] = {"device_code",  "date",          "units",
                                                "first_serial", "serial_digits", "serials"};
            int ok = 0;
            for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
                ok |= strcmp(f->string, known[k]) == 0;
            if (!ok) {
                snprintf(err, errlen, "%s: unknown field \"%.32s\"", where, f->string);
                rc = CL_ERR_PARSE;
                goto out;
            }
        }
        if (!cJSON_IsObject(o) ||
            json_string(o, "device_code", e->model_code, sizeof(e->model_code)) != 0 ||
            json_string(o, "date", e->day, sizeof(e->day)) != 0 ||
            json_integer(o, "units", 1, PLAN_UNITS_MAX, &units) != 0) {
            snprintf(err, errlen, "%s: needs device_code, date (YYYY-MM-DD) and units (1..%d)",
                     where, PLAN_UNITS_MAX);
            rc = CL_ERR_PARSE;
            break;
        }
        e->units = (long)units;
        offsets[plan->count] = (size_t)-1;
        const cJSON *serials = cJSON_GetObjectItemCaseSensitive(o, "serials");
        if (serials != NULL) {
            if (!cJSON_IsArray(serials) || cJSON_GetArraySize(serials) != e->units) {
                snprintf(err, errlen, "%s: serials must list exactly %ld numbers", where, e->units);
                rc = CL_ERR_PARSE;
                break;
            }
            offsets[plan->count] = ss->count;
            for (const cJSON *s = serials->child; s != NULL; s = s->next) {
                long long serial;
                if (whole_number(s, 0, SERIAL_MAX, &serial) != 0) {
                    snprintf(err, errlen, "%s: a serial is not a whole number 0..%lld", where,
                             SERIAL_MAX);
                    rc = CL_ERR_PARSE;
                    goto out;
                }
                if ((rc = add_serial(ss, serial)) != CL_OK)
                    goto out;
            }
            e->serial_digits = 6;
        } else if (json_integer(o, "first_serial", 0, SERIAL_MAX, &value) != 0 ||
                   (cJSON_GetObjectItemCaseSensitive(o, "serial_digits") != NULL &&
                    json_integer(o, "serial_digits", 1, 12, &digits) != 0)) {
            snprintf(err, errlen, "%s: needs first_serial (or serials), serial_digits 1..12",
                     where);
            rc = CL_ERR_PARSE;
            break;
        } else {
            e->first_serial = value;
            e->serial_digits = (int)digits;
        }
        if ((rc = check_entry(e, where, err, errlen)) != CL_OK)
            break;
        plan->count++;
    }
    if (rc == CL_OK && plan->count == 0) {
        snprintf(err, errlen, "%s: no plan entries", path);
        rc = CL_ERR_PARSE;
    }
out:
    cJSON_Delete(root);
    return rc;
}

int plan_parse(const char *name, const char *text, struct plan *plan, char *err, size_t errlen)
{
    struct serial_store ss = {0};
    size_t *offsets, len = strlen(text);
    char *copy;
    int rc;

    memset(plan, 0, sizeof(*plan));
    if (len > PLAN_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", name, PLAN_FILE_MAX);
        return CL_ERR_TOO_LARGE;
    }
    offsets = calloc(PLAN_ENTRIES_MAX, sizeof(size_t));
    copy = malloc(len + 1);
    if (offsets == NULL || copy == NULL) {
        free(offsets);
        free(copy);
        return CL_ERR_NOMEM;
    }
    memcpy(copy, text, len + 1);
    const char *first = copy + strspn(copy, " \t\r\n");
    rc = *first == '[' ? read_json(name, copy, plan, &ss, offsets, err, errlen)
                       : read_csv(name, copy, plan, &ss, offsets, err, errlen);
    free(copy);
    if (rc != CL_OK) {
        free(ss.values);
        free(offsets);
        plan_free(plan);
        return rc;
    }
    plan->serials = ss.values;
    for (size_t i = 0; i < plan->count; i++)
        plan->entries[i].serials = offsets[i] == (size_t)-1 ? NULL : ss.values + offsets[i];
    free(offsets);
    return CL_OK;
}

int plan_read(const char *path, struct plan *plan, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    memset(plan, 0, sizeof(*plan));
    rc = cl_read_file_capped(path, PLAN_FILE_MAX, &text, &len);
    if (rc != CL_OK) {
        snprintf(err, errlen, "%s: cannot read the plan: %s", path, cl_err_str(rc));
        return rc;
    }
    if (strlen(text) != len) {
        snprintf(err, errlen, "%s: holds a NUL byte", path);
        free(text);
        return CL_ERR_PARSE;
    }
    rc = plan_parse(path, text, plan, err, errlen);
    free(text);
    return rc;
}

void plan_free(struct plan *plan)
{
    free(plan->entries);
    free(plan->serials);
    memset(plan, 0, sizeof(*plan));
}
