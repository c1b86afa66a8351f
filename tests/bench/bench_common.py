"""bench_common.py: what the Python benchmark drivers (bench_issuance, bench_day_store,
bench_line_time, bench_many_lines) share: the command line common to all, the servers started at
the production log level, the private PostgreSQL cluster and work folder, what the machine and
its processes used, and the run itself: its figures written as JSON and printed as a table,
everything it started stopped, also when interrupted or failed."""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
for _path in (HERE, os.path.join(HERE, "..", "lib"),
              os.path.join(HERE, "..", "..", "deploy", "sim")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import pg_private  # noqa: E402
from certline_harness import CaServer  # noqa: E402
from certline_procs import CommTerminal  # noqa: E402


def log(text):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), text), flush=True)


# ---- the command line ----

def parse_args(doc, add_options, positional=("build_dir", "out_dir")):
    """The positional arguments (out_dir last, made and absolute; build_dir made absolute), then
    the driver's own options, added by add_options(parser). Returns (parser, args)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    for name in positional:
        parser.add_argument(name)
    add_options(parser)
    args = parser.parse_args()
    if getattr(args, "build_dir", None):
        args.build_dir = os.path.abspath(args.build_dir)
    os.makedirs(args.out_dir, exist_ok=True)
    args.out_dir = os.path.abspath(args.out_dir)
    return parser, args


# ---- the servers, at the production log level ----

class BenchCaServer(CaServer):
    """The harness's ca-server, served at the default log level (info), as in production."""

    level = "info"


class InfoCaServer(BenchCaServer):
    """ca-server serving with -l info (the production level)."""


class InfoCommTerminal(CommTerminal):
    """The comm-terminal serving with -l info (the harness serves with -l debug)."""

    level = "info"

    def kill(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


# ---- what the machine and its processes used ----

def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds():
    """CPU seconds all cores spent busy (not idle or iowait) since boot, from /proc/stat: the
    difference over a measurement, minus what the measured processes used, is what other work on
    the machine took from it."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cluster_cpu_seconds(cluster):
    """CPU seconds of the private PostgreSQL: the postmaster, its live children (backends, WAL
    writer, ...) and, from the postmaster's cutime/cstime, its children that have exited (the
    backends of a command that came and went, such as `comm-terminal fetch`)."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = cluster_pids(cluster)
    total = 0.0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
        if pid == pids[0]:
            total += (int(fields[13]) + int(fields[14])) / tick
    return total


def cluster_pids(cluster):
    """The private cluster's postmaster and its children (backends, WAL writer, ...)."""
    with open(os.path.join(cluster.data, "postmaster.pid")) as f:
        master = int(f.readline())
    pids = [master]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                        pids.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return pids


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    openssl = subprocess.run(["openssl", "version"], stdout=subprocess.PIPE, text=True).stdout
    return {"nproc": int(subprocess.run(["nproc"], stdout=subprocess.PIPE, text=True).stdout),
            "cpu_model": model, "kernel": platform.release(),
            "os": platform.freedesktop_os_release().get("PRETTY_NAME", "")
            if hasattr(platform, "freedesktop_os_release") else "",
            "openssl": openssl.strip(), "python": platform.python_version()}


# ---- perf reports ----

def perf_report(data, *extra):
    """`perf report --stdio` of the recording data, with extra options; its text."""
    return subprocess.run(["perf", "report", "-i", data, "--stdio", "-q", "-g", "none"]
                          + list(extra), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True).stdout


def perf_section(data, title, pids, limit, *extra):
    """A titled section of the recording restricted to pids (other sessions may run programs of
    the same names), percentages relative to them."""
    return ["==== %s (pid %s), %% of its own samples ====" % (title, pids),
            perf_report(data, "--pid", str(pids), "--percentage", "relative", "--percent-limit",
                        limit, *extra)]


# ---- the run ----

PG_SETTING = "private cluster, fsync=off (deploy/sim/pg_private.py), unix socket"

def run_bench(name, args, bench_class, measure, settings, setup_note, json_name, work_prefix,
              private_cluster=True, tail_chars=3000):
    """One benchmark run: SIGTERM and SIGINT (even if started ignored) interrupt it; a private
    PostgreSQL cluster (unless private_cluster is False: the bench makes its own) and a work
    folder; bench = bench_class(args, work, cluster), its results' machine, loadavg_start,
    started and settings (these and the cluster's) filled, setup_note (or setup_note(bench))
    logged, then measure(bench); then loadavg_end (unless measure set it), total_seconds,
    args.out_dir/json_name written and bench.table() printed. On failure, the tails of the logs
    of bench.programs() ((label, program) pairs). Everything started is stopped: bench.stop()
    if it has one, else the programs killed; then the cluster and the work folder. Returns the
    exit code."""
    def interrupted(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupted)
    # Also when started with SIGINT ignored (a background job of a non-interactive shell).
    signal.signal(signal.SIGINT, interrupted)

    began = time.time()
    cluster = pg_private.PrivateCluster() if private_cluster else None
    work = tempfile.mkdtemp(prefix=work_prefix)
    bench = None
    try:
        if cluster is not None:
            cluster.start()
        bench = bench_class(args, work, cluster)
        results = bench.results
        results["machine"] = machine()
        results["loadavg_start"] = list(os.getloadavg())
        results["started"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds")
        results["settings"] = dict(settings, postgresql=PG_SETTING + (
            ", " + os.environ["CERTLINE_PG_OPTIONS"] if os.environ.get("CERTLINE_PG_OPTIONS")
            else ""))
        log(setup_note(bench) if callable(setup_note) else setup_note)
        measure(bench)
        results.setdefault("loadavg_end", list(os.getloadavg()))
        results["total_seconds"] = round(time.time() - began, 1)
        out = os.path.join(args.out_dir, json_name)
        with open(out, "w") as f:
            json.dump(results, f, indent=2)
        print(bench.table())
        print("\nJSON: %s (total %.0f s)" % (out, time.time() - began))
        return 0
    except KeyboardInterrupt:
        print("\n%s: interrupted; stopping everything it started" % name, file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 -- report any failure, then clean up
        print("%s: FAILED: %s" % (name, exc), file=sys.stderr)
        for label, program in bench.programs() if bench is not None else ():
            if program is not None and os.path.exists(program.log_path):
                with open(program.log_path, errors="replace") as f:
                    print("---- %s log (tail) ----\n%s" % (label, f.read()[-tail_chars:]),
                          file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # clean-up is not interrupted
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if bench is not None and hasattr(bench, "stop"):
            bench.stop()
        elif bench is not None:
            for _, program in bench.programs():
                if program is not None and program.process is not None:
                    program.process.kill()
                    program.process.wait()
        if cluster is not None:
            try:
                cluster.stop()
            except Exception as exc:  # noqa: BLE001 -- e.g. already stopped by the Ctrl-C
                print("%s: stopping PostgreSQL: %s" % (name, exc), file=sys.stderr)
                shutil.rmtree(cluster.dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
