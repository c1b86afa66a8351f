/* lifecycle.c: the issuing CA's remaining lifetime (warnings, refusal once ended) and the
 * operator commands ca-status and rollover. */
#include "lifecycle.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/x509_crt.h>

#include "atomic_file.h"
#include "cli.h"
#include "commands.h"
#include "error.h"
#include "log.h"
#include "rollover.h"
#include "store.h"
#include "x509_issue.h"

#define DAY 86400
#define CERT_FILE_MAX (64 * 1024)
#define ROLLOVER_DAYS_DEFAULT 3650

static void utc(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

enum ca_life ca_life_of(const struct ca_config *config, time_t not_after, time_t now, char *msg,
                        size_t len)
{
    char end[32];

    utc(not_after, end);
    if (now >= not_after) {
        snprintf(msg, len,
                 "the issuing CA ended at %s: ca-server issues nothing more until an operator "
                 "runs `ca-server rollover`",
                 end);
        return CA_LIFE_ENDED;
    }
    if (config->issuing_ca_warn_days > 0 &&
        not_after - now < (time_t)config->issuing_ca_warn_days * DAY) {
        snprintf(msg, len,
                 "the issuing CA ends at %s, in %lld day(s) (issuing_ca_warn_days %lld); every "
                 "certificate issued now ends with it: roll it over with `ca-server rollover`",
                 end, (long long)((not_after - now) / DAY), config->issuing_ca_warn_days);
        return CA_LIFE_ENDING;
    }
    snprintf(msg, len, "the issuing CA ends at %s, in %lld day(s)", end,
             (long long)((not_after - now) / DAY));
    return CA_LIFE_OK;
}

int ca_life_check_issuing(const struct ca_config *config, time_t not_after, char *err,
                          size_t errlen)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static time_t warned_at;
    time_t now = time(NULL);
    char msg[320];

    switch (ca_life_of(config, not_after, now, msg, sizeof(msg))) {
    case CA_LIFE_ENDED:
        snprintf(err, errlen, "%s", msg);
        return CL_ERR_STATE;
    case CA_LIFE_ENDING:
        pthread_mutex_lock(&lock);
        if (warned_at == 0 || now - warned_at >= DAY || now < warned_at) {
            warned_at = now;
            cl_log_warn("%s", msg);
        }
        pthread_mutex_unlock(&lock);
        break;
    case CA_LIFE_OK:
        break;
    }
    return CL_OK;
}

/* ---- ca-status ---- */

struct ca_cert_info {
    char role[16];
    char subject[160];
    char serial[CL_SERIAL_HEX_MAX + 1];
    time_t not_before, not_after;
};

static int cert_info(const char *path, const char *role, struct ca_cert_info *info)
{
    mbedtls_x509_crt crt;
    char *pem = NULL;
    size_t len = 0;
    int rc = cl_read_file_capped(path, CERT_FILE_MAX, &pem, &len);

    if (rc != CL_OK)
        return rc;
    memset(info, 0, sizeof(*info));
    snprintf(info->role, sizeof(info->role), "%s", role);
    mbedtls_x509_crt_init(&crt);
    rc = CL_ERR_PARSE;
    if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, len + 1) == 0 &&
        crt.serial.len <= CL_SERIAL_HEX_MAX / 2 &&
        cl_cert_validity((const unsigned char *)pem, len + 1, &info->not_before,
                         &info->not_after) == CL_OK) {
        mbedtls_x509_dn_gets(info->subject, sizeof(info->subject), &crt.subject);
        for (size_t i = 0; i < crt.serial.len; i++)
            snprintf(info->serial + 2 * i, 3, "%02X", crt.serial.p[i]);
        rc = CL_OK;
    }
    mbedtls_x509_crt_free(&crt);
    free(pem);
    return rc;
}

/* root, the issuing CA in use, then the retired issuing CAs; returns how many (at most max). */
static size_t ca_certs(const char *ca_dir, struct ca_cert_info *out, size_t max)
{
    char path[PATH_MAX];
    struct dirent *e;
    size_t n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "%s/root.crt", ca_dir);
    if (cert_info(path, "root", &out[n]) == CL_OK)
        n++;
    snprintf(path, sizeof(path), "%s/issuing.crt", ca_dir);
    if (cert_info(path, "issuing", &out[n]) == CL_OK)
        n++;
    snprintf(path, sizeof(path), "%s/retired", ca_dir);
    if ((d = opendir(path)) == NULL)
        return n;
    while (n < max && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, "issuing-", 8) != 0 || l < 5 || strcmp(e->d_name + l - 4, ".crt"))
            continue;
        snprintf(path, sizeof(path), "%s/retired/%s", ca_dir, e->d_name);
        if (cert_info(path, "retired", &out[n]) == CL_OK)
            n++;
    }
    closedir(d);
    return n;
}

