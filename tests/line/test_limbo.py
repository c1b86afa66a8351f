#!/usr/bin/python3
"""test_limbo.py: no certificate in limbo and keys kept only while needed (issue 14, items 2 and
3), with the real ca-server, comm-terminal, factory-terminal and device-agent, a private
PostgreSQL cluster and mutual TLS on loopback:

- A refused installation report: two devices written (S11 OK) while ca-server is away; one's
  proof is corrupted in the comm-terminal's queue, the other's certificate is revoked at
  ca-server. When ca-server is back, both reports end `rejected` with ca-server's reason (status,
  list, an event line in the events file), are not retried, and the next scan of each provisions
  a replacement that installs (check-in: installed).
- Retirement after `delete-model` while ca-server is away: the unwritten packs are queued, then
  retired (revoked, cessationOfOperation) once ca-server is back; a resend is idempotent.
- pg_dump of ca-server's database after installation holds no pack or sealed key of an
  installed device.

Usage: test_limbo.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_line import MODEL, Line, check, run_cases, wait_for  # noqa: E402


class LimboLine(Line):
    UNITS = 6
    LIMITS = {"connect_timeout_s": 2, "recv_timeout_s": 5}

    def setup(self):
        self.events_file = os.path.join(self.work, "comm-terminal-events.jsonl")
        self.CT_SETTINGS = {"events_file": self.events_file, "report_interval_s": 1}
        super().setup()

    def ct_row(self, number):
        rows = [r for r in self.ct.certificates("--model", number.split("-")[0])
                if r["device_number"] == number]
        check(len(rows) == 1, "%s: listed %r" % (number, rows))
        return rows[0]

    def ca_serials(self, number):
        return {c["serial"]: c for c in self.ca_state(number)}

    # ---- the cases ----

    def refused_report(self):
        proof_bad, revoked = self.number(1), self.number(2)
        self.ca.stop()  # the reports queue
        first = {n: self.provision(n)["serial"] for n in (proof_bad, revoked)}
        for n in (proof_bad, revoked):
            check(self.ct_row(n)["report"] == "queued", "%s: %r" % (n, self.ct_row(n)))
        self.cluster.psql("ct", "UPDATE report SET proof = repeat('0', 64)"
                          " WHERE device_number = '%s'" % proof_bad)
        self.ca.run("revoke", first[revoked], "--reason", "keyCompromise")
        self.ca.start()
        rows = wait_for("rejected reports", lambda: (
            [self.ct_row(n) for n in (proof_bad, revoked)]
            if all(self.ct_row(n)["report"] == "rejected" for n in (proof_bad, revoked))
            else None))
        check("proof" in rows[0]["report_reason"] and rows[0]["state"] == "failed",
              "wrong proof: %r" % rows[0])
        check("revoked" in rows[1]["report_reason"] and rows[1]["state"] == "failed",
              "revoked: %r" % rows[1])
        status = self.ct.status()[MODEL]
        check(status["rejected"] == 2 and status["awaiting_receipt"] == 0,
              "status after two rejections: %r" % status)
        text = self.ct.run("status").stdout
        check("REJECTED" in text, "status shows no rejections: " + text)
        text = self.ct.run("list", "--model", MODEL).stdout
        check("rejected: " in text, "list shows no rejection: " + text)
        events = [json.loads(line) for line in open(self.events_file)]
        check(sorted((e["event"], e["device_number"], e["serial"]) for e in events) ==
              sorted(("installation_rejected", n, first[n]) for n in first) and
              all(e["reason"] and e["factory"] == "factory-e" for e in events),
              "events: %r" % events)
        # Final: not retried.
        attempts = self.cluster.psql("ct", "SELECT sum(attempts) FROM report WHERE state ="
                                     " 'rejected'").strip()
        time.sleep(2.5)
        check(self.cluster.psql("ct", "SELECT sum(attempts) FROM report WHERE state ="
                                " 'rejected'").strip() == attempts, "a rejected report is retried")
        # The next scan provisions a replacement, which installs.
        for n in (proof_bad, revoked):
            d = self.devices[n]
            d.serve("--once")
            event = self.scan(n)
            check(event["result"] == "OK" and event["serial"] != first[n],
                  "%s re-scanned after the rejection: %r" % (n, event))
            check(d.wait(timeout=60) == 0, "%s: device-agent did not end" % n)
            self.check_in(n)
            states = self.ca_serials(n)
            check(states[event["serial"]]["state"] == "installed" and
                  states[first[n]]["state"] in ("superseded", "revoked"),
                  "%s at ca-server: %r" % (n, states))
            row = wait_for("%s's receipt" % n,
                           lambda: self.ct_row(n) if self.ct_row(n)["report"] == "done" else None)
            check(row["state"] == "written" and row["serial"] == event["serial"], "%r" % row)
        check(self.ct.status()[MODEL]["rejected"] == 0, "re-provisioned devices still rejected")

    def retire_after_delete_model(self):
        model = "A123"
        numbers = ["%s-%06d" % (model, n) for n in (1, 2)]
        serials = {n: self.ct_row(n)["serial"] for n in numbers}
        self.ca.stop()
        r = self.ct.run("delete-model", model)
        check("2" in r.stdout, "delete-model: " + r.stdout)
        check(self.ct.status()[model]["retiring"] == 2, "retirements not queued: %r"
              % self.ct.status()[model])
        time.sleep(3)  # the reporter tries and keeps them queued
        check(self.ct.status()[model]["retiring"] == 2, "retirements lost while ca-server away")
        self.ca.start()
        wait_for("retirements", lambda: self.ct.status()[model]["retiring"] == 0)
        for n in numbers:
            c = self.ca_serials(n)[serials[n]]
            check(c["state"] == "revoked" and c["reason"].startswith("cessationOfOperation"),
                  "%s after retirement: %r" % (n, c))
        # A resend (e.g. the answer was lost) is idempotent.
        self.cluster.psql("ct", "UPDATE retirement SET state = 'queued', ended_at = NULL")
        wait_for("resent retirements", lambda: self.ct.status()[model]["retiring"] == 0)
        states = self.cluster.psql("ct", "SELECT string_agg(state, ',') FROM retirement").strip()
        check(states == "done,done", "retirements after a resend: %r" % states)
        for n in numbers:
            check(self.ca_serials(n)[serials[n]]["state"] == "revoked", "resend changed %s" % n)

    def no_sealed_key_after_installation(self):
        installed = [n for n in self.devices if any(
            c["state"] == "installed" for c in self.ca_state(n))]
        check(len(installed) >= 2, "installed devices: %r" % installed)
        dump = self.cluster.dump("ca")
        for n in installed:
            pack = json.loads(self.ct_pack(n))  # the comm-terminal kept it (delete_written off)
            check(pack["sealed_key"] not in dump and pack["sealed_key"][:64] not in dump,
                  "%s: ca-server's database still holds its sealed key" % n)
        held = self.cluster.psql("ca", "SELECT count(*) FROM certificate WHERE pack IS NOT NULL"
                                 " AND state <> 'issued'").strip()
        check(held == "0", "packs kept past issuance: %s" % held)


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    binaries = [os.path.abspath(p) for p in sys.argv[1:5]]
    return run_cases(LimboLine, binaries, os.path.abspath(sys.argv[5]),
                     ("refused_report", "retire_after_delete_model",
                      "no_sealed_key_after_installation"))


if __name__ == "__main__":
    sys.exit(main())
