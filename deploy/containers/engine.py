"""engine.py: the container engine and images of the container day (make demo-containers and
tests/containers): Debian's docker.io dockerd started by hand when no engine answers, with all its
state in one folder outside the clone (images cached between runs), stopped by its PID at the
end; the base images made from Debian's archive (debootstrap, a PostgreSQL 15 image from
Debian's packages) when absent, and certline's image built once with BuildKit.

The dockerd started here adds no network rules and no default bridge (--iptables=false,
--ip-forward=false, --bridge=none): the topology's containers only talk on the compose networks
they share, and image builds use the host's network. The host's rules and links are noted before
the start and compared after the stop (Engine.leftovers)."""

import fcntl
import os
import shutil
import signal
import subprocess
import time

SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
STATE = os.environ.get("CERTLINE_CONTAINERS_STATE", "/var/cache/certline-containers")
MIRROR = os.environ.get("CERTLINE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_IMAGE = "debian:bookworm"
POSTGRES_IMAGE = os.environ.get("CERTLINE_POSTGRES_IMAGE", "certline/postgres:15")
CERTLINE_IMAGE = "certline:latest"
HAPROXY_IMAGE = "certline/haproxy:2.6"  # the scale variant's balancer (haproxy.Dockerfile)


class EngineError(Exception):
    pass


def docker_cli():
    """docker.io's client (/usr/bin/docker, API 1.41) unless CERTLINE_DOCKER names another: a
    newer client elsewhere on PATH may want buildx for BuildKit."""
    cli = os.environ.get("CERTLINE_DOCKER") or "/usr/bin/docker"
    if not os.access(cli, os.X_OK):
        cli = shutil.which("docker")
    if cli is None:
        raise EngineError("no docker client: install Debian's docker.io (deploy/install-deps.sh)")
    return cli


def network_state():
    """The host's iptables rules (filter and nat) and links, to compare before and after."""
    out = {}
    for name, argv in (("iptables", ["iptables", "-S"]),
                       ("iptables nat", ["iptables", "-t", "nat", "-S"]),
                       ("links", ["ip", "-o", "link", "show"])):
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, timeout=30)
            lines = r.stdout.splitlines()
        except (OSError, subprocess.TimeoutExpired):
            lines = []
        if name == "links":  # "N: NAME: <FLAGS> ...": the name only (indexes change)
            lines = [line.split(":")[1].strip().split("@")[0] for line in lines if ":" in line]
        out[name] = set(lines)
    return out


