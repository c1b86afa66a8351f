"""ca_instances.py: several ca-server instances on one PostgreSQL database for the multi-instance
tests (issue 18): the first set up as every test sets up its ca-server, the others holding a copy
of its folder (CA keys, pre-write keys, service certificate) as a second host would, each serving
on a loopback port of its own; comm-terminals with one of two factory identities that list the
instances as ca_server.endpoints; and the checks of ca-server's database that must hold whatever
the instances went through. Only what this module started is stopped, by PID."""

import os
import shutil
import signal

from certline_procs import CaServer, CommTerminal, check

CA_NAME = "ca.certline.test"
# Two factories: each identity is one comm-terminal certificate (one factory at ca-server);
# several comm-terminals may share one.
IDENTITIES = {"east": "comm.certline.test", "west": "comm-w.certline.test"}
VALID = "('intent', 'issued', 'installed')"


class Instances:
    """count ca-server instances on the database conninfo, in work/ca-1 ... work/ca-N."""

    def __init__(self, binary, work, conninfo, count):
        self.binary, self.work, self.conninfo = binary, work, conninfo
        first = os.path.join(work, "ca-1")
        os.mkdir(first)
        self.servers = [CaServer(binary, first, conninfo)]
        self.count = count
        self.kills = 0

    @property
    def first(self):
        return self.servers[0]

    def setup(self, models):
        """`init`, the service certificates of ca-server and both identities, the models, then
        the other instances' folders copied from the first."""
        ca = self.first
        ca.issue_services([])
        ca.run("issue-service", "comm-terminal", IDENTITIES["west"], "--out",
               os.path.join(ca.work, "svc-comm-west"))
        for suffix in (".chain.crt", ".key"):
            shutil.copy(os.path.join(ca.work, "svc-comm" + suffix),
                        os.path.join(ca.work, "svc-comm-east" + suffix))
        for model in models:
            ca.run("model-add", model)
        for k in range(2, self.count + 1):
            folder = os.path.join(self.work, "ca-%d" % k)
            os.mkdir(folder)
            shutil.copytree(ca.ca_dir, os.path.join(folder, "ca"))
            for name in ("svc-ca.chain.crt", "svc-ca.key"):
                shutil.copy(os.path.join(ca.work, name), os.path.join(folder, name))
            os.chmod(os.path.join(folder, "svc-ca.key"), 0o600)
            self.servers.append(CaServer(self.binary, folder, self.conninfo))

    def start(self):
        for server in self.servers:
            server.start()

    def endpoint(self, k):
        return "https://127.0.0.1:%d/ca" % self.servers[k].port

    def endpoints(self, first=0):
        """Every instance's endpoint, the list turned to begin at instance first."""
        n = len(self.servers)
        return [self.endpoint((first + i) % n) for i in range(n)]

    def kill(self, k):
        """SIGKILL instance k (no chance to finish anything) and reap it."""
        process = self.servers[k].process
        if process is not None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            self.servers[k].process = None
            self.kills += 1

    def restart(self, k):
        self.servers[k].start()  # on its first port, awaited ("listening on")

    def stop(self):
        """SIGTERM each one still running; each must end with 0."""
        for server in self.servers:
            server.stop()

    def kill_all(self):
        """Cleanup after a failure: whatever still runs, killed by PID."""
        for server in self.servers:
            if server.process is not None:
                server.process.kill()
                server.process.wait()
                server.process = None

    def logs(self):
        return [server.log_path for server in self.servers]


def comm_terminal(binary, work, cluster, instances, name, identity, endpoints, **settings):
    """A comm-terminal in work/name with its own database, the identity's certificate, ca-server
    reached through endpoints (a list: ca_server.endpoints; a string: ca_server.endpoint), model
    3012 managed, and the operator alice."""
    folder = os.path.join(work, name)
    os.mkdir(folder)
    ca = instances.first
    for suffix in (".chain.crt", ".key"):
        shutil.copy(os.path.join(ca.work, "svc-comm-%s%s" % (identity, suffix)),
                    os.path.join(folder, "svc-comm" + suffix))
    os.chmod(os.path.join(folder, "svc-comm.key"), 0o600)
    key = "endpoints" if isinstance(endpoints, list) else "endpoint"
    settings.setdefault("limits", {"connect_timeout_s": 2, "recv_timeout_s": 30})
    ct = CommTerminal(binary, folder, cluster.create_db(name), ca, factory=name,
                      ca_server={key: endpoints, "server_name": CA_NAME}, **settings)
    ct.migrate()
    ct.run("model-set", "3012", "--managed")
    return ct


def plan(ct, day, first_serial, units):
    """Imports a plan of units numbers of model 3012 from first_serial for day."""
    path = os.path.join(ct.work, "plan.csv")
    with open(path, "w") as f:
        f.write("device_code,date,units,first_serial,serial_digits\n3012,%s,%d,%d,6\n"
                % (day, units, first_serial))
    r = ct.run("import", path)
    check("%d new device number(s)" % units in r.stdout, "import: " + r.stdout)
    return ["3012-%06d" % n for n in range(first_serial, first_serial + units)]


def rows(cluster, db, sql):
    return [line.split("|") for line in cluster.psql(db, sql).split("\n") if line]


def held_packs(cluster, ct_db):
    """{device number: (serial, pack)} of the packs a comm-terminal stores."""
    return {r[0]: (r[1], r[2]) for r in
            rows(cluster, ct_db, "SELECT device_number, serial, pack FROM certificate")}


def check_ca_database(cluster, ca_db="ca"):
    """What must hold in ca-server's database whatever happened to its instances: no device
    number with two valid certificates, no intent left unsigned, every request completed.
    Returns {serial: (device number, state, pack)} of the device certificates."""
    doubled = rows(cluster, ca_db, "SELECT device_number, count(*) FROM certificate"
                   " WHERE state IN " + VALID + " GROUP BY 1 HAVING count(*) > 1")
    check(doubled == [], "device numbers with two valid certificates: %r" % doubled)
    intents = rows(cluster, ca_db, "SELECT serial FROM certificate WHERE state = 'intent'")
    check(intents == [], "%d intent(s) never signed: %r" % (len(intents), intents[:5]))
    open_requests = rows(cluster, ca_db, "SELECT request_id FROM batch_request"
                         " WHERE completed_at IS NULL")
    check(open_requests == [], "requests never completed: %r" % open_requests)
    return {r[0]: (r[1], r[2], r[3]) for r in
            rows(cluster, ca_db, "SELECT serial, device_number, state, coalesce(pack, '')"
                 " FROM certificate")}


def check_packs_match(ca_rows, packs, who):
    """Every pack a comm-terminal stores is the one ca-server recorded for its serial (a pack
    resent under the same request id is the same pack), for a valid certificate of its number."""
    for number, (serial, pack) in packs.items():
        check(serial in ca_rows, "%s: %s holds serial %s that ca-server never issued"
              % (who, number, serial))
        ca_number, state, ca_pack = ca_rows[serial]
        check(ca_number == number and state == "issued",
              "%s: %s serial %s is %s for %s at ca-server" % (who, number, serial, state,
                                                               ca_number))
        check(ca_pack == pack, "%s: the pack of %s differs from ca-server's" % (who, number))


def print_tails(paths, size=2500):
    """After a failure: the end of each log that exists."""
    for path in paths:
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                print("---- %s (tail) ----\n%s" % (path, f.read()[-size:]))
