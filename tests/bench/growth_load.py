"""growth_load.py: bench_growth's bulk loader. Fills a ca-server or a comm-terminal store with
COPY, as the program would have filled it over months (rows in the order and states the programs
leave them, every constraint satisfied), with the tables' keys, indexes and foreign keys dropped
during the COPY and made again afterwards from their own definitions (what pg_restore does), then
VACUUM ANALYZE (what autovacuum would have done by then)."""
import base64
import hashlib
import os
import subprocess
import time

# ---- COPY through psql ----


def copy_text(value):
    """One COPY text-format field: None is \\N; backslash, tab and line ends escaped."""
    if value is None:
        return "\\N"
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def bytea(data):
    """A bytea value in COPY text format (hex, its backslash escaped)."""
    return "\\\\x" + data.hex()


class Copy:
    """Several COPY ... FROM STDIN streams into one database at once (one psql each)."""

    def __init__(self, conninfo, tables):
        self.streams = {}
        for table, columns in tables.items():
            sql = "COPY %s (%s) FROM STDIN" % (table, ", ".join(columns))
            self.streams[table] = subprocess.Popen(
                ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", conninfo, "-c", sql],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True, bufsize=1 << 20)
        self.buffers = {table: [] for table in tables}

    def row(self, table, fields):
        buf = self.buffers[table]
        buf.append("\t".join(fields))
        if len(buf) >= 2000:
            self.flush(table)

    def flush(self, table):
        buf = self.buffers[table]
        if buf:
            self.streams[table].stdin.write("\n".join(buf) + "\n")
            buf.clear()

    def close(self):
        errors = []
        for table, process in self.streams.items():
            self.flush(table)
            process.stdin.close()
            if process.wait() != 0:
                errors.append("COPY %s: %s" % (table, process.stderr.read()[-2000:]))
        if errors:
            raise RuntimeError("; ".join(errors))

    def kill(self):
        for process in self.streams.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def psql(conninfo, sql, timeout=7200):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", conninfo, "-c",
                        sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("psql failed: %s\n%s" % (sql[:300], r.stderr[-2000:]))
    return r.stdout


# ---- keys and indexes out of the way during the COPY ----


def drop_keys(conninfo, tables):
    """Drops the primary keys, unique constraints, foreign keys (from or to tables) and indexes
    of tables; returns the statements that make them again, keys before foreign keys."""
    names = "ARRAY[%s]::regclass[]" % ", ".join("'%s'" % t for t in tables)
    rows = psql(conninfo, (
        "SELECT contype, conrelid::regclass, conname, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE contype IN ('p', 'u', 'f')"
        " AND (conrelid = ANY(%s) OR confrelid = ANY(%s))"
        " ORDER BY contype = 'f' DESC, conname") % (names, names))
    keys = [line.split("|", 3) for line in rows.splitlines() if line]
    rows = psql(conninfo, (
        "SELECT i.indexrelid::regclass, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
        "  WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))") % names)
    indexes = [line.split("|", 1) for line in rows.splitlines() if line]
    drop = ["ALTER TABLE %s DROP CONSTRAINT %s" % (table, name) for _, table, name, _ in keys]
    drop += ["DROP INDEX %s" % name for name, _ in indexes]
    psql(conninfo, "; ".join(drop))
    make = [definition for _, definition in indexes]
    make += ["ALTER TABLE %s ADD CONSTRAINT %s %s" % (table, name, definition)
             for kind, table, name, definition in keys if kind != "f"]
    make += ["ALTER TABLE %s ADD CONSTRAINT %s %s" % (table, name, definition)
             for kind, table, name, definition in keys if kind == "f"]
    return make


def restore_keys(conninfo, statements, log):
    t0 = time.monotonic()
    psql(conninfo, "SET maintenance_work_mem = '512MB'; " + "; ".join(statements))
    log("  keys, indexes and foreign keys made again in %.0f s" % (time.monotonic() - t0))
    t0 = time.monotonic()
    psql(conninfo, "VACUUM ANALYZE")
    log("  VACUUM ANALYZE in %.0f s" % (time.monotonic() - t0))


def load(conninfo, tables, generate, log):
    """COPY generate(copy)'s rows into the tables, their keys out of the way; returns seconds."""
    t0 = time.monotonic()
    make = drop_keys(conninfo, list(tables))
    copy = Copy(conninfo, tables)
    try:
        generate(copy)
        copy.close()
    finally:
        copy.kill()
    log("  COPY done in %.0f s" % (time.monotonic() - t0))
    restore_keys(conninfo, make, log)
    return time.monotonic() - t0


# ---- shared shapes ----

SERIAL_MULT = 0x9E3779B97F4A7C15F39CC0605CEDC835  # odd: i -> i * M mod 2^128 is one-to-one
MASK128 = (1 << 128) - 1


def serial_of(i, salt):
    """A unique serial for row i (salted per store), spread like random ones: 126 bits below a
    first byte of 0x40 to 0x7F, so that it is a positive DER integer without leading zero bytes
    (the CRL refuses such a serial; 10M rows drew some)."""
    return "%032X" % (((((i + salt) * SERIAL_MULT) & MASK128) >> 2) | (1 << 126))


def value_of(i, tag):
    return hashlib.sha256(b"%s %d" % (tag, i)).hexdigest()


def stamp(t):
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(t))


