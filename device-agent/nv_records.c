/* nv_records.c: checks of caller input and the codec of each area body of the images; no I/O. */
#include "nv_image_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* --- Validation of what callers hand in ---------------------------------------------------- */

/* s (in an array of size bytes) is terminated and min..size-1 printable ASCII characters. */
static int text_ok(const char *s, size_t size, size_t min)
{
    size_t n;
    if (s == NULL)
        return 0;
    n = strnlen(s, size);
    if (n >= size || n < min)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!nvi_printable((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Length of a PEM string (NULL counts as empty), or SIZE_MAX if longer than NV_PEM_MAX. */
static size_t pem_len(const char *s)
{
    size_t n;
    if (s == NULL)
        return 0;
    n = strnlen(s, NV_PEM_MAX + 1);
    return n > NV_PEM_MAX ? SIZE_MAX : n;
}

static int pem_ok(const char *s, size_t min)
{
    size_t n = pem_len(s);
    return n != SIZE_MAX && n >= min;
}

static int sealed_ok(const unsigned char *key, size_t len)
{
    return key != NULL && len >= 1 && len <= NV_SEALED_MAX;
}

int nvi_certificate_ok(const struct nv_certificate *c, char *why, size_t whylen)
{
    if (!text_ok(c->device_number, sizeof(c->device_number), 1))
        cl_err_set(why, whylen, "device number missing, too long or not printable");
    else if (!text_ok(c->model_code, sizeof(c->model_code), 0))
        cl_err_set(why, whylen, "model code too long or not printable");
    else if (!text_ok(c->serial_hex, sizeof(c->serial_hex), 0))
        cl_err_set(why, whylen, "serial too long or not printable");
    else if (!text_ok(c->key_type, sizeof(c->key_type), 0))
        cl_err_set(why, whylen, "key type too long or not printable");
    else if (!text_ok(c->device_value, sizeof(c->device_value), 0))
        cl_err_set(why, whylen, "device value too long or not printable");
    else if (!pem_ok(c->certificate_pem, 1))
        cl_err_set(why, whylen, "certificate missing or longer than %d bytes", NV_PEM_MAX);
    else if (!pem_ok(c->chain_pem, 0))
        cl_err_set(why, whylen, "chain longer than %d bytes", NV_PEM_MAX);
    else if (!sealed_ok(c->sealed_key, c->sealed_key_len))
        cl_err_set(why, whylen, "sealed key missing or longer than %d bytes", NV_SEALED_MAX);
    else
        return 1;
    return 0;
}

static int next_keys_ok(const struct nv_firmware *f)
{
    if (f->next_key_count > NV_NEXT_KEYS_MAX)
        return 0;
    for (size_t i = 0; i < f->next_key_count; i++)
        if (!text_ok(f->next_keys[i].key_id, sizeof(f->next_keys[i].key_id), 1))
            return 0;
    return 1;
}

int nvi_board_ok(const struct nv_board *b, char *why, size_t whylen)
{
    const struct nv_firmware *f = b->firmware;
    const struct nv_fixed *x = b->fixed;
    const struct nv_common *c = b->common;

    if (f == NULL || x == NULL || c == NULL)
        cl_err_set(why, whylen, "firmware, fixed parameters and common certificate are required");
    else if (!text_ok(f->model_code, sizeof(f->model_code), 1))
        cl_err_set(why, whylen, "firmware model code missing, too long or not printable");
    else if (!text_ok(f->key_type, sizeof(f->key_type), 1))
        cl_err_set(why, whylen, "firmware key type missing, too long or not printable");
    else if (!text_ok(f->key_id, sizeof(f->key_id), 1))
        cl_err_set(why, whylen, "firmware key id missing, too long or not printable");
    else if (!next_keys_ok(f))
        cl_err_set(why, whylen,
                   "firmware next pre-write keys: more than %d, or an id missing, "
                   "too long or not printable",
                   NV_NEXT_KEYS_MAX);
    else if (!pem_ok(f->root_pem, 1))
        cl_err_set(why, whylen, "firmware root missing or longer than %d bytes", NV_PEM_MAX);
    else if (!pem_ok(f->chain_pem, 0))
        cl_err_set(why, whylen, "firmware chain longer than %d bytes", NV_PEM_MAX);
    else if (!text_ok(x->model_code, sizeof(x->model_code), 1))
        cl_err_set(why, whylen, "fixed model code missing, too long or not printable");
    else if (!pem_ok(c->certificate_pem, 1))
        cl_err_set(why, whylen, "common certificate missing or longer than %d bytes", NV_PEM_MAX);
    else if (!sealed_ok(c->sealed_key, c->sealed_key_len))
        cl_err_set(why, whylen, "common sealed key missing or longer than %d bytes", NV_SEALED_MAX);
    else if (b->device_number == NULL || !text_ok(b->device_number, NV_DEVICE_NUMBER_MAX + 1, 1))
        cl_err_set(why, whylen, "device number missing, longer than %d or not printable",
                   NV_DEVICE_NUMBER_MAX);
    else
        return 1;
    return 0;
}

/* --- Area bodies ----------------------------------------------------------------------------- */

/* Each encode_* returns a new buffer of exactly *len bytes (NULL if out of memory). */
unsigned char *nvi_encode_program(const struct nv_firmware *f, size_t *len)
{
    size_t root = pem_len(f->root_pem), chain = pem_len(f->chain_pem);
    size_t next = f->next_key_count;
    struct wr w = {NULL,
                   PROGRAM_FIXED_LEN + root + chain +
                       (next > 0 ? 4 + next * (TEXT_LEN(NV_KEY_ID_MAX) + NV_SECRET_BYTES) : 0),
                   0};

    w.p = malloc(w.cap);
    if (w.p == NULL)
        return NULL;
    nvi_wr_text(&w, f->model_code, NV_MODEL_CODE_MAX);
    nvi_wr_text(&w, f->key_type, KEY_TYPE_MAX);
    nvi_wr_text(&w, f->key_id, NV_KEY_ID_MAX);
    nvi_wr_bytes(&w, f->prewrite_key, NV_SECRET_BYTES);
    nvi_wr_bytes(&w, f->peculiar_generator, NV_SECRET_BYTES);
    nvi_wr_u32(&w, (uint32_t)root);
    nvi_wr_u32(&w, (uint32_t)chain);
    nvi_wr_bytes(&w, f->root_pem, root);
    nvi_wr_bytes(&w, f->chain_pem, chain);
    if (next > 0) { /* the optional tail: the next pre-write keys */
        nvi_wr_u32(&w, (uint32_t)next);
        for (size_t i = 0; i < next; i++) {
            nvi_wr_text(&w, f->next_keys[i].key_id, NV_KEY_ID_MAX);
            nvi_wr_bytes(&w, f->next_keys[i].key, NV_SECRET_BYTES);
        }
    }
    *len = w.pos;
    return w.p;
}

int nvi_decode_program(struct rd *r, struct nv_firmware *f)
{
    uint32_t root, chain;
    const unsigned char *b;
    int rc;

    if ((rc = nvi_rd_text(r, f->model_code, NV_MODEL_CODE_MAX, 1, "model code")) != CL_OK ||
        (rc = nvi_rd_text(r, f->key_type, KEY_TYPE_MAX, 1, "key type")) != CL_OK ||
        (rc = nvi_rd_text(r, f->key_id, NV_KEY_ID_MAX, 1, "key id")) != CL_OK)
        return rc;
    if ((rc = nvi_rd_take(r, NV_SECRET_BYTES, &b, "pre-write key")) != CL_OK)
        return rc;
    memcpy(f->prewrite_key, b, NV_SECRET_BYTES);
    if ((rc = nvi_rd_take(r, NV_SECRET_BYTES, &b, "peculiar-key generator")) != CL_OK)
        return rc;
    memcpy(f->peculiar_generator, b, NV_SECRET_BYTES);
    if ((rc = nvi_rd_len(r, &root, 1, NV_PEM_MAX, "root PEM")) != CL_OK ||
        (rc = nvi_rd_len(r, &chain, 0, NV_PEM_MAX, "chain PEM")) != CL_OK ||
        (rc = nvi_rd_string(r, root, &f->root_pem, "root PEM")) != CL_OK ||
        (rc = nvi_rd_string(r, chain, &f->chain_pem, "chain PEM")) != CL_OK)
        return rc;
    if (r->pos < r->len) { /* the optional tail: the next pre-write keys */
        uint32_t next;
        if ((rc = nvi_rd_len(r, &next, 1, NV_NEXT_KEYS_MAX, "next pre-write key count")) != CL_OK)
            return rc;
        for (uint32_t i = 0; i < next; i++) {
            if ((rc = nvi_rd_text(r, f->next_keys[i].key_id, NV_KEY_ID_MAX, 1,
                                  "next pre-write key id")) != CL_OK ||
                (rc = nvi_rd_take(r, NV_SECRET_BYTES, &b, "next pre-write key")) != CL_OK)
                return rc;
            memcpy(f->next_keys[i].key, b, NV_SECRET_BYTES);
        }
        f->next_key_count = next;
    }
    return nvi_rd_end(r);
}

void nvi_firmware_free(struct nv_firmware *f)
{
    explicit_bzero(f->prewrite_key, sizeof(f->prewrite_key));
    explicit_bzero(f->peculiar_generator, sizeof(f->peculiar_generator));
    explicit_bzero(f->next_keys, sizeof(f->next_keys));
    f->next_key_count = 0;
    free(f->root_pem);
    free(f->chain_pem);
    f->root_pem = NULL;
    f->chain_pem = NULL;
}

unsigned char *nvi_encode_fixed(const struct nv_fixed *x, size_t *len)
{
    struct wr w = {NULL, FIXED_BODY_LEN, 0};

    w.p = malloc(w.cap);
    if (w.p == NULL)
        return NULL;
    nvi_wr_bytes(&w, x->mac, NV_MAC_BYTES);
    nvi_wr_text(&w, x->model_code, NV_MODEL_CODE_MAX);
    nvi_wr_u64(&w, (uint64_t)x->board_made_at);
    *len = w.pos;
    return w.p;
}

int nvi_decode_fixed(struct rd *r, struct nv_fixed *x)
{
    const unsigned char *b;
    int rc;

    if ((rc = nvi_rd_take(r, NV_MAC_BYTES, &b, "MAC address")) != CL_OK)
        return rc;
    memcpy(x->mac, b, NV_MAC_BYTES);
    if ((rc = nvi_rd_text(r, x->model_code, NV_MODEL_CODE_MAX, 1, "model code")) != CL_OK ||
        (rc = nvi_rd_i64(r, &x->board_made_at, "board date")) != CL_OK)
        return rc;
    return nvi_rd_end(r);
}

unsigned char *nvi_encode_common(const struct nv_common *c, size_t *len)
{
    size_t cert = pem_len(c->certificate_pem);
    struct wr w = {NULL, COMMON_FIXED_LEN + cert + c->sealed_key_len, 0};

    w.p = malloc(w.cap);
    if (w.p == NULL)
        return NULL;
    nvi_wr_u32(&w, (uint32_t)cert);
    nvi_wr_u32(&w, (uint32_t)c->sealed_key_len);
    nvi_wr_bytes(&w, c->certificate_pem, cert);
    nvi_wr_bytes(&w, c->sealed_key, c->sealed_key_len);
    *len = w.pos;
    return w.p;
}

int nvi_decode_common(struct rd *r, struct nv_common *c)
{
    uint32_t cert, sealed;
    int rc;

    if ((rc = nvi_rd_len(r, &cert, 1, NV_PEM_MAX, "common certificate PEM")) != CL_OK ||
        (rc = nvi_rd_len(r, &sealed, 1, NV_SEALED_MAX, "common sealed key")) != CL_OK ||
        (rc = nvi_rd_string(r, cert, &c->certificate_pem, "common certificate PEM")) != CL_OK ||
        (rc = nvi_rd_blob(r, sealed, &c->sealed_key, "common sealed key")) != CL_OK)
        return rc;
    c->sealed_key_len = sealed;
    return nvi_rd_end(r);
}

void nvi_common_free(struct nv_common *c)
{
    free(c->certificate_pem);
    if (c->sealed_key != NULL)
        explicit_bzero(c->sealed_key, c->sealed_key_len);
    free(c->sealed_key);
    memset(c, 0, sizeof(*c));
}

unsigned char *nvi_encode_slot(const struct nv_certificate *c, uint64_t sequence,
                               int64_t written_at, size_t *len)
{
    size_t cert = pem_len(c->certificate_pem), chain = pem_len(c->chain_pem);
    struct wr w = {NULL, SLOT_FIXED_LEN + cert + chain + c->sealed_key_len, 0};

    w.p = malloc(w.cap);
    if (w.p == NULL)
        return NULL;
    nvi_wr_u64(&w, sequence);
    nvi_wr_text(&w, c->device_number, NV_DEVICE_NUMBER_MAX);
    nvi_wr_text(&w, c->model_code, NV_MODEL_CODE_MAX);
    nvi_wr_text(&w, c->serial_hex, NV_SERIAL_HEX_MAX);
    nvi_wr_text(&w, c->key_type, KEY_TYPE_MAX);
    nvi_wr_text(&w, c->device_value, NV_VERIFY_HEX);
    nvi_wr_u64(&w, (uint64_t)written_at);
    nvi_wr_u32(&w, (uint32_t)cert);
    nvi_wr_u32(&w, (uint32_t)chain);
    nvi_wr_u32(&w, (uint32_t)c->sealed_key_len);
    nvi_wr_bytes(&w, c->certificate_pem, cert);
    nvi_wr_bytes(&w, c->chain_pem, chain);
    nvi_wr_bytes(&w, c->sealed_key, c->sealed_key_len);
    *len = w.pos;
    return w.p;
}

/* Reads a record's own sequence, which must equal its header's: an old header over a new record
 * (an interrupted write) never passes. */
static int rd_sequence(struct rd *r, uint64_t header_sequence, uint64_t *sequence)
{
    int rc = nvi_rd_u64(r, sequence, "sequence");

    if (rc == CL_OK && *sequence != header_sequence) {
        cl_err_set(r->why, r->whylen,
                   "record sequence %" PRIu64 " differs from header sequence %" PRIu64
                   " (interrupted write)",
                   *sequence, header_sequence);
        rc = CL_ERR_PARSE;
    }
    return rc;
}

int nvi_decode_slot(struct rd *r, uint64_t header_sequence, struct nv_certificate *c)
{
    uint32_t cert, chain, sealed;
    int rc;

    if ((rc = rd_sequence(r, header_sequence, &c->sequence)) != CL_OK)
        return rc;
    if ((rc = nvi_rd_text(r, c->device_number, NV_DEVICE_NUMBER_MAX, 1, "device number")) !=
            CL_OK ||
        (rc = nvi_rd_text(r, c->model_code, NV_MODEL_CODE_MAX, 0, "model code")) != CL_OK ||
        (rc = nvi_rd_text(r, c->serial_hex, NV_SERIAL_HEX_MAX, 0, "serial")) != CL_OK ||
        (rc = nvi_rd_text(r, c->key_type, KEY_TYPE_MAX, 0, "key type")) != CL_OK ||
        (rc = nvi_rd_text(r, c->device_value, NV_VERIFY_HEX, 0, "device value")) != CL_OK ||
        (rc = nvi_rd_i64(r, &c->written_at, "write time")) != CL_OK ||
        (rc = nvi_rd_len(r, &cert, 1, NV_PEM_MAX, "certificate PEM")) != CL_OK ||
        (rc = nvi_rd_len(r, &chain, 0, NV_PEM_MAX, "chain PEM")) != CL_OK ||
        (rc = nvi_rd_len(r, &sealed, 1, NV_SEALED_MAX, "sealed key")) != CL_OK ||
        (rc = nvi_rd_string(r, cert, &c->certificate_pem, "certificate PEM")) != CL_OK ||
        (rc = nvi_rd_string(r, chain, &c->chain_pem, "chain PEM")) != CL_OK ||
        (rc = nvi_rd_blob(r, sealed, &c->sealed_key, "sealed key")) != CL_OK)
        return rc;
    c->sealed_key_len = sealed;
    return nvi_rd_end(r);
}

unsigned char *nvi_encode_bank(const struct nv_nvram *n, size_t *len)
{
    size_t cert = pem_len(n->common_certificate_pem);
    struct wr w = {NULL, BANK_FIXED_LEN + cert, 0};

    w.p = malloc(w.cap);
    if (w.p == NULL)
        return NULL;
    nvi_wr_u64(&w, n->sequence);
    nvi_wr_text(&w, n->device_number, NV_DEVICE_NUMBER_MAX);
    nvi_wr_u32(&w, n->initial_operational_value);
    nvi_wr_u32(&w, n->initial_apl_value);
    nvi_wr_u32(&w, n->counters.certificate_writes);
    nvi_wr_u32(&w, n->counters.failed_writes);
    nvi_wr_u64(&w, (uint64_t)n->counters.last_write_at);
    nvi_wr_u32(&w, (uint32_t)cert);
    nvi_wr_bytes(&w, n->common_certificate_pem, cert);
    *len = w.pos;
    return w.p;
}

int nvi_decode_bank(struct rd *r, uint64_t header_sequence, struct nv_nvram *n)
{
    uint32_t cert;
    int rc;

    if ((rc = rd_sequence(r, header_sequence, &n->sequence)) != CL_OK)
        return rc;
    if ((rc = nvi_rd_text(r, n->device_number, NV_DEVICE_NUMBER_MAX, 1, "device number")) !=
            CL_OK ||
        (rc = nvi_rd_u32(r, &n->initial_operational_value, "initial operational value")) != CL_OK ||
        (rc = nvi_rd_u32(r, &n->initial_apl_value, "initial APL value")) != CL_OK ||
        (rc = nvi_rd_u32(r, &n->counters.certificate_writes, "write counter")) != CL_OK ||
        (rc = nvi_rd_u32(r, &n->counters.failed_writes, "failure counter")) != CL_OK ||
        (rc = nvi_rd_i64(r, &n->counters.last_write_at, "last write time")) != CL_OK ||
        (rc = nvi_rd_len(r, &cert, 1, NV_PEM_MAX, "common certificate PEM")) != CL_OK ||
        (rc = nvi_rd_string(r, cert, &n->common_certificate_pem, "common certificate PEM")) !=
            CL_OK)
        return rc;
    return nvi_rd_end(r);
}

void nvi_nvram_free(struct nv_nvram *n)
{
    free(n->common_certificate_pem);
    memset(n, 0, sizeof(*n));
}
