#!/usr/bin/python3
"""test_stock_client.py: a stock SOAP client can consume each published certline WSDL.

Debian's python3-zeep loads CertificateAuthority.wsdl, CommTerminal.wsdl, Device.wsdl and
Line.wsdl as published by the build, lists the operations of each binding (which must be exactly
the expected ones), then calls every operation over mutual TLS against contract_server (a test
double serving all four interfaces behind the real role policy) and checks the answers. Each
interface also gets one refusal: a client certificate whose role is not admitted gets a SOAP fault
"Not authorised"; and one request that breaks the schema gets a Sender fault.

Usage: test_stock_client.py WSDL_DIR CONTRACT_SERVER SOURCE_DIR
Exit status 0 when everything holds, 1 on the first failure (with the server's log).
"""
import datetime
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import requests
    import zeep
    from zeep.exceptions import Fault
    from zeep.wsdl.bindings.soap import Soap12Binding
    import soap_peer
except ImportError as exc:
    sys.exit(
        "test_stock_client: %s: needs Debian's python3-zeep (apt-get install python3-zeep), "
        "run by /usr/bin/python3" % exc
    )

SERVER_NAME = "ca.certline.test"  # contract_server presents the ca-server identity everywhere
SOAP12_ENVELOPE = "http://www.w3.org/2003/05/soap-envelope"
UTC = datetime.timezone.utc
STARTUP_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30

# The contract: per interface, its WSDL, namespace, binding and operations (README, "The wire
# contract").
INTERFACES = {
    "ca": ("CertificateAuthority.wsdl", "urn:certline:ca:1", "CertificateAuthority",
           {"CertificateTransmissionRequest", "InstallationReport", "CheckIn", "RevocationList",
            "Retire", "Models", "ReportBatch"}),
    "comm-terminal": ("CommTerminal.wsdl", "urn:certline:comm-terminal:1", "CommTerminal",
                      {"CertificateTransmissionRequest", "ReceptionNotice", "WriteResult",
                       "RevocationList", "SubmitPlan", "FetchNow"}),
    "device": ("Device.wsdl", "urn:certline:device:1", "Device", {"CertificateTransmission"}),
    "line": ("Line.wsdl", "urn:certline:line:1", "Line", {"WriteResult"}),
}

SERIAL = "0A1B2C3D4E5F"
PROOF = "0123456789abcdef" * 4  # a verification value: 64 lower-case hex digits
TRANSMISSION_ID = "00112233445566778899aabbccddeeff"  # S7/S10: 32 lower-case hex digits
TRANSMISSION_KEY = "a5" * 32  # S7: 64 lower-case hex digits
RESULT_MAC = "5a" * 32  # S10: HMAC-SHA256 as 64 lower-case hex digits
WRITTEN_AT = datetime.datetime(2026, 11, 21, 16, 52, 11, tzinfo=UTC)


class Failure(Exception):
    pass


def expect(actual, expected, what):
    if actual != expected:
        raise Failure("%s: expected %r, got %r" % (what, expected, actual))


def expect_true(condition, what):
    if not condition:
        raise Failure(what)


