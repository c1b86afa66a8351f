#!/usr/bin/python3
"""factory_day.py: a production day of certline on one machine, without containers.

Starts a private PostgreSQL cluster in a temporary folder, creates the CA, registers the models of
FIG 19A (3012 and A123 certificate-managed; 3013, 3014 and A125 not), imports a plan like FIG 19B,
issues the service certificates, starts ca-server, the comm-terminal and one factory terminal per
line [FIG 14], makes a device-agent with its own flash and NVRAM images for every device, fetches
the day's batch, feeds each line's barcode scans, checks every device in to ca-server, prints a
summary, and stops everything it started (also on Ctrl-C).

The issuing CA's key lives in a private SoftHSM2 token (PKCS#11; deploy/sim/softhsm.py) unless
--file-keys asks for the passphrase-encrypted key files; the root key stays in its file, which
`serve` never opens.

    factory_day.py --build BUILD_DIR [--lines 3] [--devices-per-line 4] [--fail-share 0.25]
                   [--kill-terminal] [--ca-down] [--json] [--work DIR] [--seed N] [--file-keys]

Also a library: the end-to-end test runs FactoryDay and inspects what it left before stop().
"""
import argparse
import json
import os
import random
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pg_private  # noqa: E402
from certline_procs import (CaServer, CommTerminal, DeviceAgent, Failure,  # noqa: E402
                            FactoryTerminal, check, free_port)
from softhsm import SoftHsm  # noqa: E402

# FIG 19A: device models and whether their devices get certificates.
MODELS = [("3012", True), ("A123", True), ("3013", False), ("3014", False), ("A125", False)]
MANAGED = [code for code, managed in MODELS if managed]
UNMANAGED_UNITS = 5  # per unmanaged model in the plan: produced without certificates


class Progress:
    """One line per step on stderr, and a running count while the lines produce."""

    def __init__(self, quiet):
        self.quiet = quiet
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def step(self, text):
        if not self.quiet:
            with self.lock:
                print("[%6.1f s] %s" % (time.monotonic() - self.started, text), file=sys.stderr,
                      flush=True)


class LineRun:
    """What one line did: its counts and per-device results."""

    def __init__(self, line_id):
        self.line_id = line_id
        self.scanned = self.ok = self.ng = self.replaced = 0
        self.devices = []  # (device number, final result, serial)
        self.retry = []  # NG without a replacement yet (ca-server away): re-scanned later
        self.seconds = 0.0
        self.error = None


