#!/usr/bin/python3
"""bench_day_store.py: issue 7, item 2 -- a day into the store.

Measures, in one run against one ca-server (2 workers, max_batch 1000, -l info):
  (a) ca-server alone: 10,000 new device numbers sent directly by a stock SOAP client (zeep) in
      FIG 21 requests of 1,000, one after the other on a kept-alive connection, timed from the
      first request to the last parsed answer (tests/bench/bench_issuance.py's timed_batches);
  (b) the comm-terminal: `comm-terminal fetch --date D` (as operator, -l info) for a plan of
      10,000 other new numbers with fetch_chunk 1000, timed from its start to its exit (its
      packs are committed in its database when it exits; the count is checked there);
  (a) again after (b), so that (b) is bracketed by two measurements of ca-server alone.
Every number is new, so each measurement issues 10,000 new certificates. The figure is
(b) / mean of the (a) before and after it; goal <= 1.2. With --repeats N, (b) and (a) alternate N
times and the figure is the median ratio. Prints a table; writes OUT_DIR/bench-day-store.json.

Where the comm-terminal's time goes is taken from the programs' own log lines (millisecond
timestamps): ca-server logs "issued N certificate(s) for request R" when a batch is committed and
signed; the comm-terminal logs "request R: N number(s) sent", "request R: answer received" and,
from its storing thread, "request R: N pack(s) stored". Per request:
  ca-server  = from "sent" to "issued": the request on the wire and ca-server's work;
  answer     = from "issued" to "received": the answer on the wire and gSOAP's parsing;
  between    = from "received" to the next request's "sent": ca-server waits;
  store      = from "received" to "stored": the per-pack checks and the storing transaction,
               while ca-server already issues the next request.
Plus the start (to the first "sent": start-up, operator login, the first request recorded) and
the end (from the last "received" to the exit: the last answer stored). The fixed cost of
starting a comm-terminal command, with and without the operator login, is measured separately.
--profile adds one more fetch under `perf record -a -g` with PostgreSQL's statement log on for the
comm-terminal's database, which times each request's recording and its storing transaction
(see fetch_phases).

Builds nothing: run it on a Release build (no sanitizers); see tests/bench/LINES.md.

Usage: bench_day_store.py BUILD_DIR OUT_DIR [--devices N] [--repeats N] [--profile]
"""
import argparse
import datetime
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

import bench_issuance  # noqa: E402
from bench_common import (InfoCaServer, InfoCommTerminal, cluster_cpu_seconds,  # noqa: E402
                          cpu_seconds, log, machine_busy_seconds, parse_args, perf_report,
                          perf_section, run_bench)
from certline_harness import check, open_pack  # noqa: E402

GOAL = 1.2
CHUNK = 1000
MODEL = "3012"
CT_FIRST_SERIAL = 500000001  # the comm-terminal's plan: far from the direct requests' numbers

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z \S+ \w+: (.*)$")


def log_times(text, pattern):
    """{request id: epoch seconds} of the log lines whose message matches pattern (group 1 is
    the request id)."""
    out = {}
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if not m:
            continue
        found = re.search(pattern, m.group(2))
        if found:
            at = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            out[found.group(1)] = at
    return out


PG_LOG = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \S+ \[(\d+)\] LOG:  duration: "
                    r"([\d.]+) ms  (?:(parse|bind|execute) [^:]*|statement): (.*)$")


