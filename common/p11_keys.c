/* p11_keys.c: key objects in a PKCS#11 token: find, generate, import, wrap, destroy, read the
 * public key and sign a hash (each borrowing a session from the token's pool). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>

#include "error.h"
#include "p11_internal.h"

/* the DER OBJECT IDENTIFIER prime256v1, CKA_EC_PARAMS of a P-256 key */
static const unsigned char P256_PARAMS[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                            0xce, 0x3d, 0x03, 0x01, 0x07};
#define P256_POINT_LEN 65 /* 04 || X || Y */

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* PKCS#11 templates take non-const pointers even for what they only read */
#define ATTR(type, ptr, len) ((CK_ATTRIBUTE){(type), (void *)(uintptr_t)(ptr), (CK_ULONG)(len)})

static int fail(CK_RV rv, const char *fn, char *err, size_t errlen)
{
    cl_err_set(err, errlen, "%s failed: %s", fn, cl_p11i_rv_name(rv));
    return cl_p11i_rv_code(rv);
}

static CK_OBJECT_CLASS class_of(enum cl_p11_class cls)
{
    switch (cls) {
    case CL_P11_PRIVATE:
        return CKO_PRIVATE_KEY;
    case CL_P11_PUBLIC:
        return CKO_PUBLIC_KEY;
    case CL_P11_SECRET:
        return CKO_SECRET_KEY;
    case CL_P11_CERT:
        return CKO_CERTIFICATE;
    default:
        return CKO_DATA;
    }
}

int cl_p11_find(struct cl_p11_token *t, enum cl_p11_class cls, const char *label,
                const unsigned char *id, size_t id_len, cl_p11_handle *out, char *err,
                size_t errlen)
{
    CK_OBJECT_CLASS oc = class_of(cls);
    CK_ATTRIBUTE tmpl[3];
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0, count = 0;
    CK_SESSION_HANDLE s;
    CK_RV rv;

    if (t == NULL || out == NULL || (id == NULL && id_len > 0))
        return CL_ERR_INVALID_ARGUMENT;
    *out = 0;
    if (cls != CL_P11_ANY)
        tmpl[n++] = ATTR(CKA_CLASS, &oc, sizeof(oc));
    if (label != NULL && label[0] != '\0')
        tmpl[n++] = ATTR(CKA_LABEL, label, strlen(label));
    if (id_len > 0)
        tmpl[n++] = ATTR(CKA_ID, id, id_len);
    s = cl_p11i_borrow(t);
    if ((rv = t->f->C_FindObjectsInit(s, tmpl, n)) == CKR_OK) {
        rv = t->f->C_FindObjects(s, found, 2, &count);
        t->f->C_FindObjectsFinal(s);
    }
    cl_p11i_give_back(t, s);
    if (rv != CKR_OK)
        return fail(rv, "C_FindObjects", err, errlen);
    if (count == 1) {
        *out = found[0];
        return CL_OK;
    }
    cl_err_set(err, errlen, "%s token object labelled \"%s\"%s",
               count == 0 ? "no" : "more than one", label != NULL ? label : "",
               id_len > 0 ? " with the id given" : "");
    return count == 0 ? CL_ERR_NOT_FOUND : CL_ERR_CONFLICT;
}

