#!/usr/bin/python3
"""bench_growth.py: issue 18, part 3 -- certline as its stores grow.

ca-server: for an empty store and for each of --sizes (default 10,000 and 1,000,000 certificates),
a copy of the set-up store (init, service certificates, four models) is bulk-loaded with COPY
(growth_load.py: rows as ca-server leaves them over months, ten factories, four models, most
installed with packs purged, some replaced, revoked, never reported, packs still held, one
request's intents outstanding); then, with `serve` running on it: issuance packs/s (FIG 21 as
bench_issuance.py sends it, 2 workers), check-in p50/p99 (a device's own TLS identity, one
connection each), ca:ReportBatch receipts/s, the operator commands (`list`, `show`, `owners`,
`audit`, `ca-status`: wall time and the time PostgreSQL logged for their statements), the CRL
built by `crl`, and database bytes per certificate.

comm-terminal: for each of --ct-sizes (default 100,000 devices), a fresh comm-terminal store
(bench_many_lines.py's set-up) bulk-loaded the same way (days of plans, fetched requests, packs
written on 16 lines and deleted, receipts, failed writes, a day's packs held), then 4 lines of
bench_lines through the line interface (S5 claim, S9, S11; the reporter idle, so that the
installation reports queue), `comm-terminal report`'s receipts/s sending them, and `status` and
`list`.

Goals (issue 18): issuance with the largest store within 10% of the empty store; every operator
query, the check-in and every line call under 100 ms at the largest size. Prints each with its
measured value; writes OUT_DIR/bench-growth.json. Builds nothing (a Release build); see
tests/bench/GROWTH.md.

Usage: bench_growth.py BUILD_DIR OUT_DIR [--sizes 10000,1000000] [--ct-sizes 100000]
           [--issue N] [--checkins N] [--reports N] [--line-seconds S]
  --sizes 10000,1000000,10000000 --ct-sizes 100000,1000000 is the full curve (GROWTH.md).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_issuance  # noqa: E402
import bench_many_lines  # noqa: E402
import growth_load  # noqa: E402
import raw_peer  # noqa: E402  (tests/lib, on the path from bench_common)
from bench_common import log, parse_args, run_bench  # noqa: E402
from certline_harness import (Failure, cert_der, check, now, open_pack,  # noqa: E402
                              verification_value, write_identity)

GOAL_ISSUANCE = 0.90  # packs/s at the largest size over packs/s with an empty store
GOAL_MS = 100.0
EXPLAIN_MS = 30.0  # commands whose statements took longer get their plans written
BATCH = 1000
# New device numbers: CODE- and 12 digits from 10^11, after every number growth_load writes
# (CODE- and 12 digits from 0), so that a request's consecutive numbers go in side by side at the
# end of the device-number indexes, as a factory's planned numbers do.
NEW_NUMBERS = 10 ** 11
LINES = 4
CA_NS = "urn:certline:ca:1"


def sizes(text):
    return [int(v) for v in text.split(",") if v.strip()]


def quantile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


class Recorder:
    """The FIG 21 proxy, keeping every answer (bench_issuance times the calls)."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.answers = []

    def CertificateTransmissionRequest(self, **kw):  # noqa: N802 -- the operation's name
        answer = self.proxy.CertificateTransmissionRequest(**kw)
        self.answers.append(answer)
        return answer


class Renamed:
    """The private cluster with another prefix on every database name, for bench_many_lines'
    set-up (its "ca" and "ct") beside this bench's databases."""

    def __init__(self, cluster, prefix):
        self.cluster, self.prefix = cluster, prefix

    def __getattr__(self, name):
        return getattr(self.cluster, name)

    def create_db(self, name):
        return self.cluster.create_db(self.prefix + name)

    def conninfo(self, name="postgres"):
        return self.cluster.conninfo(self.prefix + name)

    def psql(self, name, sql):
        return self.cluster.psql(self.prefix + name, sql)


