/* authority.c: creates and opens the CA folder, and a device model's secrets. */
#include "authority.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>

#include "atomic_file.h"
#include "ca_token.h"
#include "error.h"
#include "key_pem.h"
#include "keyfile.h"

#define ROOT_DAYS 7300
#define ISSUING_DAYS 3650
#define COMMON_DAYS 7300
#define MAX_CACHED_MODELS 256
#define CERT_FILE_MAX (64 * 1024)

struct cached_key {
    char key_id[CL_KEY_ID_MAX + 1];
    unsigned char key[CL_PREWRITE_KEY_BYTES];
};

struct ca_authority {
    char ca_dir[PATH_MAX];
    char organisation[64];
    char *passphrase;               /* NULL once forgotten (ca_authority_forget_passphrase) */
    char passphrase_file[PATH_MAX]; /* then read again from here, if set */
    char *root_pem, *issuing_pem, *chain_pem;
    struct cl_signer *signer;
    struct ca_token_key issuing_key; /* token mode: the token the signer signs in */
    pthread_mutex_t lock;
    struct cached_key cache[MAX_CACHED_MODELS];
    size_t cached;
};

static int path_in(char *out, size_t len, const char *dir, const char *name)
{
    int n = snprintf(out, len, "%s/%s", dir, name);
    return (n < 0 || (size_t)n >= len) ? CL_ERR_INVALID_ARGUMENT : CL_OK;
}

static int write_pem(const char *dir, const char *name, const struct cl_issued *issued,
                     char **pem_out)
{
    char path[PATH_MAX], *pem = NULL;
    int rc = path_in(path, sizeof(path), dir, name);
    if (rc == CL_OK)
        rc = cl_cert_der_to_pem(issued->cert_der, issued->cert_len, &pem);
    if (rc == CL_OK)
        rc = cl_atomic_write_new(path, pem, strlen(pem), 0644);
    if (rc == CL_OK && pem_out != NULL)
        *pem_out = pem;
    else
        free(pem);
    return rc;
}

static int write_key(const char *dir, const char *name, const char *label,
                     const struct cl_issued *issued, const char *passphrase)
{
    char path[PATH_MAX];
    int rc = path_in(path, sizeof(path), dir, name);
    if (issued->key_der == NULL) /* held in a token */
        return rc;
    if (rc == CL_OK)
        rc = cl_keyfile_write(path, label, issued->key_der, issued->key_len, passphrase,
                              CL_KEYFILE_MIN_ITERATIONS * 2, 1);
    return rc;
}

/* The CA keys that live in tokens (keys->issuing_uri, keys->root_uri), made there; the others
 * are made by cl_issue_ca_pair_keys and written to files. */
static int issue_pair(const char *organisation, const struct ca_key_place *keys,
                      struct ca_token_key *root_key, struct ca_token_key *issuing_key,
                      struct cl_issued *root, struct cl_issued *issuing, char *err, size_t errlen)
{
    struct cl_ca_key root_ext, issuing_ext;
    int use_root = keys != NULL && keys->root_uri != NULL && keys->root_uri[0] != '\0';
    int use_issuing = keys != NULL && keys->issuing_uri != NULL && keys->issuing_uri[0] != '\0';
    int rc;

    if ((use_root && (rc = ca_token_generate(keys->root_uri, 1, root_key, err, errlen)) != CL_OK) ||
        (use_issuing &&
         (rc = ca_token_generate(keys->issuing_uri, 1, issuing_key, err, errlen)) != CL_OK))
        return rc;
    root_ext = (struct cl_ca_key){&root_key->pub, &root_key->sign};
    issuing_ext = (struct cl_ca_key){&issuing_key->pub, NULL};
    rc = cl_issue_ca_pair_keys(organisation, time(NULL) - 60, ROOT_DAYS, ISSUING_DAYS,
                               use_root ? &root_ext : NULL, use_issuing ? &issuing_ext : NULL, root,
                               issuing);
    if (rc != CL_OK)
        snprintf(err, errlen, "cannot create the CA keys: %s", cl_err_str(rc));
    return rc;
}

