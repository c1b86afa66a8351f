#!/usr/bin/python3
"""test_console.py: the comm-terminal's operator console in a real browser (Debian's chromium,
headless, driven by playwright-core from npm) against a running line: the real ca-server,
comm-terminal, factory-terminal and device-agent, a private PostgreSQL and real data (devices
provisioned on line 1001, one NG write then its replacement, receipts from ca-server).

Covers (console_browser.js): a wrong password, lockout after 5 failures, login and the session
cookie's attributes, every page (a screenshot of each under SHOTS_DIR), device search and
history, a plan upload with an error and a good one, manual entry refused for an unplanned
number and confirmed for a planned one, the CSV and JSON exports, a form posted without its
CSRF token (and with a wrong one) refused, the session cookie refused after logout; the Lines
page live with JavaScript (its script refreshing the figures in place) and without (its meta
refresh), a plan upload with three bad lines listing all three, fetch now followed on its
self-refreshing progress page to its end, a discontinued model deleted after its confirmation
page (refused without a CSRF token, only asked again without the confirmation). Here: the CSV
checked row by row against the database (psql), the JSON against the CSV, the Today and Lines
numbers (OK, NG, median and p99 time per device, devices per hour) against the line's events in
the database, the fetch's progress against the packs it stored, the deletion against the
packs, and every console action in the audit log under the operator's id; then, over
http.client and curl, a day of 100,000 receipts downloaded in parts (chunked) byte-equal to the
database, and downloads broken off (a database failure mid-way, a browser gone) never reading as
complete. Then Today's alerts over http.client (no script): stock below tomorrow's plan,
ca-server unreachable since a time with a report waiting (awaiting receipt one more), the CRL past
its next update, an installation rejected (rejected one more), the ca-server alerts gone after its
return; and Today's chart (SVG) against the database's devices written per hour.

Usage: test_console.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR NODE_DIR
       SHOTS_DIR
"""
import csv
import html
import http.client
import io
import json
import os
import re
import subprocess
import sys
import time

from console_common import console_settings, main, run_browser
from console_client import Console
from test_line import MODEL, TODAY, Line, check, wait_for
from certline_procs import OPERATOR_PASSWORD

VIEWER_PASSWORD = "viewer secret 12345"


def local(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(epoch))) if epoch else ""


