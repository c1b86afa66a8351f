#!/usr/bin/python3
"""test_offline_factory.py: a factory cut off from the service centre [seed 004] and service
parts [seed 001 FIG 17, S1704/S1705] (issue 20, parts 3, 4 and 7), with the real ca-server,
comm-terminal, factory-terminal and device-agent, a private PostgreSQL cluster and mutual TLS on
loopback:

- ca-server is never reachable for the day: the comm-terminal runs on a batch file that
  `ca-server batch --factory` signed, carried in by hand (`import-batch`, which abandons the
  request a fetch tried meanwhile left pending for its numbers); refused, with nothing
  stored: an unsigned (version 1) file, a file for another factory, a tampered one (a serial
  changed, an item dropped), one signed by a foreign CA; the same file imported twice changes
  nothing;
- a line provisions devices from it (factory-terminal + device-agent), and a service part is
  written on a bench (`export-pack`, `device-agent install` on fresh images, `record-write`);
- the installation reports go out by file (`export-reports`), ca-server checks each proof
  (`import-reports`; a tampered report file brings back no receipts), and the receipts come back
  (`import-receipts`; a forged receipt file and one signed by a foreign CA are refused, nothing
  kept; importing twice keeps nothing twice): every written device holds its receipt, whose
  signature verifies, and ca-server says installed;
- later, with ca-server reachable, an online fetch for the same day doubles nothing;
- a service part with ca-server up: export-pack, install, record-write, then the report and the
  receipt as for a line, check-in installed, and `openssl verify` of the installed certificate
  against the root; a failed bench write is recorded (NG) and its replacement follows;
- `enter` (a number entered by hand, then provisioned on the line) and `report` (the queued
  reports sent on demand) end to end.

Usage: test_offline_factory.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR
"""
import json
import os
import stat
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cryptography import x509  # noqa: E402

from test_line import MODEL, TODAY, Line, check, run_cases, wait_for  # noqa: E402
from certline_harness import (STORED_RECEIPT_JOIN, STORED_RECEIPT_SQL, CaServer,  # noqa: E402
                              verify_stored_receipt)
from certline_procs import FactoryTerminal, free_port  # noqa: E402

FACTORY = "comm.certline.test"  # the comm-terminal's certificate name: ca-server's factory
TOMORROW = "2099-12-31"  # a later plan day: not fetched by today's fetch
BATCH = ["%s-%06d" % (MODEL, n) for n in range(1, 6)] + ["A123-000001", "A123-000002"]
LINE_DEVICES = BATCH[:3] + ["A123-000001"]
SERVICE_OFFLINE = BATCH[3]  # a service part written on the bench on the imported batch
ONLINE = "%s-%06d" % (MODEL, 6)  # planned today, not in the batch: fetched online later
ENTERED = "%s-%06d" % (MODEL, 7)  # planned for TOMORROW: entered by hand


def load(path):
    with open(path) as f:
        return json.load(f)


def save(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)


