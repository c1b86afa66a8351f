/* store/connection.c: the store's connection (ca_store_open/close), schema SQL and migrations. */
#include "store_internal.h"

/* ---- migrations ---- */

static const char *const migration_1[] = {
    "CREATE TABLE device_model ("
    " code text PRIMARY KEY CHECK (code ~ '^[0-9A-Z]{1,8}$'),"
    " key_type text NOT NULL CHECK (key_type IN ('p256', 'rsa2048', 'rsa3072')),"
    " certificate_managed boolean NOT NULL,"
    " key_id text NOT NULL UNIQUE CHECK (octet_length(key_id) BETWEEN 1 AND 64),"
    " created_at timestamptz NOT NULL DEFAULT now())",

    "CREATE TABLE batch_request ("
    " request_id text PRIMARY KEY CHECK (octet_length(request_id) BETWEEN 1 AND 64),"
    " body_hash bytea NOT NULL CHECK (octet_length(body_hash) = 32),"
    " replacement boolean NOT NULL,"
    " requester text NOT NULL CHECK (octet_length(requester) BETWEEN 1 AND 64),"
    " item_count integer NOT NULL CHECK (item_count > 0),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " completed_at timestamptz)",

    "CREATE TABLE certificate ("
    " serial text PRIMARY KEY CHECK (serial ~ '^([0-9A-F]{2}){1,20}$'),"
    " seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,"
    " device_number text NOT NULL CHECK (device_number ~ '^[0-9A-Z]{1,8}-[0-9]{1,12}$'),"
    " model_code text NOT NULL REFERENCES device_model (code),"
    " state text NOT NULL"
    "  CHECK (state IN ('intent', 'issued', 'installed', 'superseded', 'revoked')),"
    " request_id text REFERENCES batch_request (request_id),"
    " cert_der bytea,"
    " pack text,"
    " server_value text CHECK (server_value ~ '^[0-9a-f]{64}$'),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " issued_at timestamptz,"
    " installed_at timestamptz,"
    " ended_at timestamptz,"
    " reason text CHECK (octet_length(reason) <= 256),"
    " superseded_by text REFERENCES certificate (serial),"
    " CONSTRAINT certificate_number_of_model"
    "  CHECK (split_part(device_number, '-', 1) = model_code),"
    " CONSTRAINT certificate_issued_complete CHECK (state NOT IN ('issued', 'installed')"
    "  OR (cert_der IS NOT NULL AND pack IS NOT NULL AND server_value IS NOT NULL"
    "      AND issued_at IS NOT NULL)),"
    " CONSTRAINT certificate_installed_at"
    "  CHECK (state <> 'installed' OR installed_at IS NOT NULL),"
    " CONSTRAINT certificate_ended_at"
    "  CHECK (state NOT IN ('superseded', 'revoked') OR ended_at IS NOT NULL),"
    " CONSTRAINT certificate_superseded_by"
    "  CHECK (superseded_by IS NULL OR state = 'superseded'))",

    /* At most one valid certificate per device number, whoever writes. */
    "CREATE UNIQUE INDEX certificate_one_valid_per_device ON certificate (device_number)"
    " WHERE state IN ('intent', 'issued', 'installed')",
    "CREATE INDEX certificate_device_number ON certificate (device_number)",
    "CREATE INDEX certificate_model_code ON certificate (model_code)",
    "CREATE INDEX certificate_request_id ON certificate (request_id)",

    "CREATE TABLE batch_item ("
    " request_id text NOT NULL REFERENCES batch_request (request_id),"
    " position integer NOT NULL CHECK (position >= 0),"
    " device_number text NOT NULL,"
    " serial text NOT NULL UNIQUE REFERENCES certificate (serial),"
    " PRIMARY KEY (request_id, position),"
    " UNIQUE (request_id, device_number))",

    "CREATE TABLE service_certificate ("
    " serial text PRIMARY KEY CHECK (serial ~ '^([0-9A-F]{2}){1,20}$'),"
    " role text NOT NULL CHECK (octet_length(role) BETWEEN 1 AND 32),"
    " name text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 64),"
    " number text NOT NULL DEFAULT '' CHECK (octet_length(number) <= 32),"
    " issued_at timestamptz NOT NULL DEFAULT now(),"
    " actor text NOT NULL)",

    "CREATE TABLE audit_log ("
    " id bigserial PRIMARY KEY,"
    " at timestamptz NOT NULL DEFAULT now(),"
    " actor text NOT NULL CHECK (octet_length(actor) <= 64),"
    " action text NOT NULL CHECK (octet_length(action) BETWEEN 1 AND 64),"
    " detail text NOT NULL DEFAULT '' CHECK (octet_length(detail) <= 512))",
    NULL,
};

