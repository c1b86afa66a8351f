#!/usr/bin/python3
"""test_comm_terminal.py: comm-terminal end to end with a real ca-server, a private PostgreSQL
cluster and real mutual TLS; the factory terminals are played by a stock SOAP client (zeep).

Covers: operators (first without login, then login required, wrong password refused), plan
import (CSV, re-import idempotent), model marks, the day's fetch, a fetch interrupted by ca-server
going away and resumed with the same request id (no lost or doubled packs), a fetch whose storing
fails midway and its re-run (nothing lost, half stored or doubled), the line operations S5/S9/S11
with OK and NG (a replacement is stored before the answer and a re-scan gets it), two lines asking
for one number at once, ca-server down during production (lines still served;
receipts arrive after it returns), ca-server hanging (NG writes on two lines at once each
answered within a factory terminal's timeout, no replacement tried while it is known away, a
re-scan fetches it once it is back), deletion of written packs, status and lists, every refusal,
and no private key in clear in the comm-terminal's database or log.

Usage: test_comm_terminal.py CA_SERVER COMM_TERMINAL WSDL_DIR SOURCE_DIR
"""
import base64
import json
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

from zeep.exceptions import Fault  # noqa: E402

import raw_peer  # noqa: E402
import soap_peer  # noqa: E402
from certline_harness import (OPERATOR_PASSWORD, CaServer, CommTerminal, Failure,  # noqa: E402
                              cert_der, check, expect_fault, open_pack, run_scenario,
                              verification_value)

TODAY = time.strftime("%Y-%m-%d")
TOMORROW = time.strftime("%Y-%m-%d", time.localtime(time.time() + 86400))


