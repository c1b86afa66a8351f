/* ct_commands.c: comm-terminal's operator console and batch commands: migrate, import, fetch,
 * status, list, delete-model, report, inbox, and the command table (model-set and models-sync in
 * ct_models.c, enter in ct_enter.c, operators in ct_operators.c). Every console command but
 * migrate, serve and inbox needs an operator id and password [FIG 14, 0076]; actions are audited.
 */
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
    static const char *const with_value[] = {"--date",
                                             "--state",
                                             "--model",
                                             "--limit",
                                             "--password-file",
                                             "--operator",
                                             "--override-reason",
                                             "--role",
                                             "--new-password-file",
                                             "--out",
                                             "--result"};
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
    const char **models = malloc(plan.count * sizeof(*models));
    if (models != NULL) {
        for (size_t i = 0; i < plan.count; i++)
            models[i] = plan.entries[i].model_code;
        store = store_of(rt);
        ct_models_warn(rt, store, plan.entries[0].day, models, plan.count, stdout);
        cl_pool_release(rt->pool, store);
        free(models);
    }
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
    cJSON_AddStringToObject(o, "ca_server", row->ca_state[0] ? row->ca_state : "not-read");
    if (row->local_override >= 0)
        cJSON_AddBoolToObject(o, "local_override", row->local_override);
    else
        cJSON_AddNullToObject(o, "local_override");
}

/* The flag in force and where it comes from: "YES", "NO", or "YES*" for a local override. */
static const char *flag_shown(const struct ct_model_status *row)
{
    if (row->local_override >= 0)
        return row->certificate_managed ? "YES (local)" : "NO (local)";
    return row->certificate_managed ? "YES" : "NO";
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
        printf("status for %s\n%-8s %-11s %8s %10s %9s %7s %16s %8s %8s  %s\n", date, "MODEL",
               "CERTIFICATE", "HELD", "USED TODAY", "REMAINING", "FAILED", "AWAITING RECEIPT",
               "REJECTED", "RETIRING", "CA-SERVER");
        for (size_t i = 0; i < count; i++)
            printf("%-8s %-11s %8ld %10ld %9ld %7ld %16ld %8ld %8ld  %s\n", rows[i].model_code,
                   flag_shown(&rows[i]), rows[i].held, rows[i].used_today, rows[i].remaining,
                   rows[i].failed, rows[i].awaiting_receipt, rows[i].rejected, rows[i].retiring,
                   rows[i].ca_state[0] ? rows[i].ca_state : "not read");
        ct_crl_print_status(rt);
    }
    free(rows);
    /* Planned models ca-server does not manage or know (on stderr beside JSON). */
    struct ct_store *warn_store = store_of(rt);
    ct_models_warn(rt, warn_store, date, NULL, 0,
                   cl_arg_flag(argc, argv, "--json") ? stderr : stdout);
    cl_pool_release(rt->pool, warn_store);
    return 0;
}

