#!/usr/bin/python3
"""bench_ca_console.py: issue 17 -- how long each page of ca-server's console for CA operators
takes with a large store.

ca-server is set up as bench_issuance.py sets it up (init, service certificates, the four models
of growth_load.CA_MODELS), one real pack is issued for the loader, then its store is bulk-loaded
with --certificates certificates (default 1,000,000) by growth_load.ca_load (bench_growth.py's
loader: ten factories, four models, most installed, some replaced, revoked, never reported, packs
still held, one request's intents outstanding, a revocation audited per revoked certificate).
A CA operator is added (`ca-server operator-add`), `serve` is started with the console, and while
a separate process issues --issue-rate certificates/s (default 20: FIG 21
CertificateTransmissionRequest of --issue-batch numbers, default 10, from bench_issuance.py's
client over mutual TLS, so that the store is written as the pages are read), every page is asked
--requests times (default 50) over one kept-alive HTTPS connection of the logged-in operator, each
answer read in full; a page that has been asked for --page-seconds (default 60) is asked no more
(at least 5 times), so that a slow page does not hold the run. The pages: issuance per factory
and day with its chart (30 days and a year), models, certificate search (none, number prefix,
whole number, serial prefix, state, factory, day, all filters), a certificate's detail (installed
and revoked), the audit log (no filter, actor and action, detail text, day) and the revocation
confirm page. Prints p50 and p95 of each page in milliseconds against the goal (p95 < 200 ms) and
the load average before and after; writes OUT_DIR/bench-ca-console.json.

--explain: afterwards, with the issuance stopped, every page over the goal is asked twice more
with auto_explain (ANALYZE, BUFFERS) on for the store's database (ALTER DATABASE ... SET, new
sessions of a restarted `serve`), and the plans of its statements of EXPLAIN_MS ms or more
(default 20) are written to OUT_DIR/ca-console-plans.txt. The figures are measured before, without
it.

Builds nothing: run it on a Release build (no sanitizers); see tests/bench/README.md.

Usage: bench_ca_console.py BUILD_DIR OUT_DIR [--certificates N] [--requests N]
           [--page-seconds S] [--issue-rate N] [--issue-batch N] [--explain [--explain-ms MS]]
"""
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_issuance  # noqa: E402
import growth_load  # noqa: E402
from bench_common import log, parse_args, run_bench  # noqa: E402
from bench_console import GOAL_MS  # noqa: E402
from certline_harness import cert_der, check, open_pack  # noqa: E402
from certline_procs import free_port  # noqa: E402
from console_client import Console  # noqa: E402  (tests/lib)

OPERATOR = "carol"
OPERATOR_PASSWORD = "ca console bench 1"
ISSUE_MODEL = "3012"
ISSUE_TAG = "console-bench-"


