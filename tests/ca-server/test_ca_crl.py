#!/usr/bin/python3
"""test_ca_crl.py: ca-server's CRL end to end (issue 14), with the real binary, a private
PostgreSQL and real mutual TLS.

- `serve` publishes a CRL at start into the CRL file; `openssl crl -verify` accepts it, and
  `openssl verify -crl_check` refuses a revoked device certificate and accepts a valid one;
- ca:RevocationList answers the CRL, or only its number to a caller that holds it;
- a comm-terminal whose service certificate is revoked is refused in the handshake while another
  one still works; a superseded device (after a replacement batch) and a revoked device are
  refused at check-in during the handshake, a valid one answered;
- `revoke` takes RFC 5280 reason names only; `crl --out` publishes now;
- the CRL number grows across a restart of serve.

Usage: test_ca_crl.py CA_SERVER_BINARY WSDL_DIR
"""
import base64
import json
import os
import subprocess
import sys
import re
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from zeep.exceptions import Fault  # noqa: E402

from certline_harness import CaServer, check, open_pack, run_scenario, write_identity  # noqa: E402
import soap_peer  # noqa: E402


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60)


class Scenario:
    def __init__(self, binary, wsdl_dir, work, cluster):
        self.wsdl = os.path.join(wsdl_dir, "CertificateAuthority.wsdl")
        self.work = work
        self.cluster = cluster
        self.ca = CaServer(binary, work, cluster.create_db("ca"))
        self.issuing = os.path.join(self.ca.ca_dir, "issuing.crt")
        self.root = os.path.join(self.ca.ca_dir, "root.crt")
        self.crl_file = os.path.join(self.ca.ca_dir, "crl.pem")

    def client(self, cert_file, key_file):
        proxy, _, _ = soap_peer.service(self.wsdl, "https://127.0.0.1:%d/ca" % self.ca.port,
                                        "ca.certline.test", cert_file, key_file, self.root,
                                        timeout=20)
        return proxy

    def comm(self, prefix):
        return self.client(os.path.join(self.work, prefix + ".chain.crt"),
                           os.path.join(self.work, prefix + ".key"))

    def device(self, pack_tuple, name):
        _, cert, key_der = pack_tuple
        return self.client(*write_identity(self.work, name, cert, key_der, self.issuing))

    def refused(self, what, call, serial):
        """call must fail in the handshake within a few publisher polls, and the log say why."""
        deadline = time.time() + 15
        while True:
            try:
                call()
            except requests.exceptions.RequestException:
                break
            check(time.time() < deadline, what + ": not refused")
            time.sleep(0.5)
        check("%s revoked at" % serial in self.ca.log(), what + ": the log does not say why")

    def setup(self):
        self.ca.issue_services([])
        self.ca.run("issue-service", "comm-terminal", "comm2.certline.test", "--out",
                    os.path.join(self.work, "svc-comm2"))
        self.ca.run("model-add", "3012")
        bundle = os.path.join(self.work, "3012.bundle")
        self.ca.run("model-export", "3012", "--out", bundle)
        self.prewrite = base64.b64decode(json.load(open(bundle))["prewrite_key"])
        self.ca.write_config(self.ca.conninfo, crl_period_s=600, crl_validity_s=600)
        r = self.ca.run("-n", expect_ok=False)
        check("crl_validity_s" in r.stdout + r.stderr, "-n with a CRL valid only one period: %r"
              % (r.stdout + r.stderr))
        self.ca.write_config(self.ca.conninfo)
        r = self.ca.run("revoke", "0A0B", "--reason", "lost it", expect_ok=False)
        check(r.returncode == 2 and "keyCompromise" in r.stderr,
              "revoke with a free-text reason: %r" % r.stderr)

    def packs(self, proxy, request_id, numbers, replacement=False):
        answer = proxy.CertificateTransmissionRequest(requestId=request_id,
                                                      replacement=replacement,
                                                      deviceNumber=numbers)
        return {item.deviceNumber: open_pack(item.pack, self.prewrite) for item in answer.item}

    def crl_checks(self):
        comm = self.comm("svc-comm")
        first = comm.RevocationList(heldNumber=0)
        check(first.crl is not None and first.number >= 1, "no CRL at start: %r" % first)
        check(os.path.exists(self.crl_file), "serve wrote no CRL file")
        held = comm.RevocationList(heldNumber=first.number)
        check(held.crl is None and held.number == first.number,
              "a caller holding the CRL got it again: %r" % held.number)
        check(first.nextUpdate > first.thisUpdate, "nextUpdate not after thisUpdate")

        packs = self.packs(comm, "crl-1", ["3012-000001", "3012-000002", "3012-000003"])
        replaced = packs["3012-000001"]
        fresh = self.packs(comm, "crl-2", ["3012-000001"], replacement=True)["3012-000001"]
        revoked = packs["3012-000002"]
        valid = packs["3012-000003"]
        r = self.ca.run("revoke", revoked[0]["serial"], "--reason", "KeyCompromise",
                        "--comment", "board stolen")
        check("keyCompromise" in r.stdout, "revoke output: " + r.stdout)

        # Devices at check-in: the superseded and the revoked refused in the handshake.
        self.refused("superseded device", lambda: self.device(replaced, "d-old").CheckIn(),
                     replaced[0]["serial"])
        self.refused("revoked device", lambda: self.device(revoked, "d-rev").CheckIn(),
                     revoked[0]["serial"])
        answer = self.device(valid, "d-ok").CheckIn()
        check(answer.state == "ISSUED", "valid device check-in: %s" % answer.state)
        check(self.device(fresh, "d-new").CheckIn().state == "ISSUED", "replacement check-in")

        # The CRL as a comm-terminal gets it, checked by openssl only.
        latest = comm.RevocationList(heldNumber=first.number)
        check(latest.crl is not None and latest.number > first.number, "no newer CRL")
        der = os.path.join(self.work, "crl.der")
        with open(der, "wb") as f:
            f.write(base64.b64decode(latest.crl))
        chain = os.path.join(self.work, "chain.pem")
        with open(chain, "w") as f:
            f.write(open(self.issuing).read() + open(self.root).read())
        r = openssl("crl", "-inform", "DER", "-in", der, "-noout", "-verify", "-CAfile", chain,
                    "-text")
        check(r.returncode == 0 and "verify OK" in r.stdout, "openssl crl -verify: " + r.stdout)
        check("Key Compromise" in r.stdout and "Superseded" in r.stdout,
              "CRL reasons: " + r.stdout[-800:])
        pem = os.path.join(self.work, "crl.pem")
        openssl("crl", "-inform", "DER", "-in", der, "-out", pem)
        for name, pack_tuple, ok in (("revoked", revoked, False), ("valid", valid, True)):
            cert = os.path.join(self.work, "check-%s.crt" % name)
            with open(cert, "wb") as f:
                f.write(pack_tuple[1].public_bytes(serialization.Encoding.PEM))
            r = openssl("verify", "-crl_check", "-CAfile", self.root, "-untrusted",
                        self.issuing, "-CRLfile", pem, cert)
            check((r.returncode == 0) == ok and (ok or "certificate revoked" in r.stdout),
                  "openssl verify -crl_check of the %s certificate: %s" % (name, r.stdout))

        # A revoked comm-terminal: refused in the handshake; the other one keeps working.
        serial = self.cluster.psql("ca", "SELECT serial FROM service_certificate WHERE name = "
                                   "'comm2.certline.test'").strip()
        check(self.comm("svc-comm2").RevocationList(heldNumber=0).number >= 1, "comm2 before")
        r = self.ca.run("revoke", serial, "--reason", "affiliationChanged")
        check("service certificate" in r.stdout, "revoke of a service certificate: " + r.stdout)
        self.refused("revoked comm-terminal",
                     lambda: self.comm("svc-comm2").RevocationList(heldNumber=0), serial)
        check(comm.RevocationList(heldNumber=0).crl is not None, "valid comm-terminal refused")
        r = self.ca.run("revoke", serial, "--reason", "keyCompromise", expect_ok=False)
        check("already" in r.stderr, "second revocation: " + r.stderr)

        # A large CRL: 100 000 more entries (16-byte serials, as ca-server's), about 6.3 MB of
        # base64 in one answer.
        held = comm.RevocationList(heldNumber=0).number
        self.cluster.psql("ca", "INSERT INTO service_certificate (serial, role, name, actor,"
                          " revoked_at, reason_code) SELECT '7E' || upper(lpad(to_hex(n), 30,"
                          " '0')), 'comm-terminal', 'bulk', 'test', now(), 1"
                          " FROM generate_series(1, 100000) AS n")
        deadline = time.time() + 30
        while True:
            big = comm.RevocationList(heldNumber=held)
            if big.number > held:
                break
            check(time.time() < deadline, "no CRL after 100 000 revocations")
            time.sleep(0.5)
        size = len(big.crl)
        check(6000000 < size < 7000000 and
              len(base64.b64decode(big.crl)) > 47 * 100000, "large CRL: %d bytes" % size)
        check("comm-terminals fetching it need limits.max_string_bytes" in self.ca.log(),
              "no warning about a CRL beyond the limits")
        return big.number

    def run(self):
        self.setup()
        self.ca.start()
        try:
            number = self.crl_checks()
        finally:
            self.ca.stop()
        # An operator's CRL now, then a restart: the numbers keep growing.
        out = os.path.join(self.work, "now.pem")
        r = self.ca.run("crl", "--out", out)
        published = re.search(r"CRL number (\d+): ", r.stderr)
        check(published is not None and int(published.group(1)) > number and
              "100003 entries" in r.stderr, "crl command: " + r.stderr)
        number = int(published.group(1))
        check(openssl("crl", "-in", out, "-noout").returncode == 0, "crl --out is no PEM CRL")
        self.ca.start()
        try:
            after = self.comm("svc-comm").RevocationList(heldNumber=0)
            check(after.number > number, "CRL number after restart: %d, before %d" %
                  (after.number, number))
        finally:
            self.ca.stop()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: test_ca_crl.py CA_SERVER WSDL_DIR")
    binary, wsdl_dir = sys.argv[1:]
    return run_scenario("test_ca_crl",
                           lambda work, cluster: Scenario(binary, wsdl_dir, work, cluster),
                           (Fault, requests.exceptions.RequestException))


if __name__ == "__main__":
    sys.exit(main())