class FactoryDay:
    # --kill-terminal: right after the comm-terminal sent a device's pack (found in its log within
    # milliseconds here), or, where the log is seen late (containers), between two devices.
    kill_between_devices = False

    def __init__(self, build, lines=3, devices_per_line=4, fail_share=0.25, kill_terminal=False,
                 ca_down=False, work=None, seed=None, quiet=False, idle_gap=0.0,
                 file_keys=False):
        """build: the build folder, or None when the programs run elsewhere (the container
        day, deploy/containers/compose_day.py, which replaces setup() and stop())."""
        check(1 <= lines <= 9, "--lines must be 1..9")
        check(1 <= devices_per_line <= 500, "--devices-per-line must be 1..500")
        check(0.0 <= fail_share <= 1.0, "--fail-share must be 0..1")
        self.binary = {}
        if build is not None:
            self.build = os.path.abspath(build)
            self.binary = {name: os.path.join(self.build, name, name) for name in
                           ("ca-server", "comm-terminal", "factory-terminal", "device-agent")}
        for name, path in self.binary.items():
            check(os.access(path, os.X_OK), "%s is not built (%s): run make build" % (name, path))
        self.idle_gap = idle_gap
        self.line_ids = ["%d" % (1001 + i) for i in range(lines)]
        self.devices_per_line = devices_per_line
        self.fail_share = fail_share
        self.kill_terminal = kill_terminal
        self.ca_down = ca_down
        self.random = random.Random(seed)
        self.own_work = work is None
        self.work = work or tempfile.mkdtemp(prefix="certline-day-")
        os.makedirs(self.work, exist_ok=True)
        self.progress = Progress(quiet)
        self.today = time.strftime("%Y-%m-%d")
        self.cluster = None
        self.ca = self.ct = None
        self.terminals = {}
        self.devices = {}  # device number -> DeviceAgent
        self.line_of = {}  # device number -> line id
        self.runs = {}
        self.check_ins = {}
        self.stopped = False
        self.file_keys = file_keys

    # ---- set-up ----

    def plan_numbers(self):
        """The managed device numbers the lines produce, dealt to the lines in turn."""
        count = len(self.line_ids) * self.devices_per_line
        per_model = {code: 0 for code in MANAGED}
        numbers = []
        for i in range(count):
            code = MANAGED[i % len(MANAGED)]
            per_model[code] += 1
            numbers.append("%s-%06d" % (code, 100000 + per_model[code]))
        return numbers, per_model

    def write_plan(self, path, per_model, unmanaged=True):
        """The day's plan (FIG 19B) as CSV at path: per_model units of each managed model and,
        if unmanaged, UNMANAGED_UNITS of each model produced without certificates."""
        with open(path, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n")
            for code, managed in MODELS:
                if managed or unmanaged:
                    units = per_model[code] if managed else UNMANAGED_UNITS
                    f.write("%s,%s,%d,100001,6\n" % (code, self.today, units))
        return path

    def setup(self):
        step = self.progress.step
        step("work folder %s" % self.work)
        self.cluster = pg_private.PrivateCluster().start()
        step("private PostgreSQL cluster started in %s" % self.cluster.dir)
        key_uris = {}
        if not self.file_keys:
            hsm = SoftHsm(self.work, ("certline-issuing",))
            key_uris = {"issuing_key_uri": hsm.uri("certline-issuing", "issuing-ca")}
            step("SoftHSM2 token certline-issuing in %s: the issuing CA key is made and used "
                 "there" % hsm.dir)
        self.ca = ca = CaServer(self.binary["ca-server"], self.work, self.cluster.create_db("ca"),
                                key_uris=key_uris)
        ca.issue_services(self.line_ids)
        self.bundles = {}
        for code, managed in MODELS:
            ca.run("model-add", code, *([] if managed else ["--not-managed"]))
            if managed:
                self.bundles[code] = os.path.join(self.work, "model-%s.bundle" % code)
                ca.run("model-export", code, "--out", self.bundles[code])
        step("CA created; models %s (FIG 19A); service certificates for ca-server, "
             "comm-terminal and lines %s" % (", ".join(
                 "%s%s" % (c, "" if m else " (not managed)") for c, m in MODELS),
                 ", ".join(self.line_ids)))
        ca.start()
        step("ca-server serving on 127.0.0.1:%d" % ca.port)

        self.ct = ct = CommTerminal(self.binary["comm-terminal"], self.work,
                                    self.cluster.create_db("ct"), ca, fetch_chunk=100,
                                    claim_seconds=30, delete_written=True,
                                    report_interval_s=1)
        ct.migrate()
        r = ct.run("models-sync")  # ca-server's model list is the one the factory follows
        step(r.stdout.strip().splitlines()[-1])
        numbers, per_model = self.plan_numbers()
        plan = self.write_plan(os.path.join(self.work, "plan.csv"), per_model)
        r = ct.run("import", plan)
        summary = [t for t in r.stdout.strip().splitlines() if not t.startswith("warning:")]
        step("production plan imported (FIG 19B): %s" % (summary or [""])[-1])
        r = ct.run("fetch", "--date", self.today)
        step("day's batch fetched: %s" % r.stdout.strip().splitlines()[-1])
        ct.start()
        step("comm-terminal serving on 127.0.0.1:%d" % ct.port)

        for line in self.line_ids:
            ft = FactoryTerminal(self.binary["factory-terminal"], self.work, line,
                                 os.path.join(ca.ca_dir, "root.crt"), ct.port, free_port(),
                                 write_result_timeout_s=20)
            ft.start()
            self.terminals[line] = ft
            self.runs[line] = LineRun(line)
        step("factory terminals started for lines %s" % ", ".join(self.line_ids))

        for i, number in enumerate(numbers):
            line = self.line_ids[i % len(self.line_ids)]
            mac = "02:%02x:%02x:%02x:%02x:%02x" % tuple(secrets.token_bytes(5))
            d = DeviceAgent(self.binary["device-agent"], self.work, number, mac,
                            self.terminals[line], ca_port=ca.port)
            d.mkimage(self.bundles[number.split("-")[0]])
            self.devices[number] = d
            self.line_of[number] = line
        step("%d device boards made (flash and NVRAM images, common certificate)" % len(numbers))

    # ---- production ----

    def produce_device(self, run, number, kill_now):
        ft = self.terminals[run.line_id]
        d = self.devices[number]
        fail = self.random.random() < self.fail_share
        d.serve("--once", *(["--fail-writes", "1"] if fail else []))
        for attempt in range(4):
            marks = self.ct.log().count("pack of %s " % number)
            ft.scan(number)
            run.scanned += 1
            if kill_now and attempt == 0:
                # Kill the factory terminal mid-device (after the comm-terminal sent the pack),
                # restart it, and re-scan the device.
                deadline = time.monotonic() + 30
                while self.ct.log().count("pack of %s " % number) == marks:
                    check(time.monotonic() < deadline, "no pack sent for " + number)
                    time.sleep(0.002)
                self.kill_terminal_now(run.line_id, "in the middle of " + number)
                continue
            event = ft.next_event(timeout=120)
            if event["result"] == "OK":
                run.ok += 1
                run.devices.append((number, "OK", event.get("serial", "")))
                check(d.wait(timeout=60) == 0, "device-agent %s did not end" % number)
                return
            run.ng += 1
            if event.get("replacement_ready"):
                run.replaced += 1
                continue  # a replacement is stored: re-scan at once
            if self.ca_down and not event.get("replacement_ready"):
                # No replacement yet (whatever the NG): taken off the jig and put aside;
                # re-scanned once ca-server is back.
                d.stop()
                run.retry.append(number)
                return
            run.devices.append((number, "NG", event.get("reason", "")))
            d.stop()
            return
        run.devices.append((number, "NG", "gave up after 4 scans"))
        d.stop()

    def kill_terminal_now(self, line, when):
        """Kills the line's factory terminal and starts it again."""
        self.terminals[line].kill()
        self.progress.step("line %s: factory terminal killed %s; restarting" % (line, when))
        self.terminals[line].start()

    def produce_line(self, line):
        run = self.runs[line]
        started = time.monotonic()
        numbers = [n for n in self.devices if self.line_of[n] == line]
        kill_at = len(numbers) // 2 if self.kill_terminal and line == self.line_ids[-1] else -1
        idle_at = max(1, len(numbers) // 3) if self.idle_gap > 0 else -1
        try:
            for i, number in enumerate(numbers):
                if i == idle_at:
                    # The line stands still longer than the kept connections and database
                    # sessions live; the next device must not notice.
                    self.progress.step("line %s: idle for %.0f s" % (line, self.idle_gap))
                    time.sleep(self.idle_gap)
                if i == kill_at and self.kill_between_devices:
                    self.kill_terminal_now(line, "while the line waits for " + number)
                self.produce_device(run, number, i == kill_at and not self.kill_between_devices)
                self.progress.step("line %s: %d/%d devices, %d OK, %d NG, %d replaced" % (
                    line, i + 1, len(numbers), run.ok, run.ng, run.replaced))
        except Exception as e:  # reported in the summary; the other lines go on
            run.error = str(e)
        run.seconds = time.monotonic() - started

    def production(self):
        if self.ca_down:
            self.ca.stop()
            self.progress.step("ca-server stopped: production goes on without it")
        threads = [threading.Thread(target=self.produce_line, args=(line,), daemon=True)
                   for line in self.line_ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self.ca_down:
            self.ca.start()
            self.progress.step("ca-server back on 127.0.0.1:%d" % self.ca.port)
            for run in self.runs.values():
                retry, run.retry = run.retry, []
                for number in retry:
                    self.progress.step("line %s: re-scanning %s now that its replacement can "
                                       "be fetched" % (run.line_id, number))
                    ft, d = self.terminals[run.line_id], self.devices[number]
                    d.serve("--once")
                    ft.scan(number)
                    run.scanned += 1
                    event = ft.next_event(timeout=120)
                    run.replaced += 1
                    if event["result"] == "OK":
                        run.ok += 1
                        run.devices.append((number, "OK", event.get("serial", "")))
                        d.wait(timeout=60)
                    else:
                        run.ng += 1
                        run.devices.append((number, "NG", event.get("reason", "")))
                        d.stop()
        for run in self.runs.values():
            check(run.error is None, "line %s stopped: %s" % (run.line_id, run.error))

    def receipts_and_check_ins(self):
        deadline = time.monotonic() + 120
        while any(r["awaiting_receipt"] for r in self.ct.status().values()):
            check(time.monotonic() < deadline, "receipts did not arrive within 120 s")
            time.sleep(0.5)
        self.progress.step("every installation report has its signed receipt")
        for number, d in self.devices.items():
            r = d.run("check-in", "--json", expect=None)
            try:
                self.check_ins[number] = json.loads(r.stdout)["state"]
            except (ValueError, KeyError):
                self.check_ins[number] = "error: " + (r.stderr.strip() or r.stdout.strip())
        installed = sum(1 for s in self.check_ins.values() if s == "installed")
        self.progress.step("check-in at ca-server: %d of %d devices installed" % (
            installed, len(self.devices)))

    def run(self):
        self.setup()
        self.production()
        self.receipts_and_check_ins()
        return self.summary()

    # ---- summary and stop ----

    def summary(self):
        receipts = int(self.cluster.psql("ct", "SELECT count(*) FROM report WHERE state = 'done'")
                       .strip())
        status_table = self.ct.run("status").stdout
        return {
            "date": self.today,
            "lines": [{"line": r.line_id, "scanned": r.scanned, "ok": r.ok, "ng": r.ng,
                       "replaced": r.replaced, "seconds": round(r.seconds, 2)}
                      for r in self.runs.values()],
            "devices": [{"device_number": n, "line": r.line_id, "result": res, "detail": detail,
                         "check_in": self.check_ins.get(n)}
                        for r in self.runs.values() for n, res, detail in r.devices],
            "status": list(self.ct.status().values()),
            "status_table": status_table,
            "receipts_held": receipts,
            "issuing_key": "file" if self.file_keys else "SoftHSM2 token",
            "work": self.work,
        }

    def stop(self):
        """Stops every process this day started, and the cluster; removes its own work folder."""
        if self.stopped:
            return
        self.stopped = True
        self.stop_lines()
        for server in (self.ct, self.ca):
            if server is not None and server.process is not None:
                try:
                    server.stop()
                except Failure:
                    pass
        if self.cluster is not None:
            self.cluster.stop()

    def stop_lines(self):
        """Ends the devices still served and the factory terminals."""
        for d in self.devices.values():
            if d.process is not None:
                d.process.kill()
                d.process.wait()
                d.process = None
        for ft in self.terminals.values():
            if ft.process is not None:
                try:
                    ft.finish(timeout=30)
                except Exception:
                    ft.kill()

    def remove_work(self):
        if self.own_work:
            shutil.rmtree(self.work, ignore_errors=True)


def print_summary(s):
    print()
    print("certline factory day %s" % s["date"])
    print("%-6s %8s %5s %5s %9s %9s" % ("LINE", "SCANNED", "OK", "NG", "REPLACED", "TIME"))
    for r in s["lines"]:
        print("%-6s %8d %5d %5d %9d %8.1fs" % (r["line"], r["scanned"], r["ok"], r["ng"],
                                               r["replaced"], r["seconds"]))
    print()
    print(s["status_table"].rstrip())
    installed = sum(1 for d in s["devices"] if d["check_in"] == "installed")
    print()
    print("issuing CA key: %s" % s["issuing_key"])
    print("receipts held by the comm-terminal: %d" % s["receipts_held"])
    print("devices checked in as installed at ca-server: %d of %d" % (installed,
                                                                      len(s["devices"])))
    for d in s["devices"]:
        if d["result"] != "OK" or d["check_in"] != "installed":
            print("  %s (line %s): %s %s; check-in: %s" % (d["device_number"], d["line"],
                                                          d["result"], d["detail"],
                                                          d["check_in"]))


def report(summary, as_json=False):
    """Prints the summary (as JSON if as_json); 0 if every device is OK and checked in as
    installed, else 3."""
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
    ok = all(d["result"] == "OK" and d["check_in"] == "installed" for d in summary["devices"])
    return 0 if ok else 3


def run_day(make_day, as_json, errors=(Failure,)):
    """Makes the day (make_day()), runs it, prints its summary and stops it, also on SIGTERM or
    Ctrl-C; returns the exit status (report's, 1 on a failure, 130 interrupted) and the day."""
    def interrupted(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupted)
    day = None
    code = 1
    try:
        day = make_day()
        code = report(day.run(), as_json)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything the day started", file=sys.stderr)
        code = 130
    except errors as e:
        print("factory day failed: %s" % e, file=sys.stderr)
        if day is not None:
            print("logs are in %s" % day.work, file=sys.stderr)
            day.own_work = False
    finally:
        if day is not None:
            day.stop()
            day.remove_work()
    return code, day


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", required=True, help="the build folder (make build)")
    parser.add_argument("--lines", type=int, default=3, help="production lines (1001, ...)")
    parser.add_argument("--devices-per-line", type=int, default=4)
    parser.add_argument("--fail-share", type=float, default=0.25,
                        help="share of devices whose first write is forced to fail (0..1)")
    parser.add_argument("--kill-terminal", action="store_true",
                        help="kill the last line's factory terminal mid-device and restart it")
    parser.add_argument("--ca-down", action="store_true",
                        help="stop ca-server during production; restart it afterwards")
    parser.add_argument("--idle-gap", type=float, default=0.0,
                        help="seconds each line stands still a third into its devices")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--work", help="keep everything in this folder (default: a temporary "
                        "folder, removed at the end)")
    parser.add_argument("--seed", type=int, help="seed for choosing the forced failures")
    parser.add_argument("--file-keys", action="store_true",
                        help="keep the issuing CA key in its passphrase-encrypted file instead of "
                        "a SoftHSM2 token")
    args = parser.parse_args()

    return run_day(lambda: FactoryDay(args.build, args.lines, args.devices_per_line,
                                      args.fail_share, args.kill_terminal, args.ca_down,
                                      args.work, args.seed, idle_gap=args.idle_gap,
                                      file_keys=args.file_keys),
                   args.json)[0]

if __name__ == "__main__":
    sys.exit(main())
