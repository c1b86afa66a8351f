#!/usr/bin/python3
"""test_console_ops.py: the consoles over HTTP (tests/lib/console_client.py, no browser) against
a running line (the real ca-server and comm-terminal, a private PostgreSQL): what the browser
tests do not reach.

Covers: the comm-terminal's Operators page as an admin: an operator added, a duplicate refused,
a password changed (the target's sessions end, the old password refused, the new one taken), a
password for an unknown id refused as "no such operator" with nothing written and the refusal
audited, a disabled operator's sessions ended and its login refused, then enabled again, the
last active admin not disabled, a session ended at its next request when its operator is
disabled with the command line (both consoles), and a viewer refused every operator action; bad query values
answered 400 naming the field and its bound (a day that is no date, too long or not one at all
on /lines, /audit, /audit.csv and /audit.json; over-long search fields; the same on ca-server's
console); and the session cookie sent again with its whole lifetime on each answer, so that
with session_minutes 1 and the comm-terminal's clock moved (libfaketime) an operator in use
beyond the minute keeps the session and one idle for more than the minute is logged out.

Usage: test_console_ops.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR
"""
import os
import re
import shutil
import sys
import urllib.parse

from console_common import console_settings
from console_client import Console
from test_line import Line, check, run_cases
from certline_procs import OPERATOR_PASSWORD, free_port

VIEWER_PASSWORD = "viewer secret 12345"
CAROL_PASSWORD = "carol secret 12345"
CAROL_NEW_PASSWORD = "carol new secret 678"
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def try_login(client, operator, password, cookie="__Host-certline"):
    """The login's status (303 taken, 403 refused), the session cookie dropped first."""
    client.cookies.pop(cookie, None)
    token = client.csrf("/login")
    status, _ = client.request("POST", "/login", urllib.parse.urlencode(
        {"csrf": token, "operator": operator, "password": password}))
    return status


def session_cookies(headers):
    """The Set-Cookie values of an answer's header list that set the session cookie."""
    return [v for k, v in headers if k.lower() == "set-cookie" and
            v.startswith("__Host-certline=")]


