/* da_show.c: `device-agent show`: what the flash and NVRAM images hold and every check of them:
 * the image structure (nv_inspect) and the device's own checks of its certificates and sealed
 * keys (chains to the root, subject, keys open with the peculiar key and match, device value).
 * Never prints a key. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cert_check.h"
#include "cli.h"
#include "da_commands.h"
#include "da_identity.h"
#include "error.h"
#include "keyfile.h"
#include "nv_image.h"

#define CHECKS_MAX (NV_CHECKS_MAX + 16)

struct report {
    struct nv_check checks[CHECKS_MAX];
    size_t count;
};

static void add(struct report *r, const char *name, int ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(struct report *r, const char *name, int ok, const char *fmt, ...)
{
    struct nv_check *c;
    va_list ap;

    if (r->count >= CHECKS_MAX)
        return;
    c = &r->checks[r->count++];
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->ok = ok;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
    va_end(ap);
}

static void format_time(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
        snprintf(buf, len, "-");
        return;
    }
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void format_mac(const unsigned char mac[NV_MAC_BYTES], char out[18])
{
    snprintf(out, 18, "%02X:%02X:%02X:%02X:%02X:%02X", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

/* The device's checks of what nv_open found. */
static void device_checks(const struct nv_device *d, struct report *r)
{
    const struct nv_firmware *fw = &d->firmware;
    const char *dn = d->nvram.device_number;
    size_t model_len = strlen(fw->model_code);
    char reason[300], value[CL_VERIFY_HEX + 1];
    unsigned char *key = NULL;
    size_t key_len = 0;
    struct cl_peer peer;

    add(r, "board identity",
        strcmp(d->fixed.model_code, fw->model_code) == 0 &&
            strncmp(dn, fw->model_code, model_len) == 0 && dn[model_len] == '-',
        "model %s (fixed area %s), device number %s", fw->model_code, d->fixed.model_code, dn);

    if (cc_verify(d->common.certificate_pem, fw->chain_pem, fw->root_pem, CC_CLIENT_SERVER, &peer,
                  reason, sizeof(reason)) != CL_OK)
        add(r, "common certificate", 0, "%s", reason);
    else if (peer.role != CL_ROLE_DEVICE_COMMON || strcmp(peer.number, fw->model_code) != 0)
        add(r, "common certificate", 0, "not model %s's (role %s, number %s)", fw->model_code,
            cl_role_name(peer.role), peer.number);
    else
        add(r, "common certificate", 1, "\"%s\", serial %s, chains to the root", peer.name,
            peer.serial_hex);
    add(r, "nvram common certificate",
        d->nvram.common_certificate_pem != NULL && d->common.certificate_pem != NULL &&
            strcmp(d->nvram.common_certificate_pem, d->common.certificate_pem) == 0,
        "%s", "the same as the flash common certificate area");
    if (da_common_key(d, &key, &key_len, reason, sizeof(reason)) != CL_OK) {
        add(r, "common key", 0, "%s", reason);
    } else {
        add(r, "common key", 1, "opens with the peculiar key and matches the certificate");
        cl_secret_free(key, key_len);
    }

    if (!d->has_certificate) {
        add(r, "certificate", -1, "none written yet");
        return;
    }
    const struct nv_certificate *c = &d->current;
    memset(&peer, 0, sizeof(peer));
    if (cc_verify(c->certificate_pem, c->chain_pem, fw->root_pem, CC_CLIENT, &peer, reason,
                  sizeof(reason)) != CL_OK)
        add(r, "certificate chain", 0, "%s", reason);
    else
        add(r, "certificate chain", 1, "serial %s chains to the root", peer.serial_hex);
    add(r, "certificate subject",
        peer.role == CL_ROLE_DEVICE && strcmp(peer.name, dn) == 0 && strcmp(peer.number, dn) == 0 &&
            strcmp(c->device_number, dn) == 0 && strcmp(peer.serial_hex, c->serial_hex) == 0,
        "CN %s, serialNumber %s, role %s (NVRAM device number %s)", peer.name, peer.number,
        cl_role_name(peer.role), dn);
    if (da_own_key(d, &key, &key_len, reason, sizeof(reason)) != CL_OK) {
        add(r, "certificate key", 0, "%s", reason);
        add(r, "device value", 0, "cannot be computed without the key");
        return;
    }
    add(r, "certificate key", 1, "opens with the peculiar key and matches the certificate");
    /* The slot does not say which pack version it came from: the value of either will do. */
    if (cc_verify_values(1, dn, c->serial_hex, c->certificate_pem, key, key_len, NULL, value,
                         NULL) != CL_OK)
        add(r, "device value", 0, "the certificate does not parse");
    else if (!cc_equal(value, c->device_value, CL_VERIFY_HEX) &&
             (cc_verify_values(2, dn, c->serial_hex, c->certificate_pem, key, key_len, NULL, value,
                               NULL) != CL_OK ||
              !cc_equal(value, c->device_value, CL_VERIFY_HEX)))
        add(r, "device value", 0, "recomputed value differs from the stored one");
    else
        add(r, "device value", 1, "recomputed value equals the stored one");
    cl_secret_free(key, key_len);
}

