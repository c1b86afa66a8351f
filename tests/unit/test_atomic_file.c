/* test_atomic_file.c: atomic writes put the whole content and mode in place, replace by rename,
 * leave the old file and no temp file behind on failure, refuse to replace with write_new; capped
 * reads refuse what is too large. Works in a fresh mkdtemp directory per test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"
#include "test_util.h"

/* Each test works in a fresh folder, its path the test's state. */
static int setup(void **state)
{
    *state = cl_test_dir_new("test_atomic");
    return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    cl_test_dir_free(*state);
    return 0;
}

/* Number of entries in dir; *temps counts those starting with '.' (temp files). */
static int count_entries(const char *dir, int *temps)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    *temps = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        if (e->d_name[0] == '.')
            (*temps)++;
    }
    closedir(d);
    return n;
}

static void assert_entries(const char *dir, int expected)
{
    int temps;
    assert_int_equal(count_entries(dir, &temps), expected);
    assert_int_equal(temps, 0);
}

static void assert_content(const char *path, const char *expected)
{
    char *buf = NULL;
    size_t len = 0;

    assert_int_equal(cl_read_file_capped(path, 1 << 20, &buf, &len), CL_OK);
    assert_int_equal(len, strlen(expected));
    assert_memory_equal(buf, expected, len);
    assert_int_equal(buf[len], '\0');
    free(buf);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    return st.st_mode & 07777;
}

static void test_write_creates(void **state)
{
    const char *dir = *state;
    char path[128];
    mode_t old_umask;

    snprintf(path, sizeof(path), "%s/key.pem", dir);
    assert_int_equal(cl_atomic_write(path, "hello\n", 6, 0600), CL_OK);
    assert_content(path, "hello\n");
    assert_int_equal(mode_of(path), 0600);
    assert_entries(dir, 1);

    /* The mode is exact: the umask does not narrow it. */
    old_umask = umask(077);
    snprintf(path, sizeof(path), "%s/cert.pem", dir);
    assert_int_equal(cl_atomic_write(path, "cert", 4, 0644), CL_OK);
    umask(old_umask);
    assert_int_equal(mode_of(path), 0644);
    assert_content(path, "cert");

    /* Empty content is a valid file. */
    snprintf(path, sizeof(path), "%s/empty", dir);
    assert_int_equal(cl_atomic_write(path, NULL, 0, 0600), CL_OK);
    assert_content(path, "");
    assert_entries(dir, 3);
}

static void test_replace(void **state)
{
    const char *dir = *state;
    char path[128];
    struct stat before, after;
    char old[8] = {0};
    int fd;

    snprintf(path, sizeof(path), "%s/state.json", dir);
    assert_int_equal(cl_atomic_write(path, "old", 3, 0600), CL_OK);
    assert_int_equal(stat(path, &before), 0);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);

    assert_int_equal(cl_atomic_write(path, "new content", 11, 0640), CL_OK);
    assert_int_equal(stat(path, &after), 0);
    assert_content(path, "new content");
    assert_int_equal(mode_of(path), 0640);
    /* A new inode took the name: a reader of the old file still sees it whole. */
    assert_int_not_equal(before.st_ino, after.st_ino);
    assert_int_equal(read(fd, old, sizeof(old) - 1), 3);
    assert_string_equal(old, "old");
    close(fd);
    assert_entries(dir, 1);
}

static void test_relative_path(void **state)
{
    const char *dir = *state;
    int cwd = open(".", O_RDONLY | O_DIRECTORY);
    char path[128];

    assert_true(cwd >= 0);
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(cl_atomic_write("plain", "x", 1, 0600), CL_OK);
    assert_int_equal(fchdir(cwd), 0);
    close(cwd);
    snprintf(path, sizeof(path), "%s/plain", dir);
    assert_content(path, "x");
    assert_entries(dir, 1);
}

