#!/usr/bin/python3
"""test_ca_console.py: ca-server's console for CA operators in a real browser (Debian's chromium,
headless, driven by playwright-core from npm) against a running line: the real ca-server,
comm-terminal (its day's packs fetched: real certificates issued to a factory), factory-terminal
and device-agent, a private PostgreSQL; two devices provisioned (installed, receipts signed).

Covers (ca_console_browser.js): an unauthenticated page refused, a wrong password, lockout
after 5 failures, login and the session cookie's attributes, every page (a screenshot of each
under SHOTS_DIR), a certificate search and a detail, a revocation with a reason confirmed on its
own form, a form posted without its CSRF token (and with a wrong one) refused, the session cookie
refused after logout. Here: the CA operator commands (a password from standard input and from a
file, disable), the revoked certificate in the database and in ca-server's CRL (openssl crl
-text, with its reason), a disabled operator refused at login (HTTP, no browser), and every
console action in the audit log under console:LOGIN.

Usage: test_ca_console.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR NODE_DIR
       SHOTS_DIR
"""
import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "line"))

from test_console import CHROMIUM, node_modules  # noqa: E402
from test_line import TODAY, Line, check, run_cases, wait_for  # noqa: E402
from certline_procs import free_port  # noqa: E402

CAROL_PASSWORD = "ca operator secret 1"
DAVE_PASSWORD = "ca viewer secret 12"


