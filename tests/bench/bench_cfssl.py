#!/usr/bin/python3
"""bench_cfssl.py: issue 19, item 1 -- certline's issuance beside a peer CA, cfssl.

On one machine, in one run, one private PostgreSQL:
  * cfssl (Debian's golang-cfssl, 1.2): `cfssl serve` with mutual TLS (client certificates
    required: -mutual-tls-ca) and its certificate database in the private PostgreSQL (database
    `cfssl`, schema tests/bench/cfssl_certdb.sql); the load generator bench_cfssl_load (C, mbedTLS)
    sends /api/v1/cfssl/newcert requests (server-side P-256 key and certificate, recorded in the
    database) from CLIENTS clients, each on one kept-alive connection;
  * certline: ca-server's FIG 21 CertificateTransmissionRequest with `workers` 2, timed end to end
    by a stock SOAP client (bench_issuance's measurement, the same code), in two key modes of
    bench_token.py: `file` (the issuing key in memory, device keys in software) and `token` (the
    issuing key and the device keys in SoftHSM2).
Each figure is DEVICES certificates (packs). The runs alternate, file, cfssl, token, cfssl, for
--repeats rounds; the median of each is reported, with the ratio certline / cfssl per mode, CPU
per certificate of each server process and of PostgreSQL (from /proc), the load generator's
CPU, the machine and its load average. Writes OUT_DIR/bench-cfssl.json.

If cfssl is not installed, says so and exits 0 (make bench goes on).

Usage: bench_cfssl.py CA_SERVER BENCH_CFSSL_LOAD WSDL_DIR SOURCE_DIR OUT_DIR [--devices 10000]
           [--repeats 3] [--profile] [--ca-server-env NAME=VALUE ...]
  --profile: then one more run per certline mode under `perf record -g` on ca-server's PID;
             OUT_DIR/perf-ca-server-MODE.txt.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_common import (cluster_cpu_seconds, cpu_seconds, log,  # noqa: E402
                          machine_busy_seconds, parse_args, perf_report, run_bench)
import bench_issuance  # noqa: E402
import bench_token  # noqa: E402
from certline_procs import free_port, wait_for_text  # noqa: E402
from certline_harness import Failure, check  # noqa: E402

WORKERS = 2
CLIENTS = 2
CERTLINE_MODES = ("file", "token")
ORDER = ("file", "cfssl", "token", "cfssl")  # one round: cfssl between every certline run
WARM_UP = 200
SERVER_NAME = "ca.certline.test"  # cfssl serves with ca-server's own TLS identity
# The device profile for cfssl: client authentication, a year, as certline's device certificates.
CFSSL_CONFIG = {"signing": {"default": {"expiry": "8760h",
                                        "usages": ["digital signature", "client auth"]}}}


class Cfssl:
    """`cfssl serve` with mutual TLS and its certdb in the private PostgreSQL; the same TLS
    identities as certline's (ca-server's server certificate, the comm-terminal's client
    certificate, certline's root as the clients' CA); signs with a P-256 issuing CA made by
    openssl (bench_issuance's openssl_ca)."""

    def __init__(self, args, work, cluster, tls_dir, trust_file, ca_dir):
        self.args = args
        self.work = os.path.join(work, "cfssl")
        os.makedirs(self.work)
        self.cluster = cluster
        self.tls_dir = tls_dir
        self.trust_file = trust_file
        self.ca_dir = ca_dir
        self.log_path = os.path.join(self.work, "cfssl.log")
        self.process = None
        self.serial = 0

    def start(self):
        conninfo = self.cluster.create_db("cfssl")
        with open(os.path.join(self.args.source_dir, "tests", "bench", "cfssl_certdb.sql")) as f:
            self.cluster.psql("cfssl", f.read())
        db_config = os.path.join(self.work, "db.json")
        with open(db_config, "w") as f:
            json.dump({"driver": "postgres", "data_source": conninfo + " sslmode=disable"}, f)
        config = os.path.join(self.work, "config.json")
        with open(config, "w") as f:
            json.dump(CFSSL_CONFIG, f)
        self.port = free_port()
        with open(self.log_path, "a") as log_file:
            self.process = subprocess.Popen(
                ["cfssl", "serve", "-address", "127.0.0.1", "-port", str(self.port),
                 "-ca", os.path.join(self.ca_dir, "issuing.crt"),
                 "-ca-key", os.path.join(self.ca_dir, "issuing.key"), "-config", config,
                 "-db-config", db_config,
                 "-tls-cert", os.path.join(self.tls_dir, "svc-ca.chain.crt"),
                 "-tls-key", os.path.join(self.tls_dir, "svc-ca.key"),
                 "-mutual-tls-ca", self.trust_file],
                stdout=log_file, stderr=log_file)
        wait_for_text(self.log_path, "listening with mutual TLS", self.process)
        self.load(WARM_UP, "warm")  # connections, database pool, first pages: not timed

    def load(self, count, tag):
        """count newcert requests from CLIENTS clients; the load generator's figures."""
        self.serial += 1
        sample = os.path.join(self.work, "sample.crt")
        r = subprocess.run([self.args.bench_cfssl_load, "127.0.0.1", str(self.port), SERVER_NAME,
                            self.trust_file, os.path.join(self.tls_dir, "svc-comm.chain.crt"),
                            os.path.join(self.tls_dir, "svc-comm.key"), str(count), str(CLIENTS),
                            "3012-%s%d" % (tag, self.serial), sample],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900)
        if r.returncode != 0:
            raise Failure("bench_cfssl_load failed: %s%s" % (r.stdout, r.stderr))
        # The certificates are real ones: the last one is checked by openssl.
        subprocess.run(["openssl", "verify", "-CAfile", os.path.join(self.ca_dir, "root.crt"),
                        "-untrusted", os.path.join(self.ca_dir, "issuing.crt"), sample],
                       check=True, stdout=subprocess.DEVNULL)
        return dict(f.split("=", 1) for f in r.stdout.split()[1:])

    def rows(self):
        return int(self.cluster.psql("cfssl", "SELECT count(*) FROM certificates").strip())

    def timed(self, count, tag):
        """bench_issuance's figures for count certificates through cfssl."""
        rows0 = self.rows()
        pid = self.process.pid
        cpu_server0 = cpu_seconds(pid)
        cpu_pg0 = cluster_cpu_seconds(self.cluster)
        busy0 = machine_busy_seconds()
        fields = self.load(count, tag)
        cpu_server = cpu_seconds(pid) - cpu_server0
        cpu_pg = max(cluster_cpu_seconds(self.cluster) - cpu_pg0, 0.0)
        busy = machine_busy_seconds() - busy0
        cpu_client = float(fields["client_cpu_s"])
        check(self.rows() - rows0 == count, "cfssl recorded %d certificates for %d" % (
            self.rows() - rows0, count))
        seconds = float(fields["seconds"])
        return {"devices": count, "seconds": seconds,
                "packs_per_s": round(count / seconds, 1),
                "server_cpu_s": round(cpu_server, 2), "client_cpu_s": round(cpu_client, 2),
                "postgres_cpu_s": round(cpu_pg, 2),
                "other_cpu_s": round(max(busy - cpu_server - cpu_pg - cpu_client, 0), 2),
                "server_cpu_ms_per_pack": round(1000 * cpu_server / count, 3)}

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


class CfsslBench:
    def __init__(self, args, work, cluster):
        self.args = args
        self.cluster = cluster
        args.sizes, args.one_token = str(args.devices), False  # what bench_token reads
        for setting in args.ca_server_env:  # a lever under test, e.g. malloc tunables
            name, value = setting.split("=", 1)
            os.environ[name] = value  # ca-server inherits it (PostgreSQL is already running)
        self.certline = bench_token.TokenBench(args, work, cluster, modes=CERTLINE_MODES)
        self.file = self.certline.modes["file"]
        self.cfssl = None
        self.work = work
        self.results = {}

    def programs(self):
        return self.certline.programs() + [("cfssl", self.cfssl)]

    def stop(self):
        self.certline.stop()
        if self.cfssl is not None:
            self.cfssl.stop()

    def measure(self):
        for bench in self.certline.modes.values():
            bench.operator_setup(bench_token.MODELS)
        self.file.openssl_ca()
        self.cfssl = Cfssl(self.args, self.work, self.cluster, self.file.work,
                           os.path.join(self.file.ca.ca_dir, "root.crt"), self.file.openssl_dir)
        proxies = {mode: bench.serve(WORKERS) for mode, bench in self.certline.modes.items()}
        self.cfssl.start()
        self.results["loadavg_runs"] = []
        runs = {}
        n = self.args.devices
        for repeat in range(self.args.repeats):
            for k, mode in enumerate(ORDER):
                log("%s, %d devices, round %d of %d ..." % (mode, n, repeat + 1,
                                                            self.args.repeats))
                load = os.getloadavg()[0]
                tag = "%s-r%d-%d" % (mode, repeat, k)
                if mode == "cfssl":
                    r = self.cfssl.timed(n, tag)
                else:
                    r = self.certline.modes[mode].timed_batches(
                        proxies[mode], "3012", n, min(n, bench_issuance.BATCH), tag)
                r["loadavg_1min_before"] = load
                log("  %.1f per s (%.2f s; CPU: server %.2f s, PostgreSQL %.2f s, client %.2f s, "
                    "rest of the machine %.2f s; load %.2f)" % (
                        r["packs_per_s"], r["seconds"], r["server_cpu_s"], r["postgres_cpu_s"],
                        r["client_cpu_s"], r["other_cpu_s"], load))
                runs.setdefault(mode, []).append(r)
        self.results["runs"] = runs
        if self.args.profile:
            self.profile(proxies)
        self.results["medians"] = {mode: bench_token.median(rs) for mode, rs in runs.items()}
        med = self.results["medians"]
        self.results["ratios"] = {
            mode: round(med[mode]["packs_per_s"] / med["cfssl"]["packs_per_s"], 3)
            for mode in CERTLINE_MODES}
        # What the ratio would be on two cores of their own, the load aside: the inverse ratio of
        # the CPU per certificate of all three (server, PostgreSQL, client), medians of the runs.
        cpu = {mode: median_of([total_cpu_ms(r) for r in rs]) for mode, rs in runs.items()}
        self.results["cpu_ms_per_cert"] = cpu
        self.results["cpu_ratios"] = {mode: round(cpu["cfssl"] / cpu[mode], 3)
                                      for mode in CERTLINE_MODES}

    def profile(self, proxies):
        """One more run per certline mode under `perf record -g` on ca-server's PID: its hottest
        symbols on their own (self) and with what they call (children), into
        OUT_DIR/perf-ca-server-MODE.txt."""
        if shutil.which("perf") is None:
            log("profile: perf is not installed")
            return
        n = self.args.devices
        for mode in CERTLINE_MODES:
            bench = self.certline.modes[mode]
            data = os.path.join(self.work, "perf-%s.data" % mode)
            rec = subprocess.Popen(["perf", "record", "-g", "-F", "499", "-p",
                                    str(bench.ca.process.pid), "-o", data],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(1)
            log("profile: perf record -g on ca-server (%s), %d devices ..." % (mode, n))
            r = bench.timed_batches(proxies[mode], "3012", n, min(n, bench_issuance.BATCH),
                                    "profile-" + mode)
            rec.send_signal(signal.SIGINT)
            err = rec.communicate(timeout=300)[1]
            if rec.returncode not in (0, -signal.SIGINT) or not os.path.exists(data):
                log("profile: perf record failed: %s" % err.strip()[-300:])
                return
            out = os.path.join(self.args.out_dir, "perf-ca-server-%s.txt" % mode)
            with open(out, "w") as f:
                f.write("perf record -g -F 499 -p <ca-server> during %d devices, %s mode, 2 "
                        "workers: %.1f packs/s under perf, ca-server CPU %.3f ms per pack\n\n"
                        % (n, mode, r["packs_per_s"], r["server_cpu_ms_per_pack"]))
                f.write("==== by shared object (self) ====\n")
                f.write(perf_report(data, "--no-children", "--sort", "dso", "--percent-limit",
                                    "0.5"))
                f.write("\n==== self: where the samples fell ====\n")
                f.write(perf_report(data, "--no-children", "--sort", "dso,symbol",
                                    "--percent-limit", "0.7"))
                f.write("\n==== children: each function with what it calls ====\n")
                f.write(perf_report(data, "--children", "--sort", "symbol", "--percent-limit",
                                    "3"))
            log("profile written to %s" % out)

    def table(self):
        m = self.results["machine"]
        med = self.results["medians"]
        lines = ["", "Issue 19, item 1: certline beside cfssl -- %s, %d cores, %s, kernel %s" % (
            m["cpu_model"], m["nproc"], m["os"], m["kernel"]),
            "load average at start %.2f, at end %.2f; other work on the machine took CPU s in "
            "the median runs: %s" % (self.results["loadavg_start"][0],
                                     self.results["loadavg_end"][0],
                                     ", ".join("%s %.2f" % (k, med[k]["other_cpu_s"])
                                               for k in med)),
            "%d devices per run, certline %d workers (FIG 21, requests of %d), cfssl %d kept-alive "
            "mutual-TLS clients; median of %d runs each" % (
                self.args.devices, WORKERS, bench_issuance.BATCH, CLIENTS, self.args.repeats),
            "",
            "%-16s %9s %8s %11s %11s %11s  %s" % ("", "per s", "/ cfssl", "server ms",
                                                  "postgres ms", "client ms", "all runs (per s)"),
            "-" * 96]
        for mode in CERTLINE_MODES + ("cfssl",):
            r = med[mode]
            name = "cfssl" if mode == "cfssl" else "certline " + mode
            lines.append("%-16s %9.1f %8s %11.3f %11.3f %11.3f  %s" % (
                name, r["packs_per_s"],
                "%.2f" % self.results["ratios"][mode] if mode in self.results["ratios"] else "",
                r["server_cpu_ms_per_pack"], 1000 * r["postgres_cpu_s"] / r["devices"],
                1000 * r["client_cpu_s"] / r["devices"],
                ", ".join("%.1f" % v for v in r["runs_packs_per_s"])))
        lines.append("(CPU per certificate of the median run: the server process (SoftHSM2 runs "
                     "inside ca-server), the cluster's PostgreSQL processes, the client)")
        lines.append("")
        for mode in CERTLINE_MODES:
            ratio = self.results["ratios"][mode]
            lines.append("  goal: certline %-5s >= 1.50 x cfssl: ratio %.2f  %s   (CPU bound: "
                         "%.3f / %.3f ms per certificate, all three processes: %.2f)" % (
                             mode, ratio, "met" if ratio >= 1.5 else "NOT MET",
                             self.results["cpu_ms_per_cert"]["cfssl"],
                             self.results["cpu_ms_per_cert"][mode],
                             self.results["cpu_ratios"][mode]))
        return "\n".join(lines)


def total_cpu_ms(r):
    """CPU ms per certificate of the server, PostgreSQL and the client in one run."""
    return 1000 * (r["server_cpu_s"] + r["postgres_cpu_s"] + r["client_cpu_s"]) / r["devices"]


def median_of(values):
    ranked = sorted(values)
    return round(ranked[(len(ranked) - 1) // 2], 3)


def main():
    def options(parser):
        parser.add_argument("--devices", type=int, default=10000)
        parser.add_argument("--repeats", type=int, default=3)
        parser.add_argument("--ca-server-env", action="append", default=[],
                            metavar="NAME=VALUE", help="in ca-server's environment (a lever)")
        parser.add_argument("--profile", action="store_true",
                            help="one more run per certline mode under perf record -g")
    _, args = parse_args(__doc__, options, ("ca_server", "bench_cfssl_load", "wsdl_dir",
                                            "source_dir", "out_dir"))
    if shutil.which("cfssl") is None:
        print("bench_cfssl: SKIPPED: cfssl is not installed (Debian package golang-cfssl; "
              "`make deps` installs it)")
        return 0
    for path in (args.ca_server, args.bench_cfssl_load):
        if not os.access(path, os.X_OK):
            sys.exit("bench_cfssl: %s is not an executable" % path)
    args.source_dir = os.path.abspath(args.source_dir)
    settings = {"devices": args.devices, "repeats": args.repeats, "workers": WORKERS,
                "ca_server_env": args.ca_server_env,
                "clients": CLIENTS, "order": list(ORDER), "batch_size": bench_issuance.BATCH,
                "cfssl_config": CFSSL_CONFIG,
                "cfssl": subprocess.run(["cfssl", "version"], stdout=subprocess.PIPE,
                                        text=True).stdout.split("\n")[0]}
    note = "setup: private PostgreSQL, SoftHSM2, two certline CAs (file, token), cfssl ..."
    started = time.time()
    code = run_bench("bench_cfssl", args, CfsslBench, lambda b: b.measure(), settings, note,
                     "bench-cfssl.json", "certline-bench-cfssl-", tail_chars=4000)
    log("bench_cfssl: %.0f s" % (time.time() - started))
    return code


if __name__ == "__main__":
    sys.exit(main())
