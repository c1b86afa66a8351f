/* rollover.c: rolls the issuing CA over to a new one under the same root (see rollover.h). */
#include "rollover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "ca_token.h"
#include "error.h"
#include "input_check.h"
#include "keyfile.h"

#include <mbedtls/x509_crt.h>

#define CERT_FILE_MAX (64 * 1024)
#define KEY_ITERATIONS (CL_KEYFILE_MIN_ITERATIONS * 2) /* as authority.c writes CA keys */
#define COMMON_DAYS 7300                               /* capped at the issuing CA's end */

/* The files switched, each written as "<name>.next" first; in write and rename order. */
static const char *const switched[] = {"issuing.key.enc", "issuing.crt", "chain.crt"};

static int path_of(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    return (n < 0 || n >= PATH_MAX) ? CL_ERR_INVALID_ARGUMENT : CL_OK;
}

static int next_of(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s.next", dir, name);
    return (n < 0 || n >= PATH_MAX) ? CL_ERR_INVALID_ARGUMENT : CL_OK;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY), rc = CL_OK;
    if (fd < 0)
        return CL_ERR_IO;
    if (fsync(fd) != 0)
        rc = CL_ERR_IO;
    close(fd);
    return rc;
}

static int read_text(const char *dir, const char *name, char **text)
{
    char path[PATH_MAX];
    size_t len;
    int rc = path_of(path, dir, name);
    return rc == CL_OK ? cl_read_file_capped(path, CERT_FILE_MAX, text, &len) : rc;
}

/* The certificate's serial (upper-case hex) for file names. */
static int serial_of(const char *pem, char serial[CL_SERIAL_HEX_MAX + 1])
{
    mbedtls_x509_crt crt;
    int rc = CL_ERR_PARSE;

    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1) == 0 &&
        crt.serial.len >= 1 && crt.serial.len <= CL_SERIAL_HEX_MAX / 2) {
        for (size_t i = 0; i < crt.serial.len; i++)
            snprintf(serial + 2 * i, 3, "%02X", crt.serial.p[i]);
        rc = CL_OK;
    }
    mbedtls_x509_crt_free(&crt);
    return rc;
}

/* Keeps dir/name as retired_dir/retired_name (a hard link: the same bytes, nothing copied);
 * already kept by an earlier, interrupted run is fine. */
static int retire(const char *dir, const char *name, const char *retired_dir,
                  const char *retired_name)
{
    char from[PATH_MAX], to[PATH_MAX];
    if (path_of(from, dir, name) != CL_OK || path_of(to, retired_dir, retired_name) != CL_OK)
        return CL_ERR_INVALID_ARGUMENT;
    if (link(from, to) != 0 && errno != EEXIST)
        return CL_ERR_IO;
    return CL_OK;
}

/* Renames every <name>.next of names (in order) that is still there over <name>. */
static int switch_files(const char *dir, const char *const *names, size_t count)
{
    char from[PATH_MAX], to[PATH_MAX];
    for (size_t i = 0; i < count; i++) {
        if (next_of(from, dir, names[i]) != CL_OK || path_of(to, dir, names[i]) != CL_OK)
            return CL_ERR_INVALID_ARGUMENT;
        if (exists(from) && rename(from, to) != 0)
            return CL_ERR_IO;
    }
    return sync_dir(dir);
}

static void remove_next(const char *dir, const char *const *names, size_t count)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < count; i++)
        if (next_of(path, dir, names[i]) == CL_OK)
            unlink(path);
}

/* leaf then chain, as one PEM text (malloc'd). */
static int concat(const char *a, const char *b, char **out)
{
    size_t la = strlen(a), lb = strlen(b);
    if ((*out = malloc(la + lb + 1)) == NULL)
        return CL_ERR_NOMEM;
    memcpy(*out, a, la);
    memcpy(*out + la, b, lb + 1);
    return CL_OK;
}

/* Writes the three .next files of the new issuing CA (key first, chain last); two when its key
 * is in a token. */
