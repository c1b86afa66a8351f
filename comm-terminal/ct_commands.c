/* ct_commands.c: comm-terminal's operator console and batch commands: migrate, import, model-set,
 * fetch, enter, status, list, delete-model, operator-add, report, inbox. Operator actions need an
 * operator id and password [FIG 14] and are audited. */
#include "ct_commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "cli_json.h"
#include "ct_crl.h"
#include "error.h"
#include "plan_feed.h"
#include "plan_import.h"

char ct_operator[64];

const char *ct_positional(int argc, char **argv)
{
    static const char *const with_value[] = {"--date",  "--state",         "--model",
                                             "--limit", "--password-file", "--operator",
                                             "--out",   "--result"};
    for (int i = 1; i < argc; i++) {
        int skip = 0;
        for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
            skip |= strcmp(argv[i], with_value[k]) == 0;
        if (skip) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--", 2) != 0)
            return argv[i];
    }
    return NULL;
}

static void today(char day[11])
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(day, 11, "%Y-%m-%d", &tm);
}

static struct ct_store *store_of(struct ct_runtime *rt)
{
    return cl_pool_acquire(rt->pool);
}

static int cmd_migrate(struct ct_runtime *rt, int argc, char **argv)
{
    struct ct_store *store = store_of(rt);
    char err[512];
    int applied = 0, rc;
    (void)argc;
    (void)argv;
    rc = ct_store_migrate(store, &applied, err, sizeof(err));
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: migration failed: %s\n", err);
        return 1;
    }
    printf("database: %d migration(s) applied\n", applied);
    return 0;
}

static int cmd_import(struct ct_runtime *rt, int argc, char **argv)
{
    const char *path = ct_positional(argc, argv);
    struct plan plan;
    char err[512];
    size_t added = 0;
    int rc;

    if (path == NULL) {
        fprintf(stderr, "usage: comm-terminal import PLAN.csv|PLAN.json\n");
        return 2;
    }
    if (plan_read(path, &plan, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "comm-terminal: %s\n", err);
        return 1;
    }
    struct ct_store *store = store_of(rt);
    rc = ct_store_plan_import(store, plan.entries, plan.count, ct_operator, &added, err,
                              sizeof(err));
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: plan not imported (nothing changed): %s\n", err);
        plan_free(&plan);
        return 1;
    }
    printf("plan imported from %s: %zu entr%s, %zu new device number(s)\n", path, plan.count,
           plan.count == 1 ? "y" : "ies", added);
    plan_free(&plan);
    return 0;
}

static int cmd_inbox(struct ct_runtime *rt, int argc, char **argv)
{
    char err[512];
    int done = 0, rejected = 0, rc;
    (void)argc;
    (void)argv;
    struct ct_store *store = store_of(rt);
    rc = ct_plan_inbox_poll(rt, store, &done, &rejected, err, sizeof(err));
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: %s\n", err);
        return 1;
    }
    printf("plan inbox: %d file(s) imported, %d rejected\n", done, rejected);
    return 0;
}

static int cmd_model_set(struct ct_runtime *rt, int argc, char **argv)
{
    const char *code = ct_positional(argc, argv);
    int managed = cl_arg_flag(argc, argv, "--managed"),
        not_managed = cl_arg_flag(argc, argv, "--not-managed");

    if (code == NULL || managed == not_managed) {
        fprintf(stderr, "usage: comm-terminal model-set CODE --managed|--not-managed\n");
        return 2;
    }
    struct ct_store *store = store_of(rt);
    int rc = ct_store_model_set(store, code, managed, ct_operator);
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: cannot set model %.16s: %s\n", code, cl_err_str(rc));
        return 1;
    }
    printf("device model %s: %scertificate-managed\n", code, managed ? "" : "not ");
    return 0;
}

static int cmd_fetch(struct ct_runtime *rt, int argc, char **argv)
{
    const char *date = cl_arg_value(argc, argv, "--date");
    char day[11], err[512];
    int rc;

    if (date == NULL) {
        today(day);
        date = day;
    }
    struct ct_store *store = store_of(rt);
    rc = ct_fetch_day(rt, store, date, stderr, err, sizeof(err));
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr,
                "comm-terminal: fetch for %s stopped: %s (what was stored stays; run it "
                "again to resume)\n",
                date, err);
        return 1;
    }
    printf("fetch for %s complete\n", date);
    return 0;
}

