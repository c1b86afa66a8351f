/* nv_image.h: the device's emulated non-volatile memory, two image files with a documented
 * binary layout (IMAGES.md):
 *   flash [FIG 5]: program area (the firmware: model code, key id, pre-write key, peculiar-key
 *                  generator, root and chain it trusts), certificate area (two slots), common
 *                  certificate area (the model's common certificate and its key, sealed), fixed
 *                  parameter area (MAC address, model code, board date);
 *   NVRAM [FIG 6]: device number, initial operational value, initial APL value, counter
 *                  information, common certificate (two banks).
 * Every area has a magic, a version and a checksum. The certificate area is power-fail safe: the
 * new certificate goes into the slot that is not current, is synced, and only then becomes
 * current through its header (higher sequence number, valid checksums); on open the newest valid
 * slot wins. NVRAM banks work the same way.
 *
 * Keys are stored only as sealed blobs the caller made (peculiar_key.h); this module never sees
 * a key in clear, except the firmware's own model secrets in the program area (see IMAGES.md). */
#ifndef CERTLINE_NV_IMAGE_H
#define CERTLINE_NV_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define NV_MAC_BYTES 6
#define NV_SECRET_BYTES 32 /* pre-write key and peculiar-key generator */
#define NV_PEM_MAX 16384   /* a certificate chain in PEM */
#define NV_SEALED_MAX 4096 /* a sealed key blob */
#define NV_DEVICE_NUMBER_MAX 31
#define NV_MODEL_CODE_MAX 15
#define NV_KEY_ID_MAX 64
#define NV_SERIAL_HEX_MAX 40
#define NV_VERIFY_HEX 64

/* Write steps of nv_write_certificate, in order; a power cut after step N leaves the steps up to
 * N done and nothing after. */
enum nv_write_step {
    NV_STEP_BODY_FIRST_HALF = 1, /* first half of the new slot's record into the spare slot */
    NV_STEP_BODY_SECOND_HALF,    /* the rest of the record */
    NV_STEP_FLASH_SYNC_BODY,     /* fsync: the record is durable but not yet current */
    NV_STEP_SLOT_HEADER,         /* the spare slot's header: sequence + checksums (commit) */
    NV_STEP_FLASH_SYNC_HEADER,   /* fsync: the new slot is current */
    NV_STEP_NVRAM_BANK,          /* counter information into the spare NVRAM bank */
    NV_STEP_NVRAM_SYNC,          /* fsync of NVRAM */
};
#define NV_WRITE_STEPS 7

/* A pre-write key the firmware holds besides its first one [seed 004, effect 3]. */
#define NV_NEXT_KEYS_MAX 7
struct nv_prewrite_key {
    char key_id[NV_KEY_ID_MAX + 1];
    unsigned char key[NV_SECRET_BYTES];
};

/* Program area: what the model's firmware bundle (ca-server model-export) puts on the board. */
struct nv_firmware {
    char model_code[NV_MODEL_CODE_MAX + 1];
    char key_type[16]; /* "p256", "rsa2048", "rsa3072": the type of the device keys */
    char key_id[NV_KEY_ID_MAX + 1];
    unsigned char prewrite_key[NV_SECRET_BYTES];
    unsigned char peculiar_generator[NV_SECRET_BYTES];
    char *root_pem;  /* the root it trusts */
    char *chain_pem; /* issuing CA then root */
    /* The keys scheduled after key_id when the bundle was exported (bundle version 2); a pack
     * sealed under any of them, or key_id, opens. */
    size_t next_key_count;
    struct nv_prewrite_key next_keys[NV_NEXT_KEYS_MAX];
};

/* Fixed parameter area. */
struct nv_fixed {
    unsigned char mac[NV_MAC_BYTES];
    char model_code[NV_MODEL_CODE_MAX + 1];
    int64_t board_made_at; /* unix time of mkimage (step S1703) */
};

/* Common certificate area [S1703]: the model's common certificate (PEM) and its key, sealed by
 * the caller under the device's peculiar key. */
struct nv_common {
    char *certificate_pem;
    unsigned char *sealed_key;
    size_t sealed_key_len;
};

/* One certificate-area slot: the device's own certificate as written from a pack. */
struct nv_certificate {
    uint64_t sequence; /* set by nv_write_certificate; higher is newer */
    char device_number[NV_DEVICE_NUMBER_MAX + 1];
    char model_code[NV_MODEL_CODE_MAX + 1];
    char serial_hex[NV_SERIAL_HEX_MAX + 1];
    char key_type[16];
    char *certificate_pem;
    char *chain_pem;
    unsigned char *sealed_key; /* the device key sealed under the peculiar key */
    size_t sealed_key_len;
    char device_value[NV_VERIFY_HEX + 1]; /* from the pack, checked after read-back */
    int64_t written_at; /* 0 on input: nv_write_certificate sets the current time */
};

