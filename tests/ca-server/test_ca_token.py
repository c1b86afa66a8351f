#!/usr/bin/python3
"""test_ca_token.py: ca-server with its CA keys in PKCS#11 tokens (a private SoftHSM2), end to end.

- `init` makes the root key in one token and the issuing key in another; no key file is written,
  a second init is refused, and so is a token that already holds a key of that label; an init
  that fails half-way leaves no key it made in a token;
- OpenSC's pkcs11-tool shows the issuing key sensitive and never extractable: --read-object of the
  private key fails (its public key reads);
- `serve` in token mode with 4 and then 2 signing workers issues batches asked for by two
  comm-terminals at once; openssl verifies every device certificate against the root; the
  receipt of an installation verifies with the issuing CA's key; the CRL serve publishes and
  `crl --out` verify with openssl;
- `serve` never touches the root key: it runs with the root token moved away (token mode) and with
  root.key.enc unreadable (file mode), while `rollover` needs it and makes the new issuing key in
  the token (same label, its own CKA_ID), after which serve issues under the new issuing CA.

Usage: test_ca_token.py CA_SERVER_BINARY WSDL_DIR
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from zeep.exceptions import Fault  # noqa: E402

from certline_harness import (CaServer, Failure, cert_der, check, now, open_pack,  # noqa: E402
                              run_scenario, verification_value)
import soap_peer  # noqa: E402
from softhsm import USER_PIN, SoftHsm  # noqa: E402

ISSUING_TOKEN, ROOT_TOKEN = "certline-issuing", "certline-root"


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


class Scenario:
    def __init__(self, binary, wsdl_dir, work, cluster):
        self.wsdl = os.path.join(wsdl_dir, "CertificateAuthority.wsdl")
        self.work = work
        self.cluster = cluster
        self.hsm = SoftHsm(work, (ISSUING_TOKEN, ROOT_TOKEN))
        self.uris = {"issuing_key_uri": self.hsm.uri(ISSUING_TOKEN, "issuing-ca"),
                     "root_key_uri": self.hsm.uri(ROOT_TOKEN, "root-ca")}
        self.ca = CaServer(binary, work, cluster.create_db("ca"), key_uris=self.uris)
        self.root = os.path.join(self.ca.ca_dir, "root.crt")

    def client(self, prefix):
        proxy, _, _ = soap_peer.service(self.wsdl, "https://127.0.0.1:%d/ca" % self.ca.port,
                                        "ca.certline.test",
                                        os.path.join(self.work, prefix + ".chain.crt"),
                                        os.path.join(self.work, prefix + ".key"), self.root)
        return proxy

    def init(self):
        r = self.ca.run("init")
        check("root key in its token, issuing key in its token" in r.stdout, "init: " + r.stdout)
        for name in ("root.key.enc", "issuing.key.enc"):
            check(not os.path.exists(os.path.join(self.ca.ca_dir, name)), name + " written")
        r = self.ca.run("init", expect_ok=False)
        check("refusing to overwrite" in r.stderr, "second init: " + r.stderr)
        # another CA folder, the same token and label: refused, the token's key untouched
        other = dict(self.uris, ca_dir=os.path.join(self.work, "other-ca"))
        self.ca.write_config(self.ca.conninfo, **other)
        r = self.ca.run("init", expect_ok=False)
        check("already holds a key labelled" in r.stderr, "init over a token key: " + r.stderr)
        check(USER_PIN not in r.stdout + r.stderr, "the PIN in init's output")
        # a new root label but the taken issuing label: the root key is made first, then init
        # fails on the issuing key, and the root key it made must not stay behind in its token
        self.ca.write_config(self.ca.conninfo, ca_dir=os.path.join(self.work, "third-ca"),
                             issuing_key_uri=self.uris["issuing_key_uri"],
                             root_key_uri=self.hsm.uri(ROOT_TOKEN, "root-ca-2"))
        r = self.ca.run("init", expect_ok=False)
        check('holds a key labelled "issuing-ca"' in r.stderr, "init, issuing label taken: " +
              r.stderr)
        left = self.hsm.tool(ROOT_TOKEN, "--list-objects", check=True).stdout
        check("root-ca-2" not in left and "label:      root-ca" in left,
              "a failed init left its root key in the token:\n" + left)
        # a PIN written into the URI is refused by -n and by the commands, and never echoed
        self.ca.write_config(self.ca.conninfo, issuing_key_uri=self.uris["issuing_key_uri"]
                             .replace("&pin-source=", "&pin-value=pin-in-uri-77&x="))
        for args in (["-n"], ["crl", "--out", os.path.join(self.work, "never.pem")]):
            r = self.ca.run(*args, expect_ok=False)
            check("pin-value is refused" in r.stdout + r.stderr and
                  "pin-in-uri-77" not in r.stdout + r.stderr, "%s with pin-value: %s"
                  % (args[0], r.stdout + r.stderr))
        self.ca.write_config(self.ca.conninfo)
        for role, name, extra in (("ca-server", "ca.certline.test", []),
                                  ("comm-terminal", "comm.certline.test", []),
                                  ("comm-terminal", "comm2.certline.test", [])):
            prefix = "svc-" + name.split(".")[0]
            self.ca.run("issue-service", role, name, *extra, "--out",
                        os.path.join(self.work, prefix))
            r = openssl("verify", "-CAfile", self.root, "-untrusted",
                        os.path.join(self.ca.ca_dir, "issuing.crt"),
                        os.path.join(self.work, prefix + ".crt"))
            check(r.returncode == 0, "service certificate signed in the token: " + r.stdout)
        self.ca.run("model-add", "3012")
        bundle = os.path.join(self.work, "3012.bundle")
        self.ca.run("model-export", "3012", "--out", bundle)
        self.prewrite = base64.b64decode(json.load(open(bundle))["prewrite_key"])

    def not_extractable(self):
        """pkcs11-tool: the issuing key is sensitive, never extractable, and cannot be read."""
        listing = self.hsm.tool(ISSUING_TOKEN, "--list-objects", "--type", "privkey", check=True)
        text = listing.stdout
        check("label:      issuing-ca" in text, "pkcs11-tool --list-objects: " + text)
        check("Access:     sensitive, always sensitive, never extractable" in text,
              "the issuing key's access flags: " + text)
        check("Private Key Object; EC" in text and "Usage:      sign\n" in text,
              "a P-256 key that only signs: " + text)
        out = os.path.join(self.work, "stolen.der")
        r = self.hsm.tool(ISSUING_TOKEN, "--read-object", "--type", "privkey", "--label",
                          "issuing-ca", "--output-file", out)
        # pkcs11-tool 0.23 declines (exit 0, "not (yet) supported"); newer ones ask the token
        # for CKA_VALUE, which refuses with CKR_ATTRIBUTE_SENSITIVE. Either way nothing comes out.
        refusal = (r.stdout + r.stderr).strip()
        check(r.returncode != 0 or "not (yet) supported" in refusal or "SENSITIVE" in refusal,
              "pkcs11-tool read the private key: " + refusal)
        check(not os.path.exists(out) or os.path.getsize(out) == 0, "a private key was written")
        pub = self.hsm.tool(ISSUING_TOKEN, "--read-object", "--type", "pubkey", "--label",
                            "issuing-ca", "--output-file", os.path.join(self.work, "pub.der"))
        check(pub.returncode == 0 and os.path.getsize(os.path.join(self.work, "pub.der")) > 0,
              "pkcs11-tool cannot read the public key: " + pub.stderr)
        print("pkcs11-tool --list-objects --type privkey (issuing token):\n" + text.strip())
        print("pkcs11-tool --read-object --type privkey: nothing read (%s)" % refusal[-120:])

    def batch(self, client, request_id, numbers, chain_from):
        answer = client.CertificateTransmissionRequest(requestId=request_id, replacement=False,
                                                       deviceNumber=numbers)
        check([i.deviceNumber for i in answer.item] == numbers, "answer order")
        bundle = os.path.join(self.work, "%s.pem" % request_id)
        with open(bundle, "wb") as f:
            for item in answer.item:
                _, cert, _ = open_pack(item.pack, self.prewrite)
                f.write(cert.public_bytes(serialization.Encoding.PEM))
        # every certificate of the batch, each checked by openssl against the root
        certs = open(bundle).read().split("-----END CERTIFICATE-----")[:-1]
        for n, pem in enumerate(certs):
            one = os.path.join(self.work, "one-%s.pem" % request_id)
            with open(one, "w") as f:
                f.write(pem.strip() + "\n-----END CERTIFICATE-----\n")
            r = openssl("verify", "-CAfile", self.root, "-untrusted", chain_from, one)
            check(r.returncode == 0, "%s #%d: openssl verify: %s" % (request_id, n, r.stdout))
        return answer

    def concurrent_batches(self, workers, tag, count=60):
        """Two comm-terminals ask at once; the workers sign in one token."""
        self.ca.write_config(self.ca.conninfo, workers=workers)
        self.ca.start()
        try:
            results, errors = {}, []

            def ask(prefix, base):
                try:
                    numbers = ["3012-%s%05d" % (base, i) for i in range(1, count + 1)]
                    results[prefix] = self.batch(self.client(prefix), "%s-%s" % (tag, base),
                                                 numbers,
                                                 os.path.join(self.ca.ca_dir, "issuing.crt"))
                except (Failure, Fault, OSError) as exc:
                    errors.append("%s: %s" % (prefix, exc))
            threads = [threading.Thread(target=ask, args=(p, b)) for p, b in
                       (("svc-comm", tag[-1] + "1"), ("svc-comm2", tag[-1] + "2"))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            check(not errors, "concurrent batches with %d workers: %s" % (workers, errors))
            print("%d workers: 2 x %d device certificates signed in the token, all verified"
                  % (workers, count))
            if workers == 4:
                self.receipt(results["svc-comm"])
        finally:
            self.ca.stop()

    def receipt(self, answer):
        item = answer.item[0]
        pack, cert, key_der = open_pack(item.pack, self.prewrite)
        proof = verification_value("certline install-proof v1", item.deviceNumber,
                                   pack["serial"], cert_der(cert), key_der)
        receipt = self.client("svc-comm").InstallationReport(
            deviceNumber=item.deviceNumber, certificateSerial=pack["serial"],
            verificationValue=proof, writtenAt=now())
        signer = x509.load_pem_x509_certificate(receipt.signerCertificate.encode())
        canonical = "certline-receipt v1\n%s\n%s\n%s\n%d\n" % (
            item.deviceNumber, pack["serial"], proof, int(receipt.receivedAt.timestamp()))
        signer.public_key().verify(base64.b64decode(receipt.signature), canonical.encode(),
                                   ec.ECDSA(hashes.SHA256()))
        print("receipt signed in the token: verified")
        self.revoked = pack["serial"]

    def crl(self):
        self.ca.run("revoke", self.revoked, "--reason", "keyCompromise")
        out = os.path.join(self.work, "crl-now.pem")
        self.ca.run("crl", "--out", out)
        chain = os.path.join(self.ca.ca_dir, "chain.crt")
        for path in (out, os.path.join(self.ca.ca_dir, "crl.pem")):
            r = openssl("crl", "-in", path, "-noout", "-verify", "-CAfile", chain)
            check(r.returncode == 0 and "verify OK" in r.stdout, "CRL %s: %s" % (path, r.stdout))
        r = openssl("crl", "-in", out, "-noout", "-text")
        check(self.revoked.lstrip("0") in r.stdout.replace(":", "").upper() or
              self.revoked in r.stdout, "the revoked serial is not in the CRL")
        print("CRLs signed in the token (serve's and crl --out): openssl crl -verify OK")

    def root_offline(self):
        """serve runs without the root token; rollover needs it."""
        tokens = os.path.join(self.hsm.dir, "tokens")
        away = os.path.join(self.work, "root-token-away")
        moved = []
        for d in os.listdir(tokens):
            with open(os.path.join(tokens, d, "token.object"), "rb") as f:
                if b"certline-root" in f.read():
                    shutil.move(os.path.join(tokens, d), away)
                    moved.append(d)
        check(len(moved) == 1, "the root token's folder: %r" % moved)
        self.ca.start()
        try:
            self.batch(self.client("svc-comm"), "no-root", ["3012-700001"],
                       os.path.join(self.ca.ca_dir, "issuing.crt"))
        finally:
            self.ca.stop()
        print("serve ran and issued with the root token absent")
        r = self.ca.run("rollover", expect_ok=False)
        check("certline-root" in r.stderr, "rollover without the root token: " + r.stderr)
        shutil.move(away, os.path.join(tokens, moved[0]))

    def rollover(self):
        old = open(os.path.join(self.ca.ca_dir, "issuing.crt")).read()
        r = self.ca.run("rollover")
        check("rolled over" in r.stdout, "rollover: " + r.stdout)
        check(not os.path.exists(os.path.join(self.ca.ca_dir, "issuing.key.enc")),
              "rollover wrote a key file in token mode")
        check(open(os.path.join(self.ca.ca_dir, "issuing.crt")).read() != old, "same issuing CA")
        listing = self.hsm.tool(ISSUING_TOKEN, "--list-objects", "--type", "privkey").stdout
        check(listing.count("label:      issuing-ca") == 2, "two issuing keys: " + listing)
        self.ca.start()
        try:
            self.batch(self.client("svc-comm"), "after-rollover", ["3012-800001", "3012-800002"],
                       os.path.join(self.ca.ca_dir, "issuing.crt"))
        finally:
            self.ca.stop()
        print("rollover: new issuing key made in the token; serve issues under it")

    def run(self):
        self.init()
        self.not_extractable()
        self.concurrent_batches(4, "w4")
        self.concurrent_batches(2, "w2")
        self.crl()
        self.root_offline()
        self.rollover()
        check(USER_PIN not in self.ca.log(), "the token PIN is in ca-server's log")


class FileModeScenario:
    """File keys: serve runs with root.key.enc unreadable and absent; rollover needs it."""

    def __init__(self, binary, wsdl_dir, work, cluster):
        self.work = work
        self.wsdl = os.path.join(wsdl_dir, "CertificateAuthority.wsdl")
        self.ca = CaServer(binary, work, cluster.create_db("ca"))

    def run(self):
        self.ca.issue_services([])
        self.ca.run("model-add", "3012")
        root_key = os.path.join(self.ca.ca_dir, "root.key.enc")
        kept = os.path.join(self.work, "root.key.enc.kept")
        shutil.copy(root_key, kept)
        os.chmod(root_key, 0)  # unreadable (root reads it anyway: so also absent below)
        os.remove(root_key)
        self.ca.start()
        try:
            proxy, _, _ = soap_peer.service(
                self.wsdl, "https://127.0.0.1:%d/ca" % self.ca.port, "ca.certline.test",
                os.path.join(self.work, "svc-comm.chain.crt"),
                os.path.join(self.work, "svc-comm.key"),
                os.path.join(self.ca.ca_dir, "root.crt"))
            answer = proxy.CertificateTransmissionRequest(requestId="file-1", replacement=False,
                                                          deviceNumber=["3012-000001"])
            check(len(answer.item) == 1, "file mode without the root key: no pack")
        finally:
            self.ca.stop()
        r = self.ca.run("rollover", expect_ok=False)
        check("root.key.enc" in r.stderr, "rollover without root.key.enc: " + r.stderr)
        shutil.copy(kept, root_key)
        os.chmod(root_key, 0o600)
        self.ca.run("rollover")
        print("file mode: serve ran and issued with root.key.enc absent; rollover used it")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: test_ca_token.py CA_SERVER WSDL_DIR")
    binary, wsdl_dir = sys.argv[1:]
    code = run_scenario("test_ca_token_files",
                           lambda work, cluster: FileModeScenario(binary, wsdl_dir, work, cluster),
                           (Fault,))
    return code or run_scenario(
        "test_ca_token", lambda work, cluster: Scenario(binary, wsdl_dir, work, cluster),
        (Fault,))


if __name__ == "__main__":
    sys.exit(main())