int cl_p11_generate_pair(struct cl_p11_token *t, enum cl_p11_key_kind kind, const char *label,
                         const unsigned char *id, size_t id_len, unsigned flags, cl_p11_handle *pub,
                         cl_p11_handle *priv, char *err, size_t errlen)
{
    CK_MECHANISM ec = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, rsa = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    static const unsigned char exponent[] = {0x01, 0x00, 0x01};
    CK_ULONG bits = kind == CL_P11_RSA3072 ? 3072 : 2048;
    CK_BBOOL *token_obj = (flags & CL_P11_SESSION_OBJECT) ? &no : &yes;
    CK_BBOOL *extractable = (flags & CL_P11_WRAPPABLE) ? &yes : &no;
    CK_ATTRIBUTE pt[6], kt[11];
    CK_ULONG pn = 0, kn = 0;
    CK_OBJECT_HANDLE hp = 0, hk = 0;
    CK_SESSION_HANDLE s;
    CK_RV rv;

    if (t == NULL || pub == NULL || priv == NULL || label == NULL || kind == CL_P11_AES256 ||
        (id == NULL && id_len > 0))
        return CL_ERR_INVALID_ARGUMENT;
    pt[pn++] = ATTR(CKA_TOKEN, token_obj, sizeof(CK_BBOOL));
    pt[pn++] = ATTR(CKA_VERIFY, &yes, sizeof(yes));
    pt[pn++] = ATTR(CKA_LABEL, label, strlen(label));
    if (id_len > 0)
        pt[pn++] = ATTR(CKA_ID, id, id_len);
    if (kind == CL_P11_EC_P256) {
        pt[pn++] = ATTR(CKA_EC_PARAMS, P256_PARAMS, sizeof(P256_PARAMS));
    } else {
        pt[pn++] = ATTR(CKA_MODULUS_BITS, &bits, sizeof(bits));
        pt[pn++] = ATTR(CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent));
    }
    kt[kn++] = ATTR(CKA_TOKEN, token_obj, sizeof(CK_BBOOL));
    kt[kn++] = ATTR(CKA_PRIVATE, &yes, sizeof(yes));
    kt[kn++] = ATTR(CKA_SENSITIVE, &yes, sizeof(yes));
    kt[kn++] = ATTR(CKA_EXTRACTABLE, extractable, sizeof(CK_BBOOL));
    kt[kn++] = ATTR(CKA_SIGN, &yes, sizeof(yes));
    kt[kn++] = ATTR(CKA_DECRYPT, &no, sizeof(no)); /* a signing key only (modules' defaults vary) */
    kt[kn++] = ATTR(CKA_UNWRAP, &no, sizeof(no));
    kt[kn++] = ATTR(CKA_DERIVE, &no, sizeof(no));
    kt[kn++] = ATTR(CKA_LABEL, label, strlen(label));
    if (id_len > 0)
        kt[kn++] = ATTR(CKA_ID, id, id_len);
    s = cl_p11i_borrow(t);
    rv = t->f->C_GenerateKeyPair(s, kind == CL_P11_EC_P256 ? &ec : &rsa, pt, pn, kt, kn, &hp, &hk);
    cl_p11i_give_back(t, s);
    if (rv != CKR_OK)
        return fail(rv, "C_GenerateKeyPair", err, errlen);
    *pub = hp;
    *priv = hk;
    return CL_OK;
}

int cl_p11_aes_key(struct cl_p11_token *t, const unsigned char *value, size_t value_len,
                   const char *label, const unsigned char *id, size_t id_len, unsigned flags,
                   cl_p11_handle *out, char *err, size_t errlen)
{
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_CLASS oc = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL *token_obj = (flags & CL_P11_SESSION_OBJECT) ? &no : &yes;
    CK_BBOOL *extractable = (flags & CL_P11_WRAPPABLE) ? &yes : &no;
    CK_ATTRIBUTE a[14];
    CK_ULONG n = 0;
    CK_OBJECT_HANDLE h = 0;
    CK_SESSION_HANDLE s;
    CK_RV rv;

    if (t == NULL || out == NULL || label == NULL || (value != NULL && value_len != 32) ||
        (id == NULL && id_len > 0))
        return CL_ERR_INVALID_ARGUMENT;
    a[n++] = ATTR(CKA_CLASS, &oc, sizeof(oc));
    a[n++] = ATTR(CKA_KEY_TYPE, &kt, sizeof(kt));
    a[n++] = ATTR(CKA_TOKEN, token_obj, sizeof(CK_BBOOL));
    a[n++] = ATTR(CKA_PRIVATE, &yes, sizeof(yes));
    a[n++] = ATTR(CKA_SENSITIVE, &yes, sizeof(yes));
    a[n++] = ATTR(CKA_EXTRACTABLE, extractable, sizeof(CK_BBOOL));
    a[n++] = ATTR(CKA_WRAP, &yes, sizeof(yes));
    a[n++] = ATTR(CKA_UNWRAP, &yes, sizeof(yes));
    a[n++] = ATTR(CKA_ENCRYPT, &yes, sizeof(yes));
    a[n++] = ATTR(CKA_DECRYPT, &yes, sizeof(yes));
    a[n++] = ATTR(CKA_LABEL, label, strlen(label));
    if (id_len > 0)
        a[n++] = ATTR(CKA_ID, id, id_len);
    if (value != NULL)
        a[n++] = ATTR(CKA_VALUE, value, value_len);
    else
        a[n++] = ATTR(CKA_VALUE_LEN, &len, sizeof(len));
    s = cl_p11i_borrow(t);
    rv = value != NULL ? t->f->C_CreateObject(s, a, n, &h)
                       : t->f->C_GenerateKey(s, &gen, a + 1, n - 1, &h);
    cl_p11i_give_back(t, s);
    if (rv != CKR_OK)
        return fail(rv, value != NULL ? "C_CreateObject" : "C_GenerateKey", err, errlen);
    *out = h;
    return CL_OK;
}