class Growth(bench_issuance.Bench):
    def __init__(self, args, work, cluster):
        args.ca_server = os.path.join(args.build_dir, "ca-server", "ca-server")
        args.wsdl_dir = os.path.join(args.build_dir, "wsdl")
        super().__init__(args, work, cluster)
        self.template = self.conninfo
        self.server_log = os.path.join(cluster.dir, "server.log")
        self.lines = None
        self.sample = None  # (certificate DER, pack text) of a real pack, for the loads
        self.results = {"ca_server": {}, "comm_terminal": {}}
        self.plan_text = []  # auto_explain's plans of the slower commands
        self.sized = ""

    def numbers(self, model, count):
        return ["%s-%012d" % (model, NEW_NUMBERS + int(number.split("-")[1]))
                for number in super().numbers(model, count)]

    def programs(self):
        return [("ca-server", self.ca)] + (self.lines.programs() if self.lines else [])

    def stop(self):
        for _, program in self.programs():
            if program is not None and program.process is not None:
                program.process.kill()
                program.process.wait()

    # ---- commands, timed: wall time and what PostgreSQL logged for their statements ----

    def command(self, argv, expect=0, explain=False):
        """Runs argv with log_min_duration_statement = 0 for its sessions (PGOPTIONS, so the
        servers' sessions log nothing); returns (wall ms, database ms, stdout). explain: with
        auto_explain too, self.plans then holds the plans PostgreSQL logged (EXPLAIN (ANALYZE,
        BUFFERS) of each statement as the program ran it)."""
        start = os.path.getsize(self.server_log)
        options = "-c log_min_duration_statement=0"
        if explain:
            options += (" -c session_preload_libraries=auto_explain"
                        " -c auto_explain.log_min_duration=0 -c auto_explain.log_analyze=on"
                        " -c auto_explain.log_buffers=on")
        env = dict(os.environ, PGOPTIONS=options)
        t0 = time.perf_counter()
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env, timeout=3600)
        wall = (time.perf_counter() - t0) * 1000
        check(r.returncode == expect, "%s: exit %d: %s" % (" ".join(argv[3:]), r.returncode,
                                                            r.stderr[-1000:]))
        time.sleep(0.05)
        with open(self.server_log, errors="replace") as f:
            f.seek(start)
            text = f.read()
        self.plans = re.findall(r"LOG:  duration: [0-9.]+ ms  plan:\n(?:[ \t][^\n]*\n)+", text)
        logged = re.findall(r"duration: ([0-9.]+) ms  ((?:statement|parse|bind|execute)[^\n]*)",
                            text)
        db = sum(float(ms) for ms, _ in logged)
        self.slowest = sorted(((float(ms), text[:160]) for ms, text in logged), reverse=True)[:3]
        return wall, db, r.stdout

    def commands(self, named, repeats=5):
        """{name: figures} of repeats of each (name, argv): wall and database ms, the median
        and the best (the least disturbed by the machine's other work: what the query itself
        costs; the goals are judged on it)."""
        out = {}
        for name, argv in named:
            runs = [self.command(argv)[:2] for _ in range(repeats)]
            out[name] = {"wall_ms": round(statistics.median(r[0] for r in runs), 1),
                         "db_ms": round(statistics.median(r[1] for r in runs), 1),
                         "wall_ms_best": round(min(r[0] for r in runs), 1),
                         "db_ms_best": round(min(r[1] for r in runs), 1),
                         "slowest_statements": self.slowest}
            log("  %-34s wall %7.1f ms (best %7.1f), PostgreSQL %7.1f ms (best %7.1f)" % (
                name, out[name]["wall_ms"], out[name]["wall_ms_best"], out[name]["db_ms"],
                out[name]["db_ms_best"]))
            if out[name]["db_ms"] >= EXPLAIN_MS:
                self.command(argv, explain=True)
                self.plan_text.append("==== %s (%s): %s\n%s" % (
                    self.sized, name, " ".join(argv[3:]), "".join(self.plans)))
        return out

    # ---- ca-server ----

    def ca_size(self, size):
        """size 0: the empty store, kept to the end for the issuance rounds of the others."""
        name = "growth_%d" % size
        self.cluster.psql("postgres", "CREATE DATABASE %s TEMPLATE ca" % name)
        self.conninfo = self.cluster.conninfo(name)
        out = {"certificates_loaded": size}
        self.sized = "ca-server, %d certificates" % size
        try:
            if size:
                log("ca-server: loading about %d certificates with COPY ..." % size)
                out.update(growth_load.ca_load(self.conninfo, size, self.sample[0],
                                               self.sample[1], log))
            out.update(self.ca_measure(size))
            self.ca.stop()
            if size:
                out["issuance_rounds"] = self.issuance_rounds(size)
        finally:
            self.ca.stop()
            if size:
                self.cluster.psql("postgres", "DROP DATABASE IF EXISTS %s" % name)
        self.results["ca_server"][str(size)] = out

    def issuance_rounds(self, size):
        """Issuance alternated between the empty store and this one (empty, loaded, empty:
        with the loaded store's first round, two each), so that the machine's other work falls
        on both alike; the ratio of the means."""
        rates = {"empty": [], "loaded": [self.results_first_rate]}
        cpu = {"empty": [], "loaded": [self.results_first_cpu]}
        for which in ("empty", "loaded", "empty"):
            self.conninfo = self.cluster.conninfo("growth_%d" % (0 if which == "empty" else size))
            proxy = self.serve(2)
            try:
                r = self.timed_batches(proxy, "3012", self.args.issue, BATCH,
                                       "round-%s-%d-%d" % (which, size, self.serial))
            finally:
                self.ca.stop()
            rates[which].append(r["packs_per_s"])
            cpu[which].append((r["server_cpu_s"] + r["postgres_cpu_s"]) * 1000 / r["devices"])
            log("  round on the %s store: %.1f packs/s" % (which, r["packs_per_s"]))
        ratio = statistics.mean(rates["loaded"]) / statistics.mean(rates["empty"])
        log("  issuance %d stored / empty: %.3f" % (size, ratio))
        # CPU (ca-server and PostgreSQL) per pack moves less with the machine's other work.
        cpu_ratio = statistics.mean(cpu["loaded"]) / statistics.mean(cpu["empty"])
        return {"empty_packs_per_s": rates["empty"], "loaded_packs_per_s": rates["loaded"],
                "ratio": round(ratio, 3), "cpu_ms_per_pack_empty": [round(v, 3) for v in
                                                                    cpu["empty"]],
                "cpu_ms_per_pack_loaded": [round(v, 3) for v in cpu["loaded"]],
                "cpu_ratio": round(cpu_ratio, 3)}

    def ca_measure(self, size):
        out = {}
        self.ca.write_config(self.conninfo, workers=2, max_batch=BATCH)
        t0 = time.perf_counter()
        proxy = Recorder(self.serve(2))
        out["serve_start_s"] = round(time.perf_counter() - t0, 2)
        log("ca-server on %d certificates: issuing %d packs ..." % (size, self.args.issue))
        r = self.timed_batches(proxy, "3012", self.args.issue, BATCH, "growth-%d" % size)
        log("  %.1f packs/s; CPU ms per pack: ca-server %.3f, PostgreSQL %.3f" % (
            r["packs_per_s"], r["server_cpu_ms_per_pack"],
            1000 * r["postgres_cpu_s"] / r["devices"]))
        r["postgres_cpu_ms_per_pack"] = round(1000 * r["postgres_cpu_s"] / r["devices"], 3)
        self.results_first_rate = r["packs_per_s"]
        self.results_first_cpu = (r["server_cpu_s"] + r["postgres_cpu_s"]) * 1000 / r["devices"]
        out["issuance"] = r
        items = [i for a in proxy.answers for i in a.item]
        if self.sample is None:
            pack, cert, _ = open_pack(items[0].pack, self.prewrite["3012"])
            self.sample = (cert_der(cert), items[0].pack)
        out["checkin"] = self.checkins(items[:self.args.checkins])
        out["reports"] = self.reports(proxy.proxy, items[self.args.checkins:][:self.args.reports])
        some = "3012-%012d" % 5 if size else items[0].deviceNumber
        ca = [self.ca.binary, "-c", self.ca.config]
        log("  operator commands (5 runs each) ...")
        out["commands"] = self.commands([
            ("list", ca + ["list"]),
            ("list --model 4420", ca + ["list", "--model", "4420"]),
            ("list --state revoked", ca + ["list", "--state", "revoked"]),
            ("list --state issued", ca + ["list", "--state", "issued"]),
            ("list --state intent", ca + ["list", "--state", "intent"]),
            ("list --model 5105 --state superseded",
             ca + ["list", "--model", "5105", "--state", "superseded"]),
            ("list --device", ca + ["list", "--device", some]),
            ("show", ca + ["show", some]),
            ("owners --factory factory-c", ca + ["owners", "--factory", "factory-c"]),
            ("owners", ca + ["owners"]),
            ("audit", ca + ["audit"]),
            ("ca-status", ca + ["ca-status"])])
        crl = ca + ["crl", "--out", os.path.join(self.work, "growth.crl")]
        wall, db, _ = self.command(crl)
        if db >= EXPLAIN_MS:
            self.command(crl, explain=True)
            self.plan_text.append("==== %s (crl)\n%s" % (self.sized, "".join(self.plans)))
        entries = int(growth_load.psql(self.conninfo, (
            "SELECT count(*) FROM certificate WHERE state IN ('superseded', 'revoked')"
            " AND issued_at IS NOT NULL")).strip())
        out["crl"] = {"wall_ms": round(wall, 1), "db_ms": round(db, 1), "entries": entries,
                      "bytes": os.path.getsize(os.path.join(self.work, "growth.crl"))}
        log("  crl: %d entries in %.0f ms (PostgreSQL %.0f ms)" % (entries, wall, db))
        sizes_ = growth_load.database_bytes(self.conninfo)
        count = int(growth_load.psql(self.conninfo, "SELECT count(*) FROM certificate").strip())
        tables = sum(v for k, v in sizes_.items() if k != "(database)")
        out["store"] = {"certificates": count, "bytes": sizes_, "tables_bytes": tables,
                        "bytes_per_certificate": round(tables / max(count, 1), 1)}
        log("  store: %d certificates, %.2f GB in tables, %.0f bytes per certificate" % (
            count, tables / 1e9, tables / max(count, 1)))
        return out

    def checkins(self, items):
        """One new mutual-TLS connection per device, as a device checks in. Each device's TLS
        context (its key and certificate loaded, the root to verify ca-server) is made before
        the timing, which holds the check-in's round trip alone: connection, handshake,
        request, answer."""
        issuing = os.path.join(self.ca.ca_dir, "issuing.crt")
        root = os.path.join(self.ca.ca_dir, "root.crt")
        contexts = []
        for k, item in enumerate(items):
            _, cert, key = open_pack(item.pack, self.prewrite["3012"])
            cert_path, key_path = write_identity(self.work, "device-%d" % k, cert, key, issuing)
            contexts.append(raw_peer.client_context("ca.certline.test", cert_path, key_path,
                                                    root))
        request = raw_peer.post("/ca", "ca.certline.test", raw_peer.envelope(
            "ca", CA_NS, b"<ca:CheckIn/>"))
        times = []
        for context in contexts:
            t0 = time.perf_counter()
            answer = raw_peer.exchange_in(context, self.ca.port, "ca.certline.test", request)
            times.append((time.perf_counter() - t0) * 1000)
            check(b"ISSUED" in answer, "check-in answer: %r" % answer[:300])
        r = {"checkins": len(times), "p50_ms": round(quantile(times, 0.5), 1),
             "p99_ms": round(quantile(times, 0.99), 1), "max_ms": round(max(times), 1)}
        log("  check-in: %d devices, p50 %.1f ms, p99 %.1f ms" % (
            len(times), r["p50_ms"], r["p99_ms"]))
        return r

    def reports(self, proxy, items, per_batch=200):
        """ca:ReportBatch of the installation reports of items, 200 a batch (the bound)."""
        reports = []
        for item in items:
            pack, cert, key = open_pack(item.pack, self.prewrite["3012"])
            reports.append({"deviceNumber": item.deviceNumber, "certificateSerial": pack["serial"],
                            "verificationValue": verification_value(
                                "certline install-proof v1", item.deviceNumber, pack["serial"],
                                cert_der(cert), key), "writtenAt": now()})
        times = []
        t0 = time.perf_counter()
        for k in range(0, len(reports), per_batch):
            t1 = time.perf_counter()
            # as the comm-terminal asks: the receipts signed as a batch
            outcomes = proxy.ReportBatch(report=reports[k:k + per_batch],
                                         receiptManifest=1).outcome
            times.append((time.perf_counter() - t1) * 1000)
            check(all(o.verdict == "RECEIPT" for o in outcomes), "a report was refused")
        seconds = time.perf_counter() - t0
        r = {"reports": len(reports), "seconds": round(seconds, 3),
             "receipts_per_s": round(len(reports) / seconds, 1),
             "batch_ms_max": round(max(times), 1)}
        log("  ReportBatch: %d reports, %.1f receipts/s" % (len(reports), r["receipts_per_s"]))
        return r

    # ---- comm-terminal ----

    def ct_size(self, size):
        # drain_timeout 0: the reports the lines queued wait for `comm-terminal report` below.
        ns = argparse.Namespace(build_dir=self.args.build_dir, lines=[LINES], max_connections=32,
                                db_connections=4, drain_timeout=0)
        work = os.path.join(self.work, "ct-%d" % size)
        os.mkdir(work)
        prefix = "ct%d_" % size
        self.lines = bench_many_lines.Bench(ns, work, Renamed(self.cluster, prefix))
        out = {"devices_loaded": size}
        self.sized = "comm-terminal, %d devices" % size
        try:
            self.lines.setup()
            ct = self.lines.ct
            ct.stop()
            conninfo = self.cluster.conninfo(prefix + "ct")
            growth_load.psql(conninfo, "INSERT INTO model (code, certificate_managed, ca_state)"
                                       " VALUES ('4420', true, 'managed')")
            with open(os.path.join(self.lines.ca.ca_dir, "issuing.crt")) as f:
                signer = f.read()
            pack = self.sample[1] if self.sample else growth_load.incompressible(2600, b"pack")
            log("comm-terminal: loading %d devices with COPY ..." % size)
            out.update(growth_load.ct_load(conninfo, size, pack, signer, log))
            # The reporter idle during the lines (its first round finds nothing due): their
            # installation reports stay queued for `comm-terminal report` below.
            with open(ct.config) as f:
                config = json.load(f)
            config["report_interval_s"] = 3600
            with open(ct.config, "w") as f:
                json.dump(config, f)
            ct.start()
            res = self.lines.measured_run(LINES, self.args.line_seconds, "growth-%d" % size,
                                          bench_many_lines.GUESS_RATE)
            out["lines"] = {k: res[k] for k in ("lines", "devices", "seconds", "devices_per_s",
                                                 "errors", "latency_ms", "s5_ms", "s9_ms",
                                                 "s11_ms")}
            out["reports"] = self.ct_reports(ct, conninfo)
            def view(*argv):
                return [ct.binary, "-c", ct.config] + list(argv) + [
                    "--operator", "alice", "--password-file", ct.password_file]
            log("  operator commands (5 runs each) ...")
            out["commands"] = self.commands([
                ("status", view("status")),
                ("list", view("list")),
                ("list --state stored", view("list", "--state", "stored")),
                ("list --state written --model 4420",
                 view("list", "--state", "written", "--model", "4420")),
                ("list --state failed", view("list", "--state", "failed"))])
            sizes_ = growth_load.database_bytes(conninfo)
            tables = sum(v for k, v in sizes_.items() if k != "(database)")
            out["store"] = {"bytes": sizes_, "tables_bytes": tables,
                            "bytes_per_device": round(tables / max(size, 1), 1)}
        finally:
            self.stop()
            self.lines = None
            for db in ("ct", "ca"):
                self.cluster.psql("postgres", "DROP DATABASE IF EXISTS %s%s" % (prefix, db))
        self.results["comm_terminal"][str(size)] = out

    def ct_reports(self, ct, conninfo):
        """The reports the lines queued sent by `comm-terminal report` with serve stopped
        (batches of 200 from a fresh process): receipts per second."""
        ct.stop()

        def queued():
            return int(growth_load.psql(conninfo, "SELECT count(*) FROM report"
                                                  " WHERE state = 'queued'").strip())
        backlog = queued()
        wall, db, _ = self.command([ct.binary, "-c", ct.config, "report", "--operator", "alice",
                                    "--password-file", ct.password_file])
        sent = backlog - queued()
        r = {"backlog": backlog, "sent": sent, "wall_ms": round(wall, 1),
             "db_ms": round(db, 1), "receipts_per_s": round(sent / (wall / 1000), 1)}
        log("  comm-terminal report: %d of %d queued reports in %.0f ms: %.1f receipts/s" % (
            sent, backlog, wall, r["receipts_per_s"]))
        return r

    # ---- goals and the table ----

    def goals(self):
        goals = []
        ca = self.results["ca_server"]
        if "0" in ca and len(ca) > 1:
            top = str(max(int(k) for k in ca))
            ratio = ca[top]["issuance_rounds"]["ratio"]
            goals.append({"goal": "issuance with %s stored >= %.2f x empty store (alternated)"
                          % (top, GOAL_ISSUANCE), "value": ratio, "target": GOAL_ISSUANCE,
                          "met": ratio >= GOAL_ISSUANCE})
            cpu = ca[top]["issuance_rounds"]["cpu_ratio"]
            goals.append({"goal": "  (beside it: CPU per pack, ca-server + PostgreSQL, empty / "
                          "%s stored)" % top, "value": round(1 / cpu, 3),
                          "target": GOAL_ISSUANCE, "met": 1 / cpu >= GOAL_ISSUANCE})
        for part, key in (("ca_server", "ca-server"), ("comm_terminal", "comm-terminal")):
            got = self.results[part]
            if not got:
                continue
            top = str(max(int(k) for k in got))
            r = got[top]
            for name, c in r["commands"].items():
                goals.append({"goal": "%s %s at %s: PostgreSQL ms, best of 5 < %g (wall %.0f)" % (
                    key, name, top, GOAL_MS, c["wall_ms_best"]), "value": c["db_ms_best"],
                    "target": GOAL_MS, "met": c["db_ms_best"] < GOAL_MS})
            if part == "ca_server":
                v = r["checkin"]["p99_ms"]
                goals.append({"goal": "ca-server check-in p99 at %s < %g ms" % (top, GOAL_MS),
                              "value": v, "target": GOAL_MS, "met": v < GOAL_MS})
            else:
                for call in ("s5_ms", "s9_ms", "s11_ms"):
                    v = r["lines"][call]["p99"]
                    goals.append({"goal": "comm-terminal %s p99 at %s (%d lines) < %g ms" % (
                        call[:-3].upper(), top, LINES, GOAL_MS), "value": v, "target": GOAL_MS,
                        "met": v < GOAL_MS})
        self.results["goals"] = goals

    def table(self):
        m = self.results["machine"]
        lines = ["", "Growth (issue 18 part 3) -- %s, %d cores; load average at start %.2f, at "
                 "end %.2f (a shared machine: other work skews the figures)" % (
                     m["cpu_model"], m["nproc"], self.results["loadavg_start"][0],
                     self.results["loadavg_end"][0])]
        ca = self.results["ca_server"]
        if ca:
            keys = sorted(ca, key=int)
            lines += ["", "ca-server" + "".join("%14s" % ("{:,}".format(int(k))) for k in keys)]
            rows = [("issuance packs/s (2 workers)", lambda r: r["issuance"]["packs_per_s"]),
                    ("  alternated rounds: loaded / empty", lambda r: r.get(
                        "issuance_rounds", {}).get("ratio", 1.0)),
                    ("  ca-server CPU ms per pack",
                     lambda r: r["issuance"]["server_cpu_ms_per_pack"]),
                    ("  PostgreSQL CPU ms per pack",
                     lambda r: r["issuance"]["postgres_cpu_ms_per_pack"]),
                    ("check-in p50 ms", lambda r: r["checkin"]["p50_ms"]),
                    ("check-in p99 ms", lambda r: r["checkin"]["p99_ms"]),
                    ("ReportBatch receipts/s", lambda r: r["reports"]["receipts_per_s"]),
                    ("CRL entries", lambda r: r["crl"]["entries"]),
                    ("crl wall ms", lambda r: r["crl"]["wall_ms"]),
                    ("bytes per certificate", lambda r: r["store"]["bytes_per_certificate"]),
                    ("load s (COPY + keys + VACUUM)", lambda r: r.get("load_seconds", 0))]
            for name in ca[keys[0]]["commands"]:
                rows.append(("%s ms wall/db" % name, lambda r, n=name: "%.0f/%.1f" % (
                    r["commands"][n]["wall_ms_best"], r["commands"][n]["db_ms_best"])))
            for label, get in rows:
                lines.append("%-40s" % label[:40] + "".join(
                    "%14s" % (get(ca[k]) if isinstance(get(ca[k]), str) else "%.1f" % get(ca[k]))
                    for k in keys))
        ct = self.results["comm_terminal"]
        if ct:
            keys = sorted(ct, key=int)
            lines += ["", "comm-terminal" + "".join("%14s" % "{:,}".format(int(k))
                                                    for k in keys)]
            rows = [("S5 p50/p99 ms (%d lines)" % LINES, lambda r: "%.1f/%.1f" % (
                r["lines"]["s5_ms"]["p50"], r["lines"]["s5_ms"]["p99"])),
                ("S9 p99 ms", lambda r: "%.1f" % r["lines"]["s9_ms"]["p99"]),
                ("S11 p99 ms", lambda r: "%.1f" % r["lines"]["s11_ms"]["p99"]),
                ("devices/s (%d lines)" % LINES, lambda r: "%.1f" % r["lines"]["devices_per_s"]),
                ("`report` receipts/s", lambda r: "%.1f" % r["reports"]["receipts_per_s"]),
                ("bytes per device", lambda r: "%.0f" % r["store"]["bytes_per_device"])]
            for name in ct[keys[0]]["commands"]:
                rows.append(("%s ms wall/db" % name, lambda r, n=name: "%.0f/%.1f" % (
                    r["commands"][n]["wall_ms_best"], r["commands"][n]["db_ms_best"])))
            for label, get in rows:
                lines.append("%-40s" % label[:40] + "".join("%14s" % get(ct[k]) for k in keys))
        lines += ["", "Goals:"]
        for g in self.results.get("goals", []):
            lines.append("  %-84s %9.3f  target %6g  %s" % (
                g["goal"], g["value"], g["target"], "met" if g["met"] else "NOT MET"))
        return "\n".join(lines)


