/* test_nv_image.c: the device's emulated flash and NVRAM images: creation and round trip of
 * every field, the documented layout (IMAGES.md), the two-slot certificate write under a power
 * cut after every step and a write error at every step, NVRAM counters, and refusal of damaged,
 * truncated and hostile images (checksums recomputed so that only the bound checks stand in the
 * way). Works in a fresh mkdtemp directory per test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "nv_image.h"

/* The layout as IMAGES.md documents it (format version 1). */
#define FLASH_SIZE 0x25000u
#define PROGRAM_OFF 0x01000u
#define SLOT_OFF(i) (0x0A000u + (unsigned)(i)*0x0A000u)
#define COMMON_OFF 0x1E000u
#define FIXED_OFF 0x24000u
#define NVRAM_SIZE 0x0B000u
#define BANK_OFF(i) (0x01000u + (unsigned)(i)*0x05000u)
#define HDR 32u
/* Offsets inside bodies. */
#define SLOT_DEVICE_NUMBER 8u
#define SLOT_MODEL_CODE 40u
#define SLOT_CERT_LEN 186u
#define SLOT_CHAIN_LEN 190u
#define SLOT_SEALED_LEN 194u
#define SLOT_DATA 198u
#define PROGRAM_PREWRITE 97u
#define PROGRAM_ROOT_LEN 161u
#define COMMON_SEALED_LEN 4u
#define BANK_PEM_LEN 64u

#define DEVICE_NUMBER "DN-000123"

struct fixture {
    char dir[64];
    char flash[128];
    char nvram[128];
};

/* --- Helpers --------------------------------------------------------------------------------- */

/* CRC-32 (ISO-HDLC), table-driven here, independent of the bitwise one under test. */
static uint32_t crc32_t(const unsigned char *p, size_t len)
{
    static uint32_t table[256];
    static int ready;
    uint32_t crc = 0xFFFFFFFFu;

    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    while (len-- > 0)
        crc = table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void set_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf;
    long n;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const unsigned char *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void flip_byte(const char *path, size_t off)
{
    size_t len;
    unsigned char *buf = slurp(path, &len);
    assert_true(off < len);
    buf[off] ^= 0x5A;
    spit(path, buf, len);
    free(buf);
}

/* Recomputes an area's body checksum (over its stated length) and header checksum, as a
 * hostile image would. */
static void fix_area(unsigned char *img, size_t off)
{
    unsigned char *h = img + off;
    uint32_t len = le32(h + 16);
    if (len <= 0x0A000u - HDR)
        set_le32(h + 20, crc32_t(h + HDR, len));
    set_le32(h + 28, crc32_t(h, 28));
}

/* Sets a little-endian u32 at off inside the body of the area at area_off, fixing checksums. */
static void poke32(const char *path, size_t area_off, size_t body_off, uint32_t v)
{
    size_t len;
    unsigned char *buf = slurp(path, &len);
    set_le32(buf + area_off + HDR + body_off, v);
    fix_area(buf, area_off);
    spit(path, buf, len);
    free(buf);
}

static void poke8(const char *path, size_t area_off, size_t body_off, unsigned char v)
{
    size_t len;
    unsigned char *buf = slurp(path, &len);
    buf[area_off + HDR + body_off] = v;
    fix_area(buf, area_off);
    spit(path, buf, len);
    free(buf);
}

static void truncate_to(const char *path, off_t size)
{
    assert_int_equal(truncate(path, size), 0);
}

/* A text of exactly len bytes, different for each tag, in PEM-like lines. */
static char *text_of(size_t len, char tag)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    for (size_t i = 0; i < len; i++)
        s[i] = (i % 65 == 64) ? '\n' : (char)('A' + (int)((i * 7 + (size_t)tag) % 26));
    if (len > 0)
        s[0] = tag;
    s[len] = '\0';
    return s;
}

/* A certificate record; tag makes every field differ from another tag's. */
static void cert_make(struct nv_certificate *c, char tag, size_t pem_len, size_t sealed_len)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->device_number, sizeof(c->device_number), "%s", DEVICE_NUMBER);
    snprintf(c->model_code, sizeof(c->model_code), "MODEL%c", tag);
    snprintf(c->serial_hex, sizeof(c->serial_hex), "7F00%02X", (unsigned)tag);
    snprintf(c->key_type, sizeof(c->key_type), "%s", tag % 2 ? "p256" : "rsa2048");
    for (int i = 0; i < NV_VERIFY_HEX; i++)
        c->device_value[i] = "0123456789abcdef"[(i + tag) % 16];
    c->certificate_pem = text_of(pem_len, tag);
    c->chain_pem = text_of(pem_len / 2 + 1, (char)(tag + 1));
    c->sealed_key = malloc(sealed_len);
    assert_non_null(c->sealed_key);
    for (size_t i = 0; i < sealed_len; i++)
        c->sealed_key[i] = (unsigned char)(i * 31 + (size_t)tag);
    c->sealed_key_len = sealed_len;
    c->written_at = 1700000000 + tag;
}

static void cert_std(struct nv_certificate *c, char tag)
{
    cert_make(c, tag, 1200 + (size_t)tag, 60 + (size_t)tag);
}

/* Every stored field of a equals b's (sequence aside). */
static void assert_cert_equal(const struct nv_certificate *a, const struct nv_certificate *b)
{
    assert_string_equal(a->device_number, b->device_number);
    assert_string_equal(a->model_code, b->model_code);
    assert_string_equal(a->serial_hex, b->serial_hex);
    assert_string_equal(a->key_type, b->key_type);
    assert_string_equal(a->device_value, b->device_value);
    assert_non_null(a->certificate_pem);
    assert_non_null(b->certificate_pem);
    assert_string_equal(a->certificate_pem, b->certificate_pem);
    assert_string_equal(a->chain_pem, b->chain_pem);
    assert_int_equal(a->sealed_key_len, b->sealed_key_len);
    assert_memory_equal(a->sealed_key, b->sealed_key, a->sealed_key_len);
    assert_int_equal(a->written_at, b->written_at);
}

