/* nv_inspect.c: nv_inspect, the read-only check of both device images for show commands. */
#include "nv_image_internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "error.h"

#define DETAIL_MAX sizeof(((struct nv_check *)0)->detail)

/* --- nv_inspect -------------------------------------------------------------------------- */

static void add_check(struct nv_check *all, size_t *n, const char *name, int ok, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));

static void add_check(struct nv_check *all, size_t *n, const char *name, int ok, const char *fmt,
                      ...)
{
    va_list ap;
    struct nv_check *c = &all[(*n)++];

    snprintf(c->name, sizeof(c->name), "%s", name);
    c->ok = ok;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
    va_end(ap);
}

/* Checks one required flash area and says what it holds. */
static void inspect_required(const unsigned char *img, size_t have, const struct area *a,
                             struct nv_check *all, size_t *n)
{
    char why[WHY_MAX];
    uint64_t seq;
    struct rd r;

    if (nvi_check_area(img, have, a, &seq, &r, why, sizeof(why)) != AREA_OK) {
        add_check(all, n, a->name, 0, "%s", why);
        return;
    }
    if (a == &AREA_PROGRAM) {
        struct nv_firmware f;
        memset(&f, 0, sizeof(f));
        if (nvi_decode_program(&r, &f) == CL_OK)
            add_check(all, n, a->name, 1, "model %s, key type %s, key id %s", f.model_code,
                      f.key_type, f.key_id);
        else
            add_check(all, n, a->name, 0, "%s", why);
        nvi_firmware_free(&f);
    } else if (a == &AREA_FIXED) {
        struct nv_fixed x;
        memset(&x, 0, sizeof(x));
        if (nvi_decode_fixed(&r, &x) == CL_OK)
            add_check(all, n, a->name, 1, "MAC %02x:%02x:%02x:%02x:%02x:%02x, model %s", x.mac[0],
                      x.mac[1], x.mac[2], x.mac[3], x.mac[4], x.mac[5], x.model_code);
        else
            add_check(all, n, a->name, 0, "%s", why);
    } else {
        struct nv_common c;
        memset(&c, 0, sizeof(c));
        if (nvi_decode_common(&r, &c) == CL_OK)
            add_check(all, n, a->name, 1, "certificate %zu bytes, sealed key %zu bytes",
                      strlen(c.certificate_pem), c.sealed_key_len);
        else
            add_check(all, n, a->name, 0, "%s", why);
        nvi_common_free(&c);
    }
}

/* Reads the image of size bytes at path (a shared lock, the file closed again) and checks its
 * header ("<image> header"). NULL if it cannot be read: then the header check fails and each of
 * the count areas is "not checked". */
static unsigned char *read_for_inspect(const char *path, const char *image,
                                       const unsigned char magic[8], uint32_t size,
                                       const struct area *const areas[], size_t count,
                                       struct nv_check *all, size_t *n, size_t *have)
{
    unsigned char *img = NULL;
    size_t filesize = 0;
    char why[WHY_MAX], header[32];
    int fd = -1, rc;

    snprintf(header, sizeof(header), "%s header", image);
    rc = nvi_open_image(path, O_RDONLY, LOCK_SH, &fd, why, sizeof(why));
    if (rc == CL_OK)
        rc = nvi_read_image(fd, size, &img, have, &filesize, why, sizeof(why));
    if (fd >= 0)
        close(fd);
    if (rc != CL_OK) {
        add_check(all, n, header, 0, "%s", why);
        for (size_t i = 0; i < count; i++)
            add_check(all, n, areas[i]->name, 0, "not checked (%s image unreadable)", image);
        return NULL;
    }
    add_check(all, n, header,
              nvi_check_image_header(img, *have, filesize, magic, size, why, sizeof(why)), "%s",
              why);
    return img;
}

/* A copy the evaluation could not finish (out of memory) counts as bad. */
static void mark_unevaluated(int rc, struct copy_eval *ev)
{
    if (rc != CL_OK) {
        ev->state = AREA_BAD;
        cl_err_set(ev->why, sizeof(ev->why), "out of memory");
    }
}

