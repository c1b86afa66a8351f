#!/usr/bin/python3
"""bench_issuance.py: issue 7, item 1 -- batch issuance at the crypto limit.

Measures, on one machine in one run:
  * ca-server: packs/s through the FIG 21 CertificateTransmissionRequest operation, timed end to
    end by a stock SOAP client (zeep) over mutual TLS -- from sending the request to having the
    parsed answer, so the intent and completion commits in PostgreSQL are inside the figure --
    for 1 and 2 `workers` and for 1,000 and 10,000 P-256 devices (requests of 1,000 numbers);
  * the raw mbedTLS baseline (bench_issue_raw: keygen + certificate + signature only, best
    settings) with 1 and 2 threads for the same numbers of devices;
  * the openssl command-line loop an operator would write, two loops in parallel for ~20 s;
  * RSA-2048: one batch of 40 devices with 1 and 2 workers;
and prints a table with the ratios to issue 7's goals, and writes OUT_DIR/bench-issuance.json.

Builds nothing: run it on a Release build (no sanitizers), see tests/bench/README.md.

Usage: bench_issuance.py CA_SERVER BENCH_ISSUE_RAW WSDL_DIR SOURCE_DIR OUT_DIR
           [--openssl-seconds S] [--profile]
  --profile: after the measurements, records one extra 10,000-device run with 2 workers under
             `perf record` (if perf works here) and writes OUT_DIR/perf-ca-server.txt.
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_common import (BenchCaServer, cluster_cpu_seconds, cpu_seconds, log,  # noqa: E402
                          machine_busy_seconds, parse_args, run_bench)
import soap_peer  # noqa: E402  (tests/lib, on the path from bench_common)
from certline_harness import Failure, check, open_pack  # noqa: E402

SIZES = (1000, 10000)
WORKERS = (1, 2)
BATCH = 1000
RSA_DEVICES = 40
RSA_REPEATS = 3  # RSA key generation time varies a lot from key to key: median of 3 batches
GOAL_RAW = 0.90
GOAL_OPENSSL = 6.0
GOAL_RSA = 1.8


# The models operator_setup adds: code and model-add's options.
MODELS = (("3012", ()), ("R204", ("--key-type", "rsa2048")))


class Bench:
    # How timed_batches opens the pack it checks: version 1, the device key made in software.
    open_pack = staticmethod(open_pack)

    def __init__(self, args, work, cluster):
        self.args = args
        self.work = work
        self.cluster = cluster
        self.conninfo = cluster.create_db("ca")
        self.ca = BenchCaServer(args.ca_server, work, self.conninfo)
        self.wsdl = os.path.join(args.wsdl_dir, "CertificateAuthority.wsdl")
        self.serial = 0  # device numbers are never reused across runs
        self.results = {}

    def programs(self):
        """What a failure shows the log of, and the clean-up stops."""
        return [("ca-server", self.ca)]

    # ---- setup ----

    def operator_setup(self, models=MODELS):
        self.ca.run("init")
        self.ca.run("issue-service", "ca-server", "ca.certline.test", "--out",
                    os.path.join(self.work, "svc-ca"))
        self.ca.run("issue-service", "comm-terminal", "comm.certline.test", "--out",
                    os.path.join(self.work, "svc-comm"))
        self.prewrite = {}
        for model, options in models:
            self.ca.run("model-add", model, *options)
            path = os.path.join(self.work, model + ".bundle")
            self.ca.run("model-export", model, "--out", path)
            with open(path) as f:
                self.prewrite[model] = base64.b64decode(json.load(f)["prewrite_key"])

    def openssl_ca(self):
        """A test CA made with openssl itself, keys unencrypted, for the openssl loop and the
        raw baseline."""
        d = os.path.join(self.work, "openssl-ca")
        os.mkdir(d)
        run = lambda *a: subprocess.run(list(a), check=True, stdout=subprocess.DEVNULL,  # noqa
                                        stderr=subprocess.DEVNULL, cwd=d)
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-subj", "/O=certline bench/CN=bench root", "-days", "3650",
            "-keyout", "root.key", "-out", "root.crt")
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-subj", "/O=certline bench/CN=bench issuing CA", "-days", "3650",
            "-CA", "root.crt", "-CAkey", "root.key",
            "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", "issuing.key", "-out", "issuing.crt")
        self.openssl_dir = d

    # ---- ca-server through FIG 21 ----

    def client(self, timeout=600):
        proxy, _, _ = soap_peer.service(self.wsdl, "https://127.0.0.1:%d/ca" % self.ca.port,
                                        "ca.certline.test",
                                        os.path.join(self.work, "svc-comm.chain.crt"),
                                        os.path.join(self.work, "svc-comm.key"),
                                        os.path.join(self.ca.ca_dir, "root.crt"), timeout=timeout)
        return proxy

    def numbers(self, model, count):
        first = self.serial
        self.serial += count
        return ["%s-%09d" % (model, i) for i in range(first + 1, first + count + 1)]

    def serve(self, workers):
        self.ca.write_config(self.conninfo, workers=workers, max_batch=BATCH)
        self.ca.start()
        proxy = self.client()
        # Warm-up (not timed): the TLS connection, the database connections, the server's
        # threads, the first pages of the tables.
        warm = self.numbers("3012", 20)
        proxy.CertificateTransmissionRequest(requestId="warm-%d-%d" % (workers, self.serial),
                                             replacement=False, deviceNumber=warm)
        return proxy

    def timed_batches(self, proxy, model, total, per_request, tag):
        """Sends total device numbers in requests of per_request; returns the figures."""
        pid = self.ca.process.pid
        cpu_server0, cpu_client0 = cpu_seconds(pid), sum(os.times()[:2])
        cpu_pg0 = cluster_cpu_seconds(self.cluster)
        busy0 = machine_busy_seconds()
        request_seconds = []
        started = time.perf_counter()
        checked = None
        for k in range(total // per_request):
            numbers = self.numbers(model, per_request)
            t0 = time.perf_counter()
            answer = proxy.CertificateTransmissionRequest(
                requestId="%s-%d-%d" % (tag, k, self.serial), replacement=False,
                deviceNumber=numbers)
            request_seconds.append(time.perf_counter() - t0)
            check(len(answer.item) == per_request, "%s: %d packs for %d numbers" %
                  (tag, len(answer.item), per_request))
            if checked is None:
                checked = answer.item[-1]
        elapsed = time.perf_counter() - started
        cpu_server = cpu_seconds(pid) - cpu_server0
        cpu_client = sum(os.times()[:2]) - cpu_client0
        # Approximate: a short-lived child (autovacuum worker) that exits in between drops out.
        cpu_pg = max(cluster_cpu_seconds(self.cluster) - cpu_pg0, 0.0)
        other = machine_busy_seconds() - busy0 - cpu_server - cpu_client - cpu_pg
        # Outside the clock: one pack is opened to show that real packs came back.
        pack, _, _ = self.open_pack(checked.pack, self.prewrite[model])
        check(pack["device_number"] == checked.deviceNumber, "pack names another device")
        return {"devices": total, "requests": total // per_request, "seconds": round(elapsed, 3),
                "packs_per_s": round(total / elapsed, 1),
                "request_seconds": [round(s, 3) for s in request_seconds],
                "server_cpu_s": round(cpu_server, 2), "client_cpu_s": round(cpu_client, 2),
                "postgres_cpu_s": round(cpu_pg, 2), "other_cpu_s": round(max(other, 0), 2),
                "server_cpu_ms_per_pack": round(1000 * cpu_server / total, 3)}

    def ca_server_p256(self):
        out = {}
        for workers in WORKERS:
            proxy = self.serve(workers)
            try:
                for n in SIZES:
                    log("ca-server, %d worker(s), %d P-256 devices ..." % (workers, n))
                    r = self.timed_batches(proxy, "3012", n, BATCH, "p256-w%d-n%d" % (workers, n))
                    log("  %.1f packs/s (%.2f s; CPU: ca-server %.2f s, PostgreSQL %.2f s, "
                        "client %.2f s, rest of the machine %.2f s)" % (
                            r["packs_per_s"], r["seconds"], r["server_cpu_s"],
                            r["postgres_cpu_s"], r["client_cpu_s"], r["other_cpu_s"]))
                    out["workers_%d" % workers] = out.get("workers_%d" % workers, {})
                    out["workers_%d" % workers][str(n)] = r
            finally:
                self.ca.stop()
        self.results["ca_server_p256"] = out

    def ca_server_rsa(self):
        out = {}
        for workers in WORKERS:
            proxy = self.serve(workers)
            try:
                runs = []
                for k in range(RSA_REPEATS):
                    log("ca-server, %d worker(s), %d RSA-2048 devices (batch %d of %d) ..." % (
                        workers, RSA_DEVICES, k + 1, RSA_REPEATS))
                    r = self.timed_batches(proxy, "R204", RSA_DEVICES, RSA_DEVICES,
                                           "rsa-w%d-%d" % (workers, k))
                    log("  %.2f packs/s (%.2f s)" % (r["packs_per_s"], r["seconds"]))
                    runs.append(r)
                median = sorted(runs, key=lambda r: r["packs_per_s"])[len(runs) // 2]
                out["workers_%d" % workers] = dict(median, runs_packs_per_s=[
                    r["packs_per_s"] for r in runs])
            finally:
                self.ca.stop()
        self.results["ca_server_rsa2048"] = out

    # ---- baselines ----

    def raw_loop(self):
        out = {}
        d = self.openssl_dir
        sample = os.path.join(self.work, "raw-sample.crt")
        for threads in WORKERS:
            for n in SIZES:
                log("raw mbedTLS loop, %d thread(s), %d devices ..." % (threads, n))
                busy0 = machine_busy_seconds()
                r = subprocess.run([self.args.bench_issue_raw, str(n), str(threads),
                                    os.path.join(d, "issuing.crt"), os.path.join(d, "issuing.key"),
                                    sample], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, timeout=600)
                if r.returncode != 0:
                    raise Failure("bench_issue_raw failed: %s%s" % (r.stdout, r.stderr))
                busy = machine_busy_seconds() - busy0
                fields = dict(f.split("=", 1) for f in r.stdout.split()[1:])
                # The baseline's certificates must be real ones: one is checked by openssl.
                subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "root.crt"),
                                "-untrusted", os.path.join(d, "issuing.crt"), sample],
                               check=True, stdout=subprocess.DEVNULL)
                rate = float(fields["devices_per_s"])
                log("  %.1f devices/s (machine busy %.2f CPU s)" % (rate, busy))
                out.setdefault("threads_%d" % threads, {})[str(n)] = {
                    "devices": n, "seconds": float(fields["seconds"]), "devices_per_s": rate,
                    "machine_busy_cpu_s": round(busy, 2)}
        self.results["raw_mbedtls"] = out

    def openssl_loop(self):
        """Two shell loops in parallel, as an operator would write them, for a fixed time."""
        seconds = self.args.openssl_seconds
        d = self.openssl_dir
        stop = os.path.join(self.work, "openssl-stop")
        script = (
            'cd "$1"; i=0\n'
            'while [ ! -e "$2" ]; do\n'
            '  i=$((i+1)); n="3012-$3$(printf %06d $i)"\n'
            '  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\\n'
            '    -subj "/CN=$n/serialNumber=$n/OU=device/title=3012/O=certline bench" \\\n'
            '    -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=clientAuth \\\n'
            '    -CA "$4/issuing.crt" -CAkey "$4/issuing.key" -days 365 \\\n'
            '    -keyout "$n.key" -out "$n.crt" 2>/dev/null || exit 1\n'
            'done\n')
        loops = []
        log("openssl command-line loop, 2 in parallel, %d s ..." % seconds)
        started = time.perf_counter()
        busy0 = machine_busy_seconds()
        for k in (1, 2):
            out_dir = os.path.join(self.work, "openssl-loop-%d" % k)
            os.mkdir(out_dir)
            loops.append((out_dir, subprocess.Popen(["bash", "-c", script, "loop", out_dir, stop,
                                                     str(k), d])))
        time.sleep(seconds)
        with open(stop, "w"):
            pass
        codes = [p.wait(timeout=60) for _, p in loops]
        elapsed = time.perf_counter() - started
        busy = machine_busy_seconds() - busy0
        check(codes == [0, 0], "an openssl loop failed: %r" % codes)
        counts = [len([f for f in os.listdir(out_dir) if f.endswith(".crt")])
                  for out_dir, _ in loops]
        first = os.path.join(loops[0][0], "3012-1000001.crt")
        subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "root.crt"),
                        "-untrusted", os.path.join(d, "issuing.crt"), first], check=True,
                       stdout=subprocess.DEVNULL)
        total = sum(counts)
        rate = total / elapsed
        log("  %d certificates in %.1f s: %.1f/s" % (total, elapsed, rate))
        self.results["openssl_loop"] = {"loops": 2, "seconds": round(elapsed, 2),
                                        "certificates": total, "per_loop": counts,
                                        "certificates_per_s": round(rate, 1),
                                        "machine_busy_cpu_s": round(busy, 1)}

    # ---- profile (optional) ----

    def profile(self):
        """System-wide perf record (-a) during one extra run, 2 workers, 10,000 devices: how the
        two cores are shared between ca-server, PostgreSQL, the client and idle; ca-server's
        hottest symbols; and a timeline of the first two requests in 100 ms slices."""
        out = os.path.join(self.args.out_dir, "perf-ca-server.txt")
        if shutil.which("perf") is None:
            log("profile: perf is not installed")
            return
        proxy = self.serve(2)
        data = os.path.join(self.work, "perf.data")
        try:
            rec = subprocess.Popen(["perf", "record", "-a", "-F", "499", "-o", data],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(1)
            log("profile: perf record -a during ca-server, 2 workers, 10000 devices ...")
            t0 = time.perf_counter()
            r = self.timed_batches(proxy, "3012", 10000, BATCH, "profile")
            window = time.perf_counter() - t0
            rec.send_signal(signal.SIGINT)
            err = rec.communicate(timeout=120)[1]
        finally:
            self.ca.stop()
        if rec.returncode not in (0, -signal.SIGINT) or not os.path.exists(data):
            log("profile: perf record failed: %s" % err.strip()[-300:])
            return

        def report(*extra):
            return subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                                   "-q"] + list(extra), stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True).stdout

        parts = ["==== CPU samples of both cores by process (swapper = idle) ====",
                 report("--sort", "comm", "--percent-limit", "0.3"),
                 "==== ca-server by shared object ====",
                 report("--comms", "ca-server", "--sort", "dso", "--percent-limit", "0.3"),
                 "==== ca-server by symbol ====",
                 report("--comms", "ca-server", "--sort", "dso,symbol", "--percent-limit",
                        "0.7"),
                 "==== postgres by symbol ====",
                 report("--comms", "postgres", "--sort", "dso,symbol", "--percent-limit",
                        "1.5")]
        # Timeline: samples per 100 ms slice and process, from the first request on.
        script = subprocess.run(["perf", "script", "-i", data, "-F", "comm,time"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        samples = []
        for line in script.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 2:
                samples.append((" ".join(fields[:-1]), float(fields[-1].rstrip(":"))))
        if samples:
            begin = samples[0][1] + 1.0  # the recording started ~1 s before the first request
            first_two = sum(r["request_seconds"][:2])
            slices = {}
            for comm, t in samples:
                k = int((t - begin) / 0.1)
                if 0 <= k < int(first_two / 0.1) + 1:
                    group = ("ca-server" if comm == "ca-server" else
                             "postgres" if comm == "postgres" else
                             "idle" if comm == "swapper" else
                             "client" if comm.startswith("python") else "other")
                    slices.setdefault(k, {}).setdefault(group, 0)
                    slices[k][group] += 1
            parts.append("==== timeline of the first two requests (%.2f s): samples per 100 ms "
                         "slice; 2 busy cores give ~100 per slice; idle is undercounted (a "
                         "tickless idle core takes few samples): what a slice lacks of ~100 was "
                         "idle too ====" % first_two)
            parts.append("%6s %10s %9s %7s %6s %6s" % ("t (s)", "ca-server", "postgres",
                                                        "client", "other", "idle"))
            for k in sorted(slices):
                c = slices[k]
                parts.append("%6.1f %10d %9d %7d %6d %6d" % (
                    k / 10, c.get("ca-server", 0), c.get("postgres", 0), c.get("client", 0),
                    c.get("other", 0), c.get("idle", 0)))
        with open(out, "w") as f:
            f.write("perf record -a -F 499 (system-wide, no call graphs) during ca-server serve, "
                    "2 workers, 10000 P-256 devices in 10 requests of 1000: %.1f packs/s under "
                    "perf, %.1f s\n\n" % (r["packs_per_s"], window) + "\n".join(parts) + "\n")
        self.results["profile"] = {"tool": "perf record -a -F 499", "file": out,
                                   "packs_per_s_under_perf": r["packs_per_s"],
                                   "server_cpu_s": r["server_cpu_s"],
                                   "postgres_cpu_s": r["postgres_cpu_s"],
                                   "client_cpu_s": r["client_cpu_s"], "seconds": r["seconds"]}
        log("profile written to %s" % out)

    # ---- goals ----

    def goals(self):
        ca = self.results["ca_server_p256"]
        raw = self.results["raw_mbedtls"]
        ossl = self.results["openssl_loop"]["certificates_per_s"]
        rsa = self.results["ca_server_rsa2048"]
        goals = []
        for n in SIZES:
            mine = ca["workers_2"][str(n)]["packs_per_s"]
            base = raw["threads_2"][str(n)]["devices_per_s"]
            goals.append({"goal": "ca-server 2 workers >= %.2f x raw mbedTLS loop (2 threads), "
                          "%d devices" % (GOAL_RAW, n), "ratio": round(mine / base, 3),
                          "target": GOAL_RAW, "met": mine / base >= GOAL_RAW})
        for n in SIZES:
            mine = ca["workers_2"][str(n)]["packs_per_s"]
            goals.append({"goal": "ca-server 2 workers >= %g x openssl loop (2 in parallel), "
                          "%d devices" % (GOAL_OPENSSL, n), "ratio": round(mine / ossl, 2),
                          "target": GOAL_OPENSSL, "met": mine / ossl >= GOAL_OPENSSL})
        r = rsa["workers_2"]["packs_per_s"] / rsa["workers_1"]["packs_per_s"]
        goals.append({"goal": "RSA-2048: ca-server 2 workers >= %g x 1 worker (%d devices, median)"
                      % (GOAL_RSA, RSA_DEVICES), "ratio": round(r, 3), "target": GOAL_RSA,
            "met": r >= GOAL_RSA})
        self.results["goals"] = goals

    def table(self):
        ca = self.results["ca_server_p256"]
        raw = self.results["raw_mbedtls"]
        rsa = self.results["ca_server_rsa2048"]
        ossl = self.results["openssl_loop"]
        m = self.results["machine"]
        lines = ["", "Batch issuance (issue 7, item 1) -- %s, %d cores, kernel %s" % (
            m["cpu_model"], m["nproc"], m["kernel"]),
            "load average at start %.2f, at end %.2f (other work on the machine skews figures)" % (
                self.results["loadavg_start"][0], self.results["loadavg_end"][0]), ""]
        lines.append("%-52s %10s %10s" % ("figure", "1,000", "10,000"))
        lines.append("-" * 74)
        for workers in WORKERS:
            row = ca["workers_%d" % workers]
            lines.append("%-52s %10.1f %10.1f" % (
                "ca-server FIG 21, %d worker(s), packs/s (end to end)" % workers,
                row["1000"]["packs_per_s"], row["10000"]["packs_per_s"]))
        for workers in WORKERS:
            row = ca["workers_%d" % workers]
            lines.append("%-52s %10.3f %10.3f" % (
                "  ca-server CPU ms per pack, %d worker(s)" % workers,
                row["1000"]["server_cpu_ms_per_pack"], row["10000"]["server_cpu_ms_per_pack"]))
        for threads in WORKERS:
            row = raw["threads_%d" % threads]
            lines.append("%-52s %10.1f %10.1f" % (
                "raw mbedTLS loop, %d thread(s), devices/s" % threads,
                row["1000"]["devices_per_s"], row["10000"]["devices_per_s"]))
        lines.append("%-52s %10.1f   (%d certificates in %.1f s)" % (
            "openssl CLI loop, 2 in parallel, certificates/s", ossl["certificates_per_s"],
            ossl["certificates"], ossl["seconds"]))
        for workers in WORKERS:
            row = rsa["workers_%d" % workers]
            lines.append("%-52s %10.2f   (%d devices in %.2f s, median batch)" % (
                "ca-server RSA-2048, %d worker(s), packs/s (median)" % workers,
                row["packs_per_s"], row["devices"], row["seconds"]))
            lines.append("%-52s %s" % ("", "  all batches: " + ", ".join(
                "%.2f" % v for v in row["runs_packs_per_s"])))
        lines += ["", "Goals:"]
        for g in self.results["goals"]:
            lines.append("  %-78s ratio %7.3f  target %5.2f  %s" % (
                g["goal"], g["ratio"], g["target"], "met" if g["met"] else "NOT MET"))
        return "\n".join(lines)


def main():
    def options(parser):
        parser.add_argument("--openssl-seconds", type=int, default=20)
        parser.add_argument("--profile", action="store_true")
    _, args = parse_args(__doc__, options,
                         ("ca_server", "bench_issue_raw", "wsdl_dir", "source_dir", "out_dir"))
    for path in (args.ca_server, args.bench_issue_raw):
        if not os.access(path, os.X_OK):
            sys.exit("bench_issuance: %s is not an executable" % path)

    def measure(bench):
        bench.operator_setup()
        bench.openssl_ca()
        bench.ca_server_p256()
        bench.raw_loop()
        bench.openssl_loop()
        bench.ca_server_rsa()
        bench.goals()
        if args.profile:
            bench.profile()

    settings = {"batch_size": BATCH, "sizes": list(SIZES), "workers": list(WORKERS),
                "rsa_devices": RSA_DEVICES, "rsa_repeats": RSA_REPEATS,
                "openssl_seconds": args.openssl_seconds}
    note = "setup: private PostgreSQL, ca-server init, service certificates, models ..."
    return run_bench("bench_issuance", args, Bench, measure, settings, note, "bench-issuance.json",
                     "certline-bench-", tail_chars=4000)


if __name__ == "__main__":
    sys.exit(main())
