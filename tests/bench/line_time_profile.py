"""line_time_profile.py: the profile part of bench_line_time: where the CPU goes (one run under
`perf record`, by program and activity) and where the time goes (each step of one device, from
the programs' debug logs)."""
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import time

from bench_common import log
from certline_procs import Failure, log_size


# ---- the profile ----

PERF_FREQ = 499
# Activities, checked in this order against the functions of a sample's call chain; a name
# ending in "*" is a prefix.
ACTIVITIES = [
    ("TLS handshake (new connection)", ("mbedtls_ssl_handshake", "mbedtls_ssl_handshake_step")),
    ("receipt signature (ca-server)", ("cl_receipt_sign",)),
    ("receipt check (comm-terminal)", ("cl_receipt_verify",)),
    ("device: pack check, write, read-back", ("pi_accept", "pi_write")),
    ("device: start-up (images, identity, TLS set-up)", ("da_tls_common", "nv_open",
                                                         "cl_tls_new", "da_command_serve")),
    ("process start and exit (exec, loader, teardown)", ("_dl_start", "dl_main", "_dl_*",
                                                         "__x64_sys_execve", "do_exit",
                                                         "__x64_sys_exit_group", "exit_mmap")),
    ("TLS records on a kept connection", ("mbedtls_ssl_read", "mbedtls_ssl_write",
                                          "mbedtls_ssl_close_notify")),
    ("SOAP and XML (gSOAP)", ("soap_*",)),
    ("database client (libpq)", ("PQ*", "pq*")),
]


