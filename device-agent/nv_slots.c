/* nv_slots.c: A/B certificate slots and NVRAM banks: current copy, power-fail safe writes. */
#include "nv_image_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"
#include "log.h"

/* --- Slots and banks --------------------------------------------------------------------- */

/* Checks copy a and decodes it into rec (zeroed, size bytes) with decode; on AREA_OK and
 * out != NULL the record goes to out, else it is freed with release. Only running out of memory
 * is an error: a copy that does not decode is AREA_BAD. */
static int eval_copy(const unsigned char *img, size_t have, const struct area *a,
                     struct copy_eval *ev, int (*decode)(struct rd *, uint64_t, void *),
                     void (*release)(void *), void *rec, void *out, size_t size)
{
    struct rd r;
    int rc = CL_OK;

    ev->sequence = 0;
    ev->state = nvi_check_area(img, have, a, &ev->sequence, &r, ev->why, sizeof(ev->why));
    if (ev->state == AREA_OK && (rc = decode(&r, ev->sequence, rec)) != CL_OK) {
        ev->state = AREA_BAD;
        if (rc != CL_ERR_NOMEM)
            rc = CL_OK;
    }
    if (ev->state == AREA_OK && out != NULL)
        memcpy(out, rec, size);
    else
        release(rec);
    return rc;
}

static int decode_slot_v(struct rd *r, uint64_t sequence, void *out)
{
    return nvi_decode_slot(r, sequence, out);
}

static void free_slot_v(void *rec)
{
    nv_certificate_free(rec);
}

static int decode_bank_v(struct rd *r, uint64_t sequence, void *out)
{
    return nvi_decode_bank(r, sequence, out);
}

static void free_bank_v(void *rec)
{
    nvi_nvram_free(rec);
}

/* Checks and decodes certificate slot i; on AREA_OK and out != NULL the record is kept. */
int nvi_eval_slot(const unsigned char *img, size_t have, int i, struct copy_eval *ev,
                  struct nv_certificate *out)
{
    struct nv_certificate c;

    memset(&c, 0, sizeof(c));
    return eval_copy(img, have, &AREA_SLOT[i], ev, decode_slot_v, free_slot_v, &c, out, sizeof(c));
}

int nvi_eval_bank(const unsigned char *img, size_t have, int i, struct copy_eval *ev,
                  struct nv_nvram *out)
{
    struct nv_nvram n;

    memset(&n, 0, sizeof(n));
    return eval_copy(img, have, &AREA_BANK[i], ev, decode_bank_v, free_bank_v, &n, out, sizeof(n));
}

/* The newest of two copies: 0 or 1, -1 if neither is valid, -2 if both claim one sequence. */
int nvi_newest(int state0, uint64_t seq0, int state1, uint64_t seq1)
{
    if (state0 == AREA_OK && state1 == AREA_OK) {
        if (seq0 == seq1)
            return -2;
        return seq0 > seq1 ? 0 : 1;
    }
    if (state0 == AREA_OK)
        return 0;
    if (state1 == AREA_OK)
        return 1;
    return -1;
}

/* How the messages about a pair of copies name them. */
struct copy_names {
    const char *where; /* "flash image: certificate area" */
    const char *copy;  /* "slot" */
    const char *one;   /* a copy, before its number: "flash image: certificate slot" */
};

static const struct copy_names SLOT_NAMES = {"flash image: certificate area", "slot",
                                             "flash image: certificate slot"};
static const struct copy_names BANK_NAMES = {"nvram image", "bank", "nvram image: bank"};

/* The current one of two evaluated copies into *cur (0, 1, or -1 if both are empty and
 * none_allowed). CL_ERR_PARSE if both claim one sequence or none is valid; a bad copy beside the
 * current one is logged. */
