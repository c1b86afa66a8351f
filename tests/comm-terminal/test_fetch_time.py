#!/usr/bin/python3
"""test_fetch_time.py: the daily fetch at fetch_time, with a moved clock: `comm-terminal serve`
runs under Debian's faketime, its clock starting ten seconds before tomorrow's fetch_time and
advancing; the real ca-server, a private PostgreSQL cluster and mutual TLS.

Checks: nothing is fetched before fetch_time; the day's packs are fetched within a few seconds
after it (by the comm-terminal's own clock, read from its log's timestamps); every planned
number of a certificate-managed model then holds one pack, and ca-server issued each once.

Usage: test_fetch_time.py CA_SERVER COMM_TERMINAL
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

import pg_private  # noqa: E402
from certline_harness import CaServer, CommTerminal, Failure, check  # noqa: E402

FETCH_TIME = "06:00"
LEAD_S = 10  # the moved clock starts this long before fetch_time
UNITS = 6
LIBFAKETIME = (glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1") +
               ["/usr/lib/faketime/libfaketimeMT.so.1"])[0]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: test_fetch_time.py CA_SERVER COMM_TERMINAL")
    if not os.path.exists(LIBFAKETIME):
        print("test_fetch_time: FAILED: %s is missing (Debian's faketime, "
              "deploy/install-deps.sh)" % LIBFAKETIME)
        return 1
    ca_binary, ct_binary = sys.argv[1:]
    # Tomorrow (UTC), so that the real day's date never matches by chance.
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    cluster = pg_private.PrivateCluster()
    work = tempfile.mkdtemp(prefix="certline-fetch-time-")
    ca = ct = None
    try:
        cluster.start()
        ca = CaServer(ca_binary, work, cluster.create_db("ca"))
        ca.issue_services([])
        ca.run("model-add", "3012")
        ca.start()
        ct = CommTerminal(ct_binary, work, cluster.create_db("ct"), ca, fetch_time=FETCH_TIME)
        ct.migrate()
        ct.run("model-set", "3012", "--managed")
        plan = os.path.join(work, "plan.csv")
        with open(plan, "w") as f:
            f.write("device_code,date,units,first_serial,serial_digits\n"
                    "3012,%s,%d,1,6\n" % (day, UNITS))
        ct.run("import", plan)
        # libfaketime preloaded as the faketime tool does (its multi-threaded build: serve runs
        # threads); FAKETIME "@..." starts the clock there and lets it run. AddressSanitizer must
        # then not insist on coming first.
        start = "%s %02d:%02d:%02d" % (day, int(FETCH_TIME[:2]) - 1, 59, 60 - LEAD_S)
        ct.environment = {"TZ": "UTC", "LD_PRELOAD": LIBFAKETIME, "FAKETIME": "@" + start,
                          "ASAN_OPTIONS": "%s:verify_asan_link_order=0"
                          % os.environ.get("ASAN_OPTIONS", "")}
        started = time.monotonic()
        ct.start()
        while time.monotonic() - started < LEAD_S - 3:
            check(ct.certificates() == [], "packs fetched before fetch_time")
            check("daily fetch for" not in ct.log(), "a daily fetch before fetch_time")
            time.sleep(0.5)
        deadline = time.monotonic() + 60
        while len(ct.certificates()) < UNITS:
            check(time.monotonic() < deadline, "no daily fetch within 60 s of fetch_time")
            time.sleep(0.5)
        numbers = sorted(c["device_number"] for c in ct.certificates())
        check(numbers == ["3012-%06d" % i for i in range(1, UNITS + 1)], "fetched %r" % numbers)
        # When, by the comm-terminal's clock: the log line's timestamp (UTC, moved clock).
        found = re.search(r"(\d{4}-\d\d-\d\d)T(\d\d):(\d\d):(\d\d)\.\d+Z[^\n]*daily fetch for %s"
                          % day, ct.log())
        check(found is not None, "no daily fetch logged:\n" + ct.log()[-2000:])
        when = (found.group(1), int(found.group(2)), int(found.group(3)), int(found.group(4)))
        check(when[0] == day and when[1] == int(FETCH_TIME[:2]) and when[2] == 0 and
              when[3] <= 3, "the daily fetch began at %r, not within 3 s of %s %s"
              % (when, day, FETCH_TIME))
        issued = json.loads(ca.run("list", "--json", "--limit", "1000").stdout)
        check(len(issued) == UNITS, "ca-server issued %d certificates for %d numbers"
              % (len(issued), UNITS))
        ct.stop()
        print("test_fetch_time: all checks passed (fetch began %s %02d:%02d:%02d by the moved "
              "clock)" % when)
        return 0
    except (Failure, subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError,
            RuntimeError) as exc:
        print("test_fetch_time: FAILED: %s" % exc)
        for name in ("comm-terminal.log", "ca-server.log"):
            path = os.path.join(work, name)
            if os.path.exists(path):
                print("---- %s (tail) ----\n%s" % (name, open(path).read()[-3000:]))
        return 1
    finally:
        for proc in (ca, ct):
            if proc is not None and proc.process is not None:
                proc.process.kill()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
