/* keyfile.c: secrets at rest in files encrypted under an operator passphrase (format in
 * keyfile.h): PBKDF2-HMAC-SHA256 derives an AES-256-GCM key; the associated data is
 * "certline-keyfile v1" NUL label, so a file cannot be passed off under another label. Also
 * loads the operator passphrase from a private file or the environment. No secret, passphrase or
 * derived key ever reaches a log or an error message; every buffer that held one is wiped. */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>

#include "atomic_file.h"
#include "error.h"
#include "input_check.h"
#include "log.h"
#include "private_file.h"
#include "x509_issue.h"

#define MAGIC "certline-keyfile v1"
#define KDF_NAME "pbkdf2-sha256"
#define LABEL_MAX 64
#define SALT_LEN 16
#define IV_LEN 12
#define TAG_LEN 16
#define KEY_LEN 32
#define SEALED_MAX (IV_LEN + CL_KEYFILE_MAX_SECRET + TAG_LEN)
#define B64_MAX (4 * ((SEALED_MAX + 2) / 3))
#define FILE_MAX (B64_MAX + 256)
#define AAD_MAX (sizeof(MAGIC) + LABEL_MAX)

void cl_secret_free(void *secret, size_t len)
{
    if (secret == NULL)
        return;
    mbedtls_platform_zeroize(secret, len);
    free(secret);
}

static size_t build_aad(const char *label, unsigned char aad[AAD_MAX])
{
    size_t m = sizeof(MAGIC), l = strlen(label);

    memcpy(aad, MAGIC, m); /* with its NUL */
    memcpy(aad + m, label, l);
    return m + l;
}

int cl_pbkdf2_sha256(const void *password, size_t len, const unsigned char *salt, size_t salt_len,
                     unsigned iterations, unsigned char *out, size_t out_len)
{
    mbedtls_md_context_t md;
    int ret;

    mbedtls_md_init(&md);
    ret = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (ret == 0)
        ret = mbedtls_pkcs5_pbkdf2_hmac(&md, password, len, salt, salt_len, iterations,
                                        (uint32_t)out_len, out);
    mbedtls_md_free(&md);
    return ret == 0 ? CL_OK : CL_ERR_CRYPTO;
}

static int derive_key(const char *passphrase, const unsigned char salt[SALT_LEN],
                      unsigned iterations, unsigned char key[KEY_LEN])
{
    return cl_pbkdf2_sha256(passphrase, strlen(passphrase), salt, SALT_LEN, iterations, key,
                            KEY_LEN);
}

static void to_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

