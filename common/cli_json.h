/* cli_json.h: how the operator commands print rows as JSON (--json): one array of objects. */
#ifndef CERTLINE_CLI_JSON_H
#define CERTLINE_CLI_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Prints json, indented, on stdout and deletes it. */
void cl_print_json(cJSON *json);

/* What puts one row's fields into its JSON object. */
typedef void (*cl_json_fill)(cJSON *object, const void *row);

/* count rows (each size bytes, from rows) as a JSON array, one object per row filled by fill,
 * for the caller to place in a larger object (or print). */
cJSON *cl_json_rows(const void *rows, size_t count, size_t size, cl_json_fill fill);

/* Prints that array on stdout. */
void cl_print_json_rows(const void *rows, size_t count, size_t size, cl_json_fill fill);

#endif
