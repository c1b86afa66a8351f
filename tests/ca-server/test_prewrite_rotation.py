#!/usr/bin/python3
"""test_prewrite_rotation.py: pre-write keys per model and per period [seed 004, effect 3].

The real ca-server (model-add, model-rotate, model-keys, model-export, batch, audit) on a private
PostgreSQL, and the real device-agent (mkimage from a firmware bundle, install, show). What must
hold, checked here independently of certline's C code:
  - model-rotate makes a new key with a new key id, audited; older keys are kept (model-keys);
  - new packs are sealed under the model's current key (opened here with AES-GCM and the key of
    the bundle that carries it); a key scheduled ahead (--from) takes over by itself at its
    moment (ca-server's clock moved with faketime);
  - a bundle carries the current key and the scheduled ones (version 2), not the ended ones;
  - device-agent opens a pack under any key its firmware holds, and refuses one under another key
    id with "unknown pre-write key id", naming the ids it accepts, leaving both images
    byte-identical.

With --token the same runs in token mode (ca-server's device_key_token: a private SoftHSM2
token): pre-write keys stored only wrapped under the token's storage key (no .enc file), device
keys born in the token, packs of version 2, opened here with RFC 5649 (cryptography's
aes_key_unwrap_with_padding) to a PKCS#8 key that matches the certificate, and the device value
and installation proof device-agent prints recomputed here from PACK.md's definition.

Usage: test_prewrite_rotation.py CA_SERVER DEVICE_AGENT [--token]
"""
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from certline_harness import (CaServer, Failure, check, moved, open_pack_v2,  # noqa: E402
                              run_scenario)
from certline_procs import DeviceAgent  # noqa: E402

DAY = 86400
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"


def softhsm_token(work):
    """A private SoftHSM2 token (SOFTHSM2_CONF for this process and its children); its URI."""
    base = tempfile.mkdtemp(prefix="certline-softhsm-", dir=work)
    os.makedirs(os.path.join(base, "tokens"))
    with open(os.path.join(base, "softhsm2.conf"), "w") as f:
        f.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
                "log.level = ERROR\nslots.removable = false\n" % base)
    os.environ["SOFTHSM2_CONF"] = os.path.join(base, "softhsm2.conf")
    pin = os.path.join(base, "user.pin")
    with open(os.open(pin, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("4321-test-pin\n")
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "certline-devices",
                    "--so-pin", "12345678", "--pin", "4321-test-pin"], check=True,
                   stdout=subprocess.DEVNULL)
    return "pkcs11:token=certline-devices?module-path=%s&pin-source=file:%s" % (SOFTHSM, pin)


def der_value(tag, number, serial, cert_der, last):
    """PACK.md's verification values: SHA-256(tag 00 number 00 serial 00 len cert len last)."""
    h = hashlib.sha256()
    h.update(tag.encode() + b"\0" + number.encode() + b"\0" + serial.encode() + b"\0")
    h.update(struct.pack(">I", len(cert_der)) + cert_der + struct.pack(">I", len(last)) + last)
    return h.hexdigest()