static int from_hex(const char *in, size_t len, unsigned char *out)
{
    for (size_t i = 0; i < len; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = in[2 * i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return -1;
            v = v << 4 | d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

int cl_keyfile_write(const char *path, const char *label, const unsigned char *secret,
                     size_t secret_len, const char *passphrase, unsigned iterations, int exclusive)
{
    unsigned char salt[SALT_LEN], key[KEY_LEN], aad[AAD_MAX], *sealed = NULL;
    char salt_hex[2 * SALT_LEN + 1], *b64 = NULL, *text = NULL;
    size_t sealed_len, b64_len = 0, text_cap, aad_len, pass_len;
    mbedtls_gcm_context gcm;
    int rc, n;

    if (path == NULL || path[0] == '\0' || secret == NULL || passphrase == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!cl_label_ok(label, LABEL_MAX)) {
        cl_log_warn("key file %s refused: the label must be 1 to %d characters 0-9 A-Z a-z . _ "
                    ": -",
                    path, LABEL_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (secret_len == 0 || secret_len > CL_KEYFILE_MAX_SECRET) {
        cl_log_warn("key file %s refused: the secret must be 1 to %d bytes", path,
                    CL_KEYFILE_MAX_SECRET);
        return CL_ERR_INVALID_ARGUMENT;
    }
    pass_len = strnlen(passphrase, CL_PASSPHRASE_MAX + 1);
    if (pass_len == 0 || pass_len > CL_PASSPHRASE_MAX) {
        cl_log_warn("key file %s refused: the passphrase must be 1 to %d bytes", path,
                    CL_PASSPHRASE_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (iterations < CL_KEYFILE_MIN_ITERATIONS || iterations > CL_KEYFILE_MAX_ITERATIONS) {
        cl_log_warn("key file %s refused: PBKDF2 iterations must be %d to %d, not %u", path,
                    CL_KEYFILE_MIN_ITERATIONS, CL_KEYFILE_MAX_ITERATIONS, iterations);
        return CL_ERR_INVALID_ARGUMENT;
    }

    sealed_len = IV_LEN + secret_len + TAG_LEN;
    b64_len = 4 * ((sealed_len + 2) / 3) + 1;
    text_cap = b64_len + 256;
    if ((sealed = malloc(sealed_len)) == NULL || (b64 = malloc(b64_len)) == NULL ||
        (text = malloc(text_cap)) == NULL) {
        rc = CL_ERR_NOMEM;
        goto out;
    }
    mbedtls_gcm_init(&gcm);
    aad_len = build_aad(label, aad);
    rc = CL_ERR_CRYPTO;
    if (cl_random_bytes(salt, sizeof(salt)) == CL_OK && cl_random_bytes(sealed, IV_LEN) == CL_OK &&
        derive_key(passphrase, salt, iterations, key) == CL_OK &&
        mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 8 * KEY_LEN) == 0 &&
        mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, secret_len, sealed, IV_LEN, aad,
                                  aad_len, secret, sealed + IV_LEN, TAG_LEN,
                                  sealed + IV_LEN + secret_len) == 0 &&
        mbedtls_base64_encode((unsigned char *)b64, b64_len, &b64_len, sealed, sealed_len) == 0)
        rc = CL_OK;
    mbedtls_gcm_free(&gcm);
    mbedtls_platform_zeroize(key, sizeof(key));
    if (rc != CL_OK)
        goto out;
    to_hex(salt, sizeof(salt), salt_hex);
    n = snprintf(text, text_cap, "%s\nlabel %s\nkdf %s %u %s\ndata %s\n", MAGIC, label, KDF_NAME,
                 iterations, salt_hex, b64);
    if (n < 0 || (size_t)n >= text_cap) {
        rc = CL_ERR_INTERNAL;
        goto out;
    }
    rc = exclusive ? cl_atomic_write_new(path, text, (size_t)n, 0600)
                   : cl_atomic_write(path, text, (size_t)n, 0600);
    if (rc == CL_ERR_EXISTS)
        cl_log_warn("key file %s exists already; refusing to replace it", path);
    else if (rc != CL_OK)
        cl_log_warn("cannot write key file %s: %s (%s)", path, cl_err_str(rc), strerror(errno));
out:
    free(sealed);
    free(b64);
    free(text);
    return rc;
}

/* Takes the next line (up to '\n') from *p, which must start with prefix; *line points after the
 * prefix, *len is the rest of the line. */
static int take_line(const char **p, const char *prefix, const char **line, size_t *len)
{
    const char *nl = strchr(*p, '\n');
    size_t plen = strlen(prefix);

    if (nl == NULL || (size_t)(nl - *p) < plen || strncmp(*p, prefix, plen) != 0)
        return -1;
    *line = *p + plen;
    *len = (size_t)(nl - *line);
    *p = nl + 1;
    return 0;
}

int cl_keyfile_read(const char *path, const char *label, const char *passphrase,
                    unsigned char **secret, size_t *secret_len)
{
    const char *p, *line, *data;
    unsigned char salt[SALT_LEN], key[KEY_LEN], aad[AAD_MAX], *sealed = NULL, *plain = NULL;
    size_t len, text_len = 0, data_len, sealed_len = 0, plain_len, aad_len;
    char *text = NULL, *end;
    unsigned long iterations;
    mbedtls_gcm_context gcm;
    int rc, ret;

    if (secret != NULL)
        *secret = NULL;
    if (secret_len != NULL)
        *secret_len = 0;
    if (path == NULL || passphrase == NULL || secret == NULL || secret_len == NULL ||
        !cl_label_ok(label, LABEL_MAX))
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_read_file_capped(path, FILE_MAX, &text, &text_len)) != CL_OK) {
        cl_log_warn("cannot read key file %s: %s", path, cl_err_str(rc));
        return rc;
    }
    /* From here every defect of the content is "wrong passphrase or damaged file"; the log
     * says which. */
    rc = CL_ERR_CRYPTO;
    p = text;
    if (strlen(text) != text_len || take_line(&p, MAGIC, &line, &len) != 0 || len != 0 ||
        take_line(&p, "label ", &line, &len) != 0) {
        cl_log_warn("%s is not a certline key file", path);
        goto out;
    }
    if (len != strlen(label) || memcmp(line, label, len) != 0) {
        cl_log_warn("key file %s holds \"%.*s\", not \"%s\"", path, (int)(len < 64 ? len : 64),
                    line, label);
        rc = CL_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if (take_line(&p, "kdf " KDF_NAME " ", &line, &len) != 0 || len < 2 * SALT_LEN + 2 ||
        line[0] < '1' || line[0] > '9' || line[len - 2 * SALT_LEN - 1] != ' ' ||
        from_hex(line + len - 2 * SALT_LEN, SALT_LEN, salt) != 0) {
        cl_log_warn("key file %s: malformed kdf line", path);
        goto out;
    }
    errno = 0;
    iterations = strtoul(line, &end, 10);
    if (errno != 0 || end != line + len - 2 * SALT_LEN - 1 ||
        iterations < CL_KEYFILE_MIN_ITERATIONS || iterations > CL_KEYFILE_MAX_ITERATIONS) {
        cl_log_warn("key file %s: PBKDF2 iterations out of bounds (%d to %d)", path,
                    CL_KEYFILE_MIN_ITERATIONS, CL_KEYFILE_MAX_ITERATIONS);
        goto out;
    }
    if (take_line(&p, "data ", &data, &data_len) != 0 || *p != '\0' || data_len == 0 ||
        data_len > B64_MAX || data_len % 4 != 0 ||
        mbedtls_base64_decode(NULL, 0, &sealed_len, (const unsigned char *)data, data_len) !=
            MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL ||
        sealed_len < IV_LEN + 1 + TAG_LEN || sealed_len > SEALED_MAX) {
        cl_log_warn("key file %s: malformed data line", path);
        goto out;
    }
    for (size_t i = 0; i < data_len; i++)
        if (data[i] == ' ' || data[i] == '\r' || data[i] == '\t') { /* base64 must be one word */
            cl_log_warn("key file %s: malformed data line", path);
            goto out;
        }
    plain_len = sealed_len - IV_LEN - TAG_LEN;
    if ((sealed = malloc(sealed_len)) == NULL || (plain = malloc(plain_len)) == NULL) {
        rc = CL_ERR_NOMEM;
        goto out;
    }
    if (mbedtls_base64_decode(sealed, sealed_len, &sealed_len, (const unsigned char *)data,
                              data_len) != 0 ||
        sealed_len != plain_len + IV_LEN + TAG_LEN) {
        cl_log_warn("key file %s: malformed data line", path);
        rc = CL_ERR_CRYPTO;
        goto out;
    }
    aad_len = build_aad(label, aad);
    mbedtls_gcm_init(&gcm);
    rc = derive_key(passphrase, salt, (unsigned)iterations, key);
    if (rc == CL_OK) {
        ret = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 8 * KEY_LEN);
        if (ret == 0)
            ret = mbedtls_gcm_auth_decrypt(&gcm, plain_len, sealed, IV_LEN, aad, aad_len,
                                           sealed + IV_LEN + plain_len, TAG_LEN, sealed + IV_LEN,
                                           plain);
        rc = ret == 0 ? CL_OK : CL_ERR_CRYPTO;
    }
    mbedtls_gcm_free(&gcm);
    mbedtls_platform_zeroize(key, sizeof(key));
    if (rc != CL_OK) {
        cl_log_warn("cannot open key file %s: wrong passphrase or damaged file", path);
        goto out;
    }
    *secret = plain;
    *secret_len = plain_len;
    plain = NULL;
out:
    cl_secret_free(plain, plain != NULL ? plain_len : 0);
    free(sealed);
    free(text);
    return rc;
}

/* The first line of buf[0..len) (without "\n" or "\r\n") as a new string. */
static int first_line(const char *buf, size_t len, int complete, char **out, char *err,
                      size_t errlen, const char *source)
{
    const char *nl = memchr(buf, '\n', len);
    size_t n = nl != NULL ? (size_t)(nl - buf) : len;

    if (nl == NULL && !complete) {
        snprintf(err, errlen, "the passphrase in %s is longer than %d bytes", source,
                 CL_PASSPHRASE_MAX);
        return CL_ERR_TOO_LARGE;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n == 0) {
        snprintf(err, errlen, "the passphrase in %s is empty", source);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (n > CL_PASSPHRASE_MAX) {
        snprintf(err, errlen, "the passphrase in %s is longer than %d bytes", source,
                 CL_PASSPHRASE_MAX);
        return CL_ERR_TOO_LARGE;
    }
    if (memchr(buf, '\0', n) != NULL) {
        snprintf(err, errlen, "the passphrase in %s contains a NUL byte", source);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((*out = malloc(n + 1)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    memcpy(*out, buf, n);
    (*out)[n] = '\0';
    return CL_OK;
}

static int load_from_file(const char *path, char **passphrase, char *err, size_t errlen)
{
    char buf[CL_PASSPHRASE_MAX + 3]; /* the longest line, "\r\n", and one byte to see more */
    size_t got = 0;
    struct stat st;
    int fd, rc, eof = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open passphrase file %s: %s", path, strerror(e));
        return e == ENOENT || e == ENOTDIR ? CL_ERR_NOT_FOUND
               : e == EACCES || e == EPERM ? CL_ERR_PERMISSION
                                           : CL_ERR_IO;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "passphrase file %s is not a regular file", path);
        close(fd);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_private_file_stat_ok(&st, "passphrase file", path, err, errlen)) != CL_OK) {
        close(fd);
        return rc;
    }
    while (got < sizeof(buf)) {
        ssize_t r = read(fd, buf + got, sizeof(buf) - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read passphrase file %s: %s", path, strerror(errno));
            close(fd);
            mbedtls_platform_zeroize(buf, sizeof(buf));
            return CL_ERR_IO;
        }
        if (r == 0) {
            eof = 1;
            break;
        }
        got += (size_t)r;
        if (memchr(buf, '\n', got) != NULL)
            break;
    }
    close(fd);
    rc = first_line(buf, got, eof, passphrase, err, errlen, path);
    mbedtls_platform_zeroize(buf, sizeof(buf));
    return rc;
}

int cl_passphrase_load(const char *path, const char *env_name, char **passphrase, char *err,
                       size_t errlen)
{
    char dummy[8], source[80], *value;
    int rc;

    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (passphrase == NULL) {
        snprintf(err, errlen, "no place for the passphrase");
        return CL_ERR_INVALID_ARGUMENT;
    }
    *passphrase = NULL;
    if (path != NULL)
        return load_from_file(path, passphrase, err, errlen);
    if (env_name == NULL || env_name[0] == '\0') {
        snprintf(err, errlen, "no passphrase file and no environment variable given");
        return CL_ERR_INVALID_ARGUMENT;
    }
    value = getenv(env_name);
    if (value == NULL) {
        snprintf(err, errlen, "no passphrase: environment variable %.64s is not set", env_name);
        return CL_ERR_NOT_FOUND;
    }
    snprintf(source, sizeof(source), "environment variable %.50s", env_name);
    rc = first_line(value, strnlen(value, CL_PASSPHRASE_MAX + 3), 1, passphrase, err, errlen,
                    source);
    /* Read once, then gone: unsetenv only drops the pointer, and /proc/PID/environ shows the
     * block the process started with, so the value is overwritten where it lies first. */
    mbedtls_platform_zeroize(value, strlen(value));
    unsetenv(env_name);
    return rc;
}
