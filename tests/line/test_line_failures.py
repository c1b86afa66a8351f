#!/usr/bin/python3
"""test_line_failures.py: failure paths of one production line with the four real programs, a
private PostgreSQL cluster and mutual TLS (the line of test_line.py).

- No write result in time (WAIT_TIMEOUT): the device writes but sends its S10 only after the
  factory terminal's write_result_timeout_s. The line answers NG and the comm-terminal stores a
  replacement; the certificate the device wrote anyway is superseded at ca-server and listed on
  its next CRL, so the device holds a certificate that is not the valid one for its number until
  a re-scan writes the replacement, which is then the one installed.
- The device refuses a pack delivered over the line (S8) for a foreign root, a wrong key id and
  a wrong device value (the mislabelled plate of test_line.py is the wrong number), each leaving
  its flash and NVRAM images byte-identical; the real pack then provisions it.

Usage: test_line_failures.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR
"""
import base64
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

from test_line import MODEL, Line, digest, run_cases, wait_for  # noqa: E402
from certline_harness import cert_der, check, open_pack, verification_value  # noqa: E402

WRITE_RESULT_TIMEOUT_S = 3


def foreign_pack(real, prewrite_key):
    """real's pack rebuilt around a certificate from a foreign root: same number, serial, key id
    and sealing, a device value that matches its own contents; only the root is wrong."""
    pack, _, real_key_der = open_pack(real, prewrite_key)
    number, serial = pack["device_number"], pack["serial"]
    now = datetime.datetime.now(datetime.timezone.utc)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certline test maker"),
                           x509.NameAttribute(NameOID.COMMON_NAME, "certline root CA foreign")])
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(root_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certline test maker"),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "device"),
                         x509.NameAttribute(NameOID.COMMON_NAME, number),
                         x509.NameAttribute(NameOID.SERIAL_NUMBER, number)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(root_name)
            .public_key(key.public_key()).serial_number(int(serial, 16))
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(root_key, hashes.SHA256()))
    # The key in the format of the real one (PKCS#8 or SEC 1 DER).
    pkcs8 = serialization.PrivateFormat.PKCS8
    real_key = serialization.load_der_private_key(real_key_der, password=None)
    key_format = pkcs8 if real_key.private_bytes(serialization.Encoding.DER, pkcs8,
                                                 serialization.NoEncryption()) == real_key_der \
        else serialization.PrivateFormat.TraditionalOpenSSL
    key_der = key.private_bytes(serialization.Encoding.DER, key_format,
                                serialization.NoEncryption())
    nonce = os.urandom(12)
    aad = b"certline-pack-v1\0" + number.encode() + b"\0" + serial.encode()
    pack["sealed_key"] = base64.b64encode(
        nonce + AESGCM(prewrite_key).encrypt(nonce, key_der, aad)).decode()
    pack["certificate_pem"] = cert.public_bytes(serialization.Encoding.PEM).decode()
    pack["chain_pem"] = root.public_bytes(serialization.Encoding.PEM).decode()
    pack["device_value"] = verification_value("certline device-check v1", number, serial,
                                              cert_der(cert), key_der)
    return json.dumps(pack)