/* Packs are sealed keys, base64 and PEM: compression gains little and costs CPU on every
 * completion, so they are stored out of line uncompressed. */
static const char *const migration_2[] = {
    "ALTER TABLE certificate ALTER COLUMN pack SET STORAGE EXTERNAL",
    NULL,
};

/* Revocation (issue 14): the RFC 5280 reason of each revoked certificate, revocation of
 * service certificates, and the CRL number every ca-server on this database takes the next of.
 * Superseded certificates are listed with reason superseded whatever their reason_code. */
static const char *const migration_3[] = {
    "ALTER TABLE certificate ADD COLUMN reason_code smallint"
    " CHECK (reason_code IN (0, 1, 2, 3, 4, 5, 6, 9))",
    "UPDATE certificate SET reason_code = CASE state WHEN 'superseded' THEN 4 ELSE 0 END"
    " WHERE state IN ('superseded', 'revoked')",
    "CREATE INDEX certificate_ended ON certificate (ended_at)"
    " WHERE state IN ('superseded', 'revoked') AND issued_at IS NOT NULL",
    "ALTER TABLE service_certificate ADD COLUMN revoked_at timestamptz,"
    " ADD COLUMN reason_code smallint CHECK (reason_code IN (0, 1, 2, 3, 4, 5, 6, 9)),"
    " ADD COLUMN revocation_comment text CHECK (octet_length(revocation_comment) <= 256),"
    " ADD CONSTRAINT service_certificate_revoked"
    "  CHECK ((revoked_at IS NULL) = (reason_code IS NULL))",
    "CREATE INDEX service_certificate_revoked_at ON service_certificate (revoked_at)"
    " WHERE revoked_at IS NOT NULL",
    "CREATE TABLE crl_publication ("
    " only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),"
    " number bigint NOT NULL CHECK (number >= 0),"
    " published_at timestamptz)",
    "INSERT INTO crl_publication (number) VALUES (0)",
    NULL,
};

/* Keys kept only while needed: a pack (the device key sealed under the model's pre-write key)
 * goes at installation, supersession and revocation, whichever code path changes the state. */
static const char *const migration_4[] = {
    "ALTER TABLE certificate ADD COLUMN pack_purged_at timestamptz",
    "ALTER TABLE certificate DROP CONSTRAINT certificate_issued_complete",
    "ALTER TABLE certificate ADD CONSTRAINT certificate_issued_complete"
    " CHECK (state NOT IN ('issued', 'installed')"
    "  OR (cert_der IS NOT NULL AND (pack IS NOT NULL OR pack_purged_at IS NOT NULL)"
    "      AND server_value IS NOT NULL AND issued_at IS NOT NULL))",
    "ALTER TABLE certificate ADD CONSTRAINT certificate_pack_purged"
    " CHECK (pack IS NULL OR pack_purged_at IS NULL)",
    "CREATE FUNCTION certificate_purge_pack() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF NEW.state IN ('installed', 'superseded', 'revoked') AND NEW.pack IS NOT NULL THEN"
    "   NEW.pack := NULL;"
    "   NEW.pack_purged_at := now();"
    "  END IF;"
    "  RETURN NEW;"
    " END $$",
    "CREATE TRIGGER certificate_purge_pack BEFORE UPDATE OF state ON certificate"
    " FOR EACH ROW EXECUTE FUNCTION certificate_purge_pack()",
    "UPDATE certificate SET pack = NULL, pack_purged_at = now()"
    " WHERE state IN ('installed', 'superseded', 'revoked') AND pack IS NOT NULL",
    "CREATE INDEX certificate_pack_held ON certificate (issued_at)"
    " WHERE state = 'issued' AND pack IS NOT NULL",
    NULL,
};

/* Factories apart: each device number belongs to one factory (the comm-terminal certificate's
 * CN). Numbers issued before: the comm-terminal that asked for them first, when a comm-terminal
 * did (an operator's offline batch claims nothing); the others stay unowned until their next
 * request. */
