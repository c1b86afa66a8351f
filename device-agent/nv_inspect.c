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
    const unsigned char *body = NULL;
    size_t len = 0;
    uint64_t seq;
    struct rd r;
    int state;

    state = nvi_check_area(img, have, a, &seq, &body, &len, why, sizeof(why));
    if (state != AREA_OK) {
        add_check(all, n, a->name, 0, "%s", why);
        return;
    }
    r = (struct rd){body, len, 0, why, sizeof(why)};
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

static void inspect_flash(const char *path, struct nv_check *all, size_t *n)
{
    unsigned char *img = NULL;
    size_t have = 0, filesize = 0;
    struct copy_eval ev[2];
    struct nv_certificate rec[2];
    char why[WHY_MAX];
    int fd = -1, rc, cur;

    rc = nvi_open_image(path, O_RDONLY, LOCK_SH, &fd, why, sizeof(why));
    if (rc == CL_OK)
        rc = nvi_read_image(fd, FLASH_SIZE, &img, &have, &filesize, why, sizeof(why));
    if (fd >= 0)
        close(fd);
    if (rc != CL_OK) {
        add_check(all, n, "flash header", 0, "%s", why);
        add_check(all, n, AREA_PROGRAM.name, 0, "not checked (flash image unreadable)");
        add_check(all, n, AREA_FIXED.name, 0, "not checked (flash image unreadable)");
        add_check(all, n, AREA_COMMON.name, 0, "not checked (flash image unreadable)");
        add_check(all, n, AREA_SLOT[0].name, 0, "not checked (flash image unreadable)");
        add_check(all, n, AREA_SLOT[1].name, 0, "not checked (flash image unreadable)");
        return;
    }
    add_check(
        all, n, "flash header",
        nvi_check_image_header(img, have, filesize, FLASH_MAGIC, FLASH_SIZE, why, sizeof(why)),
        "%s", why);
    inspect_required(img, have, &AREA_PROGRAM, all, n);
    inspect_required(img, have, &AREA_FIXED, all, n);
    inspect_required(img, have, &AREA_COMMON, all, n);

    memset(rec, 0, sizeof(rec));
    for (int i = 0; i < 2; i++) {
        if (nvi_eval_slot(img, have, i, &ev[i], &rec[i]) != CL_OK) {
            ev[i].state = AREA_BAD;
            nvi_say(ev[i].why, sizeof(ev[i].why), "out of memory");
        }
    }
    cur = nvi_newest(ev[0].state, ev[0].sequence, ev[1].state, ev[1].sequence);
    for (int i = 0; i < 2; i++) {
        if (ev[i].state == AREA_EMPTY)
            add_check(all, n, AREA_SLOT[i].name, -1, "%s", ev[i].why);
        else if (ev[i].state == AREA_BAD)
            add_check(all, n, AREA_SLOT[i].name, 0, "%s", ev[i].why);
        else if (cur == -2)
            add_check(all, n, AREA_SLOT[i].name, 0,
                      "sequence %" PRIu64 ", same as the other slot (ambiguous)", ev[i].sequence);
        else
            add_check(all, n, AREA_SLOT[i].name, 1, "sequence %" PRIu64 ", %s, device %s",
                      ev[i].sequence, cur == i ? "current" : "older copy", rec[i].device_number);
        nv_certificate_free(&rec[i]);
    }
    nvi_free_image(img, FLASH_SIZE);
}

static void inspect_nvram(const char *path, struct nv_check *all, size_t *n)
{
    unsigned char *img = NULL;
    size_t have = 0, filesize = 0;
    struct copy_eval ev[2];
    struct nv_nvram rec[2];
    char why[WHY_MAX];
    int fd = -1, rc, cur;

    rc = nvi_open_image(path, O_RDONLY, LOCK_SH, &fd, why, sizeof(why));
    if (rc == CL_OK)
        rc = nvi_read_image(fd, NVRAM_SIZE, &img, &have, &filesize, why, sizeof(why));
    if (fd >= 0)
        close(fd);
    if (rc != CL_OK) {
        add_check(all, n, "nvram header", 0, "%s", why);
        add_check(all, n, AREA_BANK[0].name, 0, "not checked (nvram image unreadable)");
        add_check(all, n, AREA_BANK[1].name, 0, "not checked (nvram image unreadable)");
        return;
    }
    add_check(
        all, n, "nvram header",
        nvi_check_image_header(img, have, filesize, NVRAM_MAGIC, NVRAM_SIZE, why, sizeof(why)),
        "%s", why);
    memset(rec, 0, sizeof(rec));
    for (int i = 0; i < 2; i++) {
        if (nvi_eval_bank(img, have, i, &ev[i], &rec[i]) != CL_OK) {
            ev[i].state = AREA_BAD;
            nvi_say(ev[i].why, sizeof(ev[i].why), "out of memory");
        }
    }
    cur = nvi_newest(ev[0].state, ev[0].sequence, ev[1].state, ev[1].sequence);
    for (int i = 0; i < 2; i++) {
        if (ev[i].state == AREA_EMPTY)
            add_check(all, n, AREA_BANK[i].name, -1, "%s", ev[i].why);
        else if (ev[i].state == AREA_BAD)
            add_check(all, n, AREA_BANK[i].name, 0, "%s", ev[i].why);
        else if (cur == -2)
            add_check(all, n, AREA_BANK[i].name, 0,
                      "sequence %" PRIu64 ", same as the other bank (ambiguous)", ev[i].sequence);
        else
            add_check(all, n, AREA_BANK[i].name, 1,
                      "sequence %" PRIu64 ", %s, device %s, %" PRIu32 " writes, %" PRIu32 " failed",
                      ev[i].sequence, cur == i ? "current" : "older copy", rec[i].device_number,
                      rec[i].counters.certificate_writes, rec[i].counters.failed_writes);
        nvi_nvram_free(&rec[i]);
    }
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