class OpsLine(Line):
    UNITS = 2

    def setup(self):
        self.CT_SETTINGS = {"console": dict(console_settings(self), session_minutes=1)}
        self.ca_console_port = free_port()
        self.ca.write_config(self.ca.conninfo, limits=self.LIMITS, console={
            "host": "127.0.0.1", "port": self.ca_console_port, "session_minutes": 15})
        super().setup()
        path = os.path.join(self.work, "viewer-password")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(VIEWER_PASSWORD + "\n")
        self.ct.run("operator-add", "bob", "--role", "viewer", "--new-password-file", path)
        self.ca.run("operator-add", "dave", "--role", "viewer", "--password-file", path)
        # serve again, its clock read through libfaketime from a file the test rewrites
        check(shutil.which("faketime") is not None and os.path.exists(FAKETIME_LIB),
              "libfaketime is not installed (deploy/install-deps.sh)")
        self.clock = os.path.join(self.work, "faketime.rc")
        self.move_clock(0)
        self.ct.stop()
        self.ct.environment = {
            "LD_PRELOAD": FAKETIME_LIB, "FAKETIME_TIMESTAMP_FILE": self.clock,
            "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") +
                             ":verify_asan_link_order=0").lstrip(":")}
        self.ct.start()
        self.admin = Console(self.console_port)
        self.admin.login("alice", OPERATOR_PASSWORD)

    def move_clock(self, seconds):
        """The comm-terminal's clock from now on: seconds ahead of the real one."""
        with open(self.clock + ".new", "w") as f:
            f.write("%+d\n" % seconds)
        os.replace(self.clock + ".new", self.clock)

    def sql(self, query):
        return self.cluster.psql("ct", query).strip()

    def act(self, client, **form):
        """POST /operators as client: the status and the result line."""
        form["csrf"] = client.csrf("/operators") if "csrf" not in form else form["csrf"]
        status, page = client.request("POST", "/operators", urllib.parse.urlencode(form))
        found = re.search(rb'id="result">([^<]*)<', page)
        return status, (found.group(1).decode() if found else page.decode(errors="replace"))

    def operators_added_and_refused(self):
        status, text = self.act(self.admin, do="add", operator="carol", role="operator",
                                password=CAROL_PASSWORD)
        check(status == 200 and text == "operator carol: add done", "add: %d %r" % (status, text))
        check(self.sql("SELECT role || ' ' || state FROM operator WHERE operator_id = 'carol'") ==
              "operator active", "carol's row")
        status, text = self.act(self.admin, do="add", operator="carol", role="admin",
                                password="another secret 123")
        check(status == 409 and "the id is or was taken" in text, "dup: %d %r" % (status, text))
        check(self.sql("SELECT role FROM operator WHERE operator_id = 'carol'") == "operator",
              "the duplicate add changed carol")
        status, text = self.act(self.admin, do="add", operator="erin", role="viewer",
                                password="short")
        check(status == 400 and "8 to 1024 bytes" in text, "short: %d %r" % (status, text))
        status, text = self.act(self.admin, do="rename", operator="carol")
        check(status == 400, "an unknown action: %d" % status)

    def password_of_unknown_refused(self):
        status, text = self.act(self.admin, do="password", operator="nobody",
                                password="a typo made admin 1")
        check(status == 404 and "no such operator" in text and "refused" in text,
              "unknown id: %d %r" % (status, text))
        check(self.sql("SELECT count(*) FROM operator WHERE operator_id = 'nobody'") == "0",
              "a password change for an unknown id added an operator")
        check(self.sql("SELECT count(*) FROM audit_log WHERE actor = 'alice' AND action ="
                       " 'operator_refused' AND detail LIKE 'operator nobody: password refused:"
                       " no such operator%'") == "1", "the refusal is not audited")
        check(self.sql("SELECT count(*) FROM audit_log WHERE action = 'operator_set' AND detail"
                       " LIKE '%nobody%'") == "0", "an operator_set for nobody")
        check(try_login(Console(self.console_port), "nobody", "a typo made admin 1") == 403,
              "nobody logged in")

    def password_change_ends_sessions(self):
        carol = Console(self.console_port)
        carol.login("carol", CAROL_PASSWORD)
        check(carol.request("GET", "/")[0] == 200, "carol's session")
        status, text = self.act(self.admin, do="password", operator="carol",
                                password=CAROL_NEW_PASSWORD)
        check(status == 200 and text == "operator carol: password done",
              "password: %d %r" % (status, text))
        status, headers, _ = carol.answer("GET", "/")
        check(status == 303 and headers.get("location") == "/login",
              "carol's session lives on after her password changed: %d" % status)
        check(try_login(Console(self.console_port), "carol", CAROL_PASSWORD) == 403,
              "the old password still works")
        check(try_login(carol, "carol", CAROL_NEW_PASSWORD) == 303, "the new password refused")
        self.carol = carol
        check(self.sql("SELECT count(*) FROM audit_log WHERE actor = 'alice' AND action ="
                       " 'operator_set' AND detail = 'operator carol: password replaced'") == "1",
              "the password change is not audited")

    def disable_ends_sessions(self):
        carol = self.carol
        check(carol.request("GET", "/")[0] == 200, "carol's session")
        status, text = self.act(self.admin, do="disable", operator="carol")
        check(status == 200 and text == "operator carol: disable done",
              "disable: %d %r" % (status, text))
        status, _, _ = carol.answer("GET", "/")
        check(status == 303, "carol's session lives on after she was disabled: %d" % status)
        check(try_login(carol, "carol", CAROL_NEW_PASSWORD) == 403, "a disabled login taken")
        status, text = self.act(self.admin, do="enable", operator="carol")
        check(status == 200 and text == "operator carol: enable done",
              "enable: %d %r" % (status, text))
        check(try_login(carol, "carol", CAROL_NEW_PASSWORD) == 303, "enabled carol refused")
        status, text = self.act(self.admin, do="disable", operator="nobody")
        check(status == 404 and "no operator nobody" in text, "disable nobody: %d %r" % (
            status, text))
        status, text = self.act(self.admin, do="disable", operator="alice")
        check(status == 409 and "last active admin" in text, "last admin: %d %r" % (status, text))
        check(self.sql("SELECT state FROM operator WHERE operator_id = 'alice'") == "active",
              "the last admin was disabled")
        actions = self.sql("SELECT action || ' ' || detail FROM audit_log WHERE actor = 'alice'"
                           " ORDER BY id").splitlines()
        for wanted in ("operator_set operator carol: added (operator)",
                       "operator_state operator carol: disabled",
                       "operator_state operator carol: enabled"):
            check(wanted in actions, "no %r in alice's audit log" % wanted)

    def command_line_ends_sessions(self):
        """Disabled with the command line (another process than the console's), an operator is
        logged out at its next request; so is a CA operator disabled with ca-server's."""
        carol = Console(self.console_port)
        carol.login("carol", CAROL_NEW_PASSWORD)
        check(carol.request("GET", "/")[0] == 200, "carol's session")
        self.ct.run("operator-disable", "carol")
        status, headers, _ = carol.answer("GET", "/")
        check(status == 303 and headers.get("location") == "/login",
              "carol's session lives on after operator-disable: %d" % status)
        check(carol.request("POST", "/fetch", "csrf=x")[0] == 403, "a form after the end")
        check(self.sql("SELECT count(*) FROM audit_log WHERE actor = 'carol' AND action ="
                       " 'session_ended'") == "1", "the ended session is not audited")
        self.ct.run("operator-enable", "carol")
        check(try_login(carol, "carol", CAROL_NEW_PASSWORD) == 303, "enabled carol refused")
        check(carol.request("GET", "/")[0] == 200, "carol's new session")

        ca = Console(self.ca_console_port)
        ca.login("dave", VIEWER_PASSWORD, cookie="__Host-certline-ca")
        check(ca.request("GET", "/certificates")[0] == 200, "dave's session")
        self.ca.run("operator-disable", "dave")
        status, headers, _ = ca.answer("GET", "/certificates")
        check(status == 303 and headers.get("location") == "/login",
              "dave's CA console session lives on after operator-disable: %d" % status)
        self.ca.run("operator-enable", "dave")
        check(try_login(ca, "dave", VIEWER_PASSWORD, "__Host-certline-ca") == 303,
              "enabled dave refused")

    def viewer_refused(self):
        bob = Console(self.console_port)
        bob.login("bob", VIEWER_PASSWORD)
        status, page = bob.request("GET", "/operators")
        check(status == 403 and b"this needs the role admin" in page, "viewer GET: %d" % status)
        token = bob.csrf("/actions")
        for form in ({"do": "add", "operator": "mallory", "role": "admin",
                      "password": "mallory secret 1"},
                     {"do": "password", "operator": "alice", "password": "mallory secret 1"},
                     {"do": "disable", "operator": "carol"}):
            status, _ = self.act(bob, csrf=token, **form)
            check(status == 403, "viewer %s: %d" % (form["do"], status))
        check(self.sql("SELECT count(*) FROM operator WHERE operator_id = 'mallory'") == "0" and
              self.sql("SELECT state FROM operator WHERE operator_id = 'carol'") == "active",
              "a viewer's operator action was carried out")
        check(try_login(Console(self.console_port), "alice", OPERATOR_PASSWORD) == 303,
              "alice's password was changed by a viewer")
        check(self.sql("SELECT count(*) FROM audit_log WHERE actor = 'bob' AND action ="
                       " 'refused'") == "4", "the viewer's refusals are not audited")

    def bad_query_refused(self):
        for path in ("/lines", "/lines.part", "/audit", "/audit.csv", "/audit.json"):
            for day, bound in (("2026-02-30", "is a date YYYY-MM-DD"),
                               ("abc", "is a date YYYY-MM-DD"),
                               ("2026-13-01", "is a date YYYY-MM-DD"),
                               ("2026-02-288", "is at most 10 characters")):
                status, page = self.admin.request("GET", "%s?day=%s" % (path, day))
                check(status == 400 and ("the field day " + bound).encode() in page,
                      "%s?day=%s: %d %r" % (path, day, status, page[-300:]))
            status, _ = self.admin.request("GET", path + "?day=2024-02-29")
            check(status == 200, "%s of a leap day: %d" % (path, status))
        for path, field, bound in (("/devices", "q", 64), ("/log", "actor", 64),
                                   ("/log", "action", 64), ("/devices", "state", 15)):
            status, page = self.admin.request("GET", "%s?%s=%s" % (path, field, "A" * (bound + 1)))
            check(status == 400 and ("the field %s is at most %d characters" % (
                field, bound)).encode() in page, "%s %s: %d" % (path, field, status))
        status, page = self.admin.request("GET", "/devices?q=" + "A" * 64)
        check(status == 200 and b"0 device(s)" in page, "q of 64: %d" % status)
        status, page = self.admin.request("GET", "/devices?q=%01")
        check(status == 400 and b"the field q" in page, "q with a control character: %d" % status)

        ca = Console(self.ca_console_port)
        ca.login("dave", VIEWER_PASSWORD, cookie="__Host-certline-ca")
        for query, text in (("/certificates?serial=" + "A" * 41,
                             "the field serial is at most 40 characters"),
                            ("/certificates?factory=" + "f" * 65,
                             "the field factory is at most 64 characters"),
                            ("/certificates?number=" + "3" * 22,
                             "the field number is at most 21 characters"),
                            ("/certificates?day=2026-02-30", "the field day is a date"),
                            ("/log?day=abc", "the field day is a date"),
                            ("/log?text=" + "t" * 128, "the field text is at most 127"),
                            ("/?since=2026-02-30", "the field since is a date")):
            status, page = ca.request("GET", query)
            check(status == 400 and text.encode() in page, "CA %s: %d" % (query, status))
        status, page = ca.request("GET", "/certificates?serial=" + "A" * 40)
        check(status == 200, "CA serial of 40: %d" % status)
        response = ca.start("GET", "/certificates")
        response.read()
        cookies = [v for k, v in response.getheaders() if k.lower() == "set-cookie" and
                   v.startswith("__Host-certline-ca=")]
        check(response.status == 200 and len(cookies) == 1 and
              cookies[0].endswith("Max-Age=900"), "CA console cookie: %r" % cookies)

    def sessions_slide(self):
        """session_minutes 1: in use every 45 s (the clock moved) the session outlives the
        minute, and the cookie comes again each time with Max-Age=60; idle 65 s, it ends."""
        client = Console(self.console_port)
        client.login("alice", OPERATOR_PASSWORD)
        for ahead in (0, 45, 90, 135):
            self.move_clock(ahead)
            response = client.start("GET", "/")
            response.read()
            cookies = session_cookies(response.getheaders())
            check(response.status == 200, "in use %d s after login: %d" % (ahead,
                                                                            response.status))
            check(len(cookies) == 1 and cookies[0].endswith("; Max-Age=60") and
                  "Secure; HttpOnly; SameSite=Strict" in cookies[0],
                  "%d s: the session cookie not sent again: %r" % (ahead, cookies))
        response = client.start("GET", "/devices?q=" + "A" * 65)  # an error page keeps it too
        response.read()
        check(response.status == 400 and len(session_cookies(response.getheaders())) == 1,
              "an error page without the cookie")
        self.move_clock(135 + 65)
        status, headers, _ = client.answer("GET", "/")
        check(status == 303 and headers.get("location") == "/login",
              "idle 65 s with session_minutes 1: %d" % status)
        check(client.request("GET", "/")[0] == 303, "the ended session came back")
        self.move_clock(0)

    def clean_stop(self):
        self.ct.stop()
        log = self.ct.log()
        check("runtime error" not in log and "AddressSanitizer" not in log,
              "sanitizer report in the comm-terminal's log")


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    binaries = [os.path.abspath(p) for p in sys.argv[1:5]]
    return run_cases(OpsLine, binaries, os.path.abspath(sys.argv[5]), (
        "operators_added_and_refused", "password_of_unknown_refused",
        "password_change_ends_sessions", "disable_ends_sessions", "command_line_ends_sessions",
        "viewer_refused",
        "bad_query_refused", "sessions_slide", "clean_stop"))


if __name__ == "__main__":
    sys.exit(main())
