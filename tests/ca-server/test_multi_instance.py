#!/usr/bin/python3
"""test_multi_instance.py: several ca-server instances on one PostgreSQL (issue 18.1), end to end.

Three real ca-server instances on one private PostgreSQL database (the second and third with a
copy of the first one's folder, as other hosts would hold), four real comm-terminals, each with
its own database and all three instances as ca_server.endpoints (each list starting at another
instance), two of them factory east and two factory west:

1. failover: an instance killed, a comm-terminal whose list begins with it fetches through the
   next one, saying so;
2. the day's fetch of all four at once while the instances are killed with SIGKILL one after the
   other, mid-batch, and restarted: every fetch completes, every planned number gets a pack;
3. the same device numbers asked for at once by all four comm-terminals (same factory and the
   other factory): exactly one of them gets each number;
4. one request id sent at once to all three instances, and one sent to an instance killed while it
   signs, then to the two others and to it restarted: the same packs every time;
5. a revocation at one instance: every instance then serves the same CRL, the newest one kept in
   the database, listing it.

Then in ca-server's database: no device number with two valid certificates, no intent unsigned, no
request open, and every pack each comm-terminal stores is the one ca-server recorded. Bounded in
time; everything started is stopped by PID, the cluster stopped, the folders removed.

Usage: test_multi_instance.py CA_SERVER COMM_TERMINAL WSDL_DIR
"""
import base64
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

from cryptography import x509  # noqa: E402
from zeep.exceptions import Fault  # noqa: E402

import pg_private  # noqa: E402
import soap_peer  # noqa: E402
from ca_instances import (CA_NAME, Instances, check_ca_database, check_packs_match,  # noqa: E402
                          comm_terminal, held_packs, plan, print_tails, rows)
from certline_procs import Failure, check  # noqa: E402

TODAY = time.strftime("%Y-%m-%d")
UNPLANNED = ("--override-reason", "multi-instance test", "--yes")
DEADLINE_S = 420  # the whole test
UNITS = 240       # planned numbers per comm-terminal
CHUNK = 15        # numbers per request


