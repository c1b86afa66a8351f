/* commands_batch.c: the offline batch [seed 004]: packs issued into a file, for delivery
 * without a network. */
#include "commands.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "atomic_file.h"
#include "batch_file.h"
#include "cli.h"
#include "error.h"
#include "issuer.h"
#include "prewrite_token.h"
#include "runtime.h"

#define OFFLINE_MAX_DEVICES 100000

/* ---- offline batch [seed 004] ---- */

struct progress_bar {
    size_t base, grand_total;
    int last_percent;
    int tty;
};

static void show_progress(size_t done, size_t total, void *arg)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct progress_bar *bar = arg;
    (void)total;
    pthread_mutex_lock(&lock);
    size_t all = bar->base + done;
    int percent = (int)(all * 100 / bar->grand_total);
    if (percent != bar->last_percent) {
        int filled = percent / 4;
        bar->last_percent = percent;
        if (bar->tty)
            fprintf(stderr, "\rissuing %zu/%zu [%.*s%*s] %3d%%", all, bar->grand_total, filled,
                    "=========================", 25 - filled, "", percent);
        else if (percent % 10 == 0)
            fprintf(stderr, "issuing %zu/%zu (%d%%)\n", all, bar->grand_total, percent);
    }
    pthread_mutex_unlock(&lock);
}

/* 0 if no number belongs to a factory other than factory, else 1 (named on stderr). */
static int numbers_of_factory(struct ca_store *store, const char *factory, char **numbers,
                              size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct ca_owner owner;
        int rc = ca_store_owner_get(store, numbers[i], &owner);
        if (rc == CL_ERR_NOT_FOUND)
            continue;
        if (rc != CL_OK) {
            fprintf(stderr, "ca-server: cannot read the factory of %s: %s\n", numbers[i],
                    cl_err_str(rc));
            return 1;
        }
        if (strcmp(owner.factory, factory) != 0) {
            fprintf(stderr,
                    "ca-server: nothing issued: device number %s belongs to factory %s, not %s "
                    "(ca-server assign moves it)\n",
                    numbers[i], owner.factory, factory);
            return 1;
        }
    }
    return 0;
}