def fetch_phases(server_log):
    """The comm-terminal's database work per request, from PostgreSQL's statement log of its
    database (each statement's end time and duration), per backend (the fetch records requests
    on one connection and stores answers on another, at the same time):
      prepare  -- choosing the numbers and recording the request (the listing's start to the
                  COMMIT that records it);
      store    -- the storing transaction, BEGIN to COMMIT, and db_s: the time PostgreSQL spent
                  executing its statements."""
    events = []  # (backend, start, end, time executing, text): parse, bind and execute as one
    pending = {}  # per backend: the parse and bind seen so far of its current statement
    for line in server_log.splitlines():
        m = PG_LOG.match(line)
        if not m:
            continue
        end = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        duration = float(m.group(3)) / 1000
        pid, step = m.group(2), m.group(4)
        start, spent = pending.pop(pid, (end - duration, 0.0))
        if step == "parse":  # a statement starts here, whatever an unmatched line left
            start, spent = end - duration, 0.0
        if step in ("parse", "bind"):
            pending[pid] = (start, spent + duration)
        else:
            events.append((pid, start, end, spent + duration, m.group(5)))
    prepares, stores, open_tx = [], [], {}
    for pid, start, end, duration, text in events:
        tx = open_tx.get(pid)
        if text.startswith("SELECT p.device_number FROM plan_device"):
            open_tx[pid] = {"kind": "prepare", "start": start, "db_s": 0.0, "recorded": False}
        elif text.startswith("BEGIN") and tx is None:
            open_tx[pid] = {"kind": "store", "start": start, "db_s": 0.0, "inserts": 0}
        elif tx is not None:
            tx["db_s"] += duration
            tx["recorded"] = tx.get("recorded") or text.startswith("INSERT INTO fetch_request")
            if "inserts" in tx:
                tx["inserts"] += text.startswith("INSERT INTO certificate")
            if text.startswith(("COMMIT", "ROLLBACK")):
                if tx["kind"] == "prepare" and tx["recorded"]:
                    prepares.append(round(end - tx["start"], 3))
                elif tx["kind"] == "store" and tx["inserts"] > 0:
                    stores.append((round(end - tx["start"], 3), round(tx["db_s"], 3),
                                   tx["inserts"]))
                del open_tx[pid]
    out = []
    for i, (store_s, db_s, inserts) in enumerate(stores):
        out.append({"prepare_s": prepares[i] if i < len(prepares) else 0.0, "store_s": store_s,
                    "store_db_s": db_s, "insert_statements": inserts})
    return out


def phases_text(phases):
    if not phases:
        return ["==== fetch phases: none found in PostgreSQL's statement log ===="]
    lines = ["==== the profiled fetch per request, from PostgreSQL's statement log of the "
             "comm-terminal's database (seconds) ====",
             "prepare: choose the numbers and record the request (while ca-server issues the "
             "request before it); store: the storing transaction (while ca-server issues the "
             "next request), of which db = time PostgreSQL executed its statements; inserts: "
             "INSERT statements into certificate",
             "%8s %9s %8s %8s %8s" % ("request", "prepare", "store", "db", "inserts")]
    keys = ("prepare_s", "store_s", "store_db_s")
    for i, p in enumerate(phases):
        lines.append("%8d" % (i + 1) + "".join("%9.3f" % p[k] for k in keys) +
                     "%8d" % p["insert_statements"])
    lines.append("%8s" % "total" + "".join("%9.3f" % sum(p[k] for p in phases) for k in keys))
    return lines


def fetch_split_text(r):
    return ("start %.2f s, ca-server %.2f s, answers %.2f s, between requests %.2f s, last "
            "answer to exit %.2f s; storing (overlapped) %.2f s" % (
                r["start_to_first_sent_s"], r["ca_server_part_s"], r["answer_part_s"],
                r["between_requests_s"], r["last_received_to_exit_s"], r["store_part_s"]))


