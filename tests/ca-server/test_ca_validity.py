#!/usr/bin/python3
"""test_ca_validity.py: validity that nests, and the issuing CA's rollover, with the real ca-server.

The CA is made with a moved clock (Debian's faketime): `init` runs 3400 days in the past, so the
issuing CA (3650 days) has about 250 days left today. Then, checked independently of ca-server's
code (Python's cryptography and `openssl verify -attime` at moments around the old issuing CA's
end, with only the root trusted and the issuing CA given as untrusted):
  - every certificate ca-server issues (service, device-common, device) ends no later than its
    issuer; none verifies one minute after the issuing CA's end;
  - `ca-status`, every operator command that loads the CA, and `serve`'s log warn (fewer than
    issuing_ca_warn_days left), and `issuing_ca_warn_days: 0` silences it;
  - once the issuing CA has ended (moved clock), a batch is refused and nothing is recorded;
  - `rollover` makes a new issuing CA under the same root (capped at the root's end), keeps the
    old one in ca_dir/retired/, switches issuance and the models' common certificates to it;
  - after the rollover, new certificates verify under the new issuing CA past the old one's end,
    and old ones still verify until their (capped) end; over real mutual TLS, ca-server (mbedTLS,
    root only) admits comm-terminals and devices of both issuing CAs, and clients (OpenSSL, root
    only) accept a ca-server certificate of either;
  - the real device-agent (mbedTLS, its firmware's root only) made from a firmware bundle of one
    issuing CA accepts a pack of the other, passes its own checks (`show`) and checks in to
    ca-server serving with a certificate of either;
  - the real comm-terminal (mbedTLS, root only) with a certificate of either issuing CA fetches
    from ca-server serving with a certificate of either, and serves factory terminals with line
    certificates of either;
  - one production line of real programs: a factory terminal with a line certificate of one
    issuing CA provisions a device made from the other's firmware bundle (S5-S13: the device's
    common certificate and the terminal's certificate cross issuing CAs both ways).

Usage: test_ca_validity.py CA_SERVER DEVICE_AGENT COMM_TERMINAL FACTORY_TERMINAL WSDL_DIR
                           SOURCE_DIR
"""
import base64
import datetime
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
from zeep.exceptions import Fault  # noqa: E402

import pg_private  # noqa: E402
from certline_harness import CaServer, Failure, check, moved, open_pack  # noqa: E402
from certline_procs import CommTerminal, DeviceAgent, FactoryTerminal, free_port  # noqa: E402
import soap_peer  # noqa: E402

DAY = 86400
PAST_DAYS = 3400  # init runs this long ago: the issuing CA (3650 days) has ~250 days left


def cert_of(pem):
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


def certs_in(path):
    """Every certificate of a PEM file, in order (cryptography 38, Debian 12's, has no
    load_pem_x509_certificates)."""
    end = "-----END CERTIFICATE-----"
    with open(path) as f:
        blocks = [b + end for b in f.read().split(end) if "-----BEGIN CERTIFICATE-----" in b]
    return [cert_of(b[b.index("-----BEGIN"):]) for b in blocks]


def not_after(cert):
    return int(cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp())


def not_before(cert):
    return int(cert.not_valid_before.replace(tzinfo=datetime.timezone.utc).timestamp())


def write(path, data, mode=0o644):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return path


# No plan here: enter issues on an operator's override, without asking (issue 20).
UNPLANNED = ("--override-reason", "test without a production plan", "--yes")


