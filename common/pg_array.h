/* pg_array.h: PostgreSQL array literals ({"a","b"}) built from C values, so that a batch of rows
 * goes to the server as a few array parameters of one statement (unnest) instead of one
 * statement per row. Knows no libpq: the literal is an ordinary text parameter. */
#ifndef CERTLINE_PG_ARRAY_H
#define CERTLINE_PG_ARRAY_H

#include <stddef.h>

struct cl_pg_array {
    char *text; /* "{...}" once finished */
    size_t len, cap, count;
    int failed; /* out of memory: the literal is unusable */
};

void cl_pg_array_init(struct cl_pg_array *array);

/* Appends one element: the text quoted, with '"' and '\' escaped (any other byte as is). */
void cl_pg_array_add(struct cl_pg_array *array, const char *value);

/* Appends bytes as one element of lower-case hex digits (for decode(x, 'hex') in the SQL). */
void cl_pg_array_add_hex(struct cl_pg_array *array, const unsigned char *bytes, size_t len);

/* Appends a non-negative integer (for an int[] or bigint[] cast). */
void cl_pg_array_add_size(struct cl_pg_array *array, size_t value);

/* The literal, or NULL if an append ran out of memory. Owned by array. */
const char *cl_pg_array_finish(struct cl_pg_array *array);

void cl_pg_array_free(struct cl_pg_array *array);

#endif
