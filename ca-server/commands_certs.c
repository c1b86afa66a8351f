/* commands_certs.c: what operators read: list, show, audit. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_json.h"
#include "error.h"

/* --limit N (fallback if absent) into *limit: 1 if it is 1..max, else 0 after saying so. */
static int limit_ok(int argc, char **argv, long fallback, long max, long *limit)
{
    const char *text = cl_arg_value(argc, argv, "--limit");
    *limit = text != NULL ? atol(text) : fallback;
    if (*limit >= 1 && *limit <= max)
        return 1;
    fprintf(stderr, "ca-server: --limit must be 1..%ld\n", max);
    return 0;
}

static void row_json(cJSON *o, const void *cert_row)
{
    const struct ca_cert_row *row = cert_row;
    char t[32];
    cJSON_AddStringToObject(o, "serial", row->serial_hex);
    cJSON_AddStringToObject(o, "device_number", row->device_number);
    cJSON_AddStringToObject(o, "model", row->model_code);
    cJSON_AddStringToObject(o, "state", ca_cert_state_name(row->state));
    cJSON_AddStringToObject(o, "request_id", row->request_id);
    ca_format_time(row->created_at, t, sizeof(t));
    cJSON_AddStringToObject(o, "created_at", t);
    ca_format_time(row->issued_at, t, sizeof(t));
    cJSON_AddStringToObject(o, "issued_at", t);
    ca_format_time(row->installed_at, t, sizeof(t));
    cJSON_AddStringToObject(o, "installed_at", t);
    ca_format_time(row->ended_at, t, sizeof(t));
    cJSON_AddStringToObject(o, "ended_at", t);
    cJSON_AddStringToObject(o, "reason", row->reason);
    cJSON_AddStringToObject(o, "factory", row->owner);
}

int ca_command_list(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    long limit;
    struct ca_cert_row *rows = NULL;
    struct ca_store *store = NULL;
    size_t count = 0;
    (void)passphrase;

    if (!limit_ok(argc, argv, 100, 1000000, &limit))
        return 2;
    if (ca_open_store(config, &store) != 0)
        return 1;
    if (ca_store_cert_list(store, cl_arg_value(argc, argv, "--device"),
                           cl_arg_value(argc, argv, "--model"), cl_arg_value(argc, argv, "--state"),
                           (size_t)limit, &rows, &count) != CL_OK) {
        fprintf(stderr, "ca-server: cannot list certificates\n");
        ca_store_close(store);
        return 1;
    }
    if (cl_arg_flag(argc, argv, "--json")) {
        cl_print_json_rows(rows, count, sizeof(*rows), row_json);
    } else {
        char issued[32], installed[32];
        printf("%-40s %-21s %-6s %-11s %-20s %-20s %s\n", "SERIAL", "DEVICE NUMBER", "MODEL",
               "STATE", "ISSUED", "INSTALLED", "FACTORY");
        for (size_t i = 0; i < count; i++) {
            ca_format_time(rows[i].issued_at, issued, sizeof(issued));
            ca_format_time(rows[i].installed_at, installed, sizeof(installed));
            printf("%-40s %-21s %-6s %-11s %-20s %-20s %s\n", rows[i].serial_hex,
                   rows[i].device_number, rows[i].model_code, ca_cert_state_name(rows[i].state),
                   issued, installed, rows[i].owner[0] ? rows[i].owner : "-");
        }
        printf("%zu certificate(s)\n", count);
    }
    free(rows);
    ca_store_close(store);
    return 0;
}