static void test_invalid_arguments(void **state)
{
    const char *dir = *state;
    char path[128];

    snprintf(path, sizeof(path), "%s/", dir);
    assert_int_equal(cl_atomic_write(NULL, "x", 1, 0600), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_atomic_write("", "x", 1, 0600), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_atomic_write(path, "x", 1, 0600), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(errno, EINVAL);
    snprintf(path, sizeof(path), "%s/x", dir);
    assert_int_equal(cl_atomic_write(path, NULL, 1, 0600), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_atomic_write_new(NULL, "x", 1, 0600), CL_ERR_INVALID_ARGUMENT);
    assert_entries(dir, 0);
}

static void test_missing_directory(void **state)
{
    const char *dir = *state;
    char path[128];

    snprintf(path, sizeof(path), "%s/no/such/dir/file", dir);
    errno = 0;
    assert_int_equal(cl_atomic_write(path, "x", 1, 0600), CL_ERR_NOT_FOUND);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(cl_atomic_write_new(path, "x", 1, 0600), CL_ERR_NOT_FOUND);
    assert_entries(dir, 0);
}

static void test_path_is_directory(void **state)
{
    const char *dir = *state;
    char sub[128], inner[160];
    struct stat st;
    int rc;

    snprintf(sub, sizeof(sub), "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(inner, sizeof(inner), "%s/keep", sub);
    assert_int_equal(cl_atomic_write(inner, "kept", 4, 0600), CL_OK);

    errno = 0;
    rc = cl_atomic_write(sub, "x", 1, 0600);
    assert_true(rc < 0);
    assert_int_equal(rc, CL_ERR_IO);
    assert_int_equal(errno, EISDIR);
    /* The directory and what it holds are untouched; no temp file is left beside it. */
    assert_int_equal(stat(sub, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_content(inner, "kept");
    assert_entries(dir, 1);
    assert_entries(sub, 1);
}

static void test_failed_write_keeps_old(void **state)
{
    const char *dir = *state;
    char path[128];
    char big[4096];
    struct rlimit saved, small;
    void (*old_handler)(int);
    int rc, err;

    snprintf(path, sizeof(path), "%s/ca.crl", dir);
    assert_int_equal(cl_atomic_write(path, "old crl", 7, 0644), CL_OK);
    memset(big, 'n', sizeof(big));

    /* Make the write itself fail half way: files may not grow beyond 16 bytes for a moment. */
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 16;
    old_handler = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    rc = cl_atomic_write(path, big, sizeof(big), 0600);
    err = errno;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old_handler);

    assert_int_equal(rc, CL_ERR_TOO_LARGE);
    assert_int_equal(err, EFBIG);
    assert_content(path, "old crl");
    assert_int_equal(mode_of(path), 0644);
    assert_entries(dir, 1);
}

static void test_write_new(void **state)
{
    const char *dir = *state;
    char path[128], link_path[128];
    struct stat st;

    snprintf(path, sizeof(path), "%s/device.crt", dir);
    assert_int_equal(cl_atomic_write_new(path, "first", 5, 0600), CL_OK);
    assert_content(path, "first");
    assert_int_equal(mode_of(path), 0600);

    errno = 0;
    assert_int_equal(cl_atomic_write_new(path, "second", 6, 0644), CL_ERR_EXISTS);
    assert_int_equal(errno, EEXIST);
    assert_content(path, "first");
    assert_int_equal(mode_of(path), 0600);
    assert_entries(dir, 1);

    /* A dangling symbolic link counts as existing and is left alone. */
    snprintf(link_path, sizeof(link_path), "%s/dangling", dir);
    assert_int_equal(symlink("nowhere", link_path), 0);
    assert_int_equal(cl_atomic_write_new(link_path, "x", 1, 0600), CL_ERR_EXISTS);
    assert_int_equal(lstat(link_path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_entries(dir, 2);

    /* Plain cl_atomic_write still replaces. */
    assert_int_equal(cl_atomic_write(path, "second", 6, 0600), CL_OK);
    assert_content(path, "second");
}

static void test_read_capped(void **state)
{
    const char *dir = *state;
    char path[128], data[100];
    char sentinel = 0;
    char *buf = NULL;
    size_t len = 0;

    memset(data, 'r', sizeof(data));
    snprintf(path, sizeof(path), "%s/data", dir);
    assert_int_equal(cl_atomic_write(path, data, sizeof(data), 0600), CL_OK);

    assert_int_equal(cl_read_file_capped(path, 100, &buf, &len), CL_OK);
    assert_int_equal(len, 100);
    assert_memory_equal(buf, data, 100);
    assert_int_equal(buf[100], '\0');
    free(buf);

    buf = &sentinel; /* failures set *out to NULL */
    assert_int_equal(cl_read_file_capped(path, 99, &buf, &len), CL_ERR_TOO_LARGE);
    assert_null(buf);
    assert_int_equal(errno, EFBIG);
    assert_int_equal(cl_read_file_capped(path, 0, &buf, NULL), CL_ERR_TOO_LARGE);
    assert_null(buf);

    /* Streams without a size are capped while reading. */
    buf = &sentinel;
    assert_int_equal(cl_read_file_capped("/dev/zero", 100000, &buf, &len), CL_ERR_TOO_LARGE);
    assert_null(buf);
    assert_int_equal(cl_read_file_capped("/dev/null", 10, &buf, &len), CL_OK);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    free(buf);

    snprintf(path, sizeof(path), "%s/missing", dir);
    buf = &sentinel;
    assert_int_equal(cl_read_file_capped(path, 10, &buf, &len), CL_ERR_NOT_FOUND);
    assert_int_equal(errno, ENOENT);
    assert_null(buf);
    buf = &sentinel;
    assert_int_equal(cl_read_file_capped(dir, 10, &buf, &len), CL_ERR_IO);
    assert_int_equal(errno, EISDIR);
    assert_null(buf);
    assert_int_equal(cl_read_file_capped(NULL, 10, &buf, &len), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_read_file_capped(path, 10, NULL, &len), CL_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_is_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_capped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