class Contract:
    def __init__(self, wsdl_dir, pki, ports):
        self.wsdl_dir = wsdl_dir
        self.pki = pki
        self.ports = ports

    def wsdl_path(self, iface):
        return os.path.join(self.wsdl_dir, INTERFACES[iface][0])

    def binding_qname(self, client, iface):
        _, namespace, binding_name, _ = INTERFACES[iface]
        qnames = list(client.wsdl.bindings)
        expect(qnames, ["{%s}%s" % (namespace, binding_name)], "%s: bindings" % iface)
        return qnames[0]

    def connect(self, iface, identity, server_name=SERVER_NAME, trust="root.crt"):
        """A zeep service proxy for iface at contract_server, as the client identity (the name of
        a certificate in the test PKI), and the history of what it sent and received."""
        address = "https://127.0.0.1:%d/" % self.ports[iface]
        proxy, client, history = soap_peer.service(
            self.wsdl_path(iface), address, server_name,
            os.path.join(self.pki, identity + ".chain.crt"),
            os.path.join(self.pki, identity + ".key"), os.path.join(self.pki, trust), timeout=30)
        self.binding_qname(client, iface)
        return proxy, history

    # ---- the WSDLs as a stock client sees them ----

    def check_operations(self, iface):
        client = zeep.Client(wsdl=self.wsdl_path(iface))
        binding = client.wsdl.bindings[self.binding_qname(client, iface)]
        expect_true(isinstance(binding, Soap12Binding),
                    "%s: binding is %s, not SOAP 1.2" % (iface, type(binding).__name__))
        operations = set(binding.all())
        expect(operations, INTERFACES[iface][3], "%s: operations of the binding" % iface)
        return sorted(operations)

    # ---- every operation, with an admitted role ----

    def call_ca(self):
        ca, history = self.connect("ca", "comm-terminal")
        numbers = ["3012-000001", "3012-000002", "A1B2C3D4-123456789012"]
        batch = ca.CertificateTransmissionRequest(requestId="stock-client-1", replacement=False,
                                                  deviceNumber=numbers)
        expect(batch.requestId, "stock-client-1", "ca batch: requestId")
        expect([item.deviceNumber for item in batch.item], numbers, "ca batch: device numbers")
        expect([json.loads(item.pack) for item in batch.item], [{"device": n} for n in numbers],
               "ca batch: packs")
        # What went over the wire: SOAP 1.2 both ways.
        expect(history.last_sent["envelope"].tag, "{%s}Envelope" % SOAP12_ENVELOPE,
               "ca batch: request envelope")
        expect_true(history.last_sent["http_headers"]["Content-Type"]
                    .startswith("application/soap+xml"), "ca batch: request Content-Type")
        expect(history.last_received["envelope"].tag, "{%s}Envelope" % SOAP12_ENVELOPE,
               "ca batch: response envelope")

        receipt = ca.InstallationReport(deviceNumber="3012-000001", certificateSerial=SERIAL,
                                        verificationValue=PROOF, writtenAt=WRITTEN_AT)
        expect((receipt.deviceNumber, receipt.certificateSerial, receipt.verificationValue),
               ("3012-000001", SERIAL, PROOF), "ca receipt: echoed fields")
        expect(receipt.receivedAt, WRITTEN_AT + datetime.timedelta(seconds=1),
               "ca receipt: receivedAt")
        expect(receipt.signature, "c2lnbmF0dXJl", "ca receipt: signature")
        expect(receipt.signerCertificate, "-----BEGIN CERTIFICATE-----test",
               "ca receipt: signerCertificate")

        reports = [{"deviceNumber": "3012-00000%d" % k, "certificateSerial": SERIAL,
                    "verificationValue": PROOF if k != 2 else "0" * 64, "writtenAt": WRITTEN_AT}
                   for k in (1, 2, 3)]
        # Two elements in ca:ReceiptBatch since batch-signed receipts: zeep answers an object.
        answer = ca.ReportBatch(report=reports)
        outcomes = answer.outcome
        expect(answer.manifestSignature, None, "ca ReportBatch: no manifest signature unasked")
        expect([(o.deviceNumber, o.certificateSerial, o.verdict) for o in outcomes],
               [("3012-000001", SERIAL, "RECEIPT"), ("3012-000002", SERIAL, "REFUSED"),
                ("3012-000003", SERIAL, "RECEIPT")], "ca ReportBatch: outcomes in order")
        expect((outcomes[0].receipt.receivedAt, outcomes[0].receipt.signature,
                outcomes[2].receipt.verificationValue),
               (WRITTEN_AT + datetime.timedelta(seconds=1), "c2lnbmF0dXJl", PROOF),
               "ca ReportBatch: receipts")
        expect((outcomes[1].receipt, outcomes[1].refusal, outcomes[1].reason),
               (None, "Installation proof rejected", "proof " + "0" * 64),
               "ca ReportBatch: the refused report")

        crl = ca.RevocationList(heldNumber=6)
        expect((crl.number, crl.thisUpdate, crl.nextUpdate, crl.crl),
               (7, WRITTEN_AT, WRITTEN_AT + datetime.timedelta(days=1), "MAA="),
               "ca RevocationList")
        retired = ca.Retire(reason="DISCONTINUED", certificateSerial=[SERIAL, "0B"])
        expect(retired, 2, "ca Retire (a one-field answer, unwrapped by zeep)")
        models = ca.Models()
        expect([(m.code, m.certificateManaged) for m in models], [("3012", True), ("3013", False)],
               "ca Models (every model)")
        models = ca.Models(modelCode=["3013"])
        expect([(m.code, m.certificateManaged) for m in models], [("3013", False)],
               "ca Models (one model asked for)")

        device, _ = self.connect("ca", "device-3012-000001")
        state = device.CheckIn()
        expect((state.deviceNumber, state.state, state.certificateSerial, state.detail),
               ("3012-000001", "ISSUED", None, None), "ca CheckIn without a claim")
        # The number comes from the certificate, whatever the body claims.
        state = device.CheckIn(claimedDeviceNumber="3012-999999")
        expect((state.deviceNumber, state.state, state.detail),
               ("3012-000001", "ISSUED", "claimed 3012-999999"), "ca CheckIn with a claim")

    def call_comm_terminal(self):
        ct, _ = self.connect("comm-terminal", "factory-terminal-1001")
        single = ct.CertificateTransmissionRequest(deviceNumber="3012-000007")
        expect(single.deviceNumber, "3012-000007", "ct request: device number")
        expect(json.loads(single.pack), {"device": "3012-000007", "line": "1001"},
               "ct request: pack (line id from the certificate)")

        for result in ("OK", "NG"):
            notice = ct.ReceptionNotice(deviceNumber="3012-000007", result=result,
                                        reason="reason " + result)
            expect((notice.deviceNumber, notice.result, notice.reason),
                   ("3012-000007", "OK", "notice " + result), "ct ReceptionNotice " + result)

        ok = ct.WriteResult(deviceNumber="3012-000007", result="OK", certificateSerial=SERIAL,
                            verificationValue=PROOF)
        expect((ok.deviceNumber, ok.result, ok.reason, ok.replacementReady),
               ("3012-000007", "OK", "recorded " + SERIAL, None), "ct WriteResult OK")
        ng = ct.WriteResult(deviceNumber="3012-000007", result="NG", reason="write failed")
        expect((ng.deviceNumber, ng.result, ng.reason, ng.replacementReady),
               ("3012-000007", "OK", "replacement stored", True), "ct WriteResult NG")

        held = ct.RevocationList(heldNumber=7)
        expect((held.number, held.thisUpdate, held.nextUpdate, held.crl), (7, None, None, None),
               "ct RevocationList (held already)")

        # The plan feed, as the production management system (role production).
        mes, _ = self.connect("comm-terminal", "production-mes")
        plan = "device_code,date,units,first_serial\n3012,2026-12-06,10,1\n"
        submitted = mes.SubmitPlan(requestId="mes-plan-1", plan=plan)
        expect((submitted.requestId, submitted.entries, submitted.newDeviceNumbers,
                submitted.repeated), ("mes-plan-1", 2, 0, False), "ct SubmitPlan")
        fetched = mes.FetchNow(day="2026-12-07")
        expect((fetched.day, fetched.state, fetched.remaining, fetched.reason),
               ("2026-12-07", "done", 0, "fetched for mes.factory-e"), "ct FetchNow (a day)")
        fetched = mes.FetchNow()
        expect((fetched.day, fetched.state), ("2026-12-06", "done"), "ct FetchNow (today)")

    def call_device(self):
        dev, _ = self.connect("device", "factory-terminal-1001")
        pack = json.dumps({"device": "3012-000007", "line": "1001"})
        answer = dev.CertificateTransmission(deviceNumber="3012-000007", pack=pack,
                                             transmissionId=TRANSMISSION_ID,
                                             transmissionKey=TRANSMISSION_KEY)
        expect((answer.deviceNumber, answer.result, answer.reason),
               ("3012-000007", "OK", "pack of %d bytes, transmission %s with a 64-digit key"
                % (len(pack), TRANSMISSION_ID)), "dev CertificateTransmission")

    def call_line(self):
        for identity, result, who in (("device-common-3012", "OK", "device-common 3012"),
                                      ("device-3012-000001", "NG", "device 3012-000001")):
            line, _ = self.connect("line", identity)
            answer = line.WriteResult(deviceNumber="3012-000001", result=result,
                                      certificateSerial=SERIAL, verificationValue=PROOF,
                                      transmissionId=TRANSMISSION_ID, resultMac=RESULT_MAC)
            expect((answer.deviceNumber, answer.result, answer.reason),
                   ("3012-000001", "OK", "%s from %s, transmission %s with a 64-digit MAC"
                    % (result, who, TRANSMISSION_ID)),
                   "line WriteResult as " + identity)

    # ---- refusals ----

    def expect_fault(self, what, call):
        try:
            answer = call()
        except Fault as fault:
            return fault
        raise Failure("%s: expected a SOAP fault, got %r" % (what, answer))

    def expect_not_authorised(self, iface, identity, operation, arguments, role, element):
        service, _ = self.connect(iface, identity)
        what = "%s %s as %s" % (iface, operation, identity)
        fault = self.expect_fault(what, lambda: getattr(service, operation)(**arguments))
        expect_true("Not authorised" in fault.message,
                    "%s: fault says %r, not \"Not authorised\"" % (what, fault.message))
        detail = "".join(fault.detail.itertext()) if fault.detail is not None else ""
        reason = "role %s is not admitted to %s on the %s interface" % (role, element, iface)
        expect_true(reason in detail, "%s: fault detail %r lacks %r" % (what, detail, reason))

    def refusals(self, iface):
        dn = {"deviceNumber": "3012-000001"}
        if iface == "ca":
            self.expect_not_authorised(
                "ca", "factory-terminal-1001", "CertificateTransmissionRequest",
                {"requestId": "r", "replacement": False, "deviceNumber": ["3012-000001"]},
                "factory-terminal (line-1001.certline.test)", "ca:CertificateTransmissionRequest")
            # Schema: a device number longer than its 21 characters.
            ca, _ = self.connect("ca", "comm-terminal")
            what = "ca batch with an over-long device number"
            fault = self.expect_fault(what, lambda: ca.CertificateTransmissionRequest(
                requestId="r", replacement=False, deviceNumber=["3012-0000000000000000001"]))
            expect_true(str(fault.code).endswith("Sender") and "Not authorised" not in fault.message,
                        "%s: expected a Sender fault from the schema, got %s %r"
                        % (what, fault.code, fault.message))
            # Schema: device numbers that break the pattern CODE-SERIAL.
            for bad in ("abc-1", "3012_000001", "3012-00000000000X", "-1"):
                ca, _ = self.connect("ca", "comm-terminal")  # a fault closes the connection
                what = "ca batch with device number %r" % bad
                fault = self.expect_fault(what, lambda: ca.CertificateTransmissionRequest(
                    requestId="r", replacement=False, deviceNumber=[bad]))
                expect_true(str(fault.code).endswith("Sender") and "Validation" in fault.message,
                            "%s: expected a Sender validation fault, got %s %r"
                            % (what, fault.code, fault.message))
        elif iface == "comm-terminal":
            self.expect_not_authorised("comm-terminal", "comm-terminal",
                                       "CertificateTransmissionRequest", dn,
                                       "comm-terminal (comm.certline.test)",
                                       "ct:CertificateTransmissionRequest")
            # The plan feed and the line operations are apart: neither role calls the other's.
            self.expect_not_authorised("comm-terminal", "factory-terminal-1001", "SubmitPlan",
                                       {"requestId": "r", "plan": "x"},
                                       "factory-terminal (line-1001.certline.test)",
                                       "ct:SubmitPlan")
            self.expect_not_authorised("comm-terminal", "factory-terminal-1001", "FetchNow", {},
                                       "factory-terminal (line-1001.certline.test)",
                                       "ct:FetchNow")
            self.expect_not_authorised("comm-terminal", "production-mes",
                                       "CertificateTransmissionRequest", dn,
                                       "production (mes.factory-e)",
                                       "ct:CertificateTransmissionRequest")
        elif iface == "device":
            self.expect_not_authorised("device", "device-3012-000001", "CertificateTransmission",
                                       dict(dn, pack="{}"), "device (3012-000001)",
                                       "dev:CertificateTransmission")
        elif iface == "line":
            self.expect_not_authorised("line", "factory-terminal-1001", "WriteResult",
                                       dict(dn, result="OK"),
                                       "factory-terminal (line-1001.certline.test)",
                                       "line:WriteResult")

    def client_checks_the_server(self):
        """The client side is not vacuous: a wrong expected name, or a trust anchor the server
        does not chain to, fails the TLS handshake."""
        for what, kwargs in (("another server name", {"server_name": "comm.certline.test"}),
                             ("another trust anchor", {"trust": "other-root.crt"})):
            ca, _ = self.connect("ca", "device-3012-000001", **kwargs)
            try:
                ca.CheckIn()
            except requests.exceptions.SSLError:
                continue
            raise Failure("client with %s was not refused by its own TLS checks" % what)