/* t as YYYY-MM-DD in local time (the factory's calendar), "-" for none. */
static const char *date_of(time_t t, char out[11])
{
    struct tm tm;
    if (t <= 0 || localtime_r(&t, &tm) == NULL)
        return strcpy(out, "-");
    strftime(out, 11, "%Y-%m-%d", &tm);
    return out;
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
    char day[11];
    cJSON_AddStringToObject(o, "created", date_of(row->created_at, day));
    if (row->replaced_at > 0)
        cJSON_AddStringToObject(o, "replaced", date_of(row->replaced_at, day));
    else
        cJSON_AddNullToObject(o, "replaced");
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
        char created[11], replaced[11];
        printf("%-21s %-6s %-10s %-4s %-4s %-6s %-10s %-10s %-40s %s\n", "DEVICE NUMBER", "MODEL",
               "STATE", "FLAG", "PACK", "LINE", "CREATED", "REPLACED", "SERIAL", "REPORT");
        for (size_t i = 0; i < count; i++)
            printf("%-21s %-6s %-10s %-4d %-4s %-6s %-10s %-10s %-40s %s%s%s\n",
                   rows[i].device_number, rows[i].model_code, rows[i].state, rows[i].write_flag,
                   rows[i].pack_held ? "yes" : "no", rows[i].line_id,
                   date_of(rows[i].created_at, created), date_of(rows[i].replaced_at, replaced),
                   rows[i].serial_hex, rows[i].report[0] ? rows[i].report : "-",
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
    {"migrate", "", "apply database migrations", CT_OPEN, 0, cmd_migrate},
    {"serve", "", "serve the factory terminals; report installations; fetch daily", CT_OPEN, 1,
     ct_command_serve},
    {"import", "PLAN.csv|PLAN.json", "import the production plan [FIG 19B]", CT_ACT, 0, cmd_import},
    {"model-set", "CODE --managed|--not-managed|--clear",
     "override ca-server's flag of a device model here, or clear the override [FIG 19A]", CT_ACT, 0,
     ct_command_model_set},
    {"fetch", "[--date YYYY-MM-DD]",
     "read ca-server's model list and fetch the day's certificates now", CT_ACT, 1, cmd_fetch},
    {"enter", "DEVICE-NUMBER [--replacement] [--override-reason TEXT] [--yes]",
     "fetch one planned device number's certificate now (asks first)", CT_ACT, 1, ct_command_enter},
    {"status", "[--date YYYY-MM-DD] [--json]",
     "per model: held, used today, remaining, failed, "
     "awaiting receipt",
     CT_VIEW, 0, cmd_status},
    {"list", "[--state S] [--model M] [--limit N] [--json]", "certificates by state", CT_VIEW, 0,
     cmd_list},
    {"delete-model", "CODE", "delete the packs of a discontinued model", CT_ACT, 0,
     cmd_delete_model},
    {"operator-add", "ID [--new-password-file FILE] [--role admin|operator|viewer]",
     "add an operator (the first, an admin, needs no login)", CT_ADMIN, 0, ct_command_operator_add},
    {"operator-disable", "ID", "disable an operator (not the last active admin)", CT_ADMIN, 0,
     ct_command_operator_state},
    {"operator-enable", "ID", "enable a disabled operator again", CT_ADMIN, 0,
     ct_command_operator_state},
    {"operator-remove", "ID", "remove an operator for good (not the last active admin)", CT_ADMIN,
     0, ct_command_operator_state},
    {"report", "", "send queued installation reports and retirements now", CT_VIEW, 1, cmd_report},
    {"crl-import", "FILE", "verify and keep a CRL (DER or PEM) for the lines (air-gapped sites)",
     CT_ACT, 0, ct_command_crl_import},
    {"models-sync", "", "read ca-server's device model list now [FIG 19A]", CT_ACT, 1,
     ct_command_models_sync},
    {"import-batch", "FILE", "store a signed batch file from ca-server batch (offline delivery)",
     CT_ACT, 0, ct_command_import_batch},
    {"export-reports", "--out FILE", "write the queued installation reports for ca-server", CT_ACT,
     0, ct_command_export_reports},
    {"import-receipts", "FILE", "verify and keep the signed receipts from ca-server import-reports",
     CT_ACT, 0, ct_command_import_receipts},
    {"export-pack", "DEVICE-NUMBER --out FILE", "hand one pack to a service bench (delivered)",
     CT_ACT, 0, ct_command_export_pack},
    {"record-write", "DEVICE-NUMBER --result FILE",
     "record a service bench's device-agent install result", CT_ACT, 0, ct_command_record_write},
    {"inbox", "", "take the plan files in plan_inbox once (serve does it every plan_inbox_poll_s)",
     CT_OPEN, 0, cmd_inbox},
    {NULL, NULL, NULL, CT_OPEN, 0, NULL},
};
