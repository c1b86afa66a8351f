#!/usr/bin/python3
"""bench_token.py: issue 15's benchmark -- packs/s with the issuing CA key in a SoftHSM2 token
(PKCS#11, every signature in the token) against the file-key mode (the key in ca-server's memory).

For each mode: a CA made by `ca-server init` (token mode: the issuing key made in a private
SoftHSM2 token, deploy/sim/softhsm.py), then ca-server `serve` with 1 and 2 `workers`, and 1,000
and 10,000 P-256 devices through FIG 21's CertificateTransmissionRequest in requests of 1,000,
timed end to end by a stock SOAP client as bench_issuance.py does (same code). Device keys are made
in ca-server in both modes (device keys born in the token are another item of issue 15). Prints a
table and writes OUT_DIR/bench-token.json.

Usage: bench_token.py CA_SERVER WSDL_DIR OUT_DIR [--sizes 1000,10000]
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_common import BenchCaServer, log, parse_args, run_bench  # noqa: E402
import bench_issuance  # noqa: E402
from softhsm import SoftHsm  # noqa: E402

MODES = ("file", "token")


class ModeBench(bench_issuance.Bench):
    """bench_issuance's ca-server measurement for one key mode, in its own folder and database."""

    def __init__(self, args, work, cluster, mode):
        self.args = args
        self.work = os.path.join(work, mode)
        os.makedirs(self.work)
        self.cluster = cluster
        self.conninfo = cluster.create_db("ca_" + mode)
        key_uris = {}
        if mode == "token":
            hsm = SoftHsm(self.work, ("certline-issuing",))
            key_uris = {"issuing_key_uri": hsm.uri("certline-issuing", "issuing-ca")}
        self.ca = BenchCaServer(args.ca_server, self.work, self.conninfo, key_uris=key_uris)
        self.wsdl = os.path.join(args.wsdl_dir, "CertificateAuthority.wsdl")
        self.serial = 0
        self.results = {}


class TokenBench:
    def __init__(self, args, work, cluster):
        self.args = args
        self.modes = {mode: ModeBench(args, work, cluster, mode) for mode in MODES}
        self.results = {}

    def programs(self):
        return [("ca-server (%s keys)" % m, b.ca) for m, b in self.modes.items()]

    def stop(self):
        for bench in self.modes.values():
            if bench.ca.process is not None:
                bench.ca.process.kill()
                bench.ca.process.wait()
                bench.ca.process = None

    def measure(self):
        """Worker counts outside, modes inside: the two modes are measured close in time, so a
        change in the machine's load falls on both."""
        sizes = [int(s) for s in self.args.sizes.split(",")]
        for bench in self.modes.values():
            bench.operator_setup()
        for workers in bench_issuance.WORKERS:
            for mode, bench in self.modes.items():
                proxy = bench.serve(workers)
                try:
                    for n in sizes:
                        log("%s keys, %d worker(s), %d devices ..." % (mode, workers, n))
                        r = bench.timed_batches(proxy, "3012", n, min(n, bench_issuance.BATCH),
                                                "%s-w%d-n%d" % (mode, workers, n))
                        log("  %.1f packs/s (%.2f s; ca-server CPU %.2f s)" % (
                            r["packs_per_s"], r["seconds"], r["server_cpu_s"]))
                        self.results.setdefault(mode, {}).setdefault(
                            "workers_%d" % workers, {})[str(n)] = r
                finally:
                    bench.ca.stop()

    def table(self):
        sizes = [int(s) for s in self.args.sizes.split(",")]
        lines = ["", "Issue 15: packs/s, issuing CA key in a SoftHSM2 token vs in memory (file)",
                 "%-8s %-8s %10s %12s %12s %14s" % ("workers", "devices", "file", "SoftHSM2",
                                                    "token/file", "CPU ms/pack f/t")]
        for workers in bench_issuance.WORKERS:
            for n in sizes:
                f = self.results["file"]["workers_%d" % workers][str(n)]
                t = self.results["token"]["workers_%d" % workers][str(n)]
                lines.append("%-8d %-8d %10.1f %12.1f %12.2f %8.3f/%.3f" % (
                    workers, n, f["packs_per_s"], t["packs_per_s"],
                    t["packs_per_s"] / f["packs_per_s"], f["server_cpu_ms_per_pack"],
                    t["server_cpu_ms_per_pack"]))
        lines.append("(device keys made in ca-server in both modes; CPU: ca-server's, SoftHSM2 "
                     "runs inside it)")
        return "\n".join(lines)


def main():
    def options(parser):
        parser.add_argument("--sizes", default="1000,10000")
    _, args = parse_args(__doc__, options, ("ca_server", "wsdl_dir", "out_dir"))
    if not os.access(args.ca_server, os.X_OK):
        sys.exit("bench_token: %s is not an executable" % args.ca_server)
    settings = {"sizes": args.sizes, "workers": list(bench_issuance.WORKERS),
                "batch_size": bench_issuance.BATCH, "modes": list(MODES)}
    note = "setup: private PostgreSQL, two CAs (file keys; issuing key in SoftHSM2) ..."
    return run_bench("bench_token", args, TokenBench, lambda b: b.measure(), settings, note,
                     "bench-token.json", "certline-bench-token-", tail_chars=4000)


if __name__ == "__main__":
    sys.exit(main())
