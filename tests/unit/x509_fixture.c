/* x509_fixture.c: the fixture of the X.509 issuance tests: a CA pair and its signer made once
 * per test program, and a private folder where openssl and Python check the certificates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"
#include "log.h"
#include "test_util.h"
#include "x509_fixture.h"

struct cl_issued root, issuing;
struct cl_signer *signer;
mbedtls_x509_crt root_crt, issuing_crt;
time_t now;
char tmpdir[64];

/* ---- helpers ---- */

double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void write_text(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    assert_int_equal(cl_atomic_write(path, text, strlen(text), 0600), CL_OK);
}

void write_pem(const char *name, const struct cl_issued *issued)
{
    char *pem = NULL;
    assert_int_equal(cl_cert_der_to_pem(issued->cert_der, issued->cert_len, &pem), CL_OK);
    write_text(name, pem);
    free(pem);
}

int run(char *const argv[], char **output)
{
    char out_path[256];
    int status = 0;
    pid_t pid;

    snprintf(out_path, sizeof(out_path), "%s/cmd.out", tmpdir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || chdir(tmpdir) != 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(cl_read_file_capped(out_path, 1 << 20, output, NULL), CL_OK);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void assert_openssl_verifies(char *purpose, char *leaf)
{
    char *verify[] = {"openssl",  "verify",     "-x509_strict", "-purpose", purpose, "-CAfile",
                      "root.pem", "-untrusted", "issuing.pem",  leaf,       NULL};
    char expected[128], *out = NULL;

    snprintf(expected, sizeof(expected), "%s: OK", leaf);
    assert_int_equal(run(verify, &out), 0);
    assert_non_null(strstr(out, expected));
    free(out);
}

/* Python's cryptography (41 and later) warns about a NULL in an ECDSA signature
 * AlgorithmIdentifier when it parses a certificate, and is to reject it; with -W error a warning
 * fails the load. name is a PEM file in tmpdir. */
void assert_python_loads(char *name)
{
    char script[] = "import sys\n"
                    "from cryptography import x509\n"
                    "with open(sys.argv[1], 'rb') as f:\n"
                    "    x509.load_pem_x509_certificate(f.read())\n"
                    "print('loaded')\n";
    char *argv[] = {"python3", "-W", "error", "-c", script, name, NULL}, *out = NULL;
    int status = run(argv, &out);
    if (status != 0)
        fprintf(stderr, "python3 on %s: %s\n", name, out);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "loaded"));
    free(out);
}

int x509_group_setup(void **state)
{
    char err[256];
    (void)state;

    cl_log_set_level(CL_LOG_ERROR); /* the refusal tests would otherwise log each refusal */
    now = time(NULL) - 60;
    if (cl_test_dir_make(tmpdir, sizeof(tmpdir), "test_x509") != 0)
        return -1;
    if (cl_issue_ca_pair(ORG, now, 3650, 1825, &root, &issuing) != CL_OK)
        return -1;
    mbedtls_x509_crt_init(&root_crt);
    mbedtls_x509_crt_init(&issuing_crt);
    if (mbedtls_x509_crt_parse_der(&root_crt, root.cert_der, root.cert_len) != 0 ||
        mbedtls_x509_crt_parse_der(&issuing_crt, issuing.cert_der, issuing.cert_len) != 0)
        return -1;
    if (cl_signer_new(issuing.cert_der, issuing.cert_len, issuing.key_der, issuing.key_len, ORG,
                      &signer, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "cl_signer_new: %s\n", err);
        return -1;
    }
    return 0;
}

int x509_group_teardown(void **state)
{
    (void)state;
    cl_signer_free(signer);
    mbedtls_x509_crt_free(&root_crt);
    mbedtls_x509_crt_free(&issuing_crt);
    cl_issued_free(&root);
    cl_issued_free(&issuing);
    cl_test_dir_remove(tmpdir);
    return 0;
}
