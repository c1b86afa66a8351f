/* da_commands.c: the command table and the offline commands of device-agent: mkimage (a blank
 * board as at step S1703), install (the write module on a service bench, without network) and
 * check-in (the device presents its own certificate to ca-server [effect 1]). */
#include "da_commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "atomic_file.h"
#include "cli.h"
#include "da_identity.h"
#include "client_failover.h"
#include "error.h"
#include "firmware_bundle.h"
#include "input_check.h"
#include "keyfile.h"
#include "log.h"
#include "pack_install.h"
#include "peculiar_key.h"
#include "soapH.h"
#include "soap_client.h"

#define DEFAULT_OPERATIONAL_VALUE 0
#define DEFAULT_APL_VALUE 0

static const char *const mkimage_values[] = {
    "--device-number",     "--mac", "--bundle", "--initial-operational-value",
    "--initial-apl-value", NULL};
static const char *const mkimage_flags[] = {"--force", NULL};
static const char *const show_flags[] = {"--json", NULL};
static const char *const serve_values[] = {"--fail-writes", "--power-cut-after-step",
                                           "--delay-write-result-ms", NULL};
static const char *const serve_flags[] = {"--once", NULL};
static const char *const install_values[] = {"--fail-at-step", "--power-cut-after-step", NULL};
static const char *const check_in_flags[] = {"--json", NULL};
static const char *const none[] = {NULL};

const struct da_command da_commands[] = {
    {"mkimage",
     "--device-number DN --mac AA:BB:CC:DD:EE:FF --bundle FILE [--force] "
     "[--initial-operational-value N] [--initial-apl-value N]",
     "makes the flash and NVRAM images of a blank board (step S1703)", mkimage_values,
     mkimage_flags, 0, da_command_mkimage},
    {"show", "[--json]", "what the images hold, and whether every check passes", none, show_flags,
     0, da_command_show},
    {"serve", "[--once] [--fail-writes N] [--power-cut-after-step N] [--delay-write-result-ms N]",
     "serves the writing interface to the factory terminal (S7/S8) and reports writes (S10)",
     serve_values, serve_flags, 0, da_command_serve},
    {"install", "PACKFILE [--fail-at-step N] [--power-cut-after-step N]",
     "checks and writes a certificate pack from a file, without network (service bench)",
     install_values, none, 1, da_command_install},
    {"check-in", "[--json]",
     "presents the device's own certificate to ca-server and shows the state it reports", none,
     check_in_flags, 0, da_command_check_in},
    {NULL, NULL, NULL, NULL, NULL, 0, NULL},
};

