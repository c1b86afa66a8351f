/* softhsm_fixture.c: a private SoftHSM2 token for tests (see softhsm_fixture.h). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "softhsm_fixture.h"
#include "test_util.h"

static const char *const modules[] = {"/usr/lib/softhsm/libsofthsm2.so",
                                      "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"};

static int run(char *const argv[])
{
    pid_t pid = fork();
    int status = 0;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return 0;
}

int cl_test_softhsm_make(struct cl_test_softhsm *h, const char *const *labels)
{
    char conf[320], tokens[320], text[700];
    size_t i;

    memset(h, 0, sizeof(*h));
    for (i = 0; i < sizeof(modules) / sizeof(modules[0]); i++)
        if (access(modules[i], R_OK) == 0) {
            snprintf(h->module, sizeof(h->module), "%s", modules[i]);
            break;
        }
    if (h->module[0] == '\0' || cl_test_dir_make(h->dir, sizeof(h->dir), "certline-softhsm") != 0)
        return -1;
    cl_test_path(conf, sizeof(conf), h->dir, "softhsm2.conf");
    cl_test_path(tokens, sizeof(tokens), h->dir, "tokens");
    cl_test_path(h->pin_file, sizeof(h->pin_file), h->dir, "user.pin");
    if (mkdir(tokens, 0700) != 0)
        return -1;
    snprintf(text, sizeof(text),
             "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n"
             "slots.removable = false\n",
             tokens);
    cl_test_write_file(conf, text);
    cl_test_write_file(h->pin_file, CL_TEST_USER_PIN "\n");
    if (chmod(h->pin_file, 0600) != 0 || setenv("SOFTHSM2_CONF", conf, 1) != 0)
        return -1;
    for (i = 0; labels[i] != NULL; i++) {
        char *argv[] = {"softhsm2-util",
                        "--init-token",
                        "--free",
                        "--label",
                        (char *)(uintptr_t)labels[i],
                        "--so-pin",
                        CL_TEST_SO_PIN,
                        "--pin",
                        CL_TEST_USER_PIN,
                        NULL};
        if (run(argv) != 0)
            return -1;
    }
    return 0;
}

char *cl_test_softhsm_uri(const struct cl_test_softhsm *h, const char *label, const char *object,
                          char *out, size_t size)
{
    snprintf(out, size, "pkcs11:token=%s%s%s?module-path=%s&pin-source=file:%s", label,
             object != NULL ? ";type=private;object=" : "", object != NULL ? object : "", h->module,
             h->pin_file);
    return out;
}

char *cl_test_softhsm_wrong_pin_uri(const struct cl_test_softhsm *h, const char *label,
                                    const char *wrong_pin, char *out, size_t size)
{
    char path[320];

    cl_test_path(path, sizeof(path), h->dir, "wrong.pin");
    cl_test_write_file(path, wrong_pin);
    if (chmod(path, 0600) != 0)
        return NULL;
    snprintf(out, size, "pkcs11:token=%s?module-path=%s&pin-source=file:%s", label, h->module,
             path);
    return out;
}

void cl_test_softhsm_free(struct cl_test_softhsm *h)
{
    if (h->dir[0] != '\0')
        cl_test_dir_remove(h->dir);
    h->dir[0] = '\0';
}
