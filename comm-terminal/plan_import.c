/* plan_import.c: CSV and JSON production plans into validated plan entries. */
#include "plan_import.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "atomic_file.h"
#include "error.h"
#include "input_check.h"

#define SERIAL_MAX 999999999999LL /* 12 digits, the wire contract's bound */

/* Notes one error: the first one's code is kept; the first PLAN_ERRORS_MAX texts are kept. */
static int note(struct plan_errors *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int note(struct plan_errors *e, int rc, const char *fmt, ...)
{
    va_list ap;
    if (e->count == 0)
        e->first_rc = rc;
    if (e->count++ >= PLAN_ERRORS_MAX)
        return rc;
    va_start(ap, fmt);
    vsnprintf(e->text[e->kept++], PLAN_ERROR_TEXT, fmt, ap);
    va_end(ap);
    return rc;
}

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
static int check_entry(const struct ct_plan_entry *e, const char *where, struct plan_errors *errors)
{
    if (!valid_code(e->model_code))
        return note(errors, CL_ERR_PARSE, "%s: device code \"%s\" is not 1-8 characters 0-9 A-Z",
                    where, e->model_code);
    if (!valid_day(e->day))
        return note(errors, CL_ERR_PARSE, "%s: date \"%s\" is not YYYY-MM-DD", where, e->day);
    if (e->units < 1 || e->units > PLAN_UNITS_MAX)
        return note(errors, CL_ERR_PARSE, "%s: units %ld is not 1..%d", where, e->units,
                    PLAN_UNITS_MAX);
    if (e->serials == NULL && (e->first_serial < 0 || e->first_serial + e->units - 1 > SERIAL_MAX ||
                               e->serial_digits < 1 || e->serial_digits > 12))
        return note(errors, CL_ERR_PARSE, "%s: serials %lld.. with %d digits do not fit 12 digits",
                    where, e->first_serial, e->serial_digits);
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

/* Reads every line; a bad line is noted and skipped, so that every bad line is named. A bad
 * header, too many entries or no memory end the reading. */
static int read_csv(const char *path, char *text, struct plan *plan, struct serial_store *ss,
                    size_t *offsets, struct plan_errors *errors)
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
            return note(errors, CL_ERR_PARSE,
                        "%s: the header must be device_code,date,units,first_serial"
                        "[,serial_digits] or device_code,date,units,serials",
                        where);
        }
        if (n < 4 || n > (explicit_serials ? 4 : 5)) {
            note(errors, CL_ERR_PARSE, "%s: expected %s fields, found %d", where,
                 explicit_serials ? "4" : "4 or 5", n);
            continue;
        }
        if ((rc = grow(plan, &cap)) != CL_OK)
            return note(errors, rc, "%s: more than %d plan entries", where, PLAN_ENTRIES_MAX);
        struct ct_plan_entry *e = &plan->entries[plan->count];
        long long units = 0, value = 0;
        memset(e, 0, sizeof(*e));
        snprintf(e->model_code, sizeof(e->model_code), "%.*s", CT_MODEL_CODE_MAX, fields[0]);
        snprintf(e->day, sizeof(e->day), "%.10s", fields[1]);
        if (strlen(fields[0]) > CT_MODEL_CODE_MAX || strlen(fields[1]) > 10 ||
            parse_number(fields[2], 1, PLAN_UNITS_MAX, &units) != 0) {
            note(errors, CL_ERR_PARSE, "%s: bad device code, date or units \"%.20s\"", where,
                 fields[2]);
            continue;
        }
        e->units = (long)units;
        offsets[plan->count] = (size_t)-1;
        if (explicit_serials) {
            char *s_save = NULL;
            long count = 0;
            int bad = 0;
            offsets[plan->count] = ss->count;
            for (char *s = strtok_r(fields[3], ";", &s_save); s && !bad;
                 s = strtok_r(NULL, ";", &s_save)) {
                if (parse_number(s, 0, SERIAL_MAX, &value) != 0) {
                    bad = note(errors, CL_ERR_PARSE, "%s: serial \"%.20s\" is not 0..%lld", where,
                               s, SERIAL_MAX);
                    break;
                }
                if ((rc = add_serial(ss, value)) != CL_OK)
                    return note(errors, rc, "%s: too many serials", where);
                count++;
            }
            if (bad)
                continue;
            if (count != e->units) {
                note(errors, CL_ERR_PARSE, "%s: %ld serials listed for %ld units", where, count,
                     e->units);
                continue;
            }
            e->serial_digits = 6;
        } else {
            long long digits = 6;
            if (parse_number(fields[3], 0, SERIAL_MAX, &value) != 0 ||
                (n == 5 && parse_number(fields[4], 1, 12, &digits) != 0)) {
                note(errors, CL_ERR_PARSE, "%s: bad first_serial or serial_digits", where);
                continue;
            }
            e->first_serial = value;
            e->serial_digits = (int)digits;
        }
        if (check_entry(e, where, errors) == CL_OK)
            plan->count++;
    }
    if (plan->count == 0 && errors->count == 0)
        return note(errors, CL_ERR_PARSE, "%s: no plan entries", path);
    return errors->count == 0 ? CL_OK : errors->first_rc;
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

/* An entry's fields must all be known: CL_OK, or the first unknown one noted. */
static int known_fields(const cJSON *o, const char *where, struct plan_errors *errors)
{
    static const char *const known[] = {"device_code",  "date",          "units",
                                        "first_serial", "serial_digits", "serials"};
    for (const cJSON *f = cJSON_IsObject(o) ? o->child : NULL; f != NULL; f = f->next) {
        int ok = 0;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            ok |= strcmp(f->string, known[k]) == 0;
        if (!ok)
            return note(errors, CL_ERR_PARSE, "%s: unknown field \"%.32s\"", where, f->string);
    }
    return CL_OK;
}

