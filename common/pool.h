/* pool.h: a fixed set of resources (database connections) shared by threads: take one, waiting
 * while all are in use, and give it back. A share of the pool for lesser work (an operator
 * console) holds at most a set number at once, waits only briefly, and never takes one ahead of
 * the production work waiting for it. */
#ifndef CERTLINE_POOL_H
#define CERTLINE_POOL_H

#include <stddef.h>

struct cl_pool;

/* Creates count resources with open(arg, &resource, err, errlen) (a cl_err code); on failure
 * closes what was opened. close(resource) frees one. */
int cl_pool_new(size_t count,
                int (*open)(const void *arg, void **resource, char *err, size_t errlen),
                void (*close)(void *resource), const void *arg, struct cl_pool **out, char *err,
                size_t errlen);
void cl_pool_free(struct cl_pool *pool);

void *cl_pool_acquire(struct cl_pool *pool);
void cl_pool_release(struct cl_pool *pool, void *resource);

/* Sets how many resources the share may hold at once (0: none; the default). */
void cl_pool_set_share(struct cl_pool *pool, size_t limit);
/* A resource for the share, waiting at most wait_ms: NULL if the share holds its limit already,
 * or none is free in time, or cl_pool_acquire callers are waiting (they come first). Given back
 * with cl_pool_release_share. */
void *cl_pool_acquire_share(struct cl_pool *pool, long wait_ms);
void cl_pool_release_share(struct cl_pool *pool, void *resource);

/* Who holds and who waits at one moment (for diagnostics and tests). */
struct cl_pool_state {
    size_t free;          /* resources no one holds */
    size_t waiting;       /* cl_pool_acquire callers waiting */
    size_t share_waiting; /* cl_pool_acquire_share callers waiting */
    size_t share_held;    /* resources the share holds */
};
void cl_pool_state(struct cl_pool *pool, struct cl_pool_state *out);

#endif