int cl_p11_wrap(struct cl_p11_token *t, cl_p11_handle wrapping_key, cl_p11_handle key,
                unsigned char *out, size_t out_size, size_t *out_len, char *err, size_t errlen)
{
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_ULONG n = (CK_ULONG)out_size;
    CK_SESSION_HANDLE s;
    CK_RV rv;

    if (t == NULL || out == NULL || out_len == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    *out_len = 0;
    s = cl_p11i_borrow(t);
    rv = t->f->C_WrapKey(s, &m, wrapping_key, key, out, &n);
    cl_p11i_give_back(t, s);
    if (rv != CKR_OK)
        return fail(rv, "C_WrapKey", err, errlen);
    *out_len = n;
    return CL_OK;
}

int cl_p11_unwrap_aes(struct cl_p11_token *t, cl_p11_handle wrapping_key,
                      const unsigned char *wrapped, size_t wrapped_len, const char *label,
                      unsigned flags, cl_p11_handle *out, char *err, size_t errlen)
{
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_CLASS oc = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL *token_obj = (flags & CL_P11_SESSION_OBJECT) ? &no : &yes;
    CK_BBOOL *extractable = (flags & CL_P11_WRAPPABLE) ? &yes : &no;
    CK_ATTRIBUTE a[] = {
        ATTR(CKA_CLASS, &oc, sizeof(oc)),
        ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
        ATTR(CKA_TOKEN, token_obj, 1),
        ATTR(CKA_PRIVATE, &yes, 1),
        ATTR(CKA_SENSITIVE, &yes, 1),
        ATTR(CKA_EXTRACTABLE, extractable, 1),
        ATTR(CKA_WRAP, &yes, 1),
        ATTR(CKA_UNWRAP, &yes, 1),
        ATTR(CKA_ENCRYPT, &yes, 1),
        ATTR(CKA_DECRYPT, &yes, 1),
        ATTR(CKA_LABEL, label, label ? strlen(label) : 0),
    };
    CK_OBJECT_HANDLE h = 0;
    CK_SESSION_HANDLE s;
    CK_RV rv;

    if (t == NULL || wrapped == NULL || label == NULL || out == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    s = cl_p11i_borrow(t);
    rv = t->f->C_UnwrapKey(s, &m, wrapping_key, (CK_BYTE_PTR)(uintptr_t)wrapped,
                           (CK_ULONG)wrapped_len, a, sizeof(a) / sizeof(a[0]), &h);
    cl_p11i_give_back(t, s);
    if (rv != CKR_OK)
        return fail(rv, "C_UnwrapKey", err, errlen);
    *out = h;
    return CL_OK;
}

int cl_p11_set_id(struct cl_p11_token *t, cl_p11_handle obj, const unsigned char *id, size_t id_len,
                  char *err, size_t errlen)
{
    CK_ATTRIBUTE a = ATTR(CKA_ID, id, id_len);
    CK_SESSION_HANDLE s;
    CK_RV rv;

    if (t == NULL || id == NULL || id_len == 0 || id_len > CL_P11_ID_MAX)
        return CL_ERR_INVALID_ARGUMENT;
    s = cl_p11i_borrow(t);
    rv = t->f->C_SetAttributeValue(s, obj, &a, 1);
    cl_p11i_give_back(t, s);
    return rv == CKR_OK ? CL_OK : fail(rv, "C_SetAttributeValue (CKA_ID)", err, errlen);
}

int cl_p11_destroy(struct cl_p11_token *t, cl_p11_handle obj, char *err, size_t errlen)
{
    CK_SESSION_HANDLE s;
    CK_RV rv;

    if (t == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    s = cl_p11i_borrow(t);
    rv = t->f->C_DestroyObject(s, obj);
    cl_p11i_give_back(t, s);
    return rv == CKR_OK ? CL_OK : fail(rv, "C_DestroyObject", err, errlen);
}

/* CKA_EC_POINT is a DER OCTET STRING holding the point (some modules give the bare point). */
static int ec_public(const unsigned char *params, size_t params_len, const unsigned char *point,
                     size_t point_len, mbedtls_pk_context *pk)
{
    mbedtls_ecp_keypair *ec;

    if (params_len != sizeof(P256_PARAMS) || memcmp(params, P256_PARAMS, params_len) != 0)
        return CL_ERR_INVALID_ARGUMENT;
    if (point_len == P256_POINT_LEN + 2 && point[0] == MBEDTLS_ASN1_OCTET_STRING &&
        point[1] == P256_POINT_LEN) {
        point += 2;
        point_len -= 2;
    }
    if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0)
        return CL_ERR_NOMEM;
    ec = mbedtls_pk_ec(*pk);
    if (mbedtls_ecp_group_load(&ec->grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
        mbedtls_ecp_point_read_binary(&ec->grp, &ec->Q, point, point_len) != 0 ||
        mbedtls_ecp_check_pubkey(&ec->grp, &ec->Q) != 0)
        return CL_ERR_PARSE;
    return CL_OK;
}

int cl_p11_public_key(struct cl_p11_token *t, cl_p11_handle pub, mbedtls_pk_context *pk, char *err,
                      size_t errlen)
{
    unsigned char a0[600], a1[600];
    CK_KEY_TYPE kt = 0;
    CK_ATTRIBUTE type = ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)), v[2];
    CK_SESSION_HANDLE s;
    CK_RV rv;
    int rc;

    if (t == NULL || pk == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    s = cl_p11i_borrow(t);
    if ((rv = t->f->C_GetAttributeValue(s, pub, &type, 1)) == CKR_OK) {
        if (kt == CKK_EC) {
            v[0] = ATTR(CKA_EC_PARAMS, a0, sizeof(a0));
            v[1] = ATTR(CKA_EC_POINT, a1, sizeof(a1));
        } else {
            v[0] = ATTR(CKA_MODULUS, a0, sizeof(a0));
            v[1] = ATTR(CKA_PUBLIC_EXPONENT, a1, sizeof(a1));
        }
        rv = t->f->C_GetAttributeValue(s, pub, v, 2);
    }
    cl_p11i_give_back(t, s);
    if (rv != CKR_OK)
        return fail(rv, "C_GetAttributeValue (public key)", err, errlen);
    if (kt == CKK_EC) {
        rc = ec_public(a0, v[0].ulValueLen, a1, v[1].ulValueLen, pk);
    } else if (kt == CKK_RSA) {
        rc = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)) != 0 ? CL_ERR_NOMEM
             : mbedtls_rsa_import_raw(mbedtls_pk_rsa(*pk), a0, v[0].ulValueLen, NULL, 0, NULL, 0,
                                      NULL, 0, a1, v[1].ulValueLen) != 0 ||
                     mbedtls_rsa_complete(mbedtls_pk_rsa(*pk)) != 0 ||
                     mbedtls_rsa_check_pubkey(mbedtls_pk_rsa(*pk)) != 0
                 ? CL_ERR_PARSE
                 : CL_OK;
    } else {
        rc = CL_ERR_INVALID_ARGUMENT;
    }
    if (rc != CL_OK) {
        cl_err_set(err, errlen, "the token's public key is neither P-256 nor RSA, or is malformed");
        mbedtls_pk_free(pk);
        mbedtls_pk_init(pk);
    }
    return rc;
}