static int choose_current(const struct copy_eval ev[2], const struct copy_names *names,
                          int none_allowed, int *cur, char *err, size_t errlen)
{
    *cur = nvi_newest(ev[0].state, ev[0].sequence, ev[1].state, ev[1].sequence);
    if (*cur == -2)
        return nvi_fail(err, errlen, CL_ERR_PARSE, "%s: both %ss claim sequence %" PRIu64,
                        names->where, names->copy, ev[0].sequence);
    if (*cur == -1 && (!none_allowed || ev[0].state == AREA_BAD || ev[1].state == AREA_BAD))
        return nvi_fail(err, errlen, CL_ERR_PARSE, "%s: no valid %s (%s 0: %s; %s 1: %s)",
                        names->where, names->copy, names->copy, ev[0].why, names->copy, ev[1].why);
    if (*cur >= 0 && ev[1 - *cur].state == AREA_BAD)
        cl_log_warn("%s %d ignored (%s); %s %d is current", names->one, 1 - *cur, ev[1 - *cur].why,
                    names->copy, *cur);
    return CL_OK;
}

/* The current certificate slot of a flash image: *current is 0, 1 or -1 (no certificate yet),
 * *sequence its sequence; if cert != NULL it receives the current record. CL_ERR_PARSE if slots
 * exist but none is valid, or both claim one sequence. */
int nvi_find_current_slot(const unsigned char *img, size_t have, int *current, uint64_t *sequence,
                          struct nv_certificate *cert, char *err, size_t errlen)
{
    struct copy_eval ev[2];
    struct nv_certificate rec[2];
    int rc = CL_OK, cur;

    memset(rec, 0, sizeof(rec));
    *current = -1;
    for (int i = 0; i < 2 && rc == CL_OK; i++)
        rc = nvi_eval_slot(img, have, i, &ev[i], &rec[i]);
    if (rc != CL_OK)
        rc = nvi_fail(err, errlen, rc, "%s: out of memory", SLOT_NAMES.where);
    else
        rc = choose_current(ev, &SLOT_NAMES, 1, &cur, err, errlen);
    if (rc == CL_OK) {
        *current = cur;
        *sequence = cur >= 0 ? ev[cur].sequence : 0;
        if (cur >= 0 && cert != NULL) {
            *cert = rec[cur];
            memset(&rec[cur], 0, sizeof(rec[cur]));
        }
    }
    nv_certificate_free(&rec[0]);
    nv_certificate_free(&rec[1]);
    return rc;
}

/* The current NVRAM bank (0 or 1) into *bank and *nv. CL_ERR_PARSE if there is none. */
int nvi_find_current_bank(const unsigned char *img, size_t have, int *bank, struct nv_nvram *nv,
                          char *err, size_t errlen)
{
    struct copy_eval ev[2];
    struct nv_nvram rec[2];
    int rc = CL_OK, cur;

    memset(rec, 0, sizeof(rec));
    for (int i = 0; i < 2 && rc == CL_OK; i++)
        rc = nvi_eval_bank(img, have, i, &ev[i], &rec[i]);
    if (rc != CL_OK)
        rc = nvi_fail(err, errlen, rc, "%s: out of memory", BANK_NAMES.where);
    else
        rc = choose_current(ev, &BANK_NAMES, 0, &cur, err, errlen);
    if (rc == CL_OK) {
        *bank = cur;
        *nv = rec[cur];
        memset(&rec[cur], 0, sizeof(rec[cur]));
    }
    nvi_nvram_free(&rec[0]);
    nvi_nvram_free(&rec[1]);
    return rc;
}

/* --- Writing ------------------------------------------------------------------------------- */

static const char *step_name(int step)
{
    switch (step) {
    case NV_STEP_BODY_FIRST_HALF:
        return "record first half";
    case NV_STEP_BODY_SECOND_HALF:
        return "record second half";
    case NV_STEP_FLASH_SYNC_BODY:
        return "flash sync of the record";
    case NV_STEP_SLOT_HEADER:
        return "slot header";
    case NV_STEP_FLASH_SYNC_HEADER:
        return "flash sync of the header";
    case NV_STEP_NVRAM_BANK:
        return "nvram bank";
    case NV_STEP_NVRAM_SYNC:
        return "nvram sync";
    default:
        return "?";
    }
}