static struct nv_firmware g_firmware;
static struct nv_fixed g_fixed;
static struct nv_common g_common;
static unsigned char g_common_key[77];

static struct nv_board board_make(const char *device_number)
{
    struct nv_board b;

    memset(&g_firmware, 0, sizeof(g_firmware));
    snprintf(g_firmware.model_code, sizeof(g_firmware.model_code), "MX200");
    snprintf(g_firmware.key_type, sizeof(g_firmware.key_type), "p256");
    snprintf(g_firmware.key_id, sizeof(g_firmware.key_id), "MX200-prewrite-2026-01");
    for (int i = 0; i < NV_SECRET_BYTES; i++) {
        g_firmware.prewrite_key[i] = (unsigned char)(0xA0 + i);
        g_firmware.peculiar_generator[i] = (unsigned char)(0x30 + 3 * i);
    }
    g_firmware.root_pem = "-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n";
    g_firmware.chain_pem = "-----BEGIN CERTIFICATE-----\nISSUING\n-----END CERTIFICATE-----\n"
                           "-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n";
    memset(&g_fixed, 0, sizeof(g_fixed));
    memcpy(g_fixed.mac, "\x02\x11\x22\x33\x44\x55", NV_MAC_BYTES);
    snprintf(g_fixed.model_code, sizeof(g_fixed.model_code), "MX200");
    g_fixed.board_made_at = 1767225600;
    for (size_t i = 0; i < sizeof(g_common_key); i++)
        g_common_key[i] = (unsigned char)(i ^ 0x5C);
    g_common.certificate_pem =
        "-----BEGIN CERTIFICATE-----\nCOMMON MX200\n-----END CERTIFICATE-----\n";
    g_common.sealed_key = g_common_key;
    g_common.sealed_key_len = sizeof(g_common_key);
    memset(&b, 0, sizeof(b));
    b.firmware = &g_firmware;
    b.fixed = &g_fixed;
    b.common = &g_common;
    b.device_number = device_number;
    b.initial_operational_value = 0x01020304;
    b.initial_apl_value = 0xA0B0C0D0;
    return b;
}