int ca_command_show(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    char *args[1] = {NULL}, *pem = NULL;
    struct ca_cert_row *rows = NULL;
    struct ca_store *store = NULL;
    unsigned char *der = NULL;
    size_t count = 0, len = 0;
    int code = 1;
    (void)passphrase;

    if (ca_positionals(argc, argv, NULL, args, 1) != 1) {
        fprintf(stderr, "usage: ca-server show DEVICE-NUMBER [--json]\n");
        return 2;
    }
    if (ca_open_store(config, &store) != 0)
        return 1;
    if (ca_store_cert_list(store, args[0], NULL, NULL, 100, &rows, &count) != CL_OK) {
        fprintf(stderr, "ca-server: cannot read certificates\n");
        goto out;
    }
    if (count == 0) {
        /* A number assigned to a factory before its first certificate. */
        struct ca_owner owner;
        if (ca_store_owner_get(store, args[0], &owner) == CL_OK) {
            printf("device number %s: factory %s, no certificate yet\n", owner.device_number,
                   owner.factory);
            code = 0;
        } else {
            fprintf(stderr, "ca-server: no certificate for %.32s\n", args[0]);
        }
        goto out;
    }
    if (cl_arg_flag(argc, argv, "--json")) {
        cJSON *list = cJSON_CreateArray();
        for (size_t i = 0; i < count; i++) {
            cJSON *o = cJSON_CreateObject();
            row_json(o, &rows[i]);
            if (ca_store_cert_der(store, rows[i].serial_hex, &der, &len) == CL_OK &&
                cl_cert_der_to_pem(der, len, &pem) == CL_OK)
                cJSON_AddStringToObject(o, "certificate_pem", pem);
            free(der);
            free(pem);
            der = NULL;
            pem = NULL;
            cJSON_AddItemToArray(list, o);
        }
        cl_print_json(list);
    } else {
        for (size_t i = 0; i < count; i++) {
            char created[32], issued[32], installed[32], ended[32];
            ca_format_time(rows[i].created_at, created, sizeof(created));
            ca_format_time(rows[i].issued_at, issued, sizeof(issued));
            ca_format_time(rows[i].installed_at, installed, sizeof(installed));
            ca_format_time(rows[i].ended_at, ended, sizeof(ended));
            printf("serial        %s\ndevice number %s\nmodel         %s\nstate         %s\n"
                   "request id    %s\nrecorded      %s\nissued        %s\ninstalled     %s\n"
                   "ended         %s %s\nfactory       %s\n\n",
                   rows[i].serial_hex, rows[i].device_number, rows[i].model_code,
                   ca_cert_state_name(rows[i].state), rows[i].request_id, created, issued,
                   installed, ended, rows[i].reason, rows[i].owner[0] ? rows[i].owner : "-");
        }
    }
    code = 0;
out:
    free(rows);
    ca_store_close(store);
    return code;
}

static void audit_json(cJSON *o, const void *audit_row)
{
    const struct ca_audit_row *row = audit_row;
    char at[32];
    ca_format_time(row->at, at, sizeof(at));
    cJSON_AddNumberToObject(o, "id", (double)row->id);
    cJSON_AddStringToObject(o, "at", at);
    cJSON_AddStringToObject(o, "actor", row->actor);
    cJSON_AddStringToObject(o, "action", row->action);
    cJSON_AddStringToObject(o, "detail", row->detail);
}

int ca_command_audit(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    long limit;
    struct ca_audit_row *rows = NULL;
    struct ca_store *store = NULL;
    size_t count = 0;
    char at[32];
    (void)passphrase;

    if (!limit_ok(argc, argv, 50, 100000, &limit))
        return 2;
    if (ca_open_store(config, &store) != 0)
        return 1;
    if (ca_store_audit_list(store, (size_t)limit, &rows, &count) != CL_OK) {
        fprintf(stderr, "ca-server: cannot read the audit log\n");
        ca_store_close(store);
        return 1;
    }
    if (cl_arg_flag(argc, argv, "--json")) {
        cl_print_json_rows(rows, count, sizeof(*rows), audit_json);
    } else {
        for (size_t i = 0; i < count; i++) {
            ca_format_time(rows[i].at, at, sizeof(at));
            printf("%-6lld %s %-24s %-14s %s\n", rows[i].id, at, rows[i].actor, rows[i].action,
                   rows[i].detail);
        }
    }
    free(rows);
    ca_store_close(store);
    return 0;
}