/* Locks and reads the NVRAM image for writing and checks that its current bank is still the one
 * device knows. */
static int nvram_for_write(const struct nv_device *device, int *fd, int *bank, struct nv_nvram *nv,
                           char *err, size_t errlen)
{
    unsigned char *img = NULL;
    int rc;

    if ((rc = nvi_load_image(device->nvram_path, 1, fd, &img, err, errlen)) != CL_OK)
        return rc;
    rc = nvi_find_current_bank(img, NVRAM_SIZE, bank, nv, err, errlen);
    nvi_free_image(img, NVRAM_SIZE);
    if (rc == CL_OK && nv->sequence != device->nvram.sequence)
        rc = nvi_fail(err, errlen, CL_ERR_CONFLICT,
                      "nvram image changed since it was opened (bank sequence %" PRIu64
                      ", expected %" PRIu64 ")",
                      nv->sequence, device->nvram.sequence);
    if (rc != CL_OK) {
        nvi_nvram_free(nv);
        close(*fd);
        *fd = -1;
    }
    return rc;
}

/* The spare bank's new content, encoded: body and header. */
static int nvram_encode(const struct nv_nvram *nv, int bank, unsigned char **body, size_t *len,
                        unsigned char hdr[AREA_HDR_LEN])
{
    *body = nvi_encode_bank(nv, len);
    if (*body == NULL)
        return CL_ERR_NOMEM;
    nvi_make_area_header(hdr, &AREA_BANK[bank], nv->sequence, *body, *len);
    return CL_OK;
}

static uint32_t saturating_inc(uint32_t v)
{
    return v == UINT32_MAX ? v : v + 1;
}

/* Erases an area header: the copy there no longer counts. */
static int erase_header(int fd, const struct area *a)
{
    unsigned char erased[AREA_HDR_LEN];

    memset(erased, ERASED, sizeof(erased));
    if (cl_pwrite_all(fd, erased, sizeof(erased), a->off) != 0 || fsync(fd) != 0)
        return -1;
    return 0;
}

/* What one certificate write needs, all prepared before the first byte is written. */
struct write_plan {
    int flash_fd, nvram_fd;
    int spare_slot, spare_bank;
    unsigned char *body;
    size_t body_len;
    unsigned char header[AREA_HDR_LEN];
    unsigned char *bank_body;
    size_t bank_len;
    unsigned char bank_header[AREA_HDR_LEN];
};

/* Runs one step; CL_OK, or CL_ERR_IO with why. */
static int run_step(const struct write_plan *p, int step, const struct nv_write_hooks *hooks,
                    char *why, size_t whylen)
{
    const struct area *slot = &AREA_SLOT[p->spare_slot], *bank = &AREA_BANK[p->spare_bank];
    size_t half = p->body_len / 2;
    int r = 0;

    if (hooks != NULL && hooks->fail_at_step == step) {
        cl_err_set(why, whylen, "simulated write error");
        return CL_ERR_IO;
    }
    switch (step) {
    case NV_STEP_BODY_FIRST_HALF:
        r = cl_pwrite_all(p->flash_fd, p->body, half, slot->off + AREA_HDR_LEN);
        break;
    case NV_STEP_BODY_SECOND_HALF:
        r = cl_pwrite_all(p->flash_fd, p->body + half, p->body_len - half,
                          slot->off + AREA_HDR_LEN + half);
        break;
    case NV_STEP_FLASH_SYNC_BODY:
    case NV_STEP_FLASH_SYNC_HEADER:
        r = fsync(p->flash_fd);
        break;
    case NV_STEP_SLOT_HEADER:
        r = cl_pwrite_all(p->flash_fd, p->header, AREA_HDR_LEN, slot->off);
        break;
    case NV_STEP_NVRAM_BANK:
        r = cl_pwrite_all(p->nvram_fd, p->bank_body, p->bank_len, bank->off + AREA_HDR_LEN);
        if (r == 0)
            r = cl_pwrite_all(p->nvram_fd, p->bank_header, AREA_HDR_LEN, bank->off);
        break;
    case NV_STEP_NVRAM_SYNC:
        r = fsync(p->nvram_fd);
        break;
    default:
        break;
    }
    if (r != 0) {
        cl_err_set(why, whylen, "%s", strerror(errno));
        return CL_ERR_IO;
    }
    return CL_OK;
}

