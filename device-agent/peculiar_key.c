/* peculiar_key.c: derivation of the board's peculiar key (HKDF-SHA256) and sealing of private
 * keys at rest under it (AES-256-GCM); the key is derived for each use and wiped right after. */
#include "peculiar_key.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "error.h"
#include "keyfile.h"
#include "x509_issue.h"

#define SALT "certline peculiar-key v1"
#define AAD_LABEL "certline peculiar-seal v1"
#define NUMBER_MAX 31
#define SERIAL_MAX 40
#define AAD_MAX (sizeof(AAD_LABEL) + sizeof("device-key") + NUMBER_MAX + 1 + SERIAL_MAX + 1)

static const char *purpose_name(enum peculiar_purpose purpose)
{
    return purpose == PECULIAR_DEVICE_KEY ? "device-key" : "common-key";
}

/* Checks the inputs shared by seal and open; returns the serial to bind ("" for none). */
static const char *checked_serial(const struct peculiar_identity *id, enum peculiar_purpose purpose,
                                  const char *serial_hex)
{
    if (id == NULL || id->generator == NULL || id->mac == NULL || id->device_number == NULL ||
        !cl_device_number_valid(id->device_number))
        return NULL;
    if (purpose == PECULIAR_DEVICE_KEY)
        return serial_hex != NULL && cl_serial_hex_valid(serial_hex) ? serial_hex : NULL;
    if (purpose == PECULIAR_COMMON_KEY)
        return serial_hex == NULL || serial_hex[0] == '\0' ? "" : NULL;
    return NULL;
}

static int derive(const struct peculiar_identity *id, unsigned char key[PECULIAR_KEY_BYTES])
{
    unsigned char info[PECULIAR_MAC_BYTES + NUMBER_MAX];
    size_t number_len = strlen(id->device_number);

    memcpy(info, id->mac, PECULIAR_MAC_BYTES);
    memcpy(info + PECULIAR_MAC_BYTES, id->device_number, number_len);
    if (mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const unsigned char *)SALT,
                     sizeof(SALT) - 1, id->generator, PECULIAR_GENERATOR_BYTES, info,
                     PECULIAR_MAC_BYTES + number_len, key, PECULIAR_KEY_BYTES) != 0) {
        mbedtls_platform_zeroize(key, PECULIAR_KEY_BYTES);
        return CL_ERR_CRYPTO;
    }
    return CL_OK;
}

static size_t build_aad(enum peculiar_purpose purpose, const char *device_number,
                        const char *serial, unsigned char aad[AAD_MAX])
{
    const char *parts[] = {AAD_LABEL, purpose_name(purpose), device_number, serial};
    size_t len = 0;

    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        size_t n = strlen(parts[i]);
        memcpy(aad + len, parts[i], n);
        len += n;
        if (i + 1 < sizeof(parts) / sizeof(parts[0]))
            aad[len++] = 0;
    }
    return len;
}

/* Runs AES-256-GCM under the freshly derived peculiar key, which is wiped before returning; the
 * additional data binds purpose, the device number and serial. */
static int run_gcm(const struct peculiar_identity *id, enum peculiar_purpose purpose,
                   const char *serial, int encrypt, const unsigned char *iv,
                   const unsigned char *in, size_t len, unsigned char *out, unsigned char *tag_out,
                   const unsigned char *tag_in)
{
    unsigned char key[PECULIAR_KEY_BYTES], aad[AAD_MAX];
    size_t aad_len = build_aad(purpose, id->device_number, serial, aad);
    mbedtls_gcm_context gcm;
    int ret, rc;

    if ((rc = derive(id, key)) != CL_OK)
        return rc;
    mbedtls_gcm_init(&gcm);
    ret = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, PECULIAR_KEY_BYTES * 8);
    mbedtls_platform_zeroize(key, sizeof(key));
    if (ret == 0) {
        if (encrypt)
            ret = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, len, iv, PECULIAR_IV_BYTES,
                                            aad, aad_len, in, out, PECULIAR_TAG_BYTES, tag_out);
        else
            ret = mbedtls_gcm_auth_decrypt(&gcm, len, iv, PECULIAR_IV_BYTES, aad, aad_len, tag_in,
                                           PECULIAR_TAG_BYTES, in, out);
    }
    mbedtls_gcm_free(&gcm); /* wipes the expanded key schedule */
    return ret == 0 ? CL_OK : CL_ERR_CRYPTO;
}

/* Empties the caller's result (either pointer may be NULL). */
static void clear_result(unsigned char **result, size_t *result_len)
{
    if (result != NULL)
        *result = NULL;
    if (result_len != NULL)
        *result_len = 0;
}

/* Hands buf of len bytes to the caller if rc is CL_OK, else wipes and frees it; returns rc. */
static int hand_over(int rc, unsigned char *buf, size_t len, unsigned char **result,
                     size_t *result_len)
{
    if (rc != CL_OK) {
        cl_secret_free(buf, len);
        return rc;
    }
    *result = buf;
    *result_len = len;
    return CL_OK;
}

int peculiar_seal(const struct peculiar_identity *id, enum peculiar_purpose purpose,
                  const char *serial_hex, const unsigned char *plain, size_t plain_len,
                  unsigned char **sealed, size_t *sealed_len)
{
    const char *serial = checked_serial(id, purpose, serial_hex);
    unsigned char *out;
    size_t total;
    int rc;

    clear_result(sealed, sealed_len);
    if (serial == NULL || plain == NULL || plain_len == 0 || plain_len > PECULIAR_PLAIN_MAX ||
        sealed == NULL || sealed_len == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    total = plain_len + PECULIAR_OVERHEAD;
    if ((out = malloc(total)) == NULL)
        return CL_ERR_NOMEM;
    out[0] = PECULIAR_SEAL_VERSION;
    rc = cl_random_bytes(out + 1, PECULIAR_IV_BYTES);
    if (rc == CL_OK)
        rc = run_gcm(id, purpose, serial, 1, out + 1, plain, plain_len, out + 1 + PECULIAR_IV_BYTES,
                     out + 1 + PECULIAR_IV_BYTES + plain_len, NULL);
    return hand_over(rc, out, total, sealed, sealed_len);
}

int peculiar_open(const struct peculiar_identity *id, enum peculiar_purpose purpose,
                  const char *serial_hex, const unsigned char *sealed, size_t sealed_len,
                  unsigned char **plain, size_t *plain_len)
{
    const char *serial = checked_serial(id, purpose, serial_hex);
    unsigned char *out;
    size_t len;
    int rc;

    clear_result(plain, plain_len);
    if (serial == NULL || sealed == NULL || plain == NULL || plain_len == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (sealed_len <= PECULIAR_OVERHEAD || sealed_len > PECULIAR_PLAIN_MAX + PECULIAR_OVERHEAD ||
        sealed[0] != PECULIAR_SEAL_VERSION)
        return CL_ERR_PARSE;
    len = sealed_len - PECULIAR_OVERHEAD;
    if ((out = malloc(len)) == NULL)
        return CL_ERR_NOMEM;
    rc = run_gcm(id, purpose, serial, 0, sealed + 1, sealed + 1 + PECULIAR_IV_BYTES, len, out, NULL,
                 sealed + 1 + PECULIAR_IV_BYTES + len);
    return hand_over(rc, out, len, plain, plain_len);
}
