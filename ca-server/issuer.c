/* issuer.c: batch issuance: record intent, sign on worker threads while this thread stores the
 * signed packs in the completion transaction, commit, answer. */
#include "issuer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "device_key_token.h"
#include "error.h"
#include "keyfile.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics_catalog.h"
#include "pack.h"
#include "prewrite_token.h"
#include "x509_issue.h"

/* Signed items stored per round trip while the rest are still being signed. */
#define STORE_CHUNK 100

/* The current pre-write key of each model in a batch (looked up once, before signing: the whole
 * batch is sealed under the keys in force when it began). */
struct model_key_id {
    char code[CA_MODEL_CODE_MAX + 1];
    char key_id[65];
    int first;
};

/* What the signing threads share. */
struct signing_job {
    struct model_key_id *models;
    size_t model_count;
    struct ca_runtime *runtime;
    const struct ca_batch_request *request;
    struct ca_batch_item *items;
    struct ca_issued_item *results;
    struct cl_issued *issued;
    char (*server_values)[CL_VERIFY_HEX + 1];
    char **packs;
    atomic_size_t next, done;
    atomic_int failed;
    pthread_mutex_t error_lock;
    char error[256];
    time_t now;
    pthread_mutex_t ready_lock; /* guards ready; ready_cond tells the storing thread */
    pthread_cond_t ready_cond;
    unsigned char *ready;         /* per item: signed and its pack built */
    size_t *order;                /* the items by device number: signed and stored in this order */
    struct ca_issued_item *chunk; /* one chunk of results, in that order, for the store */
};

/* The request as hashed for idempotency: the replacement flag and the numbers in order. */
static void body_hash(const struct ca_batch_request *request, unsigned char hash[32])
{
    mbedtls_sha256_context sha;
    unsigned char flag = request->replacement ? 1 : 0;
    mbedtls_sha256_init(&sha);
    mbedtls_sha256_starts_ret(&sha, 0);
    mbedtls_sha256_update_ret(&sha, &flag, 1);
    for (size_t i = 0; i < request->count; i++)
        mbedtls_sha256_update_ret(&sha, (const unsigned char *)request->device_numbers[i],
                                  strlen(request->device_numbers[i]) + 1);
    mbedtls_sha256_finish_ret(&sha, hash);
    mbedtls_sha256_free(&sha);
}

/* Records the first failure: "<what> <device number>: <error>". */
static void job_fail(struct signing_job *job, const char *what, const char *number, int rc)
{
    pthread_mutex_lock(&job->error_lock);
    if (!atomic_load(&job->failed))
        snprintf(job->error, sizeof(job->error), "%s %s: %s", what, number, cl_err_str(rc));
    atomic_store(&job->failed, 1);
    pthread_mutex_unlock(&job->error_lock);
}

static struct cl_pack_contents contents_of(const struct signing_job *job, size_t i,
                                           const char *key_id, const char *cert_pem)
{
    const struct ca_batch_item *item = &job->items[i];
    return (struct cl_pack_contents){
        .device_number = item->device_number,
        .model_code = item->model_code,
        .serial_hex = item->serial_hex,
        .key_type = item->key_type,
        .chain_pem = ca_authority_chain_pem(job->runtime->authority),
        .certificate_pem = cert_pem,
        .key_id = key_id,
    };
}

/* File-key mode: the key made here, sealed in a version 1 pack, its clear copy wiped. */
static int pack_in_software(struct signing_job *job, size_t i, const char *key_id, int first,
                            enum cl_key_type key_type)
{
    struct ca_authority *authority = job->runtime->authority;
    const struct ca_batch_item *item = &job->items[i];
    unsigned char prewrite[CL_PREWRITE_KEY_BYTES];
    char err[200], *cert_pem = NULL;
    int rc;

    if ((rc = ca_authority_prewrite_key(authority, item->model_code, key_id, first, prewrite, err,
                                        sizeof(err))) != CL_OK) {
        cl_log_error("batch: %s", err); /* names the file and why, never the key */
        job_fail(job, "cannot load the pre-write key for", item->device_number, rc);
        return rc;
    }
    rc = cl_issue_device(ca_authority_signer(authority), item->device_number, item->model_code,
                         key_type, item->serial_hex, job->now,
                         (int)job->runtime->config->device_validity_days, &job->issued[i]);
    if (rc == CL_OK)
        rc = cl_cert_der_to_pem(job->issued[i].cert_der, job->issued[i].cert_len, &cert_pem);
    if (rc != CL_OK) {
        mbedtls_platform_zeroize(prewrite, sizeof(prewrite));
        job_fail(job, "cannot issue a certificate for", item->device_number, rc);
        return rc;
    }
    struct cl_pack_contents contents = contents_of(job, i, key_id, cert_pem);
    rc = cl_pack_build(&contents, job->issued[i].cert_der, job->issued[i].cert_len,
                       job->issued[i].key_der, job->issued[i].key_len, prewrite, &job->packs[i],
                       job->server_values[i]);
    mbedtls_platform_zeroize(prewrite, sizeof(prewrite));
    /* The key is inside the pack, encrypted; the clear copy goes now. */
    cl_secret_free(job->issued[i].key_der, job->issued[i].key_len);
    job->issued[i].key_der = NULL;
    job->issued[i].key_len = 0;
    free(cert_pem);
    if (rc != CL_OK)
        job_fail(job, "cannot build the pack of", item->device_number, rc);
    return rc;
}

