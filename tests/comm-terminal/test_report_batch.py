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
   ca-server recorded the first time; no report went one by one. The receipts came signed as a
   batch (one manifest signature per ca:ReceiptBatch): each report refers to its manifest and
   holds no signature of its own, and each verifies here (python3-cryptography) from its fields,
   the manifest, the manifest's signature and the signer.
4. The batch's signature tampered with on its way (the relay changes a byte of it, in the
   manifestSignature and in each receipt): refused, every report of the batch stays queued, no
   manifest kept, the packs held; sent again untouched, they are done.
5. An old comm-terminal (the relay takes the receiptManifest element out of the request): the
   real ca-server answers one signature per receipt and no manifestSignature; they are stored
   each with its own signature, which verifies here.
6. A ca-server from before batch signatures (the relay answers a request with receiptManifest
   with gSOAP's strict-XML fault for an unknown element): the comm-terminal sends the same batch
   without it and verifies each receipt alone; no report went one by one.
7. A ca-server from before batches (the relay answers ca:ReportBatch with gSOAP's fault for an
   unknown operation): the reports go one by one (ca:InstallationReport) and get their receipts.

No step waits for a time: each waits for a state (a report attempted, a batch relayed).

Usage: test_report_batch.py CA_SERVER COMM_TERMINAL WSDL_DIR SOURCE_DIR
"""
import base64
import http.client
import os
import re
import ssl
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from zeep.exceptions import Fault  # noqa: E402

from test_comm_terminal import TODAY, Scenario  # noqa: E402  (first: it sets the path)
from test_receipts import FakeCaServer  # noqa: E402
from cryptography import x509  # noqa: E402
from certline_harness import (STORED_RECEIPT_JOIN, STORED_RECEIPT_SQL, check,  # noqa: E402
                              open_pack, run_scenario, verify_stored_receipt)
from certline_procs import free_port  # noqa: E402

GOOD = ["3012-%06d" % i for i in range(1, 7)]
WRONG = "3012-000007"  # reported with a proof that is not its own
OLDER = ["3012-000008", "3012-000009"]  # reported to a ca-server from before batches
TAMPERED = ["3012-000010", "3012-000011"]  # their batch's signature changed on its way
OLD_CT = ["3012-000012", "3012-000013"]  # reported as an old comm-terminal reports
OLD_CA = ["3012-000014", "3012-000015"]  # to a ca-server from before batch signatures
MANIFEST_ELEMENT = re.compile(rb"<(?:\w+:)?receiptManifest>1</(?:\w+:)?receiptManifest>")
SIGNATURE_ELEMENT = re.compile(rb"<(?:\w+:)?manifestSignature>([^<]*)</")


def fault_envelope(text):
    """A SOAP 1.2 Sender fault saying text, as gSOAP answers it."""
    fault = ("<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender"
             "</SOAP-ENV:Value></SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="
             "\"en\">%s</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>" % text)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:'
            'SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"><SOAP-ENV:Body>%s'
            '</SOAP-ENV:Body></SOAP-ENV:Envelope>' % fault).encode()


def tampered(payload):
    """payload with the batch's signature changed in its last byte (still DER, no longer the
    signature of the manifest), wherever it occurs."""
    found = SIGNATURE_ELEMENT.search(payload)
    if found is None:
        return payload
    der = bytearray(base64.b64decode(found.group(1)))
    der[-1] ^= 0x01
    return payload.replace(found.group(1), base64.b64encode(bytes(der)))


class Relay(FakeCaServer):
    """Forwards each request of the comm-terminal to the real ca-server and its answer back;
    while cut is set, a ca:ReportBatch reaches ca-server but its answer is dropped and the
    connection closed; while unserved is set, a ca:ReportBatch gets the fault a ca-server from
    before batches answers. Counts the batches and the single reports relayed."""

    def __init__(self, port, work, ca_dir, target_port):
        self.cut = True
        self.unserved = False
        self.tamper = self.strip = self.old_signing = False
        self.batches = self.cut_batches = self.singles = 0
        self.asked = self.signed = self.element_refused = 0  # receiptManifest, manifestSignature
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
        asked = batch and MANIFEST_ELEMENT.search(body) is not None
        self.asked += asked
        if (batch and self.unserved) or (asked and self.old_signing):
            self.batches += 1
            self.element_refused += not self.unserved
            envelope = fault_envelope(
                "Method 'ca:ReportBatch' not implemented: method name or namespace not recognized"
                if self.unserved else "Validation constraint violation: tag name or namespace"
                " mismatch in element 'ca:receiptManifest'")
            tls.sendall(("HTTP/1.1 400 Bad Request\r\nContent-Type: application/soap+xml; "
                         "charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                         % len(envelope)).encode() + envelope)
            return
        if asked and self.strip:
            body = MANIFEST_ELEMENT.sub(b"", body)  # as an old comm-terminal asks
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
        self.signed += SIGNATURE_ELEMENT.search(payload) is not None
        if batch and self.cut:
            self.cut_batches += 1
            return  # ca-server answered; the comm-terminal hears nothing
        if batch and self.tamper:
            payload = tampered(payload)
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

    def stored(self, numbers):
        """How the receipts of numbers' done reports are held, each verified here first (python3-
        cryptography, independently of certline's C code): "batch" (a manifest, no signature of
        its own) or "alone" (its own signature, no manifest)."""
        issuing = x509.load_pem_x509_certificate(
            open(os.path.join(self.ca.ca_dir, "issuing.crt"), "rb").read())
        held = {}
        for line in self.cluster.psql(
                "ct", "SELECT r.device_number, r.serial, r.proof,"
                " floor(extract(epoch FROM r.received_at))::bigint, " + STORED_RECEIPT_SQL +
                ", r.signature IS NOT NULL, r.manifest_id IS NOT NULL FROM report r" +
                STORED_RECEIPT_JOIN + " WHERE r.state = 'done' AND r.device_number IN (%s)"
                % ",".join("'%s'" % n for n in numbers)).strip().split("\n"):
            if line:
                number, serial, proof, at, signature, signer, manifest, own, batch = \
                    line.split("|")
                verify_stored_receipt(issuing, number, serial, proof, at, signature, signer,
                                      manifest)
                held[number] = {("f", "t"): "batch", ("t", "f"): "alone"}.get((own, batch), "?")
        return held

    def attempted(self, numbers):
        rows = {r[0]: r for r in self.reports()}
        return all(n in rows and int(rows[n][2]) >= 1 for n in numbers)

    def done(self, numbers):
        rows = {r[0]: r for r in self.reports()}
        return all(n in rows and rows[n][1] == "done" for n in numbers)

    def produce(self, numbers, what, condition):
        """The comm-terminal up while a line writes numbers, until condition() (what)."""
        self.ct.start()
        try:
            line = self.line(1)
            for number in numbers:
                self.write_device(line, number)
            self.wait_for(what, condition, seconds=90)
        finally:
            self.ct.stop()

    def batch_signatures(self, relay):
        ct = self.ct
        # 4. The batch's signature tampered with: refused, the whole batch stays queued.
        relay.tamper = True
        manifests = self.cluster.psql("ct", "SELECT count(*) FROM receipt_manifest").strip()
        self.produce(TAMPERED, "the tampered batch attempted", lambda: self.attempted(TAMPERED))
        state = {r[0]: r for r in self.reports()}
        check(all(state[n][1] == "queued" and "signature does not match" in state[n][4]
                  for n in TAMPERED), "after a tampered batch signature: %r" % self.reports())
        check(self.cluster.psql("ct", "SELECT count(*) FROM receipt_manifest").strip() ==
              manifests, "a manifest was kept from a tampered batch")
        held = self.cluster.psql("ct", "SELECT count(*) FROM certificate WHERE pack IS NOT NULL"
                                 " AND device_number IN ('%s')" % "','".join(TAMPERED)).strip()
        check(held == str(len(TAMPERED)), "packs deleted without a receipt: %s held" % held)
        relay.tamper = False
        r = ct.run("report")
        check("%d receipt(s) received" % len(TAMPERED) in r.stdout, "report: " + r.stdout)
        check(self.stored(TAMPERED) == {n: "batch" for n in TAMPERED},
              "after the untouched batch: %r" % self.stored(TAMPERED))

        # 5. An old comm-terminal: one signature per receipt, no manifest.
        relay.strip = True
        signed = relay.signed
        self.produce(OLD_CT, "the receipts of an old comm-terminal's reports",
                     lambda: self.done(OLD_CT))
        relay.strip = False
        check(relay.signed == signed, "ca-server answered a manifestSignature unasked")
        check(self.stored(OLD_CT) == {n: "alone" for n in OLD_CT},
              "an old comm-terminal's receipts: %r" % self.stored(OLD_CT))

        # 6. A ca-server from before batch signatures.
        relay.old_signing = True
        singles = relay.singles
        self.produce(OLD_CA, "the receipts from a ca-server from before batch signatures",
                     lambda: self.done(OLD_CA))
        relay.old_signing = False
        check(relay.element_refused >= 1 and relay.singles == singles,
              "receiptManifest refused %d times, %d single reports" % (
                  relay.element_refused, relay.singles - singles))
        check(self.stored(OLD_CA) == {n: "alone" for n in OLD_CA},
              "receipts from a ca-server from before batch signatures: %r" %
              self.stored(OLD_CA))

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
            check(relay.asked >= 1 and relay.signed >= 1,
                  "batches asking for one signature %d, answered so %d" % (relay.asked,
                                                                          relay.signed))
            check(self.stored(GOOD) == {n: "batch" for n in GOOD},
                  "the batch's receipts are held as %r" % self.stored(GOOD))

            self.batch_signatures(relay)

            # 7. A ca-server that does not know ca:ReportBatch.
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
