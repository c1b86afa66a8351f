#!/usr/bin/python3
"""test_line.py: one production line end to end: the real ca-server, comm-terminal,
factory-terminal and device-agent processes, a private PostgreSQL cluster, and mutual TLS on
loopback; barcode scans written to the factory terminal's standard input.

Covers: blank boards (mkimage, show); scan to written for several devices, each certificate
verified with the openssl tool against the root and by check-in at ca-server; a scan that is no
device number (refused before any traffic); the device unreachable, then provisioned by a
re-scan; a forced write failure (NG, replacement) then a successful re-scan with a new serial; a
mislabelled plate (refused by the device, its images unchanged); the comm-terminal unreachable;
a factory terminal killed mid-device, restarted, and the device re-scanned; a power cut after
every write step in turn (the old or the new certificate, never a torn one); and no private key
in clear in any image, log or database.

Usage: test_line.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR SOURCE_DIR
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

import pg_private  # noqa: E402
import raw_peer  # noqa: E402
import soap_peer  # noqa: E402
import device_image  # noqa: E402
from certline_harness import (CaServer, CommTerminal, Failure, cert_der, check,  # noqa: E402
                              key_matches, open_pack, verification_value)
from certline_procs import DeviceAgent, FactoryTerminal, free_port  # noqa: E402

TODAY = time.strftime("%Y-%m-%d")
MODEL = "3012"


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def wait_for(what, probe, timeout=30):
    """probe()'s first true value, polled for at most timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            check(value, "no %s within %d s" % (what, timeout))
            return value
        time.sleep(0.2)