class Scenario:
    def __init__(self, binaries, wsdl_dir, work, cluster):
        ca_binary, self.ct_binary = binaries
        self.work, self.cluster = work, cluster
        self.wsdl = os.path.join(wsdl_dir, "CertificateAuthority.wsdl")
        self.instances = Instances(ca_binary, work, cluster.create_db("ca"), 3)
        self.cts = []
        self.planned = {}
        self.started = time.monotonic()

    def left(self):
        return max(5, DEADLINE_S - (time.monotonic() - self.started))

    def setup(self):
        self.instances.setup(["3012"])
        self.instances.start()
        for k, identity in enumerate(("east", "east", "west", "west")):
            name = "ct_%d" % (k + 1)
            ct = comm_terminal(self.ct_binary, self.work, self.cluster, self.instances, name,
                               identity, self.instances.endpoints(first=k % 3),
                               fetch_chunk=CHUNK)
            ct.db, ct.identity = name, identity
            self.cts.append(ct)

    def failover(self):
        """Instance 1 killed: ct_2's list begins with it; its fetch goes to instance 2."""
        self.instances.kill(1)
        r = self.cts[1].run("enter", "3012-800001", *UNPLANNED)
        check("unreachable" in r.stderr and "sending it again to " +
              self.instances.endpoint(2) in r.stderr,
              "no failover to the next instance said: " + r.stderr)
        self.instances.restart(1)
        check("3012-800001" in held_packs(self.cluster, "ct_2"), "ct_2 holds no pack for it")

    def fetch_under_kills(self):
        for k, ct in enumerate(self.cts):
            self.planned[ct.db] = plan(ct, TODAY, 100000 * (k + 1) + 1, UNITS)
        stop = threading.Event()
        errors = []
        kills_before = self.instances.kills

        def chaos():
            k = 0
            try:
                while not stop.wait(0.3):
                    self.instances.kill(k % 3)
                    time.sleep(0.2)
                    self.instances.restart(k % 3)
                    k += 1
            except Exception as exc:  # reported by the main thread
                errors.append(exc)

        argv = ["--operator", "alice", "--password-file"]
        fetches = [subprocess.Popen([ct.binary, "-c", ct.config, "fetch", "--date", TODAY] +
                                    argv + [ct.password_file], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for ct in self.cts]
        killer = threading.Thread(target=chaos)
        killer.start()
        results = []
        try:
            for p in fetches:
                out, err = p.communicate(timeout=self.left())
                results.append((p.returncode, out, err))
        finally:
            stop.set()
            killer.join(timeout=120)
            for p in fetches:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        check(not errors, "restarting an instance failed: %r" % errors)
        kills = self.instances.kills - kills_before
        check(kills >= 3, "only %d kill(s) during the fetches" % kills)
        again = 0
        for ct, (code, out, err) in zip(self.cts, results):
            check(code == 0 and "complete" in out, "%s: fetch did not complete (%d): %s%s"
                  % (ct.db, code, out, err[-3000:]))
            again += err.count("sending it again to")
            held = held_packs(self.cluster, ct.db)
            missing = [n for n in self.planned[ct.db] if n not in held]
            check(not missing, "%s: no pack for %d planned number(s): %r"
                  % (ct.db, len(missing), missing[:5]))
            pending = rows(self.cluster, ct.db, "SELECT request_id FROM fetch_request"
                           " WHERE state <> 'completed'")
            check(pending == [], "%s: requests not completed: %r" % (ct.db, pending))
        check(again > 0, "no request went again to another instance")
        print("  %d kill(s) during the fetches, %d request(s) sent again to another instance"
              % (kills, again))

    def same_numbers_at_once(self):
        """Each number asked for by all four at once: one of them gets it, the others are
        refused (same factory: it holds a valid certificate; the other: it is not theirs)."""
        for n in range(5):
            number = "3012-9%05d" % n
            argv = ["enter", number] + list(UNPLANNED) + ["--operator", "alice",
                                                          "--password-file"]
            procs = [subprocess.Popen([ct.binary, "-c", ct.config] + argv + [ct.password_file],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for ct in self.cts]
            codes = [p.wait(timeout=self.left()) for p in procs]
            for p in procs:
                p.stdout.close()
                p.stderr.close()
            holders = [ct.db for ct in self.cts if number in held_packs(self.cluster, ct.db)]
            check(codes.count(0) == 1 and len(holders) == 1 and
                  self.cts[codes.index(0)].db == holders[0],
                  "%s: exit codes %r, held by %r" % (number, codes, holders))

    def stock(self, k):
        ca = self.instances.first
        proxy, _, _ = soap_peer.service(self.wsdl, self.instances.endpoint(k), CA_NAME,
                                        os.path.join(ca.work, "svc-comm.chain.crt"),
                                        os.path.join(ca.work, "svc-comm.key"),
                                        os.path.join(ca.ca_dir, "root.crt"), timeout=120)
        return proxy

    def ask(self, k, request_id, numbers):
        answer = self.stock(k).CertificateTransmissionRequest(
            requestId=request_id, replacement=False, deviceNumber=numbers)
        return [(item.deviceNumber, item.pack) for item in answer.item]

    def same_request_everywhere(self):
        numbers = ["3012-95%04d" % i for i in range(6)]
        answers, errors = {}, []

        def send(k):
            try:
                answers[k] = self.ask(k, "multi-same-1", numbers)
            except Exception as exc:
                errors.append((k, exc))

        threads = [threading.Thread(target=send, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=self.left())
        check(not errors and len(answers) == 3, "multi-same-1: %r" % errors)
        check(answers[0] == answers[1] == answers[2] and len(answers[0]) == len(numbers),
              "multi-same-1: the instances answered different packs")
        # Sent to instance 0, which is killed while it signs; then to the others, then to it.
        numbers = ["3012-96%04d" % i for i in range(120)]
        sending = threading.Thread(target=lambda: answers.update(
            {"killed": self.try_ask(0, "multi-same-2", numbers)}))
        sending.start()
        time.sleep(0.5)
        self.instances.kill(0)
        sending.join(timeout=self.left())
        packs = [self.ask(k, "multi-same-2", numbers) for k in (1, 2)]
        self.instances.restart(0)
        packs.append(self.ask(0, "multi-same-2", numbers))
        check(packs[0] == packs[1] == packs[2] and len(packs[0]) == len(numbers),
              "multi-same-2: different packs after the kill")
        if answers.get("killed"):
            check(answers["killed"] == packs[0], "multi-same-2: the killed instance's answer"
                  " differs")
        print("  multi-same-2: the instance killed %s" % (
            "answered first" if answers.get("killed") else "before it answered"))
        valid = rows(self.cluster, "ca", "SELECT count(*) FROM certificate WHERE device_number"
                     " LIKE '3012-96%' AND state = 'issued'")
        check(valid == [[str(len(numbers))]], "multi-same-2: %r issued" % valid)

    def try_ask(self, k, request_id, numbers):
        try:
            return self.ask(k, request_id, numbers)
        except Exception:  # the connection dies with the instance
            return None

    def one_crl(self):
        """A revocation by an operator at one instance: within a few polls every instance
        serves one and the same CRL, the newest kept in the database, listing it (not each
        its own CRL under numbers that interleave)."""
        serial = rows(self.cluster, "ca", "SELECT serial FROM certificate"
                      " WHERE device_number = '3012-950000'")[0][0]
        self.instances.servers[1].run("revoke", serial, "--reason", "keyCompromise")
        proxies = [self.stock(k) for k in range(3)]
        deadline = time.monotonic() + 30
        while True:
            answers = [proxy.RevocationList(heldNumber=0) for proxy in proxies]
            numbers = {a.number for a in answers}
            kept = rows(self.cluster, "ca", "SELECT crl_number FROM crl_publication")[0][0]
            if len(numbers) == 1 and str(answers[0].number) == kept:
                crl = x509.load_der_x509_crl(base64.b64decode(answers[0].crl))
                if crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None:
                    break
            check(time.monotonic() < deadline, "the instances serve CRL numbers %r (kept %s)"
                  % (sorted(numbers), kept))
            time.sleep(0.5)
        print("  CRL number %d served by every instance" % answers[0].number)

    def database(self):
        ca_rows = check_ca_database(self.cluster)
        for ct in self.cts:
            check_packs_match(ca_rows, held_packs(self.cluster, ct.db), ct.db)
        self.instances.stop()

    def run(self):
        for step in (self.setup, self.failover, self.fetch_under_kills,
                     self.same_numbers_at_once, self.same_request_everywhere, self.one_crl,
                     self.database):
            started = time.time()
            step()
            print("  %-26s %.1f s" % (step.__name__, time.time() - started))


def on_terminate(signum, frame):
    raise Failure("ended by signal %d" % signum)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: test_multi_instance.py CA_SERVER COMM_TERMINAL WSDL_DIR")
    # A bound that ends the test (ctest's timeout) still stops what it started.
    signal.signal(signal.SIGTERM, on_terminate)
    cluster = pg_private.PrivateCluster()
    work = tempfile.mkdtemp(prefix="certline-multi-")
    started, scenario = time.time(), None
    try:
        scenario = Scenario(sys.argv[1:3], sys.argv[3], work, cluster.start())
        scenario.run()
    except (Failure, subprocess.CalledProcessError, subprocess.TimeoutExpired, Fault, OSError,
            RuntimeError) as exc:
        print("test_multi_instance: FAILED: %s" % exc)
        if scenario is not None:
            print_tails(scenario.instances.logs() + [ct.log_path for ct in scenario.cts])
        return 1
    finally:
        if scenario is not None:
            scenario.instances.kill_all()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("test_multi_instance: all checks passed in %.1f s" % (time.time() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
