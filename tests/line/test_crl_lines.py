#!/usr/bin/python3
"""test_crl_lines.py: revocation on the factory side, with the real comm-terminal and
factory-terminal processes, a private PostgreSQL, mutual TLS on loopback and ca-server away
throughout (its endpoint is a port nothing listens on). CRLs are made by tests/pki/crl_tool with
the test PKI's issuing CA (tests/pki/make-test-pki.sh) and given to the comm-terminal the way an
air-gapped site does (`comm-terminal crl-import`).

Covers: a CRL from another CA and an older CRL refused by crl-import; `status` (text and --json)
showing the CRL held and its policies; a revoked factory terminal refused in the comm-terminal's
handshake (a clear log line, its scan not provisioned) while another line talks to the
comm-terminal; the CRL kept across a comm-terminal restart; a line getting each newer CRL from
the comm-terminal (ct:RevocationList), refusing a revoked device at its line server (S10) while a
device not listed is served, and refusing a revoked comm-terminal; its CRL kept in crl_file and
enforced after a restart with nothing to fetch it from; a stale CRL under warn (lines work, status
says STALE) and under refuse (lines refused, with the reason logged); and the comm-terminal's
fetch from ca-server (ca:RevocationList), answered by a small stand-in with the test PKI's
ca-server certificate: a CRL of 3001 entries (over a small limits.max_message_bytes) installed
and kept, one over a small crl_max_bytes refused with an error naming the key, then a CRL
listing that ca-server certificate makes the comm-terminal refuse it in the next handshake; device-agent's optional crl_file checked
by -n (a CRL from another CA refused).

Usage: test_crl_lines.py COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT CRL_TOOL SOURCE_DIR
"""
import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

import pg_private  # noqa: E402
import raw_peer  # noqa: E402
from certline_procs import (CommTerminal, FactoryTerminal, Failure, check,  # noqa: E402
                            free_port, log_size, wait_for_text)


class CaAway:
    """What CommTerminal needs of a ca-server: the root and a port where nothing listens."""

    def __init__(self, work, pki):
        self.ca_dir = os.path.join(work, "ca")
        os.makedirs(self.ca_dir)
        shutil.copy(os.path.join(pki, "trust.crt"), os.path.join(self.ca_dir, "root.crt"))
        self.port = free_port()