static const char *ok_text(int ok)
{
    return ok > 0 ? "ok" : ok == 0 ? "FAIL" : "n/a";
}

static void print_text(const struct da_config *config, const struct nv_device *d, int opened,
                       const char *open_error, const struct report *r, size_t failures)
{
    char t1[32], t2[32], mac[18];

    printf("flash image        %s\nnvram image        %s\n", config->flash_image,
           config->nvram_image);
    if (!opened) {
        printf("images             do not open: %s\n", open_error);
    } else {
        format_mac(d->fixed.mac, mac);
        format_time(d->fixed.board_made_at, t1, sizeof(t1));
        printf("device number      %s\n"
               "model              %s (device keys %s, pre-write key id %s)\n"
               "MAC address        %s\n"
               "board made         %s\n"
               "initial values     operational %u, APL %u\n",
               d->nvram.device_number, d->firmware.model_code, d->firmware.key_type,
               d->firmware.key_id, mac, t1, d->nvram.initial_operational_value,
               d->nvram.initial_apl_value);
        format_time(d->nvram.counters.last_write_at, t2, sizeof(t2));
        printf("counters           %u certificate write(s), %u failed, last write %s\n",
               d->nvram.counters.certificate_writes, d->nvram.counters.failed_writes, t2);
        if (d->has_certificate) {
            format_time(d->current.written_at, t1, sizeof(t1));
            printf("certificate        serial %s (%s), slot %d, sequence %llu, written %s\n",
                   d->current.serial_hex, d->current.key_type, d->current_slot,
                   (unsigned long long)d->current.sequence, t1);
        } else {
            printf("certificate        none written yet (common certificate only)\n");
        }
    }
    printf("checks:\n");
    for (size_t i = 0; i < r->count; i++)
        printf("  %-5s %-26s %s\n", ok_text(r->checks[i].ok), r->checks[i].name,
               r->checks[i].detail);
    if (failures == 0)
        printf("all checks pass\n");
    else
        printf("%zu check(s) fail\n", failures);
}

