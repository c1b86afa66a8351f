"""certline_procs.py: the four certline programs as processes, for the factory simulation and the
integration tests: configuration files written from parameters, operator commands, and the
serving processes started, awaited ("listening on ...") and stopped by signal, never by name.
Only what this module started is ever stopped."""

import datetime
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


OPERATOR_PASSWORD = "line manager secret 1"


PASSPHRASE = "correct horse battery staple"


def as_expected(program, args, result, expect_ok):
    """result of the command `program args`, or Failure if it succeeded or failed against
    expect_ok."""
    if expect_ok and result.returncode != 0:
        raise Failure("%s %s failed (%d): %s%s" % (program, " ".join(args), result.returncode,
                                                   result.stdout, result.stderr))
    if not expect_ok and result.returncode == 0:
        raise Failure("%s %s should have failed: %s" % (program, " ".join(args), result.stdout))
    return result


def keep_port(server):
    """A restart listens on the port of the first start (the other programs' configurations
    name it): writes server.port, if known, into its configuration."""
    if getattr(server, "port", None):
        with open(server.config) as f:
            config = json.load(f)
        config["listen"]["port"] = server.port
        with open(server.config, "w") as f:
            json.dump(config, f)


def await_listening(server, name):
    """Reads the "listening on 127.0.0.1:PORT" line `serve` prints into server.port; name says
    who did not start."""
    line = server.process.stdout.readline()
    check(line.startswith("listening on 127.0.0.1:"), "%s did not start: %r" % (name, line))
    server.port = int(line.strip().rsplit(":", 1)[1])


