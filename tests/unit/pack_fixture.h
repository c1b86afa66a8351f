/* pack_fixture.h: what the pack tests share: a CA pair and signer, a pre-write key and two P-256
 * devices whose packs are built once per test program. */
#ifndef CERTLINE_PACK_FIXTURE_H
#define CERTLINE_PACK_FIXTURE_H

#include <time.h>

#include "pack.h"
#include "x509_issue.h"

#define ORG "certline test"

struct device {
    struct cl_issued issued;
    char *cert_pem;
    char *pack;
    char server_value[CL_VERIFY_HEX + 1];
};

extern struct cl_issued root, issuing;
extern struct cl_signer *signer;
extern char *chain_pem; /* issuing then root */
extern unsigned char prewrite[CL_PREWRITE_KEY_BYTES];
extern struct device dev1, dev2; /* 3012-000001 and 3012-000002 */
extern time_t now;

/* cmocka group setup and teardown: make (and free) all of the above. */
int pack_group_setup(void **state);
int pack_group_teardown(void **state);

/* The pack contents for device d under number and key_type (model 3012, key id 3012-1A2B3C4D). */
struct cl_pack_contents contents_of(const struct device *d, const char *number,
                                    const char *key_type);

/* Issues a device certificate of type for number and builds its pack; 0, or -1. */
int make_device(struct device *d, const char *number, enum cl_key_type type);
void free_device(struct device *d);

/* json parses as a pack (the test fails with the parser's message otherwise). */
void parse_ok(const char *json, struct cl_pack *pack);

/* The sealed key of pack does not open with key_bytes: CL_ERR_CRYPTO, no key handed out. */
void expect_no_key(const struct cl_pack *pack, const unsigned char *key_bytes);

#endif
