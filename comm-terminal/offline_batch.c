/* offline_batch.c: import-batch: a batch file that `ca-server batch --factory` made for this
 * factory and that was carried in by hand [seed 004], stored as if fetched: signed by our CA,
 * for this factory, every pack checked like a fetched one (ct_answer_check) before anything is
 * stored, then stored in requests of at most CT_FETCH_MAX packs named after the file's request
 * id, so that importing the same file again changes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/x509_crt.h>

#include "atomic_file.h"
#include "batch_file.h"
#include "ca_fetch.h"
#include "ct_commands.h"
#include "error.h"
#include "exchange_file.h"
#include "peer.h"

#define PEM_MAX (64 * 1024)

int ct_factory_name(const struct ct_config *config, char *name, size_t len, char *err,
                    size_t errlen)
{
    mbedtls_x509_crt chain;
    struct cl_peer peer = {0};
    char *pem = NULL;
    size_t pem_len = 0;
    int rc = cl_read_file_capped(config->tls.cert_file, PEM_MAX, &pem, &pem_len);

    if (rc != CL_OK) {
        snprintf(err, errlen, "cannot read %s: %s", config->tls.cert_file, cl_err_str(rc));
        return rc;
    }
    mbedtls_x509_crt_init(&chain);
    if (mbedtls_x509_crt_parse(&chain, (const unsigned char *)pem, pem_len + 1) != 0) {
        snprintf(err, errlen, "%s holds no certificate", config->tls.cert_file);
        rc = CL_ERR_PARSE;
    } else {
        cl_peer_from_cert(&chain, &peer); /* the first certificate is this comm-terminal's */
        snprintf(name, len, "%s", peer.name);
    }
    mbedtls_x509_crt_free(&chain);
    free(pem);
    return rc;
}

int ct_trusted_root(const struct ct_config *config, char **pem, char *err, size_t errlen)
{
    size_t len = 0;
    int rc = cl_read_file_capped(config->tls.trust_file, PEM_MAX, pem, &len);
    if (rc != CL_OK)
        snprintf(err, errlen, "cannot read %s: %s", config->tls.trust_file, cl_err_str(rc));
    return rc;
}

/* The batch's items as answers of CT_FETCH_MAX packs each, named <request id>-<n>. */
static int answers_of(const cJSON *items, const char *request_id, struct ct_answer **out,
                      size_t *count, char *err, size_t errlen)
{
    size_t total = (size_t)cJSON_GetArraySize(items), n = (total + CT_FETCH_MAX - 1) / CT_FETCH_MAX;
    struct ct_answer *answers = calloc(n, sizeof(*answers));
    const cJSON *item = items->child;

    *out = answers;
    *count = n;
    if (answers == NULL)
        return CL_ERR_NOMEM;
    for (size_t k = 0; k < n; k++) {
        struct ct_answer *a = &answers[k];
        a->count =
            total - k * CT_FETCH_MAX < CT_FETCH_MAX ? total - k * CT_FETCH_MAX : CT_FETCH_MAX;
        snprintf(a->request_id, sizeof(a->request_id), "%s-%zu", request_id, k + 1);
        a->items = calloc(a->count, sizeof(*a->items));
        a->serials = calloc(a->count, sizeof(*a->serials));
        if (a->items == NULL || a->serials == NULL)
            return CL_ERR_NOMEM;
        const cJSON *first = item;
        for (size_t i = 0; i < a->count; i++, item = item->next) {
            /* The fields' presence is checked by cl_batch_file_verify. */
            a->items[i] = (struct ct_pack_item){cl_exchange_text(item, "device_number"),
                                                a->serials[i], cl_exchange_text(item, "pack")};
            if (strlen(a->items[i].device_number) > CT_DEVICE_NUMBER_MAX ||
                strlen(a->items[i].pack) > CT_PACK_MAX) {
                snprintf(err, errlen, "the device number %.32s or its pack is too long",
                         a->items[i].device_number);
                return CL_ERR_PARSE;
            }
        }
        /* Each pack well formed and for its number, as for a fetched answer; and the serial
         * signed in the file is the pack's. */
        int rc = ct_answer_check(a, err, errlen);
        for (size_t i = 0; rc == CL_OK && i < a->count; i++, first = first->next)
            if (strcmp(cl_exchange_text(first, "serial"), a->serials[i]) != 0) {
                snprintf(err, errlen, "the pack for %s is serial %s, the file says %.40s",
                         a->items[i].device_number, a->serials[i],
                         cl_exchange_text(first, "serial"));
                rc = CL_ERR_PARSE;
            }
        if (rc != CL_OK)
            return rc;
    }
    return CL_OK;
}

/* Stores one answer as a request of the day: recorded, then completed; a request id known
 * already with the same numbers (the file imported before) changes nothing. */