static int write_next(const char *dir, const struct cl_issued *issuing, const char *root_pem,
                      const char *passphrase, char **issuing_pem)
{
    char path[PATH_MAX], *chain = NULL;
    int rc;

    *issuing_pem = NULL;
    if (issuing->key_der != NULL && /* else the key is in its token */
        ((rc = next_of(path, dir, switched[0])) != CL_OK ||
         (rc = cl_keyfile_write(path, "issuing-ca-key", issuing->key_der, issuing->key_len,
                                passphrase, KEY_ITERATIONS, 1)) != CL_OK))
        return rc;
    if ((rc = cl_cert_der_to_pem(issuing->cert_der, issuing->cert_len, issuing_pem)) != CL_OK ||
        (rc = next_of(path, dir, switched[1])) != CL_OK ||
        (rc = cl_atomic_write_new(path, *issuing_pem, strlen(*issuing_pem), 0644)) != CL_OK ||
        (rc = concat(*issuing_pem, root_pem, &chain)) != CL_OK ||
        (rc = next_of(path, dir, switched[2])) != CL_OK)
        goto out;
    rc = cl_atomic_write_new(path, chain, strlen(chain), 0644);
out:
    free(chain);
    return rc;
}

/* A model made before chains were kept beside its common certificate: its chain is the one of
 * the issuing CA being retired (the only one until now). */
static int pin_model_chains(const char *ca_dir, const char *old_chain)
{
    char models[PATH_MAX], path[PATH_MAX];
    struct dirent *e;
    DIR *d;
    int rc = CL_OK;

    if (path_of(models, ca_dir, "models") != CL_OK || (d = opendir(models)) == NULL)
        return CL_OK; /* no models */
    while (rc == CL_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof(path), "%s/%s/common.chain.crt", models, e->d_name) >=
            (int)sizeof(path))
            continue;
        if (!exists(path))
            rc = cl_atomic_write_new(path, old_chain, strlen(old_chain), 0644);
    }
    closedir(d);
    return rc;
}

/* A new common certificate and key for one model under the new issuing CA; the earlier ones are
 * kept in models/<code>/retired/. */
static int renew_common(const char *model_dir, const char *code, struct cl_signer *signer,
                        const char *chain_pem, const char *passphrase)
{
    static const char *const names[] = {"common-key.enc", "common.crt", "common.chain.crt"};
    char path[PATH_MAX], retired[PATH_MAX], name[64], label[64], keep[96];
    char serial[CL_SERIAL_HEX_MAX + 1], *old_pem = NULL, *pem = NULL;
    struct cl_issued common = {0};
    int rc;

    remove_next(model_dir, names, 3);
    if ((rc = read_text(model_dir, "common.crt", &old_pem)) != CL_OK ||
        (rc = serial_of(old_pem, serial)) != CL_OK ||
        (rc = path_of(retired, model_dir, "retired")) != CL_OK)
        goto out;
    if (mkdir(retired, 0700) != 0 && errno != EEXIST) {
        rc = CL_ERR_IO;
        goto out;
    }
    /* code is a model code (renew_models checks it): at most CL_MODEL_CODE_MAX characters. */
    snprintf(name, sizeof(name), "%.*s common", CL_MODEL_CODE_MAX, code);
    snprintf(label, sizeof(label), "common-key:%.*s", CL_MODEL_CODE_MAX, code);
    if ((rc = cl_issue_service(signer, CL_ROLE_DEVICE_COMMON, name, code, time(NULL) - 60,
                               COMMON_DAYS, &common)) != CL_OK ||
        (rc = next_of(path, model_dir, names[0])) != CL_OK ||
        (rc = cl_keyfile_write(path, label, common.key_der, common.key_len, passphrase,
                               KEY_ITERATIONS, 1)) != CL_OK ||
        (rc = cl_cert_der_to_pem(common.cert_der, common.cert_len, &pem)) != CL_OK ||
        (rc = next_of(path, model_dir, names[1])) != CL_OK ||
        (rc = cl_atomic_write_new(path, pem, strlen(pem), 0644)) != CL_OK ||
        (rc = next_of(path, model_dir, names[2])) != CL_OK ||
        (rc = cl_atomic_write_new(path, chain_pem, strlen(chain_pem), 0644)) != CL_OK)
        goto out;
    for (size_t i = 0; i < 3 && rc == CL_OK; i++) {
        snprintf(keep, sizeof(keep), "%s-%s", serial, names[i]);
        rc = retire(model_dir, names[i], retired, keep);
    }
    if (rc == CL_OK)
        rc = switch_files(model_dir, names, 3);
out:
    if (rc != CL_OK)
        remove_next(model_dir, names, 3);
    cl_issued_free(&common);
    free(old_pem);
    free(pem);
    return rc;
}

