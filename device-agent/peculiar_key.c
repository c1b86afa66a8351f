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

/* Runs AES-256-GCM under the freshly derived peculiar key, which is wiped before returning. */
static int run_gcm(const struct peculiar_identity *id, int encrypt, const unsigned char *iv,
                   const unsigned char *aad, size_t aad_len, const unsigned char *in, size_t len,
                   unsigned char *out, unsigned char *tag_out, const unsigned char *tag_in)
{
    unsigned char key[PECULIAR_KEY_BYTES];
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

int peculiar_seal(const struct peculiar_identity *id, enum peculiar_purpose purpose,
                  const char *serial_hex, const unsigned char *plain, size_t plain_len,
                  unsigned char **sealed, size_t *sealed_len)
{
    unsigned char aad[AAD_MAX], *out;
    const char *serial = checked_serial(id, purpose, serial_hex);
    size_t aad_len, total;
    int rc;

    if (sealed != NULL)
        *sealed = NULL;
    if (sealed_len != NULL)
        *sealed_len = 0;
    if (serial == NULL || plain == NULL || plain_len == 0 || plain_len > PECULIAR_PLAIN_MAX ||
        sealed == NULL || sealed_len == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    total = plain_len + PECULIAR_OVERHEAD;
    if ((out = malloc(total)) == NULL)
        return CL_ERR_NOMEM;
    out[0] = PECULIAR_SEAL_VERSION;
    if ((rc = cl_random_bytes(out + 1, PECULIAR_IV_BYTES)) != CL_OK) {
        free(out);
        return rc;
    }
    aad_len = build_aad(purpose, id->device_number, serial, aad);
    rc = run_gcm(id, 1, out + 1, aad, aad_len, plain, plain_len, out + 1 + PECULIAR_IV_BYTES,
                 out + 1 + PECULIAR_IV_BYTES + plain_len, NULL);
    if (rc != CL_OK) {
        cl_secret_free(out, total);
        return rc;
    }
    *sealed = out;
    *sealed_len = total;
    return CL_OK;
}

int peculiar_open(const struct peculiar_identity *id, enum peculiar_purpose purpose,
                  const char *serial_hex, const unsigned char *sealed, size_t sealed_len,
                  unsigned char **plain, size_t *plain_len)
{
    unsigned char aad[AAD_MAX], *out;
    const char *serial = checked_serial(id, purpose, serial_hex);
    size_t aad_len, len;
    int rc;

    if (plain != NULL)
        *plain = NULL;
    if (plain_len != NULL)
        *plain_len = 0;
    if (serial == NULL || sealed == NULL || plain == NULL || plain_len == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (sealed_len <= PECULIAR_OVERHEAD || sealed_len > PECULIAR_PLAIN_MAX + PECULIAR_OVERHEAD ||
        sealed[0] != PECULIAR_SEAL_VERSION)
        return CL_ERR_PARSE;
    len = sealed_len - PECULIAR_OVERHEAD;
    if ((out = malloc(len)) == NULL)
        return CL_ERR_NOMEM;
    aad_len = build_aad(purpose, id->device_number, serial, aad);
    rc = run_gcm(id, 0, sealed + 1, aad, aad_len, sealed + 1 + PECULIAR_IV_BYTES, len, out, NULL,
                 sealed + 1 + PECULIAR_IV_BYTES + len);
    if (rc != CL_OK) {
        cl_secret_free(out, len);
        return rc;
    }
    *plain = out;
    *plain_len = len;
    return CL_OK;
}