/* NVRAM [FIG 6]. */
struct nv_counters {
    uint32_t certificate_writes; /* completed certificate writes */
    uint32_t failed_writes;      /* writes that ended NG */
    int64_t last_write_at;
};
struct nv_nvram {
    uint64_t sequence; /* of the current bank */
    char device_number[NV_DEVICE_NUMBER_MAX + 1];
    uint32_t initial_operational_value;
    uint32_t initial_apl_value;
    struct nv_counters counters;
    char *common_certificate_pem;
};

/* What mkimage writes: a blank board as at step S1703 (no certificate yet). */
struct nv_board {
    const struct nv_firmware *firmware;
    const struct nv_fixed *fixed;
    const struct nv_common *common;
    const char *device_number;
    uint32_t initial_operational_value;
    uint32_t initial_apl_value;
};

/* Both images, opened. */
struct nv_device {
    char flash_path[4096];
    char nvram_path[4096];
    struct nv_firmware firmware;
    struct nv_fixed fixed;
    struct nv_common common;
    struct nv_nvram nvram;
    int has_certificate;           /* a valid current slot exists */
    struct nv_certificate current; /* valid when has_certificate */
    int current_slot;              /* 0 or 1, -1 if none */
};

/* One check of nv_inspect, for `device-agent show`. */
struct nv_check {
    char name[48];    /* "flash header", "program area", "certificate slot 0", "nvram bank 1" ... */
    int ok;           /* 1 passed, 0 failed, -1 not applicable (e.g. an empty slot) */
    char detail[160]; /* "sequence 3, current", "checksum mismatch", "empty" ... */
};
#define NV_CHECKS_MAX 16

/* Creates both image files (mode 0600) for a blank board. Refuses (CL_ERR_EXISTS) if either
 * exists unless force; a failure leaves no half-made file behind. */
int nv_create(const char *flash_path, const char *nvram_path, const struct nv_board *board,
              int force, char *err, size_t errlen);

/* Opens and checks both images: every area's magic, version and checksum; the newest valid
 * certificate slot and NVRAM bank win. Returns CL_ERR_PARSE (err says which area and why) if
 * a required area is broken or truncated; an invalid spare slot is not an error (a slot that is
 * not empty but invalid while no slot is valid is). CL_ERR_NOT_FOUND, CL_ERR_PERMISSION or
 * CL_ERR_IO if a file cannot be opened. The images are not kept open. */
int nv_open(const char *flash_path, const char *nvram_path, struct nv_device *device, char *err,
            size_t errlen);
void nv_close(struct nv_device *device); /* frees what nv_open allocated; zeroises secrets */

/* Every check, also on broken images (for show); returns the number filled into checks. */
size_t nv_inspect(const char *flash_path, const char *nvram_path, struct nv_check *checks,
                  size_t max);

/* Test hooks: fail the write at a step (as a flash write error), or stop dead after a step as a
 * power cut would (nothing after it runs, not even cleanup). */
struct nv_write_hooks {
    int fail_at_step;    /* 0: never; else the write fails with CL_ERR_IO at this step */
    int power_cut_after; /* 0: never; else return NV_POWER_CUT right after this step */
};
#define NV_POWER_CUT 1000 /* returned (positive) when a power cut was simulated */

/* Writes cert as the new current certificate (sequence = current + 1) with the slot scheme
 * above, then records the write in the NVRAM counters; device is updated on success. On a
 * failure the previous certificate stays current (and a failed write is counted as such by
 * nv_count_failure, not here). hooks may be NULL. Returns CL_OK, CL_ERR_INVALID_ARGUMENT (a
 * field missing, too long, not printable), CL_ERR_IO (a write failed; it was undone),
 * CL_ERR_CONFLICT (the images changed since nv_open), CL_ERR_PARSE (an image is broken), or
 * NV_POWER_CUT: then device is as before the call and, as after a reboot, must be closed and
 * opened again. */
int nv_write_certificate(struct nv_device *device, const struct nv_certificate *cert,
                         const struct nv_write_hooks *hooks, char *err, size_t errlen);

/* Reads the current certificate back from the flash file (not from memory) into *out (free
 * with nv_certificate_free; chain_pem is "" when none was written). CL_ERR_NOT_FOUND if no
 * certificate was written, CL_ERR_PARSE if its slot on file is broken, CL_ERR_CONFLICT if the
 * file now holds another certificate than device->current. */
int nv_read_back(const struct nv_device *device, struct nv_certificate *out, char *err,
                 size_t errlen);
void nv_certificate_free(struct nv_certificate *cert);

/* Counts an NG write in NVRAM (bank scheme). */
int nv_count_failure(struct nv_device *device, char *err, size_t errlen);

#endif
