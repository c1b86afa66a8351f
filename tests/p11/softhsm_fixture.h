/* softhsm_fixture.h: a private SoftHSM2 token for tests: its own softhsm2.conf and token folder
 * in a temporary folder (SOFTHSM2_CONF points there), the PIN in a file of mode 0600. */
#ifndef CERTLINE_SOFTHSM_FIXTURE_H
#define CERTLINE_SOFTHSM_FIXTURE_H

#define CL_TEST_SO_PIN "12345678"
#define CL_TEST_USER_PIN "4321-test-pin"

struct cl_test_softhsm {
    char dir[256];
    char module[256];
    char pin_file[320];
};

/* Makes the folder, the configuration and one token per label (NULL-terminated list) with
 * softhsm2-util; sets SOFTHSM2_CONF. 0, or -1 (SoftHSM2 not installed, or a step failed). */
int cl_test_softhsm_make(struct cl_test_softhsm *h, const char *const *labels);

/* "pkcs11:token=LABEL;object=OBJECT?module-path=...&pin-source=file:..." into out. */
char *cl_test_softhsm_uri(const struct cl_test_softhsm *h, const char *label, const char *object,
                          char *out, size_t size);

/* The URI of token label with a pin-source file (mode 0600, in the folder) holding wrong_pin,
 * into out: a login that must be refused. NULL if the file cannot be made. */
char *cl_test_softhsm_wrong_pin_uri(const struct cl_test_softhsm *h, const char *label,
                                    const char *wrong_pin, char *out, size_t size);

/* Removes the folder. */
void cl_test_softhsm_free(struct cl_test_softhsm *h);

#endif
