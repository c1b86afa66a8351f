/* prewrite_token.h: ca-server's token mode (config device_key_token, a PKCS#11 URI): the token
 * that makes device keys (device_key_token.h) and holds the pre-write keys they are wrapped
 * under. ca-server's stored copy of a pre-write key is then models/<code>/prewrite[-<key id>]
 * .wrapped: the key wrapped (CKM_AES_KEY_WRAP_PAD) under the token's storage key (an AES-256
 * token object labelled "certline-prewrite-storage", sensitive, never extractable, with a random
 * CKA_ID, made by the first model-add or model-rotate in token mode under the database's model
 * lock, so that two never make one each: prewrite_token.c says why). To seal packs a key is
 * unwrapped into the token as a sensitive session object, never into this process; only
 * model-export takes a key out in clear, for the firmware bundle that exists to carry it. Keys
 * made before token mode (.enc) are read from their passphrase file and imported into the token
 * for the run. */
#ifndef CERTLINE_CA_PREWRITE_TOKEN_H
#define CERTLINE_CA_PREWRITE_TOKEN_H

#include <stddef.h>

#include "authority.h"
#include "ca_config.h"
#include "p11.h"

#define CA_STORAGE_KEY_LABEL "certline-prewrite-storage"
#define CA_STORAGE_KEY_ID_BYTES 16 /* its CKA_ID, random */

struct ca_prewrite_token;

/* Opens the token of uri with sessions sessions and finds (make: or makes) its storage key. make
 * only under the database's model lock (ca_store_models_try_lock). CL_ERR_CONFLICT: the token
 * holds more than one storage key (err says how to resolve it), or another process made one at
 * the same time as this one (its own is destroyed again). */
int ca_prewrite_token_open(const char *uri, int sessions, int make, struct ca_prewrite_token **out,
                           char *err, size_t errlen);
/* The token of config's device_key_token with a session per worker and one more; *out NULL (and
 * CL_OK) when none is configured. */
int ca_prewrite_token_of(const struct ca_config *config, int make, struct ca_prewrite_token **out,
                         char *err, size_t errlen);
void ca_prewrite_token_free(struct ca_prewrite_token *pt);
struct cl_p11_token *ca_prewrite_token_p11(struct ca_prewrite_token *pt);

/* The pre-write key key_id of model code as a token object (cached; thread-safe). */
int ca_prewrite_token_key(struct ca_prewrite_token *pt, struct ca_authority *authority,
                          const char *ca_dir, const char *code, const char *key_id, int first,
                          cl_p11_handle *out, char *err, size_t errlen);

/* Stores value (or, NULL, a new random key) as the wrapped copy of key_id, refusing an existing
 * file. */
int ca_prewrite_token_store(struct ca_prewrite_token *pt, const char *ca_dir, const char *code,
                            const char *key_id, int first, const unsigned char *value, char *err,
                            size_t errlen);

/* The clear value of a stored wrapped key (for the firmware bundle); CL_ERR_NOT_FOUND when the
 * key has no wrapped copy (it is in its passphrase file). The caller wipes value. */
int ca_prewrite_token_value(struct ca_prewrite_token *pt, const char *ca_dir, const char *code,
                            const char *key_id, int first, unsigned char value[32], char *err,
                            size_t errlen);

#endif
