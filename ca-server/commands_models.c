/* commands_models.c: the device-model commands [FIG 19A]: model-add, model-set, model-list,
 * model-export. */
#include "commands.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "cli.h"
#include "cli_json.h"
#include "error.h"
#include "keyfile.h"

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

int ca_command_model_add(const struct ca_config *config, const char *passphrase, int argc,
                         char **argv)
{
    static const char *const values[] = {"--key-type", NULL};
    const char *key_type = cl_arg_value(argc, argv, "--key-type");
    struct ca_model model = {0};
    struct ca_authority *authority = NULL;
    struct ca_store *store = NULL;
    enum cl_key_type parsed;
    char *args[1] = {NULL}, err[512], serial[CL_SERIAL_HEX_MAX + 1];
    int code = 1, rc;

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
        ca_open_authority(config, passphrase, &authority) != 0)
        goto out;
    {
        struct ca_model existing;
        if (ca_store_model_get(store, model.code, &existing) == CL_OK) {
            fprintf(stderr, "ca-server: device model %s exists already\n", model.code);
            goto out;
        }
    }
    if (ca_authority_model_create(authority, model.code, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
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
    ca_authority_free(authority);
    ca_store_close(store);
    return code;
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

int ca_command_model_export(const struct ca_config *config, const char *passphrase, int argc,
                            char **argv)
{
    static const char *const values[] = {"--out", NULL};
    const char *out = cl_arg_value(argc, argv, "--out");
    struct ca_authority *authority = NULL;
    struct ca_store *store = NULL;
    struct ca_model model;
    char *args[1] = {NULL}, *json = NULL, err[512], detail[128];
    size_t len = 0;
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
    if (ca_authority_model_bundle(authority, model.code, model.key_type, model.key_id, &json, &len,
                                  err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
        goto out;
    }
    rc = cl_atomic_write_new(out, json, len, 0600);
    if (rc != CL_OK) {
        fprintf(stderr, "ca-server: cannot write %s: %s\n", out,
                rc == CL_ERR_EXISTS ? "it exists already" : cl_err_str(rc));
        goto out;
    }
    snprintf(detail, sizeof(detail), "firmware bundle of %s to %.80s", model.code, out);
    ca_store_audit(store, ca_operator_name(), "model-export", detail);
    printf("firmware bundle of device model %s written to %s (mode 0600: it holds the model's "
           "secrets)\n",
           model.code, out);
    code = 0;
out:
    if (json != NULL)
        cl_secret_free(json, len);
    ca_authority_free(authority);
    ca_store_close(store);
    return code;
}
