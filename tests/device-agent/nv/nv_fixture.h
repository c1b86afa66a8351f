/* nv_fixture.h: what the device image tests share (nv_fixture.c): the layout IMAGES.md
 * documents, a board, certificates, files read and patched, and each layer's group of tests
 * (test_nv_<layer>.c, as in device-agent/nv_<layer>.c), run by run_nv_tests.c. Include after
 * cmocka.h. */
#ifndef CERTLINE_TEST_NV_FIXTURE_H
#define CERTLINE_TEST_NV_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nv_image.h"

/* The groups: each runs its tests and returns how many failed. */
int nv_image_tests(void);
int nv_codec_tests(void);
int nv_file_tests(void);
int nv_records_tests(void);
int nv_slots_tests(void);
int nv_inspect_tests(void);

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

/* A test's fresh directory and the paths of its two images. */
struct fixture {
    char dir[64];
    char flash[128];
    char nvram[128];
};

/* Per-test setup and teardown: a fresh mkdtemp directory for the two images, removed after. */
int nv_setup(void **state);
int nv_teardown(void **state);

/* CRC-32 (ISO-HDLC), table-driven here, independent of the bitwise one under test. */
uint32_t crc32_t(const unsigned char *p, size_t len);
uint32_t le32(const unsigned char *p);
void set_le32(unsigned char *p, uint32_t v);

/* A whole file (free it), and a whole file written. */
unsigned char *slurp(const char *path, size_t *len);
void spit(const char *path, const unsigned char *buf, size_t len);

/* Damages the byte at off. */
void flip_byte(const char *path, size_t off);

/* Recomputes an area's body checksum (over its stated length) and header checksum, as a
 * hostile image would. */
void fix_area(unsigned char *img, size_t off);

/* Sets the little-endian value v of width bytes (1 to 4) at offset at of the area at area_off
 * (from its header on), fixing checksums. */
void patch(const char *path, size_t area_off, size_t at, uint32_t v, size_t width);

/* Sets a little-endian u32 (a byte) at off inside the body of the area at area_off, fixing
 * checksums. */
void poke32(const char *path, size_t area_off, size_t body_off, uint32_t v);
void poke8(const char *path, size_t area_off, size_t body_off, unsigned char v);

void truncate_to(const char *path, off_t size);

/* A text of exactly len bytes, different for each tag, in PEM-like lines. */
char *text_of(size_t len, char tag);

/* A certificate record; tag makes every field differ from another tag's. cert_std: of the usual
 * sizes. */
void cert_make(struct nv_certificate *c, char tag, size_t pem_len, size_t sealed_len);
void cert_std(struct nv_certificate *c, char tag);

/* Every stored field of a equals b's (sequence aside). */
void assert_cert_equal(const struct nv_certificate *a, const struct nv_certificate *b);

/* The board board_make describes. */
extern struct nv_firmware g_firmware;
extern struct nv_fixed g_fixed;
extern struct nv_common g_common;
extern unsigned char g_common_key[77];

/* A blank board of device_number (filling the globals above). */
struct nv_board board_make(const char *device_number);

/* Creates the images of a board of DEVICE_NUMBER (forced). */
void make_board(struct fixture *f);

/* Opens the images (the test fails if it cannot). */
void open_ok(struct fixture *f, struct nv_device *d);

/* Opening must fail with rc and an err that names what. */
void open_fails(struct fixture *f, int rc, const char *what);

/* Writes a certificate (the test fails if it cannot). */
void write_ok(struct nv_device *d, const struct nv_certificate *c);

/* The check called name from nv_inspect. */
struct nv_check inspect_one(struct fixture *f, const char *name);

/* The check called name has ok and a detail containing detail (if not NULL). */
void assert_inspect(struct fixture *f, const char *name, int ok, const char *detail);

/* Writes A (slot 0) and B (slot 1) and closes. */
void two_certificates(struct fixture *f, struct nv_certificate *a, struct nv_certificate *b);

/* A test of the device images, in a fresh directory. */
#define NV_TEST(test) cmocka_unit_test_setup_teardown(test, nv_setup, nv_teardown)

#endif
