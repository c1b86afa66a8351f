#!/usr/bin/python3
"""test_compose_scale.py: the scale variant in containers (issue 18 part 4): the container day
(deploy/containers/compose_day.py --scale) on deploy/docker-compose.scale.yml, two ca-server
instances behind HAProxy and PostgreSQL primary + synchronous standby under pg_auto_failover,
with one ca-server instance and then the PostgreSQL primary killed (docker kill: SIGKILL to the
container, which its restart policy leaves down) while the lines produce. Checked from outside:

- every device produced OK and checked in as installed (check-in through the list of both
  instances, the first of which is dead); every device's certificate read from its flash image,
  matching its key, verified with `openssl verify`; one valid certificate per number at ca-server
  and every written device with its flag and a receipt that verifies (SQL through psql in the
  node that is primary now; the checks of tests/e2e/test_factory_day.py);
- the issuing key in the SoftHSM2 token shared by both instances (pkcs11-tool in instance B);
- the standby promoted: `pg_autoctl show state` on the monitor names the other node primary and
  the killed one unreachable; HAProxy marked the killed instance down;
- work went on: devices written after each kill; prints the time from the primary's kill to the
  next device written on the promoted standby (a committed production step), and to the moment
  the monitor named the new primary;
- at the end nothing of the day is left (down -v), the engine started here is stopped, and the
  host has no iptables rule or link it did not have before.

Usage: test_compose_scale.py SOURCE_DIR   (images cached in $CERTLINE_CONTAINERS_STATE, default
/var/cache/certline-containers)
"""
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "containers"))

from certline_procs import check  # noqa: E402
from compose_day import SCALE_PROJECT, ContainerDay  # noqa: E402
from compose_parts import FormationDatabases  # noqa: E402
from test_compose_day import run_checked, verify_issuing_token  # noqa: E402
from test_factory_day import (rows, verify_certificates, verify_check_ins,  # noqa: E402
                              verify_flags_and_receipts)

DEVICES_PER_LINE = 3
WRITTEN = "SELECT count(*) FROM certificate WHERE state = 'written'"
# A device refused while the database fails over is scanned again for up to this long after
# its first refusal: the monitor fails a primary over 60 s after its last report, 10 s more
# before the standby takes writes, at least as long again on a starved host.
RESCAN_S = 300
# The formation's own failover, from the primary's kill to the monitor naming the standby
# primary and to the next device written, on a starved host.
FAILOVER_S = 300
# What a line hears while no server takes writes: the comm-terminal waited its 30 s for one, or
# the terminal's own wait for the comm-terminal ran out first.
OUTAGE = ("database connection lost", "timed out", "timeout")
# A forced write failure whose replacement the comm-terminal could not fetch in time (ca-server
# slow or its instance killed): the board is put aside and scanned again, as an operator would;
# the re-scan fetches the replacement.
NO_REPLACEMENT = "no replacement yet"