int ca_authority_create(const char *ca_dir, const char *organisation, const char *passphrase,
                        const struct ca_key_place *keys, char *err, size_t errlen)
{
    struct cl_issued root = {0}, issuing = {0};
    struct ca_token_key root_key, issuing_key;
    char path[PATH_MAX], cert[PATH_MAX], models[PATH_MAX];
    struct stat st;
    int rc;

    memset(&root_key, 0, sizeof(root_key));
    memset(&issuing_key, 0, sizeof(issuing_key));

    if (path_in(path, sizeof(path), ca_dir, "issuing.key.enc") != CL_OK ||
        path_in(cert, sizeof(cert), ca_dir, "issuing.crt") != CL_OK ||
        path_in(models, sizeof(models), ca_dir, "models") != CL_OK) {
        snprintf(err, errlen, "ca_dir path is too long");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (stat(path, &st) == 0 || stat(cert, &st) == 0) {
        snprintf(err, errlen, "%s already holds a CA; refusing to overwrite it", ca_dir);
        return CL_ERR_EXISTS;
    }
    if ((mkdir(ca_dir, 0700) != 0 && errno != EEXIST) ||
        (mkdir(models, 0700) != 0 && errno != EEXIST)) {
        snprintf(err, errlen, "cannot create %s: %s", ca_dir, strerror(errno));
        return CL_ERR_IO;
    }
    if ((rc = issue_pair(organisation, keys, &root_key, &issuing_key, &root, &issuing, err,
                         errlen)) != CL_OK)
        goto out;
    /* Keys first: a half-made CA is refused by the next init only if its key exists, and keys
     * without certificates are useless to anyone. */
    if ((rc = write_key(ca_dir, "root.key.enc", "root-ca-key", &root, passphrase)) != CL_OK ||
        (rc = write_key(ca_dir, "issuing.key.enc", "issuing-ca-key", &issuing, passphrase)) !=
            CL_OK ||
        (rc = write_pem(ca_dir, "root.crt", &root, NULL)) != CL_OK ||
        (rc = write_pem(ca_dir, "issuing.crt", &issuing, NULL)) != CL_OK) {
        snprintf(err, errlen, "cannot write the CA into %s: %s", ca_dir, cl_err_str(rc));
        goto out;
    }
    {
        char *root_pem = NULL, *issuing_pem = NULL, *chain = NULL;
        rc = cl_cert_der_to_pem(root.cert_der, root.cert_len, &root_pem);
        if (rc == CL_OK)
            rc = cl_cert_der_to_pem(issuing.cert_der, issuing.cert_len, &issuing_pem);
        if (rc == CL_OK && (chain = malloc(strlen(root_pem) + strlen(issuing_pem) + 1)) == NULL)
            rc = CL_ERR_NOMEM;
        if (rc == CL_OK) {
            strcpy(chain, issuing_pem);
            strcat(chain, root_pem);
            rc = path_in(path, sizeof(path), ca_dir, "chain.crt");
        }
        if (rc == CL_OK)
            rc = cl_atomic_write_new(path, chain, strlen(chain), 0644);
        if (rc != CL_OK)
            snprintf(err, errlen, "cannot write %s/chain.crt: %s", ca_dir, cl_err_str(rc));
        free(root_pem);
        free(issuing_pem);
        free(chain);
    }
out:
    /* Made keys stay in their tokens (serve finds the issuing key again by its certificate),
     * unless init failed: then they go, so that the next init may use the labels again. */
    if (rc != CL_OK) {
        ca_token_key_discard(&issuing_key);
        ca_token_key_discard(&root_key);
    } else {
        ca_token_key_free(&issuing_key);
        ca_token_key_free(&root_key);
    }
    cl_issued_free(&root);
    cl_issued_free(&issuing);
    return rc;
}

static int read_text(const char *dir, const char *name, char **text, char *err, size_t errlen)
{
    char path[PATH_MAX];
    size_t len;
    int rc = path_in(path, sizeof(path), dir, name);
    if (rc == CL_OK)
        rc = cl_read_file_capped(path, CERT_FILE_MAX, text, &len);
    if (rc != CL_OK)
        snprintf(err, errlen, "cannot read %s/%s: %s", dir, name, cl_err_str(rc));
    return rc;
}

/* Opens one secret with the passphrase held or, once that is forgotten, with the passphrase read
 * again from the passphrase file and wiped right after. */
static int open_secret(const struct ca_authority *a, const char *relative, const char *label,
                       unsigned char **secret, size_t *len, char *err, size_t errlen)
{
    char path[PATH_MAX], *again = NULL;
    const char *passphrase = a->passphrase;
    int rc = path_in(path, sizeof(path), a->ca_dir, relative);
    if (rc == CL_OK && passphrase == NULL) {
        if (a->passphrase_file[0] == '\0') {
            snprintf(err, errlen,
                     "cannot open %s: the passphrase came from the environment and was wiped "
                     "once the CA was open (restart serve, or set passphrase_file)",
                     path);
            return CL_ERR_PERMISSION;
        }
        if ((rc = cl_passphrase_load(a->passphrase_file, NULL, &again, err, errlen)) != CL_OK)
            return rc;
        passphrase = again;
    }
    if (rc == CL_OK)
        rc = cl_keyfile_read(path, label, passphrase, secret, len);
    if (again != NULL)
        cl_secret_free(again, strlen(again));
    if (rc == CL_ERR_CRYPTO)
        snprintf(err, errlen, "cannot open %s: wrong passphrase or damaged file", path);
    else if (rc != CL_OK)
        snprintf(err, errlen, "cannot open %s: %s", path, cl_err_str(rc));
    return rc;
}

int ca_authority_open(const char *ca_dir, const char *organisation, const char *passphrase,
                      const struct ca_key_place *keys, struct ca_authority **out, char *err,
                      size_t errlen)
{
    struct ca_authority *a = calloc(1, sizeof(*a));
    unsigned char *key = NULL;
    size_t key_len = 0;
    int rc;

    *out = NULL;
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    pthread_mutex_init(&a->lock, NULL);
    if (strlen(ca_dir) >= sizeof(a->ca_dir) || strlen(organisation) >= sizeof(a->organisation)) {
        snprintf(err, errlen, "ca_dir or organisation too long");
        rc = CL_ERR_INVALID_ARGUMENT;
        goto fail;
    }
    strcpy(a->ca_dir, ca_dir);
    strcpy(a->organisation, organisation);
    if ((a->passphrase = strdup(passphrase)) == NULL) {
        rc = CL_ERR_NOMEM;
        goto fail;
    }
    if ((rc = read_text(ca_dir, "root.crt", &a->root_pem, err, errlen)) != CL_OK ||
        (rc = read_text(ca_dir, "issuing.crt", &a->issuing_pem, err, errlen)) != CL_OK ||
        (rc = read_text(ca_dir, "chain.crt", &a->chain_pem, err, errlen)) != CL_OK)
        goto fail;
    if (keys != NULL && keys->issuing_uri != NULL && keys->issuing_uri[0] != '\0') {
        /* token mode: the signer signs in the token, one session per signing thread */
        rc = ca_token_open(keys->issuing_uri, a->issuing_pem, keys->sessions, &a->issuing_key, err,
                           errlen);
        if (rc == CL_OK)
            rc = cl_signer_new_with_key((const unsigned char *)a->issuing_pem,
                                        strlen(a->issuing_pem) + 1, &a->issuing_key.sign,
                                        organisation, &a->signer, err, errlen);
        if (rc != CL_OK)
            goto fail;
    } else {
        rc = open_secret(a, "issuing.key.enc", "issuing-ca-key", &key, &key_len, err, errlen);
        if (rc != CL_OK)
            goto fail;
        rc = cl_signer_new((const unsigned char *)a->issuing_pem, strlen(a->issuing_pem) + 1, key,
                           key_len, organisation, &a->signer, err, errlen);
        cl_secret_free(key, key_len);
        if (rc != CL_OK)
            goto fail;
    }
    *out = a;
    return CL_OK;
fail:
    ca_authority_free(a);
    return rc;
}

void ca_authority_forget_passphrase(struct ca_authority *a, const char *passphrase_file)
{
    if (a->passphrase != NULL)
        cl_secret_free(a->passphrase, strlen(a->passphrase));
    a->passphrase = NULL;
    snprintf(a->passphrase_file, sizeof(a->passphrase_file), "%s",
             passphrase_file != NULL ? passphrase_file : "");
}

void ca_authority_free(struct ca_authority *a)
{
    if (a == NULL)
        return;
    cl_signer_free(a->signer); /* before its token closes */
    ca_token_key_free(&a->issuing_key);
    if (a->passphrase != NULL)
        cl_secret_free(a->passphrase, strlen(a->passphrase));
    free(a->root_pem);
    free(a->issuing_pem);
    free(a->chain_pem);
    pthread_mutex_destroy(&a->lock);
    cl_secret_free(a, sizeof(*a)); /* the cache holds pre-write keys */
}

struct cl_signer *ca_authority_signer(struct ca_authority *a)
{
    return a->signer;
}

const char *ca_authority_root_pem(const struct ca_authority *a)
{
    return a->root_pem;
}

const char *ca_authority_chain_pem(const struct ca_authority *a)
{
    return a->chain_pem;
}

const char *ca_authority_issuing_pem(const struct ca_authority *a)
{
    return a->issuing_pem;
}

time_t ca_authority_issuing_not_after(const struct ca_authority *a)
{
    return cl_signer_not_after(a->signer);
}

int ca_authority_model_create(struct ca_authority *a, const char *code, char *err, size_t errlen)
{
    char dir[PATH_MAX], path[PATH_MAX], label[64];
    unsigned char prewrite[CL_PREWRITE_KEY_BYTES], generator[32];
    struct cl_issued common = {0};
    int rc;

    if (snprintf(dir, sizeof(dir), "%s/models/%s", a->ca_dir, code) >= (int)sizeof(dir)) {
        snprintf(err, errlen, "path too long");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (mkdir(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir,
                 errno == EEXIST ? "the model's secrets exist already" : strerror(errno));
        return errno == EEXIST ? CL_ERR_EXISTS : CL_ERR_IO;
    }
    if ((rc = cl_random_bytes(prewrite, sizeof(prewrite))) != CL_OK ||
        (rc = cl_random_bytes(generator, sizeof(generator))) != CL_OK)
        goto out;
    snprintf(label, sizeof(label), "prewrite:%s", code);
    if ((rc = path_in(path, sizeof(path), dir, "prewrite.enc")) != CL_OK ||
        (rc = cl_keyfile_write(path, label, prewrite, sizeof(prewrite), a->passphrase,
                               CL_KEYFILE_MIN_ITERATIONS, 1)) != CL_OK)
        goto out;
    snprintf(label, sizeof(label), "peculiar:%s", code);
    if ((rc = path_in(path, sizeof(path), dir, "peculiar.enc")) != CL_OK ||
        (rc = cl_keyfile_write(path, label, generator, sizeof(generator), a->passphrase,
                               CL_KEYFILE_MIN_ITERATIONS, 1)) != CL_OK)
        goto out;
    {
        char name[64];
        snprintf(name, sizeof(name), "%s common", code);
        rc = cl_issue_service(a->signer, CL_ROLE_DEVICE_COMMON, name, code, time(NULL) - 60,
                              COMMON_DAYS, &common);
    }
    if (rc != CL_OK)
        goto out;
    snprintf(label, sizeof(label), "common-key:%s", code);
    if ((rc = write_pem(dir, "common.crt", &common, NULL)) != CL_OK ||
        (rc = write_key(dir, "common-key.enc", label, &common, a->passphrase)) != CL_OK ||
        (rc = path_in(path, sizeof(path), dir, "common.chain.crt")) != CL_OK ||
        (rc = cl_atomic_write_new(path, a->chain_pem, strlen(a->chain_pem), 0644)) != CL_OK)
        goto out;
out:
    if (rc != CL_OK)
        snprintf(err, errlen, "cannot create the secrets of model %s: %s", code, cl_err_str(rc));
    mbedtls_platform_zeroize(prewrite, sizeof(prewrite));
    mbedtls_platform_zeroize(generator, sizeof(generator));
    cl_issued_free(&common);
    return rc;
}

int ca_prewrite_place(const char *code, const char *key_id, int first, const char *suffix,
                      char *relative, size_t rlen, char *label, size_t llen)
{
    int n, m;
    if (first) {
        n = snprintf(relative, rlen, "models/%s/prewrite.%s", code, suffix);
        m = snprintf(label, llen, "prewrite:%s", code);
    } else {
        n = snprintf(relative, rlen, "models/%s/prewrite-%s.%s", code, key_id, suffix);
        m = snprintf(label, llen, "prewrite:%s:%s", code, key_id);
    }
    return n < 0 || (size_t)n >= rlen || m < 0 || (size_t)m >= llen || strchr(key_id, '/') != NULL
               ? CL_ERR_INVALID_ARGUMENT
               : CL_OK;
}

int ca_authority_prewrite_create(struct ca_authority *a, const char *code, const char *key_id,
                                 char *err, size_t errlen)
{
    char relative[160], label[96], path[PATH_MAX];
    unsigned char prewrite[CL_PREWRITE_KEY_BYTES];
    int rc;

    if ((rc = ca_prewrite_place(code, key_id, 0, "enc", relative, sizeof(relative), label,
                                sizeof(label))) != CL_OK ||
        (rc = path_in(path, sizeof(path), a->ca_dir, relative)) != CL_OK) {
        snprintf(err, errlen, "key id or path too long");
        return rc;
    }
    if ((rc = cl_random_bytes(prewrite, sizeof(prewrite))) == CL_OK)
        rc = cl_keyfile_write(path, label, prewrite, sizeof(prewrite), a->passphrase,
                              CL_KEYFILE_MIN_ITERATIONS, 1);
    mbedtls_platform_zeroize(prewrite, sizeof(prewrite));
    if (rc != CL_OK)
        snprintf(err, errlen, "cannot write %s: %s", path,
                 rc == CL_ERR_EXISTS ? "it exists already" : cl_err_str(rc));
    return rc;
}

int ca_authority_prewrite_key(struct ca_authority *a, const char *code, const char *key_id,
                              int first, unsigned char key[CL_PREWRITE_KEY_BYTES], char *err,
                              size_t errlen)
{
    char relative[160], label[96];
    unsigned char *secret = NULL;
    size_t len = 0;
    int rc = CL_OK;

    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->cached; i++) {
        if (strcmp(a->cache[i].key_id, key_id) == 0) {
            memcpy(key, a->cache[i].key, CL_PREWRITE_KEY_BYTES);
            goto out;
        }
    }
    if ((rc = ca_prewrite_place(code, key_id, first, "enc", relative, sizeof(relative), label,
                                sizeof(label))) != CL_OK) {
        snprintf(err, errlen, "pre-write key id %.64s of model %.8s: too long", key_id, code);
        goto out;
    }
    rc = open_secret(a, relative, label, &secret, &len, err, errlen);
    if (rc != CL_OK)
        goto out;
    if (len != CL_PREWRITE_KEY_BYTES) {
        snprintf(err, errlen, "the pre-write key %s of model %s has a wrong length", key_id, code);
        rc = CL_ERR_CRYPTO;
        goto out;
    }
    memcpy(key, secret, CL_PREWRITE_KEY_BYTES);
    if (a->cached < MAX_CACHED_MODELS && strlen(key_id) < sizeof(a->cache[0].key_id)) {
        strcpy(a->cache[a->cached].key_id, key_id);
        memcpy(a->cache[a->cached].key, secret, CL_PREWRITE_KEY_BYTES);
        a->cached++;
    }
out:
    pthread_mutex_unlock(&a->lock);
    cl_secret_free(secret, len);
    return rc;
}

static int add_base64(cJSON *obj, const char *name, const unsigned char *data, size_t len)
{
    char out[128];
    size_t olen = 0;
    if (mbedtls_base64_encode((unsigned char *)out, sizeof(out), &olen, data, len) != 0)
        return CL_ERR_INTERNAL;
    return cJSON_AddStringToObject(obj, name, out) ? CL_OK : CL_ERR_NOMEM;
}

/* The keys after the first as the bundle's next_prewrite_keys: [{"key_id", "prewrite_key"}]. */
static int add_next_keys(struct ca_authority *a, cJSON *bundle, const char *code,
                         const struct ca_bundle_key *keys, size_t count, char *err, size_t errlen)
{
    cJSON *list = cJSON_AddArrayToObject(bundle, "next_prewrite_keys");
    int rc = list != NULL ? CL_OK : CL_ERR_NOMEM;

    for (size_t i = 1; rc == CL_OK && i < count; i++) {
        unsigned char key[CL_PREWRITE_KEY_BYTES];
        cJSON *item = cJSON_CreateObject();
        if (item == NULL || !cJSON_AddItemToArray(list, item)) {
            cJSON_Delete(item);
            return CL_ERR_NOMEM;
        }
        if (keys[i].value != NULL)
            memcpy(key, keys[i].value, sizeof(key));
        else
            rc =
                ca_authority_prewrite_key(a, code, keys[i].key_id, keys[i].first, key, err, errlen);
        if (rc == CL_OK && (!cJSON_AddStringToObject(item, "key_id", keys[i].key_id) ||
                            add_base64(item, "prewrite_key", key, sizeof(key)) != CL_OK))
            rc = CL_ERR_NOMEM;
        mbedtls_platform_zeroize(key, sizeof(key));
    }
    return rc;
}

/* Wipes the strings of a bundle, nested ones too (cJSON keeps copies of the secrets). */
static void wipe_strings(cJSON *item)
{
    for (; item != NULL; item = item->next) {
        if (cJSON_IsString(item))
            mbedtls_platform_zeroize(item->valuestring, strlen(item->valuestring));
        wipe_strings(item->child);
    }
}

int ca_authority_model_bundle(struct ca_authority *a, const char *code, const char *key_type,
                              const struct ca_bundle_key *keys, size_t key_count, char **json,
                              size_t *json_len, char *err, size_t errlen)
{
    char relative[64], label[64], dir[PATH_MAX];
    unsigned char *generator = NULL, *common_key = NULL;
    size_t generator_len = 0, common_key_len = 0;
    unsigned char prewrite[CL_PREWRITE_KEY_BYTES];
    char *common_pem = NULL, *common_chain = NULL, *text = NULL, *key_pem = NULL;
    size_t key_pem_size = 0;
    cJSON *bundle = NULL;
    int rc;

    *json = NULL;
    if (snprintf(dir, sizeof(dir), "%s/models/%.12s", a->ca_dir, code) >= (int)sizeof(dir)) {
        snprintf(err, errlen, "path too long");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (key_count < 1 || key_count > CA_BUNDLE_KEYS_MAX) {
        snprintf(err, errlen, "a bundle carries 1 to %d pre-write keys", CA_BUNDLE_KEYS_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (keys[0].value != NULL)
        memcpy(prewrite, keys[0].value, sizeof(prewrite));
    else if ((rc = ca_authority_prewrite_key(a, code, keys[0].key_id, keys[0].first, prewrite, err,
                                             errlen)) != CL_OK)
        goto out;
    snprintf(relative, sizeof(relative), "models/%.12s/peculiar.enc", code);
    snprintf(label, sizeof(label), "peculiar:%.12s", code);
    if ((rc = open_secret(a, relative, label, &generator, &generator_len, err, errlen)) != CL_OK)
        goto out;
    snprintf(relative, sizeof(relative), "models/%.12s/common-key.enc", code);
    snprintf(label, sizeof(label), "common-key:%.12s", code);
    if ((rc = open_secret(a, relative, label, &common_key, &common_key_len, err, errlen)) != CL_OK)
        goto out;
    if ((rc = read_text(dir, "common.crt", &common_pem, err, errlen)) != CL_OK)
        goto out;
    /* The chain of the issuing CA that signed the common certificate (after a rollover, maybe
     * not the one in use); a model made before chains were kept: the only issuing CA there was. */
    if (read_text(dir, "common.chain.crt", &common_chain, err, errlen) != CL_OK)
        err[0] = '\0';
    if (cl_key_der_to_pem(common_key, common_key_len, &key_pem, &key_pem_size) != CL_OK) {
        snprintf(err, errlen, "the common key of model %s cannot be read", code);
        rc = CL_ERR_CRYPTO;
        goto out;
    }
    bundle = cJSON_CreateObject();
    rc = CL_ERR_NOMEM;
    /* Version 1 while there is no later key: readers of version 1 keep reading it. */
    if (bundle == NULL || !cJSON_AddNumberToObject(bundle, "version", key_count > 1 ? 2 : 1) ||
        !cJSON_AddStringToObject(bundle, "model", code) ||
        !cJSON_AddStringToObject(bundle, "key_type", key_type) ||
        !cJSON_AddStringToObject(bundle, "key_id", keys[0].key_id) ||
        add_base64(bundle, "prewrite_key", prewrite, sizeof(prewrite)) != CL_OK ||
        add_base64(bundle, "peculiar_generator", generator, generator_len) != CL_OK ||
        !cJSON_AddStringToObject(bundle, "root_pem", a->root_pem) ||
        !cJSON_AddStringToObject(bundle, "chain_pem",
                                 common_chain != NULL ? common_chain : a->chain_pem) ||
        !cJSON_AddStringToObject(bundle, "common_certificate_pem", common_pem) ||
        !cJSON_AddStringToObject(bundle, "common_key_pem", key_pem))
        goto out;
    if (key_count > 1 &&
        (rc = add_next_keys(a, bundle, code, keys, key_count, err, errlen)) != CL_OK)
        goto out;
    rc = CL_ERR_NOMEM;
    text = cJSON_PrintUnformatted(bundle);
    if (text == NULL)
        goto out;
    *json = text;
    *json_len = strlen(text);
    rc = CL_OK;
out:
    if (bundle != NULL) {
        wipe_strings(bundle->child); /* cJSON keeps copies of the secrets */
        cJSON_Delete(bundle);
    }
    mbedtls_platform_zeroize(prewrite, sizeof(prewrite));
    cl_secret_free(key_pem, key_pem_size);
    cl_secret_free(generator, generator_len);
    cl_secret_free(common_key, common_key_len);
    free(common_pem);
    free(common_chain);
    return rc;
}
