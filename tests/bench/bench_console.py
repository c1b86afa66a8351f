#!/usr/bin/python3
"""bench_console.py: issue 17 -- how long each page of the comm-terminal's operator console takes.

A comm-terminal's store is seeded straight in SQL with --devices devices of one model (default
100,000) over --days days (each day's share written on 64 lines, its installation report
answered with a receipt; 1% of them NG once; one audit entry per ten devices), then `serve`
with the console is started and, while --busy-lines lines (default 64) write devices at
--busy-rate devices/s in all (default 64, a device per line and second; emulated in SQL: each
device's certificate row and receipt, one NG in a hundred), every page is asked --requests times (default 50) over one
kept-alive HTTPS connection of a logged-in operator, each answer read in full by http.client; the
two downloads are then asked as often again, read by a lean client (1 MiB socket reads, the
chunked coding undone on the whole buffer), since http.client's reading of a 17 MB chunked answer
costs the client itself 100 ms or more. The load average
before and after is printed beside the figures. Prints the
median (p50) and p95 of each page in milliseconds (the goal is p95 under 200 ms) and the CPU time
per answer of the comm-terminal and of its PostgreSQL backends, read from /proc, which a loaded
machine changes far less than the wall times. Writes
OUT_DIR/bench-console.json. ca-server is not started (the console's pages only read the store).

Builds nothing: run it on a Release build (no sanitizers); see tests/bench/README.md.

Usage: bench_console.py BUILD_DIR OUT_DIR [--devices N] [--days N] [--requests N]
       [--busy-lines N] [--busy-rate N]
"""
import os
import subprocess
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_common import InfoCommTerminal, log, parse_args, run_bench  # noqa: E402
from certline_harness import CaServer, check  # noqa: E402
from certline_procs import OPERATOR_PASSWORD, free_port  # noqa: E402
from console_client import Console  # noqa: E402  (tests/lib)

GOAL_MS = 200
MODEL = "3012"


def seed(cluster, devices, days, today):
    """The store filled in SQL, as the comm-terminal would have filled it."""
    per_day = max(1, -(-devices // days))  # rounded up: every device falls on one of the days
    sql = """
INSERT INTO model (code, certificate_managed, ca_state) VALUES ('{m}', true, 'managed');
INSERT INTO plan (model_code, day, units)
  SELECT '{m}', '{t}'::date - k, {p} FROM generate_series(0, {d} - 1) k;
INSERT INTO plan_device
  SELECT '{m}-' || lpad(i::text, 9, '0'), '{m}', '{t}'::date - (i / {p})
  FROM generate_series(0, {n} - 1) i;
INSERT INTO fetch_request (request_id, day, replacement, item_count, state, ended_at)
  SELECT 'seed-' || r, '{t}'::date, false, 1000, 'completed', now()
  FROM generate_series(0, ({n} - 1) / 1000) r;
INSERT INTO certificate (device_number, model_code, serial, state, write_flag, request_id,
    claimed_by_line, claimed_at, created_at, delivered_at, written_at, pack_deleted_at,
    scanned_at, line_ms)
  SELECT '{m}-' || lpad(i::text, 9, '0'), '{m}', upper(lpad(to_hex(i + 1), 16, '0')), 'written',
    1, 'seed-' || (i / 1000), 'L' || (i % 64), ts, ts - interval '1 hour', ts,
    ts + interval '5 s', ts + interval '20 s', ts, 80 + (i::bigint * 7919) % 400
  FROM (SELECT i, ('{t}'::date - (i / {p}))::timestamptz
          + make_interval(secs => (i % {p}) * 80000.0 / {p}) AS ts
        FROM generate_series(0, {n} - 1) i) s;
INSERT INTO failed_pack (device_number, serial, line_id, reason, failed_at)
  SELECT device_number, 'AA' || serial, claimed_by_line, 'WRITE_FAILED step 3', written_at
  FROM certificate WHERE right(device_number, 2) = '07';
INSERT INTO report (device_number, serial, proof, written_at, state, attempts, next_attempt,
    received_at, signature, signer_pem)
  SELECT device_number, serial, md5(device_number) || md5(serial), written_at, 'done', 1,
    written_at, written_at + interval '10 s', 'c2lnbmF0dXJl', 'PEM'
  FROM certificate;
INSERT INTO audit_log (at, actor, action, detail)
  SELECT now() - make_interval(secs => i), 'alice', 'seed', 'seeded entry ' || i
  FROM generate_series(1, {n} / 10) i;
""".format(m=MODEL, t=today, p=per_day, d=days, n=devices)
    # Each statement on its own (the harness's psql gives up after 60 s; a million rows may take
    # longer on a busy machine).
    for statement in [part.strip() for part in sql.split(";") if part.strip()] + [
            "VACUUM ANALYZE"]:
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", cluster.conninfo("ct"),
                        "-c", statement], check=True, timeout=3600, stdout=subprocess.DEVNULL)