class CaStandIn:
    """Answers ca:RevocationList over mutual TLS as ca-server would, one request per connection,
    with the CRL (PEM file) set in self.crl_path."""

    def __init__(self, pki, port):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(os.path.join(pki, "ca-server.chain.crt"),
                                     os.path.join(pki, "ca-server.key"))
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.load_verify_locations(os.path.join(pki, "trust.crt"))
        self.sock = socket.create_server(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.crl_path = None
        self.answered = 0
        self.problem = None  # the last connection that failed, for the failure message
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def answer(self):
        with open(self.crl_path) as f:
            pem = f.read()
        der = base64.b64decode("".join(l for l in pem.splitlines() if "-----" not in l))
        out = subprocess.run(["openssl", "crl", "-in", self.crl_path, "-noout", "-crlnumber"],
                             capture_output=True, text=True, check=True).stdout
        number = int(out.strip().split("=", 1)[1], 16)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV='
                '"http://www.w3.org/2003/05/soap-envelope" xmlns:ca="urn:certline:ca:1">'
                "<SOAP-ENV:Body><ca:RevocationListResponse><ca:number>%d</ca:number>"
                "<ca:thisUpdate>%s</ca:thisUpdate><ca:nextUpdate>%s</ca:nextUpdate>"
                "<ca:crl>%s</ca:crl></ca:RevocationListResponse></SOAP-ENV:Body>"
                "</SOAP-ENV:Envelope>" % (number, when, when,
                                          base64.b64encode(der).decode())).encode()
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml; charset=utf-8\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)) + body

    @staticmethod
    def more(tls):
        chunk = tls.recv(65536)
        if not chunk:
            raise EOFError("the comm-terminal closed the connection before its request ended")
        return chunk

    def serve(self):
        while not self.stopping:
            try:
                raw, _ = self.sock.accept()
            except socket.timeout:
                continue
            try:
                raw.settimeout(30)  # a loaded machine makes sanitized handshakes slow
                with self.context.wrap_socket(raw, server_side=True) as tls:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += self.more(tls)
                    head, body = data.split(b"\r\n\r\n", 1)
                    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
                              if l.lower().startswith(b"content-length:")][0]
                    while len(body) < length:
                        body += self.more(tls)
                    tls.sendall(self.answer())
                    self.answered += 1
            except (OSError, ssl.SSLError, IndexError, ValueError, EOFError) as e:
                self.problem = repr(e)
                raw.close()

    def stop(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()


class Site:
    def __init__(self, ct_binary, ft_binary, crl_tool, source, work, cluster):
        self.ft_binary, self.crl_tool, self.work = ft_binary, crl_tool, work
        self.pki = os.path.join(work, "pki")
        subprocess.run(["bash", os.path.join(source, "tests", "pki", "make-test-pki.sh"),
                        self.pki], check=True, stdout=subprocess.DEVNULL)
        # The service certificates under the names the process helpers use.
        for pki_name, svc in (("comm-terminal", "svc-comm"),
                              ("factory-terminal-1001", "svc-line-1001"),
                              ("factory-terminal-1002", "svc-line-1002")):
            shutil.copy(os.path.join(self.pki, pki_name + ".chain.crt"),
                        os.path.join(work, svc + ".chain.crt"))
            shutil.copy(os.path.join(self.pki, pki_name + ".key"),
                        os.path.join(work, svc + ".key"))
        self.ca = CaAway(work, self.pki)
        self.ct = CommTerminal(ct_binary, work, cluster.create_db("ct"), self.ca, crl_fetch_s=1)
        self.ct.migrate()
        self.lines = {}

    def serial(self, name):
        out = subprocess.run(["openssl", "x509", "-in", os.path.join(self.pki, name + ".crt"),
                              "-noout", "-serial"], check=True, capture_output=True, text=True)
        return out.stdout.strip().split("=", 1)[1]

    def crl(self, number, validity, *names, ca="issuing", filler=0):
        """A CRL listing the certificates names, and filler more serials of nothing issued."""
        path = os.path.join(self.work, "crl-%d-%s.pem" % (number, ca))
        entries = ["%s:keyCompromise" % self.serial(n) for n in names]
        entries += ["7E%08X:cessationOfOperation" % i for i in range(filler)]
        subprocess.run([self.crl_tool, "make", os.path.join(self.pki, ca + ".crt"),
                        os.path.join(self.pki, ca + ".key"), str(number), validity, path] +
                       entries, check=True, capture_output=True)
        return path

    def line(self, line_id, **settings):
        if line_id not in self.lines:
            settings.setdefault("crl_fetch_s", 1)
            settings.setdefault("crl_file", os.path.join(self.work, "line-%s.crl" % line_id))
            self.lines[line_id] = FactoryTerminal(self.ft_binary, self.work, line_id,
                                                  os.path.join(self.pki, "trust.crt"),
                                                  self.ct.port, free_port(), **settings)
        return self.lines[line_id]

    def set_ct_policy(self, stale):
        self.set_ct_config("crl_stale_policy", stale)

    def set_ct_config(self, key, value):
        """key set to value in the comm-terminal's configuration (None: removed)."""
        with open(self.ct.config) as f:
            config = json.load(f)
        config[key] = value
        if value is None:
            del config[key]
        with open(self.ct.config, "w") as f:
            json.dump(config, f)

    def status(self):
        return json.loads(self.ct.run("status", "--json").stdout)["crl"]

    def device_hello(self, line, device):
        """A device's TLS connection to the line server (S10's), with a bare POST: the bytes the
        line server answered (none if it refused the handshake)."""
        return raw_peer.exchange(line.port, line.server_name,
                                 os.path.join(self.pki, device + ".chain.crt"),
                                 os.path.join(self.pki, device + ".key"),
                                 os.path.join(self.pki, "trust.crt"),
                                 raw_peer.post("/line", "line", b"<x/>"), timeout=10)

    def stop(self):
        for line in self.lines.values():
            line.stop()
        self.ct.stop()
        for log in [line.log_path for line in self.lines.values()] + [self.ct.log_path]:
            with open(log, errors="replace") as f:
                check("Sanitizer" not in f.read(), "a sanitizer report in " + log)


def test_import_and_status(site):
    ct = site.ct
    r = ct.run("status")
    check("CRL: none held (crl_missing_policy allow" in r.stdout, "status without CRL: " + r.stdout)
    forged = site.crl(1, "7", "factory-terminal-1001", ca="other-root")
    r = ct.run("crl-import", forged, expect_ok=False)
    check(r.returncode == 1 and "not imported" in r.stderr,
          "a CRL from another CA is refused: " + r.stderr)
    r = ct.run("crl-import", site.crl(2, "7", "factory-terminal-1001"))
    check("CRL number 2 imported" in r.stdout, "crl-import: " + r.stdout + r.stderr)
    r = ct.run("crl-import", site.crl(1, "7"), expect_ok=False)
    check(r.returncode == 1 and "not imported" in r.stderr, "an older CRL is refused: " + r.stderr)
    r = ct.run("status")
    check("CRL: number 2," in r.stdout and "1 entry, current" in r.stdout and
          "crl_stale_policy warn" in r.stdout, "status: " + r.stdout)
    crl = site.status()
    check(crl["held"] and crl["number"] == 2 and crl["entries"] == 1 and not crl["stale"] and
          crl["stale_policy"] == "warn" and crl["missing_policy"] == "allow",
          "status --json: %r" % crl)


def test_revoked_line_refused(site):
    ct = site.ct
    ct.start()
    good, revoked = site.line("1002"), site.line("1001")
    good.start()
    wait_for_text(good.log_path, "enforcing CRL number 2", good.process)
    at = log_size(ct.log_path)
    revoked.start()
    wait_for_text(ct.log_path, "refusing client", ct.process, start=at)
    refused = ct.log()[at:]
    check("line-1001.certline.test" in refused and "revoked" in refused and
          "by CRL number 2" in refused, "the comm-terminal names the revoked line: " + refused)
    revoked.scan("3012-000001")
    event = revoked.next_event(timeout=30)
    check(event["result"] != "OK", "the revoked line got no pack: %r" % event)
    # The other line still talks to the comm-terminal (it answers: no pack for that number).
    at = log_size(ct.log_path)
    good.scan("3012-000002")
    event = good.next_event(timeout=30)
    check(event["result"] != "OK", "no pack is held for 3012-000002: %r" % event)
    wait_for_text(ct.log_path, "line 1002 asked for 3012-000002", ct.process, start=at)
    check("CN=line-1002" not in ct.log()[at:], "line 1002 was not refused")


def test_restart_keeps_crl(site):
    ct = site.ct
    ct.stop()
    at = log_size(ct.log_path)
    ct.start()
    wait_for_text(ct.log_path, "CRL number 2 installed", ct.process, start=at)
    site.lines["1001"].scan("3012-000001")
    event = site.lines["1001"].next_event(timeout=30)
    check(event["result"] != "OK", "after a restart the revoked line is still refused")
    wait_for_text(ct.log_path, "by CRL number 2", ct.process, start=at)
    site.lines["1001"].stop()


def test_line_refuses_revoked_device(site):
    ct, line = site.ct, site.lines["1002"]
    at = log_size(line.log_path)
    ct.run("crl-import", site.crl(3, "7", "factory-terminal-1001", "device-3012-000001"))
    wait_for_text(line.log_path, "enforcing CRL number 3", line.process, start=at)
    at = log_size(line.log_path)
    answer = site.device_hello(line, "device-3012-000001")
    check(answer == b"", "the revoked device got an answer: %r" % answer[:200])
    wait_for_text(line.log_path, "3012-000001", line.process, start=at)
    check("revoked" in line.log()[at:], "the line logs the revoked device: " + line.log()[at:])
    answer = site.device_hello(line, "device-common-3012")
    check(answer.startswith(b"HTTP/1.1"), "a device not listed is answered: %r" % answer[:200])


def test_stale(site):
    ct, line = site.ct, site.lines["1002"]
    at = log_size(line.log_path)
    ct.run("crl-import", site.crl(4, "30s", "factory-terminal-1001", "device-3012-000001"))
    wait_for_text(line.log_path, "enforcing CRL number 4", line.process, start=at)
    crl = site.status()
    check(crl["number"] == 4 and crl["stale"], "status --json shows the stale CRL: %r" % crl)
    r = ct.run("status")
    check("STALE (enforced, warning)" in r.stdout, "status shows STALE: " + r.stdout)
    at = log_size(ct.log_path)
    line.scan("3012-000003")
    line.next_event(timeout=30)
    wait_for_text(ct.log_path, "line 1002 asked for 3012-000003", ct.process, start=at)
    check("past its next update" in ct.log(), "the comm-terminal warns of the stale CRL")

    ct.stop()
    site.set_ct_policy("refuse")
    r = ct.run("status")
    check("STALE (every peer refused)" in r.stdout and "crl_stale_policy refuse" in r.stdout,
          "status under refuse: " + r.stdout)
    at = log_size(ct.log_path)
    ct.start()
    line.scan("3012-000004")
    event = line.next_event(timeout=30)
    check(event["result"] != "OK", "a stale CRL under refuse stops the line: %r" % event)
    wait_for_text(ct.log_path, "refuses peers until a newer CRL is installed", ct.process,
                  start=at)
    check("asked for 3012-000004" not in ct.log()[at:], "no S5 got through")
    ct.stop()
    site.set_ct_policy("warn")
    ct.start()


def test_line_refuses_revoked_comm_terminal(site):
    ct, line = site.ct, site.lines["1002"]
    at = log_size(line.log_path)
    ct.run("crl-import", site.crl(5, "7", "factory-terminal-1001", "comm-terminal"))
    wait_for_text(line.log_path, "enforcing CRL number 5", line.process, start=at)
    wait_for_text(line.log_path, "refusing server comm.certline.test", line.process, start=at)
    out = subprocess.run(["openssl", "crl", "-inform", "DER", "-in",
                          os.path.join(site.work, "line-1002.crl"), "-noout", "-crlnumber"],
                         capture_output=True, text=True)
    check("crlNumber=0x05" in out.stdout or "crlNumber=5" in out.stdout,
          "crl_file holds CRL number 5: " + out.stdout + out.stderr)
    # Restarted with nothing to fetch from (the comm-terminal is revoked): the kept CRL applies.
    line.stop()
    at = log_size(line.log_path)
    line.start()
    wait_for_text(line.log_path, "enforcing CRL number 5", line.process, start=at)
    check("line-1002.crl" in line.log()[at:], "from the file: " + line.log()[at:])
    line.scan("3012-000005")
    event = line.next_event(timeout=30)
    check(event["result"] != "OK", "the revoked comm-terminal is refused: %r" % event)


def test_fetch_from_ca_server(site):
    ct = site.ct
    # 3001 entries: about 190 KB of base64, over a limits.max_message_bytes of 64 KiB;
    # crl_max_bytes (default 16 MiB) bounds the ca:RevocationList answer instead.
    site.set_ct_config("limits", {"connect_timeout_s": 2, "recv_timeout_s": 10,
                                  "max_message_bytes": 65536})
    ct.stop()
    at = log_size(ct.log_path)
    ct.start()
    big, bigger = (site.crl(n, "7", "factory-terminal-1001", filler=3000) for n in (6, 7))
    stand_in = CaStandIn(site.pki, site.ca.port)
    try:
        stand_in.crl_path = big
        try:
            wait_for_text(ct.log_path, "CRL number 6 installed", ct.process, timeout=60, start=at)
        except Failure as e:
            raise Failure("%s (stand-in: %s)" % (e, stand_in.problem))
        crl = site.status()
        check(crl["number"] == 6 and crl["entries"] == 3001, "kept from ca-server: %r" % crl)
        # A CRL over crl_max_bytes is refused with an error naming the key; the last one stays.
        site.set_ct_config("crl_max_bytes", 65536)
        ct.stop()
        at = log_size(ct.log_path)
        ct.start()
        stand_in.crl_path = bigger
        wait_for_text(ct.log_path, "larger than crl_max_bytes (65536 bytes)", ct.process,
                      timeout=60, start=at)
        check(site.status()["number"] == 6, "a CRL over crl_max_bytes installed")
        site.set_ct_config("crl_max_bytes", None)
        ct.stop()
        at = log_size(ct.log_path)
        ct.start()
        stand_in.crl_path = site.crl(8, "7", "factory-terminal-1001", "ca-server")
        wait_for_text(ct.log_path, "CRL number 8 installed", ct.process, timeout=60, start=at)
        wait_for_text(ct.log_path, "refusing server ca.certline.test", ct.process, timeout=60,
                      start=at)
        check("revoked" in ct.log()[at:], "the comm-terminal names the revoked ca-server")
    finally:
        stand_in.stop()


def test_device_crl_file(site, da_binary):
    config = os.path.join(site.work, "device-agent.json")
    for crl, ok in ((site.crl(8, "7", "factory-terminal-1001"), True),
                    (site.crl(9, "7", "factory-terminal-1001", ca="other-root"), False)):
        with open(config, "w") as f:
            json.dump({"flash_image": os.path.join(site.work, "board.flash"),
                       "nvram_image": os.path.join(site.work, "board.nvram"),
                       "crl_file": crl, "crl_ca_file": os.path.join(site.pki, "ca-bundle.crt")},
                      f)
        r = subprocess.run([da_binary, "-c", config, "-n"], capture_output=True, text=True)
        if ok:
            check(r.returncode == 0, "device-agent -n with a good crl_file: " + r.stdout + r.stderr)
        else:
            check(r.returncode != 0 and "crl_file" in r.stderr,
                  "device-agent -n refuses a CRL from another CA: " + r.stdout + r.stderr)


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    ct_binary, ft_binary, da_binary, crl_tool, source = sys.argv[1:6]
    work = tempfile.mkdtemp(prefix="certline-crl-lines-")
    cluster = pg_private.PrivateCluster().start()
    site = None
    code = 1
    try:
        site = Site(ct_binary, ft_binary, crl_tool, source, work, cluster)
        for test in (test_import_and_status, test_revoked_line_refused, test_restart_keeps_crl,
                     test_line_refuses_revoked_device, test_stale,
                     test_line_refuses_revoked_comm_terminal, test_fetch_from_ca_server):
            started = time.monotonic()
            test(site)
            print("ok: %s (%.1f s)" % (test.__name__, time.monotonic() - started))
        test_device_crl_file(site, da_binary)
        print("ok: test_device_crl_file")
        code = 0
    except (Failure, AssertionError, subprocess.SubprocessError) as e:
        print("FAIL: %s (work folder kept: %s)" % (e, work))
    finally:
        if site is not None:
            try:
                site.stop()
            except Failure as e:
                print("FAIL on stop: %s" % e)
                code = 1
        cluster.stop()
    if code == 0:
        shutil.rmtree(work, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