int ca_command_status(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    struct ca_cert_info certs[34];
    time_t now = time(NULL);
    enum ca_life life = CA_LIFE_OK;
    char msg[320] = "", from[32], to[32];
    size_t n;
    (void)passphrase;

    n = ca_certs(config->ca_dir, certs, sizeof(certs) / sizeof(certs[0]));
    if (n < 2 || strcmp(certs[1].role, "issuing") != 0) {
        fprintf(stderr, "ca-server: %s holds no readable CA (root.crt, issuing.crt)\n",
                config->ca_dir);
        return 1;
    }
    life = ca_life_of(config, certs[1].not_after, now, msg, sizeof(msg));
    if (cl_arg_flag(argc, argv, "--json")) {
        cJSON *doc = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(doc, "certificates");
        for (size_t i = 0; i < n; i++) {
            cJSON *o = cJSON_CreateObject();
            utc(certs[i].not_before, from);
            utc(certs[i].not_after, to);
            cJSON_AddStringToObject(o, "role", certs[i].role);
            cJSON_AddStringToObject(o, "subject", certs[i].subject);
            cJSON_AddStringToObject(o, "serial", certs[i].serial);
            cJSON_AddStringToObject(o, "not_before", from);
            cJSON_AddStringToObject(o, "not_after", to);
            cJSON_AddNumberToObject(
                o, "days_left",
                certs[i].not_after > now ? (double)((certs[i].not_after - now) / DAY) : 0);
            cJSON_AddItemToArray(list, o);
        }
        cJSON_AddStringToObject(doc, "issuing_ca",
                                life == CA_LIFE_OK       ? "ok"
                                : life == CA_LIFE_ENDING ? "ending"
                                                         : "ended");
        cJSON_AddNumberToObject(doc, "issuing_ca_warn_days", (double)config->issuing_ca_warn_days);
        cJSON_AddStringToObject(doc, "message", msg);
        char *text = cJSON_Print(doc);
        if (text != NULL)
            puts(text);
        free(text);
        cJSON_Delete(doc);
    } else {
        printf("%-8s %-40s %-20s %-20s %s\n", "CA", "SERIAL", "NOT BEFORE", "NOT AFTER", "SUBJECT");
        for (size_t i = 0; i < n; i++) {
            utc(certs[i].not_before, from);
            utc(certs[i].not_after, to);
            printf("%-8s %-40s %-20s %-20s %s\n", certs[i].role, certs[i].serial, from, to,
                   certs[i].subject);
        }
        printf("%s%s\n", life == CA_LIFE_OK ? "" : "WARNING: ", msg);
    }
    if (life != CA_LIFE_OK)
        fprintf(stderr, "ca-server: warning: %s\n", msg);
    return 0;
}

/* ---- rollover ---- */

int ca_command_rollover(const struct ca_config *config, const char *passphrase, int argc,
                        char **argv)
{
    const char *days_text = cl_arg_value(argc, argv, "--days");
    struct ca_rollover_result result;
    struct ca_key_place keys;
    struct ca_store *store = NULL;
    char err[512], detail[256], end[32], msg[320];
    int days = ROLLOVER_DAYS_DEFAULT, code = 1;

    if (days_text != NULL && ((days = atoi(days_text)) < 1 || days > 36500)) {
        fprintf(stderr, "ca-server: --days must be 1 to 36500\n");
        return 2;
    }
    if (ca_store_open(config->database.conninfo, &store, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
        return 1;
    }
    keys = ca_config_key_place(config);
    if (ca_rollover(config->ca_dir, config->organisation, passphrase, &keys, days, &result, err,
                    sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: rollover failed: %s (the issuing CA in use is unchanged)\n",
                err);
        goto out;
    }
    if (result.finished_interrupted) {
        snprintf(detail, sizeof(detail), "finished an interrupted rollover to issuing CA %s",
                 result.new_serial);
        ca_store_audit(store, ca_operator_name(), "rollover", detail);
        printf("finished an interrupted rollover: issuance uses issuing CA %s; the models' "
               "common certificates were not renewed (they stay valid until the old issuing "
               "CA ends)\n",
               result.new_serial);
        code = 0;
        goto out;
    }
    utc(result.new_not_after, end);
    snprintf(detail, sizeof(detail), "issuing CA %s replaced by %s (until %s); %d model(s) renewed",
             result.old_serial, result.new_serial, end, result.models_renewed);
    ca_store_audit(store, ca_operator_name(), "rollover", detail);
    printf("issuing CA rolled over: issuance now uses issuing CA %s, valid until %s\n"
           "the old issuing CA %s is kept in %s/retired/; certificates it issued stay valid "
           "until their own end (never after the old CA's)\n"
           "models' common certificates renewed under the new issuing CA: %d",
           result.new_serial, end, result.old_serial, config->ca_dir, result.models_renewed);
    if (result.models_failed > 0)
        printf(" (%d could not be renewed: they keep their earlier common certificate)",
               result.models_failed);
    printf("\nnext: restart every `ca-server serve`; export firmware bundles again "
           "(model-export) for new device images; re-issue service certificates (issue-service) "
           "before the old issuing CA ends\n");
    if (ca_life_of(config, result.new_not_after, time(NULL), msg, sizeof(msg)) != CA_LIFE_OK)
        fprintf(stderr, "ca-server: warning: %s\n", msg);
    code = 0;
out:
    ca_store_close(store);
    return code;
}