static void plan_free(struct write_plan *p)
{
    if (p->flash_fd >= 0)
        close(p->flash_fd);
    if (p->nvram_fd >= 0)
        close(p->nvram_fd);
    nvi_free_image(p->body, p->body_len);
    free(p->bank_body);
    memset(p, 0, sizeof(*p));
    p->flash_fd = p->nvram_fd = -1;
}

int nv_write_certificate(struct nv_device *device, const struct nv_certificate *cert,
                         const struct nv_write_hooks *hooks, char *err, size_t errlen)
{
    struct write_plan p;
    struct nv_certificate stored;
    struct nv_nvram nv;
    unsigned char *img = NULL;
    char why[WHY_MAX];
    uint64_t disk_sequence = 0, sequence;
    int64_t written_at;
    int rc, disk_slot = -1, disk_bank = -1, expected_slot, step;
    struct rd r;

    memset(&p, 0, sizeof(p));
    memset(&stored, 0, sizeof(stored));
    memset(&nv, 0, sizeof(nv));
    p.flash_fd = p.nvram_fd = -1;
    if (device == NULL || cert == NULL)
        return nvi_fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "no device or certificate");
    if (!nvi_certificate_ok(cert, why, sizeof(why)))
        return nvi_fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "certificate: %s", why);

    /* Lock both images (always flash first) and check that they still hold what device says. */
    if ((rc = nvi_load_image(device->flash_path, 0, &p.flash_fd, &img, err, errlen)) != CL_OK)
        goto out;
    rc = nvi_find_current_slot(img, FLASH_SIZE, &disk_slot, &disk_sequence, NULL, err, errlen);
    nvi_free_image(img, FLASH_SIZE);
    if (rc != CL_OK)
        goto out;
    expected_slot = device->has_certificate ? device->current_slot : -1;
    if (disk_slot != expected_slot ||
        (device->has_certificate && disk_sequence != device->current.sequence)) {
        rc = nvi_fail(err, errlen, CL_ERR_CONFLICT,
                      "flash image changed since it was opened (current slot %d sequence %" PRIu64
                      ", expected slot %d)",
                      disk_slot, disk_sequence, expected_slot);
        goto out;
    }
    rc = nvram_for_write(device, &p.nvram_fd, &disk_bank, &nv, err, errlen);
    if (rc != CL_OK)
        goto out;
    if (disk_sequence == UINT64_MAX || nv.sequence == UINT64_MAX) {
        rc = nvi_fail(err, errlen, CL_ERR_STATE, "sequence numbers exhausted");
        goto out;
    }

    /* Everything is prepared before the first byte is written. */
    sequence = disk_slot >= 0 ? disk_sequence + 1 : 1;
    written_at = cert->written_at != 0 ? cert->written_at : (int64_t)time(NULL);
    p.spare_slot = disk_slot >= 0 ? 1 - disk_slot : 0;
    p.spare_bank = 1 - disk_bank;
    p.body = nvi_encode_slot(cert, sequence, written_at, &p.body_len);
    if (p.body == NULL) {
        rc = nvi_fail(err, errlen, CL_ERR_NOMEM, "out of memory");
        goto out;
    }
    r = (struct rd){p.body, p.body_len, 0, why, sizeof(why)};
    rc = nvi_decode_slot(&r, sequence, &stored);
    if (rc != CL_OK) {
        rc = nvi_fail(err, errlen, rc == CL_ERR_NOMEM ? rc : CL_ERR_INTERNAL,
                      "certificate record does not decode: %s", why);
        goto out;
    }
    nvi_make_area_header(p.header, &AREA_SLOT[p.spare_slot], sequence, p.body, p.body_len);
    nv.sequence++;
    nv.counters.certificate_writes = saturating_inc(nv.counters.certificate_writes);
    nv.counters.last_write_at = written_at;
    rc = nvram_encode(&nv, p.spare_bank, &p.bank_body, &p.bank_len, p.bank_header);
    if (rc != CL_OK) {
        rc = nvi_fail(err, errlen, rc, "out of memory");
        goto out;
    }

    for (step = NV_STEP_BODY_FIRST_HALF; step <= NV_WRITE_STEPS; step++) {
        rc = run_step(&p, step, hooks, why, sizeof(why));
        if (rc != CL_OK)
            break;
        if (hooks != NULL && hooks->power_cut_after == step) {
            /* Power gone: nothing further happens, not even a rollback. */
            rc = NV_POWER_CUT;
            goto out;
        }
    }
    if (rc != CL_OK) {
        /* Once the new slot's header (or the new bank) may be on disk, erase it again, so that
         * the previous certificate and counters stay current. */
        int undone = 1;
        if (step >= NV_STEP_SLOT_HEADER && erase_header(p.flash_fd, &AREA_SLOT[p.spare_slot]) != 0)
            undone = 0;
        if (step >= NV_STEP_NVRAM_BANK && erase_header(p.nvram_fd, &AREA_BANK[p.spare_bank]) != 0)
            undone = 0;
        if (!undone)
            cl_log_error("certificate write failed at step %d and could not be undone", step);
        rc = nvi_fail(err, errlen, CL_ERR_IO, "certificate write failed at step %d (%s): %s; %s",
                      step, step_name(step), why,
                      undone ? "the previous certificate stays current"
                             : "undoing it failed too, reopen the images");
        goto out;
    }

    nv_certificate_free(&device->current);
    device->current = stored;
    memset(&stored, 0, sizeof(stored));
    device->has_certificate = 1;
    device->current_slot = p.spare_slot;
    device->nvram.sequence = nv.sequence;
    device->nvram.counters = nv.counters;
    rc = CL_OK;
