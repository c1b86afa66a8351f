#!/usr/bin/python3
"""test_ca_fold.py: `serve` folds the issuance counts on its own (issue 17), with the real binary,
a private PostgreSQL and real mutual TLS.

- issuance_fold_s out of its range (1..3600) is refused by `-n`, the key named;
- with the fold held off (the test holds its advisory lock, as a fold under way elsewhere would),
  certificates signed in several requests, an offline batch, an assignment and a revocation leave
  several rows of issuance_count per day and factory; let go, serve folds them to one per day and
  factory within a few periods (polled), and the console's issuance page shows the same figures
  before and after, those of counting every certificate;
- after an idle gap of several periods (serve folding nothing meanwhile, as its log says), and
  after a restart of PostgreSQL (every connection of serve ended), new rows are folded again.

Usage: test_ca_fold.py CA_SERVER_BINARY WSDL_DIR
"""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from certline_harness import CaServer, check, run_scenario  # noqa: E402
from certline_procs import free_port  # noqa: E402
from console_client import Console  # noqa: E402
import soap_peer  # noqa: E402

PERIOD_S = 2
FOLD_LOCK = (0x43530003, 0)  # LOCK_ISSUANCE_FOLD (ca-server/store/store_internal.h)
OPERATOR, PASSWORD = "carol", "ca operator secret 1"
SESSION_COOKIE = "__Host-certline-ca"
FROM_SCRATCH = (
    "SELECT to_char(c.issued_at, 'YYYY-MM-DD'), coalesce(o.factory, ''), count(*),"
    " count(*) FILTER (WHERE c.state = 'installed'), count(*) FILTER (WHERE c.state = 'revoked')"
    " FROM certificate c LEFT JOIN device_owner o ON o.device_number = c.device_number"
    " WHERE c.issued_at IS NOT NULL GROUP BY 1, 2 ORDER BY 1 DESC, 2")


class FoldHeld:
    """A psql session holding the fold's advisory lock: serve's folds do nothing meanwhile."""

    def __init__(self, conninfo):
        self.psql = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                      conninfo], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.psql.stdin.write("SELECT pg_advisory_lock(%d, %d);\n\\echo held\n" % FOLD_LOCK)
        self.psql.stdin.flush()
        while True:
            line = self.psql.stdout.readline()
            check(line != "", "psql ended before holding the fold's lock")
            if line.strip() == "held":
                break

    def release(self):
        self.psql.communicate("SELECT pg_advisory_unlock(%d, %d);\n\\q\n" % FOLD_LOCK, timeout=30)
        check(self.psql.returncode == 0, "psql holding the fold's lock: %d" % self.psql.returncode)


