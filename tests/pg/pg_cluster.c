/* pg_cluster.c: a private PostgreSQL cluster for integration tests (see pg_cluster.h). The tools
 * run with fork/exec (no shell of ours), their output goes to setup.log in the cluster folder,
 * and the tail of that log is what a failure reports. A watchdog process cleans up when the test
 * process dies without calling pg_cluster_stop (a crash, a signal, a closed output pipe). */
#include "pg_cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "error.h"

#define DEFAULT_BINDIR "/usr/lib/postgresql/15/bin"
#define PORT 5432        /* only names the socket file: each cluster has its own folder */
#define TOOL_TIMEOUT 120 /* seconds for initdb or pg_ctl */
#define TAIL_BYTES 1200

struct pg_cluster {
    char dir[64];  /* /tmp/certline-pg-XXXXXX */
    char data[96]; /* dir/data */
    char setup_log[96];
    char server_log[96];
    char bindir[256];
    char conninfo[192];
    int started;
    int as_postgres; /* we are root: the tools run as the postgres user */
    uid_t uid;
    gid_t gid;
    pid_t watchdog;  /* 0 if none */
    int watchdog_fd; /* write end of its pipe: end of file there means we died */
};

/* Appends the last bytes of path to err (after what is there). */
static void append_tail(char *err, size_t errlen, const char *label, const char *path)
{
    char tail[TAIL_BYTES + 1];
    size_t used;
    ssize_t n;
    off_t size;
    int fd;

    if (err == NULL || errlen == 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return;
    used = strlen(err);
    size = lseek(fd, 0, SEEK_END);
    if (size > TAIL_BYTES)
        lseek(fd, size - TAIL_BYTES, SEEK_SET);
    else
        lseek(fd, 0, SEEK_SET);
    n = read(fd, tail, TAIL_BYTES);
    close(fd);
    if (n <= 0)
        return;
    tail[n] = '\0';
    if (used + 1 < errlen)
        snprintf(err + used, errlen - used, "\n--- %s (tail) ---\n%s", label, tail);
}

static const char *runuser_path(void)
{
    static const char *const paths[] = {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser",
                                        "/bin/runuser"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* Runs the tool bindir/argv[0] (as the postgres user when we are root), its output appended to
 * setup.log; waits at most TOOL_TIMEOUT seconds. Returns its exit status, or -1. */
static int run_tool(struct pg_cluster *c, const char *const *argv, char *err, size_t errlen)
{
    const char *full[24];
    char tool[320];
    size_t n = 0;
    pid_t pid;
    int fd, status = 0;
    struct timespec pause = {0, 20 * 1000 * 1000};

    snprintf(tool, sizeof(tool), "%s/%s", c->bindir, argv[0]);
    if (c->as_postgres) {
        const char *runuser = runuser_path();
        if (runuser == NULL) {
            cl_err_set(err, errlen, "running as root, but runuser is not installed");
            return -1;
        }
        full[n++] = runuser;
        full[n++] = "-u";
        full[n++] = "postgres";
        full[n++] = "--";
    }
    full[n++] = tool;
    for (size_t i = 1; argv[i] != NULL && n + 1 < sizeof(full) / sizeof(full[0]); i++)
        full[n++] = argv[i];
    full[n] = NULL;

    fd = open(c->setup_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        cl_err_set(err, errlen, "cannot open %s: %s", c->setup_log, strerror(errno));
        return -1;
    }
    dprintf(fd, "$ %s\n", argv[0]);
    pid = fork();
    if (pid < 0) {
        cl_err_set(err, errlen, "fork: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
            chdir(c->dir) != 0)
            _exit(126);
        setpgid(0, 0); /* a timeout kills the tool and what it started in the foreground */
        execv(full[0], (char *const *)(void *)full);
        dprintf(2, "cannot run %s: %s\n", full[0], strerror(errno));
        _exit(127);
    }
    close(fd);
    for (long waited = 0;; waited += 20) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            break;
        if (done < 0 && errno != EINTR) {
            cl_err_set(err, errlen, "waitpid: %s", strerror(errno));
            return -1;
        }
        if (waited >= TOOL_TIMEOUT * 1000L) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            cl_err_set(err, errlen, "%s did not finish within %d s", argv[0], TOOL_TIMEOUT);
            append_tail(err, errlen, "setup.log", c->setup_log);
            return -1;
        }
        nanosleep(&pause, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        cl_err_set(err, errlen, "%s failed (exit status %d)", argv[0], WEXITSTATUS(status));
    else
        cl_err_set(err, errlen, "%s failed (signal %d)", argv[0],
                   WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    append_tail(err, errlen, "setup.log", c->setup_log);
    return -1;
}

/* Removes everything inside the folder open as dirfd (symbolic links are removed, never
 * followed), then closes dirfd. depth bounds the recursion. */
static void remove_inside(int dirfd, const char *path, int depth)
{
    DIR *dir = fdopendir(dirfd);
    const struct dirent *entry;

    if (dir == NULL) {
        close(dirfd);
        return;
    }
    while ((entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        struct stat st;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 32) {
            int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                remove_inside(sub, path, depth + 1);
            if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0)
                fprintf(stderr, "pg_cluster: cannot remove %s/.../%s: %s\n", path, name,
                        strerror(errno));
        } else if (unlinkat(dirfd, name, 0) != 0) {
            fprintf(stderr, "pg_cluster: cannot remove %s/.../%s: %s\n", path, name,
                    strerror(errno));
        }
    }
    closedir(dir);
}

/* Removes the folder path and everything in it. */
static void remove_tree(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            fprintf(stderr, "pg_cluster: cannot open %s: %s\n", path, strerror(errno));
        return;
    }
    remove_inside(fd, path, 0);
    if (rmdir(path) != 0)
        fprintf(stderr, "pg_cluster: cannot remove %s: %s\n", path, strerror(errno));
}

/* The postmaster's pid from postmaster.pid, or 0. */
static pid_t postmaster_pid(const struct pg_cluster *c)
{
    char path[128], line[32] = "";
    FILE *f;
    snprintf(path, sizeof(path), "%s/postmaster.pid", c->data);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fgets(line, sizeof(line), f) == NULL)
        line[0] = '\0';
    fclose(f);
    return (pid_t)atol(line);
}

/* Stops the server if one runs in this folder: pg_ctl first, then signals to the postmaster
 * this cluster started (read from its pid file), never anything else. */
static void stop_server(struct pg_cluster *c)
{
    const char *const argv[] = {"pg_ctl", "-D", c->data, "-m",   "fast",
                                "-w",     "-t", "60",    "stop", NULL};
    char err[2048];
    pid_t pid = postmaster_pid(c);

    if (pid <= 0)
        return;
    if (run_tool(c, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "pg_cluster: %s\n", err);
        if (postmaster_pid(c) == pid)
            kill(pid, SIGQUIT); /* immediate shutdown */
    }
    /* Wait for it to be gone (and reap it: we are its subreaper, see pg_cluster_start). */
    for (int i = 0; i < 250; i++) {
        struct timespec pause = {0, 20 * 1000 * 1000};
        if (waitpid(pid, NULL, WNOHANG) == pid || kill(pid, 0) != 0)
            return;
        if (i == 150 && postmaster_pid(c) == pid)
            kill(pid, SIGKILL);
        nanosleep(&pause, NULL);
    }
}

/* The watchdog: waits on a pipe whose write end only the test process holds. End of file means
 * the test process is gone without stopping its cluster: stop the server, remove the folder.
 * pg_cluster_stop dismisses it with SIGKILL once it has cleaned up itself. */
static void watchdog_main(struct pg_cluster *c, int read_fd)
{
    char byte;
    ssize_t n;
    int fd;

    signal(SIGINT, SIG_IGN); /* a ^C to the test must not stop the cleanup of it */
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    setpgid(0, 0);
    /* Let go of the test's stdout and stderr, so that nobody waits for the watchdog on them. */
    fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    do
        n = read(read_fd, &byte, 1);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        stop_server(c);
        remove_tree(c->dir);
    }
    _exit(0);
}

