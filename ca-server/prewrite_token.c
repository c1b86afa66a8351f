/* prewrite_token.c: the pre-write keys in ca-server's token mode (prewrite_token.h): stored
 * wrapped under the token's storage key, unwrapped into the token to seal packs. */
#include "prewrite_token.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "atomic_file.h"
#include "error.h"
#include "log.h"
#include "p11_wrap.h"

#define CACHE_MAX 256
#define WRAPPED_MAX 64 /* 40 bytes for a 32-byte key */

struct cached_handle {
    char key_id[CL_KEY_ID_MAX + 1];
    cl_p11_handle handle;
};

struct ca_prewrite_token {
    struct cl_p11_token *token;
    cl_p11_handle storage;
    pthread_mutex_t lock;
    struct cached_handle cache[CACHE_MAX];
    size_t cached;
};

/* Finding or making the storage key. PKCS#11 has no "make it unless one exists": two processes
 * that both find none both make one (one C_GenerateKey each, same label), each then wraps its
 * keys under its own, and from then on every open finds two. No token settles that by itself,
 * and a real HSM gives no better primitive (a cluster of HSMs may even show a new object to its
 * other members a little later). Settling after the fact ("the smallest CKA_ID wins") is no cure
 * either: a maker that saw only its own key has already wrapped under it when the other's
 * appears. So:
 *  - the makers (model-add and model-rotate) take the database's model lock first
 *    (ca_store_models_try_lock, commands_models.c): every instance of one CA shares that
 *    database, so find-or-make is one critical section whatever the token is;
 *  - a maker looks again after making; if its key is not the only one (a maker outside the lock:
 *    a ca-server of another database, or of a version without the lock, on the same token), it
 *    destroys its own, which has wrapped nothing yet, and fails. Each maker looks after its own
 *    make, so of two at least one sees the other's key and withdraws (when the token shows a new
 *    object to every process at once, as SoftHSM2 does): at most one goes on. That narrows the
 *    race outside the lock without closing it (a third process may have found and used a key
 *    in the instant before its maker withdrew it): the lock is the guarantee;
 *  - the key gets a random CKA_ID, so that two can be told apart (pkcs11-tool --id). */
static int make_storage_key(struct ca_prewrite_token *pt, char *err, size_t errlen)
{
    unsigned char id[CA_STORAGE_KEY_ID_BYTES];
    cl_p11_handle seen = 0;
    int rc;

    if ((rc = cl_random_bytes(id, sizeof(id))) != CL_OK ||
        (rc = cl_p11_aes_key(pt->token, NULL, 0, CA_STORAGE_KEY_LABEL, id, sizeof(id), 0,
                             &pt->storage, err, errlen)) != CL_OK)
        return rc;
    rc = cl_p11_find(pt->token, CL_P11_SECRET, CA_STORAGE_KEY_LABEL, NULL, 0, &seen, err, errlen);
    if (rc == CL_OK && seen == pt->storage) {
        cl_log_info("made the pre-write storage key \"%s\" in the token", CA_STORAGE_KEY_LABEL);
        return CL_OK;
    }
    cl_p11_destroy(pt->token, pt->storage, NULL, 0);
    pt->storage = 0;
    cl_err_set(err, errlen,
               "another process made a key \"%s\" in the token at the same time as this one "
               "(a ca-server of another database, or one that does not take the database's model "
               "lock): this one's key is withdrawn; run the command again",
               CA_STORAGE_KEY_LABEL);
    return CL_ERR_CONFLICT;
}