class FailingLine(Line):
    FT_SETTINGS = {"write_result_timeout_s": WRITE_RESULT_TIMEOUT_S}

    def sql(self, query):
        return self.cluster.psql("ct", query).strip()

    def crl_serials(self):
        path = os.path.join(self.work, "published.crl")
        self.ca.run("crl", "--out", path)
        text = subprocess.run(["openssl", "crl", "-in", path, "-noout", "-text"],
                              stdout=subprocess.PIPE, text=True, check=True).stdout
        return {line.split(":", 1)[1].strip().upper() for line in text.splitlines()
                if "Serial Number:" in line}

    def wait_timeout(self):
        number = self.number(1)
        d = self.device(number)
        # The device writes, then holds its S10 back past the factory terminal's wait.
        d.serve("--once", "--delay-write-result-ms", str((WRITE_RESULT_TIMEOUT_S + 3) * 1000))
        event = self.scan(number)
        old = event["serial"]
        check(event["result"] == "NG" and "no write result from the device within %d s"
              % WRITE_RESULT_TIMEOUT_S in event["reason"] and event.get("replacement_ready")
              is True, "no write result in time: %r" % event)
        # The device wrote anyway: its late S10 is refused, it goes on serving.
        wait_for("the device's late write result", lambda: "S10 write result (OK) for %s not "
                 "delivered" % number in d.log(), timeout=30)
        check("no device in progress" in d.log(), "the late S10 refused for another reason")
        check(d.process is not None and d.process.poll() is None,
              "the device stopped after its late S10 was refused")
        shown, cert = self.written_certificate(number)
        check(cert["serial"] == old, "the device holds %s, wrote %s" % (cert["serial"], old))
        # What it holds is not the valid certificate of its number: superseded at ca-server
        # (by the replacement the comm-terminal stored before answering), listed on the CRL.
        states = {c["serial"]: c["state"] for c in self.ca_state(number)}
        check(states.get(old) == "superseded" and
              sorted(s for s in states.values() if s != "superseded") == ["issued"],
              "at ca-server after WAIT_TIMEOUT: %r" % states)
        row = self.sql("SELECT state || ' ' || serial FROM certificate WHERE device_number = '%s'"
                       % number).split()
        check(row[0] == "replaced" and row[1] != old and states.get(row[1]) == "issued",
              "the comm-terminal holds no replacement: %r" % row)
        check(old in self.crl_serials(), "the superseded %s is not on the CRL" % old)
        r = d.run("check-in", "--json", expect=None)
        check(r.returncode != 0 and '"installed"' not in r.stdout,
              "check-in with the superseded certificate: %d %s %s" % (r.returncode, r.stdout,
                                                                     r.stderr))
        # A re-scan writes the replacement; it is the one installed.
        d.stop()
        d.serve("--once")
        event = self.scan(number)
        check(event["result"] == "OK" and event["serial"] != old, "re-scan: %r" % event)
        check(d.wait(timeout=60) == 0, "device-agent did not end after its OK write")
        shown, cert = self.written_certificate(number)
        check(cert["serial"] == event["serial"], "the device holds %s" % cert["serial"])
        self.check_in(number)
        states = {c["serial"]: c["state"] for c in self.ca_state(number)}
        check(states == {old: "superseded", event["serial"]: "installed"},
              "at ca-server after the re-scan: %r" % states)

    def refused_packs(self):
        cases = (
            ("foreign root", lambda real: foreign_pack(real, self.prewrite[MODEL]),
             "does not chain to this device's root"),
            ("wrong key id", lambda real: json.dumps(dict(json.loads(real),
                                                          key_id=MODEL + "-FFFFFFFF")),
             "sealed under key %s-FFFFFFFF" % MODEL),
            ("wrong device value", lambda real: json.dumps(dict(json.loads(real),
                                                                device_value="ab" * 32)),
             "device value does not match"),
        )
        for n, (what, forge, needle) in enumerate(cases, start=2):
            number = self.number(n)
            d = self.device(number)
            real = self.ct_pack(number)
            self.sql("UPDATE certificate SET pack = '%s' WHERE device_number = '%s'"
                     % (forge(real).replace("'", "''"), number))
            before = (digest(d.flash), digest(d.nvram))
            d.serve("--once")
            event = self.scan(number)
            check(event["result"] == "NG" and "device refused the pack" in event["reason"] and
                  needle in event["reason"], "%s: %r" % (what, event))
            check((digest(d.flash), digest(d.nvram)) == before,
                  "%s: a refused pack changed the images" % what)
            check(d.process.poll() is None, "%s: the device stopped" % what)
            # The real pack then provisions it.
            self.sql("UPDATE certificate SET pack = '%s' WHERE device_number = '%s'"
                     % (real.replace("'", "''"), number))
            event = self.scan(number)
            check(event["result"] == "OK", "%s, then the real pack: %r" % (what, event))
            check(d.wait(timeout=60) == 0, "device-agent did not end")


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    binaries = [os.path.abspath(p) for p in sys.argv[1:5]]
    return run_cases(FailingLine, binaries, os.path.abspath(sys.argv[5]),
                     ("wait_timeout", "refused_packs"))


if __name__ == "__main__":
    sys.exit(main())
