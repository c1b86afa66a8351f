"""pg_private.py: a private PostgreSQL 15 cluster for the factory simulation and the Python tests: initdb
into a temporary folder (as the `postgres` user when run as root, since initdb refuses root),
listening on a unix socket in that folder only (no TCP, so no port clashes), stopped and removed
by stop(). Twin of tests/pg/pg_cluster.c for the C tests."""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile

BIN = "/usr/lib/postgresql/15/bin"


def _free_port_number():
    # Only names the socket file (.s.PGSQL.<port>); nothing listens on TCP.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateCluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="certline-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port_number()
        self.user = None
        self.started = False
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        os.chmod(self.dir, 0o755)

    def _run(self, *argv):
        cmd = list(argv)
        if self.user is not None:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError("%s failed:\n%s" % (" ".join(argv), result.stdout[-2000:]))
        return result.stdout

    def start(self):
        self._run(os.path.join(BIN, "initdb"), "-D", self.data, "-A", "trust", "-U", "certline",
                  "-E", "UTF8", "--no-sync")
        options = "-c listen_addresses='' -c unix_socket_directories=%s -c port=%d -c fsync=off" % (
            self.dir, self.port)
        # Extra server settings for profiling (e.g. pg_stat_statements); empty by default.
        if os.environ.get("CERTLINE_PG_OPTIONS"):
            options += " " + os.environ["CERTLINE_PG_OPTIONS"]
        self.options = options
        self._run(os.path.join(BIN, "pg_ctl"), "-D", self.data, "-w", "-l",
                  os.path.join(self.dir, "server.log"), "-o", options, "start")
        self.started = True
        return self

    def restart(self):
        """Stops the cluster (fast: every session ended) and starts it again on the same socket."""
        self._run(os.path.join(BIN, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop")
        self._run(os.path.join(BIN, "pg_ctl"), "-D", self.data, "-w", "-l",
                  os.path.join(self.dir, "server.log"), "-o", self.options, "start")

    def conninfo(self, dbname="postgres"):
        return "host=%s port=%d user=certline dbname=%s" % (self.dir, self.port, dbname)

    def create_db(self, name):
        self.psql("postgres", "CREATE DATABASE %s" % name)
        return self.conninfo(name)

    def psql(self, dbname, sql):
        result = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                 self.conninfo(dbname), "-c", sql],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=60)
        if result.returncode != 0:
            raise RuntimeError("psql failed: %s" % result.stdout)
        return result.stdout

    def dump(self, dbname):
        return subprocess.run(["pg_dump", "-d", self.conninfo(dbname)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120,
                              check=True).stdout

    def stop(self):
        if self.started:
            try:
                self._run(os.path.join(BIN, "pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                          "stop")
            finally:
                self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)
