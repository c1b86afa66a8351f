/* test_ca_store.c: ca-server's PostgreSQL store against a real private cluster: migrations,
 * device models, FIG 21 batches (idempotency by request id, one valid certificate per device
 * number, replacement), installation proofs, states, revocation, audit, and two connections
 * racing for the same device numbers. The group setup starts the cluster, the teardown stops and
 * removes it; each test works in a database of its own. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "error.h"
#include "pg_fixture.h"
#include "store.h"

/* ---- helpers ---- */

/* A fresh database, migrated; its conninfo in conninfo (if not NULL). */
static struct ca_store *fresh_store(const char *db, char *conninfo, size_t len)
{
    char info[256], err[512];
    struct ca_store *store = NULL;
    int applied = -1;

    pg_fixture_create_db(db, info, sizeof(info), conninfo, len);
    if (ca_store_open(info, &store, err, sizeof(err)) != CL_OK)
        fail_msg("ca_store_open: %s", err);
    if (ca_store_migrate(store, &applied, err, sizeof(err)) != CL_OK)
        fail_msg("ca_store_migrate: %s", err);
    assert_int_equal(applied, 2);
    return store;
}

static void add_model(struct ca_store *store, const char *code, const char *key_type, int managed)
{
    struct ca_model model = {.certificate_managed = managed};
    snprintf(model.code, sizeof(model.code), "%s", code);
    snprintf(model.key_type, sizeof(model.key_type), "%s", key_type);
    snprintf(model.key_id, sizeof(model.key_id), "prewrite-%s", code);
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_OK);
}

/* n device numbers "<model>-<first..>" (six digits); free with free_numbers. */
static char **make_numbers(const char *model, unsigned first, size_t n)
{
    char **numbers = calloc(n, sizeof(*numbers));
    assert_non_null(numbers);
    for (size_t i = 0; i < n; i++) {
        numbers[i] = malloc(CA_DEVICE_NUMBER_MAX + 1);
        assert_non_null(numbers[i]);
        snprintf(numbers[i], CA_DEVICE_NUMBER_MAX + 1, "%s-%06u", model, first + (unsigned)i);
    }
    return numbers;
}

#define CONST_LIST(numbers) ((const char *const *)(numbers))

static void free_numbers(char **numbers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(numbers[i]);
    free(numbers);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void body_hash(unsigned seed, unsigned char hash[32])
{
    for (int i = 0; i < 32; i++)
        hash[i] = (unsigned char)(seed * 131u + (unsigned)i * 7u);
}

/* The installation proof the test "signer" expects for a device number. */
static void fake_value(const char *number, char value[CA_VERIFY_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t len = strlen(number);
    for (size_t i = 0; i < CA_VERIFY_HEX; i++)
        value[i] = hex[((unsigned char)number[i % len] * 7u + i) % 16];
    value[CA_VERIFY_HEX] = '\0';
}

static void fake_pack(const char *number, const char *serial, char *pack, size_t len)
{
    snprintf(pack, len, "{\"device\": \"%.32s\",\n \"serial\": \"%.40s\"}", number, serial);
}

/* Begins a batch and expects state. */
static void begin(struct ca_store *store, const char *id, unsigned seed, int replacement,
                  const char *const *numbers, size_t n, struct ca_batch_item *items,
                  enum ca_batch_state expected)
{
    unsigned char hash[32];
    enum ca_batch_state state;
    char err[512];
    body_hash(seed, hash);
    int rc = ca_store_batch_begin(store, id, hash, replacement, "comm-terminal-1", numbers, n,
                                  items, &state, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("batch_begin %s: %s: %s", id, cl_err_name(rc), err);
    assert_int_equal(state, expected);
}

/* Begins a batch that must be refused with code; err gets why. */
static void begin_refused(struct ca_store *store, const char *id, unsigned seed, int replacement,
                          const char *const *numbers, size_t n, int code, char *err, size_t errlen)
{
    unsigned char hash[32];
    enum ca_batch_state state;
    struct ca_batch_item *items = calloc(n > 0 ? n : 1, sizeof(*items));
    assert_non_null(items);
    body_hash(seed, hash);
    int rc = ca_store_batch_begin(store, id, hash, replacement, "comm-terminal-1", numbers, n,
                                  items, &state, err, errlen);
    if (rc != code)
        fail_msg("batch_begin %s: %s (expected %s): %s", id, cl_err_name(rc), cl_err_name(code),
                 err);
    for (size_t i = 0; i < n; i++)
        assert_null(items[i].pack);
    free(items);
}

/* "Signs" every item of a batch and completes it. */
static void complete(struct ca_store *store, const char *id, const struct ca_batch_item *items,
                     size_t n)
{
    struct ca_issued_item *issued = calloc(n, sizeof(*issued));
    char(*packs)[128] = calloc(n, sizeof(*packs));
    char(*values)[CA_VERIFY_HEX + 1] = calloc(n, sizeof(*values));
    char err[512];
    assert_true(issued != NULL && packs != NULL && values != NULL);
    for (size_t i = 0; i < n; i++) {
        fake_pack(items[i].device_number, items[i].serial_hex, packs[i], sizeof(packs[i]));
        fake_value(items[i].device_number, values[i]);
        issued[i] = (struct ca_issued_item){
            .serial_hex = items[i].serial_hex,
            .cert_der = (const unsigned char *)items[i].serial_hex,
            .cert_len = strlen(items[i].serial_hex),
            .pack = packs[i],
            .server_value = values[i],
        };
    }
    int rc = ca_store_batch_complete(store, id, issued, n, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("batch_complete %s: %s: %s", id, cl_err_name(rc), err);
    free(issued);
    free(packs);
    free(values);
}

static size_t count_certs(struct ca_store *store, const char *number, const char *state)
{
    struct ca_cert_row *rows = NULL;
    size_t count = 0;
    assert_int_equal(ca_store_cert_list(store, number, NULL, state, 1000000, &rows, &count), CL_OK);
    free(rows);
    return count;
}

static enum ca_cert_state state_of(struct ca_store *store, const char *number, const char *serial)
{
    struct ca_cert_row row;
    assert_int_equal(ca_store_cert_state(store, number, serial, &row), CL_OK);
    return row.state;
}

/* Runs sql (no parameters) and returns its SQLSTATE ("" on success); the first value, if any,
 * goes to value. */
static void sql(PGconn *conn, const char *statement, char *sqlstate, char *value, size_t len)
{
    PGresult *res = PQexec(conn, statement);
    ExecStatusType status = PQresultStatus(res);
    const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(sqlstate, 6, "%s",
             status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ? ""
             : code                                                  ? code
                                                                     : "?????");
    if (value != NULL) {
        value[0] = '\0';
        if (status == PGRES_TUPLES_OK && PQntuples(res) > 0)
            snprintf(value, len, "%s", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
}

/* ---- tests ---- */

static void test_migrate_twice(void **state)
{
    char conninfo[256], err[512], bad[512];
    struct ca_store *store = fresh_store("migrate_twice", conninfo, sizeof(conninfo));
    struct ca_store *other = NULL;
    int applied = -1;
    (void)state;

    assert_int_equal(ca_store_migrate(store, &applied, err, sizeof(err)), CL_OK);
    assert_int_equal(applied, 0);
    /* A second connection (another ca-server) finds nothing to do either. */
    assert_int_equal(ca_store_open(conninfo, &other, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_migrate(other, &applied, err, sizeof(err)), CL_OK);
    assert_int_equal(applied, 0);
    ca_store_close(other);
    ca_store_close(store);

    /* The password never shows in an error: a failed connection, a malformed conninfo. */
    snprintf(bad, sizeof(bad), "host=/nonexistent-certline port=1 password=Hunter2Secret");
    assert_int_equal(ca_store_open(bad, &other, err, sizeof(err)), CL_ERR_DB);
    assert_null(other);
    assert_null(strstr(err, "Hunter2Secret"));
    assert_int_equal(ca_store_open("password=Hunter2Secret junk", &other, err, sizeof(err)),
                     CL_ERR_CONFIG);
    assert_null(strstr(err, "Hunter2Secret"));
    assert_int_equal(ca_store_open("postgresql://u:Hunter2Secret@/db?host=/nonexistent-certline",
                                   &other, err, sizeof(err)),
                     CL_ERR_DB);
    assert_null(strstr(err, "Hunter2Secret"));
    ca_store_close(NULL);
}

static void test_models(void **state)
{
    struct ca_store *store = fresh_store("models", NULL, 0);
    struct ca_model model = {0}, *models = NULL;
    size_t count = 0;
    (void)state;

    add_model(store, "3012", "p256", 1);
    add_model(store, "3013", "rsa2048", 0);
    add_model(store, "0001", "rsa3072", 1);
    assert_int_equal(ca_store_model_get(store, "3012", &model), CL_OK);
    assert_string_equal(model.code, "3012");
    assert_string_equal(model.key_type, "p256");
    assert_int_equal(model.certificate_managed, 1);
    assert_string_equal(model.key_id, "prewrite-3012");
    assert_true(model.created_at > time(NULL) - 600 && model.created_at <= time(NULL) + 1);
    assert_int_equal(ca_store_model_get(store, "3013", &model), CL_OK);
    assert_int_equal(model.certificate_managed, 0);
    assert_int_equal(ca_store_model_get(store, "9999", &model), CL_ERR_NOT_FOUND);
    assert_int_equal(ca_store_model_get(store, "bad code", &model), CL_ERR_INVALID_ARGUMENT);

    assert_int_equal(ca_store_model_list(store, &models, &count), CL_OK);
    assert_int_equal(count, 3);
    assert_string_equal(models[0].code, "0001");
    assert_string_equal(models[1].code, "3012");
    assert_string_equal(models[2].code, "3013");
    assert_string_equal(models[0].key_type, "rsa3072");
    free(models);

    /* Duplicates: the code, or the key id of another model. */
    model = (struct ca_model){.code = "3012", .key_type = "p256", .key_id = "other-key"};
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_EXISTS);
    model = (struct ca_model){.code = "3014", .key_type = "p256", .key_id = "prewrite-3012"};
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_EXISTS);
    /* Malformed fields. */
    model = (struct ca_model){.code = "30-12", .key_type = "p256", .key_id = "k1"};
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_INVALID_ARGUMENT);
    model = (struct ca_model){.code = "", .key_type = "p256", .key_id = "k1"};
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_INVALID_ARGUMENT);
    memcpy(model.code, "123456789", sizeof(model.code)); /* fills it: no terminating NUL */
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_INVALID_ARGUMENT);
    model = (struct ca_model){.code = "3015", .key_type = "ed25519", .key_id = "k1"};
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_INVALID_ARGUMENT);
    model = (struct ca_model){.code = "3015", .key_type = "p256", .key_id = ""};
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_INVALID_ARGUMENT);
    model = (struct ca_model){.code = "3015", .key_type = "p256", .key_id = "k1"};
    assert_int_equal(ca_store_model_add(store, &model, ""), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_model_add(store, &model, NULL), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_model_list(store, &models, &count), CL_OK);
    assert_int_equal(count, 3);
    free(models);
    ca_store_close(store);
}

