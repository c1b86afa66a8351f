/* p11_wrap.h: two token operations the pre-write keys need beyond p11.h (written by this part,
 * on p11.h's session pool): AES-ECB with a token key (version 2 packs' proof key, PACK.md), and
 * the value of an AES key stored wrapped, for the one place that must hand it out in clear: the
 * firmware bundle (ca-server model-export). */
#ifndef CERTLINE_P11_WRAP_H
#define CERTLINE_P11_WRAP_H

#include <stddef.h>

#include "p11.h"

/* out = AES-ECB(key, in) in the token; len a multiple of 16 (at most 64). */
int cl_p11_aes_ecb(struct cl_p11_token *token, cl_p11_handle key, const unsigned char *in,
                   size_t len, unsigned char *out, char *err, size_t errlen);

/* The 32-byte value of an AES-256 key wrapped (CKM_AES_KEY_WRAP_PAD) under wrapping_key: the key
 * is unwrapped as a session object that is not sensitive, its CKA_VALUE read, and the object
 * destroyed. The caller wipes value. */
int cl_p11_unwrap_aes_value(struct cl_p11_token *token, cl_p11_handle wrapping_key,
                            const unsigned char *wrapped, size_t wrapped_len,
                            unsigned char value[32], char *err, size_t errlen);

#endif