class CaServer:
    """The ca-server binary with one configuration, and its serving process."""

    level = "debug"

    def __init__(self, binary, work, conninfo, key_uris=None):
        """key_uris: {"issuing_key_uri": ..., "root_key_uri": ...} for CA keys in tokens."""
        self.binary = binary
        self.work = work
        self.conninfo = conninfo
        self.key_uris = dict(key_uris or {})
        self.ca_dir = os.path.join(work, "ca")
        self.passphrase_file = os.path.join(work, "passphrase")
        with open(os.open(self.passphrase_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(PASSPHRASE + "\n")
        self.config = os.path.join(work, "ca-server.json")
        self.write_config(conninfo)
        self.process = None
        self.log_path = os.path.join(work, "ca-server.log")

    def write_config(self, conninfo, **extra):
        config = {
            "ca_dir": self.ca_dir,
            "organisation": "certline test maker",
            "passphrase_file": self.passphrase_file,
            "database": {"conninfo": conninfo},
            "tls": {"cert_file": os.path.join(self.work, "svc-ca.chain.crt"),
                    "key_file": os.path.join(self.work, "svc-ca.key"),
                    "trust_file": os.path.join(self.ca_dir, "root.crt")},
            "listen": {"host": "127.0.0.1", "port": 0, "max_connections": 16},
            "workers": 2,
            "max_batch": 400,
        }
        config.update(self.key_uris)
        config.update(extra)
        with open(self.config, "w") as f:
            json.dump(config, f)

    def run(self, *args, expect_ok=True):
        result = subprocess.run([self.binary, "-c", self.config] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=600)
        return as_expected("ca-server", args, result, expect_ok)

    def start(self):
        """Starts `serve` at self.level; a restart listens on the same port as the first."""
        keep_port(self)
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen([self.binary, "-c", self.config, "-l", self.level,
                                             "serve"], stdout=subprocess.PIPE, stderr=log,
                                            text=True)
        await_listening(self, "serve")

    def issue_services(self, line_ids):
        """`init`, then the service certificates of ca-server, the comm-terminal and each line
        (svc-ca, svc-comm, svc-line-ID in the work folder)."""
        self.run("init")
        self.run("issue-service", "ca-server", "ca.certline.test", "--out",
                 os.path.join(self.work, "svc-ca"))
        self.run("issue-service", "comm-terminal", "comm.certline.test", "--out",
                 os.path.join(self.work, "svc-comm"))
        for line in line_ids:
            self.run("issue-service", "factory-terminal", "line-%s.certline.test" % line, line,
                     "--out", os.path.join(self.work, "svc-line-%s" % line))

    def stop(self):
        if self.process is None:
            return
        code = _stop(self.process, "ca-server", self.log_path)
        self.process = None
        check(code == 0, "ca-server serve exited with %d (see %s)" % (code, self.log_path))

    def log(self):
        with open(self.log_path) as f:
            return f.read()


class CommTerminal:
    """The comm-terminal binary with one configuration (settings override the defaults below),
    operator commands run as "alice", and its serving process."""

    level = "debug"
    environment = {}  # more for `serve`'s environment, e.g. libfaketime's LD_PRELOAD and FAKETIME

    def __init__(self, binary, work, conninfo, ca, **settings):
        self.binary = binary
        self.work = work
        self.config = os.path.join(work, "comm-terminal.json")
        self.log_path = os.path.join(work, "comm-terminal.log")
        self.password_file = os.path.join(work, "operator-password")
        with open(os.open(self.password_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(OPERATOR_PASSWORD + "\n")
        self.ca = ca
        self.process = None
        config = {
            "factory": "factory-e",
            "database": {"conninfo": conninfo},
            "tls": {"cert_file": os.path.join(work, "svc-comm.chain.crt"),
                    "key_file": os.path.join(work, "svc-comm.key"),
                    "trust_file": os.path.join(ca.ca_dir, "root.crt")},
            "listen": {"host": "127.0.0.1", "port": 0, "max_connections": 32},
            "limits": {"connect_timeout_s": 2, "recv_timeout_s": 10},
            "ca_server": {"endpoint": "https://127.0.0.1:%d/ca" % ca.port,
                          "server_name": "ca.certline.test"},
            "fetch_chunk": 7,
            "claim_seconds": 5,
            "delete_written": True,
            "report_interval_s": 1,
        }
        config.update(settings)
        with open(self.config, "w") as f:
            json.dump(config, f)

    def run(self, *args, operator=True, expect_ok=True):
        argv = [self.binary, "-c", self.config] + list(args)
        if operator:
            argv += ["--operator", "alice", "--password-file", self.password_file]
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=300)
        return as_expected("comm-terminal", args, result, expect_ok)

    def start(self):
        """Starts `serve` at self.level; a restart listens on the same port as the first."""
        keep_port(self)
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen([self.binary, "-c", self.config, "-l", self.level,
                                             "serve"], stdout=subprocess.PIPE, stderr=log,
                                            text=True, env=dict(os.environ, **self.environment))
        await_listening(self, "comm-terminal")

    def stop(self):
        if self.process is None:
            return
        code = _stop(self.process, "comm-terminal", self.log_path)
        self.process = None
        check(code == 0, "comm-terminal serve exited with %d (see %s)" % (code, self.log_path))

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def migrate(self):
        """`migrate` its database, then add the operator "alice" with the password file."""
        self.run("migrate", operator=False)
        self.run("operator-add", "alice", "--new-password-file", self.password_file,
                 operator=False)

    def status(self):
        rows = json.loads(self.run("status", "--json").stdout)["models"]
        return {r["model"]: r for r in rows}

    def certificates(self, *filters):
        return json.loads(self.run("list", "--json", "--limit", "10000", *filters).stdout)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def wait_for_text(path, text, process, timeout=30, start=0):
    """Waits until the log file at path holds text after byte offset start (what an earlier run
    logged does not count); fails early if process has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                f.seek(start)
                if text.encode() in f.read():
                    return
        except FileNotFoundError:
            pass
        if process is not None and process.poll() is not None:
            raise Failure("%s ended (%d) before logging %r" % (path, process.returncode, text))
        time.sleep(0.02)
    raise Failure("%s: no %r within %d s" % (path, text, timeout))


def _stop(process, name, log_path, timeout=60):
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise Failure("%s did not stop on SIGTERM (see %s)" % (name, log_path))


class FactoryTerminal:
    """One factory-terminal process for a line: scans written to its stdin, its JSON result
    events read from its stdout."""

    level = "debug"

    def __init__(self, binary, work, line_id, trust_file, comm_port, device_port, cert_dir=None,
                 **settings):
        self.binary = binary
        self.line_id = line_id
        self.config = os.path.join(work, "factory-terminal-%s.json" % line_id)
        self.log_path = os.path.join(work, "factory-terminal-%s.log" % line_id)
        self.port = free_port()
        self.device_port = device_port
        self.server_name = "line-%s.certline.test" % line_id
        self.process = None
        self.events = None
        prefix = os.path.join(cert_dir or work, "svc-line-%s" % line_id)
        config = {
            "line_id": line_id,
            "tls": {"cert_file": prefix + ".chain.crt", "key_file": prefix + ".key",
                    "trust_file": trust_file},
            "comm_terminal": {"endpoint": "https://127.0.0.1:%d/comm-terminal" % comm_port,
                              "server_name": "comm.certline.test"},
            "device_endpoint": "https://127.0.0.1:%d/device" % device_port,
            "listen": {"host": "127.0.0.1", "port": self.port, "max_connections": 4},
            "limits": {"connect_timeout_s": 2, "recv_timeout_s": 10},
            "write_result_timeout_s": 20,
            "events_file": os.path.join(work, "line-%s-events.jsonl" % line_id),
        }
        config.update(settings)
        self.events_file = config["events_file"]
        with open(self.config, "w") as f:
            json.dump(config, f)

    def start(self, *extra):
        start = log_size(self.log_path)
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [self.binary, "-c", self.config, "-l", self.level, "run", "--json"] + list(extra),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1)
        log.close()
        self.events = queue.Queue()
        out = self.process.stdout
        threading.Thread(target=lambda: [self.events.put(line) for line in out] and None,
                         daemon=True).start()
        wait_for_text(self.log_path, "listening on", self.process, start=start)

    def scan(self, text):
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def next_event(self, timeout=60):
        try:
            line = self.events.get(timeout=timeout)
        except queue.Empty:
            raise Failure("line %s: no result within %d s (see %s)" % (self.line_id, timeout,
                                                                       self.log_path))
        try:
            return json.loads(line)
        except ValueError:
            raise Failure("line %s printed a line that is not JSON: %r" % (self.line_id, line))

    def finish(self, timeout=60):
        """Ends the scans (EOF) and returns the exit code."""
        self.process.stdin.close()
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def kill(self):
        self.process.kill()
        self.process.wait()
        self.process = None

    def stop(self):
        if self.process is not None:
            _stop(self.process, "factory-terminal " + self.line_id, self.log_path)
            self.process = None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


class DeviceAgent:
    """One device on the line: its own images and configuration; `serve` on its line's jig."""

    def __init__(self, binary, work, device_number, mac, line, ca_port=None, limits=None):
        self.binary = binary
        self.device_number = device_number
        self.mac = mac
        self.dir = os.path.join(work, "device-" + device_number)
        os.makedirs(self.dir, exist_ok=True)
        self.config = os.path.join(self.dir, "device-agent.json")
        self.log_path = os.path.join(self.dir, "device-agent.log")
        self.flash = os.path.join(self.dir, "flash.img")
        self.nvram = os.path.join(self.dir, "nvram.img")
        self.process = None
        config = {
            "flash_image": self.flash,
            "nvram_image": self.nvram,
            "listen": {"host": "127.0.0.1", "port": line.device_port, "max_connections": 2},
            "line": {"endpoint": "https://127.0.0.1:%d/line" % line.port,
                     "server_name": line.server_name},
            "limits": limits or {"connect_timeout_s": 2, "recv_timeout_s": 10},
        }
        if ca_port is not None:
            config["ca_server"] = {"endpoint": "https://127.0.0.1:%d/ca" % ca_port,
                                   "server_name": "ca.certline.test"}
        with open(self.config, "w") as f:
            json.dump(config, f)

    def run(self, *args, expect=0, timeout=120):
        result = subprocess.run([self.binary, "-c", self.config] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=timeout)
        if expect is not None and result.returncode != expect:
            raise Failure("device-agent %s %s: exit %d, expected %d: %s%s" % (
                self.device_number, " ".join(args), result.returncode, expect, result.stdout,
                result.stderr))
        return result

    def mkimage(self, bundle):
        return self.run("mkimage", "--device-number", self.device_number, "--mac", self.mac,
                        "--bundle", bundle)

    def show(self, expect=0):
        return json.loads(self.run("show", "--json", expect=expect).stdout)

    def serve(self, *extra):
        start = log_size(self.log_path)
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [self.binary, "-c", self.config, "-l", "debug", "serve"] + list(extra),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        wait_for_text(self.log_path, "listening on", self.process, start=start)

    def wait(self, timeout=60):
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def stop(self):
        if self.process is not None:
            _stop(self.process, "device-agent " + self.device_number, self.log_path)
            self.process = None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()
