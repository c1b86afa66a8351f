/* replay_main.c: runs a fuzz target without libFuzzer: every file named, or found in a folder
 * named, goes once through LLVMFuzzerTestOneInput (so the targets build and run in every test
 * build, over their seed corpus). Exits non-zero if a file cannot be read. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static int run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *data = NULL;
    size_t size = 0, cap = 0, n;

    if (fp == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    for (;;) {
        if (size == cap) {
            unsigned char *grown = realloc(data, cap ? 2 * cap : 65536);
            if (grown == NULL) {
                fprintf(stderr, "replay: out of memory reading %s\n", path);
                free(data);
                fclose(fp);
                return -1;
            }
            data = grown;
            cap = cap ? 2 * cap : 65536;
        }
        n = fread(data + size, 1, cap - size, fp);
        if (n == 0)
            break;
        size += n;
    }
    if (ferror(fp)) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(data);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    printf("replay: %s (%zu bytes)\n", path, size);
    fflush(stdout);
    /* A copy of exactly size bytes, so that ASan sees any read past the end. */
    unsigned char *exact = malloc(size ? size : 1);
    if (exact == NULL) {
        free(data);
        return -1;
    }
    if (size > 0)
        memcpy(exact, data, size);
    free(data);
    (void)LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    return 0;
}

static int compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (d == NULL) {
        fprintf(stderr, "replay: cannot open folder %s\n", dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap ? 2 * cap : 32) * sizeof(*names));
            if (grown == NULL) {
                rc = -1;
                break;
            }
            names = grown;
            cap = cap ? 2 * cap : 32;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if ((names[n] = malloc(len)) == NULL) {
            rc = -1;
            break;
        }
        snprintf(names[n++], len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), compare);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(names[i]) != 0)
                rc = -1;
            else
                (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE-OR-FOLDER...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc && rc == 0; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            rc = run_dir(argv[i], &count);
        else if ((rc = run_file(argv[i])) == 0)
            count++;
    }
    if (rc != 0)
        return 1;
    if (count == 0) {
        fprintf(stderr, "replay: no input found\n");
        return 1;
    }
    printf("replay: %zu input(s) ran without a finding\n", count);
    return 0;
}