static const char *const migration_5[] = {
    "CREATE TABLE device_owner ("
    " device_number text PRIMARY KEY CHECK (device_number ~ '^[0-9A-Z]{1,8}-[0-9]{1,12}$'),"
    " factory text NOT NULL CHECK (octet_length(factory) BETWEEN 1 AND 64),"
    " source text NOT NULL CHECK (source IN ('request', 'operator', 'migration')),"
    " detail text NOT NULL CHECK (octet_length(detail) BETWEEN 1 AND 64),"
    " since timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX device_owner_factory ON device_owner (factory)",
    "INSERT INTO device_owner (device_number, factory, source, detail, since)"
    " SELECT DISTINCT ON (c.device_number) c.device_number, b.requester, 'migration',"
    "  b.request_id, b.created_at"
    " FROM certificate c JOIN batch_request b ON b.request_id = c.request_id"
    " WHERE b.requester NOT LIKE 'operator:%'"
    " ORDER BY c.device_number, c.seq",
    NULL,
};

/* Pre-write keys per model and per period [seed 004, effect 3]: every key a model has had, the
 * first one (device_model.key_id, in force from the start: 'epoch') included. The current key of
 * a model is the one with the latest valid_from not after ca-server's clock: no flag to drift, a
 * key scheduled ahead becomes current by itself. */
static const char *const migration_6[] = {
    "CREATE TABLE prewrite_key ("
    " key_id text PRIMARY KEY CHECK (octet_length(key_id) BETWEEN 1 AND 64),"
    " model_code text NOT NULL REFERENCES device_model (code),"
    " valid_from timestamptz NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " first_key boolean NOT NULL DEFAULT false,"
    " UNIQUE (model_code, valid_from))",
    "CREATE UNIQUE INDEX prewrite_key_one_first ON prewrite_key (model_code) WHERE first_key",
    "INSERT INTO prewrite_key (key_id, model_code, valid_from, created_at, first_key)"
    " SELECT key_id, code, 'epoch', created_at, true FROM device_model",
    NULL,
};

/* Several ca-server instances on one database (issue 18): the newest CRL signed is kept beside
 * its number, so that every instance serves that one (crl_publisher.c adopts it) instead of
 * each signing its own under numbers that interleave. */
static const char *const migration_7[] = {
    "ALTER TABLE crl_publication ADD COLUMN crl_number bigint CHECK (crl_number >= 0),"
    " ADD COLUMN crl_der bytea CHECK (octet_length(crl_der) BETWEEN 1 AND 67108864),"
    " ADD COLUMN crl_mark bigint, ADD COLUMN crl_this_update bigint,"
    " ADD COLUMN crl_next_update bigint,"
    " ADD CONSTRAINT crl_publication_kept CHECK ((crl_number IS NULL) = (crl_der IS NULL)"
    "  AND (crl_der IS NULL) = (crl_mark IS NULL)"
    "  AND (crl_der IS NULL) = (crl_this_update IS NULL)"
    "  AND (crl_der IS NULL) = (crl_next_update IS NULL))",
    NULL,
};

/* Millions of certificates (issue 18, bench_growth.py): `list --state S` of a rare state walks
 * the states other than installed in issuance order instead of every certificate; the CRL reads
 * what it lists from its index alone (no heap page per entry); `owners` walks device numbers in
 * byte order, for all factories or one, instead of sorting them all. */
static const char *const migration_8[] = {
    "CREATE INDEX certificate_state_seq ON certificate (state, seq)"
    " WHERE state IN ('intent', 'issued', 'superseded', 'revoked')",
    "CREATE INDEX certificate_model_seq ON certificate (model_code, seq)",
    "DROP INDEX certificate_model_code",
    "CREATE INDEX certificate_crl_entries ON certificate (ended_at)"
    " INCLUDE (serial, state, reason_code)"
    " WHERE state IN ('superseded', 'revoked') AND issued_at IS NOT NULL",
    "DROP INDEX certificate_ended",
    "CREATE INDEX device_owner_number_bytes ON device_owner (device_number COLLATE \"C\")",
    "CREATE INDEX device_owner_factory_number ON device_owner"
    " (factory, device_number COLLATE \"C\")",
    "DROP INDEX device_owner_factory",
    NULL,
};

/* CA operators: the accounts of ca-server's console (issue 17 part 2), their passwords hashed
 * as the comm-terminal's operators' are; and certificates found by the day they were signed. */