def start_server(server, pki, log):
    proc = subprocess.Popen([server, pki], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=log)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            raise Failure("contract_server printed no ports within %d s" % STARTUP_TIMEOUT_S)
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            raise Failure("contract_server exited (status %s) before printing its ports"
                          % proc.wait())
        line += chunk
    ports = json.loads(line)
    expect(sorted(ports), sorted(INTERFACES), "contract_server ports")
    return proc, ports


def stop_server(proc):
    """Closes stdin (the server's signal to stop) and expects a clean exit: under ASan a leak or
    any error at shutdown makes the status non-zero."""
    proc.stdin.close()
    try:
        status = proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise Failure("contract_server did not stop within %d s of stdin closing"
                      % STOP_TIMEOUT_S) from None
    expect(status, 0, "contract_server exit status")


def main(argv):
    if len(argv) != 4:
        print("usage: %s WSDL_DIR CONTRACT_SERVER SOURCE_DIR" % argv[0], file=sys.stderr)
        return 2
    wsdl_dir, server, source_dir = (os.path.abspath(a) for a in argv[1:])
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="certline-stock-client-")
    log_path = os.path.join(tmp, "server.log")
    proc = None
    try:
        pki = os.path.join(tmp, "pki")
        subprocess.run(["bash", os.path.join(source_dir, "tests", "pki", "make-test-pki.sh"), pki],
                       check=True, stdout=subprocess.DEVNULL)
        with open(log_path, "wb") as log:
            proc, ports = start_server(server, pki, log)
        contract = Contract(wsdl_dir, pki, ports)
        contract.client_checks_the_server()
        calls = {"ca": contract.call_ca, "comm-terminal": contract.call_comm_terminal,
                 "device": contract.call_device, "line": contract.call_line}
        for iface in INTERFACES:
            operations = contract.check_operations(iface)
            calls[iface]()
            contract.refusals(iface)
            print("%-13s %s: %s called and checked; wrong role refused" % (
                iface, INTERFACES[iface][0], ", ".join(operations)))
        stop_server(proc)
        print("test_stock_client: OK in %.1f s" % (time.monotonic() - started))
        return 0
    except (Failure, subprocess.CalledProcessError, requests.exceptions.RequestException,
            zeep.exceptions.Error) as exc:
        print("test_stock_client: FAIL: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)
        if os.path.exists(log_path):
            with open(log_path, errors="replace") as log:
                print("---- contract_server log ----\n" + log.read(), file=sys.stderr)
        return 1
    finally:
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdin.close()
            proc.stdout.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
