#!/usr/bin/python3
"""test_multi_haproxy.py: HAProxy in front of ca-server instances (issue 18.1), the alternative
to ca_server.endpoints described in deploy/HAPROXY.md.

Two real ca-server instances on one private PostgreSQL database behind Debian's haproxy in TCP
mode (TLS passes through: the comm-terminal still verifies ca-server's certificate and ca-server
the comm-terminal's), with a health check on each; one real comm-terminal whose ca_server is the
single HAProxy endpoint. A fetch through HAProxy; a fetch with one instance killed (SIGKILL)
before it; a fetch during which the other instance is killed: every fetch completes, every
planned number has its pack, the same one ca-server recorded, no number two valid certificates.

Usage: test_multi_haproxy.py CA_SERVER COMM_TERMINAL
Exits 77 (skipped) when haproxy is not installed (deploy/install-deps.sh installs it).
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))

import pg_private  # noqa: E402
from ca_instances import (Instances, check_ca_database, check_packs_match,  # noqa: E402
                          comm_terminal, held_packs, plan, print_tails)
from certline_procs import Failure, check, free_port  # noqa: E402

TODAY = time.strftime("%Y-%m-%d")

# The shape of deploy/HAPROXY.md's example: TCP mode, health checks, a failed connection
# retried on the other instance.
HAPROXY_CONFIG = """global
    maxconn 256

defaults
    mode tcp
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch

frontend ca
    bind 127.0.0.1:%(port)d
    default_backend ca_servers

backend ca_servers
    balance leastconn
    default-server inter 500ms fall 1 rise 2
%(servers)s
"""


class Scenario:
    def __init__(self, binaries, work, cluster):
        ca_binary, self.ct_binary = binaries
        self.work, self.cluster = work, cluster
        self.instances = Instances(ca_binary, work, cluster.create_db("ca"), 2)
        self.haproxy = None
        self.port = free_port()
        self.ct = None
        self.first_serial = 1

    def setup(self):
        self.instances.setup(["3012"])
        self.instances.start()
        config = os.path.join(self.work, "haproxy.cfg")
        servers = "\n".join("    server ca%d 127.0.0.1:%d check" % (k + 1, s.port)
                            for k, s in enumerate(self.instances.servers))
        with open(config, "w") as f:
            f.write(HAPROXY_CONFIG % {"port": self.port, "servers": servers})
        r = subprocess.run(["haproxy", "-c", "-f", config], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        check(r.returncode == 0, "haproxy -c: " + r.stdout)
        self.haproxy_log = os.path.join(self.work, "haproxy.log")
        with open(self.haproxy_log, "w") as log:
            self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", config], stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                check(self.haproxy.poll() is None and time.monotonic() < deadline,
                      "haproxy does not listen on port %d" % self.port)
                time.sleep(0.1)
        self.ct = comm_terminal(self.ct_binary, self.work, self.cluster, self.instances,
                                "ct_h", "east", "https://127.0.0.1:%d/ca" % self.port,
                                fetch_chunk=20)

    def fetch(self, units, kill_during=None):
        """Plans units more numbers and fetches them through HAProxy; kill_during: the instance
        killed one second into the fetch."""
        numbers = plan(self.ct, TODAY, self.first_serial, units)
        self.first_serial += units
        argv = [self.ct.binary, "-c", self.ct.config, "fetch", "--date", TODAY, "--operator",
                "alice", "--password-file", self.ct.password_file]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kill_during is not None:
            time.sleep(1)
            self.instances.kill(kill_during)
        out, err = p.communicate(timeout=240)
        check(p.returncode == 0 and "complete" in out,
              "fetch through haproxy did not complete (%d): %s%s" % (p.returncode, out,
                                                                    err[-3000:]))
        held = held_packs(self.cluster, "ct_h")
        missing = [n for n in numbers if n not in held]
        check(not missing, "no pack for %r" % missing[:5])
        return err

    def run(self):
        self.setup()
        self.fetch(40)
        print("  a fetch through haproxy")
        self.instances.kill(0)
        time.sleep(1.5)  # haproxy's check marks it down
        self.fetch(40)
        print("  a fetch with instance 1 killed before it")
        self.instances.restart(0)
        time.sleep(1.5)  # and up again (rise 2)
        err = self.fetch(200, kill_during=1)
        print("  a fetch with instance 2 killed during it%s" % (
            " (a request sent again)" if "sending it again" in err else ""))
        ca_rows = check_ca_database(self.cluster)
        check_packs_match(ca_rows, held_packs(self.cluster, "ct_h"), "ct_h")
        self.instances.restart(1)
        self.instances.stop()

    def stop_haproxy(self):
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            try:
                self.haproxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
                self.haproxy.wait()


def on_terminate(signum, frame):
    raise Failure("ended by signal %d" % signum)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: test_multi_haproxy.py CA_SERVER COMM_TERMINAL")
    if shutil.which("haproxy") is None:
        print("test_multi_haproxy: skipped: haproxy is not installed (deploy/install-deps.sh)")
        return 77
    # A bound that ends the test (ctest's timeout) still stops what it started.
    signal.signal(signal.SIGTERM, on_terminate)
    cluster = pg_private.PrivateCluster()
    work = tempfile.mkdtemp(prefix="certline-haproxy-")
    started, scenario = time.time(), None
    try:
        scenario = Scenario(sys.argv[1:3], work, cluster.start())
        scenario.run()
    except (Failure, subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError,
            RuntimeError) as exc:
        print("test_multi_haproxy: FAILED: %s" % exc)
        if scenario is not None:
            logs = scenario.instances.logs() + [os.path.join(work, "haproxy.log")]
            if scenario.ct is not None:
                logs.append(scenario.ct.log_path)
            print_tails(logs)
        return 1
    finally:
        if scenario is not None:
            scenario.stop_haproxy()
            scenario.instances.kill_all()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("test_multi_haproxy: all checks passed in %.1f s" % (time.time() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