static const char *const migration_9[] = {
    "CREATE TABLE ca_operator ("
    " login text PRIMARY KEY CHECK (login ~ '^[!-~]{1,32}$'),"
    " salt bytea NOT NULL CHECK (octet_length(salt) = 16),"
    " iterations integer NOT NULL CHECK (iterations > 0),"
    " hash bytea NOT NULL CHECK (octet_length(hash) = 32),"
    " role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),"
    " state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " updated_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX certificate_issued_at ON certificate (issued_at) WHERE issued_at IS NOT NULL",
    NULL,
};

/* The console's certificate search at a million certificates (issue 17, bench_ca_console.py):
 * a device number or serial prefix (LIKE 'p%') is an index range only in an index of byte order
 * (the database's collation may not be C), and a day of intents a range of created_at, instead of
 * walking every certificate newest first. */
static const char *const migration_10[] = {
    "CREATE INDEX certificate_number_bytes ON certificate (device_number COLLATE \"C\")",
    "CREATE INDEX certificate_serial_bytes ON certificate (serial COLLATE \"C\")",
    "CREATE INDEX certificate_created_at ON certificate (created_at)",
    NULL,
};

/* Issuance per factory and day at a million certificates (issue 17, bench_ca_console.py): the
 * console's page read every certificate signed in its window. The database keeps the counts
 * itself, whatever writes: statement triggers on certificate (signed: issued_at set; installed,
 * revoked: the state now) and on device_owner (the factory: a number's owner now, "" none) append
 * one row per day and factory a statement changed, with the change (-1 taken off, +1 added);
 * nothing is updated in place, so concurrent batches never wait for one another on a counter.
 * The page sums the rows of its window; ca_store_issuance_fold replaces them by their sums now
 * and then. The day is issued_at's date in the time zone recorded here (the migrating session's:
 * ca-server's own), whoever writes; a session of another zone counts from the certificates.
 * An owner change locks the number's certificates (FOR SHARE) before counting them, so that a
 * concurrent signing, installation or revocation of them, counted under the factory it saw, is
 * either waited for and moved, or waits and sees the new owner. */
#define ISSUANCE_DAY "(c.issued_at AT TIME ZONE (SELECT zone FROM issuance_zone))::date"
/* Appends the change of certificate rows: changes gives (issued_at, device_number, state, sign);
 * summed per day and number first, so that what a statement left unchanged costs no lookup. */
#define ISSUANCE_CERTIFICATES(changes)                                                             \
    "INSERT INTO issuance_count (day, factory, issued, installed, revoked)"                        \
    " SELECT * FROM (SELECT n.day, coalesce((SELECT o.factory FROM device_owner o"                 \
    "  WHERE o.device_number = n.device_number), '') AS factory,"                                  \
    "  sum(n.issued) AS issued, sum(n.installed) AS installed, sum(n.revoked) AS revoked"          \
    "  FROM (SELECT * FROM (SELECT " ISSUANCE_DAY " AS day, c.device_number,"                      \
    "   sum(c.sign) AS issued,"                                                                    \
    "   sum(CASE WHEN c.state = 'installed' THEN c.sign ELSE 0 END) AS installed,"                 \
    "   sum(CASE WHEN c.state = 'revoked' THEN c.sign ELSE 0 END) AS revoked"                      \
    "   FROM (" changes ") c WHERE c.issued_at IS NOT NULL GROUP BY 1, 2) d"                       \
    "   WHERE (d.issued, d.installed, d.revoked) <> (0, 0, 0)) n GROUP BY 1, 2) f"                 \
    " WHERE (f.issued, f.installed, f.revoked) <> (0, 0, 0);"
/* Locks, then moves the certificates of owner rows: moves gives (device_number, factory, sign). */
#define ISSUANCE_OWNERS(moves)                                                                     \
    "PERFORM FROM (" moves ") m, LATERAL (SELECT 1 FROM certificate c"                             \
    "  WHERE c.device_number = m.device_number OFFSET 0 FOR SHARE) l;"                             \
    " INSERT INTO issuance_count (day, factory, issued, installed, revoked)"                       \
    " SELECT * FROM (SELECT x.day, x.factory, sum(x.sign) AS issued,"                              \
    "  sum(CASE WHEN x.state = 'installed' THEN x.sign ELSE 0 END) AS installed,"                  \
    "  sum(CASE WHEN x.state = 'revoked' THEN x.sign ELSE 0 END) AS revoked"                       \
    "  FROM (SELECT " ISSUANCE_DAY " AS day, m.factory, m.sign, c.state"                           \
    "   FROM (" moves ") m, LATERAL (SELECT c.issued_at, c.state FROM certificate c"               \
    "    WHERE c.device_number = m.device_number AND c.issued_at IS NOT NULL OFFSET 0) c) x"       \
    "  GROUP BY 1, 2) f WHERE (f.issued, f.installed, f.revoked) <> (0, 0, 0);"
