#!/usr/bin/python3
"""test_factory_day.py: the factory day end to end (deploy/sim/factory_day.py): three lines,
forced write failures and a factory terminal killed mid-run; then, independently of the
simulation's own summary, from the databases, the device images, the openssl tool and Python's
cryptography:

- every planned device of a certificate-managed model holds exactly one valid certificate, whose
  subject is its own device number and which `openssl verify` accepts against the root (read from
  its flash image as device-agent/IMAGES.md documents it, its key opened with the documented
  peculiar key and matching the certificate);
- no device number has two valid certificates at ca-server;
- every written certificate has its write-completion flag set and a receipt whose signature
  verifies (ECDSA by the issuing CA over receipt.h's canonical text);
- every check-in says installed;
- the comm-terminal holds no pack for a written device (deletion is on);
- no private key (device keys, recovered from ca-server's packs with the pre-write keys, and the
  models' common keys) appears in clear in any database, log or image.

Usage: test_factory_day.py BUILD_DIR SOURCE_DIR
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

import device_image  # noqa: E402
from certline_harness import (STORED_RECEIPT_JOIN, STORED_RECEIPT_SQL,  # noqa: E402
                              Failure, check, key_matches, open_pack, verify_stored_receipt)
from factory_day import MANAGED, FactoryDay  # noqa: E402


def rows(day, db, sql):
    out = day.cluster.psql(db, sql)
    return [line.split("|") for line in out.splitlines() if line]


def verify_certificates(day):
    planned = {r[0] for r in rows(day, "ct", "SELECT device_number FROM plan_device WHERE "
                                  "model_code IN (%s)" % ",".join("'%s'" % m for m in MANAGED))}
    check(planned == set(day.devices), "planned %d devices, the day made %d" % (
        len(planned), len(day.devices)))
    valid = rows(day, "ca", "SELECT device_number, serial FROM certificate "
                 "WHERE state IN ('issued', 'installed')")
    per_number = {}
    for number, serial in valid:
        per_number.setdefault(number, []).append(serial)
    doubled = {n: s for n, s in per_number.items() if len(s) > 1}
    check(not doubled, "device numbers with two valid certificates: %r" % doubled)
    root = os.path.join(day.ca.ca_dir, "root.crt")
    issuing = os.path.join(day.ca.ca_dir, "issuing.crt")
    for number in sorted(planned):
        check(len(per_number.get(number, [])) == 1, "%s has %r valid certificates at ca-server"
              % (number, per_number.get(number)))
        # What the flash holds, read as IMAGES.md documents it, with the key opened by the
        # documented peculiar key: it must match the certificate.
        flash = device_image.read_flash(day.devices[number].flash)
        cert = flash["certificate"]
        check(cert is not None, "%s holds no certificate" % number)
        key_der = device_image.open_sealed_key(flash, number)
        check(key_matches(x509.load_pem_x509_certificate(cert["pem"].encode()), key_der),
              "%s: the key in its flash does not match its certificate" % number)
        shown = json.loads(day.devices[number].run("show", "--json").stdout)
        check(shown["ok"] is True, "%s: device-agent show finds a failed check" % number)
        path = os.path.join(day.work, "verify-%s.crt" % number)
        with open(path, "w") as f:
            f.write(cert["pem"])
        r = subprocess.run(["openssl", "verify", "-CAfile", root, "-untrusted", issuing, path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check(r.returncode == 0, "openssl verify %s: %s" % (number, r.stdout))
        crt = x509.load_pem_x509_certificate(cert["pem"].encode())
        subject = {a.oid: a.value for a in crt.subject}
        check(subject.get(x509.NameOID.COMMON_NAME) == number and
              subject.get(x509.NameOID.SERIAL_NUMBER) == number,
              "%s: the certificate names %r" % (number, subject))
        check(crt.serial_number == int(per_number[number][0], 16) and
              cert["serial"] == per_number[number][0],
              "%s: the device holds %X, ca-server's valid one is %s" % (
                  number, crt.serial_number, per_number[number][0]))


def verify_flags_and_receipts(day):
    issuing = x509.load_pem_x509_certificate(
        open(os.path.join(day.ca.ca_dir, "issuing.crt"), "rb").read())
    written = rows(day, "ct", "SELECT c.device_number, c.serial, c.write_flag,"
                   " coalesce(r.state, ''), coalesce(r.proof, ''),"
                   " coalesce(floor(extract(epoch FROM r.received_at))::bigint, 0), "
                   + STORED_RECEIPT_SQL + ", c.pack IS NULL"
                   " FROM certificate c LEFT JOIN report r"
                   " ON r.device_number = c.device_number AND r.serial = c.serial"
                   + STORED_RECEIPT_JOIN + " WHERE c.state = 'written'")
    check(len(written) == len(day.devices), "%d written certificates for %d devices" % (
        len(written), len(day.devices)))
    for (number, serial, flag, state, proof, received_at, signature, signer, manifest,
         no_pack) in written:
        check(flag == "1", "%s: write-completion flag %s" % (number, flag))
        check(state == "done", "%s: no receipt (report %r)" % (number, state))
        check(no_pack == "t", "%s: the comm-terminal still holds its pack" % number)
        # Alone or batch-signed, the receipt verifies here with python3-cryptography.
        verify_stored_receipt(issuing, number, serial, proof, received_at, signature, signer,
                              manifest)
        # The receipt is for what ca-server expected from this certificate.
        expected = rows(day, "ca", "SELECT server_value, state FROM certificate WHERE serial = '%s'"
                        % serial)
        check(expected == [[proof, "installed"]], "%s: ca-server has %r for %s" % (
            number, expected, serial))
    held = rows(day, "ct", "SELECT count(*) FROM certificate WHERE state = 'written' AND "
                "pack IS NOT NULL")
    check(held == [["0"]], "packs of written devices still held: %r" % held)


def verify_check_ins(day):
    for number, d in sorted(day.devices.items()):
        r = d.run("check-in", "--json", expect=0)
        answer = json.loads(r.stdout)
        check(answer["state"] == "installed" and answer["device_number"] == number,
              "%s check-in: %r" % (number, answer))


def verify_no_key_in_clear(day):
    prewrite = {m: base64.b64decode(json.load(open(day.bundles[m]))["prewrite_key"])
                for m in MANAGED}
    secrets = []
    for number, pack in rows(day, "ca", "SELECT device_number, pack FROM certificate "
                             "WHERE pack IS NOT NULL"):
        secrets.append(open_pack(pack, prewrite[number.split("-")[0]])[2])
    # ca-server purges the pack of an installed device (README "Key retention"): each installed
    # key is read from its device's flash instead.
    held = rows(day, "ca", "SELECT count(*) FROM certificate WHERE state = 'installed' AND "
                "pack IS NOT NULL")
    check(held == [["0"]], "ca-server still holds packs of installed devices: %r" % held)
    for number, d in sorted(day.devices.items()):
        secrets.append(device_image.open_sealed_key(device_image.read_flash(d.flash), number))
    for m in MANAGED:
        key = serialization.load_pem_private_key(
            json.load(open(day.bundles[m]))["common_key_pem"].encode(), password=None)
        for fmt in (serialization.PrivateFormat.PKCS8,
                    serialization.PrivateFormat.TraditionalOpenSSL):
            secrets.append(key.private_bytes(serialization.Encoding.DER, fmt,
                                             serialization.NoEncryption()))
    check(len(secrets) >= len(day.devices), "only %d keys recovered" % len(secrets))
    images = logs = 0
    for dirpath, _, names in os.walk(day.work):
        for name in names:
            path = os.path.join(dirpath, name)
            if not name.endswith((".img", ".log", ".jsonl")):
                continue
            images += name.endswith(".img")
            logs += name.endswith(".log")
            data = open(path, "rb").read()
            check(b"PRIVATE KEY" not in data, "a PEM private key in " + path)
            for secret in secrets:
                check(secret not in data and secret[-40:] not in data,
                      "a private key in clear in " + path)
    check(images == 2 * len(day.devices), "%d images for %d devices" % (images,
                                                                       len(day.devices)))
    check(logs >= 3 + len(day.line_ids), "only %d logs" % logs)
    for db in ("ca", "ct"):
        dump = day.cluster.dump(db).encode()
        check(b"PRIVATE KEY" not in dump, "a PEM private key in the %s database" % db)
        for secret in secrets:
            check(base64.b64encode(secret) not in dump and secret.hex().encode() not in dump,
                  "a private key in clear in the %s database" % db)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    work = tempfile.mkdtemp(prefix="certline-e2e-")
    day = FactoryDay(sys.argv[1], lines=3, devices_per_line=4, fail_share=0.34,
                     kill_terminal=True, work=work, seed=20261121)
    ok = False
    try:
        summary = day.run()
        failed = rows(day, "ct", "SELECT count(*) FROM failed_pack")
        check(int(failed[0][0]) >= 1, "no forced write failure happened")
        # The killed factory terminal was started twice (its log shows both starts).
        log = open(day.terminals[day.line_ids[-1]].log_path, errors="replace").read()
        check(log.count("listening on") == 2, "the factory terminal was not killed and restarted")
        # The day ran with the issuing key in a SoftHSM2 token (the default): no key file.
        check(summary["issuing_key"] == "SoftHSM2 token" and not os.path.exists(
            os.path.join(day.ca.ca_dir, "issuing.key.enc")), "the issuing key is not in a token")
        for step in (verify_certificates, verify_flags_and_receipts, verify_check_ins,
                     verify_no_key_in_clear):
            step(day)
            print("ok   %s" % step.__name__, flush=True)
        print("summary as printed: %s" % json.dumps(summary["lines"]))
        ok = True
    except Failure as e:
        print("FAIL", e)
    finally:
        day.stop()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("work folder kept:", work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
