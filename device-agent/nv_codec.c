/* nv_codec.c: byte codec of the images (IMAGES.md): CRC-32, integers, records, headers; no I/O. */
#include "nv_image_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

const unsigned char FLASH_MAGIC[8] = {'C', 'L', 'F', 'L', 'A', 'S', 'H', 0};
const unsigned char NVRAM_MAGIC[8] = {'C', 'L', 'N', 'V', 'R', 'A', 'M', 0};
const struct area AREA_PROGRAM = {"program area",       PROGRAM_OFF, PROGRAM_SIZE,
                                  {'P', 'R', 'O', 'G'}, 0,           0};
const struct area AREA_COMMON = {"common certificate area", COMMON_OFF, COMMON_SIZE,
                                 {'C', 'O', 'M', 'N'},      0,          0};
const struct area AREA_FIXED = {"fixed parameters",   FIXED_OFF, FIXED_SIZE,
                                {'F', 'I', 'X', 'D'}, 0,         0};
const struct area AREA_SLOT[2] = {
    {"certificate slot 0", SLOT0_OFF, SLOT_SIZE, {'C', 'E', 'R', 'T'}, 0, 1},
    {"certificate slot 1", SLOT0_OFF + SLOT_SIZE, SLOT_SIZE, {'C', 'E', 'R', 'T'}, 1, 1},
};
const struct area AREA_BANK[2] = {
    {"nvram bank 0", BANK0_OFF, BANK_SIZE, {'B', 'A', 'N', 'K'}, 0, 1},
    {"nvram bank 1", BANK0_OFF + BANK_SIZE, BANK_SIZE, {'B', 'A', 'N', 'K'}, 1, 1},
};

int nvi_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
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
void nvi_free_image(unsigned char *img, size_t len)
{
    if (img != NULL) {
        explicit_bzero(img, len);
        free(img);
    }
}

/* --- Encoding ---------------------------------------------------------------------------- */

/* Callers size the buffer exactly from validated lengths; a write past it is a bug and is
 * dropped (encode_* then report CL_ERR_INTERNAL). */
void nvi_wr_bytes(struct wr *w, const void *data, size_t len)
{
    if (len > w->cap - w->pos) {
        w->pos = w->cap + 1;
        return;
    }
    if (len > 0)
        memcpy(w->p + w->pos, data, len);
    w->pos += len;
}

void nvi_wr_u32(struct wr *w, uint32_t v)
{
    unsigned char b[4];
    put_u32(b, v);
    nvi_wr_bytes(w, b, sizeof(b));
}

void nvi_wr_u64(struct wr *w, uint64_t v)
{
    unsigned char b[8];
    put_u64(b, v);
    nvi_wr_bytes(w, b, sizeof(b));
}

/* A text field: length byte, then max bytes (the text, zero padded). s is validated. */
void nvi_wr_text(struct wr *w, const char *s, size_t max)
{
    unsigned char field[1 + 64] = {0};
    size_t n = strlen(s);

    if (n > max || max > sizeof(field) - 1) {
        w->pos = w->cap + 1;
        return;
    }
    field[0] = (unsigned char)n;
    memcpy(field + 1, s, n);
    nvi_wr_bytes(w, field, 1 + max);
}

/* --- Decoding (every length bounded before use) -------------------------------------------- */

int nvi_rd_take(struct rd *r, size_t n, const unsigned char **out, const char *field)
{
    if (n > r->len - r->pos) {
        cl_err_set(r->why, r->whylen, "record ends inside %s", field);
        return CL_ERR_PARSE;
    }
    *out = r->p + r->pos;
    r->pos += n;
    return CL_OK;
}

int nvi_rd_u32(struct rd *r, uint32_t *v, const char *field)
{
    const unsigned char *b;
    if (nvi_rd_take(r, 4, &b, field) != CL_OK)
        return CL_ERR_PARSE;
    *v = get_u32(b);
    return CL_OK;
}

int nvi_rd_u64(struct rd *r, uint64_t *v, const char *field)
{
    const unsigned char *b;
    if (nvi_rd_take(r, 8, &b, field) != CL_OK)
        return CL_ERR_PARSE;
    *v = get_u64(b);
    return CL_OK;
}

int nvi_rd_i64(struct rd *r, int64_t *v, const char *field)
{
    uint64_t u;
    if (nvi_rd_u64(r, &u, field) != CL_OK)
        return CL_ERR_PARSE;
    *v = (int64_t)u;
    return CL_OK;
}

