/* nv_image.c: the device's emulated flash and NVRAM image files (layout in IMAGES.md): building
 * them for a blank board, checking and decoding every area with bounded reads, and the
 * power-fail safe two-slot certificate write with its test hooks. */
#include "nv_image.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"
#include "log.h"

/* Layout, format version 1 (IMAGES.md). All integers are little-endian. */
#define FORMAT_VERSION 1u
#define AREA_VERSION 1u
#define IMAGE_HDR_LEN 32u
#define AREA_HDR_LEN 32u
#define ERASED 0xFFu

#define FLASH_SIZE 0x25000u
#define PROGRAM_OFF 0x01000u
#define PROGRAM_SIZE 0x09000u
#define SLOT0_OFF 0x0A000u
#define SLOT_SIZE 0x0A000u
#define COMMON_OFF 0x1E000u
#define COMMON_SIZE 0x06000u
#define FIXED_OFF 0x24000u
#define FIXED_SIZE 0x01000u

#define NVRAM_SIZE 0x0B000u
#define BANK0_OFF 0x01000u
#define BANK_SIZE 0x05000u

#define IMAGE_MODE 0600

/* Encoded sizes of the fixed parts of the area bodies. A text field is a length byte followed by
 * max bytes (zero padded). */
#define TEXT_LEN(max) (1u + (max))
#define KEY_TYPE_MAX 15u
#define SLOT_FIXED_LEN                                                                             \
    (8u + TEXT_LEN(NV_DEVICE_NUMBER_MAX) + TEXT_LEN(NV_MODEL_CODE_MAX) +                           \
     TEXT_LEN(NV_SERIAL_HEX_MAX) + TEXT_LEN(KEY_TYPE_MAX) + TEXT_LEN(NV_VERIFY_HEX) + 8u + 12u)
#define PROGRAM_FIXED_LEN                                                                          \
    (TEXT_LEN(NV_MODEL_CODE_MAX) + TEXT_LEN(KEY_TYPE_MAX) + TEXT_LEN(NV_KEY_ID_MAX) +              \
     2u * NV_SECRET_BYTES + 8u)
#define FIXED_BODY_LEN (NV_MAC_BYTES + TEXT_LEN(NV_MODEL_CODE_MAX) + 8u)
#define COMMON_FIXED_LEN 8u
#define BANK_FIXED_LEN (8u + TEXT_LEN(NV_DEVICE_NUMBER_MAX) + 4u * 4u + 8u + 4u)

/* Every area's largest body fits its area (checked at compile time). */
_Static_assert(SLOT_FIXED_LEN + 2u * NV_PEM_MAX + NV_SEALED_MAX <= SLOT_SIZE - AREA_HDR_LEN,
               "certificate slot too small");
_Static_assert(PROGRAM_FIXED_LEN + 2u * NV_PEM_MAX <= PROGRAM_SIZE - AREA_HDR_LEN,
               "program area too small");
_Static_assert(COMMON_FIXED_LEN + NV_PEM_MAX + NV_SEALED_MAX <= COMMON_SIZE - AREA_HDR_LEN,
               "common certificate area too small");
_Static_assert(FIXED_BODY_LEN <= FIXED_SIZE - AREA_HDR_LEN, "fixed parameter area too small");
_Static_assert(BANK_FIXED_LEN + NV_PEM_MAX <= BANK_SIZE - AREA_HDR_LEN, "nvram bank too small");
_Static_assert(SLOT0_OFF + 2u * SLOT_SIZE == COMMON_OFF && COMMON_OFF + COMMON_SIZE == FIXED_OFF &&
                   FIXED_OFF + FIXED_SIZE == FLASH_SIZE && PROGRAM_OFF + PROGRAM_SIZE == SLOT0_OFF,
               "flash areas must tile the image");
_Static_assert(BANK0_OFF + 2u * BANK_SIZE == NVRAM_SIZE, "nvram banks must tile the image");

static const unsigned char FLASH_MAGIC[8] = {'C', 'L', 'F', 'L', 'A', 'S', 'H', 0};
static const unsigned char NVRAM_MAGIC[8] = {'C', 'L', 'N', 'V', 'R', 'A', 'M', 0};

/* One area of an image: where it is and what its header must say. */
struct area {
    const char *name;
    size_t off, size;
    unsigned char magic[4];
    uint16_t index;
    int sequenced; /* slots and banks carry a sequence number (>= 1), other areas 0 */
};

static const struct area AREA_PROGRAM = {"program area",       PROGRAM_OFF, PROGRAM_SIZE,
                                         {'P', 'R', 'O', 'G'}, 0,           0};
static const struct area AREA_COMMON = {"common certificate area", COMMON_OFF, COMMON_SIZE,
                                        {'C', 'O', 'M', 'N'},      0,          0};
static const struct area AREA_FIXED = {"fixed parameters",   FIXED_OFF, FIXED_SIZE,
                                       {'F', 'I', 'X', 'D'}, 0,         0};
static const struct area AREA_SLOT[2] = {
    {"certificate slot 0", SLOT0_OFF, SLOT_SIZE, {'C', 'E', 'R', 'T'}, 0, 1},
    {"certificate slot 1", SLOT0_OFF + SLOT_SIZE, SLOT_SIZE, {'C', 'E', 'R', 'T'}, 1, 1},
};
static const struct area AREA_BANK[2] = {
    {"nvram bank 0", BANK0_OFF, BANK_SIZE, {'B', 'A', 'N', 'K'}, 0, 1},
    {"nvram bank 1", BANK0_OFF + BANK_SIZE, BANK_SIZE, {'B', 'A', 'N', 'K'}, 1, 1},
};

/* States of a checked area. */
enum { AREA_EMPTY = -1, AREA_BAD = 0, AREA_OK = 1 };

#define WHY_MAX 128

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* CRC-32 (ISO-HDLC: reflected polynomial 0xEDB88320, initial value and final xor 0xFFFFFFFF). */
static uint32_t crc32_of(const unsigned char *p, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;

    while (len-- > 0) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int all_erased(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != ERASED)
            return 0;
    return 1;
}

/* Frees an image buffer, which may hold the firmware secrets, after wiping it. */
static void free_image(unsigned char *img, size_t len)
{
    if (img != NULL) {
        explicit_bzero(img, len);
        free(img);
    }
}

/* --- Encoding ---------------------------------------------------------------------------- */

struct wr {
    unsigned char *p;
    size_t cap, pos;
};

/* Callers size the buffer exactly from validated lengths; a write past it is a bug and is
 * dropped (encode_* then report CL_ERR_INTERNAL). */
static void wr_bytes(struct wr *w, const void *data, size_t len)
{
    if (len > w->cap - w->pos) {
        w->pos = w->cap + 1;
        return;
    }
    if (len > 0)
        memcpy(w->p + w->pos, data, len);
    w->pos += len;
}

static void wr_u32(struct wr *w, uint32_t v)
{
    unsigned char b[4];
    put_u32(b, v);
    wr_bytes(w, b, sizeof(b));
}

static void wr_u64(struct wr *w, uint64_t v)
{
    unsigned char b[8];
    put_u64(b, v);
    wr_bytes(w, b, sizeof(b));
}

/* A text field: length byte, then max bytes (the text, zero padded). s is validated. */
static void wr_text(struct wr *w, const char *s, size_t max)
{
    unsigned char field[1 + 64] = {0};
    size_t n = strlen(s);

    if (n > max || max > sizeof(field) - 1) {
        w->pos = w->cap + 1;
        return;
    }
    field[0] = (unsigned char)n;
    memcpy(field + 1, s, n);
    wr_bytes(w, field, 1 + max);
}

/* --- Decoding (every length bounded before use) -------------------------------------------- */

struct rd {
    const unsigned char *p;
    size_t len, pos;
    char *why;
    size_t whylen;
};