class OfflineFactory(Line):
    UNITS = 6
    LIMITS = {"connect_timeout_s": 2, "recv_timeout_s": 5}

    def setup(self):
        ca = self.ca
        ca.run("init")
        for args in (("ca-server", "ca.certline.test", "svc-ca"),
                     ("comm-terminal", FACTORY, "svc-comm"),
                     ("comm-terminal", "comm-b.certline.test", "svc-comm-b"),
                     ("factory-terminal", "line-1001.certline.test", "1001", "svc-line-1001")):
            ca.run("issue-service", *args[:-1], "--out", os.path.join(self.work, args[-1]))
        self.root = os.path.join(ca.ca_dir, "root.crt")
        self.bundles = {}
        for model in (MODEL, "A123"):
            ca.run("model-add", model)
            self.bundles[model] = os.path.join(self.work, model + ".bundle")
            ca.run("model-export", model, "--out", self.bundles[model])
        # ca-server is not serving: the comm-terminal names a port nothing listens on, which
        # ca-server takes when it is started at last.
        ca.port = free_port()
        settings = dict(delete_written=False, claim_seconds=60, limits=self.LIMITS,
                        report_interval_s=1)
        self.ct = ct = self.comm_terminal(settings)
        ct.run("migrate", operator=False)
        ct.run("operator-add", "alice", "--new-password-file", ct.password_file, operator=False)
        for model in (MODEL, "A123"):
            ct.run("model-set", model, "--managed")
        plan = os.path.join(self.work, "plan.csv")
        with open(plan, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "%s,%s,%d,1,6\nA123,%s,2,1,6\n%s,%s,1,7,6\n" % (
                        MODEL, TODAY, self.UNITS, TODAY, MODEL, TOMORROW))
        ct.run("import", plan)
        ct.start()
        self.ft = FactoryTerminal(self.ft_binary, self.work, "1001", self.root, ct.port,
                                  free_port(), limits=self.LIMITS)
        self.ft.start()

    def comm_terminal(self, settings):
        from certline_harness import CommTerminal
        return CommTerminal(self.ct_binary, self.work, self.ct_conninfo, self.ca, **settings)

    def certificates(self):
        """The comm-terminal's certificate table and fetch requests, as the database holds them."""
        return (self.cluster.psql("ct", "SELECT device_number, serial, state, pack FROM "
                                  "certificate ORDER BY device_number"),
                self.cluster.psql("ct", "SELECT request_id, state, item_count FROM fetch_request"
                                  " ORDER BY request_id"))

    def refused(self, what, args, text):
        r = self.ct.run(*args, expect_ok=False)
        check(text in r.stderr, "%s: expected %r in %r" % (what, text, r.stderr))
        return r

    # ---- the cases ----

    def import_batch_refusals(self):
        ca = self.ca
        out = os.path.join(self.work, "day.json")
        r = ca.run("batch", "--out", out, "--factory", FACTORY, "--request-id", "offline-day1",
                   *BATCH)
        check("signed for factory %s" % FACTORY in r.stdout, "batch: " + r.stdout)
        self.batch_file = out
        doc = load(out)
        check(doc["format"] == "certline-batch" and doc["version"] == 2 and
              doc["factory"] == FACTORY and len(doc["items"]) == len(BATCH),
              "batch file: %r" % {k: v for k, v in doc.items() if k != "items"})
        check(stat.S_IMODE(os.stat(out).st_mode) == 0o600, "batch file mode")
        audit = json.loads(ca.run("audit", "--json", "--limit", "20").stdout)
        check(any(a["action"] == "offline-batch" and FACTORY in a["detail"] for a in audit),
              "ca-server audit: %r" % audit[:3])
        nothing = self.certificates()
        # Unsigned, as before (no --factory).
        v1 = os.path.join(self.work, "v1.json")
        ca.run("batch", "--out", v1, "--request-id", "offline-v1", "%s-000051" % MODEL)
        self.refused("unsigned", ("import-batch", v1), "version 1 batch file is not signed")
        # For another factory.
        other = os.path.join(self.work, "other.json")
        ca.run("batch", "--out", other, "--factory", "comm-b.certline.test", "--request-id",
               "offline-b", "%s-000050" % MODEL)
        self.refused("another factory", ("import-batch", other),
                     "the batch is for factory comm-b.certline.test")
        # ca-server refuses to sign a number that belongs to another factory.
        ca.run("assign", "%s-000052" % MODEL, "--factory", "comm-b.certline.test")
        r = ca.run("batch", "--out", os.path.join(self.work, "x.json"), "--factory", FACTORY,
                   "%s-000052" % MODEL, expect_ok=False)
        check("belongs to factory comm-b.certline.test" in r.stderr, "owned: " + r.stderr)
        # Tampered: a serial changed; an item dropped; a pack swapped.
        tampered = os.path.join(self.work, "tampered.json")
        for change in ("serial", "drop", "pack"):
            t = load(out)
            if change == "serial":
                t["items"][0]["serial"] = t["items"][1]["serial"]
            elif change == "drop":
                del t["items"][-1]
            else:
                t["items"][0]["pack"] += " "
            save(tampered, t)
            self.refused("tampered (%s)" % change, ("import-batch", tampered),
                         "batch file refused: the signature does not match")
        # Signed by a foreign CA (its own root): the signer does not chain to ours.
        foreign_work = os.path.join(self.work, "foreign")
        os.makedirs(foreign_work)
        self.foreign = CaServer(self.ca_binary, foreign_work, self.cluster.create_db("ca2"))
        self.foreign.run("init")
        self.foreign.run("model-add", MODEL)
        foreign = os.path.join(self.work, "foreign.json")
        self.foreign.run("batch", "--out", foreign, "--factory", FACTORY, "--request-id",
                         "offline-day1", *BATCH[:2])
        self.refused("foreign CA", ("import-batch", foreign),
                     "batch file refused: the signer certificate does not chain")
        # Not JSON; missing.
        junk = os.path.join(self.work, "junk.json")
        with open(junk, "w") as f:
            f.write("not json")
        self.refused("junk", ("import-batch", junk), "is not a JSON object")
        self.refused("missing", ("import-batch", os.path.join(self.work, "nope.json")),
                     "cannot read")
        # Operators only.
        r = self.ct.run("import-batch", out, operator=False, expect_ok=False)
        check("operator" in r.stderr, "import-batch without a login: " + r.stderr)
        check(self.certificates() == nothing, "a refused batch stored something")

    def import_batch(self):
        # A fetch tried while ca-server is away leaves a request pending for today's numbers:
        # the import abandons it rather than be blocked by it.
        r = self.ct.run("fetch", "--date", TODAY, expect_ok=False)
        pending = self.cluster.psql("ct", "SELECT count(*) FROM fetch_request WHERE state ="
                                    " 'pending'").strip()
        check(pending == "1", "pending requests after a failed fetch: %s" % pending)
        r = self.ct.run("import-batch", self.batch_file)
        check("1 pending request(s) for these numbers abandoned" in r.stdout,
              "import-batch over a pending request: " + r.stdout)
        check("%d pack(s)" % len(BATCH) in r.stdout, "import-batch: " + r.stdout)
        rows = {c["device_number"]: c for c in self.ct.certificates()}
        check(sorted(rows) == sorted(BATCH) and all(c["state"] == "stored" for c in rows.values()),
              "after import-batch: %r" % rows)
        items = {i["device_number"]: i for i in load(self.batch_file)["items"]}
        for number, c in rows.items():
            check(c["serial"] == items[number]["serial"] and
                  self.ct_pack(number) == items[number]["pack"],
                  "%s: stored %s, the file holds %s" % (number, c["serial"],
                                                        items[number]["serial"]))
        before = self.certificates()
        r = self.ct.run("import-batch", self.batch_file)
        check(self.certificates() == before, "a second import changed the store")
        audit = self.cluster.psql("ct", "SELECT count(*) FROM audit_log WHERE action ="
                                  " 'import-batch'").strip()
        check(audit == "2", "import-batch audited %s times" % audit)

    def day_on_batch(self):
        for number in LINE_DEVICES:
            model = number.split("-")[0]
            self.device(number, model=model)
            event = self.provision(number)
            shown, cert = self.written_certificate(number)
            check(event["serial"] == cert["serial"], "%s: %r" % (number, event))
            self.openssl_verify(number, cert["pem"])
        self.bench(SERVICE_OFFLINE)
        status = self.ct.status()
        check(status[MODEL]["awaiting_receipt"] == 4 and status["A123"]["awaiting_receipt"] == 1,
              "reports awaiting receipts: %r" % status)

    def bench(self, number, fail=False):
        """A service part: its pack exported, installed on a fresh board by device-agent
        install, and the result recorded; returns what install printed."""
        packfile = os.path.join(self.work, "service-%s.pack" % number)
        if os.path.exists(packfile):
            os.unlink(packfile)
        r = self.ct.run("export-pack", number, "--out", packfile)
        check("device-agent install" in r.stdout, "export-pack: " + r.stdout)
        check(stat.S_IMODE(os.stat(packfile).st_mode) == 0o600, "pack file mode")
        row = [c for c in self.ct.certificates() if c["device_number"] == number][0]
        check(row["state"] == "delivered" and row["line"] == "service", "exported: %r" % row)
        d = self.device(number, model=number.split("-")[0])
        r = d.run("install", packfile, *(["--fail-at-step", "3"] if fail else []),
                  expect=3 if fail else 0)
        result = os.path.join(self.work, "service-%s.result" % number)
        with open(result, "w") as f:
            f.write(r.stdout)
        r2 = self.ct.run("record-write", number, "--result", result)
        if fail:
            check(r.stdout.startswith("NG ") and "failed on the service bench" in r2.stdout,
                  "NG install: %s / %s" % (r.stdout, r2.stdout))
            return r.stdout
        check(r.stdout.startswith("OK ") and "written" in r2.stdout,
              "install: %s / %s" % (r.stdout, r2.stdout))
        shown, cert = self.written_certificate(number)
        check(r.stdout.split()[1] == cert["serial"], "%s: install said %s" % (number, r.stdout))
        self.openssl_verify(number, cert["pem"])
        # A second record of the same result changes nothing; another export is refused.
        self.ct.run("record-write", number, "--result", result)
        self.refused("export of a written device", ("export-pack", number, "--out", packfile),
                     "already written")
        return r.stdout

    def offline_reports(self):
        ct, ca = self.ct, self.ca
        written = LINE_DEVICES + [SERVICE_OFFLINE]
        reports = os.path.join(self.work, "reports.json")
        r = ct.run("export-reports", "--out", reports)
        doc = load(reports)
        check(doc["format"] == "certline-reports" and doc["factory"] == FACTORY and
              sorted(x["device_number"] for x in doc["reports"]) == sorted(written),
              "exported reports: %r" % doc)
        # Tampered: one proof changed. ca-server refuses it; no receipts come back.
        receipts = os.path.join(self.work, "receipts.json")
        bad = os.path.join(self.work, "reports-bad.json")
        t = load(reports)
        t["reports"][0]["proof"] = ("0" if t["reports"][0]["proof"][0] != "0" else "1") + \
            t["reports"][0]["proof"][1:]
        save(bad, t)
        r = ca.run("import-reports", bad, "--out", receipts, expect_ok=False)
        check("Installation proof rejected" in r.stderr and not os.path.exists(receipts),
              "tampered reports: %s" % r.stderr)
        r = ca.run("import-reports", reports, "--out", receipts)
        check("%d receipt(s)" % len(written) in r.stdout, "import-reports: " + r.stdout)
        got = load(receipts)
        check(got["format"] == "certline-receipts" and len(got["receipts"]) == len(written),
              "receipts file: %r" % got)
        # ca-server again: the same receipts (the first installation time).
        again = os.path.join(self.work, "receipts-again.json")
        ca.run("import-reports", reports, "--out", again)
        check(load(again)["receipts"] == got["receipts"], "a second import-reports differs")
        # Forged (a time changed) and foreign-signed receipts are refused; nothing is kept.
        forged = os.path.join(self.work, "receipts-forged.json")
        t = load(receipts)
        t["receipts"][-1]["received_at"] += 1
        save(forged, t)
        self.refused("forged receipt", ("import-receipts", forged), "signature does not match")
        t = load(receipts)
        t["signer_certificate"] = open(os.path.join(self.foreign.ca_dir, "issuing.crt")).read()
        save(forged, t)
        self.refused("foreign receipt", ("import-receipts", forged), "does not chain")
        t = load(receipts)
        t["receipts"] = t["receipts"][:1]
        t["receipts"][0]["proof"] = "ab" * 32
        save(forged, t)
        self.refused("receipt for another proof", ("import-receipts", forged),
                     "receipt refused")
        status = self.ct.status()
        check(status[MODEL]["awaiting_receipt"] == 4, "a refused file kept a receipt: %r" % status)
        r = ct.run("import-receipts", receipts)
        check("%d receipt(s) kept" % len(written) in r.stdout, "import-receipts: " + r.stdout)
        r = ct.run("import-receipts", receipts)
        check("0 receipt(s) kept" in r.stdout and "%d not awaited" % len(written) in r.stdout,
              "import-receipts twice: " + r.stdout)
        self.receipts_verify(written)
        for number in written:
            states = [c["state"] for c in self.ca_state(number)]
            check(states == ["installed"], "%s at ca-server: %r" % (number, states))

    def receipts_verify(self, numbers):
        issuing = x509.load_pem_x509_certificate(
            open(os.path.join(self.ca.ca_dir, "issuing.crt"), "rb").read())
        for number in numbers:
            row = self.cluster.psql(
                "ct", "SELECT r.state, r.serial, r.proof,"
                " floor(extract(epoch FROM r.received_at))::bigint, " + STORED_RECEIPT_SQL +
                " FROM report r JOIN certificate c USING (device_number)" + STORED_RECEIPT_JOIN +
                " WHERE c.device_number = '%s' AND r.serial = c.serial" % number).strip()
            state, serial, proof, received_at, signature, signer, manifest = row.split("|")
            check(state == "done", "%s: report %s" % (number, state))
            # alone (import-receipts) or batch-signed (the reporter)
            verify_stored_receipt(issuing, number, serial, proof, received_at, signature, signer,
                                  manifest)
            flag = self.cluster.psql("ct", "SELECT write_flag FROM certificate WHERE"
                                     " device_number = '%s'" % number).strip()
            check(flag == "1", "%s: write flag %s" % (number, flag))

    def online_fetch_after_import(self):
        self.ca.start()
        before = self.certificates()
        r = self.ct.run("fetch", "--date", TODAY)
        check("fetched 1 pack(s)" in r.stdout + r.stderr, "fetch: " + r.stdout + r.stderr)
        after = self.certificates()
        old = {line.split("|")[0]: line for line in before[0].splitlines()}
        new = {line.split("|")[0]: line for line in after[0].splitlines()}
        check(set(new) == set(old) | {ONLINE} and all(new[n] == old[n] for n in old),
              "the online fetch changed imported packs: %r" % (set(new) ^ set(old)))
        for number in BATCH + [ONLINE]:
            valid = [c for c in self.ca_state(number) if c["state"] in ("issued", "installed")]
            check(len(valid) == 1, "%s at ca-server: %r" % (number, self.ca_state(number)))

    def service_part_online(self):
        # A failed bench write (NG), then its replacement written on a fresh board.
        self.bench(ONLINE, fail=True)
        row = [c for c in self.ct.certificates() if c["device_number"] == ONLINE][0]
        check(row["state"] == "failed", "after NG: %r" % row)
        old_serial = row["serial"]
        self.ct.run("enter", ONLINE, "--replacement", "--yes")
        d = self.devices.pop(ONLINE)
        os.unlink(d.flash)
        os.unlink(d.nvram)
        printed = self.bench(ONLINE)
        serial = printed.split()[1]
        check(serial != old_serial, "the replacement has the old serial")
        wait_for("the service part's receipt", lambda: [
            c for c in self.ct.certificates() if c["device_number"] == ONLINE and
            c["report"] == "done"])
        self.check_in(ONLINE)
        self.receipts_verify([ONLINE])
        audit = self.cluster.psql("ct", "SELECT string_agg(DISTINCT action, ',') FROM audit_log"
                                  " WHERE actor = 'alice'").strip().split(",")
        for action in ("export-pack", "record-write", "record-write-ng", "export-reports",
                       "import-receipts", "import-batch"):
            check(action in audit, "comm-terminal audit lacks %s: %r" % (action, audit))

    def enter_and_report(self):
        r = self.ct.run("enter", ENTERED, "--date", TOMORROW, "--yes")
        check("fetched and stored" in r.stdout, "enter: " + r.stdout)
        row = [c for c in self.ct.certificates() if c["device_number"] == ENTERED][0]
        check(row["state"] == "stored", "entered: %r" % row)
        # Written while ca-server is away: the report waits; `report` sends it on demand.
        self.ca.stop()
        event = self.provision(ENTERED)
        shown, cert = self.written_certificate(ENTERED)
        check(event["serial"] == cert["serial"], "entered device: %r" % event)
        self.openssl_verify(ENTERED, cert["pem"])
        self.ct.stop()  # its reporter would send it first
        # `report` sends every queued report now, whatever the reporter's backoff left due.
        self.cluster.psql("ct", "UPDATE report SET next_attempt = now() + interval '1 hour'"
                          " WHERE state = 'queued'")
        r = self.ct.run("report", expect_ok=False)
        check("unreachable" in r.stderr, "report with ca-server away: " + r.stderr)
        self.ca.start()
        r = self.ct.run("report")
        check("1 receipt(s) received" in r.stdout, "report: " + r.stdout)
        self.receipts_verify([ENTERED])
        self.check_in(ENTERED)
        r = self.ct.run("report")
        check("0 receipt(s) received" in r.stdout, "report again: " + r.stdout)


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    binaries = [os.path.abspath(p) for p in sys.argv[1:5]]
    return run_cases(OfflineFactory, binaries, os.path.abspath(sys.argv[5]),
                     ("import_batch_refusals", "import_batch", "day_on_batch", "offline_reports",
                      "online_fetch_after_import", "service_part_online", "enter_and_report"))


if __name__ == "__main__":
    sys.exit(main())
