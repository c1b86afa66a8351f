/* store/schema.c: the comm-terminal schema and its migrations; opening and closing a store. */
#include "ct_store_internal.h"

#include <stdlib.h>

/* ---- migrations ---- */

static const char *const migration_1[] = {
    "CREATE TABLE model ("
    " code text PRIMARY KEY CHECK (code ~ '^[0-9A-Z]{1,8}$'),"
    " certificate_managed boolean NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " updated_at timestamptz NOT NULL DEFAULT now())",

    "CREATE TABLE plan ("
    " model_code text NOT NULL REFERENCES model (code),"
    " day date NOT NULL,"
    " units integer NOT NULL CHECK (units > 0),"
    " imported_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (model_code, day))",

    /* Every planned device number, once and forever. */
    "CREATE TABLE plan_device ("
    " device_number text PRIMARY KEY CHECK (device_number ~ '^[0-9A-Z]{1,8}-[0-9]{1,12}$'),"
    " model_code text NOT NULL,"
    " day date NOT NULL,"
    " FOREIGN KEY (model_code, day) REFERENCES plan (model_code, day),"
    " CONSTRAINT plan_device_number_of_model"
    "  CHECK (split_part(device_number, '-', 1) = model_code))",
    "CREATE INDEX plan_device_day ON plan_device (day, model_code)",

    "CREATE TABLE fetch_request ("
    " request_id text PRIMARY KEY CHECK (request_id ~ '^[!-~]{1,64}$'),"
    " seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,"
    " day date NOT NULL,"
    " replacement boolean NOT NULL,"
    " item_count integer NOT NULL CHECK (item_count BETWEEN 1 AND 1000),"
    " state text NOT NULL CHECK (state IN ('pending', 'completed', 'abandoned')),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " ended_at timestamptz,"
    " reason text CHECK (octet_length(reason) <= 512),"
    " CONSTRAINT fetch_request_ended CHECK ((state = 'pending') = (ended_at IS NULL)))",

    /* pending mirrors the request's state, so that the database itself keeps a device number
     * in at most one pending request. */
    "CREATE TABLE fetch_item ("
    " request_id text NOT NULL REFERENCES fetch_request (request_id),"
    " position integer NOT NULL CHECK (position >= 0),"
    " device_number text NOT NULL CHECK (device_number ~ '^[0-9A-Z]{1,8}-[0-9]{1,12}$'),"
    " pending boolean NOT NULL,"
    " PRIMARY KEY (request_id, position),"
    " UNIQUE (request_id, device_number))",
    "CREATE UNIQUE INDEX fetch_item_one_pending ON fetch_item (device_number) WHERE pending",

    "CREATE TABLE certificate ("
    " device_number text PRIMARY KEY CHECK (device_number ~ '^[0-9A-Z]{1,8}-[0-9]{1,12}$'),"
    " model_code text NOT NULL REFERENCES model (code),"
    " serial text NOT NULL CHECK (serial ~ '^([0-9A-F]{2}){1,20}$'),"
    " pack text CHECK (octet_length(pack) BETWEEN 1 AND 32768),"
    " state text NOT NULL"
    "  CHECK (state IN ('stored', 'delivered', 'written', 'failed', 'replaced')),"
    " write_flag smallint NOT NULL DEFAULT 0 CHECK (write_flag IN (0, 1)),"
    " request_id text NOT NULL REFERENCES fetch_request (request_id),"
    " claimed_by_line text CHECK (claimed_by_line ~ '^[!-~]{1,32}$'),"
    " claimed_at timestamptz,"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " delivered_at timestamptz,"
    " written_at timestamptz,"
    " failed_at timestamptz,"
    " fail_reason text CHECK (octet_length(fail_reason) <= 1024),"
    " pack_deleted_at timestamptz,"
    " CONSTRAINT certificate_number_of_model"
    "  CHECK (split_part(device_number, '-', 1) = model_code),"
    " CONSTRAINT certificate_flag_is_written CHECK ((state = 'written') = (write_flag = 1)),"
    " CONSTRAINT certificate_written_at CHECK (state <> 'written' OR written_at IS NOT NULL),"
    " CONSTRAINT certificate_pack_deleted CHECK ((pack IS NULL) = (pack_deleted_at IS NOT NULL)),"
    " CONSTRAINT certificate_claim CHECK (claimed_at IS NULL OR claimed_by_line IS NOT NULL))",
    "CREATE INDEX certificate_model_state ON certificate (model_code, state)",

    /* Every pack whose write failed (the row above then holds its replacement). */
    "CREATE TABLE failed_pack ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " device_number text NOT NULL REFERENCES certificate (device_number),"
    " serial text NOT NULL,"
    " line_id text NOT NULL,"
    " reason text NOT NULL CHECK (octet_length(reason) <= 1024),"
    " failed_at timestamptz NOT NULL DEFAULT now())",

    "CREATE TABLE report ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " device_number text NOT NULL REFERENCES certificate (device_number),"
    " serial text NOT NULL CHECK (serial ~ '^([0-9A-F]{2}){1,20}$'),"
    " proof text NOT NULL CHECK (proof ~ '^[0-9a-f]{64}$'),"
    " written_at timestamptz NOT NULL,"
    " state text NOT NULL CHECK (state IN ('queued', 'done')),"
    " attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
    " next_attempt timestamptz NOT NULL,"
    " last_error text CHECK (octet_length(last_error) <= 512),"
    " received_at timestamptz,"
    " signature text CHECK (octet_length(signature) <= 4096),"
    " signer_pem text CHECK (octet_length(signer_pem) <= 16384),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " UNIQUE (device_number, serial),"
    " CONSTRAINT report_done CHECK (state <> 'done'"
    "  OR (received_at IS NOT NULL AND signature IS NOT NULL AND signer_pem IS NOT NULL)))",
    "CREATE INDEX report_queued ON report (next_attempt, id) WHERE state = 'queued'",

    "CREATE TABLE operator ("
    " operator_id text PRIMARY KEY CHECK (operator_id ~ '^[!-~]{1,32}$'),"
    " salt bytea NOT NULL CHECK (octet_length(salt) = 16),"
    " iterations integer NOT NULL CHECK (iterations BETWEEN 200000 AND 10000000),"
    " hash bytea NOT NULL CHECK (octet_length(hash) = 32),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " updated_at timestamptz NOT NULL DEFAULT now())",

    "CREATE TABLE audit_log ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " at timestamptz NOT NULL DEFAULT now(),"
    " actor text NOT NULL CHECK (octet_length(actor) BETWEEN 1 AND 64),"
    " action text NOT NULL CHECK (octet_length(action) BETWEEN 1 AND 64),"
    " detail text NOT NULL DEFAULT '' CHECK (octet_length(detail) <= 512))",
    NULL,
};

