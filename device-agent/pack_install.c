/* pack_install.c: acceptance checks of a certificate pack and the write module (re-seal under the
 * peculiar key, slot write, read-back, proof). Shared by `serve` (S7/S10) and `install`. */
#include "pack_install.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cert_check.h"
#include "da_identity.h"
#include "error.h"
#include "keyfile.h"
#include "log.h"
#include "peculiar_key.h"

const unsigned char *pi_prewrite_key(const struct nv_firmware *fw, const char *key_id)
{
    if (strcmp(key_id, fw->key_id) == 0)
        return fw->prewrite_key;
    for (size_t i = 0; i < fw->next_key_count && i < NV_NEXT_KEYS_MAX; i++)
        if (strcmp(key_id, fw->next_keys[i].key_id) == 0)
            return fw->next_keys[i].key;
    return NULL;
}

/* "A, B, C": the key ids the firmware accepts. */
static void accepted_ids(const struct nv_firmware *fw, char *out, size_t len)
{
    size_t used = (size_t)snprintf(out, len, "%s", fw->key_id);
    for (size_t i = 0; i < fw->next_key_count && i < NV_NEXT_KEYS_MAX && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, ", %s", fw->next_keys[i].key_id);
}

int pi_accept(const struct nv_device *device, const char *claimed, const struct cl_pack *pack,
              const struct mbedtls_x509_crt *known, char *reason, size_t len)
{
    const struct nv_firmware *fw = &device->firmware;
    const char *mine = device->nvram.device_number;
    const unsigned char *prewrite = pi_prewrite_key(fw, pack->key_id);
    char value[CL_VERIFY_HEX + 1], why[300];
    unsigned char *key = NULL;
    size_t key_len = 0;
    struct cl_peer peer;
    int rc;

    if (claimed != NULL && strcmp(claimed, mine) != 0) {
        snprintf(reason, len, "device number mismatch: the plate says %s, this device is %s",
                 claimed, mine);
        return CL_ERR_CONFLICT;
    }
    if (strcmp(pack->device_number, mine) != 0) {
        snprintf(reason, len, "device number mismatch: the pack is for %s, this device is %s",
                 pack->device_number, mine);
        return CL_ERR_CONFLICT;
    }
    if (strcmp(pack->model_code, fw->model_code) != 0) {
        snprintf(reason, len, "model mismatch: the pack is for model %s, this device is model %s",
                 pack->model_code, fw->model_code);
        return CL_ERR_CONFLICT;
    }
    if (prewrite == NULL) {
        char ids[(NV_KEY_ID_MAX + 2) * (NV_NEXT_KEYS_MAX + 1)];
        accepted_ids(fw, ids, sizeof(ids));
        snprintf(reason, len,
                 "unknown pre-write key id: the pack is sealed under key %s; this firmware "
                 "accepts %s",
                 pack->key_id, ids);
        return CL_ERR_CONFLICT;
    }
    if (strcmp(pack->key_type, fw->key_type) != 0) {
        snprintf(reason, len, "key type mismatch: the pack holds a %s key, this model uses %s",
                 pack->key_type, fw->key_type);
        return CL_ERR_CONFLICT;
    }
    if ((rc = cc_verify_known(pack->certificate_pem, pack->chain_pem, fw->root_pem, known,
                              CC_CLIENT, &peer, why, sizeof(why))) != CL_OK) {
        snprintf(reason, len, "%s", why);
        return rc;
    }
    if (peer.role != CL_ROLE_DEVICE || strcmp(peer.name, mine) != 0 ||
        strcmp(peer.number, mine) != 0) {
        snprintf(reason, len,
                 "certificate is not this device's (role %s, CN \"%s\", serialNumber \"%s\"; "
                 "this device is %s)",
                 cl_role_name(peer.role), peer.name, peer.number, mine);
        return CL_ERR_CONFLICT;
    }
    rc = cl_pack_open_key(pack, prewrite, &key, &key_len);
    if (rc != CL_OK) {
        snprintf(reason, len, "key does not open with this device's pre-write key");
        return rc == CL_ERR_NOMEM ? rc : CL_ERR_CRYPTO;
    }
    if ((rc = cc_key_matches(pack->certificate_pem, key, key_len)) != CL_OK) {
        snprintf(reason, len, "key does not match certificate");
        goto out;
    }
    if ((rc = cc_verify_values(pack->version, pack->device_number, pack->serial_hex,
                               pack->certificate_pem, key, key_len, prewrite, value, NULL)) !=
        CL_OK) {
        snprintf(reason, len, "certificate does not parse");
        goto out;
    }
    if (!cc_equal(value, pack->device_value, CL_VERIFY_HEX)) {
        snprintf(reason, len, "the pack's device value does not match its contents");
        rc = CL_ERR_CRYPTO;
        goto out;
    }
out:
    cl_secret_free(key, key_len);
    return rc;
}

