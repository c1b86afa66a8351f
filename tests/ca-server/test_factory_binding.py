#!/usr/bin/python3
"""test_factory_binding.py: factories apart, end to end with the real programs.

A private PostgreSQL cluster, the real ca-server and two real comm-terminals (factory east with
the service certificate comm.certline.test, factory west with comm-w.certline.test), over mutual
TLS. West is refused for east's device numbers: a new request, a replacement, and east's own
request replayed (same request id and body) both by west's comm-terminal (east's pending request
copied into west's database) and by a stock SOAP client holding west's certificate; no pack of
east's leaves ca-server. `ca-server assign` then moves a number to west, after which east is
refused and west replaces it. Request ids in a comm-terminal's database carry 128 random bits.

Usage: test_factory_binding.py CA_SERVER COMM_TERMINAL WSDL_DIR
"""
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

from zeep.exceptions import Fault  # noqa: E402

import pg_private  # noqa: E402
import soap_peer  # noqa: E402
from certline_harness import CaServer, CommTerminal, Failure, check  # noqa: E402

EAST_NAME = "comm.certline.test"
WEST_NAME = "comm-w.certline.test"
REQUEST_ID = re.compile(r"^[0-9A-Za-z._-]{1,27}-[0-9a-f]{32}$")


# No plan here: enter issues on an operator's override, without asking (issue 20).
UNPLANNED = ("--override-reason", "test without a production plan", "--yes")


