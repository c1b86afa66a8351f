/* da_identity.h: the device's TLS identities, built from its images with the private keys
 * unsealed (peculiar key) into memory only for as long as mbedTLS needs to load them: the model's
 * common certificate (the writing interface, and write results to the factory terminal) and the
 * device's own certificate once written (check-in to ca-server). Both trust only the root in the
 * program area. */
#ifndef CERTLINE_DA_IDENTITY_H
#define CERTLINE_DA_IDENTITY_H

#include <stddef.h>

#include "nv_image.h"
#include "peculiar_key.h"
#include "tls.h"

/* The peculiar-key inputs of an opened device (pointers into device). */
void da_peculiar_identity(const struct nv_device *device, struct peculiar_identity *id);

/* Unseals the common-certificate key (DER, malloc'd; cl_secret_free it) and checks it matches
 * the common certificate. err says what failed (never the key). */
int da_common_key(const struct nv_device *device, unsigned char **key_der, size_t *key_len,
                  char *err, size_t errlen);

/* Unseals the key of the current certificate (DER, malloc'd; cl_secret_free it) and checks it
 * matches that certificate. CL_ERR_NOT_FOUND if no certificate is written. */
int da_own_key(const struct nv_device *device, unsigned char **key_der, size_t *key_len, char *err,
               size_t errlen);

/* A TLS context with the common certificate (plus the firmware's chain) and its key. The key is
 * unsealed once; cl_tls_new checks that it matches the common certificate. */
int da_tls_common(const struct nv_device *device, enum cl_tls_side side, struct cl_tls **out,
                  char *err, size_t errlen);

/* Both contexts `serve` needs from the common identity, unsealed and checked once: the client
 * one is a copy of the server one (cl_tls_new_sibling). On failure both are NULL. */
int da_tls_common_pair(const struct nv_device *device, struct cl_tls **server,
                       struct cl_tls **client, char *err, size_t errlen);

/* A client TLS context with the device's own certificate (plus its chain) and key. */
int da_tls_own(const struct nv_device *device, struct cl_tls **out, char *err, size_t errlen);

#endif
