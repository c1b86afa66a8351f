/* cli_json.c: how the operator commands print rows as JSON (--json): one array of objects. */
#include "cli_json.h"

#include <stdio.h>
#include <stdlib.h>

void cl_print_json(cJSON *json)
{
    char *text = cJSON_Print(json);
    if (text != NULL)
        puts(text);
    free(text);
    cJSON_Delete(json);
}

cJSON *cl_json_rows(const void *rows, size_t count, size_t size, cl_json_fill fill)
{
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < count; i++) {
        cJSON *object = cJSON_CreateObject();
        fill(object, (const char *)rows + i * size);
        cJSON_AddItemToArray(list, object);
    }
    return list;
}

void cl_print_json_rows(const void *rows, size_t count, size_t size, cl_json_fill fill)
{
    cl_print_json(cl_json_rows(rows, count, size, fill));
}