class Scenario:
    def __init__(self, binary, wsdl_dir, work, cluster):
        self.wsdl = os.path.join(wsdl_dir, "CertificateAuthority.wsdl")
        self.work = work
        self.cluster = cluster
        self.ca = CaServer(binary, work, cluster.create_db("ca"))
        self.console_port = free_port()
        self.next_number = 1
        self.requests = 0

    def sql(self, query):
        return self.cluster.psql("ca", query).strip()

    def rows(self):
        """Rows of issuance_count, and days and factories they are of."""
        rows, groups = self.sql("SELECT count(*), count(DISTINCT (day, factory))"
                                " FROM issuance_count").split("|")
        return int(rows), int(groups)

    def page(self):
        """The issuance page's table: (day, factory, signed, installed, revoked) per row."""
        status, body = self.console.request("GET", "/")
        check(status == 200, "issuance page: HTTP %d" % status)
        table = re.search(rb'<table id="issuance">(.*?)</table>', body, re.S)
        check(table is not None, "no issuance table on the page")
        figures = []
        for row in re.findall(rb"<tr>(.*?)</tr>", table.group(1), re.S)[1:]:
            cells = [re.sub(rb"<[^>]*>", b"", c).decode()
                     for c in re.findall(rb"<td[^>]*>(.*?)</td>", row, re.S)]
            figures.append("|".join(cells[:2]).replace("(no owner)", "") + "|" +
                           "|".join(cells[2:5]))
        return figures

    def expect_page(self, what):
        """The page's figures, checked against counting every certificate."""
        figures = self.page()
        scratch = self.sql(FROM_SCRATCH).splitlines()
        check(figures == scratch, "%s: the page shows %r, counting every certificate %r"
              % (what, figures, scratch))
        return figures

    def numbers(self, n):
        first = self.next_number
        self.next_number += n
        return ["3012-%06d" % k for k in range(first, first + n)]

    def write(self, comm):
        """Writes of every kind, each statement appending rows: requests of the comm-terminal
        (signed), an offline batch (no owner), an assignment to comm2 and a revocation."""
        signed = []
        for _ in range(3):
            self.requests += 1
            numbers = self.numbers(3)
            answer = comm.CertificateTransmissionRequest(requestId="fold-%d" % self.requests,
                                                         replacement=False, deviceNumber=numbers)
            check(len(answer.item) == 3, "request %d: %d items" % (self.requests,
                                                                   len(answer.item)))
            signed += numbers
        self.ca.run("batch", "--out", os.path.join(self.work, "offline-%d" % self.requests),
                    *self.numbers(2))
        self.ca.run("assign", signed[0], signed[4], "--factory", "comm2.certline.test")
        serial = self.sql("SELECT serial FROM certificate WHERE device_number = '%s'"
                          " AND state = 'issued'" % signed[1])
        self.ca.run("revoke", serial, "--reason", "keyCompromise")

    def await_folded(self, what, before):
        """Polls until serve has folded the rows to one per day and factory (within a few
        periods); the page's figures are those of before."""
        started = time.time()
        deadline = started + 3 * PERIOD_S + 10
        while True:
            rows, groups = self.rows()
            if rows == groups:
                break
            check(time.time() < deadline, "%s: %d rows for %d days and factories after %.1f s"
                  % (what, rows, groups, time.time() - started))
            time.sleep(0.1)
        after = self.expect_page(what + ", folded")
        check(after == before, "%s: the page showed %r before the fold, %r after"
              % (what, before, after))
        print("%s: folded to %d row(s), one per day and factory, %.1f s after"
              % (what, rows, time.time() - started))

    def folds_logged(self):
        return self.ca.log().count("issuance counts: ")

    def setup(self):
        self.ca.issue_services([])
        self.ca.run("issue-service", "comm-terminal", "comm2.certline.test", "--out",
                    os.path.join(self.work, "svc-comm2"))
        self.ca.run("model-add", "3012")
        console = {"host": "127.0.0.1", "port": self.console_port, "session_minutes": 15}
        for bad in (0, 3601):
            self.ca.write_config(self.ca.conninfo, issuance_fold_s=bad, console=console)
            r = self.ca.run("-n", expect_ok=False)
            check("issuance_fold_s" in r.stderr and "out of range 1..3600" in r.stderr,
                  "-n with issuance_fold_s %d: %r" % (bad, r.stdout + r.stderr))
        self.ca.write_config(self.ca.conninfo, issuance_fold_s=PERIOD_S, console=console)
        self.ca.run("-n")
        r = subprocess.run([self.ca.binary, "-c", self.ca.config, "operator-add", OPERATOR,
                            "--password-stdin"], input=PASSWORD + "\n", text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        check(r.returncode == 0, "operator-add: %r" % (r.stdout + r.stderr))

    def login(self):
        self.console = Console(self.console_port)
        self.console.login(OPERATOR, PASSWORD, cookie=SESSION_COOKIE)

    def comm(self):
        proxy, _, _ = soap_peer.service(self.wsdl, "https://127.0.0.1:%d/ca" % self.ca.port,
                                        "ca.certline.test",
                                        os.path.join(self.work, "svc-comm.chain.crt"),
                                        os.path.join(self.work, "svc-comm.key"),
                                        os.path.join(self.ca.ca_dir, "root.crt"), timeout=20)
        return proxy

    def round(self, what):
        """Writes with the fold held off (rows accumulate), then lets it go: serve folds them."""
        self.login()
        held = FoldHeld(self.cluster.conninfo("ca"))
        self.write(self.comm())
        rows, groups = self.rows()
        check(rows > groups, "%s: only %d rows for %d days and factories" % (what, rows,
                                                                                groups))
        before = self.expect_page(what + ", not folded")
        held.release()
        self.await_folded(what, before)

    def run(self):
        self.setup()
        self.ca.start()
        self.round("first writes")

        # An idle gap of more than a period: serve keeps folding (nothing), then folds again.
        logged = self.folds_logged()
        time.sleep(2.5 * PERIOD_S)
        check(self.folds_logged() >= logged + 2, "serve logged no fold in an idle gap of %.1f s"
              % (2.5 * PERIOD_S))
        self.round("after an idle gap")

        # PostgreSQL restarted: serve's connections are gone; it folds again on new ones.
        self.cluster.restart()
        self.round("after a PostgreSQL restart")
        self.ca.stop()


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    binary, wsdl_dir = sys.argv[1:3]
    return run_scenario("test_ca_fold",
                        lambda work, cluster: Scenario(binary, wsdl_dir, work, cluster))


if __name__ == "__main__":
    sys.exit(main())