int ca_prewrite_token_open(const char *uri, int sessions, int make, struct ca_prewrite_token **out,
                           char *err, size_t errlen)
{
    struct ca_prewrite_token *pt = calloc(1, sizeof(*pt));
    struct cl_p11_uri u;
    int rc, attempt = 0;

    *out = NULL;
    if (pt == NULL)
        return CL_ERR_NOMEM;
    pthread_mutex_init(&pt->lock, NULL);
    if ((rc = cl_p11_uri_parse(uri, &u, err, errlen)) != CL_OK)
        goto fail;
    /* "None" is concluded only after looking from a fresh load of the token each time
     * (cl_p11_retry_quietly, 1.55 s in all): SoftHSM2 can hide an object from a process that loaded
     * the token while another process logged in, and a maker that believed it would make a second
     * key. */
    for (;;) {
        if ((rc = cl_p11_token_open(&u, sessions, &pt->token, err, errlen)) != CL_OK)
            goto fail;
        rc = cl_p11_find(pt->token, CL_P11_SECRET, CA_STORAGE_KEY_LABEL, NULL, 0, &pt->storage, err,
                         errlen);
        if (rc != CL_ERR_NOT_FOUND || attempt + 1 >= CL_P11_OPEN_ATTEMPTS)
            break;
        cl_p11_token_close(pt->token);
        pt->token = NULL;
        (void)cl_p11_retry_quietly(&attempt, rc); /* no key yet is the usual reason */
    }
    if (rc == CL_ERR_NOT_FOUND && make)
        rc = make_storage_key(pt, err, errlen);
    else if (rc == CL_ERR_NOT_FOUND)
        cl_err_set(err, errlen,
                   "the token has no key \"%s\" (model-add or model-rotate in token "
                   "mode makes it)",
                   CA_STORAGE_KEY_LABEL);
    else if (rc == CL_ERR_CONFLICT) /* from before the model lock (make_storage_key) */
        cl_err_set(err, errlen,
                   "the token holds more than one secret key labelled \"%s\" where ca-server "
                   "keeps one: model-add or model-rotate commands of a ca-server without the "
                   "model lock ran at the same time and each made one, so each wraps the keys "
                   "its command stored; keep one and rotate the models that lose their key "
                   "(README.md, \"Two storage keys\")",
                   CA_STORAGE_KEY_LABEL);
    if (rc != CL_OK)
        goto fail;
    *out = pt;
    return CL_OK;
fail:
    ca_prewrite_token_free(pt);
    return rc;
}

int ca_prewrite_token_of(const struct ca_config *config, int make, struct ca_prewrite_token **out,
                         char *err, size_t errlen)
{
    *out = NULL;
    if (config->device_key_token[0] == '\0')
        return CL_OK;
    return ca_prewrite_token_open(config->device_key_token, (int)config->workers + 1, make, out,
                                  err, errlen);
}

void ca_prewrite_token_free(struct ca_prewrite_token *pt)
{
    if (pt == NULL)
        return;
    cl_p11_token_close(pt->token); /* the unwrapped session objects go with its sessions */
    pthread_mutex_destroy(&pt->lock);
    free(pt);
}

struct cl_p11_token *ca_prewrite_token_p11(struct ca_prewrite_token *pt)
{
    return pt != NULL ? pt->token : NULL;
}

static int wrapped_path(const char *ca_dir, const char *code, const char *key_id, int first,
                        char *path, size_t len, char *label, size_t llen)
{
    char relative[160];
    int rc =
        ca_prewrite_place(code, key_id, first, "wrapped", relative, sizeof(relative), label, llen);
    if (rc == CL_OK && snprintf(path, len, "%s/%s", ca_dir, relative) >= (int)len)
        rc = CL_ERR_INVALID_ARGUMENT;
    return rc;
}

/* The wrapped copy of a key; CL_ERR_NOT_FOUND if there is none. */
static int read_wrapped(const char *ca_dir, const char *code, const char *key_id, int first,
                        char **blob, size_t *len, char *err, size_t errlen)
{
    char path[PATH_MAX], label[96];
    int rc = wrapped_path(ca_dir, code, key_id, first, path, sizeof(path), label, sizeof(label));

    if (rc == CL_OK)
        rc = cl_read_file_capped(path, WRAPPED_MAX, blob, len);
    if (rc != CL_OK && rc != CL_ERR_NOT_FOUND)
        cl_err_set(err, errlen, "cannot read %s: %s", path, cl_err_str(rc));
    return rc;
}