const struct da_command *da_command_find(const char *name)
{
    for (const struct da_command *c = da_commands; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

int da_int_option(const char *command, const char *name, const char *text, long long min,
                  long long max, long long *out)
{
    char *end = NULL;
    long long v;

    errno = 0;
    v = text != NULL && text[0] >= '0' && text[0] <= '9' ? strtoll(text, &end, 10) : -1;
    if (text == NULL || end == NULL || *end != '\0' || errno != 0 || v < min || v > max) {
        fprintf(stderr, "device-agent %s: %s needs a whole number from %lld to %lld\n", command,
                name, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

const char *da_positional(const struct da_command *command, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int takes_value = 0;
        if (strncmp(argv[i], "--", 2) != 0)
            return argv[i];
        for (const char *const *v = command->value_options; *v != NULL; v++)
            takes_value |= strcmp(argv[i], *v) == 0;
        i += takes_value;
    }
    return NULL;
}

/* A device number as the wire contract spells it (cl_wire_device_number_ok); its model code
 * (the part before '-') goes to model. */
static int device_number_model(const char *dn, char model[NV_MODEL_CODE_MAX + 1])
{
    size_t prefix;

    if (!cl_wire_device_number_ok(dn))
        return 0;
    prefix = strcspn(dn, "-"); /* 1..CL_MODEL_CODE_MAX <= NV_MODEL_CODE_MAX */
    memcpy(model, dn, prefix);
    model[prefix] = '\0';
    return 1;
}

/* "AA:BB:CC:DD:EE:FF" (either case); a unicast address that is not all zeros. */
static int mac_parse(const char *text, unsigned char mac[NV_MAC_BYTES])
{
    unsigned any = 0;

    if (strlen(text) != 17)
        return 0;
    for (int i = 0; i < NV_MAC_BYTES; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = text[3 * i + j];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'A' && c <= 'F')
                v |= (unsigned)(c - 'A' + 10);
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else
                return 0;
        }
        if (i < NV_MAC_BYTES - 1 && text[3 * i + 2] != ':')
            return 0;
        mac[i] = (unsigned char)v;
        any |= v;
    }
    return any != 0 && (mac[0] & 1) == 0;
}

/* ---- mkimage ---- */

int da_command_mkimage(const struct da_config *config, int argc, char **argv)
{
    const char *dn = cl_arg_value(argc, argv, "--device-number");
    const char *mac_text = cl_arg_value(argc, argv, "--mac");
    const char *bundle_path = cl_arg_value(argc, argv, "--bundle");
    const char *operational = cl_arg_value(argc, argv, "--initial-operational-value");
    const char *apl = cl_arg_value(argc, argv, "--initial-apl-value");
    long long operational_value = DEFAULT_OPERATIONAL_VALUE, apl_value = DEFAULT_APL_VALUE;
    char model[NV_MODEL_CODE_MAX + 1], err[512];
    struct fw_bundle bundle;
    struct nv_fixed fixed = {0};
    struct nv_common common = {0};
    struct nv_board board = {0};
    struct peculiar_identity id;
    int rc, code = DA_EXIT_ERROR;

    if (dn == NULL || mac_text == NULL || bundle_path == NULL) {
        fprintf(stderr, "device-agent mkimage: --device-number, --mac and --bundle are needed\n");
        return DA_EXIT_USAGE;
    }
    if (!device_number_model(dn, model)) {
        fprintf(stderr,
                "device-agent mkimage: device number \"%.40s\" is not MODEL-SERIAL "
                "([0-9A-Z]{1,8}-[0-9]{1,12})\n",
                dn);
        return DA_EXIT_USAGE;
    }
    if (!mac_parse(mac_text, fixed.mac)) {
        fprintf(stderr,
                "device-agent mkimage: MAC address \"%.40s\" is not AA:BB:CC:DD:EE:FF (a "
                "unicast address, not all zeros)\n",
                mac_text);
        return DA_EXIT_USAGE;
    }
    if ((operational != NULL && da_int_option("mkimage", "--initial-operational-value", operational,
                                              0, 4294967295LL, &operational_value) != 0) ||
        (apl != NULL &&
         da_int_option("mkimage", "--initial-apl-value", apl, 0, 4294967295LL, &apl_value) != 0))
        return DA_EXIT_USAGE;
    if (fw_bundle_load(bundle_path, &bundle, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "device-agent mkimage: %s\n", err);
        return DA_EXIT_ERROR;
    }
    if (strcmp(model, bundle.firmware.model_code) != 0) {
        fprintf(stderr,
                "device-agent mkimage: device number %s is of model %s, but the bundle is "
                "model %s's\n",
                dn, model, bundle.firmware.model_code);
        goto out;
    }
    snprintf(fixed.model_code, sizeof(fixed.model_code), "%s", model);
    fixed.board_made_at = (int64_t)time(NULL);

    /* [S1703] the common key is written only sealed under this board's peculiar key. */
    id.generator = bundle.firmware.peculiar_generator;
    id.mac = fixed.mac;
    id.device_number = dn;
    rc = peculiar_seal(&id, PECULIAR_COMMON_KEY, NULL, bundle.common_key_der, bundle.common_key_len,
                       &common.sealed_key, &common.sealed_key_len);
    if (rc != CL_OK) {
        fprintf(stderr, "device-agent mkimage: cannot seal the common key: %s\n", cl_err_str(rc));
        goto out;
    }
    common.certificate_pem = bundle.common_certificate_pem;
    board.firmware = &bundle.firmware;
    board.fixed = &fixed;
    board.common = &common;
    board.device_number = dn;
    board.initial_operational_value = (uint32_t)operational_value;
    board.initial_apl_value = (uint32_t)apl_value;
    rc = nv_create(config->flash_image, config->nvram_image, &board,
                   cl_arg_flag(argc, argv, "--force"), err, sizeof(err));
    if (rc == CL_ERR_EXISTS) {
        fprintf(stderr, "device-agent mkimage: %s (refusing to overwrite; --force replaces)\n",
                err);
        goto out;
    }
    if (rc != CL_OK) {
        fprintf(stderr, "device-agent mkimage: %s\n", err);
        goto out;
    }
    printf("mkimage: board %s (model %s, MAC %.17s) made: %s, %s; no certificate yet\n", dn, model,
           mac_text, config->flash_image, config->nvram_image);
    cl_log_info("board %s made (model %s, key id %s)", dn, model, bundle.firmware.key_id);
    code = DA_EXIT_OK;
out:
    free(common.sealed_key);
    fw_bundle_free(&bundle);
    return code;
}

/* ---- install ---- */

static int hook_option(const char *name, int argc, char **argv, int *out)
{
    const char *text = cl_arg_value(argc, argv, name);
    long long v = 0;

    *out = 0;
    if (text != NULL) {
        if (da_int_option(argv[0], name, text, 1, NV_WRITE_STEPS, &v) != 0)
            return -1;
        *out = (int)v;
    }
    return 0;
}

int da_command_install(const struct da_config *config, int argc, char **argv)
{
    const char *path = da_positional(da_command_find("install"), argc, argv);
    struct nv_write_hooks hooks = {0};
    struct nv_device device;
    struct cl_pack pack;
    struct pi_result result;
    char *text = NULL, err[512], reason[PI_REASON_MAX + 64];
    size_t len = 0;
    int rc, code = DA_EXIT_ERROR;

    if (hook_option("--fail-at-step", argc, argv, &hooks.fail_at_step) != 0 ||
        hook_option("--power-cut-after-step", argc, argv, &hooks.power_cut_after) != 0)
        return DA_EXIT_USAGE;
    if (hooks.fail_at_step > 0 || hooks.power_cut_after > 0)
        cl_log_warn("TEST HOOKS ACTIVE: fail at step %d, power cut after step %d (0: none)",
                    hooks.fail_at_step, hooks.power_cut_after);
    rc = cl_read_file_capped(path, CL_PACK_MAX_BYTES, &text, &len);
    if (rc == CL_ERR_TOO_LARGE) {
        printf("NG pack refused: the file is larger than %d bytes\n", CL_PACK_MAX_BYTES);
        return DA_EXIT_FAILED;
    }
    if (rc != CL_OK) {
        fprintf(stderr, "device-agent install: %s: cannot read: %s\n", path, cl_err_str(rc));
        return DA_EXIT_ERROR;
    }
    if (strlen(text) != len || cl_pack_parse(text, &pack, err, sizeof(err)) != CL_OK) {
        printf("NG pack refused: %s\n", strlen(text) != len ? "the file holds a NUL byte" : err);
        free(text);
        return DA_EXIT_FAILED;
    }
    free(text);
    if (nv_open(config->flash_image, config->nvram_image, &device, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "device-agent install: %s\n", err);
        cl_pack_free(&pack);
        return DA_EXIT_ERROR;
    }
    if (pi_accept(&device, NULL, &pack, NULL, reason, sizeof(reason)) != CL_OK) {
        cl_log_warn("pack %s for %s refused: %s", pack.serial_hex, pack.device_number, reason);
        printf("NG %s\n", reason);
        code = DA_EXIT_FAILED;
    } else if (pi_write(&device, &pack, &hooks, &result, reason, sizeof(reason)) != CL_OK) {
        printf("NG %s\n", reason);
        code = DA_EXIT_FAILED;
    } else {
        printf("OK %s proof %s\n", result.serial_hex, result.server_value);
        code = DA_EXIT_OK;
    }
    nv_close(&device);
    cl_pack_free(&pack);
    return code;
}

/* ---- check-in ---- */

static const char *state_name(enum ca__DeviceState state)
{
    switch (state) {
    case ca__DeviceState__INSTALLED:
        return "installed";
    case ca__DeviceState__ISSUED:
        return "issued";
    case ca__DeviceState__SUPERSEDED:
        return "superseded";
    case ca__DeviceState__REVOKED:
        return "revoked";
    case ca__DeviceState__UNKNOWN:
        break;
    }
    return "unknown";
}

static void print_check_in(const char *nvram_number, const struct ca__CheckInResponse *answer,
                           int json)
{
    const char *serial = answer->certificateSerial ? answer->certificateSerial : "";
    const char *detail = answer->detail ? answer->detail : "";

    if (json) {
        cJSON *o = cJSON_CreateObject();
        char *text;
        cJSON_AddStringToObject(o, "device_number", answer->deviceNumber);
        cJSON_AddStringToObject(o, "nvram_device_number", nvram_number);
        cJSON_AddStringToObject(o, "state", state_name(answer->state));
        cJSON_AddStringToObject(o, "certificate_serial", serial);
        cJSON_AddStringToObject(o, "detail", detail);
        cJSON_AddBoolToObject(o, "number_matches", strcmp(answer->deviceNumber, nvram_number) == 0);
        if ((text = cJSON_Print(o)) != NULL)
            puts(text);
        free(text);
        cJSON_Delete(o);
        return;
    }
    printf("%s: %s (certificate %s)%s%s\n", answer->deviceNumber, state_name(answer->state),
           serial[0] ? serial : "-", detail[0] ? ": " : "", detail);
}

int da_command_check_in(const struct da_config *config, int argc, char **argv)
{
    struct cl_client_settings settings = {0};
    struct ca__CheckIn request = {0};
    struct ca__CheckInResponse answer = {0};
    struct cl_client *client = NULL;
    struct cl_failover *instances = NULL;
    struct cl_tls *tls = NULL;
    struct nv_device device;
    char err[512], claimed[NV_DEVICE_NUMBER_MAX + 1];
    int code = DA_EXIT_ERROR, called, attempt = 0;

    if (config->ca_server.endpoint[0] == '\0' && config->ca_server.endpoints[0] == '\0') {
        fprintf(stderr, "device-agent check-in: the configuration names no ca_server "
                        "(\"ca_server\": {\"endpoint\", \"server_name\"})\n");
        return DA_EXIT_ERROR;
    }
    if (cl_failover_new(&config->ca_server, "ca_server", &instances, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "device-agent check-in: %s\n", err);
        return DA_EXIT_ERROR;
    }
    if (nv_open(config->flash_image, config->nvram_image, &device, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "device-agent check-in: %s\n", err);
        return DA_EXIT_ERROR;
    }
    if (!device.has_certificate) {
        fprintf(stderr,
                "device-agent check-in: no certificate is written on %s yet; check-in "
                "needs the device's own certificate\n",
                device.nvram.device_number);
        goto out;
    }
    if (da_tls_own(&device, &tls, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "device-agent check-in: %s\n", err);
        goto out;
    }
    settings.endpoint = cl_failover_endpoint(instances);
    settings.server_name = config->ca_server.server_name;
    settings.server_role = CL_ROLE_CA_SERVER;
    cl_limits_config_apply(&config->limits, &settings.limits);
    if (cl_client_new(&settings, tls, &client, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "device-agent check-in: %s\n", err);
        goto out;
    }
    snprintf(claimed, sizeof(claimed), "%s", device.nvram.device_number);
    request.claimedDeviceNumber = claimed;
    /* Another instance of ca-server when one cannot be reached. */
    while ((called = soap_call___ca__CheckIn(cl_client_soap(client), cl_client_endpoint(client),
                                             NULL, &request, &answer)) != SOAP_OK &&
           cl_failover_retry(instances, client, cl_client_explain(client, err, sizeof(err)),
                             &attempt, "check-in"))
        cl_client_end_call(client);
    if (called != SOAP_OK || answer.deviceNumber == NULL) {
        cl_client_explain(client, err, sizeof(err));
        fprintf(stderr, "device-agent check-in: %s\n", err);
        cl_client_end_call(client);
        goto out;
    }
    if (strcmp(answer.deviceNumber, claimed) != 0)
        fprintf(stderr,
                "device-agent check-in: warning: ca-server reads device number %s from the "
                "certificate, but NVRAM says %s\n",
                answer.deviceNumber, claimed);
    print_check_in(claimed, &answer, cl_arg_flag(argc, argv, "--json"));
    cl_log_info("check-in of %s: %s", answer.deviceNumber, state_name(answer.state));
    code = answer.state == ca__DeviceState__INSTALLED ? DA_EXIT_OK : DA_EXIT_FAILED;
    cl_client_end_call(client);
out:
    cl_client_free(client);
    cl_failover_free(instances);
    cl_tls_free(tls);
    nv_close(&device);
    return code;
}