class Engine:
    """A docker engine for one run: the one that answers already (DOCKER_HOST, or the system's
    socket), or a dockerd started here and stopped by stop()."""

    def __init__(self, state=STATE, say=print):
        self.state = os.path.abspath(state)
        self.say = say
        self.cli = docker_cli()
        self.process = None
        self.env = dict(os.environ)
        self.before = None
        self.lock = None
        self.driver = None

    def docker(self, *args, check=True, timeout=600, **kwargs):
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        r = subprocess.run([self.cli] + list(args), env=self.env, text=True, timeout=timeout,
                           **kwargs)
        if check and r.returncode != 0:
            raise EngineError("docker %s failed (%d): %s" % (" ".join(args[:3]), r.returncode,
                                                              (r.stderr or "").strip()[-2000:]))
        return r

    def answers(self):
        try:
            return self.docker("version", "--format", "{{.Server.Version}}", check=False,
                               timeout=20).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def start(self):
        try:
            os.makedirs(self.state, mode=0o700, exist_ok=True)
            # One run at a time per state folder (make demo-containers and the CI test).
            self.lock = open(os.path.join(self.state, "lock"), "w")
            fcntl.flock(self.lock, fcntl.LOCK_EX)
        except OSError as e:
            raise EngineError("the engine's state folder %s: %s" % (self.state, e))
        if "DOCKER_HOST" not in self.env and os.path.exists("/var/run/docker.sock"):
            self.env["DOCKER_HOST"] = "unix:///var/run/docker.sock"
        if "DOCKER_HOST" in self.env and self.answers():
            self.say("using the container engine at %s" % self.env["DOCKER_HOST"])
            return self
        self.env["DOCKER_HOST"] = "unix://" + os.path.join(self.state, "docker.sock")
        if self.answers():  # a dockerd of an earlier run kept with --keep
            self.say("using the container engine left running at %s" % self.env["DOCKER_HOST"])
            return self
        if os.geteuid() != 0:
            raise EngineError("no container engine answers and starting dockerd needs root")
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise EngineError("no container engine answers and dockerd is not installed "
                              "(Debian's docker.io, deploy/install-deps.sh)")
        self.before = network_state()
        try:
            self.launch(dockerd, "overlay2")
        except EngineError as e:
            self.say("dockerd with overlay2 failed (%s); falling back to the vfs storage driver "
                     "(slower, larger)" % e)
            self.launch(dockerd, "vfs")
        self.driver = self.docker("info", "--format", "{{.Driver}}").stdout.strip()
        self.say("dockerd started (pid %d, storage %s, state in %s)" % (
            self.process.pid, self.driver, self.state))
        return self

    def launch(self, dockerd, driver):
        for stale in ("docker.sock", "dockerd.pid"):
            path = os.path.join(self.state, stale)
            if os.path.exists(path):
                os.unlink(path)
        nice = int(os.environ.get("CERTLINE_ENGINE_NICE", "10"))
        argv = ["nice", "-n", str(nice), dockerd,
                "--data-root", os.path.join(self.state, "data"),
                "--exec-root", os.path.join(self.state, "exec"),
                "--pidfile", os.path.join(self.state, "dockerd.pid"),
                "-H", self.env["DOCKER_HOST"], "--storage-driver", driver,
                "--iptables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none",
                "--log-level", "warn"]
        log = open(os.path.join(self.state, "dockerd.log"), "a")
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                        start_new_session=True)
        log.close()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code, self.process = self.process.returncode, None
                raise EngineError("dockerd exited with %d (see %s/dockerd.log)" % (code,
                                                                                   self.state))
            if self.answers():
                return
            time.sleep(0.5)
        self.stop()
        raise EngineError("dockerd did not answer within 90 s (see %s/dockerd.log)" % self.state)

    def stop(self):
        """Stops the dockerd started here (SIGTERM to its PID, SIGKILL after 60 s)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
            self.say("dockerd stopped")
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    def leftovers(self):
        """What the host has now in rules or links that it had not before the start (empty when
        this run started no engine)."""
        if self.before is None:
            return []
        after = network_state()
        return ["%s: %s" % (kind, item) for kind in after
                for item in sorted(after[kind] - self.before[kind])]

    # ---- images ----

    def has_image(self, name):
        return self.docker("image", "inspect", name, check=False).returncode == 0

    def build(self, tag, dockerfile, context):
        """docker build with BuildKit (which reads DOCKERFILE.dockerignore), on the host's
        network (this engine has no bridge of its own)."""
        env = dict(self.env, DOCKER_BUILDKIT="1")
        started = time.monotonic()
        r = subprocess.run([self.cli, "build", "--network", "host", "--progress", "plain",
                            "-f", dockerfile, "-t", tag, context], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=3600)
        log = os.path.join(self.state, "build-%s.log" % tag.replace("/", "_").replace(":", "_"))
        with open(log, "w") as f:
            f.write(r.stdout)
        if r.returncode != 0:
            raise EngineError("building %s failed (see %s): %s" % (tag, log, r.stdout[-3000:]))
        context_line = [line for line in r.stdout.splitlines() if "transferring context" in line]
        self.say("image %s built in %.0f s%s" % (tag, time.monotonic() - started,
                                                 " (%s)" % context_line[-1].split("] ", 1)[-1]
                                                 if context_line else ""))

    def base_image(self):
        """debian:bookworm from Debian's archive: debootstrap minbase, imported."""
        if self.has_image(BASE_IMAGE):
            return
        if shutil.which("debootstrap") is None:
            raise EngineError("%s is absent and debootstrap is not installed" % BASE_IMAGE)
        started = time.monotonic()
        root = os.path.join(self.state, "rootfs.tmp")
        shutil.rmtree(root, ignore_errors=True)
        r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", root, MIRROR],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=3600)
        if r.returncode != 0:
            raise EngineError("debootstrap failed: %s" % r.stdout[-3000:])
        with open(os.path.join(root, "etc/apt/sources.list"), "w") as f:
            f.write("deb %s bookworm main\ndeb %s bookworm-updates main\n"
                    "deb http://deb.debian.org/debian-security bookworm-security main\n" % (
                        MIRROR, MIRROR))
        # As Docker's own Debian images: no service starts during package installs.
        with open(os.path.join(root, "usr/sbin/policy-rc.d"), "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(os.path.join(root, "usr/sbin/policy-rc.d"), 0o755)
        subprocess.run(["find", os.path.join(root, "var/cache/apt/archives"), "-name", "*.deb",
                        "-delete"], check=True)
        shutil.rmtree(os.path.join(root, "var/lib/apt/lists"), ignore_errors=True)
        os.makedirs(os.path.join(root, "var/lib/apt/lists/partial"))
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run([self.cli, "import", "--change", 'CMD ["bash"]', "-",
                                   BASE_IMAGE], stdin=tar.stdout, env=self.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        tar.stdout.close()
        tar.wait()
        shutil.rmtree(root, ignore_errors=True)
        if imported.returncode != 0 or tar.returncode != 0:
            raise EngineError("docker import failed: %s" % imported.stderr)
        self.say("image %s made from Debian's archive in %.0f s" % (
            BASE_IMAGE, time.monotonic() - started))

    def images(self, haproxy=False):
        """The base image when absent, then the PostgreSQL image, HAProxy's when asked (the
        scale variant) and certline's (BuildKit's cache makes an unchanged Dockerfile or tree
        quick)."""
        self.base_image()
        here = os.path.join(SOURCE, "deploy", "containers")
        self.build(POSTGRES_IMAGE, os.path.join(here, "postgres.Dockerfile"), here)
        if haproxy:
            self.build(HAPROXY_IMAGE, os.path.join(here, "haproxy.Dockerfile"), here)
        self.build(CERTLINE_IMAGE, os.path.join(SOURCE, "deploy", "Dockerfile"), SOURCE)

    def image_sizes(self):
        return self.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}").stdout
