/* nv_fixture.c: what the device image tests share: a board, certificates, files read, damaged
 * and patched with checksums fixed, opening and inspection helpers, a fresh directory per test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "nv_fixture.h"
#include "nv_image.h"

/* CRC-32 (ISO-HDLC), table-driven here, independent of the bitwise one under test. */
uint32_t crc32_t(const unsigned char *p, size_t len)
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

uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void set_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

unsigned char *slurp(const char *path, size_t *len)
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

void spit(const char *path, const unsigned char *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

void flip_byte(const char *path, size_t off)
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
void fix_area(unsigned char *img, size_t off)
{
    unsigned char *h = img + off;
    uint32_t len = le32(h + 16);
    if (len <= 0x0A000u - HDR)
        set_le32(h + 20, crc32_t(h + HDR, len));
    set_le32(h + 28, crc32_t(h, 28));
}

void patch(const char *path, size_t area_off, size_t at, uint32_t v, size_t width)
{
    size_t len;
    unsigned char *buf = slurp(path, &len);
    for (size_t i = 0; i < width; i++)
        buf[area_off + at + i] = (unsigned char)(v >> (8 * i));
    fix_area(buf, area_off);
    spit(path, buf, len);
    free(buf);
}

void poke32(const char *path, size_t area_off, size_t body_off, uint32_t v)
{
    patch(path, area_off, HDR + body_off, v, 4);
}

void poke8(const char *path, size_t area_off, size_t body_off, unsigned char v)
{
    patch(path, area_off, HDR + body_off, v, 1);
}

void truncate_to(const char *path, off_t size)
{
    assert_int_equal(truncate(path, size), 0);
}

/* A text of exactly len bytes, different for each tag, in PEM-like lines. */
char *text_of(size_t len, char tag)
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
void cert_make(struct nv_certificate *c, char tag, size_t pem_len, size_t sealed_len)
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

void cert_std(struct nv_certificate *c, char tag)
{
    cert_make(c, tag, 1200 + (size_t)tag, 60 + (size_t)tag);
}

/* Every stored field of a equals b's (sequence aside). */
void assert_cert_equal(const struct nv_certificate *a, const struct nv_certificate *b)
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

struct nv_firmware g_firmware;
struct nv_fixed g_fixed;
struct nv_common g_common;
unsigned char g_common_key[77];

struct nv_board board_make(const char *device_number)
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

void make_board(struct fixture *f)
{
    struct nv_board b = board_make(DEVICE_NUMBER);
    char err[256] = "";
    int rc = nv_create(f->flash, f->nvram, &b, 1, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("nv_create: %s", err);
}

void open_ok(struct fixture *f, struct nv_device *d)
{
    char err[256] = "";
    int rc = nv_open(f->flash, f->nvram, d, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("nv_open: %s (%d)", err, rc);
}

/* Opening must fail with rc and an err that names what. */
void open_fails(struct fixture *f, int rc, const char *what)
{
    struct nv_device d;
    char err[512] = "";
    assert_int_equal(nv_open(f->flash, f->nvram, &d, err, sizeof(err)), rc);
    if (strstr(err, what) == NULL)
        fail_msg("err \"%s\" does not name \"%s\"", err, what);
    assert_int_equal(d.has_certificate, 0);
    assert_null(d.firmware.root_pem);
}

void write_ok(struct nv_device *d, const struct nv_certificate *c)
{
    char err[256] = "";
    int rc = nv_write_certificate(d, c, NULL, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("nv_write_certificate: %s (%d)", err, rc);
}

/* The check called name from nv_inspect. */
struct nv_check inspect_one(struct fixture *f, const char *name)
{
    struct nv_check checks[NV_CHECKS_MAX];
    size_t n = nv_inspect(f->flash, f->nvram, checks, NV_CHECKS_MAX);
    for (size_t i = 0; i < n; i++)
        if (strcmp(checks[i].name, name) == 0)
            return checks[i];
    fail_msg("no check named %s", name);
    return checks[0];
}

void assert_inspect(struct fixture *f, const char *name, int ok, const char *detail)
{
    struct nv_check c = inspect_one(f, name);
    if (c.ok != ok || (detail != NULL && strstr(c.detail, detail) == NULL))
        fail_msg("%s: ok %d detail \"%s\"; expected ok %d with \"%s\"", name, c.ok, c.detail, ok,
                 detail != NULL ? detail : "");
}

int nv_setup(void **state)
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

int nv_teardown(void **state)
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

/* Writes A (slot 0) and B (slot 1) and closes. */
void two_certificates(struct fixture *f, struct nv_certificate *a, struct nv_certificate *b)
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
