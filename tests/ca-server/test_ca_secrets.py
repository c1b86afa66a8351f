#!/usr/bin/python3
"""test_ca_secrets.py: what a running ca-server keeps of its secrets, and who its audit log names
(issue 15), with the real binary, a private PostgreSQL and real mutual TLS.

- `serve` started with CERTLINE_CA_PASSPHRASE: the passphrase is neither in /proc/PID/environ
  nor anywhere in the process's memory once it listens; packs of a model made before the start
  are issued (its pre-write key was cached while the passphrase was at hand); a model added
  after the start is refused with a message saying why (the passphrase is gone);
- `serve` with passphrase_file: the passphrase is not in its memory either, and a model added
  after the start is served (the file is read again for it, then wiped);
- the audit actor is the real uid's login; SUDO_USER, which anyone can set, is only an added
  claim beside it.

Usage: test_ca_secrets.py CA_SERVER_BINARY WSDL_DIR
"""
import base64
import json
import os
import pwd
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

from zeep.exceptions import Fault  # noqa: E402

from certline_harness import PASSPHRASE, CaServer, check, open_pack, run_scenario  # noqa: E402
import soap_peer  # noqa: E402

ENV = "CERTLINE_CA_PASSPHRASE"


def memory_holding(pid, secret, sanitizer_copy=False):
    """The mappings of process pid whose readable memory holds secret (regions over 1 GiB, the
    sanitizers' reserved shadow, are skipped). sanitizer_copy: a sanitized binary's runtime reads
    /proc/self/environ into its own buffer before main runs; an occurrence there, right after
    "CERTLINE_CA_PASSPHRASE=", is that copy, which no release build has, and is not counted."""
    found = []
    prefix = (ENV + "=").encode()
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            parts = line.split()
            start, end = (int(x, 16) for x in parts[0].split("-"))
            name = parts[5] if len(parts) > 5 else ""
            if "r" not in parts[1] or end - start > (1 << 30) or name in ("[vvar]",
                                                                           "[vsyscall]"):
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            at = data.find(secret)
            while at >= 0:
                if not (sanitizer_copy and data[max(0, at - len(prefix)):at] == prefix):
                    found.append("%s at +%#x: %r" % (line.strip(), at,
                                                     data[max(0, at - 48):at + len(secret) + 16]))
                at = data.find(secret, at + 1)
    return found


class Scenario:
    def __init__(self, binary, wsdl_dir, work, cluster):
        self.binary = binary
        self.wsdl = os.path.join(wsdl_dir, "CertificateAuthority.wsdl")
        self.work = work
        self.ca = CaServer(binary, work, cluster.create_db("ca"))
        self.prewrite = {}
        with open(binary, "rb") as f:
            self.sanitized = b"__asan_init" in f.read()

    def cli(self, *args, **env):
        """ca-server with the environment plus env (a None value removes the variable)."""
        full = dict(os.environ)
        for name, value in env.items():
            full.pop(name, None)
            if value is not None:
                full[name] = value
        r = subprocess.run([self.binary, "-c", self.ca.config] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=full, timeout=300)
        check(r.returncode == 0, "ca-server %s: %d %s" % (" ".join(args), r.returncode, r.stderr))
        return r

    def model(self, code, **env):
        self.cli("model-add", code, **env)
        bundle = os.path.join(self.work, code + ".bundle")
        self.cli("model-export", code, "--out", bundle, **env)
        self.prewrite[code] = base64.b64decode(json.load(open(bundle))["prewrite_key"])

    def packs(self, request_id, number):
        proxy, _, _ = soap_peer.service(self.wsdl, "https://127.0.0.1:%d/ca" % self.ca.port,
                                        "ca.certline.test",
                                        os.path.join(self.work, "svc-comm.chain.crt"),
                                        os.path.join(self.work, "svc-comm.key"),
                                        os.path.join(self.ca.ca_dir, "root.crt"))
        answer = proxy.CertificateTransmissionRequest(requestId=request_id, replacement=False,
                                                      deviceNumber=[number])
        check(len(answer.item) == 1, "%s: %d packs" % (request_id, len(answer.item)))
        pack, _, _ = open_pack(answer.item[0].pack, self.prewrite[number.split("-")[0]])
        check(pack["device_number"] == number,
              "%s: pack of %s" % (request_id, pack["device_number"]))

    def no_passphrase_kept(self, what):
        pid = self.ca.process.pid
        with open("/proc/%d/environ" % pid, "rb") as f:
            environ = f.read()
        check(PASSPHRASE.encode() not in environ, what + ": the passphrase in /proc/PID/environ")
        values = [e for e in environ.split(b"\0") if e.startswith(ENV.encode() + b"=")]
        check(values in ([], [ENV.encode() + b"="]),
              what + ": %s has a value in /proc/PID/environ" % ENV)
        held = memory_holding(pid, PASSPHRASE.encode(), self.sanitized)
        check(not held, what + ": the passphrase in memory at %r" % held)

    def audit_actor(self):
        login = pwd.getpwuid(os.getuid()).pw_name
        self.cli("model-export", "3012", "--out", os.path.join(self.work, "a.bundle"),
                 SUDO_USER="mallory")
        self.cli("model-export", "3012", "--out", os.path.join(self.work, "b.bundle"),
                 SUDO_USER=None)
        audit = json.loads(self.cli("audit", "--json").stdout)
        actors = [row["actor"] for row in audit if row["action"] == "model-export"]
        check("operator:%s (sudo: mallory)" % login in actors,
              "the sudo claim is not beside the real login: %r" % actors)
        check("operator:%s" % login in actors, "the real login alone: %r" % actors)
        check("operator:mallory" not in actors, "SUDO_USER taken as the actor: %r" % actors)

    def env_passphrase(self):
        self.ca.write_config(self.ca.conninfo, passphrase_file="")
        os.environ[ENV] = PASSPHRASE
        try:
            self.ca.start()
        finally:
            del os.environ[ENV]
        try:
            self.no_passphrase_kept("serve with %s" % ENV)
            self.packs("env-1", "3012-000001")
            self.model("3013", **{ENV: PASSPHRASE})
            try:
                self.packs("env-2", "3013-000001")
                check(False, "a model added after the start was served without its passphrase")
            except Fault:
                pass
            check("the passphrase came from the environment and was wiped" in self.ca.log(),
                  "the log does not say why model 3013 was refused")
        finally:
            self.ca.stop()

    def file_passphrase(self):
        self.ca.write_config(self.ca.conninfo)
        self.ca.start()
        try:
            self.no_passphrase_kept("serve with passphrase_file")
            self.packs("file-1", "3013-000002")  # another number: env-2 holds the first
            self.model("3014")
            self.packs("file-2", "3014-000001")  # opened with the file read again
            self.no_passphrase_kept("serve after reading passphrase_file again")
        finally:
            self.ca.stop()

    def run(self):
        self.ca.issue_services([])
        self.model("3012")
        self.audit_actor()
        self.env_passphrase()
        self.file_passphrase()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: test_ca_secrets.py CA_SERVER WSDL_DIR")
    binary, wsdl_dir = sys.argv[1:]
    return run_scenario("test_ca_secrets",
                           lambda work, cluster: Scenario(binary, wsdl_dir, work, cluster),
                           (Fault,))


if __name__ == "__main__":
    sys.exit(main())
