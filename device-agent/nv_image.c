/* nv_image.c: the device images' API (IMAGES.md): create for a blank board, open, read, close. */
#include "nv_image_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"

/* Checks and decodes one required flash area with decode. */
static int load_required(const unsigned char *img, const struct area *a,
                         int (*decode)(struct rd *, void *), void *out, char *err, size_t errlen)
{
    char why[WHY_MAX];
    uint64_t seq;
    struct rd r;
    int rc;

    if (nvi_check_area(img, FLASH_SIZE, a, &seq, &r, why, sizeof(why)) != AREA_OK)
        return nvi_fail(err, errlen, CL_ERR_PARSE, "flash image: %s: %s", a->name, why);
    rc = decode(&r, out);
    if (rc != CL_OK)
        return nvi_fail(err, errlen, rc, "flash image: %s: %s", a->name, why);
    return CL_OK;
}

static int decode_program_v(struct rd *r, void *out)
{
    return nvi_decode_program(r, out);
}

static int decode_fixed_v(struct rd *r, void *out)
{
    return nvi_decode_fixed(r, out);
}

static int decode_common_v(struct rd *r, void *out)
{
    return nvi_decode_common(r, out);
}

/* --- Public API ---------------------------------------------------------------------------- */

int nv_create(const char *flash_path, const char *nvram_path, const struct nv_board *board,
              int force, char *err, size_t errlen)
{
    unsigned char *flash = NULL, *nvram = NULL, *body;
    struct nv_nvram bank;
    struct stat st;
    size_t len = 0;
    char why[WHY_MAX];
    int rc;

    if (flash_path == NULL || nvram_path == NULL || board == NULL || flash_path[0] == '\0' ||
        nvram_path[0] == '\0')
        return nvi_fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "image paths and board are required");
    if (strcmp(flash_path, nvram_path) == 0)
        return nvi_fail(err, errlen, CL_ERR_INVALID_ARGUMENT,
                        "flash and NVRAM images must be different files");
    if (!nvi_board_ok(board, why, sizeof(why)))
        return nvi_fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "board: %s", why);
    if (!force) {
        if (lstat(flash_path, &st) == 0)
            return nvi_fail(err, errlen, CL_ERR_EXISTS, "flash image %s already exists",
                            flash_path);
        if (lstat(nvram_path, &st) == 0)
            return nvi_fail(err, errlen, CL_ERR_EXISTS, "nvram image %s already exists",
                            nvram_path);
    }

    flash = malloc(FLASH_SIZE);
    nvram = malloc(NVRAM_SIZE);
    if (flash == NULL || nvram == NULL) {
        rc = nvi_fail(err, errlen, CL_ERR_NOMEM, "out of memory");
        goto out;
    }
    memset(flash, ERASED, FLASH_SIZE);
    memset(nvram, ERASED, NVRAM_SIZE);
    nvi_put_image_header(flash, FLASH_MAGIC, FLASH_SIZE);
    nvi_put_image_header(nvram, NVRAM_MAGIC, NVRAM_SIZE);

    body = nvi_encode_program(board->firmware, &len);
    rc = nvi_place(flash, &AREA_PROGRAM, 0, body, len);
    if (rc == CL_OK) {
        body = nvi_encode_common(board->common, &len);
        rc = nvi_place(flash, &AREA_COMMON, 0, body, len);
    }
    if (rc == CL_OK) {
        body = nvi_encode_fixed(board->fixed, &len);
        rc = nvi_place(flash, &AREA_FIXED, 0, body, len);
    }
    if (rc == CL_OK) {
        memset(&bank, 0, sizeof(bank));
        bank.sequence = 1;
        snprintf(bank.device_number, sizeof(bank.device_number), "%s", board->device_number);
        bank.initial_operational_value = board->initial_operational_value;
        bank.initial_apl_value = board->initial_apl_value;
        bank.common_certificate_pem = board->common->certificate_pem;
        body = nvi_encode_bank(&bank, &len);
        rc = nvi_place(nvram, &AREA_BANK[0], bank.sequence, body, len);
    }
    if (rc != CL_OK) {
        rc = nvi_fail(err, errlen, rc, "out of memory");
        goto out;
    }

    rc = force ? cl_atomic_write(flash_path, flash, FLASH_SIZE, IMAGE_MODE)
               : cl_atomic_write_new(flash_path, flash, FLASH_SIZE, IMAGE_MODE);
    if (rc != CL_OK) {
        rc = nvi_fail(err, errlen, rc, "cannot write flash image %s: %s", flash_path,
                      strerror(errno));
        goto out;
    }
    rc = force ? cl_atomic_write(nvram_path, nvram, NVRAM_SIZE, IMAGE_MODE)
               : cl_atomic_write_new(nvram_path, nvram, NVRAM_SIZE, IMAGE_MODE);
    if (rc != CL_OK) {
        int e = errno;
        /* No half-made board: the flash image just written goes again. */
        unlink(flash_path);
        rc = nvi_fail(err, errlen, rc, "cannot write nvram image %s: %s (flash image removed)",
                      nvram_path, strerror(e));
        goto out;
    }
    rc = CL_OK;