class Scenario:
    def __init__(self, binaries, wsdl_dir, work, cluster):
        ca_binary, self.ct_binary = binaries
        self.work = work
        self.west_dir = os.path.join(work, "west")
        os.mkdir(self.west_dir)
        self.cluster = cluster
        self.wsdl = os.path.join(wsdl_dir, "CertificateAuthority.wsdl")
        self.ca = CaServer(ca_binary, work, cluster.create_db("ca"))
        self.east = self.west = None

    def setup(self):
        self.ca.issue_services([])
        r = self.ca.run("issue-service", "comm-terminal", WEST_NAME, "--out",
                        os.path.join(self.west_dir, "svc-comm"))
        check(WEST_NAME in r.stdout, "issue-service: " + r.stdout)
        self.ca.run("model-add", "3012")
        self.ca.start()
        self.east = CommTerminal(self.ct_binary, self.work, self.cluster.create_db("ct_east"),
                                 self.ca, factory="factory-east")
        self.west = CommTerminal(self.ct_binary, self.west_dir, self.cluster.create_db("ct_west"),
                                 self.ca, factory="factory-west")
        for ct in (self.east, self.west):
            ct.migrate()
            ct.run("model-set", "3012", "--managed")

    def request_ids(self, db):
        return [line for line in self.cluster.psql(db, "SELECT request_id FROM fetch_request"
                                                   " ORDER BY seq").split("\n") if line]

    def refused(self, ct, what, *args):
        r = ct.run("enter", *args, *UNPLANNED, expect_ok=False)
        text = r.stderr
        check(args[0] in text and "belongs to another factory" in text,
              "%s: refusal does not name %s or say why: %r" % (what, args[0], text))
        check(EAST_NAME not in text and WEST_NAME not in text,
              "%s: the refusal names a factory: %r" % (what, text))
        return text

    def issued_to(self, number):
        return json.loads(self.ca.run("list", "--device", number, "--json").stdout)

    def first_requester_owns(self):
        self.east.run("enter", "3012-000001", *UNPLANNED)
        self.east.run("enter", "3012-000002", *UNPLANNED)
        ids = self.request_ids("ct_east")
        check(len(ids) == 2 and len(set(ids)) == 2, "east's request ids: %r" % ids)
        for request_id in ids:
            check(REQUEST_ID.match(request_id) and len(request_id) <= 64,
                  "request id %r lacks 32 random hex digits (128 bits)" % request_id)
            check(request_id.startswith("factory-east-manual-"), "request id %r" % request_id)
        self.east_ids = ids
        rows = self.issued_to("3012-000001")
        check(len(rows) == 1 and rows[0]["factory"] == EAST_NAME, "list: %r" % rows)
        show = self.ca.run("show", "3012-000001").stdout
        check(re.search(r"factory\s+" + re.escape(EAST_NAME), show), "show: " + show)

    def west_refused(self):
        before = self.cluster.psql("ca", "SELECT count(*) FROM certificate")
        self.refused(self.west, "new request", "3012-000001")
        # (A replacement west's comm-terminal cannot even send: it holds no certificate of the
        # number to replace. The stock client sends one below; east's is refused after the
        # assignment.)
        check(self.cluster.psql("ca", "SELECT count(*) FROM certificate") == before,
              "a refused request recorded a certificate")
        check(self.issued_to("3012-000001")[0]["state"] == "issued", "east's certificate changed")
        # Refused requests are given up at west, not resent in place of the next one.
        pending = self.cluster.psql("ct_west", "SELECT count(*) FROM fetch_request"
                                    " WHERE state = 'pending'").strip()
        check(pending == "0", "west keeps %s refused request(s) pending" % pending)
        for request_id in self.request_ids("ct_west"):
            check(REQUEST_ID.match(request_id), "west's request id %r" % request_id)

    def replay_by_comm_terminal(self):
        """East's request (id and body) copied into west's database as pending: west's
        comm-terminal resends it and is refused; no pack of east's is stored at west."""
        request_id = self.east_ids[0]
        req = self.cluster.psql("ct_east", "SELECT day, replacement, item_count FROM"
                                " fetch_request WHERE request_id = '%s'" % request_id).strip()
        day, replacement, count = req.split("|")
        items = self.cluster.psql("ct_east", "SELECT position, device_number FROM fetch_item"
                                  " WHERE request_id = '%s'" % request_id).split()
        self.cluster.psql("ct_west", "INSERT INTO fetch_request (request_id, day, replacement,"
                          " item_count, state) VALUES ('%s', '%s', %s, %s, 'pending')"
                          % (request_id, day, replacement == "t" and "true" or "false", count))
        for item in items:
            position, number = item.split("|")
            self.cluster.psql("ct_west", "INSERT INTO fetch_item (request_id, position,"
                              " device_number, pending) VALUES ('%s', %s, '%s', true)"
                              % (request_id, position, number))
        r = self.west.run("enter", "3012-000001", *UNPLANNED, expect_ok=False)
        check(request_id in r.stderr and "another requester" in r.stderr,
              "west's replay of east's request: %r" % r.stderr)
        check(EAST_NAME not in r.stderr, "the refusal names east: %r" % r.stderr)
        check(self.west.certificates() == [], "west holds packs after the replay")

    def replay_by_stock_client(self):
        proxy, _, _ = soap_peer.service(self.wsdl, "https://127.0.0.1:%d/ca" % self.ca.port,
                                        "ca.certline.test",
                                        os.path.join(self.west_dir, "svc-comm.chain.crt"),
                                        os.path.join(self.west_dir, "svc-comm.key"),
                                        os.path.join(self.ca.ca_dir, "root.crt"))
        for request_id, number in zip(self.east_ids, ("3012-000001", "3012-000002")):
            try:
                answer = proxy.CertificateTransmissionRequest(
                    requestId=request_id, replacement=False, deviceNumber=[number])
            except Fault as fault:
                text = "%s %s" % (fault.message, "".join(fault.detail.itertext())
                                  if fault.detail is not None else "")
                check("another requester" in text and request_id in text,
                      "replay of %s: fault %r" % (request_id, text))
                check("sealed_key" not in text and "BEGIN CERTIFICATE" not in text,
                      "the fault carries a pack: %r" % text)
                continue
            raise Failure("west's replay of east's request %s answered: %r" % (request_id,
                                                                              answer))
        # A new request for east's number through the stock client: refused, Sender fault.
        try:
            proxy.CertificateTransmissionRequest(requestId="west-stock-1", replacement=True,
                                                 deviceNumber=["3012-000002"])
            raise Failure("west's stock client replaced east's number")
        except Fault as fault:
            text = "".join(fault.detail.itertext()) if fault.detail is not None else ""
            check("3012-000002" in text and "belongs to another factory" in text,
                  "stock replacement: %r %r" % (fault.message, text))
            check("Sender" in (fault.code or ""), "not a Sender fault: %r" % fault.code)

    def assignment(self):
        r = self.ca.run("assign", "3012-000001", "--factory", "nobody.certline.test",
                        expect_ok=False)
        check("no comm-terminal certificate" in r.stderr, "assign to nobody: " + r.stderr)
        listing = os.path.join(self.work, "move.txt")
        with open(listing, "w") as f:
            f.write("# moved to west\n3012-000001\n3012-000900\n")
        r = self.ca.run("assign", "--from-file", listing, "--factory", WEST_NAME)
        check("2 device number(s) assigned to " + WEST_NAME in r.stdout, "assign: " + r.stdout)
        owners = {o["device_number"]: o for o in
                  json.loads(self.ca.run("owners", "--json").stdout)}
        check(owners["3012-000001"]["factory"] == WEST_NAME and
              owners["3012-000001"]["source"] == "operator", "owners: %r" % owners)
        check(owners["3012-000002"]["factory"] == EAST_NAME and
              owners["3012-000002"]["source"] == "request", "owners: %r" % owners)
        show = self.ca.run("show", "3012-000900").stdout
        check(WEST_NAME in show and "no certificate yet" in show, "show unissued: " + show)
        audit = json.loads(self.ca.run("audit", "--json").stdout)
        check(any(a["action"] == "assign" and WEST_NAME in a["detail"] for a in audit),
              "assign not audited")
        # East's line wrote 3012-000001 NG (as S11 NG leaves it): east's comm-terminal sends a
        # replacement, which ca-server refuses now; a new request of east's too.
        self.cluster.psql("ct_east", "UPDATE certificate SET state = 'failed', failed_at = now(),"
                          " fail_reason = 'NG (test)' WHERE device_number = '3012-000001'")
        self.refused(self.east, "east's replacement after the assignment", "3012-000001",
                     "--replacement")
        self.refused(self.east, "east's new request after the assignment", "3012-000900")
        old = self.issued_to("3012-000001")[0]
        check(old["state"] == "issued", "east's refused replacement changed %r" % old)
        # West asks for its numbers: the one never issued at once; the moved one once the
        # operator has revoked east's certificate.
        self.west.run("enter", "3012-000900", *UNPLANNED)
        r = self.west.run("enter", "3012-000001", *UNPLANNED, expect_ok=False)
        check("already holds a valid certificate" in r.stderr, "west before revoke: " + r.stderr)
        self.ca.run("revoke", old["serial"], "--reason", "affiliationChanged", "--comment",
                    "device moved to factory west")
        self.west.run("enter", "3012-000001", *UNPLANNED)
        rows = {r["serial"]: r for r in self.issued_to("3012-000001")}
        check(len(rows) == 2 and rows[old["serial"]]["state"] == "revoked" and
              all(r["factory"] == WEST_NAME for r in rows.values()), "after the move: %r" % rows)
        check(sorted(c["device_number"] for c in self.west.certificates()) ==
              ["3012-000001", "3012-000900"], "west's certificates: %r" % self.west.certificates())

    def run(self):
        steps = (self.setup, self.first_requester_owns, self.west_refused,
                 self.replay_by_comm_terminal, self.replay_by_stock_client, self.assignment)
        for step in steps:
            started = time.time()
            step()
            print("  %-26s %.1f s" % (step.__name__, time.time() - started))


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: test_factory_binding.py CA_SERVER COMM_TERMINAL WSDL_DIR")
    cluster = pg_private.PrivateCluster()
    work = tempfile.mkdtemp(prefix="certline-factories-")
    started, scenario = time.time(), None
    try:
        scenario = Scenario(sys.argv[1:3], sys.argv[3], work, cluster.start())
        scenario.run()
    except (Failure, subprocess.CalledProcessError, Fault, OSError, RuntimeError) as exc:
        print("test_factory_binding: FAILED: %s" % exc)
        for program in (scenario.ca, scenario.east, scenario.west) if scenario else ():
            if program is not None and os.path.exists(program.log_path):
                print("---- %s (tail) ----\n%s" % (program.log_path, program.log()[-3000:]))
        return 1
    finally:
        if scenario is not None and scenario.ca.process is not None:
            scenario.ca.process.kill()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("test_factory_binding: all checks passed in %.1f s" % (time.time() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
