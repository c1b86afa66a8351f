/* device_key_token.h: a device key born in a PKCS#11 token [issue 15 part 2]: generated there as
 * a session object (sensitive, extractable only by wrapping), certified from its public half,
 * and taken out only wrapped (CKM_AES_KEY_WRAP_PAD, RFC 5649) under the model's pre-write key,
 * which is in the token too; then destroyed. With the wrapped key, the certificate's
 * SubjectPublicKeyInfo and the proof key (AES-ECB in the token under the pre-write key,
 * cl_pack_proof_input) a version 2 pack is built (cl_pack_build_wrapped): the calling process
 * never holds the device private key, nor the pre-write key, in clear. */
#ifndef CERTLINE_DEVICE_KEY_TOKEN_H
#define CERTLINE_DEVICE_KEY_TOKEN_H

#include <stddef.h>
#include <time.h>

#include "p11.h"
#include "x509_issue.h"

#define CL_WRAPPED_KEY_MAX 4096
#define CL_SPKI_MAX 1024

struct cl_token_device {
    struct cl_issued issued; /* the certificate; no key_der */
    unsigned char wrapped[CL_WRAPPED_KEY_MAX];
    size_t wrapped_len;
    unsigned char spki[CL_SPKI_MAX];
    size_t spki_len;
    unsigned char proof_key[32];
};

/* Issues the device certificate of device_number (as cl_issue_device) for a key pair of type made
 * in token and wrapped under prewrite. Thread-safe (sessions from the token's pool). On failure
 * out is empty and err says why; the key objects are destroyed either way. */
int cl_token_device_issue(struct cl_p11_token *token, cl_p11_handle prewrite,
                          struct cl_signer *signer, const char *device_number,
                          const char *model_code, enum cl_key_type type, const char *serial_hex,
                          time_t not_before, int validity_days, struct cl_token_device *out,
                          char *err, size_t errlen);
void cl_token_device_free(struct cl_token_device *device);

#endif