/* The checks of a pair of copies (certificate slots or NVRAM banks, named copy): empty, bad,
 * ambiguous, or its sequence, whether it is current, and what it holds (held[i]). */
static void add_copy_checks(struct nv_check *all, size_t *n, const struct area areas[2],
                            const struct copy_eval ev[2], const char *copy,
                            char held[2][DETAIL_MAX])
{
    int cur = nvi_newest(ev[0].state, ev[0].sequence, ev[1].state, ev[1].sequence);

    for (int i = 0; i < 2; i++) {
        if (ev[i].state == AREA_EMPTY)
            add_check(all, n, areas[i].name, -1, "%s", ev[i].why);
        else if (ev[i].state == AREA_BAD)
            add_check(all, n, areas[i].name, 0, "%s", ev[i].why);
        else if (cur == -2)
            add_check(all, n, areas[i].name, 0,
                      "sequence %" PRIu64 ", same as the other %s (ambiguous)", ev[i].sequence,
                      copy);
        else
            add_check(all, n, areas[i].name, 1, "sequence %" PRIu64 ", %s, %s", ev[i].sequence,
                      cur == i ? "current" : "older copy", held[i]);
    }
}

static void inspect_flash(const char *path, struct nv_check *all, size_t *n)
{
    static const struct area *const areas[] = {&AREA_PROGRAM, &AREA_FIXED, &AREA_COMMON,
                                               &AREA_SLOT[0], &AREA_SLOT[1]};
    struct copy_eval ev[2];
    struct nv_certificate rec;
    char held[2][DETAIL_MAX];
    unsigned char *img;
    size_t have = 0;

    img = read_for_inspect(path, "flash", FLASH_MAGIC, FLASH_SIZE, areas, 5, all, n, &have);
    if (img == NULL)
        return;
    inspect_required(img, have, &AREA_PROGRAM, all, n);
    inspect_required(img, have, &AREA_FIXED, all, n);
    inspect_required(img, have, &AREA_COMMON, all, n);
    for (int i = 0; i < 2; i++) {
        memset(&rec, 0, sizeof(rec));
        mark_unevaluated(nvi_eval_slot(img, have, i, &ev[i], &rec), &ev[i]);
        snprintf(held[i], sizeof(held[i]), "device %s", rec.device_number);
        nv_certificate_free(&rec);
    }
    add_copy_checks(all, n, AREA_SLOT, ev, "slot", held);
    nvi_free_image(img, FLASH_SIZE);
}

static void inspect_nvram(const char *path, struct nv_check *all, size_t *n)
{
    static const struct area *const areas[] = {&AREA_BANK[0], &AREA_BANK[1]};
    struct copy_eval ev[2];
    struct nv_nvram rec;
    char held[2][DETAIL_MAX];
    unsigned char *img;
    size_t have = 0;

    img = read_for_inspect(path, "nvram", NVRAM_MAGIC, NVRAM_SIZE, areas, 2, all, n, &have);
    if (img == NULL)
        return;
    for (int i = 0; i < 2; i++) {
        memset(&rec, 0, sizeof(rec));
        mark_unevaluated(nvi_eval_bank(img, have, i, &ev[i], &rec), &ev[i]);
        snprintf(held[i], sizeof(held[i]), "device %s, %" PRIu32 " writes, %" PRIu32 " failed",
                 rec.device_number, rec.counters.certificate_writes, rec.counters.failed_writes);
        nvi_nvram_free(&rec);
    }
    add_copy_checks(all, n, AREA_BANK, ev, "bank", held);
    nvi_free_image(img, NVRAM_SIZE);
}

size_t nv_inspect(const char *flash_path, const char *nvram_path, struct nv_check *checks,
                  size_t max)
{
    struct nv_check all[9];
    size_t n = 0;

    memset(all, 0, sizeof(all));
    inspect_flash(flash_path != NULL ? flash_path : "", all, &n);
    inspect_nvram(nvram_path != NULL ? nvram_path : "", all, &n);
    if (checks == NULL)
        return 0;
    if (n > max)
        n = max;
    memcpy(checks, all, n * sizeof(all[0]));
    return n;
}
