/* commands_owners.c: the factory each device number belongs to: assign (audited) and owners. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"
#include "error.h"

int ca_command_assign(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    static const char *const values[] = {"--factory", "--from-file", NULL};
    const char *factory = cl_arg_value(argc, argv, "--factory"),
               *file = cl_arg_value(argc, argv, "--from-file");
    char **numbers = NULL, *buffer = NULL, err[512];
    struct ca_store *store = NULL;
    size_t count = 0;
    int code = 1, rc;
    (void)passphrase;

    if (factory == NULL || factory[0] == '\0') {
        fprintf(stderr, "usage: ca-server assign (DEVICE-NUMBER... | --from-file LIST) "
                        "--factory NAME\n");
        return 2;
    }
    if ((code = ca_numbers_given(argc, argv, values, file, CA_ASSIGN_MAX, &numbers, &count,
                                 &buffer)) != 0)
        goto out;
    code = 1;
    if (ca_open_store(config, &store) != 0)
        goto out;
    rc = ca_store_assign(store, (const char *const *)numbers, count, factory, ca_operator_name(),
                         err, sizeof(err));
    if (rc != CL_OK) {
        fprintf(stderr, "ca-server: nothing assigned: %s\n", err);
        code = rc == CL_ERR_INVALID_ARGUMENT ? 2 : 1;
        goto out;
    }
    printf("%zu device number(s) assigned to %s\n", count, factory);
    code = 0;
out:
    ca_store_close(store);
    free(numbers);
    free(buffer);
    return code;
}

static void owner_json(cJSON *o, const void *owner_row)
{
    const struct ca_owner *row = owner_row;
    char since[32];
    ca_format_time(row->since, since, sizeof(since));
    cJSON_AddStringToObject(o, "device_number", row->device_number);
    cJSON_AddStringToObject(o, "factory", row->factory);
    cJSON_AddStringToObject(o, "source", row->source);
    cJSON_AddStringToObject(o, "detail", row->detail);
    cJSON_AddStringToObject(o, "since", since);
}

int ca_command_owners(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    const char *limit_text = cl_arg_value(argc, argv, "--limit");
    long limit = limit_text != NULL ? atol(limit_text) : 1000;
    struct ca_owner *rows = NULL;
    struct ca_store *store = NULL;
    size_t count = 0;
    char since[32];
    (void)passphrase;

    if (limit < 1 || limit > 1000000) {
        fprintf(stderr, "ca-server: --limit must be 1..1000000\n");
        return 2;
    }
    if (ca_open_store(config, &store) != 0)
        return 1;
    if (ca_store_owner_list(store, cl_arg_value(argc, argv, "--factory"), (size_t)limit, &rows,
                            &count) != CL_OK) {
        fprintf(stderr, "ca-server: cannot list the device numbers' factories\n");
        ca_store_close(store);
        return 1;
    }
    if (cl_arg_flag(argc, argv, "--json")) {
        cl_print_json_rows(rows, count, sizeof(*rows), owner_json);
    } else {
        printf("%-21s %-32s %-9s %-20s %s\n", "DEVICE NUMBER", "FACTORY", "HOW", "SINCE",
               "REQUEST ID / OPERATOR");
        for (size_t i = 0; i < count; i++) {
            ca_format_time(rows[i].since, since, sizeof(since));
            printf("%-21s %-32s %-9s %-20s %s\n", rows[i].device_number, rows[i].factory,
                   rows[i].source, since, rows[i].detail);
        }
        printf("%zu device number(s)\n", count);
    }
    free(rows);
    ca_store_close(store);
    return 0;
}