# 64 busy lines, in SQL: every round one device written on each line (its certificate row and
# its receipt, as the line service and the reporter leave them; one NG in a hundred), at
# --busy-rate devices per second in all, until the page times are measured.
BUSY_SQL = """
DO $$
DECLARE r bigint := 0;
BEGIN
  LOOP
    r := r + 1;
    INSERT INTO certificate (device_number, model_code, serial, state, write_flag, request_id,
        claimed_by_line, claimed_at, created_at, delivered_at, written_at, pack_deleted_at,
        scanned_at, line_ms)
      SELECT '{m}-' || (900000000000 + r * {lines} + k), '{m}',
        upper(lpad(to_hex(900000000000 + r * {lines} + k), 16, '0')), 'written', 1, 'seed-0',
        'L' || k, now(), now(), now(), now(), now(), now() - interval '0.3 s', 300
      FROM generate_series(0, {lines} - 1) k;
    INSERT INTO report (device_number, serial, proof, written_at, state, attempts,
        next_attempt, received_at, signature, signer_pem)
      SELECT device_number, serial, md5(device_number) || md5(serial), written_at, 'done', 1,
        now(), now(), 'c2lnbmF0dXJl', 'PEM'
      FROM certificate WHERE device_number BETWEEN '{m}-' || (900000000000 + r * {lines})
        AND '{m}-' || (900000000000 + r * {lines} + {lines} - 1)
        AND length(device_number) = length('{m}-900000000000');
    IF r % 100 = 0 THEN
      INSERT INTO failed_pack (device_number, serial, line_id, reason)
        VALUES ('{m}-' || (900000000000 + r * {lines}), 'AB', 'L0', 'WRITE_FAILED step 3');
    END IF;
    COMMIT;
    PERFORM pg_sleep({pause});
  END LOOP;
END $$;
"""