class Scenario:
    def __init__(self, binary, device_binary, ct_binary, ft_binary, wsdl_dir, work, cluster):
        self.binary = binary
        self.ft_binary = ft_binary
        self.device_binary = device_binary
        self.ct_binary = ct_binary
        self.wsdl_dir = wsdl_dir
        self.cluster = cluster
        self.wsdl = os.path.join(wsdl_dir, "CertificateAuthority.wsdl")
        self.work = work
        self.ca = CaServer(binary, work, cluster.create_db("ca"))
        self.root = os.path.join(self.ca.ca_dir, "root.crt")
        self.verified = []  # (what, moment, expected, got) of every openssl verify

    # ---- running ca-server and openssl ----

    moved = staticmethod(moved)  # argv run with its clock moved (certline_harness)

    def run_at(self, when, *args, expect_ok=True):
        """ca-server ARGS at `when`."""
        r = self.moved(when, [self.binary, "-c", self.ca.config] + list(args))
        if expect_ok != (r.returncode == 0):
            raise Failure("ca-server %s at %s: exit %d: %s%s" % (
                " ".join(args), time.strftime("%Y-%m-%d", time.gmtime(when)), r.returncode,
                r.stdout, r.stderr))
        return r

    def verify(self, what, leaf_pem, untrusted, moment, expected):
        """openssl verify -attime: leaf (PEM) with untrusted (a PEM file of CA certificates)
        and only the root trusted, at moment; expected: True (OK) or False (refused)."""
        leaf = write(os.path.join(self.work, "leaf.pem"), leaf_pem)
        r = subprocess.run(["openssl", "verify", "-attime", str(int(moment)), "-CAfile",
                            self.root, "-untrusted", untrusted, leaf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ok = r.returncode == 0 and r.stdout.strip().endswith("OK")
        why = [line for line in r.stdout.splitlines() if "error" in line and "expired" in line]
        self.verified.append((what, moment, expected, ok, why[0].split(": ", 1)[-1] if why else
                              r.stdout.strip().splitlines()[-1]))
        check(ok == expected, "openssl verify -attime %d %s: expected %s, got %r" % (
            moment, what, "OK" if expected else "a refusal", r.stdout))
        if not expected:
            check("expired" in r.stdout, "%s refused for another reason: %r" % (what, r.stdout))

    def client(self, prefix):
        proxy, _, _ = soap_peer.service(self.wsdl, "https://127.0.0.1:%d/ca" % self.ca.port,
                                        "ca.certline.test", prefix + ".chain.crt",
                                        prefix + ".key", self.root)
        return proxy

    def device_identity(self, number, pack_text, name):
        """A device's TLS identity from its pack: the certificate with the pack's chain, and
        the key opened with the model's pre-write key."""
        pack, cert, key_der = open_pack(pack_text, self.prewrite)
        prefix = os.path.join(self.work, name)
        write(prefix + ".chain.crt", cert.public_bytes(serialization.Encoding.PEM).decode() +
              pack["chain_pem"])
        key = serialization.load_der_private_key(key_der, password=None)
        write(prefix + ".key", key.private_bytes(serialization.Encoding.PEM,
                                                 serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()), 0o600)
        return prefix

    def batch(self, request_id, numbers):
        out = os.path.join(self.work, request_id + ".json")
        self.ca.run("batch", "--out", out, "--request-id", request_id, *numbers)
        items = json.load(open(out))["items"]
        return {item["device_number"]: item["pack"] for item in items}

    # ---- the steps ----

    def setup(self):
        self.t0 = int(time.time()) - PAST_DAYS * DAY
        r = self.run_at(self.t0, "init")
        check("the issuing CA ends at" in r.stdout, "init says when the issuing CA ends: " +
              r.stdout)
        self.old_issuing = cert_of(open(os.path.join(self.ca.ca_dir, "issuing.crt")).read())
        self.root_cert = cert_of(open(self.root).read())
        self.old_end = not_after(self.old_issuing)
        left = (self.old_end - time.time()) / DAY
        check(240 < left < 251, "the issuing CA has %.1f days left" % left)
        check(not_after(self.old_issuing) <= not_after(self.root_cert), "issuing outlives root")
        # A model made years ago: its common certificate (7300 days asked) ends with the CA.
        self.run_at(self.t0 + DAY, "model-add", "3012")
        self.old_bundle = os.path.join(self.work, "3012-old.bundle")
        r = self.ca.run("model-export", "3012", "--out", self.old_bundle)
        check("issuing_ca_warn_days" in r.stderr and "ca-server rollover" in r.stderr,
              "model-export warns the operator on stderr: %r" % r.stderr)
        bundle = json.load(open(self.old_bundle))
        self.prewrite = base64.b64decode(bundle["prewrite_key"])
        common = cert_of(bundle["common_certificate_pem"])
        check(not_after(common) == self.old_end,
              "old common certificate ends %d, issuing CA %d" % (not_after(common), self.old_end))
        # Service certificates of today: 825 days asked, capped at the issuing CA's end.
        for role, name, prefix in (("ca-server", "ca.certline.test", "svc-ca-old"),
                                   ("comm-terminal", "comm.certline.test", "svc-comm-old"),
                                   ("factory-terminal", "line-1001.certline.test", "svc-line-old")):
            number = ["1001"] if role == "factory-terminal" else []
            r = self.ca.run("issue-service", role, name, *number, "--out",
                            os.path.join(self.work, prefix))
            check("ca-server rollover" in r.stderr, "issue-service warns: %r" % r.stderr)
            check("(the issuing CA's end" in r.stdout, "issue-service: capped? " + r.stdout)
            svc = certs_in(os.path.join(self.work, prefix + ".crt"))[0]
            check(not_after(svc) == self.old_end, "%s ends %d, issuer %d" % (
                prefix, not_after(svc), self.old_end))
        # Device certificates (device_validity_days 3650), capped likewise.
        self.old_packs = self.batch("old", ["3012-000001", "3012-000002"])
        for number, pack in self.old_packs.items():
            cert = cert_of(json.loads(pack)["certificate_pem"])
            check(not_after(cert) == self.old_end, "%s ends %d, issuer %d" % (
                number, not_after(cert), self.old_end))
            check(not_before(cert) >= not_before(self.old_issuing), number + " starts early")

    def warnings(self):
        r = self.ca.run("ca-status")
        check("WARNING: the issuing CA ends at" in r.stdout and "ca-server rollover" in r.stdout,
              "ca-status warns: " + r.stdout)
        check("warning" in r.stderr, "ca-status warns on stderr too: %r" % r.stderr)
        status = json.loads(self.ca.run("ca-status", "--json").stdout)
        check(status["issuing_ca"] == "ending" and status["issuing_ca_warn_days"] == 365,
              "ca-status --json: %r" % status)
        # serve's log says it at start-up.
        shutil.copy(os.path.join(self.work, "svc-ca-old.chain.crt"),
                    os.path.join(self.work, "svc-ca.chain.crt"))
        shutil.copy(os.path.join(self.work, "svc-ca-old.key"),
                    os.path.join(self.work, "svc-ca.key"))
        self.ca.start()
        self.ca.stop()
        check("the issuing CA ends at" in self.ca.log() and "issuing_ca_warn_days" in
              self.ca.log(), "serve's log lacks the warning:\n" + self.ca.log()[-2000:])
        # A shorter warning period: no warning.
        conninfo = json.load(open(self.ca.config))["database"]["conninfo"]
        self.ca.write_config(conninfo, issuing_ca_warn_days=200)
        r = self.ca.run("ca-status")
        check("WARNING" not in r.stdout and r.stderr == "", "warned with 200 days: " + r.stdout)
        self.ca.write_config(conninfo)
        # Once the issuing CA has ended: warned as ended, a batch is refused, nothing recorded.
        after = self.old_end + DAY
        r = self.run_at(after, "ca-status")
        check("WARNING: the issuing CA ended at" in r.stdout, "ended: " + r.stdout)
        r = self.run_at(after, "batch", "--out", os.path.join(self.work, "late.json"),
                        "--request-id", "late", "3012-000009", expect_ok=False)
        check("ended" in r.stderr and "rollover" in r.stderr, "late batch: " + r.stderr)
        listed = json.loads(self.ca.run("list", "--device", "3012-000009", "--json").stdout)
        check(listed == [], "a refused batch recorded %r" % listed)
        r = self.run_at(after, "issue-service", "comm-terminal", "late.certline.test", "--out",
                        os.path.join(self.work, "svc-late"), expect_ok=False)
        check(not os.path.exists(os.path.join(self.work, "svc-late.crt")), "late service cert")

    def rollover(self):
        r = self.ca.run("rollover", "--help")
        check("--days" in r.stdout, "rollover --help: " + r.stdout)
        r = self.ca.run("rollover", "--days", "5000")
        check("issuing CA rolled over" in r.stdout and "renewed under the new issuing CA: 1" in
              r.stdout, "rollover: " + r.stdout)
        ca_dir = self.ca.ca_dir
        serial = "%X" % self.old_issuing.serial_number
        serial = serial.zfill(len(serial) + len(serial) % 2)
        for name in ("issuing-%s.crt" % serial, "issuing-%s.key.enc" % serial,
                     "chain-%s.crt" % serial):
            check(os.path.exists(os.path.join(ca_dir, "retired", name)), "retired/" + name)
        retired = certs_in(os.path.join(ca_dir, "retired", "issuing-%s.crt" % serial))[0]
        check(retired == self.old_issuing, "the retired issuing CA is not the old one")
        self.new_issuing = cert_of(open(os.path.join(ca_dir, "issuing.crt")).read())
        self.new_end = not_after(self.new_issuing)
        check(self.new_issuing.subject != self.old_issuing.subject, "same issuing CA name")
        check(self.new_issuing.issuer == self.root_cert.subject, "new CA not under the root")
        check(self.new_end == not_after(self.root_cert),
              "5000 days asked: ends %d, root %d" % (self.new_end, not_after(self.root_cert)))
        chain = certs_in(os.path.join(ca_dir, "chain.crt"))
        check(chain == [self.new_issuing, self.root_cert], "chain.crt is not new issuing + root")
        r = self.ca.run("ca-status")
        check("WARNING" not in r.stdout and r.stdout.count("retired ") == 1,
              "ca-status after rollover: " + r.stdout)
        audit = self.ca.run("audit", "--json").stdout
        check('"rollover"' in audit, "rollover not audited")
        # With the root key's passphrase wrong, nothing changes.
        before = open(os.path.join(ca_dir, "issuing.crt")).read()
        env = dict(os.environ, CERTLINE_CA_PASSPHRASE="wrong passphrase")
        config = json.load(open(self.ca.config))
        config["passphrase_file"] = ""
        other = write(os.path.join(self.work, "wrong.json"), json.dumps(config))
        r = subprocess.run([self.binary, "-c", other, "rollover"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env)
        check(r.returncode != 0 and "root.key.enc" in r.stderr and
              open(os.path.join(ca_dir, "issuing.crt")).read() == before,
              "rollover with a wrong passphrase: %d %r" % (r.returncode, r.stderr))

        # Issuance after the rollover: under the new issuing CA, past the old one's end.
        self.new_packs = self.batch("new", ["3012-000003", "3012-000004", "3012-000005"])
        for number, pack in self.new_packs.items():
            p = json.loads(pack)
            cert = cert_of(p["certificate_pem"])
            check(cert.issuer == self.new_issuing.subject, number + " not from the new CA")
            check(not_after(cert) > self.old_end + 3000 * DAY, number + " still capped")
            check(p["chain_pem"] == open(os.path.join(ca_dir, "chain.crt")).read(),
                  number + ": the pack's chain is not the new one")
        for role, name, prefix in (("ca-server", "ca.certline.test", "svc-ca-new"),
                                   ("comm-terminal", "comm.certline.test", "svc-comm-new"),
                                   ("factory-terminal", "line-1001.certline.test", "svc-line-new")):
            number = ["1001"] if role == "factory-terminal" else []
            self.ca.run("issue-service", role, name, *number, "--out",
                        os.path.join(self.work, prefix))
            chain = certs_in(os.path.join(self.work, prefix + ".chain.crt"))
            check(chain[1] == self.new_issuing, prefix + ".chain.crt lacks the new issuing CA")
        self.new_bundle = os.path.join(self.work, "3012-new.bundle")
        self.ca.run("model-export", "3012", "--out", self.new_bundle)
        old_b, new_b = json.load(open(self.old_bundle)), json.load(open(self.new_bundle))
        check(new_b["prewrite_key"] == old_b["prewrite_key"], "the rollover changed model secrets")
        check(cert_of(new_b["common_certificate_pem"]).issuer == self.new_issuing.subject,
              "the new bundle's common certificate is not from the new CA")

    def openssl_attime(self):
        """openssl verify -attime around the old issuing CA's end, root only trusted."""
        old_chain = os.path.join(self.ca.ca_dir, "retired",
                                 [n for n in os.listdir(os.path.join(self.ca.ca_dir, "retired"))
                                  if n.startswith("chain-")][0])
        new_chain = os.path.join(self.ca.ca_dir, "chain.crt")
        both = write(os.path.join(self.work, "both-issuing.pem"),
                     open(old_chain).read() + open(new_chain).read())
        now = time.time()
        before_end, after_end = self.old_end - 60, self.old_end + 60
        old_b, new_b = json.load(open(self.old_bundle)), json.load(open(self.new_bundle))
        old = [("old device " + n, json.loads(p)["certificate_pem"])
               for n, p in self.old_packs.items()]
        old += [("old " + p, open(os.path.join(self.work, p + ".crt")).read())
                for p in ("svc-ca-old", "svc-comm-old")]
        old.append(("old 3012 common", old_b["common_certificate_pem"]))
        new = [("new device " + n, json.loads(p)["certificate_pem"])
               for n, p in self.new_packs.items()]
        new += [("new " + p, open(os.path.join(self.work, p + ".crt")).read())
                for p in ("svc-ca-new", "svc-comm-new")]
        new.append(("new 3012 common", new_b["common_certificate_pem"]))
        # The issuing CAs themselves under the root.
        self.verify("old issuing CA", open(os.path.join(self.ca.ca_dir, "retired", os.path.basename(
            old_chain).replace("chain-", "issuing-"))).read(), self.root, before_end, True)
        self.verify("old issuing CA", self.old_issuing.public_bytes(
            serialization.Encoding.PEM).decode(), self.root, after_end, False)
        self.verify("new issuing CA", open(os.path.join(self.ca.ca_dir, "issuing.crt")).read(),
                    self.root, after_end, True)
        for what, pem in old:
            # each against its own chain (as packs, chain files and bundles carry it) and
            # against both issuing CAs at once (a verifier shown both)
            for untrusted in (old_chain, both):
                self.verify(what, pem, untrusted, now, True)
                self.verify(what, pem, untrusted, before_end, True)
                self.verify(what, pem, untrusted, after_end, False)
            cert = cert_of(pem)
            check(not_after(cert) <= self.old_end, what + " outlives its issuer")
        for what, pem in new:
            for untrusted in (new_chain, both):
                self.verify(what, pem, untrusted, now, True)
                self.verify(what, pem, untrusted, after_end, True)
            self.verify(what, pem, new_chain, self.new_end + 60, False)
            check(not_after(cert_of(pem)) <= self.new_end, what + " outlives its issuer")

    def devices(self):
        """device-agent images from the old bundle with a new pack, and from the new bundle with
        an old pack: installed, every check of `show` passes; an old pack offered after the old
        issuing CA's end (moved clock) is refused as expired and nothing is written."""
        class Line:  # no factory terminal here: the devices only install and check in
            port, device_port, server_name = 9, 9, "line-1001.certline.test"
        self.agents = []
        for number, bundle, pack in (("3012-000005", self.old_bundle, self.new_packs),
                                     ("3012-000001", self.new_bundle, self.old_packs)):
            d = DeviceAgent(self.device_binary, self.work, number,
                            "02:00:00:00:00:%02d" % int(number[-2:]), Line(), ca_port=None)
            d.mkimage(bundle)
            pack_file = write(os.path.join(d.dir, "pack.json"), pack[number])
            r = d.run("install", pack_file)
            check(r.stdout.startswith("OK " + json.loads(pack[number])["serial"]),
                  "device-agent install of %s: %s%s" % (number, r.stdout, r.stderr))
            r = d.run("show")
            check("all checks pass" in r.stdout, "device-agent show %s: %s" % (number, r.stdout))
            self.agents.append(d)
        d = DeviceAgent(self.device_binary, self.work, "3012-000002", "02:00:00:00:00:02", Line())
        d.mkimage(self.new_bundle)
        pack_file = write(os.path.join(d.dir, "pack.json"), self.old_packs["3012-000002"])
        r = self.moved(self.old_end + 60, [self.device_binary, "-c", d.config, "install",
                                           pack_file])
        check(r.returncode != 0 and "expired" in r.stdout + r.stderr,
              "an expired pack was not refused: %d %s%s" % (r.returncode, r.stdout, r.stderr))
        print("  device-agent install of an old pack at the old issuing CA's end + 60 s: " +
              [line for line in (r.stdout + r.stderr).splitlines() if "expired" in line][0])
        r = d.run("show")
        check("none written yet" in r.stdout, "the refused pack was written: " + r.stdout)

    def live_tls(self):
        """Over mutual TLS during the overlap: ca-server with either service certificate admits
        comm-terminals and devices of both issuing CAs."""
        old_dev = self.device_identity("3012-000001", self.old_packs["3012-000001"], "dev-old")
        new_dev = self.device_identity("3012-000003", self.new_packs["3012-000003"], "dev-new")
        for n, server in enumerate(("svc-ca-old", "svc-ca-new")):
            shutil.copy(os.path.join(self.work, server + ".chain.crt"),
                        os.path.join(self.work, "svc-ca.chain.crt"))
            shutil.copy(os.path.join(self.work, server + ".key"),
                        os.path.join(self.work, "svc-ca.key"))
            self.ca.start()
            try:
                for client in ("svc-comm-old", "svc-comm-new"):
                    number = "3012-%06d" % (10 + 2 * n + (client == "svc-comm-new"))
                    answer = self.client(os.path.join(self.work, client)).\
                        CertificateTransmissionRequest(requestId="live-%s-%s" % (server, client),
                                                       replacement=False, deviceNumber=[number])
                    pack = json.loads(answer.item[0].pack)
                    check(cert_of(pack["certificate_pem"]).issuer == self.new_issuing.subject,
                          "serve issued %s under the old issuing CA" % number)
                for name, prefix, number in (("old", old_dev, "3012-000001"),
                                             ("new", new_dev, "3012-000003")):
                    answer = self.client(prefix).CheckIn(claimedDeviceNumber=number)
                    check(answer.deviceNumber == number and answer.state == "ISSUED",
                          "check-in of the %s device via %s: %r" % (name, server, answer))
                self.comm_terminal(n)
                for d in self.agents:  # the real device-agent: its firmware's root only
                    config = json.load(open(d.config))
                    config["ca_server"] = {"endpoint": "https://127.0.0.1:%d/ca" % self.ca.port,
                                           "server_name": "ca.certline.test"}
                    write(d.config, json.dumps(config))
                    # not reported installed here: exit 3 (not installed), state "issued"
                    r = d.run("check-in", "--json", expect=3)
                    answer = json.loads(r.stdout)
                    check(answer["state"] == "issued" and
                          answer["device_number"] == d.device_number,
                          "device-agent check-in of %s via %s: %s" % (d.device_number, server,
                                                                      r.stdout))
            finally:
                self.ca.stop()

    def use(self, prefix, as_prefix):
        for ext in (".chain.crt", ".key"):
            shutil.copy(os.path.join(self.work, prefix + ext),
                        os.path.join(self.work, as_prefix + ext))

    def comm_terminal(self, phase):
        """The real comm-terminal with either certificate fetches from the running ca-server
        (`enter`); serving with one of them, it gives factory terminals with a line certificate
        of either issuing CA their packs (S5/S6)."""
        if not hasattr(self, "ct"):
            self.ct = CommTerminal(self.ct_binary, self.work, self.cluster.create_db("ct"), self.ca)
            self.ct.run("migrate", operator=False)
            self.ct.run("operator-add", "alice", "--new-password-file", self.ct.password_file,
                        operator=False)
            self.ct.run("model-set", "3012", "--managed")
        config = json.load(open(self.ct.config))
        config["ca_server"]["endpoint"] = "https://127.0.0.1:%d/ca" % self.ca.port
        write(self.ct.config, json.dumps(config))
        entered = []
        for k, prefix in enumerate(("svc-comm-old", "svc-comm-new")):
            number = "3012-%06d" % (30 + 2 * phase + k)
            self.use(prefix, "svc-comm")
            r = self.ct.run("enter", number, *UNPLANNED)
            check("fetched and stored" in r.stdout, "comm-terminal (%s) enter %s: %s%s" % (
                prefix, number, r.stdout, r.stderr))
            print("  comm-terminal with %s fetched %s from ca-server with %s" % (
                prefix, number, ("svc-ca-old", "svc-ca-new")[phase]))
            entered.append(number)
        self.ct.start()
        try:
            for number, line in zip(entered, ("svc-line-old", "svc-line-new")):
                prefix = os.path.join(self.work, line)
                proxy = soap_peer.service(os.path.join(self.wsdl_dir, "CommTerminal.wsdl"),
                                          "https://127.0.0.1:%d/comm-terminal" % self.ct.port,
                                          "comm.certline.test", prefix + ".chain.crt",
                                          prefix + ".key", self.root)[0]
                pack = json.loads(proxy.CertificateTransmissionRequest(deviceNumber=number).pack)
                check(pack["device_number"] == number, "S6 for %s via %s" % (number, line))
                print("  comm-terminal with svc-comm-new served %s to a factory terminal with %s"
                      % (number, line))
        finally:
            self.ct.stop()

    def line(self):
        """Line 1001 with its old certificate provisions a device made from the new bundle, then
        with its new certificate one made from the old bundle."""
        self.use("svc-ca-new", "svc-ca")
        self.ca.start()
        config = json.load(open(self.ct.config))
        config["ca_server"]["endpoint"] = "https://127.0.0.1:%d/ca" % self.ca.port
        write(self.ct.config, json.dumps(config))
        self.ct.start()
        try:
            for k, (line_cert, bundle) in enumerate((("svc-line-old", self.new_bundle),
                                                     ("svc-line-new", self.old_bundle))):
                number = "3012-%06d" % (40 + k)
                self.ct.run("enter", number, *UNPLANNED)
                self.use(line_cert, "svc-line-1001")
                ft = FactoryTerminal(self.ft_binary, self.work, "1001", self.root, self.ct.port,
                                     free_port())
                d = DeviceAgent(self.device_binary, self.work, number, "02:00:00:00:01:%02d" % k,
                                ft)
                d.mkimage(bundle)
                ft.start()
                try:
                    d.serve("--once")
                    ft.scan(number)
                    event = ft.next_event(timeout=90)
                    check(event["device_number"] == number and event["result"] == "OK",
                          "line with %s, device from %s: %r" % (
                              line_cert, os.path.basename(bundle), event))
                    check(d.wait(timeout=60) == 0, number + ": device-agent --once failed")
                finally:
                    d.stop()
                    ft.stop()
                shown = d.show()
                check(shown["ok"] is True, "%s: show after the line: %r" % (number, shown))
                print("  line 1001 with %s provisioned %s, a device made from %s" % (
                    line_cert, number, os.path.basename(bundle)))
        finally:
            self.ct.stop()
            self.ca.stop()

    def rollover_cut_off(self):
        """A rollover cut off while writing its new files (only issuing.key.enc.next there):
        the next one removes the leftover and rolls over afresh; both earlier CAs are kept."""
        ca_dir = self.ca.ca_dir
        leftover = write(os.path.join(ca_dir, "issuing.key.enc.next"), "half-written", 0o600)
        r = self.ca.run("rollover")
        check("issuing CA rolled over" in r.stdout, "rollover after a cut-off: " + r.stdout)
        check(not os.path.exists(leftover), "the leftover .next file is still there")
        third = cert_of(open(os.path.join(ca_dir, "issuing.crt")).read())
        check(third.subject not in (self.new_issuing.subject, self.old_issuing.subject),
              "no new issuing CA")
        status = json.loads(self.ca.run("ca-status", "--json").stdout)
        check([c["role"] for c in status["certificates"]].count("retired") == 2,
              "ca-status after two rollovers: %r" % status)
        packs = self.batch("third", ["3012-000020"])
        check(cert_of(json.loads(packs["3012-000020"])["certificate_pem"]).issuer ==
              third.subject, "issuance did not switch to the third issuing CA")

    def run(self):
        self.setup()
        self.warnings()
        self.rollover()
        self.openssl_attime()
        self.devices()
        self.live_tls()
        self.line()
        self.rollover_cut_off()
        for what, moment, expected, got, line in self.verified:
            print("  attime %s %-34s %-7s %s" % (
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment)), what,
                "OK" if got else "refused", line if not got else ""))


def main():
    if len(sys.argv) != 7:
        sys.exit("usage: test_ca_validity.py CA_SERVER DEVICE_AGENT COMM_TERMINAL "
                 "FACTORY_TERMINAL WSDL_DIR SOURCE_DIR")
    binary, device_binary, ct_binary, ft_binary, wsdl_dir, _ = sys.argv[1:]
    if shutil.which("faketime") is None:
        print("test_ca_validity: FAILED: faketime is not installed (deploy/install-deps.sh)")
        return 1
    cluster = pg_private.PrivateCluster()
    work = tempfile.mkdtemp(prefix="certline-validity-test-")
    scenario = None
    try:
        cluster.start()
        scenario = Scenario(binary, device_binary, ct_binary, ft_binary, wsdl_dir, work,
                            cluster)
        started = time.time()
        scenario.run()
        print("test_ca_validity: all checks passed in %.1f s (%d openssl verify -attime)" % (
            time.time() - started, len(scenario.verified)))
        return 0
    except (Failure, subprocess.CalledProcessError, Fault, OSError, RuntimeError,
            ValueError) as exc:
        print("test_ca_validity: FAILED: %s" % exc)
        if scenario is not None and os.path.exists(scenario.ca.log_path):
            print("---- ca-server log (tail) ----\n" + scenario.ca.log()[-4000:])
        return 1
    finally:
        if scenario is not None and scenario.ca.process is not None:
            scenario.ca.process.kill()
        if scenario is not None and getattr(scenario, "ct", None) is not None and \
                scenario.ct.process is not None:
            scenario.ct.process.kill()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
