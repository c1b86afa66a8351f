/* metrics_http.c: the metrics listener (metrics_http.h): an accept thread and one short-lived
 * thread per connection, each answering one small GET and closing. Plain sockets rather than
 * gSOAP (soap_server.c serves SOAP over mutual TLS only): the parser here is a request line and
 * headers in a fixed buffer. */
#include "metrics_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include "error.h"
#include "log.h"

#define MAX_REQUEST 4096     /* request line and headers; more is refused with 431 */
#define IO_TIMEOUT_S 2       /* one receive or send */
#define REQUEST_DEADLINE_S 5 /* the whole request */
#define ACCEPT_POLL_MS 200   /* how often the accept loop looks at the stop flag */
#define DRAIN_BYTES (64u << 10)

static const struct cl_cfg_field metrics_fields[] = {
    CL_CFG_STR_DEF(struct cl_metrics_config, host, "host", "127.0.0.1", 1,
                   "address the metrics listener binds (loopback by default)"),
    CL_CFG_INT(struct cl_metrics_config, port, "port", 0, 0, 65535, 0,
               "TCP port of GET /metrics (0: no listener)"),
    CL_CFG_INT(struct cl_metrics_config, max_connections, "max_connections", 0, 1, 64, 4,
               "metrics connections served at once; more are answered 503"),
};
const struct cl_cfg_table cl_metrics_config_table = CL_CFG_TABLE(metrics_fields);

struct cl_metrics_http {
    struct cl_metrics *metrics;
    unsigned scope;
    int listener, port, max_connections;
    pthread_t accept_thread;
    atomic_int stopping;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int active; /* connection threads alive */
    int *fds;   /* per slot: the connection served, or -1 */
};

struct connection {
    struct cl_metrics_http *http;
    int slot;
};

static int send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void answer(int fd, const char *status, const char *extra, const char *type,
                   const char *body, size_t len)
{
    char head[320];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: "
                     "close\r\n\r\n",
                     status, type, len, extra);
    if (n > 0 && (size_t)n < sizeof(head) && send_all(fd, head, (size_t)n) == 0 && len > 0)
        (void)send_all(fd, body, len);
}

static void answer_text(int fd, const char *status, const char *extra)
{
    char body[80];
    int n = snprintf(body, sizeof(body), "%s\n", status);
    answer(fd, status, extra, "text/plain; charset=utf-8", body, (size_t)n);
}

/* Reads up to the end of the headers (or a NUL byte: no HTTP) within the deadline. Returns the
 * request's length, 0 if the client closed or was too slow, -1 if it sent more than MAX_REQUEST
 * without an end. */
static long read_request(int fd, char *buf)
{
    size_t len = 0;
    time_t deadline = time(NULL) + REQUEST_DEADLINE_S;

    for (;;) {
        ssize_t n;
        if (len == MAX_REQUEST)
            return -1;
        if (time(NULL) > deadline)
            return 0;
        n = recv(fd, buf + len, MAX_REQUEST - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        int nul = memchr(buf + len, '\0', (size_t)n) != NULL;
        len += (size_t)n;
        buf[len] = '\0';
        if (nul || strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL)
            return (long)len;
    }
}

int cl_metrics_http_status(const char *request, size_t len)
{
    /* method SP target SP HTTP/1.x, each separated by exactly one space (RFC 9112 3) */
    const char *end, *sp1, *sp2, *target, *path_end;

    if (len == 0 || memchr(request, '\0', len) != NULL)
        return 400;
    end = request + strcspn(request, "\r\n");
    sp1 = memchr(request, ' ', (size_t)(end - request));
    sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == request || sp1 - request > 15 || sp2 == sp1 + 1 ||
        sp2 - sp1 - 1 > 255 || end - sp2 - 1 != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        sp2[8] < '0' || sp2[8] > '9')
        return 400;
    for (const char *p = request; p < sp1; p++)
        if (*p < 'A' || *p > 'Z')
            return 400;
    if (sp1 - request != 3 || memcmp(request, "GET", 3) != 0)
        return 405;
    target = sp1 + 1;
    path_end = memchr(target, '?', (size_t)(sp2 - target));
    if (path_end == NULL)
        path_end = sp2;
    return path_end - target == 8 && memcmp(target, "/metrics", 8) == 0 ? 200 : 404;
}

/* Answers one request on fd. */
static void serve(struct cl_metrics_http *http, int fd)
{
    char buf[MAX_REQUEST + 1];
    long len = read_request(fd, buf);

    if (len == -1) {
        answer_text(fd, "431 Request Header Fields Too Large", "");
        return;
    }
    if (len == 0)
        return;
    switch (cl_metrics_http_status(buf, (size_t)len)) {
    case 200:
        break;
    case 405:
        answer_text(fd, "405 Method Not Allowed", "Allow: GET\r\n");
        return;
    case 404:
        answer_text(fd, "404 Not Found", "");
        return;
    default:
        answer_text(fd, "400 Bad Request", "");
        return;
    }
    size_t size = 0;
    char *text = cl_metrics_render(http->metrics, http->scope, &size);
    if (text == NULL) {
        answer_text(fd, "500 Internal Server Error", "");
        return;
    }
    answer(fd, "200 OK", "", "text/plain; version=0.0.4; charset=utf-8", text, size);
    free(text);
}

/* Closes after the answer: what the client still sends is read and dropped for a moment, so
 * that the answer is not lost to a reset. */
static void finish(int fd)
{
    char sink[4096];
    size_t dropped = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};

    (void)shutdown(fd, SHUT_WR);
    while (dropped < DRAIN_BYTES && poll(&p, 1, 200) > 0) {
        ssize_t n = recv(fd, sink, sizeof(sink), 0);
        if (n <= 0)
            break;
        dropped += (size_t)n;
    }
    (void)close(fd);
}

