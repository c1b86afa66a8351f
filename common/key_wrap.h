/* key_wrap.h: AES key wrap with padding (RFC 5649, "KWP"), as PKCS#11's CKM_AES_KEY_WRAP_PAD
 * produces it: what a device needs to open a version 2 pack (PACK.md), whose key a token wrapped.
 * Debian's mbedTLS 2.28 is built without MBEDTLS_NIST_KW_C, so this is RFC 5649 on mbedTLS's
 * AES-ECB block function. KWP authenticates its content (the alternative IV and the padding are
 * checked), but carries no associated data: what binds a wrapped key to its pack is PACK.md's. */
#ifndef CERTLINE_KEY_WRAP_H
#define CERTLINE_KEY_WRAP_H

#include <stddef.h>

#define CL_KWP_MAX_INPUT 8192 /* the longest key wrapped here (an RSA-3072 PKCS#8 is ~1.9 KB) */

/* The wrapped length of in_len bytes: 8 + in_len rounded up to a multiple of 8. */
size_t cl_kwp_wrapped_len(size_t in_len);

/* Wraps in (1..CL_KWP_MAX_INPUT bytes) under kek (16, 24 or 32 bytes) into out (room for
 * cl_kwp_wrapped_len(in_len)); *out_len gets that length. CL_OK, CL_ERR_INVALID_ARGUMENT or
 * CL_ERR_CRYPTO. */
int cl_kwp_wrap(const unsigned char *kek, size_t kek_len, const unsigned char *in, size_t in_len,
                unsigned char *out, size_t *out_len);

/* Unwraps in (16..CL_KWP_MAX_INPUT + 8 bytes, a multiple of 8) under kek into *out (malloc'd,
 * *out_len bytes: the caller zeroises and frees it). CL_ERR_CRYPTO, and nothing in *out, if the
 * integrity check fails (wrong key, changed or truncated input, bad padding);
 * CL_ERR_INVALID_ARGUMENT for a length that cannot be KWP. */
int cl_kwp_unwrap(const unsigned char *kek, size_t kek_len, const unsigned char *in, size_t in_len,
                  unsigned char **out, size_t *out_len);

#endif
