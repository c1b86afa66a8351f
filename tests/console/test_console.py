#!/usr/bin/python3
"""test_console.py: the comm-terminal's operator console in a real browser (Debian's chromium,
headless, driven by playwright-core from npm) against a running line: the real ca-server,
comm-terminal, factory-terminal and device-agent, a private PostgreSQL and real data (devices
provisioned on line 1001, one NG write then its replacement, receipts from ca-server).

Covers (console_browser.js): a wrong password, lockout after 5 failures, login and the session
cookie's attributes, every page (a screenshot of each under SHOTS_DIR), device search and
history, a plan upload with an error and a good one, manual entry refused for an unplanned
number and confirmed for a planned one, the CSV and JSON exports, a form posted without its
CSRF token (and with a wrong one) refused, the session cookie refused after logout. Here: the
CSV checked row by row against the database (psql), the JSON against the CSV, the Today and
Lines numbers against the line's events, and every console action in the audit log under the
operator's id.

Usage: test_console.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR NODE_DIR
       SHOTS_DIR
"""
import csv
import io
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "line"))

from test_line import MODEL, TODAY, Line, check, run_cases, wait_for  # noqa: E402
from certline_procs import OPERATOR_PASSWORD, free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
VIEWER_PASSWORD = "viewer secret 12345"


def node_modules(node_dir):
    """playwright-core under node_dir, installed by name with npm the first time (no lock file
    is written; nothing is committed)."""
    if not os.path.isdir(os.path.join(node_dir, "node_modules", "playwright-core")):
        os.makedirs(node_dir, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", node_dir, "--no-save", "--no-package-lock",
                        "--no-audit", "--no-fund", "playwright-core@^1.49.0"], check=True,
                       timeout=600, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return os.path.join(node_dir, "node_modules")


def local(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(epoch))) if epoch else ""