/* The CRL kept for the lines (store/crl.c): the newest only, its DER as base64. */
static const char *const migration_2[] = {
    "CREATE TABLE crl ("
    " number numeric PRIMARY KEY CHECK (number BETWEEN 1 AND 18446744073709551615),"
    " this_update timestamptz NOT NULL,"
    " next_update timestamptz NOT NULL,"
    " crl text NOT NULL CHECK (octet_length(crl) BETWEEN 4 AND 90000000),"
    " received_at timestamptz NOT NULL DEFAULT now())",
    NULL,
};

/* No certificate in limbo: a report ca-server refuses ends rejected with its reason, and the
 * packs deleted unwritten are queued for retirement at ca-server. */
static const char *const migration_3[] = {
    "ALTER TABLE report DROP CONSTRAINT report_state_check",
    "ALTER TABLE report ADD CONSTRAINT report_state_check"
    " CHECK (state IN ('queued', 'done', 'rejected'))",
    "ALTER TABLE report ADD COLUMN rejected_at timestamptz,"
    " ADD COLUMN reject_reason text CHECK (octet_length(reject_reason) <= 512)",
    "ALTER TABLE report ADD CONSTRAINT report_rejected"
    " CHECK ((state = 'rejected') = (rejected_at IS NOT NULL AND reject_reason IS NOT NULL))",
    "CREATE TABLE retirement ("
    " serial text PRIMARY KEY CHECK (serial ~ '^([0-9A-F]{2}){1,20}$'),"
    " device_number text NOT NULL REFERENCES certificate (device_number),"
    " reason text NOT NULL CHECK (reason IN ('DISCONTINUED', 'EXPIRED_STOCK')),"
    " state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'refused')),"
    " attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
    " next_attempt timestamptz NOT NULL DEFAULT now(),"
    " last_error text CHECK (octet_length(last_error) <= 512),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " ended_at timestamptz,"
    " CONSTRAINT retirement_ended CHECK ((state = 'queued') = (ended_at IS NULL)))",
    "CREATE INDEX retirement_queued ON retirement (next_attempt, serial) WHERE state = 'queued'",
    NULL,
};

