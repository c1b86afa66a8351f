"""pg_failover.py: a PostgreSQL 15 formation under pg_auto_failover on loopback, for the failover
test and the bench: a monitor, a primary and a synchronous standby, each a `pg_autoctl` process
(run as the `postgres` user when run as root, since pg_autoctl and initdb refuse root) with its
data in one temporary folder and free TCP ports on 127.0.0.1. The monitor's timers are shortened
so that a dead primary is replaced within seconds. The programs reach the formation through one
libpq multi-host conninfo with target_session_attrs=read-write (conninfo()). Only processes
started here are stopped, by PID; stop() removes the folder. Twin of pg_private.PrivateCluster
for the tests that need failover."""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

from pg_private import BIN, _free_port_number

# The monitor's timers (milliseconds; pg_auto_failover's defaults in brackets): a node is checked
# every second [5 s] and taken as failed after 3 s [20 s] without a report; a primary that cannot
# be reached is given 3 s [30 s] to demote itself before its standby is promoted.
MONITOR_TIMERS = {
    "pgautofailover.health_check_period": 1000,
    "pgautofailover.health_check_timeout": 1000,
    "pgautofailover.health_check_max_retries": 1,
    "pgautofailover.health_check_retry_delay": 500,
    "pgautofailover.node_considered_unhealthy_timeout": 3000,
    "pgautofailover.primary_demote_timeout": 3000,
}


