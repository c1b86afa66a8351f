"""certline_harness.py: what the Python integration tests share: the ca-server binary with one
configuration (operator commands and `serve`), and PACK.md's promises re-implemented
independently of certline's C code (opening a pack, verification values)."""

import base64
import datetime
import hashlib
import json
import os
import signal
import struct
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PASSPHRASE = "correct horse battery staple"


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


class CaServer:
    """The ca-server binary with one configuration, and its serving process."""

    def __init__(self, binary, work, conninfo):
        self.binary = binary
        self.work = work
        self.ca_dir = os.path.join(work, "ca")
        self.passphrase_file = os.path.join(work, "passphrase")
        with open(os.open(self.passphrase_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(PASSPHRASE + "\n")
        self.config = os.path.join(work, "ca-server.json")
        self.write_config(conninfo)
        self.process = None
        self.log_path = os.path.join(work, "ca-server.log")

    def write_config(self, conninfo, **extra):
        config = {
            "ca_dir": self.ca_dir,
            "organisation": "certline test maker",
            "passphrase_file": self.passphrase_file,
            "database": {"conninfo": conninfo},
            "tls": {"cert_file": os.path.join(self.work, "svc-ca.chain.crt"),
                    "key_file": os.path.join(self.work, "svc-ca.key"),
                    "trust_file": os.path.join(self.ca_dir, "root.crt")},
            "listen": {"host": "127.0.0.1", "port": 0, "max_connections": 16},
            "workers": 2,
            "max_batch": 400,
        }
        config.update(extra)
        with open(self.config, "w") as f:
            json.dump(config, f)

    def run(self, *args, expect_ok=True):
        result = subprocess.run([self.binary, "-c", self.config] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=600)
        if expect_ok and result.returncode != 0:
            raise Failure("ca-server %s failed (%d): %s%s" % (" ".join(args), result.returncode,
                                                              result.stdout, result.stderr))
        if not expect_ok and result.returncode == 0:
            raise Failure("ca-server %s should have failed: %s" % (" ".join(args),
                                                                   result.stdout))
        return result

    def start(self):
        """Starts `serve`; a restart listens on the same port as the first start."""
        if getattr(self, "port", None):
            with open(self.config) as f:
                config = json.load(f)
            config["listen"]["port"] = self.port
            with open(self.config, "w") as f:
                json.dump(config, f)
        log = open(self.log_path, "a")
        self.process = subprocess.Popen([self.binary, "-c", self.config, "-l", "debug", "serve"],
                                        stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.process.stdout.readline()
        check(line.startswith("listening on 127.0.0.1:"), "serve did not start: %r" % line)
        self.port = int(line.strip().rsplit(":", 1)[1])

    def stop(self):
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise Failure("ca-server did not stop on SIGTERM")
        self.process = None
        check(code == 0, "ca-server serve exited with %d (see %s)" % (code, self.log_path))

    def log(self):
        with open(self.log_path) as f:
            return f.read()

def verification_value(tag, device_number, serial, cert_der, key_der):
    h = hashlib.sha256()
    h.update(tag.encode() + b"\0" + device_number.encode() + b"\0" + serial.encode() + b"\0")
    h.update(struct.pack(">I", len(cert_der)) + cert_der)
    h.update(struct.pack(">I", len(key_der)) + key_der)
    return h.hexdigest()


def open_pack(pack_text, prewrite_key):
    """Returns (pack dict, certificate, key DER) after checking the pack's promises."""
    pack = json.loads(pack_text)
    check(pack["version"] == 1, "pack version")
    check("PRIVATE KEY" not in pack_text, "a pack holds a private key in clear")
    sealed = base64.b64decode(pack["sealed_key"])
    aad = b"certline-pack-v1\0" + pack["device_number"].encode() + b"\0" + \
        pack["serial"].encode()
    key_der = AESGCM(prewrite_key).decrypt(sealed[:12], sealed[12:], aad)
    cert = x509.load_pem_x509_certificate(pack["certificate_pem"].encode())
    return pack, cert, key_der


def key_matches(cert, key_der):
    key = serialization.load_der_private_key(key_der, password=None)
    return key.public_key().public_numbers() == cert.public_key().public_numbers()


def cert_der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