/* r || s (32 octets each) as the DER Ecdsa-Sig-Value SEQUENCE { r INTEGER, s INTEGER }. */
static int ecdsa_der(const unsigned char *raw, size_t raw_len, unsigned char *sig, size_t size,
                     size_t *sig_len)
{
    unsigned char buf[MBEDTLS_ECDSA_MAX_LEN], *p = buf + sizeof(buf);
    mbedtls_mpi r, s;
    size_t len = 0;
    int ret;

    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    if (raw_len == 0 || raw_len % 2 != 0 || mbedtls_mpi_read_binary(&r, raw, raw_len / 2) != 0 ||
        mbedtls_mpi_read_binary(&s, raw + raw_len / 2, raw_len / 2) != 0) {
        ret = -1;
        goto out;
    }
    if ((ret = mbedtls_asn1_write_mpi(&p, buf, &s)) < 0)
        goto out;
    len += (size_t)ret;
    if ((ret = mbedtls_asn1_write_mpi(&p, buf, &r)) < 0)
        goto out;
    len += (size_t)ret;
    if ((ret = mbedtls_asn1_write_len(&p, buf, len)) < 0)
        goto out;
    len += (size_t)ret;
    if ((ret = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) <
        0)
        goto out;
    len += (size_t)ret;
    ret = len <= size ? 0 : -1;
    if (ret == 0) {
        memcpy(sig, p, len);
        *sig_len = len;
    }
out:
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    return ret == 0 ? CL_OK : CL_ERR_CRYPTO;
}

