/* firmware_bundle.h: reads the firmware bundle of a device model, the JSON file that
 * `ca-server model-export CODE --out FILE` writes (mode 0600, it holds the model's secrets):
 *   {"version": 1, "model": "3012", "key_type": "p256", "key_id": "...",
 *    "prewrite_key": base64 (32 bytes), "peculiar_generator": base64 (32 bytes),
 *    "root_pem": ..., "chain_pem": issuing CA then root, "common_certificate_pem": ...,
 *    "common_key_pem": ...}
 * Version 2 adds "next_prewrite_keys": [{"key_id", "prewrite_key"}...] (1 to NV_NEXT_KEYS_MAX),
 * the pre-write keys scheduled after key_id; version 1 is read as before.
 * Every member is required and checked; the common certificate must chain to the root, be the
 * model's ("<model> common", OU device-common, serialNumber = model) and match its key. */
#ifndef CERTLINE_FIRMWARE_BUNDLE_H
#define CERTLINE_FIRMWARE_BUNDLE_H

#include <stddef.h>

#include "nv_image.h"

#define FW_BUNDLE_MAX_BYTES (64 * 1024)
#define FW_BUNDLE_VERSION 2 /* the highest read; 1 too */

struct fw_bundle {
    struct nv_firmware firmware;   /* the program area; root_pem and chain_pem malloc'd */
    char *common_certificate_pem;  /* malloc'd */
    unsigned char *common_key_der; /* malloc'd secret: zeroised by fw_bundle_free */
    size_t common_key_len;
};

/* Reads and checks path (at most FW_BUNDLE_MAX_BYTES). Every copy of a secret made on the way
 * (file text, JSON strings, PEM) is wiped. On failure err names the member and what is wrong
 * (never a secret) and *bundle is empty. */
int fw_bundle_load(const char *path, struct fw_bundle *bundle, char *err, size_t errlen);

/* Frees and wipes; safe on an empty or zeroed bundle. */
void fw_bundle_free(struct fw_bundle *bundle);

#endif
