/* offline_reports.c: the installation reports of a factory cut off from the service centre,
 * carried out by hand (export-reports) and their signed receipts carried back (import-receipts)
 * [seed 004]; the formats: common/exchange_file.h. A receipt is checked as the reporter checks
 * one (ct_receipt_keep); a file with one receipt that fails is refused whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ct_commands.h"
#include "error.h"
#include "exchange_file.h"
#include "peer.h"
#include "receipt.h"

#define EVERY_QUEUED ((time_t)4102444800LL) /* 2100-01-01: every queued report is due by then */

static void report_json(cJSON *list, const struct ct_report *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "device_number", r->device_number);
    cJSON_AddStringToObject(o, "serial", r->serial_hex);
    cJSON_AddStringToObject(o, "proof", r->proof);
    cJSON_AddNumberToObject(o, "written_at", (double)r->written_at);
    cJSON_AddItemToArray(list, o);
}

int ct_command_export_reports(struct ct_runtime *rt, int argc, char **argv)
{
    const char *out = cl_arg_value(argc, argv, "--out");
    struct ct_report *reports = NULL;
    size_t count = 0;
    char err[512], name[CL_PEER_NAME_MAX + 1];
    cJSON *doc, *list;
    int rc;

    if (out == NULL) {
        fprintf(stderr, "usage: comm-terminal export-reports --out FILE\n");
        return 2;
    }
    if (ct_factory_name(rt->config, name, sizeof(name), err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "comm-terminal: %s\n", err);
        return 1;
    }
    struct ct_store *store = cl_pool_acquire(rt->pool);
    rc = ct_store_reports_due(store, EVERY_QUEUED, CL_EXCHANGE_MAX_ENTRIES, &reports, &count);
    if (rc != CL_OK) {
        cl_pool_release(rt->pool, store);
        fprintf(stderr, "comm-terminal: cannot read the queued reports: %s\n", cl_err_str(rc));
        return 1;
    }
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "format", CL_REPORTS_FORMAT);
    cJSON_AddNumberToObject(doc, "version", CL_EXCHANGE_VERSION);
    cJSON_AddStringToObject(doc, "factory", name);
    cJSON_AddNumberToObject(doc, "created_at", (double)time(NULL));
    list = cJSON_AddArrayToObject(doc, "reports");
    for (size_t i = 0; i < count; i++)
        report_json(list, &reports[i]);
    rc = cl_exchange_file_write(out, doc, err, sizeof(err));
    if (rc == CL_OK) {
        snprintf(err, sizeof(err), "%zu installation report(s) to %.400s", count, out);
        ct_store_audit(store, ct_operator, "export-reports", err);
    }
    cl_pool_release(rt->pool, store);
    cJSON_Delete(doc);
    free(reports);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: %s\n", err);
        return 1;
    }
    printf("%zu installation report(s) written to %s (they stay queued until their receipts "
           "come back)\n",
           count, out);
    return 0;
}

/* The queued report a receipt answers (same device number and serial), or NULL. */
static const struct ct_report *report_for(const struct ct_report *reports, size_t count,
                                          const struct cl_receipt *receipt)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(reports[i].device_number, receipt->device_number) == 0 &&
            strcmp(reports[i].serial_hex, receipt->serial_hex) == 0)
            return &reports[i];
    return NULL;
}

/* Reads receipt i of the file into *receipt; 0, or -1 with err saying why. */
static int receipt_of(const cJSON *entry, size_t i, struct cl_receipt *receipt,
                      const char **signature, char *err, size_t errlen)
{
    long long at = cl_exchange_time(entry, "received_at");
    receipt->device_number = cl_exchange_text(entry, "device_number");
    receipt->serial_hex = cl_exchange_text(entry, "serial");
    receipt->verification_value = cl_exchange_text(entry, "proof");
    receipt->received_at = (time_t)at;
    *signature = cl_exchange_text(entry, "signature");
    if (receipt->device_number == NULL || receipt->serial_hex == NULL ||
        receipt->verification_value == NULL || at <= 0 || *signature == NULL) {
        snprintf(err, errlen, "receipt %zu lacks a field", i);
        return -1;
    }
    return 0;
}