static void *connection_thread(void *arg)
{
    struct connection *c = arg;
    struct cl_metrics_http *http = c->http;
    int fd = http->fds[c->slot]; /* the slot is this thread's until released */

    serve(http, fd);
    pthread_mutex_lock(&http->lock);
    http->fds[c->slot] = -1;
    pthread_mutex_unlock(&http->lock);
    finish(fd);
    pthread_mutex_lock(&http->lock);
    http->active--;
    pthread_cond_broadcast(&http->idle);
    pthread_mutex_unlock(&http->lock);
    free(c);
    return NULL;
}

static void start_connection(struct cl_metrics_http *http, int fd, pthread_attr_t *attr)
{
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    struct connection *c = calloc(1, sizeof(*c));
    pthread_t thread;
    int slot = -1;

    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    pthread_mutex_lock(&http->lock);
    for (int i = 0; c != NULL && i < http->max_connections; i++)
        if (http->fds[i] < 0) {
            http->fds[i] = fd;
            http->active++;
            slot = i;
            break;
        }
    pthread_mutex_unlock(&http->lock);
    if (slot < 0) {
        cl_log_warn("metrics: %d connections at once; refusing one", http->max_connections);
        answer_text(fd, "503 Service Unavailable", "");
        (void)close(fd);
        free(c);
        return;
    }
    *c = (struct connection){http, slot};
    if (pthread_create(&thread, attr, connection_thread, c) != 0) {
        pthread_mutex_lock(&http->lock);
        http->fds[slot] = -1;
        http->active--;
        pthread_mutex_unlock(&http->lock);
        (void)close(fd);
        free(c);
    }
}

static void *accept_thread(void *arg)
{
    struct cl_metrics_http *http = arg;
    struct pollfd p = {.fd = http->listener, .events = POLLIN};
    pthread_attr_t attr;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256u << 10);
    while (!atomic_load(&http->stopping)) {
        if (poll(&p, 1, ACCEPT_POLL_MS) <= 0)
            continue;
        int fd = accept(http->listener, NULL, NULL);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                usleep(ACCEPT_POLL_MS * 1000);
            continue;
        }
        start_connection(http, fd, &attr);
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

/* A listening socket on host:port, or -1 with err set. */
static int listen_on(const char *host, int port, int *bound, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    char service[8];
    int fd = -1, one = 1, rc;

    snprintf(service, sizeof(service), "%d", port);
    if ((rc = getaddrinfo(host, service, &hints, &list)) != 0) {
        snprintf(err, errlen, "metrics: address %s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *a = list; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 16) != 0) {
            snprintf(err, errlen, "metrics: cannot listen on %s port %d: %s", host, port,
                     strerror(errno));
            (void)close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(list);
    if (fd >= 0) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof(addr);
        *bound = port;
        if (getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
            *bound = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                      : ((struct sockaddr_in *)&addr)->sin_port);
    }
    return fd;
}

int cl_metrics_http_start(const struct cl_metrics_config *config, struct cl_metrics *metrics,
                          unsigned scope, struct cl_metrics_http **out, char *err, size_t errlen)
{
    struct cl_metrics_http *http;

    *out = NULL;
    if (config->port == 0)
        return CL_OK;
    if (metrics == NULL || config->port < 0 || config->port > 65535 ||
        config->max_connections < 1 || config->max_connections > 64) {
        snprintf(err, errlen, "metrics: no registry, or settings out of range");
        return CL_ERR_INVALID_ARGUMENT;
    }
    http = calloc(1, sizeof(*http));
    if (http == NULL ||
        (http->fds = malloc(sizeof(int) * (size_t)config->max_connections)) == NULL) {
        free(http);
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    for (int i = 0; i < (int)config->max_connections; i++)
        http->fds[i] = -1;
    http->metrics = metrics;
    http->scope = scope;
    http->max_connections = (int)config->max_connections;
    pthread_mutex_init(&http->lock, NULL);
    pthread_cond_init(&http->idle, NULL);
    http->listener = listen_on(config->host, (int)config->port, &http->port, err, errlen);
    if (http->listener < 0 || pthread_create(&http->accept_thread, NULL, accept_thread, http)) {
        if (http->listener >= 0) {
            snprintf(err, errlen, "metrics: cannot start the listener thread");
            (void)close(http->listener);
        }
        pthread_mutex_destroy(&http->lock);
        pthread_cond_destroy(&http->idle);
        free(http->fds);
        free(http);
        return CL_ERR_IO;
    }
    cl_log_info("metrics on http://%s:%d/metrics", config->host, http->port);
    *out = http;
    return CL_OK;
}

int cl_metrics_http_port(const struct cl_metrics_http *http)
{
    return http->port;
}

void cl_metrics_http_stop(struct cl_metrics_http *http)
{
    if (http == NULL)
        return;
    atomic_store(&http->stopping, 1);
    pthread_join(http->accept_thread, NULL);
    (void)close(http->listener);
    pthread_mutex_lock(&http->lock);
    for (int i = 0; i < http->max_connections; i++)
        if (http->fds[i] >= 0)
            (void)shutdown(http->fds[i], SHUT_RDWR); /* wakes a thread blocked in recv */
    while (http->active > 0)
        pthread_cond_wait(&http->idle, &http->lock);
    pthread_mutex_unlock(&http->lock);
    pthread_mutex_destroy(&http->lock);
    pthread_cond_destroy(&http->idle);
    free(http->fds);
    free(http);
}
