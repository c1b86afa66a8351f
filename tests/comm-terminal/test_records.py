#!/usr/bin/python3
"""test_records.py: issue 20 parts 2, 5 and 6 end to end, with a real ca-server and comm-terminal,
a private PostgreSQL cluster and real mutual TLS.

Covers: the one model list (ca-server's model-set changes a flag, audited; the comm-terminal
reads it at its next fetch and with models-sync; status and import say when a plan names a model
ca-server does not manage or does not know; a local override shows as such); manual entry
checked against the plan (an unplanned number or one planned for another day refused without an
override; the override's reason in the audit; no terminal and no --yes refused; y/N at a
terminal); FIG 20's creation date kept across a replacement, the replacement date recorded, both
in list and list --json; unwritten packs past stock_retention_days deleted and retired at
ca-server (the stock backdated in the database, a replacement counted from its own date);
operators disabled and removed (not the last active admin), a viewer who may only view, and no
view without a login.

Usage: test_records.py CA_SERVER COMM_TERMINAL SOURCE_DIR
"""
import json
import os
import pty
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

from certline_harness import CaServer, CommTerminal, check, run_scenario  # noqa: E402

TODAY = time.strftime("%Y-%m-%d")
TOMORROW = time.strftime("%Y-%m-%d", time.localtime(time.time() + 86400))
LONG_AGO = time.strftime("%Y-%m-%d", time.localtime(time.time() - 5 * 86400))
REASON = "board reworked: label reprinted by QA 7"