class Scenario:
    def __init__(self, binaries, wsdl_dir, work, cluster):
        ca_binary, ct_binary = binaries
        self.work = work
        self.cluster = cluster
        self.wsdl = os.path.join(wsdl_dir, "CommTerminal.wsdl")
        self.ca = CaServer(ca_binary, work, cluster.create_db("ca"))
        self.ct_conninfo = cluster.create_db("ct")
        self.ct_binary = ct_binary

    def setup_ca(self):
        self.ca.run("init")
        for args in (("ca-server", "ca.certline.test", "svc-ca"),
                     ("comm-terminal", "comm.certline.test", "svc-comm"),
                     ("factory-terminal", "line-1001.certline.test", "1001", "svc-line1"),
                     ("factory-terminal", "line-1002.certline.test", "1002", "svc-line2")):
            self.ca.run("issue-service", *args[:-1], "--out", os.path.join(self.work, args[-1]))
        self.prewrite = {}
        for model in ("3012", "A123", "B777"):
            self.ca.run("model-add", model)
            bundle = os.path.join(self.work, model + ".bundle")
            self.ca.run("model-export", model, "--out", bundle)
            self.prewrite[model] = base64.b64decode(json.load(open(bundle))["prewrite_key"])
        self.ca.run("model-add", "3013", "--not-managed")
        self.ca.start()
        self.ct = CommTerminal(self.ct_binary, self.work, self.ct_conninfo, self.ca)

    def operators_and_plan(self):
        ct = self.ct
        ct.run("migrate", operator=False)
        r = ct.run("operator-add", "--help", operator=False)
        check("operator-add ID [--new-password-file FILE]" in r.stdout and
              "operator-add ID [--password-file" not in r.stdout,
              "operator-add --help: " + r.stdout)
        ct.run("operator-add", "alice", "--new-password-file", ct.password_file, operator=False)
        r = ct.run("operator-add", "bob", "--new-password-file", ct.password_file,
                   operator=False, expect_ok=False)
        check("--operator" in r.stderr, "a second operator without login: " + r.stderr)
        wrong = os.path.join(self.work, "wrong-password")
        with open(os.open(wrong, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("not the password\n")
        r = ct.run("model-set", "3012", "--managed", "--operator", "alice", "--password-file",
                   wrong, operator=False, expect_ok=False)
        check("not accepted" in r.stderr, "wrong password: " + r.stderr)
        r = ct.run("model-set", "3012", "--managed", operator=False, expect_ok=False)
        check("operator action" in r.stderr, "no operator: " + r.stderr)
        ct.run("model-set", "3012", "--managed")
        ct.run("model-set", "A123", "--managed")
        ct.run("model-set", "3013", "--not-managed")
        plan = os.path.join(self.work, "plan.csv")
        with open(plan, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "3012,%s,20,1,6\nA123,%s,8,654321,6\n3013,%s,5,1,6\n" % (TODAY, TODAY, TODAY))
        r = ct.run("import", plan)
        check("33 new device number(s)" in r.stdout, "import: " + r.stdout)
        r = ct.run("import", plan)
        check("0 new device number(s)" in r.stdout, "re-import: " + r.stdout)

    def fetch_with_interruption(self):
        ct = self.ct
        # ca-server goes away: the first chunk's request is recorded, never answered.
        self.ca.stop()
        r = ct.run("fetch", "--date", TODAY, expect_ok=False)
        check("run it again to resume" in r.stderr, "interrupted fetch: " + r.stderr)
        check(ct.certificates() == [], "packs stored without an answer")
        self.ca.start()
        r = ct.run("fetch", "--date", TODAY)
        check("resent request" in r.stderr, "the recorded request was not resent: " + r.stderr)
        certs = ct.certificates()
        numbers = sorted(c["device_number"] for c in certs)
        expected = sorted(["3012-%06d" % i for i in range(1, 21)] +
                          ["A123-%06d" % i for i in range(654321, 654329)])
        check(numbers == expected, "after the resumed fetch: %r" % numbers)
        check(all(c["state"] == "stored" and not c["write_flag"] and c["pack_held"]
                  for c in certs), "state after fetch")
        # ca-server issued exactly one certificate per number: nothing doubled.
        issued = json.loads(self.ca.run("list", "--json", "--limit", "1000").stdout)
        check(len(issued) == 28, "ca-server issued %d certificates for 28 numbers" % len(issued))
        status = ct.status()
        check(status["3012"]["held"] == 20 and status["A123"]["held"] == 8,
              "status after fetch: %r" % status)
        check(status["3012"]["remaining"] == 20, "remaining: %r" % status["3012"])

    def line(self, which, timeout=60):
        return soap_peer.service(self.wsdl, "https://127.0.0.1:%d/ct" % self.ct.port,
                                 "comm.certline.test",
                                 os.path.join(self.work, "svc-line%d.chain.crt" % which),
                                 os.path.join(self.work, "svc-line%d.key" % which),
                                 os.path.join(self.ca.ca_dir, "root.crt"), timeout=timeout)[0]


    def hostile_wire(self):
        """Issue 12 item 4 on the real comm-terminal, as factory terminal 1001: a device number
        holding U+0000 (raw or &#0;) is not claimed, a write result whose reason holds invalid
        UTF-8 or a surrogate reference is not recorded, nor are SOAP 1.1, DOCTYPE or doubled
        Content-Length requests processed; each gets a SOAP 1.2 fault and the next request is
        served."""
        ns = "urn:certline:comm-terminal:1"

        def request(body):
            return raw_peer.post("/ct", "comm.certline.test", raw_peer.envelope("ct", ns, body))

        def claim(number):
            return (b"<ct:CertificateTransmissionRequest><ct:deviceNumber>" + number +
                    b"</ct:deviceNumber></ct:CertificateTransmissionRequest>")

        def write_result(number, reason):
            return (b"<ct:WriteResult><ct:deviceNumber>" + number + b"</ct:deviceNumber>"
                    b"<ct:result>NG</ct:result><ct:reason>" + reason + b"</ct:reason>"
                    b"</ct:WriteResult>")

        def rows():
            return [c for c in self.ct.certificates()
                    if c["device_number"] in ("3012-000003", "3012-000007")]

        valid = request(claim(b"3012-000007"))
        cases = [
            (request(claim(b"3012-000007&#0;x")), "U+0000"),
            (request(claim(b"3012-000007\x00x")), "U+0000"),
            (request(write_result(b"3012-000003", b"bad \xff\xfe byte")), "invalid UTF-8"),
            (request(write_result(b"3012-000003", b"half &#xD800; pair")), "U+D800"),
            (raw_peer.post("/ct", "comm.certline.test", raw_peer.envelope(
                "ct", ns, claim(b"3012-000007")).replace(
                    raw_peer.SOAP12, b"http://schemas.xmlsoap.org/soap/envelope/")),
             "VersionMismatch"),
            (raw_peer.post("/ct", "comm.certline.test", raw_peer.envelope(
                "ct", ns, claim(b"3012-000007")).replace(b"?>\n", b"?>\n<!DOCTYPE x>")),
             "document type"),
            (valid.replace(b"Content-Length: ", b"Content-Length: 5\r\nContent-Length: ", 1),
             "2 Content-Length headers"),
        ]
        before = rows()
        for data, needle in cases:
            answer = raw_peer.exchange(self.ct.port, "comm.certline.test",
                                       os.path.join(self.work, "svc-line1.chain.crt"),
                                       os.path.join(self.work, "svc-line1.key"),
                                       os.path.join(self.ca.ca_dir, "root.crt"), data)
            problem = raw_peer.refusal_problem(answer, needle)
            check(problem is None, "%r...: %s" % (data[-160:], problem))
        check(rows() == before, "a refused request changed %r into %r" % (before, rows()))
        expect_fault("unknown number after hostile requests", lambda: self.line(1)
                          .CertificateTransmissionRequest(deviceNumber="3012-999999"))

    def write_device(self, line, number, ok=True):
        """What a factory terminal and its device do for one device: S5, S9, S11."""
        answer = line.CertificateTransmissionRequest(deviceNumber=number)
        pack, cert, key_der = open_pack(answer.pack, self.prewrite[number.split("-")[0]])
        check(pack["device_number"] == number, "pack for another device")
        line.ReceptionNotice(deviceNumber=number, result="OK")
        if not ok:
            return pack, line.WriteResult(deviceNumber=number, result="NG",
                                          reason="test: flash write failed")
        proof = verification_value("certline install-proof v1", number, pack["serial"],
                                   cert_der(cert), key_der)
        return pack, line.WriteResult(deviceNumber=number, result="OK",
                                      certificateSerial=pack["serial"], verificationValue=proof)

    def wait_for(self, what, condition, seconds=30):
        for _ in range(seconds * 4):
            if condition():
                return
            time.sleep(0.25)
        raise Failure("timed out waiting for " + what)

    def production(self):
        ct = self.ct
        ct.start()
        try:
            line1, line2 = self.line(1), self.line(2)
            pack, s12 = self.write_device(line1, "3012-000001")
            check(s12.result == "OK", "S12 for an OK write")
            self.wait_for("the receipt of 3012-000001", lambda: any(
                c["device_number"] == "3012-000001" and not c["pack_held"]
                for c in ct.certificates("--state", "written")))
            rows = json.loads(self.ca.run("show", "3012-000001", "--json").stdout)
            check(rows[0]["state"] == "installed", "ca-server: %r" % rows[0]["state"])

            # NG: a replacement is stored before S12; a re-scan provisions again.
            old, s12 = self.write_device(line1, "3012-000002", ok=False)
            check(s12.replacementReady is True, "S12 after NG: %r" % s12)
            new, s12 = self.write_device(line1, "3012-000002")
            check(new["serial"] != old["serial"], "the re-scan got the failed pack again")
            check(s12.result == "OK", "S12 after the re-scan")

            # Two lines, one number.
            line1.CertificateTransmissionRequest(deviceNumber="3012-000003")
            expect_fault("second line", lambda: line2.CertificateTransmissionRequest(
                deviceNumber="3012-000003"), "line 1001")
            # Refusals.
            expect_fault("unknown number", lambda: line1.CertificateTransmissionRequest(
                deviceNumber="3012-999999"))
            expect_fault("written number", lambda: line2.CertificateTransmissionRequest(
                deviceNumber="3012-000001"))
            expect_fault("not certificate-managed", lambda: line1
                              .CertificateTransmissionRequest(deviceNumber="3013-000001"))
            wrong_role = soap_peer.service(self.wsdl, "https://127.0.0.1:%d/ct" % ct.port,
                                           "comm.certline.test",
                                           os.path.join(self.work, "svc-comm.chain.crt"),
                                           os.path.join(self.work, "svc-comm.key"),
                                           os.path.join(self.ca.ca_dir, "root.crt"))[0]
            expect_fault("comm-terminal as a line", lambda: wrong_role
                              .CertificateTransmissionRequest(deviceNumber="3012-000004"),
                              "Not authorised")
            self.hostile_wire()

            # ca-server down: lines are still served; receipts wait, then arrive.
            self.ca.stop()
            for number in ("3012-000004", "3012-000005", "A123-654321"):
                _, s12 = self.write_device(self.line(2), number)
                check(s12.result == "OK", "S12 with ca-server down")
            status = ct.status()
            check(status["3012"]["awaiting_receipt"] >= 2, "awaiting receipt: %r" % status)
            # An NG while ca-server is away: no replacement yet, and a re-scan says why...
            failed, s12 = self.write_device(self.line(2), "3012-000006", ok=False)
            check(s12.replacementReady is False, "S12 after NG with ca-server down: %r" % s12)
            expect_fault("re-scan before the replacement", lambda: self.line(2)
                              .CertificateTransmissionRequest(deviceNumber="3012-000006"),
                              "cannot be fetched yet")
            self.ca.start()
            # ...and once ca-server is back, the re-scan fetches the replacement and gets it.
            new, s12 = self.write_device(self.line(2), "3012-000006")
            check(new["serial"] != failed["serial"] and s12.result == "OK",
                  "re-scan after ca-server returned: %r" % s12)
            self.wait_for("receipts after ca-server returned", lambda: all(
                not c["pack_held"] for c in ct.certificates("--state", "written")), seconds=60)
        finally:
            ct.stop()

    def operator_views_and_secrets(self):
        ct = self.ct
        status = ct.status()
        # written today: 1, 2, 4, 5, 6; their packs are deleted after the receipts
        check(status["3012"]["used_today"] == 5, "used today: %r" % status["3012"])
        check(status["3012"]["held"] == 15, "held: %r" % status["3012"])
        check(status["A123"]["used_today"] == 1, "used today: %r" % status["A123"])
        check(status["3012"]["awaiting_receipt"] == 0, "awaiting: %r" % status["3012"])
        table = ct.run("status").stdout
        check("USED TODAY" in table and "3012" in table, "status table: " + table)
        r = ct.run("delete-model", "A123")
        check("deleted 7 pack(s)" in r.stdout, "delete-model: " + r.stdout)
        dump = self.cluster.dump("ct")
        check("PRIVATE KEY" not in dump, "a private key in the comm-terminal's database")
        check(OPERATOR_PASSWORD not in dump, "the operator password in the database")
        log = open(ct.log_path).read()
        check("PRIVATE KEY" not in log and OPERATOR_PASSWORD not in log, "a secret in the log")

    def fetch_with_store_failure(self):
        """The storing of one answer fails in the middle of a fetch (a trigger refuses one pack,
        the way a full disk or a lost connection would): the fetch stops with a clear error,
        only whole answers are stored, every other number is in a pending request, and a re-run
        stores the rest once, with the packs ca-server issued the first time."""
        ct, ca = self.ct, self.ca
        units, bad = 30, "B777-000017"  # with fetch_chunk 7: the third of five requests
        ct.run("model-set", "B777", "--managed")
        plan = os.path.join(self.work, "plan-b777.csv")
        with open(plan, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "B777,%s,%d,1,6\n" % (TOMORROW, units))
        ct.run("import", plan)
        sql = self.cluster.psql
        sql("ct", "CREATE FUNCTION test_refuse_pack() RETURNS trigger LANGUAGE plpgsql AS"
                  " $$BEGIN RAISE EXCEPTION 'test: pack refused'; END$$")
        sql("ct", "CREATE TRIGGER test_refuse_pack BEFORE INSERT ON certificate FOR EACH ROW"
                  " WHEN (NEW.device_number = '%s') EXECUTE FUNCTION test_refuse_pack()" % bad)
        r = ct.run("fetch", "--date", TOMORROW, expect_ok=False)
        check("test: pack refused" in r.stderr and "run it again to resume" in r.stderr,
              "fetch with a failing store: " + r.stderr)

        def numbers(query):
            return sorted(sql("ct", query).split())
        planned = ["B777-%06d" % i for i in range(1, units + 1)]
        stored = numbers("SELECT device_number FROM certificate WHERE model_code = 'B777'")
        pending = numbers("SELECT f.device_number FROM fetch_item f JOIN fetch_request r"
                          " USING (request_id) WHERE r.state = 'pending' AND f.pending")
        check(bad not in stored and bad in pending, "the refused answer: %r" % stored)
        check(len(stored) >= 7 and sorted(stored + pending) == planned,
              "after the failed store: stored %r, pending %r" % (stored, pending))
        half = sql("ct", "SELECT count(*) FROM fetch_item f JOIN fetch_request r USING"
                         " (request_id) LEFT JOIN certificate c ON c.device_number ="
                         " f.device_number AND c.request_id = f.request_id WHERE"
                         " f.device_number LIKE 'B777-%' AND"
                         " (r.state = 'completed') <> (c.device_number IS NOT NULL)").strip()
        check(half == "0", "%s request item(s) half stored" % half)
        issued_before = {c["device_number"]: c["serial"] for c in json.loads(
            ca.run("list", "--json", "--model", "B777", "--limit", "1000").stdout)}

        sql("ct", "DROP TRIGGER test_refuse_pack ON certificate")
        r = ct.run("fetch", "--date", TOMORROW)
        check("resent request" in r.stderr, "the pending requests were not resent: " + r.stderr)
        certs = {c["device_number"]: c for c in ct.certificates("--model", "B777")}
        check(sorted(certs) == planned and all(c["state"] == "stored" for c in certs.values()),
              "after the re-run: %r" % sorted(certs))
        check(sql("ct", "SELECT count(*) FROM fetch_request WHERE state <> 'completed'").strip()
              == "0", "requests left pending after the re-run")
        issued = json.loads(ca.run("list", "--json", "--model", "B777", "--limit", "1000").stdout)
        check(len(issued) == units, "ca-server issued %d certificates for %d numbers"
              % (len(issued), units))
        for number, serial in issued_before.items():
            check(certs[number]["serial"] == serial,
                  "%s: stored %s, ca-server issued %s" % (number, certs[number]["serial"], serial))
        pack, _, _ = open_pack(sql("ct", "SELECT pack FROM certificate WHERE device_number = '%s'"
                                   % bad).strip(), self.prewrite["B777"])
        check(pack["device_number"] == bad, "the pack stored for %s" % bad)

    def ca_server_hangs(self):
        """ca-server's address takes connections and never answers (a hung process, a dead host
        behind a balancer). NG writes on both lines at once are each answered (recorded, no
        replacement yet) within a factory terminal's own timeout, rather than queueing one
        behind the other's wait for ca-server; while ca-server is known away, the next NG does
        not try it at all; once ca-server is back, a re-scan fetches the replacement at once.
        (Before the fix the four answers came one ca-server timeout after the other.)"""
        ct = self.ct
        ct.start()
        self.ca.stop()
        hung = socket.socket()
        hung.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        hung.bind(("127.0.0.1", self.ca.port))
        hung.listen(64)  # connections complete in the backlog; nothing is ever read or sent
        numbers = ["3012-%06d" % i for i in range(7, 12)]
        # A factory terminal waits 12 s for the comm-terminal; ca-server's timeout there is 10 s.
        lines = [self.line(1, 12), self.line(1, 12), self.line(2, 12), self.line(2, 12)]
        failed, answers = {}, {}

        def write_ng(line, number):
            try:
                failed[number], answers[number] = self.write_device(line, number, ok=False)
            except Exception as e:  # noqa: BLE001 - reported below, with the number
                answers[number] = e

        try:
            threads = [threading.Thread(target=write_ng, args=(lines[i], numbers[i]))
                       for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            for number in numbers[:4]:
                s12 = answers.get(number)
                check(not isinstance(s12, Exception) and s12 is not None and
                      s12.result == "OK" and s12.replacementReady is False,
                      "NG of %s while ca-server hangs: %r" % (number, s12))
            # Known away once a call to it has failed after waiting: one of the NGs' own, or
            # the reporter's retirement of the failed packs when it took the link first (the
            # NGs then found the link busy and did not ask).
            self.wait_for("ca-server known away", lambda: "ca-server is away" in ct.log())
            # Known away: the next NG is recorded without asking ca-server.
            failed[numbers[4]], s12 = self.write_device(lines[0], numbers[4], ok=False)
            check(s12.replacementReady is False, "NG while ca-server is away: %r" % s12)
            check("%s failed; no replacement yet: ca-server unreachable since" % numbers[4]
                  in ct.log(), "the NG while ca-server is away asked it anyway")
        finally:
            hung.close()
        self.ca.start()
        try:
            for i, number in enumerate(numbers):
                new, s12 = self.write_device(lines[i % 4], number)
                check(s12.result == "OK" and new["serial"] != failed[number]["serial"],
                      "re-scan of %s after ca-server returned: %r" % (number, s12))
        finally:
            ct.stop()

    def run(self):
        self.setup_ca()
        try:
            self.operators_and_plan()
            self.fetch_with_interruption()
            self.production()
            self.operator_views_and_secrets()
            self.fetch_with_store_failure()
            self.ca_server_hangs()
        finally:
            self.ca.stop()


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: test_comm_terminal.py CA_SERVER COMM_TERMINAL WSDL_DIR SOURCE_DIR")
    ca_binary, ct_binary, wsdl_dir, _ = sys.argv[1:]
    return run_scenario("test_comm_terminal", lambda work, cluster: Scenario(
        (ca_binary, ct_binary), wsdl_dir, work, cluster), errors=(Fault,))


if __name__ == "__main__":
    sys.exit(main())