#define ISSUANCE_CHANGED(rows, sign)                                                               \
    "SELECT issued_at, device_number, state, " sign " AS sign FROM " rows
#define ISSUANCE_MOVED(rows, factory, sign)                                                        \
    "SELECT device_number, " factory " AS factory, " sign " AS sign FROM " rows

/* The trigger functions' bodies: certificate rows signed, installed, revoked or otherwise
 * changed; owner rows added, changed or removed. */
/* clang-format off */
#define ISSUANCE_CERTIFICATE_BODY                                                                  \
    " BEGIN IF TG_OP = 'INSERT' THEN "                                                             \
    ISSUANCE_CERTIFICATES(ISSUANCE_CHANGED("new_rows", "1"))                                       \
    " ELSIF TG_OP = 'DELETE' THEN "                                                                \
    ISSUANCE_CERTIFICATES(ISSUANCE_CHANGED("old_rows", "-1"))                                      \
    " ELSE "                                                                                       \
    ISSUANCE_CERTIFICATES(ISSUANCE_CHANGED("new_rows", "1") " UNION ALL "                          \
                          ISSUANCE_CHANGED("old_rows", "-1"))                                      \
    " END IF; RETURN NULL; END"
#define ISSUANCE_OWNER_BODY                                                                        \
    " BEGIN IF TG_OP = 'INSERT' THEN "                                                             \
    ISSUANCE_OWNERS(ISSUANCE_MOVED("new_rows", "factory", "1") " UNION ALL "                       \
                    ISSUANCE_MOVED("new_rows", "''", "-1"))                                        \
    " ELSIF TG_OP = 'DELETE' THEN "                                                                \
    ISSUANCE_OWNERS(ISSUANCE_MOVED("old_rows", "''", "1") " UNION ALL "                            \
                    ISSUANCE_MOVED("old_rows", "factory", "-1"))                                   \
    " ELSE "                                                                                       \
    ISSUANCE_OWNERS(ISSUANCE_MOVED("new_rows", "factory", "1") " UNION ALL "                       \
                    ISSUANCE_MOVED("old_rows", "factory", "-1"))                                   \
    " END IF; RETURN NULL; END"
/* clang-format on */

