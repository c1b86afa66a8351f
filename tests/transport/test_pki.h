/* test_pki.h: shared fixtures of the TLS tests and benchmarks: test PKI, temp folder, servers. */
#ifndef CERTLINE_TEST_PKI_H
#define CERTLINE_TEST_PKI_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>

#include "soap_client.h"
#include "soap_server.h"
#include "tls.h"
#include "tls_verify.h"

/* A temporary folder top holding the test PKI in top/pki and, optionally, a log file. */
struct tp_dir {
    char top[64];
    char pki[PATH_MAX];
    char log_path[PATH_MAX];
};

/* Makes "/tmp/PREFIX-XXXXXX" and the test PKI in its pki folder (0 or -1, said on stderr). If
 * log_name is not NULL, also routes the certline log there at debug level, as program. */
int tp_dir_make(struct tp_dir *dir, const char *prefix, const char *log_name, const char *program);

/* Puts the log back on stderr (if it was routed) and removes the folder; nftw's result. */
int tp_dir_remove(struct tp_dir *dir);

/* Runs tests/pki/make-test-pki.sh into pki_dir, with "--short-lived short_end" unless short_end
 * is NULL; stdout goes to /dev/null. 0 if the script succeeded, -1 otherwise. */
int tp_make_pki(const char *pki_dir, const char *short_end);

/* Removes the folder top and everything in it (nftw, depth first, not following links). */
int tp_remove_tree(const char *top);

/* Waits up to 5 s (100 looks, 50 ms apart) for the first MiB of the log at log_path to contain
 * needle: a server thread may write its line just after the client saw the outcome. 0 if found. */
int tp_log_wait(const char *log_path, const char *needle);

/* out = pki_dir/name, PATH_MAX bytes. */
void tp_path(char *out, const char *pki_dir, const char *name);

/* A cl_tls for identity of the test PKI: NAME.chain.crt, NAME.key, trusting trust_name (NULL:
 * root.crt). CL_OK or the cl_tls_new code, explained in err. */
int tp_tls_new(enum cl_tls_side side, const char *pki_dir, const char *identity,
               const char *trust_name, struct cl_tls **out, char *err, size_t errlen);

/* A certline client for tls to https://127.0.0.1:port/ca, receive timeout recv_timeout_s. */
int tp_client_new(struct cl_tls *tls, int port, const char *server_name, enum cl_role role,
                  int recv_timeout_s, struct cl_client **out, char *err, size_t errlen);

/* An in-process certline server on 127.0.0.1, run by its own thread. */
struct tp_server {
    struct cl_tls *tls;
    struct cl_server *server;
    pthread_t thread;
    int port;
};

struct tp_server_options {
    enum cl_interface iface;       /* 0: CL_IFACE_CA */
    int port;                      /* 0: any free port */
    int recv_timeout_s;            /* 0: the default limit */
    size_t max_message_bytes;      /* 0: the default limit */
    int max_connections;           /* served at once */
    struct cl_verify_cache *cache; /* not NULL: the server records verified chains there */
    int signing_table;             /* cl_tls_keep_signing_table on the server's context */
    struct cl_crl_holder *crl;     /* not NULL: the server checks clients against its CRL */
};

/* Starts a server with identity's certificate of the test PKI. CL_OK or the code
 * of what failed, explained in err; on failure nothing is left running. */
int tp_server_start(struct tp_server *ts, const char *pki_dir, const char *identity,
                    const struct tp_server_options *options, char *err, size_t errlen);

/* Runs cl_server_run(ts->server) (a thread's start routine, for servers made by hand). */
void *tp_server_main(void *ts);

/* Stops and frees a started server (nothing if none) and zeroes ts. */
void tp_server_stop(struct tp_server *ts);

/* ---- what the tests' SOAP handlers share ---- */

struct soap;
struct ca__CertificateTransmissionRequest;
struct ca__CertificateTransmission;

/* Counts one call that reached a handler (any thread); tp_calls() reads the count. */
void tp_count_call(void);
int tp_calls(void);

/* Fills response for the first n device numbers of request: its request id, n items naming
 * them, each with a copy of pack (NULL: packs left for the caller). SOAP_OK, or the receiver
 * fault "out of memory". */
int tp_answer_batch(struct soap *soap, const struct ca__CertificateTransmissionRequest *request,
                    struct ca__CertificateTransmission *response, int n, const char *pack);

#endif
