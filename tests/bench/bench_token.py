#!/usr/bin/python3
"""bench_token.py: issue 15's benchmark -- packs/s with the CA's keys in a SoftHSM2 token (PKCS#11)
against the file-key mode, through the same FIG 21 path as bench_issuance.py (same code).

Three modes, each its own CA (`ca-server init`) and database:
  file           the issuing key in ca-server's memory, device keys made in software (pack v1);
  issuing-token  the issuing key in a SoftHSM2 token (issuing_key_uri): every signature there;
                 device keys made in software (pack v1);
  token          the issuing key in a token AND device keys born in a token, leaving it only
                 wrapped under the model's pre-write key (issuing_key_uri + device_key_token,
                 pack v2); by default two separate tokens, --one-token puts both in one.
For 1 and 2 `workers`, the three servers run side by side (idle but the one measured); for each
size (1,000 and 10,000 P-256 devices, --sizes) the modes are measured one after the other,
--repeats times, the order of the modes turned by one at each repeat, so a change in the
machine's load falls on all of them; the median repeat is reported. Each measurement is
bench_issuance's: FIG 21 CertificateTransmissionRequest in requests of 1,000 over mutual TLS,
timed end to end by a stock SOAP client, ca-server's CPU from /proc (SoftHSM2 runs inside it).
One pack per measurement is opened (v1: AES-GCM; v2: RFC 5649 unwrap, the key the certificate's).
Prints a table (packs/s, ratio to file mode, ca-server CPU ms per pack) and writes
OUT_DIR/bench-token.json.

Run it on a Release build (no sanitizers), see tests/bench/README.md.

Usage: bench_token.py CA_SERVER WSDL_DIR OUT_DIR [--sizes 1000,10000] [--repeats 3]
           [--one-token]
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_common import BenchCaServer, log, parse_args, run_bench  # noqa: E402
import bench_issuance  # noqa: E402
from certline_harness import open_pack_v2  # noqa: E402
from softhsm import SoftHsm  # noqa: E402

MODES = ("file", "issuing-token", "token")
MODELS = (("3012", ()),)  # P-256 only
# Token labels: one issuing-key token per mode that has one, and the device keys' token.
ISSUING_TOKENS = {"issuing-token": "bench-issuing-1", "token": "bench-issuing-2"}
DEVICE_TOKEN = "bench-devices"


class ModeBench(bench_issuance.Bench):
    """bench_issuance's ca-server measurement for one key mode, in its own folder and database;
    key_uris: its configuration's token keys."""

    def __init__(self, args, work, cluster, mode, key_uris):
        self.args = args
        self.work = os.path.join(work, mode)
        os.makedirs(self.work)
        self.cluster = cluster
        self.conninfo = cluster.create_db("ca_" + mode.replace("-", "_"))
        self.ca = BenchCaServer(args.ca_server, self.work, self.conninfo, key_uris=key_uris)
        self.wsdl = os.path.join(args.wsdl_dir, "CertificateAuthority.wsdl")
        self.serial = 0
        self.results = {}
        if "device_key_token" in key_uris:
            self.open_pack = open_pack_v2


