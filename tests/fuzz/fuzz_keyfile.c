/* fuzz_keyfile.c: fuzz target for encrypted key files (common/keyfile.c: cl_keyfile_read over a
 * file held in memory, under each label the programs use and the passphrase of the test key
 * files in the seed corpus). A file that parses costs one PBKDF2 run (>= 100000 iterations). */
#include "fuzz_common.h"
#include "keyfile.h"

/* The passphrase of the throwaway test key files (deploy/sim/certline_procs.py PASSPHRASE). */
#define TEST_PASSPHRASE "correct horse battery staple"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The labels ca-server gives its key files (ca-server/authority.c), for the seed model. */
    static const char *const labels[] = {"root-ca-key", "issuing-ca-key", "prewrite:3012",
                                         "peculiar:3012", "common-key:3012"};
    static struct fuzz_file file;
    unsigned char *secret;
    size_t secret_len;

    fuzz_init();
    if (fuzz_file_set(&file, data, size, 0600) != 0)
        return 0;
    /* A label that is not the file's is refused before the key derivation, so at most one of
     * these pays for PBKDF2. */
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
        if (cl_keyfile_read(file.path, labels[i], TEST_PASSPHRASE, &secret, &secret_len) == 0)
            cl_secret_free(secret, secret_len);
    return 0;
}