def proof_v2(prewrite, number, serial, cert_der):
    """Version 2's server value: over the proof key AES-256-ECB(pre-write key, T)."""
    t = hashlib.sha256(b"certline proof-key v2\0" + number.encode() + b"\0" + serial.encode() +
                       b"\0" + cert_der).digest()
    enc = Cipher(algorithms.AES(prewrite), modes.ECB()).encryptor()
    proof = enc.update(t) + enc.finalize()
    return der_value("certline install-proof v2", number, serial, cert_der, proof)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Scenario:
    def __init__(self, binary, device_binary, work, cluster, token):
        self.binary = binary
        self.device_binary = device_binary
        self.work = work
        self.ca = CaServer(binary, work, cluster.create_db("ca"))
        self.token = token
        self.version = 2 if token else 1
        self.proofs = {}  # pack text -> the installation proof expected (version 2)
        if token:
            self.ca.write_config(self.ca.conninfo, device_key_token=softhsm_token(work))

    faked = staticmethod(moved)  # the database keeps the real clock

    def moved(self, when, *args, expect_ok=True):
        """ca-server ARGS with its clock at `when`."""
        r = self.faked(when, [self.binary, "-c", self.ca.config] + list(args))
        if expect_ok != (r.returncode == 0):
            raise Failure("ca-server %s at @%d: exit %d: %s%s" % (" ".join(args), when,
                                                                 r.returncode, r.stdout,
                                                                 r.stderr))
        return r

    def keys(self):
        return json.loads(self.ca.run("model-keys", "3012", "--json").stdout)

    def export(self, name):
        path = os.path.join(self.work, name)
        self.ca.run("model-export", "3012", "--out", path)
        with open(path) as f:
            bundle = json.load(f)
        held = {bundle["key_id"]: base64.b64decode(bundle["prewrite_key"])}
        for item in bundle.get("next_prewrite_keys", []):
            held[item["key_id"]] = base64.b64decode(item["prewrite_key"])
        return path, bundle, held

    def batch(self, request_id, number, when=None):
        out = os.path.join(self.work, request_id + ".json")
        args = ("batch", "--out", out, "--request-id", request_id, number)
        if when is None:
            self.ca.run(*args)
        else:
            self.moved(when, *args)
        with open(out) as f:
            return json.load(f)["items"][0]["pack"]

    def sealed_under(self, pack_text, key_id, keys):
        """The pack names key_id and its key opens with that key: version 1 AES-GCM with PACK.md's
        AAD; version 2 RFC 5649 to a PKCS#8 key that is the certificate's, and the device value
        over the certificate and its SubjectPublicKeyInfo."""
        pack = json.loads(pack_text)
        check(pack["version"] == self.version, "pack version %d" % pack["version"])
        check(pack["key_id"] == key_id, "pack sealed under %s, expected %s" % (pack["key_id"],
                                                                                key_id))
        if self.version == 1:
            sealed = base64.b64decode(pack["sealed_key"])
            aad = b"certline-pack-v1\0" + pack["device_number"].encode() + b"\0" + \
                pack["serial"].encode()
            AESGCM(keys[key_id]).decrypt(sealed[:12], sealed[12:], aad)  # raises if not
            return
        _, cert, spki = open_pack_v2(pack_text, keys[key_id])
        cert_der = cert.public_bytes(serialization.Encoding.DER)
        check(pack["device_value"] == der_value("certline device-check v2", pack["device_number"],
                                                pack["serial"], cert_der, spki),
              "version 2 device value")
        self.proofs[pack_text] = proof_v2(keys[key_id], pack["device_number"], pack["serial"],
                                          cert_der)

    def device(self, number, bundle_path):
        class Line:  # install only: no line
            port, device_port, server_name = 9, 9, "line-1001.certline.test"
        work = bundle_path + ".boards"  # one board per number and bundle
        os.makedirs(work, exist_ok=True)
        d = DeviceAgent(self.device_binary, work, number,
                        "02:00:00:00:01:%02d" % int(number[-2:]), Line())
        d.mkimage(bundle_path)
        return d

    def install(self, d, pack_text, refused_with=None, when=None):
        pack_file = os.path.join(d.dir, "pack-%d.json" % time.monotonic_ns())
        with open(pack_file, "w") as f:
            f.write(pack_text)
        before = (read(d.flash), read(d.nvram))
        r = d.run("install", pack_file, expect=None) if when is None else \
            self.faked(when, [self.device_binary, "-c", d.config, "install", pack_file])
        if refused_with is None:
            check(r.returncode == 0 and r.stdout.startswith("OK "),
                  "install on %s: %s%s" % (d.device_number, r.stdout, r.stderr))
            if pack_text in self.proofs:
                check(r.stdout.split()[-1] == self.proofs[pack_text],
                      "installation proof %s, PACK.md says %s" % (r.stdout.split()[-1],
                                                                  self.proofs[pack_text]))
            check(when is not None or "all checks pass" in d.run("show").stdout,
                  "show after install")
            return r.stdout
        check(r.returncode != 0, "install on %s was not refused: %s" % (d.device_number,
                                                                        r.stdout))
        for needle in refused_with:
            check(needle in r.stdout, "refusal on %s lacks %r: %s" % (d.device_number, needle,
                                                                    r.stdout))
        check((read(d.flash), read(d.nvram)) == before,
              "a refused pack changed the images of %s" % d.device_number)
        return r.stdout.strip()

    def run(self):
        self.ca.run("init")
        self.ca.run("model-add", "3012")
        models = os.path.join(self.ca.ca_dir, "models", "3012")
        if self.token:  # the first key kept only wrapped under the token's storage key
            check(os.path.exists(os.path.join(models, "prewrite.wrapped")) and
                  not os.path.exists(os.path.join(models, "prewrite.enc")),
                  "token mode: files %r" % sorted(os.listdir(models)))
        first = self.keys()
        check(len(first) == 1 and first[0]["current"], "one key after model-add: %r" % first)
        k1 = first[0]["key_id"]
        check(k1 == json.loads(self.ca.run("model-list", "--json").stdout)[0]["key_id"],
              "the first key is the model's key id")
        bundle_a, doc_a, held_a = self.export("a.bundle")
        check(doc_a["version"] == 1 and "next_prewrite_keys" not in doc_a,
              "a bundle with one key stays version 1: %r" % sorted(doc_a))
        p1 = self.batch("r1", "3012-000001")
        self.sealed_under(p1, k1, held_a)

        # Refusals: unknown model, malformed moment.
        r = self.ca.run("model-rotate", "9999", expect_ok=False)
        check("unknown device model" in r.stderr, "rotate unknown model: " + r.stderr)
        r = self.ca.run("model-rotate", "3012", "--from", "tomorrow", expect_ok=False)
        check("--from takes" in r.stderr, "rotate --from malformed: " + r.stderr)

        # A key scheduled ahead: issued packs keep the current key until its moment.
        later = int(time.time()) + 2 * DAY
        moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(later))
        r = self.ca.run("model-rotate", "3012", "--from", moment)
        check("in force from " + moment in r.stdout, "rotate --from: " + r.stdout)
        keys = self.keys()
        k2 = keys[-1]["key_id"]
        check([k["key_id"] for k in keys] == [k1, k2] and keys[0]["current"] and
              not keys[1]["current"] and keys[1]["valid_from"] == later, "keys %r" % keys)
        mode = os.stat(os.path.join(models, "prewrite-%s.%s" % (
            k2, "wrapped" if self.token else "enc"))).st_mode & 0o777
        check(mode == 0o600, "the new key file has mode %o" % mode)
        bundle_b, doc_b, held_b = self.export("b.bundle")
        check(doc_b["version"] == 2 and doc_b["key_id"] == k1 and
              [k["key_id"] for k in doc_b["next_prewrite_keys"]] == [k2],
              "bundle with a scheduled key: %r" % {k: doc_b[k] for k in ("version", "key_id")})
        check(held_b[k1] == held_a[k1], "the first key changed")
        p2 = self.batch("r2", "3012-000002")
        self.sealed_under(p2, k1, held_b)
        # ca-server's clock past the moment: the scheduled key seals.
        p4 = self.batch("r4", "3012-000004", when=later + 3600)
        self.sealed_under(p4, k2, held_b)

        # A key in force at once: it seals from now, before the scheduled one.
        r = self.ca.run("model-rotate", "3012")
        k3 = [k for k in self.keys() if k["key_id"] not in (k1, k2)][0]["key_id"]
        check(k3 in r.stdout, "rotate output: " + r.stdout)
        states = {k["key_id"]: k["current"] for k in self.keys()}
        check(states == {k1: False, k3: True, k2: False}, "keys after the second rotation %r" %
              states)
        text = self.ca.run("model-keys", "3012").stdout
        check("current" in text and "scheduled" in text and "ended" in text, "model-keys: " + text)
        p3 = self.batch("r3", "3012-000003")
        bundle_c, doc_c, held_c = self.export("c.bundle")
        check(doc_c["key_id"] == k3 and [k["key_id"] for k in doc_c["next_prewrite_keys"]] == [k2],
              "bundle after the second rotation carries %s + %r" % (
                  doc_c["key_id"], doc_c.get("next_prewrite_keys")))
        check(k1 not in held_c, "an ended key is still in a new bundle")
        self.sealed_under(p3, k3, held_c)
        audit = self.ca.run("audit", "--json").stdout
        check(audit.count('"model-rotate"') == 2, "model-rotate audited twice: " + audit)

        # Devices: each opens the packs under keys its firmware holds, refuses the others.
        d1 = self.device("3012-000001", bundle_a)
        self.install(d1, p1)
        d3 = self.device("3012-000003", bundle_a)
        line = self.install(d3, p3, ("unknown pre-write key id", k3, "accepts " + k1))
        print("  firmware of bundle a, pack under the newest key: " + line)
        d3b = self.device("3012-000003", bundle_c)
        self.install(d3b, p3)
        d2 = self.device("3012-000002", bundle_c)
        line = self.install(d2, p2, ("unknown pre-write key id", k1,
                                     "accepts %s, %s" % (k3, k2)))
        print("  firmware of bundle c, pack under an ended key: " + line)
        d4 = self.device("3012-000004", bundle_b)  # holds k1 and the scheduled k2
        self.install(d4, p4, when=later + 7200)
        d2b = self.device("3012-000002", bundle_b)
        self.install(d2b, p2)


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[3:] not in ([], ["--token"]):
        sys.exit("usage: test_prewrite_rotation.py CA_SERVER DEVICE_AGENT [--token]")
    token = sys.argv[3:] == ["--token"]
    name = "test_prewrite_rotation" + ("_token" if token else "")
    if shutil.which("faketime") is None or (token and shutil.which("softhsm2-util") is None):
        print("%s: FAILED: faketime or softhsm2-util is not installed" % name)
        return 1
    return run_scenario(name, lambda work, cluster: Scenario(sys.argv[1], sys.argv[2], work,
                                                                cluster, token),
                           errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