/* The plan feed (plan inbox, ct:SubmitPlan): each submission once, by its request id, with the
 * digest of what was submitted under it. */
static const char *const migration_4[] = {
    "CREATE TABLE plan_submission ("
    " request_id text PRIMARY KEY CHECK (request_id ~ '^[!-~]{1,64}$'),"
    " digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),"
    " entries integer NOT NULL CHECK (entries >= 1),"
    " added integer NOT NULL CHECK (added >= 0),"
    " actor text NOT NULL CHECK (octet_length(actor) BETWEEN 1 AND 64),"
    " submitted_at timestamptz NOT NULL DEFAULT now())",
    NULL,
};

/* Issue 20: ca-server's model list (read over ca:Models) beside a local override; the creation
 * date kept across a replacement; operator roles and states. The models marked so far were
 * marked here, so they keep that as a local override; the operators so far could do everything
 * (admin). */
static const char *const migration_5[] = {
    "ALTER TABLE model ADD COLUMN ca_state text"
    "  CHECK (ca_state IN ('managed', 'not-managed', 'unknown')),"
    " ADD COLUMN ca_synced_at timestamptz,"
    " ADD COLUMN local_override boolean",
    "UPDATE model SET local_override = certificate_managed",
    "ALTER TABLE model ADD CONSTRAINT model_flag_follows CHECK (certificate_managed ="
    " coalesce(local_override, ca_state = 'managed', false))",
    "ALTER TABLE certificate ADD COLUMN replaced_at timestamptz",
    "ALTER TABLE operator ADD COLUMN role text NOT NULL DEFAULT 'admin'"
    "  CHECK (role IN ('admin', 'operator', 'viewer')),"
    " ADD COLUMN state text NOT NULL DEFAULT 'active'"
    "  CHECK (state IN ('active', 'disabled', 'removed'))",
    NULL,
};

/* The operator console's views (store/views.c, store/console.c) at a million devices: the day's
 * writes, receipts and NG results by time, stock held per model, rejected reports, search by
 * serial, the device list in device-number order, the last scans. */
static const char *const migration_6[] = {
    "CREATE INDEX certificate_written_at ON certificate (written_at) WHERE state = 'written'",
    "CREATE INDEX certificate_held ON certificate (model_code)"
    " WHERE pack IS NOT NULL AND state <> 'written'",
    "CREATE INDEX certificate_serial ON certificate (serial)",
    "CREATE INDEX certificate_number_order ON certificate (split_part(device_number, '-', 1)"
    " COLLATE \"C\", (split_part(device_number, '-', 2)::numeric), device_number COLLATE \"C\")",
    "CREATE INDEX certificate_last_scan ON certificate ((coalesce(written_at, delivered_at)))"
    " WHERE delivered_at IS NOT NULL AND claimed_by_line IS NOT NULL",
    "CREATE INDEX report_done_written_at ON report (written_at) WHERE state = 'done'",
    "CREATE INDEX report_rejected ON report (device_number) WHERE state = 'rejected'",
    "CREATE INDEX failed_pack_failed_at ON failed_pack (failed_at)",
    NULL,
};

/* The console's Lines page, Today and the day's export at a million devices: each device's time
 * on the line (from its scan, S9, to its write result, S11, both by the comm-terminal's clock);
 * the day's written devices per model, per line and hour with their line times, and the day's
 * receipts, each from an index alone (they replace migration 6's narrower ones). */
