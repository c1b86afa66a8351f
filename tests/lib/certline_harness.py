"""certline_harness.py: what the Python integration tests share: the programs as processes (from
deploy/sim/certline_procs.py, shared with the factory simulation) and PACK.md's promises
re-implemented independently of certline's C code (opening a pack, verification values)."""

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                                "sim"))

import pg_private  # noqa: E402
from certline_procs import (OPERATOR_PASSWORD, PASSPHRASE, CaServer, CommTerminal,  # noqa: E402,F401
                            Failure, check, now)


def moved(when, argv):
    """argv run with its clock moved to `when` (seconds since 1970), by faketime."""
    env = dict(os.environ)
    # faketime preloads libfaketime; AddressSanitizer must then not insist on coming first.
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                           ":verify_asan_link_order=0").lstrip(":")
    return subprocess.run(["faketime", "@%d" % when] + argv, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=600, env=env)


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


def open_pack_v2(pack_text, prewrite_key):
    """Version 2 (device key born in a token, PACK.md): returns (pack dict, certificate, the
    certificate's SubjectPublicKeyInfo DER) after unwrapping the key (RFC 5649 under the
    pre-write key) to a PKCS#8 key that must be the certificate's."""
    pack = json.loads(pack_text)
    check(pack["version"] == 2, "pack version %d" % pack["version"])
    check("PRIVATE KEY" not in pack_text, "a pack holds a private key in clear")
    key = serialization.load_der_private_key(
        aes_key_unwrap_with_padding(prewrite_key, base64.b64decode(pack["sealed_key"])), None)
    cert = x509.load_pem_x509_certificate(pack["certificate_pem"].encode())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    check(key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo) == spki,
          "the unwrapped key is not the certificate's")
    return pack, cert, spki


def key_matches(cert, key_der):
    key = serialization.load_der_private_key(key_der, password=None)
    return key.public_key().public_numbers() == cert.public_key().public_numbers()


def cert_der(cert):
    return cert.public_bytes(serialization.Encoding.DER)




def write_identity(work, name, cert, key_der, issuing_path):
    """Writes a device's TLS identity from its pack: name.crt (the certificate, then the issuing
    CA of issuing_path) and name.key (PKCS#8 PEM, 0600) in work; returns both paths."""
    cert_path = os.path.join(work, name + ".crt")
    key_path = os.path.join(work, name + ".key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(issuing_path, "rb") as issuing:
            f.write(issuing.read())
    key = serialization.load_der_private_key(key_der, password=None)
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def run_scenario(name, make, errors=()):
    """Runs make(work, cluster).run() with a private PostgreSQL cluster and a work folder, both
    removed afterwards, for a scenario whose .ca is a CaServer and, once made, .ct a CommTerminal
    (if it has one); prints the outcome (on failure with the tails of their logs), kills both at
    the end and returns the exit code. errors: exceptions, beyond the usual ones, that mean a
    failed check (e.g. zeep's Fault)."""
    cluster = pg_private.PrivateCluster()
    work = tempfile.mkdtemp(prefix="certline-%s-" % name)
    scenario = None
    try:
        cluster.start()
        scenario = make(work, cluster)
        started = time.time()
        scenario.run()
        print("%s: all checks passed in %.1f s" % (name, time.time() - started))
        return 0
    except (Failure, subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError,
            RuntimeError) + tuple(errors) as exc:
        print("%s: FAILED: %s" % (name, exc))
        for program in (getattr(scenario, "ct", None), getattr(scenario, "ca", None)):
            log_path = getattr(program, "log_path", None)
            if log_path is not None and os.path.exists(log_path):
                with open(log_path, errors="replace") as f:
                    print("---- %s (tail) ----\n%s" % (os.path.basename(log_path),
                                                       f.read()[-4000:]))
        return 1
    finally:
        for program in (getattr(scenario, "ca", None), getattr(scenario, "ct", None)):
            if getattr(program, "process", None) is not None:
                program.process.kill()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


# What a stored receipt is read with: its own signature and signer, or its batch's manifest, the
# manifest's signature and signer (common/receipt.h); newlines as '~' for psql's one-line rows.
STORED_RECEIPT_SQL = (
    "coalesce(r.signature, m.signature, ''),"
    " coalesce(replace(coalesce(r.signer_pem, m.signer_pem), E'\\n', '~'), ''),"
    " coalesce(replace(m.manifest, E'\\n', '~'), '')")
STORED_RECEIPT_JOIN = " LEFT JOIN receipt_manifest m ON m.id = r.manifest_id"


def canonical_receipt(number, serial, value, received_at):
    """A receipt's v1 canonical text (common/receipt.h)."""
    return ("certline-receipt v1\n%s\n%s\n%s\n%d\n" % (number, serial, value,
                                                       received_at)).encode()


def verify_stored_receipt(issuing, number, serial, proof, received_at, signature, signer,
                          manifest):
    """Checks a receipt the comm-terminal stored, independently of certline's C code: signed by
    the issuing CA certificate issuing (the signer stored is that certificate), either alone (its
    signature over its canonical text) or as one of a batch (manifest, as STORED_RECEIPT_SQL reads
    it, is a certline-receipt-batch v1 that names the SHA-256 of its canonical text, and signature
    is the manifest's). Raises Failure saying what is wrong."""
    check(signer != "", "%s: no signer stored with the receipt" % number)
    signer_cert = x509.load_pem_x509_certificate(signer.replace("~", "\n").encode())
    check(signer_cert == issuing, "%s: the receipt is signed by %s" % (
        number, signer_cert.subject.rfc4514_string()))
    text = canonical_receipt(number, serial, proof, int(received_at))
    signed = text
    if manifest != "":
        lines = manifest.split("~")
        digests = lines[1:-1]
        check(lines[0] == "certline-receipt-batch v1" and lines[-1] == "" and
              1 <= len(digests) <= 200 and
              all(len(d) == 64 and all(c in "0123456789abcdef" for c in d) for d in digests),
              "%s: the receipt's manifest is not a certline-receipt-batch v1" % number)
        check(hashlib.sha256(text).hexdigest() in digests,
              "%s: the receipt is not in its batch's manifest" % number)
        signed = manifest.replace("~", "\n").encode()
    try:
        issuing.public_key().verify(base64.b64decode(signature), signed,
                                    ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise Failure("%s: the receipt%s signature does not verify" % (
            number, "'s batch" if manifest != "" else ""))


def expect_fault(what, call, *needles):
    """call() must raise a SOAP fault (zeep) whose message and detail hold every needle; returns
    that text."""
    from zeep.exceptions import Fault
    try:
        answer = call()
    except Fault as fault:
        text = "%s %s" % (fault.message, "".join(fault.detail.itertext())
                          if fault.detail is not None else "")
        for needle in needles:
            check(needle in text, "%s: fault %r lacks %r" % (what, text, needle))
        return text
    raise Failure("%s: expected a fault, got %r" % (what, answer))
