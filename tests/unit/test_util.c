/* test_util.c: small helpers the C tests share: a private temporary folder and files in it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

int cl_test_dir_make(char *dir, size_t size, const char *name)
{
    int n = snprintf(dir, size, "/tmp/%s.XXXXXX", name);
    if (n < 0 || (size_t)n >= size)
        return -1;
    return mkdtemp(dir) == NULL ? -1 : 0;
}

int cl_test_dir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            struct stat st;
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                (void)cl_test_dir_remove(path);
            else
                unlink(path);
        }
        closedir(d);
    }
    return rmdir(dir);
}

char *cl_test_dir_new(const char *name)
{
    char *dir = malloc(64);
    if (dir != NULL && cl_test_dir_make(dir, 64, name) != 0) {
        free(dir);
        dir = NULL;
    }
    return dir;
}

void cl_test_dir_free(char *dir)
{
    if (dir != NULL)
        (void)cl_test_dir_remove(dir);
    free(dir);
}

char *cl_test_path(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < size);
    return out;
}

void cl_test_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}
