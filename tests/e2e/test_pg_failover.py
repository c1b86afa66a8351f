#!/usr/bin/python3
"""test_pg_failover.py: PostgreSQL failover under pg_auto_failover (issue 18 part 2). A monitor, a
primary and a synchronous standby run as processes on loopback (deploy/sim/pg_failover.py);
ca-server and comm-terminal serve through one multi-host conninfo with
target_session_attrs=read-write and are never restarted.

The primary's postmaster (and its keeper, which would restart it in place) is killed with
SIGKILL twice: during the day's fetch, then, after the old primary rejoined as the standby,
during line production (the factory terminal played by the stock SOAP client). Each time
pg_auto_failover promotes the standby and the programs go on. Checks: every planned number ends
with one pack at the comm-terminal, ca-server issued one certificate per number and the stored
pack is the one it issued (a fetch resumed under the same request ids gets the same packs);
every device acknowledged as written stays written and its report reaches ca-server; no device
number holds two certificates at ca-server. Prints the time from each kill to the next
committed batch (a stored answer, a written device).

Usage: test_pg_failover.py CA_SERVER COMM_TERMINAL WSDL_DIR
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

import pg_failover  # noqa: E402
import soap_peer  # noqa: E402
from certline_harness import (CaServer, CommTerminal, Failure, cert_der, check,  # noqa: E402
                              open_pack, verification_value)

TODAY = time.strftime("%Y-%m-%d")
UNITS = 140           # with fetch_chunk 7: 20 requests, a few seconds of fetching
WRITTEN = 24          # devices written on the line
BOUND_S = 540         # the whole test, formation included


class Bound(Exception):
    pass


def on_alarm(signum, frame):
    raise Bound("the test took longer than %d s" % BOUND_S)


class Scenario:
    def __init__(self, ca_binary, ct_binary, wsdl_dir, work, formation):
        self.work = work
        self.formation = formation
        self.wsdl = os.path.join(wsdl_dir, "CommTerminal.wsdl")
        self.ca = CaServer(ca_binary, work, formation.create_db("ca"))
        self.ct_conninfo = formation.create_db("ct")
        self.ct_binary = ct_binary
        self.ct = None
        self.timings = []

    def count(self, sql):
        """A count from the comm-terminal's database, through the multi-host conninfo (during a
        failover: None)."""
        try:
            return int(self.formation.psql("ct", sql).strip())
        except RuntimeError:
            return None

    def kill_primary(self, what, committed_sql):
        """Kills the primary, then waits for the next batch committed on the promoted standby;
        prints and returns the time from the kill."""
        old = self.formation.primary()
        check(old is not None, "no primary before the kill: %r" % self.formation.states())
        before = self.count(committed_sql)
        killed = self.formation.kill_node(old)
        while True:
            now = self.count(committed_sql)
            if now is not None and now > before:
                break
            check(time.monotonic() - killed < 120, "%s: nothing committed within 120 s of the "
                  "kill" % what)
            time.sleep(0.05)
        seconds = time.monotonic() - killed
        self.timings.append((what, seconds))
        print("failover during %s: primary %s killed; next batch committed %.1f s later "
              "(states %r)" % (what, old, seconds, self.formation.states()), flush=True)
        return old

    def rejoin(self, name):
        started = time.monotonic()
        self.formation.start_node(name)
        self.formation.wait_states(None, 180)
        print("%s rejoined as the standby in %.1f s" % (name, time.monotonic() - started),
              flush=True)

    def setup(self):
        ca = self.ca
        ca.issue_services(["1001"])
        ca.run("model-add", "3012")
        bundle = os.path.join(self.work, "3012.bundle")
        ca.run("model-export", "3012", "--out", bundle)
        with open(bundle) as f:
            self.prewrite = base64.b64decode(json.load(f)["prewrite_key"])
        ca.start()
        # ca-server's answer may wait for the failover (about 15 s): the link waits longer.
        self.ct = ct = CommTerminal(self.ct_binary, self.work, self.ct_conninfo, ca,
                                    limits={"connect_timeout_s": 2, "recv_timeout_s": 45})
        ct.migrate()
        ct.run("model-set", "3012", "--managed")
        plan = os.path.join(self.work, "plan.csv")
        with open(plan, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "3012,%s,%d,1,6\n" % (TODAY, UNITS))
        ct.run("import", plan)
        ct.start()

    def fetch(self):
        """The day's fetch, the primary killed once a few answers are stored."""
        ct = self.ct
        result = {}

        def fetch():
            try:
                ct.run("fetch", "--date", TODAY)
            except Failure as e:
                # A fetch stopped by the failover resends its pending requests, same ids.
                result["stopped"] = str(e).strip().splitlines()[-1]
                try:
                    ct.run("fetch", "--date", TODAY)
                except Failure as again:
                    result["failed"] = str(again)
        fetcher = threading.Thread(target=fetch)
        fetcher.start()
        stored = "SELECT count(*) FROM certificate"
        while (self.count(stored) or 0) < 21:
            check(fetcher.is_alive(), "the fetch ended before the kill: %r" % result)
            time.sleep(0.02)
        old = self.kill_primary("the day's fetch", stored)
        fetcher.join(180)
        check(not fetcher.is_alive(), "the fetch did not end")
        check("failed" not in result, "fetch after the kill: %s" % result.get("failed"))
        if "stopped" in result:
            print("the fetch stopped (%s) and was run again" % result["stopped"])
        else:
            print("the fetch went on through the failover")
        certs = {c["device_number"]: c for c in ct.certificates()}
        planned = ["3012-%06d" % i for i in range(1, UNITS + 1)]
        check(sorted(certs) == planned, "after the fetch: %d of %d numbers hold a pack"
              % (len(certs), UNITS))
        check(all(c["state"] == "stored" and c["pack_held"] for c in certs.values()),
              "state after the fetch")
        check(self.count("SELECT count(*) FROM fetch_request WHERE state <> 'completed'") == 0,
              "requests left pending after the fetch")
        self.check_ca(certs)
        self.rejoin(old)

    def check_ca(self, certs):
        """ca-server issued one certificate per number, the one the comm-terminal stored."""
        issued = json.loads(self.ca.run("list", "--json", "--limit", "10000").stdout)
        numbers = [c["device_number"] for c in issued]
        check(len(numbers) == len(set(numbers)) == UNITS,
              "ca-server holds %d certificates for %d numbers (%d distinct)"
              % (len(numbers), UNITS, len(set(numbers))))
        for c in issued:
            check(certs[c["device_number"]]["serial"] == c["serial"],
                  "%s: stored %s, ca-server issued %s" % (
                      c["device_number"], certs[c["device_number"]]["serial"], c["serial"]))

    def line(self):
        return soap_peer.service(self.wsdl, "https://127.0.0.1:%d/ct" % self.ct.port,
                                 "comm.certline.test",
                                 os.path.join(self.work, "svc-line-1001.chain.crt"),
                                 os.path.join(self.work, "svc-line-1001.key"),
                                 os.path.join(self.ca.ca_dir, "root.crt"), timeout=60)[0]

    def write_device(self, number, faults):
        """S5, S9, S11 as a factory terminal does them, each step asked again after a failure
        (a fault while the database fails over) until it is answered; returns S12."""
        def step(call):
            deadline = time.monotonic() + 120
            while True:
                try:
                    return call()
                except Exception as e:  # noqa: BLE001 - zeep faults and transport errors
                    faults.append("%s: %s" % (number, e))
                    check(time.monotonic() < deadline, "%s: no answer within 120 s: %s"
                          % (number, e))
                    time.sleep(0.5)
        line = self.line()
        answer = step(lambda: line.CertificateTransmissionRequest(deviceNumber=number))
        pack, cert, key_der = open_pack(answer.pack, self.prewrite)
        check(pack["device_number"] == number, "pack for another device")
        step(lambda: line.ReceptionNotice(deviceNumber=number, result="OK"))
        proof = verification_value("certline install-proof v1", number, pack["serial"],
                                   cert_der(cert), key_der)
        return step(lambda: line.WriteResult(deviceNumber=number, result="OK",
                                             certificateSerial=pack["serial"],
                                             verificationValue=proof))

    def production(self):
        acknowledged, faults, errors = [], [], []

        def produce():
            try:
                for i in range(1, WRITTEN + 1):
                    number = "3012-%06d" % i
                    s12 = self.write_device(number, faults)
                    check(s12.result == "OK", "%s: S12 %r" % (number, s12))
                    acknowledged.append(number)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        producer = threading.Thread(target=produce)
        producer.start()
        while len(acknowledged) < 6:
            check(producer.is_alive(), "production ended early: %r" % errors)
            time.sleep(0.02)
        self.kill_primary("line production",
                          "SELECT count(*) FROM certificate WHERE state = 'written'")
        producer.join(300)
        check(not producer.is_alive() and not errors, "production: %r" % errors)
        print("production: %d devices written, %d step(s) asked again during the failover"
              % (len(acknowledged), len(faults)), flush=True)
        written = {c["device_number"] for c in self.ct.certificates("--state", "written")}
        check(set(acknowledged) <= written, "acknowledged but not written: %r"
              % sorted(set(acknowledged) - written))
        deadline = time.monotonic() + 120
        while True:  # every report reaches ca-server, once
            installed = [c for c in json.loads(self.ca.run("list", "--json", "--limit",
                                                           "10000").stdout)
                         if c["state"] == "installed"]
            if len(installed) >= len(acknowledged):
                break
            check(time.monotonic() < deadline, "ca-server: %d of %d installed"
                  % (len(installed), len(acknowledged)))
            time.sleep(0.5)
        check(sorted(c["device_number"] for c in installed) == sorted(acknowledged),
              "installed at ca-server: %r" % sorted(c["device_number"] for c in installed))
        self.check_ca({c["device_number"]: c for c in self.ct.certificates()})

    def run(self):
        self.setup()
        self.fetch()
        self.production()
        for what, seconds in self.timings:
            print("failover time (kill to next committed batch) during %s: %.1f s"
                  % (what, seconds))
        self.ct.stop()
        self.ca.stop()


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: test_pg_failover.py CA_SERVER COMM_TERMINAL WSDL_DIR")
    if shutil.which("pg_autoctl") is None:
        print("test_pg_failover: FAILED: pg_autoctl is missing (Debian's pg-auto-failover-cli "
              "and postgresql-15-auto-failover, deploy/install-deps.sh)")
        return 1
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(BOUND_S)
    started = time.monotonic()
    formation = pg_failover.Formation()
    work = tempfile.mkdtemp(prefix="certline-failover-")
    scenario = None
    try:
        formation.start()
        print("formation up in %.1f s: %r" % (time.monotonic() - started, formation.states()),
              flush=True)
        scenario = Scenario(*sys.argv[1:4], work, formation)
        scenario.run()
        print("test_pg_failover: all checks passed in %.1f s" % (time.monotonic() - started))
        return 0
    except (Failure, Bound, subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError,
            RuntimeError) as exc:
        print("test_pg_failover: FAILED: %s" % exc)
        logs = [os.path.join(work, n) for n in ("comm-terminal.log", "ca-server.log")]
        logs += [os.path.join(formation.dir, n + ".log") for n in formation.ports]
        for path in logs:
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    print("---- %s (tail) ----\n%s" % (os.path.basename(path), f.read()[-3000:]))
        return 1
    finally:
        signal.alarm(0)
        for program in (getattr(scenario, "ca", None), getattr(scenario, "ct", None)):
            if getattr(program, "process", None) is not None:
                program.process.kill()
                program.process.wait()
        formation.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
