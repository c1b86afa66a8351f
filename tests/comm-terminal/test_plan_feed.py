#!/usr/bin/python3
"""test_plan_feed.py: the plan feed of the production management system on the real
comm-terminal, with a real ca-server, a private PostgreSQL cluster and real mutual TLS.

The inbox (`comm-terminal inbox`, then `serve`): a good file is imported and moved to done/; bad
ones are moved to rejected/ with NAME.reason naming the line; a half-written *.tmp file is left
alone; the same file again changes nothing; at most plan_inbox_max_files per round; a file over
plan_inbox_max_bytes is rejected; files a crash left in processing/ (before or after their import)
are resumed, never lost or doubled; nothing of a refused file is imported.
The SOAP interface (a stock client, zeep, with a certificate of role production issued by
ca-server): SubmitPlan imports once per request id (a repeat changes nothing, another plan under
the same id is refused, a bad plan is refused with its line), FetchNow fetches the day's packs;
a line's certificate is refused for both, the production certificate for a line operation; the
same client keeps working across an idle gap longer than the server's receive timeout and
across a comm-terminal restart.

Usage: test_plan_feed.py CA_SERVER COMM_TERMINAL WSDL_DIR
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

from zeep.exceptions import Fault  # noqa: E402

import soap_peer  # noqa: E402
from certline_harness import (CaServer, CommTerminal, Failure, check,  # noqa: E402
                              expect_fault, run_scenario)

TODAY = time.strftime("%Y-%m-%d")
DAY2 = time.strftime("%Y-%m-%d", time.localtime(time.time() + 2 * 86400))
DAY3 = time.strftime("%Y-%m-%d", time.localtime(time.time() + 3 * 86400))
HEADER = "device_code,date,units,first_serial,serial_digits\n"
RECV_TIMEOUT_S = 2
IDLE_S = 4  # longer than the comm-terminal's receive timeout (its keep-alive)


class Scenario:
    def __init__(self, binaries, wsdl_dir, work, cluster):
        ca_binary, self.ct_binary = binaries
        self.work = work
        self.cluster = cluster
        self.wsdl = os.path.join(wsdl_dir, "CommTerminal.wsdl")
        self.ca = CaServer(ca_binary, work, cluster.create_db("ca"))
        self.ct_conninfo = cluster.create_db("ct")
        self.inbox = os.path.join(work, "plan-inbox")
        os.mkdir(self.inbox)

    def setup(self):
        ca = self.ca
        ca.issue_services(["1001"])
        r = ca.run("issue-service", "production", "mes.factory-e", "--out",
                   os.path.join(self.work, "svc-mes"))
        check("issued production certificate" in r.stdout, "issue-service production: " +
              r.stdout)
        for model in ("3012", "A123"):
            ca.run("model-add", model)
        ca.start()
        self.ct = CommTerminal(self.ct_binary, self.work, self.ct_conninfo, ca,
                               plan_inbox=self.inbox, plan_inbox_poll_s=1,
                               plan_inbox_max_files=2, plan_inbox_max_bytes=4096,
                               limits={"connect_timeout_s": 2, "recv_timeout_s": RECV_TIMEOUT_S})
        self.ct.migrate()
        self.ct.run("model-set", "3012", "--managed")
        self.ct.run("model-set", "A123", "--managed")

    # ---- helpers ----

    def sql(self, query):
        return self.cluster.psql("ct", query).strip()

    def planned(self):
        return int(self.sql("SELECT count(*) FROM plan_device"))

    def plan_audits(self):
        return int(self.sql("SELECT count(*) FROM audit_log WHERE action = 'plan_import'"))

    def drop(self, name, text, where=None):
        """As a sender should: written as NAME.tmp, then renamed (or straight into where)."""
        folder = where or self.inbox
        tmp = os.path.join(folder, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(folder, name))

    def sub(self, *parts):
        return os.path.join(self.inbox, *parts)

    def inbox_round(self, expect):
        r = self.ct.run("inbox", operator=False)
        check(expect in r.stdout, "inbox round: %r, expected %r" % (r.stdout, expect))

    def wait_for(self, what, condition, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.2)
        raise Failure("timed out waiting for " + what)

    # ---- the inbox ----

    def inbox_rounds(self):
        good = HEADER + "3012,%s,10,1,6\n" % DAY2
        self.drop("a-bad-model.csv", HEADER + "3012,%s,2,100,6\nZZZ9,%s,5,1,6\n" % (DAY2, DAY2))
        self.drop("b-bad-line.csv", HEADER + "3012,%s,2,200,6\nA123,2026-13-45,5,1,6\n" % DAY2)
        self.drop("c-good.csv", good)
        with open(self.sub("d-half.csv.tmp"), "w") as f:
            f.write(HEADER + "3012,%s,3,300" % DAY2)  # the sender is still writing
        before = self.planned()
        # plan_inbox_max_files = 2: the first round takes the first two names.
        self.inbox_round("0 file(s) imported, 2 rejected")
        self.inbox_round("1 file(s) imported, 0 rejected")
        self.inbox_round("0 file(s) imported, 0 rejected")
        check(sorted(os.listdir(self.sub("done"))) == ["c-good.csv"],
              "done/: %r" % os.listdir(self.sub("done")))
        check(sorted(os.listdir(self.sub("rejected"))) ==
              ["a-bad-model.csv", "a-bad-model.csv.reason", "b-bad-line.csv",
               "b-bad-line.csv.reason"], "rejected/: %r" % os.listdir(self.sub("rejected")))
        reason = open(self.sub("rejected", "a-bad-model.csv.reason")).read()
        check("ZZZ9" in reason and "not registered" in reason, "reason: " + reason)
        reason = open(self.sub("rejected", "b-bad-line.csv.reason")).read()
        check("b-bad-line.csv line 3" in reason and "YYYY-MM-DD" in reason, "reason: " + reason)
        check(os.path.exists(self.sub("d-half.csv.tmp")), "the half-written file was taken")
        check(os.listdir(self.sub("processing")) == [], "left in processing/")
        # Only the good file's numbers: nothing of a refused file (one transaction each).
        check(self.planned() == before + 10, "planned %d, expected %d" % (self.planned(),
                                                                          before + 10))
        check(self.sql("SELECT count(*) FROM plan_device WHERE device_number IN"
                       " ('3012-000100', '3012-000200')") == "0", "a refused file half-imported")
        audits = self.plan_audits()
        check(self.sql("SELECT actor FROM audit_log WHERE action = 'plan_import'"
                       " ORDER BY id DESC LIMIT 1") == "plan-feed", "audit actor")

        # The same file again: moved to done/ under another name, nothing changed.
        self.drop("c-good.csv", good)
        self.inbox_round("1 file(s) imported, 0 rejected")
        check(sorted(os.listdir(self.sub("done"))) == ["c-good.csv", "c-good.csv.1"],
              "done/ after the repeat: %r" % os.listdir(self.sub("done")))
        check(self.planned() == before + 10 and self.plan_audits() == audits,
              "the same file twice changed the plan or the audit")
        # Too large: rejected with the bound named.
        self.drop("e-large.csv", HEADER + "# padding\n" * 500 + "3012,%s,1,900,6\n" % DAY2)
        self.inbox_round("0 file(s) imported, 1 rejected")
        reason = open(self.sub("rejected", "e-large.csv.reason")).read()
        check("plan_inbox_max_bytes" in reason, "reason for a large file: " + reason)

        # A restart in the middle: a file taken into processing/ but not imported, and a file
        # imported whose move to done/ never happened; both are resumed once.
        self.drop("f-taken.csv", HEADER + "A123,%s,4,1,6\n" % DAY2, where=self.sub("processing"))
        self.drop("g-imported.csv", good, where=self.sub("processing"))
        self.inbox_round("2 file(s) imported, 0 rejected")
        check(os.listdir(self.sub("processing")) == [], "processing/ after the resume")
        check(self.planned() == before + 14 and self.plan_audits() == audits + 1,
              "after the resume: %d planned, %d audits" % (self.planned(), self.plan_audits()))
        check({"f-taken.csv", "g-imported.csv"} <= set(os.listdir(self.sub("done"))),
              "done/ after the resume: %r" % os.listdir(self.sub("done")))

    def inbox_in_serve(self):
        """serve takes a file within its poll interval, and resumes processing/ at start."""
        ct = self.ct
        before = self.planned()
        self.drop("h-resumed.csv", HEADER + "A123,%s,3,100,6\n" % DAY2,
                  where=self.sub("processing"))
        ct.start()
        try:
            self.drop("i-served.csv", HEADER + "A123,%s,5,200,6\n" % DAY2)
            self.wait_for("serve to take the plan files", lambda: {
                "h-resumed.csv", "i-served.csv"} <= set(os.listdir(self.sub("done"))))
            check(self.planned() == before + 8, "serve's inbox: %d planned" % self.planned())
            check(os.path.exists(self.sub("d-half.csv.tmp")), "serve took a *.tmp file")
        finally:
            ct.stop()

    # ---- the SOAP interface ----

    def client(self, identity):
        return soap_peer.service(self.wsdl, "https://127.0.0.1:%d/ct" % self.ct.port,
                                 "comm.certline.test",
                                 os.path.join(self.work, identity + ".chain.crt"),
                                 os.path.join(self.work, identity + ".key"),
                                 os.path.join(self.ca.ca_dir, "root.crt"))[0]

    def fetch_now(self, mes, day):
        """FetchNow until done: the comm-terminal's short receive timeout (for the idle gap) also
        bounds its wait for ca-server, so on a loaded machine a fetch may fail once; the next
        FetchNow resends the same request and gets the same packs."""
        for _ in range(5):
            answer = mes.FetchNow(day=day)
            check(answer.day == day and answer.state in ("done", "failed"),
                  "FetchNow %s: %r" % (day, answer))
            if answer.state == "done":
                break
            check("timed out" in (answer.reason or ""), "FetchNow %s failed: %r" % (day, answer))
        check(answer.state == "done" and answer.remaining == 0, "FetchNow %s: %r" % (day, answer))
        return sorted(c["device_number"] for c in self.ct.certificates()
                      if c["device_number"].startswith("3012-"))

    def soap(self):
        ct = self.ct
        ct.start()
        try:
            mes = self.client("svc-mes")
            plan = HEADER + "3012,%s,6,500,6\n" % DAY3
            first = mes.SubmitPlan(requestId="mes-2026-12-a", plan=plan)
            check((first.requestId, first.entries, first.newDeviceNumbers, first.repeated) ==
                  ("mes-2026-12-a", 1, 6, False), "SubmitPlan: %r" % first)
            audits = self.plan_audits()
            again = mes.SubmitPlan(requestId="mes-2026-12-a", plan=plan)
            check((again.entries, again.newDeviceNumbers, again.repeated) == (1, 6, True),
                  "SubmitPlan again: %r" % again)
            check(self.plan_audits() == audits, "a repeated request was imported again")
            check(self.sql("SELECT actor FROM audit_log WHERE action = 'plan_import'"
                           " ORDER BY id DESC LIMIT 1") == "production:mes.factory-e",
                  "audit actor of SubmitPlan")
            expect_fault("another plan under the same id", lambda: mes.SubmitPlan(
                requestId="mes-2026-12-a", plan=plan + "A123,%s,1,900,6\n" % DAY3),
                "Plan refused", "another plan")
            planned = self.planned()
            expect_fault("a bad plan", lambda: mes.SubmitPlan(
                requestId="mes-2026-12-b", plan=HEADER + "3012,%s,2,700,6\n3012,%s,x,1,6\n"
                % (DAY3, DAY3)), "Plan refused", "plan line 3")
            check(self.planned() == planned, "a refused plan was half imported")

            numbers = self.fetch_now(mes, DAY3)
            check(numbers == ["3012-%06d" % i for i in range(500, 506)],
                  "packs after FetchNow: %r" % numbers)
            expect_fault("FetchNow with a bad day", lambda: mes.FetchNow(day="2026-02-3x"))

            # Roles: a line's certificate is refused for the feed, production for a line's call.
            line = self.client("svc-line-1001")
            expect_fault("SubmitPlan as a line", lambda: line.SubmitPlan(
                requestId="line-1", plan=plan), "Not authorised", "ct:SubmitPlan")
            expect_fault("FetchNow as a line", lambda: line.FetchNow(day=DAY3),
                              "Not authorised", "ct:FetchNow")
            expect_fault("a line operation as production", lambda: mes
                              .CertificateTransmissionRequest(deviceNumber="3012-000500"),
                              "Not authorised", "production")

            # An idle gap past the server's receive timeout: the same client goes on.
            time.sleep(IDLE_S)
            second = mes.SubmitPlan(requestId="mes-2026-12-c", plan=HEADER +
                                    "3012,%s,2,600,6\n" % DAY3)
            check(second.newDeviceNumbers == 2, "SubmitPlan after an idle gap: %r" % second)
            numbers = self.fetch_now(mes, DAY3)
            check(len(numbers) == 8, "packs after the idle gap: %r" % numbers)
            # A comm-terminal restart: the same client goes on.
            ct.stop()
            ct.start()
            third = mes.SubmitPlan(requestId="mes-2026-12-d", plan=HEADER +
                                   "3012,%s,1,650,6\n" % DAY3)
            check(third.newDeviceNumbers == 1, "SubmitPlan after a restart: %r" % third)
            numbers = self.fetch_now(mes, DAY3)
            check(len(numbers) == 9, "packs after the restart: %r" % numbers)
        finally:
            ct.stop()

    def run(self):
        self.setup()
        try:
            self.inbox_rounds()
            self.inbox_in_serve()
            self.soap()
        finally:
            self.ca.stop()


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: test_plan_feed.py CA_SERVER COMM_TERMINAL WSDL_DIR")
    ca_binary, ct_binary, wsdl_dir = sys.argv[1:]
    return run_scenario("test_plan_feed", lambda work, cluster: Scenario(
        (ca_binary, ct_binary), wsdl_dir, work, cluster), errors=(Fault,))


if __name__ == "__main__":
    sys.exit(main())