int ct_command_import_receipts(struct ct_runtime *rt, int argc, char **argv)
{
    const char *path = ct_positional(argc, argv), *signer, *signature;
    struct ct_report *reports = NULL;
    const cJSON *list, *entry;
    struct cl_receipt receipt;
    size_t count = 0, i = 0, kept = 0, not_awaited = 0;
    char err[768], why[512];
    cJSON *doc = NULL;
    int code = 1;

    if (path == NULL) {
        fprintf(stderr, "usage: comm-terminal import-receipts FILE\n");
        return 2;
    }
    if (ct_trusted_root(rt->config, &rt->root_pem, err, sizeof(err)) != CL_OK ||
        cl_exchange_file_read(path, CL_EXCHANGE_MAX_BYTES, CL_RECEIPTS_FORMAT, CL_EXCHANGE_VERSION,
                              &doc, err, sizeof(err)) != CL_OK ||
        (list = cl_exchange_entries(doc, "receipts", err, sizeof(err))) == NULL) {
        fprintf(stderr, "comm-terminal: receipts refused, nothing stored: %s\n", err);
        goto out;
    }
    signer = cl_exchange_text(doc, "signer_certificate");
    struct ct_store *store = cl_pool_acquire(rt->pool);
    int rc = ct_store_reports_due(store, EVERY_QUEUED, CL_EXCHANGE_MAX_ENTRIES, &reports, &count);
    /* First every receipt checked: signed by our CA over what it says, and, if a report awaits
     * it, about that installation (the proof ours). */
    cJSON_ArrayForEach(entry, list)
    {
        const struct ct_report *r;
        i++;
        if (rc != CL_OK)
            break;
        if (receipt_of(entry, i, &receipt, &signature, err, sizeof(err)) != 0) {
            rc = CL_ERR_PARSE;
        } else if (cl_receipt_verify(&receipt, signature, signer, rt->root_pem, why, sizeof(why)) !=
                   CL_OK) {
            snprintf(err, sizeof(err), "receipt %zu (%s): %s", i, receipt.device_number, why);
            rc = CL_ERR_CRYPTO;
        } else if ((r = report_for(reports, count, &receipt)) != NULL &&
                   strcmp(r->proof, receipt.verification_value) != 0) {
            snprintf(err, sizeof(err), "receipt %zu (%s, %s) is for another installation proof", i,
                     receipt.device_number, receipt.serial_hex);
            rc = CL_ERR_CRYPTO;
        }
    }
    if (rc != CL_OK) {
        if (rc != CL_ERR_CRYPTO && rc != CL_ERR_PARSE)
            snprintf(err, sizeof(err), "cannot read the queued reports: %s", cl_err_str(rc));
        snprintf(why, sizeof(why), "%.300s refused: %.200s", path, err);
        ct_store_audit(store, ct_operator, "import-receipts", why);
        cl_pool_release(rt->pool, store);
        fprintf(stderr, "comm-terminal: receipts %s refused, nothing stored: %s\n", path, err);
        goto out;
    }
    /* Then kept; a receipt no queued report awaits (kept already) changes nothing. */
    i = 0;
    cJSON_ArrayForEach(entry, list)
    {
        const struct ct_report *r;
        i++;
        receipt_of(entry, i, &receipt, &signature, err, sizeof(err));
        if ((r = report_for(reports, count, &receipt)) == NULL) {
            not_awaited++;
        } else if (ct_receipt_keep(rt, store, r, &receipt, signature, signer, why, sizeof(why)) !=
                   CL_OK) {
            fprintf(stderr, "comm-terminal: receipt for %s not kept: %s\n", r->device_number, why);
            rc = CL_ERR_DB;
        } else {
            kept++;
        }
    }
    snprintf(why, sizeof(why), "%.300s: %zu receipt(s) kept, %zu not awaited", path, kept,
             not_awaited);
    ct_store_audit(store, ct_operator, "import-receipts", why);
    cl_pool_release(rt->pool, store);
    printf("%zu receipt(s) kept from %s; %zu not awaited (kept before, or no such report)\n", kept,
           path, not_awaited);
    code = rc == CL_OK ? 0 : 1;
out:
    cJSON_Delete(doc);
    free(reports);
    free(rt->root_pem);
    rt->root_pem = NULL;
    return code;
}
