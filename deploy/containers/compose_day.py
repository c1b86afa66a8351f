#!/usr/bin/python3
"""compose_day.py: the production day of make demo (deploy/sim/factory_day.py) in containers,
the topology of deploy/docker-compose.yml (make demo-containers).

Starts a container engine when none answers (Debian's docker.io; state in
$CERTLINE_CONTAINERS_STATE, default /var/cache/certline-containers, so images are cached between
runs), makes the base images from Debian's archive when absent (debootstrap; PostgreSQL 15 from
Debian's packages), builds certline's image once (BuildKit), brings the topology up with
deploy/containers/day.yml and runs the day by itself: per line a scanner (docker attach to the
factory terminal) and a jig with a fresh board for every device, a share of forced write NGs
with replacement and re-scan, an idle gap on every line longer than the receive, claim and
database idle timeouts, a factory terminal killed (SIGKILL) while its line waits for the next
device and brought back by the engine's restart policy, ca-server stopped during production and
started again. The issuing CA's key is in a SoftHSM2 token in ca-server's container (volume
ca-token). Prints the summary of make demo, then removes everything (docker-compose down -v) and
stops the engine it started.

With --scale the day runs on the scale variant (deploy/docker-compose.scale.yml and
containers/scale-day.yml): two ca-server instances behind HAProxy, PostgreSQL primary and
synchronous standby under pg_auto_failover; "ca-server" is then instance A, stopped while
instance B and HAProxy go on serving.

    compose_day.py [--scale] [--devices-per-line 4] [--fail-share 0.25] [--seed N]
                   [--idle-gap S] [--keep] [--json] [--work DIR]
    compose_day.py [--scale] --down   (removes a day kept with --keep and stops its engine)

Also a library: tests/containers/test_compose_day.py runs ContainerDay and checks what it left
before stop().
"""
import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "sim"))

from certline_procs import Failure, check  # noqa: E402
from compose_parts import (Compose, ContainerCa, ContainerCt, ContainerDatabases,  # noqa: E402
                           ContainerDevice, ContainerTerminal, FormationDatabases)
from engine import SOURCE, STATE, Engine, EngineError, POSTGRES_IMAGE  # noqa: E402
from factory_day import MANAGED, FactoryDay, LineRun, run_day  # noqa: E402

PROJECT = os.environ.get("CERTLINE_DAY_PROJECT", "certline-day")
SCALE_PROJECT = os.environ.get("CERTLINE_SCALE_DAY_PROJECT", "certline-scale-day")
# The compose files of each topology, relative to deploy/.
FILES = ["docker-compose.yml", "containers/day.yml"]
SCALE_FILES = ["docker-compose.yml", "docker-compose.scale.yml", "containers/day.yml",
               "containers/scale-day.yml"]
LINES = ["1001", "1002", "1003"]  # the lines of docker-compose.yml
DB_IDLE_S = 8  # idle_session_timeout of day.yml


def longest_timeout(scale=False):
    """The longest receive timeout (how long a kept connection lives), claim or database idle
    timeout of the container configurations (and the scale variant's): an idle gap longer than
    it crosses them all."""
    longest = DB_IDLE_S
    folder = os.path.join(SOURCE, "deploy", "container")
    names = os.listdir(folder) + (["scale/" + n for n in os.listdir(os.path.join(folder, "scale"))]
                                  if scale else [])
    for name in names:
        if name.endswith(".json"):
            with open(os.path.join(folder, name)) as f:
                config = json.load(f)
            longest = max(longest, config.get("limits", {}).get("recv_timeout_s", 60),
                          config.get("claim_seconds", 0))
    return longest