class Line:
    UNITS = 12  # of MODEL in today's plan
    LIMITS = {"connect_timeout_s": 2, "recv_timeout_s": 10}  # every program's transport limits
    CT_SETTINGS = {}  # comm-terminal settings over the test defaults
    FT_SETTINGS = {}  # factory-terminal settings over the test defaults

    def __init__(self, binaries, wsdl_dir, work, cluster):
        self.ca_binary, self.ct_binary, self.ft_binary, self.da_binary = binaries
        self.wsdl_dir = wsdl_dir
        self.work = work
        self.cluster = cluster
        self.ca = CaServer(self.ca_binary, work, cluster.create_db("ca"))
        self.ca.write_config(self.ca.conninfo, limits=self.LIMITS)
        self.ct_conninfo = cluster.create_db("ct")
        self.devices = {}
        self.macs = 0

    # ---- set-up: PKI, models, plan, the day's batch, the servers ----

    def setup(self):
        ca = self.ca
        ca.run("init")
        for args in (("ca-server", "ca.certline.test", "svc-ca"),
                     ("comm-terminal", "comm.certline.test", "svc-comm"),
                     ("factory-terminal", "line-1001.certline.test", "1001", "svc-line-1001"),
                     ("factory-terminal", "line-1002.certline.test", "1002", "svc-line-1002")):
            ca.run("issue-service", *args[:-1], "--out", os.path.join(self.work, args[-1]))
        self.root = os.path.join(ca.ca_dir, "root.crt")
        self.bundles, self.prewrite = {}, {}
        for model in (MODEL, "A123"):
            ca.run("model-add", model)
            bundle = os.path.join(self.work, model + ".bundle")
            ca.run("model-export", model, "--out", bundle)
            self.bundles[model] = bundle
            self.prewrite[model] = base64.b64decode(json.load(open(bundle))["prewrite_key"])
        ca.start()
        # Packs stay after writing here, so the test can read the keys it must not find.
        settings = dict(delete_written=False, claim_seconds=60, limits=self.LIMITS)
        settings.update(self.CT_SETTINGS)
        self.ct = CommTerminal(self.ct_binary, self.work, self.ct_conninfo, ca, **settings)
        ct = self.ct
        ct.run("migrate", operator=False)
        ct.run("operator-add", "alice", "--new-password-file", ct.password_file, operator=False)
        ct.run("model-set", MODEL, "--managed")
        ct.run("model-set", "A123", "--managed")
        plan = os.path.join(self.work, "plan.csv")
        with open(plan, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "%s,%s,%d,1,6\nA123,%s,2,1,6\n" % (MODEL, TODAY, self.UNITS, TODAY))
        ct.run("import", plan)
        r = ct.run("fetch", "--date", TODAY)
        check("fetched %d pack(s)" % (self.UNITS + 2) in r.stdout + r.stderr,
              "fetch: " + r.stdout + r.stderr)
        ct.start()
        self.jig_port = free_port()
        settings = dict(limits=self.LIMITS)
        settings.update(self.FT_SETTINGS)
        self.ft = FactoryTerminal(self.ft_binary, self.work, "1001", self.root, ct.port,
                                  self.jig_port, **settings)
        self.ft.start()

    def number(self, n, model=MODEL):
        return "%s-%06d" % (model, n)

    def device(self, number, model=MODEL, ft=None):
        """A blank board for number (made once), on the jig of ft (default: line 1001)."""
        if number not in self.devices:
            self.macs += 1
            d = DeviceAgent(self.da_binary, self.work, number,
                            "02:00:00:00:%02x:%02x" % (self.macs // 256, self.macs % 256),
                            ft or self.ft, ca_port=self.ca.port, limits=self.LIMITS)
            d.mkimage(self.bundles[model])
            self.devices[number] = d
        return self.devices[number]

    def scan(self, text, ft=None):
        ft = ft or self.ft
        ft.scan(text)
        return ft.next_event(timeout=90)

    def provision(self, number, *serve_args, expect="OK", ft=None):
        """A device on the jig of ft (default: line 1001), its plate scanned; returns the factory
        terminal's event."""
        d = self.device(number, ft=ft)
        d.serve("--once", *serve_args)
        event = self.scan(number, ft=ft)
        check(event["device_number"] == number, "event for another device: %r" % event)
        check(event["result"] == expect, "%s: expected %s, got %r" % (number, expect, event))
        if expect == "OK":
            check(d.wait(timeout=60) == 0, "%s: device-agent --once did not end with 0" % number)
        return event

    # ---- what the device holds, checked independently ----

    def written_certificate(self, number):
        """The certificate the device's flash holds, read from the image as IMAGES.md documents
        it (not through device-agent), with its key opened by the documented peculiar key; and
        what `show --json` says."""
        shown = self.devices[number].show()
        check(shown["device_number"] == number, "show: device number %r" % shown)
        check(shown["ok"] is True and shown["failures"] == 0, "%s: show: %r" % (number, shown))
        flash = device_image.read_flash(self.devices[number].flash)
        cert = flash["certificate"]
        check(cert is not None, "%s: the flash image holds no certificate" % number)
        check(cert["device_number"] == number and shown["certificate"]["serial"] == cert["serial"],
              "%s: image holds %s/%s, show says %r" % (number, cert["device_number"],
                                                       cert["serial"], shown["certificate"]))
        key_der = device_image.open_sealed_key(flash, number)
        crt = x509.load_pem_x509_certificate(cert["pem"].encode())
        check(key_matches(crt, key_der), "%s: the sealed key does not match the certificate"
              % number)
        check(cert["device_value"] == verification_value(
            "certline device-check v1", number, cert["serial"], cert_der(crt), key_der),
            "%s: the stored device-side value is not PACK.md's" % number)
        return shown, cert

    def openssl_verify(self, number, cert_pem):
        path = os.path.join(self.work, number + ".crt")
        with open(path, "w") as f:
            f.write(cert_pem)
        issuing = os.path.join(self.ca.ca_dir, "issuing.crt")
        r = subprocess.run(["openssl", "verify", "-CAfile", self.root, "-untrusted", issuing,
                            "-purpose", "sslclient", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        check(r.returncode == 0 and ": OK" in r.stdout, "openssl verify %s: %s" % (number,
                                                                                    r.stdout))
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        check(cn == number, "%s: certificate subject CN is %s" % (number, cn))
        return cert

    def check_in(self, number, expect_state="installed", expect_code=0):
        """Check-in once the comm-terminal's installation report has reached ca-server (it goes
        asynchronously, after S12): until then ca-server says issued."""
        deadline = time.monotonic() + 30
        while True:
            r = self.devices[number].run("check-in", "--json", expect=None)
            answer = json.loads(r.stdout)
            if answer["state"] != "issued" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        check(r.returncode == expect_code, "%s check-in exit %d: %s" % (number, r.returncode,
                                                                       r.stdout))
        check(answer["state"] == expect_state, "%s check-in: %r" % (number, answer))
        check(answer["device_number"] == number, "%s check-in names %r" % (number, answer))
        return answer

    def ca_state(self, number):
        return json.loads(self.ca.run("show", number, "--json").stdout)

    def ct_pack(self, number):
        return self.cluster.psql("ct", "SELECT pack FROM certificate WHERE device_number = '%s'"
                                 % number).strip()

    # ---- the cases ----

    def blank_board(self):
        d = self.device(self.number(1))
        shown = d.show()
        check(shown["device_number"] == self.number(1), "show: %r" % shown)
        check(shown.get("certificate") is None, "a blank board holds a certificate: %r" % shown)
        check(shown["ok"] is True and all(c["ok"] is not False for c in shown["checks"]),
              "blank board checks: %r" % shown)
        check(device_image.read_flash(d.flash)["certificate"] is None, "blank flash has a slot")
        r = d.run("mkimage", "--device-number", self.number(1), "--mac", d.mac, "--bundle",
                  self.bundles[MODEL], expect=None)
        check(r.returncode != 0, "mkimage overwrote an existing board without --force")
        r = d.run("check-in", expect=None)
        check(r.returncode not in (0, 3) or "no certificate" in (r.stdout + r.stderr).lower(),
              "check-in without a certificate: %s%s" % (r.stdout, r.stderr))

    def scans_to_written(self):
        for n in (1, 2, 3):
            number = self.number(n)
            event = self.provision(number)
            shown, cert = self.written_certificate(number)
            crt = self.openssl_verify(number, cert["pem"])
            check(event["serial"] == cert["serial"] and int(cert["serial"], 16) ==
                  crt.serial_number,
                  "%s: serial in event %s, image %s, certificate %X" % (
                      number, event["serial"], cert["serial"], crt.serial_number))
            self.check_in(number)
            state = self.ca_state(number)
            check(any(c["serial"] == event["serial"] and c["state"] == "installed"
                      for c in state), "%s at ca-server: %r" % (number, state))
            # The device proved the key it holds: the proof the CA accepted is the server-side
            # value over the key in the pack it was given.
            pack, pcert, key_der = open_pack(self.ct_pack(number), self.prewrite[MODEL])
            check(pack["serial"] == event["serial"], "%s: stored pack is another one" % number)

    def refused_scan(self):
        def mentions():  # every request of line 1001 leaves a line in the comm-terminal's log
            return sum(1 for line in self.ct.log().splitlines() if "1001" in line)
        before = mentions()
        event = self.scan("NOT A NUMBER")
        check(event["result"] == "REJECTED", "bad scan: %r" % event)
        event = self.scan("3012-00000000000000000001")
        check(event["result"] == "REJECTED", "over-long scan: %r" % event)
        check(mentions() == before, "a rejected scan reached the network")

    def device_unreachable(self):
        number = self.number(4)
        self.device(number)  # board made, but not on the jig
        event = self.scan(number)
        check(event["result"] == "NG" and "unreachable" in event["reason"],
              "no device on the jig: %r" % event)
        self.provision(number)

    def forced_write_failure(self):
        number = self.number(5)
        d = self.device(number)
        d.serve("--once", "--fail-writes", "1")
        first = self.scan(number)
        check(first["result"] == "NG" and first.get("replacement_ready") is True,
              "forced write failure: %r" % first)
        check(d.process.poll() is None, "the device stopped after an NG write")
        second = self.scan(number)
        check(second["result"] == "OK", "re-scan after NG: %r" % second)
        check(second["serial"] != first.get("serial"), "the re-scan wrote the failed pack again")
        check(d.wait(timeout=60) == 0, "device-agent did not end after its OK write")
        shown, cert = self.written_certificate(number)
        check(cert["serial"] == second["serial"], "the device holds %s" % cert["serial"])
        self.check_in(number)
        states = {c["serial"]: c["state"] for c in self.ca_state(number)}
        check(states.get(second["serial"]) == "installed" and
              len([s for s in states.values() if s in ("issued", "installed")]) == 1,
              "one valid certificate after the replacement: %r" % states)
        check(shown["counters"]["failed_writes"] == 1, "failed writes counted: %r" % shown)

    def hostile_wire(self, number):
        """Issue 12 item 4 on the real device-agent serving number, as factory terminal 1001:
        a pack for the number with U+0000 appended (as &#0; and raw), a SOAP 1.1 envelope and a
        DOCTYPE each get a SOAP 1.2 fault; the caller checks the images are unchanged and that
        the device is then provisioned."""
        ns = "urn:certline:device:1"

        def transmission(device_number):
            return raw_peer.envelope("dev", ns, b"<dev:CertificateTransmission><dev:deviceNumber>"
                                     + device_number + b"</dev:deviceNumber><dev:pack>{}"
                                     b"</dev:pack></dev:CertificateTransmission>")

        n = number.encode()
        cases = [
            (transmission(n + b"&#0;x"), "U+0000"),
            (transmission(n + b"\x00x"), "U+0000"),
            (transmission(n).replace(raw_peer.SOAP12,
                                     b"http://schemas.xmlsoap.org/soap/envelope/"),
             "VersionMismatch"),
            (transmission(n).replace(b"?>\n", b"?>\n<!DOCTYPE x>"), "document type"),
        ]
        for body, needle in cases:
            answer = raw_peer.exchange(self.ft.device_port, None,
                                       os.path.join(self.work, "svc-line-1001.chain.crt"),
                                       os.path.join(self.work, "svc-line-1001.key"), self.root,
                                       raw_peer.post("/device", "device.certline.test", body))
            problem = raw_peer.refusal_problem(answer, needle)
            check(problem is None, "device-agent, %r...: %s" % (body[-120:], problem))

    def mislabelled_plate(self):
        on_jig, plate = self.number(6), self.number(7)
        d = self.device(on_jig)
        before = (digest(d.flash), digest(d.nvram))
        d.serve("--once")
        self.hostile_wire(on_jig)
        check((digest(d.flash), digest(d.nvram)) == before, "a refused request changed the images")
        event = self.scan(plate)
        check(event["result"] == "NG" and "mismatch" in event["reason"].lower(),
              "mislabelled plate: %r" % event)
        check((digest(d.flash), digest(d.nvram)) == before, "a refused pack changed the images")
        event = self.scan(on_jig)  # the right plate: provisioned
        check(event["result"] == "OK", "the right plate after a mislabelled one: %r" % event)
        check(d.wait(timeout=60) == 0, "device-agent did not end")

    def comm_terminal_unreachable(self):
        port = free_port()
        nocomm = os.path.join(self.work, "nocomm")
        os.makedirs(nocomm)
        ft = FactoryTerminal(self.ft_binary, nocomm, "1002", self.root, port, free_port(),
                             cert_dir=self.work)
        number = self.number(8)
        ft.start()
        ft.scan(number)
        event = ft.next_event(timeout=60)
        check(event["result"] == "NG" and "comm-terminal" in event["reason"],
              "comm-terminal unreachable: %r" % event)
        check(ft.finish() == 4, "exit code with an NG")
        rows = self.cluster.psql("ct", "SELECT state FROM certificate WHERE device_number = '%s'"
                                 % number).strip()
        check(rows == "stored", "%s after an unreachable comm-terminal: %r" % (number, rows))

    def killed_mid_device(self):
        number = self.number(9)
        d = self.device(number)
        d.serve("--once")
        marks = self.ct.log().count("pack of %s" % number)
        self.ft.scan(number)
        deadline = time.monotonic() + 30
        while self.ct.log().count("pack of %s" % number) == marks:
            check(time.monotonic() < deadline, "the comm-terminal never sent the pack")
            time.sleep(0.005)
        self.ft.kill()  # after S6, somewhere in S7..S13
        self.ft.start()
        event = self.scan(number)
        check(event["result"] == "OK", "re-scan after a killed factory terminal: %r" % event)
        check(d.wait(timeout=60) == 0, "device-agent did not end")
        self.check_in(number)
        states = [c["state"] for c in self.ca_state(number)]
        check(states.count("installed") + states.count("issued") == 1,
              "one valid certificate: %r" % states)

    def power_cuts(self):
        """install from a pack file with a power cut after each step in turn."""
        number = self.number(10)
        d = self.device(number)
        line2 = soap_peer.service(os.path.join(self.wsdl_dir, "CommTerminal.wsdl"),
                                  "https://127.0.0.1:%d/comm-terminal" % self.ct.port,
                                  "comm.certline.test",
                                  os.path.join(self.work, "svc-line-1002.chain.crt"),
                                  os.path.join(self.work, "svc-line-1002.key"), self.root)[0]
        old = line2.CertificateTransmissionRequest(deviceNumber=number).pack
        old_file = os.path.join(self.work, "old.pack")
        open(old_file, "w").write(old)
        r = d.run("install", old_file)
        old_serial = json.loads(old)["serial"]
        check(r.stdout.startswith("OK " + old_serial), "install: " + r.stdout)
        # A replacement: NG for the old one, then the new pack.
        line2.WriteResult(deviceNumber=number, result="NG", reason="power-cut test")
        new = line2.CertificateTransmissionRequest(deviceNumber=number).pack
        new_serial = json.loads(new)["serial"]
        check(new_serial != old_serial, "no replacement pack")
        new_file = os.path.join(self.work, "new.pack")
        open(new_file, "w").write(new)
        saved = os.path.join(self.work, "saved-images")
        os.makedirs(saved)
        shutil.copy(d.flash, saved)
        shutil.copy(d.nvram, saved)
        for step in range(1, 8):
            shutil.copy(os.path.join(saved, "flash.img"), d.flash)
            shutil.copy(os.path.join(saved, "nvram.img"), d.nvram)
            r = d.run("install", new_file, "--power-cut-after-step", str(step), expect=75)
            # Old or new, whole: every check passes and the image itself holds exactly one of
            # them, its key opening and matching.
            shown, cert = self.written_certificate(number)
            want = old_serial if step < 4 else new_serial
            check(cert["serial"] == want, "power cut after step %d: holds %s, expected %s" % (
                step, cert["serial"], want))
            # And the next write works.
            r = d.run("install", new_file)
            check(r.stdout.startswith("OK " + new_serial), "install after a cut: " + r.stdout)
        # The proof the device computes is what PACK.md says, over the key in the pack.
        pack, cert, key_der = open_pack(new, self.prewrite[MODEL])
        proof = r.stdout.split()[-1]
        der = cert.public_bytes(serialization.Encoding.DER)
        check(proof == verification_value("certline install-proof v1", number, new_serial, der,
                                           key_der), "the device's proof is not PACK.md's")

    def no_key_in_clear(self):
        secrets = []
        for number in self.devices:
            text = self.ct_pack(number)
            if text:
                secrets.append(open_pack(text, self.prewrite[MODEL])[2])
        common = json.load(open(self.bundles[MODEL]))["common_key_pem"]
        key = serialization.load_pem_private_key(common.encode(), password=None)
        for fmt in (serialization.PrivateFormat.PKCS8,
                    serialization.PrivateFormat.TraditionalOpenSSL):
            secrets.append(key.private_bytes(serialization.Encoding.DER, fmt,
                                             serialization.NoEncryption()))
        check(len(secrets) > 5, "too few keys to look for")
        files = [os.path.join(dirpath, name) for dirpath, _, names in os.walk(self.work)
                 for name in names if name.endswith((".img", ".log", ".jsonl"))]
        check(len([f for f in files if f.endswith(".img")]) >= 2 * len(self.devices),
              "images not found")
        for path in files:
            data = read(path)
            check(b"PRIVATE KEY" not in data, "a PEM private key in " + path)
            for secret in secrets:
                check(secret not in data and secret[-48:] not in data,
                      "a private key in clear in " + path)
        dump = self.cluster.dump("ct").encode() + self.cluster.dump("ca").encode()
        for secret in secrets:
            check(base64.b64encode(secret) not in dump and secret.hex().encode() not in dump,
                  "a private key in clear in a database")

    def finish(self):
        # The factory terminal restarted after the kill has seen only OK devices: exit 0.
        code = self.ft.finish()
        check(code == 0, "factory-terminal exit code %d after only OK devices" % code)
        log = self.ft.log()
        check("line 1001: 1 scanned, 1 OK, 0 NG, 0 rejected" in log,
              "no summary line: " + log[-500:])
        events = [json.loads(line) for line in open(self.ft.events_file)]
        check(len(events) >= 10 and all(e["line"] == "1001" for e in events),
              "events file: %d events" % len(events))

    def stop(self):
        for d in self.devices.values():
            try:
                d.stop()
            except Failure:
                pass
        for p in (getattr(self, "ft", None), getattr(self, "ct", None), self.ca):
            if p is not None and p.process is not None:
                p.process.kill()
                p.process.wait()


def run_cases(line_class, binaries, wsdl_dir, cases, prepare_cluster=None):
    """A line of line_class on a private PostgreSQL cluster (prepare_cluster(cluster) first, if
    given), set up, then its methods named in cases in turn; 0 if every case passed."""
    work = tempfile.mkdtemp(prefix="certline-line-")
    cluster = pg_private.PrivateCluster()
    line = None
    ok = False
    try:
        cluster.start()
        if prepare_cluster is not None:
            prepare_cluster(cluster)
        line = line_class(binaries, wsdl_dir, work, cluster)
        line.setup()
        for name in cases:
            started = time.monotonic()
            getattr(line, name)()
            print("ok   %-28s %.1f s" % (name, time.monotonic() - started), flush=True)
        ok = True
    except Failure as e:
        print("FAIL", e)
    finally:
        if line is not None:
            line.stop()
        cluster.stop()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("work folder kept:", work)
    return 0 if ok else 1


def main():
    if len(sys.argv) != 7:
        print(__doc__)
        return 2
    binaries = [os.path.abspath(p) for p in sys.argv[1:5]]
    return run_cases(Line, binaries, os.path.abspath(sys.argv[5]),
                     ("blank_board", "scans_to_written", "refused_scan", "device_unreachable",
                      "forced_write_failure", "mislabelled_plate", "comm_terminal_unreachable",
                      "killed_mid_device", "power_cuts", "no_key_in_clear", "finish"))


if __name__ == "__main__":
    sys.exit(main())
