#!/usr/bin/python3
"""test_revocation_day.py: revocation end to end with the real programs (issue 14, item 1): the
real ca-server, comm-terminal, two factory terminals (lines 1001 and 1002) and device-agent, a
private PostgreSQL cluster and mutual TLS on loopback, with short CRL periods.

One device is provisioned on each line; the operator revokes line 1001's service certificate at
ca-server (`revoke SERIAL --reason keyCompromise`); within one CRL period the comm-terminal holds
a CRL that lists it (status --json), which openssl also reads as revoking that certificate. Then
ca-server is stopped: a scan on line 1001 is refused at S5 (the comm-terminal logs the refusal
of that client, the device stays blank), while line 1002 still provisions a device. The
comm-terminal restarted with ca-server still down takes the CRL from its database and still
refuses line 1001.

Usage: test_revocation_day.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_line import Line, check, run_cases, wait_for  # noqa: E402
from certline_procs import FactoryTerminal, free_port, log_size, wait_for_text  # noqa: E402

CRL_PERIOD_S = 10


class RevocationDay(Line):
    UNITS = 6
    LIMITS = {"connect_timeout_s": 2, "recv_timeout_s": 5}
    CT_SETTINGS = {"crl_fetch_s": 1}

    def setup(self):
        self.ca.write_config(self.ca.conninfo, limits=self.LIMITS, crl_period_s=CRL_PERIOD_S,
                             crl_validity_s=25)
        self.FT_SETTINGS = self.line_settings("1001")
        super().setup()
        self.ft2 = FactoryTerminal(self.ft_binary, self.work, "1002", self.root, self.ct.port,
                                   free_port(), limits=self.LIMITS, **self.line_settings("1002"))
        self.ft2.start()

    def line_settings(self, line_id):
        return {"crl_fetch_s": 1, "crl_file": os.path.join(self.work, "line-%s.crl" % line_id)}

    def ct_crl(self):
        return json.loads(self.ct.run("status", "--json").stdout)["crl"]

    def ct_state(self, number):
        return self.cluster.psql("ct", "SELECT state FROM certificate WHERE device_number = '%s'"
                                 % number).strip()

    def published_crl(self):
        """ca-server's CRL file read by openssl: (number, text)."""
        r = subprocess.run(["openssl", "crl", "-in", os.path.join(self.ca.ca_dir, "crl.pem"),
                            "-noout", "-text"], capture_output=True, text=True)
        if r.returncode != 0:
            return None, ""
        number = [l for l in r.stdout.splitlines() if "X509v3 CRL Number" in l]
        after = r.stdout.splitlines()
        value = after[after.index(number[0]) + 1].strip() if number else "0"
        return int(value, 16) if value.startswith("0x") else int(value), r.stdout

    # ---- the cases ----

    def provision_both_lines(self):
        first = wait_for("a CRL at the comm-terminal", lambda: self.ct_crl()["held"] and
                         self.ct_crl())
        check(first["entries"] == 0 and not first["stale"], "first CRL: %r" % first)
        for ft in (self.ft, self.ft2):
            wait_for_text(ft.log_path, "enforcing CRL number", ft.process)
        for number, ft in ((self.number(1), self.ft), (self.number(2), self.ft2)):
            event = self.provision(number, ft=ft)
            check(event["line"] == ft.line_id, "%s on line %s: %r" % (number, ft.line_id, event))
            self.check_in(number)

    def revoke_line_1001(self):
        serial = self.cluster.psql("ca", "SELECT serial FROM service_certificate WHERE role ="
                                   " 'factory-terminal' AND number = '1001'").strip()
        cert = os.path.join(self.work, "svc-line-1001.crt")
        shown = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-serial"],
                               capture_output=True, text=True, check=True).stdout
        check(serial and shown.strip().split("=", 1)[1].upper().lstrip("0") ==
              serial.lstrip("0"), "line 1001's serial %r, its certificate says %r"
              % (serial, shown))
        at = log_size(self.ct.log_path)
        revoked_at = time.monotonic()
        r = self.ca.run("revoke", serial, "--reason", "keyCompromise")
        check(serial in r.stdout + r.stderr, "revoke: " + r.stdout + r.stderr)
        # ca-server publishes a CRL listing it, which openssl reads independently of certline.
        number, text = wait_for("a published CRL listing %s" % serial, lambda: (
            lambda p: p if serial.lstrip("0") in p[1].replace(":", "").upper() and
            "Key Compromise" in p[1] else None)(self.published_crl()))
        # The comm-terminal holds it within one CRL period.
        crl = wait_for("CRL number %d at the comm-terminal" % number, lambda: (
            lambda c: c if c["number"] >= number else None)(self.ct_crl()), timeout=CRL_PERIOD_S)
        self.seconds_to_comm_terminal = time.monotonic() - revoked_at
        check(crl["entries"] >= 1 and not crl["stale"], "CRL at the comm-terminal: %r" % crl)
        self.crl_number = crl["number"]
        issuing = os.path.join(self.ca.ca_dir, "issuing.crt")
        chain = os.path.join(self.work, "chain.pem")
        with open(chain, "w") as f:
            f.write(open(self.root).read() + open(issuing).read())
        r = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile", chain, "-CRLfile",
                            os.path.join(self.ca.ca_dir, "crl.pem"), cert],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check(r.returncode != 0 and "revoked" in r.stdout, "openssl verify -crl_check: "
              + r.stdout)
        # Line 1001 asks the comm-terminal for CRLs every second: its next handshake is refused.
        wait_for_text(self.ct.log_path, "refusing client", self.ct.process, start=at,
                      timeout=CRL_PERIOD_S)
        print("     revoked to held at the comm-terminal: %.1f s"
              % self.seconds_to_comm_terminal, flush=True)

    def refused_with_ca_server_down(self):
        self.ca.stop()
        self.refused_scan_on_1001(self.number(3))
        number = self.number(4)
        event = self.provision(number, ft=self.ft2)
        check(event["line"] == "1002", "line 1002: %r" % event)
        check(self.ct_state(number) == "written", "%s at the comm-terminal: %r"
              % (number, self.ct_state(number)))

    def restart_keeps_crl(self):
        self.ct.stop()
        at = log_size(self.ct.log_path)
        self.ct.start()
        wait_for_text(self.ct.log_path, "CRL number %d installed" % self.crl_number,
                      self.ct.process, start=at)
        check(self.ct_crl()["number"] == self.crl_number, "CRL after the restart: %r"
              % self.ct_crl())
        check(self.ca.process is None, "ca-server is running")
        self.refused_scan_on_1001(self.number(3))
        event = self.provision(self.number(5), ft=self.ft2)
        check(event["line"] == "1002", "line 1002 after the restart: %r" % event)

    def refused_scan_on_1001(self, number):
        """A scan of number on line 1001: refused by the comm-terminal in the handshake (S5),
        the refusal logged naming line 1001 and the CRL, the device left blank."""
        at = log_size(self.ct.log_path)
        d = self.device(number)
        d.serve("--once")
        event = self.scan(number)
        check(event["device_number"] == number and event["result"] != "OK",
              "the revoked line provisioned %s: %r" % (number, event))
        wait_for_text(self.ct.log_path, "by CRL number", self.ct.process, start=at)
        refused = [line for line in self.ct.log()[at:].splitlines() if "refusing client" in line]
        check(refused and all("line-1001.certline.test" in line and "revoked" in line and
                              "by CRL number %d" % self.crl_number in line for line in refused),
              "the comm-terminal's refusals: %r" % refused)
        check("line 1001 asked" not in self.ct.log()[at:], "line 1001 was answered")
        d.stop()
        check(d.show().get("certificate") is None, "%s holds a certificate" % number)
        check(self.ct_state(number) == "stored", "%s at the comm-terminal: %r"
              % (number, self.ct_state(number)))

    def finish(self):
        for ft in (self.ft, self.ft2):
            ft.stop()
        for log in (self.ft.log(), self.ft2.log(), self.ct.log(), self.ca.log()):
            check("Sanitizer" not in log, "a sanitizer report in a log")
        check("refusing" not in self.ft2.log(), "line 1002 refused something")

    def stop(self):
        ft2 = getattr(self, "ft2", None)
        if ft2 is not None and ft2.process is not None:
            ft2.process.kill()
            ft2.process.wait()
        super().stop()


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    binaries = [os.path.abspath(p) for p in sys.argv[1:5]]
    return run_cases(RevocationDay, binaries, os.path.abspath(sys.argv[5]),
                     ("provision_both_lines", "revoke_line_1001", "refused_with_ca_server_down",
                      "restart_keeps_crl", "finish"))


if __name__ == "__main__":
    sys.exit(main())