class KillingDay(ContainerDay):
    """The container day on the scale variant, with a thread that kills ca-server instance A
    once a quarter of the devices are done and the PostgreSQL primary once half are; the lines
    start no device past those points before the kill."""

    def __init__(self, engine, work):
        super().__init__(engine, devices_per_line=DEVICES_PER_LINE, fail_share=0.34,
                         kill_terminal=False, ca_down=False, idle_gap=0, work=work,
                         seed=20261205, scale=True)
        self.killed = {}  # what -> (service, devices done at the kill)
        self.failover = {}  # measured seconds
        self.kill_error = None
        self.refused = []  # device numbers refused during the outage and scanned again
        # The kills come once a quarter (half) of the devices are done; a line starts no device
        # past that point and the lines' others in flight until instance A (the primary) is
        # killed, so each kill falls during production, however fast the lines are.
        self.started = 0
        self.started_lock = threading.Lock()
        self.gates = [threading.Event(), threading.Event()]

    def produce_device(self, run, number, kill_now):
        """As a line does it; a device refused before anything was written because the database
        was failing over (NG, nothing written), or whose forced write failure found no
        replacement yet, is taken off the jig and scanned again, as an operator would, for up
        to RESCAN_S after its first refusal."""
        with self.started_lock:
            index = self.started
            self.started += 1
        ahead = len(self.line_ids) - 1  # devices the other lines may have in flight at a kill
        for gate, at in zip(self.gates, (len(self.devices) // 4 + ahead,
                                         len(self.devices) // 2 + ahead)):
            if index >= at:
                check(gate.wait(timeout=900), "line %s: no kill came before %s" % (
                    run.line_id, number))
        first = None
        while True:
            super().produce_device(run, number, kill_now)
            last = run.devices[-1] if run.devices else None
            if last is None or last[:2] != (number, "NG"):
                return
            outage = any(word in last[2] for word in OUTAGE)
            if not outage and NO_REPLACEMENT not in last[2]:
                return
            first = first or time.monotonic()
            if time.monotonic() - first > RESCAN_S:
                return
            run.devices.pop()
            if outage:
                self.refused.append(number)
            self.progress.step("line %s: %s %s (%s); scanned again" % (
                run.line_id, number, "refused while the database fails over" if outage else
                "put aside until its replacement is fetched", last[2][-120:]))
            time.sleep(2 if outage else 10)

    def done(self):
        return sum(len(run.devices) for run in self.runs.values())

    def wait_done(self, count, timeout=600):
        deadline = time.monotonic() + timeout
        while self.done() < count:
            check(time.monotonic() < deadline, "production stalled at %d devices" % self.done())
            time.sleep(0.1)

    def kill(self, service):
        r = self.compose.docker("kill", self.compose.cid(service))
        check(r.returncode == 0, "docker kill %s: %s" % (service, r.stderr))

    def kill_mid_day(self):
        step = self.progress.step
        try:
            total = len(self.devices)
            self.wait_done(max(1, total // 4))
            self.kill("ca-server")
            self.killed["ca-server"] = ("ca-server", self.done())
            self.gates[0].set()
            step("ca-server instance A killed (docker kill) after %d devices; HAProxy and the "
                 "devices' endpoint lists go on with instance B" % self.done())
            self.wait_done(total // 2)
            waited = self.cluster.wait_settled(timeout=600)
            step("formation stable (primary and synchronous secondary, both healthy; waited "
                 "%.0f s)" % waited)
            old = self.cluster.primary()
            service = FormationDatabases.NODES[old]
            before = int(self.cluster.psql("ct", WRITTEN))
            self.kill(service)
            killed = time.monotonic()
            self.killed["primary"] = (service, self.done())
            self.gates[1].set()
            step("PostgreSQL primary %s (%s) killed (docker kill) after %d devices, %d written"
                 % (old, service, self.done(), before))
            while True:  # the monitor names the killed node primary until it notices
                new = self.cluster.primary(timeout=FAILOVER_S)
                if new != old:
                    break
                check(time.monotonic() - killed < FAILOVER_S, "the monitor still names %s "
                      "primary %d s after its kill" % (old, FAILOVER_S))
                time.sleep(0.2)
            self.failover["promoted_s"] = time.monotonic() - killed
            while int(self.cluster.psql("ct", WRITTEN)) <= before:
                check(time.monotonic() - killed < FAILOVER_S, "nothing written within %d s "
                      "of the primary's kill" % FAILOVER_S)
                time.sleep(0.2)
            self.failover["next_written_s"] = time.monotonic() - killed
            step("%s promoted %.1f s after the kill; next device written %.1f s after it" % (
                new, self.failover["promoted_s"], self.failover["next_written_s"]))
        except Exception as e:  # reported by production()
            self.kill_error = "%s: %s" % (type(e).__name__, e)
        finally:
            for gate in self.gates:
                gate.set()

    def production(self):
        # No work before the formation is stable: a failover of its own while it settles
        # would be taken for the one the kill makes.
        waited = self.cluster.wait_settled(timeout=600)
        self.progress.step("formation stable before production (primary and synchronous "
                           "secondary, both healthy; waited %.0f s)" % waited)
        killer = threading.Thread(target=self.kill_mid_day, daemon=True)
        killer.start()
        super().production()
        killer.join(FAILOVER_S + 60)
        check(not killer.is_alive(), "the kills did not end")
        check(self.kill_error is None, "the kills: %s" % self.kill_error)
        check(set(self.killed) == {"ca-server", "primary"}, "killed %r" % self.killed)
        check(all(done < len(self.devices) for _, done in self.killed.values()),
              "a kill came after the last device: %r" % self.killed)


def verify_failover(day):
    """The monitor promoted the standby; the killed node and instance stay down; HAProxy saw
    instance A go down."""
    r = day.compose.exec("pg-monitor", "/usr/local/lib/certline/pg-formation.sh", "state",
                         user="postgres")
    check(r.returncode == 0, "pg_autoctl show state: %s%s" % (r.stdout, r.stderr))
    print("pg_autoctl show state (monitor):\n" + r.stdout.rstrip())
    killed = day.killed["primary"][0]
    other = [s for s in FormationDatabases.NODES.values() if s != killed][0]
    node = {s: n for n, s in FormationDatabases.NODES.items()}
    states = day.cluster.states()
    check(states[node[other]][0] in ("primary", "wait_primary"),
          "%s (the standby) is %r after the kill" % (node[other], states[node[other]]))
    # A dead node reports nothing more: the monitor keeps its last report (primary) and assigns
    # it demoted, and its health checks fail.
    check(states[node[killed]][1] not in ("primary", "wait_primary", "single"),
          "%s (killed) is still assigned %r" % (node[killed], states[node[killed]]))
    health = day.cluster.monitor_sql("SELECT health FROM pgautofailover.node WHERE nodename = "
                                     "'%s'" % node[killed]).strip()
    check(health != "1", "%s (killed) passes the monitor's health checks" % node[killed])
    for service in (killed, "ca-server"):
        running = day.compose.inspect(service, "{{.State.Running}}")
        check(running == "false", "%s runs again after docker kill" % service)
    log = day.compose.logs("haproxy")
    check("ca_servers/ca-a is DOWN" in log, "HAProxy did not mark ca-a down:\n" + log[-2000:])
    print("haproxy: " + [line for line in log.splitlines() if "ca-a is DOWN" in line][0].strip())


def verify_work_went_on(day):
    """Devices were written after each kill, and instance B answered (installation reports and
    replacements reach ca-server through HAProxy, check-ins through the list)."""
    total = len(day.devices)
    for what, (service, done) in day.killed.items():
        check(done < total, "%s: killed after the last device" % what)
    served = day.compose.logs("ca-server-b")
    check("listening on" in served, "instance B never served")
    installed = rows(day, "ca", "SELECT count(*) FROM certificate WHERE state = 'installed'")
    check(int(installed[0][0]) == total, "%s installed at ca-server, %d devices" % (
        installed[0][0], total))


def verify_token_of_instance_b(day):
    """Instance B signs with the issuing key in the token it shares with A (volume ca-token)."""
    verify_issuing_token(day, "ca-server-b")


def print_failover(day):
    print("failover: standby promoted %.1f s after the primary's SIGKILL, next device "
          "written (committed) %.1f s after it; %d scan(s) refused during the outage and "
          "scanned again: %s" % (day.failover["promoted_s"], day.failover["next_written_s"],
                                 len(day.refused), " ".join(day.refused)))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    started = time.monotonic()
    code = run_checked(KillingDay, (verify_failover, verify_work_went_on,
                                    verify_token_of_instance_b, verify_certificates,
                                    verify_flags_and_receipts, verify_check_ins),
                       SCALE_PROJECT, "certline-compose-scale-", closing=print_failover)
    print("whole test: %.0f s" % (time.monotonic() - started))
    return code


if __name__ == "__main__":
    sys.exit(main())