static const char *const migration_7[] = {
    "ALTER TABLE certificate ADD COLUMN scanned_at timestamptz,"
    " ADD COLUMN line_ms integer CHECK (line_ms >= 0)",
    "CREATE INDEX certificate_written_day ON certificate (written_at)"
    " INCLUDE (model_code, claimed_by_line, line_ms) WHERE state = 'written'",
    "DROP INDEX certificate_written_at",
    "CREATE INDEX report_done_day ON report (written_at)"
    " INCLUDE (device_number, serial, received_at, id) WHERE state = 'done'",
    "DROP INDEX report_done_written_at",
    NULL,
};

/* A million devices (issue 18, bench_growth.py): `list --state S` for a state other than
 * written (failed, stored, ...) reads those rows alone instead of every (model, state) entry. */
static const char *const migration_8[] = {
    "CREATE INDEX certificate_unwritten_state ON certificate (state)"
    " WHERE state IN ('stored', 'delivered', 'failed', 'replaced')",
    NULL,
};

/* Issue 19: receipts signed as a batch. A batch's manifest (common/receipt.h), its one
 * signature and the signer, kept once; each report done under it refers to it instead of
 * holding a signature of its own. */
static const char *const migration_9[] = {
    "CREATE TABLE receipt_manifest ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " manifest text NOT NULL"
    /* 1 to 200 digests: the count by length, since a regular expression's {1,200} made
     * every insert take about 100 ms (PostgreSQL expands a bounded repetition) */
    "  CHECK (manifest ~ '^certline-receipt-batch v1\\n([0-9a-f]{64}\\n)+$'"
    "  AND octet_length(manifest) <= 26 + 200 * 65),"
    " signature text NOT NULL CHECK (octet_length(signature) BETWEEN 1 AND 4096),"
    " signer_pem text NOT NULL CHECK (octet_length(signer_pem) BETWEEN 1 AND 16384),"
    " created_at timestamptz NOT NULL DEFAULT now())",
    "ALTER TABLE report ADD COLUMN manifest_id bigint REFERENCES receipt_manifest (id)",
    "ALTER TABLE report DROP CONSTRAINT report_done",
    "ALTER TABLE report ADD CONSTRAINT report_done CHECK (state <> 'done' OR (received_at IS NOT"
    " NULL AND ((signature IS NOT NULL AND signer_pem IS NOT NULL) <> (manifest_id IS NOT NULL))))",
    "ALTER TABLE report ADD CONSTRAINT report_signed_once"
    " CHECK (manifest_id IS NULL OR (signature IS NULL AND signer_pem IS NULL))",
    NULL,
};

/* Issue 18: status and Today count the rejected reports still awaiting their device's
 * replacement, not every rejection ever. A rejected report is closed when a later report of its
 * device is queued (its replacement written, ct_store_written, in the same transaction); those
 * answered already are closed here, at the time of the first later report. The open ones alone
 * are indexed; migration 6's index of every rejection goes (the device history reads a device's
 * reports by the (device_number, serial) key). */
static const char *const migration_10[] = {
    "ALTER TABLE report ADD COLUMN closed_at timestamptz",
    "UPDATE report r SET closed_at = (SELECT min(x.created_at) FROM report x"
    " WHERE x.device_number = r.device_number AND x.id > r.id)"
    " WHERE r.state = 'rejected' AND EXISTS (SELECT 1 FROM report x"
    " WHERE x.device_number = r.device_number AND x.id > r.id)",
    "ALTER TABLE report ADD CONSTRAINT report_closed"
    " CHECK (closed_at IS NULL OR state = 'rejected')",
    "CREATE INDEX report_rejected_open ON report (device_number)"
    " WHERE state = 'rejected' AND closed_at IS NULL",
    "DROP INDEX report_rejected",
    NULL,
};

/* Issue 17: Today and the day's downloads at 100,000 devices a day. Today's remaining count
 * (planned for the day, not written) looked up each planned number's certificate, 100,000 index
 * probes per page; instead each planned number carries whether its certificate is written, kept
 * by triggers (the certificate's written state changing, a number planned after its certificate
 * was written), and the numbers still open are indexed alone: the count reads only what remains.
 * The day's shipped and proven is read in the order written, from an index in that order. */