static void make_board(struct fixture *f)
{
    struct nv_board b = board_make(DEVICE_NUMBER);
    char err[256] = "";
    int rc = nv_create(f->flash, f->nvram, &b, 1, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("nv_create: %s", err);
}

static void open_ok(struct fixture *f, struct nv_device *d)
{
    char err[256] = "";
    int rc = nv_open(f->flash, f->nvram, d, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("nv_open: %s (%d)", err, rc);
}

/* Opening must fail with rc and an err that names what. */
static void open_fails(struct fixture *f, int rc, const char *what)
{
    struct nv_device d;
    char err[512] = "";
    assert_int_equal(nv_open(f->flash, f->nvram, &d, err, sizeof(err)), rc);
    if (strstr(err, what) == NULL)
        fail_msg("err \"%s\" does not name \"%s\"", err, what);
    assert_int_equal(d.has_certificate, 0);
    assert_null(d.firmware.root_pem);
}

static void write_ok(struct nv_device *d, const struct nv_certificate *c)
{
    char err[256] = "";
    int rc = nv_write_certificate(d, c, NULL, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("nv_write_certificate: %s (%d)", err, rc);
}

/* The check called name from nv_inspect. */
static struct nv_check inspect_one(struct fixture *f, const char *name)
{
    struct nv_check checks[NV_CHECKS_MAX];
    size_t n = nv_inspect(f->flash, f->nvram, checks, NV_CHECKS_MAX);
    for (size_t i = 0; i < n; i++)
        if (strcmp(checks[i].name, name) == 0)
            return checks[i];
    fail_msg("no check named %s", name);
    return checks[0];
}

static void assert_inspect(struct fixture *f, const char *name, int ok, const char *detail)
{
    struct nv_check c = inspect_one(f, name);
    if (c.ok != ok || (detail != NULL && strstr(c.detail, detail) == NULL))
        fail_msg("%s: ok %d detail \"%s\"; expected ok %d with \"%s\"", name, c.ok, c.detail, ok,
                 detail != NULL ? detail : "");
}

/* --- Fixture ----------------------------------------------------------------------------- */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_nv_image.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->flash, sizeof(f->flash), "%s/flash.img", f->dir);
    snprintf(f->nvram, sizeof(f->nvram), "%s/nvram.img", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *e;
    char path[sizeof(f->dir) + sizeof(e->d_name) + 1];

    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* --- Creation and layout --------------------------------------------------------------------- */

static void test_create_open_round_trip(void **state)
{
    struct fixture *f = *state;
    struct nv_device d;
    struct stat st;

    make_board(f);
    assert_int_equal(stat(f->flash, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, FLASH_SIZE);
    assert_int_equal(stat(f->nvram, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, NVRAM_SIZE);

    open_ok(f, &d);
    assert_string_equal(d.flash_path, f->flash);
    assert_string_equal(d.nvram_path, f->nvram);
    assert_string_equal(d.firmware.model_code, "MX200");
    assert_string_equal(d.firmware.key_type, "p256");
    assert_string_equal(d.firmware.key_id, "MX200-prewrite-2026-01");
    assert_memory_equal(d.firmware.prewrite_key, g_firmware.prewrite_key, NV_SECRET_BYTES);
    assert_memory_equal(d.firmware.peculiar_generator, g_firmware.peculiar_generator,
                        NV_SECRET_BYTES);
    assert_string_equal(d.firmware.root_pem, g_firmware.root_pem);
    assert_string_equal(d.firmware.chain_pem, g_firmware.chain_pem);
    assert_memory_equal(d.fixed.mac, g_fixed.mac, NV_MAC_BYTES);
    assert_string_equal(d.fixed.model_code, "MX200");
    assert_int_equal(d.fixed.board_made_at, 1767225600);
    assert_string_equal(d.common.certificate_pem, g_common.certificate_pem);
    assert_int_equal(d.common.sealed_key_len, sizeof(g_common_key));
    assert_memory_equal(d.common.sealed_key, g_common_key, sizeof(g_common_key));
    assert_int_equal(d.nvram.sequence, 1);
    assert_string_equal(d.nvram.device_number, DEVICE_NUMBER);
    assert_int_equal(d.nvram.initial_operational_value, 0x01020304);
    assert_int_equal(d.nvram.initial_apl_value, 0xA0B0C0D0);
    assert_int_equal(d.nvram.counters.certificate_writes, 0);
    assert_int_equal(d.nvram.counters.failed_writes, 0);
    assert_int_equal(d.nvram.counters.last_write_at, 0);
    assert_string_equal(d.nvram.common_certificate_pem, g_common.certificate_pem);
    assert_int_equal(d.has_certificate, 0);
    assert_int_equal(d.current_slot, -1);
    nv_close(&d);
}

/* The bytes on disk follow IMAGES.md: magics, offsets, checksums, erased slots. */
static void test_documented_layout(void **state)
{
    struct fixture *f = *state;
    struct nv_certificate a;
    struct nv_device d;
    unsigned char *img;
    size_t len;

    make_board(f);
    img = slurp(f->flash, &len);
    assert_int_equal(len, FLASH_SIZE);
    assert_memory_equal(img, "CLFLASH\0", 8);
    assert_int_equal(le32(img + 8), 1);
    assert_int_equal(le32(img + 12), FLASH_SIZE);
    assert_int_equal(le32(img + 28), crc32_t(img, 28));
    assert_memory_equal(img + PROGRAM_OFF, "PROG", 4);
    assert_memory_equal(img + COMMON_OFF, "COMN", 4);
    assert_memory_equal(img + FIXED_OFF, "FIXD", 4);
    for (int i = 0; i < 3; i++) {
        size_t off = (size_t[]){PROGRAM_OFF, COMMON_OFF, FIXED_OFF}[i];
        assert_int_equal(le32(img + off + 28), crc32_t(img + off, 28));
        assert_int_equal(le32(img + off + 20), crc32_t(img + off + HDR, le32(img + off + 16)));
    }
    /* The firmware's pre-write key is in the program area as a firmware binary holds it. */
    assert_memory_equal(img + PROGRAM_OFF + HDR + PROGRAM_PREWRITE, g_firmware.prewrite_key,
                        NV_SECRET_BYTES);
    for (size_t i = 0; i < 2 * 0x0A000u; i++)
        if (img[SLOT_OFF(0) + i] != 0xFF)
            fail_msg("slot byte %zu not erased", i);
    free(img);

    img = slurp(f->nvram, &len);
    assert_int_equal(len, NVRAM_SIZE);
    assert_memory_equal(img, "CLNVRAM\0", 8);
    assert_int_equal(le32(img + 28), crc32_t(img, 28));
    assert_memory_equal(img + BANK_OFF(0), "BANK", 4);
    assert_int_equal(img[BANK_OFF(0) + 8], 1); /* sequence 1 */
    assert_int_equal(img[BANK_OFF(1)], 0xFF);
    free(img);

    open_ok(f, &d);
    cert_std(&a, 'A');
    write_ok(&d, &a);
    nv_close(&d);
    img = slurp(f->flash, &len);
    assert_memory_equal(img + SLOT_OFF(0), "CERT", 4);
    assert_int_equal(img[SLOT_OFF(0) + 8], 1);
    assert_int_equal(le32(img + SLOT_OFF(0) + HDR + SLOT_CERT_LEN), strlen(a.certificate_pem));
    assert_memory_equal(img + SLOT_OFF(0) + HDR + SLOT_DATA, a.certificate_pem,
                        strlen(a.certificate_pem));
    assert_int_equal(img[SLOT_OFF(1)], 0xFF);
    free(img);
    nv_certificate_free(&a);
}

static void test_create_refuses_overwrite(void **state)
{
    struct fixture *f = *state;
    struct nv_board b = board_make("DN-OTHER");
    struct nv_device d;
    unsigned char *before, *after;
    size_t blen, alen;
    char err[256] = "";

    make_board(f);
    before = slurp(f->flash, &blen);
    assert_int_equal(nv_create(f->flash, f->nvram, &b, 0, err, sizeof(err)), CL_ERR_EXISTS);
    assert_non_null(strstr(err, "exists"));
    after = slurp(f->flash, &alen);
    assert_int_equal(alen, blen);
    assert_memory_equal(before, after, blen);
    free(after);
    free(before);
    open_ok(f, &d);
    assert_string_equal(d.nvram.device_number, DEVICE_NUMBER);
    nv_close(&d);

    /* Only the NVRAM image exists: still refused, and no flash image is made. */
    assert_int_equal(unlink(f->flash), 0);
    assert_int_equal(nv_create(f->flash, f->nvram, &b, 0, err, sizeof(err)), CL_ERR_EXISTS);
    assert_int_equal(access(f->flash, F_OK), -1);

    /* force replaces both. */
    assert_int_equal(nv_create(f->flash, f->nvram, &b, 1, err, sizeof(err)), CL_OK);
    open_ok(f, &d);
    assert_string_equal(d.nvram.device_number, "DN-OTHER");
    nv_close(&d);
}

static void test_create_leaves_nothing_on_failure(void **state)
{
    struct fixture *f = *state;
    struct nv_board b = board_make(DEVICE_NUMBER);
    char nvram[192], err[256] = "";
    char long_number[NV_DEVICE_NUMBER_MAX + 2];

    /* The NVRAM image cannot be made: the flash image made before it goes again. */
    snprintf(nvram, sizeof(nvram), "%s/missing-dir/nvram.img", f->dir);
    assert_int_equal(nv_create(f->flash, nvram, &b, 0, err, sizeof(err)), CL_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "nvram"));
    assert_int_equal(access(f->flash, F_OK), -1);

    /* A bad board writes nothing. */
    memset(long_number, '7', sizeof(long_number) - 1);
    long_number[sizeof(long_number) - 1] = '\0';
    b = board_make(long_number);
    assert_int_equal(nv_create(f->flash, f->nvram, &b, 0, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "device number"));
    b = board_make(DEVICE_NUMBER);
    g_common.sealed_key_len = NV_SEALED_MAX + 1;
    assert_int_equal(nv_create(f->flash, f->nvram, &b, 0, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(access(f->flash, F_OK), -1);
    assert_int_equal(access(f->nvram, F_OK), -1);
}

static void test_close_zeroises(void **state)
{
    struct fixture *f = *state;
    struct nv_device d;
    unsigned char zero[NV_SECRET_BYTES] = {0};

    make_board(f);
    open_ok(f, &d);
    assert_memory_not_equal(d.firmware.prewrite_key, zero, NV_SECRET_BYTES);
    assert_memory_not_equal(d.firmware.peculiar_generator, zero, NV_SECRET_BYTES);
    nv_close(&d);
    assert_memory_equal(d.firmware.prewrite_key, zero, NV_SECRET_BYTES);
    assert_memory_equal(d.firmware.peculiar_generator, zero, NV_SECRET_BYTES);
    assert_null(d.firmware.root_pem);
    assert_null(d.common.sealed_key);
    assert_null(d.current.certificate_pem);
    nv_close(&d); /* twice is harmless */
    nv_close(NULL);
}

/* --- Writing -----------------------------------------------------------------------------------
 */

static void test_write_repeatedly(void **state)
{
    struct fixture *f = *state;
    struct nv_device d, again;
    struct nv_certificate c, back;
    char err[256] = "";

    make_board(f);
    open_ok(f, &d);
    for (int i = 0; i < 6; i++) {
        cert_std(&c, (char)('A' + i));
        write_ok(&d, &c);
        assert_int_equal(d.has_certificate, 1);
        assert_int_equal(d.current.sequence, (uint64_t)i + 1);
        assert_int_equal(d.current_slot, i % 2);
        assert_cert_equal(&d.current, &c);
        assert_int_equal(nv_read_back(&d, &back, err, sizeof(err)), CL_OK);
        assert_cert_equal(&back, &c);
        assert_int_equal(back.sequence, (uint64_t)i + 1);
        nv_certificate_free(&back);
        assert_int_equal(d.nvram.counters.certificate_writes, (uint32_t)i + 1);
        assert_int_equal(d.nvram.counters.last_write_at, c.written_at);

        open_ok(f, &again);
        assert_int_equal(again.current_slot, i % 2);
        assert_int_equal(again.current.sequence, (uint64_t)i + 1);
        assert_cert_equal(&again.current, &c);
        assert_int_equal(again.nvram.counters.certificate_writes, (uint32_t)i + 1);
        assert_int_equal(again.nvram.sequence, (uint64_t)i + 2);
        nv_close(&again);
        nv_certificate_free(&c);
    }
    assert_int_equal(d.current_slot, 1);
    assert_inspect(f, "certificate slot 1", 1, "sequence 6, current");
    assert_inspect(f, "certificate slot 0", 1, "sequence 5, older copy");
    nv_close(&d);
}

/* The largest record fits, and a written_at of 0 becomes the current time. */
static void test_write_largest_record(void **state)
{
    struct fixture *f = *state;
    struct nv_device d, again;
    struct nv_certificate c, back;
    char err[256] = "";
    time_t before = time(NULL);

    make_board(f);
    open_ok(f, &d);
    cert_make(&c, 'M', NV_PEM_MAX, NV_SEALED_MAX);
    free(c.chain_pem);
    c.chain_pem = text_of(NV_PEM_MAX, 'N');
    c.written_at = 0;
    memset(c.serial_hex, 'F', NV_SERIAL_HEX_MAX);
    for (int i = 0; i < 2; i++) {
        write_ok(&d, &c);
        assert_int_equal(nv_read_back(&d, &back, err, sizeof(err)), CL_OK);
        assert_string_equal(back.certificate_pem, c.certificate_pem);
        assert_string_equal(back.chain_pem, c.chain_pem);
        assert_string_equal(back.serial_hex, c.serial_hex);
        assert_memory_equal(back.sealed_key, c.sealed_key, NV_SEALED_MAX);
        assert_true(back.written_at >= (int64_t)before && back.written_at <= time(NULL));
        nv_certificate_free(&back);
    }
    open_ok(f, &again);
    assert_int_equal(again.current.sequence, 2);
    assert_string_equal(again.current.chain_pem, c.chain_pem);
    nv_close(&again);
    nv_close(&d);
    nv_certificate_free(&c);
}

static void test_write_refuses_bad_input(void **state)
{
    struct fixture *f = *state;
    struct nv_device d;
    struct nv_certificate c;
    unsigned char *before, *after;
    size_t blen, alen;
    char err[256] = "";
    char *pem;
    unsigned char *key;

    make_board(f);
    open_ok(f, &d);
    before = slurp(f->flash, &blen);
    cert_std(&c, 'A');

    pem = c.certificate_pem;
    c.certificate_pem = text_of(NV_PEM_MAX + 1, 'X');
    assert_int_equal(nv_write_certificate(&d, &c, NULL, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "certificate"));
    free(c.certificate_pem);
    c.certificate_pem = pem;

    c.sealed_key_len = 0;
    assert_int_equal(nv_write_certificate(&d, &c, NULL, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    key = c.sealed_key;
    c.sealed_key = calloc(1, NV_SEALED_MAX + 1);
    c.sealed_key_len = NV_SEALED_MAX + 1;
    assert_int_equal(nv_write_certificate(&d, &c, NULL, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "sealed key"));
    free(c.sealed_key);
    c.sealed_key = key;
    c.sealed_key_len = 60 + 'A';

    memset(c.device_number, 'A', sizeof(c.device_number)); /* not terminated */
    assert_int_equal(nv_write_certificate(&d, &c, NULL, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "device number"));
    snprintf(c.device_number, sizeof(c.device_number), "%s", DEVICE_NUMBER);
    c.model_code[1] = '\n';
    assert_int_equal(nv_write_certificate(&d, &c, NULL, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "model code"));

    after = slurp(f->flash, &alen);
    assert_int_equal(alen, blen);
    assert_memory_equal(before, after, blen);
    assert_int_equal(d.has_certificate, 0);
    free(before);
    free(after);
    nv_certificate_free(&c);
    nv_close(&d);
}

/* Writing through a handle that no longer matches the images is refused. */
static void test_stale_handle_conflict(void **state)
{
    struct fixture *f = *state;
    struct nv_device d1, d2, d3;
    struct nv_certificate a, b;
    char err[256] = "";

    make_board(f);
    open_ok(f, &d1);
    open_ok(f, &d2);
    cert_std(&a, 'A');
    cert_std(&b, 'B');
    write_ok(&d1, &a);
    assert_int_equal(nv_write_certificate(&d2, &b, NULL, err, sizeof(err)), CL_ERR_CONFLICT);
    assert_non_null(strstr(err, "changed"));
    assert_int_equal(nv_count_failure(&d2, err, sizeof(err)), CL_ERR_CONFLICT);
    open_ok(f, &d3);
    assert_cert_equal(&d3.current, &a);
    assert_int_equal(d3.nvram.counters.failed_writes, 0);
    nv_close(&d3);
    nv_close(&d1);
    nv_close(&d2);
    nv_certificate_free(&a);
    nv_certificate_free(&b);
}

/* Starting from an image holding A (and, with old_spare, an older A0 in the spare slot), a
 * power cut after step while writing B leaves exactly A (steps before the slot header) or B
 * (from the slot header on), whole; the counters include B only from the NVRAM bank step on;
 * and a following normal write works. */
static void power_cut_case(struct fixture *f, int step, int old_spare)
{
    struct nv_write_hooks hooks = {0, step};
    struct nv_certificate a0, a, b, c, back;
    struct nv_device d, r;
    const struct nv_certificate *expect;
    char err[256] = "", slot_name[32];
    uint64_t a_seq = old_spare ? 2 : 1;
    int a_slot = old_spare ? 1 : 0, b_slot = 1 - a_slot, committed, counted, rc;

    make_board(f);
    open_ok(f, &d);
    cert_std(&a0, '0');
    cert_std(&a, 'A');
    cert_std(&b, 'B');
    cert_std(&c, 'C');
    if (old_spare)
        write_ok(&d, &a0);
    write_ok(&d, &a);

    rc = nv_write_certificate(&d, &b, &hooks, err, sizeof(err));
    assert_int_equal(rc, NV_POWER_CUT);
    committed = step >= NV_STEP_SLOT_HEADER;
    counted = step >= NV_STEP_NVRAM_BANK;
    /* The old handle is stale once anything became current. */
    if (committed)
        assert_int_equal(nv_write_certificate(&d, &c, NULL, err, sizeof(err)), CL_ERR_CONFLICT);
    nv_close(&d);

    open_ok(f, &r);
    expect = committed ? &b : &a;
    assert_int_equal(r.has_certificate, 1);
    assert_int_equal(r.current_slot, committed ? b_slot : a_slot);
    assert_int_equal(r.current.sequence, committed ? a_seq + 1 : a_seq);
    assert_cert_equal(&r.current, expect);
    assert_int_equal(r.nvram.counters.certificate_writes, a_seq + (counted ? 1 : 0));
    assert_int_equal(r.nvram.sequence, a_seq + 1 + (counted ? 1 : 0));
    snprintf(slot_name, sizeof(slot_name), "certificate slot %d", b_slot);
    if (committed)
        assert_inspect(f, slot_name, 1, "current");
    else if (old_spare)
        assert_inspect(f, slot_name, 0, NULL); /* interrupted write over A0 */
    else
        assert_inspect(f, slot_name, -1, "empty");

    write_ok(&r, &c);
    assert_int_equal(r.current.sequence, (committed ? a_seq + 1 : a_seq) + 1);
    assert_int_equal(nv_read_back(&r, &back, err, sizeof(err)), CL_OK);
    assert_cert_equal(&back, &c);
    nv_certificate_free(&back);
    nv_close(&r);
    open_ok(f, &r);
    assert_cert_equal(&r.current, &c);
    assert_int_equal(r.nvram.counters.certificate_writes, a_seq + (counted ? 1 : 0) + 1);
    nv_close(&r);

    nv_certificate_free(&a0);
    nv_certificate_free(&a);
    nv_certificate_free(&b);
    nv_certificate_free(&c);
}

static void test_power_cut_after_every_step(void **state)
{
    struct fixture *f = *state;
    for (int old_spare = 0; old_spare <= 1; old_spare++)
        for (int step = 1; step <= NV_WRITE_STEPS; step++)
            power_cut_case(f, step, old_spare);
}

/* A write error at step leaves A current (on disk and in the handle); the failure is counted;
 * the same handle then writes B. */
static void fail_case(struct fixture *f, int step, int old_spare)
{
    struct nv_write_hooks hooks = {step, 0};
    struct nv_certificate a0, a, b, back;
    struct nv_device d, r;
    char err[256] = "", want[32];
    uint64_t a_seq = old_spare ? 2 : 1;
    int a_slot = old_spare ? 1 : 0;

    make_board(f);
    open_ok(f, &d);
    cert_std(&a0, '0');
    cert_std(&a, 'A');
    cert_std(&b, 'B');
    if (old_spare)
        write_ok(&d, &a0);
    write_ok(&d, &a);

    assert_int_equal(nv_write_certificate(&d, &b, &hooks, err, sizeof(err)), CL_ERR_IO);
    snprintf(want, sizeof(want), "step %d", step);
    if (strstr(err, want) == NULL || strstr(err, "stays current") == NULL)
        fail_msg("err \"%s\"", err);
    assert_int_equal(d.current_slot, a_slot);
    assert_cert_equal(&d.current, &a);
    assert_int_equal(nv_read_back(&d, &back, err, sizeof(err)), CL_OK);
    assert_cert_equal(&back, &a);
    nv_certificate_free(&back);
    assert_int_equal(nv_count_failure(&d, err, sizeof(err)), CL_OK);
    assert_int_equal(d.nvram.counters.failed_writes, 1);

    open_ok(f, &r);
    assert_int_equal(r.current_slot, a_slot);
    assert_int_equal(r.current.sequence, a_seq);
    assert_cert_equal(&r.current, &a);
    assert_int_equal(r.nvram.counters.certificate_writes, a_seq);
    assert_int_equal(r.nvram.counters.failed_writes, 1);
    nv_close(&r);

    write_ok(&d, &b);
    assert_int_equal(d.current.sequence, a_seq + 1);
    open_ok(f, &r);
    assert_cert_equal(&r.current, &b);
    assert_int_equal(r.current_slot, 1 - a_slot);
    assert_int_equal(r.nvram.counters.certificate_writes, a_seq + 1);
    assert_int_equal(r.nvram.counters.failed_writes, 1);
    nv_close(&r);
    nv_close(&d);
    nv_certificate_free(&a0);
    nv_certificate_free(&a);
    nv_certificate_free(&b);
}

static void test_fail_at_every_step(void **state)
{
    struct fixture *f = *state;
    for (int old_spare = 0; old_spare <= 1; old_spare++)
        for (int step = 1; step <= NV_WRITE_STEPS; step++)
            fail_case(f, step, old_spare);
}

/* --- Counters ------------------------------------------------------------------------------ */

static void test_counters(void **state)
{
    struct fixture *f = *state;
    struct nv_device d, r;
    struct nv_certificate c;
    char err[256] = "";
    time_t before;

    make_board(f);
    open_ok(f, &d);
    for (int i = 0; i < 3; i++) {
        cert_std(&c, (char)('A' + i));
        write_ok(&d, &c);
        nv_certificate_free(&c);
    }
    before = time(NULL);
    assert_int_equal(nv_count_failure(&d, err, sizeof(err)), CL_OK);
    assert_int_equal(nv_count_failure(&d, err, sizeof(err)), CL_OK);
    open_ok(f, &r);
    assert_int_equal(r.nvram.counters.certificate_writes, 3);
    assert_int_equal(r.nvram.counters.failed_writes, 2);
    assert_int_equal(r.nvram.sequence, 6);
    assert_true(r.nvram.counters.last_write_at >= (int64_t)before);
    assert_true(r.nvram.counters.last_write_at <= (int64_t)time(NULL));
    /* The other fields travel with every bank. */
    assert_string_equal(r.nvram.device_number, DEVICE_NUMBER);
    assert_int_equal(r.nvram.initial_apl_value, 0xA0B0C0D0);
    assert_string_equal(r.nvram.common_certificate_pem, g_common.certificate_pem);
    nv_close(&r);
    nv_close(&d);
}

/* A bank write torn by a power cut (its body damaged) leaves the previous bank current. */
static void test_torn_nvram_bank(void **state)
{
    struct fixture *f = *state;
    struct nv_device d, r;
    struct nv_certificate a, b;

    make_board(f);
    open_ok(f, &d);
    cert_std(&a, 'A');
    cert_std(&b, 'B');
    write_ok(&d, &a); /* bank 1, sequence 2, one write */
    nv_close(&d);
    flip_byte(f->nvram, BANK_OFF(1) + HDR + 50);
    open_ok(f, &r);
    assert_int_equal(r.nvram.sequence, 1);
    assert_int_equal(r.nvram.counters.certificate_writes, 0);
    assert_cert_equal(&r.current, &a);
    assert_inspect(f, "nvram bank 1", 0, "checksum");
    assert_inspect(f, "nvram bank 0", 1, "current");
    write_ok(&r, &b); /* into bank 1 again */
    nv_close(&r);
    open_ok(f, &r);
    assert_int_equal(r.nvram.sequence, 2);
    assert_int_equal(r.nvram.counters.certificate_writes, 1);
    nv_close(&r);
    nv_certificate_free(&a);
    nv_certificate_free(&b);
}

/* --- Damage -------------------------------------------------------------------------------- */

/* Writes A (slot 0) and B (slot 1) and closes. */
static void two_certificates(struct fixture *f, struct nv_certificate *a, struct nv_certificate *b)
{
    struct nv_device d;
    make_board(f);
    open_ok(f, &d);
    cert_std(a, 'A');
    cert_std(b, 'B');
    write_ok(&d, a);
    write_ok(&d, b);
    nv_close(&d);
}

static void test_damaged_current_slot_older_wins(void **state)
{
    struct fixture *f = *state;
    struct nv_certificate a, b, c;
    struct nv_device d;
    size_t where[2] = {SLOT_OFF(1) + HDR + SLOT_DATA + 10, SLOT_OFF(1) + 9};
    const char *why[2] = {"body checksum", "header checksum"};

    for (int i = 0; i < 2; i++) {
        two_certificates(f, &a, &b);
        flip_byte(f->flash, where[i]);
        open_ok(f, &d);
        assert_int_equal(d.current_slot, 0);
        assert_int_equal(d.current.sequence, 1);
        assert_cert_equal(&d.current, &a);
        assert_inspect(f, "certificate slot 1", 0, why[i]);
        assert_inspect(f, "certificate slot 0", 1, "current");
        /* The next write goes over the damaged slot. */
        cert_std(&c, 'C');
        write_ok(&d, &c);
        assert_int_equal(d.current_slot, 1);
        assert_int_equal(d.current.sequence, 2);
        nv_close(&d);
        open_ok(f, &d);
        assert_cert_equal(&d.current, &c);
        nv_close(&d);
        nv_certificate_free(&a);
        nv_certificate_free(&b);
        nv_certificate_free(&c);
    }
}

static void test_read_back_reads_the_file(void **state)
{
    struct fixture *f = *state;
    struct nv_certificate a, b, back;
    struct nv_device d;
    char err[256] = "";

    two_certificates(f, &a, &b);
    open_ok(f, &d);
    flip_byte(f->flash, SLOT_OFF(1) + HDR + SLOT_DATA + 3);
    assert_int_equal(nv_read_back(&d, &back, err, sizeof(err)), CL_ERR_PARSE);
    assert_non_null(strstr(err, "certificate slot 1"));
    assert_null(back.certificate_pem);
    nv_close(&d);
    nv_certificate_free(&a);
    nv_certificate_free(&b);
}

struct damage {
    const char *file; /* "flash" or "nvram" */
    size_t off;
    const char *area; /* named in err and failed in nv_inspect */
};

static void test_damaged_areas(void **state)
{
    struct fixture *f = *state;
    static const struct damage cases[] = {
        {"flash", 3, "flash header"},
        {"flash", PROGRAM_OFF + HDR + 40, "program area"},
        {"flash", PROGRAM_OFF + 1, "program area"},
        {"flash", FIXED_OFF + HDR + 2, "fixed parameters"},
        {"flash", COMMON_OFF + HDR + 10, "common certificate area"},
        {"nvram", 5, "nvram header"},
        {"nvram", BANK_OFF(0) + HDR + 12, "nvram bank 0"},
    };
    static const char *all[] = {"flash header",     "program area",
                                "fixed parameters", "common certificate area",
                                "nvram header",     "nvram bank 0"};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path;
        make_board(f);
        path = strcmp(cases[i].file, "flash") == 0 ? f->flash : f->nvram;
        flip_byte(path, cases[i].off);
        open_fails(f, CL_ERR_PARSE,
                   strncmp(cases[i].area, "nvram bank", 10) == 0 ? "no valid bank" : cases[i].area);
        for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
            assert_inspect(f, all[k], strcmp(all[k], cases[i].area) == 0 ? 0 : 1, NULL);
        assert_inspect(f, "certificate slot 0", -1, "empty");
        assert_inspect(f, "nvram bank 1", -1, "empty");
    }
}

static void test_both_slots_damaged(void **state)
{
    struct fixture *f = *state;
    struct nv_certificate a, b;

    two_certificates(f, &a, &b);
    flip_byte(f->flash, SLOT_OFF(0) + HDR + SLOT_DATA + 1);
    flip_byte(f->flash, SLOT_OFF(1) + HDR + SLOT_DATA + 1);
    open_fails(f, CL_ERR_PARSE, "certificate area: no valid slot");
    assert_inspect(f, "certificate slot 0", 0, "checksum");
    assert_inspect(f, "certificate slot 1", 0, "checksum");
    nv_certificate_free(&a);
    nv_certificate_free(&b);
}

static void test_truncated_and_missing_files(void **state)
{
    struct fixture *f = *state;
    static const off_t sizes[] = {0, 20, 100, FLASH_SIZE / 2, FLASH_SIZE - 1, FLASH_SIZE + 1};
    struct nv_device d;
    char err[256] = "";

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        make_board(f);
        truncate_to(f->flash, sizes[i]);
        open_fails(f, CL_ERR_PARSE, "flash header");
        assert_inspect(f, "flash header", 0, "bytes");
        assert_inspect(f, "nvram header", 1, NULL);
    }
    /* Half an image: what is there is still checked. */
    make_board(f);
    truncate_to(f->flash, FLASH_SIZE / 2);
    assert_inspect(f, "program area", 1, NULL);
    assert_inspect(f, "common certificate area", 0, "truncated");

    make_board(f);
    truncate_to(f->nvram, NVRAM_SIZE - 4);
    open_fails(f, CL_ERR_PARSE, "nvram header");
    assert_inspect(f, "nvram bank 1", 0, "truncated");

    make_board(f);
    assert_int_equal(unlink(f->nvram), 0);
    assert_int_equal(nv_open(f->flash, f->nvram, &d, err, sizeof(err)), CL_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "nvram"));
    assert_inspect(f, "nvram header", 0, "cannot open");
    assert_inspect(f, "nvram bank 0", 0, "not checked");
    assert_inspect(f, "program area", 1, NULL);
}

/* Hostile fields behind valid checksums: refused by their bounds, without a crash. */
static void test_hostile_lengths(void **state)
{
    struct fixture *f = *state;
    struct nv_certificate a, b;
    struct nv_device d;

    /* The only slot claims a 4 GiB certificate. */
    two_certificates(f, &a, &b);
    {
        size_t len;
        unsigned char *img = slurp(f->flash, &len);
        memset(img + SLOT_OFF(1), 0xFF, 0x0A000u); /* slot 1 never written */
        spit(f->flash, img, len);
        free(img);
    }
    poke32(f->flash, SLOT_OFF(0), SLOT_CERT_LEN, 0xFFFFFFFFu);
    open_fails(f, CL_ERR_PARSE, "certificate PEM length 4294967295");
    assert_inspect(f, "certificate slot 0", 0, "certificate PEM length");
    nv_certificate_free(&a);
    nv_certificate_free(&b);

    /* The newer slot is hostile: the older, valid one wins. */
    two_certificates(f, &a, &b);
    poke32(f->flash, SLOT_OFF(1), SLOT_SEALED_LEN, 0xFFFFFFFFu);
    open_ok(f, &d);
    assert_int_equal(d.current_slot, 0);
    assert_cert_equal(&d.current, &a);
    nv_close(&d);
    nv_certificate_free(&a);
    nv_certificate_free(&b);

    /* Lengths within their bounds that do not add up to the record. */
    two_certificates(f, &a, &b);
    poke32(f->flash, SLOT_OFF(1), SLOT_CHAIN_LEN, (uint32_t)strlen(b.chain_pem) + 1000);
    poke32(f->flash, SLOT_OFF(0), SLOT_CERT_LEN, (uint32_t)strlen(a.certificate_pem) - 1);
    open_fails(f, CL_ERR_PARSE, "record ends inside");
    assert_inspect(f, "certificate slot 0", 0, "unexpected bytes");
    nv_certificate_free(&a);
    nv_certificate_free(&b);

    /* A header whose body length runs past the slot. */
    two_certificates(f, &a, &b);
    {
        size_t len;
        unsigned char *img = slurp(f->flash, &len);
        set_le32(img + SLOT_OFF(1) + 16, 0xFFFFFFFFu);
        fix_area(img, SLOT_OFF(1));
        spit(f->flash, img, len);
        free(img);
    }
    assert_inspect(f, "certificate slot 1", 0, "body length 4294967295 exceeds");
    open_ok(f, &d);
    assert_cert_equal(&d.current, &a);
    nv_close(&d);
    nv_certificate_free(&a);
    nv_certificate_free(&b);

    /* Text fields: a length beyond the field, a NUL, a control byte; a NUL inside a PEM. */
    two_certificates(f, &a, &b);
    poke8(f->flash, SLOT_OFF(1), SLOT_DEVICE_NUMBER, 200);
    poke8(f->flash, SLOT_OFF(0), SLOT_MODEL_CODE + 2, 0);
    open_fails(f, CL_ERR_PARSE, "device number length 200");
    assert_inspect(f, "certificate slot 0", 0, "model code holds a NUL");
    nv_certificate_free(&a);
    nv_certificate_free(&b);
    two_certificates(f, &a, &b);
    poke8(f->flash, SLOT_OFF(1), SLOT_DATA + 7, 0);
    poke8(f->flash, SLOT_OFF(0), SLOT_DEVICE_NUMBER + 1, 0x07);
    open_fails(f, CL_ERR_PARSE, "certificate PEM holds a NUL");
    assert_inspect(f, "certificate slot 0", 0, "device number holds a NUL or control byte");
    nv_certificate_free(&a);
    nv_certificate_free(&b);

    /* Required areas. */
    make_board(f);
    poke32(f->flash, COMMON_OFF, COMMON_SEALED_LEN, 0xFFFFFFFFu);
    open_fails(f, CL_ERR_PARSE, "common certificate area: common sealed key length 4294967295");
    make_board(f);
    poke32(f->flash, PROGRAM_OFF, PROGRAM_ROOT_LEN, 0x7FFFFFFFu);
    open_fails(f, CL_ERR_PARSE, "program area: root PEM length 2147483647");
    assert_inspect(f, "program area", 0, "root PEM length");
    make_board(f);
    poke32(f->nvram, BANK_OFF(0), BANK_PEM_LEN, 0xFFFFFFFFu);
    open_fails(f, CL_ERR_PARSE, "common certificate PEM length 4294967295");
    assert_inspect(f, "nvram bank 0", 0, "common certificate PEM length");

    /* A slot header naming the other slot, and two slots claiming one sequence. */
    two_certificates(f, &a, &b);
    {
        size_t len;
        unsigned char *img = slurp(f->flash, &len);
        img[SLOT_OFF(1) + 6] = 0; /* index 0 in slot 1 */
        fix_area(img, SLOT_OFF(1));
        spit(f->flash, img, len);
        free(img);
    }
    assert_inspect(f, "certificate slot 1", 0, "index 0");
    nv_certificate_free(&a);
    nv_certificate_free(&b);
    two_certificates(f, &a, &b);
    {
        size_t len;
        unsigned char *img = slurp(f->flash, &len);
        img[SLOT_OFF(1) + 8] = 1;       /* header sequence 1 */
        img[SLOT_OFF(1) + HDR + 0] = 1; /* record sequence 1 */
        fix_area(img, SLOT_OFF(1));
        spit(f->flash, img, len);
        free(img);
    }
    open_fails(f, CL_ERR_PARSE, "both slots claim sequence 1");
    assert_inspect(f, "certificate slot 0", 0, "ambiguous");
    nv_certificate_free(&a);
    nv_certificate_free(&b);
}

static void test_inspect(void **state)
{
    struct fixture *f = *state;
    static const char *names[] = {
        "flash header",       "program area",       "fixed parameters", "common certificate area",
        "certificate slot 0", "certificate slot 1", "nvram header",     "nvram bank 0",
        "nvram bank 1"};
    struct nv_check checks[NV_CHECKS_MAX];
    struct nv_certificate a, b;
    size_t n;

    make_board(f);
    n = nv_inspect(f->flash, f->nvram, checks, NV_CHECKS_MAX);
    assert_int_equal(n, 9);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(checks[i].name, names[i]);
        if (strstr(names[i], "slot") != NULL || strcmp(names[i], "nvram bank 1") == 0)
            assert_int_equal(checks[i].ok, -1);
        else
            assert_int_equal(checks[i].ok, 1);
    }
    assert_non_null(strstr(checks[1].detail, "MX200"));
    assert_non_null(strstr(checks[2].detail, "02:11:22:33:44:55"));
    assert_int_equal(nv_inspect(f->flash, f->nvram, checks, 3), 3);

    two_certificates(f, &a, &b);
    assert_inspect(f, "certificate slot 0", 1, "sequence 1, older copy");
    assert_inspect(f, "certificate slot 1", 1, "sequence 2, current");
    assert_inspect(f, "nvram bank 0", 1, "sequence 3, current");
    assert_inspect(f, "nvram bank 0", 1, "2 writes");
    assert_inspect(f, "nvram bank 1", 1, "sequence 2, older copy");

    assert_int_equal(unlink(f->flash), 0);
    assert_inspect(f, "flash header", 0, "cannot open");
    assert_inspect(f, "certificate slot 1", 0, "not checked");
    assert_inspect(f, "nvram header", 1, NULL);
    nv_certificate_free(&a);
    nv_certificate_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_open_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_documented_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_refuses_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_leaves_nothing_on_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_zeroises, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_repeatedly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_largest_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_refuses_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_handle_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_after_every_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_at_every_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_nvram_bank, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_current_slot_older_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_back_reads_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_areas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_both_slots_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_and_missing_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inspect, setup, teardown),
    };

    cl_log_set_level(CL_LOG_ERROR); /* ignored spare slots are logged as warnings */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