class DayStore(bench_issuance.Bench):
    """bench_issuance's Bench (operator set-up, zeep client, warm-up, timed FIG 21 batches) with
    ca-server served at -l info, plus a comm-terminal."""

    def __init__(self, args, work, cluster):
        build = args.build_dir
        ns = argparse.Namespace(ca_server=os.path.join(build, "ca-server", "ca-server"),
                                wsdl_dir=os.path.join(build, "wsdl"))
        super().__init__(ns, work, cluster)
        self.ca = InfoCaServer(ns.ca_server, work, self.conninfo)
        self.ct_binary = os.path.join(build, "comm-terminal", "comm-terminal")
        self.devices = args.devices
        self.repeats = args.repeats
        for path in (ns.ca_server, self.ct_binary):
            check(os.access(path, os.X_OK), "%s is not built" % path)
        check(os.path.exists(self.wsdl), "%s is missing (build the wsdl target)" % self.wsdl)
        self.ct = None

    def alone(self, proxy, tag):
        log("(%s) ca-server alone: %d new numbers in requests of %d (zeep, kept connection) ..."
            % (tag, self.devices, CHUNK))
        log0 = os.path.getsize(self.ca.log_path)
        t_start = time.time()
        r = self.timed_batches(proxy, MODEL, self.devices, CHUNK, "day-" + tag)
        with open(self.ca.log_path, errors="replace") as f:
            f.seek(log0)
            issued = log_times(f.read(), r"issued \d+ certificate\(s\) for request (\S+)")
        # The client's own time per request: from "issued" (committed and signed, the answer
        # about to be sent) to the parsed answer, summed.
        ends, t = [], t_start
        for s in r["request_seconds"]:
            t += s
            ends.append(t)
        tail = sorted(issued.values())
        if len(tail) == len(ends):
            r["answer_and_parse_s"] = round(sum(e - i for e, i in zip(ends, tail)), 3)
        log("  %.2f s: %.1f packs/s (CPU: ca-server %.2f s, PostgreSQL %.2f s, zeep client "
            "%.2f s)" % (r["seconds"], r["packs_per_s"], r["server_cpu_s"], r["postgres_cpu_s"],
                         r["client_cpu_s"]))
        return r

    def comm_terminal_setup(self):
        self.ct = InfoCommTerminal(self.ct_binary, self.work, self.cluster.create_db("ct"),
                                   self.ca, fetch_chunk=CHUNK, claim_seconds=120,
                                   delete_written=True, report_interval_s=5)
        self.ct.migrate()
        self.ct.run("model-set", MODEL, "--managed")

    def plan(self, k):
        """Imports a plan of `devices` new numbers for the k-th day from tomorrow; returns it."""
        day = (datetime.date.today() + datetime.timedelta(days=k)).isoformat()
        plan = os.path.join(self.work, "plan-%d.csv" % k)
        with open(plan, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n")
            f.write("%s,%s,%d,%d,9\n" % (MODEL, day, self.devices,
                                          CT_FIRST_SERIAL + (k - 1) * self.devices))
        out = self.ct.run("import", plan).stdout.strip()
        log("comm-terminal: plan of %d numbers for %s imported (%s)" % (self.devices, day, out))
        return day

    def fixed_costs(self):
        """What every `comm-terminal` command pays before its work, measured on commands that do
        almost nothing: `migrate` with nothing to apply (start, database pool, one query; every
        view needs a login since issue 20) and `model-set` (the same plus the operator login,
        PBKDF2 over the password, and an audit row). Median of 3."""
        def timed(*argv):
            runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                r = subprocess.run([self.ct_binary, "-c", self.ct.config, "-l", "info"] +
                                   list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, timeout=120)
                runs.append(time.perf_counter() - t0)
                check(r.returncode == 0, "comm-terminal %s failed: %s" % (argv[0], r.stderr))
            return round(sorted(runs)[1], 3)
        out = {"status_s": timed("migrate"),
               "operator_command_s": timed("model-set", MODEL, "--managed", "--operator",
                                           "alice", "--password-file", self.ct.password_file)}
        log("comm-terminal fixed costs: a command without login %.3f s, with the operator login "
            "%.3f s (median of 3)" % (out["status_s"], out["operator_command_s"]))
        return out

    def fetch(self, day, tag):
        log("(%s) comm-terminal fetch --date %s: %d numbers, fetch_chunk %d ..." % (
            tag, day, self.devices, CHUNK))
        argv = [self.ct_binary, "-c", self.ct.config, "-l", "info", "fetch", "--date", day,
                "--operator", "alice", "--password-file", self.ct.password_file]
        ca_pid = self.ca.process.pid
        log0 = os.path.getsize(self.ca.log_path)
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_ca0, cpu_pg0 = cpu_seconds(ca_pid), cluster_cpu_seconds(self.cluster)
        busy0 = machine_busy_seconds()
        t_start = time.time()
        started = time.perf_counter()
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=3600)
        elapsed = time.perf_counter() - started
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_ct = (children.ru_utime - children0.ru_utime) + (children.ru_stime -
                                                              children0.ru_stime)
        cpu_ca = cpu_seconds(ca_pid) - cpu_ca0
        cpu_pg = max(cluster_cpu_seconds(self.cluster) - cpu_pg0, 0.0)
        busy = machine_busy_seconds() - busy0
        check(p.returncode == 0, "fetch failed (%d): %s%s" % (p.returncode, p.stdout,
                                                                p.stderr[-3000:]))
        # Every pack committed in the comm-terminal's database, every request completed.
        stored = int(self.cluster.psql(
            "ct", "SELECT count(*) FROM certificate c JOIN plan_device p USING (device_number)"
            " WHERE p.day = '%s' AND c.state = 'stored' AND c.pack IS NOT NULL" % day))
        requests = self.cluster.psql(
            "ct", "SELECT state, count(*) FROM fetch_request WHERE day = '%s' GROUP BY state"
            % day).split()
        check(stored == self.devices, "%d packs stored for %d numbers" % (stored, self.devices))
        check(requests == ["completed|%d" % -(-self.devices // CHUNK)],
              "fetch requests not all completed: %r" % requests)
        # One pack from the store opened with the model's pre-write key: real packs.
        number, pack_text = self.cluster.psql(
            "ct", "SELECT device_number, pack FROM certificate ORDER BY device_number DESC"
            " LIMIT 1").strip().split("|", 1)
        pack, _, _ = open_pack(pack_text, self.prewrite[MODEL])
        check(pack["device_number"] == number, "a stored pack names another device")

        with open(self.ca.log_path, errors="replace") as f:
            f.seek(log0)
            issued = log_times(f.read(), r"issued \d+ certificate\(s\) for request (\S+)")
        sent = log_times(p.stderr, r"request (\S+): \d+ number\(s\) sent")
        received = log_times(p.stderr, r"request (\S+): answer received")
        stored_at = log_times(p.stderr, r"request (\S+): \d+ pack\(s\) stored")
        order = [rid for rid in sorted(sent, key=sent.get)
                 if rid in issued and rid in received and rid in stored_at]
        check(len(order) == -(-self.devices // CHUNK),
              "the logs show %d complete requests" % len(order))
        phases = []
        for k, rid in enumerate(order):
            following = sent[order[k + 1]] if k + 1 < len(order) else None
            phases.append({"request": rid, "ca_server_s": round(issued[rid] - sent[rid], 3),
                           "answer_s": round(received[rid] - issued[rid], 3),
                           "between_s": round(following - received[rid], 3)
                           if following is not None else 0.0,
                           "store_s": round(stored_at[rid] - received[rid], 3)})
        r = {"day": day, "devices": self.devices, "chunk": CHUNK, "seconds": round(elapsed, 3),
             "packs_per_s": round(self.devices / elapsed, 1), "stored_in_db": stored,
             "ct_cpu_s": round(cpu_ct, 2), "server_cpu_s": round(cpu_ca, 2),
             "postgres_cpu_s": round(cpu_pg, 2),
             "other_cpu_s": round(max(busy - cpu_ct - cpu_ca - cpu_pg, 0.0), 2),
             "requests": phases,
             "start_to_first_sent_s": round(sent[order[0]] - t_start, 3),
             "ca_server_part_s": round(sum(x["ca_server_s"] for x in phases), 3),
             "answer_part_s": round(sum(x["answer_s"] for x in phases), 3),
             "between_requests_s": round(sum(x["between_s"] for x in phases), 3),
             "last_received_to_exit_s": round(t_start + elapsed - received[order[-1]], 3),
             "store_part_s": round(sum(x["store_s"] for x in phases), 3)}
        log("  %.2f s: %.1f packs/s, %d packs in the comm-terminal's database (CPU: "
            "comm-terminal %.2f s, ca-server %.2f s, PostgreSQL %.2f s)" % (
                r["seconds"], r["packs_per_s"], stored, cpu_ct, cpu_ca, cpu_pg))
        log("  from the logs: %s" % fetch_split_text(r))
        return r

    def profile(self, out_dir):
        """One more fetch of the same size (a plan for another day) under `perf record -a -g`:
        how both cores are shared over time, and where the comm-terminal and PostgreSQL spend
        their CPU. Writes OUT_DIR/perf-day-store.txt."""
        out = os.path.join(out_dir, "perf-day-store.txt")
        if shutil.which("perf") is None:
            log("profile: perf is not installed")
            return
        day = self.plan(self.repeats + 1)
        # PostgreSQL logs every statement of the comm-terminal's database with its duration
        # (parameters left out): the fetch's own database work, measured by the server.
        self.cluster.psql("postgres", "ALTER DATABASE ct SET log_min_duration_statement = 0")
        self.cluster.psql("postgres", "ALTER DATABASE ct SET log_parameter_max_length = 0")
        server_log = os.path.join(self.cluster.dir, "server.log")
        server_log0 = os.path.getsize(server_log)
        data = os.path.join(self.work, "perf.data")
        # Which database each PostgreSQL backend serves (perf only sees "postgres"), from
        # pg_stat_activity: once before (ca-server's pooled backends) and twice early in the
        # fetch (its pool's backends live from its start to its exit). Few samples: each is a
        # psql process, which would show in the profile.
        backends, watching = {}, threading.Event()

        def sample():
            try:
                rows = self.cluster.psql("postgres", "SELECT pid, datname FROM pg_stat_activity"
                                         " WHERE datname IS NOT NULL")
                for row in rows.split():
                    pid, _, db = row.partition("|")
                    backends[int(pid)] = db
            except Exception:  # noqa: BLE001 -- a sample missed is harmless
                pass

        def watch():
            for delay in (1.4, 0.5):  # perf starts 1 s before the fetch
                if watching.wait(delay):
                    return
                sample()
        sample()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        rec = subprocess.Popen(["perf", "record", "-a", "-g", "-F", "499", "-o", data],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        fetch = None
        try:
            time.sleep(1)
            log("profile: perf record -a -g during comm-terminal fetch of %d numbers ..." %
                self.devices)
            t0 = time.perf_counter()
            fetch = subprocess.Popen([self.ct_binary, "-c", self.ct.config, "-l", "info", "fetch",
                                      "--date", day, "--operator", "alice", "--password-file",
                                      self.ct.password_file], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            _, fetch_err = fetch.communicate(timeout=3600)
            window = time.perf_counter() - t0
        finally:
            if fetch is not None and fetch.poll() is None:
                fetch.kill()
                fetch.wait()
            rec.send_signal(signal.SIGINT)
            err = rec.communicate(timeout=300)[1]
            watching.set()
            watcher.join()
        self.cluster.psql("postgres", "ALTER DATABASE ct RESET log_min_duration_statement")
        self.cluster.psql("postgres", "ALTER DATABASE ct RESET log_parameter_max_length")
        check(fetch.returncode == 0, "fetch under perf failed: %s" % fetch_err[-2000:])
        with open(server_log, errors="replace") as f:
            f.seek(server_log0)
            statements = f.read()
        with open(os.path.join(out_dir, "pg-statements-day-store.log"), "w") as f:
            f.write(statements)
        phases = fetch_phases(statements)
        if rec.returncode not in (0, -signal.SIGINT) or not os.path.exists(data):
            log("profile: perf record failed: %s" % err.strip()[-300:])
            return
        # Other sessions may run programs of the same names: sections are restricted to the
        # processes of this benchmark (perf report --pid), percentages relative to them.
        ca_pid, ct_pid = self.ca.process.pid, fetch.pid
        pg_ct = ",".join(str(p) for p, db in backends.items() if db == "ct") or "0"
        pg_ca = ",".join(str(p) for p, db in backends.items() if db == "ca") or "0"

        def report(*extra):
            return perf_report(data, *extra)

        def mine(title, pids, limit, *extra):
            return perf_section(data, title, pids, limit, *extra)

        parts = ["==== all CPU samples of both cores by program name (swapper = idle; names "
                 "not started by this benchmark are other work on the machine) ====",
                 report("--no-children", "--sort", "comm", "--percent-limit", "0.5")]
        parts += mine("comm-terminal fetch: self time by shared object and symbol", ct_pid,
                      "0.7", "--no-children", "--sort", "dso,symbol")
        parts += mine("comm-terminal fetch: time including callees", ct_pid, "5", "--children",
                      "--sort", "symbol")
        parts += mine("PostgreSQL backends of the comm-terminal's database: self time", pg_ct,
                      "1", "--no-children", "--sort", "dso,symbol")
        parts += mine("PostgreSQL backends of ca-server's database: self time", pg_ca, "1",
                      "--no-children", "--sort", "dso,symbol")
        script = subprocess.run(["perf", "script", "-i", data, "-F", "comm,pid,time", "-G"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        samples = []
        for line in script.stdout.splitlines():
            m = re.match(r"^\s*(.*?)\s+(\d+)\s+([\d.]+):\s*$", line)
            if m:
                samples.append((m.group(1), int(m.group(2)), float(m.group(3))))
        columns = ("ca-server", "pg for ca", "comm-terminal", "pg for ct", "other", "idle")
        if samples:
            begin = samples[0][2] + 1.0  # the recording started ~1 s before the fetch
            slices = {}
            for comm, pid, t in samples:
                k = int((t - begin) / 0.25)
                if 0 <= k <= int(window / 0.25):
                    db = backends.get(pid) if comm == "postgres" else None
                    group = ("pg for ca" if db == "ca" else "pg for ct" if db == "ct" else
                             "ca-server" if pid == ca_pid else
                             "comm-terminal" if pid == ct_pid else
                             "idle" if comm == "swapper" else "other")
                    slices.setdefault(k, {}).setdefault(group, 0)
                    slices[k][group] += 1
            parts.append("==== timeline of the fetch (%.1f s): samples per 250 ms slice (2 busy "
                         "cores give ~250; a tickless idle core takes few samples, so what a "
                         "slice lacks of ~250 was idle too). 'pg for ca' / 'pg for ct': the "
                         "PostgreSQL backends serving ca-server's / the comm-terminal's "
                         "database ====" % window)
            parts.append("%7s" % "t (s)" + "".join("%15s" % c for c in columns))
            totals = dict.fromkeys(columns, 0)
            for k in sorted(slices):
                parts.append("%7.2f" % (k / 4) + "".join(
                    "%15d" % slices[k].get(c, 0) for c in columns))
                for c in columns:
                    totals[c] += slices[k].get(c, 0)
            parts.append("%7s" % "total" + "".join("%15d" % totals[c] for c in columns))
        parts += phases_text(phases)
        with open(out, "w") as f:
            f.write("perf record -a -g -F 499 (system-wide) during comm-terminal fetch of %d "
                    "numbers (fetch_chunk %d): %.2f s under perf\n\n" % (
                        self.devices, CHUNK, window) + "\n".join(parts) + "\n")
        self.results["profile"] = {"tool": "perf record -a -g -F 499; PostgreSQL statement log",
                                   "file": out, "fetch_seconds_under_perf": round(window, 2),
                                   "phases_per_request": phases}
        log("profile written to %s" % out)

    def table(self):
        res = self.results
        m = res["machine"]
        g = res["goal"]
        lines = ["", "A day into the store (issue 7, item 2) -- %s, %d cores, kernel %s" % (
            m["cpu_model"], m["nproc"], m["kernel"]),
            "load average at start %.2f, at end %.2f (other work on the machine skews figures)" % (
                res["loadavg_start"][0], res["loadavg_end"][0]),
            "%d new P-256 device numbers each, FIG 21 requests of %d, ca-server workers 2" % (
                self.devices, CHUNK), ""]
        lines.append("%-44s %9s %9s %13s %9s" % ("measurement, in the order run", "seconds",
                                                 "packs/s", "rest of mach.", "ratio"))
        lines.append("-" * 88)
        for i, a in enumerate(res["alone"]):
            if i > 0:
                b = res["fetches"][i - 1]
                lines.append("%-44s %9.2f %9.1f %11.2f s %9.3f" % (
                    "(b) comm-terminal fetch, start to exit", b["seconds"], b["packs_per_s"],
                    b["other_cpu_s"], res["ratios"][i - 1]))
            lines.append("%-44s %9.2f %9.1f %11.2f s" % (
                "(a) ca-server alone, zeep client", a["seconds"], a["packs_per_s"],
                a["other_cpu_s"]))
        lines.append("(ratio: (b) / mean of the (a) before and after it; 'rest of mach.': CPU "
                     "seconds other work on the machine took meanwhile)")
        lines.append("")
        for b in res["fetches"]:
            lines.append("(b) %s, from the logs: %s; CPU s: comm-terminal %.2f, ca-server %.2f, "
                         "PostgreSQL %.2f" % (b["day"], fetch_split_text(b), b["ct_cpu_s"],
                                              b["server_cpu_s"], b["postgres_cpu_s"]))
        fc = res["comm_terminal_fixed_costs"]
        lines.append("(b) fixed cost of a comm-terminal command (separately, median of 3): %.3f s "
                     "without login, %.3f s with the operator login" % (
                         fc["status_s"], fc["operator_command_s"]))
        lines.append("(a) CPU s: ca-server %s; PostgreSQL %s; zeep client %s" % tuple(
            "/".join("%.2f" % a[k] for a in res["alone"])
            for k in ("server_cpu_s", "postgres_cpu_s", "client_cpu_s")))
        lines.append("(a) answers (from 'issued' to the client's parsed answer), s: %s" % "/".join(
            "%.2f" % a["answer_and_parse_s"] if "answer_and_parse_s" in a else "-"
            for a in res["alone"]))
        if "profile" in res and res["profile"].get("phases_per_request"):
            ph = res["profile"]["phases_per_request"]
            tot = {k: sum(p[k] for p in ph) for k in ph[0]}
            lines.append("profiled fetch (%s, PostgreSQL statement log): recording the requests "
                         "%.2f s, storing transactions %.2f s (PostgreSQL executing %.2f s), "
                         "both overlapped with ca-server's work" % (
                             res["profile"]["file"], tot["prepare_s"], tot["store_s"],
                             tot["store_db_s"]))
        lines += ["", "Goal:"]
        lines.append("  %-62s ratio %6.3f  target <= %.2f  %s" % (
            g["goal"], g["ratio"], g["target"], "MET" if g["met"] else "NOT MET"))
        return "\n".join(lines)


def main():
    def options(parser):
        parser.add_argument("--devices", type=int, default=10000)
        parser.add_argument("--repeats", type=int, default=1,
                            help="fetches, each between two ca-server-alone measurements; the "
                            "figure is the median ratio")
        parser.add_argument("--profile", action="store_true",
                            help="one more fetch under perf record -a -g: "
                            "OUT_DIR/perf-day-store.txt")
    _, args = parse_args(__doc__, options)
    if args.repeats < 1:
        sys.exit("bench_day_store: --repeats must be at least 1")
    if args.devices < CHUNK or args.devices % CHUNK:
        sys.exit("bench_day_store: --devices must be a multiple of %d" % CHUNK)

    def measure(bench):
        bench.operator_setup()
        proxy = bench.serve(2)  # workers 2, max_batch 1000; one untimed 20-number warm-up
        bench.comm_terminal_setup()  # its configuration names ca-server's port
        days = [bench.plan(k + 1) for k in range(args.repeats)]
        alone = bench.results["alone"] = [bench.alone(proxy, "a0")]
        bench.results["comm_terminal_fixed_costs"] = bench.fixed_costs()
        fetches = bench.results["fetches"] = []
        for k, day in enumerate(days):
            fetches.append(bench.fetch(day, "b%d" % (k + 1)))
            alone.append(bench.alone(proxy, "a%d" % (k + 1)))
        bench.results["loadavg_end"] = list(os.getloadavg())  # before perf's own work
        if args.profile:
            bench.profile(args.out_dir)
        bench.ca.stop()
        ratios = bench.results["ratios"] = [
            round(b["seconds"] / ((alone[k]["seconds"] + alone[k + 1]["seconds"]) / 2), 3)
            for k, b in enumerate(fetches)]
        ratio = round(statistics.median(ratios), 3)
        bench.results["goal"] = {
            "goal": "comm-terminal fetch / ca-server alone <= %.1f (%d devices%s)" % (
                GOAL, args.devices, ", median of %d" % len(ratios) if len(ratios) > 1 else ""),
            "ratio": ratio, "target": GOAL, "met": ratio <= GOAL}

    settings = {
        "devices": args.devices, "chunk": CHUNK, "model": MODEL, "repeats": args.repeats,
        "ca_server": {"workers": 2, "max_batch": CHUNK, "log_level": "info"},
        "comm_terminal": {"fetch_chunk": CHUNK, "db_connections": 8, "log_level": "info"}}
    note = "setup: private PostgreSQL, ca-server init, service certificates, models ..."
    return run_bench("bench_day_store", args, DayStore, measure, settings, note,
                     "bench-day-store.json", "certline-bench-day-")


if __name__ == "__main__":
    sys.exit(main())