static void renew_models(const char *ca_dir, struct cl_signer *signer, const char *chain_pem,
                         const char *passphrase, struct ca_rollover_result *result)
{
    char models[PATH_MAX], dir[PATH_MAX];
    struct dirent *e;
    DIR *d;

    if (path_of(models, ca_dir, "models") != CL_OK || (d = opendir(models)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (!cl_model_code_ok(e->d_name) ||
            snprintf(dir, sizeof(dir), "%s/%s", models, e->d_name) >= (int)sizeof(dir))
            continue;
        if (renew_common(dir, e->d_name, signer, chain_pem, passphrase) == CL_OK)
            result->models_renewed++;
        else
            result->models_failed++;
    }
    closedir(d);
}

/* The signer of a certificate file and its key: encrypted in ca_dir (key_name), or in the token of
 * uri (then *token keeps the token open for the signer; the caller frees the signer first). */
static int open_signer(const char *ca_dir, const char *cert_name, const char *key_name,
                       const char *label, const char *uri, const char *organisation,
                       const char *passphrase, struct ca_token_key *token, struct cl_signer **out,
                       char *err, size_t errlen)
{
    char path[PATH_MAX], *pem = NULL;
    unsigned char *key = NULL;
    size_t key_len = 0;
    int rc;

    if ((rc = read_text(ca_dir, cert_name, &pem)) != CL_OK) {
        snprintf(err, errlen, "cannot read %s/%s: %s", ca_dir, cert_name, cl_err_str(rc));
        return rc;
    }
    if (uri != NULL && uri[0] != '\0') {
        if ((rc = ca_token_open(uri, pem, 1, token, err, errlen)) == CL_OK)
            rc = cl_signer_new_with_key((const unsigned char *)pem, strlen(pem) + 1, &token->sign,
                                        organisation, out, err, errlen);
        free(pem);
        return rc;
    }
    if ((rc = path_of(path, ca_dir, key_name)) == CL_OK)
        rc = cl_keyfile_read(path, label, passphrase, &key, &key_len);
    if (rc != CL_OK)
        snprintf(err, errlen, "cannot open %s/%s: %s", ca_dir, key_name,
                 rc == CL_ERR_CRYPTO ? "wrong passphrase or damaged file" : cl_err_str(rc));
    else
        rc = cl_signer_new((const unsigned char *)pem, strlen(pem) + 1, key, key_len, organisation,
                           out, err, errlen);
    cl_secret_free(key, key_len);
    free(pem);
    return rc;
}

/* The new issuing CA under root: its key made here (file mode) or in the issuing token. */
static int issue_next(struct cl_signer *root, const struct ca_key_place *keys, int days,
                      struct ca_token_key *token, struct cl_issued *out, char *err, size_t errlen)
{
    struct cl_ca_key ext;
    int rc;

    if (keys == NULL || keys->issuing_uri == NULL || keys->issuing_uri[0] == '\0')
        return cl_issue_issuing_ca(root, time(NULL) - 60, days, out);
    if ((rc = ca_token_generate(keys->issuing_uri, 0, token, err, errlen)) != CL_OK)
        return rc;
    ext = (struct cl_ca_key){&token->pub, NULL};
    return cl_issue_issuing_ca_key(root, time(NULL) - 60, days, &ext, out);
}

int ca_rollover(const char *ca_dir, const char *organisation, const char *passphrase,
                const struct ca_key_place *keys, int days, struct ca_rollover_result *result,
                char *err, size_t errlen)
{
    struct ca_token_key root_token, next_token;
    char path[PATH_MAX], retired[PATH_MAX], key_file[PATH_MAX], keep[96];
    char *root_pem = NULL, *old_pem = NULL, *old_chain = NULL, *new_pem = NULL, *new_chain = NULL;
    struct cl_signer *root = NULL, *next = NULL;
    struct cl_issued issuing = {0};
    time_t from;
    int rc;

    memset(result, 0, sizeof(*result));
    memset(&root_token, 0, sizeof(root_token));
    memset(&next_token, 0, sizeof(next_token));
    if (path_of(path, ca_dir, "chain.crt.next") != CL_OK ||
        path_of(retired, ca_dir, "retired") != CL_OK) {
        snprintf(err, errlen, "ca_dir path is too long");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (exists(path)) { /* every new file was written: finish what was interrupted */
        if ((rc = switch_files(ca_dir, switched, 3)) != CL_OK) {
            snprintf(err, errlen, "cannot finish the interrupted rollover in %s: %s", ca_dir,
                     strerror(errno));
            return rc;
        }
        result->finished_interrupted = 1;
        if (read_text(ca_dir, "issuing.crt", &new_pem) == CL_OK)
            serial_of(new_pem, result->new_serial);
        free(new_pem);
        return CL_OK;
    }
    remove_next(ca_dir, switched, 3); /* a rollover cut off while writing: start again */
    if ((rc = read_text(ca_dir, "root.crt", &root_pem)) != CL_OK ||
        (rc = read_text(ca_dir, "issuing.crt", &old_pem)) != CL_OK ||
        (rc = read_text(ca_dir, "chain.crt", &old_chain)) != CL_OK ||
        (rc = serial_of(old_pem, result->old_serial)) != CL_OK) {
        snprintf(err, errlen, "cannot read the CA in %s: %s", ca_dir, cl_err_str(rc));
        goto out;
    }
    if ((rc = open_signer(ca_dir, "root.crt", "root.key.enc", "root-ca-key",
                          keys != NULL ? keys->root_uri : NULL, organisation, passphrase,
                          &root_token, &root, err, errlen)) != CL_OK)
        goto out;
    err[0] = '\0';
    if ((rc = issue_next(root, keys, days, &next_token, &issuing, err, errlen)) != CL_OK) {
        if (err[0] == '\0')
            snprintf(err, errlen, "cannot make the new issuing CA: %s%s", cl_err_str(rc),
                     rc == CL_ERR_STATE ? " (the root has ended: a new root is a new PKI)" : "");
        goto out;
    }
    cl_signer_free(root); /* the root key is needed for nothing else */
    root = NULL;
    ca_token_key_free(&root_token);
    snprintf(result->new_serial, sizeof(result->new_serial), "%s", issuing.serial_hex);
    if (cl_cert_validity(issuing.cert_der, issuing.cert_len, &from, &result->new_not_after) !=
        CL_OK)
        result->new_not_after = 0;
    if ((mkdir(retired, 0700) != 0 && errno != EEXIST) ||
        (rc = pin_model_chains(ca_dir, old_chain)) != CL_OK) {
        rc = CL_ERR_IO;
        snprintf(err, errlen, "cannot prepare %s for the rollover: %s", ca_dir, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < 3; i++) {
        /* retired/issuing-<SERIAL>.key.enc, issuing-<SERIAL>.crt, chain-<SERIAL>.crt (no key
         * file when the key is in a token, where the old key stays under its own CKA_ID) */
        if (i == 0 && path_of(key_file, ca_dir, switched[0]) == CL_OK && !exists(key_file))
            continue;
        snprintf(keep, sizeof(keep), "%s-%s.%s", i == 2 ? "chain" : "issuing", result->old_serial,
                 i == 0 ? "key.enc" : "crt");
        if ((rc = retire(ca_dir, switched[i], retired, keep)) != CL_OK) {
            snprintf(err, errlen, "cannot keep the old issuing CA in %s: %s", retired,
                     strerror(errno));
            goto out;
        }
    }
    if ((rc = sync_dir(retired)) != CL_OK ||
        (rc = write_next(ca_dir, &issuing, root_pem, passphrase, &new_pem)) != CL_OK ||
        (rc = switch_files(ca_dir, switched, 3)) != CL_OK) {
        snprintf(err, errlen, "cannot write the new issuing CA into %s: %s", ca_dir,
                 cl_err_str(rc));
        goto out;
    }
    /* Issuance has switched. The models' common certificates follow, each on its own. */
    if (concat(new_pem, root_pem, &new_chain) == CL_OK &&
        (issuing.key_der != NULL
             ? cl_signer_new(issuing.cert_der, issuing.cert_len, issuing.key_der, issuing.key_len,
                             organisation, &next, err, errlen)
             : cl_signer_new_with_key(issuing.cert_der, issuing.cert_len, &next_token.sign,
                                      organisation, &next, err, errlen)) == CL_OK)
        renew_models(ca_dir, next, new_chain, passphrase, result);
    err[0] = '\0';
    rc = CL_OK;
out:
    if (rc != CL_OK && !exists(path))
        remove_next(ca_dir, switched, 3);
    cl_signer_free(root); /* the signers before their tokens */
    cl_signer_free(next);
    ca_token_key_free(&root_token);
    if (rc != CL_OK && !exists(path))
        ca_token_key_discard(&next_token); /* nothing refers to the new key: not left behind */
    else
        ca_token_key_free(&next_token);
    cl_issued_free(&issuing);
    free(root_pem);
    free(old_pem);
    free(old_chain);
    free(new_pem);
    free(new_chain);
    return rc;
}
