/* plan_feed.h: the plan feed of the production management system [0083]: plans it drops in the
 * plan inbox (plan_inbox.c) or submits over SOAP (production_service.c), validated and imported
 * exactly like `import`, once per request id, audited under the feed's actor. */
#ifndef CERTLINE_PLAN_FEED_H
#define CERTLINE_PLAN_FEED_H

#include <stddef.h>

#include "ct_runtime.h"

struct ct_feed_result {
    size_t entries; /* plan entries read */
    size_t added;   /* new device numbers (as the first time, for a repeat) */
    int repeated;   /* the request id was imported before with the same plan: nothing changed */
};

/* Parses text (CSV or JSON as plan_import.h; name stands for it in err) and imports it in one
 * transaction under request_id; request_id NULL: "file:" and the text's SHA-256, so the same
 * content twice changes nothing. Returns CL_OK; CL_ERR_PARSE, CL_ERR_TOO_LARGE,
 * CL_ERR_INVALID_ARGUMENT, CL_ERR_NOT_FOUND or CL_ERR_CONFLICT for a plan refused for good
 * (err says why, naming the line or entry); CL_ERR_DB or CL_ERR_NOMEM for a failure worth a
 * retry. */
int ct_plan_feed(struct ct_store *store, const char *name, const char *text, const char *request_id,
                 const char *actor, struct ct_feed_result *out, char *err, size_t errlen);

/* 1 if rc from ct_plan_feed refuses the plan for good, 0 if a retry may succeed. */
int ct_plan_feed_refused(int rc);

/* plan_inbox.c: one round over plan_inbox: files left in processing/ (a restart) first, then
 * up to plan_inbox_max_files files of the inbox, oldest name first; each is renamed into
 * processing/, imported, and moved to done/ or to rejected/ with NAME.reason. Names starting
 * with '.' or ending in ".tmp" are left alone (a sender writes those, then renames). Counts go
 * to *done and *rejected; returns CL_OK, or an error if the folders cannot be used. */
int ct_plan_inbox_poll(struct ct_runtime *runtime, struct ct_store *store, int *done, int *rejected,
                       char *err, size_t errlen);

#endif