static void test_batch_500_idempotent(void **state)
{
    enum { N = 500 };
    struct ca_store *store = fresh_store("batch_500", NULL, 0);
    char **numbers = make_numbers("3012", 1, N), **serials = calloc(N, sizeof(char *)), err[512];
    struct ca_batch_item *items = calloc(N, sizeof(*items));
    struct ca_batch_item *again = calloc(N, sizeof(*again));
    unsigned char der[64] = {0x30};
    unsigned char *got = NULL;
    size_t len = 0;
    (void)state;

    assert_true(serials != NULL && items != NULL && again != NULL);
    add_model(store, "3012", "p256", 1);
    begin(store, "r-500", 1, 0, CONST_LIST(numbers), N, items, CA_BATCH_NEW);
    for (size_t i = 0; i < N; i++) {
        assert_string_equal(items[i].device_number, numbers[i]);
        assert_string_equal(items[i].model_code, "3012");
        assert_string_equal(items[i].key_type, "p256");
        assert_null(items[i].pack);
        size_t slen = strlen(items[i].serial_hex);
        assert_true(slen >= 2 && slen <= CA_SERIAL_HEX_MAX && slen % 2 == 0);
        assert_int_equal(strspn(items[i].serial_hex, "0123456789ABCDEF"), slen);
        serials[i] = items[i].serial_hex;
    }
    qsort(serials, N, sizeof(char *), compare_strings);
    for (size_t i = 1; i < N; i++)
        assert_string_not_equal(serials[i - 1], serials[i]);
    assert_int_equal(count_certs(store, NULL, "intent"), N);

    /* Same id and body before completion: PENDING, the same intents. */
    begin(store, "r-500", 1, 0, CONST_LIST(numbers), N, again, CA_BATCH_PENDING);
    for (size_t i = 0; i < N; i++) {
        assert_string_equal(again[i].device_number, numbers[i]);
        assert_string_equal(again[i].serial_hex, items[i].serial_hex);
        assert_null(again[i].pack);
    }
    assert_int_equal(count_certs(store, NULL, NULL), N);

    complete(store, "r-500", items, N);
    assert_int_equal(count_certs(store, NULL, "issued"), N);
    assert_int_equal(count_certs(store, NULL, "intent"), 0);

    /* Same id and body after completion: DONE with the stored packs in request order. */
    begin(store, "r-500", 1, 0, CONST_LIST(numbers), N, again, CA_BATCH_DONE);
    for (size_t i = 0; i < N; i++) {
        char pack[128];
        fake_pack(numbers[i], items[i].serial_hex, pack, sizeof(pack));
        assert_string_equal(again[i].device_number, numbers[i]);
        assert_string_equal(again[i].serial_hex, items[i].serial_hex);
        assert_string_equal(again[i].key_type, "p256");
        assert_non_null(again[i].pack);
        assert_string_equal(again[i].pack, pack);
    }
    ca_batch_items_free(again, N);
    assert_int_equal(count_certs(store, NULL, NULL), N);

    /* Completing twice (a second worker that signed the same pending request) is refused. */
    {
        struct ca_issued_item one = {items[0].serial_hex, der, 1, "pack",
                                     "00112233445566778899aabbccddeeff"
                                     "00112233445566778899aabbccddeeff"};
        assert_int_equal(ca_store_batch_complete(store, "r-500", &one, 1, err, sizeof(err)),
                         CL_ERR_CONFLICT);
        assert_contains(err, "r-500");
        assert_int_equal(ca_store_batch_complete(store, "r-unknown", &one, 1, err, sizeof(err)),
                         CL_ERR_NOT_FOUND);
    }

    /* Same id, another body: refused, whatever the numbers. */
    begin_refused(store, "r-500", 2, 0, (const char *const *)numbers, N, CL_ERR_CONFLICT, err,
                  sizeof(err));
    assert_string_equal(err, "request id r-500 was used with another body");
    begin_refused(store, "r-500", 1, 0, (const char *const *)numbers, N - 1, CL_ERR_CONFLICT, err,
                  sizeof(err));
    assert_contains(err, "was used with another body");

    /* The stored DER of one of them. */
    assert_int_equal(ca_store_cert_der(store, items[7].serial_hex, &got, &len), CL_OK);
    assert_int_equal(len, strlen(items[7].serial_hex));
    assert_memory_equal(got, items[7].serial_hex, len);
    free(got);
    assert_int_equal(ca_store_cert_der(store, "ABCD", &got, &len), CL_ERR_NOT_FOUND);

    free(serials);
    free(items);
    free(again);
    free_numbers(numbers, N);
    ca_store_close(store);
}