static const char *const migration_11[] = {
    "ALTER TABLE plan_device ADD COLUMN written boolean NOT NULL DEFAULT false",
    "UPDATE plan_device p SET written = true FROM certificate c"
    " WHERE c.device_number = p.device_number AND c.state = 'written'",
    "CREATE INDEX plan_device_open ON plan_device (day, model_code) WHERE NOT written",
    "CREATE FUNCTION plan_device_written() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF TG_OP <> 'INSERT' AND OLD.state = 'written' THEN"
    "  UPDATE plan_device SET written = false WHERE device_number = OLD.device_number"
    "  AND written; END IF;"
    " IF TG_OP <> 'DELETE' AND NEW.state = 'written' THEN"
    "  UPDATE plan_device SET written = true WHERE device_number = NEW.device_number"
    "  AND NOT written; END IF;"
    " RETURN NULL; END $$",
    "CREATE TRIGGER certificate_written_planned AFTER INSERT ON certificate FOR EACH ROW"
    " WHEN (NEW.state = 'written') EXECUTE FUNCTION plan_device_written()",
    "CREATE TRIGGER certificate_written_changed AFTER UPDATE OF state, device_number"
    " ON certificate FOR EACH ROW WHEN ((OLD.state = 'written' OR NEW.state = 'written')"
    " AND (OLD.state IS DISTINCT FROM NEW.state"
    " OR OLD.device_number IS DISTINCT FROM NEW.device_number))"
    " EXECUTE FUNCTION plan_device_written()",
    "CREATE TRIGGER certificate_written_deleted AFTER DELETE ON certificate FOR EACH ROW"
    " WHEN (OLD.state = 'written') EXECUTE FUNCTION plan_device_written()",
    "CREATE FUNCTION plan_device_planned() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " NEW.written := EXISTS (SELECT 1 FROM certificate c"
    "  WHERE c.device_number = NEW.device_number AND c.state = 'written');"
    " RETURN NEW; END $$",
    "CREATE TRIGGER plan_device_planned BEFORE INSERT OR UPDATE OF device_number ON plan_device"
    " FOR EACH ROW EXECUTE FUNCTION plan_device_planned()",
    /* The day's shipped and proven in the order written, from the index alone: no sort */
    "CREATE INDEX report_done_written ON report (written_at, id)"
    " INCLUDE (device_number, serial, received_at) WHERE state = 'done'",
    "DROP INDEX report_done_day",
    NULL,
};

/* Issue 17: the console's device search by line at a million devices: a line's devices by time
 * of writing (a line's day in order; a line with few devices or none at once, where the walk of
 * the number order read every device, 0.5 s). The audit log by day: an old day's entries at
 * once, where the walk of the newest entries read every later one. */
static const char *const migration_12[] = {
    "CREATE INDEX certificate_line_written ON certificate (claimed_by_line, written_at)"
    " WHERE claimed_by_line IS NOT NULL",
    "CREATE INDEX audit_log_at ON audit_log (at)",
    NULL,
};

/* Migration 11's flags kept right when writes race them. Its backfill read the certificates
 * before its triggers existed and without keeping their writers out: a certificate written, set
 * back, deleted or renumbered by a comm-terminal still serving while `migrate` ran, committed
 * between that read and the triggers' creation, left its planned number's flag wrong for good
 * (Today's remaining count off by one for each). And a number planned while its certificate
 * (fetched ahead of the plan, a manual entry) was being written read that certificate before the
 * write committed, while the write's trigger could not see the plan row not yet committed: the
 * flag stayed unset. Now a number planned anew reads its certificate FOR SHARE: a write in flight
 * is waited for, and a write after it waits for the plan's commit, then finds its row; a number
 * planned already (a plan imported again) locks nothing. Then each flag is derived again with the
 * certificates' writers held off (only the wrong ones rewritten); plan_device_written_sync() can
 * be run by hand too (`SELECT plan_device_written_sync()`) and answers how many it corrected. */
static const char *const migration_13[] = {
    "CREATE OR REPLACE FUNCTION plan_device_planned() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN NEW.written := false;"
    " IF EXISTS (SELECT 1 FROM certificate c WHERE c.device_number = NEW.device_number) THEN"
    /* a number planned already: the insert is skipped (ON CONFLICT) or refused */
    "  IF TG_OP = 'INSERT' AND EXISTS (SELECT 1 FROM plan_device p"
    "   WHERE p.device_number = NEW.device_number) THEN RETURN NEW; END IF;"
    "  NEW.written := coalesce((SELECT c.state = 'written' FROM certificate c"
    "   WHERE c.device_number = NEW.device_number FOR SHARE), false);"
    " END IF;"
    " RETURN NEW; END $$",
    "CREATE FUNCTION plan_device_written_sync() RETURNS bigint LANGUAGE plpgsql AS $$"
    " DECLARE set_true bigint; set_false bigint; BEGIN"
    "  LOCK TABLE certificate IN SHARE MODE;"
    "  UPDATE plan_device p SET written = true FROM certificate c"
    "   WHERE c.device_number = p.device_number AND c.state = 'written' AND NOT p.written;"
    "  GET DIAGNOSTICS set_true = ROW_COUNT;"
    "  UPDATE plan_device p SET written = false WHERE p.written AND NOT EXISTS (SELECT 1"
    "   FROM certificate c WHERE c.device_number = p.device_number AND c.state = 'written');"
    "  GET DIAGNOSTICS set_false = ROW_COUNT;"
    "  RETURN set_true + set_false; END $$",
    "SELECT plan_device_written_sync()",
    NULL,
};

static const struct cl_pg_migration migrations[] = {
    {1, "initial schema", migration_1},
    {2, "the CRL held for the lines", migration_2},
    {3, "rejected reports, retirements", migration_3},
    {4, "plan feed submissions", migration_4},
    {5, "model list from ca-server, replacement date, operator roles", migration_5},
    {6, "indexes of the operator console's views", migration_6},
    {7, "line time per device, the day's writes by model and line", migration_7},
    {8, "the certificates not written, by state", migration_8},
    {9, "receipts signed as a batch", migration_9},
    {10, "rejected reports closed by their replacement", migration_10},
    {11, "each planned number's written state; receipts in the order written", migration_11},
    {12, "the console's device search by line, the audit log by day", migration_12},
    {13, "each planned number's written state kept when writes race it, derived again",
     migration_13},
};

static const struct cl_pg_schema schema = {"comm-terminal", LOCK_MIGRATE, migrations,
                                           sizeof(migrations) / sizeof(migrations[0])};

/* ---- connection ---- */

int ct_store_open(const char *conninfo, struct ct_store **out, char *err, size_t errlen)
{
    int rc;

    if (out == NULL) {
        cl_err_set(err, errlen, "no database conninfo");
        return CL_ERR_INVALID_ARGUMENT;
    }
    *out = cl_pg_store_open(conninfo, "comm-terminal", sizeof(**out), &rc, err, errlen);
    /* No JIT compilation: the store's statements are short or read one day, and at a million
     * devices the planner's estimate for Today's counts passes jit_above_cost, where compiling
     * took 350 ms of a 650 ms answer. (A connection made again after a loss has the server's
     * default.) */
    if (rc == CL_OK &&
        (rc = cl_pg_query((*out)->db, NULL, "SET jit = off", 0, NULL, err, errlen)) != CL_OK) {
        ct_store_close(*out);
        *out = NULL;
    }
    return rc;
}

void ct_store_close(struct ct_store *store)
{
    cl_pg_store_close(store);
}

/* ---- migrations ---- */

int ct_store_migrate(struct ct_store *store, int *applied, char *err, size_t errlen)
{
    return cl_pg_migrate(store != NULL ? store->db : NULL, &schema, applied, err, errlen);
}

int ct_store_migrate_upto(struct ct_store *store, int last, int *applied, char *err, size_t errlen)
{
    struct cl_pg_schema upto = schema;
    while (upto.count > 0 && upto.steps[upto.count - 1].version > last)
        upto.count--;
    return cl_pg_migrate(store != NULL ? store->db : NULL, &upto, applied, err, errlen);
}
