/* p11.h: the PKCS#11 token layer: a token named by a PKCS#11 URI (RFC 7512), a pool of sessions
 * shared by threads, and the key operations certline needs (find, generate, sign, wrap).
 *
 * What it offers:
 *   - cl_p11_uri_parse: "pkcs11:token=LABEL;object=LABEL;type=private;id=%01%02
 *     ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/certline/token.pin".
 *     The query attributes (module-path, pin-source) are also accepted among the path attributes
 *     (";"), as OpenSSL's engines accept them. pin-value is refused (a PIN written in a URI ends
 *     up in configuration files, logs and argv); the PIN is read from the pin-source file, which
 *     must be a regular file that neither group nor others can read or write. module-name is
 *     refused (no p11-kit module registry: module-path names the module directly).
 *   - cl_p11_token_open: loads the module (dlopen + C_GetFunctionList, one load per module path
 *     for the process, reference-counted; C_Initialize with CKF_OS_LOCKING_OK, C_Finalize when
 *     the last token of the module closes), finds the one token whose label (and serial, if
 *     given) matches, opens `sessions` read-write sessions and logs in as the user with the PIN
 *     from pin-source (the PIN is wiped right after C_Login; it is never logged nor put in an
 *     error message). A token that needs a login and has no pin-source is refused.
 *   - the key operations below; each takes a session from the token's pool for its duration.
 *
 * Concurrency: PKCS#11 requires that one session is not used by two threads at once (its
 * find and sign operations keep state in the session), and that the module is initialised with
 * CKF_OS_LOCKING_OK for threads to call it at all. Every operation here borrows a session from
 * the token's pool (a mutex and a condition variable) and returns it when done, so any number of
 * threads may share one cl_p11_token; with as many sessions as issuing workers no worker ever
 * waits for another. Object handles are valid in every session of the process (PKCS#11 2.40
 * 2.4.1), so a handle found once is used by every worker. A token is not usable in a child after
 * fork() (PKCS#11: the child must C_Initialize again); certline opens tokens after it forks.
 * Login is per token and process: the first token handle to a token logs in; another handle to
 * the same token finds CKR_USER_ALREADY_LOGGED_IN, which is fine.
 *
 * Keys made here are token objects (persistent) unless CL_P11_SESSION_OBJECT is given (they then
 * vanish when the session that made them closes: used for a device key that only lives until it
 * is wrapped). Private and secret keys are always CKA_PRIVATE and CKA_SENSITIVE; they are
 * CKA_EXTRACTABLE only with CL_P11_WRAPPABLE (then C_WrapKey can take them out, wrapped, and
 * nothing can take them out in clear). CA keys are made without it.
 *
 * Errors: CL_OK or a negative CL_ERR_* (error.h); err (may be NULL) gets a sentence naming the
 * PKCS#11 function and its CKR_* name. Handles are PKCS#11 object handles (CK_OBJECT_HANDLE). */
#ifndef CERTLINE_P11_H
#define CERTLINE_P11_H

#include <stddef.h>

#include <mbedtls/md.h>
#include <mbedtls/pk.h>

#define CL_P11_TEXT_MAX 64  /* token label (32), serial (16), object label: bytes after decoding */
#define CL_P11_ID_MAX 64    /* CKA_ID octets */
#define CL_P11_PATH_MAX 512 /* module-path, pin-source */
#define CL_P11_URI_MAX 2047
#define CL_P11_SESSIONS_MAX 64

/* The object type= names: "private", "public", "secret-key", "cert", "data"; ANY when absent. */
enum cl_p11_class {
    CL_P11_ANY = 0,
    CL_P11_PRIVATE,
    CL_P11_PUBLIC,
    CL_P11_SECRET,
    CL_P11_CERT,
    CL_P11_DATA
};

struct cl_p11_uri {
    char token[CL_P11_TEXT_MAX + 1];  /* required */
    char serial[CL_P11_TEXT_MAX + 1]; /* "" when absent */
    char object[CL_P11_TEXT_MAX + 1]; /* CKA_LABEL; "" when absent */
    unsigned char id[CL_P11_ID_MAX];  /* CKA_ID */
    size_t id_len;                    /* 0 when absent */
    enum cl_p11_class type;
    char module_path[CL_P11_PATH_MAX]; /* required (an absolute path) */
    char pin_source[CL_P11_PATH_MAX];  /* a file path ("file:" removed); "" when absent */
};