static int cmd_enter(struct ct_runtime *rt, int argc, char **argv)
{
    const char *number = ct_positional(argc, argv);
    char err[512];

    if (number == NULL) {
        fprintf(stderr, "usage: comm-terminal enter DEVICE-NUMBER\n");
        return 2;
    }
    struct ct_store *store = store_of(rt);
    int rc =
        ct_fetch_one(rt, store, number, cl_arg_flag(argc, argv, "--replacement"), err, sizeof(err));
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: no certificate for %.32s: %s\n", number, err);
        return 1;
    }
    printf("certificate for %s fetched and stored\n", number);
    return 0;
}

static void status_json(cJSON *o, const void *status_row)
{
    const struct ct_model_status *row = status_row;
    cJSON_AddStringToObject(o, "model", row->model_code);
    cJSON_AddBoolToObject(o, "certificate_managed", row->certificate_managed);
    cJSON_AddNumberToObject(o, "held", (double)row->held);
    cJSON_AddNumberToObject(o, "used_today", (double)row->used_today);
    cJSON_AddNumberToObject(o, "remaining", (double)row->remaining);
    cJSON_AddNumberToObject(o, "failed", (double)row->failed);
    cJSON_AddNumberToObject(o, "awaiting_receipt", (double)row->awaiting_receipt);
    cJSON_AddNumberToObject(o, "rejected", (double)row->rejected);
    cJSON_AddNumberToObject(o, "retiring", (double)row->retiring);
}

static int cmd_status(struct ct_runtime *rt, int argc, char **argv)
{
    const char *date = cl_arg_value(argc, argv, "--date");
    struct ct_model_status *rows = NULL;
    size_t count = 0;
    char day[11], err[512];

    if (date == NULL) {
        today(day);
        date = day;
    }
    struct ct_store *store = store_of(rt);
    int rc = ct_store_status(store, date, &rows, &count);
    cl_pool_release(rt->pool, store);
    if (rc == CL_OK && ct_crl_open(rt, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "comm-terminal: cannot read the CRL held: %s\n", err);
        free(rows);
        return 1;
    }
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: cannot read the status: %s\n", cl_err_str(rc));
        return 1;
    }
    if (cl_arg_flag(argc, argv, "--json")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "date", date);
        cJSON_AddItemToObject(o, "models", cl_json_rows(rows, count, sizeof(*rows), status_json));
        cJSON_AddItemToObject(o, "crl", ct_crl_status_json(rt));
        cl_print_json(o);
    } else {
        printf("status for %s\n%-8s %-11s %8s %10s %9s %7s %16s %8s %8s\n", date, "MODEL",
               "CERTIFICATE", "HELD", "USED TODAY", "REMAINING", "FAILED", "AWAITING RECEIPT",
               "REJECTED", "RETIRING");
        for (size_t i = 0; i < count; i++)
            printf("%-8s %-11s %8ld %10ld %9ld %7ld %16ld %8ld %8ld\n", rows[i].model_code,
                   rows[i].certificate_managed ? "YES" : "NO", rows[i].held, rows[i].used_today,
                   rows[i].remaining, rows[i].failed, rows[i].awaiting_receipt, rows[i].rejected,
                   rows[i].retiring);
        ct_crl_print_status(rt);
    }
    free(rows);
    return 0;
}

static void cert_json(cJSON *o, const void *cert_row)
{
    const struct ct_cert_row *row = cert_row;
    cJSON_AddStringToObject(o, "device_number", row->device_number);
    cJSON_AddStringToObject(o, "model", row->model_code);
    cJSON_AddStringToObject(o, "state", row->state);
    cJSON_AddBoolToObject(o, "write_flag", row->write_flag);
    cJSON_AddBoolToObject(o, "pack_held", row->pack_held);
    cJSON_AddStringToObject(o, "line", row->line_id);
    cJSON_AddStringToObject(o, "serial", row->serial_hex);
    cJSON_AddStringToObject(o, "report", row->report);
    if (strcmp(row->report, "rejected") == 0)
        cJSON_AddStringToObject(o, "report_reason", row->report_reason);
}

