#!/usr/bin/python3
"""bench_pk_ops.py: issue 19, item 2 -- instructions and public-key operations per device, counted
deterministically with callgrind.

Runs devices through the real programs exactly as bench_line_time does (its LineBench: a private
PostgreSQL, ca-server, comm-terminal, one factory terminal, one `device-agent serve --once` per
device), but with the factory terminal and every device-agent under
`valgrind --tool=callgrind` (each started through a small wrapper script that execs valgrind, so
the process ids the line bench follows stay the programs'). Figures:

  * device-agent: instructions (Ir) of its whole process per device (start-up, S7/S8, the write,
    S10/S13, exit), and its calls of each public-key operation, from the callgrind output file;
  * factory terminal: its counters are zeroed (callgrind_control -z) after the warm-up devices
    and dumped (callgrind_control -d) after the measured ones, so start-up is left out; divided
    by the devices measured.

Public-key operations are counted from callgrind's call counts (calls=), not timed:
  ECDSA verify  calls of mbedtls_ecp_muladd_restartable (only an ECDSA verification adds two
                multiplications)
  ECDSA sign    mbedtls_ecdsa_write_signature_restartable
  ECDH          mbedtls_ecdh_make_params + mbedtls_ecdh_make_public (the ephemeral key) and
                mbedtls_ecdh_calc_secret (the shared secret)
  key-pair check  mbedtls_ecp_check_pub_priv
  point mul     mbedtls_ecp_mul_restartable (every scalar multiplication: ECDH, sign, pair check)
Timing figures (scan -> S13 p50/p99) are bench_line_time's: callgrind slows every program ~50x.

Prints the table with issue 19's goals (device-agent <= 3 verifies, <= 1 sign, <= 2 ECDH per
device; factory terminal <= half of BASELINE_FT_IR instructions per device) and writes
OUT_DIR/bench-pk-ops.json. A benchmark, not a test: a goal not met fails nothing.

Usage: bench_pk_ops.py BUILD_DIR OUT_DIR [--devices N] [--warmup N] [--keep-callgrind]
Builds nothing: run it on a Release build (make bench does).
"""
import contextlib
import functools
import glob
import json
import os
import re
import shutil
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_line_time  # noqa: E402
import certline_procs  # noqa: E402
from bench_common import parse_args, run_bench  # noqa: E402
from bench_line_time import LevelFactoryTerminal, LineBench  # noqa: E402
from certline_procs import Failure, check  # noqa: E402

# A program under callgrind on a busy machine may take longer than the usual 30 s to listen:
# every start-up wait of the line bench's programs (both modules' wait_for_text) gets 300 s.
_wait_for_text = certline_procs.wait_for_text
certline_procs.wait_for_text = bench_line_time.wait_for_text = functools.partial(
    _wait_for_text, timeout=300)

# The factory terminal's instructions per device before issue 19 (this bench on main at 0308704,
# Release build: 127.2 M; the issue measured 125 M): the goal is at most half of it.
BASELINE_FT_IR = 127.2e6
GOAL_DA = {"ECDSA verify": 3, "ECDSA sign": 1, "ECDH": 2}

# Reported operation: the functions whose calls count it.
OPERATIONS = [
    ("ECDSA verify", ("mbedtls_ecp_muladd_restartable",)),
    ("ECDSA sign", ("mbedtls_ecdsa_write_signature_restartable",)),
    ("ECDH", ("mbedtls_ecdh_make_params", "mbedtls_ecdh_make_public", "mbedtls_ecdh_calc_secret")),
    ("key-pair check", ("mbedtls_ecp_check_pub_priv",)),
    ("point mul", ("mbedtls_ecp_mul_restartable",)),
    ("TLS handshake", ("mbedtls_ssl_handshake",)),
]
# Generous timeouts: every step runs about 50 times slower under callgrind.
SLOW_LIMITS = {"connect_timeout_s": 20, "recv_timeout_s": 120}


# ---- callgrind output ----

def callgrind_counts(path):
    """(total Ir, {function name: calls}) of one callgrind output file (compressed names)."""
    names, calls, total = {}, {}, 0
    callee = None
    name_re = re.compile(r"^c?fn=\((\d+)\)(?: (.*))?$")
    with open(path, errors="replace") as f:
        for line in f:
            m = name_re.match(line.rstrip("\n"))
            if m:
                if m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
                callee = names.get(m.group(1)) if line.startswith("cfn=") else None
            elif line.startswith("calls=") and callee is not None:
                calls[callee] = calls.get(callee, 0) + int(line[6:].split()[0])
                callee = None
            elif line.startswith("totals:") or line.startswith("summary:"):
                total = max(total, int(line.split()[1]))
    return total, calls


def operations(calls):
    return {label: sum(calls.get(fn, 0) for fn in fns) for label, fns in OPERATIONS}


def wrapper(work, name, binary):
    """A script that execs binary under callgrind, each process's output in work/callgrind/."""
    out_dir = os.path.join(work, "callgrind")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(work, "callgrind-" + name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec valgrind --tool=callgrind --quiet --vgdb=yes "
                "--callgrind-out-file=%s/%s.%%p.out %s \"$@\"\n" % (out_dir, name, binary))
    os.chmod(path, stat.S_IRWXU)
    return path