def issue_steadily(bench, rate, batch):
    """The issuance beside the pages (a process of its own, so that the client's work does not
    hold the measuring process): batch new numbers every batch / rate seconds until killed."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    proxy = bench.client()
    period = batch / float(rate)
    due = time.monotonic()
    k = 0
    while True:
        proxy.CertificateTransmissionRequest(requestId="%s%d" % (ISSUE_TAG, k), replacement=False,
                                             deviceNumber=bench.numbers(ISSUE_MODEL, batch))
        k += 1
        due += period
        time.sleep(max(0.0, due - time.monotonic()))


class CaConsoleBench(bench_issuance.Bench):
    def __init__(self, args, work, cluster):
        args.ca_server = os.path.join(args.build_dir, "ca-server", "ca-server")
        args.wsdl_dir = os.path.join(args.build_dir, "wsdl")
        super().__init__(args, work, cluster)
        self.results = {"pages": {}}
        self.console_port = free_port()
        self.issuer = None

    def serve_console(self):
        self.ca.write_config(self.conninfo, workers=2, max_batch=1000, console={
            "host": "127.0.0.1", "port": self.console_port, "session_minutes": 60})
        self.ca.start()

    def sample_pack(self):
        """(certificate DER, pack text) of a real pack, for the loader's rows."""
        self.serve_console()
        try:
            item = self.client().CertificateTransmissionRequest(
                requestId="console-sample", replacement=False,
                deviceNumber=self.numbers(ISSUE_MODEL, 1)).item[0]
        finally:
            self.ca.stop()
        _, cert, _ = open_pack(item.pack, self.prewrite[ISSUE_MODEL])
        return cert_der(cert), item.pack

    def sql(self, query):
        return growth_load.psql(self.conninfo, query).strip()

    def pages(self):
        """(name, path) of every page, with values picked from the loaded store."""
        today = time.strftime("%Y-%m-%d")
        year_ago = time.strftime("%Y-%m-%d", time.localtime(time.time() - 365 * 86400))
        middle = self.sql("SELECT max(seq) / 2 FROM certificate")
        number, serial, created = self.sql(
            "SELECT device_number, serial, to_char(created_at, 'YYYY-MM-DD') FROM certificate"
            " WHERE seq >= %s AND state = 'installed' ORDER BY seq LIMIT 1" % middle).split("|")
        revoked = self.sql("SELECT serial FROM certificate WHERE state = 'revoked'"
                           " AND seq >= %s ORDER BY seq LIMIT 1" % middle)
        self.results["picked"] = {"number": number, "serial": serial, "day": created,
                                  "revoked": revoked}
        return [("issuance (30 days, chart)", "/"),
                ("issuance (a year)", "/?since=" + year_ago),
                ("models", "/models"),
                ("certificates", "/certificates"),
                ("search number prefix", "/certificates?number=" + number[:-3]),
                ("search whole number", "/certificates?number=" + number),
                ("search serial prefix", "/certificates?serial=" + serial[:4]),
                ("search state installed", "/certificates?state=installed"),
                ("search state revoked", "/certificates?state=revoked"),
                ("search state issued", "/certificates?state=issued"),
                ("search factory", "/certificates?factory=factory-c"),
                ("search day", "/certificates?day=" + created),
                ("search all filters", "/certificates?number=%s&state=installed&factory=%s"
                 "&day=%s" % (number[:-3], "factory-c", created)),
                ("certificate detail", "/certificate?serial=" + serial),
                ("revoked certificate detail", "/certificate?serial=" + revoked),
                ("audit log", "/log"),
                ("audit log actor+action", "/log?actor=operator:alice&action=revoke"),
                ("audit log text", "/log?text=" + revoked),
                ("audit log day", "/log?day=" + today),
                ("revoke confirm", "/revoke?serial=" + serial)]

    def measure(self):
        args = self.args
        self.operator_setup(models=[(m, ()) for m in growth_load.CA_MODELS])
        sample = self.sample_pack()
        log("ca-server: loading about %d certificates with COPY ..." % args.certificates)
        self.results["load"] = growth_load.ca_load(self.conninfo, args.certificates, sample[0],
                                                   sample[1], log)
        subprocess.run([self.ca.binary, "-c", self.ca.config, "operator-add", OPERATOR,
                        "--password-stdin"], input=OPERATOR_PASSWORD + "\n", text=True,
                       check=True, stdout=subprocess.DEVNULL, timeout=60)
        pages = self.pages()
        self.serve_console()
        started = time.monotonic()
        if args.issue_rate > 0:
            self.issuer = multiprocessing.get_context("fork").Process(
                target=issue_steadily, args=(self, args.issue_rate, args.issue_batch))
            self.issuer.start()
            time.sleep(3)
            check(self.issuer.is_alive(), "the issuing process ended")
        self.results["load_before"] = os.getloadavg()
        client = Console(self.console_port)
        client.login(OPERATOR, OPERATOR_PASSWORD, cookie="__Host-certline-ca")
        for name, path in pages:
            times = []
            asked = time.monotonic()
            while len(times) < args.requests and (
                    len(times) < 5 or time.monotonic() - asked < args.page_seconds):
                began = time.perf_counter()
                status, body = client.request("GET", path)
                times.append((time.perf_counter() - began) * 1000)
                check(status == 200, "%s: status %d: %r" % (path, status, body[-300:]))
            times.sort()
            self.results["pages"][name] = {
                "path": path, "bytes": len(body), "requests": len(times),
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
                "max_ms": round(times[-1], 1)}
            log("  %-28s p50 %7.1f ms, p95 %7.1f ms (%d requests)" % (
                name, self.results["pages"][name]["p50_ms"],
                self.results["pages"][name]["p95_ms"], len(times)))
        seconds = time.monotonic() - started
        self.results["load_after"] = os.getloadavg()
        self.stop_issuer()
        issued = int(self.sql("SELECT count(*) FROM certificate WHERE request_id LIKE '%s%%'"
                              % ISSUE_TAG))
        self.results["issued_meanwhile"] = issued
        self.results["issued_per_s"] = round(issued / seconds, 1)
        self.results["certificates_stored"] = int(self.sql("SELECT count(*) FROM certificate"))
        self.ca.stop()
        if args.explain:
            self.explain([path for name, path in pages
                          if self.results["pages"][name]["p95_ms"] >= GOAL_MS])

    def explain(self, paths):
        """The plans of the statements of the pages at paths (EXPLAIN (ANALYZE, BUFFERS) as
        auto_explain logs them), into OUT_DIR/ca-console-plans.txt."""
        database = self.sql("SELECT current_database()")
        server_log = os.path.join(self.cluster.dir, "server.log")
        start = os.path.getsize(server_log)
        settings = {"session_preload_libraries": "auto_explain",
                    "auto_explain.log_min_duration": "%g" % self.args.explain_ms,
                    "auto_explain.log_analyze": "on", "auto_explain.log_buffers": "on"}
        for name, value in settings.items():
            self.sql("ALTER DATABASE %s SET %s = '%s'" % (database, name, value))
        try:
            self.serve_console()
            client = Console(self.console_port)
            client.login(OPERATOR, OPERATOR_PASSWORD, cookie="__Host-certline-ca")
            for path in paths:
                for _ in range(2):
                    client.request("GET", path)
            self.ca.stop()
        finally:
            self.sql("ALTER DATABASE %s RESET ALL" % database)
        with open(server_log, errors="replace") as f:
            f.seek(start)
            plans = re.findall(r"LOG:  duration: [0-9.]+ ms  plan:\n(?:[ \t][^\n]*\n)+", f.read())
        with open(os.path.join(self.args.out_dir, "ca-console-plans.txt"), "w") as f:
            f.write("auto_explain (ANALYZE, BUFFERS) of the statements of %g ms or more of the "
                    "pages over %d ms p95: %s\n\n%s" % (self.args.explain_ms, GOAL_MS,
                                                        " ".join(paths), "\n".join(plans)))
        log("  %d plans of %d pages over the goal in %s" % (
            len(plans), len(paths), os.path.join(self.args.out_dir, "ca-console-plans.txt")))

    def stop_issuer(self):
        if self.issuer is not None:
            self.issuer.terminate()
            self.issuer.join(30)
            if self.issuer.is_alive():
                self.issuer.kill()
                self.issuer.join()
            self.issuer = None

    def stop(self):
        self.stop_issuer()
        if self.ca.process is not None:
            self.ca.process.kill()
            self.ca.process.wait()
            self.ca.process = None

    def table(self):
        r = self.results
        lines = ["ca-server console, %s certificates stored, %d requests per page, issuance of "
                 "%d certificates/s asked (%s issued meanwhile, %.1f/s) (goal: p95 < %d ms)" % (
                     "{:,}".format(r.get("certificates_stored", 0)), self.args.requests,
                     self.args.issue_rate, r.get("issued_meanwhile", 0),
                     r.get("issued_per_s", 0), GOAL_MS),
                 "load average before / after: %s / %s" % (
                     " ".join("%.1f" % x for x in r.get("load_before", ())),
                     " ".join("%.1f" % x for x in r.get("load_after", ()))),
                 "%-28s %9s %9s %9s %10s  %s" % ("page", "requests", "p50 ms", "p95 ms", "bytes",
                                                 "")]
        for name, p in r["pages"].items():
            lines.append("%-28s %9d %9.1f %9.1f %10d  %s" % (
                name, p["requests"], p["p50_ms"], p["p95_ms"], p["bytes"],
                "ok" if p["p95_ms"] < GOAL_MS else "OVER"))
        return "\n".join(lines)


def main():
    def options(parser):
        parser.add_argument("--certificates", type=int, default=1000000)
        parser.add_argument("--requests", type=int, default=50)
        parser.add_argument("--page-seconds", type=float, default=60)
        parser.add_argument("--issue-rate", type=int, default=20)
        parser.add_argument("--issue-batch", type=int, default=10)
        parser.add_argument("--explain", action="store_true")
        parser.add_argument("--explain-ms", type=float, default=20)
    _, args = parse_args(__doc__, options)
    return run_bench("bench_ca_console", args, CaConsoleBench, lambda bench: bench.measure(),
                     {"certificates": args.certificates, "requests": args.requests,
                      "page_seconds": args.page_seconds,
                      "issue_rate": args.issue_rate, "issue_batch": args.issue_batch,
                      "explain": args.explain, "explain_ms": args.explain_ms},
                     "ca-server console: private PostgreSQL, init, service certificates, models",
                     "bench-ca-console.json", "certline-bench-ca-console-")


if __name__ == "__main__":
    sys.exit(main())