/* Token mode (prewrite_token.h): the key made in the token and taken out only wrapped under the
 * pre-write key, which is in the token too; a version 2 pack. No clear key in this process. */
static int pack_in_token(struct signing_job *job, size_t i, const char *key_id, int first,
                         enum cl_key_type key_type)
{
    const struct ca_runtime *rt = job->runtime;
    const struct ca_batch_item *item = &job->items[i];
    struct cl_token_device device;
    cl_p11_handle prewrite = 0;
    char err[256], *cert_pem = NULL;
    int rc;

    rc = ca_prewrite_token_key(rt->prewrite_token, rt->authority, rt->config->ca_dir,
                               item->model_code, key_id, first, &prewrite, err, sizeof(err));
    if (rc != CL_OK) {
        cl_log_error("batch: pre-write key %s in the token: %s", key_id, err);
        job_fail(job, "cannot load the pre-write key for", item->device_number, rc);
        return rc;
    }
    rc = cl_token_device_issue(ca_prewrite_token_p11(rt->prewrite_token), prewrite,
                               ca_authority_signer(rt->authority), item->device_number,
                               item->model_code, key_type, item->serial_hex, job->now,
                               (int)rt->config->device_validity_days, &device, err, sizeof(err));
    if (rc != CL_OK) {
        cl_log_error("batch: %s: %s", item->device_number, err);
        job_fail(job, "cannot make a key in the token for", item->device_number, rc);
        return rc;
    }
    job->issued[i] = device.issued; /* the certificate moves to the job */
    memset(&device.issued, 0, sizeof(device.issued));
    rc = cl_cert_der_to_pem(job->issued[i].cert_der, job->issued[i].cert_len, &cert_pem);
    if (rc == CL_OK) {
        struct cl_pack_contents contents = contents_of(job, i, key_id, cert_pem);
        rc = cl_pack_build_wrapped(&contents, job->issued[i].cert_der, job->issued[i].cert_len,
                                   device.wrapped, device.wrapped_len, device.spki, device.spki_len,
                                   device.proof_key, &job->packs[i], job->server_values[i]);
    }
    cl_token_device_free(&device);
    free(cert_pem);
    if (rc != CL_OK)
        job_fail(job, "cannot build the pack of", item->device_number, rc);
    return rc;
}

static int sign_one(struct signing_job *job, size_t i)
{
    const struct ca_batch_item *item = &job->items[i];
    char key_id[CL_KEY_ID_MAX + 1];
    enum cl_key_type key_type;
    int rc, first = 0;

    key_id[0] = '\0';
    for (size_t m = 0; m < job->model_count; m++)
        if (strcmp(job->models[m].code, item->model_code) == 0) {
            snprintf(key_id, sizeof(key_id), "%s", job->models[m].key_id);
            first = job->models[m].first;
        }
    if ((rc = cl_key_type_parse(item->key_type, &key_type)) != CL_OK) {
        job_fail(job, "unknown key type for", item->device_number, rc);
        return rc;
    }
    rc = job->runtime->prewrite_token != NULL ? pack_in_token(job, i, key_id, first, key_type)
                                              : pack_in_software(job, i, key_id, first, key_type);
    if (rc != CL_OK)
        return rc;
    job->results[i] = (struct ca_issued_item){
        .serial_hex = item->serial_hex,
        .cert_der = job->issued[i].cert_der,
        .cert_len = job->issued[i].cert_len,
        .pack = job->packs[i],
        .server_value = job->server_values[i],
    };
    return CL_OK;
}

/* Wakes the storing thread: item i is ready (or, i == SIZE_MAX, signing stopped). */
static void tell_ready(struct signing_job *job, size_t i)
{
    pthread_mutex_lock(&job->ready_lock);
    if (i != SIZE_MAX)
        job->ready[i] = 1;
    pthread_cond_broadcast(&job->ready_cond);
    pthread_mutex_unlock(&job->ready_lock);
}