class ConsoleLine(Line):
    UNITS = 4
    node_dir = shots_dir = None

    def setup(self):
        self.CT_SETTINGS = {"report_interval_s": 1, "fetch_chunk": 2, "crl_fetch_s": 1,
                            "console": console_settings(self)}
        # CRLs valid for 20 s, a new one every 10 s: stale soon after ca-server stops.
        self.ca.write_config(self.ca.conninfo, limits=self.LIMITS, crl_period_s=10,
                             crl_validity_s=20)
        super().setup()

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
        plan_bad3 = os.path.join(self.work, "plan-bad3.csv")
        with open(plan_bad3, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "%s,%s,2,4000,6\n%s,%s,none,4100,6\n%s,%s,2,4200,6\n%s,2026-13-01,2,4300,6\n"
                    "# a comment\n%s,%s,2\n" % (MODEL, TODAY, MODEL, TODAY, MODEL, TODAY, MODEL,
                                                MODEL, TODAY))
        plan_fetch = os.path.join(self.work, "plan-fetch.csv")
        with open(plan_fetch, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "%s,%s,7,3000,6\n" % (MODEL, TODAY))
        plan_good = os.path.join(self.work, "plan-good.csv")
        with open(plan_good, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "%s,%s,2,1000,6\n" % (MODEL, TODAY))
        self.seen = run_browser(self, "console_browser.js", {
            "operator": "alice", "password": OPERATOR_PASSWORD,
            "locked_operator": "bob", "locked_password": VIEWER_PASSWORD,
            "written": [self.number(n) for n in (1, 2, 3, 4)],
            "plan_bad": plan_bad, "plan_good": plan_good, "plan_bad3": plan_bad3,
            "plan_fetch": plan_fetch, "delete_model": "A123",
            "planned": self.number(1000), "unplanned": self.number(999999),
        }, ("01-login", "04-today", "05-devices", "07-device", "08-audit", "09-audit-log",
            "10-lines", "10b-lines-live", "11-actions", "12-operators", "13b-plan-three-errors",
            "17-enter-done", "20-fetch-done", "21-model-delete-confirm", "22-model-deleted",
            "23-device-certificate", "24-devices-line-day"))

    def exports_match_database(self):
        rows = list(csv.reader(io.StringIO(self.seen["csv"])))
        check(rows[0] == ["device_number", "serial", "written_at", "receipt_at",
                          "receipt_signature_verified"], "CSV header %r" % rows[0])
        db = [line.split("|") for line in self.sql(
            "SELECT device_number, serial, floor(extract(epoch FROM written_at))::bigint,"
            " floor(extract(epoch FROM received_at))::bigint,"
            " (signature IS NOT NULL OR manifest_id IS NOT NULL)"
            " FROM report WHERE state = 'done' AND written_at >= '%s'::date"
            " AND written_at < '%s'::date + 1 ORDER BY written_at, id" % (TODAY, TODAY)
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

    def lines_match_database(self):
        """The Lines page's figures are the line's day as the database holds it."""
        day = "written_at >= '%s'::date AND written_at < '%s'::date + 1" % (TODAY, TODAY)
        db = {}
        for row in self.sql(
                "SELECT claimed_by_line, count(*), round(percentile_cont(0.5) WITHIN GROUP"
                " (ORDER BY line_ms)), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY"
                " line_ms)) FROM certificate WHERE state = 'written' AND %s"
                " GROUP BY 1" % day).splitlines():
            line, ok, median, p99 = row.split("|")
            db[line] = [line, ok, "0", median or "-", p99 or "-"]
        for row in self.sql("SELECT line_id, count(*) FROM failed_pack WHERE failed_at >= '%s'"
                            "::date AND failed_at < '%s'::date + 1 GROUP BY 1"
                            % (TODAY, TODAY)).splitlines():
            line, ng = row.split("|")
            db.setdefault(line, [line, "0", "0", "-", "-"])[2] = ng
        shown = {r[0]: r[:5] for r in self.seen["lines"]}
        check(shown == db, "Lines %r, database %r" % (shown, db))
        check(int(db["1001"][3]) > 0 and int(db["1001"][4]) >= int(db["1001"][3]),
              "no time per device measured: %r" % db)
        check(self.seen["lines_live"] == self.seen["lines"] and
              self.seen["lines_nojs"] == self.seen["lines"],
              "live figures differ: %r %r" % (self.seen["lines_live"], self.seen["lines_nojs"]))
        hours = {}
        for row in self.sql("SELECT extract(hour FROM written_at)::int, count(*) FROM certificate"
                            " WHERE state = 'written' AND claimed_by_line IS NOT NULL AND %s"
                            " GROUP BY 1" % day).splitlines():
            hour, n = row.split("|")
            hours["%02d:00 OK %s" % (int(hour), n)] = True
        shown_hours = [t for t in self.seen["per_hour"] if " OK " in t and not t.endswith(" 0")]
        check(sorted(shown_hours) == sorted(hours), "per hour %r, database %r" % (
            shown_hours, sorted(hours)))
        check(len(self.seen["scans"]) == 4 and
              {r[2] for r in self.seen["scans"]} == {self.number(n) for n in (1, 2, 3, 4)},
              "last scans %r" % self.seen["scans"])

    def plan_errors_listed(self):
        errors = self.seen["plan_bad3"]
        check(len(errors) == 3 and "line 3:" in errors[0] and "line 5:" in errors[1] and
              "line 7:" in errors[2], "plan errors %r" % errors)
        check("3 errors" in self.seen["plan_bad3_result"], self.seen["plan_bad3_result"])
        check(self.sql("SELECT count(*) FROM plan_device WHERE device_number IN ('%s', '%s')" % (
            self.number(4000), self.number(4200))) == "0", "the refused plan was partly imported")

    def fetch_progress_matches(self):
        state, done, total, packs = self.seen["fetch_seen"][-1]
        stored = int(self.sql(
            "SELECT count(*) FROM certificate c JOIN fetch_request f USING (request_id)"
            " WHERE NOT f.replacement AND f.created_at >= (SELECT max(at) FROM audit_log"
            " WHERE action = 'fetch_now_started')"))
        # 3000..3006 newly planned, 1001 of the good plan (1000 was entered by hand)
        check(state == "done" and done == total and packs == stored == 8 and done == 4,
              "fetch progress %r, %d packs stored (states seen %r)" % (
                  self.seen["fetch_seen"][-1], stored, self.seen["fetch_seen"]))
        check("8 new pack(s)" in self.seen["fetch_result"], self.seen["fetch_result"])
        check(self.sql("SELECT detail FROM audit_log WHERE action = 'fetch_now' AND actor ="
                       " 'alice'").endswith("(4 request(s), 8 pack(s) stored)"),
              "fetch_now not audited with its figures")

    def model_deleted(self):
        check("holds 2 unwritten pack(s)" in self.seen["delete_question"] and
              "holds 2 unwritten pack(s)" in self.seen["delete_unconfirmed"],
              "asked: %r" % self.seen["delete_question"])
        check("deleted 2 pack(s) of discontinued model A123" in self.seen["delete_result"],
              self.seen["delete_result"])
        check(self.sql("SELECT count(*) FROM certificate WHERE model_code = 'A123'"
                       " AND pack IS NULL AND pack_deleted_at IS NOT NULL") == "2" and
              self.sql("SELECT count(*) FROM retirement r JOIN certificate c USING"
                       " (device_number) WHERE c.model_code = 'A123'") == "2",
              "A123's packs not deleted and queued for retirement")
        check(self.sql("SELECT count(*) FROM audit_log WHERE actor = 'alice'"
                       " AND action = 'delete_model_packs'") == "1",
              "the deletion is not audited once under alice")

    def audit_log(self):
        actions = self.sql("SELECT actor || ' ' || action FROM audit_log ORDER BY id").splitlines()
        for wanted in ("alice login_failed", "bob login_failed", "bob login_locked",
                       "alice login", "alice plan_import", "alice enter_refused", "alice enter",
                       "alice console_export", "alice logout", "alice fetch_now_started",
                       "alice fetch_now", "alice delete_model_packs"):
            check(wanted in actions, "no %r in the audit log" % wanted)
        check(actions.count("bob login_failed") == 5, "bob's failures: %r" % actions)
        check("alice operator_refused" in actions and self.sql(
            "SELECT count(*) FROM operator WHERE operator_id = 'nobody'") == "0",
            "the browser's password for an unknown operator added one, or was not audited")
        check("bob login" not in actions, "bob logged in while locked")

    def streamed_exports(self):
        """A day of 100,000 receipts (many cursor pages): both downloads arrive in parts, byte for
        byte what the database holds in the order written, on one kept-alive connection; a download broken off by a
        database failure mid-way (the console's connection ended while the browser paused) ends
        without its last chunk, which http.client reports as an incomplete read; a browser gone
        mid-way is audited as broken off."""
        day, devices = "2026-01-15", 100000
        self.sql("""
INSERT INTO model (code, certificate_managed, ca_state) VALUES ('S7', true, 'managed');
INSERT INTO fetch_request (request_id, day, replacement, item_count, state, ended_at)
  VALUES ('seed-S7', '{d}', false, 1, 'completed', now());
INSERT INTO certificate (device_number, model_code, serial, state, write_flag, request_id,
    written_at, pack_deleted_at)
  SELECT 'S7-' || i, 'S7', upper(lpad(to_hex(i), 16, '0')), 'written', 1, 'seed-S7',
    '{d}'::date + (i % 86400) * interval '1 s', now()
  FROM generate_series(1, {n}) i;
INSERT INTO report (device_number, serial, proof, written_at, state, next_attempt, received_at,
    signature, signer_pem)
  SELECT device_number, serial, md5(device_number) || md5(serial), written_at, 'done', now(),
    written_at + interval '9 s', 'c2ln', 'PEM' FROM certificate WHERE model_code = 'S7';
""".format(d=day, n=devices))
        db = [line.split("|") for line in self.sql(
            "SELECT device_number, serial, floor(extract(epoch FROM written_at))::bigint,"
            " floor(extract(epoch FROM received_at))::bigint FROM report WHERE state = 'done'"
            " AND written_at >= '%s'::date AND written_at < '%s'::date + 1"
            " ORDER BY written_at, id" % (day, day)).splitlines()]
        check(len(db) == devices, "seeded %d" % len(db))
        want_csv = "device_number,serial,written_at,receipt_at,receipt_signature_verified\r\n" + \
            "".join("%s,%s,%s,%s,yes\r\n" % (n, s, local(w), local(r)) for n, s, w, r in db)
        want_json = '{"day":"%s","devices":[%s]}\n' % (day, ",".join(
            '{"device_number":"%s","serial":"%s","written_at":"%s","receipt_at":"%s",'
            '"receipt_signature_verified":true}' % (n, s, local(w), local(r)) for n, s, w, r in db))
        client = Console(self.console_port)
        client.login("alice", OPERATOR_PASSWORD)
        for path, want in (("/audit.csv", want_csv), ("/audit.json", want_json)):
            status, headers, body = client.answer("GET", "%s?day=%s" % (path, day))
            check(status == 200 and headers.get("transfer-encoding") == "chunked" and
                  "content-length" not in headers, "%s: %d %r" % (path, status, headers))
            check(body.decode() == want, "%s: %d bytes, the database's %d" % (
                path, len(body), len(want)))
        json.loads(want_json)  # the expected text is JSON itself
        cookie = "; ".join("%s=%s" % kv for kv in client.cookies.items())
        r = subprocess.run(["curl", "-sS", "-k", "--http1.1", "-H", "Cookie: " + cookie,
                            "%s/audit.csv?day=%s" % (self.url, day)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        check(r.returncode == 0 and r.stdout.decode() == want_csv,
              "curl: %d, %d bytes: %s" % (r.returncode, len(r.stdout), r.stderr[-300:]))
        status, page = client.request("GET", "/audit?day=" + day)  # the same connection
        check(status == 200 and b"1000 device(s) written on" in page and
              b"the first 1000 shown" in page, "the Audit page after the downloads")

        # A pause in reading keeps the console's cursor open; its connection ended meanwhile.
        response = client.start("GET", "/audit.json?day=" + day)
        first = response.read(65536)
        pids = wait_for("the download paused", lambda: self.sql(
            "SELECT pid FROM pg_stat_activity WHERE state IN ('idle in transaction', 'active')"
            " AND query LIKE 'FETCH FORWARD%'"), timeout=30)
        self.sql("SELECT pg_terminate_backend(%s)" % pids.split()[0])
        try:
            rest = response.read()
            check(False, "the broken download read as complete (%d bytes)" % (
                len(first) + len(rest)))
        except http.client.IncompleteRead as e:
            check(want_json.startswith((first + e.partial).decode()),
                  "the broken download's beginning differs")
        # A browser gone mid-way: the console stops at once and says so in the audit log.
        gone = Console(self.console_port)
        gone.cookies = client.cookies
        gone.start("GET", "/audit.json?day=" + day).read(65536)
        gone.connection.close()
        wait_for("both downloads audited as broken off", lambda: self.sql(
            "SELECT count(*) FROM audit_log WHERE action = 'console_export' AND detail LIKE"
            " 'shipped and proven %s as JSON (%%, broken off)'" % day) == "2", timeout=60)
        check(self.sql("SELECT count(*) FROM audit_log WHERE action = 'console_export' AND"
                       " detail = 'shipped and proven %s as CSV (%d)'" % (day, devices)) == "2",
              "the complete downloads are not audited with their count")
        check("broken off after" in self.ct.log(), "no warning of the broken downloads")

    def today_page(self, client):
        """Today as a script without JavaScript sees it: the #alerts texts, the table's rows by
        model, the chart's per-model panels (title, the written curve's title)."""
        status, page = client.request("GET", "/")
        page = page.decode()
        check(status == 200, "Today: %d" % status)
        section = re.search(r'<section id="alerts">(.*?)</section>', page, re.S)
        check(section is not None, "Today has no #alerts")
        alerts = [html.unescape(a) for a in
                  re.findall(r'<p class="alert">(.*?)</p>', section.group(1), re.S)]
        table = re.search(r'<table id="today">(.*?)</table>', page, re.S)
        rows = {}
        for tr in re.findall(r'<tr>(.*?)</tr>', table.group(1), re.S):
            cells = [html.unescape(c) for c in re.findall(r'<td[^>]*>(.*?)</td>', tr, re.S)]
            if cells:
                rows[cells[0]] = cells
        chart = re.search(r'<svg id="plan-use"[^>]*>(.*?)</svg>', page, re.S)
        check(chart is not None, "Today has no chart of plan against use")
        panels = {html.unescape(m.group(1)): (html.unescape(m.group(2)), m.group(3))
                  for m in re.finditer(r'<g class="plan-use"[^>]*><title>([^<:]*): ([^<]*)'
                                       r'</title>.*?<polyline class="written"[^>]*><title>'
                                       r'([^<]*)</title>', chart.group(1), re.S)}
        return alerts, rows, panels

    def today_alerts(self):
        """Today's alerts, each forced and cleared again: stock below tomorrow's plan (a plan
        for tomorrow bigger than the packs held); with ca-server stopped and a device written,
        ca-server unreachable since a time and its report waiting (awaiting receipt one more),
        then the CRL past its next update; the report's proof spoiled, ca-server started: the
        installation rejected (rejected one more), and the other alerts gone after the next
        contact. The chart's curve for the model is the database's devices written per hour."""
        client = Console(self.console_port)
        client.login("alice", OPERATOR_PASSWORD)
        alerts, rows, _ = self.today_page(client)
        check(not [a for a in alerts if "ca-server" in a or "CRL" in a or "report(s) waiting" in a
                   or "tomorrow" in a], "alerts before: %r" % alerts)
        base = rows[MODEL]
        tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + 86400))
        plan = os.path.join(self.work, "plan-tomorrow.csv")
        with open(plan, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "%s,%s,50,5000,6\n" % (MODEL, tomorrow))
        self.ct.run("import", plan)
        alerts, rows, _ = self.today_page(client)
        spare = max(0, int(rows[MODEL][3]) - int(rows[MODEL][5]))
        check("model %s: stock below tomorrow's plan (%d held beyond today's need, 50 planned"
              " for %s)" % (MODEL, spare, tomorrow) in alerts, "stock: %r" % alerts)

        number = self.number(3001)  # fetched by the console's fetch now, not yet written
        self.ca.stop()
        check(self.provision(number)["result"] == "OK", "provisioned with ca-server away")
        since = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"

        def away():
            alerts, rows, _ = self.today_page(client)
            return (alerts, rows) if (
                any(re.match("ca-server unreachable (or refusing reports )?since %s" % since, a)
                    for a in alerts) and
                "1 installation report(s) waiting for ca-server" in alerts) else None
        alerts, rows = wait_for("ca-server unreachable and a report waiting", away, timeout=60)
        check(rows[MODEL][7] == str(int(base[7]) + 1) and rows[MODEL][8] == base[8],
              "awaiting receipt %s -> %s, rejected %s -> %s" % (base[7], rows[MODEL][7],
                                                                base[8], rows[MODEL][8]))
        wait_for("the CRL alert", lambda: [a for a in self.today_page(client)[0]
                                           if re.match(r"CRL number \d+, issued \d+ min ago, "
                                                       r".*: past its next update$", a)],
                 timeout=60)
        self.sql("UPDATE report SET proof = repeat('0', 64) WHERE device_number = '%s'"
                 " AND state = 'queued'" % number)
        self.ca.start()
        rejected = "model %s: 1 installation(s) rejected by ca-server, awaiting the " \
            "replacement's write" % MODEL

        def back():
            alerts, rows, panels = self.today_page(client)
            return (alerts, rows, panels) if rejected in alerts and not [
                a for a in alerts if "ca-server unreachable" in a or "report(s) waiting" in a or
                "CRL" in a] else None
        alerts, rows, panels = wait_for("the rejection and no other ca-server alert", back,
                                        timeout=60)
        check(rows[MODEL][8] == str(int(base[8]) + 1) and rows[MODEL][7] == base[7],
              "after the rejection: %r (before %r)" % (rows[MODEL], base))
        check(any(a.startswith("model %s: stock below" % MODEL) for a in alerts),
              "the stock alert went: %r" % alerts)

        # The chart: the model's curve is the day's devices written, added up hour by hour.
        title, curve = panels[MODEL]
        written = self.sql("SELECT count(*) FROM certificate WHERE model_code = '%s' AND"
                           " state = 'written' AND written_at >= '%s'::date AND written_at <"
                           " '%s'::date + 1" % (MODEL, TODAY, TODAY))
        check(title == "%s written of %s planned" % (written, rows[MODEL][2]),
              "chart title %r: %s written, plan %s" % (title, written, rows[MODEL][2]))
        per_hour = dict((int(h), int(n)) for h, n in (line.split("|") for line in self.sql(
            "SELECT extract(hour FROM written_at)::int, count(*) FROM certificate WHERE"
            " model_code = '%s' AND state = 'written' AND written_at >= '%s'::date AND"
            " written_at < '%s'::date + 1 GROUP BY 1" % (MODEL, TODAY, TODAY)).splitlines()))
        points = re.findall(r"(\d\d):00 (\d+)", curve)
        check(len(points) >= 1 and int(points[-1][0]) > max(per_hour),
              "curve %r, hours written %r" % (curve, per_hour))
        for end, value in points:
            check(int(value) == sum(n for h, n in per_hour.items() if h < int(end)),
                  "curve %r, database per hour %r" % (curve, per_hour))

    def devices_and_log_views(self):
        """Devices searched by line and by day of writing (alone and with the other filters)
        return exactly the database's rows; bad values are refused with 400; a device's page
        shows its certificate's details as `openssl x509` reads the certificate of its pack (and
        not the sealed key), or says the certificate is no longer held; its history is in
        life-cycle order; the audit log's pages, followed by their 'older' links, reach every
        entry down to the oldest, also for one day."""
        client = Console(self.console_port)
        client.login("alice", OPERATOR_PASSWORD)

        def page(path, status=200):
            got, body = client.request("GET", path)
            check(got == status, "%s: status %d, not %d" % (path, got, status))
            return body.decode()

        def found(path):
            table = page(path).split('<table id="devices">', 1)[1].split("</table>", 1)[0]
            return re.findall(r'<a href="/device\?number=[^"]*">([^<]*)</a>', table)

        order = ("split_part(device_number, '-', 1) COLLATE \"C\","
                 " split_part(device_number, '-', 2)::numeric")
        day = ("state = 'written' AND written_at >= '%s'::date AND written_at < '%s'::date + 1"
               % (TODAY, TODAY))
        for path, where, by in (
                ("/devices?line=1001", "claimed_by_line = '1001'", order),
                ("/devices?line=1001&state=written",
                 "claimed_by_line = '1001' AND state = 'written'", order),
                ("/devices?line=9999", "claimed_by_line = '9999'", order),
                ("/devices?day=" + TODAY, day, "written_at, " + order),
                ("/devices?day=%s&line=1001&state=written&q=%s" % (TODAY, MODEL),
                 day + " AND claimed_by_line = '1001' AND model_code = '%s'" % MODEL,
                 "written_at, " + order),
                ("/devices?day=2026-01-01", day.replace(TODAY, "2026-01-01"), order)):
            want = self.sql("SELECT device_number FROM certificate WHERE %s ORDER BY %s"
                            % (where, by)).split()
            got = found(path)
            check(got == want, "%s: %r, the database %r" % (path, got, want))
        check(len(found("/devices?line=1001")) == 4 and len(found("/devices?day=" + TODAY)) == 4,
              "the line's day is not found")
        check([r[0] for r in self.seen["line_day_rows"]] == self.sql(
            "SELECT device_number FROM certificate WHERE %s AND claimed_by_line = '1001'"
            " ORDER BY written_at, %s" % (day, order)).split(), "the browser's search by line and"
              " day: %r" % self.seen["line_day_rows"])
        check(len(self.seen["x509"]) == 7, "the browser's certificate: %r" % self.seen["x509"])
        for path in ("/devices?day=2026-02-30", "/devices?day=today", "/devices?line=a+b",
                     "/devices?line=" + "L" * 33, "/devices?day=%s&state=stored" % TODAY,
                     "/devices?q=" + "3" * 65, "/devices?state=lost", "/devices?line=%00",
                     "/log?before=abc", "/log?before=0", "/log?day=2026-13-01",
                     "/log?actor=" + "a" * 65):
            check("class=\"alert\"" in page(path, 400), "%s: no reason shown" % path)

        # A stored pack: its certificate as openssl reads it; its key is not shown.
        number = self.number(1000)
        pack = json.loads(self.sql("SELECT pack FROM certificate WHERE device_number = '%s'"
                                   % number))
        shown = page("/device?number=" + number)
        cell = {name: html.unescape(value) for name, value in
                re.findall(r'<td id="x509-([a-z0-9-]+)">([^<]*)</td>', shown)}
        ssl = subprocess.run(
            ["openssl", "x509", "-noout", "-subject", "-issuer", "-startdate", "-enddate",
             "-serial", "-fingerprint", "-sha256", "-nameopt", "RFC2253", "-text"],
            input=pack["certificate_pem"], stdout=subprocess.PIPE, text=True, check=True).stdout
        field = dict(line.split("=", 1) for line in ssl.split("\nCertificate:")[0].splitlines())

        def utc(text):
            return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.strptime(
                " ".join(text.split()), "%b %d %H:%M:%S %Y GMT"))
        bits = re.search(r"Public-Key: \((\d+) bit\)", ssl).group(1)
        curve = {"prime256v1": "secp256r1"}.get(
            (re.findall(r"ASN1 OID: (\S+)", ssl) or [""])[0])
        want = {"subject": ", ".join(reversed(field["subject"].split(","))),
                "issuer": ", ".join(reversed(field["issuer"].split(","))),
                "not-before": utc(field["notBefore"]), "not-after": utc(field["notAfter"]),
                "serial": field["serial"], "sha256": field["sha256 Fingerprint"],
                "key": ("EC %s (%s bits)" % (curve, bits)) if "id-ecPublicKey" in ssl
                else "RSA (%s bits)" % bits}
        check(cell == want, "certificate shown %r, openssl %r" % (cell, want))
        check(cell["serial"] == pack["serial"] and number in cell["subject"],
              "not the pack's certificate: %r" % cell)
        check(pack["sealed_key"] not in shown and pack["sealed_key"][:24] not in shown and
              'id="certificate-gone"' not in shown, "the sealed key is on the page")
        # Written after an NG write and its replacement (the line keeps written packs): the
        # replacement's certificate; the history in life-cycle order.
        written = self.number(4)
        shown = page("/device?number=" + written)
        check(re.search(r'<td id="x509-serial">%s</td>' % self.sql(
            "SELECT serial FROM certificate WHERE device_number = '%s'" % written), shown),
            "not the replacement's certificate")
        history = re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td>",
                             shown.split('<table id="history">', 1)[1])
        check(history == ["planned", "fetched", "failed", "replaced", "delivered", "written",
                          "receipt"], "history of %s: %r" % (written, history))
        # A deleted pack (its model discontinued): the page says the certificate is gone.
        gone = self.sql("SELECT min(device_number) FROM certificate WHERE model_code = 'A123'"
                        " AND pack IS NULL")
        shown = page("/device?number=" + gone)
        check(gone != "" and 'id="certificate-gone"' in shown and 'id="x509"' not in shown and
              self.sql("SELECT serial FROM certificate WHERE device_number = '%s'" % gone)
              in shown, "no word that the certificate of %r is gone" % gone)

        # The audit log: more than two pages, each page's 'older' link followed to the end.
        self.sql("INSERT INTO audit_log (at, actor, action, detail) SELECT now() - (450 - i)"
                 " * interval '1 ms', 'carol', 'seeded', 'entry ' || i"
                 " FROM generate_series(1, 450) i")
        for start, where in (("/log", "true"),
                             ("/log?day=" + TODAY, "at >= '%s'::date AND at < '%s'::date + 1"
                              % (TODAY, TODAY)),
                             ("/log?actor=carol", "actor = 'carol'")):
            path, ids, pages = start, [], 0
            while path is not None:
                shown = page(path)
                ids += [int(i) for i in re.findall(r'<tr data-id="(\d+)">', shown)]
                pages += 1
                older = re.search(r'<a id="older" href="([^"]*)"', shown)
                path = html.unescape(older.group(1)) if older else None
                check(older is not None or 'id="log-end"' in shown, "%s: no end" % start)
            want = [int(i) for i in self.sql("SELECT id FROM audit_log WHERE %s AND id <= %d"
                                             " ORDER BY id DESC" % (where, ids[0])).split()]
            check(ids == want and pages == max(1, -(-len(want) // 200)),
                  "%s: %d entries in %d pages, the database %d (oldest %s, %s)" % (
                      start, len(ids), pages, len(want), ids[-1:], want[-1:]))
        check(ids[-1] == int(self.sql("SELECT min(id) FROM audit_log WHERE actor = 'carol'")),
              "the oldest entry is not reached")

    def clean_stop(self):
        """serve ends on SIGTERM with 0 (under the sanitizers: no leak, no error found)."""
        self.ct.stop()
        log = self.ct.log()
        check("runtime error" not in log and "AddressSanitizer" not in log,
              "sanitizer report in the comm-terminal's log")


if __name__ == "__main__":
    sys.exit(main(ConsoleLine, (
        "line_day", "browser", "exports_match_database", "views_match_the_day",
        "lines_match_database", "plan_errors_listed", "fetch_progress_matches", "model_deleted",
        "audit_log", "devices_and_log_views", "streamed_exports", "today_alerts", "clean_stop"),
        __doc__))