out:
    plan_free(&p);
    nv_certificate_free(&stored);
    nvi_nvram_free(&nv);
    return rc;
}

int nv_count_failure(struct nv_device *device, char *err, size_t errlen)
{
    unsigned char *body = NULL, hdr[AREA_HDR_LEN];
    struct nv_nvram nv;
    size_t len = 0;
    int fd = -1, bank = -1, rc, e;

    memset(&nv, 0, sizeof(nv));
    if (device == NULL)
        return nvi_fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "no device");
    rc = nvram_for_write(device, &fd, &bank, &nv, err, errlen);
    if (rc != CL_OK)
        return rc;
    if (nv.sequence == UINT64_MAX) {
        rc = nvi_fail(err, errlen, CL_ERR_STATE, "nvram sequence exhausted");
        goto out;
    }
    nv.sequence++;
    nv.counters.failed_writes = saturating_inc(nv.counters.failed_writes);
    nv.counters.last_write_at = (int64_t)time(NULL);
    bank = 1 - bank;
    rc = nvram_encode(&nv, bank, &body, &len, hdr);
    if (rc != CL_OK) {
        rc = nvi_fail(err, errlen, rc, "out of memory");
        goto out;
    }
    if (cl_pwrite_all(fd, body, len, AREA_BANK[bank].off + AREA_HDR_LEN) != 0 ||
        cl_pwrite_all(fd, hdr, AREA_HDR_LEN, AREA_BANK[bank].off) != 0 || fsync(fd) != 0) {
        e = errno;
        erase_header(fd, &AREA_BANK[bank]);
        rc = nvi_fail(err, errlen, CL_ERR_IO, "nvram image: %s: %s", AREA_BANK[bank].name,
                      strerror(e));
        goto out;
    }
    device->nvram.sequence = nv.sequence;
    device->nvram.counters = nv.counters;
    rc = CL_OK;
out:
    close(fd);
    free(body);
    nvi_nvram_free(&nv);
    return rc;
}
