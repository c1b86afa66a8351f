/* fuzz_nv_image.c: fuzz target for the device's flash and NVRAM images
 * (device-agent/nv_*.c: nv_open, nv_read_back and nv_inspect over image files held in
 * memory).
 *
 * The images are 148 KiB and 44 KiB, mostly erased, so an input describes them compactly:
 *   flags (1 byte), then chunks: image (1 byte, bit 0: 0 flash, 1 NVRAM), offset (u32 LE),
 *   length (u16 LE), bytes
 * written over images that start erased (0xFF). Flags: bit 0 recomputes every CRC of the layout
 * (device-agent/IMAGES.md) before the images are read, so that mutations reach the decoders
 * behind the checksums; bit 1 cuts the flash file one byte short, bit 2 the NVRAM file.
 * tests/fuzz/make-seeds.py turns real images into this form. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "nv_image.h"

#define FLASH_SIZE 0x25000u
#define NVRAM_SIZE 0x0B000u
#define HDR 32u

/* The areas of IMAGES.md: offset and size, in the flash (0) or NVRAM (1) image. */
static const struct {
    int image;
    size_t off, size;
} areas[] = {
    {0, 0x01000u, 0x09000u}, /* program */
    {0, 0x0A000u, 0x0A000u}, /* certificate slot 0 */
    {0, 0x14000u, 0x0A000u}, /* certificate slot 1 */
    {0, 0x1E000u, 0x06000u}, /* common certificate */
    {0, 0x24000u, 0x01000u}, /* fixed parameters */
    {1, 0x01000u, 0x05000u}, /* bank 0 */
    {1, 0x06000u, 0x05000u}, /* bank 1 */
};

static uint32_t crc32_of(const unsigned char *p, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xFFFFFFFFu;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void fix_checksums(unsigned char *img[2])
{
    put_u32(img[0] + 28, crc32_of(img[0], 28));
    put_u32(img[1] + 28, crc32_of(img[1], 28));
    for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
        unsigned char *h = img[areas[i].image] + areas[i].off;
        uint32_t len = get_u32(h + 16);
        int erased = 1;
        for (size_t k = 0; k < HDR && erased; k++)
            erased = h[k] == 0xFF;
        if (erased)
            continue;
        if (len <= areas[i].size - HDR)
            put_u32(h + 20, crc32_of(h + HDR, len));
        put_u32(h + 28, crc32_of(h, 28));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_file files[2];
    static const size_t sizes[2] = {FLASH_SIZE, NVRAM_SIZE};
    unsigned char *img[2] = {NULL, NULL};
    struct nv_device device;
    struct nv_certificate back;
    struct nv_check checks[NV_CHECKS_MAX];
    char err[512];
    size_t at = 1;
    unsigned flags;

    fuzz_init();
    if (size < 1)
        return 0;
    flags = data[0];
    for (int i = 0; i < 2; i++) {
        if ((img[i] = malloc(sizes[i])) == NULL)
            goto out;
        memset(img[i], 0xFF, sizes[i]);
    }
    while (at + 7 <= size) {
        int which = data[at] & 1;
        size_t off = get_u32(data + at + 1), len = (size_t)data[at + 5] | (size_t)data[at + 6] << 8;
        at += 7;
        if (len > size - at)
            len = size - at;
        if (off < sizes[which])
            memcpy(img[which] + off, data + at,
                   len < sizes[which] - off ? len : sizes[which] - off);
        at += len;
    }
    if (flags & 1)
        fix_checksums(img);
    if (fuzz_file_set(&files[0], img[0], sizes[0] - (flags & 2 ? 1 : 0), 0600) != 0 ||
        fuzz_file_set(&files[1], img[1], sizes[1] - (flags & 4 ? 1 : 0), 0600) != 0)
        goto out;
    if (nv_open(files[0].path, files[1].path, &device, err, sizeof(err)) == 0) {
        if (device.has_certificate && nv_read_back(&device, &back, err, sizeof(err)) == 0)
            nv_certificate_free(&back);
        nv_close(&device);
    }
    (void)nv_inspect(files[0].path, files[1].path, checks, NV_CHECKS_MAX);
out:
    free(img[0]);
    free(img[1]);
    return 0;
}
