#!/usr/bin/python3
"""bench_line_time.py: issue 7, items 3 and 5 -- per-device line time, and memory.

Runs all four certline programs with real mutual TLS on loopback, as deploy/sim/factory_day.py
does (a private PostgreSQL, ca-server, one comm-terminal, one factory terminal per line, and one
device-agent process per device, each with its own flash and NVRAM images), every program at log
level info. For each configuration (1 line, then 4 lines busy at once) it measures:

  * line time per device, scan -> S13, two ways: `elapsed_ms` from the factory terminal's JSON
    event (its own clock: start of S5 to the S13 answer), and the wall time this driver sees from
    writing the scan to the terminal's stdin to reading the event from its stdout: p50, p99, max;
  * CPU ms per device of each program: ca-server, comm-terminal and the factory terminals from
    /proc/PID/stat before and after the measured window (the window ends once every installation
    report has its receipt, so ca-server's share is inside); each device-agent from its rusage
    (os.wait4 when it exits after --once), split into start-up (until it listens, read from
    /proc/PID/task/*/schedstat) and the rest (scan to exit); PostgreSQL for information;
  * peak RSS: each device-agent's own, from GNU time (/usr/bin/time -f %M: see
    MeasuredDeviceAgent for why not os.wait4's ru_maxrss), each factory terminal's VmHWM at the
    end of its configuration (comm-terminal and ca-server shown for information).

A device-agent is started and waits listening before its scan: its start-up is not line time.
With more than one line, the lines go in rounds by default: every line's device-agent is
listening, then all lines scan at once, so exactly N devices are in progress together and no
process start-up competes with a measured device (--free-running: each line goes at its own pace,
start-ups overlap other lines' devices). A few warm-up devices per line are not measured.

Prints a table with each figure, its ratio to issue 7's goal (4 lines: p50 <= 40 ms, p99 <= 80 ms;
device-agent <= 8 MiB, factory-terminal <= 16 MiB peak RSS) and MET / NOT MET, and writes
OUT_DIR/bench-line-time.json. A benchmark, not a test: a goal not met fails nothing.

Usage: bench_line_time.py BUILD_DIR OUT_DIR [--devices N] [--lines-list 1,4] [--warmup N]
                          [--free-running] [--profile]
  --devices N     devices measured per configuration, shared by its lines (default 400: one line
                  does 400, four lines 4 x 100)
  --profile       afterwards, one more run of the largest configuration (--profile-devices
                  devices, default 40) under `perf record -a --call-graph dwarf`, reported for
                  this run's own processes only: OUT_DIR/perf-line-time.txt; then 10 rounds per
                  configuration with every program at log level debug: the time of each step
                  of a device, from their log records and the driver's scan and event times:
                  OUT_DIR/steps-line-time.txt

Builds nothing: run it on a Release build without sanitizers (see tests/bench/LINE_TIME.md).
"""
import contextlib
import datetime
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

import pg_private  # noqa: E402
from bench_common import (cluster_pids, cpu_seconds, log, machine_busy_seconds,  # noqa: E402
                          parse_args, run_bench)
from line_time_profile import STEP_ROUNDS, Profiling  # noqa: E402
from certline_procs import (CaServer, CommTerminal, DeviceAgent, Failure,  # noqa: E402
                            FactoryTerminal, check, free_port, log_size, wait_for_text)

MODEL = "3012"
GOAL_P50_MS = 40.0
GOAL_P99_MS = 80.0
GOAL_DA_RSS_MIB = 8.0
GOAL_FT_RSS_MIB = 16.0
GOAL_LINES = 4  # the line-time goals are for 4 lines busy at once


# ---- measuring processes ----

def proc_cpu_precise_s(pid):
    """CPU time of the live threads of a process in nanosecond resolution (schedstat), for the
    few milliseconds a device-agent uses to start."""
    total = 0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


def proc_hwm_kib(pid):
    """Peak resident set size (VmHWM) of a running process, KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cluster_cpu_s(cluster):
    """CPU seconds of the private PostgreSQL (processes that ended in between drop out)."""
    total = 0.0
    for pid in cluster_pids(cluster):
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def utc_ms():
    """Now, as the programs' log records write it (UTC, milliseconds)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)