static int cmd_list(struct ct_runtime *rt, int argc, char **argv)
{
    const char *state = cl_arg_value(argc, argv, "--state"),
               *model = cl_arg_value(argc, argv, "--model");
    const char *limit_text = cl_arg_value(argc, argv, "--limit");
    long limit = limit_text ? atol(limit_text) : 100;
    struct ct_cert_row *rows = NULL;
    size_t count = 0;

    if (limit < 1 || limit > 1000000) {
        fprintf(stderr, "comm-terminal: --limit must be 1..1000000\n");
        return 2;
    }
    struct ct_store *store = store_of(rt);
    int rc = ct_store_cert_list(store, state ? state : "", model ? model : "", (size_t)limit, &rows,
                                &count);
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: cannot list certificates: %s\n", cl_err_str(rc));
        return 1;
    }
    if (cl_arg_flag(argc, argv, "--json")) {
        cl_print_json_rows(rows, count, sizeof(*rows), cert_json);
    } else {
        printf("%-21s %-6s %-10s %-4s %-4s %-6s %-40s %s\n", "DEVICE NUMBER", "MODEL", "STATE",
               "FLAG", "PACK", "LINE", "SERIAL", "REPORT");
        for (size_t i = 0; i < count; i++)
            printf("%-21s %-6s %-10s %-4d %-4s %-6s %-40s %s%s%s\n", rows[i].device_number,
                   rows[i].model_code, rows[i].state, rows[i].write_flag,
                   rows[i].pack_held ? "yes" : "no", rows[i].line_id, rows[i].serial_hex,
                   rows[i].report[0] ? rows[i].report : "-",
                   strcmp(rows[i].report, "rejected") == 0 ? ": " : "",
                   strcmp(rows[i].report, "rejected") == 0 ? rows[i].report_reason : "");
        printf("%zu certificate(s)\n", count);
    }
    free(rows);
    return 0;
}

static int cmd_delete_model(struct ct_runtime *rt, int argc, char **argv)
{
    const char *code = ct_positional(argc, argv);
    size_t deleted = 0;

    if (code == NULL) {
        fprintf(stderr, "usage: comm-terminal delete-model CODE\n");
        return 2;
    }
    struct ct_store *store = store_of(rt);
    int rc = ct_store_delete_model_packs(store, code, ct_operator, &deleted);
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: cannot delete the packs of %.16s: %s\n", code,
                cl_err_str(rc));
        return 1;
    }
    printf("deleted %zu pack(s) of discontinued model %s\n", deleted, code);
    return 0;
}

static int cmd_report(struct ct_runtime *rt, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct ct_store *store = store_of(rt);
    int n = ct_report_all(rt, store);
    int retired = n < 0 ? n : ct_retire_due(rt, store);
    cl_pool_release(rt->pool, store);
    if (n < 0 || retired < 0) {
        fprintf(stderr, "comm-terminal: ca-server unreachable; reports and retirements stay "
                        "queued\n");
        return 1;
    }
    printf("%d receipt(s) received\n", n);
    if (retired > 0)
        printf("%d certificate(s) retired\n", retired);
    return 0;
}

const struct ct_command ct_commands[] = {
    {"migrate", "", "apply database migrations", 0, 0, cmd_migrate},
    {"serve", "", "serve the factory terminals; report installations; fetch daily", 0, 1,
     ct_command_serve},
    {"import", "PLAN.csv|PLAN.json", "import the production plan [FIG 19B]", 1, 0, cmd_import},
    {"model-set", "CODE --managed|--not-managed", "mark a device model [FIG 19A]", 1, 0,
     cmd_model_set},
    {"fetch", "[--date YYYY-MM-DD]", "fetch the day's certificates from ca-server now", 1, 1,
     cmd_fetch},
    {"enter", "DEVICE-NUMBER [--replacement]", "fetch one device number's certificate now", 1, 1,
     cmd_enter},
    {"status", "[--date YYYY-MM-DD] [--json]",
     "per model: held, used today, remaining, failed, "
     "awaiting receipt",
     0, 0, cmd_status},
    {"list", "[--state S] [--model M] [--limit N] [--json]", "certificates by state", 0, 0,
     cmd_list},
    {"delete-model", "CODE", "delete the packs of a discontinued model", 1, 0, cmd_delete_model},
    {"operator-add", "ID [--new-password-file FILE]", "add an operator (the first needs no login)",
     1, 0, ct_command_operator_add},
    {"report", "", "send queued installation reports and retirements now", 0, 1, cmd_report},
    {"crl-import", "FILE", "verify and keep a CRL (DER or PEM) for the lines (air-gapped sites)", 1,
     0, ct_command_crl_import},
    {"import-batch", "FILE", "store a signed batch file from ca-server batch (offline delivery)", 1,
     0, ct_command_import_batch},
    {"export-reports", "--out FILE", "write the queued installation reports for ca-server", 1, 0,
     ct_command_export_reports},
    {"import-receipts", "FILE", "verify and keep the signed receipts from ca-server import-reports",
     1, 0, ct_command_import_receipts},
    {"export-pack", "DEVICE-NUMBER --out FILE", "hand one pack to a service bench (delivered)", 1,
     0, ct_command_export_pack},
    {"record-write", "DEVICE-NUMBER --result FILE",
     "record a service bench's device-agent install result", 1, 0, ct_command_record_write},
    {"inbox", "", "take the plan files in plan_inbox once (serve does it every plan_inbox_poll_s)",
     0, 0, cmd_inbox},
    {NULL, NULL, NULL, 0, 0, NULL},
};
