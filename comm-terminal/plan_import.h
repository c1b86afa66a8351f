/* plan_import.h: reads the production plan the production management system hands over
 * [FIG 19B], as CSV or JSON, into plan entries (validated, bounded).
 *
 * CSV (header line required, comma-separated, '#' comments and blank lines skipped):
 *   device_code,date,units,first_serial[,serial_digits]
 *   3012,2026-11-21,1000,123456,6
 * or with explicit serials separated by ';' instead of first_serial:
 *   device_code,date,units,serials
 *   A123,2026-11-21,3,654321;654322;654330
 * JSON: [{"device_code": "3012", "date": "2026-11-21", "units": 1000, "first_serial": 123456,
 *         "serial_digits": 6}, {"device_code": "A123", ..., "serials": [654321, 654322]}] */
#ifndef CERTLINE_PLAN_IMPORT_H
#define CERTLINE_PLAN_IMPORT_H

#include <stddef.h>

#include "ct_store.h"

#define PLAN_FILE_MAX (8u << 20)
#define PLAN_ENTRIES_MAX 10000
#define PLAN_UNITS_MAX 100000

struct plan {
    struct ct_plan_entry *entries;
    size_t count;
    long long *serials; /* storage for entries' explicit serials */
};

/* The errors of a plan text: each bad CSV line or JSON entry is named with its line or entry
 * number and the field, in the order of the file; count may pass the PLAN_ERRORS_MAX kept. */
#define PLAN_ERRORS_MAX 100
#define PLAN_ERROR_TEXT 320
struct plan_errors {
    size_t count, kept;
    int first_rc; /* the first error's code */
    char text[PLAN_ERRORS_MAX][PLAN_ERROR_TEXT];
};

/* Reads path (JSON if its first non-blank character is '[', else CSV). err names the file, the
 * line (CSV) or entry (JSON), and the field. */
int plan_read(const char *path, struct plan *plan, char *err, size_t errlen);
/* As plan_read, from text (NUL-terminated, at most PLAN_FILE_MAX bytes); name stands for the
 * file in err. */
int plan_parse(const char *name, const char *text, struct plan *plan, char *err, size_t errlen);
/* As plan_parse, noting every error in *errors (reading on past a bad line or entry; a bad
 * header, too many entries or no memory end it): a plan is accepted exactly when plan_parse
 * accepts it, and errors->text[0] is plan_parse's err. */
int plan_parse_all(const char *name, const char *text, struct plan *plan,
                   struct plan_errors *errors);
void plan_free(struct plan *plan);

#endif