def percentile(values, p):
    """Nearest-rank percentile: the smallest value with at least p% of the values <= it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def spread(values):
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values),
            "mean": round(sum(values) / len(values), 2), "n": len(values)}


# ---- the programs, at the production log level (certline_procs starts them at debug) ----

class LevelCaServer(CaServer):
    level = "info"


class LevelCommTerminal(CommTerminal):
    level = "info"


class LevelFactoryTerminal(FactoryTerminal):
    level = "info"


def child_pid(parent, timeout=10):
    """The one child process of parent (a Popen), found by its PPid in /proc."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and parent.poll() is None:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == parent.pid:
                            return int(entry)
                except (OSError, ValueError, IndexError):
                    pass
        time.sleep(0.001)
    raise Failure("process %d started no child" % parent.pid)


class MeasuredDeviceAgent(DeviceAgent):
    """A device-agent for one device: `serve --once`, run under GNU time, which reports the
    agent's own peak RSS. (The ru_maxrss this driver could get with os.wait4 would be wrong: a
    process keeps the high-water mark of the memory it had before exec, so every child forked
    from this ~20 MiB Python process would show at least that. GNU time's child is forked from
    a ~1 MiB process.) Reaped with os.wait4 for the CPU time of both."""
    level = "info"
    registry = None  # a set of live Popen objects shared with the clean-up
    time_binary = "/usr/bin/time"

    def serve_once(self):
        start = log_size(self.log_path)
        self.time_out = os.path.join(self.dir, "time.out")
        with open(self.log_path, "a") as log_file:
            self.process = subprocess.Popen(
                [self.time_binary, "-o", self.time_out, "-f", "%M",
                 self.binary, "-c", self.config, "-l", self.level, "serve", "--once"],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                start_new_session=True)  # its own process group: killed with the agent
        self.registry.add(self.process)
        wait_for_text(self.log_path, "listening on", self.process, start=start)
        self.agent_pid = child_pid(self.process)

    def startup_cpu_s(self):
        """(CPU of GNU time itself, CPU of the agent until now): read while it listens."""
        return proc_cpu_precise_s(self.process.pid), proc_cpu_precise_s(self.agent_pid)

    def reap(self, timeout=60):
        """Waits for the agent (and GNU time) to end; returns (exit code, CPU seconds of both,
        the agent's peak RSS in KiB)."""
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid != 0:
                break
            if time.monotonic() > deadline:
                raise Failure("device-agent %s did not end after S13" % self.device_number)
            time.sleep(0.002)
        code = os.waitstatus_to_exitcode(status)
        self.process.returncode = code  # reaped here: Popen must not wait for it again
        self.registry.discard(self.process)
        self.process = None
        with open(self.time_out) as f:
            maxrss = int(f.read().split()[-1])  # "Command exited with non-zero status" first
        return code, usage.ru_utime + usage.ru_stime, maxrss


# ---- the bench ----