static void test_number_already_valid(void **state)
{
    struct ca_store *store = fresh_store("already_valid", NULL, 0);
    char **first = make_numbers("3012", 1, 2), err[512], expected[256];
    const char *second[] = {"3012-000003", "3012-000002", "3012-000004"};
    const char *other_body[] = {"3012-000003"};
    struct ca_batch_item items[2], one[1];
    struct ca_audit_row *audit = NULL;
    size_t audit_count = 0;
    (void)state;

    add_model(store, "3012", "p256", 1);
    begin(store, "r-1", 1, 0, CONST_LIST(first), 2, items, CA_BATCH_NEW);
    begin_refused(store, "r-2", 2, 0, second, 3, CL_ERR_CONFLICT, err, sizeof(err));
    snprintf(expected, sizeof(expected),
             "device number 3012-000002 already holds a valid certificate (serial %s)",
             items[1].serial_hex);
    assert_string_equal(err, expected);
    /* Nothing of r-2 was recorded: no rows, no audit entry, and its id is still free. */
    assert_int_equal(count_certs(store, NULL, NULL), 2);
    assert_int_equal(count_certs(store, "3012-000003", NULL), 0);
    assert_int_equal(ca_store_audit_list(store, 100, &audit, &audit_count), CL_OK);
    for (size_t i = 0; i < audit_count; i++)
        assert_null(strstr(audit[i].detail, "r-2"));
    free(audit);
    begin(store, "r-2", 3, 0, other_body, 1, one, CA_BATCH_NEW);

    /* Still refused once the first is issued and installed. */
    complete(store, "r-1", items, 2);
    begin_refused(store, "r-3", 4, 0, (const char *const *)first + 1, 1, CL_ERR_CONFLICT, err,
                  sizeof(err));
    assert_string_equal(err, expected);
    free_numbers(first, 2);
    ca_store_close(store);
}

static void test_replacement(void **state)
{
    char conninfo[256], err[512], sqlstate[6], value[128], query[256];
    struct ca_store *store = fresh_store("replacement", conninfo, sizeof(conninfo));
    char **numbers = make_numbers("3012", 1, 2);
    struct ca_batch_item old[2], fresh[2];
    struct ca_cert_row row;
    time_t received;
    char proof[CA_VERIFY_HEX + 1];
    PGconn *conn;
    (void)state;

    add_model(store, "3012", "p256", 1);
    begin(store, "r-1", 1, 0, CONST_LIST(numbers), 2, old, CA_BATCH_NEW);
    complete(store, "r-1", old, 2);
    fake_value(numbers[0], proof);
    assert_int_equal(ca_store_install(store, numbers[0], old[0].serial_hex, proof, 1000000,
                                      &received, err, sizeof(err)),
                     CL_OK);

    /* A batch never supersedes an installed certificate: refused, naming it; nothing recorded. */
    {
        struct ca_batch_item none[2];
        enum ca_batch_state st;
        unsigned char hash[32] = {9};
        assert_int_equal(ca_store_batch_begin(store, "r-2x", hash, 1, "test", CONST_LIST(numbers),
                                              2, none, &st, err, sizeof(err)),
                         CL_ERR_CONFLICT);
        assert_contains(err, numbers[0]);
        assert_contains(err, "holds an installed certificate");
        assert_int_equal(count_certs(store, numbers[0], NULL), 1);
        assert_int_equal(count_certs(store, numbers[1], NULL), 1);
    }

    /* Replacement of the issued one: the old one is superseded. */
    begin(store, "r-2", 2, 1, CONST_LIST(numbers) + 1, 1, fresh, CA_BATCH_NEW);
    assert_string_not_equal(fresh[0].serial_hex, old[1].serial_hex);
    assert_int_equal(ca_store_cert_state(store, numbers[1], old[1].serial_hex, &row), CL_OK);
    assert_int_equal(row.state, CA_CERT_SUPERSEDED);
    assert_true(row.ended_at > 0);
    assert_contains(row.reason, "r-2");
    assert_int_equal(state_of(store, numbers[1], fresh[0].serial_hex), CA_CERT_INTENT);
    assert_int_equal(count_certs(store, numbers[1], NULL), 2);
    assert_int_equal(count_certs(store, numbers[1], "superseded"), 1);
    assert_int_equal(state_of(store, numbers[0], old[0].serial_hex), CA_CERT_INSTALLED);
    conn = pg_fixture_connect(conninfo);
    snprintf(query, sizeof(query), "SELECT superseded_by FROM certificate WHERE serial = '%s'",
             old[1].serial_hex);
    sql(conn, query, sqlstate, value, sizeof(value));
    assert_string_equal(sqlstate, "");
    assert_string_equal(value, fresh[0].serial_hex);
    PQfinish(conn);

    /* The superseded certificate can no longer be installed. */
    assert_int_equal(ca_store_install(store, numbers[1], old[1].serial_hex, proof, 1000000,
                                      &received, err, sizeof(err)),
                     CL_ERR_STATE);
    assert_contains(err, "superseded");
    /* A replacement for a number without a certificate is a plain issue. */
    {
        const char *lone[] = {"3012-000077"};
        struct ca_batch_item one[1];
        begin(store, "r-3", 3, 1, lone, 1, one, CA_BATCH_NEW);
    }
    free_numbers(numbers, 2);
    ca_store_close(store);
}