out:
    nvi_free_image(flash, FLASH_SIZE);
    nvi_free_image(nvram, NVRAM_SIZE);
    return rc;
}

int nv_open(const char *flash_path, const char *nvram_path, struct nv_device *device, char *err,
            size_t errlen)
{
    unsigned char *img = NULL;
    uint64_t sequence = 0;
    int bank = -1, rc;

    if (device == NULL)
        return nvi_fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "no device");
    memset(device, 0, sizeof(*device));
    device->current_slot = -1;
    if (flash_path == NULL || nvram_path == NULL ||
        strlen(flash_path) >= sizeof(device->flash_path) ||
        strlen(nvram_path) >= sizeof(device->nvram_path))
        return nvi_fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "image paths missing or too long");
    memcpy(device->flash_path, flash_path, strlen(flash_path) + 1);
    memcpy(device->nvram_path, nvram_path, strlen(nvram_path) + 1);

    if ((rc = nvi_load_image(flash_path, 0, NULL, &img, err, errlen)) != CL_OK)
        goto out;
    if ((rc = load_required(img, &AREA_PROGRAM, decode_program_v, &device->firmware, err,
                            errlen)) == CL_OK &&
        (rc = load_required(img, &AREA_FIXED, decode_fixed_v, &device->fixed, err, errlen)) ==
            CL_OK &&
        (rc = load_required(img, &AREA_COMMON, decode_common_v, &device->common, err, errlen)) ==
            CL_OK)
        rc = nvi_find_current_slot(img, FLASH_SIZE, &device->current_slot, &sequence,
                                   &device->current, err, errlen);
    nvi_free_image(img, FLASH_SIZE);
    if (rc != CL_OK)
        goto out;
    device->has_certificate = device->current_slot >= 0;

    if ((rc = nvi_load_image(nvram_path, 1, NULL, &img, err, errlen)) != CL_OK)
        goto out;
    rc = nvi_find_current_bank(img, NVRAM_SIZE, &bank, &device->nvram, err, errlen);
    nvi_free_image(img, NVRAM_SIZE);
out:
    if (rc != CL_OK)
        nv_close(device);
    return rc;
}

void nv_certificate_free(struct nv_certificate *cert)
{
    if (cert == NULL)
        return;
    free(cert->certificate_pem);
    free(cert->chain_pem);
    if (cert->sealed_key != NULL)
        explicit_bzero(cert->sealed_key, cert->sealed_key_len);
    free(cert->sealed_key);
    memset(cert, 0, sizeof(*cert));
}

void nv_close(struct nv_device *device)
{
    if (device == NULL)
        return;
    nvi_firmware_free(&device->firmware);
    nvi_common_free(&device->common);
    nvi_nvram_free(&device->nvram);
    nv_certificate_free(&device->current);
    explicit_bzero(device, sizeof(*device));
    device->current_slot = -1;
}

int nv_read_back(const struct nv_device *device, struct nv_certificate *out, char *err,
                 size_t errlen)
{
    struct copy_eval ev, other;
    unsigned char *img = NULL;
    int rc, slot;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (device == NULL || out == NULL)
        return nvi_fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "no device or output");
    if (!device->has_certificate || device->current_slot < 0 || device->current_slot > 1)
        return nvi_fail(err, errlen, CL_ERR_NOT_FOUND, "no certificate written yet");
    slot = device->current_slot;
    if ((rc = nvi_load_image(device->flash_path, 0, NULL, &img, err, errlen)) != CL_OK)
        return rc;
    rc = nvi_eval_slot(img, FLASH_SIZE, slot, &ev, out);
    if (rc == CL_OK)
        rc = nvi_eval_slot(img, FLASH_SIZE, 1 - slot, &other, NULL);
    nvi_free_image(img, FLASH_SIZE);
    if (rc != CL_OK) {
        nv_certificate_free(out);
        return nvi_fail(err, errlen, rc, "flash image: certificate area: out of memory");
    }
    if (ev.state != AREA_OK)
        return nvi_fail(err, errlen, CL_ERR_PARSE, "flash image: %s: %s", AREA_SLOT[slot].name,
                        ev.why);
    if (ev.sequence != device->current.sequence ||
        (other.state == AREA_OK && other.sequence >= ev.sequence)) {
        nv_certificate_free(out);
        return nvi_fail(err, errlen, CL_ERR_CONFLICT,
                        "flash image changed since it was written (%s holds sequence %" PRIu64
                        ", expected %" PRIu64 ")",
                        AREA_SLOT[slot].name, ev.sequence, device->current.sequence);
    }
    return CL_OK;
}
