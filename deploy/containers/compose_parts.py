"""compose_parts.py: the container topology's parts as the factory day (deploy/sim/factory_day.py)
drives them: docker-compose for one project, and per service the object the day expects of a
process (a factory terminal fed through docker attach, a board on a line's jig, ca-server stopped
and started, comm-terminal's commands and log, SQL on both databases), all through the engine's
client from outside the containers."""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "sim"))

from certline_procs import (CommTerminal, DeviceAgent, Failure, as_expected,  # noqa: E402
                            check, wait_for_text)

LIB = "/usr/local/lib/certline/"
OPERATOR = ["--operator", "admin", "--password-file", "/run/secrets/operator_password"]


class Compose:
    """docker-compose -p PROJECT -f FILE... (deploy/docker-compose.yml and the overlays of the
    topology, paths relative to deploy/), and the engine's client."""

    def __init__(self, engine, source, project, env, work, files):
        exe = shutil.which("docker-compose")
        check(exe is not None, "docker-compose is not installed (deploy/install-deps.sh)")
        self.engine = engine
        self.cli = engine.cli
        self.env = dict(engine.env, **env)
        self.work = work
        self.argv = [exe, "-p", project]
        for name in files:
            self.argv += ["-f", os.path.join(source, "deploy", name)]
        self.cids = {}

    def run(self, *args, timeout=900, check_ok=True):
        r = subprocess.run(self.argv + list(args), env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout)
        with open(os.path.join(self.work, "compose.log"), "a") as f:
            f.write("$ docker-compose %s\n%s\n" % (" ".join(args), r.stdout))
        check(not check_ok or r.returncode == 0, "docker-compose %s failed (%d): %s" % (
            " ".join(args), r.returncode, r.stdout[-3000:]))
        return r

    def docker(self, *args, timeout=300, stdout=subprocess.PIPE, stderr=subprocess.PIPE):
        return subprocess.run([self.cli] + list(args), env=self.env, stdout=stdout,
                              stderr=stderr, text=True, timeout=timeout)

    def cid(self, service):
        if service not in self.cids:
            cid = self.run("ps", "-q", service).stdout.strip()
            check(cid != "", "no container for " + service)
            self.cids[service] = cid
        return self.cids[service]

    def exec(self, service, *argv, user=None, timeout=300):
        return self.docker("exec", *(["-u", user] if user else []), self.cid(service), *argv,
                           timeout=timeout)

    def inspect(self, service, template):
        return self.docker("inspect", "-f", template, self.cid(service)).stdout.strip()

    def mount(self, service, target):
        """The host folder of what service has mounted at target (a named volume)."""
        mounts = json.loads(self.inspect(service, "{{json .Mounts}}"))
        found = [m["Source"] for m in mounts if m["Destination"] == target]
        check(len(found) == 1, "%s has no mount at %s" % (service, target))
        return found[0]

    def wait_listening(self, service, port, timeout=120):
        deadline = time.monotonic() + timeout
        while self.exec(service, LIB + "listening.sh", str(port)).returncode != 0:
            check(time.monotonic() < deadline, "%s does not listen on %d" % (service, port))
            time.sleep(0.5)

    def logs(self, service):
        r = self.docker("logs", self.cid(service), stderr=subprocess.STDOUT)
        return r.stdout

    def processes(self, service, comm):
        """The PIDs (on this host) of the children of service's init whose name starts with
        comm (the kernel keeps 15 characters of it)."""
        init = self.inspect(service, "{{.State.Pid}}")
        children = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, the last ")" ends it
            if stat.rsplit(")", 1)[1].split()[1] == init and "(" + comm[:15] in stat:
                children.append(int(pid))
        return children


