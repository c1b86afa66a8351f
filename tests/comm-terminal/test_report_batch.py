#!/usr/bin/python3
"""test_report_batch.py: installation reports go to ca-server in batches (ca:ReportBatch), and a
batch that fails midway loses and doubles nothing. The real comm-terminal and ca-server, a
private PostgreSQL cluster, mutual TLS; a line played by a stock SOAP client (zeep); between the
comm-terminal and ca-server a relay (this script, with each side's service certificate).

1. The connection is cut after ca-server recorded a batch, before its answer: ca-server has the
   installations, the comm-terminal none of the receipts; every report stays queued.
2. Sent again (`comm-terminal report`, every queued report in one batch), with the comm-terminal's
   store refusing one receipt: the batch's receipts are stored in one transaction, so none is kept
   and every good report stays queued; the report with a wrong proof ends rejected.
3. Sent again without the fault: every good report is done, once, with the installation time
   ca-server recorded the first time; no report went one by one.
4. A ca-server from before batches (the relay answers ca:ReportBatch with gSOAP's fault for an
   unknown operation): the reports go one by one (ca:InstallationReport) and get their receipts.

No step waits for a time: each waits for a state (a report attempted, a batch relayed).

Usage: test_report_batch.py CA_SERVER COMM_TERMINAL WSDL_DIR SOURCE_DIR
"""
import http.client
import os
import ssl
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from zeep.exceptions import Fault  # noqa: E402

from test_comm_terminal import TODAY, Scenario  # noqa: E402  (first: it sets the path)
from test_receipts import FakeCaServer  # noqa: E402
from certline_harness import check, open_pack, run_scenario  # noqa: E402
from certline_procs import free_port  # noqa: E402

GOOD = ["3012-%06d" % i for i in range(1, 7)]
WRONG = "3012-000007"  # reported with a proof that is not its own
OLDER = ["3012-000008", "3012-000009"]  # reported to a ca-server from before batches


