#!/usr/bin/python3
"""test_console_limits.py: what the operator consoles may take from production, and a shutdown
during the console's Fetch now, against the real ca-server, comm-terminal, factory-terminal and
device-agent on a private PostgreSQL (no browser: the consoles over HTTPS as a script would use
them).

Covers: a console share that would leave production no database connection refused by `-n` and
by `serve` with its reason (both programs); SIGTERM while the console's Fetch now waits on a
ca-server that stopped answering (SIGSTOP): serve exits with 0 within seconds, every answer
stored is whole and the rest stays pending, then after a restart the fetch resends the pending
requests and completes; the comm-terminal's console share (2 of 4 connections) held by two
downloads whose browser stops reading: a further console request is answered 503 after about a
second, a line's device is provisioned meanwhile, the send timeout breaks both downloads off
(audited) and frees their connections, and the console works again; that share held again:
what needs no database (the login form, the static script, the way to the login without a
session) is served at once, what does (a page of a session, a login sent) is answered 503 with
Retry-After; ca-server's console share (the default, 1 of 3) held by a revocation waiting on a
row lock: a further console request is answered 503 while the comm-terminal's fetch is issued
at once, then the revocation completes and the console works again; both servers end on SIGTERM
with 0.

Usage: test_console_limits.py CA_SERVER COMM_TERMINAL FACTORY_TERMINAL DEVICE_AGENT WSDL_DIR
"""
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "line"))

from test_line import MODEL, TODAY, Line, check, run_cases, wait_for  # noqa: E402
from certline_procs import OPERATOR_PASSWORD, free_port  # noqa: E402
from console_client import Console  # noqa: E402

CAROL_PASSWORD = "carol revokes 12345"
FETCH_UNITS = 300  # numbers the console's fetch asks for, 2 per request
SEND_TIMEOUT_S = 15
BIG_DAY, BIG_DEVICES = "2026-01-15", 100000
# The comm-terminal's downloads under way: each reads its rows through a cursor.
DOWNLOAD_CURSORS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = 'ct' AND query LIKE"
                    " 'FETCH FORWARD%' AND state IN ('idle in transaction', 'active')")


def context():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


