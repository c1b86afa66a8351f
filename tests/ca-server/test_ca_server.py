#!/usr/bin/python3
"""test_ca_server.py: ca-server end to end, as its operators and a comm-terminal use it.

Starts a private PostgreSQL cluster, runs the real ca-server binary for every operator command
(init, issue-service, model-add/list/export, batch, list, show, revoke, audit), serves the ca
interface over real mutual TLS, and drives it with a stock SOAP client (zeep) as a comm-terminal
and as devices. What must hold is checked independently of ca-server's own code: packs are opened
with Python's cryptography (AES-256-GCM with the model's pre-write key), the key must match the
certificate, certificates are checked with the openssl tool, installation proofs are computed
here from PACK.md's definition, and receipt signatures are verified here.

Usage: test_ca_server.py CA_SERVER_BINARY WSDL_DIR SOURCE_DIR
"""
import base64
import difflib
import json
import os
import subprocess
import sys
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402
from zeep.exceptions import Fault  # noqa: E402

from certline_harness import (PASSPHRASE, CaServer, Failure, cert_der, check, key_matches,  # noqa: E402
                              expect_fault, now, open_pack, run_scenario,
                              verification_value, write_identity)
import raw_peer  # noqa: E402
import soap_peer  # noqa: E402

BATCH = 300


# ---- what the pack format promises (PACK.md), re-implemented here ----