class Relay(FakeCaServer):
    """Forwards each request of the comm-terminal to the real ca-server and its answer back;
    while cut is set, a ca:ReportBatch reaches ca-server but its answer is dropped and the
    connection closed; while unserved is set, a ca:ReportBatch gets the fault a ca-server from
    before batches answers. Counts the batches and the single reports relayed."""

    def __init__(self, port, work, ca_dir, target_port):
        self.cut = True
        self.unserved = False
        self.batches = self.cut_batches = self.singles = 0
        self.target_port = target_port
        self.upstream = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.upstream.check_hostname = False  # the relay dials 127.0.0.1; the chain is checked
        self.upstream.load_verify_locations(os.path.join(ca_dir, "root.crt"))
        self.upstream.load_cert_chain(os.path.join(work, "svc-comm.chain.crt"),
                                      os.path.join(work, "svc-comm.key"))
        super().__init__(port, os.path.join(work, "svc-ca.chain.crt"),
                         os.path.join(work, "svc-ca.key"), os.path.join(ca_dir, "root.crt"), {})

    def answer(self, tls):
        request = self.read_request(tls)
        if request is None:
            return
        head, body = request
        lines = head.decode().split("\r\n")
        method, path = lines[0].split(" ")[:2]
        headers = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:]
                                                      if ":" in line)
                   if k.strip().lower() in ("content-type", "soapaction")}
        batch = b"ReportBatch" in body
        if batch and self.unserved:
            self.batches += 1
            fault = ("<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender"
                     "</SOAP-ENV:Value></SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="
                     "\"en\">Method 'ca:ReportBatch' not implemented: method name or namespace"
                     " not recognized</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>")
            envelope = ('<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:'
                        'SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"><SOAP-ENV:Body>%s'
                        '</SOAP-ENV:Body></SOAP-ENV:Envelope>' % fault).encode()
            tls.sendall(("HTTP/1.1 400 Bad Request\r\nContent-Type: application/soap+xml; "
                         "charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                         % len(envelope)).encode() + envelope)
            return
        conn = http.client.HTTPSConnection("127.0.0.1", self.target_port, context=self.upstream,
                                           timeout=60)
        try:
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        self.batches += batch
        self.singles += b"InstallationReport>" in body and not batch
        if batch and self.cut:
            self.cut_batches += 1
            return  # ca-server answered; the comm-terminal hears nothing
        tls.sendall(("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n" % (
                         response.status, response.reason, response.getheader("Content-Type"),
                         len(payload))).encode() + payload)


class ReportBatch(Scenario):
    def reports(self):
        rows = self.cluster.psql("ct", "SELECT device_number, state, attempts,"
                                 " coalesce(extract(epoch FROM received_at)::bigint, 0),"
                                 " coalesce(last_error, '') FROM report ORDER BY id")
        return [line.split("|") for line in rows.strip().split("\n") if line]

    def installed(self):
        rows = self.cluster.psql("ca", "SELECT device_number,"
                                 " extract(epoch FROM installed_at)::bigint FROM certificate"
                                 " WHERE state = 'installed'")
        return dict(line.split("|") for line in rows.strip().split("\n") if line)

    def write_wrong_proof(self, line, number):
        answer = line.CertificateTransmissionRequest(deviceNumber=number)
        pack = open_pack(answer.pack, self.prewrite["3012"])[0]
        line.ReceptionNotice(deviceNumber=number, result="OK")
        result = line.WriteResult(deviceNumber=number, result="OK",
                                  certificateSerial=pack["serial"], verificationValue="ab" * 32)
        check(result.result == "OK", "S12 for %s" % number)

    def batches(self):
        ct, ca = self.ct, self.ca
        # ca-server moves to another port; the relay takes the one the comm-terminal dials.
        ca.stop()
        dialled, ca.port = ca.port, free_port()
        ca.start()
        relay = Relay(dialled, self.work, ca.ca_dir, ca.port)
        try:
            # 1. Answers cut after ca-server recorded each batch.
            ct.start()
            try:
                line = self.line(1)
                for number in GOOD:
                    self.write_device(line, number)
                self.write_wrong_proof(line, WRONG)
                self.wait_for("every report attempted once", lambda: len(self.reports()) == 7
                              and all(int(r[2]) >= 1 for r in self.reports()), seconds=90)
            finally:
                ct.stop()
            check(relay.cut_batches >= 1 and relay.singles == 0,
                  "batches cut %d, single reports %d" % (relay.cut_batches, relay.singles))
            check([r[1] for r in self.reports()] == ["queued"] * 7,
                  "after the cut answers: %r" % self.reports())
            first = self.installed()
            check(sorted(first) == GOOD, "ca-server recorded %r" % sorted(first))

            # 2. One batch again; the comm-terminal's store refuses one receipt.
            relay.cut = False
            self.cluster.psql("ct", "CREATE FUNCTION test_refuse_receipt() RETURNS trigger"
                              " LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'test: receipt"
                              " refused'; END$$; CREATE TRIGGER test_refuse_receipt BEFORE"
                              " UPDATE ON report FOR EACH ROW WHEN (NEW.device_number = '%s'"
                              " AND NEW.state = 'done') EXECUTE FUNCTION test_refuse_receipt()"
                              % GOOD[2])
            before = relay.batches
            r = ct.run("report")
            check("0 receipt(s) received" in r.stdout, "report with a store fault: " + r.stdout)
            check(relay.batches == before + 1, "%d batches for 7 reports" % (relay.batches -
                                                                             before))
            state = {r[0]: r for r in self.reports()}
            check(all(state[n][1] == "queued" and "could not be stored" in state[n][4]
                      for n in GOOD), "after the store fault: %r" % self.reports())
            check(state[WRONG][1] == "rejected" and "Installation proof rejected" in
                  self.cluster.psql("ct", "SELECT reject_reason FROM report WHERE"
                                    " device_number = '%s'" % WRONG),
                  "the wrong proof: %r" % state[WRONG])

            # 3. Once more, without the fault.
            self.cluster.psql("ct", "DROP TRIGGER test_refuse_receipt ON report;"
                              " DROP FUNCTION test_refuse_receipt()")
            r = ct.run("report")
            check("6 receipt(s) received" in r.stdout, "report: " + r.stdout)
            rows = self.reports()
            check(sorted(r[0] for r in rows if r[1] == "done") == GOOD and len(rows) == 7,
                  "after the batch: %r" % rows)
            check({r[0]: r[3] for r in rows if r[1] == "done"} == first,
                  "the receipts' times are not ca-server's first installation times: %r, %r"
                  % (rows, first))
            check(self.installed() == first, "ca-server's installations changed")
            check(relay.singles == 0, "%d reports went one by one" % relay.singles)

            # 4. A ca-server that does not know ca:ReportBatch.
            relay.unserved = True
            before = relay.batches
            ct.start()
            try:
                line = self.line(1)
                for number in OLDER:
                    self.write_device(line, number)
                self.wait_for("the receipts one by one", lambda: all(
                    state == "done" for number, state, *_ in self.reports() if number in OLDER),
                    seconds=90)
            finally:
                ct.stop()
            check(relay.batches > before and relay.singles == len(OLDER),
                  "batches %d, single reports %d" % (relay.batches - before, relay.singles))
        finally:
            relay.stop()

    def run(self):
        self.setup_ca()
        try:
            self.operators_and_plan()
            self.ct.run("fetch", "--date", TODAY)
            self.batches()
        finally:
            self.ca.stop()


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: test_report_batch.py CA_SERVER COMM_TERMINAL WSDL_DIR SOURCE_DIR")
    ca_binary, ct_binary, wsdl_dir, _ = sys.argv[1:]
    return run_scenario("test_report_batch", lambda work, cluster: ReportBatch(
        (ca_binary, ct_binary), wsdl_dir, work, cluster), errors=(Fault,))


if __name__ == "__main__":
    sys.exit(main())
