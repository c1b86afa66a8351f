/* result_report.c: operator result lines and JSON event lines (built with cJSON, so every value
 * is escaped), on stdout and, fsynced, in the events file. */
#include "result_report.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "event_log.h"
#include "input_check.h"
#include "metrics_catalog.h"

struct ft_report {
    char line_id[64];
    int json;
    struct cl_event_log *events; /* NULL: none */
};

int ft_report_open(const char *line_id, int json, const char *events_file, struct ft_report **out,
                   char *err, size_t errlen)
{
    struct ft_report *r = calloc(1, sizeof(*r));

    *out = NULL;
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    cl_copy_text(r->line_id, sizeof(r->line_id), line_id);
    r->json = json;
    int rc = cl_event_log_open(events_file, &r->events, err, errlen);
    if (rc != CL_OK) {
        free(r);
        return rc;
    }
    *out = r;
    return CL_OK;
}

static const char *result_name(enum ft_result result)
{
    switch (result) {
    case FT_RESULT_OK:
        return "OK";
    case FT_RESULT_NG:
        return "NG";
    case FT_RESULT_REJECTED:
        return "REJECTED";
    }
    return "NG";
}

/* The event as one line of JSON (malloc'd, with its newline), or NULL if out of memory. */
static char *event_line(const struct ft_report *r, const struct ft_outcome *o)
{
    cJSON *event = cJSON_CreateObject();
    char now[32], *line = NULL;
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (event == NULL)
        return NULL;
    if (cJSON_AddStringToObject(event, "event", "device") == NULL ||
        cJSON_AddStringToObject(event, "line", r->line_id) == NULL ||
        cJSON_AddStringToObject(event, "device_number", o->device_number) == NULL ||
        cJSON_AddStringToObject(event, "result", result_name(o->result)) == NULL ||
        cJSON_AddStringToObject(event, "stage", o->stage ? o->stage : "") == NULL ||
        cJSON_AddStringToObject(event, "reason", o->reason) == NULL ||
        cJSON_AddStringToObject(event, "serial", o->serial) == NULL ||
        (o->replacement_known &&
         cJSON_AddBoolToObject(event, "replacement_ready", o->replacement_ready) == NULL) ||
        cJSON_AddNumberToObject(event, "elapsed_ms", (double)o->elapsed_ms) == NULL ||
        cJSON_AddStringToObject(event, "time", now) == NULL)
        goto out;
    line = cl_event_line(event);
out:
    cJSON_Delete(event);
    return line;
}

static void operator_line(const struct ft_outcome *o)
{
    switch (o->result) {
    case FT_RESULT_OK:
        printf("%s  OK  %lld ms  certificate %s\n", o->device_number, o->elapsed_ms, o->serial);
        break;
    case FT_RESULT_NG:
        printf("%s  NG  %lld ms  %s\n", o->device_number, o->elapsed_ms, o->reason);
        break;
    case FT_RESULT_REJECTED:
        printf("%s  REJECTED  %s\n", o->device_number, o->reason);
        break;
    }
    fflush(stdout);
}

int ft_report_device(struct ft_report *r, const struct ft_outcome *o, char *err, size_t errlen)
{
    char *line = NULL;
    int rc = CL_OK;

    CL_METRIC_INC0(CL_M_FT_SCANS);
    CL_METRIC_INC(CL_M_FT_RESULTS, result_name(o->result), o->stage ? o->stage : "");
    if (o->result != FT_RESULT_REJECTED)
        cl_metric_observe(CL_M_FT_DEVICE_SECONDS, (double)o->elapsed_ms / 1000.0, NULL);

    if (r->json || r->events != NULL) {
        line = event_line(r, o);
        if (line == NULL) {
            snprintf(err, errlen, "out of memory writing the event of %s", o->device_number);
            operator_line(o);
            return CL_ERR_NOMEM;
        }
    }
    if (r->json) {
        fputs(line, stdout);
        fflush(stdout);
    } else {
        operator_line(o);
    }
    if (r->events != NULL && cl_event_log_append(r->events, line, err, errlen) != CL_OK) {
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, " (the event of %s)", o->device_number);
        rc = CL_ERR_IO;
    }
    free(line);
    return rc;
}

void ft_report_close(struct ft_report *r)
{
    if (r == NULL)
        return;
    cl_event_log_close(r->events);
    free(r);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not one. */
static size_t utf8_sequence(const unsigned char *p)
{
    size_t more;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        more = 1;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        more = 2;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        more = 3;
    else
        return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
        return 0;
    for (size_t k = 1; k <= more; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0; /* also stops at the terminating NUL */
    return more + 1;
}

char *ft_clip_text(char *dst, size_t size, const char *src)
{
    const unsigned char *p = (const unsigned char *)(src != NULL ? src : "");
    size_t out = 0;

    if (size == 0)
        return dst;
    while (*p != '\0') {
        size_t n = utf8_sequence(p);
        if (n == 0) {
            if (out + 1 >= size)
                break;
            dst[out++] = '?';
            p++;
            continue;
        }
        if (out + n >= size)
            break;
        if (n == 1) {
            dst[out++] = (*p < 0x20 || *p == 0x7f) ? ' ' : (char)*p;
        } else {
            memcpy(dst + out, p, n);
            out += n;
        }
        p += n;
    }
    dst[out] = '\0';
    return dst;
}