class TokenBench:
    """The three modes' CAs (or those of modes: bench_cfssl.py takes file and token), the
    SoftHSM2 tokens and the measurement."""

    def __init__(self, args, work, cluster, modes=MODES):
        self.args = args
        self.sizes = [int(s) for s in args.sizes.split(",")]
        device_label = ISSUING_TOKENS["token"] if args.one_token else DEVICE_TOKEN
        labels = sorted(set(ISSUING_TOKENS.values()) | {device_label})
        self.hsm = SoftHsm(work, labels)  # SOFTHSM2_CONF for every ca-server started
        uris = {"file": {}}
        for mode, label in ISSUING_TOKENS.items():
            uris[mode] = {"issuing_key_uri": self.hsm.uri(label, "issuing-ca")}
        uris["token"]["device_key_token"] = self.hsm.token_uri(device_label)
        self.modes = {mode: ModeBench(args, work, cluster, mode, uris[mode]) for mode in modes}
        self.results = {"tokens": {mode: sorted(u) for mode, u in uris.items()},
                        "device_keys_in_issuing_token": bool(args.one_token)}

    def programs(self):
        return [("ca-server (%s)" % m, b.ca) for m, b in self.modes.items()]

    def stop(self):
        for bench in self.modes.values():
            if bench.ca.process is not None:
                bench.ca.process.kill()
                bench.ca.process.wait()
                bench.ca.process = None

    def measure(self):
        for bench in self.modes.values():
            bench.operator_setup(MODELS)
        runs = {}
        for workers in bench_issuance.WORKERS:
            proxies = {}
            try:
                for mode, bench in self.modes.items():
                    proxies[mode] = bench.serve(workers)
                for n in self.sizes:
                    for repeat in range(self.args.repeats):
                        turn = repeat % len(MODES)
                        for mode in MODES[turn:] + MODES[:turn]:
                            log("%s, %d worker(s), %d devices, repeat %d of %d ..." % (
                                mode, workers, n, repeat + 1, self.args.repeats))
                            r = self.modes[mode].timed_batches(
                                proxies[mode], "3012", n, min(n, bench_issuance.BATCH),
                                "%s-w%d-n%d-r%d" % (mode, workers, n, repeat))
                            log("  %.1f packs/s (%.2f s; ca-server CPU %.2f s, rest of the "
                                "machine %.2f s)" % (r["packs_per_s"], r["seconds"],
                                                     r["server_cpu_s"], r["other_cpu_s"]))
                            runs.setdefault(mode, {}).setdefault(
                                "workers_%d" % workers, {}).setdefault(str(n), []).append(r)
            finally:
                for bench in self.modes.values():
                    bench.ca.stop()
        self.results["modes"] = {
            mode: {w: {n: median(rs) for n, rs in by_n.items()} for w, by_n in by_w.items()}
            for mode, by_w in runs.items()}

    def table(self):
        res = self.results["modes"]
        m = self.results["machine"]
        lines = ["", "Issue 15: the CA's keys in SoftHSM2 vs in memory, FIG 21 end to end -- %s, "
                 "%d cores" % (m["cpu_model"], m["nproc"]),
                 "load average at start %.2f, at end %.2f (other work on the machine skews "
                 "figures); median of %d repeat(s)" % (self.results["loadavg_start"][0],
                                                       self.results["loadavg_end"][0],
                                                       self.args.repeats),
                 "device keys %s" % ("in the issuing key's token" if self.args.one_token
                                     else "in a token of their own"), "",
                 "%-7s %-7s %-14s %9s %7s %12s  %s" % ("workers", "devices", "mode", "packs/s",
                                                       "x file", "CPU ms/pack", "all repeats"),
                 "-" * 78]
        for workers in bench_issuance.WORKERS:
            for n in self.sizes:
                key = ("workers_%d" % workers, str(n))
                base = res["file"][key[0]][key[1]]["packs_per_s"]
                for mode in MODES:
                    r = res[mode][key[0]][key[1]]
                    lines.append("%-7d %-7d %-14s %9.1f %7.2f %12.3f  %s" % (
                        workers, n, mode, r["packs_per_s"], r["packs_per_s"] / base,
                        r["server_cpu_ms_per_pack"],
                        ", ".join("%.1f" % v for v in r["runs_packs_per_s"])))
        lines.append("(CPU: ca-server's, SoftHSM2 included: it runs inside ca-server's process)")
        return "\n".join(lines)


def median(runs):
    """The median run by packs/s (the lower middle one of an even number), with every run's
    packs/s."""
    ranked = sorted(runs, key=lambda r: r["packs_per_s"])
    return dict(ranked[(len(ranked) - 1) // 2], runs_packs_per_s=[r["packs_per_s"] for r in runs])


def main():
    def options(parser):
        parser.add_argument("--sizes", default="1000,10000",
                            help="numbers of devices, comma-separated (requests of 1,000)")
        parser.add_argument("--repeats", type=int, default=3)
        parser.add_argument("--one-token", action="store_true",
                            help="token mode: device keys in the issuing key's token")
    _, args = parse_args(__doc__, options, ("ca_server", "wsdl_dir", "out_dir"))
    if not os.access(args.ca_server, os.X_OK):
        sys.exit("bench_token: %s is not an executable" % args.ca_server)
    settings = {"sizes": [int(s) for s in args.sizes.split(",")], "repeats": args.repeats,
                "workers": list(bench_issuance.WORKERS), "batch_size": bench_issuance.BATCH,
                "modes": list(MODES), "one_token": args.one_token}
    note = "setup: private PostgreSQL, SoftHSM2 tokens, three CAs (%s) ..." % ", ".join(MODES)
    return run_bench("bench_token", args, TokenBench, lambda b: b.measure(), settings, note,
                     "bench-token.json", "certline-bench-token-", tail_chars=4000)


if __name__ == "__main__":
    sys.exit(main())