class ContainerDay(FactoryDay):
    """FactoryDay's production, receipts, check-ins and summary over the container topology."""

    # The comm-terminal's log arrives through docker logs, too late to kill a terminal between
    # "pack sent" and the device's write (a device takes half a second): a kill then lands after
    # the write, and the re-scan is rightly refused as already written.
    kill_between_devices = True

    def __init__(self, engine, devices_per_line=4, fail_share=0.25, kill_terminal=True,
                 ca_down=True, idle_gap=None, work=None, seed=None, keep=False, quiet=False,
                 scale=False):
        super().__init__(None, len(LINES), devices_per_line, fail_share, kill_terminal, ca_down,
                         work, seed, quiet,
                         idle_gap=longest_timeout(scale) + 5 if idle_gap is None else idle_gap)
        os.chmod(self.work, 0o755)
        self.scale = scale
        self.project = SCALE_PROJECT if scale else PROJECT
        self.engine = engine
        self.keep = keep
        self.compose = None
        self.bundles = {}
        self.times = {}

    def setup(self):
        step = self.progress.step
        started = time.monotonic()
        self.engine.images(haproxy=self.scale)
        self.times["images"] = time.monotonic() - started
        step("images ready (%.0f s)" % self.times["images"])

        secret_dir = os.path.join(self.work, "secrets")
        r = subprocess.run([os.path.join(SOURCE, "deploy", "container", "make-secrets.sh"),
                            secret_dir], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        check(r.returncode == 0, "make-secrets.sh failed: %s" % r.stdout)
        numbers, per_model = self.plan_numbers()
        plans = os.path.join(self.work, "plans")
        os.makedirs(plans, mode=0o755)
        os.chmod(self.write_plan(os.path.join(plans, "day.csv"), per_model, unmanaged=False),
                 0o644)
        self.compose = Compose(self.engine, SOURCE, self.project, {
            "CERTLINE_SECRETS_DIR": secret_dir, "CERTLINE_DAY_PLANS": plans,
            "CERTLINE_DAY_DATE": self.today, "CERTLINE_POSTGRES_IMAGE": POSTGRES_IMAGE,
            # ca-server's port on a free port of the loopback only: nothing on this machine
            # needs it, and 8443 may be taken.
            "CERTLINE_CA_PUBLISH": "127.0.0.1::8443", "CERTLINE_LB_PUBLISH": "127.0.0.1::8443",
            "DOCKER_BUILDKIT": "1", "COMPOSE_HTTP_TIMEOUT": "300"}, self.work,
            SCALE_FILES if self.scale else FILES)
        started = time.monotonic()
        self.compose.run("up", "-d", "--no-build")
        self.times["up"] = time.monotonic() - started
        step("topology up (project %s, %.0f s): %s, setup-pki, %s, setup-factory, "
             "comm-terminal, lines %s with their jigs" % (
                 self.project, self.times["up"],
                 "pg-monitor, postgres (node A), postgres-b (node B)" if self.scale else
                 "postgres", "ca-server, ca-server-b, haproxy" if self.scale else "ca-server",
                 ", ".join(LINES)))
        self.cluster = (FormationDatabases if self.scale else ContainerDatabases)(self.compose)
        self.ca = ContainerCa(self.compose)
        self.ct = ContainerCt(self.compose)
        if self.scale:
            self.ct.db_retry_s = 300
        bundles = self.compose.mount("device-" + LINES[0], "/srv/certline/bundles")
        self.bundles = {code: os.path.join(bundles, code + ".bundle") for code in MANAGED}
        step("day's batch fetched by setup-factory for models %s" % ", ".join(
            sorted(self.ct.status())))
        for line in self.line_ids:
            ft = ContainerTerminal(self.compose, line)
            ft.start()
            self.terminals[line] = ft
            self.runs[line] = LineRun(line)
        step("scanners attached to the factory terminals of lines %s" % ", ".join(self.line_ids))
        for i, number in enumerate(numbers):
            line = self.line_ids[i % len(self.line_ids)]
            mac = "02:%02x:%02x:%02x:%02x:%02x" % tuple(secrets.token_bytes(5))
            self.devices[number] = ContainerDevice(self.compose, line, number, mac)
            self.line_of[number] = line
        step("%d devices to make; each gets a fresh board on its line's jig" % len(numbers))

    def run(self):
        started = time.monotonic()
        summary = super().run()
        self.times["day"] = time.monotonic() - started - self.times.get("images", 0)
        summary["containers"] = {"project": self.project,
                                 "engine": self.engine.env["DOCKER_HOST"],
                                 "seconds": {k: round(v, 1) for k, v in self.times.items()}}
        return summary

    def stop(self):
        """Detaches, and removes the topology (containers, networks, volumes) unless kept."""
        if self.stopped:
            return
        self.stopped = True
        self.stop_lines()
        if isinstance(self.ct, ContainerCt):
            self.ct.stop_following()
        if self.compose is None:
            return
        if self.keep:
            self.progress.step("kept: DOCKER_HOST=%s docker-compose -p %s ps" % (
                self.engine.env["DOCKER_HOST"], self.project))
            return
        # Every service's log into the work folder (kept when the day failed).
        with open(os.path.join(self.work, "services.log"), "w") as f:
            subprocess.run(self.compose.argv + ["logs", "--no-color", "-t"], env=self.compose.env,
                           stdout=f, stderr=subprocess.STDOUT, timeout=600)
        started = time.monotonic()
        self.compose.run("down", "-v", "--remove-orphans", "-t", "20", timeout=600)
        self.times["down"] = time.monotonic() - started
        self.progress.step("topology removed (down -v, %.0f s)" % self.times["down"])


def down(engine, scale=False):
    """--down: removes a day kept with --keep, and stops the dockerd that day started (its PID
    from its pidfile)."""
    env = dict(engine.env, DOCKER_HOST="unix://" + os.path.join(engine.state, "docker.sock"),
               CERTLINE_DAY_PLANS="/nonexistent", CERTLINE_DAY_DATE="2000-01-01")
    argv = [shutil.which("docker-compose") or "docker-compose", "-p",
            SCALE_PROJECT if scale else PROJECT]
    for name in SCALE_FILES if scale else FILES:
        argv += ["-f", os.path.join(SOURCE, "deploy", name)]
    subprocess.run(argv + ["down", "-v", "--remove-orphans"], env=env)
    pidfile = os.path.join(engine.state, "dockerd.pid")
    if os.path.exists(pidfile):
        pid = int(open(pidfile).read().strip())
        os.kill(pid, signal.SIGTERM)
        print("dockerd %d told to stop" % pid)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", action="store_true", help="the scale variant: two ca-server "
                        "instances behind HAProxy, PostgreSQL under pg_auto_failover")
    parser.add_argument("--devices-per-line", type=int, default=4)
    parser.add_argument("--fail-share", type=float, default=0.25,
                        help="share of devices whose first write is forced to fail (0..1)")
    parser.add_argument("--seed", type=int, help="seed for choosing the forced failures")
    parser.add_argument("--idle-gap", type=float, help="seconds each line stands still (default: "
                        "5 s more than the longest timeout of the container configurations)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the topology (and the engine started for it) running")
    parser.add_argument("--down", action="store_true", help="remove a day kept with --keep")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--work", help="the driver's folder: secrets, plan, logs (default: a "
                        "temporary folder, removed at the end)")
    args = parser.parse_args()

    engine = Engine(STATE, say=lambda text: print(text, file=sys.stderr, flush=True))
    if args.down:
        return down(engine, args.scale)

    def make_day():
        engine.start()
        return ContainerDay(engine, args.devices_per_line, args.fail_share,
                            idle_gap=args.idle_gap, work=args.work, seed=args.seed,
                            keep=args.keep, scale=args.scale)
    code, day = 1, None
    try:
        code, day = run_day(make_day, args.json, errors=(Failure, EngineError))
    finally:
        if not args.keep:
            engine.stop()
            for item in engine.leftovers():
                print("left on the host after the engine stopped: %s" % item, file=sys.stderr)
                code = code or 4
    if day is not None and not args.json:
        print("containers: %s" % " ".join("%s %.0f s" % kv for kv in day.times.items()))
    return code

if __name__ == "__main__":
    sys.exit(main())
