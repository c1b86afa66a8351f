/* commands.c: ca-server's operator commands: init, migrate, issue-service, model-add,
 * model-list, model-export, batch (offline), list, show, revoke, audit. Every action that changes
 * something is recorded in the audit log with the operator's login. */
#include "commands.h"

#include <ctype.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "atomic_file.h"
#include "authority.h"
#include "cli.h"
#include "error.h"
#include "issuer.h"
#include "keyfile.h"
#include "lifecycle.h"
#include "runtime.h"
#include "store.h"

#define LIST_FILE_MAX (4u << 20)
#define OFFLINE_MAX_DEVICES 100000

/* "operator:<login>" for the audit log. */
static const char *operator_name(void)
{
    return ca_operator_name();
}

const char *ca_operator_name(void)
{
    static char name[80];
    const char *login = getenv("SUDO_USER");
    if (login == NULL || login[0] == '\0') {
        struct passwd *pw = getpwuid(geteuid());
        login = pw ? pw->pw_name : "unknown";
    }
    snprintf(name, sizeof(name), "operator:%.64s", login);
    return name;
}

static int open_store(const struct ca_config *config, struct ca_store **store)
{
    char err[512];
    if (ca_store_open(config->database.conninfo, store, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
        return 1;
    }
    return 0;
}

static int open_authority(const struct ca_config *config, const char *passphrase,
                          struct ca_authority **authority)
{
    char err[512];
    if (ca_authority_open(config->ca_dir, config->organisation, passphrase, authority, err,
                          sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
        return 1;
    }
    /* Every operator command that loads the CA says when the issuing CA is ending or ended. */
    if (ca_life_of(config, ca_authority_issuing_not_after(*authority), time(NULL), err,
                   sizeof(err)) != CA_LIFE_OK)
        fprintf(stderr, "ca-server: warning: %s\n", err);
    return 0;
}

/* The positional arguments: those not an option nor an option's value. values_of lists the
 * options that take a value. */
static int positionals(int argc, char **argv, const char *const *values_of, char **out, int max)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            for (const char *const *v = values_of; v && *v; v++)
                if (strcmp(argv[i], *v) == 0)
                    i++;
            continue;
        }
        if (n < max)
            out[n] = argv[i];
        n++;
    }
    return n;
}

static void print_json(cJSON *json)
{
    char *text = cJSON_Print(json);
    if (text != NULL)
        puts(text);
    free(text);
    cJSON_Delete(json);
}

static void format_time(time_t t, char *buf, size_t len)
{
    struct tm tm;
    if (t == 0) {
        snprintf(buf, len, "-");
        return;
    }
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- init, migrate ---- */

static int fingerprint(const char *pem, char out[96])
{
    mbedtls_x509_crt crt;
    unsigned char hash[32];
    int rc = -1;
    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1) == 0) {
        mbedtls_sha256_ret(crt.raw.p, crt.raw.len, hash, 0);
        for (int i = 0; i < 32; i++)
            snprintf(out + 3 * i, 4, "%02X%s", hash[i], i < 31 ? ":" : "");
        rc = 0;
    }
    mbedtls_x509_crt_free(&crt);
    return rc;
}