static void print_json(const struct da_config *config, const struct nv_device *d, int opened,
                       const char *open_error, const struct report *r, size_t failures)
{
    cJSON *o = cJSON_CreateObject(), *checks, *cert, *counters;
    char mac[18], *text;

    cJSON_AddStringToObject(o, "flash_image", config->flash_image);
    cJSON_AddStringToObject(o, "nvram_image", config->nvram_image);
    cJSON_AddBoolToObject(o, "opened", opened);
    if (!opened) {
        cJSON_AddStringToObject(o, "error", open_error);
    } else {
        format_mac(d->fixed.mac, mac);
        cJSON_AddStringToObject(o, "device_number", d->nvram.device_number);
        cJSON_AddStringToObject(o, "model", d->firmware.model_code);
        cJSON_AddStringToObject(o, "key_type", d->firmware.key_type);
        cJSON_AddStringToObject(o, "key_id", d->firmware.key_id);
        cJSON_AddStringToObject(o, "mac", mac);
        cJSON_AddNumberToObject(o, "board_made_at", (double)d->fixed.board_made_at);
        cJSON_AddNumberToObject(o, "initial_operational_value", d->nvram.initial_operational_value);
        cJSON_AddNumberToObject(o, "initial_apl_value", d->nvram.initial_apl_value);
        counters = cJSON_AddObjectToObject(o, "counters");
        cJSON_AddNumberToObject(counters, "certificate_writes",
                                d->nvram.counters.certificate_writes);
        cJSON_AddNumberToObject(counters, "failed_writes", d->nvram.counters.failed_writes);
        cJSON_AddNumberToObject(counters, "last_write_at", (double)d->nvram.counters.last_write_at);
        if (d->has_certificate) {
            cert = cJSON_AddObjectToObject(o, "certificate");
            cJSON_AddStringToObject(cert, "serial", d->current.serial_hex);
            cJSON_AddStringToObject(cert, "device_number", d->current.device_number);
            cJSON_AddStringToObject(cert, "key_type", d->current.key_type);
            cJSON_AddNumberToObject(cert, "slot", d->current_slot);
            cJSON_AddNumberToObject(cert, "sequence", (double)d->current.sequence);
            cJSON_AddNumberToObject(cert, "written_at", (double)d->current.written_at);
        } else {
            cJSON_AddNullToObject(o, "certificate");
        }
    }
    checks = cJSON_AddArrayToObject(o, "checks");
    for (size_t i = 0; i < r->count; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", r->checks[i].name);
        if (r->checks[i].ok < 0)
            cJSON_AddNullToObject(c, "ok");
        else
            cJSON_AddBoolToObject(c, "ok", r->checks[i].ok);
        cJSON_AddStringToObject(c, "detail", r->checks[i].detail);
        cJSON_AddItemToArray(checks, c);
    }
    cJSON_AddNumberToObject(o, "failures", (double)failures);
    cJSON_AddBoolToObject(o, "ok", failures == 0);
    if ((text = cJSON_Print(o)) != NULL)
        puts(text);
    free(text);
    cJSON_Delete(o);
}

int da_command_show(const struct da_config *config, int argc, char **argv)
{
    static struct report report;
    struct nv_device device;
    char err[512] = "";
    size_t failures = 0;
    int opened;

    for (int i = 0; i < 2; i++) {
        const char *path = i == 0 ? config->flash_image : config->nvram_image;
        if (access(path, F_OK) != 0) {
            fprintf(stderr, "device-agent show: %s: no such image (make it with mkimage)\n", path);
            return DA_EXIT_ERROR;
        }
    }
    report.count =
        nv_inspect(config->flash_image, config->nvram_image, report.checks, NV_CHECKS_MAX);
    if (report.count > NV_CHECKS_MAX)
        report.count = NV_CHECKS_MAX;
    opened = nv_open(config->flash_image, config->nvram_image, &device, err, sizeof(err)) == CL_OK;
    if (opened)
        device_checks(&device, &report);
    else
        add(&report, "images open", 0, "%s", err);
    for (size_t i = 0; i < report.count; i++)
        failures += report.checks[i].ok == 0;
    if (cl_arg_flag(argc, argv, "--json"))
        print_json(config, &device, opened, err, &report, failures);
    else
        print_text(config, &device, opened, err, &report, failures);
    if (opened)
        nv_close(&device);
    return failures == 0 ? DA_EXIT_OK : DA_EXIT_FAILED;
}