static int rd_take(struct rd *r, size_t n, const unsigned char **out, const char *field)
{
    if (n > r->len - r->pos) {
        say(r->why, r->whylen, "record ends inside %s", field);
        return CL_ERR_PARSE;
    }
    *out = r->p + r->pos;
    r->pos += n;
    return CL_OK;
}

static int rd_u32(struct rd *r, uint32_t *v, const char *field)
{
    const unsigned char *b;
    if (rd_take(r, 4, &b, field) != CL_OK)
        return CL_ERR_PARSE;
    *v = get_u32(b);
    return CL_OK;
}

static int rd_u64(struct rd *r, uint64_t *v, const char *field)
{
    const unsigned char *b;
    if (rd_take(r, 8, &b, field) != CL_OK)
        return CL_ERR_PARSE;
    *v = get_u64(b);
    return CL_OK;
}

static int rd_i64(struct rd *r, int64_t *v, const char *field)
{
    uint64_t u;
    if (rd_u64(r, &u, field) != CL_OK)
        return CL_ERR_PARSE;
    *v = (int64_t)u;
    return CL_OK;
}

static int printable(unsigned char c)
{
    return c >= 0x20 && c < 0x7f;
}

/* A text field into out[max + 1]: min..max printable ASCII characters, zero padding. */
static int rd_text(struct rd *r, char *out, size_t max, size_t min, const char *field)
{
    const unsigned char *b;
    size_t n;

    if (rd_take(r, 1 + max, &b, field) != CL_OK)
        return CL_ERR_PARSE;
    n = b[0];
    if (n > max || n < min) {
        say(r->why, r->whylen, "%s length %zu outside %zu..%zu", field, n, min, max);
        return CL_ERR_PARSE;
    }
    for (size_t i = 0; i < n; i++) {
        if (!printable(b[1 + i])) {
            say(r->why, r->whylen, "%s holds a NUL or control byte", field);
            return CL_ERR_PARSE;
        }
    }
    for (size_t i = n; i < max; i++) {
        if (b[1 + i] != 0) {
            say(r->why, r->whylen, "%s padding not zero", field);
            return CL_ERR_PARSE;
        }
    }
    memcpy(out, b + 1, n);
    out[n] = '\0';
    return CL_OK;
}

/* A length field, checked against min..max before anything is read or allocated with it. */
static int rd_len(struct rd *r, uint32_t *len, size_t min, size_t max, const char *field)
{
    if (rd_u32(r, len, field) != CL_OK)
        return CL_ERR_PARSE;
    if (*len < min || *len > max) {
        say(r->why, r->whylen, "%s length %" PRIu32 " outside %zu..%zu", field, *len, min, max);
        return CL_ERR_PARSE;
    }
    return CL_OK;
}

/* len bytes of text without NUL into a new string. */
static int rd_string(struct rd *r, uint32_t len, char **out, const char *field)
{
    const unsigned char *b;

    if (rd_take(r, len, &b, field) != CL_OK)
        return CL_ERR_PARSE;
    if (memchr(b, 0, len) != NULL) {
        say(r->why, r->whylen, "%s holds a NUL byte", field);
        return CL_ERR_PARSE;
    }
    *out = malloc((size_t)len + 1);
    if (*out == NULL) {
        say(r->why, r->whylen, "out of memory");
        return CL_ERR_NOMEM;
    }
    memcpy(*out, b, len);
    (*out)[len] = '\0';
    return CL_OK;
}

static int rd_blob(struct rd *r, uint32_t len, unsigned char **out, const char *field)
{
    const unsigned char *b;

    if (rd_take(r, len, &b, field) != CL_OK)
        return CL_ERR_PARSE;
    *out = malloc(len > 0 ? len : 1);
    if (*out == NULL) {
        say(r->why, r->whylen, "out of memory");
        return CL_ERR_NOMEM;
    }
    memcpy(*out, b, len);
    return CL_OK;
}

static int rd_end(struct rd *r)
{
    if (r->pos != r->len) {
        say(r->why, r->whylen, "%zu unexpected bytes after the record", r->len - r->pos);
        return CL_ERR_PARSE;
    }
    return CL_OK;
}

/* --- Validation of what callers hand in ---------------------------------------------------- */