/* One JSON entry into e: CL_OK, or its first error noted. */
static int json_entry(const cJSON *o, const char *where, struct ct_plan_entry *e,
                      struct serial_store *ss, size_t *offset, struct plan_errors *errors)
{
    long long units = 0, value = 0, digits = 6;
    int rc;

    memset(e, 0, sizeof(*e));
    if ((rc = known_fields(o, where, errors)) != CL_OK)
        return rc;
    if (!cJSON_IsObject(o) ||
        json_string(o, "device_code", e->model_code, sizeof(e->model_code)) != 0 ||
        json_string(o, "date", e->day, sizeof(e->day)) != 0 ||
        json_integer(o, "units", 1, PLAN_UNITS_MAX, &units) != 0)
        return note(errors, CL_ERR_PARSE,
                    "%s: needs device_code, date (YYYY-MM-DD) and units (1..%d)", where,
                    PLAN_UNITS_MAX);
    e->units = (long)units;
    *offset = (size_t)-1;
    const cJSON *serials = cJSON_GetObjectItemCaseSensitive(o, "serials");
    if (serials != NULL) {
        if (!cJSON_IsArray(serials) || cJSON_GetArraySize(serials) != e->units)
            return note(errors, CL_ERR_PARSE, "%s: serials must list exactly %ld numbers", where,
                        e->units);
        *offset = ss->count;
        for (const cJSON *s = serials->child; s != NULL; s = s->next) {
            long long serial;
            if (whole_number(s, 0, SERIAL_MAX, &serial) != 0)
                return note(errors, CL_ERR_PARSE, "%s: a serial is not a whole number 0..%lld",
                            where, SERIAL_MAX);
            if ((rc = add_serial(ss, serial)) != CL_OK)
                return note(errors, rc, "%s: too many serials", where);
        }
        e->serial_digits = 6;
    } else if (json_integer(o, "first_serial", 0, SERIAL_MAX, &value) != 0 ||
               (cJSON_GetObjectItemCaseSensitive(o, "serial_digits") != NULL &&
                json_integer(o, "serial_digits", 1, 12, &digits) != 0)) {
        return note(errors, CL_ERR_PARSE,
                    "%s: needs first_serial (or serials), serial_digits 1..12", where);
    } else {
        e->first_serial = value;
        e->serial_digits = (int)digits;
    }
    return check_entry(e, where, errors);
}

/* Reads every entry; a bad entry is noted and skipped, so that every bad entry is named. */
static int read_json(const char *path, const char *text, struct plan *plan, struct serial_store *ss,
                     size_t *offsets, struct plan_errors *errors)
{
    cJSON *root = NULL;
    size_t cap = 0, index = 0;
    int rc = CL_OK;
    char where[300];

    if (cl_json_has_nul_escape(text, strlen(text)))
        return note(errors, CL_ERR_PARSE, "%s: holds \\u0000 in a string", path);
    root = cJSON_Parse(text);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return note(errors, CL_ERR_PARSE, "%s: not a JSON array of plan entries", path);
    }
    for (const cJSON *o = root->child; o != NULL; o = o->next, index++) {
        snprintf(where, sizeof(where), "%s entry %zu", path, index + 1);
        if ((rc = grow(plan, &cap)) != CL_OK) {
            note(errors, rc, "%s: more than %d plan entries", where, PLAN_ENTRIES_MAX);
            break;
        }
        rc = json_entry(o, where, &plan->entries[plan->count], ss, &offsets[plan->count], errors);
        if (rc == CL_OK)
            plan->count++;
        else if (rc != CL_ERR_PARSE)
            break;
    }
    cJSON_Delete(root);
    if (plan->count == 0 && errors->count == 0)
        return note(errors, CL_ERR_PARSE, "%s: no plan entries", path);
    return errors->count == 0 ? CL_OK : errors->first_rc;
}

int plan_parse_all(const char *name, const char *text, struct plan *plan,
                   struct plan_errors *errors)
{
    struct serial_store ss = {0};
    size_t *offsets, len = strlen(text);
    char *copy;
    int rc;

    memset(plan, 0, sizeof(*plan));
    errors->count = errors->kept = 0;
    errors->first_rc = CL_OK;
    if (len > PLAN_FILE_MAX)
        return note(errors, CL_ERR_TOO_LARGE, "%s: larger than %u bytes", name, PLAN_FILE_MAX);
    offsets = calloc(PLAN_ENTRIES_MAX, sizeof(size_t));
    copy = malloc(len + 1);
    if (offsets == NULL || copy == NULL) {
        free(offsets);
        free(copy);
        return note(errors, CL_ERR_NOMEM, "%s: out of memory", name);
    }
    memcpy(copy, text, len + 1);
    const char *first = copy + strspn(copy, " \t\r\n");
    rc = *first == '[' ? read_json(name, copy, plan, &ss, offsets, errors)
                       : read_csv(name, copy, plan, &ss, offsets, errors);
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

int plan_parse(const char *name, const char *text, struct plan *plan, char *err, size_t errlen)
{
    struct plan_errors *errors = malloc(sizeof(*errors));
    if (errors == NULL) {
        memset(plan, 0, sizeof(*plan));
        snprintf(err, errlen, "%s: out of memory", name);
        return CL_ERR_NOMEM;
    }
    int rc = plan_parse_all(name, text, plan, errors);
    if (rc != CL_OK)
        snprintf(err, errlen, "%s", errors->kept > 0 ? errors->text[0] : cl_err_str(rc));
    free(errors);
    return rc;
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