class Scenario:
    def __init__(self, binary, wsdl_dir, source_dir, work, cluster):
        self.wsdl = os.path.join(wsdl_dir, "CertificateAuthority.wsdl")
        self.work = work
        self.cluster = cluster
        self.conninfo = cluster.create_db("ca")
        self.ca = CaServer(binary, work, self.conninfo)
        self.corpus = os.path.join(source_dir, "tests", "fuzz", "corpus", "soap_request")

    def client(self, cert_file, key_file):
        proxy, _, _ = soap_peer.service(self.wsdl, "https://127.0.0.1:%d/ca" % self.ca.port,
                                        "ca.certline.test", cert_file, key_file,
                                        os.path.join(self.ca.ca_dir, "root.crt"))
        return proxy

    def comm_terminal(self):
        return self.client(os.path.join(self.work, "svc-comm.chain.crt"),
                           os.path.join(self.work, "svc-comm.key"))


    def operator_setup(self):
        r = self.ca.run("init")
        check("root certificate SHA-256 fingerprint" in r.stdout, "init output: " + r.stdout)
        for name in ("root.key.enc", "issuing.key.enc"):
            mode = os.stat(os.path.join(self.ca.ca_dir, name)).st_mode & 0o777
            check(mode == 0o600, "%s has mode %o" % (name, mode))
            with open(os.path.join(self.ca.ca_dir, name), "rb") as f:
                check(b"PRIVATE KEY" not in f.read(), name + " holds a key in clear")
        r = self.ca.run("init", expect_ok=False)
        check("refusing to overwrite" in r.stderr, "second init: " + r.stderr)

        # A wrong passphrase is refused with a clear message, and nothing is issued.
        os.environ.pop("CERTLINE_CA_PASSPHRASE", None)
        good = open(self.ca.passphrase_file).read()
        with open(self.ca.passphrase_file, "w") as f:
            f.write("wrong passphrase\n")
        r = self.ca.run("issue-service", "ca-server", "ca.certline.test", "--out",
                        os.path.join(self.work, "nothing"), expect_ok=False)
        check("wrong passphrase or damaged file" in r.stderr, "wrong passphrase: " + r.stderr)
        check(not os.path.exists(os.path.join(self.work, "nothing.key")), "key written anyway")
        with open(self.ca.passphrase_file, "w") as f:
            f.write(good)

        self.ca.run("issue-service", "ca-server", "ca.certline.test", "--out",
                    os.path.join(self.work, "svc-ca"))
        self.ca.run("issue-service", "comm-terminal", "comm.certline.test", "--out",
                    os.path.join(self.work, "svc-comm"))
        self.ca.run("issue-service", "factory-terminal", "line-1001.certline.test", "1001",
                    "--out", os.path.join(self.work, "svc-line"))
        r = self.ca.run("issue-service", "factory-terminal", "line-1002.certline.test", "--out",
                        os.path.join(self.work, "svc-bad"), expect_ok=False)
        check("line id" in r.stderr, "factory-terminal without line id: " + r.stderr)
        for prefix in ("svc-ca", "svc-comm", "svc-line"):
            mode = os.stat(os.path.join(self.work, prefix + ".key")).st_mode & 0o777
            check(mode == 0o600, prefix + ".key mode")
            subprocess.run(["openssl", "verify", "-CAfile", os.path.join(self.ca.ca_dir,
                                                                         "root.crt"),
                            "-untrusted", os.path.join(self.ca.ca_dir, "issuing.crt"),
                            os.path.join(self.work, prefix + ".crt")], check=True,
                           stdout=subprocess.DEVNULL)

        # FIG 19A: 3012 and A123 certificate-managed; 3013 not.
        self.ca.run("model-add", "3012")
        self.ca.run("model-add", "A123", "--key-type", "p256")
        self.ca.run("model-add", "3013", "--not-managed")
        r = self.ca.run("model-add", "3012", expect_ok=False)
        check("exists already" in r.stderr, "duplicate model: " + r.stderr)
        r = self.ca.run("model-add", "bad!", expect_ok=False)
        check("device code" in r.stderr, "bad model code: " + r.stderr)
        models = json.loads(self.ca.run("model-list", "--json").stdout)
        check([(m["code"], m["certificate_managed"]) for m in models] ==
              [("3012", True), ("3013", False), ("A123", True)], "model list %r" % models)

        bundle_path = os.path.join(self.work, "3012.bundle")
        self.ca.run("model-export", "3012", "--out", bundle_path)
        check(os.stat(bundle_path).st_mode & 0o777 == 0o600, "bundle mode")
        bundle = json.load(open(bundle_path))
        self.prewrite = {"3012": base64.b64decode(bundle["prewrite_key"])}
        check(len(self.prewrite["3012"]) == 32, "pre-write key length")
        check(bundle["key_id"] == models[0]["key_id"], "bundle key id")
        bundle_a = os.path.join(self.work, "A123.bundle")
        self.ca.run("model-export", "A123", "--out", bundle_a)
        self.prewrite["A123"] = base64.b64decode(json.load(open(bundle_a))["prewrite_key"])
        common = x509.load_pem_x509_certificate(bundle["common_certificate_pem"].encode())
        check(common.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value
              == "device-common", "common certificate role")

    def check_pack(self, number, pack_text):
        model = number.split("-")[0]
        pack, cert, key_der = open_pack(pack_text, self.prewrite[model])
        check(pack["device_number"] == number, "pack of %s names %s" % (number,
                                                                       pack["device_number"]))
        subject = cert.subject
        check(subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == number, "CN")
        check(subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == number,
              "serialNumber")
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        check(list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH], "EKU")
        check(not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca, "cA")
        check(0 < cert.serial_number < 2 ** 159, "serial range")
        check(cert.serial_number.bit_length() >= 64, "serial has at least 64 bits")
        check(format(cert.serial_number, "X").rjust(len(pack["serial"]), "0") == pack["serial"],
              "serial in pack")
        check(key_matches(cert, key_der), "the key in the pack does not match its certificate")
        device_value = verification_value("certline device-check v1", number, pack["serial"],
                                          cert_der(cert), key_der)
        check(pack["device_value"] == device_value, "device-side verification value")
        return pack, cert, key_der

    def batches(self):
        ct = self.comm_terminal()
        numbers = ["3012-%06d" % i for i in range(1, BATCH + 1 - 20)] + \
            ["A123-%06d" % i for i in range(1, 21)]
        answer = ct.CertificateTransmissionRequest(requestId="day-1", replacement=False,
                                                   deviceNumber=numbers)
        check(answer.requestId == "day-1", "request id echoed")
        check([item.deviceNumber for item in answer.item] == numbers, "answer order")
        self.packs = {}
        for item in answer.item:
            self.packs[item.deviceNumber] = self.check_pack(item.deviceNumber, item.pack)
        sample = os.path.join(self.work, "sample.crt")
        with open(sample, "wb") as f:
            f.write(self.packs["3012-000001"][1].public_bytes(serialization.Encoding.PEM))
        subprocess.run(["openssl", "verify", "-CAfile", os.path.join(self.ca.ca_dir, "root.crt"),
                        "-untrusted", os.path.join(self.ca.ca_dir, "issuing.crt"), sample],
                       check=True, stdout=subprocess.DEVNULL)
        text = subprocess.run(["openssl", "x509", "-in", sample, "-noout", "-text"],
                              check=True, stdout=subprocess.PIPE, text=True).stdout
        check("TLS Web Client Authentication" in text and "CA:FALSE" in text, "openssl -text")

        # The same id and body: the same packs, byte for byte (idempotent).
        again = self.comm_terminal().CertificateTransmissionRequest(
            requestId="day-1", replacement=False, deviceNumber=numbers)
        check([i.pack for i in again.item] == [i.pack for i in answer.item],
              "a retry with the same request id got other packs")
        # The same id with another body: refused.
        expect_fault("same id, other body", lambda: self.comm_terminal()
                          .CertificateTransmissionRequest(requestId="day-1", replacement=False,
                                                          deviceNumber=numbers[:5]),
                          "another body")
        # A number that already holds a valid certificate, without the replacement flag.
        expect_fault("already valid", lambda: self.comm_terminal()
                          .CertificateTransmissionRequest(requestId="day-1b", replacement=False,
                                                          deviceNumber=["3012-000002"]),
                          "3012-000002", "already holds a valid certificate")
        # Refusals that must name the number and change nothing.
        for bad, needle in (("9999-000001", "unknown device model 9999"),
                            ("3013-000001", "not certificate-managed"),):
            expect_fault(bad, lambda bad=bad: self.comm_terminal()
                              .CertificateTransmissionRequest(requestId="r-" + bad,
                                                              replacement=False,
                                                              deviceNumber=[bad]), needle)
        expect_fault("duplicate in one request", lambda: self.comm_terminal()
                          .CertificateTransmissionRequest(requestId="dup", replacement=False,
                                                          deviceNumber=["3012-900001",
                                                                        "3012-900001"]),
                          "3012-900001")
        expect_fault("too many", lambda: self.comm_terminal()
                          .CertificateTransmissionRequest(requestId="big", replacement=False,
                                                          deviceNumber=["3012-%06d" % i for i in
                                                                        range(1, 402)]), "1 to 400")
        listed = json.loads(self.ca.run("list", "--device", "3013-000001", "--json").stdout)
        check(listed == [], "a refused request left rows: %r" % listed)
        # Roles: a factory terminal may not ask for a batch.
        line = self.client(os.path.join(self.work, "svc-line.chain.crt"),
                           os.path.join(self.work, "svc-line.key"))
        expect_fault("factory-terminal batch", lambda: line.CertificateTransmissionRequest(
            requestId="x", replacement=False, deviceNumber=["3012-000001"]), "Not authorised")

        # Replacement (after an NG write): a new certificate, the old one superseded.
        old_serial = self.packs["3012-000003"][0]["serial"]
        repl = self.comm_terminal().CertificateTransmissionRequest(
            requestId="repl-1", replacement=True, deviceNumber=["3012-000003"])
        self.replaced = self.packs["3012-000003"]
        self.packs["3012-000003"] = self.check_pack("3012-000003", repl.item[0].pack)
        self.packs_text = {"3012-000003": repl.item[0].pack}
        check(self.packs["3012-000003"][0]["serial"] != old_serial, "replacement serial")
        rows = json.loads(self.ca.run("list", "--device", "3012-000003", "--json").stdout)
        states = sorted((r["serial"], r["state"]) for r in rows)
        check(sorted([(old_serial, "superseded"),
                      (self.packs["3012-000003"][0]["serial"], "issued")]) == states,
              "after replacement: %r" % states)

    def hostile_wire(self):
        """Issue 12 item 4: each hostile request of tests/fuzz/corpus/soap_request/, sent by the
        comm-terminal identity, gets a SOAP 1.2 fault that quotes nothing raw, changes nothing in
        the database (the dump is byte-identical), and the next valid request is served."""
        expected = {
            "nul-in-request-id.http": "U+0000",
            "charref-nul-in-request-id.http": "U+0000",
            "charref-nul-in-device-number-ct.http": "U+0000",
            "charref-nul-in-device-number-dev.http": "U+0000",
            "control-char-in-request-id.http": "U+0001",
            "charref-control-in-request-id.http": "U+001B",
            "charref-fffe-in-request-id.http": "U+FFFE",
            "charref-surrogate-in-request-id.http": "U+D800",
            "charref-surrogate-in-reason.http": "U+D800",
            "invalid-utf8-in-reason.http": "invalid UTF-8",
            "overlong-utf8-in-request-id.http": "invalid UTF-8",
            "invalid-utf8-in-tag-name.http": "invalid UTF-8",
            "soap11-envelope.http": "VersionMismatch",
            "doctype-entity.http": "document type",
            "processing-instruction-before-envelope.http": "processing instruction",
            "processing-instruction-in-body.http": "processing instruction",
            "deep-nesting-in-header.http": "nested deeper than 16 levels",
            "impossible-datetime.http": "Validation constraint",
            "content-length-shorter-than-body.http": "Content-Length",
            "two-content-length.http": "2 Content-Length headers",
            "content-length-and-chunked.http": "Content-Length together with Transfer-Encoding",
            "100000-attributes-on-operation.http": "more than 16 attributes on one element",
        }
        # content-length-longer-than-body.http waits for ca-server's receive timeout; test_wire
        # sends it to a server with a 1 s timeout.
        def dump():
            # pg_dump's \restrict line carries a random key of its own: not data.
            return [line for line in self.cluster.dump("ca").splitlines()
                    if not line.startswith(("\\restrict", "\\unrestrict"))]

        before = dump()
        for name, needle in sorted(expected.items()):
            with open(os.path.join(self.corpus, name), "rb") as f:
                request = f.read()
            started = time.time()
            answer = raw_peer.exchange(self.ca.port, "ca.certline.test",
                                       os.path.join(self.work, "svc-comm.chain.crt"),
                                       os.path.join(self.work, "svc-comm.key"),
                                       os.path.join(self.ca.ca_dir, "root.crt"), request)
            problem = raw_peer.refusal_problem(answer, needle)
            check(problem is None, "%s: %s" % (name, problem))
            check(time.time() - started < 10, "%s took %.1f s" % (name, time.time() - started))
        changed = list(difflib.unified_diff(before, dump(), lineterm="", n=0))[:20]
        check(not changed, "a refused request changed the database: %s" % "\n".join(changed))
        for number in ("3012-100001", "3012-100005", "3012-100006"):
            listed = json.loads(self.ca.run("list", "--device", number, "--json").stdout)
            check(listed == [], "%s: a refused request left rows: %r" % (number, listed))
        # The next valid request is served (a retry of a stored request: the same pack).
        again = self.comm_terminal().CertificateTransmissionRequest(
            requestId="repl-1", replacement=True, deviceNumber=["3012-000003"])
        check(again.item[0].pack == self.packs_text["3012-000003"], "served after the refusals")

    def completion_failure(self):
        """The completion is stored in parts while signing goes on: a failure in a later part
        must leave nothing issued, the intents kept, and a resend of the same id must finish."""
        numbers = ["3012-%06d" % i for i in range(800300, 800000, -1)]  # not in number order
        refused = "3012-800250"  # in the third part of 100, in number order
        self.cluster.psql("ca", """
            CREATE FUNCTION test_refuse_issue() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.state = 'issued' AND NEW.device_number = '%s' THEN
                    RAISE EXCEPTION 'test trigger refuses %s';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_refuse_issue BEFORE UPDATE ON certificate
                FOR EACH ROW EXECUTE FUNCTION test_refuse_issue();""" % (refused, refused))
        text = expect_fault("completion refused by the database", lambda: self.comm_terminal()
                                 .CertificateTransmissionRequest(requestId="mid-fail",
                                                                 replacement=False,
                                                                 deviceNumber=numbers),
                                 "test trigger refuses " + refused)
        check("Batch failed" in text, "a database failure is the server's: %r" % text)

        def states():
            rows = self.cluster.psql("ca", "SELECT state, count(*) FROM certificate WHERE "
                                     "request_id = 'mid-fail' GROUP BY state ORDER BY state")
            return rows.split()

        check(states() == ["intent|300"], "after the failed completion: %r" % states())
        done = self.cluster.psql("ca", "SELECT completed_at IS NULL FROM batch_request WHERE "
                                 "request_id = 'mid-fail'").strip()
        check(done == "t", "the failed request is marked completed: %r" % done)
        intents = self.cluster.psql("ca", "SELECT device_number || ' ' || serial FROM certificate"
                                    " WHERE request_id = 'mid-fail'").split("\n")

        self.cluster.psql("ca", "DROP TRIGGER test_refuse_issue ON certificate; "
                          "DROP FUNCTION test_refuse_issue()")
        answer = self.comm_terminal().CertificateTransmissionRequest(
            requestId="mid-fail", replacement=False, deviceNumber=numbers)
        check([item.deviceNumber for item in answer.item] == numbers, "resent answer order")
        serials = set()
        for item in answer.item:
            meta = self.check_pack(item.deviceNumber, item.pack)[0]
            serials.add(item.deviceNumber + " " + meta["serial"])
        check(serials == set(line for line in intents if line),
              "the resend did not sign the recorded intents")
        check(states() == ["issued|300"], "after the resend: %r" % states())

    def installation(self):
        number = "3012-000001"
        pack, cert, key_der = self.packs[number]
        proof = verification_value("certline install-proof v1", number, pack["serial"],
                                   cert_der(cert), key_der)
        check(proof != pack["device_value"], "the two verification values must differ")
        ct = self.comm_terminal()
        expect_fault("wrong proof", lambda: ct.InstallationReport(
            deviceNumber=number, certificateSerial=pack["serial"],
            verificationValue=pack["device_value"], writtenAt=now()),
            "does not match")
        receipt = self.comm_terminal().InstallationReport(
            deviceNumber=number, certificateSerial=pack["serial"], verificationValue=proof,
            writtenAt=now())
        received = int(receipt.receivedAt.timestamp())
        signer = x509.load_pem_x509_certificate(receipt.signerCertificate.encode())
        with open(os.path.join(self.ca.ca_dir, "issuing.crt"), "rb") as f:
            check(signer == x509.load_pem_x509_certificate(f.read()), "receipt signer")
        canonical = "certline-receipt v1\n%s\n%s\n%s\n%d\n" % (number, pack["serial"], proof,
                                                               received)
        signer.public_key().verify(base64.b64decode(receipt.signature), canonical.encode(),
                                   ec.ECDSA(hashes.SHA256()))
        try:
            signer.public_key().verify(base64.b64decode(receipt.signature),
                                       canonical.replace(number, "3012-000002").encode(),
                                       ec.ECDSA(hashes.SHA256()))
            raise Failure("a receipt signature verified for another device number")
        except Exception as exc:  # InvalidSignature
            if isinstance(exc, Failure):
                raise
        # A replacement may not supersede a certificate that is installed in a device.
        expect_fault("replace an installed certificate", lambda: self.comm_terminal()
                          .CertificateTransmissionRequest(requestId="repl-installed",
                                                          replacement=True,
                                                          deviceNumber=[number]),
                          "holds an installed certificate")
        again = self.comm_terminal().InstallationReport(
            deviceNumber=number, certificateSerial=pack["serial"], verificationValue=proof,
            writtenAt=now())
        check(int(again.receivedAt.timestamp()) == received, "a repeated report changed the date")
        old = self.replaced
        old_proof = verification_value("certline install-proof v1", "3012-000003",
                                       old[0]["serial"], cert_der(old[1]), old[2])
        expect_fault("superseded install", lambda: self.comm_terminal().InstallationReport(
            deviceNumber="3012-000003", certificateSerial=old[0]["serial"],
            verificationValue=old_proof, writtenAt=now()), "Installation report refused")

    def proof_of(self, number, pack_tuple=None):
        pack, cert, key_der = pack_tuple or self.packs[number]
        return verification_value("certline install-proof v1", number, pack["serial"],
                                  cert_der(cert), key_der)

    def installation_batch(self):
        """ca:ReportBatch: the proofs recorded in one transaction, a signed receipt for each good
        one and, for each other, the refusal ca:InstallationReport answers, in the batch's order;
        sent again, the same receipts (nothing doubled); a database failure midway records
        nothing; over 200 reports refused whole."""
        good = ["3012-%06d" % i for i in (10, 11, 12)]
        wrong, unknown, superseded = "3012-000013", "3012-000014", "3012-000003"

        def report(number, serial, proof):
            return {"deviceNumber": number, "certificateSerial": serial,
                    "verificationValue": proof, "writtenAt": now()}

        reports = [report(good[0], self.packs[good[0]][0]["serial"], self.proof_of(good[0])),
                   report(wrong, self.packs[wrong][0]["serial"],
                          self.packs[wrong][0]["device_value"]),
                   report(good[1], self.packs[good[1]][0]["serial"], self.proof_of(good[1])),
                   report(unknown, "0FEDCBA987", self.proof_of(unknown)),
                   report(superseded, self.replaced[0]["serial"],
                          self.proof_of(superseded, self.replaced)),
                   report(good[2], self.packs[good[2]][0]["serial"], self.proof_of(good[2]))]

        def states(numbers):
            return [self.cluster.psql("ca", "SELECT state FROM certificate WHERE device_number ="
                                      " '%s' AND serial = '%s'" % (n, self.packs[n][0]["serial"]))
                    .strip() for n in numbers]

        # The database refuses the third good one: the whole batch fails, nothing is recorded.
        self.cluster.psql("ca", "CREATE FUNCTION test_refuse_install() RETURNS trigger LANGUAGE"
                          " plpgsql AS $$BEGIN RAISE EXCEPTION 'test: install refused'; END$$;"
                          " CREATE TRIGGER test_refuse_install BEFORE UPDATE ON certificate FOR"
                          " EACH ROW WHEN (NEW.device_number = '%s' AND NEW.state = 'installed')"
                          " EXECUTE FUNCTION test_refuse_install()" % good[2])
        text = expect_fault("a batch the database fails midway", lambda: self.comm_terminal()
                            .ReportBatch(report=reports), "Receipts failed", "install refused")
        check(states(good) == ["issued"] * 3, "after the failed batch: %r (%s)" % (
            states(good), text))
        self.cluster.psql("ca", "DROP TRIGGER test_refuse_install ON certificate;"
                          " DROP FUNCTION test_refuse_install()")

        # Two elements in ca:ReceiptBatch since batch-signed receipts: zeep answers an object.
        answer = self.comm_terminal().ReportBatch(report=reports)
        check(answer.manifestSignature is None, "a manifest signature nobody asked for")
        outcomes = answer.outcome
        verdicts = [(o.deviceNumber, o.verdict, o.refusal) for o in outcomes]
        check(verdicts == [(good[0], "RECEIPT", None),
                           (wrong, "REFUSED", "Installation proof rejected"),
                           (good[1], "RECEIPT", None),
                           (unknown, "REFUSED", "Installation report refused"),
                           (superseded, "REFUSED", "Installation report refused"),
                           (good[2], "RECEIPT", None)], "batch outcomes: %r" % verdicts)
        check("does not match" in outcomes[1].reason and "no certificate" in outcomes[3].reason
              and "superseded" in outcomes[4].reason,
              "refusal reasons: %r" % [o.reason for o in outcomes])
        with open(os.path.join(self.ca.ca_dir, "issuing.crt"), "rb") as f:
            issuing = x509.load_pem_x509_certificate(f.read())
        received = {}
        for o, r in zip(outcomes, reports):
            if o.verdict != "RECEIPT":
                check(o.receipt is None, "a refused report got a receipt")
                continue
            receipt = o.receipt
            check((receipt.deviceNumber, receipt.certificateSerial, receipt.verificationValue) ==
                  (r["deviceNumber"], r["certificateSerial"], r["verificationValue"]),
                  "receipt fields of %s" % o.deviceNumber)
            check(x509.load_pem_x509_certificate(receipt.signerCertificate.encode()) == issuing,
                  "batch receipt signer")
            received[o.deviceNumber] = int(receipt.receivedAt.timestamp())
            canonical = "certline-receipt v1\n%s\n%s\n%s\n%d\n" % (
                o.deviceNumber, r["certificateSerial"], r["verificationValue"],
                received[o.deviceNumber])
            issuing.public_key().verify(base64.b64decode(receipt.signature), canonical.encode(),
                                        ec.ECDSA(hashes.SHA256()))
        check(states(good + [wrong]) == ["installed"] * 3 + ["issued"],
              "after the batch: %r" % states(good + [wrong]))
        # Sent again (its answer lost): the same receipts, the first installation time holds.
        again = self.comm_terminal().ReportBatch(report=reports).outcome
        check({o.deviceNumber: int(o.receipt.receivedAt.timestamp()) for o in again
               if o.verdict == "RECEIPT"} == received, "a repeated batch changed the receipts")
        # Over the bound (zeep would not send it: raw bytes): refused whole with a Sender fault
        # that names the occurrence constraint, nothing recorded.
        one = ("<ca:report><ca:deviceNumber>%s</ca:deviceNumber><ca:certificateSerial>%s"
               "</ca:certificateSerial><ca:verificationValue>%s</ca:verificationValue>"
               "<ca:writtenAt>2026-12-05T10:00:00Z</ca:writtenAt></ca:report>" % (
                   wrong, self.packs[wrong][0]["serial"],
                   self.packs[wrong][0]["device_value"])).encode()
        for count, needle in ((201, "occurrence constraint"), (200, "Installation proof")):
            body = raw_peer.envelope("ca", "urn:certline:ca:1",
                                     b"<ca:ReportBatch>" + one * count + b"</ca:ReportBatch>")
            answer = raw_peer.exchange(self.ca.port, "ca.certline.test",
                                       os.path.join(self.work, "svc-comm.chain.crt"),
                                       os.path.join(self.work, "svc-comm.key"),
                                       os.path.join(self.ca.ca_dir, "root.crt"),
                                       raw_peer.post("/ca", "ca.certline.test", body))
            if count > 200:
                problem = raw_peer.refusal_problem(answer, "Sender", needle)
                check(problem is None, "%d reports: %s" % (count, problem))
            else:  # the bound itself is served: 200 outcomes, each the wrong proof's refusal
                check(b" 200 " in answer.split(b"\r\n", 1)[0] and
                      answer.count(b"<ca:verdict>REFUSED</ca:verdict>") == 200,
                      "200 reports: %r" % answer[:300])
        check(states([wrong]) == ["issued"], "the oversize batch changed %s" % wrong)

    def device_identity(self, number, pack_tuple, name):
        _, cert, key_der = pack_tuple
        return self.client(*write_identity(self.work, name, cert, key_der,
                                           os.path.join(self.ca.ca_dir, "issuing.crt")))

    def check_ins(self):
        expected = {"3012-000001": ("installed", self.packs["3012-000001"]),
                    "3012-000002": ("issued", self.packs["3012-000002"])}
        revoked = self.packs["3012-000004"]
        self.ca.run("revoke", revoked[0]["serial"], "--reason", "keyCompromise", "--comment",
                    "test: plate damaged")
        for number, (state, pack_tuple) in expected.items():
            device = self.device_identity(number, pack_tuple, "dev-" + number + "-" + state)
            answer = device.CheckIn(claimedDeviceNumber=number)
            check((answer.deviceNumber, answer.state) == (number, state.upper()),
                  "check-in of %s: %s %s, expected %s" % (number, answer.deviceNumber,
                                                         answer.state, state))
        # Superseded and revoked certificates are on serve's CRL: refused in the handshake
        # (the revocation is listed within a poll of the publisher).
        for number, pack_tuple in (("3012-000003", self.replaced), ("3012-000004", revoked)):
            deadline = time.time() + 15
            while True:
                try:  # a new connection each time: the CRL applies from the next handshake
                    device = self.device_identity(number, pack_tuple, "dev-" + number + "-ended")
                    answer = device.CheckIn(claimedDeviceNumber=number)
                except requests.exceptions.RequestException:
                    break
                check(time.time() < deadline, "check-in of %s not refused: %s" % (number,
                                                                                 answer.state))
                time.sleep(0.5)
            check("%s revoked at" % pack_tuple[0]["serial"] in self.ca.log(),
                  "ca-server's log does not say why %s was refused" % number)
        # A device the database does not know (e.g. a database restored from an old backup).
        unknown = self.packs["3012-000005"]
        self.cluster.psql("ca", "DELETE FROM batch_item WHERE serial = '%s'; DELETE FROM "
                          "certificate WHERE serial = '%s'" % (unknown[0]["serial"],
                                                               unknown[0]["serial"]))
        answer = self.device_identity("3012-000005", unknown, "dev-unknown").CheckIn()
        check(answer.state == "UNKNOWN", "check-in of an unknown certificate: %s" % answer.state)
        # A device claiming another number hears what its certificate says.
        answer = self.device_identity("3012-000002", self.packs["3012-000002"],
                                      "dev-claim").CheckIn(claimedDeviceNumber="3012-999999")
        check(answer.deviceNumber == "3012-000002" and "3012-999999" in (answer.detail or ""),
              "claimed number: %r" % answer)
        # Devices may only check in.
        device = self.device_identity("3012-000002", self.packs["3012-000002"], "dev-batch")
        expect_fault("device batch", lambda: device.CertificateTransmissionRequest(
            requestId="d", replacement=False, deviceNumber=["3012-000002"]), "Not authorised")

    def offline_batch(self):
        listing = os.path.join(self.work, "offline.txt")
        with open(listing, "w") as f:
            f.write("# day 2, line 1002\n" + "".join("A123-%06d\n" % i for i in range(100, 160)))
        out = os.path.join(self.work, "offline.json")
        r = self.ca.run("batch", "--file", listing, "--out", out, "--request-id", "offline-day2")
        check("60 certificate pack(s)" in r.stdout, "offline batch: " + r.stdout)
        check("issuing 60/60" in r.stderr, "offline batch shows progress: %r" % r.stderr[-200:])
        first = json.load(open(out))
        for item in first["items"]:
            self.check_pack(item["device_number"], item["pack"])
        os.unlink(out)
        self.ca.run("batch", "--file", listing, "--out", out, "--request-id", "offline-day2")
        check([i["pack"] for i in json.load(open(out))["items"]] ==
              [i["pack"] for i in first["items"]], "offline rerun gave other packs")

    def audit_and_secrets(self):
        audit = json.loads(self.ca.run("audit", "--json", "--limit", "1000").stdout)
        actions = {row["action"] for row in audit}
        for action in ("init", "model-add", "model-export", "batch", "revoke",
                       "service-issue"):
            check(action in actions, "audit log lacks %s: %r" % (action, sorted(actions)))
        dump = self.cluster.dump("ca")
        check("PRIVATE KEY" not in dump, "the database holds a PEM private key")
        check(PASSPHRASE not in dump, "the database holds the passphrase")
        log = self.ca.log()
        check("PRIVATE KEY" not in log and PASSPHRASE not in log, "the log holds a secret")
        for key_der in (t[2] for t in list(self.packs.values())[:20]):
            check(base64.b64encode(key_der).decode()[:40] not in dump, "a key DER in the dump")
            check(key_der.hex()[:64] not in dump, "a key DER (hex) in the dump")

    def run(self):
        self.operator_setup()
        self.ca.start()
        try:
            self.batches()
            self.hostile_wire()
            self.completion_failure()
            self.installation()
            self.installation_batch()
            self.check_ins()
        finally:
            self.ca.stop()
        self.offline_batch()
        self.audit_and_secrets()


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: test_ca_server.py CA_SERVER WSDL_DIR SOURCE_DIR")
    binary, wsdl_dir, source_dir = sys.argv[1:]
    return run_scenario(
        "test_ca_server",
        lambda work, cluster: Scenario(binary, wsdl_dir, source_dir, work, cluster), (Fault,))


if __name__ == "__main__":
    sys.exit(main())
