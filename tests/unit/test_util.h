/* test_util.h: small helpers the C tests share: a private temporary folder and files in it. */
#ifndef CERTLINE_TEST_UTIL_H
#define CERTLINE_TEST_UTIL_H

#include <stddef.h>

/* Makes a fresh folder /tmp/<name>.XXXXXX and puts its path in dir (size bytes). 0, or -1. */
int cl_test_dir_make(char *dir, size_t size, const char *name);

/* Removes dir and everything in it, subfolders included. Returns rmdir's result: 0, or -1. */
int cl_test_dir_remove(const char *dir);

/* The same folder with its path malloc'd (per-test cmocka state); NULL on failure. */
char *cl_test_dir_new(const char *name);

/* Removes the folder of cl_test_dir_new as cl_test_dir_remove does and frees its path. */
void cl_test_dir_free(char *dir);

/* out = dir/name, asserted to fit in size bytes. Returns out. */
char *cl_test_path(char *out, size_t size, const char *dir, const char *name);

/* Writes text to path, replacing what was there; asserted to succeed. */
void cl_test_write_file(const char *path, const char *text);

#endif