int nvi_printable(unsigned char c)
{
    return c >= 0x20 && c < 0x7f;
}

/* A text field into out[max + 1]: min..max printable ASCII characters, zero padding. */
int nvi_rd_text(struct rd *r, char *out, size_t max, size_t min, const char *field)
{
    const unsigned char *b;
    size_t n;

    if (nvi_rd_take(r, 1 + max, &b, field) != CL_OK)
        return CL_ERR_PARSE;
    n = b[0];
    if (n > max || n < min) {
        cl_err_set(r->why, r->whylen, "%s length %zu outside %zu..%zu", field, n, min, max);
        return CL_ERR_PARSE;
    }
    for (size_t i = 0; i < n; i++) {
        if (!nvi_printable(b[1 + i])) {
            cl_err_set(r->why, r->whylen, "%s holds a NUL or control byte", field);
            return CL_ERR_PARSE;
        }
    }
    for (size_t i = n; i < max; i++) {
        if (b[1 + i] != 0) {
            cl_err_set(r->why, r->whylen, "%s padding not zero", field);
            return CL_ERR_PARSE;
        }
    }
    memcpy(out, b + 1, n);
    out[n] = '\0';
    return CL_OK;
}

/* A length field, checked against min..max before anything is read or allocated with it. */
int nvi_rd_len(struct rd *r, uint32_t *len, size_t min, size_t max, const char *field)
{
    if (nvi_rd_u32(r, len, field) != CL_OK)
        return CL_ERR_PARSE;
    if (*len < min || *len > max) {
        cl_err_set(r->why, r->whylen, "%s length %" PRIu32 " outside %zu..%zu", field, *len, min,
                   max);
        return CL_ERR_PARSE;
    }
    return CL_OK;
}

/* len bytes of text without NUL into a new string. */
int nvi_rd_string(struct rd *r, uint32_t len, char **out, const char *field)
{
    const unsigned char *b;

    if (nvi_rd_take(r, len, &b, field) != CL_OK)
        return CL_ERR_PARSE;
    if (memchr(b, 0, len) != NULL) {
        cl_err_set(r->why, r->whylen, "%s holds a NUL byte", field);
        return CL_ERR_PARSE;
    }
    *out = malloc((size_t)len + 1);
    if (*out == NULL) {
        cl_err_set(r->why, r->whylen, "out of memory");
        return CL_ERR_NOMEM;
    }
    memcpy(*out, b, len);
    (*out)[len] = '\0';
    return CL_OK;
}

int nvi_rd_blob(struct rd *r, uint32_t len, unsigned char **out, const char *field)
{
    const unsigned char *b;

    if (nvi_rd_take(r, len, &b, field) != CL_OK)
        return CL_ERR_PARSE;
    *out = malloc(len > 0 ? len : 1);
    if (*out == NULL) {
        cl_err_set(r->why, r->whylen, "out of memory");
        return CL_ERR_NOMEM;
    }
    memcpy(*out, b, len);
    return CL_OK;
}

int nvi_rd_end(struct rd *r)
{
    if (r->pos != r->len) {
        cl_err_set(r->why, r->whylen, "%zu unexpected bytes after the record", r->len - r->pos);
        return CL_ERR_PARSE;
    }
    return CL_OK;
}

/* --- Headers --------------------------------------------------------------------------------- */

/* Image header: magic[8], u32 format version, u32 image size, 16 reserved zero bytes, u32 CRC-32
 * of bytes 0..27. */
void nvi_put_image_header(unsigned char *img, const unsigned char magic[8], uint32_t size)
{
    memset(img, 0, IMAGE_HDR_LEN);
    memcpy(img, magic, 8);
    put_u32(img + 8, FORMAT_VERSION);
    put_u32(img + 12, size);
    put_u32(img + 28, crc32_of(img, 28));
}