/* Parses uri (at most CL_P11_URI_MAX characters). Refused with CL_ERR_INVALID_ARGUMENT and a
 * reason in err: another scheme, an unknown, repeated or empty attribute, a bad %-escape, a
 * decoded value with a NUL or over its size, an unknown type, no token, no module-path, a
 * relative module-path or pin-source, pin-source of another scheme than file:, pin-value,
 * module-name. */
int cl_p11_uri_parse(const char *uri, struct cl_p11_uri *out, char *err, size_t errlen);

/* Reads a PIN from path: a regular file, not readable or writable by group or others (else
 * CL_ERR_PERMISSION), 1..pin_size-1 bytes, one trailing newline removed. pin is NUL-terminated;
 * the caller wipes it with mbedtls_platform_zeroize. err never holds the PIN. */
int cl_p11_pin_read(const char *path, char *pin, size_t pin_size, size_t *pin_len, char *err,
                    size_t errlen);

/* ---- token (p11_token.c) ---- */

struct cl_p11_token;

/* Opens the token uri names with `sessions` (1..64) sessions; see above. A token not found or
 * a module error (CKR_GENERAL_ERROR and the like) is tried again, as cl_p11_retry says: SoftHSM2's
 * file store shows a token that another process is writing (every C_Login writes its token
 * object) as missing, or fails the call. A wrong PIN is never tried again. */
int cl_p11_token_open(const struct cl_p11_uri *uri, int sessions, struct cl_p11_token **out,
                      char *err, size_t errlen);
/* How often an open is tried in all (the waits between add up to 1.55 s, plus a jitter). */
#define CL_P11_OPEN_ATTEMPTS 6
/* After a failed open with result rc: nonzero when it is worth trying again (rc is
 * CL_ERR_NOT_FOUND or CL_ERR_CRYPTO and *attempt, counted up here, is below
 * CL_P11_OPEN_ATTEMPTS); it then logs a warning with err and waits. The caller must have closed
 * the token first, so that the module is initialised again (and reads the token afresh). */
int cl_p11_retry(int *attempt, int rc, const char *token_label, const char *err);
/* The same without the warning, for a caller that expects "not found" to be the usual answer
 * and only makes sure of it. */
int cl_p11_retry_quietly(int *attempt, int rc);
/* Closes the token's sessions (its session objects go with them) and unloads the module when no
 * other token holds it. NULL: nothing. */
void cl_p11_token_close(struct cl_p11_token *token);
/* The number of sessions in the pool. */
int cl_p11_token_sessions(const struct cl_p11_token *token);

/* ---- keys (p11_keys.c) ---- */

typedef unsigned long cl_p11_handle; /* CK_OBJECT_HANDLE; 0 is never a valid object */

enum cl_p11_key_kind { CL_P11_EC_P256, CL_P11_RSA2048, CL_P11_RSA3072, CL_P11_AES256 };

#define CL_P11_WRAPPABLE 1u      /* CKA_EXTRACTABLE true (still sensitive): C_WrapKey works */
#define CL_P11_SESSION_OBJECT 2u /* CKA_TOKEN false: gone when its session closes */

/* The one object of class with CKA_LABEL label (NULL or "": any) and CKA_ID id (id_len 0: any).
 * CL_ERR_NOT_FOUND if there is none, CL_ERR_CONFLICT if more than one matches. */
int cl_p11_find(struct cl_p11_token *token, enum cl_p11_class cls, const char *label,
                const unsigned char *id, size_t id_len, cl_p11_handle *out, char *err,
                size_t errlen);

/* Generates a key pair (kind P-256 or RSA) with CKA_LABEL label and CKA_ID id on both halves;
 * the private key can sign (CKA_SIGN) and do nothing else (CKA_DECRYPT, CKA_UNWRAP, CKA_DERIVE
 * false), the public key verify. flags: CL_P11_* above. */
int cl_p11_generate_pair(struct cl_p11_token *token, enum cl_p11_key_kind kind, const char *label,
                         const unsigned char *id, size_t id_len, unsigned flags, cl_p11_handle *pub,
                         cl_p11_handle *priv, char *err, size_t errlen);

/* Generates (value NULL) or imports (value of 32 bytes) an AES-256 key that can wrap, unwrap,
 * encrypt and decrypt; flags as above. An imported value is only as secret as the caller kept
 * it: the caller wipes its copy. */
