/* test_keyfile.c: an encrypted key file round-trips, is written with mode 0600 in the documented
 * format and never holds the secret in clear; a wrong passphrase, a changed byte (data, salt,
 * iterations, or a label edited to match) give CL_ERR_CRYPTO and no secret; another label is
 * refused; exclusive writes never replace a file; bad parameters write nothing. The passphrase
 * loader takes the first line of a private file or an environment variable and refuses a file
 * others can read, an empty or an over-long passphrase. Few PBKDF2 derivations, all at the
 * minimum iteration count. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"
#include "keyfile.h"
#include "log.h"
#include "test_util.h"

#define PASS "correct horse battery staple"
#define LABEL "issuing-ca-key"

static char dir[64];
static const unsigned char secret[] = {0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20, 0xde, 0xad,
                                       0xbe, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                                       0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

static void path_of(char *out, size_t len, const char *name)
{
    cl_test_path(out, len, dir, name);
}

static void read_text(const char *path, char **text)
{
    *text = NULL;
    assert_int_equal(cl_read_file_capped(path, 1 << 20, text, NULL), CL_OK);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    assert_int_equal(cl_atomic_write(path, text, strlen(text), mode), CL_OK);
}

static void expect_crypto_failure(const char *path, const char *label, const char *pass)
{
    unsigned char *out = (unsigned char *)"x";
    size_t len = 99;
    assert_int_equal(cl_keyfile_read(path, label, pass, &out, &len), CL_ERR_CRYPTO);
    assert_null(out);
    assert_int_equal(len, 0);
}

/* One change to a good key file: at offset from marker, text is written (or the character other,
 * where the file already holds text's first character there, so that the byte always changes);
 * the file is then read with label. */
struct damage {
    const char *marker;
    size_t offset;
    const char *text;
    char other;
    const char *label;
};

static const struct damage damages[] = {
    /* one base64 character of the data (another valid one) */
    {"\ndata ", 6 + 10, "A", 'B', LABEL},
    /* one salt digit */
    {"\nkdf pbkdf2-sha256 100000 ", 27, "a", 'b', LABEL},
    /* a label edited to match what is asked for: the associated data binds it */
    {"label " LABEL, 6, "issuing-ca-kez", 0, "issuing-ca-kez"},
    /* a byte that breaks the structure: still "wrong passphrase or damaged file", no KDF run */
    {"\nkdf ", 1, "K", 0, LABEL},
    {"\ndata ", 8, "!", 0, LABEL},
    /* iterations out of bounds (too few, absurdly many) */
    {" 100000 ", 0, " 099999 ", 0, LABEL},
    {" 100000 ", 0, " 99999  ", 0, LABEL},
    /* iterations changed within bounds: another key is derived */
    {" 100000 ", 0, " 100001 ", 0, LABEL},
};

/* The key file at path, changed by d and written to damaged, gives CL_ERR_CRYPTO. */
static void expect_damage_refused(const char *path, const char *damaged, const struct damage *d)
{
    char *text, *p;

    read_text(path, &text);
    p = strstr(text, d->marker);
    assert_non_null(p);
    p += d->offset;
    if (d->other != 0 && *p == d->text[0])
        *p = d->other;
    else
        memcpy(p, d->text, strlen(d->text));
    write_text(damaged, text, 0600);
    expect_crypto_failure(damaged, d->label, PASS);
    free(text);
}

static int group_setup(void **state)
{
    (void)state;
    cl_log_set_level(CL_LOG_ERROR);
    return cl_test_dir_make(dir, sizeof(dir), "test_keyfile");
}

static int group_teardown(void **state)
{
    (void)state;
    cl_test_dir_remove(dir);
    return 0;
}