/* s (in an array of size bytes) is terminated and min..size-1 printable ASCII characters. */
static int text_ok(const char *s, size_t size, size_t min)
{
    size_t n;
    if (s == NULL)
        return 0;
    n = strnlen(s, size);
    if (n >= size || n < min)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!printable((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Length of a PEM string (NULL counts as empty), or SIZE_MAX if longer than NV_PEM_MAX. */
static size_t pem_len(const char *s)
{
    size_t n;
    if (s == NULL)
        return 0;
    n = strnlen(s, NV_PEM_MAX + 1);
    return n > NV_PEM_MAX ? SIZE_MAX : n;
}

static int pem_ok(const char *s, size_t min)
{
    size_t n = pem_len(s);
    return n != SIZE_MAX && n >= min;
}

static int sealed_ok(const unsigned char *key, size_t len)
{
    return key != NULL && len >= 1 && len <= NV_SEALED_MAX;
}

static int certificate_ok(const struct nv_certificate *c, char *why, size_t whylen)
{
    if (!text_ok(c->device_number, sizeof(c->device_number), 1))
        say(why, whylen, "device number missing, too long or not printable");
    else if (!text_ok(c->model_code, sizeof(c->model_code), 0))
        say(why, whylen, "model code too long or not printable");
    else if (!text_ok(c->serial_hex, sizeof(c->serial_hex), 0))
        say(why, whylen, "serial too long or not printable");
    else if (!text_ok(c->key_type, sizeof(c->key_type), 0))
        say(why, whylen, "key type too long or not printable");
    else if (!text_ok(c->device_value, sizeof(c->device_value), 0))
        say(why, whylen, "device value too long or not printable");
    else if (!pem_ok(c->certificate_pem, 1))
        say(why, whylen, "certificate missing or longer than %d bytes", NV_PEM_MAX);
    else if (!pem_ok(c->chain_pem, 0))
        say(why, whylen, "chain longer than %d bytes", NV_PEM_MAX);
    else if (!sealed_ok(c->sealed_key, c->sealed_key_len))
        say(why, whylen, "sealed key missing or longer than %d bytes", NV_SEALED_MAX);
    else
        return 1;
    return 0;
}

static int board_ok(const struct nv_board *b, char *why, size_t whylen)
{
    const struct nv_firmware *f = b->firmware;
    const struct nv_fixed *x = b->fixed;
    const struct nv_common *c = b->common;

    if (f == NULL || x == NULL || c == NULL)
        say(why, whylen, "firmware, fixed parameters and common certificate are required");
    else if (!text_ok(f->model_code, sizeof(f->model_code), 1))
        say(why, whylen, "firmware model code missing, too long or not printable");
    else if (!text_ok(f->key_type, sizeof(f->key_type), 1))
        say(why, whylen, "firmware key type missing, too long or not printable");
    else if (!text_ok(f->key_id, sizeof(f->key_id), 1))
        say(why, whylen, "firmware key id missing, too long or not printable");
    else if (!pem_ok(f->root_pem, 1))
        say(why, whylen, "firmware root missing or longer than %d bytes", NV_PEM_MAX);
    else if (!pem_ok(f->chain_pem, 0))
        say(why, whylen, "firmware chain longer than %d bytes", NV_PEM_MAX);
    else if (!text_ok(x->model_code, sizeof(x->model_code), 1))
        say(why, whylen, "fixed model code missing, too long or not printable");
    else if (!pem_ok(c->certificate_pem, 1))
        say(why, whylen, "common certificate missing or longer than %d bytes", NV_PEM_MAX);
    else if (!sealed_ok(c->sealed_key, c->sealed_key_len))
        say(why, whylen, "common sealed key missing or longer than %d bytes", NV_SEALED_MAX);
    else if (b->device_number == NULL || !text_ok(b->device_number, NV_DEVICE_NUMBER_MAX + 1, 1))
        say(why, whylen, "device number missing, longer than %d or not printable",
            NV_DEVICE_NUMBER_MAX);
    else
        return 1;
    return 0;
}

/* --- Area bodies ----------------------------------------------------------------------------- */

/* Each encode_* returns a new buffer of exactly *len bytes (NULL if out of memory). */
static unsigned char *encode_program(const struct nv_firmware *f, size_t *len)
{
    size_t root = pem_len(f->root_pem), chain = pem_len(f->chain_pem);
    struct wr w = {NULL, PROGRAM_FIXED_LEN + root + chain, 0};

    w.p = malloc(w.cap);
    if (w.p == NULL)
        return NULL;
    wr_text(&w, f->model_code, NV_MODEL_CODE_MAX);
    wr_text(&w, f->key_type, KEY_TYPE_MAX);
    wr_text(&w, f->key_id, NV_KEY_ID_MAX);
    wr_bytes(&w, f->prewrite_key, NV_SECRET_BYTES);
    wr_bytes(&w, f->peculiar_generator, NV_SECRET_BYTES);
    wr_u32(&w, (uint32_t)root);
    wr_u32(&w, (uint32_t)chain);
    wr_bytes(&w, f->root_pem, root);
    wr_bytes(&w, f->chain_pem, chain);
    *len = w.pos;
    return w.p;
}

static int decode_program(struct rd *r, struct nv_firmware *f)
{
    uint32_t root, chain;
    const unsigned char *b;
    int rc;

    if ((rc = rd_text(r, f->model_code, NV_MODEL_CODE_MAX, 1, "model code")) != CL_OK ||
        (rc = rd_text(r, f->key_type, KEY_TYPE_MAX, 1, "key type")) != CL_OK ||
        (rc = rd_text(r, f->key_id, NV_KEY_ID_MAX, 1, "key id")) != CL_OK)
        return rc;
    if ((rc = rd_take(r, NV_SECRET_BYTES, &b, "pre-write key")) != CL_OK)
        return rc;
    memcpy(f->prewrite_key, b, NV_SECRET_BYTES);
    if ((rc = rd_take(r, NV_SECRET_BYTES, &b, "peculiar-key generator")) != CL_OK)
        return rc;
    memcpy(f->peculiar_generator, b, NV_SECRET_BYTES);
    if ((rc = rd_len(r, &root, 1, NV_PEM_MAX, "root PEM")) != CL_OK ||
        (rc = rd_len(r, &chain, 0, NV_PEM_MAX, "chain PEM")) != CL_OK ||
        (rc = rd_string(r, root, &f->root_pem, "root PEM")) != CL_OK ||
        (rc = rd_string(r, chain, &f->chain_pem, "chain PEM")) != CL_OK)
        return rc;
    return rd_end(r);
}

static void firmware_free(struct nv_firmware *f)
{
    explicit_bzero(f->prewrite_key, sizeof(f->prewrite_key));
    explicit_bzero(f->peculiar_generator, sizeof(f->peculiar_generator));
    free(f->root_pem);
    free(f->chain_pem);
    f->root_pem = NULL;
    f->chain_pem = NULL;
}

static unsigned char *encode_fixed(const struct nv_fixed *x, size_t *len)
{
    struct wr w = {NULL, FIXED_BODY_LEN, 0};

    w.p = malloc(w.cap);
    if (w.p == NULL)
        return NULL;
    wr_bytes(&w, x->mac, NV_MAC_BYTES);
    wr_text(&w, x->model_code, NV_MODEL_CODE_MAX);
    wr_u64(&w, (uint64_t)x->board_made_at);
    *len = w.pos;
    return w.p;
}

static int decode_fixed(struct rd *r, struct nv_fixed *x)
{
    const unsigned char *b;
    int rc;

    if ((rc = rd_take(r, NV_MAC_BYTES, &b, "MAC address")) != CL_OK)
        return rc;
    memcpy(x->mac, b, NV_MAC_BYTES);
    if ((rc = rd_text(r, x->model_code, NV_MODEL_CODE_MAX, 1, "model code")) != CL_OK ||
        (rc = rd_i64(r, &x->board_made_at, "board date")) != CL_OK)
        return rc;
    return rd_end(r);
}

static unsigned char *encode_common(const struct nv_common *c, size_t *len)
{
    size_t cert = pem_len(c->certificate_pem);
    struct wr w = {NULL, COMMON_FIXED_LEN + cert + c->sealed_key_len, 0};

    w.p = malloc(w.cap);
    if (w.p == NULL)
        return NULL;
    wr_u32(&w, (uint32_t)cert);
    wr_u32(&w, (uint32_t)c->sealed_key_len);
    wr_bytes(&w, c->certificate_pem, cert);
    wr_bytes(&w, c->sealed_key, c->sealed_key_len);
    *len = w.pos;
    return w.p;
}

static int decode_common(struct rd *r, struct nv_common *c)
{
    uint32_t cert, sealed;
    int rc;

    if ((rc = rd_len(r, &cert, 1, NV_PEM_MAX, "common certificate PEM")) != CL_OK ||
        (rc = rd_len(r, &sealed, 1, NV_SEALED_MAX, "common sealed key")) != CL_OK ||
        (rc = rd_string(r, cert, &c->certificate_pem, "common certificate PEM")) != CL_OK ||
        (rc = rd_blob(r, sealed, &c->sealed_key, "common sealed key")) != CL_OK)
        return rc;
    c->sealed_key_len = sealed;
    return rd_end(r);
}

static void common_free(struct nv_common *c)
{
    free(c->certificate_pem);
    if (c->sealed_key != NULL)
        explicit_bzero(c->sealed_key, c->sealed_key_len);
    free(c->sealed_key);
    memset(c, 0, sizeof(*c));
}

static unsigned char *encode_slot(const struct nv_certificate *c, uint64_t sequence,
                                  int64_t written_at, size_t *len)
{
    size_t cert = pem_len(c->certificate_pem), chain = pem_len(c->chain_pem);
    struct wr w = {NULL, SLOT_FIXED_LEN + cert + chain + c->sealed_key_len, 0};

    w.p = malloc(w.cap);
    if (w.p == NULL)
        return NULL;
    wr_u64(&w, sequence);
    wr_text(&w, c->device_number, NV_DEVICE_NUMBER_MAX);
    wr_text(&w, c->model_code, NV_MODEL_CODE_MAX);
    wr_text(&w, c->serial_hex, NV_SERIAL_HEX_MAX);
    wr_text(&w, c->key_type, KEY_TYPE_MAX);
    wr_text(&w, c->device_value, NV_VERIFY_HEX);
    wr_u64(&w, (uint64_t)written_at);
    wr_u32(&w, (uint32_t)cert);
    wr_u32(&w, (uint32_t)chain);
    wr_u32(&w, (uint32_t)c->sealed_key_len);
    wr_bytes(&w, c->certificate_pem, cert);
    wr_bytes(&w, c->chain_pem, chain);
    wr_bytes(&w, c->sealed_key, c->sealed_key_len);
    *len = w.pos;
    return w.p;
}

/* The record's own sequence must equal its header's: an old header over a new record (an
 * interrupted write) never passes. */
static int decode_slot(struct rd *r, uint64_t header_sequence, struct nv_certificate *c)
{
    uint32_t cert, chain, sealed;
    int rc;

    if ((rc = rd_u64(r, &c->sequence, "sequence")) != CL_OK)
        return rc;
    if (c->sequence != header_sequence) {
        say(r->why, r->whylen,
            "record sequence %" PRIu64 " differs from header sequence %" PRIu64
            " (interrupted write)",
            c->sequence, header_sequence);
        return CL_ERR_PARSE;
    }
    if ((rc = rd_text(r, c->device_number, NV_DEVICE_NUMBER_MAX, 1, "device number")) != CL_OK ||
        (rc = rd_text(r, c->model_code, NV_MODEL_CODE_MAX, 0, "model code")) != CL_OK ||
        (rc = rd_text(r, c->serial_hex, NV_SERIAL_HEX_MAX, 0, "serial")) != CL_OK ||
        (rc = rd_text(r, c->key_type, KEY_TYPE_MAX, 0, "key type")) != CL_OK ||
        (rc = rd_text(r, c->device_value, NV_VERIFY_HEX, 0, "device value")) != CL_OK ||
        (rc = rd_i64(r, &c->written_at, "write time")) != CL_OK ||
        (rc = rd_len(r, &cert, 1, NV_PEM_MAX, "certificate PEM")) != CL_OK ||
        (rc = rd_len(r, &chain, 0, NV_PEM_MAX, "chain PEM")) != CL_OK ||
        (rc = rd_len(r, &sealed, 1, NV_SEALED_MAX, "sealed key")) != CL_OK ||
        (rc = rd_string(r, cert, &c->certificate_pem, "certificate PEM")) != CL_OK ||
        (rc = rd_string(r, chain, &c->chain_pem, "chain PEM")) != CL_OK ||
        (rc = rd_blob(r, sealed, &c->sealed_key, "sealed key")) != CL_OK)
        return rc;
    c->sealed_key_len = sealed;
    return rd_end(r);
}

static unsigned char *encode_bank(const struct nv_nvram *n, size_t *len)
{
    size_t cert = pem_len(n->common_certificate_pem);
    struct wr w = {NULL, BANK_FIXED_LEN + cert, 0};

    w.p = malloc(w.cap);
    if (w.p == NULL)
        return NULL;
    wr_u64(&w, n->sequence);
    wr_text(&w, n->device_number, NV_DEVICE_NUMBER_MAX);
    wr_u32(&w, n->initial_operational_value);
    wr_u32(&w, n->initial_apl_value);
    wr_u32(&w, n->counters.certificate_writes);
    wr_u32(&w, n->counters.failed_writes);
    wr_u64(&w, (uint64_t)n->counters.last_write_at);
    wr_u32(&w, (uint32_t)cert);
    wr_bytes(&w, n->common_certificate_pem, cert);
    *len = w.pos;
    return w.p;
}

static int decode_bank(struct rd *r, uint64_t header_sequence, struct nv_nvram *n)
{
    uint32_t cert;
    int rc;

    if ((rc = rd_u64(r, &n->sequence, "sequence")) != CL_OK)
        return rc;
    if (n->sequence != header_sequence) {
        say(r->why, r->whylen,
            "record sequence %" PRIu64 " differs from header sequence %" PRIu64
            " (interrupted write)",
            n->sequence, header_sequence);
        return CL_ERR_PARSE;
    }
    if ((rc = rd_text(r, n->device_number, NV_DEVICE_NUMBER_MAX, 1, "device number")) != CL_OK ||
        (rc = rd_u32(r, &n->initial_operational_value, "initial operational value")) != CL_OK ||
        (rc = rd_u32(r, &n->initial_apl_value, "initial APL value")) != CL_OK ||
        (rc = rd_u32(r, &n->counters.certificate_writes, "write counter")) != CL_OK ||
        (rc = rd_u32(r, &n->counters.failed_writes, "failure counter")) != CL_OK ||
        (rc = rd_i64(r, &n->counters.last_write_at, "last write time")) != CL_OK ||
        (rc = rd_len(r, &cert, 1, NV_PEM_MAX, "common certificate PEM")) != CL_OK ||
        (rc = rd_string(r, cert, &n->common_certificate_pem, "common certificate PEM")) != CL_OK)
        return rc;
    return rd_end(r);
}

static void nvram_free(struct nv_nvram *n)
{
    free(n->common_certificate_pem);
    memset(n, 0, sizeof(*n));
}

/* --- Headers --------------------------------------------------------------------------------- */

/* Image header: magic[8], u32 format version, u32 image size, 16 reserved zero bytes, u32 CRC-32
 * of bytes 0..27. */
static void put_image_header(unsigned char *img, const unsigned char magic[8], uint32_t size)
{
    memset(img, 0, IMAGE_HDR_LEN);
    memcpy(img, magic, 8);
    put_u32(img + 8, FORMAT_VERSION);
    put_u32(img + 12, size);
    put_u32(img + 28, crc32_of(img, 28));
}

/* Checks the image header and the file size; 1 if good, else 0 with why. */
static int check_image_header(const unsigned char *img, size_t have, size_t filesize,
                              const unsigned char magic[8], uint32_t size, char *why, size_t whylen)
{
    if (have < IMAGE_HDR_LEN) {
        say(why, whylen, "file is %zu bytes, expected %" PRIu32 " (truncated)", filesize, size);
        return 0;
    }
    if (memcmp(img, magic, 8) != 0) {
        say(why, whylen, "bad magic (not a certline image of this kind)");
        return 0;
    }
    if (get_u32(img + 28) != crc32_of(img, 28)) {
        say(why, whylen, "header checksum mismatch");
        return 0;
    }
    if (get_u32(img + 8) != FORMAT_VERSION) {
        say(why, whylen, "unsupported format version %" PRIu32, get_u32(img + 8));
        return 0;
    }
    if (get_u32(img + 12) != size) {
        say(why, whylen, "header gives image size %" PRIu32 ", expected %" PRIu32,
            get_u32(img + 12), size);
        return 0;
    }
    for (size_t i = 16; i < 28; i++) {
        if (img[i] != 0) {
            say(why, whylen, "reserved header bytes not zero");
            return 0;
        }
    }
    if (filesize != size) {
        say(why, whylen, "file is %zu bytes, expected %" PRIu32 " (truncated or extended)",
            filesize, size);
        return 0;
    }
    say(why, whylen, "format version %u, %" PRIu32 " bytes", FORMAT_VERSION, size);
    return 1;
}

/* Area header: magic[4], u16 area version, u16 index (slot or bank number, else 0), u64 sequence
 * (0 for unsequenced areas), u32 body length, u32 body CRC-32, u32 reserved zero, u32 CRC-32 of
 * bytes 0..27. The body follows the header. */
static void make_area_header(unsigned char hdr[AREA_HDR_LEN], const struct area *a,
                             uint64_t sequence, const unsigned char *body, size_t len)
{
    memset(hdr, 0, AREA_HDR_LEN);
    memcpy(hdr, a->magic, 4);
    put_u16(hdr + 4, AREA_VERSION);
    put_u16(hdr + 6, a->index);
    put_u64(hdr + 8, sequence);
    put_u32(hdr + 16, (uint32_t)len);
    put_u32(hdr + 20, crc32_of(body, len));
    put_u32(hdr + 28, crc32_of(hdr, 28));
}

/* Places an area (header and body) into an image buffer. */
static void put_area(unsigned char *img, const struct area *a, uint64_t sequence,
                     const unsigned char *body, size_t len)
{
    make_area_header(img + a->off, a, sequence, body, len);
    memcpy(img + a->off + AREA_HDR_LEN, body, len);
}

/* Places an encoded body (NULL if encoding ran out of memory) into an image and frees it. */
static int place(unsigned char *img, const struct area *a, uint64_t sequence, unsigned char *body,
                 size_t len)
{
    if (body == NULL)
        return CL_ERR_NOMEM;
    put_area(img, a, sequence, body, len);
    free_image(body, len);
    return CL_OK;
}

/* Checks an area's header and body checksum. Returns AREA_OK (with *sequence and the body),
 * AREA_EMPTY (header erased) or AREA_BAD, with why. */
static int check_area(const unsigned char *img, size_t have, const struct area *a,
                      uint64_t *sequence, const unsigned char **body, size_t *body_len, char *why,
                      size_t whylen)
{
    const unsigned char *p;
    uint32_t len;
    uint64_t seq;

    if (a->off + a->size > have) {
        say(why, whylen, "beyond the end of the file (truncated)");
        return AREA_BAD;
    }
    p = img + a->off;
    if (all_erased(p, AREA_HDR_LEN)) {
        say(why, whylen, "empty (erased)");
        return AREA_EMPTY;
    }
    if (memcmp(p, a->magic, 4) != 0) {
        say(why, whylen, "bad magic");
        return AREA_BAD;
    }
    if (get_u32(p + 28) != crc32_of(p, 28)) {
        say(why, whylen, "header checksum mismatch");
        return AREA_BAD;
    }
    if (get_u16(p + 4) != AREA_VERSION) {
        say(why, whylen, "unsupported area version %u", (unsigned)get_u16(p + 4));
        return AREA_BAD;
    }
    if (get_u16(p + 6) != a->index) {
        say(why, whylen, "header names index %u", (unsigned)get_u16(p + 6));
        return AREA_BAD;
    }
    seq = get_u64(p + 8);
    if (a->sequenced ? seq == 0 : seq != 0) {
        say(why, whylen, "invalid sequence %" PRIu64, seq);
        return AREA_BAD;
    }
    len = get_u32(p + 16);
    if (len > a->size - AREA_HDR_LEN) {
        say(why, whylen, "body length %" PRIu32 " exceeds the area (%zu bytes)", len,
            a->size - AREA_HDR_LEN);
        return AREA_BAD;
    }
    if (get_u32(p + 24) != 0) {
        say(why, whylen, "reserved header field not zero");
        return AREA_BAD;
    }
    if (get_u32(p + 20) != crc32_of(p + AREA_HDR_LEN, len)) {
        say(why, whylen, "body checksum mismatch");
        return AREA_BAD;
    }
    *sequence = seq;
    *body = p + AREA_HDR_LEN;
    *body_len = len;
    return AREA_OK;
}

/* --- Reading and writing files --------------------------------------------------------------- */

static int errno_rc(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return CL_ERR_NOT_FOUND;
    case EACCES:
    case EPERM:
    case EROFS:
        return CL_ERR_PERMISSION;
    case ENOMEM:
        return CL_ERR_NOMEM;
    default:
        return CL_ERR_IO;
    }
}

/* Opens an image (O_RDONLY or O_RDWR) and locks it (LOCK_SH or LOCK_EX). */
static int open_image(const char *path, int flags, int lock, int *fd, char *why, size_t whylen)
{
    struct stat st;
    int e;

    *fd = open(path, flags | O_CLOEXEC);
    if (*fd < 0) {
        e = errno;
        say(why, whylen, "cannot open: %s", strerror(e));
        return errno_rc(e);
    }
    while (flock(*fd, lock) != 0) {
        if (errno == EINTR)
            continue;
        e = errno;
        say(why, whylen, "cannot lock: %s", strerror(e));
        close(*fd);
        *fd = -1;
        return errno_rc(e);
    }
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        say(why, whylen, "not a regular file");
        close(*fd);
        *fd = -1;
        return CL_ERR_IO;
    }
    if ((st.st_mode & 077) != 0) /* the flash holds the model's firmware secrets (IMAGES.md) */
        cl_log_warn("%s is readable or writable by others (mode %04o): make it 0600", path,
                    (unsigned)(st.st_mode & 07777));
    return CL_OK;
}

/* Reads up to cap bytes of the image at fd into a new buffer of cap bytes (the rest erased);
 * *have is what was read, *filesize the file's size. */
static int read_image(int fd, size_t cap, unsigned char **img, size_t *have, size_t *filesize,
                      char *why, size_t whylen)
{
    struct stat st;
    size_t got = 0;

    *img = NULL;
    if (fstat(fd, &st) != 0) {
        say(why, whylen, "cannot stat: %s", strerror(errno));
        return CL_ERR_IO;
    }
    *filesize = (size_t)st.st_size;
    *img = malloc(cap);
    if (*img == NULL) {
        say(why, whylen, "out of memory");
        return CL_ERR_NOMEM;
    }
    memset(*img, ERASED, cap);
    while (got < cap) {
        ssize_t n = pread(fd, *img + got, cap - got, (off_t)got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            say(why, whylen, "cannot read: %s", strerror(errno));
            free_image(*img, cap);
            *img = NULL;
            return CL_ERR_IO;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *have = got;
    return CL_OK;
}

/* Opens, locks and reads a whole image, which must be exactly size bytes with a good header. */
static int load_image(const char *path, int flags, int lock, const unsigned char magic[8],
                      uint32_t size, int *fd, unsigned char **img, char *why, size_t whylen)
{
    size_t have, filesize;
    int rc;

    *img = NULL;
    rc = open_image(path, flags, lock, fd, why, whylen);
    if (rc != CL_OK)
        return rc;
    rc = read_image(*fd, size, img, &have, &filesize, why, whylen);
    if (rc == CL_OK && !check_image_header(*img, have, filesize, magic, size, why, whylen))
        rc = CL_ERR_PARSE;
    if (rc != CL_OK) {
        free_image(*img, size);
        *img = NULL;
        close(*fd);
        *fd = -1;
    }
    return rc;
}

static int pwrite_all(int fd, const unsigned char *p, size_t len, size_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        off += (size_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* --- Slots and banks --------------------------------------------------------------------- */

/* What checking one copy (a slot or a bank) found. */
struct copy_eval {
    int state;
    uint64_t sequence;
    char why[WHY_MAX];
};

/* Checks and decodes certificate slot i; on AREA_OK and out != NULL the record is kept. */
static int eval_slot(const unsigned char *img, size_t have, int i, struct copy_eval *ev,
                     struct nv_certificate *out)
{
    struct nv_certificate c;
    const unsigned char *body = NULL;
    size_t len = 0;
    struct rd r;
    int rc;

    memset(&c, 0, sizeof(c));
    ev->sequence = 0;
    ev->state =
        check_area(img, have, &AREA_SLOT[i], &ev->sequence, &body, &len, ev->why, sizeof(ev->why));
    if (ev->state != AREA_OK)
        return CL_OK;
    r = (struct rd){body, len, 0, ev->why, sizeof(ev->why)};
    rc = decode_slot(&r, ev->sequence, &c);
    if (rc != CL_OK) {
        nv_certificate_free(&c);
        ev->state = AREA_BAD;
        return rc == CL_ERR_NOMEM ? rc : CL_OK;
    }
    if (out != NULL)
        *out = c;
    else
        nv_certificate_free(&c);
    return CL_OK;
}

static int eval_bank(const unsigned char *img, size_t have, int i, struct copy_eval *ev,
                     struct nv_nvram *out)
{
    struct nv_nvram n;
    const unsigned char *body = NULL;
    size_t len = 0;
    struct rd r;
    int rc;

    memset(&n, 0, sizeof(n));
    ev->sequence = 0;
    ev->state =
        check_area(img, have, &AREA_BANK[i], &ev->sequence, &body, &len, ev->why, sizeof(ev->why));
    if (ev->state != AREA_OK)
        return CL_OK;
    r = (struct rd){body, len, 0, ev->why, sizeof(ev->why)};
    rc = decode_bank(&r, ev->sequence, &n);
    if (rc != CL_OK) {
        nvram_free(&n);
        ev->state = AREA_BAD;
        return rc == CL_ERR_NOMEM ? rc : CL_OK;
    }
    if (out != NULL)
        *out = n;
    else
        nvram_free(&n);
    return CL_OK;
}

/* The newest of two copies: 0 or 1, -1 if neither is valid, -2 if both claim one sequence. */
static int newest(int state0, uint64_t seq0, int state1, uint64_t seq1)
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

/* The current certificate slot of a flash image: *current is 0, 1 or -1 (no certificate yet),
 * *sequence its sequence; if cert != NULL it receives the current record. CL_ERR_PARSE if slots
 * exist but none is valid, or both claim one sequence. */
static int find_current_slot(const unsigned char *img, size_t have, int *current,
                             uint64_t *sequence, struct nv_certificate *cert, char *err,
                             size_t errlen)
{
    struct copy_eval ev[2];
    struct nv_certificate rec[2];
    int rc = CL_OK, cur;

    memset(rec, 0, sizeof(rec));
    *current = -1;
    for (int i = 0; i < 2 && rc == CL_OK; i++)
        rc = eval_slot(img, have, i, &ev[i], &rec[i]);
    if (rc != CL_OK) {
        rc = fail(err, errlen, rc, "flash image: certificate area: out of memory");
        goto out;
    }
    cur = newest(ev[0].state, ev[0].sequence, ev[1].state, ev[1].sequence);
    if (cur == -2) {
        rc = fail(err, errlen, CL_ERR_PARSE,
                  "flash image: certificate area: both slots claim sequence %" PRIu64,
                  ev[0].sequence);
        goto out;
    }
    if (cur == -1 && (ev[0].state == AREA_BAD || ev[1].state == AREA_BAD)) {
        rc = fail(err, errlen, CL_ERR_PARSE,
                  "flash image: certificate area: no valid slot (slot 0: %s; slot 1: %s)",
                  ev[0].why, ev[1].why);
        goto out;
    }
    if (cur >= 0 && ev[1 - cur].state == AREA_BAD)
        cl_log_warn("flash image: certificate slot %d ignored (%s); slot %d is current", 1 - cur,
                    ev[1 - cur].why, cur);
    *current = cur;
    *sequence = cur >= 0 ? ev[cur].sequence : 0;
    if (cur >= 0 && cert != NULL) {
        *cert = rec[cur];
        memset(&rec[cur], 0, sizeof(rec[cur]));
    }
out:
    nv_certificate_free(&rec[0]);
    nv_certificate_free(&rec[1]);
    return rc;
}

/* The current NVRAM bank (0 or 1) into *bank and *nv. CL_ERR_PARSE if there is none. */
static int find_current_bank(const unsigned char *img, size_t have, int *bank, struct nv_nvram *nv,
                             char *err, size_t errlen)
{
    struct copy_eval ev[2];
    struct nv_nvram rec[2];
    int rc = CL_OK, cur;

    memset(rec, 0, sizeof(rec));
    for (int i = 0; i < 2 && rc == CL_OK; i++)
        rc = eval_bank(img, have, i, &ev[i], &rec[i]);
    if (rc != CL_OK) {
        rc = fail(err, errlen, rc, "nvram image: out of memory");
        goto out;
    }
    cur = newest(ev[0].state, ev[0].sequence, ev[1].state, ev[1].sequence);
    if (cur == -2) {
        rc = fail(err, errlen, CL_ERR_PARSE, "nvram image: both banks claim sequence %" PRIu64,
                  ev[0].sequence);
        goto out;
    }
    if (cur == -1) {
        rc = fail(err, errlen, CL_ERR_PARSE, "nvram image: no valid bank (bank 0: %s; bank 1: %s)",
                  ev[0].why, ev[1].why);
        goto out;
    }
    if (ev[1 - cur].state == AREA_BAD)
        cl_log_warn("nvram image: bank %d ignored (%s); bank %d is current", 1 - cur,
                    ev[1 - cur].why, cur);
    *bank = cur;
    *nv = rec[cur];
    memset(&rec[cur], 0, sizeof(rec[cur]));
out:
    nvram_free(&rec[0]);
    nvram_free(&rec[1]);
    return rc;
}

/* Checks and decodes one required flash area with decode. */
static int load_required(const unsigned char *img, const struct area *a,
                         int (*decode)(struct rd *, void *), void *out, char *err, size_t errlen)
{
    char why[WHY_MAX];
    const unsigned char *body = NULL;
    size_t len = 0;
    uint64_t seq;
    struct rd r;
    int rc;

    if (check_area(img, FLASH_SIZE, a, &seq, &body, &len, why, sizeof(why)) != AREA_OK)
        return fail(err, errlen, CL_ERR_PARSE, "flash image: %s: %s", a->name, why);
    r = (struct rd){body, len, 0, why, sizeof(why)};
    rc = decode(&r, out);
    if (rc != CL_OK)
        return fail(err, errlen, rc, "flash image: %s: %s", a->name, why);
    return CL_OK;
}

static int decode_program_v(struct rd *r, void *out)
{
    return decode_program(r, out);
}

static int decode_fixed_v(struct rd *r, void *out)
{
    return decode_fixed(r, out);
}

static int decode_common_v(struct rd *r, void *out)
{
    return decode_common(r, out);
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
        return fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "image paths and board are required");
    if (strcmp(flash_path, nvram_path) == 0)
        return fail(err, errlen, CL_ERR_INVALID_ARGUMENT,
                    "flash and NVRAM images must be different files");
    if (!board_ok(board, why, sizeof(why)))
        return fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "board: %s", why);
    if (!force) {
        if (lstat(flash_path, &st) == 0)
            return fail(err, errlen, CL_ERR_EXISTS, "flash image %s already exists", flash_path);
        if (lstat(nvram_path, &st) == 0)
            return fail(err, errlen, CL_ERR_EXISTS, "nvram image %s already exists", nvram_path);
    }

    flash = malloc(FLASH_SIZE);
    nvram = malloc(NVRAM_SIZE);
    if (flash == NULL || nvram == NULL) {
        rc = fail(err, errlen, CL_ERR_NOMEM, "out of memory");
        goto out;
    }
    memset(flash, ERASED, FLASH_SIZE);
    memset(nvram, ERASED, NVRAM_SIZE);
    put_image_header(flash, FLASH_MAGIC, FLASH_SIZE);
    put_image_header(nvram, NVRAM_MAGIC, NVRAM_SIZE);

    body = encode_program(board->firmware, &len);
    rc = place(flash, &AREA_PROGRAM, 0, body, len);
    if (rc == CL_OK) {
        body = encode_common(board->common, &len);
        rc = place(flash, &AREA_COMMON, 0, body, len);
    }
    if (rc == CL_OK) {
        body = encode_fixed(board->fixed, &len);
        rc = place(flash, &AREA_FIXED, 0, body, len);
    }
    if (rc == CL_OK) {
        memset(&bank, 0, sizeof(bank));
        bank.sequence = 1;
        snprintf(bank.device_number, sizeof(bank.device_number), "%s", board->device_number);
        bank.initial_operational_value = board->initial_operational_value;
        bank.initial_apl_value = board->initial_apl_value;
        bank.common_certificate_pem = board->common->certificate_pem;
        body = encode_bank(&bank, &len);
        rc = place(nvram, &AREA_BANK[0], bank.sequence, body, len);
    }
    if (rc != CL_OK) {
        rc = fail(err, errlen, rc, "out of memory");
        goto out;
    }

    rc = force ? cl_atomic_write(flash_path, flash, FLASH_SIZE, IMAGE_MODE)
               : cl_atomic_write_new(flash_path, flash, FLASH_SIZE, IMAGE_MODE);
    if (rc != CL_OK) {
        rc = fail(err, errlen, rc, "cannot write flash image %s: %s", flash_path, strerror(errno));
        goto out;
    }
    rc = force ? cl_atomic_write(nvram_path, nvram, NVRAM_SIZE, IMAGE_MODE)
               : cl_atomic_write_new(nvram_path, nvram, NVRAM_SIZE, IMAGE_MODE);
    if (rc != CL_OK) {
        int e = errno;
        /* No half-made board: the flash image just written goes again. */
        unlink(flash_path);
        rc = fail(err, errlen, rc, "cannot write nvram image %s: %s (flash image removed)",
                  nvram_path, strerror(e));
        goto out;
    }
    rc = CL_OK;
out:
    free_image(flash, FLASH_SIZE);
    free_image(nvram, NVRAM_SIZE);
    return rc;
}

int nv_open(const char *flash_path, const char *nvram_path, struct nv_device *device, char *err,
            size_t errlen)
{
    unsigned char *img = NULL;
    char why[WHY_MAX];
    uint64_t sequence = 0;
    int fd = -1, bank = -1, rc;

    if (device == NULL)
        return fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "no device");
    memset(device, 0, sizeof(*device));
    device->current_slot = -1;
    if (flash_path == NULL || nvram_path == NULL ||
        strlen(flash_path) >= sizeof(device->flash_path) ||
        strlen(nvram_path) >= sizeof(device->nvram_path))
        return fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "image paths missing or too long");
    memcpy(device->flash_path, flash_path, strlen(flash_path) + 1);
    memcpy(device->nvram_path, nvram_path, strlen(nvram_path) + 1);

    rc = load_image(flash_path, O_RDONLY, LOCK_SH, FLASH_MAGIC, FLASH_SIZE, &fd, &img, why,
                    sizeof(why));
    if (rc != CL_OK) {
        rc = fail(err, errlen, rc, "flash image: flash header: %s", why);
        goto out;
    }
    close(fd);
    if ((rc = load_required(img, &AREA_PROGRAM, decode_program_v, &device->firmware, err,
                            errlen)) == CL_OK &&
        (rc = load_required(img, &AREA_FIXED, decode_fixed_v, &device->fixed, err, errlen)) ==
            CL_OK &&
        (rc = load_required(img, &AREA_COMMON, decode_common_v, &device->common, err, errlen)) ==
            CL_OK)
        rc = find_current_slot(img, FLASH_SIZE, &device->current_slot, &sequence, &device->current,
                               err, errlen);
    free_image(img, FLASH_SIZE);
    if (rc != CL_OK)
        goto out;
    device->has_certificate = device->current_slot >= 0;

    rc = load_image(nvram_path, O_RDONLY, LOCK_SH, NVRAM_MAGIC, NVRAM_SIZE, &fd, &img, why,
                    sizeof(why));
    if (rc != CL_OK) {
        rc = fail(err, errlen, rc, "nvram image: nvram header: %s", why);
        goto out;
    }
    close(fd);
    rc = find_current_bank(img, NVRAM_SIZE, &bank, &device->nvram, err, errlen);
    free_image(img, NVRAM_SIZE);
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
    firmware_free(&device->firmware);
    common_free(&device->common);
    nvram_free(&device->nvram);
    nv_certificate_free(&device->current);
    explicit_bzero(device, sizeof(*device));
    device->current_slot = -1;
}

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

    state = check_area(img, have, a, &seq, &body, &len, why, sizeof(why));
    if (state != AREA_OK) {
        add_check(all, n, a->name, 0, "%s", why);
        return;
    }
    r = (struct rd){body, len, 0, why, sizeof(why)};
    if (a == &AREA_PROGRAM) {
        struct nv_firmware f;
        memset(&f, 0, sizeof(f));
        if (decode_program(&r, &f) == CL_OK)
            add_check(all, n, a->name, 1, "model %s, key type %s, key id %s", f.model_code,
                      f.key_type, f.key_id);
        else
            add_check(all, n, a->name, 0, "%s", why);
        firmware_free(&f);
    } else if (a == &AREA_FIXED) {
        struct nv_fixed x;
        memset(&x, 0, sizeof(x));
        if (decode_fixed(&r, &x) == CL_OK)
            add_check(all, n, a->name, 1, "MAC %02x:%02x:%02x:%02x:%02x:%02x, model %s", x.mac[0],
                      x.mac[1], x.mac[2], x.mac[3], x.mac[4], x.mac[5], x.model_code);
        else
            add_check(all, n, a->name, 0, "%s", why);
    } else {
        struct nv_common c;
        memset(&c, 0, sizeof(c));
        if (decode_common(&r, &c) == CL_OK)
            add_check(all, n, a->name, 1, "certificate %zu bytes, sealed key %zu bytes",
                      strlen(c.certificate_pem), c.sealed_key_len);
        else
            add_check(all, n, a->name, 0, "%s", why);
        common_free(&c);
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

    rc = open_image(path, O_RDONLY, LOCK_SH, &fd, why, sizeof(why));
    if (rc == CL_OK)
        rc = read_image(fd, FLASH_SIZE, &img, &have, &filesize, why, sizeof(why));
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
    add_check(all, n, "flash header",
              check_image_header(img, have, filesize, FLASH_MAGIC, FLASH_SIZE, why, sizeof(why)),
              "%s", why);
    inspect_required(img, have, &AREA_PROGRAM, all, n);
    inspect_required(img, have, &AREA_FIXED, all, n);
    inspect_required(img, have, &AREA_COMMON, all, n);

    memset(rec, 0, sizeof(rec));
    for (int i = 0; i < 2; i++) {
        if (eval_slot(img, have, i, &ev[i], &rec[i]) != CL_OK) {
            ev[i].state = AREA_BAD;
            say(ev[i].why, sizeof(ev[i].why), "out of memory");
        }
    }
    cur = newest(ev[0].state, ev[0].sequence, ev[1].state, ev[1].sequence);
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
    free_image(img, FLASH_SIZE);
}

static void inspect_nvram(const char *path, struct nv_check *all, size_t *n)
{
    unsigned char *img = NULL;
    size_t have = 0, filesize = 0;
    struct copy_eval ev[2];
    struct nv_nvram rec[2];
    char why[WHY_MAX];
    int fd = -1, rc, cur;

    rc = open_image(path, O_RDONLY, LOCK_SH, &fd, why, sizeof(why));
    if (rc == CL_OK)
        rc = read_image(fd, NVRAM_SIZE, &img, &have, &filesize, why, sizeof(why));
    if (fd >= 0)
        close(fd);
    if (rc != CL_OK) {
        add_check(all, n, "nvram header", 0, "%s", why);
        add_check(all, n, AREA_BANK[0].name, 0, "not checked (nvram image unreadable)");
        add_check(all, n, AREA_BANK[1].name, 0, "not checked (nvram image unreadable)");
        return;
    }
    add_check(all, n, "nvram header",
              check_image_header(img, have, filesize, NVRAM_MAGIC, NVRAM_SIZE, why, sizeof(why)),
              "%s", why);
    memset(rec, 0, sizeof(rec));
    for (int i = 0; i < 2; i++) {
        if (eval_bank(img, have, i, &ev[i], &rec[i]) != CL_OK) {
            ev[i].state = AREA_BAD;
            say(ev[i].why, sizeof(ev[i].why), "out of memory");
        }
    }
    cur = newest(ev[0].state, ev[0].sequence, ev[1].state, ev[1].sequence);
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
        nvram_free(&rec[i]);
    }
    free_image(img, NVRAM_SIZE);
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
    char why[WHY_MAX];
    int rc;

    rc = load_image(device->nvram_path, O_RDWR, LOCK_EX, NVRAM_MAGIC, NVRAM_SIZE, fd, &img, why,
                    sizeof(why));
    if (rc != CL_OK)
        return fail(err, errlen, rc, "nvram image: nvram header: %s", why);
    rc = find_current_bank(img, NVRAM_SIZE, bank, nv, err, errlen);
    free_image(img, NVRAM_SIZE);
    if (rc == CL_OK && nv->sequence != device->nvram.sequence)
        rc = fail(err, errlen, CL_ERR_CONFLICT,
                  "nvram image changed since it was opened (bank sequence %" PRIu64
                  ", expected %" PRIu64 ")",
                  nv->sequence, device->nvram.sequence);
    if (rc != CL_OK) {
        nvram_free(nv);
        close(*fd);
        *fd = -1;
    }
    return rc;
}

