#!/usr/bin/python3
"""test_receipts.py: the comm-terminal keeps only receipts that are about the installation it
reported and signed by its CA [seed 004]. The real comm-terminal and ca-server, a private
PostgreSQL cluster, mutual TLS; a line played by a stock SOAP client (zeep).

One device's real receipt is taken from the comm-terminal's database; then a fake ca-server (this
script, with ca-server's own service certificate, so TLS and the peer's role check pass) answers
the next installation reports with receipts that must be refused: a mismatched one (the valid,
signed receipt of that other device), a forged one (the right fields under another receipt's
signature) and one properly signed by a CA that is not ours. Each report stays queued with the
reason, its pack held; once the real ca-server is back, every receipt arrives.

Usage: test_receipts.py CA_SERVER COMM_TERMINAL WSDL_DIR SOURCE_DIR
"""
import base64
import datetime
import os
import re
import socket
import ssl
import sys
import threading
import time
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from zeep.exceptions import Fault  # noqa: E402

from test_comm_terminal import TODAY, Scenario  # noqa: E402
from certline_harness import Failure, check, run_scenario  # noqa: E402

CA_NS = "urn:certline:ca:1"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def foreign_ca():
    """A self-signed CA (key, PEM) that is not certline's."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certline test maker"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "certline issuing CA foreign")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False),
                           critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


def receipt_text(number, serial, proof, epoch):
    """receipt.h's canonical text."""
    return ("certline-receipt v1\n%s\n%s\n%s\n%d\n" % (number, serial, proof, epoch)).encode()


