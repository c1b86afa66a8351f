/* authority.h: the CA's files -- the only part of ca-server that touches private keys. A CA
 * folder (ca_dir) holds:
 *   root.crt, issuing.crt, chain.crt (issuing then root)      certificates, PEM
 *   root.key.enc, issuing.key.enc                              keys, passphrase-encrypted
 *                                          (absent for a key in a PKCS#11 token: ca_token.h)
 *   models/<code>/prewrite.enc, peculiar.enc, common-key.enc   a model's secrets, encrypted
 *   models/<code>/prewrite-<key id>.enc                        its later pre-write keys
 *   models/<code>/common.crt                                   the model's common certificate
 *   models/<code>/common.chain.crt                             the chain of the CA that issued it
 *   retired/                                                   issuing CAs rolled over (rollover.h)
 * (keyfile.h describes the encryption). Nothing here writes or logs a key in clear, except the
 * firmware bundle, which exists to be put into a device image.
 *
 * Firmware bundle (one JSON file, mode 0600): {"version": 1, "model": code, "key_type": ...,
 * "key_id": ..., "prewrite_key": base64 (32 bytes), "peculiar_generator": base64 (32 bytes),
 * "root_pem": ..., "chain_pem": ..., "common_certificate_pem": ..., "common_key_pem": ...}.
 * Version 2 adds "next_prewrite_keys": [{"key_id", "prewrite_key"}...], the keys scheduled after
 * key_id (model-rotate --from), so that devices built now open packs issued after them. */
#ifndef CERTLINE_CA_AUTHORITY_H
#define CERTLINE_CA_AUTHORITY_H

#include <stddef.h>
#include <time.h>

#include "ca_token.h"
#include "pack.h"
#include "x509_issue.h"

struct ca_authority;

/* Creates a new CA in ca_dir (made if missing): root and issuing certificates and their keys
 * encrypted under passphrase, or, for a key keys names a token URI for (keys NULL: none), made
 * in that token (ca_token.h). Refuses (CL_ERR_EXISTS) if ca_dir already holds a CA or a token
 * already holds a key of that label. */
int ca_authority_create(const char *ca_dir, const char *organisation, const char *passphrase,
                        const struct ca_key_place *keys, char *err, size_t errlen);

/* Loads the CA of ca_dir: certificates, and the issuing key decrypted into a signer, or, with
 * keys->issuing_uri, the issuing key in its token (keys->sessions sessions, shared by the
 * signing threads). The root key is never loaded (only init and rollover need it). Keeps the
 * passphrase (zeroised at free) to open model secrets when first needed, until
 * ca_authority_forget_passphrase. */
int ca_authority_open(const char *ca_dir, const char *organisation, const char *passphrase,
                      const struct ca_key_place *keys, struct ca_authority **out, char *err,
                      size_t errlen);
void ca_authority_free(struct ca_authority *authority);
/* For a long-running process, once the pre-write keys there are now are cached
 * (ca_authority_prewrite_key): wipes the passphrase. A secret needed later (a key added since) is
 * opened with the passphrase read again from passphrase_file and wiped right after; with
 * passphrase_file NULL or "" (the passphrase came from the environment) it is refused with a
 * message saying so. */
void ca_authority_forget_passphrase(struct ca_authority *authority, const char *passphrase_file);

struct cl_signer *ca_authority_signer(struct ca_authority *authority);
const char *ca_authority_root_pem(const struct ca_authority *authority);
const char *ca_authority_chain_pem(const struct ca_authority *authority); /* issuing, root */
const char *ca_authority_issuing_pem(const struct ca_authority *authority);
/* The notAfter of the issuing CA in use. */
time_t ca_authority_issuing_not_after(const struct ca_authority *authority);

/* Creates a device model's secrets (pre-write key, peculiar-key generator, common certificate
 * and key) under models/<code>/, refusing an existing one. */
int ca_authority_model_create(struct ca_authority *authority, const char *code, char *err,
                              size_t errlen);

/* One of a model's pre-write keys [seed 004, effect 3] (decrypted once, then cached by key id;
 * thread-safe). first: the model's first key (models/<code>/prewrite.enc); a later one is
 * models/<code>/prewrite-<key id>.enc, its label naming the key id. */
int ca_authority_prewrite_key(struct ca_authority *authority, const char *code, const char *key_id,
                              int first, unsigned char key[CL_PREWRITE_KEY_BYTES], char *err,
                              size_t errlen);

/* Where a model's pre-write key is kept (relative to ca_dir) and the label that binds it: the first
 * key in models/<code>/prewrite.<suffix> ("prewrite:<code>"), every later one in
 * models/<code>/prewrite-<key id>.<suffix> ("prewrite:<code>:<key id>"); suffix "enc" for the
 * passphrase files, "wrapped" for the copies wrapped under a token key (prewrite_token.h). */
int ca_prewrite_place(const char *code, const char *key_id, int first, const char *suffix,
                      char *relative, size_t rlen, char *label, size_t llen);

/* A new random pre-write key of model code (model-rotate), refusing an existing file. */
int ca_authority_prewrite_create(struct ca_authority *authority, const char *code,
                                 const char *key_id, char *err, size_t errlen);

/* The pre-write keys a bundle carries: [0] the model's current key, then those scheduled after
 * it (at most CA_BUNDLE_KEYS_MAX in all). */
#define CA_BUNDLE_KEYS_MAX 8
struct ca_bundle_key {
    const char *key_id;
    int first;
    const unsigned char *value; /* the key (32 bytes) when the caller has it; NULL: its file */
};

/* The firmware bundle of a model (malloc'd JSON; holds secrets: the caller zeroises and frees it
 * with cl_secret_free): version 1 with one key, version 2 with next_prewrite_keys when more. */
int ca_authority_model_bundle(struct ca_authority *authority, const char *code,
                              const char *key_type, const struct ca_bundle_key *keys,
                              size_t key_count, char **json, size_t *json_len, char *err,
                              size_t errlen);

#endif
