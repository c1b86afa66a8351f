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
import os
import re
import socket
import ssl
import subprocess
import sys
import time

from console_common import console_settings, main, run_browser
from test_line import Line, check, wait_for
from console_client import Console

CAROL_PASSWORD = "ca operator secret 1"
DAVE_PASSWORD = "ca viewer secret 12"
VERA_PASSWORD = "ca viewer secret 34"
SESSION_COOKIE = "__Host-certline-ca"


class CaConsoleLine(Line):
    UNITS = 4
    node_dir = shots_dir = None

    def setup(self):
        self.ca.write_config(self.ca.conninfo, limits=self.LIMITS,
                             console=console_settings(self))
        super().setup()

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
        run_browser(self, "ca_console_browser.js", {
            "operator": "carol", "password": CAROL_PASSWORD,
            "locked_operator": "dave", "locked_password": DAVE_PASSWORD,
            "number": self.number(1), "serial": self.revoked, "factory": self.factory,
        }, ("01-login", "04-issuance", "05-models", "06-certificates", "07-certificates-search",
            "08-certificate", "09-audit-log", "10-revoke-confirm", "11-revoked"))

    def revoked_in_crl(self):
        check(self.sql("SELECT state || ' ' || reason_code || ' ' || reason FROM certificate"
                       " WHERE serial = '%s'" % self.revoked) ==
              "revoked 1 key found in the field", "the certificate's row after revocation")

        def listed():
            m = re.search(r"Serial Number: %s\s+Revocation Date: [^\n]+\n\s+CRL entry "
                          r"extensions:\n\s+X509v3 CRL Reason Code:\s+\n?\s*Key Compromise" %
                          self.revoked, self.crl_text())
            return m is not None
        wait_for("the revoked serial with its reason in the CRL", listed, timeout=30)

    def crl_text(self):
        """ca-server's CRL as `openssl crl -text` prints it."""
        r = subprocess.run(["openssl", "crl", "-in", os.path.join(self.ca.ca_dir, "crl.pem"),
                            "-text", "-noout"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        return r.stdout

    def viewer_cannot_revoke(self):
        """A CA operator of the role viewer (vera, added here) sees a certificate without the
        revoke link, is refused the confirmation page, and a POST to /revoke with her valid
        session and CSRF token is refused (403): the certificate stays installed, nothing is
        audited as revoked and the CRL does not list it. The same token then logs her out (it
        was valid)."""
        serial = self.sql("SELECT serial FROM certificate WHERE device_number = '%s'"
                          " AND state = 'installed'" % self.number(2))
        check(serial != "", "no installed certificate for device 2")
        path = os.path.join(self.work, "vera-password")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(VERA_PASSWORD + "\n")
        self.ca.run("operator-add", "vera", "--role", "viewer", "--password-file", path)
        vera = Console(self.console_port)
        vera.login("vera", VERA_PASSWORD, cookie=SESSION_COOKIE)
        status, page = vera.request("GET", "/certificate?serial=" + serial)
        check(status == 200 and b'<td id="state">installed</td>' in page,
              "the detail page for a viewer: %d" % status)
        check(b'id="revoke"' not in page and b"/revoke" not in page,
              "a viewer is offered revocation")
        status, page = vera.request("GET", "/revoke?serial=" + serial)
        check(status == 403 and b'action="/revoke"' not in page,
              "a viewer's confirmation page: %d" % status)
        token = vera.csrf("/certificates")
        status, page = vera.request("POST", "/revoke", "csrf=%s&serial=%s&reason=keyCompromise"
                                    "&comment=by+a+viewer&confirm=yes" % (token, serial))
        check(status == 403 and b"needs the role operator" in page,
              "a viewer's revocation: %d %r" % (status, page[-300:]))
        check(self.sql("SELECT state || ' ' || coalesce(reason_code::text, '-') ||"
                       " ' ' || coalesce(reason, '-') FROM certificate WHERE serial = '%s'"
                       % serial) == "installed - -", "the viewer's POST changed the certificate")
        check(self.sql("SELECT count(*) FROM audit_log WHERE actor = 'console:vera'"
                       " AND action = 'revoke'") == "0", "a revocation audited under vera")
        time.sleep(2)  # a revocation would have had the CRL published again at once
        crl = self.crl_text()
        check("Serial Number: %s" % self.revoked in crl and "Serial Number: %s" % serial
              not in crl, "the CRL after the viewer's POST:\n%s" % crl)
        status, _ = vera.request("POST", "/logout", "csrf=" + token)
        check(status == 303 and vera.request("GET", "/certificates")[0] == 303,
              "the viewer's token did not log her out: %d" % status)

    def browser_ciphers(self, context):
        """A browser offering both gets ChaCha20-Poly1305 (the console's order); one offering
        AES-GCM alone gets AES-GCM; one offering neither is refused."""
        def cipher(names):
            own = ssl.create_default_context()
            own.check_hostname = False
            own.verify_mode = ssl.CERT_NONE
            own.maximum_version = ssl.TLSVersion.TLSv1_2
            if names:
                own.set_ciphers(names)
            with socket.create_connection(("127.0.0.1", self.console_port), timeout=30) as raw:
                with own.wrap_socket(raw) as tls:
                    return tls.cipher()[0]
        got = cipher(None)
        check(got == "ECDHE-ECDSA-CHACHA20-POLY1305", "the console chose %s" % got)
        got = cipher("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384")
        check(got == "ECDHE-ECDSA-AES128-GCM-SHA256", "AES-GCM alone: %s" % got)
        try:
            got = cipher("ECDHE-ECDSA-AES128-SHA")
            check(False, "a CBC suite was accepted: %s" % got)
        except ssl.SSLError:
            pass

    def http_refusals(self):
        """Without the browser: a disabled operator cannot log in; no session, no page."""
        self.ca.run("operator-disable", "carol")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", self.console_port, context=context,
                                           timeout=30)
        self.browser_ciphers(context)
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
        # carol and dave (operators), vera (viewer_cannot_revoke)
        check(sum(a.endswith(" operator_add") for a in actions) == 3, "operator_add entries")
        check(sum(a.endswith(" operator_state") for a in actions) == 2, "operator_state entries")

    def clean_stop(self):
        """serve ends on SIGTERM with 0 (under the sanitizers: no leak, no error found)."""
        self.ca.stop()
        log = self.ca.log()
        check("runtime error" not in log and "AddressSanitizer" not in log,
              "sanitizer report in ca-server's log")


if __name__ == "__main__":
    sys.exit(main(CaConsoleLine, (
        "operators", "line_day", "browser", "revoked_in_crl", "viewer_cannot_revoke",
        "http_refusals", "audit_log", "clean_stop"), __doc__))