def incompressible(n, seed):
    """n characters of base64 that do not compress (a sealed key or a signature does not)."""
    raw = b"".join(hashlib.sha256(b"%s %d" % (seed, k)).digest() for k in range(n // 32 + 2))
    return base64.b64encode(raw).decode()[:n]


# ---- ca-server ----

CA_FACTORIES = ["factory-%s" % c for c in "abcdefghij"]  # ten factories (issue 18)
CA_MODELS = ("3012", "4420", "5105", "7733")
CA_BATCH = 1000
CA_SUPERSEDE_EVERY = 50  # one device in 50 had its certificate replaced
CA_REVOKE_EVERY = 200  # one in 200 revoked (keyCompromise or cessationOfOperation)
CA_UNINSTALLED_EVERY = 100  # one in 100 issued, never reported, its pack purged by retention
CA_TABLES = {
    "batch_request": ("request_id", "body_hash", "replacement", "requester", "item_count",
                      "created_at", "completed_at"),
    "certificate": ("serial", "device_number", "model_code", "state", "request_id", "cert_der",
                    "pack", "server_value", "created_at", "issued_at", "installed_at",
                    "ended_at", "reason", "superseded_by", "reason_code", "pack_purged_at"),
    "batch_item": ("request_id", "position", "device_number", "serial"),
    "device_owner": ("device_number", "factory", "source", "detail", "since"),
    "audit_log": ("at", "actor", "action", "detail"),
}


def ca_rows(copy, certificates, cert_der, pack, now, salt):
    """About `certificates` certificate rows, in batches of 1,000 numbers of one factory and one
    model, oldest first over the days before now (at least 1,000 numbers a day, or 300 days):
    most installed with their packs purged; 1 in 50 replaced (superseded, pointing to the
    installed replacement, itself in a replacement request), 1 in 200 revoked, 1 in 100 issued and
    never reported (pack purged); the newest 3,000 (at most 5%) issued with their packs still
    held; the newest batch (at most 1%) recorded intents of a request not completed yet.
    Returns {state: rows}."""
    batches = max(1, certificates // (CA_BATCH + CA_BATCH // CA_SUPERSEDE_EVERY))
    devices = batches * CA_BATCH
    per_day = max(1000, devices // 300)
    span = devices * 86400.0 / per_day
    intents = CA_BATCH if devices >= 100 * CA_BATCH else 0  # one whole request, at most 1%
    held = min(3000, devices // 20)
    der = bytea(cert_der)
    pack_text = copy_text(pack)
    counts = {}
    row = 0
    for b in range(batches):
        factory = CA_FACTORIES[b % len(CA_FACTORIES)]
        model = CA_MODELS[(b // len(CA_FACTORIES)) % len(CA_MODELS)]
        t = now - span + b * CA_BATCH * span / devices
        day = time.strftime("%Y%m%d", time.gmtime(t))
        request = "%s-%s-%06d" % (factory, day, b)
        created, issued = stamp(t), stamp(t + 20)
        installs = [stamp(t + 3600 + 90 * k) for k in range(100)]
        later = stamp(t + 86400 * 2)
        first = b * CA_BATCH
        open_batch = first >= devices - intents
        copy.row("batch_request", (request, bytea(hashlib.sha256(request.encode()).digest()),
                                   "f", factory, str(CA_BATCH), created,
                                   "\\N" if open_batch else issued))
        replaced = []
        for pos in range(CA_BATCH):
            i = first + pos
            number = "%s-%012d" % (model, i)
            serial = serial_of(row, salt)
            row += 1
            state, ended, reason, code, by = "installed", None, None, None, None
            cert, held_pack, value, issued_at = der, "\\N", value_of(i, b"s"), issued
            installed, purged = installs[pos % 100], installs[pos % 100]
            if open_batch:
                state, cert, value, issued_at, installed, purged = ("intent", "\\N", None, None,
                                                                    None, None)
            elif i >= devices - intents - held:
                state, held_pack, installed, purged = "issued", pack_text, None, None
            elif pos % CA_SUPERSEDE_EVERY == 11:
                state, ended, code, installed = "superseded", later, "4", None
                by = serial_of(row, salt)
                row += 1
                replaced.append((number, by, pos))
            elif pos % CA_REVOKE_EVERY == 3:
                state, ended, code, reason = "revoked", later, "1" if pos % 400 == 3 else "5", \
                    "board scrapped" if pos % 400 != 3 else "key exposed at repair"
                copy.row("audit_log", (later, "operator:alice", "revoke",
                                       "%s %s %s" % (serial, number, reason)))
            elif pos % CA_UNINSTALLED_EVERY == 17:
                state, installed = "issued", None
            counts[state] = counts.get(state, 0) + 1
            copy.row("certificate", (serial, number, model, state, request, cert, held_pack,
                                     value or "\\N", created, issued_at or "\\N",
                                     installed or "\\N", ended or "\\N",
                                     copy_text(reason), by or "\\N", code or "\\N",
                                     purged or "\\N"))
            copy.row("batch_item", (request, str(pos), number, serial))
            copy.row("device_owner", (number, factory, "request", request, created))
        if replaced:
            again = "%s-R" % request
            copy.row("batch_request", (again, bytea(hashlib.sha256(again.encode()).digest()),
                                       "t", factory, str(len(replaced)), later, later))
            for k, (number, serial, pos) in enumerate(replaced):
                copy.row("certificate", (serial, number, model, "installed", again, der, "\\N",
                                         value_of(first + pos, b"r"), later, later,
                                         stamp(t + 86400 * 3), "\\N", "\\N", "\\N", "\\N",
                                         stamp(t + 86400 * 3)))
                copy.row("batch_item", (again, str(k), number, serial))
                counts["installed"] += 1
    return counts


def ca_load(conninfo, certificates, cert_der, pack, log):
    """Fills an empty ca-server store (made by init, with CA_MODELS added); returns the figures
    of the load."""
    now = time.time() - 3600
    values = ", ".join("('%s', 'comm-terminal', '%s', '', now() - interval '400 days', "
                       "'operator:alice')" % (serial_of(k, 7 << 100), f)
                       for k, f in enumerate(CA_FACTORIES))
    psql(conninfo, "INSERT INTO service_certificate (serial, role, name, number, issued_at,"
                   " actor) VALUES " + values)
    counts = {}
    # Migration 11's issuance counts: its insert triggers are off during the COPY (as
    # pg_restore --disable-triggers; the tables' streams commit apart and their keys are gone),
    # then everything is counted at once.
    counted = psql(conninfo, "SELECT to_regproc('issuance_count_rebuild') IS NOT NULL").strip()
    triggers = ("ALTER TABLE certificate %s TRIGGER issuance_count_insert;"
                " ALTER TABLE device_owner %s TRIGGER issuance_count_insert")
    if counted == "t":
        psql(conninfo, triggers % ("DISABLE", "DISABLE"))
    seconds = load(conninfo, CA_TABLES, lambda copy: counts.update(
        ca_rows(copy, certificates, cert_der, pack, now, certificates)), log)
    if counted == "t":
        t0 = time.monotonic()
        psql(conninfo, triggers % ("ENABLE", "ENABLE") + "; SELECT issuance_count_rebuild()")
        log("  issuance counted per factory and day in %.0f s" % (time.monotonic() - t0))
    return {"load_seconds": round(seconds, 1), "states": counts}


# ---- comm-terminal ----

CT_MODELS = ("3012", "4420")
CT_LINES = 16
CT_TABLES = {
    "plan": ("model_code", "day", "units"),
    "plan_device": ("device_number", "model_code", "day"),
    "fetch_request": ("request_id", "day", "replacement", "item_count", "state", "created_at",
                      "ended_at"),
    "fetch_item": ("request_id", "position", "device_number", "pending"),
    "certificate": ("device_number", "model_code", "serial", "pack", "state", "write_flag",
                    "request_id", "claimed_by_line", "claimed_at", "created_at", "delivered_at",
                    "written_at", "pack_deleted_at", "replaced_at"),
    "failed_pack": ("device_number", "serial", "line_id", "reason", "failed_at"),
    "report": ("device_number", "serial", "proof", "written_at", "state", "attempts",
               "next_attempt", "received_at", "signature", "signer_pem", "rejected_at",
               "reject_reason"),
    "audit_log": ("at", "actor", "action", "detail"),
}


CT_REJECT_EVERY = 1000  # one device in 1,000 had its installation report rejected
CT_REJECT_OPEN = 10000  # those among the newest 10,000 written still await their replacement


def ct_rows(copy, devices, pack, signer_pem, now, closing):
    """`devices` planned numbers of CT_MODELS over past days (at least 1,000 a day, or 200
    days), fetched in requests of 1,000, written on CT_LINES lines with their packs deleted and
    their reports answered with a receipt; 1 in 100 written after a failed first write (the
    failed pack kept); 1 in 1,000 had its first pack's report rejected (the certificate failed,
    as ct_store_report_reject leaves it), then a replacement written and receipted, except among
    the newest CT_REJECT_OPEN written, whose device still awaits it (failed, its pack held): 10
    at any size;
    the newest 2,000 (at most 5%) stored packs not used yet. closing: the store has migration
    10's report.closed_at (a rejected report closed when its replacement was written). Returns
    {state: rows}."""
    per_day = max(1000, devices // 200)
    days = (devices + per_day - 1) // per_day
    held = min(2000, devices // 20)
    signature = incompressible(96, b"sig")
    counts = {}
    for d in range(days):
        t = now - (days - d) * 86400.0
        day = time.strftime("%Y-%m-%d", time.gmtime(t))
        first, last = d * per_day, min(devices, (d + 1) * per_day)
        for m, model in enumerate(CT_MODELS):
            mine = [i for i in range(first, last) if i % len(CT_MODELS) == m]
            if not mine:
                continue
            copy.row("plan", (model, day, str(len(mine))))
            for k in range(0, len(mine), 1000):
                chunk = mine[k:k + 1000]
                request = "ct-%s-%s-%04d" % (day.replace("-", ""), model, k // 1000)
                created = stamp(t - 43200)
                copy.row("fetch_request", (request, day, "f", str(len(chunk)), "completed",
                                           created, stamp(t - 43100)))
                for pos, i in enumerate(chunk):
                    number = "%s-%012d" % (model, i)
                    serial = serial_of(i, 11)
                    copy.row("plan_device", (number, model, day))
                    copy.row("fetch_item", (request, str(pos), number, "f"))
                    line = "L%02d" % (i % CT_LINES + 1)
                    w = t + (i - first) * 80000.0 / per_day
                    written = stamp(w + 5)
                    if i >= devices - held:
                        counts["stored"] = counts.get("stored", 0) + 1
                        copy.row("certificate", (number, model, serial, pack, "stored", "0",
                                                 request, "\\N", "\\N", created, "\\N", "\\N",
                                                 "\\N", "\\N"))
                        continue
                    replaced = "\\N"
                    if i % 100 == 42:
                        copy.row("failed_pack", (number, serial_of(i, 13), line,
                                                 "WRITE_FAILED step 3", stamp(w - 60)))
                        replaced = stamp(w - 50)
                    if i % CT_REJECT_EVERY == CT_REJECT_EVERY // 2:
                        # the first pack written an hour before, its report rejected
                        first_serial = serial_of(i, 17)
                        why = "the installation proof does not match"
                        open_ = i >= devices - held - CT_REJECT_OPEN
                        copy.row("failed_pack", (number, first_serial, line,
                                                 "installation report rejected by ca-server: "
                                                 + why, stamp(w - 3000)))
                        copy.row("report", (
                            number, first_serial, value_of(i, b"r"), stamp(w - 3600),
                            "rejected", "0", stamp(w - 3600), "\\N", "\\N", "\\N",
                            stamp(w - 3000), why) + (
                            (("\\N" if open_ else stamp(w + 5)),) if closing else ()))
                        if open_:
                            counts["failed"] = counts.get("failed", 0) + 1
                            copy.row("certificate", (number, model, first_serial, pack, "failed",
                                                     "0", request, line, "\\N", created,
                                                     stamp(w - 3600), stamp(w - 3600), "\\N",
                                                     "\\N"))
                            continue
                        replaced = stamp(w - 600)
                    counts["written"] = counts.get("written", 0) + 1
                    copy.row("certificate", (number, model, serial, "\\N", "written", "1",
                                             request, line, stamp(w), created, stamp(w),
                                             written, stamp(w + 20), replaced))
                    copy.row("report", (
                        number, serial, value_of(i, b"p"), written, "done", "0", written,
                        stamp(w + 10), signature, signer_pem, "\\N", "\\N") + (
                        ("\\N",) if closing else ()))
                    if i % 10 == 0:
                        copy.row("audit_log", (written, "alice", "view",
                                               "list --state written (seeded %d)" % i))
    return counts


def ct_load(conninfo, devices, pack, signer_pem, log):
    """Fills a migrated comm-terminal store (models CT_MODELS known); returns the load's
    figures."""
    counts = {}
    # migration 10 (rejected reports closed by their replacement) or a store before it
    closing = psql(conninfo, "SELECT count(*) FROM information_schema.columns"
                             " WHERE table_name = 'report' AND column_name = 'closed_at'"
                   ).strip() == "1"
    tables = dict(CT_TABLES, report=CT_TABLES["report"] + (("closed_at",) if closing else ()))
    seconds = load(conninfo, tables, lambda copy: counts.update(
        ct_rows(copy, devices, copy_text(pack), copy_text(signer_pem), time.time(), closing)),
        log)
    return {"load_seconds": round(seconds, 1), "states": counts}


def database_bytes(conninfo):
    """pg_database_size and each table's pg_total_relation_size (heap, TOAST, indexes)."""
    out = psql(conninfo, "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
                         " JOIN pg_namespace n ON n.oid = c.relnamespace"
                         " WHERE n.nspname = 'public' AND c.relkind = 'r'"
                         " UNION ALL SELECT '(database)', pg_database_size(current_database())")
    return {name: int(size) for name, size in (line.split("|") for line in out.splitlines()
                                               if line)}


def disk_free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