class LimitsLine(Line):
    UNITS = 4

    def setup(self):
        self.console_port, self.ca_console_port = free_port(), free_port()
        self.ca.write_config(self.ca.conninfo, limits=self.LIMITS, db_connections=3, console={
            "host": "127.0.0.1", "port": self.ca_console_port})
        self.CT_SETTINGS = {"report_interval_s": 1, "fetch_chunk": 2, "db_connections": 4,
                            "console": {"host": "127.0.0.1", "port": self.console_port,
                                        "db_connections": 2, "send_timeout_s": SEND_TIMEOUT_S}}
        super().setup()

    def sql(self, query, db="ct"):
        return self.cluster.psql(db, query).strip()

    def login(self):
        client = Console(self.console_port)
        client.login("alice", OPERATOR_PASSWORD)
        return client

    def share_refused(self):
        """A console share that leaves production nothing is refused, with its reason, by -n
        and by serve; the share asked here (2 of 4) and ca-server's default pass -n."""
        for binary, path, name in ((self.ct_binary, self.ct.config, "comm-terminal"),
                                   (self.ca_binary, self.ca.config, "ca-server")):
            r = subprocess.run([binary, "-c", path, "-n"], capture_output=True, text=True)
            check(r.returncode == 0 and "configuration OK" in r.stdout, "%s -n: %s" % (
                name, r.stdout + r.stderr))
            with open(path) as f:
                config = json.load(f)
            for console, pool, why in (
                    ({"db_connections": 4}, 4,
                     "console.db_connections 4 must be less than db_connections 4"),
                    ({"db_connections": 0}, 1, "db_connections 1 leaves no database connection for the console")):
                bad = dict(config, db_connections=pool,
                           listen=dict(config["listen"], port=0),
                           console=dict(config["console"], port=free_port(), **console))
                bad_path = os.path.join(self.work, "bad-%s.json" % name)
                with open(bad_path, "w") as f:
                    json.dump(bad, f)
                for args in (["-n"], ["serve"]):
                    r = subprocess.run([binary, "-c", bad_path] + args, capture_output=True,
                                       text=True, timeout=60)
                    check(r.returncode != 0 and why in r.stderr,
                          "%s %s with %r: %d %s" % (name, args[0], console, r.returncode,
                                                    r.stderr[-400:]))

    def fetch_stopped_by_sigterm(self):
        """The console's Fetch now under way, ca-server stopped mid-way (SIGSTOP): SIGTERM ends
        serve with 0 within seconds (the receive timeout is 10 s), only whole answers are stored
        and the rest is pending; after a restart the next Fetch now resends them and completes."""
        plan = os.path.join(self.work, "plan-many.csv")
        with open(plan, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "%s,%s,%d,5000,6\n" % (MODEL, TODAY, FETCH_UNITS))
        self.ct.run("import", plan)
        new = "device_number >= '%s' AND device_number <= '%s'" % (
            self.number(5000), self.number(5000 + FETCH_UNITS - 1))
        client = self.login()
        status, _ = client.request("POST", "/fetch", "csrf=" + client.csrf("/actions"))
        check(status == 303, "POST /fetch: %d" % status)
        wait_for("a few answers stored", lambda: int(self.sql(
            "SELECT count(*) FROM certificate WHERE pack IS NOT NULL AND " + new)) >= 6,
            timeout=60)
        os.kill(self.ca.process.pid, signal.SIGSTOP)
        try:
            time.sleep(1)  # the fetch now waits on ca-server
            _, page = client.request("GET", "/fetch")
            check(b'data-state="running"' in page, "the fetch is not under way: %r" % page[-600:])
            started = time.monotonic()
            self.ct.process.send_signal(signal.SIGTERM)
            try:
                code = self.ct.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.ct.process.kill()
                self.ct.process.wait()
                check(False, "comm-terminal did not stop on SIGTERM during the fetch")
            took = time.monotonic() - started
            self.ct.process = None
            check(code == 0, "serve exited with %d" % code)
            check(took < 6, "serve took %.1f s to stop during the fetch" % took)
        finally:
            os.kill(self.ca.process.pid, signal.SIGCONT)
        stored = int(self.sql("SELECT count(*) FROM certificate WHERE pack IS NOT NULL AND " + new))
        check(0 < stored < FETCH_UNITS, "%d of %d stored before the stop" % (stored, FETCH_UNITS))
        check(self.sql("SELECT count(*) FROM fetch_request f WHERE state = 'completed' AND"
                       " item_count <> (SELECT count(*) FROM certificate c WHERE c.request_id ="
                       " f.request_id AND c.pack IS NOT NULL)") == "0",
              "a completed request without all its packs")
        check(self.sql("SELECT count(*) FROM certificate c JOIN fetch_request f USING"
                       " (request_id) WHERE f.state <> 'completed'") == "0",
              "a pack stored for a request not completed")
        pending = self.sql("SELECT request_id FROM fetch_request WHERE state = 'pending'"
                           ).splitlines()
        check(len(pending) >= 1, "no request left pending")
        check("stopped by the comm-terminal's shutdown" in self.ct.log(),
              "the stop is not logged")
        check(self.sql("SELECT count(*) FROM audit_log WHERE action = 'fetch_now' AND detail"
                       " LIKE '%failed%'") == "1", "the stopped fetch is not audited as failed")

        self.ct.start()
        client = self.login()
        status, _ = client.request("POST", "/fetch", "csrf=" + client.csrf("/actions"))
        check(status == 303, "POST /fetch after the restart: %d" % status)
        wait_for("the fetch done", lambda: b'data-state="done"' in client.request(
            "GET", "/fetch")[1], timeout=180)
        check(self.sql("SELECT count(*) FROM certificate WHERE pack IS NOT NULL AND " + new) ==
              str(FETCH_UNITS), "not every planned number has its pack after the restart")
        check(self.sql("SELECT count(*) FROM fetch_request WHERE state = 'pending'") == "0",
              "requests still pending")
        check(self.sql("SELECT count(*) FROM fetch_request WHERE state = 'completed' AND"
                       " request_id IN (%s)" % ",".join("'%s'" % p for p in pending)) ==
              str(len(pending)), "the pending requests were not resent under their ids")

    def seed_big_day(self):
        """A day of BIG_DEVICES receipts: a download of it outlasts any socket buffer."""
        self.sql("""
INSERT INTO model (code, certificate_managed, ca_state) VALUES ('S8', true, 'managed');
INSERT INTO fetch_request (request_id, day, replacement, item_count, state, ended_at)
  VALUES ('seed-S8', '{d}', false, 1, 'completed', now());
INSERT INTO certificate (device_number, model_code, serial, state, write_flag, request_id,
    written_at, pack_deleted_at)
  SELECT 'S8-' || i, 'S8', upper(lpad(to_hex(i), 16, '0')), 'written', 1, 'seed-S8',
    '{d}'::date + (i % 86400) * interval '1 s', now() FROM generate_series(1, {n}) i;
INSERT INTO report (device_number, serial, proof, written_at, state, next_attempt, received_at,
    signature, signer_pem)
  SELECT device_number, serial, md5(device_number) || md5(serial), written_at, 'done', now(),
    written_at + interval '5 s', 'c2ln', 'PEM' FROM certificate WHERE model_code = 'S8';
""".format(d=BIG_DAY, n=BIG_DEVICES))

    def stalled_download(self, cookies):
        """A download of the big day whose reader takes the head and then reads no more."""
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", self.console_port))
        s = context().wrap_socket(raw)
        s.sendall(("GET /audit.json?day=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: %s\r\n\r\n" % (
            BIG_DAY, "; ".join("%s=%s" % kv for kv in cookies.items()))).encode())
        head = s.recv(4096)
        check(head.startswith(b"HTTP/1.1 200"), "the stalled download: %r" % head[:200])
        return s

    def busy(self, port, cookies, path="/"):
        """One console request on a new connection: its status, body, Retry-After and time."""
        c = Console(port)
        c.cookies = dict(cookies)
        started = time.monotonic()
        status, headers, body = c.answer("GET", path)
        c.connection.close()
        return status, body, headers.get("retry-after"), time.monotonic() - started

    def console_share_busy(self):
        """Two downloads whose browser stops reading hold the console's 2 connections: a third
        console request is answered 503 after about a second; production (a line provisioning a
        device) goes on meanwhile; the send timeout breaks the downloads off and frees their
        connections; then the console works again."""
        self.seed_big_day()
        client = self.login()
        started = time.monotonic()
        stalled = [self.stalled_download(client.cookies) for _ in range(2)]
        try:
            wait_for("both downloads reading", lambda: self.sql(DOWNLOAD_CURSORS) == "2",
                     timeout=30)
            status, body, retry, took = self.busy(self.console_port, client.cookies)
            check(status == 503 and b"busy" in body and retry == "2",
                  "a console request beyond the share: %d %r" % (status, body[:200]))
            check(0.8 < took < 4, "the busy answer took %.1f s" % took)
            t = time.monotonic()
            self.provision(self.number(1))
            check(time.monotonic() - t < 40, "the line waited %.1f s" % (time.monotonic() - t))
            check(self.busy(self.console_port, client.cookies)[0] == 503,
                  "the console's share was not held throughout the line's device")
            # The readers still hold their sockets: only the send timeout frees the share.
            wait_for("the console free again", lambda: self.busy(
                self.console_port, client.cookies)[0] == 200, timeout=SEND_TIMEOUT_S + 30)
            check(time.monotonic() - started > SEND_TIMEOUT_S - 5,
                  "the share was freed after %.1f s, before the send timeout" % (
                      time.monotonic() - started))
            wait_for("both downloads' cursors closed", lambda: self.sql(DOWNLOAD_CURSORS) == "0",
                     timeout=10)
        finally:
            for s in stalled:
                s.close()
        wait_for("both downloads audited as broken off", lambda: self.sql(
            "SELECT count(*) FROM audit_log WHERE action = 'console_export' AND detail LIKE"
            " 'shipped and proven %s as JSON (%%, broken off)'" % BIG_DAY) == "2", timeout=30)
        check("console: GET / from 127.0.0.1 answered 503" in self.ct.log(),
              "the busy answer is not logged")
        status, body = client.download("/audit.csv?day=" + TODAY)
        check(status == 200 and self.number(1).encode() in body,
              "the download after the fault: %d %r" % (status, body[:200]))

    def pages_without_database_while_busy(self):
        """The comm-terminal's console share held again by two stalled downloads: what needs no
        database is served at once all the same (the login form, the static script, the way to
        the login for a browser without a session, no icon), while a page of a session (its
        operator's standing is checked with the database) and a login sent are answered 503
        busy with Retry-After; once the downloads' browsers are gone the console works again."""
        if self.sql("SELECT count(*) FROM model WHERE code = 'S8'") == "0":
            self.seed_big_day()
        client = self.login()
        stalled = [self.stalled_download(client.cookies) for _ in range(2)]
        try:
            wait_for("both downloads reading", lambda: self.sql(DOWNLOAD_CURSORS) == "2",
                     timeout=30)
            for path, want, what in (("/login", 200, b'name="csrf"'),
                                     ("/console.js", 200, b"use strict"),
                                     ("/devices", 303, b""),
                                     ("/favicon.ico", 404, b"no icon")):
                stranger = Console(self.console_port)  # a browser without a session
                started = time.monotonic()
                status, headers, body = stranger.answer("GET", path)
                took = time.monotonic() - started
                check(status == want and what in body and took < 0.9,
                      "GET %s while the share is held: %d in %.2f s %r" % (
                          path, status, took, body[:200]))
                if path == "/devices":
                    check(headers.get("location") == "/login", "GET /devices: %r" % headers)
                if path == "/login":
                    token = re.search(rb'name="csrf" value="([0-9a-f]{64})"', body).group(1)
                    status, headers, body = stranger.answer(
                        "POST", "/login", "csrf=%s&operator=alice&password=x" % token.decode())
                    check(status == 503 and b"busy" in body and
                          headers.get("retry-after") == "2",
                          "a login sent while the share is held: %d %r" % (status, body[:200]))
                stranger.connection.close()
            for path in ("/", "/devices", "/console.js"):
                status, body, retry, took = self.busy(self.console_port, client.cookies, path)
                if path == "/console.js":
                    check(status == 200 and b"use strict" in body and took < 0.9,
                          "GET /console.js of a session: %d in %.2f s" % (status, took))
                else:
                    check(status == 503 and b"busy" in body and retry == "2" and 0.8 < took < 4,
                          "GET %s of a session while the share is held: %d in %.1f s %r" % (
                              path, status, took, body[:200]))
        finally:
            for s in stalled:
                s.close()  # the browsers gone: the next part sent fails and frees the share
        wait_for("the console free again", lambda: self.busy(
            self.console_port, client.cookies)[0] == 200, timeout=SEND_TIMEOUT_S + 30)
        check("console: POST /login from 127.0.0.1 answered 503" in self.ct.log(),
              "the busy login is not logged")

    def ca_console_share_busy(self):
        """ca-server's console holds its one connection (the default share of 3) in a
        revocation waiting on a row lock: a further console request is answered 503 while the
        comm-terminal's fetch is issued at once; the revocation then completes and the console
        works again."""
        path = os.path.join(self.work, "carol-password")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(CAROL_PASSWORD + "\n")
        self.ca.run("operator-add", "carol", "--password-file", path)
        wait_for("device 1 installed", lambda: self.sql(
            "SELECT count(*) FROM certificate WHERE device_number = '%s' AND state ="
            " 'installed'" % self.number(1), db="ca") == "1", timeout=60)
        serial = self.sql("SELECT serial FROM certificate WHERE device_number = '%s' AND state ="
                          " 'installed'" % self.number(1), db="ca")
        carol = Console(self.ca_console_port)
        carol.login("carol", CAROL_PASSWORD, cookie="__Host-certline-ca")
        token = carol.csrf("/certificates")
        holder = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", self.cluster.conninfo("ca")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        revoked = {}
        try:
            holder.stdin.write("BEGIN;\nSELECT serial FROM certificate WHERE serial = '%s' FOR"
                               " UPDATE;\n" % serial)
            holder.stdin.flush()
            check(holder.stdout.readline().strip() == serial, "the row lock was not taken")

            def revoke():
                revoked["status"], revoked["page"] = carol.request(
                    "POST", "/revoke", "csrf=%s&serial=%s&reason=keyCompromise&comment=held"
                    "&confirm=yes" % (token, serial))
            thread = threading.Thread(target=revoke)
            thread.start()
            wait_for("the revocation waiting on the lock", lambda: self.sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'ca' AND"
                " wait_event_type = 'Lock'", db="ca") == "1", timeout=30)
            status, body, retry, took = self.busy(self.ca_console_port, carol.cookies)
            check(status == 503 and b"busy" in body and 0.8 < took < 4,
                  "ca-server's console beyond its share: %d in %.1f s" % (status, took))
            plan = os.path.join(self.work, "plan-ca.csv")
            with open(plan, "w") as f:
                f.write("device_code,date,units,first_serial,serial_digits\n"
                        "%s,%s,4,9000,6\n" % (MODEL, TODAY))
            self.ct.run("import", plan)
            t = time.monotonic()
            r = self.ct.run("fetch", "--date", TODAY)
            check(time.monotonic() - t < 20 and "fetch for %s complete" % TODAY in r.stdout,
                  "the fetch while the CA console is busy: %.1f s %r" % (
                      time.monotonic() - t, r.stdout + r.stderr))
            check(self.sql("SELECT count(*) FROM certificate WHERE device_number >= '%s' AND"
                           " device_number <= '%s'" % (self.number(9000), self.number(9003)),
                           db="ca") == "4", "the 4 numbers not issued at ca-server")
            check(thread.is_alive(), "the revocation did not wait on the lock")
        finally:
            holder.stdin.write("ROLLBACK;\n")
            holder.stdin.close()
            holder.wait(timeout=30)
        thread.join(timeout=30)
        check(revoked.get("status") in (200, 303), "the held revocation: %r" % revoked)
        check(self.sql("SELECT state FROM certificate WHERE serial = '%s'" % serial, db="ca") ==
              "revoked", "the held revocation did not complete")
        status, page = carol.request("GET", "/certificate?serial=" + serial)
        check(status == 200 and re.search(rb"revoked", page) is not None,
              "the CA console after the fault: %d" % status)

    def clean_stop(self):
        """Both servers end on SIGTERM with 0 (under the sanitizers: no leak, no error)."""
        self.ct.stop()
        self.ca.stop()
        for log in (self.ct.log(), self.ca.log()):
            check("runtime error" not in log and "AddressSanitizer" not in log,
                  "a sanitizer report in a log")


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    binaries = [os.path.abspath(p) for p in sys.argv[1:5]]
    return run_cases(LimitsLine, binaries, os.path.abspath(sys.argv[5]), (
        "share_refused", "fetch_stopped_by_sigterm", "console_share_busy",
        "pages_without_database_while_busy", "ca_console_share_busy", "clean_stop"))


if __name__ == "__main__":
    sys.exit(main())