/* Checks the image header and the file size; 1 if good, else 0 with why. */
int nvi_check_image_header(const unsigned char *img, size_t have, size_t filesize,
                           const unsigned char magic[8], uint32_t size, char *why, size_t whylen)
{
    if (have < IMAGE_HDR_LEN) {
        cl_err_set(why, whylen, "file is %zu bytes, expected %" PRIu32 " (truncated)", filesize,
                   size);
        return 0;
    }
    if (memcmp(img, magic, 8) != 0) {
        cl_err_set(why, whylen, "bad magic (not a certline image of this kind)");
        return 0;
    }
    if (get_u32(img + 28) != crc32_of(img, 28)) {
        cl_err_set(why, whylen, "header checksum mismatch");
        return 0;
    }
    if (get_u32(img + 8) != FORMAT_VERSION) {
        cl_err_set(why, whylen, "unsupported format version %" PRIu32, get_u32(img + 8));
        return 0;
    }
    if (get_u32(img + 12) != size) {
        cl_err_set(why, whylen, "header gives image size %" PRIu32 ", expected %" PRIu32,
                   get_u32(img + 12), size);
        return 0;
    }
    for (size_t i = 16; i < 28; i++) {
        if (img[i] != 0) {
            cl_err_set(why, whylen, "reserved header bytes not zero");
            return 0;
        }
    }
    if (filesize != size) {
        cl_err_set(why, whylen, "file is %zu bytes, expected %" PRIu32 " (truncated or extended)",
                   filesize, size);
        return 0;
    }
    cl_err_set(why, whylen, "format version %u, %" PRIu32 " bytes", FORMAT_VERSION, size);
    return 1;
}

/* Area header: magic[4], u16 area version, u16 index (slot or bank number, else 0), u64 sequence
 * (0 for unsequenced areas), u32 body length, u32 body CRC-32, u32 reserved zero, u32 CRC-32 of
 * bytes 0..27. The body follows the header. */
void nvi_make_area_header(unsigned char hdr[AREA_HDR_LEN], const struct area *a, uint64_t sequence,
                          const unsigned char *body, size_t len)
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
    nvi_make_area_header(img + a->off, a, sequence, body, len);
    memcpy(img + a->off + AREA_HDR_LEN, body, len);
}

/* Places an encoded body (NULL if encoding ran out of memory) into an image and frees it. */
int nvi_place(unsigned char *img, const struct area *a, uint64_t sequence, unsigned char *body,
              size_t len)
{
    if (body == NULL)
        return CL_ERR_NOMEM;
    put_area(img, a, sequence, body, len);
    nvi_free_image(body, len);
    return CL_OK;
}

/* Checks an area's header and body checksum. Returns AREA_OK (with *sequence and *body, a reader
 * over the body whose messages go to why), AREA_EMPTY (header erased) or AREA_BAD, with why. */
int nvi_check_area(const unsigned char *img, size_t have, const struct area *a, uint64_t *sequence,
                   struct rd *body, char *why, size_t whylen)
{
    const unsigned char *p;
    uint32_t len;
    uint64_t seq;

    if (a->off + a->size > have) {
        cl_err_set(why, whylen, "beyond the end of the file (truncated)");
        return AREA_BAD;
    }
    p = img + a->off;
    if (all_erased(p, AREA_HDR_LEN)) {
        cl_err_set(why, whylen, "empty (erased)");
        return AREA_EMPTY;
    }
    if (memcmp(p, a->magic, 4) != 0) {
        cl_err_set(why, whylen, "bad magic");
        return AREA_BAD;
    }
    if (get_u32(p + 28) != crc32_of(p, 28)) {
        cl_err_set(why, whylen, "header checksum mismatch");
        return AREA_BAD;
    }
    if (get_u16(p + 4) != AREA_VERSION) {
        cl_err_set(why, whylen, "unsupported area version %u", (unsigned)get_u16(p + 4));
        return AREA_BAD;
    }
    if (get_u16(p + 6) != a->index) {
        cl_err_set(why, whylen, "header names index %u", (unsigned)get_u16(p + 6));
        return AREA_BAD;
    }
    seq = get_u64(p + 8);
    if (a->sequenced ? seq == 0 : seq != 0) {
        cl_err_set(why, whylen, "invalid sequence %" PRIu64, seq);
        return AREA_BAD;
    }
    len = get_u32(p + 16);
    if (len > a->size - AREA_HDR_LEN) {
        cl_err_set(why, whylen, "body length %" PRIu32 " exceeds the area (%zu bytes)", len,
                   a->size - AREA_HDR_LEN);
        return AREA_BAD;
    }
    if (get_u32(p + 24) != 0) {
        cl_err_set(why, whylen, "reserved header field not zero");
        return AREA_BAD;
    }
    if (get_u32(p + 20) != crc32_of(p + AREA_HDR_LEN, len)) {
        cl_err_set(why, whylen, "body checksum mismatch");
        return AREA_BAD;
    }
    *sequence = seq;
    *body = (struct rd){p + AREA_HDR_LEN, len, 0, why, whylen};
    return AREA_OK;
}