class CaConsoleLine(Line):
    UNITS = 4
    node_dir = shots_dir = None

    def setup(self):
        self.console_port = free_port()
        self.ca.write_config(self.ca.conninfo, limits=self.LIMITS,
                             console={"host": "127.0.0.1", "port": self.console_port,
                                      "session_minutes": 15})
        super().setup()
        self.url = "https://127.0.0.1:%d" % self.console_port

    def sql(self, query):
        return self.cluster.psql("ca", query).strip()

    def operators(self):
        """CA operators: carol's password from standard input, dave's from a file; a short
        password and a taken login refused."""
        r = subprocess.run([self.ca_binary, "-c", self.ca.config, "operator-add", "carol",
                            "--password-stdin"], input=CAROL_PASSWORD + "\n", text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        check(r.returncode == 0 and "carol added (operator)" in r.stdout, "operator-add: %r" % (
            r.stdout + r.stderr))
        path = os.path.join(self.work, "dave-password")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(DAVE_PASSWORD + "\n")
        self.ca.run("operator-add", "dave", "--role", "viewer", "--password-file", path)
        self.ca.run("operator-add", "carol", "--password-file", path, expect_ok=False)
        r = subprocess.run([self.ca_binary, "-c", self.ca.config, "operator-add", "erin",
                            "--password-stdin"], input="short\n", text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        check(r.returncode != 0, "a 5-byte password was taken")
        check(self.sql("SELECT login || ' ' || role FROM ca_operator ORDER BY login") ==
              "carol operator\ndave viewer", "ca_operator rows")
        check(CAROL_PASSWORD.encode().hex() not in self.sql(
            "SELECT encode(hash, 'hex') || encode(salt, 'hex') FROM ca_operator"),
            "a password in clear")

    def line_day(self):
        for n in (1, 2):
            self.provision(self.number(n))
        wait_for("2 installed", lambda: self.sql(
            "SELECT count(*) FROM certificate WHERE state = 'installed'") == "2", timeout=60)
        self.revoked = self.sql("SELECT serial FROM certificate WHERE device_number = '%s'"
                                " AND state = 'installed'" % self.number(1))
        self.factory = self.sql("SELECT factory FROM device_owner WHERE device_number = '%s'" %
                                self.number(1))
        check(self.revoked and self.factory, "no installed certificate with a factory")

    def browser(self):
        os.makedirs(self.shots_dir, exist_ok=True)
        settings = {
            "url": self.url, "chromium": CHROMIUM, "shots": self.shots_dir,
            "out": os.path.join(self.work, "ca-browser-out.json"), "today": TODAY,
            "operator": "carol", "password": CAROL_PASSWORD,
            "locked_operator": "dave", "locked_password": DAVE_PASSWORD,
            "number": self.number(1), "serial": self.revoked, "factory": self.factory,
        }
        settings_path = os.path.join(self.work, "ca-browser.json")
        with open(settings_path, "w") as f:
            json.dump(settings, f)
        modules = node_modules(self.node_dir)
        r = subprocess.run(["node", os.path.join(HERE, "ca_console_browser.js"), settings_path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=600, env=dict(os.environ, NODE_PATH=modules))
        print(r.stdout, end="")
        with open(settings["out"]) as f:
            self.seen = json.load(f)
        check(r.returncode == 0 and self.seen.get("ok"), "the browser test failed")
        for name in ("01-login", "04-issuance", "05-models", "06-certificates",
                     "07-certificates-search", "08-certificate", "09-audit-log",
                     "10-revoke-confirm", "11-revoked"):
            shot = os.path.join(self.shots_dir, name + ".png")
            check(os.path.getsize(shot) > 5000, "screenshot %s" % shot)

    def revoked_in_crl(self):
        check(self.sql("SELECT state || ' ' || reason_code || ' ' || reason FROM certificate"
                       " WHERE serial = '%s'" % self.revoked) ==
              "revoked 1 key found in the field", "the certificate's row after revocation")
        crl = os.path.join(self.ca.ca_dir, "crl.pem")

        def listed():
            r = subprocess.run(["openssl", "crl", "-in", crl, "-text", "-noout"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            m = re.search(r"Serial Number: %s\s+Revocation Date: [^\n]+\n\s+CRL entry "
                          r"extensions:\n\s+X509v3 CRL Reason Code:\s+\n?\s*Key Compromise" %
                          self.revoked, r.stdout)
            return m is not None
        wait_for("the revoked serial with its reason in the CRL", listed, timeout=30)

    def http_refusals(self):
        """Without the browser: a disabled operator cannot log in; no session, no page."""
        self.ca.run("operator-disable", "carol")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", self.console_port, context=context,
                                           timeout=30)
        conn.request("GET", "/certificates")
        r = conn.getresponse()
        r.read()
        check(r.status == 303 and r.getheader("Location") == "/login", "no session: %d" % r.status)
        conn.request("GET", "/login")
        r = conn.getresponse()
        page = r.read().decode()
        token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
        check("__Host-certline-ca-login=" + token in r.getheader("Set-Cookie"), "login cookie")
        body = "csrf=%s&operator=carol&password=%s" % (token, CAROL_PASSWORD.replace(" ", "+"))
        conn.request("POST", "/login", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "__Host-certline-ca-login=" + token})
        r = conn.getresponse()
        r.read()
        check(r.status == 403, "a disabled operator's login: %d" % r.status)
        conn.request("POST", "/revoke", body="serial=%s&reason=keyCompromise&confirm=yes" %
                     self.revoked, headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        r.read()
        check(r.status == 403, "a POST without a session: %d" % r.status)
        conn.close()
        self.ca.run("operator-enable", "carol")

    def audit_log(self):
        actions = self.sql("SELECT actor || ' ' || action FROM audit_log ORDER BY id").splitlines()
        for wanted in ("console:carol login_failed", "console:dave login_failed",
                       "console:dave login_locked", "console:carol login", "console:carol revoke",
                       "console:carol logout"):
            check(wanted in actions, "no %r in the audit log" % wanted)
        check(actions.count("console:dave login_failed") == 5, "dave's failures: %r" % actions)
        check("console:dave login" not in actions, "dave logged in while locked")
        check(sum(a.endswith(" operator_add") for a in actions) == 2, "operator_add entries")
        check(sum(a.endswith(" operator_state") for a in actions) == 2, "operator_state entries")

    def clean_stop(self):
        """serve ends on SIGTERM with 0 (under the sanitizers: no leak, no error found)."""
        self.ca.stop()
        log = self.ca.log()
        check("runtime error" not in log and "AddressSanitizer" not in log,
              "sanitizer report in ca-server's log")


def main():
    if len(sys.argv) != 8:
        print(__doc__)
        return 2
    binaries = [os.path.abspath(p) for p in sys.argv[1:5]]
    CaConsoleLine.node_dir = os.path.abspath(sys.argv[6])
    CaConsoleLine.shots_dir = os.path.abspath(sys.argv[7])
    return run_cases(CaConsoleLine, binaries, os.path.abspath(sys.argv[5]),
                     ("operators", "line_day", "browser", "revoked_in_crl", "http_refusals",
                      "audit_log", "clean_stop"))


if __name__ == "__main__":
    sys.exit(main())