class LineBench(Profiling):
    # The programs whose log level the steps raise to debug (line_time_profile.py).
    levelled = (LevelCaServer, LevelCommTerminal, LevelFactoryTerminal, MeasuredDeviceAgent)

    def __init__(self, args, work, cluster=None):
        """cluster: None (run_bench's signature): the bench starts its own in setup()."""
        self.args = args
        self.work = work
        self.binary = {name: os.path.join(args.build_dir, name, name) for name in
                       ("ca-server", "comm-terminal", "factory-terminal", "device-agent")}
        for name, path in self.binary.items():
            check(os.access(path, os.X_OK), "%s is not built: %s" % (name, path))
        check(os.access(MeasuredDeviceAgent.time_binary, os.X_OK),
              "GNU time (%s, Debian package `time`) is needed for the device-agent's peak RSS"
              % MeasuredDeviceAgent.time_binary)
        self.max_lines = max(args.lines_list)
        self.line_ids = ["%d" % (1001 + i) for i in range(self.max_lines)]
        self.cluster = self.ca = self.ct = None
        self.terminals = {}
        self.live_agents = set()
        MeasuredDeviceAgent.registry = self.live_agents
        self.stopping = threading.Event()
        self.threads = []
        self.barrier = None
        self.keep_agent_logs = False
        self.serial = 0
        self.results = {"configurations": []}

    # ---- set-up (not measured) ----

    def device_count(self):
        """Every device this run provisions: measured, warm-up and profile devices."""
        warmup = self.args.warmup
        total = sum((self.per_line(n) + warmup) * n for n in self.args.lines_list)
        if self.args.profile:
            n = self.max_lines
            total += (self.per_line(n, self.args.profile_devices) + warmup) * n
            total += sum((STEP_ROUNDS + warmup) * n for n in self.args.lines_list)  # at debug
        return total

    def per_line(self, lines, devices=None):
        return max(1, (devices or self.args.devices) // lines)

    def setup(self):
        self.cluster = pg_private.PrivateCluster()  # known to stop() before it starts
        self.cluster.start()
        self.ca = ca = LevelCaServer(self.binary["ca-server"], self.work,
                                     self.cluster.create_db("ca"))
        ca.issue_services(self.line_ids)
        ca.run("model-add", MODEL)
        self.bundle = os.path.join(self.work, "model-%s.bundle" % MODEL)
        ca.run("model-export", MODEL, "--out", self.bundle)
        ca.start()

        self.ct = ct = LevelCommTerminal(self.binary["comm-terminal"], self.work,
                                         self.cluster.create_db("ct"), ca, fetch_chunk=100,
                                         claim_seconds=30, delete_written=True,
                                         report_interval_s=1)
        ct.migrate()
        ct.run("model-set", MODEL, "--managed")
        self.today = time.strftime("%Y-%m-%d")
        plan = os.path.join(self.work, "plan.csv")
        with open(plan, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n%s,%s,%d,1,6\n" % (
                MODEL, self.today, self.device_count()))
        ct.run("import", plan)
        log("fetching %d packs from ca-server into the comm-terminal ..." % self.device_count())
        ct.run("fetch", "--date", self.today)
        ct.start()
        root = os.path.join(ca.ca_dir, "root.crt")
        for line in self.line_ids:
            self.terminals[line] = LevelFactoryTerminal(
                self.binary["factory-terminal"], self.work, line, root, ct.port, free_port(),
                write_result_timeout_s=20)

    def make_devices(self, line, count):
        """count blank boards for a line: images made now, before any timing."""
        devices = []
        for _ in range(count):
            self.serial += 1
            number = "%s-%06d" % (MODEL, self.serial)
            mac = "02:%02x:%02x:%02x:%02x:%02x" % tuple(secrets.token_bytes(5))
            d = MeasuredDeviceAgent(self.binary["device-agent"], self.work, number, mac,
                                    self.terminals[line], ca_port=self.ca.port)
            d.mkimage(self.bundle)
            devices.append(d)
        return devices

    # ---- one device, one line, one configuration ----

    def provision(self, line, d, barrier):
        """One device: its agent started and listening, then (with the other lines, if a
        barrier) scanned; returns its figures."""
        d.serve_once()
        time_cpu, startup_cpu = d.startup_cpu_s()
        if barrier is not None:
            barrier.wait(timeout=120)
        ft = self.terminals[line]
        scan_at = utc_ms()
        t0 = time.perf_counter()
        ft.scan(d.device_number)
        event = ft.next_event(timeout=120)
        wall_ms = (time.perf_counter() - t0) * 1000
        event_at = utc_ms()
        check(event.get("device_number") == d.device_number and event.get("result") == "OK",
              "line %s, %s: %r" % (line, d.device_number, event))
        pids = [d.process.pid, d.agent_pid]
        code, cpu, maxrss = d.reap()
        check(code == 0, "device-agent %s ended with %d (see %s)" % (d.device_number, code,
                                                                     d.log_path))
        cpu -= time_cpu  # GNU time's own fork and exec
        if not self.keep_agent_logs:
            shutil.rmtree(d.dir, ignore_errors=True)  # its images: keep the work folder small
        return {"device": d.device_number, "line": line, "elapsed_ms": event["elapsed_ms"],
                "wall_ms": round(wall_ms, 2), "agent_cpu_ms": round(cpu * 1000, 2),
                "agent_startup_cpu_ms": round(startup_cpu * 1000, 2),
                "agent_line_cpu_ms": round((cpu - startup_cpu) * 1000, 2),
                "agent_maxrss_kib": maxrss, "time_cpu_ms": round(time_cpu * 1000, 2),
                "pids": pids, "scan_at": scan_at,
                "event_at": event_at}

    def run_line(self, line, devices, barrier, records, errors):
        try:
            for d in devices:
                if self.stopping.is_set():
                    return
                records.append(self.provision(line, d, barrier))
        except threading.BrokenBarrierError:
            pass  # another line failed: its error is reported
        except Exception as exc:  # noqa: BLE001 -- reported by run_lines
            errors.append("line %s: %s" % (line, exc))
            if barrier is not None:
                barrier.abort()

    def run_lines(self, plan, rounds):
        """plan: {line: [devices]}, run on all lines at once; returns the per-device records."""
        barrier = threading.Barrier(len(plan)) if rounds and len(plan) > 1 else None
        self.barrier = barrier
        records, errors = [], []
        self.threads = [threading.Thread(target=self.run_line, daemon=True,
                                         args=(line, devices, barrier, records, errors))
                        for line, devices in plan.items()]
        for t in self.threads:
            t.start()
        for t in self.threads:
            t.join()
        check(not errors, "; ".join(errors))
        return records

    def wait_receipts(self, timeout=120):
        """Until every installation report has ca-server's receipt (ca-server's work for the
        devices, done after S13, then lies inside the measured window)."""
        deadline = time.monotonic() + timeout
        while any(r["awaiting_receipt"] for r in self.ct.status().values()):
            check(time.monotonic() < deadline, "receipts did not arrive within %d s" % timeout)
            time.sleep(0.2)

    def cpu_snapshot(self, lines):
        snap = {"ca-server": cpu_seconds(self.ca.process.pid),
                "comm-terminal": cpu_seconds(self.ct.process.pid),
                "factory-terminal": sum(cpu_seconds(self.terminals[ln].process.pid)
                                        for ln in lines),
                "postgresql": cluster_cpu_s(self.cluster), "machine": machine_busy_seconds()}
        snap["driver"] = sum(os.times()[:2])  # this process (its children are not in it)
        snap["wall"] = time.perf_counter()
        return snap

    def start_terminals(self, lines):
        for line in lines:
            self.terminals[line].start()

    def finish_terminals(self, lines):
        """End of the scans (EOF): each terminal prints its summary and exits 0."""
        for line in lines:
            code = self.terminals[line].finish(timeout=60)
            check(code == 0, "factory terminal %s ended with %d" % (line, code))

    def configuration(self, lines, devices=None, rounds=True, window=None):
        """One configuration: `lines` lines busy at once, `devices` devices shared by them.
        window: a context manager around the measured devices only (the profiler)."""
        line_ids = self.line_ids[:lines]
        per_line = self.per_line(lines, devices)
        warm = {ln: self.make_devices(ln, self.args.warmup) for ln in line_ids}
        plan = {ln: self.make_devices(ln, per_line) for ln in line_ids}
        self.start_terminals(line_ids)
        log("%d line(s): %d warm-up device(s) per line ..." % (lines, self.args.warmup))
        self.run_lines(warm, rounds)
        self.wait_receipts()
        log("%d line(s): %d x %d devices, %s ..." % (
            lines, lines, per_line, "in rounds" if rounds and lines > 1 else
            "free-running" if lines > 1 else "one after the other"))
        m = {"loadavg": os.getloadavg(), "before": self.cpu_snapshot(line_ids)}
        t0 = time.perf_counter()
        with window or contextlib.nullcontext():
            m["records"] = self.run_lines(plan, rounds)
        m["active_s"] = time.perf_counter() - t0
        self.wait_receipts()
        m["after"] = self.cpu_snapshot(line_ids)
        m["ft_pids"] = [self.terminals[ln].process.pid for ln in line_ids]
        m["ft_hwm"] = {ln: proc_hwm_kib(self.terminals[ln].process.pid) for ln in line_ids}
        self.finish_terminals(line_ids)
        return self.summarise(lines, per_line, rounds, m)

    def summarise(self, lines, per_line, rounds, m):
        """The figures of one configuration from what configuration() measured (m)."""
        records, before, after = m["records"], m["before"], m["after"]
        n = len(records)
        cpu = {name: round((after[name] - before[name]) * 1000 / n, 3)
               for name in ("ca-server", "comm-terminal", "factory-terminal", "postgresql")}
        cpu["device-agent"] = round(sum(r["agent_cpu_ms"] for r in records) / n, 3)
        cpu["device-agent (start-up)"] = round(
            sum(r["agent_startup_cpu_ms"] for r in records) / n, 3)
        cpu["device-agent (scan to exit)"] = round(
            sum(r["agent_line_cpu_ms"] for r in records) / n, 3)
        busy_s = after["machine"] - before["machine"]
        ours_s = sum(after[k] - before[k] for k in ("ca-server", "comm-terminal",
                                                     "factory-terminal", "postgresql", "driver"))
        ours_s += sum(r["agent_cpu_ms"] + r["time_cpu_ms"] for r in records) / 1000
        window_s = after["wall"] - before["wall"]
        return {
            "lines": lines, "devices_per_line": per_line, "devices": n,
            "mode": "rounds" if rounds and lines > 1 else "free-running" if lines > 1 else
            "sequential",
            "elapsed_ms": spread([r["elapsed_ms"] for r in records]),
            "wall_ms": spread([r["wall_ms"] for r in records]),
            "cpu_ms_per_device": cpu,
            "window_s": round(window_s, 2),
            "machine_busy_cpu_s": round(busy_s, 2),
            "other_work_cpu_s": round(max(busy_s - ours_s, 0.0), 2),
            "other_work_share_of_machine": round(max(busy_s - ours_s, 0.0) /
                                                 (window_s * os.cpu_count()), 3),
            "driver_cpu_s": round(after["driver"] - before["driver"], 2),
            "active_seconds": round(m["active_s"], 2),
            "devices_per_s": round(n / m["active_s"], 1),
            "device_agent_maxrss_kib": spread([r["agent_maxrss_kib"] for r in records]),
            "factory_terminal_hwm_kib": m["ft_hwm"],
            "comm_terminal_hwm_kib": proc_hwm_kib(self.ct.process.pid),
            "ca_server_hwm_kib": proc_hwm_kib(self.ca.process.pid),
            "pids": {"ca-server": self.ca.process.pid, "comm-terminal": self.ct.process.pid,
                     "factory-terminal": m["ft_pids"], "postgresql": cluster_pids(self.cluster)},
            "loadavg_before": [round(v, 2) for v in m["loadavg"]],
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
            "records": records}

    # ---- goals and the table ----

    def goals(self):
        goals = []
        configs = self.results["configurations"]
        goal_cfg = [c for c in configs if c["lines"] == GOAL_LINES]
        for c in goal_cfg:
            for clock in ("elapsed_ms", "wall_ms"):
                for key, target in (("p50", GOAL_P50_MS), ("p99", GOAL_P99_MS)):
                    value = c[clock][key]
                    goals.append({"goal": "%d lines, %s %s <= %g ms" % (
                        GOAL_LINES, "scan->S13 (factory terminal's elapsed_ms)"
                        if clock == "elapsed_ms" else "scan->event (driver's wall clock)",
                        key, target), "value": value, "target": target,
                        "ratio": round(value / target, 3), "met": value <= target})
        da = max(c["device_agent_maxrss_kib"]["max"] for c in configs) / 1024
        ft = max(max(c["factory_terminal_hwm_kib"].values()) for c in configs) / 1024
        for name, value, target in (("device-agent peak RSS", da, GOAL_DA_RSS_MIB),
                                    ("factory-terminal peak RSS", ft, GOAL_FT_RSS_MIB)):
            goals.append({"goal": "%s <= %g MiB (largest seen in any run)" % (name, target),
                          "value": round(value, 2), "target": target,
                          "ratio": round(value / target, 3), "met": value <= target})
        self.results["goals"] = goals

    def table(self):
        configs = self.results["configurations"]
        m = self.results["machine"]
        out = ["", "Per-device line time and memory (issue 7, items 3 and 5) -- %s, %d cores, "
               "kernel %s" % (m["cpu_model"], m["nproc"], m["kernel"]),
               "load average at start %.2f, at end %.2f (other work on the machine skews the "
               "figures)" % (self.results["loadavg_start"][0], self.results["loadavg_end"][0]),
               ""]

        def row(label, fmt, values):
            out.append("%-46s" % label + "".join(("%14s" % (fmt % v)) for v in values))

        row("configuration", "%s", ["%d line(s)" % c["lines"] for c in configs])
        row("devices measured", "%s", ["%d x %d" % (c["lines"], c["devices_per_line"])
                                       for c in configs])
        row("mode", "%s", [c["mode"] for c in configs])
        out.append("-" * (46 + 14 * len(configs)))
        for clock, label in (("elapsed_ms", "scan->S13, factory terminal elapsed_ms"),
                             ("wall_ms", "scan->event, driver wall clock, ms")):
            out.append(label)
            for key in ("p50", "p99", "max", "mean"):
                row("  " + key, "%.1f", [c[clock][key] for c in configs])
        out.append("CPU ms per device")
        for name in ("ca-server", "comm-terminal", "factory-terminal", "device-agent",
                     "device-agent (start-up)", "device-agent (scan to exit)", "postgresql"):
            row("  " + name, "%.2f", [c["cpu_ms_per_device"][name] for c in configs])
        row("devices/s (all lines, agent start-ups in)", "%.1f", [c["devices_per_s"] for c in configs])
        row("other work on the machine, % of all cores", "%.0f%%",
            [100 * c["other_work_share_of_machine"] for c in configs])
        out.append("peak RSS, MiB")
        row("  device-agent (max over devices)", "%.2f",
            [c["device_agent_maxrss_kib"]["max"] / 1024 for c in configs])
        row("  factory-terminal (max over lines)", "%.2f",
            [max(c["factory_terminal_hwm_kib"].values()) / 1024 for c in configs])
        row("  comm-terminal (since start, info)", "%.2f",
            [c["comm_terminal_hwm_kib"] / 1024 for c in configs])
        row("  ca-server (since start, info)", "%.2f",
            [c["ca_server_hwm_kib"] / 1024 for c in configs])
        out += ["", "Goals (ratio = measured / goal; <= 1 is met):"]
        for g in self.results["goals"]:
            out.append("  %-72s %8.2f  ratio %6.3f  %s" % (g["goal"], g["value"], g["ratio"],
                                                           "MET" if g["met"] else "NOT MET"))
        return "\n".join(out)

    # ---- profile (optional) ----

    def restart_servers(self):
        """ca-server and comm-terminal again, at their class's current log level (same ports)."""
        self.ca.stop()
        self.ca.start()
        self.ct.stop()
        self.ct.start()

    # ---- stop ----

    def programs(self):
        """What a failure shows the log of."""
        return [("comm-terminal", self.ct), ("ca-server", self.ca)]

    def stop(self):
        """Stops every process this bench started, whatever state it is in: the line threads
        are told to stop, their waits are cut short, and what they started is killed."""
        self.stopping.set()
        if self.barrier is not None:
            self.barrier.abort()
        self.kill_agents()
        for ft in self.terminals.values():
            if ft.process is not None:
                ft.kill()
                ft.events.put("")  # a waiting line thread gets "not JSON" and ends
        for t in self.threads:
            t.join(timeout=30)
        self.kill_agents()  # one a line thread may have started meanwhile
        for server in (self.ct, self.ca):
            if server is not None and server.process is not None:
                server.process.kill()
                server.process.wait()
                server.process = None
        if self.cluster is not None:
            self.cluster.stop()

    def kill_agents(self):
        """GNU time and the device-agent under it: the process group started for them."""
        for p in list(self.live_agents):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
            self.live_agents.discard(p)