static void test_refusals(void **state)
{
    struct ca_store *store = fresh_store("refusals", NULL, 0);
    char err[512], long_id[80];
    const char *unknown[] = {"3012-000001", "9999-000001"};
    const char *unmanaged[] = {"3013-000001"};
    const char *duplicate[] = {"3012-000001", "3012-000002", "3012-000001"};
    const char *malformed[][1] = {
        {"3012_000001"},        {"abc-1"}, {"3012-"},         {"-000001"},   {"123456789-1"},
        {"3012-1234567890123"}, {""},      {"3012-000001\n"}, {"3012-00 01"}};
    struct ca_batch_item items[1];
    enum ca_batch_state bstate;
    unsigned char hash[32] = {0};
    (void)state;

    add_model(store, "3012", "p256", 1);
    add_model(store, "3013", "p256", 0);
    begin_refused(store, "r-1", 1, 0, unknown, 2, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    assert_string_equal(err, "device number 9999-000001: unknown device model 9999");
    begin_refused(store, "r-1", 1, 0, unmanaged, 1, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    assert_string_equal(err, "device number 3013-000001: device model 3013 is not "
                             "certificate-managed");
    begin_refused(store, "r-1", 1, 0, duplicate, 3, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    assert_string_equal(err, "device number 3012-000001 appears twice in request id r-1");
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        char shown[64];
        begin_refused(store, "r-1", 1, 0, malformed[i], 1, CL_ERR_INVALID_ARGUMENT, err,
                      sizeof(err));
        snprintf(shown, sizeof(shown), "device number \"%.11s", malformed[i][0]);
        shown[strcspn(shown, "\n")] = '\0';
        assert_contains(err, shown);
    }
    {
        const char *with_null[] = {"3012-000001", NULL};
        begin_refused(store, "r-1", 1, 0, with_null, 2, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    }
    /* Request id, requester, count. */
    memset(long_id, 'x', 65);
    long_id[65] = '\0';
    begin_refused(store, long_id, 1, 0, unmanaged, 1, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    assert_contains(err, "request id");
    begin_refused(store, "", 1, 0, unmanaged, 1, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    begin_refused(store, "r 1", 1, 0, unmanaged, 1, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    begin_refused(store, "r-1", 1, 0, unmanaged, 0, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    assert_contains(err, "r-1");
    assert_int_equal(ca_store_batch_begin(store, "r-1", hash, 0, "", unknown, 1, items, &bstate,
                                          err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "requester");
    memset(long_id, 'y', 70);
    long_id[70] = '\0';
    assert_int_equal(ca_store_batch_begin(store, "r-1", hash, 0, long_id, unknown, 1, items,
                                          &bstate, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_batch_begin(store, "r-1", hash, 0, "a\x01b", unknown, 1, items,
                                          &bstate, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    /* None of it left a trace. */
    assert_int_equal(count_certs(store, NULL, NULL), 0);
    begin(store, "r-1", 9, 0, unknown, 1, items, CA_BATCH_NEW);
    ca_store_close(store);
}

static void test_install(void **state)
{
    struct ca_store *store = fresh_store("install", NULL, 0);
    char **numbers = make_numbers("3012", 1, 2), **later = make_numbers("3012", 10, 1);
    struct ca_batch_item items[2], pending[1];
    char err[512], proof[CA_VERIFY_HEX + 1], upper[CA_VERIFY_HEX + 1], wrong[CA_VERIFY_HEX + 1];
    struct ca_cert_row row;
    time_t received = 0;
    (void)state;

    add_model(store, "3012", "p256", 1);
    begin(store, "r-1", 1, 0, CONST_LIST(numbers), 2, items, CA_BATCH_NEW);
    complete(store, "r-1", items, 2);
    fake_value(numbers[0], proof);

    /* The right value: installed at now, which is what the receipt says. */
    assert_int_equal(ca_store_install(store, numbers[0], items[0].serial_hex, proof, 1700000000,
                                      &received, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(received, 1700000000);
    assert_int_equal(ca_store_cert_state(store, numbers[0], items[0].serial_hex, &row), CL_OK);
    assert_int_equal(row.state, CA_CERT_INSTALLED);
    assert_int_equal(row.installed_at, 1700000000);
    /* Again, later and in upper case: the first time holds. */
    for (size_t i = 0; i <= CA_VERIFY_HEX; i++)
        upper[i] = (char)(proof[i] >= 'a' && proof[i] <= 'f' ? proof[i] - 'a' + 'A' : proof[i]);
    assert_int_equal(ca_store_install(store, numbers[0], items[0].serial_hex, upper, 1800000000,
                                      &received, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(received, 1700000000);

    /* A wrong value: refused, state unchanged (issued stays issued, installed stays so). */
    fake_value(numbers[1], wrong);
    assert_int_equal(ca_store_install(store, numbers[0], items[0].serial_hex, wrong, 1800000000,
                                      &received, err, sizeof(err)),
                     CL_ERR_CRYPTO);
    assert_int_equal(received, 0);
    assert_contains(err, numbers[0]);
    fake_value(numbers[0], wrong);
    wrong[10] = wrong[10] == '0' ? '1' : '0';
    assert_int_equal(ca_store_install(store, numbers[1], items[1].serial_hex, wrong, 1800000000,
                                      &received, err, sizeof(err)),
                     CL_ERR_CRYPTO);
    assert_int_equal(state_of(store, numbers[1], items[1].serial_hex), CA_CERT_ISSUED);
    assert_int_equal(ca_store_cert_state(store, numbers[0], items[0].serial_hex, &row), CL_OK);
    assert_int_equal(row.state, CA_CERT_INSTALLED);
    assert_int_equal(row.installed_at, 1700000000);

    /* Unknown pair, malformed input, not issued yet, revoked. */
    assert_int_equal(ca_store_install(store, numbers[1], items[0].serial_hex, proof, 1800000000,
                                      &received, err, sizeof(err)),
                     CL_ERR_NOT_FOUND);
    assert_int_equal(ca_store_install(store, numbers[0], items[0].serial_hex, "abc", 1800000000,
                                      &received, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        ca_store_install(store, "3012-1", "abc", proof, 1800000000, &received, err, sizeof(err)),
        CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "abc");
    begin(store, "r-2", 2, 0, CONST_LIST(later), 1, pending, CA_BATCH_NEW);
    fake_value(later[0], proof);
    assert_int_equal(ca_store_install(store, later[0], pending[0].serial_hex, proof, 1800000000,
                                      &received, err, sizeof(err)),
                     CL_ERR_STATE);
    assert_contains(err, "not issued yet");
    assert_int_equal(ca_store_revoke(store, items[1].serial_hex, "lost", "operator:test"), CL_OK);
    fake_value(numbers[1], proof);
    assert_int_equal(ca_store_install(store, numbers[1], items[1].serial_hex, proof, 1800000000,
                                      &received, err, sizeof(err)),
                     CL_ERR_STATE);
    assert_contains(err, "revoked");
    free_numbers(numbers, 2);
    free_numbers(later, 1);
    ca_store_close(store);
}

static void test_states_and_revoke(void **state)
{
    struct ca_store *store = fresh_store("states", NULL, 0);
    char **numbers = make_numbers("3012", 1, 4), **fresh = make_numbers("3012", 1, 1), err[512];
    struct ca_batch_item items[4], replaced[1], again[1];
    char proof[CA_VERIFY_HEX + 1];
    struct ca_cert_row row;
    time_t received;
    (void)state;

    add_model(store, "3012", "p256", 1);
    begin(store, "r-1", 1, 0, CONST_LIST(numbers), 4, items, CA_BATCH_NEW);
    assert_int_equal(state_of(store, numbers[0], items[0].serial_hex), CA_CERT_INTENT);
    complete(store, "r-1", items, 4);
    fake_value(numbers[1], proof);
    assert_int_equal(ca_store_install(store, numbers[1], items[1].serial_hex, proof, 1700000000,
                                      &received, err, sizeof(err)),
                     CL_OK);
    begin(store, "r-2", 2, 1, CONST_LIST(fresh), 1, replaced,
          CA_BATCH_NEW); /* supersedes items[0] */
    assert_int_equal(ca_store_revoke(store, items[3].serial_hex, "key compromise", "operator:test"),
                     CL_OK);

    assert_int_equal(state_of(store, numbers[0], replaced[0].serial_hex), CA_CERT_INTENT);
    assert_int_equal(state_of(store, numbers[0], items[0].serial_hex), CA_CERT_SUPERSEDED);
    assert_int_equal(state_of(store, numbers[1], items[1].serial_hex), CA_CERT_INSTALLED);
    assert_int_equal(state_of(store, numbers[2], items[2].serial_hex), CA_CERT_ISSUED);
    assert_int_equal(state_of(store, numbers[3], items[3].serial_hex), CA_CERT_REVOKED);
    assert_int_equal(state_of(store, numbers[3], "0BADC0DE"), CA_CERT_UNKNOWN);
    assert_int_equal(state_of(store, numbers[2], items[3].serial_hex), CA_CERT_UNKNOWN);
    assert_int_equal(state_of(store, "not a number", "xyz"), CA_CERT_UNKNOWN);

    assert_int_equal(ca_store_cert_state(store, numbers[2], items[2].serial_hex, &row), CL_OK);
    assert_string_equal(row.device_number, numbers[2]);
    assert_string_equal(row.model_code, "3012");
    assert_string_equal(row.request_id, "r-1");
    assert_true(row.created_at > 0 && row.issued_at >= row.created_at);
    assert_int_equal(row.installed_at, 0);
    assert_int_equal(row.ended_at, 0);
    assert_int_equal(ca_store_cert_state(store, numbers[3], items[3].serial_hex, &row), CL_OK);
    assert_string_equal(row.reason, "key compromise");
    assert_true(row.ended_at > 0);

    assert_string_equal(ca_cert_state_name(CA_CERT_INTENT), "intent");
    assert_string_equal(ca_cert_state_name(CA_CERT_ISSUED), "issued");
    assert_string_equal(ca_cert_state_name(CA_CERT_INSTALLED), "installed");
    assert_string_equal(ca_cert_state_name(CA_CERT_SUPERSEDED), "superseded");
    assert_string_equal(ca_cert_state_name(CA_CERT_REVOKED), "revoked");
    assert_string_equal(ca_cert_state_name(CA_CERT_UNKNOWN), "unknown");

    /* Revocation: only of a valid certificate; a revoked number can be issued again. */
    assert_int_equal(ca_store_revoke(store, items[3].serial_hex, "again", "operator:test"),
                     CL_ERR_STATE);
    assert_int_equal(ca_store_revoke(store, items[0].serial_hex, "x", "operator:test"),
                     CL_ERR_STATE);
    assert_int_equal(ca_store_revoke(store, "0BADC0DE", "x", "operator:test"), CL_ERR_NOT_FOUND);
    assert_int_equal(ca_store_revoke(store, "0bad", "x", "operator:test"), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_revoke(store, replaced[0].serial_hex, "intent revoked", "op"), CL_OK);
    {
        const char *n3[] = {numbers[3]};
        begin(store, "r-3", 3, 0, n3, 1, again, CA_BATCH_NEW);
    }
    /* A pending request whose intent was revoked meanwhile cannot be resumed. */
    begin_refused(store, "r-2", 2, 1, (const char *const *)fresh, 1, CL_ERR_STATE, err,
                  sizeof(err));
    assert_contains(err, numbers[0]);
    assert_contains(err, "revoked");

    /* Lists: filters and newest first. */
    {
        struct ca_cert_row *rows = NULL;
        size_t count = 0;
        assert_int_equal(ca_store_cert_list(store, NULL, NULL, NULL, 100, &rows, &count), CL_OK);
        assert_int_equal(count, 6);
        assert_string_equal(rows[0].serial_hex, again[0].serial_hex);
        assert_string_equal(rows[5].serial_hex, items[0].serial_hex);
        free(rows);
        assert_int_equal(ca_store_cert_list(store, NULL, "3012", "revoked", 100, &rows, &count),
                         CL_OK);
        assert_int_equal(count, 2);
        free(rows);
        assert_int_equal(ca_store_cert_list(store, NULL, NULL, NULL, 2, &rows, &count), CL_OK);
        assert_int_equal(count, 2);
        free(rows);
        assert_int_equal(ca_store_cert_list(store, NULL, NULL, "lost", 2, &rows, &count),
                         CL_ERR_INVALID_ARGUMENT);
        assert_int_equal(ca_store_cert_list(store, "3012 1", NULL, NULL, 2, &rows, &count),
                         CL_ERR_INVALID_ARGUMENT);
    }
    free_numbers(numbers, 4);
    free_numbers(fresh, 1);
    ca_store_close(store);
}

static void test_audit(void **state)
{
    struct ca_store *store = fresh_store("audit", NULL, 0);
    char **numbers = make_numbers("3012", 1, 3);
    struct ca_batch_item items[3];
    struct ca_audit_row *rows = NULL;
    size_t count = 0;
    char detail[600];
    (void)state;

    add_model(store, "3012", "p256", 1);
    begin(store, "r-1", 1, 0, CONST_LIST(numbers), 3, items, CA_BATCH_NEW);
    assert_int_equal(ca_store_revoke(store, items[0].serial_hex, "lost", "operator:alice"), CL_OK);
    assert_int_equal(
        ca_store_service_issued(store, "7F01", "comm-terminal", "ct-osaka", "", "operator:bob"),
        CL_OK);
    assert_int_equal(
        ca_store_service_issued(store, "7F01", "comm-terminal", "ct-osaka", "", "operator:bob"),
        CL_ERR_EXISTS);
    assert_int_equal(
        ca_store_service_issued(store, "7F02", "factory-terminal", "line-1", "L1", "operator:bob"),
        CL_OK);
    assert_int_equal(ca_store_audit(store, "operator:carol", "model-export", "device model 3012"),
                     CL_OK);

    assert_int_equal(ca_store_audit_list(store, 100, &rows, &count), CL_OK);
    assert_int_equal(count, 6);
    assert_string_equal(rows[5].action, "model-add");
    assert_string_equal(rows[0].action, "model-export");
    assert_string_equal(rows[0].actor, "operator:carol");
    assert_string_equal(rows[1].action, "service-issue");
    assert_contains(rows[1].detail, "line-1");
    assert_string_equal(rows[2].action, "service-issue");
    assert_string_equal(rows[3].action, "revoke");
    assert_string_equal(rows[3].actor, "operator:alice");
    assert_contains(rows[3].detail, items[0].serial_hex);
    assert_contains(rows[3].detail, "lost");
    assert_string_equal(rows[4].action, "batch");
    assert_string_equal(rows[4].actor, "comm-terminal-1");
    assert_contains(rows[4].detail, "r-1");
    assert_contains(rows[4].detail, "3 device number");
    for (size_t i = 1; i < count; i++) {
        assert_true(rows[i - 1].id > rows[i].id);
        assert_true(rows[i - 1].at >= rows[i].at);
    }
    free(rows);
    assert_int_equal(ca_store_audit_list(store, 2, &rows, &count), CL_OK);
    assert_int_equal(count, 2);
    assert_string_equal(rows[1].action, "service-issue");
    free(rows);

    /* Bounds: over-long detail or actor, control characters. */
    memset(detail, 'd', 513);
    detail[513] = '\0';
    assert_int_equal(ca_store_audit(store, "op", "x", detail), CL_ERR_INVALID_ARGUMENT);
    detail[512] = '\0';
    assert_int_equal(ca_store_audit(store, "op", "x", detail), CL_OK);
    assert_int_equal(ca_store_audit(store, "op", "x", "line\nforged"), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_audit(store, "op", "", "x"), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_audit(store, "op", "x", "\xc3\x28"), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_audit(store, "op", "x", "caf\xc3\xa9"), CL_OK);
    free_numbers(numbers, 3);
    ca_store_close(store);
}

/* ---- two connections at once ---- */

struct racer {
    struct ca_store *store;
    pthread_barrier_t *barrier;
    const char *request_id;
    unsigned seed;
    int replacement;
    char **numbers;
    size_t count;
    struct ca_batch_item *items;
    enum ca_batch_state state;
    int rc;
    char err[512];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    unsigned char hash[32];
    body_hash(r->seed, hash);
    pthread_barrier_wait(r->barrier);
    r->rc = ca_store_batch_begin(r->store, r->request_id, hash, r->replacement, "comm-terminal-1",
                                 (const char *const *)r->numbers, r->count, r->items, &r->state,
                                 r->err, sizeof(r->err));
    return NULL;
}

/* Runs two batch_begin calls at the same moment on two connections. */
static void run_race(struct racer *a, struct racer *b)
{
    pthread_barrier_t barrier;
    pthread_t ta, tb;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
    a->barrier = b->barrier = &barrier;
    assert_int_equal(pthread_create(&ta, NULL, race, a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race, b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&barrier);
}

static void test_concurrent_overlap(void **state)
{
    enum { N = 200, ROUNDS = 6 };
    char conninfo[256], err[512];
    struct ca_store *store = fresh_store("race_overlap", conninfo, sizeof(conninfo));
    struct ca_store *other = NULL;
    struct ca_batch_item *items_a = calloc(N, sizeof(*items_a));
    struct ca_batch_item *items_b = calloc(N, sizeof(*items_b));
    (void)state;

    assert_true(items_a != NULL && items_b != NULL);
    assert_int_equal(ca_store_open(conninfo, &other, err, sizeof(err)), CL_OK);
    add_model(store, "3012", "p256", 1);
    for (int round = 0; round < ROUNDS; round++) {
        /* Odd rounds: all numbers already hold a certificate and both ask for replacements. */
        int replacement = round % 2;
        unsigned base = 1000u * (unsigned)round + 1;
        char id_a[32], id_b[32];
        char **numbers_a = make_numbers("3012", base, N);
        char **numbers_b = make_numbers("3012", base + N / 2, N); /* half overlaps */
        snprintf(id_a, sizeof(id_a), "a-%d", round);
        snprintf(id_b, sizeof(id_b), "b-%d", round);
        if (replacement) {
            char **all = make_numbers("3012", base, N + N / 2);
            struct ca_batch_item *setup = calloc(N + N / 2, sizeof(*setup));
            char setup_id[32];
            assert_non_null(setup);
            snprintf(setup_id, sizeof(setup_id), "setup-%d", round);
            begin(store, setup_id, 90u + (unsigned)round, 0, CONST_LIST(all), N + N / 2, setup,
                  CA_BATCH_NEW);
            free(setup);
            free_numbers(all, N + N / 2);
        }
        struct racer a = {.store = store,
                          .request_id = id_a,
                          .seed = 10u + (unsigned)round,
                          .replacement = replacement,
                          .numbers = numbers_a,
                          .count = N,
                          .items = items_a};
        struct racer b = {.store = other,
                          .request_id = id_b,
                          .seed = 50u + (unsigned)round,
                          .replacement = replacement,
                          .numbers = numbers_b,
                          .count = N,
                          .items = items_b};
        size_t before = count_certs(store, NULL, NULL);
        size_t superseded = count_certs(store, NULL, "superseded");
        run_race(&a, &b);
        if (!((a.rc == CL_OK) ^ (b.rc == CL_OK)))
            fail_msg("round %d: exactly one must win: a %s (%s), b %s (%s)", round,
                     cl_err_name(a.rc), a.err, cl_err_name(b.rc), b.err);
        struct racer *loser = a.rc == CL_OK ? &b : &a;
        struct racer *winner = a.rc == CL_OK ? &a : &b;
        assert_int_equal(loser->rc, CL_ERR_CONFLICT);
        assert_int_equal(winner->state, CA_BATCH_NEW);
        assert_contains(loser->err, "already holds a valid certificate");
        print_message("round %d (%s): the loser was told: %s\n", round,
                      replacement ? "replacement" : "plain", loser->err);
        /* It names a number both asked for. */
        int named = 0;
        for (size_t i = N / 2; i < N; i++)
            named |= strstr(loser->err, numbers_a[i]) != NULL;
        if (!named)
            fail_msg("round %d: \"%s\" names no number of the overlap", round, loser->err);
        /* The loser recorded nothing: only the winner's intents (and supersessions). */
        assert_int_equal(count_certs(store, NULL, NULL), before + N);
        assert_int_equal(count_certs(store, NULL, "superseded"),
                         superseded + (replacement ? N : 0));
        for (size_t i = 0; i < N; i++) {
            assert_int_equal(state_of(store, winner->numbers[i], winner->items[i].serial_hex),
                             CA_CERT_INTENT);
            assert_int_equal(count_certs(store, winner->numbers[i], "intent"), 1);
        }
        free_numbers(numbers_a, N);
        free_numbers(numbers_b, N);
    }
    free(items_a);
    free(items_b);
    ca_store_close(other);
    ca_store_close(store);
}

static void test_concurrent_same_id(void **state)
{
    enum { N = 100 };
    char conninfo[256], err[512];
    struct ca_store *store = fresh_store("race_same_id", conninfo, sizeof(conninfo));
    struct ca_store *other = NULL;
    char **numbers = make_numbers("3012", 1, N);
    struct ca_batch_item *items_a = calloc(N, sizeof(*items_a));
    struct ca_batch_item *items_b = calloc(N, sizeof(*items_b));
    (void)state;

    assert_true(items_a != NULL && items_b != NULL);
    assert_int_equal(ca_store_open(conninfo, &other, err, sizeof(err)), CL_OK);
    add_model(store, "3012", "p256", 1);
    struct racer a = {.store = store,
                      .request_id = "same",
                      .seed = 5,
                      .numbers = numbers,
                      .count = N,
                      .items = items_a};
    struct racer b = {.store = other,
                      .request_id = "same",
                      .seed = 5,
                      .numbers = numbers,
                      .count = N,
                      .items = items_b};
    run_race(&a, &b);
    if (a.rc != CL_OK || b.rc != CL_OK)
        fail_msg("a %s (%s), b %s (%s)", cl_err_name(a.rc), a.err, cl_err_name(b.rc), b.err);
    assert_true((a.state == CA_BATCH_NEW && b.state == CA_BATCH_PENDING) ||
                (a.state == CA_BATCH_PENDING && b.state == CA_BATCH_NEW));
    for (size_t i = 0; i < N; i++)
        assert_string_equal(items_a[i].serial_hex, items_b[i].serial_hex);
    assert_int_equal(count_certs(store, NULL, NULL), N);

    /* Both sign; the first to complete wins, the second is told to ask again. */
    complete(store, "same", items_a, N);
    {
        struct ca_issued_item one = {items_b[0].serial_hex, (const unsigned char *)"x", 1, "p",
                                     "00112233445566778899aabbccddeeff"
                                     "00112233445566778899aabbccddeeff"};
        assert_int_equal(ca_store_batch_complete(other, "same", &one, 1, err, sizeof(err)),
                         CL_ERR_CONFLICT);
    }
    free(items_a);
    free(items_b);
    free_numbers(numbers, N);
    ca_store_close(other);
    ca_store_close(store);
}

/* ---- the database's own guard ---- */

static void test_database_refuses_second_valid(void **state)
{
    char conninfo[256], sqlstate[6], query[512], value[64];
    struct ca_store *store = fresh_store("db_guard", conninfo, sizeof(conninfo));
    char **numbers = make_numbers("3012", 1, 1);
    struct ca_batch_item items[1];
    PGconn *conn;
    (void)state;

    add_model(store, "3012", "p256", 1);
    begin(store, "r-1", 1, 0, CONST_LIST(numbers), 1, items, CA_BATCH_NEW);
    conn = pg_fixture_connect(conninfo);

    /* A second valid certificate for the number, written around the store: refused. */
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0A0B0C', '3012-000001', '3012', 'intent')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23505");
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state, cert_der, pack,"
        " server_value, issued_at) VALUES ('0A0B0C', '3012-000001', '3012', 'issued', '\\x01',"
        " 'p', repeat('a', 64), now())",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23505");
    /* History is fine: a superseded one beside it. */
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state, ended_at)"
        " VALUES ('0A0B0C', '3012-000001', '3012', 'superseded', now())",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "");
    /* ...which cannot come back to life while the other is valid. */
    sql(conn, "UPDATE certificate SET state = 'intent', ended_at = NULL WHERE serial = '0A0B0C'",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23505");
    /* The other checks: serial form, number form, number of the model, state, issued rows. */
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0a0b', '3012-000002', '3012', 'intent')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0A0', '3012-000002', '3012', 'intent')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0A0D', '3012_000002', '3012', 'intent')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    sql(conn,
        "INSERT INTO device_model (code, key_type, certificate_managed, key_id)"
        " VALUES ('3013', 'p256', true, 'k-3013')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "");
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0A0D', '3012-000002', '3013', 'intent')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0A0D', '3012-000002', '3012', 'lost')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0A0D', '3012-000002', '3012', 'issued')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    sql(conn,
        "INSERT INTO device_model (code, key_type, certificate_managed, key_id)"
        " VALUES ('3014', 'ed25519', true, 'k-3014')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    snprintf(query, sizeof(query), "SELECT count(*) FROM certificate WHERE state = 'intent'");
    sql(conn, query, sqlstate, value, sizeof(value));
    assert_string_equal(value, "1");
    sql(conn, "SELECT max(version) FROM schema_migrations", sqlstate, value, sizeof(value));
    assert_string_equal(value, "2");
    PQfinish(conn);
    free_numbers(numbers, 1);
    ca_store_close(store);
}

/* ---- completion in parts (storing while signing) ---- */

static void test_complete_in_parts(void **state)
{
    enum { N = 10 };
    struct ca_store *store = fresh_store("complete_parts", NULL, 0);
    char **numbers = make_numbers("3012", 1, N), err[512];
    struct ca_batch_item *items = calloc(N, sizeof(*items));
    struct ca_batch_item *again = calloc(N, sizeof(*again));
    struct ca_issued_item issued[N], twice[2];
    char packs[N][160], values[N][CA_VERIFY_HEX + 1];
    /* What an array literal must carry through: quotes, backslashes, braces, commas, NULL-like
     * text, a line break and UTF-8. */
    const char *odd_pack = "{\"k\": \"a\\\\b\\\"c\", \"l\": [1,2], \"n\": \"NULL\"}\n\xc3\xa9";
    (void)state;

    assert_true(items != NULL && again != NULL);
    add_model(store, "3012", "p256", 1);
    begin(store, "r-parts", 1, 0, CONST_LIST(numbers), N, items, CA_BATCH_NEW);
    for (size_t i = 0; i < N; i++) {
        fake_pack(items[i].device_number, items[i].serial_hex, packs[i], sizeof(packs[i]));
        fake_value(items[i].device_number, values[i]);
        issued[i] =
            (struct ca_issued_item){items[i].serial_hex, (const unsigned char *)items[i].serial_hex,
                                    strlen(items[i].serial_hex), packs[i], values[i]};
    }
    snprintf(packs[3], sizeof(packs[3]), "%s", odd_pack);

    /* Half of them, then commit: refused, nothing stored. */
    assert_int_equal(ca_store_complete_begin(store, "r-parts", N, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", issued, N / 2, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(ca_store_complete_commit(store, "r-parts", err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "5 device numbers have no signed certificate");
    assert_int_equal(count_certs(store, NULL, "intent"), N);

    /* An item stored twice: refused, the whole completion rolled back. */
    assert_int_equal(ca_store_complete_begin(store, "r-parts", N, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", issued, 4, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", &issued[2], 3, err, sizeof(err)),
                     CL_ERR_STATE);
    assert_contains(err, "is issued, not an intent");
    assert_int_equal(ca_store_complete_commit(store, "r-parts", err, sizeof(err)), CL_ERR_INTERNAL);
    assert_contains(err, "no completion under way");
    assert_int_equal(count_certs(store, NULL, "intent"), N);

    /* The same serial twice in one call. */
    twice[0] = issued[0];
    twice[1] = issued[0];
    assert_int_equal(ca_store_complete_begin(store, "r-parts", N, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", twice, 2, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "appears twice");
    assert_int_equal(count_certs(store, NULL, "intent"), N);

    /* A serial of no item of the request. */
    twice[0] = issued[0];
    twice[0].serial_hex = "0A0B0C";
    assert_int_equal(ca_store_complete_begin(store, "r-parts", N, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", twice, 1, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "serial 0A0B0C is not part of request id r-parts");

    /* In three parts: completed, every pack back byte for byte. */
    assert_int_equal(ca_store_complete_begin(store, "r-parts", N, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", issued, 3, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", &issued[3], 6, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", &issued[9], 1, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(ca_store_complete_commit(store, "r-parts", err, sizeof(err)), CL_OK);
    assert_int_equal(count_certs(store, NULL, "issued"), N);
    begin(store, "r-parts", 1, 0, CONST_LIST(numbers), N, again, CA_BATCH_DONE);
    for (size_t i = 0; i < N; i++)
        assert_string_equal(again[i].pack, packs[i]);
    ca_batch_items_free(again, N);

    /* Completed: a new completion is refused before anything is stored. */
    assert_int_equal(ca_store_complete_begin(store, "r-parts", N, err, sizeof(err)),
                     CL_ERR_CONFLICT);

    free(items);
    free(again);
    free_numbers(numbers, N);
    ca_store_close(store);
}

/* ---- serial collisions ---- */

static const char *const *script;
static size_t script_at;

static int scripted_serial(char serial_hex[CA_SERIAL_HEX_MAX + 1])
{
    snprintf(serial_hex, CA_SERIAL_HEX_MAX + 1, "%s", script[script_at]);
    if (script[script_at + 1] != NULL)
        script_at++;
    return CL_OK;
}

static void test_serial_collision(void **state)
{
    /* 0C0D is a service certificate's: one CA, one serial space. */
    static const char *const collide[] = {"0102", "0C0D", "0102", "0A0B", NULL};
    static const char *const stuck[] = {"0102", NULL};
    struct ca_store *store = fresh_store("serials", NULL, 0);
    char **numbers = make_numbers("3012", 1, 2), **more = make_numbers("3012", 3, 1), err[512];
    struct ca_batch_item items[2], one[1];
    (void)state;

    add_model(store, "3012", "p256", 1);
    assert_int_equal(ca_store_service_issued(store, "0C0D", "comm-terminal", "ct-1", NULL, "op"),
                     CL_OK);
    script = collide;
    script_at = 0;
    ca_store_set_serial_source(store, scripted_serial);
    begin(store, "r-1", 1, 0, CONST_LIST(numbers), 2, items, CA_BATCH_NEW);
    assert_string_equal(items[0].serial_hex, "0102");
    assert_string_equal(items[1].serial_hex, "0A0B");
    assert_int_equal(ca_store_service_issued(store, "0102", "comm-terminal", "ct-2", NULL, "op"),
                     CL_ERR_EXISTS);

    /* Every draw collides: refused after a few tries, nothing recorded. */
    script = stuck;
    script_at = 0;
    begin_refused(store, "r-2", 2, 0, (const char *const *)more, 1, CL_ERR_INTERNAL, err,
                  sizeof(err));
    assert_contains(err, "3012-000003");
    assert_int_equal(count_certs(store, NULL, NULL), 2);

    ca_store_set_serial_source(store, NULL); /* back to cl_serial_random */
    begin(store, "r-2", 2, 0, CONST_LIST(more), 1, one, CA_BATCH_NEW);
    assert_string_not_equal(one[0].serial_hex, "0102");
    free_numbers(numbers, 2);
    free_numbers(more, 1);
    ca_store_close(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_twice),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_batch_500_idempotent),
        cmocka_unit_test(test_number_already_valid),
        cmocka_unit_test(test_replacement),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_install),
        cmocka_unit_test(test_states_and_revoke),
        cmocka_unit_test(test_audit),
        cmocka_unit_test(test_concurrent_overlap),
        cmocka_unit_test(test_concurrent_same_id),
        cmocka_unit_test(test_database_refuses_second_valid),
        cmocka_unit_test(test_serial_collision),
        cmocka_unit_test(test_complete_in_parts),
    };
    return cmocka_run_group_tests(tests, pg_fixture_group_setup, pg_fixture_group_teardown);
}