static int store_answer(struct ct_store *store, const struct ct_answer *a, const char *day,
                        char *err, size_t errlen)
{
    const char **numbers = calloc(a->count, sizeof(*numbers));
    char why[256];
    int rc;

    if (numbers == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    for (size_t i = 0; i < a->count; i++)
        numbers[i] = a->items[i].device_number;
    rc = ct_store_fetch_begin(store, a->request_id, day, 0, numbers, a->count, err, errlen);
    free(numbers);
    if (rc != CL_OK)
        return rc;
    rc = ct_store_fetch_complete(store, a->request_id, a->items, a->count, err, errlen);
    /* Not left pending: the next online fetch would send it to ca-server. */
    if (rc != CL_OK)
        ct_store_fetch_abandon(store, a->request_id, err, ct_operator, why, sizeof(why));
    return rc;
}

/* A request recorded for the batch's numbers but never answered (a fetch tried while ca-server
 * was away) would block them: it is abandoned (audited), since ca-server, having issued the
 * batch, would refuse it for these numbers anyway. *abandoned counts them. */
static int abandon_pending(struct ct_store *store, const struct ct_answer *answers, size_t count,
                           const char *request_id, size_t *abandoned, char *err, size_t errlen)
{
    struct ct_pending_fetch *pending = NULL;
    size_t n = 0, prefix = strlen(request_id);
    char reason[128];
    int rc = ct_store_fetch_pending(store, &pending, &n);

    *abandoned = 0;
    if (rc != CL_OK) {
        snprintf(err, errlen, "cannot read the pending requests: %s", cl_err_str(rc));
        return rc;
    }
    snprintf(reason, sizeof(reason), "its numbers came in offline batch %.64s", request_id);
    for (size_t p = 0; p < n && rc == CL_OK; p++) {
        int shared = 0;
        if (strncmp(pending[p].request_id, request_id, prefix) == 0 &&
            pending[p].request_id[prefix] == '-')
            continue; /* this batch's own */
        for (size_t i = 0; i < pending[p].count && !shared; i++)
            for (size_t k = 0; k < count && !shared; k++)
                for (size_t j = 0; j < answers[k].count && !shared; j++)
                    shared = strcmp(pending[p].numbers[i], answers[k].items[j].device_number) == 0;
        if (shared && (rc = ct_store_fetch_abandon(store, pending[p].request_id, reason,
                                                   ct_operator, err, errlen)) == CL_OK)
            (*abandoned)++;
    }
    ct_pending_fetch_free(pending, n);
    return rc;
}

int ct_command_import_batch(struct ct_runtime *rt, int argc, char **argv)
{
    const char *path = ct_positional(argc, argv), *factory, *request_id;
    struct ct_answer *answers = NULL;
    size_t count = 0, stored = 0, total = 0;
    char err[768], detail[512], own[CL_PEER_NAME_MAX + 1], day[11], *root = NULL;
    cJSON *doc = NULL;
    int code = 1, rc;

    if (path == NULL) {
        fprintf(stderr, "usage: comm-terminal import-batch FILE\n");
        return 2;
    }
    if (ct_trusted_root(rt->config, &root, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "comm-terminal: %s\n", err);
        return 1;
    }
    if (cl_exchange_file_read(path, CL_BATCH_FILE_MAX_BYTES, NULL, 0, &doc, err, sizeof(err)) !=
            CL_OK ||
        cl_batch_file_verify(doc, root, err, sizeof(err)) != CL_OK ||
        ct_factory_name(rt->config, own, sizeof(own), err, sizeof(err)) != CL_OK)
        goto refused;
    factory = cl_exchange_text(doc, "factory");
    request_id = cl_exchange_text(doc, "request_id");
    if (strcmp(factory, own) != 0) {
        snprintf(err, sizeof(err), "the batch is for factory %.64s; this comm-terminal is %s",
                 factory, own);
        goto refused;
    }
    if (strlen(request_id) > CT_REQUEST_ID_MAX - 7) {
        snprintf(err, sizeof(err), "its request id is longer than %d characters",
                 CT_REQUEST_ID_MAX - 7);
        goto refused;
    }
    if (answers_of(cJSON_GetObjectItemCaseSensitive(doc, "items"), request_id, &answers, &count,
                   err, sizeof(err)) != CL_OK)
        goto refused;
    {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    }
    struct ct_store *store = cl_pool_acquire(rt->pool);
    size_t abandoned = 0;
    rc = abandon_pending(store, answers, count, request_id, &abandoned, err, sizeof(err));
    if (abandoned > 0)
        printf("%zu pending request(s) for these numbers abandoned (never answered)\n", abandoned);
    for (; rc == CL_OK && stored < count; stored++) {
        rc = store_answer(store, &answers[stored], day, err, sizeof(err));
        total += rc == CL_OK ? answers[stored].count : 0;
    }
    snprintf(detail, sizeof(detail), "%.300s: request %s, %zu pack(s) stored%s", path, request_id,
             total, rc == CL_OK ? "" : ", then refused");
    ct_store_audit(store, ct_operator, "import-batch", detail);
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr,
                "comm-terminal: batch %s stopped at request %s-%zu: %s (the requests before it "
                "are stored; importing the file again resumes)\n",
                path, request_id, stored, err);
        goto out;
    }
    printf("batch %s imported: %zu pack(s) for factory %s in store (request %s)\n", path, total,
           own, request_id);
    code = 0;
    goto out;
refused:
    fprintf(stderr, "comm-terminal: batch %s refused, nothing stored: %s\n", path, err);
out:
    for (size_t k = 0; answers != NULL && k < count; k++)
        ct_answer_free(&answers[k]);
    free(answers);
    cJSON_Delete(doc);
    free(root);
    return code;
}