/* The spare bank's new content, encoded: body and header. */
static int nvram_encode(const struct nv_nvram *nv, int bank, unsigned char **body, size_t *len,
                        unsigned char hdr[AREA_HDR_LEN])
{
    *body = encode_bank(nv, len);
    if (*body == NULL)
        return CL_ERR_NOMEM;
    make_area_header(hdr, &AREA_BANK[bank], nv->sequence, *body, *len);
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
    if (pwrite_all(fd, erased, sizeof(erased), a->off) != 0 || fsync(fd) != 0)
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
        say(why, whylen, "simulated write error");
        return CL_ERR_IO;
    }
    switch (step) {
    case NV_STEP_BODY_FIRST_HALF:
        r = pwrite_all(p->flash_fd, p->body, half, slot->off + AREA_HDR_LEN);
        break;
    case NV_STEP_BODY_SECOND_HALF:
        r = pwrite_all(p->flash_fd, p->body + half, p->body_len - half,
                       slot->off + AREA_HDR_LEN + half);
        break;
    case NV_STEP_FLASH_SYNC_BODY:
    case NV_STEP_FLASH_SYNC_HEADER:
        r = fsync(p->flash_fd);
        break;
    case NV_STEP_SLOT_HEADER:
        r = pwrite_all(p->flash_fd, p->header, AREA_HDR_LEN, slot->off);
        break;
    case NV_STEP_NVRAM_BANK:
        r = pwrite_all(p->nvram_fd, p->bank_body, p->bank_len, bank->off + AREA_HDR_LEN);
        if (r == 0)
            r = pwrite_all(p->nvram_fd, p->bank_header, AREA_HDR_LEN, bank->off);
        break;
    case NV_STEP_NVRAM_SYNC:
        r = fsync(p->nvram_fd);
        break;
    default:
        break;
    }
    if (r != 0) {
        say(why, whylen, "%s", strerror(errno));
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
    free_image(p->body, p->body_len);
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
        return fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "no device or certificate");
    if (!certificate_ok(cert, why, sizeof(why)))
        return fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "certificate: %s", why);

    /* Lock both images (always flash first) and check that they still hold what device says. */
    rc = load_image(device->flash_path, O_RDWR, LOCK_EX, FLASH_MAGIC, FLASH_SIZE, &p.flash_fd, &img,
                    why, sizeof(why));
    if (rc != CL_OK) {
        rc = fail(err, errlen, rc, "flash image: flash header: %s", why);
        goto out;
    }
    rc = find_current_slot(img, FLASH_SIZE, &disk_slot, &disk_sequence, NULL, err, errlen);
    free_image(img, FLASH_SIZE);
    if (rc != CL_OK)
        goto out;
    expected_slot = device->has_certificate ? device->current_slot : -1;
    if (disk_slot != expected_slot ||
        (device->has_certificate && disk_sequence != device->current.sequence)) {
        rc = fail(err, errlen, CL_ERR_CONFLICT,
                  "flash image changed since it was opened (current slot %d sequence %" PRIu64
                  ", expected slot %d)",
                  disk_slot, disk_sequence, expected_slot);
        goto out;
    }
    rc = nvram_for_write(device, &p.nvram_fd, &disk_bank, &nv, err, errlen);
    if (rc != CL_OK)
        goto out;
    if (disk_sequence == UINT64_MAX || nv.sequence == UINT64_MAX) {
        rc = fail(err, errlen, CL_ERR_STATE, "sequence numbers exhausted");
        goto out;
    }

    /* Everything is prepared before the first byte is written. */
    sequence = disk_slot >= 0 ? disk_sequence + 1 : 1;
    written_at = cert->written_at != 0 ? cert->written_at : (int64_t)time(NULL);
    p.spare_slot = disk_slot >= 0 ? 1 - disk_slot : 0;
    p.spare_bank = 1 - disk_bank;
    p.body = encode_slot(cert, sequence, written_at, &p.body_len);
    if (p.body == NULL) {
        rc = fail(err, errlen, CL_ERR_NOMEM, "out of memory");
        goto out;
    }
    r = (struct rd){p.body, p.body_len, 0, why, sizeof(why)};
    rc = decode_slot(&r, sequence, &stored);
    if (rc != CL_OK) {
        rc = fail(err, errlen, rc == CL_ERR_NOMEM ? rc : CL_ERR_INTERNAL,
                  "certificate record does not decode: %s", why);
        goto out;
    }
    make_area_header(p.header, &AREA_SLOT[p.spare_slot], sequence, p.body, p.body_len);
    nv.sequence++;
    nv.counters.certificate_writes = saturating_inc(nv.counters.certificate_writes);
    nv.counters.last_write_at = written_at;
    rc = nvram_encode(&nv, p.spare_bank, &p.bank_body, &p.bank_len, p.bank_header);
    if (rc != CL_OK) {
        rc = fail(err, errlen, rc, "out of memory");
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
        rc = fail(err, errlen, CL_ERR_IO, "certificate write failed at step %d (%s): %s; %s", step,
                  step_name(step), why,
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
    nvram_free(&nv);
    return rc;
}

int nv_read_back(const struct nv_device *device, struct nv_certificate *out, char *err,
                 size_t errlen)
{
    struct copy_eval ev, other;
    unsigned char *img = NULL;
    char why[WHY_MAX];
    int fd = -1, rc, slot;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (device == NULL || out == NULL)
        return fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "no device or output");
    if (!device->has_certificate || device->current_slot < 0 || device->current_slot > 1)
        return fail(err, errlen, CL_ERR_NOT_FOUND, "no certificate written yet");
    slot = device->current_slot;
    rc = load_image(device->flash_path, O_RDONLY, LOCK_SH, FLASH_MAGIC, FLASH_SIZE, &fd, &img, why,
                    sizeof(why));
    if (rc != CL_OK)
        return fail(err, errlen, rc, "flash image: flash header: %s", why);
    close(fd);
    rc = eval_slot(img, FLASH_SIZE, slot, &ev, out);
    if (rc == CL_OK)
        rc = eval_slot(img, FLASH_SIZE, 1 - slot, &other, NULL);
    free_image(img, FLASH_SIZE);
    if (rc != CL_OK) {
        nv_certificate_free(out);
        return fail(err, errlen, rc, "flash image: certificate area: out of memory");
    }
    if (ev.state != AREA_OK)
        return fail(err, errlen, CL_ERR_PARSE, "flash image: %s: %s", AREA_SLOT[slot].name, ev.why);
    if (ev.sequence != device->current.sequence ||
        (other.state == AREA_OK && other.sequence >= ev.sequence)) {
        nv_certificate_free(out);
        return fail(err, errlen, CL_ERR_CONFLICT,
                    "flash image changed since it was written (%s holds sequence %" PRIu64
                    ", expected %" PRIu64 ")",
                    AREA_SLOT[slot].name, ev.sequence, device->current.sequence);
    }
    return CL_OK;
}