class ContainerTerminal:
    """A line's factory terminal: scans written to its standard input through docker attach, the
    JSON events read from its standard output."""

    def __init__(self, compose, line_id):
        self.compose = compose
        self.line_id = line_id
        self.service = "factory-terminal-" + line_id
        self.log_path = os.path.join(compose.work, "%s.attach.log" % self.service)
        self.process = None
        self.events = None
        self.restarts = None  # the restart count before a kill

    def start(self):
        """Attaches once the terminal listens; after kill(), first waits for the engine's
        restart policy to bring it back."""
        if self.restarts is not None:
            deadline = time.monotonic() + 120
            while True:
                state = self.compose.inspect(self.service, "{{.RestartCount}} {{.State.Running}}")
                if int(state.split()[0]) > self.restarts and state.split()[1] == "true":
                    break
                check(time.monotonic() < deadline, "%s was not restarted by the engine (%s)"
                      % (self.service, state))
                time.sleep(0.2)
            self.restarts = None
        self.compose.wait_listening(self.service, 8445)
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [self.compose.cli, "attach", "--sig-proxy=false", self.compose.cid(self.service)],
            env=self.compose.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            text=True, bufsize=1)
        log.close()
        self.events = queue.Queue()
        out = self.process.stdout
        threading.Thread(target=lambda: [self.events.put(line) for line in out] and None,
                         daemon=True).start()

    def scan(self, text):
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def next_event(self, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.events.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise Failure("line %s: no result within %d s (docker logs %s)" % (
                    self.line_id, timeout, self.compose.cid(self.service)))
            if line.strip().startswith("{"):
                return json.loads(line)

    def kill(self):
        """SIGKILL to the factory-terminal process (the child of the container's init, by its
        PID on this host); the container ends and the engine's restart policy restarts it."""
        self.restarts = int(self.compose.inspect(self.service, "{{.RestartCount}}"))
        children = self.compose.processes(self.service, "factory-terminal")
        check(len(children) == 1, "%s: factory-terminal processes under its init: %r" % (
            self.service, children))
        os.kill(children[0], signal.SIGKILL)
        self.process.wait(timeout=60)
        self.process = None

    def finish(self, timeout=60):
        """Detaches (the terminal goes on serving until the topology is removed)."""
        try:
            self.process.stdin.close()
        except OSError:
            pass  # the client has ended already
        self.process.terminate()
        self.process.wait(timeout=timeout)
        self.process = None
        return 0

    def log(self):
        return self.compose.logs(self.service)


class ContainerDevice(DeviceAgent):
    """One device: its own board (flash and NVRAM images) in its line's jig volume, served on the
    jig by container/jig.sh."""

    def __init__(self, compose, line_id, device_number, mac):  # not DeviceAgent's: no files here
        self.compose = compose
        self.service = "device-" + line_id
        self.device_number = device_number
        self.mac = mac
        self.log_path = os.path.join(compose.work, "device-%s.log" % device_number)
        self.process = None

    @property
    def dir(self):
        return os.path.join(self.compose.mount(self.service, "/var/lib/certline"), "boards",
                            self.device_number)

    @property
    def flash(self):
        return os.path.join(self.dir, "flash.img")

    @property
    def nvram(self):
        return os.path.join(self.dir, "nvram.img")

    # How long docker exec may take to start the board's agent or to end after it: on a starved
    # host (load 50 and more, the engine at nice 10) minutes, not the seconds of a process here.
    EXEC_WAIT_S = 300

    def serve(self, *extra):
        start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [self.compose.cli, "exec", self.compose.cid(self.service), LIB + "jig.sh", "serve",
             self.device_number, self.mac] + list(extra),
            env=self.compose.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        wait_for_text(self.log_path, "listening on", self.process, timeout=self.EXEC_WAIT_S,
                      start=start)

    def wait(self, timeout=60):
        return super().wait(timeout=max(timeout, self.EXEC_WAIT_S))

    def stop(self):
        if self.process is not None:
            self.compose.exec(self.service, LIB + "jig.sh", "stop", self.device_number)
            self.process.wait(timeout=self.EXEC_WAIT_S)
            self.process = None

    def run(self, *args, expect=0, timeout=120):
        r = self.compose.exec(self.service, LIB + "jig.sh", "agent", self.device_number, *args,
                              timeout=timeout)
        if expect is not None and r.returncode != expect:
            raise Failure("device-agent %s %s: exit %d, expected %d: %s%s" % (
                self.device_number, " ".join(args), r.returncode, expect, r.stdout, r.stderr))
        return r


class ContainerCa:
    """The ca-server service: stopped (by hand, so the restart policy leaves it) and started."""

    port = 8443

    def __init__(self, compose):
        self.compose = compose
        self.ca_dir = os.path.join(compose.mount("ca-server", "/var/lib/certline"), "ca")

    def stop(self):
        r = self.compose.docker("stop", self.compose.cid("ca-server"))
        check(r.returncode == 0, "docker stop ca-server: %s" % r.stderr)

    def start(self):
        r = self.compose.docker("start", self.compose.cid("ca-server"))
        check(r.returncode == 0, "docker start ca-server: %s" % r.stderr)
        self.compose.wait_listening("ca-server", 8443)

    def log(self):
        return self.compose.logs("ca-server")


class ContainerCt(CommTerminal):
    """The comm-terminal service: its commands by docker exec (operator admin, the password in
    its docker secret), its log followed into the work folder."""

    def __init__(self, compose):
        self.compose = compose
        self.config = "/etc/certline/comm-terminal.json"
        self.log_path = os.path.join(compose.work, "comm-terminal.log")
        log = open(self.log_path, "a")
        self.process = None  # not a process of this machine: never stopped as one
        self.follower = subprocess.Popen(
            [compose.cli, "logs", "-f", compose.cid("comm-terminal")], env=compose.env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()

    # An operator command that finds no database (the formation of the scale variant failing
    # over: a command connects once, unlike serve) is run again, for up to this many seconds.
    db_retry_s = 0

    def run(self, *args, operator=True, expect_ok=True):
        argv = ["comm-terminal", "-c", self.config] + list(args) + (OPERATOR if operator else [])
        deadline = time.monotonic() + self.db_retry_s
        while True:
            r = self.compose.exec("comm-terminal", *argv)
            if (r.returncode == 0 or "cannot connect to the database" not in r.stderr or
                    time.monotonic() > deadline):
                return as_expected("comm-terminal", args, r, expect_ok)
            time.sleep(1)

    def stop_following(self):
        if self.follower is not None:
            self.follower.terminate()
            self.follower.wait()
            self.follower = None


class ContainerDatabases:
    """SQL on certline_ca ("ca") and certline_ct ("ct") through psql in the postgres container."""

    def __init__(self, compose):
        self.compose = compose

    def service(self):
        return "postgres"

    def psql(self, db, sql):
        r = self.compose.exec(self.service(), "psql", "-X", "-q", "-A", "-t", "-v",
                              "ON_ERROR_STOP=1", "-d", "certline_" + db, "-c", sql,
                              user="postgres")
        check(r.returncode == 0, "psql failed: %s%s" % (r.stdout, r.stderr))
        return r.stdout

    def dump(self, db):
        r = self.compose.exec(self.service(), "pg_dump", "-d", "certline_" + db, user="postgres")
        check(r.returncode == 0, "pg_dump failed: %s" % r.stderr)
        return r.stdout


class FormationDatabases(ContainerDatabases):
    """The same on the scale variant's formation (docker-compose.scale.yml): psql in whichever
    node the pg_auto_failover monitor names primary, waiting through a failover."""

    NODES = {"pg-a": "postgres", "pg-b": "postgres-b"}  # node name -> service

    def monitor_sql(self, sql):
        r = self.compose.exec("pg-monitor", "psql", "-X", "-q", "-A", "-t", "-v",
                              "ON_ERROR_STOP=1", "-d", "pg_auto_failover", "-c", sql,
                              user="postgres")
        check(r.returncode == 0, "psql on the monitor failed: %s%s" % (r.stdout, r.stderr))
        return r.stdout

    def states(self):
        """{node name: (reported state, goal state)} as the monitor sees them."""
        out = self.monitor_sql("SELECT nodename, reportedstate, goalstate FROM pgautofailover.node")
        return {r[0]: (r[1], r[2]) for r in (line.split("|") for line in out.splitlines() if line)}

    def primary(self, timeout=120):
        """The node that takes writes (primary, wait_primary or single, reported and goal)."""
        deadline = time.monotonic() + timeout
        while True:
            for name, (reported, goal) in self.states().items():
                if reported == goal and reported in ("primary", "wait_primary", "single"):
                    return name
            check(time.monotonic() < deadline, "no primary within %d s: %r" % (timeout,
                                                                               self.states()))
            time.sleep(0.5)

    def wait_settled(self, timeout=300):
        """Until the formation is stable: one node primary and the other secondary, each where
        the monitor wants it (a failover of the monitor's own, or a rejoin, is over), both
        passing the monitor's health checks, and the primary replicating synchronously to the
        standby (as its keeper last reported). Returns the seconds waited."""
        started = time.monotonic()
        while True:
            out = self.monitor_sql("SELECT reportedstate, goalstate, health, reportedrepstate "
                                   "FROM pgautofailover.node ORDER BY nodeid")
            nodes = [line.split("|") for line in out.splitlines() if line]
            if (sorted(n[0] for n in nodes if n[0] == n[1]) == ["primary", "secondary"] and
                    all(n[2] == "1" for n in nodes) and
                    any(n[0] == "primary" and n[3] in ("sync", "quorum") for n in nodes)):
                return time.monotonic() - started
            check(time.monotonic() - started < timeout, "the formation was not stable within "
                  "%d s (reported, goal, health, replication): %r" % (timeout, nodes))
            time.sleep(1)

    def service(self):
        return self.NODES[self.primary()]