def main():
    def options(parser):
        parser.add_argument("--sizes", type=sizes, default=[10000, 1000000])
        parser.add_argument("--ct-sizes", type=sizes, default=[100000])
        parser.add_argument("--issue", type=int, default=5000)
        parser.add_argument("--checkins", type=int, default=200)
        parser.add_argument("--reports", type=int, default=2000)
        parser.add_argument("--line-seconds", type=int, default=10)
    _, args = parse_args(__doc__, options)
    check(args.issue >= args.checkins + args.reports + BATCH, "--issue must cover the check-ins"
          " and the reports (and the first request)")

    def measure(bench):
        free = growth_load.disk_free_bytes(bench.cluster.dir)
        need = 1400 * max(args.sizes + [0]) + 6000 * max(args.ct_sizes + [0])
        check(free > need, "%.1f GB free under %s; about %.1f GB needed" % (
            free / 1e9, bench.cluster.dir, need / 1e9))
        bench.operator_setup(models=[(m, ()) for m in growth_load.CA_MODELS])
        for size in [0] + args.sizes:
            bench.ca_size(size)
        for size in args.ct_sizes:
            bench.ct_size(size)
        bench.cluster.psql("postgres", "DROP DATABASE IF EXISTS growth_0")
        bench.results["loadavg_end"] = list(os.getloadavg())
        bench.goals()
        with open(os.path.join(args.out_dir, "growth-plans.txt"), "w") as f:
            f.write("auto_explain (ANALYZE, BUFFERS) of the commands whose statements took over"
                    " %g ms\n\n%s" % (EXPLAIN_MS, "\n".join(bench.plan_text)))

    settings = {"sizes": args.sizes, "ct_sizes": args.ct_sizes, "issue": args.issue,
                "checkins": args.checkins, "reports": args.reports, "workers": 2,
                "batch": BATCH, "lines": LINES, "line_seconds": args.line_seconds}
    return run_bench("bench_growth", args, Growth, measure, settings,
                     "growth: private PostgreSQL, ca-server init, service certificates, models",
                     "bench-growth.json", "certline-bench-growth-", tail_chars=4000)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as exc:
        sys.exit("bench_growth: %s" % exc)
