/* commands_models.c: the device-model commands [FIG 19A]: model-add, model-set, model-list,
 * model-export, and a model's pre-write keys per period [seed 004, effect 3]: model-rotate,
 * model-keys. */
#include "commands.h"

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "atomic_file.h"
#include "cli.h"
#include "cli_json.h"
#include "error.h"
#include "keyfile.h"
#include "prewrite_token.h"

/* ---- device models ---- */

static int valid_model_code(const char *code)
{
    size_t n = strlen(code);
    if (n < 1 || n > CA_MODEL_CODE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)code[i]) && !isupper((unsigned char)code[i]))
            return 0;
    return 1;
}

/* model-add and model-rotate take the database's model lock first, so that two of them, from any
 * instance or host, never run at once: in token mode two could each make a storage key
 * (prewrite_token.c), and two model-add of one code could both find it free. Waits up to
 * MODELS_LOCK_WAIT_S for one that runs; 0, or 1 with the reason on stderr. */
#define MODELS_LOCK_WAIT_S 120
static int models_lock(struct ca_store *store)
{
    const struct timespec pause = {0, 200 * 1000 * 1000};
    char err[256] = "";
    int got = 0;

    for (int tries = 0;; tries++) {
        if (ca_store_models_try_lock(store, &got, err, sizeof(err)) != CL_OK) {
            fprintf(stderr, "ca-server: cannot take the model lock: %s\n", err);
            return 1;
        }
        if (got)
            return 0;
        if (tries == 0)
            fprintf(stderr, "ca-server: waiting for another model-add or model-rotate on this "
                            "database to finish\n");
        if (tries >= MODELS_LOCK_WAIT_S * 5) {
            fprintf(stderr,
                    "ca-server: another model-add or model-rotate has held the model lock for "
                    "%d s (a ca-server command still running, on this host or another); try "
                    "again when it has finished\n",
                    MODELS_LOCK_WAIT_S);
            return 1;
        }
        nanosleep(&pause, NULL);
    }
}

/* The end of model-add and model-rotate: everything they opened closed, the lock given back;
 * returns code. */
static int models_end(int code, struct ca_prewrite_token *pt, int locked,
                      struct ca_authority *authority, struct ca_store *store)
{
    ca_prewrite_token_free(pt);
    if (locked)
        ca_store_models_unlock(store);
    ca_authority_free(authority);
    ca_store_close(store);
    return code;
}

/* Token mode: the model's first pre-write key is kept wrapped under the token's storage key
 * (prewrite_token.h), and its passphrase file goes. */
static int first_key_to_token(const struct ca_config *config, struct ca_prewrite_token *pt,
                              struct ca_authority *authority, const struct ca_model *model,
                              char *err, size_t errlen)
{
    unsigned char key[CL_PREWRITE_KEY_BYTES];
    char path[PATH_MAX], relative[160], label[96];
    int rc = ca_authority_prewrite_key(authority, model->code, model->key_id, 1, key, err, errlen);

    if (rc == CL_OK)
        rc = ca_prewrite_token_store(pt, config->ca_dir, model->code, model->key_id, 1, key, err,
                                     errlen);
    mbedtls_platform_zeroize(key, sizeof(key));
    if (rc == CL_OK &&
        ca_prewrite_place(model->code, model->key_id, 1, "enc", relative, sizeof(relative), label,
                          sizeof(label)) == CL_OK &&
        snprintf(path, sizeof(path), "%s/%s", config->ca_dir, relative) < (int)sizeof(path))
        unlink(path);
    return rc;
}