static void *signing_thread(void *arg)
{
    struct signing_job *job = arg;
    size_t total = job->request->count;

    for (;;) {
        size_t k = atomic_fetch_add(&job->next, 1);
        if (k >= total || atomic_load(&job->failed))
            break;
        size_t i = job->order[k];
        if (sign_one(job, i) != CL_OK) {
            tell_ready(job, SIZE_MAX);
            break;
        }
        tell_ready(job, i);
        size_t done = atomic_fetch_add(&job->done, 1) + 1;
        if (job->request->progress != NULL)
            job->request->progress(done, total, job->request->progress_arg);
    }
    return NULL;
}

struct numbered {
    const char *number;
    size_t index;
};

static int compare_numbered(const void *a, const void *b)
{
    return strcmp(((const struct numbered *)a)->number, ((const struct numbered *)b)->number);
}

/* job->order: the item indexes by device number (byte order, as the store locks them). */
static int sort_by_number(struct signing_job *job)
{
    size_t n = job->request->count;
    struct numbered *pairs = malloc(n * sizeof(*pairs));

    if (pairs == NULL)
        return CL_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        pairs[i] = (struct numbered){job->items[i].device_number, i};
    qsort(pairs, n, sizeof(*pairs), compare_numbered);
    for (size_t k = 0; k < n; k++)
        job->order[k] = pairs[k].index;
    free(pairs);
    return CL_OK;
}

/* Looks up the current pre-write key of every model the batch names. */
static int find_key_ids(struct signing_job *job, struct ca_store *store, char *err, size_t errlen)
{
    job->models = calloc(job->request->count, sizeof(*job->models));
    if (job->models == NULL)
        return CL_ERR_NOMEM;
    for (size_t i = 0; i < job->request->count; i++) {
        size_t m = 0;
        while (m < job->model_count && strcmp(job->models[m].code, job->items[i].model_code) != 0)
            m++;
        if (m < job->model_count)
            continue;
        struct ca_prewrite_key key;
        int rc = ca_store_prewrite_current(store, job->items[i].model_code, time(NULL), &key);
        if (rc != CL_OK) {
            snprintf(err, errlen, "the current pre-write key of device model %s: %s",
                     job->items[i].model_code, cl_err_str(rc));
            return rc;
        }
        snprintf(job->models[m].code, sizeof(job->models[m].code), "%s", key.model_code);
        snprintf(job->models[m].key_id, sizeof(job->models[m].key_id), "%s", key.key_id);
        job->models[m].first = key.first;
        job->model_count++;
    }
    return CL_OK;
}

/* Stores the signed items in device-number order, STORE_CHUNK at a time, as soon as they are
 * ready. That is the order in which every batch locks certificate rows (store/batches.c), so a
 * replacement request for some of these numbers waits for this completion instead of
 * deadlocking with it. */
static int store_as_signed(struct signing_job *job, struct ca_store *store, char *err,
                           size_t errlen)
{
    size_t total = job->request->count, stored = 0, ready_upto = 0;

    while (stored < total) {
        size_t end = stored + STORE_CHUNK < total ? stored + STORE_CHUNK : total;
        pthread_mutex_lock(&job->ready_lock);
        for (;;) {
            while (ready_upto < end && job->ready[job->order[ready_upto]])
                ready_upto++;
            if (ready_upto >= end || atomic_load(&job->failed))
                break;
            pthread_cond_wait(&job->ready_cond, &job->ready_lock);
        }
        pthread_mutex_unlock(&job->ready_lock);
        if (atomic_load(&job->failed)) {
            pthread_mutex_lock(&job->error_lock);
            snprintf(err, errlen, "%s", job->error);
            pthread_mutex_unlock(&job->error_lock);
            return CL_ERR_INTERNAL; /* a failure here, not the caller's */
        }
        for (size_t k = stored; k < end; k++)
            job->chunk[k - stored] = job->results[job->order[k]];
        int rc = ca_store_complete_add(store, job->request->request_id, job->chunk, end - stored,
                                       err, errlen);
        if (rc != CL_OK) {
            atomic_store(&job->failed, 1); /* the signing threads stop */
            return rc;
        }
        stored = end;
    }
    return CL_OK;
}