static int start_watchdog(struct pg_cluster *c, char *err, size_t errlen)
{
    int fds[2];
    pid_t pid;

    if (pipe(fds) != 0) {
        cl_err_set(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC); /* the tools and the server must not hold it open */
    pid = fork();
    if (pid < 0) {
        cl_err_set(err, errlen, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[1]);
        watchdog_main(c, fds[0]);
    }
    close(fds[0]);
    c->watchdog = pid;
    c->watchdog_fd = fds[1];
    return 0;
}

void pg_cluster_stop(struct pg_cluster *cluster)
{
    if (cluster == NULL)
        return;
    if (cluster->data[0] != '\0')
        stop_server(cluster);
    if (cluster->dir[0] != '\0')
        remove_tree(cluster->dir);
    if (cluster->watchdog > 0) { /* all done: dismiss it (our own child) */
        int status;
        pid_t done;
        kill(cluster->watchdog, SIGKILL);
        close(cluster->watchdog_fd);
        do
            done = waitpid(cluster->watchdog, &status, 0);
        while (done < 0 && errno == EINTR);
    }
    free(cluster);
}

int pg_cluster_start(struct pg_cluster **out, char *err, size_t errlen)
{
    struct pg_cluster *c;
    const char *bindir = getenv("CERTLINE_PG_BINDIR");
    char options[256], tool[320];

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return -1;
    }
    snprintf(c->bindir, sizeof(c->bindir), "%s",
             bindir != NULL && bindir[0] != '\0' ? bindir : DEFAULT_BINDIR);
    snprintf(tool, sizeof(tool), "%s/initdb", c->bindir);
    if (access(tool, X_OK) != 0) {
        cl_err_set(err, errlen, "no PostgreSQL server tools in %s (set CERTLINE_PG_BINDIR)",
                   c->bindir);
        free(c);
        return -1;
    }
    snprintf(c->dir, sizeof(c->dir), "/tmp/certline-pg-XXXXXX");
    if (mkdtemp(c->dir) == NULL) {
        cl_err_set(err, errlen, "mkdtemp: %s", strerror(errno));
        c->dir[0] = '\0';
        pg_cluster_stop(c);
        return -1;
    }
    snprintf(c->data, sizeof(c->data), "%s/data", c->dir);
    snprintf(c->setup_log, sizeof(c->setup_log), "%s/setup.log", c->dir);
    snprintf(c->server_log, sizeof(c->server_log), "%s/server.log", c->dir);
    if (geteuid() == 0) {
        const struct passwd *pw = getpwnam("postgres");
        if (pw == NULL) {
            cl_err_set(err, errlen, "running as root needs a 'postgres' user to run the server");
            goto fail;
        }
        c->as_postgres = 1;
        c->uid = pw->pw_uid;
        c->gid = pw->pw_gid;
        if (chown(c->dir, c->uid, c->gid) != 0) {
            cl_err_set(err, errlen, "chown %s: %s", c->dir, strerror(errno));
            goto fail;
        }
    }
    if (start_watchdog(c, err, errlen) != 0)
        goto fail;
#ifdef __linux__
    /* pg_ctl detaches the server; as its subreaper we reap it on stop, so that not even a
     * zombie of it outlives pg_cluster_stop. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#endif
    {
        const char *const argv[] = {"initdb", "-D",         c->data,     "-A",
                                    "trust",  "-U",         "certline",  "-E",
                                    "UTF8",   "--locale=C", "--no-sync", "--no-instructions",
                                    NULL};
        if (run_tool(c, argv, err, errlen) != 0)
            goto fail;
    }
    /* pg_ctl hands -o to the server through /bin/sh: the folder name is [A-Za-z0-9/-] only. */
    snprintf(options, sizeof(options),
             "-c listen_addresses='' -c unix_socket_directories=%s -c port=%d -c fsync=off "
             "-c synchronous_commit=off -c full_page_writes=off",
             c->dir, PORT);
    {
        const char *const argv[] = {"pg_ctl", "-D", c->data, "-l",    c->server_log, "-w",
                                    "-t",     "60", "-o",    options, "start",       NULL};
        if (run_tool(c, argv, err, errlen) != 0) {
            append_tail(err, errlen, "server.log", c->server_log);
            goto fail;
        }
    }
    c->started = 1;
    snprintf(c->conninfo, sizeof(c->conninfo), "host=%s port=%d user=certline dbname=postgres",
             c->dir, PORT);
    *out = c;
    return 0;
fail:
    pg_cluster_stop(c);
    return -1;
}

const char *pg_cluster_conninfo(const struct pg_cluster *cluster)
{
    return cluster->conninfo;
}

int pg_cluster_create_db(struct pg_cluster *cluster, const char *name, char *conninfo_out,
                         size_t len)
{
    char sql[128];
    size_t n;
    PGconn *conn;
    PGresult *res;
    int rc = -1;

    for (n = 0; name[n] != '\0'; n++)
        if (!((name[n] >= 'a' && name[n] <= 'z') || (name[n] >= '0' && name[n] <= '9') ||
              name[n] == '_'))
            break;
    if (n == 0 || n > 63 || name[n] != '\0') {
        fprintf(stderr, "pg_cluster: database name \"%s\" is not [a-z0-9_]{1,63}\n", name);
        return -1;
    }
    /* The name is checked above; an identifier cannot be a query parameter. */
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    conn = PQconnectdb(cluster->conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "pg_cluster: cannot connect: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return -1;
    }
    res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        snprintf(conninfo_out, len, "host=%s port=%d user=certline dbname=%s", cluster->dir, PORT,
                 name);
        rc = 0;
    } else {
        fprintf(stderr, "pg_cluster: CREATE DATABASE %s: %s", name, PQerrorMessage(conn));
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}
