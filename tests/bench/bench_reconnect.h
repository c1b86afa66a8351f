/* bench_reconnect.h: what the parts of bench_reconnect share: the links, the cases, their
 * results, and the public-key operations counted per side. */
#ifndef CERTLINE_BENCH_RECONNECT_H
#define CERTLINE_BENCH_RECONNECT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "bench_common.h"
#include "test_pki.h"

#define ROUNDS_MAX 20
#define RECONNECTS_MAX 100000
#define PACK_FILLER_BYTES 3000 /* about a real pack's size (S7 carries one) */
#define SETTLE_US 50000        /* lets the server threads finish closing before CPU is read */
#define WARMUP_CALLS 5
#define DEVICE_NUMBER "3012-000001"

enum call_kind { CALL_CA_BATCH, CALL_CT_NOTICE, CALL_DEV_PACK, CALL_LINE_RESULT, CALL_CA_CHECKIN };

struct link_def {
    const char *name;                  /* as printed */
    const char *key;                   /* in the JSON */
    const char *client_id, *server_id; /* test PKI identities */
    const char *server_name;
    enum cl_role server_role;
    enum cl_interface iface;
    int client_cached;        /* cl_tls_share_verified_chains on the client */
    int client_signing_table; /* cl_tls_keep_signing_table on the client */
    int server_cached;        /* the server records verified chains */
    int server_signing_table;
    enum call_kind call;
    const char *call_name;
};

enum case_kind { CASE_FULL, CASE_FROM_CACHE, CASE_RESUMED, CASE_COUNT };

struct case_result {
    int used;
    double *wall_ms; /* rounds * reconnects samples */
    size_t n;
    double round_p50[ROUNDS_MAX];
    double client_cpu_ms[ROUNDS_MAX], server_cpu_ms[ROUNDS_MAX]; /* per reconnect */
    unsigned long ec_verify[2], ec_mul[2];                       /* totals over all rounds */
    unsigned long handshakes, resumed, chains_full, chains_cached;
};

struct link_run {
    const struct link_def *def;
    struct cl_verify_cache *server_cache;
    struct tp_server server;
    char endpoint[128];
    struct cl_tls *client_tls;            /* kept for the whole run, as a program keeps its own */
    struct cl_verify_cache *client_cache; /* its long-lived cache (cached clients) */
    struct case_result cases[CASE_COUNT];
};

#define LINK_COUNT 5

extern const struct link_def links[LINK_COUNT];
extern struct link_run runs[LINK_COUNT];
extern const char *const case_names[CASE_COUNT];
extern const char *const case_keys[CASE_COUNT];

/* ---- bench_reconnect_peers.c: the counted EC operations and the handlers ---- */

extern pthread_t client_thread;              /* the calling thread; every other one a server's */
extern atomic_ulong ec_verify[2], ec_mul[2]; /* [0] client, [1] server */

/* ---- bench_reconnect_report.c ---- */

/* Prints the summary and the detailed table of runs. */
void print_tables(size_t rounds, size_t n);

/* Writes OUT_DIR/bench-reconnect.json; 0 or -1. */
int write_json(const char *out_dir, size_t rounds, size_t n, const struct bench_machine *m0,
               const struct bench_machine *m1, const char *started);

#endif
