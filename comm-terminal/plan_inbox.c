/* plan_inbox.c: the plan inbox: plan files the production management system drops in the
 * plan_inbox folder, taken by rename into processing/, imported once by content, and moved to
 * done/ or to rejected/ with the reason beside them (plan_feed.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"
#include "log.h"
#include "plan_feed.h"

#define FEED_ACTOR "plan-feed"
#define NAMES_MAX 4096 /* names looked at in one round */
#define NAME_LEN_MAX 200

enum outcome { TAKEN_DONE, TAKEN_REJECTED, LEFT_FOR_RETRY };

static int make_dir(const char *inbox, const char *sub, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", inbox, sub);
    if (mkdir(path, 0750) == 0 || errno == EEXIST)
        return CL_OK;
    snprintf(err, errlen, "plan inbox: cannot create %s: %s", path, strerror(errno));
    return cl_err_from_errno(errno);
}

static void sync_dir(const char *inbox, const char *sub)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", inbox, sub);
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* A name the sender has finished: not hidden, not a temp file, of a sane length. */
static int takeable(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n <= NAME_LEN_MAX && !(n >= 4 && strcmp(name + n - 4, ".tmp") == 0);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The takeable entries of dir (regular files, or anything else to be rejected), sorted; at most
 * max. Returns the count, or -1. */
static int list_names(const char *dir, size_t max, char ***out)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t count = 0;
    struct dirent *e;

    *out = NULL;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL && count < NAMES_MAX) {
        if (!takeable(e->d_name) || e->d_type == DT_DIR)
            continue;
        char **more = realloc(names, (count + 1) * sizeof(*names));
        if (more == NULL)
            break;
        names = more;
        if ((names[count] = strdup(e->d_name)) == NULL)
            break;
        count++;
    }
    closedir(d);
    if (names != NULL)
        qsort(names, count, sizeof(*names), by_name);
    while (count > max)
        free(names[--count]);
    *out = names;
    return (int)count;
}