@contextlib.contextmanager
def perf_recording(data):
    """perf record of the whole machine (-a) while the block runs."""
    rec = subprocess.Popen(["perf", "record", "-a", "-F", str(PERF_FREQ), "--call-graph",
                            "dwarf,16384", "-o", data], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    time.sleep(1)  # perf has started sampling
    try:
        yield
    finally:
        rec.send_signal(signal.SIGINT)
        err = rec.communicate(timeout=600)[1]
        if not os.path.exists(data):
            raise Failure("perf record failed: %s" % err.strip()[-300:])


def perf_samples(data, roles):
    """{role: [[function names of one sample's chain], ...]} for the processes in roles
    ({pid: role}), from `perf script`."""
    script = subprocess.run(["perf", "script", "-i", data, "-F", "pid,tid,comm,ip,sym"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            timeout=1200).stdout
    samples = {}
    chain = role = None
    for line in script.splitlines() + [""]:
        if not line.strip():
            if role is not None:
                samples.setdefault(role, []).append(chain)
            role = None
        elif not line[0].isspace():
            head = re.match(r".*?\s(\d+)/\d+\s*$", line)
            role = roles.get(int(head.group(1))) if head else None
            chain = []
        elif role is not None:
            fields = line.split(None, 1)
            if len(fields) == 2:
                chain.append(fields[1].split(" (")[0].strip())  # "f (inlined)"
    return samples


def activity(chain):
    for label, names in ACTIVITIES:
        for name in names:
            if name.endswith("*"):
                if any(f.startswith(name[:-1]) for f in chain):
                    return label
            elif name in chain:
                return label
    return "other"


def profile_table(samples, devices):
    """Lines of text: per program, its samples, and each activity's share and ms per device."""
    out = ["%-22s %-50s %8s %7s %10s" % ("program", "activity", "samples", "share",
                                         "ms/device")]
    for role in ("device-agent", "factory-terminal", "comm-terminal", "ca-server", "postgresql",
                 "GNU time (bench only)"):
        chains = samples.get(role, [])
        if not chains:
            continue
        counts = {}
        for chain in chains:
            label = activity(chain) if role != "postgresql" else "queries"
            counts[label] = counts.get(label, 0) + 1
        out.append("%-22s %-50s %8d %6.1f%% %10.2f" % (role, "(all)", len(chains), 100.0,
                                                       len(chains) * 1000.0 / PERF_FREQ /
                                                       devices))
        for label, count in sorted(counts.items(), key=lambda kv: -kv[1]):
            out.append("%-22s %-50s %8d %6.1f%% %10.2f" % (
                "", label, count, 100.0 * count / len(chains),
                count * 1000.0 / PERF_FREQ / devices))
    return out


def top_symbols(chains, role, count=30):
    """Lines of text: the functions most often on the call chains of role's samples
    (inclusive: a function counts once per sample it is anywhere in)."""
    if not chains:
        return []
    inclusive = {}
    for chain in chains:
        for name in set(chain):
            if name != "[unknown]":
                inclusive[name] = inclusive.get(name, 0) + 1
    out = ["==== %s: functions on the call chain (inclusive), %d samples ====" % (role,
                                                                              len(chains))]
    for name, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:count]:
        out.append("  %5.1f%%  %s" % (100.0 * n / len(chains), name))
    return out + [""]


# ---- the steps of one device, from the debug logs ----

STEP_ROUNDS = 10
# The end of each step of one device, in order: (label, the log's name, a pattern with {d} for
# the device number). The first step starts with the driver's scan.
STEPS = [
    ("S5/S6: comm-terminal sent the pack (kept connection)", "comm-terminal",
     r"pack of {d} \("),
    ("S7: the device sees the terminal's new TLS connection", "da", r"device: connection from"),
    ("S7/S8: the device checked and accepted the pack", "da", r"S7 from .* for {d} accepted"),
    ("the device wrote the certificate and read it back", "da", r"certificate \S+ of {d} written"),
    ("S10: the terminal has the result (device's new TLS connection)", "ft",
     r"{d}: write result \S+ received"),
    ("S11/S12: the comm-terminal recorded it (kept connection)", "comm-terminal",
     r": {d} written \("),
    ("S13 and the event: the driver read the event", "driver", r"event for {d} read"),
]


def ms_between(a, b):
    """Milliseconds from log timestamp a to b (same day, UTC)."""
    def ms(t):
        h, m, sec = t[11:-1].split(":")
        return (int(h) * 60 + int(m)) * 60000 + float(sec) * 1000
    return ms(b) - ms(a)


def step_table(merged, records):
    """{step label: {"median", "max", "n"}} in ms: each step's time for each device, from the
    merged (timestamp, log name, text) records."""
    times = {label: [] for label, _, _ in STEPS}
    for r in records:
        d = r["device"]
        previous = r["scan_at"]
        for label, source, pattern in STEPS:
            name = {"da": "da-" + d, "ft": "ft-" + r["line"]}.get(source, source)
            regex = re.compile(pattern.format(d=re.escape(d)))
            end = next((stamp for stamp, n, text in merged
                        if n == name and stamp >= previous and regex.search(text)), None)
            if end is None:
                break  # a record missing: the rest of this device is left out
            times[label].append(ms_between(previous, end))
            previous = end
    return {label: {"median": statistics.median(v), "max": max(v), "n": len(v)}
            for label, v in times.items() if v}


class Profiling:
    """LineBench's profile (a mixin: it uses LineBench's configuration, servers and results;
    self.levelled are the program classes whose log level the steps raise to debug)."""

    def profile(self):
        """Where the CPU goes and where the time goes, for the largest configuration: one more
        run under `perf record` (OUT_DIR/perf-line-time.txt), then 10 rounds per configuration
        at log level debug (OUT_DIR/steps-line-time.txt)."""
        lines = self.max_lines
        if shutil.which("perf") is None:
            log("profile: perf is not installed; no CPU profile")
        else:
            data = os.path.join(self.work, "perf.data")
            log("profile: perf record -a --call-graph dwarf, %d lines, %d devices ..." % (
                lines, self.args.profile_devices))
            summary = self.configuration(lines, self.args.profile_devices,
                                         window=perf_recording(data))
            self.perf_report(data, summary)
        steps = []
        for n in self.args.lines_list:
            steps.append(self.step_timestamps(n))
        out = os.path.join(self.args.out_dir, "steps-line-time.txt")
        with open(out, "w") as f:
            f.write("\n\n".join(steps) + "\n")
        self.results["steps_file"] = out
        log("per-step timestamps written to %s" % out)

    def perf_report(self, data, summary):
        """CPU samples of this run's own processes only (other work on the machine is left
        out by process id), by program and by activity, from the call chains."""
        roles = {summary["pids"]["ca-server"]: "ca-server",
                 summary["pids"]["comm-terminal"]: "comm-terminal"}
        roles.update({pid: "factory-terminal" for pid in summary["pids"]["factory-terminal"]})
        roles.update({pid: "postgresql" for pid in summary["pids"]["postgresql"]})
        for r in summary["records"]:
            roles[r["pids"][0]] = "GNU time (bench only)"
            roles[r["pids"][1]] = "device-agent"
        samples = perf_samples(data, roles)
        n = summary["devices"]
        out = os.path.join(self.args.out_dir, "perf-line-time.txt")
        text = [
            "perf record -a -F %d --call-graph dwarf during %d lines x %d devices (in rounds); "
            "under perf: line time p50 %d ms, p99 %d ms (perf's own cost inflates these)." % (
                PERF_FREQ, summary["lines"], summary["devices_per_line"],
                summary["elapsed_ms"]["p50"], summary["elapsed_ms"]["p99"]),
            "Only samples of this run's processes (by process id). ms/device = samples / %d Hz "
            "/ %d devices. Activities: the first in the list found in the sample's call chain."
            % (PERF_FREQ, n), ""]
        table = profile_table(samples, n)
        text += table + [""]
        for role in ("factory-terminal", "device-agent", "comm-terminal", "ca-server"):
            chains = samples.get(role, [])
            text += top_symbols(chains, role)
            text += top_symbols([c for c in chains if activity(c) == "other"],
                                role + ", samples of activity \"other\"", count=15)
        with open(out, "w") as f:
            f.write("\n".join(text) + "\n")
        self.results["profile"] = {"tool": "perf record -a -F %d --call-graph dwarf" % PERF_FREQ,
                                   "file": out, "elapsed_ms_under_perf": summary["elapsed_ms"],
                                   "cpu_ms_per_device_under_perf": summary["cpu_ms_per_device"],
                                   "activities": table}
        log("CPU profile written to %s" % out)

    def step_timestamps(self, lines):
        """STEP_ROUNDS rounds (one device per line each, after the warm-up) with every program
        at log level debug: for each device, when each step ended, from the programs' log
        records (millisecond timestamps) and this driver's scan and event times. Returns the
        text: the median and largest time of each step, then the merged records of the first
        round."""
        levels = self.levelled
        for cls in levels:
            cls.level = "debug"
        line_ids = self.line_ids[:lines]
        offsets = {p: log_size(p) for p in [self.ca.log_path, self.ct.log_path] +
                   [self.terminals[ln].log_path for ln in line_ids]}
        self.keep_agent_logs = True
        try:
            self.restart_servers()
            log("steps: %d line(s), %d rounds at log level debug ..." % (lines, STEP_ROUNDS))
            summary = self.configuration(lines, lines * STEP_ROUNDS)
        finally:
            self.keep_agent_logs = False
            for cls in levels:
                cls.level = "info"
            self.restart_servers()
        records = summary["records"]
        logs = [("comm-terminal", self.ct.log_path)]
        logs += [("ft-" + ln, self.terminals[ln].log_path) for ln in line_ids]
        logs += [("da-" + r["device"], os.path.join(self.work, "device-" + r["device"],
                                                    "device-agent.log")) for r in records]
        merged = []
        for r in records:
            merged.append((r["scan_at"], "driver", "scan %s written to line %s's terminal" % (
                r["device"], r["line"])))
            merged.append((r["event_at"], "driver", "event for %s read: elapsed_ms %d" % (
                r["device"], r["elapsed_ms"])))
        for name, path in logs:
            with open(path, errors="replace") as f:
                f.seek(offsets.get(path, 0))
                for text in f:
                    stamp = re.match(r"\d{4}-\d\d-\d\dT[\d:.]+Z", text)
                    if stamp:
                        merged.append((stamp.group(0), name, text[stamp.end():].strip()))
        merged.sort(key=lambda m: m[0])
        for r in records:
            shutil.rmtree(os.path.join(self.work, "device-" + r["device"]), ignore_errors=True)
        steps = step_table(merged, records)
        self.results.setdefault("steps", {})["%d_lines" % lines] = steps
        first_round = sorted(records, key=lambda r: r["scan_at"])[:lines]
        first = min(r["scan_at"] for r in first_round)
        last = max(r["event_at"] for r in first_round)
        text = ["==== %d line(s), every program at log level debug, %d devices: time of each "
                "step, ms (from the log records' millisecond timestamps) ====" % (
                    lines, len(records)),
                "%-66s %8s %8s" % ("step (ends when)", "median", "max")]
        text += ["%-66s %8.1f %8.1f" % (label, v["median"], v["max"]) for label, v in
                 steps.items()]
        text += ["", "---- the first round, all records in time order ----"]
        text += ["%s %-16s %s" % (stamp, name, line[:200]) for stamp, name, line in merged
                 if first <= stamp <= last]
        return "\n".join(text)