class Scenario:
    def __init__(self, binaries, work, cluster):
        ca_binary, ct_binary = binaries
        self.work = work
        self.cluster = cluster
        self.ca = CaServer(ca_binary, work, cluster.create_db("ca"))
        self.ct_binary = ct_binary
        self.ct = None

    def password_file(self, name, text):
        path = os.path.join(self.work, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(text + "\n")
        return path

    def as_(self, who, password, *args, expect_ok=True):
        return self.ct.run(*args, "--operator", who, "--password-file", password, operator=False,
                           expect_ok=expect_ok)

    def ct_sql(self, sql):
        return self.cluster.psql("ct", sql).strip()

    def setup(self):
        self.ca.issue_services([])
        for model in ("3012", "4021"):
            self.ca.run("model-add", model)
        self.ca.run("model-add", "5555", "--not-managed")
        self.ca.start()
        self.ct = CommTerminal(self.ct_binary, self.work, self.cluster.create_db("ct"), self.ca,
                               stock_retention_days=2)
        self.ct.migrate()

    def model_list(self):
        ct = self.ct
        r = ct.run("models-sync")
        check("3012     YES         managed" in r.stdout, "models-sync: " + r.stdout)
        check("5555     NO          not-managed" in r.stdout, "models-sync: " + r.stdout)
        # A model ca-server does not know, marked here: a local override, shown as one.
        ct.run("model-set", "7777", "--managed")
        r = ct.run("models-sync")
        check("7777     YES         unknown      managed" in r.stdout, "override: " + r.stdout)
        plan = os.path.join(self.work, "plan.csv")
        with open(plan, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "3012,%s,4,1,6\n4021,%s,2,1,6\n5555,%s,2,1,6\n7777,%s,1,1,6\n"
                    "3012,%s,3,10,6\n" % (TODAY, TODAY, TODAY, TODAY, TOMORROW))
        r = ct.run("import", plan)
        check("device model 5555, which ca-server does not manage" in r.stdout and
              "device model 7777, which ca-server does not know" in r.stdout and
              "model 3012" not in r.stdout, "import warnings: " + r.stdout)
        status = ct.run("status").stdout
        check("ca-server does not know" in status and "YES (local)" in status and
              "CA-SERVER" in status, "status: " + status)
        rows = ct.status()
        check(rows["7777"]["ca_server"] == "unknown" and rows["7777"]["local_override"] is True,
              "status --json 7777: %r" % rows["7777"])
        check(rows["4021"]["certificate_managed"] and rows["4021"]["local_override"] is None,
              "status --json 4021: %r" % rows["4021"])
        ct.run("model-set", "7777", "--clear")
        check(not ct.status()["7777"]["certificate_managed"], "override cleared")
        # ca-server changes a flag (audited there); the comm-terminal follows at its next fetch.
        r = self.ca.run("model-set", "4021", "--not-managed")
        check("not certificate-managed" in r.stdout, "ca-server model-set: " + r.stdout)
        check("model-set" in self.ca.run("audit").stdout, "ca-server audit of model-set")
        r = self.ca.run("model-set", "9999", "--managed", expect_ok=False)
        check("not registered" in r.stderr, "ca-server model-set unknown: " + r.stderr)
        check(ct.status()["4021"]["certificate_managed"], "before the fetch")
        ct.run("fetch")
        rows = ct.status()
        check(not rows["4021"]["certificate_managed"] and rows["4021"]["ca_server"] ==
              "not-managed", "after the fetch: %r" % rows["4021"])
        held = {c["device_number"] for c in ct.certificates()}
        check(held == {"3012-00000%d" % i for i in range(1, 5)}, "fetched: %r" % held)
        check("models_sync" in self.cluster.dump("ct"), "the change is in the audit")

    def manual_entry(self):
        ct = self.ct
        r = ct.run("enter", "3012-000099", "--yes", expect_ok=False)
        check("not in the production plan" in r.stderr, "unplanned: " + r.stderr)
        r = ct.run("enter", "3012-000010", "--yes", expect_ok=False)
        check("planned for %s, not for %s" % (TOMORROW, TODAY) in r.stderr, "other day: " + r.stderr)
        r = ct.run("enter", "3012-000099", "--override-reason", REASON, expect_ok=False)
        check("run it on a terminal, or give --yes" in r.stderr, "no terminal: " + r.stderr)
        check(not any(c["device_number"] == "3012-000099" for c in ct.certificates()),
              "nothing issued without confirmation")
        ct.run("enter", "3012-000099", "--override-reason", REASON, "--yes")
        audit = self.ct_sql("SELECT actor || ' ' || action || ' ' || detail FROM audit_log"
                            " WHERE action = 'enter_override'")
        check(audit == "alice enter_override 3012-000099 entered (not planned): " + REASON,
              "override audit: %r" % audit)
        # At a terminal: asked, and "n" issues nothing; "y" issues.
        for answer, ok in (("n", False), ("y", True)):
            r = self.at_terminal(answer, "enter", "3012-000010", "--date", TOMORROW)
            check(r[0] == (0 if ok else 1) and "[y/N]" in r[1], "terminal %s: %r" % (answer, r))
        numbers = {c["device_number"] for c in ct.certificates()}
        check("3012-000010" in numbers and "3012-000099" in numbers, "entered: %r" % numbers)

    def at_terminal(self, answer, *args):
        master, slave = pty.openpty()
        os.write(master, (answer + "\n").encode())
        argv = [self.ct.binary, "-c", self.ct.config] + list(args) + [
            "--operator", "alice", "--password-file", self.ct.password_file]
        p = subprocess.run(argv, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        os.close(slave)
        os.close(master)
        return p.returncode, p.stderr

    def records(self):
        ct = self.ct
        rows = {c["device_number"]: c for c in ct.certificates()}
        check(rows["3012-000001"]["created"] == TODAY and rows["3012-000001"]["replaced"] is None,
              "created: %r" % rows["3012-000001"])
        # 3012-000001 was stored long ago and failed; its replacement keeps that creation date.
        self.ct_sql("UPDATE certificate SET created_at = now() - interval '5 days',"
                    " state = 'failed', failed_at = now() WHERE device_number = '3012-000001'")
        ct.run("enter", "3012-000001", "--replacement", "--yes")
        row = {c["device_number"]: c for c in ct.certificates()}["3012-000001"]
        check(row["state"] == "replaced" and row["created"] == LONG_AGO and
              row["replaced"] == TODAY, "replacement dates: %r" % row)
        table = ct.run("list", "--model", "3012").stdout
        check("CREATED" in table and "REPLACED" in table and
              LONG_AGO + " " + TODAY in table, "list table: " + table)
        # Retention (2 days): 3012-000002 was stored 3 days ago and never written; the
        # replacement above counts from its own date.
        self.ct_sql("UPDATE certificate SET created_at = now() - interval '3 days'"
                    " WHERE device_number = '3012-000002'")
        serial = row["serial"]
        r = ct.run("report")
        check("1 unwritten pack(s) older than 2 days deleted" in r.stderr, "report: " + r.stderr)
        # Queued in the deleting transaction, sent by this or the next round of the reporter.
        for _ in range(5):
            if "1 certificate(s) retired" in r.stdout:
                break
            time.sleep(1)
            r = ct.run("report")
        check("1 certificate(s) retired" in r.stdout, "report: " + r.stdout + r.stderr)
        rows = {c["device_number"]: c for c in ct.certificates()}
        check(not rows["3012-000002"]["pack_held"] and rows["3012-000001"]["pack_held"],
              "retention: %r" % rows)
        issued = {c["serial"]: c for c in json.loads(self.ca.run("list", "--json", "--model",
                                                                 "3012").stdout)}
        gone = rows["3012-000002"]["serial"]
        check(issued[gone]["state"] == "revoked" and issued[serial]["state"] != "revoked",
              "at ca-server: %r / %r" % (issued[gone], issued[serial]))

    def operators(self):
        ct = self.ct
        viewer = self.password_file("viewer-pw", "viewer secret 123")
        worker = self.password_file("worker-pw", "worker secret 123")
        ct.run("operator-add", "vera", "--role", "viewer", "--new-password-file", viewer)
        ct.run("operator-add", "otto", "--new-password-file", worker)
        self.as_("vera", viewer, "status")
        self.as_("vera", viewer, "list")
        for args in (("import", os.path.join(self.work, "plan.csv")), ("enter", "3012-000003",
                                                                      "--yes"),
                     ("delete-model", "3012"), ("model-set", "3012", "--managed")):
            r = self.as_("vera", viewer, *args, expect_ok=False)
            check("role viewer" in r.stderr and "may not run" in r.stderr,
                  "viewer %s: %s" % (args[0], r.stderr))
        r = self.as_("otto", worker, "operator-add", "eve", "--new-password-file", worker,
                     expect_ok=False)
        check("role operator" in r.stderr, "operator adds operators: " + r.stderr)
        self.as_("otto", worker, "status")
        for view in ("status", "list"):
            r = ct.run(view, operator=False, expect_ok=False)
            check("--operator" in r.stderr, "%s without a login: %s" % (view, r.stderr))
        ct.run("operator-disable", "otto")
        r = self.as_("otto", worker, "status", expect_ok=False)
        check("not accepted" in r.stderr, "disabled operator: " + r.stderr)
        ct.run("operator-enable", "otto")
        self.as_("otto", worker, "status")
        for verb in ("operator-remove", "operator-disable"):
            r = ct.run(verb, "alice", expect_ok=False)
            check("last active admin" in r.stderr, "%s last admin: %s" % (verb, r.stderr))
        ct.run("operator-remove", "vera")
        r = self.as_("vera", viewer, "status", expect_ok=False)
        check("not accepted" in r.stderr, "removed operator: " + r.stderr)
        r = ct.run("operator-add", "vera", "--new-password-file", viewer, expect_ok=False)
        check("taken" in r.stderr, "a removed id is not reused: " + r.stderr)
        r = ct.run("operator-remove", "nobody", expect_ok=False)
        check("no operator nobody" in r.stderr, "unknown operator: " + r.stderr)
        audit = self.ct_sql("SELECT string_agg(detail, '|' ORDER BY id) FROM audit_log"
                            " WHERE action = 'operator_state'")
        check(audit == "operator otto: disabled|operator otto: enabled|operator vera: removed",
              "operator audit: %r" % audit)

    def run(self):
        self.setup()
        try:
            self.model_list()
            self.manual_entry()
            self.records()
            self.operators()
        finally:
            self.ca.stop()


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: test_records.py CA_SERVER COMM_TERMINAL SOURCE_DIR")
    return run_scenario("test_records",
                           lambda work, cluster: Scenario(sys.argv[1:3], work, cluster),
                           errors=(subprocess.TimeoutExpired, KeyError))


if __name__ == "__main__":
    sys.exit(main())
