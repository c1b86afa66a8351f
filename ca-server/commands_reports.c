/* commands_reports.c: import-reports: the installation reports a factory cut off from the
 * service centre carried in by hand [seed 004], each checked like ca:InstallationReport
 * (installation.c), answered with a file of signed receipts to carry back. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "error.h"
#include "exchange_file.h"
#include "installation.h"
#include "runtime.h"

/* One report of the file into receipts (or, refused, named on stderr): 1 if refused. */
static int answer_report(struct ca_runtime *runtime, struct ca_store *store, const cJSON *report,
                         size_t index, cJSON *receipts)
{
    const char *number = cl_exchange_text(report, "device_number"),
               *serial = cl_exchange_text(report, "serial"),
               *proof = cl_exchange_text(report, "proof");
    const char *refusal = "Installation report refused";
    char err[256], *signature = NULL;
    time_t received_at = 0;
    int rc;

    if (number == NULL || serial == NULL || proof == NULL) {
        fprintf(stderr,
                "ca-server: report %zu refused: it lacks a device number, a serial or a "
                "proof\n",
                index);
        return 1;
    }
    rc = ca_installation_receipt(runtime, store, number, serial, proof, &received_at, &signature,
                                 &refusal, err, sizeof(err));
    if (rc != CL_OK) {
        fprintf(stderr, "ca-server: report %zu (%.32s, %.40s) refused: %s: %s\n", index, number,
                serial, refusal, err);
        return 1;
    }
    cJSON *receipt = cJSON_CreateObject();
    cJSON_AddStringToObject(receipt, "device_number", number);
    cJSON_AddStringToObject(receipt, "serial", serial);
    cJSON_AddStringToObject(receipt, "proof", proof);
    cJSON_AddNumberToObject(receipt, "received_at", (double)received_at);
    cJSON_AddStringToObject(receipt, "signature", signature);
    cJSON_AddItemToArray(receipts, receipt);
    free(signature);
    return 0;
}

int ca_command_import_reports(const struct ca_config *config, const char *passphrase, int argc,
                              char **argv)
{
    static const char *const values[] = {"--out", NULL};
    const char *out = cl_arg_value(argc, argv, "--out");
    struct ca_runtime runtime = {.config = config};
    struct ca_store *store = NULL;
    cJSON *doc = NULL, *answer = NULL, *receipts;
    const cJSON *reports, *report;
    char *path[2], err[512];
    size_t index = 0, refused = 0, accepted;
    int code = 1;

    if (ca_positionals(argc, argv, values, path, 2) != 1 || out == NULL) {
        fprintf(stderr, "usage: ca-server import-reports FILE --out RECEIPTS [--partial]\n");
        return 2;
    }
    if (cl_exchange_file_read(path[0], CL_EXCHANGE_MAX_BYTES, CL_REPORTS_FORMAT,
                              CL_EXCHANGE_VERSION, &doc, err, sizeof(err)) != CL_OK ||
        (reports = cl_exchange_entries(doc, "reports", err, sizeof(err))) == NULL) {
        fprintf(stderr, "ca-server: reports refused, nothing changed: %s\n", err);
        goto out;
    }
    if (ca_open_store(config, &store) != 0 ||
        ca_open_authority(config, passphrase, &runtime.authority) != 0)
        goto out;
    answer = cJSON_CreateObject();
    cJSON_AddStringToObject(answer, "format", CL_RECEIPTS_FORMAT);
    cJSON_AddNumberToObject(answer, "version", CL_EXCHANGE_VERSION);
    cJSON_AddNumberToObject(answer, "created_at", (double)time(NULL));
    cJSON_AddStringToObject(answer, "signer_certificate",
                            ca_authority_issuing_pem(runtime.authority));
    receipts = cJSON_AddArrayToObject(answer, "receipts");
    cJSON_ArrayForEach(report, reports) refused +=
        (size_t)answer_report(&runtime, store, report, ++index, receipts);
    accepted = index - refused;
    snprintf(err, sizeof(err), "%s (factory %.64s): %zu accepted, %zu refused", path[0],
             cl_exchange_text(doc, "factory") ? cl_exchange_text(doc, "factory") : "?", accepted,
             refused);
    ca_store_audit(store, ca_operator_name(), "import-reports", err);
    if (refused > 0 && !cl_arg_flag(argc, argv, "--partial")) {
        /* The accepted ones are installed (as a repeated report, a rerun gives the same
         * receipts); the refused file brings back nothing. */
        fprintf(stderr,
                "ca-server: %zu of %zu report(s) refused: no receipts written (check the file; "
                "--partial writes the receipts of the others)\n",
                refused, index);
        goto out;
    }
    if (cl_exchange_file_write(out, answer, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s (rerun: the same receipts follow)\n", err);
        goto out;
    }
    printf("%zu receipt(s) written to %s%s\n", accepted, out,
           refused > 0 ? " (the refused reports are not in it)" : "");
    code = refused > 0 ? 1 : 0;
out:
    cJSON_Delete(doc);
    cJSON_Delete(answer);
    ca_authority_free(runtime.authority);
    ca_store_close(store);
    return code;
}
