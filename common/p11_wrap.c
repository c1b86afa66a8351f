/* p11_wrap.c: AES-ECB with a token key and the value of a wrapped AES key (p11_wrap.h), each
 * borrowing a session from the token's pool. */
#include "p11_wrap.h"

#include <stdint.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "error.h"
#include "p11_internal.h"

#define ATTR(type, ptr, len) ((CK_ATTRIBUTE){(type), (void *)(uintptr_t)(ptr), (CK_ULONG)(len)})

static int fail(CK_RV rv, const char *fn, char *err, size_t errlen)
{
    cl_err_set(err, errlen, "%s failed: %s", fn, cl_p11i_rv_name(rv));
    return cl_p11i_rv_code(rv);
}

int cl_p11_aes_ecb(struct cl_p11_token *t, cl_p11_handle key, const unsigned char *in, size_t len,
                   unsigned char *out, char *err, size_t errlen)
{
    CK_MECHANISM m = {CKM_AES_ECB, NULL, 0};
    CK_ULONG n = (CK_ULONG)len;
    CK_SESSION_HANDLE s;
    CK_RV rv;

    if (t == NULL || in == NULL || out == NULL || len == 0 || len % 16 != 0 || len > 64)
        return CL_ERR_INVALID_ARGUMENT;
    s = cl_p11i_borrow(t);
    rv = t->f->C_EncryptInit(s, &m, key);
    if (rv == CKR_OK)
        rv = t->f->C_Encrypt(s, (CK_BYTE_PTR)(uintptr_t)in, (CK_ULONG)len, out, &n);
    cl_p11i_give_back(t, s);
    if (rv != CKR_OK)
        return fail(rv, "C_Encrypt (CKM_AES_ECB)", err, errlen);
    return n == len ? CL_OK : CL_ERR_CRYPTO;
}

int cl_p11_unwrap_aes_value(struct cl_p11_token *t, cl_p11_handle wrapping_key,
                            const unsigned char *wrapped, size_t wrapped_len,
                            unsigned char value[32], char *err, size_t errlen)
{
    static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_CLASS oc = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE a[] = {
        ATTR(CKA_CLASS, &oc, sizeof(oc)),
        ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
        ATTR(CKA_TOKEN, &no, 1),
        ATTR(CKA_PRIVATE, &yes, 1),
        ATTR(CKA_SENSITIVE, &no, 1),
        ATTR(CKA_EXTRACTABLE, &yes, 1),
        ATTR(CKA_LABEL, "certline-export", 15),
    };
    CK_ATTRIBUTE v = ATTR(CKA_VALUE, value, 32);
    CK_OBJECT_HANDLE h = 0;
    CK_SESSION_HANDLE s;
    CK_RV rv;

    if (t == NULL || wrapped == NULL || value == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    s = cl_p11i_borrow(t);
    rv = t->f->C_UnwrapKey(s, &m, wrapping_key, (CK_BYTE_PTR)(uintptr_t)wrapped,
                           (CK_ULONG)wrapped_len, a, sizeof(a) / sizeof(a[0]), &h);
    if (rv == CKR_OK) {
        rv = t->f->C_GetAttributeValue(s, h, &v, 1);
        t->f->C_DestroyObject(s, h);
    }
    cl_p11i_give_back(t, s);
    if (rv != CKR_OK) {
        mbedtls_platform_zeroize(value, 32);
        return fail(rv, h == 0 ? "C_UnwrapKey" : "C_GetAttributeValue (CKA_VALUE)", err, errlen);
    }
    if (v.ulValueLen != 32) {
        mbedtls_platform_zeroize(value, 32);
        cl_err_set(err, errlen, "the unwrapped key is not 32 bytes");
        return CL_ERR_CRYPTO;
    }
    return CL_OK;
}