class ConsoleLine(Line):
    UNITS = 4
    node_dir = shots_dir = None

    def setup(self):
        self.console_port = free_port()
        self.CT_SETTINGS = {"report_interval_s": 1,
                            "console": {"host": "127.0.0.1", "port": self.console_port,
                                        "session_minutes": 15}}
        super().setup()
        self.url = "https://127.0.0.1:%d" % self.console_port

    def sql(self, query):
        return self.cluster.psql("ct", query).strip()

    def line_day(self):
        """Devices 1 to 3 written, device 4 NG once, then written with its replacement."""
        for n in (1, 2, 3):
            self.provision(self.number(n))
        number = self.number(4)
        d = self.device(number)
        d.serve("--once", "--fail-writes", "1")
        check(self.scan(number)["result"] == "NG", "forced write failure")
        check(self.scan(number)["result"] == "OK", "re-scan after NG")
        check(d.wait(timeout=60) == 0, "device-agent did not end after its OK write")
        wait_for("4 receipts", lambda: self.sql(
            "SELECT count(*) FROM report WHERE state = 'done'") == "4", timeout=60)
        path = os.path.join(self.work, "viewer-password")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(VIEWER_PASSWORD + "\n")
        self.ct.run("operator-add", "bob", "--role", "viewer", "--new-password-file", path)

    def browser(self):
        plan_bad = os.path.join(self.work, "plan-bad.csv")
        with open(plan_bad, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "%s,%s,2,2000,6\n%s,%s,many,3000,6\n" % (MODEL, TODAY, MODEL, TODAY))
        plan_good = os.path.join(self.work, "plan-good.csv")
        with open(plan_good, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "%s,%s,2,1000,6\n" % (MODEL, TODAY))
        os.makedirs(self.shots_dir, exist_ok=True)
        settings = {
            "url": self.url, "chromium": CHROMIUM, "shots": self.shots_dir,
            "out": os.path.join(self.work, "browser-out.json"), "today": TODAY,
            "operator": "alice", "password": OPERATOR_PASSWORD,
            "locked_operator": "bob", "locked_password": VIEWER_PASSWORD,
            "written": [self.number(n) for n in (1, 2, 3, 4)],
            "plan_bad": plan_bad, "plan_good": plan_good,
            "planned": self.number(1000), "unplanned": self.number(999999),
        }
        settings_path = os.path.join(self.work, "browser.json")
        with open(settings_path, "w") as f:
            json.dump(settings, f)
        modules = node_modules(self.node_dir)
        r = subprocess.run(["node", os.path.join(HERE, "console_browser.js"), settings_path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=600, env=dict(os.environ, NODE_PATH=modules))
        print(r.stdout, end="")
        with open(settings["out"]) as f:
            self.seen = json.load(f)
        check(r.returncode == 0 and self.seen.get("ok"), "the browser test failed")
        for name in ("01-login", "04-today", "05-devices", "07-device", "08-audit",
                     "09-audit-log", "10-lines", "11-actions", "12-operators", "17-enter-done"):
            shot = os.path.join(self.shots_dir, name + ".png")
            check(os.path.getsize(shot) > 5000, "screenshot %s" % shot)

    def exports_match_database(self):
        rows = list(csv.reader(io.StringIO(self.seen["csv"])))
        check(rows[0] == ["device_number", "serial", "written_at", "receipt_at",
                          "receipt_signature_verified"], "CSV header %r" % rows[0])
        db = [line.split("|") for line in self.sql(
            "SELECT device_number, serial, floor(extract(epoch FROM written_at))::bigint,"
            " floor(extract(epoch FROM received_at))::bigint,"
            " (signature IS NOT NULL OR manifest_id IS NOT NULL)"
            " FROM report WHERE state = 'done' AND written_at >= '%s'::date"
            " AND written_at < '%s'::date + 1 ORDER BY device_number" % (TODAY, TODAY)
        ).splitlines()]
        check(len(db) == 4 and len(rows) - 1 == len(db),
              "CSV rows %d, database rows %d" % (len(rows) - 1, len(db)))
        for got, want in zip(rows[1:], db):
            expected = [want[0], want[1], local(want[2]), local(want[3]),
                        "yes" if want[4] == "t" else "no"]
            check(got == expected, "CSV row %r, database %r" % (got, expected))
        devices = self.seen["json"]["devices"]
        check([[d["device_number"], d["serial"], d["written_at"], d["receipt_at"],
                "yes" if d["receipt_signature_verified"] else "no"] for d in devices] == rows[1:],
              "JSON differs from CSV")
        check([r[:2] for r in self.seen["proven_rows"]] == [r[:2] for r in rows[1:]],
              "the Audit page differs from the CSV")

    def views_match_the_day(self):
        today = {r[0]: r for r in self.seen["today_rows"]}
        # model, managed, plan, held, used today, remaining, failed, awaiting receipt, rejected
        check(today[MODEL][2] == str(self.UNITS) and today[MODEL][4] == "4" and
              today[MODEL][5] == "0" and today[MODEL][7] == "0", "Today: %r" % today[MODEL])
        check(["1001", "4", "1"] == self.seen["lines"][0][:3], "Lines: %r" % self.seen["lines"])
        check(self.seen["ng"] and self.seen["ng"][0][0] == "1001", "NG: %r" % self.seen["ng"])
        check(self.sql("SELECT state FROM certificate WHERE device_number = '%s'" %
                       self.number(1000)) == "stored", "the confirmed entry holds no pack")
        check(self.sql("SELECT count(*) FROM certificate WHERE device_number = '%s'" %
                       self.number(999999)) == "0", "the refused entry was issued")
        check(self.sql("SELECT count(*) FROM plan_device WHERE device_number = '%s'" %
                       self.number(2000)) == "0", "the refused plan was partly imported")

    def audit_log(self):
        actions = self.sql("SELECT actor || ' ' || action FROM audit_log ORDER BY id").splitlines()
        for wanted in ("alice login_failed", "bob login_failed", "bob login_locked",
                       "alice login", "alice plan_import", "alice enter_refused", "alice enter",
                       "alice console_export", "alice logout"):
            check(wanted in actions, "no %r in the audit log" % wanted)
        check(actions.count("bob login_failed") == 5, "bob's failures: %r" % actions)
        check("bob login" not in actions, "bob logged in while locked")

    def clean_stop(self):
        """serve ends on SIGTERM with 0 (under the sanitizers: no leak, no error found)."""
        self.ct.stop()
        log = self.ct.log()
        check("runtime error" not in log and "AddressSanitizer" not in log,
              "sanitizer report in the comm-terminal's log")


def main():
    if len(sys.argv) != 8:
        print(__doc__)
        return 2
    binaries = [os.path.abspath(p) for p in sys.argv[1:5]]
    ConsoleLine.node_dir = os.path.abspath(sys.argv[6])
    ConsoleLine.shots_dir = os.path.abspath(sys.argv[7])
    return run_cases(ConsoleLine, binaries, os.path.abspath(sys.argv[5]),
                     ("line_day", "browser", "exports_match_database", "views_match_the_day",
                      "audit_log", "clean_stop"))


if __name__ == "__main__":
    sys.exit(main())