class Formation:
    def __init__(self, nodes=("node_a", "node_b")):
        self.dir = tempfile.mkdtemp(prefix="certline-pgaf-")
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        os.chmod(self.dir, 0o755)
        self.monitor_port = _free_port_number()
        self.ports = {name: _free_port_number() for name in nodes}
        self.processes = {}  # name ("monitor" or a node) -> its `pg_autoctl` process
        self.env = dict(os.environ, PATH=BIN + ":" + os.environ.get("PATH", ""),
                        XDG_CONFIG_HOME=os.path.join(self.dir, "config"),
                        XDG_DATA_HOME=os.path.join(self.dir, "share"), HOME=self.dir,
                        PG_REGRESS_SOCK_DIR=self.dir, PGHOST=self.dir)

    # ---- processes ----

    def _popen(self, argv, log_name):
        log = open(os.path.join(self.dir, log_name + ".log"), "a")
        kwargs = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        try:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    env=self.env, cwd=self.dir, start_new_session=True, **kwargs)
        finally:
            log.close()

    def _run(self, argv, timeout=60):
        kwargs = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=self.env, cwd=self.dir, timeout=timeout, **kwargs)
        if result.returncode != 0:
            raise RuntimeError("%s failed:\n%s" % (" ".join(argv), result.stdout[-2000:]))
        return result.stdout

    def pgdata(self, name):
        return os.path.join(self.dir, name)

    def monitor_uri(self):
        return "postgres://autoctl_node@127.0.0.1:%d/pg_auto_failover?sslmode=disable" % (
            self.monitor_port)

    def start(self, timeout=120):
        """The monitor, then each node in turn (the first becomes the primary, the next its
        synchronous standby); returns once one is primary and the others secondary."""
        self.processes["monitor"] = self._popen(
            ["pg_autoctl", "create", "monitor", "--pgdata", self.pgdata("monitor"), "--pgport",
             str(self.monitor_port), "--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl",
             "--pgctl", os.path.join(BIN, "pg_ctl"), "--run"], "monitor")
        self._wait(lambda: self._monitor_ready(), timeout, "the monitor")
        for key, value in MONITOR_TIMERS.items():
            self.monitor_sql("ALTER SYSTEM SET %s = %d" % (key, value))
        self.monitor_sql("SELECT pg_reload_conf()")
        for i, name in enumerate(self.ports):
            self.start_node(name)
            self.wait_states(["single"] if i == 0 else None, timeout)
        return self

    def start_node(self, name):
        """Creates the node if its folder is new, and runs its keeper (a node that was killed
        rejoins as a standby)."""
        argv = ["pg_autoctl", "create", "postgres", "--pgdata", self.pgdata(name), "--pgport",
                str(self.ports[name]), "--pghost", "127.0.0.1", "--listen", "127.0.0.1",
                "--hostname", "127.0.0.1", "--name", name, "--auth", "trust", "--no-ssl",
                "--pgctl", os.path.join(BIN, "pg_ctl"), "--monitor", self.monitor_uri(), "--run"]
        if os.path.exists(os.path.join(self.pgdata(name), "postgresql.conf")):
            argv = ["pg_autoctl", "run", "--pgdata", self.pgdata(name)]
        self.processes[name] = self._popen(argv, name)

    def _monitor_ready(self):
        try:
            self.monitor_sql("SELECT 1 FROM pgautofailover.formation")
            return True
        except RuntimeError:
            return False

    def monitor_sql(self, sql):
        return _psql("host=127.0.0.1 port=%d user=postgres dbname=pg_auto_failover"
                     % self.monitor_port, sql)

    def states(self):
        """{node name: (reported state, goal state)} as the monitor sees them."""
        out = self.monitor_sql("SELECT nodename, reportedstate, goalstate FROM pgautofailover.node")
        rows = [line.split("|") for line in out.splitlines() if line.strip()]
        return {r[0]: (r[1], r[2]) for r in rows}

    def primary(self):
        """The node that is primary (reported and goal), or None."""
        for name, (reported, goal) in self.states().items():
            if reported == "primary" and goal == "primary":
                return name
        return None

    def wait_states(self, want, timeout):
        """Until every node's reported state equals its goal and (want is None) one is primary
        and all others secondary, or the sorted states equal want."""
        def settled():
            states = self.states()
            if len(states) == 0 or any(r != g for r, g in states.values()):
                return False
            got = sorted(r for r, _ in states.values())
            if want is not None:
                return got == sorted(want)
            return got == sorted(["primary"] + ["secondary"] * (len(states) - 1))
        self._wait(settled, timeout, "the formation (%r)" % (want,), lambda: self.states())

    @staticmethod
    def _wait(condition, timeout, what, show=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except RuntimeError:
                pass
            time.sleep(0.2)
        raise RuntimeError("%s not ready within %d s%s" % (what, timeout,
                                                          ": %r" % (show(),) if show else ""))

    # ---- what the programs use ----

    def conninfo(self, dbname):
        """libpq's multi-host conninfo: both nodes, the one that takes writes chosen."""
        names = list(self.ports)
        return ("host=%s port=%s user=postgres dbname=%s target_session_attrs=read-write"
                % (",".join("127.0.0.1" for _ in names),
                   ",".join(str(self.ports[n]) for n in names), dbname))

    def create_db(self, name):
        self.psql("postgres", "CREATE DATABASE %s" % name)
        return self.conninfo(name)

    def psql(self, dbname, sql):
        return _psql(self.conninfo(dbname), sql)

    def node_sql(self, name, dbname, sql):
        return _psql("host=127.0.0.1 port=%d user=postgres dbname=%s" % (self.ports[name],
                                                                         dbname), sql)

    # ---- failure ----

    def postmaster_pid(self, name):
        with open(os.path.join(self.pgdata(name), "postmaster.pid")) as f:
            return int(f.readline())

    def kill_node(self, name):
        """SIGKILL of the node's postmaster, then of its pg_autoctl keeper (which would otherwise
        restart postgres in place): the machine is gone. Returns the time of the first kill
        (time.monotonic())."""
        pid = self.postmaster_pid(name)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        keeper = self.processes.pop(name)
        try:
            os.killpg(keeper.pid, signal.SIGKILL)  # the keeper and its children, by group
        except ProcessLookupError:
            pass
        keeper.wait()
        return killed

    def stop(self):
        for name in list(self.processes)[::-1]:
            process = self.processes.pop(name)
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=30)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    process.wait()
        # a postmaster left behind by a killed keeper (its own session), by its PID file
        for name in ["monitor"] + list(self.ports):
            try:
                pid = self.postmaster_pid(name)
                if os.readlink("/proc/%d/cwd" % pid) == self.pgdata(name):
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _psql(conninfo, sql):
    result = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", conninfo,
                             "-c", sql], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError("psql failed: %s" % result.stdout)
    return result.stdout