def main():
    def options(parser):
        parser.add_argument("--devices", type=int, default=400,
                            help="devices measured per configuration, shared by its lines")
        parser.add_argument("--lines-list", default="1,4",
                            help="the configurations: lines busy at once (default 1,4)")
        parser.add_argument("--warmup", type=int, default=3,
                            help="unmeasured devices per line before each configuration")
        parser.add_argument("--free-running", action="store_true",
                            help="lines go at their own pace instead of in rounds")
        parser.add_argument("--profile", action="store_true")
        parser.add_argument("--profile-devices", type=int, default=40)
    parser, args = parse_args(__doc__, options)
    try:
        args.lines_list = [int(v) for v in args.lines_list.split(",")]
    except ValueError:
        parser.error("--lines-list: numbers separated by commas, e.g. 1,4")
    if not all(1 <= n <= 9 for n in args.lines_list):
        parser.error("--lines-list: 1 to 9 lines per configuration")
    if args.devices < 1 or args.warmup < 0:
        parser.error("--devices must be >= 1, --warmup >= 0")

    def measure(bench):
        bench.setup()
        for lines in args.lines_list:
            summary = bench.configuration(lines, rounds=not args.free_running)
            log("  elapsed_ms p50 %d, p99 %d, max %d; wall p50 %.1f, p99 %.1f" % (
                summary["elapsed_ms"]["p50"], summary["elapsed_ms"]["p99"],
                summary["elapsed_ms"]["max"], summary["wall_ms"]["p50"],
                summary["wall_ms"]["p99"]))
            bench.results["configurations"].append(summary)
        bench.goals()
        if args.profile:
            bench.profile()

    settings = {
        "devices_per_configuration": args.devices, "lines_list": args.lines_list,
        "warmup_per_line": args.warmup, "free_running": args.free_running,
        "log_level": "info", "build_dir": args.build_dir}
    def note(bench):
        return ("setup: private PostgreSQL, CA, service certificates, model %s, comm-terminal, "
                "plan of %d devices ..." % (MODEL, bench.device_count()))
    return run_bench("bench_line_time", args, LineBench, measure, settings, note,
                     "bench-line-time.json", "certline-bench-lt-", private_cluster=False)


if __name__ == "__main__":
    sys.exit(main())
