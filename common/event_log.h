/* event_log.h: events a manufacturing execution system reads: JSON objects, one per line,
 * appended and fsynced to an events file (created 0640 if missing). */
#ifndef CERTLINE_EVENT_LOG_H
#define CERTLINE_EVENT_LOG_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct cl_event_log;

/* Opens path for appending; an empty or NULL path gives *out = NULL and CL_OK (no events file).
 * Returns a cl_err code; err names the file. */
int cl_event_log_open(const char *path, struct cl_event_log **out, char *err, size_t errlen);

/* event as one line of unformatted JSON with its newline (malloc'd), or NULL if out of memory. */
char *cl_event_line(const cJSON *event);

/* Appends line (which ends with its newline) and fsyncs. A NULL log does nothing. Returns CL_OK or
 * CL_ERR_IO (err names the file and says why). Safe from several threads. */
int cl_event_log_append(struct cl_event_log *log, const char *line, char *err, size_t errlen);

/* Builds the line of event and appends it (cl_event_line, cl_event_log_append). */
int cl_event_log_write(struct cl_event_log *log, const cJSON *event, char *err, size_t errlen);

void cl_event_log_close(struct cl_event_log *log);

#endif