static void test_round_trip_and_format(void **state)
{
    char path[256], *text, secret_hex[2 * sizeof(secret) + 1];
    unsigned char *out = NULL;
    size_t len = 0;
    struct stat st;
    (void)state;

    path_of(path, sizeof(path), "a.key.enc");
    assert_int_equal(
        cl_keyfile_write(path, LABEL, secret, sizeof(secret), PASS, CL_KEYFILE_MIN_ITERATIONS, 1),
        CL_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    read_text(path, &text);
    static const char head[] = "certline-keyfile v1\nlabel " LABEL "\nkdf pbkdf2-sha256 100000 ";
    assert_true(strncmp(text, head, strlen(head)) == 0);
    /* salt: 32 lower-case hex digits; then the data line; nothing else */
    const char *salt = text + strlen(head);
    assert_int_equal(strspn(salt, "0123456789abcdef"), 32);
    assert_true(strncmp(salt + 32, "\ndata ", 6) == 0);
    assert_int_equal(text[strlen(text) - 1], '\n');
    assert_null(strchr(salt + 38, ' '));
    /* the secret is nowhere in clear */
    for (size_t i = 0; i + 16 <= strlen(text); i++)
        assert_true(memcmp(text + i, secret + 7, 16) != 0);
    for (size_t i = 0; i < sizeof(secret); i++)
        snprintf(secret_hex + 2 * i, 3, "%02x", secret[i]);
    assert_null(strstr(text, secret_hex + 14));
    assert_null(strstr(text, PASS));
    free(text);

    assert_int_equal(cl_keyfile_read(path, LABEL, PASS, &out, &len), CL_OK);
    assert_int_equal(len, sizeof(secret));
    assert_memory_equal(out, secret, len);
    cl_secret_free(out, len);
    cl_secret_free(NULL, 0);
}

static void test_wrong_passphrase_and_damage(void **state)
{
    char path[256], damaged[256], *text;
    (void)state;

    path_of(path, sizeof(path), "a.key.enc");
    path_of(damaged, sizeof(damaged), "damaged.key.enc");
    expect_crypto_failure(path, LABEL, PASS "!");

    for (size_t i = 0; i < sizeof(damages) / sizeof(damages[0]); i++)
        expect_damage_refused(path, damaged, &damages[i]);
    /* truncated */
    read_text(path, &text);
    text[strlen(text) - 10] = '\0';
    write_text(damaged, text, 0600);
    expect_crypto_failure(damaged, LABEL, PASS);
    free(text);
    /* not a key file at all */
    write_text(damaged, "-----BEGIN PRIVATE KEY-----\n", 0600);
    expect_crypto_failure(damaged, LABEL, PASS);
}

static void test_label_mismatch(void **state)
{
    char path[256];
    unsigned char *out = (unsigned char *)"x";
    size_t len = 9;
    (void)state;

    path_of(path, sizeof(path), "a.key.enc");
    assert_int_equal(cl_keyfile_read(path, "root-ca-key", PASS, &out, &len),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(cl_keyfile_read(path, "bad label", PASS, &out, &len), CL_ERR_INVALID_ARGUMENT);
    path_of(path, sizeof(path), "missing.key.enc");
    assert_int_equal(cl_keyfile_read(path, LABEL, PASS, &out, &len), CL_ERR_NOT_FOUND);
    assert_null(out);
}

static void test_exclusive_and_overwrite(void **state)
{
    char path[256], *before, *after;
    unsigned char other[] = {1, 2, 3, 4};
    unsigned char *out = NULL;
    size_t len = 0;
    (void)state;

    path_of(path, sizeof(path), "a.key.enc");
    read_text(path, &before);
    assert_int_equal(
        cl_keyfile_write(path, LABEL, other, sizeof(other), PASS, CL_KEYFILE_MIN_ITERATIONS, 1),
        CL_ERR_EXISTS);
    read_text(path, &after);
    assert_string_equal(before, after);
    free(after);

    /* not exclusive: replaced, still 0600 */
    path_of(path, sizeof(path), "b.key.enc");
    write_text(path, "old", 0644);
    assert_int_equal(cl_keyfile_write(path, "prewrite:3012", other, sizeof(other), "pw",
                                      CL_KEYFILE_MIN_ITERATIONS, 0),
                     CL_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(cl_keyfile_read(path, "prewrite:3012", "pw", &out, &len), CL_OK);
    assert_int_equal(len, sizeof(other));
    assert_memory_equal(out, other, len);
    cl_secret_free(out, len);
    free(before);
}

static void expect_write_refused(const char *name, const char *label, const unsigned char *data,
                                 size_t len, const char *pass, unsigned iterations)
{
    char path[256];
    struct stat st;

    path_of(path, sizeof(path), name);
    assert_int_equal(cl_keyfile_write(path, label, data, len, pass, iterations, 1),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_not_equal(stat(path, &st), 0); /* nothing written */
}

static void test_write_refusals(void **state)
{
    unsigned char *big = calloc(1, CL_KEYFILE_MAX_SECRET + 1);
    char *long_pass = malloc(CL_PASSPHRASE_MAX + 2);
    (void)state;

    assert_non_null(big);
    assert_non_null(long_pass);
    memset(long_pass, 'p', CL_PASSPHRASE_MAX + 1);
    long_pass[CL_PASSPHRASE_MAX + 1] = '\0';
    expect_write_refused("r1", LABEL, secret, sizeof(secret), PASS, CL_KEYFILE_MIN_ITERATIONS - 1);
    expect_write_refused("r2", LABEL, secret, sizeof(secret), PASS, 1000);
    expect_write_refused("r3", LABEL, secret, sizeof(secret), PASS, CL_KEYFILE_MAX_ITERATIONS + 1);
    expect_write_refused("r4", LABEL, secret, 0, PASS, CL_KEYFILE_MIN_ITERATIONS);
    expect_write_refused("r5", LABEL, big, CL_KEYFILE_MAX_SECRET + 1, PASS,
                         CL_KEYFILE_MIN_ITERATIONS);
    expect_write_refused("r6", LABEL, secret, sizeof(secret), "", CL_KEYFILE_MIN_ITERATIONS);
    expect_write_refused("r7", LABEL, secret, sizeof(secret), long_pass, CL_KEYFILE_MIN_ITERATIONS);
    expect_write_refused("r8", "bad label", secret, sizeof(secret), PASS,
                         CL_KEYFILE_MIN_ITERATIONS);
    expect_write_refused("r9", "", secret, sizeof(secret), PASS, CL_KEYFILE_MIN_ITERATIONS);
    expect_write_refused("r10", NULL, secret, sizeof(secret), PASS, CL_KEYFILE_MIN_ITERATIONS);
    expect_write_refused("r11", LABEL, NULL, 4, PASS, CL_KEYFILE_MIN_ITERATIONS);
    expect_write_refused("r12", LABEL, secret, sizeof(secret), NULL, CL_KEYFILE_MIN_ITERATIONS);
    free(big);
    free(long_pass);
}

/* ---- passphrases ---- */

static void expect_loaded(const char *path, const char *env, const char *expected)
{
    char *pass = NULL, err[256] = "";
    int rc = cl_passphrase_load(path, env, &pass, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("cl_passphrase_load: %s (%s)", cl_err_name(rc), err);
    assert_string_equal(pass, expected);
    cl_secret_free(pass, strlen(pass));
}

static void expect_not_loaded(const char *path, const char *env, int code, const char *needle)
{
    char *pass = (char *)"x", err[256] = "";
    assert_int_equal(cl_passphrase_load(path, env, &pass, err, sizeof(err)), code);
    assert_null(pass);
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
    assert_null(strstr(err, "s3cret")); /* the message never shows the passphrase */
}

static void test_passphrase_file(void **state)
{
    char path[256], *long_line;
    (void)state;

    path_of(path, sizeof(path), "pass");
    write_text(path, "s3cret words\n", 0600);
    expect_loaded(path, NULL, "s3cret words");
    write_text(path, "s3cret words\r\nsecond line\n", 0600);
    expect_loaded(path, NULL, "s3cret words");
    write_text(path, "s3cret", 0400);
    expect_loaded(path, NULL, "s3cret");
    write_text(path, " spaced s3cret ", 0600);
    expect_loaded(path, NULL, " spaced s3cret ");

    write_text(path, "s3cret\n", 0644);
    expect_not_loaded(path, NULL, CL_ERR_PERMISSION, "group or others (mode 0644)");
    write_text(path, "s3cret\n", 0640);
    expect_not_loaded(path, NULL, CL_ERR_PERMISSION, "chmod 600");
    write_text(path, "s3cret\n", 0604);
    expect_not_loaded(path, NULL, CL_ERR_PERMISSION, "group or others");
    write_text(path, "", 0600);
    expect_not_loaded(path, NULL, CL_ERR_INVALID_ARGUMENT, "empty");
    write_text(path, "\ns3cret\n", 0600);
    expect_not_loaded(path, NULL, CL_ERR_INVALID_ARGUMENT, "empty");

    long_line = malloc(CL_PASSPHRASE_MAX + 3);
    assert_non_null(long_line);
    memset(long_line, 'x', CL_PASSPHRASE_MAX);
    strcpy(long_line + CL_PASSPHRASE_MAX, "\n");
    write_text(path, long_line, 0600);
    {
        char *pass = NULL, err[128];
        assert_int_equal(cl_passphrase_load(path, NULL, &pass, err, sizeof(err)), CL_OK);
        assert_int_equal(strlen(pass), CL_PASSPHRASE_MAX);
        cl_secret_free(pass, strlen(pass));
    }
    memset(long_line, 'x', CL_PASSPHRASE_MAX + 1);
    strcpy(long_line + CL_PASSPHRASE_MAX + 1, "\n");
    write_text(path, long_line, 0600);
    expect_not_loaded(path, NULL, CL_ERR_TOO_LARGE, "longer than 1024");
    long_line[CL_PASSPHRASE_MAX + 1] = '\0'; /* no newline at all */
    write_text(path, long_line, 0600);
    expect_not_loaded(path, NULL, CL_ERR_TOO_LARGE, "longer than 1024");
    free(long_line);

    path_of(path, sizeof(path), "no-such-file");
    expect_not_loaded(path, NULL, CL_ERR_NOT_FOUND, "cannot open passphrase file");
    expect_not_loaded(dir, NULL, CL_ERR_INVALID_ARGUMENT, "not a regular file");
}

static void test_passphrase_env(void **state)
{
    char *long_value, *value;
    (void)state;

    setenv("CERTLINE_TEST_PASS", "s3cret from env", 1);
    value = getenv("CERTLINE_TEST_PASS");
    expect_loaded(NULL, "CERTLINE_TEST_PASS", "s3cret from env");
    /* Read once, then gone: out of the environment, and its bytes wiped where they lay (the
     * start block of /proc/PID/environ keeps them otherwise). */
    assert_null(getenv("CERTLINE_TEST_PASS"));
    for (size_t i = 0; i < strlen("s3cret from env"); i++)
        assert_int_equal(value[i], '\0');
    setenv("CERTLINE_TEST_PASS", "s3cret\n", 1);
    expect_loaded(NULL, "CERTLINE_TEST_PASS", "s3cret");
    setenv("CERTLINE_TEST_PASS", "", 1);
    expect_not_loaded(NULL, "CERTLINE_TEST_PASS", CL_ERR_INVALID_ARGUMENT, "empty");
    setenv("CERTLINE_TEST_PASS", "\n", 1);
    expect_not_loaded(NULL, "CERTLINE_TEST_PASS", CL_ERR_INVALID_ARGUMENT, "empty");
    long_value = malloc(CL_PASSPHRASE_MAX + 2);
    assert_non_null(long_value);
    memset(long_value, 'y', CL_PASSPHRASE_MAX + 1);
    long_value[CL_PASSPHRASE_MAX + 1] = '\0';
    setenv("CERTLINE_TEST_PASS", long_value, 1);
    expect_not_loaded(NULL, "CERTLINE_TEST_PASS", CL_ERR_TOO_LARGE, "longer than 1024");
    free(long_value);
    unsetenv("CERTLINE_TEST_PASS");
    expect_not_loaded(NULL, "CERTLINE_TEST_PASS", CL_ERR_NOT_FOUND,
                      "CERTLINE_TEST_PASS is not set");
    expect_not_loaded(NULL, NULL, CL_ERR_INVALID_ARGUMENT, "no passphrase file");
    assert_int_equal(cl_passphrase_load(NULL, "X", NULL, NULL, 0), CL_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_format),
        cmocka_unit_test(test_wrong_passphrase_and_damage),
        cmocka_unit_test(test_label_mismatch),
        cmocka_unit_test(test_exclusive_and_overwrite),
        cmocka_unit_test(test_write_refusals),
        cmocka_unit_test(test_passphrase_file),
        cmocka_unit_test(test_passphrase_env),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