static int run_migrate(const struct ca_config *config, struct ca_store *store)
{
    char err[512];
    int applied = 0;
    (void)config;
    if (ca_store_migrate(store, &applied, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: database migration failed: %s\n", err);
        return 1;
    }
    printf("database: %d migration(s) applied\n", applied);
    return 0;
}

static int cmd_init(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    struct ca_authority *authority = NULL;
    struct ca_store *store = NULL;
    char err[512], detail[256], print[96] = "(unreadable)";
    int code = 1;
    (void)argc;
    (void)argv;

    if (open_store(config, &store) != 0 || run_migrate(config, store) != 0)
        goto out;
    if (ca_authority_create(config->ca_dir, config->organisation, passphrase, err, sizeof(err)) !=
        CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
        goto out;
    }
    if (open_authority(config, passphrase, &authority) != 0)
        goto out;
    fingerprint(ca_authority_root_pem(authority), print);
    snprintf(detail, sizeof(detail), "created the CA in %.120s", config->ca_dir);
    ca_store_audit(store, operator_name(), "init", detail);
    ca_life_of(config, ca_authority_issuing_not_after(authority), time(NULL), err, sizeof(err));
    printf("CA created in %s (root.crt, issuing.crt, chain.crt; keys encrypted)\n"
           "root certificate SHA-256 fingerprint: %s\n%s\n",
           config->ca_dir, print, err);
    code = 0;
out:
    ca_authority_free(authority);
    ca_store_close(store);
    return code;
}

static int cmd_migrate(const struct ca_config *config, const char *passphrase, int argc,
                       char **argv)
{
    struct ca_store *store = NULL;
    int code;
    (void)passphrase;
    (void)argc;
    (void)argv;
    if (open_store(config, &store) != 0)
        return 1;
    code = run_migrate(config, store);
    ca_store_close(store);
    return code;
}

/* ---- service certificates ---- */

static int write_service_files(const char *prefix, const struct cl_issued *issued,
                               const struct ca_authority *authority)
{
    char path[4096], *leaf = NULL, *chain = NULL;
    unsigned char key_pem[4096];
    mbedtls_pk_context pk;
    int rc;

    mbedtls_pk_init(&pk);
    rc = cl_cert_der_to_pem(issued->cert_der, issued->cert_len, &leaf);
    if (rc == CL_OK &&
        (chain = malloc(strlen(leaf) + strlen(ca_authority_issuing_pem(authority)) + 1)) == NULL)
        rc = CL_ERR_NOMEM;
    if (rc == CL_OK && (mbedtls_pk_parse_key(&pk, issued->key_der, issued->key_len, NULL, 0) != 0 ||
                        mbedtls_pk_write_key_pem(&pk, key_pem, sizeof(key_pem)) != 0))
        rc = CL_ERR_CRYPTO;
    if (rc == CL_OK) {
        strcpy(chain, leaf);
        strcat(chain, ca_authority_issuing_pem(authority));
        snprintf(path, sizeof(path), "%s.key", prefix);
        rc = cl_atomic_write_new(path, key_pem, strlen((char *)key_pem), 0600);
    }
    if (rc == CL_OK) {
        snprintf(path, sizeof(path), "%s.crt", prefix);
        rc = cl_atomic_write(path, leaf, strlen(leaf), 0644);
    }
    if (rc == CL_OK) {
        snprintf(path, sizeof(path), "%s.chain.crt", prefix);
        rc = cl_atomic_write(path, chain, strlen(chain), 0644);
    }
    if (rc == CL_OK) {
        snprintf(path, sizeof(path), "%s.root.crt", prefix);
        rc = cl_atomic_write(path, ca_authority_root_pem(authority),
                             strlen(ca_authority_root_pem(authority)), 0644);
    }
    if (rc != CL_OK)
        fprintf(stderr, "ca-server: cannot write %s: %s\n", path,
                rc == CL_ERR_EXISTS ? "it exists already (refusing to replace a key)"
                                    : cl_err_str(rc));
    mbedtls_pk_free(&pk);
    memset(key_pem, 0, sizeof(key_pem));
    free(leaf);
    free(chain);
    return rc;
}

static int cmd_issue_service(const struct ca_config *config, const char *passphrase, int argc,
                             char **argv)
{
    static const char *const values[] = {"--out", "--days", NULL};
    char *args[3] = {NULL, NULL, NULL};
    const char *out = cl_arg_value(argc, argv, "--out"),
               *days_text = cl_arg_value(argc, argv, "--days");
    struct ca_authority *authority = NULL;
    struct ca_store *store = NULL;
    struct cl_issued issued = {0};
    int n = positionals(argc, argv, values, args, 3), days = 825, code = 1;
    enum cl_role role;

    if (n < 2 || n > 3 || out == NULL) {
        fprintf(stderr, "usage: ca-server issue-service ROLE NAME [NUMBER] --out PREFIX\n");
        return 2;
    }
    role = cl_role_from_name(args[0]);
    if (role == CL_ROLE_NONE || role == CL_ROLE_DEVICE) {
        fprintf(stderr,
                "ca-server: role must be ca-server, comm-terminal, factory-terminal or "
                "device-common, not \"%.32s\"\n",
                args[0]);
        return 2;
    }
    if ((role == CL_ROLE_FACTORY_TERMINAL || role == CL_ROLE_DEVICE_COMMON) && n != 3) {
        fprintf(stderr, "ca-server: a %s certificate needs its %s (NUMBER)\n", args[0],
                role == CL_ROLE_FACTORY_TERMINAL ? "line id" : "model code");
        return 2;
    }
    if (days_text != NULL && (days = atoi(days_text)) < 1) {
        fprintf(stderr, "ca-server: --days must be a positive number\n");
        return 2;
    }
    if (open_store(config, &store) != 0 || open_authority(config, passphrase, &authority) != 0)
        goto out;
    if (cl_issue_service(ca_authority_signer(authority), role, args[1], n == 3 ? args[2] : NULL,
                         time(NULL) - 60, days, &issued) != CL_OK) {
        fprintf(stderr, "ca-server: cannot issue the certificate (is the name valid?)\n");
        goto out;
    }
    if (write_service_files(out, &issued, authority) != CL_OK)
        goto out;
    if (ca_store_service_issued(store, issued.serial_hex, args[0], args[1], n == 3 ? args[2] : "",
                                operator_name()) != CL_OK) {
        /* Every issuance must be in the audit log: an unrecorded certificate is a failure. */
        fprintf(stderr,
                "ca-server: the certificate (serial %s) was written to %s.* but could not "
                "be recorded in the database; do not deploy it\n",
                issued.serial_hex, out);
        goto out;
    }
    printf("issued %s certificate for %s (serial %s): %s.crt, %s.chain.crt, %s.key, "
           "%s.root.crt\n",
           args[0], args[1], issued.serial_hex, out, out, out, out);
    {
        time_t from, until;
        char when[32];
        if (cl_cert_validity(issued.cert_der, issued.cert_len, &from, &until) == CL_OK) {
            format_time(until, when, sizeof(when));
            printf("valid until %s%s\n", when,
                   until >= ca_authority_issuing_not_after(authority)
                       ? " (the issuing CA's end: no certificate outlives its issuer)"
                       : "");
        }
    }
    code = 0;
out:
    cl_issued_free(&issued);
    ca_authority_free(authority);
    ca_store_close(store);
    return code;
}

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

static int cmd_model_add(const struct ca_config *config, const char *passphrase, int argc,
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

    if (positionals(argc, argv, values, args, 1) != 1) {
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

    if (open_store(config, &store) != 0 || open_authority(config, passphrase, &authority) != 0)
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
    rc = ca_store_model_add(store, &model, operator_name());
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

static int cmd_model_list(const struct ca_config *config, const char *passphrase, int argc,
                          char **argv)
{
    struct ca_store *store = NULL;
    struct ca_model *models = NULL;
    size_t count = 0;
    (void)passphrase;

    if (open_store(config, &store) != 0)
        return 1;
    if (ca_store_model_list(store, &models, &count) != CL_OK) {
        fprintf(stderr, "ca-server: cannot list device models\n");
        ca_store_close(store);
        return 1;
    }
    if (cl_arg_flag(argc, argv, "--json")) {
        cJSON *list = cJSON_CreateArray();
        for (size_t i = 0; i < count; i++) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "code", models[i].code);
            cJSON_AddStringToObject(m, "key_type", models[i].key_type);
            cJSON_AddBoolToObject(m, "certificate_managed", models[i].certificate_managed);
            cJSON_AddStringToObject(m, "key_id", models[i].key_id);
            cJSON_AddItemToArray(list, m);
        }
        print_json(list);
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

static int cmd_model_export(const struct ca_config *config, const char *passphrase, int argc,
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

    if (positionals(argc, argv, values, args, 1) != 1 || out == NULL) {
        fprintf(stderr, "usage: ca-server model-export CODE --out FILE\n");
        return 2;
    }
    if (open_store(config, &store) != 0)
        return 1;
    if (ca_store_model_get(store, args[0], &model) != CL_OK) {
        fprintf(stderr, "ca-server: unknown device model %.16s\n", args[0]);
        goto out;
    }
    if (open_authority(config, passphrase, &authority) != 0)
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
    ca_store_audit(store, operator_name(), "model-export", detail);
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

/* Reads device numbers, one per line (blank lines and # comments skipped). */
static int read_numbers(const char *path, char ***numbers, size_t *count, char **buffer)
{
    size_t len, n = 0;
    char *text = NULL, *line, *save = NULL;
    int rc = cl_read_file_capped(path, LIST_FILE_MAX, &text, &len);

    if (rc != CL_OK) {
        fprintf(stderr, "ca-server: cannot read %s: %s\n", path, cl_err_str(rc));
        return rc;
    }
    *numbers = calloc(OFFLINE_MAX_DEVICES, sizeof(char *));
    if (*numbers == NULL) {
        free(text);
        return CL_ERR_NOMEM;
    }
    for (line = strtok_r(text, "\r\n", &save); line != NULL; line = strtok_r(NULL, "\r\n", &save)) {
        while (isspace((unsigned char)*line))
            line++;
        if (*line == '\0' || *line == '#')
            continue;
        if (n == OFFLINE_MAX_DEVICES) {
            fprintf(stderr, "ca-server: %s lists more than %d device numbers\n", path,
                    OFFLINE_MAX_DEVICES);
            free(*numbers);
            free(text);
            return CL_ERR_TOO_LARGE;
        }
        (*numbers)[n++] = line;
    }
    *count = n;
    *buffer = text;
    return CL_OK;
}

static int cmd_batch(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    static const char *const values[] = {"--out", "--file", "--request-id", NULL};
    const char *out = cl_arg_value(argc, argv, "--out"), *file = cl_arg_value(argc, argv, "--file");
    const char *request_id = cl_arg_value(argc, argv, "--request-id");
    char default_id[64], **numbers = NULL, *buffer = NULL, err[512], id[100];
    struct ca_runtime runtime = {.config = config};
    struct ca_store *store = NULL;
    struct progress_bar bar = {.last_percent = -1, .tty = isatty(STDERR_FILENO)};
    cJSON *doc = NULL, *items_json;
    size_t count = 0;
    int code = 1;

    if (out == NULL) {
        fprintf(stderr, "usage: ca-server batch --out FILE [--request-id ID] [--replacement] "
                        "(--file LIST | DEVICE-NUMBER...)\n");
        return 2;
    }
    if (file != NULL) {
        if (read_numbers(file, &numbers, &count, &buffer) != CL_OK)
            return 1;
    } else {
        numbers = calloc((size_t)argc, sizeof(char *));
        if (numbers == NULL)
            return 1;
        count = (size_t)positionals(argc, argv, values, numbers, argc);
    }
    if (count == 0) {
        fprintf(stderr, "ca-server: no device numbers given\n");
        code = 2;
        goto out;
    }
    if (request_id == NULL) {
        snprintf(default_id, sizeof(default_id), "offline-%lld", (long long)time(NULL));
        request_id = default_id;
    }
    if (strlen(request_id) > 56) {
        fprintf(stderr, "ca-server: --request-id is at most 56 characters\n");
        code = 2;
        goto out;
    }
    if (open_store(config, &store) != 0 || open_authority(config, passphrase, &runtime.authority))
        goto out;
    doc = cJSON_CreateObject();
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
            .requester = operator_name(),
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
    printf("%zu certificate pack(s) written to %s (request id %s)\n", count, out, request_id);
    code = 0;
out:
    cJSON_Delete(doc);
    ca_authority_free(runtime.authority);
    ca_store_close(store);
    free(numbers);
    free(buffer);
    return code;
}

/* ---- list, show, revoke, audit ---- */

static cJSON *row_json(const struct ca_cert_row *row)
{
    char t[32];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "serial", row->serial_hex);
    cJSON_AddStringToObject(o, "device_number", row->device_number);
    cJSON_AddStringToObject(o, "model", row->model_code);
    cJSON_AddStringToObject(o, "state", ca_cert_state_name(row->state));
    cJSON_AddStringToObject(o, "request_id", row->request_id);
    format_time(row->created_at, t, sizeof(t));
    cJSON_AddStringToObject(o, "created_at", t);
    format_time(row->issued_at, t, sizeof(t));
    cJSON_AddStringToObject(o, "issued_at", t);
    format_time(row->installed_at, t, sizeof(t));
    cJSON_AddStringToObject(o, "installed_at", t);
    format_time(row->ended_at, t, sizeof(t));
    cJSON_AddStringToObject(o, "ended_at", t);
    cJSON_AddStringToObject(o, "reason", row->reason);
    return o;
}

static int cmd_list(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    const char *limit_text = cl_arg_value(argc, argv, "--limit");
    long limit = limit_text ? atol(limit_text) : 100;
    struct ca_cert_row *rows = NULL;
    struct ca_store *store = NULL;
    size_t count = 0;
    (void)passphrase;

    if (limit < 1 || limit > 1000000) {
        fprintf(stderr, "ca-server: --limit must be 1..1000000\n");
        return 2;
    }
    if (open_store(config, &store) != 0)
        return 1;
    if (ca_store_cert_list(store, cl_arg_value(argc, argv, "--device"),
                           cl_arg_value(argc, argv, "--model"), cl_arg_value(argc, argv, "--state"),
                           (size_t)limit, &rows, &count) != CL_OK) {
        fprintf(stderr, "ca-server: cannot list certificates\n");
        ca_store_close(store);
        return 1;
    }
    if (cl_arg_flag(argc, argv, "--json")) {
        cJSON *list = cJSON_CreateArray();
        for (size_t i = 0; i < count; i++)
            cJSON_AddItemToArray(list, row_json(&rows[i]));
        print_json(list);
    } else {
        char issued[32], installed[32];
        printf("%-40s %-21s %-6s %-11s %-20s %s\n", "SERIAL", "DEVICE NUMBER", "MODEL", "STATE",
               "ISSUED", "INSTALLED");
        for (size_t i = 0; i < count; i++) {
            format_time(rows[i].issued_at, issued, sizeof(issued));
            format_time(rows[i].installed_at, installed, sizeof(installed));
            printf("%-40s %-21s %-6s %-11s %-20s %s\n", rows[i].serial_hex, rows[i].device_number,
                   rows[i].model_code, ca_cert_state_name(rows[i].state), issued, installed);
        }
        printf("%zu certificate(s)\n", count);
    }
    free(rows);
    ca_store_close(store);
    return 0;
}

static int cmd_show(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    char *args[1] = {NULL}, *pem = NULL;
    struct ca_cert_row *rows = NULL;
    struct ca_store *store = NULL;
    unsigned char *der = NULL;
    size_t count = 0, len = 0;
    int code = 1;
    (void)passphrase;

    if (positionals(argc, argv, NULL, args, 1) != 1) {
        fprintf(stderr, "usage: ca-server show DEVICE-NUMBER [--json]\n");
        return 2;
    }
    if (open_store(config, &store) != 0)
        return 1;
    if (ca_store_cert_list(store, args[0], NULL, NULL, 100, &rows, &count) != CL_OK) {
        fprintf(stderr, "ca-server: cannot read certificates\n");
        goto out;
    }
    if (count == 0) {
        fprintf(stderr, "ca-server: no certificate for %.32s\n", args[0]);
        goto out;
    }
    if (cl_arg_flag(argc, argv, "--json")) {
        cJSON *list = cJSON_CreateArray();
        for (size_t i = 0; i < count; i++) {
            cJSON *o = row_json(&rows[i]);
            if (ca_store_cert_der(store, rows[i].serial_hex, &der, &len) == CL_OK &&
                cl_cert_der_to_pem(der, len, &pem) == CL_OK)
                cJSON_AddStringToObject(o, "certificate_pem", pem);
            free(der);
            free(pem);
            der = NULL;
            pem = NULL;
            cJSON_AddItemToArray(list, o);
        }
        print_json(list);
    } else {
        for (size_t i = 0; i < count; i++) {
            char created[32], issued[32], installed[32], ended[32];
            format_time(rows[i].created_at, created, sizeof(created));
            format_time(rows[i].issued_at, issued, sizeof(issued));
            format_time(rows[i].installed_at, installed, sizeof(installed));
            format_time(rows[i].ended_at, ended, sizeof(ended));
            printf("serial        %s\ndevice number %s\nmodel         %s\nstate         %s\n"
                   "request id    %s\nrecorded      %s\nissued        %s\ninstalled     %s\n"
                   "ended         %s %s\n\n",
                   rows[i].serial_hex, rows[i].device_number, rows[i].model_code,
                   ca_cert_state_name(rows[i].state), rows[i].request_id, created, issued,
                   installed, ended, rows[i].reason);
        }
    }
    code = 0;
out:
    free(rows);
    ca_store_close(store);
    return code;
}

static int cmd_revoke(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    static const char *const values[] = {"--reason", NULL};
    const char *reason = cl_arg_value(argc, argv, "--reason");
    struct ca_store *store = NULL;
    char *args[1] = {NULL};
    int rc;
    (void)passphrase;

    if (positionals(argc, argv, values, args, 1) != 1 || reason == NULL || reason[0] == '\0') {
        fprintf(stderr, "usage: ca-server revoke SERIAL --reason TEXT\n");
        return 2;
    }
    if (strlen(reason) > 256) {
        fprintf(stderr, "ca-server: --reason is at most 256 characters\n");
        return 2;
    }
    if (open_store(config, &store) != 0)
        return 1;
    rc = ca_store_revoke(store, args[0], reason, operator_name());
    ca_store_close(store);
    if (rc != CL_OK) {
        fprintf(stderr, "ca-server: cannot revoke %.48s: %s\n", args[0],
                rc == CL_ERR_NOT_FOUND ? "no such serial"
                : rc == CL_ERR_STATE   ? "it is already superseded or revoked"
                                       : cl_err_str(rc));
        return 1;
    }
    printf("revoked %s\n", args[0]);
    return 0;
}

static int cmd_audit(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    const char *limit_text = cl_arg_value(argc, argv, "--limit");
    long limit = limit_text ? atol(limit_text) : 50;
    struct ca_audit_row *rows = NULL;
    struct ca_store *store = NULL;
    size_t count = 0;
    char at[32];
    (void)passphrase;

    if (limit < 1 || limit > 100000) {
        fprintf(stderr, "ca-server: --limit must be 1..100000\n");
        return 2;
    }
    if (open_store(config, &store) != 0)
        return 1;
    if (ca_store_audit_list(store, (size_t)limit, &rows, &count) != CL_OK) {
        fprintf(stderr, "ca-server: cannot read the audit log\n");
        ca_store_close(store);
        return 1;
    }
    if (cl_arg_flag(argc, argv, "--json")) {
        cJSON *list = cJSON_CreateArray();
        for (size_t i = 0; i < count; i++) {
            cJSON *o = cJSON_CreateObject();
            format_time(rows[i].at, at, sizeof(at));
            cJSON_AddNumberToObject(o, "id", (double)rows[i].id);
            cJSON_AddStringToObject(o, "at", at);
            cJSON_AddStringToObject(o, "actor", rows[i].actor);
            cJSON_AddStringToObject(o, "action", rows[i].action);
            cJSON_AddStringToObject(o, "detail", rows[i].detail);
            cJSON_AddItemToArray(list, o);
        }
        print_json(list);
    } else {
        for (size_t i = 0; i < count; i++) {
            format_time(rows[i].at, at, sizeof(at));
            printf("%-6lld %s %-24s %-14s %s\n", rows[i].id, at, rows[i].actor, rows[i].action,
                   rows[i].detail);
        }
    }
    free(rows);
    ca_store_close(store);
    return 0;
}

const struct ca_command ca_commands[] = {
    {"init", "", "create the CA (root and issuing) in ca_dir and the database schema", 1, cmd_init},
    {"migrate", "", "apply database migrations", 0, cmd_migrate},
    {"serve", "", "serve the ca interface (FIG 21 batches, installation reports, check-ins)", 1,
     ca_command_serve},
    {"issue-service", "ROLE NAME [NUMBER] --out PREFIX [--days N]",
     "issue a service certificate: ca-server, comm-terminal, factory-terminal (NUMBER = line id)",
     1, cmd_issue_service},
    {"model-add", "CODE [--key-type p256|rsa2048|rsa3072] [--not-managed]",
     "register a device model [FIG 19A] and create its secrets", 1, cmd_model_add},
    {"model-list", "[--json]", "list device models", 0, cmd_model_list},
    {"model-export", "CODE --out FILE", "write a model's firmware bundle for device images", 1,
     cmd_model_export},
    {"batch", "--out FILE [--request-id ID] [--replacement] (--file LIST | NUMBER...)",
     "issue packs offline into a file, for delivery without a network", 1, cmd_batch},
    {"list", "[--device D] [--model M] [--state S] [--limit N] [--json]",
     "list issued certificates", 0, cmd_list},
    {"show", "DEVICE-NUMBER [--json]", "show a device number's certificates", 0, cmd_show},
    {"revoke", "SERIAL --reason TEXT", "revoke a certificate", 0, cmd_revoke},
    {"audit", "[--limit N] [--json]", "list the audit log, newest first", 0, cmd_audit},
    {"ca-status", "[--json]",
     "the CA certificates' validity; warns when the issuing CA ends within issuing_ca_warn_days", 0,
     ca_command_status},
    {"rollover", "[--days N]",
     "a new issuing CA under the root (default 3650 days); issuance switches to it, the old one "
     "is kept in ca_dir/retired/ (needs the root key)",
     1, ca_command_rollover},
    {NULL, NULL, NULL, 0, NULL},
};