int nv_count_failure(struct nv_device *device, char *err, size_t errlen)
{
    unsigned char *body = NULL, hdr[AREA_HDR_LEN];
    struct nv_nvram nv;
    size_t len = 0;
    int fd = -1, bank = -1, rc, e;

    memset(&nv, 0, sizeof(nv));
    if (device == NULL)
        return fail(err, errlen, CL_ERR_INVALID_ARGUMENT, "no device");
    rc = nvram_for_write(device, &fd, &bank, &nv, err, errlen);
    if (rc != CL_OK)
        return rc;
    if (nv.sequence == UINT64_MAX) {
        rc = fail(err, errlen, CL_ERR_STATE, "nvram sequence exhausted");
        goto out;
    }
    nv.sequence++;
    nv.counters.failed_writes = saturating_inc(nv.counters.failed_writes);
    nv.counters.last_write_at = (int64_t)time(NULL);
    bank = 1 - bank;
    rc = nvram_encode(&nv, bank, &body, &len, hdr);
    if (rc != CL_OK) {
        rc = fail(err, errlen, rc, "out of memory");
        goto out;
    }
    if (pwrite_all(fd, body, len, AREA_BANK[bank].off + AREA_HDR_LEN) != 0 ||
        pwrite_all(fd, hdr, AREA_HDR_LEN, AREA_BANK[bank].off) != 0 || fsync(fd) != 0) {
        e = errno;
        erase_header(fd, &AREA_BANK[bank]);
        rc = fail(err, errlen, CL_ERR_IO, "nvram image: %s: %s", AREA_BANK[bank].name, strerror(e));
        goto out;
    }
    device->nvram.sequence = nv.sequence;
    device->nvram.counters = nv.counters;
    rc = CL_OK;
out:
    close(fd);
    free(body);
    nvram_free(&nv);
    return rc;
}