class FakeCaServer:
    """Answers ca:InstallationReport with receipts[device number](request fields) and every
    other operation with a Receiver fault, over mutual TLS as ca-server's identity; counts the
    reports per device number."""

    def __init__(self, port, cert, key, trust, receipts):
        self.receipts = receipts
        self.seen = {}
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.load_verify_locations(trust)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            try:
                conn.settimeout(10)
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    self.answer(tls)
            except (ssl.SSLError, OSError):
                pass

    @staticmethod
    def read_request(tls):
        """One HTTP request from tls: (head, body), or None if the connection closed first."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        while len(body) < length:
            chunk = tls.recv(65536)
            if not chunk:
                return None
            body += chunk
        return head, body

    def answer(self, tls):
        request = self.read_request(tls)
        if request is None:
            return
        text = request[1].decode()
        fields = {k: v for k, v in re.findall(r"<(?:\w+:)?(\w+)>([^<]*)</", text)}
        if "InstallationReport" in text and fields.get("deviceNumber") in self.receipts:
            number = fields["deviceNumber"]
            self.seen[number] = self.seen.get(number, 0) + 1
            receipt = self.receipts[number](fields)
            answer = "".join("<ca:%s>%s</ca:%s>" % (k, escape(str(v)), k) for k, v in (
                ("deviceNumber", receipt["number"]), ("certificateSerial", receipt["serial"]),
                ("verificationValue", receipt["proof"]),
                ("receivedAt", time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                             time.gmtime(receipt["epoch"]))),
                ("signature", receipt["signature"]), ("signerCertificate", receipt["signer"])))
            status, payload = "200 OK", "<ca:InstallationReceipt>%s</ca:InstallationReceipt>" \
                % answer
        else:
            status = "500 Internal Server Error"
            payload = ("<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Receiver"
                       "</SOAP-ENV:Value></SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text "
                       "xml:lang=\"en\">test: not served</SOAP-ENV:Text></SOAP-ENV:Reason>"
                       "</SOAP-ENV:Fault>")
        envelope = ('<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope '
                    'xmlns:SOAP-ENV="%s" xmlns:ca="%s"><SOAP-ENV:Body>%s</SOAP-ENV:Body>'
                    '</SOAP-ENV:Envelope>' % (SOAP12, CA_NS, payload)).encode()
        tls.sendall(("HTTP/1.1 %s\r\nContent-Type: application/soap+xml; charset=utf-8\r\n"
                     "Content-Length: %d\r\nConnection: close\r\n\r\n" % (status, len(envelope))
                     ).encode() + envelope)

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=10)
        self.sock.close()


# A report's receipt signature: its own, or its batch manifest's (common/receipt.h).
SIGNATURE = ("coalesce(signature, (SELECT m.signature FROM receipt_manifest m"
             " WHERE m.id = manifest_id), '')")
SIGNER = ("coalesce(signer_pem, (SELECT m.signer_pem FROM receipt_manifest m"
          " WHERE m.id = manifest_id), '')")


class Receipts(Scenario):
    def report(self, number, column):
        return self.cluster.psql("ct", "SELECT %s FROM report WHERE device_number = '%s'"
                                 % (column, number)).strip()

    def receipts(self):
        ct, ca = self.ct, self.ca
        ct.start()
        try:
            self.write_device(self.line(1), "3012-000001")
            self.wait_for("the real receipt", lambda: self.report("3012-000001", "state") ==
                          "done")
        finally:
            ct.stop()
        real = {"number": "3012-000001", "serial": self.report("3012-000001", "serial"),
                "proof": self.report("3012-000001", "proof"),
                "epoch": int(self.report("3012-000001", "extract(epoch FROM received_at)::bigint")),
                "signature": self.report("3012-000001", SIGNATURE),
                "signer": self.report("3012-000001", SIGNER) + "\n"}
        foreign_key, foreign_pem = foreign_ca()

        def foreign(fields):
            epoch = int(time.time())
            signature = foreign_key.sign(receipt_text(
                fields["deviceNumber"], fields["certificateSerial"],
                fields["verificationValue"], epoch), ec.ECDSA(hashes.SHA256()))
            return {"number": fields["deviceNumber"], "serial": fields["certificateSerial"],
                    "proof": fields["verificationValue"], "epoch": epoch,
                    "signature": base64.b64encode(signature).decode(), "signer": foreign_pem}

        cases = {
            # valid signature, but another device's installation
            "3012-000002": (lambda fields: real, "for another installation"),
            # this installation's fields under another receipt's signature
            "3012-000003": (lambda fields: dict(real, number=fields["deviceNumber"],
                                                serial=fields["certificateSerial"],
                                                proof=fields["verificationValue"]),
                            "signature does not match"),
            # properly signed, by a CA that is not ours
            "3012-000004": (foreign, "does not chain to the trusted root"),
        }
        ca.stop()
        fake = FakeCaServer(ca.port, os.path.join(self.work, "svc-ca.chain.crt"),
                            os.path.join(self.work, "svc-ca.key"),
                            os.path.join(ca.ca_dir, "root.crt"),
                            {n: c[0] for n, c in cases.items()})
        try:
            ct.start()
            try:
                for number in cases:
                    _, s12 = self.write_device(self.line(1), number)
                    check(s12.result == "OK", "S12 for %s" % number)
                self.wait_for("each receipt refused twice", lambda: all(
                    fake.seen.get(n, 0) >= 2 for n in cases), seconds=60)
                for number, (_, reason) in cases.items():
                    check(self.report(number, "state") == "queued",
                          "%s: a refused receipt ended the report" % number)
                    error = self.report(number, "last_error")
                    check(reason in error and error.isprintable(),
                          "%s: last error %r lacks %r" % (number, error, reason))
                    check(self.report(number, SIGNATURE) == "", "%s: a refused receipt "
                          "was kept" % number)
                # The reasons logged are the comm-terminal's own text, never stray bytes.
                try:
                    open(ct.log_path, "rb").read().decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise Failure("the comm-terminal's log is not UTF-8: %s" % exc)
                held = {c["device_number"]: c["pack_held"] for c in ct.certificates()}
                check(all(held[n] for n in cases), "a pack deleted without a receipt: %r" % held)
            finally:
                ct.stop()
        finally:
            fake.stop()
        # The real ca-server again: every report gets its receipt.
        ca.start()
        ct.start()
        try:
            self.wait_for("the real receipts", lambda: all(
                self.report(n, "state") == "done" for n in cases), seconds=90)
            check(self.report("3012-000002", SIGNATURE) not in ("", real["signature"]),
                  "the mismatched receipt was kept")
        finally:
            ct.stop()

    def run(self):
        self.setup_ca()
        try:
            self.operators_and_plan()
            self.ct.run("fetch", "--date", TODAY)
            self.receipts()
        finally:
            self.ca.stop()


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: test_receipts.py CA_SERVER COMM_TERMINAL WSDL_DIR SOURCE_DIR")
    ca_binary, ct_binary, wsdl_dir, _ = sys.argv[1:]
    return run_scenario("test_receipts", lambda work, cluster: Receipts(
        (ca_binary, ct_binary), wsdl_dir, work, cluster), errors=(Fault,))


if __name__ == "__main__":
    sys.exit(main())