int ca_command_model_add(const struct ca_config *config, const char *passphrase, int argc,
                         char **argv)
{
    static const char *const values[] = {"--key-type", NULL};
    const char *key_type = cl_arg_value(argc, argv, "--key-type");
    struct ca_model model = {0};
    struct ca_authority *authority = NULL;
    struct ca_store *store = NULL;
    struct ca_prewrite_token *pt = NULL;
    enum cl_key_type parsed;
    char *args[1] = {NULL}, err[512], serial[CL_SERIAL_HEX_MAX + 1];
    int code = 1, locked = 0, rc;

    if (ca_positionals(argc, argv, values, args, 1) != 1) {
        fprintf(stderr, "usage: ca-server model-add CODE [--key-type p256|rsa2048|rsa3072] "
                        "[--not-managed]\n");
        return 2;
    }
    if (!valid_model_code(args[0])) {
        fprintf(stderr, "ca-server: a device code is 1 to 8 characters 0-9 A-Z, not \"%.16s\"\n",
                args[0]);
        return 2;
    }
    if (key_type == NULL)
        key_type = "p256";
    if (cl_key_type_parse(key_type, &parsed) != CL_OK) {
        fprintf(stderr, "ca-server: unknown key type \"%.16s\" (p256, rsa2048, rsa3072)\n",
                key_type);
        return 2;
    }
    snprintf(model.code, sizeof(model.code), "%s", args[0]);
    snprintf(model.key_type, sizeof(model.key_type), "%s", key_type);
    model.certificate_managed = !cl_arg_flag(argc, argv, "--not-managed");
    if (cl_serial_random(serial) != CL_OK)
        return 1;
    snprintf(model.key_id, sizeof(model.key_id), "%s-%.8s", model.code, serial);

    if (ca_open_store(config, &store) != 0 ||
        ca_open_authority(config, passphrase, &authority) != 0 || models_lock(store) != 0)
        goto out;
    locked = 1;
    {
        struct ca_model existing;
        if (ca_store_model_get(store, model.code, &existing) == CL_OK) {
            fprintf(stderr, "ca-server: device model %s exists already\n", model.code);
            goto out;
        }
    }
    /* The token (and its storage key) first: a token that fails leaves nothing behind. */
    if (ca_prewrite_token_of(config, 1, &pt, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: device_key_token: %s\n", err);
        goto out;
    }
    if (ca_authority_model_create(authority, model.code, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
        goto out;
    }
    if (pt != NULL &&
        first_key_to_token(config, pt, authority, &model, err, sizeof(err)) != CL_OK) {
        fprintf(stderr,
                "ca-server: %s (the model's secrets were created in %s/models/%s; remove that "
                "folder before retrying)\n",
                err, config->ca_dir, model.code);
        goto out;
    }
    rc = ca_store_model_add(store, &model, ca_operator_name());
    if (rc != CL_OK) {
        fprintf(stderr,
                "ca-server: cannot record device model %s: %s (its secrets were created "
                "in %s/models/%s; remove that folder before retrying)\n",
                model.code, cl_err_str(rc), config->ca_dir, model.code);
        goto out;
    }
    printf("device model %s added: key type %s, %s, pre-write key id %s\n", model.code,
           model.key_type,
           model.certificate_managed ? "certificate-managed" : "not certificate-managed",
           model.key_id);
    code = 0;
out:
    return models_end(code, pt, locked, authority, store);
}

/* ca-server holds the one model list: a model's flag is changed here, and every comm-terminal
 * reads it (ca:Models) with its next fetch or models-sync. */
int ca_command_model_set(const struct ca_config *config, const char *passphrase, int argc,
                         char **argv)
{
    static const char *const values[] = {NULL};
    int managed = cl_arg_flag(argc, argv, "--managed"),
        not_managed = cl_arg_flag(argc, argv, "--not-managed");
    struct ca_store *store = NULL;
    char *args[1] = {NULL};
    int rc;
    (void)passphrase;

    if (ca_positionals(argc, argv, values, args, 1) != 1 || managed == not_managed) {
        fprintf(stderr, "usage: ca-server model-set CODE --managed|--not-managed\n");
        return 2;
    }
    if (!valid_model_code(args[0])) {
        fprintf(stderr, "ca-server: a device code is 1 to 8 characters 0-9 A-Z, not \"%.16s\"\n",
                args[0]);
        return 2;
    }
    if (ca_open_store(config, &store) != 0)
        return 1;
    rc = ca_store_model_set_managed(store, args[0], managed, ca_operator_name());
    ca_store_close(store);
    if (rc != CL_OK) {
        fprintf(stderr, "ca-server: cannot change device model %s: %s\n", args[0],
                rc == CL_ERR_NOT_FOUND ? "it is not registered (model-add)" : cl_err_str(rc));
        return 1;
    }
    printf("device model %s: %scertificate-managed (comm-terminals read it at their next fetch "
           "or models-sync)\n",
           args[0], managed ? "" : "not ");
    return 0;
}

static void model_json(cJSON *o, const void *row)
{
    const struct ca_model *model = row;
    cJSON_AddStringToObject(o, "code", model->code);
    cJSON_AddStringToObject(o, "key_type", model->key_type);
    cJSON_AddBoolToObject(o, "certificate_managed", model->certificate_managed);
    cJSON_AddStringToObject(o, "key_id", model->key_id);
}

int ca_command_model_list(const struct ca_config *config, const char *passphrase, int argc,
                          char **argv)
{
    struct ca_store *store = NULL;
    struct ca_model *models = NULL;
    size_t count = 0;
    (void)passphrase;

    if (ca_open_store(config, &store) != 0)
        return 1;
    if (ca_store_model_list(store, &models, &count) != CL_OK) {
        fprintf(stderr, "ca-server: cannot list device models\n");
        ca_store_close(store);
        return 1;
    }
    if (cl_arg_flag(argc, argv, "--json")) {
        cl_print_json_rows(models, count, sizeof(*models), model_json);
    } else {
        printf("%-4s %-8s %-8s %-12s %s\n", "No", "CODE", "KEY", "CERTIFICATE", "KEY ID");
        for (size_t i = 0; i < count; i++)
            printf("%-4zu %-8s %-8s %-12s %s\n", i + 1, models[i].code, models[i].key_type,
                   models[i].certificate_managed ? "YES" : "NO", models[i].key_id);
    }
    free(models);
    ca_store_close(store);
    return 0;
}

/* The keys a bundle carries [seed 004, effect 3]: the model's current pre-write key and those
 * scheduled after it, so a device built now opens every pack issued while its firmware is in
 * production; keys that ended before now stay out (a firmware leak exposes no earlier period). */
static int bundle_keys(struct ca_store *store, const char *code, struct ca_prewrite_key **all,
                       struct ca_bundle_key keys[CA_BUNDLE_KEYS_MAX], size_t *count)
{
    size_t n = 0, current = SIZE_MAX;

    if (ca_store_prewrite_list(store, code, time(NULL), all, &n) != CL_OK) {
        fprintf(stderr, "ca-server: cannot read the pre-write keys of model %s\n", code);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if ((*all)[i].current)
            current = i;
    if (current == SIZE_MAX) {
        fprintf(stderr, "ca-server: device model %s has no pre-write key in force\n", code);
        return 1;
    }
    if (n - current > CA_BUNDLE_KEYS_MAX) {
        fprintf(stderr, "ca-server: model %s has %zu keys from now on; a bundle carries %d\n", code,
                n - current, CA_BUNDLE_KEYS_MAX);
        return 1;
    }
    *count = n - current;
    for (size_t i = current; i < n; i++)
        keys[i - current] = (struct ca_bundle_key){(*all)[i].key_id, (*all)[i].first, NULL};
    return 0;
}

int ca_command_model_export(const struct ca_config *config, const char *passphrase, int argc,
                            char **argv)
{
    static const char *const values[] = {"--out", NULL};
    const char *out = cl_arg_value(argc, argv, "--out");
    struct ca_authority *authority = NULL;
    struct ca_store *store = NULL;
    struct ca_model model;
    struct ca_prewrite_key *all = NULL;
    struct ca_bundle_key keys[CA_BUNDLE_KEYS_MAX];
    unsigned char clear[CA_BUNDLE_KEYS_MAX][CL_PREWRITE_KEY_BYTES];
    struct ca_prewrite_token *pt = NULL;
    char *args[1] = {NULL}, *json = NULL, err[512], detail[160];
    size_t len = 0, key_count = 0;
    int code = 1, rc;

    if (ca_positionals(argc, argv, values, args, 1) != 1 || out == NULL) {
        fprintf(stderr, "usage: ca-server model-export CODE --out FILE\n");
        return 2;
    }
    if (ca_open_store(config, &store) != 0)
        return 1;
    if (ca_store_model_get(store, args[0], &model) != CL_OK) {
        fprintf(stderr, "ca-server: unknown device model %.16s\n", args[0]);
        goto out;
    }
    if (ca_open_authority(config, passphrase, &authority) != 0)
        goto out;
    if (bundle_keys(store, model.code, &all, keys, &key_count) != 0)
        goto out;
    if (ca_prewrite_token_of(config, 0, &pt, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: device_key_token: %s\n", err);
        goto out;
    }
    for (size_t i = 0; pt != NULL && i < key_count; i++) { /* kept wrapped: out of the token */
        rc = ca_prewrite_token_value(pt, config->ca_dir, model.code, keys[i].key_id, keys[i].first,
                                     clear[i], err, sizeof(err));
        if (rc == CL_OK)
            keys[i].value = clear[i];
        else if (rc != CL_ERR_NOT_FOUND) {
            fprintf(stderr, "ca-server: pre-write key %s: %s\n", keys[i].key_id, err);
            goto out;
        }
    }
    if (ca_authority_model_bundle(authority, model.code, model.key_type, keys, key_count, &json,
                                  &len, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
        goto out;
    }
    rc = cl_atomic_write_new(out, json, len, 0600);
    if (rc != CL_OK) {
        fprintf(stderr, "ca-server: cannot write %s: %s\n", out,
                rc == CL_ERR_EXISTS ? "it exists already" : cl_err_str(rc));
        goto out;
    }
    snprintf(detail, sizeof(detail), "firmware bundle of %s (key %s and %zu later) to %.64s",
             model.code, keys[0].key_id, key_count - 1, out);
    ca_store_audit(store, ca_operator_name(), "model-export", detail);
    printf("firmware bundle of device model %s written to %s (mode 0600: it holds the model's "
           "secrets)\n",
           model.code, out);
    code = 0;
out:
    if (json != NULL)
        cl_secret_free(json, len);
    mbedtls_platform_zeroize(clear, sizeof(clear));
    ca_prewrite_token_free(pt);
    free(all);
    ca_authority_free(authority);
    ca_store_close(store);
    return code;
}

/* "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SSZ" as unix time; -1 if malformed. */
static time_t parse_moment(const char *text)
{
    struct tm tm = {0};
    int n = 0;

    if (sscanf(text, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3)
        return -1;
    if (text[n] == 'T') {
        int m = 0;
        if (sscanf(text + n, "T%2d:%2d:%2dZ%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &m) != 3 ||
            m == 0 || text[n + m] != '\0')
            return -1;
    } else if (text[n] != '\0') {
        return -1;
    }
    if (tm.tm_year < 2000 || tm.tm_year > 9999 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

int ca_command_model_rotate(const struct ca_config *config, const char *passphrase, int argc,
                            char **argv)
{
    static const char *const values[] = {"--from", NULL};
    const char *from = cl_arg_value(argc, argv, "--from");
    struct ca_authority *authority = NULL;
    struct ca_store *store = NULL;
    struct ca_prewrite_key key = {0};
    struct ca_prewrite_token *pt = NULL;
    struct ca_model model;
    char *args[1] = {NULL}, err[512] = "", serial[CL_SERIAL_HEX_MAX + 1], when[32];
    time_t now = time(NULL);
    int code = 1, locked = 0, rc;

    if (ca_positionals(argc, argv, values, args, 1) != 1) {
        fprintf(stderr, "usage: ca-server model-rotate CODE [--from YYYY-MM-DD[THH:MM:SSZ]]\n");
        return 2;
    }
    key.valid_from = from != NULL ? parse_moment(from) : now;
    if (key.valid_from < 0) {
        fprintf(stderr, "ca-server: --from takes YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)\n");
        return 2;
    }
    if (key.valid_from < now)
        key.valid_from = now; /* a key never applies to packs already issued */
    if (ca_open_store(config, &store) != 0)
        return 1;
    if (ca_store_model_get(store, args[0], &model) != CL_OK) {
        fprintf(stderr, "ca-server: unknown device model %.16s\n", args[0]);
        goto out;
    }
    /* A passphrase asked for before the lock, not while holding it. */
    if ((config->device_key_token[0] == '\0' &&
         ca_open_authority(config, passphrase, &authority) != 0) ||
        models_lock(store) != 0)
        goto out;
    locked = 1;
    if (cl_serial_random(serial) != CL_OK)
        goto out;
    snprintf(key.model_code, sizeof(key.model_code), "%s", model.code);
    snprintf(key.key_id, sizeof(key.key_id), "%s-%.8s", model.code, serial);
    /* The key first, then its row: a row never names a key that is not there. In token mode
     * the key is made and kept wrapped under the token's storage key, else in a passphrase
     * file. */
    if (ca_prewrite_token_of(config, 1, &pt, err, sizeof(err)) != CL_OK ||
        (pt != NULL ? ca_prewrite_token_store(pt, config->ca_dir, model.code, key.key_id, 0, NULL,
                                              err, sizeof(err))
                    : ca_authority_prewrite_create(authority, model.code, key.key_id, err,
                                                   sizeof(err))) != CL_OK) {
        if (err[0] != '\0')
            fprintf(stderr, "ca-server: %s\n", err);
        goto out;
    }
    if ((rc = ca_store_prewrite_add(store, &key, ca_operator_name())) != CL_OK) {
        fprintf(stderr,
                "ca-server: cannot record pre-write key %s of model %s: %s (its file "
                "%s/models/%s/prewrite-%s.%s is unused; remove it)\n",
                key.key_id, model.code,
                rc == CL_ERR_EXISTS ? "the model has a key from that moment" : cl_err_str(rc),
                config->ca_dir, model.code, key.key_id, pt != NULL ? "wrapped" : "enc");
        goto out;
    }
    ca_format_time(key.valid_from, when, sizeof(when));
    printf("device model %s: new pre-write key id %s, in force from %s; export the firmware "
           "bundle again (model-export) for devices that must open packs issued from then on\n",
           model.code, key.key_id, when);
    code = 0;
out:
    return models_end(code, pt, locked, authority, store);
}

static void prewrite_json(cJSON *o, const void *row)
{
    const struct ca_prewrite_key *key = row;
    cJSON_AddStringToObject(o, "key_id", key->key_id);
    cJSON_AddNumberToObject(o, "valid_from", (double)key->valid_from);
    cJSON_AddNumberToObject(o, "created_at", (double)key->created_at);
    cJSON_AddBoolToObject(o, "current", key->current);
}

int ca_command_model_keys(const struct ca_config *config, const char *passphrase, int argc,
                          char **argv)
{
    struct ca_store *store = NULL;
    struct ca_prewrite_key *keys = NULL;
    char *args[1] = {NULL}, from[32];
    size_t count = 0;
    int code = 1;
    (void)passphrase;

    if (ca_positionals(argc, argv, NULL, args, 1) != 1) {
        fprintf(stderr, "usage: ca-server model-keys CODE [--json]\n");
        return 2;
    }
    if (ca_open_store(config, &store) != 0)
        return 1;
    if (ca_store_prewrite_list(store, args[0], time(NULL), &keys, &count) != CL_OK || count == 0) {
        fprintf(stderr, "ca-server: no pre-write keys for device model %.16s\n", args[0]);
        goto out;
    }
    if (cl_arg_flag(argc, argv, "--json")) {
        cl_print_json_rows(keys, count, sizeof(*keys), prewrite_json);
    } else {
        printf("%-24s %-21s %s\n", "KEY ID", "IN FORCE FROM", "");
        for (size_t i = 0; i < count; i++) {
            ca_format_time(keys[i].valid_from, from, sizeof(from));
            printf("%-24s %-21s %s\n", keys[i].key_id, from,
                   keys[i].current                   ? "current"
                   : keys[i].valid_from > time(NULL) ? "scheduled"
                                                     : "ended");
        }
    }
    code = 0;
out:
    free(keys);
    ca_store_close(store);
    return code;
}