/* Signs every item on the configured number of threads while this one stores them. */
static int sign_and_store(struct signing_job *job, struct ca_store *store, char *err, size_t errlen)
{
    size_t workers = (size_t)job->runtime->config->workers;
    pthread_t threads[64];
    size_t started = 0;
    int rc;

    if (workers > job->request->count)
        workers = job->request->count;
    if (workers > sizeof(threads) / sizeof(threads[0]))
        workers = sizeof(threads) / sizeof(threads[0]);
    for (; started < workers; started++)
        if (pthread_create(&threads[started], NULL, signing_thread, job) != 0)
            break;
    if (started == 0) {
        cl_log_warn("batch: no signing thread could be started; signing in the request's thread");
        signing_thread(job);
    }
    rc = store_as_signed(job, store, err, errlen);
    for (size_t t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
    return rc;
}

static int issue_batch_once(struct ca_runtime *runtime, struct ca_store *store,
                            const struct ca_batch_request *request, struct ca_batch_item *items,
                            char *err, size_t errlen)
{
    size_t n = request->count;
    struct signing_job job = {.runtime = runtime, .request = request, .items = items};
    double started = cl_metric_now();
    enum ca_batch_state state;
    unsigned char hash[32];
    int rc;

    /* Nothing is recorded once the issuing CA has ended: every signature would fail. */
    rc = ca_life_check_issuing(runtime->config, ca_authority_issuing_not_after(runtime->authority),
                               err, errlen);
    if (rc != CL_OK)
        return rc;
    body_hash(request, hash);
    rc = ca_store_batch_begin(store, request->request_id, hash, request->replacement,
                              request->requester, request->device_numbers, n, items, &state, err,
                              errlen);
    if (rc != CL_OK || state == CA_BATCH_DONE)
        return rc;

    job.results = calloc(n, sizeof(*job.results));
    job.issued = calloc(n, sizeof(*job.issued));
    job.server_values = calloc(n, sizeof(*job.server_values));
    job.packs = calloc(n, sizeof(*job.packs));
    job.ready = calloc(n, 1);
    job.order = malloc(n * sizeof(*job.order));
    job.chunk = calloc(n < STORE_CHUNK ? n : STORE_CHUNK, sizeof(*job.chunk));
    pthread_mutex_init(&job.error_lock, NULL);
    pthread_mutex_init(&job.ready_lock, NULL);
    pthread_cond_init(&job.ready_cond, NULL);
    job.now = time(NULL) - 60; /* a minute of slack for devices whose clock is a little behind */
    if (job.results == NULL || job.issued == NULL || job.server_values == NULL ||
        job.packs == NULL || job.ready == NULL || job.order == NULL || job.chunk == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = CL_ERR_NOMEM;
        goto out;
    }
    if ((rc = find_key_ids(&job, store, err, errlen)) != CL_OK)
        goto out;
    if ((rc = sort_by_number(&job)) != CL_OK) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = ca_store_complete_begin(store, request->request_id, n, err, errlen);
    if (rc == CL_ERR_CONFLICT) {
        /* A retry of the same request completed it meanwhile: answer what it stored, so both
         * callers get the same packs (nothing is signed twice). */
        rc = ca_store_batch_begin(store, request->request_id, hash, request->replacement,
                                  request->requester, request->device_numbers, n, items, &state,
                                  err, errlen);
        if (rc == CL_OK && state != CA_BATCH_DONE) {
            snprintf(err, errlen, "request %s is still being completed; send it again",
                     request->request_id);
            rc = CL_ERR_INTERNAL;
        }
        goto out;
    }
    if (rc != CL_OK)
        goto out;
    if ((rc = sign_and_store(&job, store, err, errlen)) != CL_OK) {
        ca_store_complete_abort(store);
        goto out;
    }
    if ((rc = ca_store_complete_commit(store, request->request_id, err, errlen)) != CL_OK)
        goto out;
    for (size_t i = 0; i < n; i++) { /* the answer: hand the packs over */
        items[i].pack = job.packs[i];
        job.packs[i] = NULL;
    }
    cl_log_info("issued %zu certificate(s) for request %s from %s%s", n, request->request_id,
                request->requester, state == CA_BATCH_PENDING ? " (resumed)" : "");
    for (size_t i = 0; i < n; i++)
        CL_METRIC_INC(CL_M_PACKS_ISSUED, request->requester, items[i].model_code);
    cl_metric_observe(CL_M_ISSUANCE_SECONDS, cl_metric_now() - started, NULL);
out:
    for (size_t i = 0; job.issued != NULL && i < n; i++)
        cl_issued_free(&job.issued[i]);
    for (size_t i = 0; job.packs != NULL && i < n; i++)
        free(job.packs[i]);
    free(job.models);
    free(job.results);
    free(job.issued);
    free(job.server_values);
    free(job.packs);
    free(job.ready);
    free(job.order);
    free(job.chunk);
    pthread_mutex_destroy(&job.error_lock);
    pthread_mutex_destroy(&job.ready_lock);
    pthread_cond_destroy(&job.ready_cond);
    return rc;
}

/* A batch is done again, under its request id, if the database connection was lost (a failover):
 * what was recorded before is resumed or answered, never issued twice. */
int ca_issue_batch(struct ca_runtime *runtime, struct ca_store *store,
                   const struct ca_batch_request *request, struct ca_batch_item *items, char *err,
                   size_t errlen)
{
    int rc, runs = 0;
    for (;;) {
        rc = issue_batch_once(runtime, store, request, items, err, errlen);
        if (!ca_store_again(store, rc, &runs))
            return rc;
        ca_batch_items_free(items, request->count);
    }
}
