/* pg_array.c: PostgreSQL array literals built from C values (see pg_array.h). */
#include "pg_array.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cl_pg_array_init(struct cl_pg_array *array)
{
    memset(array, 0, sizeof(*array));
}

/* Makes room for extra more bytes plus the closing "}" and NUL. */
static int reserve(struct cl_pg_array *array, size_t extra)
{
    size_t need;
    char *grown;

    if (array->failed)
        return 0;
    need = array->len + extra + 2;
    if (need <= array->cap)
        return 1;
    size_t cap = array->cap > 0 ? array->cap : 256;
    while (cap < need)
        cap *= 2;
    if ((grown = realloc(array->text, cap)) == NULL) {
        array->failed = 1;
        return 0;
    }
    array->text = grown;
    array->cap = cap;
    return 1;
}

/* Opens the literal or separates elements. */
static void separate(struct cl_pg_array *array)
{
    array->text[array->len++] = array->count == 0 ? '{' : ',';
    array->count++;
}

void cl_pg_array_add(struct cl_pg_array *array, const char *value)
{
    size_t n = strlen(value), escapes = 0;

    for (size_t i = 0; i < n; i++)
        escapes += value[i] == '"' || value[i] == '\\';
    if (!reserve(array, n + escapes + 3))
        return;
    separate(array);
    array->text[array->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (value[i] == '"' || value[i] == '\\')
            array->text[array->len++] = '\\';
        array->text[array->len++] = value[i];
    }
    array->text[array->len++] = '"';
}

void cl_pg_array_add_hex(struct cl_pg_array *array, const unsigned char *bytes, size_t len)
{
    static const char digits[] = "0123456789abcdef";

    if (!reserve(array, 2 * len + 3))
        return;
    separate(array);
    array->text[array->len++] = '"';
    for (size_t i = 0; i < len; i++) {
        array->text[array->len++] = digits[bytes[i] >> 4];
        array->text[array->len++] = digits[bytes[i] & 0x0f];
    }
    array->text[array->len++] = '"';
}

void cl_pg_array_add_size(struct cl_pg_array *array, size_t value)
{
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%zu", value);

    if (!reserve(array, (size_t)n + 1))
        return;
    separate(array);
    memcpy(array->text + array->len, digits, (size_t)n);
    array->len += (size_t)n;
}

const char *cl_pg_array_finish(struct cl_pg_array *array)
{
    if (!reserve(array, 1))
        return NULL;
    if (array->count == 0)
        array->text[array->len++] = '{';
    array->text[array->len++] = '}';
    array->text[array->len] = '\0';
    return array->text;
}

void cl_pg_array_free(struct cl_pg_array *array)
{
    free(array->text);
    memset(array, 0, sizeof(*array));
}
