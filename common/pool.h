/* pool.h: a fixed set of resources (database connections) shared by threads: take one, waiting
 * while all are in use, and give it back. */
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

#endif