def proc_cpu_ms(pid):
    """User and system CPU milliseconds of a process so far (0 if it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def busy_lines(cluster, lines, rate):
    """A psql session writing as lines busy lines would, until killed."""
    sql = BUSY_SQL.format(m=MODEL, lines=lines, pause=max(0.001, lines / float(rate)))
    return subprocess.Popen(["psql", "-X", "-q", cluster.conninfo("ct"), "-c", sql],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class ConsoleBench:
    def __init__(self, args, work, cluster):
        self.args = args
        self.work = work
        self.cluster = cluster
        self.results = {"pages": {}}
        build = args.build_dir
        self.ca = CaServer(os.path.join(build, "ca-server", "ca-server"), work,
                           cluster.create_db("ca"))
        self.ct = None
        self.busy = None

    def programs(self):
        return [("comm-terminal", self.ct)]

    def measure(self):
        args = self.args
        today = time.strftime("%Y-%m-%d")
        self.ca.issue_services([])
        self.ca.port = free_port()  # not started: the pages only read the store
        port = free_port()
        self.ct = InfoCommTerminal(os.path.join(args.build_dir, "comm-terminal", "comm-terminal"),
                                   self.work, self.cluster.create_db("ct"), self.ca,
                                   console={"host": "127.0.0.1", "port": port})
        self.ct.migrate()
        started = time.monotonic()
        seed(self.cluster, args.devices, args.days, today)
        self.results["seed_seconds"] = round(time.monotonic() - started, 1)
        log("seeded %d devices over %d days in %.0f s" % (args.devices, args.days,
                                                           self.results["seed_seconds"]))
        self.ct.start()
        if args.busy_lines > 0:
            self.busy = busy_lines(self.cluster, args.busy_lines, args.busy_rate)
            time.sleep(2)
            check(self.busy.poll() is None, "the busy lines' session ended")
        self.results["load_before"] = os.getloadavg()
        client = Console(port)
        client.login("alice", OPERATOR_PASSWORD)
        some = "%s-%09d" % (MODEL, args.devices // 2)
        pages = [("today", "/"), ("devices", "/devices"),
                 ("devices by number", "/devices?q=" + some),
                 ("devices written", "/devices?state=written"),
                 ("device", "/device?number=" + some),
                 ("audit", "/audit?day=" + today), ("audit.csv", "/audit.csv?day=" + today),
                 ("audit.json", "/audit.json?day=" + today), ("audit log", "/log"),
                 ("audit log filtered", "/log?actor=alice&action=login"),
                 ("lines", "/lines?day=" + today), ("lines.part", "/lines.part?day=" + today),
                 ("fetch", "/fetch"), ("actions", "/actions"),
                 ("devices by line", "/devices?line=L5"),
                 ("devices by day", "/devices?day=" + time.strftime(
                     "%Y-%m-%d", time.localtime(time.time() - (args.days - 1) * 86400)))]
        # The two downloads once more, read by a lean client (console_client.download): what the
        # comm-terminal takes, without http.client's own cost of reading a chunked answer.
        lean = [("audit.csv, lean reader", "/audit.csv?day=" + today),
                ("audit.json, lean reader", "/audit.json?day=" + today)]
        for name, path in pages + lean:
            read = client.download if (name, path) in lean else (
                lambda path: client.request("GET", path))
            times = []
            cpu_before = self.cpu_ms()
            for _ in range(args.requests):
                began = time.perf_counter()
                status, body = read(path)
                times.append((time.perf_counter() - began) * 1000)
                check(status == 200, "%s: status %d" % (path, status))
            cpu_after = self.cpu_ms()
            times.sort()
            self.results["pages"][name] = {
                "path": path, "bytes": len(body), "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
                "ct_cpu_ms": round((cpu_after[0] - cpu_before[0]) / args.requests, 1),
                "pg_cpu_ms": round((cpu_after[1] - cpu_before[1]) / args.requests, 1)}
        self.results["load_after"] = os.getloadavg()
        if self.busy is not None:
            self.results["busy_devices_written"] = int(self.cluster.psql(
                "ct", "SELECT count(*) FROM certificate WHERE device_number LIKE '%s-9%%'"
                " AND length(device_number) = %d" % (MODEL, len(MODEL) + 13)))
            self.stop_busy()
        self.ct.stop()

    def cpu_ms(self):
        """CPU milliseconds used so far by the comm-terminal and by its PostgreSQL backends (by
        their application name), from /proc: a page's cost whatever the machine's load."""
        pids = self.cluster.psql("ct", "SELECT pid FROM pg_stat_activity"
                                 " WHERE application_name = 'comm-terminal'").split()
        return (proc_cpu_ms(self.ct.process.pid), sum(proc_cpu_ms(int(p)) for p in pids))

    def stop_busy(self):
        if self.busy is not None:
            self.busy.kill()
            self.busy.wait()
            self.busy = None

    def table(self):
        lines = ["comm-terminal console, %d devices over %d days, %d requests per page, %d lines "
                 "busy (%d devices/s in SQL; %s written meanwhile) (goal: p95 < %d ms)" % (
                     self.args.devices, self.args.days, self.args.requests,
                     self.args.busy_lines, self.args.busy_rate,
                     self.results.get("busy_devices_written", 0), GOAL_MS),
                 "load average before / after: %s / %s" % (
                     " ".join("%.1f" % x for x in self.results.get("load_before", ())),
                     " ".join("%.1f" % x for x in self.results.get("load_after", ()))),
                 "%-24s %9s %9s %10s %4s  %s" % ("page", "p50 ms", "p95 ms", "bytes", "",
                                                  "CPU ms per answer: comm-terminal / PostgreSQL")]
        for name, r in self.results["pages"].items():
            lines.append("%-24s %9.1f %9.1f %10d %4s  %.1f / %.1f" % (
                name, r["p50_ms"], r["p95_ms"], r["bytes"],
                "ok" if r["p95_ms"] < GOAL_MS else "OVER", r["ct_cpu_ms"], r["pg_cpu_ms"]))
        return "\n".join(lines)

    def stop(self):
        self.stop_busy()
        if self.ct is not None and self.ct.process is not None:
            self.ct.kill()


def main():
    def options(parser):
        parser.add_argument("--devices", type=int, default=100000)
        parser.add_argument("--days", type=int, default=10)
        parser.add_argument("--requests", type=int, default=50)
        parser.add_argument("--busy-lines", type=int, default=64)
        parser.add_argument("--busy-rate", type=int, default=64)
    _, args = parse_args(__doc__, options)
    return run_bench("bench_console", args, ConsoleBench, lambda bench: bench.measure(),
                     {"devices": args.devices, "days": args.days, "requests": args.requests,
                      "busy_lines": args.busy_lines, "busy_rate": args.busy_rate},
                     "operator console pages", "bench-console.json", "certline-bench-console-")


if __name__ == "__main__":
    sys.exit(main())