static const char *const migration_11[] = {
    "CREATE TABLE issuance_zone ("
    " only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),"
    " zone text NOT NULL)",
    "INSERT INTO issuance_zone (zone) VALUES (current_setting('TimeZone'))",
    "CREATE TABLE issuance_count ("
    " day date NOT NULL,"
    " factory text NOT NULL CHECK (octet_length(factory) <= 64),"
    " issued bigint NOT NULL, installed bigint NOT NULL, revoked bigint NOT NULL)",
    "CREATE INDEX issuance_count_day ON issuance_count (day)",
    "CREATE FUNCTION issuance_count_certificate() RETURNS trigger LANGUAGE plpgsql"
    " AS $$" ISSUANCE_CERTIFICATE_BODY " $$",
    "CREATE FUNCTION issuance_count_owner() RETURNS trigger LANGUAGE plpgsql"
    " AS $$" ISSUANCE_OWNER_BODY " $$",
    /* Counts everything again (the backfill; after a TRUNCATE; by hand, to count the days in
     * another time zone), the tables locked against writers meanwhile. */
    "CREATE FUNCTION issuance_count_rebuild(new_zone text DEFAULT current_setting('TimeZone'))"
    " RETURNS void LANGUAGE plpgsql AS $$ BEGIN"
    "  LOCK TABLE certificate, device_owner IN SHARE ROW EXCLUSIVE MODE;"
    "  UPDATE issuance_zone SET zone = new_zone;"
    "  DELETE FROM issuance_count;"
    "  INSERT INTO issuance_count (day, factory, issued, installed, revoked)"
    "   SELECT " ISSUANCE_DAY ", coalesce(o.factory, ''), count(*),"
    "   count(*) FILTER (WHERE c.state = 'installed'),"
    "   count(*) FILTER (WHERE c.state = 'revoked')"
    "   FROM certificate c LEFT JOIN device_owner o ON o.device_number = c.device_number"
    "   WHERE c.issued_at IS NOT NULL GROUP BY 1, 2;"
    " END $$",
    "CREATE FUNCTION issuance_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  PERFORM issuance_count_rebuild((SELECT zone FROM issuance_zone));"
    "  RETURN NULL;"
    " END $$",
    "CREATE TRIGGER issuance_count_insert AFTER INSERT ON certificate"
    " REFERENCING NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION issuance_count_certificate()",
    "CREATE TRIGGER issuance_count_update AFTER UPDATE ON certificate"
    " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION issuance_count_certificate()",
    "CREATE TRIGGER issuance_count_delete AFTER DELETE ON certificate"
    " REFERENCING OLD TABLE AS old_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION issuance_count_certificate()",
    "CREATE TRIGGER issuance_count_truncate AFTER TRUNCATE ON certificate"
    " FOR EACH STATEMENT EXECUTE FUNCTION issuance_count_truncated()",
    "CREATE TRIGGER issuance_count_insert AFTER INSERT ON device_owner"
    " REFERENCING NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION issuance_count_owner()",
    "CREATE TRIGGER issuance_count_update AFTER UPDATE ON device_owner"
    " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION issuance_count_owner()",
    "CREATE TRIGGER issuance_count_delete AFTER DELETE ON device_owner"
    " REFERENCING OLD TABLE AS old_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION issuance_count_owner()",
    "CREATE TRIGGER issuance_count_truncate AFTER TRUNCATE ON device_owner"
    " FOR EACH STATEMENT EXECUTE FUNCTION issuance_count_truncated()",
    /* The triggers hold both tables against writers until this migration commits: the
     * backfill misses nothing and counts nothing twice. */
    "SELECT issuance_count_rebuild()",
    NULL,
};

static const struct cl_pg_migration migrations[] = {
    {1, "initial schema", migration_1},
    {2, "packs stored uncompressed", migration_2},
    {3, "revocation reasons, service certificate revocation, CRL number", migration_3},
    {4, "packs purged once not needed", migration_4},
    {5, "device numbers owned by factories", migration_5},
    {6, "pre-write keys per model and period", migration_6},
    {7, "the newest CRL kept for every instance", migration_7},
    {8, "indexes for millions of certificates", migration_8},
    {9, "CA operators for the console", migration_9},
    {10, "indexes for the console's certificate search", migration_10},
    {11, "issuance counted per factory and day", migration_11},
};

static const struct cl_pg_schema schema = {"ca-server", LOCK_MIGRATE, migrations,
                                           sizeof(migrations) / sizeof(migrations[0])};

/* ---- connection ---- */

int ca_store_open(const char *conninfo, struct ca_store **out, char *err, size_t errlen)
{
    int rc;

    if (out == NULL) {
        cl_err_set(err, errlen, "no database conninfo");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((*out = cl_pg_store_open(conninfo, "ca-server", sizeof(**out), &rc, err, errlen)) != NULL)
        (*out)->serial_source = cl_serial_ordered;
    return rc;
}

void ca_store_close(struct ca_store *store)
{
    cl_pg_store_close(store);
}

int ca_store_again(struct ca_store *store, int rc, int *runs)
{
    return store != NULL && cl_pg_again(store->db, rc, runs);
}

void ca_store_set_serial_source(struct ca_store *store,
                                int (*source)(char serial_hex[CA_SERIAL_HEX_MAX + 1]))
{
    if (store != NULL)
        store->serial_source = source != NULL ? source : cl_serial_ordered;
}

/* ---- migrations ---- */

int ca_store_migrate(struct ca_store *store, int *applied, char *err, size_t errlen)
{
    return cl_pg_migrate(store != NULL ? store->db : NULL, &schema, applied, err, errlen);
}

int ca_store_migrate_upto(struct ca_store *store, int last, int *applied, char *err, size_t errlen)
{
    struct cl_pg_schema upto = schema;
    while (upto.count > 0 && upto.steps[upto.count - 1].version > last)
        upto.count--;
    return cl_pg_migrate(store != NULL ? store->db : NULL, &upto, applied, err, errlen);
}