def callgrind_control(option, pid):
    result = subprocess.run(["callgrind_control", option, str(pid)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=120)
    check(result.returncode == 0, "callgrind_control %s %d: %s" % (option, pid, result.stdout))


# ---- the bench ----

class PkOpsBench(LineBench):
    def __init__(self, args, work, cluster=None):
        args.lines_list = [1]
        args.profile = False
        args.profile_devices = 0
        super().__init__(args, work, cluster)
        check(shutil.which("valgrind") and shutil.which("callgrind_control"),
              "valgrind (Debian package valgrind) is needed")
        self.out_dir = os.path.join(work, "callgrind")
        self.da_binary = wrapper(work, "device-agent", self.binary["device-agent"])
        self.ft_binary = wrapper(work, "factory-terminal", self.binary["factory-terminal"])

    def setup(self):
        super().setup()
        # The line's factory terminal again, under callgrind and with slow-run timeouts.
        root = os.path.join(self.ca.ca_dir, "root.crt")
        for line in self.line_ids:
            old = self.terminals[line]
            self.terminals[line] = LevelFactoryTerminal(
                self.ft_binary, self.work, line, root, self.ct.port, old.device_port,
                write_result_timeout_s=300, limits=SLOW_LIMITS)

    def make_devices(self, line, count):
        devices = super().make_devices(line, count)  # images made by the plain binary
        for d in devices:  # served under callgrind, its own S10 link slow too
            d.binary = self.da_binary
            with open(d.config) as f:
                config = json.load(f)
            config["limits"] = SLOW_LIMITS
            with open(d.config, "w") as f:
                json.dump(config, f)
        return devices

    @contextlib.contextmanager
    def ft_window(self):
        """The factory terminal's counters from zero for the measured devices only."""
        pid = self.terminals[self.line_ids[0]].process.pid
        callgrind_control("-z", pid)
        yield
        callgrind_control("-d", pid)
        self.ft_dump_pid = pid

    def measure(self):
        self.setup()
        summary = self.configuration(1, self.args.devices, window=self.ft_window())
        n = summary["devices"]
        agents = {}
        for r in summary["records"]:
            files = glob.glob(os.path.join(self.out_dir, "device-agent.%d.out" % r["pids"][1]))
            check(len(files) == 1, "no callgrind output for device-agent %s" % r["device"])
            agents[r["device"]] = callgrind_counts(files[0])
        dumps = sorted(glob.glob(os.path.join(self.out_dir, "factory-terminal.%d.out.*" %
                                              self.ft_dump_pid)))
        check(dumps, "no callgrind dump of the factory terminal")
        ft_ir, ft_calls = callgrind_counts(dumps[-1])
        da_ir = sum(ir for ir, _ in agents.values()) / n
        da_ops = {label: sum(operations(c)[label] for _, c in agents.values()) / n
                  for label, _ in OPERATIONS}
        ft_ops = {label: v / n for label, v in operations(ft_calls).items()}
        self.results["per_device"] = {
            "devices": n,
            "device-agent": {"instructions": da_ir, "operations": da_ops,
                             "each": {d: {"instructions": ir, "operations": operations(c)}
                                      for d, (ir, c) in agents.items()}},
            "factory-terminal": {"instructions": ft_ir / n, "operations": ft_ops}}
        goals = []
        for label, target in GOAL_DA.items():
            value = da_ops[label]
            goals.append({"goal": "device-agent %s per device <= %d" % (label, target),
                          "value": value, "target": target, "met": value <= target})
        target = BASELINE_FT_IR / 2
        goals.append({"goal": "factory terminal instructions per device <= %.1f M (half of "
                      "%.0f M)" % (target / 1e6, BASELINE_FT_IR / 1e6),
                      "value": ft_ir / n, "target": target, "met": ft_ir / n <= target})
        for g in goals:
            g["ratio"] = round(g["value"] / g["target"], 3) if g["target"] else None
        self.results["goals"] = goals
        if self.args.keep_callgrind:
            kept = os.path.join(self.args.out_dir, "callgrind-pk-ops")
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(self.out_dir, kept)
            self.results["callgrind_files"] = kept

    def table(self):
        per = self.results["per_device"]
        da, ft = per["device-agent"], per["factory-terminal"]
        out = ["", "Instructions and public-key operations per device (issue 19, item 2), "
               "callgrind, %d device(s) measured, Release build" % per["devices"], "",
               "%-34s %16s %16s" % ("per device", "device-agent", "factory-terminal"),
               "%-34s %15.1fM %15.1fM" % ("instructions (Ir)", da["instructions"] / 1e6,
                                          ft["instructions"] / 1e6)]
        for label, _ in OPERATIONS:
            out.append("%-34s %16.2f %16.2f" % (label, da["operations"][label],
                                                ft["operations"][label]))
        out += ["", "device-agent: its whole process (start-up to exit); factory terminal: "
                "the measured devices only.", "", "Goals (ratio = measured / goal):"]
        for g in self.results["goals"]:
            value = g["value"] if g["value"] < 1e5 else g["value"] / 1e6
            out.append("  %-70s %10.2f  ratio %6.3f  %s" % (
                g["goal"], value, g["ratio"], "MET" if g["met"] else "NOT MET"))
        return "\n".join(out)


def main():
    def options(parser):
        parser.add_argument("--devices", type=int, default=3,
                            help="devices measured (default 3)")
        parser.add_argument("--warmup", type=int, default=1,
                            help="unmeasured devices before them (default 1)")
        parser.add_argument("--keep-callgrind", action="store_true",
                            help="copy the callgrind files into OUT_DIR/callgrind-pk-ops")
    parser, args = parse_args(__doc__, options)
    if args.devices < 1 or args.warmup < 0:
        parser.error("--devices must be >= 1, --warmup >= 0")
    settings = {"devices": args.devices, "warmup": args.warmup, "tool": "valgrind --tool=callgrind",
                "build_dir": args.build_dir}
    try:
        return run_bench("bench_pk_ops", args, PkOpsBench, PkOpsBench.measure, settings,
                         "setup: private PostgreSQL, CA, comm-terminal, one line under callgrind",
                         "bench-pk-ops.json", "certline-bench-pk-", private_cluster=False)
    except Failure as exc:
        print("bench_pk_ops: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
