/* nv_image_internal.h: private to device_nv's nv_*.c: layout, area table, shared functions. */
#ifndef CERTLINE_NV_IMAGE_INTERNAL_H
#define CERTLINE_NV_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "nv_image.h"

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
/* The optional tail of the program area: a count and the next pre-write keys. */
#define PROGRAM_NEXT_KEYS_LEN (4u + NV_NEXT_KEYS_MAX * (TEXT_LEN(NV_KEY_ID_MAX) + NV_SECRET_BYTES))
_Static_assert(PROGRAM_FIXED_LEN + 2u * NV_PEM_MAX + PROGRAM_NEXT_KEYS_LEN <=
                   PROGRAM_SIZE - AREA_HDR_LEN,
               "program area too small");
_Static_assert(COMMON_FIXED_LEN + NV_PEM_MAX + NV_SEALED_MAX <= COMMON_SIZE - AREA_HDR_LEN,
               "common certificate area too small");
_Static_assert(FIXED_BODY_LEN <= FIXED_SIZE - AREA_HDR_LEN, "fixed parameter area too small");
_Static_assert(BANK_FIXED_LEN + NV_PEM_MAX <= BANK_SIZE - AREA_HDR_LEN, "nvram bank too small");
_Static_assert(SLOT0_OFF + 2u * SLOT_SIZE == COMMON_OFF && COMMON_OFF + COMMON_SIZE == FIXED_OFF &&
                   FIXED_OFF + FIXED_SIZE == FLASH_SIZE && PROGRAM_OFF + PROGRAM_SIZE == SLOT0_OFF,
               "flash areas must tile the image");
_Static_assert(BANK0_OFF + 2u * BANK_SIZE == NVRAM_SIZE, "nvram banks must tile the image");

extern const unsigned char FLASH_MAGIC[8];
extern const unsigned char NVRAM_MAGIC[8];

/* One area of an image: where it is and what its header must say. */
struct area {
    const char *name;
    size_t off, size;
    unsigned char magic[4];
    uint16_t index;
    int sequenced; /* slots and banks carry a sequence number (>= 1), other areas 0 */
};

extern const struct area AREA_PROGRAM;
extern const struct area AREA_COMMON;
extern const struct area AREA_FIXED;
extern const struct area AREA_SLOT[2];
extern const struct area AREA_BANK[2];

/* States of a checked area. */
enum { AREA_EMPTY = -1, AREA_BAD = 0, AREA_OK = 1 };

#define WHY_MAX 128

/* The record writer and the bounded record reader (nv_codec.c). */
struct wr {
    unsigned char *p;
    size_t cap, pos;
};

struct rd {
    const unsigned char *p;
    size_t len, pos;
    char *why;
    size_t whylen;
};

/* What checking one copy (a slot or a bank) found. */
struct copy_eval {
    int state;
    uint64_t sequence;
    char why[WHY_MAX];
};

/* nv_codec.c */
int nvi_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void nvi_free_image(unsigned char *img, size_t len);
void nvi_wr_bytes(struct wr *w, const void *data, size_t len);
void nvi_wr_u32(struct wr *w, uint32_t v);
void nvi_wr_u64(struct wr *w, uint64_t v);
void nvi_wr_text(struct wr *w, const char *s, size_t max);
int nvi_rd_take(struct rd *r, size_t n, const unsigned char **out, const char *field);
int nvi_rd_u32(struct rd *r, uint32_t *v, const char *field);
int nvi_rd_u64(struct rd *r, uint64_t *v, const char *field);
int nvi_rd_i64(struct rd *r, int64_t *v, const char *field);
int nvi_printable(unsigned char c);
int nvi_rd_text(struct rd *r, char *out, size_t max, size_t min, const char *field);
int nvi_rd_len(struct rd *r, uint32_t *len, size_t min, size_t max, const char *field);
int nvi_rd_string(struct rd *r, uint32_t len, char **out, const char *field);
int nvi_rd_blob(struct rd *r, uint32_t len, unsigned char **out, const char *field);
int nvi_rd_end(struct rd *r);
void nvi_put_image_header(unsigned char *img, const unsigned char magic[8], uint32_t size);
int nvi_check_image_header(const unsigned char *img, size_t have, size_t filesize,
                           const unsigned char magic[8], uint32_t size, char *why, size_t whylen);
void nvi_make_area_header(unsigned char hdr[AREA_HDR_LEN], const struct area *a, uint64_t sequence,
                          const unsigned char *body, size_t len);
int nvi_place(unsigned char *img, const struct area *a, uint64_t sequence, unsigned char *body,
              size_t len);
int nvi_check_area(const unsigned char *img, size_t have, const struct area *a, uint64_t *sequence,
                   struct rd *body, char *why, size_t whylen);

/* nv_records.c */
int nvi_certificate_ok(const struct nv_certificate *c, char *why, size_t whylen);
int nvi_board_ok(const struct nv_board *b, char *why, size_t whylen);
unsigned char *nvi_encode_program(const struct nv_firmware *f, size_t *len);
int nvi_decode_program(struct rd *r, struct nv_firmware *f);
void nvi_firmware_free(struct nv_firmware *f);
unsigned char *nvi_encode_fixed(const struct nv_fixed *x, size_t *len);
int nvi_decode_fixed(struct rd *r, struct nv_fixed *x);
unsigned char *nvi_encode_common(const struct nv_common *c, size_t *len);
int nvi_decode_common(struct rd *r, struct nv_common *c);
void nvi_common_free(struct nv_common *c);
unsigned char *nvi_encode_slot(const struct nv_certificate *c, uint64_t sequence,
                               int64_t written_at, size_t *len);
int nvi_decode_slot(struct rd *r, uint64_t header_sequence, struct nv_certificate *c);
unsigned char *nvi_encode_bank(const struct nv_nvram *n, size_t *len);
int nvi_decode_bank(struct rd *r, uint64_t header_sequence, struct nv_nvram *n);
void nvi_nvram_free(struct nv_nvram *n);

/* nv_file.c */
int nvi_open_image(const char *path, int flags, int lock, int *fd, char *why, size_t whylen);
int nvi_read_image(int fd, size_t cap, unsigned char **img, size_t *have, size_t *filesize,
                   char *why, size_t whylen);
int nvi_load_image(const char *path, int nvram, int *fd, unsigned char **img, char *err,
                   size_t errlen);

/* nv_slots.c */
int nvi_eval_slot(const unsigned char *img, size_t have, int i, struct copy_eval *ev,
                  struct nv_certificate *out);
int nvi_eval_bank(const unsigned char *img, size_t have, int i, struct copy_eval *ev,
                  struct nv_nvram *out);
int nvi_newest(int state0, uint64_t seq0, int state1, uint64_t seq1);
int nvi_find_current_slot(const unsigned char *img, size_t have, int *current, uint64_t *sequence,
                          struct nv_certificate *cert, char *err, size_t errlen);
int nvi_find_current_bank(const unsigned char *img, size_t have, int *bank, struct nv_nvram *nv,
                          char *err, size_t errlen);

#endif