static void free_names(char **names, int count)
{
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* A name in inbox/sub free for name (name, then name.1, name.2, ...), and its .reason free too. */
static int free_target(const char *inbox, const char *sub, const char *name, char *target,
                       size_t len)
{
    for (int n = 0; n < 1000; n++) {
        char reason[4200];
        struct stat st;
        if (n == 0)
            snprintf(target, len, "%s/%s/%s", inbox, sub, name);
        else
            snprintf(target, len, "%s/%s/%s.%d", inbox, sub, name, n);
        snprintf(reason, sizeof(reason), "%s.reason", target);
        if (lstat(target, &st) != 0 && errno == ENOENT && lstat(reason, &st) != 0 &&
            errno == ENOENT)
            return CL_OK;
    }
    return CL_ERR_EXISTS;
}

/* Reads processing/name within the size bound; a refusal goes to err. */
static int read_plan_file(const struct ct_config *config, const char *path, char **text, char *err,
                          size_t errlen)
{
    struct stat st;
    size_t len = 0;
    int rc;

    *text = NULL;
    if (lstat(path, &st) != 0) {
        snprintf(err, errlen, "cannot read: %s", strerror(errno));
        return cl_err_from_errno(errno);
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        return CL_ERR_INVALID_ARGUMENT;
    }
    rc = cl_read_file_capped(path, (size_t)config->plan_inbox_max_bytes, text, &len);
    if (rc == CL_ERR_TOO_LARGE)
        snprintf(err, errlen, "larger than plan_inbox_max_bytes (%lld bytes)",
                 config->plan_inbox_max_bytes);
    else if (rc != CL_OK)
        snprintf(err, errlen, "cannot read: %s", cl_err_str(rc));
    else if (strlen(*text) != len) {
        snprintf(err, errlen, "holds a NUL byte");
        rc = CL_ERR_PARSE;
    }
    if (rc != CL_OK) {
        free(*text);
        *text = NULL;
    }
    return rc;
}

/* Imports processing/name and moves it on. */
static enum outcome handle(const struct ct_config *config, struct ct_store *store, const char *name)
{
    const char *inbox = config->plan_inbox;
    char path[4096], target[4096], reason_path[4200], err[1024] = "", text_err[1030] = "";
    struct ct_feed_result result;
    char *text = NULL;
    int rc;

    snprintf(path, sizeof(path), "%s/processing/%s", inbox, name);
    rc = read_plan_file(config, path, &text, err, sizeof(err));
    if (rc == CL_OK) {
        rc = ct_plan_feed(store, name, text, NULL, FEED_ACTOR, &result, err, sizeof(err));
        free(text);
    } else if (rc == CL_ERR_NOT_FOUND) {
        return LEFT_FOR_RETRY; /* gone meanwhile */
    } else {
        rc = rc == CL_ERR_NOMEM || rc == CL_ERR_IO ? rc : CL_ERR_PARSE;
    }
    if (rc != CL_OK && !ct_plan_feed_refused(rc)) {
        cl_log_warn("plan inbox: %s not imported yet (kept in processing/, retried): %s", name,
                    err);
        return LEFT_FOR_RETRY;
    }
    if (free_target(inbox, rc == CL_OK ? "done" : "rejected", name, target, sizeof(target)) !=
        CL_OK) {
        cl_log_error("plan inbox: no free name for %s in done/ or rejected/", name);
        return LEFT_FOR_RETRY;
    }
    if (rc != CL_OK) {
        /* The reason first: a crash before the move leaves the file in processing/, and the
         * next round rejects it again. */
        snprintf(text_err, sizeof(text_err), "%s\n", err);
        snprintf(reason_path, sizeof(reason_path), "%s.reason", target);
        if (cl_atomic_write(reason_path, text_err, strlen(text_err), 0640) != CL_OK) {
            cl_log_error("plan inbox: cannot write %s: %s", reason_path, strerror(errno));
            return LEFT_FOR_RETRY;
        }
    }
    if (rename(path, target) != 0) {
        cl_log_error("plan inbox: cannot move %s to %s: %s", path, target, strerror(errno));
        return LEFT_FOR_RETRY;
    }
    sync_dir(inbox, "processing");
    sync_dir(inbox, rc == CL_OK ? "done" : "rejected");
    if (rc != CL_OK) {
        cl_log_warn("plan inbox: %s rejected (nothing imported): %s", name, err);
        return TAKEN_REJECTED;
    }
    cl_log_info("plan inbox: %s %s: %zu entr%s, %zu new device number(s)", name,
                result.repeated ? "imported before, unchanged" : "imported", result.entries,
                result.entries == 1 ? "y" : "ies", result.added);
    return TAKEN_DONE;
}

static void count(enum outcome o, int *done, int *rejected)
{
    *done += o == TAKEN_DONE;
    *rejected += o == TAKEN_REJECTED;
}

int ct_plan_inbox_poll(struct ct_runtime *rt, struct ct_store *store, int *done, int *rejected,
                       char *err, size_t errlen)
{
    const struct ct_config *config = rt->config;
    const char *inbox = config->plan_inbox;
    char dir[4096], from[4096], to[4096];
    char **names = NULL;
    int n, budget = (int)config->plan_inbox_max_files, rc;

    *done = *rejected = 0;
    if (inbox[0] == '\0') {
        snprintf(err, errlen, "no plan_inbox configured");
        return CL_ERR_CONFIG;
    }
    if ((rc = make_dir(inbox, "processing", err, errlen)) != CL_OK ||
        (rc = make_dir(inbox, "done", err, errlen)) != CL_OK ||
        (rc = make_dir(inbox, "rejected", err, errlen)) != CL_OK)
        return rc;
    /* Files a restart left in processing/ first: imported at most once (by content). */
    snprintf(dir, sizeof(dir), "%s/processing", inbox);
    if ((n = list_names(dir, (size_t)budget, &names)) < 0) {
        snprintf(err, errlen, "plan inbox: cannot read %s: %s", dir, strerror(errno));
        return cl_err_from_errno(errno);
    }
    for (int i = 0; i < n; i++)
        count(handle(config, store, names[i]), done, rejected);
    budget -= n;
    free_names(names, n);
    if (budget <= 0)
        return CL_OK;
    if ((n = list_names(inbox, (size_t)budget, &names)) < 0) {
        snprintf(err, errlen, "plan inbox: cannot read %s: %s", inbox, strerror(errno));
        return cl_err_from_errno(errno);
    }
    for (int i = 0; i < n; i++) {
        struct stat st;
        snprintf(from, sizeof(from), "%s/%s", inbox, names[i]);
        snprintf(to, sizeof(to), "%s/processing/%s", inbox, names[i]);
        /* Taken by rename: one step, so a file is in the inbox or in processing/, never both.
         * A name still in processing/ (kept for a retry) waits. */
        if (lstat(from, &st) != 0 || S_ISDIR(st.st_mode) ||
            (lstat(to, &st) == 0 || errno != ENOENT) || rename(from, to) != 0)
            continue;
        sync_dir(inbox, ".");
        count(handle(config, store, names[i]), done, rejected);
    }
    free_names(names, n);
    return CL_OK;
}