/* DigestInfo ::= SEQUENCE { SEQUENCE { OID, NULL }, OCTET STRING hash } (PKCS#1 v1.5). */
static int digest_info(mbedtls_md_type_t md_alg, const unsigned char *hash, size_t hash_len,
                       unsigned char *out, size_t size, size_t *out_len)
{
    unsigned char *p = out + size;
    const char *oid;
    size_t oid_len, len = 0, alg = 0;
    int ret;

    if (mbedtls_oid_get_oid_by_md(md_alg, &oid, &oid_len) != 0)
        return CL_ERR_INVALID_ARGUMENT;
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_octet_string(&p, out, hash, hash_len));
    MBEDTLS_ASN1_CHK_ADD(alg, mbedtls_asn1_write_algorithm_identifier(&p, out, oid, oid_len, 0));
    len += alg;
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, out, len));
    MBEDTLS_ASN1_CHK_ADD(
        len, mbedtls_asn1_write_tag(&p, out, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    memmove(out, p, len);
    *out_len = len;
    return CL_OK;
}

int cl_p11_sign_hash(struct cl_p11_token *t, cl_p11_handle priv, enum cl_p11_key_kind kind,
                     mbedtls_md_type_t md_alg, const unsigned char *hash, size_t hash_len,
                     unsigned char *sig, size_t sig_size, size_t *sig_len)
{
    CK_MECHANISM m = {kind == CL_P11_EC_P256 ? CKM_ECDSA : CKM_RSA_PKCS, NULL, 0};
    unsigned char in[128], out[512];
    size_t in_len = hash_len;
    CK_ULONG n = sizeof(out);
    CK_SESSION_HANDLE s;
    CK_RV rv;

    if (t == NULL || hash == NULL || sig == NULL || sig_len == NULL || hash_len == 0 ||
        hash_len > 64 || kind == CL_P11_AES256)
        return CL_ERR_INVALID_ARGUMENT;
    *sig_len = 0;
    if (kind == CL_P11_EC_P256)
        memcpy(in, hash, hash_len);
    else if (digest_info(md_alg, hash, hash_len, in, sizeof(in), &in_len) != CL_OK)
        return CL_ERR_INVALID_ARGUMENT;
    s = cl_p11i_borrow(t);
    if ((rv = t->f->C_SignInit(s, &m, priv)) == CKR_OK)
        rv = t->f->C_Sign(s, in, (CK_ULONG)in_len, out, &n);
    cl_p11i_give_back(t, s);
    if (rv != CKR_OK)
        return cl_p11i_rv_code(rv);
    if (kind == CL_P11_EC_P256)
        return ecdsa_der(out, n, sig, sig_size, sig_len);
    if (n > sig_size)
        return CL_ERR_TOO_LARGE;
    memcpy(sig, out, n);
    *sig_len = n;
    return CL_OK;
}