int ca_prewrite_token_key(struct ca_prewrite_token *pt, struct ca_authority *authority,
                          const char *ca_dir, const char *code, const char *key_id, int first,
                          cl_p11_handle *out, char *err, size_t errlen)
{
    unsigned char value[CL_PREWRITE_KEY_BYTES];
    char label[96], *blob = NULL;
    size_t len = 0;
    int rc;

    pthread_mutex_lock(&pt->lock);
    for (size_t i = 0; i < pt->cached; i++)
        if (strcmp(pt->cache[i].key_id, key_id) == 0) {
            *out = pt->cache[i].handle;
            pthread_mutex_unlock(&pt->lock);
            return CL_OK;
        }
    snprintf(label, sizeof(label), "prewrite:%s", key_id);
    rc = read_wrapped(ca_dir, code, key_id, first, &blob, &len, err, errlen);
    if (rc == CL_OK) {
        rc = cl_p11_unwrap_aes(pt->token, pt->storage, (unsigned char *)blob, len, label,
                               CL_P11_SESSION_OBJECT, out, err, errlen);
    } else if (rc == CL_ERR_NOT_FOUND) { /* a key from before token mode: its passphrase file */
        rc = ca_authority_prewrite_key(authority, code, key_id, first, value, err, errlen);
        if (rc == CL_OK)
            rc = cl_p11_aes_key(pt->token, value, sizeof(value), label, NULL, 0,
                                CL_P11_SESSION_OBJECT, out, err, errlen);
        mbedtls_platform_zeroize(value, sizeof(value));
    }
    if (rc == CL_OK && pt->cached < CACHE_MAX && strlen(key_id) <= CL_KEY_ID_MAX) {
        strcpy(pt->cache[pt->cached].key_id, key_id);
        pt->cache[pt->cached++].handle = *out;
    }
    pthread_mutex_unlock(&pt->lock);
    free(blob);
    return rc;
}

int ca_prewrite_token_store(struct ca_prewrite_token *pt, const char *ca_dir, const char *code,
                            const char *key_id, int first, const unsigned char *value, char *err,
                            size_t errlen)
{
    unsigned char key[CL_PREWRITE_KEY_BYTES], wrapped[WRAPPED_MAX];
    char path[PATH_MAX], label[96];
    cl_p11_handle h = 0;
    size_t len = 0;
    int rc;

    if ((rc = wrapped_path(ca_dir, code, key_id, first, path, sizeof(path), label,
                           sizeof(label))) != CL_OK) {
        cl_err_set(err, errlen, "key id or path too long");
        return rc;
    }
    if (value != NULL)
        memcpy(key, value, sizeof(key));
    else if ((rc = cl_random_bytes(key, sizeof(key))) != CL_OK)
        return rc;
    /* In as a session object that may be wrapped, out wrapped under the storage key. */
    rc = cl_p11_aes_key(pt->token, key, sizeof(key), label, NULL, 0,
                        CL_P11_SESSION_OBJECT | CL_P11_WRAPPABLE, &h, err, errlen);
    mbedtls_platform_zeroize(key, sizeof(key));
    if (rc == CL_OK)
        rc = cl_p11_wrap(pt->token, pt->storage, h, wrapped, sizeof(wrapped), &len, err, errlen);
    if (h != 0)
        cl_p11_destroy(pt->token, h, NULL, 0);
    if (rc == CL_OK && (rc = cl_atomic_write_new(path, wrapped, len, 0600)) != CL_OK)
        cl_err_set(err, errlen, "cannot write %s: %s", path,
                   rc == CL_ERR_EXISTS ? "it exists already" : cl_err_str(rc));
    return rc;
}

int ca_prewrite_token_value(struct ca_prewrite_token *pt, const char *ca_dir, const char *code,
                            const char *key_id, int first, unsigned char value[32], char *err,
                            size_t errlen)
{
    char *blob = NULL;
    size_t len = 0;
    int rc = read_wrapped(ca_dir, code, key_id, first, &blob, &len, err, errlen);

    if (rc == CL_OK)
        rc = cl_p11_unwrap_aes_value(pt->token, pt->storage, (unsigned char *)blob, len, value, err,
                                     errlen);
    free(blob);
    return rc;
}