int cl_p11_aes_key(struct cl_p11_token *token, const unsigned char *value, size_t value_len,
                   const char *label, const unsigned char *id, size_t id_len, unsigned flags,
                   cl_p11_handle *out, char *err, size_t errlen);

/* Wraps key under the AES key wrapping_key with CKM_AES_KEY_WRAP_PAD (RFC 5649): a private key
 * as its PKCS#8 PrivateKeyInfo, a secret key as its value. out has out_size bytes; *out_len gets
 * the length (CL_ERR_TOO_LARGE if out is too small). key must be CL_P11_WRAPPABLE. */
int cl_p11_wrap(struct cl_p11_token *token, cl_p11_handle wrapping_key, cl_p11_handle key,
                unsigned char *out, size_t out_size, size_t *out_len, char *err, size_t errlen);

/* Unwraps (CKM_AES_KEY_WRAP_PAD) an AES-256 secret key under wrapping_key into the token, with
 * the attributes cl_p11_aes_key gives. */
int cl_p11_unwrap_aes(struct cl_p11_token *token, cl_p11_handle wrapping_key,
                      const unsigned char *wrapped, size_t wrapped_len, const char *label,
                      unsigned flags, cl_p11_handle *out, char *err, size_t errlen);

/* Sets an object's CKA_ID (e.g. a new key's identifier, known once its public key is). */
int cl_p11_set_id(struct cl_p11_token *token, cl_p11_handle obj, const unsigned char *id,
                  size_t id_len, char *err, size_t errlen);

/* Destroys an object. */
int cl_p11_destroy(struct cl_p11_token *token, cl_p11_handle obj, char *err, size_t errlen);

/* The public key of a public-key object (P-256 from CKA_EC_PARAMS/CKA_EC_POINT, RSA from
 * CKA_MODULUS/CKA_PUBLIC_EXPONENT) into pk (initialised, empty). */
int cl_p11_public_key(struct cl_p11_token *token, cl_p11_handle pub, mbedtls_pk_context *pk,
                      char *err, size_t errlen);

/* Signs hash (of md_alg) with the private key priv: P-256 with CKM_ECDSA, the signature as the
 * DER Ecdsa-Sig-Value X.509 wants; RSA with CKM_RSA_PKCS over the DigestInfo of md_alg (PKCS#1
 * v1.5). sig has sig_size bytes. Thread-safe. */
int cl_p11_sign_hash(struct cl_p11_token *token, cl_p11_handle priv, enum cl_p11_key_kind kind,
                     mbedtls_md_type_t md_alg, const unsigned char *hash, size_t hash_len,
                     unsigned char *sig, size_t sig_size, size_t *sig_len);

/* ---- the token key as an mbedTLS key (p11_pk.c) ---- */

/* Sets up pk (initialised, empty) as a private key whose mbedtls_pk_sign goes to the token key
 * priv, with pub (the matching public key, e.g. from cl_p11_public_key or the CA certificate)
 * for its type and size: P-256 (mbedtls_pk_can_do ECDSA/ECKEY) or RSA (can_do RSA, PKCS#1
 * v1.5); mbedtls_pk_get_type gives MBEDTLS_PK_OPAQUE. Everything that signs with an
 * mbedtls_pk_context (the X.509 writer, CRLs, receipts) then signs in the token. The token must
 * outlive pk. */
int cl_p11_pk_setup(mbedtls_pk_context *pk, struct cl_p11_token *token, cl_p11_handle priv,
                    const mbedtls_pk_context *pub, char *err, size_t errlen);

/* Finds the private key with CKA_LABEL label and CKA_ID id (either may be absent: NULL/"" or
 * id_len 0) and its public half (the public-key object with the same label and id), and sets up
 * pk to sign with it as above; pub (initialised, empty; NULL: not wanted) gets the public key. */
int cl_p11_signing_key(struct cl_p11_token *token, const char *label, const unsigned char *id,
                       size_t id_len, mbedtls_pk_context *pk, mbedtls_pk_context *pub, char *err,
                       size_t errlen);

/* Opens the token of uri and finds its signing key by the URI's object= and/or id= (or, if the
 * URI has no id=, by want_id when want_id_len > 0) as cl_p11_signing_key does. *token is the
 * opened token, for the caller to close after pk_free. */
int cl_p11_open_signing_key(const char *uri, int sessions, const unsigned char *want_id,
                            size_t want_id_len, struct cl_p11_token **token, mbedtls_pk_context *pk,
                            char *err, size_t errlen);

#endif