/* What was read back is what was written, and it proves itself. */
static int check_read_back(const struct nv_device *device, const struct cl_pack *pack,
                           const struct nv_certificate *back, struct pi_result *result,
                           char *reason, size_t len)
{
    char device_value[CL_VERIFY_HEX + 1];
    struct peculiar_identity id;
    unsigned char *key = NULL;
    size_t key_len = 0;
    int rc;

    if (strcmp(back->device_number, pack->device_number) != 0 ||
        strcmp(back->serial_hex, pack->serial_hex) != 0 || back->certificate_pem == NULL ||
        strcmp(back->certificate_pem, pack->certificate_pem) != 0) {
        snprintf(reason, len, "read-back differs from what was written");
        return CL_ERR_IO;
    }
    da_peculiar_identity(device, &id);
    rc = peculiar_open(&id, PECULIAR_DEVICE_KEY, back->serial_hex, back->sealed_key,
                       back->sealed_key_len, &key, &key_len);
    if (rc != CL_OK) {
        snprintf(reason, len, "read-back key does not open with the peculiar key");
        return rc;
    }
    rc = cc_verify_values(
        pack->version, back->device_number, back->serial_hex, back->certificate_pem, key, key_len,
        pi_prewrite_key(&device->firmware, pack->key_id), device_value, result->server_value);
    if (rc == CL_OK && (!cc_equal(device_value, pack->device_value, CL_VERIFY_HEX) ||
                        !cc_equal(device_value, back->device_value, CL_VERIFY_HEX))) {
        snprintf(reason, len, "read-back does not verify (device value differs)");
        rc = CL_ERR_CRYPTO;
    } else if (rc != CL_OK) {
        snprintf(reason, len, "read-back certificate does not parse");
    }
    cl_secret_free(key, key_len);
    if (rc != CL_OK)
        memset(result->server_value, 0, sizeof(result->server_value));
    return rc;
}

int pi_write(struct nv_device *device, const struct cl_pack *pack,
             const struct nv_write_hooks *hooks, struct pi_result *result, char *reason, size_t len)
{
    struct nv_certificate cert = {0}, back = {0};
    struct peculiar_identity id;
    unsigned char *key = NULL, *sealed = NULL;
    size_t key_len = 0, sealed_len = 0;
    char err[256] = "";
    int rc;

    memset(result, 0, sizeof(*result));
    /* [step 62] the key, opened with the pre-write key; [steps 64-66] sealed under the board's
     * peculiar key, which is derived for this and wiped at once. */
    const unsigned char *prewrite = pi_prewrite_key(&device->firmware, pack->key_id);
    if (prewrite == NULL) {
        snprintf(reason, len, "unknown pre-write key id %s", pack->key_id);
        rc = CL_ERR_CONFLICT;
        goto failed;
    }
    if ((rc = cl_pack_open_key(pack, prewrite, &key, &key_len)) != CL_OK) {
        snprintf(reason, len, "key does not open with this device's pre-write key");
        goto failed;
    }
    da_peculiar_identity(device, &id);
    rc = peculiar_seal(&id, PECULIAR_DEVICE_KEY, pack->serial_hex, key, key_len, &sealed,
                       &sealed_len);
    cl_secret_free(key, key_len);
    key = NULL;
    if (rc != CL_OK) {
        snprintf(reason, len, "key cannot be sealed under the peculiar key (%s)", cl_err_str(rc));
        goto failed;
    }
    /* [steps 68-70] the write, slot scheme (nv_image.h). */
    snprintf(cert.device_number, sizeof(cert.device_number), "%s", pack->device_number);
    snprintf(cert.model_code, sizeof(cert.model_code), "%s", pack->model_code);
    snprintf(cert.serial_hex, sizeof(cert.serial_hex), "%.40s", pack->serial_hex);
    snprintf(cert.key_type, sizeof(cert.key_type), "%s", pack->key_type);
    snprintf(cert.device_value, sizeof(cert.device_value), "%s", pack->device_value);
    cert.certificate_pem = pack->certificate_pem;
    cert.chain_pem = pack->chain_pem;
    cert.sealed_key = sealed;
    cert.sealed_key_len = sealed_len;
    cert.written_at = (int64_t)time(NULL);
    rc = nv_write_certificate(device, &cert, hooks, err, sizeof(err));
    if (rc == NV_POWER_CUT) {
        cl_log_warn("power cut (test hook) after write step %d: stopping dead",
                    hooks != NULL ? hooks->power_cut_after : 0);
        _exit(PI_POWER_CUT_EXIT);
    }
    if (rc != CL_OK) {
        if (hooks != NULL && hooks->fail_at_step != 0)
            snprintf(reason, len, "flash write failed (test hook)");
        else
            snprintf(reason, len, "flash write failed: %s", err);
        goto failed;
    }
    /* [steps 90-110] read back from the flash file, open, verify, prove. */
    if ((rc = nv_read_back(device, &back, err, sizeof(err))) != CL_OK) {
        snprintf(reason, len, "read-back failed: %s", err);
        goto failed;
    }
    if ((rc = check_read_back(device, pack, &back, result, reason, len)) != CL_OK)
        goto failed;
    snprintf(result->serial_hex, sizeof(result->serial_hex), "%.40s", pack->serial_hex);
    result->slot = device->current_slot;
    cl_log_info("certificate %s of %s written (slot %d, sequence %llu), read back and verified",
                pack->serial_hex, pack->device_number, device->current_slot,
                (unsigned long long)device->current.sequence);
    nv_certificate_free(&back);
    free(sealed);
    return CL_OK;

failed:
    cl_log_warn("writing certificate %s of %s failed: %s", pack->serial_hex, pack->device_number,
                reason);
    nv_certificate_free(&back);
    free(sealed);
    if (nv_count_failure(device, err, sizeof(err)) != CL_OK)
        cl_log_error("the failed write could not be counted in NVRAM: %s", err);
    return rc != CL_OK ? rc : CL_ERR_INTERNAL;
}
