/* event_log.c: JSON event lines appended and fsynced to an events file (see event_log.h). */
#include "event_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"
#include "input_check.h"

struct cl_event_log {
    int fd;
    pthread_mutex_t lock;
    char path[1024];
};

int cl_event_log_open(const char *path, struct cl_event_log **out, char *err, size_t errlen)
{
    struct cl_event_log *log;

    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return CL_OK;
    if ((log = calloc(1, sizeof(*log))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    cl_copy_text(log->path, sizeof(log->path), path);
    log->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (log->fd < 0) {
        snprintf(err, errlen, "events_file %s: cannot open for appending: %s", path,
                 strerror(errno));
        free(log);
        return CL_ERR_IO;
    }
    pthread_mutex_init(&log->lock, NULL);
    *out = log;
    return CL_OK;
}

char *cl_event_line(const cJSON *event)
{
    char *text = cJSON_PrintUnformatted(event), *line = NULL;
    if (text != NULL) {
        size_t n = strlen(text);
        line = malloc(n + 2);
        if (line != NULL) {
            memcpy(line, text, n);
            line[n] = '\n';
            line[n + 1] = '\0';
        }
    }
    cJSON_free(text);
    return line;
}

int cl_event_log_append(struct cl_event_log *log, const char *line, char *err, size_t errlen)
{
    int rc = CL_OK;

    if (log == NULL)
        return CL_OK;
    pthread_mutex_lock(&log->lock);
    if (cl_write_all(log->fd, line, strlen(line)) != 0 || fsync(log->fd) != 0) {
        snprintf(err, errlen, "events_file %s: cannot record an event: %s", log->path,
                 strerror(errno));
        rc = CL_ERR_IO;
    }
    pthread_mutex_unlock(&log->lock);
    return rc;
}

int cl_event_log_write(struct cl_event_log *log, const cJSON *event, char *err, size_t errlen)
{
    char *line;
    int rc;

    if (log == NULL)
        return CL_OK;
    if ((line = cl_event_line(event)) == NULL) {
        snprintf(err, errlen, "out of memory writing an event");
        return CL_ERR_NOMEM;
    }
    rc = cl_event_log_append(log, line, err, errlen);
    free(line);
    return rc;
}

void cl_event_log_close(struct cl_event_log *log)
{
    if (log == NULL)
        return;
    close(log->fd);
    pthread_mutex_destroy(&log->lock);
    free(log);
}