int ca_command_batch(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    static const char *const values[] = {"--out", "--file", "--request-id", "--factory", NULL};
    const char *out = cl_arg_value(argc, argv, "--out"), *file = cl_arg_value(argc, argv, "--file");
    const char *request_id = cl_arg_value(argc, argv, "--request-id");
    const char *factory = cl_arg_value(argc, argv, "--factory");
    char default_id[64], **numbers = NULL, *buffer = NULL, err[512], id[100];
    struct ca_runtime runtime = {.config = config};
    struct ca_store *store = NULL;
    struct progress_bar bar = {.last_percent = -1, .tty = isatty(STDERR_FILENO)};
    cJSON *doc = NULL, *items_json;
    size_t count = 0;
    int code = 1;

    if (out == NULL) {
        fprintf(stderr, "usage: ca-server batch --out FILE [--factory NAME] [--request-id ID] "
                        "[--replacement] (--file LIST | DEVICE-NUMBER...)\n");
        return 2;
    }
    if ((code = ca_numbers_given(argc, argv, values, file, OFFLINE_MAX_DEVICES, &numbers, &count,
                                 &buffer)) != 0)
        goto out;
    code = 1;
    if (request_id == NULL) {
        snprintf(default_id, sizeof(default_id), "offline-%lld", (long long)time(NULL));
        request_id = default_id;
    }
    if (strlen(request_id) > 56) {
        fprintf(stderr, "ca-server: --request-id is at most 56 characters\n");
        code = 2;
        goto out;
    }
    if (factory != NULL && cl_arg_flag(argc, argv, "--replacement")) {
        fprintf(stderr, "ca-server: a batch file for a factory holds first certificates only: "
                        "a replacement is fetched by the factory (comm-terminal enter NUMBER "
                        "--replacement)\n");
        code = 2;
        goto out;
    }
    if (factory != NULL && (factory[0] == '\0' || strlen(factory) > 64)) {
        fprintf(stderr, "ca-server: --factory is the factory's comm-terminal name (1 to 64 "
                        "characters)\n");
        code = 2;
        goto out;
    }
    if (ca_open_store(config, &store) != 0 ||
        (factory != NULL && numbers_of_factory(store, factory, numbers, count) != 0) ||
        ca_open_authority(config, passphrase, &runtime.authority))
        goto out;
    if (ca_prewrite_token_of(config, 0, &runtime.prewrite_token, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: device_key_token: %s\n", err);
        goto out;
    }
    doc = cJSON_CreateObject();
    if (factory != NULL)
        cJSON_AddStringToObject(doc, "factory", factory);
    else /* the unsigned file of before: comm-terminal import-batch refuses it */
        cJSON_AddNumberToObject(doc, "version", 1);
    cJSON_AddStringToObject(doc, "request_id", request_id);
    cJSON_AddNumberToObject(doc, "created_at", (double)time(NULL));
    items_json = cJSON_AddArrayToObject(doc, "items");
    bar.grand_total = count;
    for (size_t first = 0; first < count; first += (size_t)config->max_batch) {
        size_t n = count - first;
        if (n > (size_t)config->max_batch)
            n = (size_t)config->max_batch;
        struct ca_batch_item *items = calloc(n, sizeof(*items));
        if (items == NULL)
            goto out;
        /* One request id per chunk, so a rerun of the same command resumes, never doubles. */
        snprintf(id, sizeof(id), "%s-%zu", request_id, first / (size_t)config->max_batch + 1);
        struct ca_batch_request request = {
            .request_id = id,
            .replacement = cl_arg_flag(argc, argv, "--replacement"),
            .requester = ca_operator_name(),
            .device_numbers = (const char *const *)numbers + first,
            .count = n,
            .progress = show_progress,
            .progress_arg = &bar,
        };
        bar.base = first;
        int rc = ca_issue_batch(&runtime, store, &request, items, err, sizeof(err));
        if (rc != CL_OK) {
            fprintf(stderr, "%sca-server: batch %s refused: %s\n", bar.tty ? "\n" : "", id, err);
            ca_batch_items_free(items, n);
            free(items);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            cJSON *item = cJSON_CreateObject();
            cJSON_AddStringToObject(item, "device_number", items[i].device_number);
            cJSON_AddStringToObject(item, "serial", items[i].serial_hex);
            cJSON_AddStringToObject(item, "pack", items[i].pack);
            cJSON_AddItemToArray(items_json, item);
        }
        ca_batch_items_free(items, n);
        free(items);
    }
    if (bar.tty)
        fputc('\n', stderr);
    if (factory != NULL && cl_batch_file_sign(doc, ca_authority_signer(runtime.authority),
                                              ca_authority_issuing_pem(runtime.authority), err,
                                              sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s (rerun with --request-id %s to get the same packs)\n", err,
                request_id);
        goto out;
    }
    {
        char *text = cJSON_PrintUnformatted(doc);
        int rc = text ? cl_atomic_write(out, text, strlen(text), 0600) : CL_ERR_NOMEM;
        free(text);
        if (rc != CL_OK) {
            fprintf(stderr,
                    "ca-server: cannot write %s: %s (the certificates are issued: rerun "
                    "with --request-id %s to get the same packs)\n",
                    out, cl_err_str(rc), request_id);
            goto out;
        }
    }
    if (factory != NULL) {
        snprintf(err, sizeof(err), "factory %s, request id %s: %zu pack(s) to %s", factory,
                 request_id, count, out);
        ca_store_audit(store, ca_operator_name(), "offline-batch", err);
    }
    printf("%zu certificate pack(s) written to %s (request id %s%s%s)\n", count, out, request_id,
           factory != NULL ? ", signed for factory " : "", factory != NULL ? factory : "");
    code = 0;
out:
    cJSON_Delete(doc);
    ca_prewrite_token_free(runtime.prewrite_token);
    ca_authority_free(runtime.authority);
    ca_store_close(store);
    free(numbers);
    free(buffer);
    return code;
}
