/* rollover.h: the issuing CA's end of life: a new issuing CA under the same root replaces the
 * current one in ca_dir, which is kept for reference. Besides authority.c, the only code that
 * opens a CA key (the root's, for this one signature; from its file or its token).
 *
 * After a rollover ca_dir holds:
 *   issuing.crt, issuing.key.enc, chain.crt          the new issuing CA (issuance switches to it)
 *   retired/issuing-<SERIAL>.crt, .key.enc, chain-<SERIAL>.crt   the old one, unchanged
 *   models/<code>/common.crt, common-key.enc          a new common certificate and key under
 *                                                     the new issuing CA
 *   models/<code>/common.chain.crt                    the chain of the CA that issued common.crt
 *   models/<code>/retired/common-<SERIAL>.crt, ...    the model's earlier common certificate
 * Certificates of the old issuing CA stay valid until their own (capped) end: every certline
 * verifier trusts the root and is shown the issuing CA by its peer (a pack's chain, a service's
 * chain file, a firmware bundle's chain), so both verify during the overlap.
 *
 * Crash safety: the new files are written completely (issuing.next.key.enc, issuing.next.crt,
 * chain.next.crt, in that order) before the first is renamed over the current one (the same
 * order); a rollover that finds chain.next.crt finishes the renames of the interrupted one
 * instead of starting another, and one that finds only some .next files removes them. */
#ifndef CERTLINE_CA_ROLLOVER_H
#define CERTLINE_CA_ROLLOVER_H

#include <stddef.h>
#include <time.h>

#include "ca_token.h"
#include "x509_issue.h"

struct ca_rollover_result {
    char old_serial[CL_SERIAL_HEX_MAX + 1];
    char new_serial[CL_SERIAL_HEX_MAX + 1];
    time_t new_not_after;
    int finished_interrupted; /* an interrupted rollover was finished; nothing new was made */
    int models_renewed;       /* common certificates issued under the new issuing CA */
    int models_failed;        /* models left with their earlier common certificate */
};

/* Rolls the issuing CA of ca_dir over to a new one of at most days days, signed by the root
 * (whose key is decrypted with passphrase, used, and wiped; or, with keys->root_uri, used in its
 * token). With keys->issuing_uri the new issuing key is made in that token (same label, its own
 * CKA_ID; ca_token.h), no issuing.key.enc is written, and the old key stays in the token.
 * Returns a cl_err code; err says why (never with key material). */
int ca_rollover(const char *ca_dir, const char *organisation, const char *passphrase,
                const struct ca_key_place *keys, int days, struct ca_rollover_result *result,
                char *err, size_t errlen);

#endif
