#!/usr/bin/python3
"""test_deploy_files.py: the deployment files in deploy/ describe the same topology, programs and
options as the no-container run (deploy/sim/certline_procs.py), and every file they name exists.

No container engine is needed (none runs here): the compose file is checked with Debian's
docker-compose ("docker-compose config", which must succeed; a missing docker-compose is a
failure, not a skip), and its resolved YAML is checked for
  - the topology: one postgres, one ca-server, one comm-terminal, one factory-terminal and one
    simulated device per line (1001-1003), the setup-pki one-shot (and the setup-factory one-shot);
  - each service's command: the program, "-c /etc/certline/<name>.json" before the subcommand,
    and the subcommand with its options exactly as the no-container run starts that program;
  - each configuration file the services mount: in the repository, valid JSON, the keys each
    program takes (compared with the key lists below), servers listening on 0.0.0.0, and every
    endpoint naming a service (or alias) on a shared network and the port that service listens on;
  - secrets only as docker secrets (files outside the repository tree git tracks), none in the
    environment; the Dockerfile (Debian 12, install-deps.sh, Release, non-root user).
The systemd units are checked for program, configuration path (an example in deploy/examples),
subcommand, hardening and writable paths, and with "systemd-analyze verify" when it exists (that
sub-check alone is skipped, saying so, when it does not).

Where the programs are built (BUILD_DIR/<program>/<program>), every example and container
configuration is loaded by the program itself:
  - "PROGRAM -c FILE SUBCOMMAND --help": the configuration is parsed with the program's strict
    table (unknown keys, types and ranges are refused) before the subcommand's help, and nothing
    the file names is opened; this works for every configuration as it is;
  - "PROGRAM -c COPY -n" for configurations with a "tls" section: -n also opens the TLS files (and
    ca-server's ca_dir), which do not exist here, so the copy has only its file paths pointed at a
    throwaway test PKI (tests/pki/make-test-pki.sh) and scratch folders; every other key and value
    is the file's own. The device agent's files are its images, made by mkimage from a model
    bundle (a CA and a database), so its configurations get the first check only.

Usage: test_deploy_files.py BUILD_DIR [SOURCE_DIR]
"""
import ast
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LINES = ("1001", "1002", "1003")
PROGRAMS = ("ca-server", "comm-terminal", "factory-terminal", "device-agent")

# ---- the configuration keys of each program (README.md and the programs' -h) ----

TLS = {"cert_file", "key_file", "trust_file"}
LISTEN = {"host", "port", "max_connections"}
ENDPOINT = {"endpoint", "server_name"}
LIMITS = {"connect_timeout_s", "recv_timeout_s", "send_timeout_s", "transfer_timeout_s",
          "max_message_bytes", "max_string_bytes", "max_list_items", "max_nesting"}
DATABASE = {"conninfo"}

# program: {key: (required in the example files, allowed keys of a nested object or None)}
KEYS = {
    "ca-server": {
        "ca_dir": (True, None), "organisation": (True, None), "passphrase_file": (True, None),
        "database": (True, DATABASE), "tls": (True, TLS), "listen": (True, LISTEN),
        "limits": (False, LIMITS), "workers": (True, None), "max_batch": (True, None),
        "device_validity_days": (True, None), "db_connections": (True, None),
        "issuing_ca_warn_days": (True, None), "crl_period_s": (True, None),
        "crl_validity_s": (True, None), "crl_file": (False, None),
        "pack_retention_hours": (False, None)},
    "comm-terminal": {
        "factory": (True, None), "database": (True, DATABASE), "tls": (True, TLS),
        "listen": (True, LISTEN), "limits": (False, LIMITS), "ca_server": (True, ENDPOINT),
        "fetch_time": (True, None), "fetch_chunk": (True, None), "claim_seconds": (True, None),
        "delete_written": (True, None), "report_interval_s": (True, None),
        "db_connections": (True, None), "stock_retention_days": (False, None),
        "events_file": (False, None), "crl_fetch_s": (False, None),
        "crl_max_bytes": (False, None),
        "crl_stale_policy": (False, None), "crl_missing_policy": (False, None),
        "plan_inbox": (False, None), "plan_inbox_poll_s": (False, None),
        "plan_inbox_max_files": (False, None), "plan_inbox_max_bytes": (False, None)},
    "factory-terminal": {
        "line_id": (True, None), "tls": (True, TLS), "comm_terminal": (True, ENDPOINT),
        "device_endpoint": (True, None), "listen": (True, LISTEN), "limits": (False, LIMITS),
        "write_result_timeout_s": (True, None), "events_file": (True, None),
        "crl_file": (False, None), "crl_fetch_s": (False, None),
        "crl_stale_policy": (False, None), "crl_missing_policy": (False, None)},
    "device-agent": {
        "flash_image": (True, None), "nvram_image": (True, None), "listen": (True, LISTEN),
        "line": (True, ENDPOINT), "ca_server": (True, ENDPOINT), "limits": (False, LIMITS),
        "crl_file": (False, None), "crl_ca_file": (False, None)},
}

# The client endpoints of each program's configuration: (key path, program it must reach).
ENDPOINTS = {
    "ca-server": [],
    "comm-terminal": [(("ca_server", "endpoint"), "ca-server")],
    "factory-terminal": [(("comm_terminal", "endpoint"), "comm-terminal"),
                         (("device_endpoint",), "device-agent")],
    "device-agent": [(("line", "endpoint"), "factory-terminal"),
                     (("ca_server", "endpoint"), "ca-server")],
}

# The examples of the templated systemd units: unit -> (example file, its instance).
UNIT_EXAMPLES = {
    "certline-factory-terminal@.service": ("factory-terminal-1001.json", "1001"),
    "certline-device-agent@.service": ("device-agent.json", "bench"),
}


class Checks:
    """Collects failures, so one run reports every problem."""

    def __init__(self):
        self.failures = []
        self.passed = 0

    def check(self, condition, what):
        if condition:
            self.passed += 1
        else:
            self.failures.append(what)
            print("FAIL: " + what)
        return condition


def run(argv, **kwargs):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=kwargs.pop("timeout", 120), **kwargs)


# ---- the no-container run: how deploy/sim/certline_procs.py starts each serving program ----

def no_container_commands(source):
    """{program: (subcommand, fixed options after it)} from the argv lists certline_procs.py
    gives subprocess.Popen ([self.binary, "-c", self.config, "-l", "debug", SUB, OPTS...])."""
    path = os.path.join(source, "deploy", "sim", "certline_procs.py")
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    programs = {"CaServer": "ca-server", "CommTerminal": "comm-terminal",
                "FactoryTerminal": "factory-terminal", "DeviceAgent": "device-agent"}
    found = {}
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef) or cls.name not in programs:
            continue
        for node in ast.walk(cls):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and
                    node.func.attr == "Popen" and node.args):
                continue
            argv = node.args[0]
            while isinstance(argv, ast.BinOp):  # [...] + list(extra)
                argv = argv.left
            if not isinstance(argv, ast.List):
                continue
            words = [e.value if isinstance(e, ast.Constant) else None for e in argv.elts]
            if len(words) < 4 or words[1] != "-c":
                continue
            rest = words[3:]
            while rest and rest[0] in ("-l", "-n"):
                rest = rest[2:] if rest[0] == "-l" else rest[1:]
            if rest and all(w is not None for w in rest):
                found[programs[cls.name]] = (rest[0], rest[1:])
    return found


def split_command(argv):
    """(program, config path, [options before the subcommand], subcommand, [after it])."""
    program = os.path.basename(argv[0]) if argv else ""
    config, options, i = None, [], 1
    while i < len(argv) and argv[i].startswith("-"):
        if argv[i] in ("-c", "-l") and i + 1 < len(argv):
            if argv[i] == "-c":
                config = argv[i + 1]
            options += argv[i:i + 2]
            i += 2
        else:
            options.append(argv[i])
            i += 1
    sub = argv[i] if i < len(argv) else None
    return program, config, options, sub, list(argv[i + 1:])


# ---- configuration files ----

def check_keys(c, program, config, where):
    table = KEYS[program]
    c.check(isinstance(config, dict), "%s: not a JSON object" % where)
    if not isinstance(config, dict):
        return
    unknown = set(config) - set(table)
    c.check(not unknown, "%s: keys %s are not %s keys" % (where, sorted(unknown), program))
    for key, (required, nested) in table.items():
        if key not in config:
            c.check(not required, "%s: no %s" % (where, key))
            continue
        if nested is not None:
            value = config[key]
            c.check(isinstance(value, dict) and set(value) <= nested,
                    "%s: %s must be an object with keys from %s" % (where, key, sorted(nested)))
            if key in ("tls", "database") or nested is ENDPOINT:
                c.check(isinstance(value, dict) and set(value) == nested,
                        "%s: %s needs exactly %s" % (where, key, sorted(nested)))
            if key == "listen":
                c.check(isinstance(value, dict) and {"host", "port"} <= set(value),
                        "%s: listen needs host and port" % where)


def endpoint_parts(url):
    m = re.fullmatch(r"https://([A-Za-z0-9.-]+):([0-9]+)(/[A-Za-z0-9/_-]*)", url or "")
    return (m.group(1), int(m.group(2)), m.group(3)) if m else None


def dig(config, path):
    for key in path:
        if not isinstance(config, dict) or key not in config:
            return None
        config = config[key]
    return config


def program_for_config(name):
    for program in PROGRAMS:
        if name == program + ".json" or name.startswith(program + "-"):
            return program
    return None


# ---- the compose file ----

def compose_config(c, source):
    exe = shutil.which("docker-compose")
    if not c.check(exe is not None,
                   "docker-compose is missing: install Debian's docker-compose package "
                   "(deploy/install-deps.sh lists it); this check is never skipped"):
        return None
    r = run([exe, "-f", os.path.join(source, "deploy", "docker-compose.yml"), "config"],
            cwd=source)
    if not c.check(r.returncode == 0, "docker-compose config failed (%d): %s" %
                   (r.returncode, r.stderr.strip())):
        return None
    print("docker-compose config: OK (%d lines)" % len(r.stdout.splitlines()))
    try:
        import yaml
    except ImportError:
        c.check(False, "python3-yaml is missing (deploy/install-deps.sh lists it)")
        return None
    return yaml.safe_load(r.stdout)


def check_day_overlay(c, source, doc):
    """deploy/containers/day.yml (make demo-containers) laid over the compose file: it loads,
    and keeps every service's hardening, networks and secrets."""
    exe = shutil.which("docker-compose")
    env = dict(os.environ, CERTLINE_DAY_PLANS="/nonexistent", CERTLINE_DAY_DATE="2026-11-21")
    r = run([exe, "-f", os.path.join(source, "deploy", "docker-compose.yml"), "-f",
             os.path.join(source, "deploy", "containers", "day.yml"), "config"], cwd=source,
            env=env)
    if not c.check(r.returncode == 0, "docker-compose config with containers/day.yml failed "
                   "(%d): %s" % (r.returncode, r.stderr.strip())):
        return
    import yaml
    day = yaml.safe_load(r.stdout).get("services") or {}

    def same(value):  # merging reorders lists and writes an empty network entry as {}
        if isinstance(value, dict):
            return sorted((k, same(v or None)) for k, v in value.items())
        if isinstance(value, list):
            return sorted(json.dumps(same(v), sort_keys=True) for v in value)
        return value
    c.check(set(day) == set(doc.get("services") or {}), "day.yml changes the services")
    for name, base in (doc.get("services") or {}).items():
        got = day.get(name, {})
        for key in ("read_only", "cap_drop", "cap_add", "security_opt", "networks", "secrets",
                    "user", "restart", "image", "stdin_open"):
            if key == "image" and name == "postgres":
                continue
            c.check(same(got.get(key)) == same(base.get(key)),
                    "day.yml changes %s of %s" % (key, name))
    print("docker-compose config with containers/day.yml: OK, hardening kept")


def service_aliases(name, service):
    """{network: set of names this service answers to on it}."""
    nets = service.get("networks") or {}
    if isinstance(nets, list):
        nets = {n: None for n in nets}
    return {net: {name} | set((spec or {}).get("aliases") or []) for net, spec in nets.items()}


def mounts(service):
    """[(source, target, read_only)] of a service's volumes (long or short syntax)."""
    out = []
    for v in service.get("volumes") or []:
        if isinstance(v, dict):
            out.append((v.get("source"), v.get("target"), bool(v.get("read_only"))))
        else:
            parts = v.split(":")
            out.append((parts[0], parts[1] if len(parts) > 1 else parts[0],
                        len(parts) > 2 and "ro" in parts[2].split(",")))
    return out


def under(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def check_compose(c, source, doc, sim):
    services = doc.get("services") or {}
    expected = {"postgres", "setup-pki", "setup-factory", "ca-server", "comm-terminal"}
    expected |= {"factory-terminal-" + line for line in LINES}
    expected |= {"device-" + line for line in LINES}
    c.check(set(services) == expected, "compose services are %s, expected %s" %
            (sorted(services), sorted(expected)))

    # postgres: the official image, a named volume for its data, a health check.
    pg = services.get("postgres", {})
    c.check(str(pg.get("image", "")).startswith("postgres:"), "postgres: not a postgres image")
    c.check(any(t == "/var/lib/postgresql/data" and not s.startswith("/")
                for s, t, _ in mounts(pg)), "postgres: its data is not on a named volume")
    c.check("healthcheck" in pg, "postgres: no health check")

    # Which program each service runs, and how.
    serving = {p: [] for p in PROGRAMS}
    configs = {}  # service -> (program, repo path of its configuration, parsed JSON)
    for name, service in services.items():
        if name == "postgres":
            continue
        argv = service.get("command") or []
        c.check(isinstance(argv, list) and argv, "%s: command must be a list" % name)
        if not isinstance(argv, list) or not argv:
            continue
        # Built once beforehand with BuildKit (which honours Dockerfile.dockerignore), never
        # per service by compose's classic builder.
        c.check(str(service.get("image", "")).startswith("certline") and "build" not in service,
                "%s: not the certline image built once from deploy/Dockerfile" % name)
        user = str(service.get("user", ""))
        if name == "setup-pki":
            c.check(service.get("restart") == "no", "setup-pki: must be a one-shot (restart: no)")
            c.check(argv == ["/usr/local/lib/certline/setup-pki.sh"],
                    "setup-pki: runs %r, expected /usr/local/lib/certline/setup-pki.sh" % argv)
            continue
        c.check(user in ("", "certline", "10001", "10001:10001"),
                "%s: runs as %r, not the image's certline user" % (name, user))
        if name == "setup-factory":
            c.check(service.get("restart") == "no", "setup-factory: must be a one-shot")
            c.check(argv == ["/usr/local/lib/certline/setup-factory.sh"],
                    "setup-factory: runs %r" % argv)
            continue
        program, config, options, sub, rest = split_command(argv)
        c.check(program in PROGRAMS, "%s: runs %r, not a certline program" % (name, program))
        if program not in PROGRAMS:
            continue
        serving[program].append(name)
        c.check(argv[1:3] == ["-c", config] and options == ["-c", config],
                "%s: %r: options must be exactly -c FILE, before the subcommand" % (name, argv))
        want = sim.get(program)
        c.check(want is not None and (sub, rest) == (want[0], list(want[1])),
                "%s: runs %s %s %s; the no-container run uses %s" %
                (name, program, sub, " ".join(rest), want))
        c.check(service.get("restart") in ("unless-stopped", "always"),
                "%s: a server must be restarted" % name)
        c.check("healthcheck" in service, "%s: no health check" % name)
        # The configuration: a file of this repository mounted read-only at the -c path.
        match = [(s, ro) for s, t, ro in mounts(service) if t == config]
        if not c.check(len(match) == 1 and match[0][1],
                       "%s: %s is not mounted read-only from the repository" % (name, config)):
            continue
        path = match[0][0]
        c.check(under(path, os.path.join(source, "deploy")) and os.path.isfile(path),
                "%s: configuration %s is not a file in deploy/" % (name, path))
        if not os.path.isfile(path):
            continue
        try:
            with open(path) as f:
                parsed = json.load(f)
        except ValueError as e:
            c.check(False, "%s: %s is not valid JSON: %s" % (name, path, e))
            continue
        check_keys(c, program, parsed, os.path.relpath(path, source))
        configs[name] = (program, path, parsed)

    c.check(len(serving["ca-server"]) == 1, "one ca-server service: %s" % serving["ca-server"])
    c.check(len(serving["comm-terminal"]) == 1,
            "one comm-terminal service: %s" % serving["comm-terminal"])
    for line in LINES:
        c.check("factory-terminal-" + line in serving["factory-terminal"],
                "no factory-terminal service for line %s" % line)
        c.check("device-" + line in serving["device-agent"],
                "no simulated device for line %s" % line)
    c.check(len(serving["factory-terminal"]) == len(LINES) and
            len(serving["device-agent"]) == len(LINES), "one terminal and one device per line")
    for line in LINES:
        ft = services.get("factory-terminal-" + line, {})
        c.check(ft.get("stdin_open") is True,
                "factory-terminal-%s: scans come on standard input (stdin_open: true)" % line)
        got = configs.get("factory-terminal-" + line)
        if got:
            c.check(got[2].get("line_id") == line,
                    "factory-terminal-%s: line_id is %r" % (line, got[2].get("line_id")))

    # One-shots before the servers that need what they make.
    order = {"setup-pki": ("postgres", "service_healthy"),
             "ca-server": ("setup-pki", "service_completed_successfully"),
             "setup-factory": ("ca-server", "service_healthy"),
             "comm-terminal": ("setup-factory", "service_completed_successfully")}
    for line in LINES:
        order["factory-terminal-" + line] = ("setup-pki", "service_completed_successfully")
        order["device-" + line] = ("setup-pki", "service_completed_successfully")
    for name, (dep, condition) in order.items():
        deps = services.get(name, {}).get("depends_on") or {}
        c.check(isinstance(deps, dict) and (deps.get(dep) or {}).get("condition") == condition,
                "%s: must depend on %s with condition %s" % (name, dep, condition))

    check_wiring(c, services, configs)
    check_secrets(c, source, doc, services, configs)
    check_scripts(c, source, services)


def check_wiring(c, services, configs):
    """Servers listen on 0.0.0.0; every endpoint names a service on a shared network, and the
    port that service's configuration listens on; files are on the service's volumes."""
    by_program = {}
    for name, (program, _, _) in configs.items():
        by_program.setdefault(program, []).append(name)
    for name, (program, path, config) in configs.items():
        where = "%s (%s)" % (name, os.path.basename(path))
        c.check(dig(config, ("listen", "host")) == "0.0.0.0",
                "%s: a container must listen on 0.0.0.0, not %r" %
                (where, dig(config, ("listen", "host"))))
        mine = service_aliases(name, services[name])
        for key_path, target_program in ENDPOINTS[program]:
            url = dig(config, key_path)
            parts = endpoint_parts(url)
            if not c.check(parts is not None, "%s: %s = %r is not https://HOST:PORT/PATH" %
                           (where, ".".join(key_path), url)):
                continue
            host, port, _ = parts
            peers = [s for s in by_program.get(target_program, [])
                     if any(host in names and net in mine
                            for net, names in service_aliases(s, services[s]).items())]
            if not c.check(len(peers) == 1, "%s: %s host %s is no %s service on a shared network"
                           % (where, ".".join(key_path), host, target_program)):
                continue
            peer_config = configs[peers[0]][2]
            c.check(dig(peer_config, ("listen", "port")) == port,
                    "%s: %s port %d, but %s listens on %r" % (where, ".".join(key_path), port,
                                                             peers[0],
                                                             dig(peer_config, ("listen", "port"))))
            server_name = dig(config, key_path[:-1] + ("server_name",)) if len(key_path) > 1 \
                else None
            if server_name is not None:
                c.check(server_name == host, "%s: server_name %s differs from the endpoint host %s"
                        % (where, server_name, host))
        # Every file the configuration names is on one of the service's volumes (or a secret).
        targets = [t for _, t, _ in mounts(services[name])]
        for key_path in (("tls", "cert_file"), ("tls", "key_file"), ("tls", "trust_file"),
                         ("ca_dir",), ("passphrase_file",), ("events_file",),
                         ("flash_image",), ("nvram_image",)):
            value = dig(config, key_path)
            if value is None or value.startswith("/run/secrets/"):
                continue
            c.check(any(under(value, t) and t != "/etc/certline/" + os.path.basename(path)
                        for t in targets),
                    "%s: %s %s is on none of its volumes" % (where, ".".join(key_path), value))


def check_secrets(c, source, doc, services, configs):
    secrets = doc.get("secrets") or {}
    secrets_dir = os.path.join(source, "deploy", "secrets")
    for key, spec in secrets.items():
        c.check(under(str(spec.get("file", "")), secrets_dir),
                "secret %s: %s is not in deploy/secrets" % (key, spec.get("file")))
    tracked = run(["git", "-C", source, "ls-files", "deploy/secrets"])
    c.check(tracked.returncode != 0 or not tracked.stdout.strip(),
            "files in deploy/secrets are tracked by git: %s" % tracked.stdout.split())
    for name, service in services.items():
        env = service.get("environment") or {}
        for var in env:
            c.check(not re.search(r"PASS|SECRET|KEY|TOKEN", var) or var.endswith("_FILE"),
                    "%s: environment variable %s looks like a secret; use a docker secret" %
                    (name, var))
        names = {s if isinstance(s, str) else s.get("source")
                 for s in service.get("secrets") or []}
        c.check(names <= set(secrets), "%s: unknown secrets %s" % (name, names - set(secrets)))
        texts = []
        if name in configs:
            config = configs[name][2]
            texts += [config.get("passphrase_file", ""),
                      dig(config, ("database", "conninfo")) or ""]
        for value in env.values():
            texts.append(str(value))
        for text in texts:
            for secret in re.findall(r"/run/secrets/([A-Za-z0-9_.-]+)", text):
                c.check(secret in names, "%s: uses /run/secrets/%s, not among its secrets"
                        % (name, secret))
    # ca-server and setup-pki need the CA passphrase; nothing else may have it.
    for name, service in services.items():
        names = {s if isinstance(s, str) else s.get("source")
                 for s in service.get("secrets") or []}
        c.check(("ca_passphrase" in names) == (name in ("ca-server", "setup-pki")),
                "%s: the CA passphrase must go to ca-server and setup-pki only" % name)


def check_scripts(c, source, services):
    """The container scripts exist, and setup-pki.sh runs the ca-server set-up commands."""
    for name, service in services.items():
        for word in (service.get("entrypoint") or []) + (service.get("command") or []):
            if str(word).startswith("/usr/local/lib/certline/"):
                script = os.path.join(source, "deploy", "container", os.path.basename(word))
                c.check(os.path.isfile(script) and os.access(script, os.X_OK),
                        "%s: %s is not an executable deploy/container/%s" %
                        (name, word, os.path.basename(word)))
        hc = (service.get("healthcheck") or {}).get("test") or []
        for word in hc:
            if str(word).startswith("/usr/local/lib/certline/"):
                c.check(os.path.isfile(os.path.join(source, "deploy", "container",
                                                    os.path.basename(word))),
                        "%s: health check %s missing in deploy/container" % (name, word))
    with open(os.path.join(source, "deploy", "container", "setup-pki.sh")) as f:
        text = f.read()
    for command in ("init", "issue-service", "model-add", "model-export"):
        c.check(re.search(r"\bca %s\b" % command, text) is not None,
                "setup-pki.sh does not run ca-server %s" % command)
    c.check('ca-server -c "$config"' in text, "setup-pki.sh: ca-server without -c CONFIG")
    for bash in ("setup-pki.sh", "setup-factory.sh", "device-entrypoint.sh", "listening.sh",
                 "make-secrets.sh", "postgres-init.sh", "jig.sh"):
        path = os.path.join(source, "deploy", "container", bash)
        r = run(["bash", "-n", path])
        c.check(r.returncode == 0, "%s: shell syntax: %s" % (bash, r.stderr.strip()))


def check_dockerfile(c, source):
    path = os.path.join(source, "deploy", "Dockerfile")
    with open(path) as f:
        text = f.read()
    lines = [line.strip() for line in text.splitlines() if line.strip() and
             not line.strip().startswith("#")]
    froms = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    c.check(froms and all(f in ("debian:bookworm", "debian:12") or
                          re.fullmatch(r"debian:(bookworm|12)[-.0-9a-z]*", f) for f in froms),
            "Dockerfile: every stage must be Debian 12, found %s" % froms)
    c.check("deploy/install-deps.sh" in text, "Dockerfile: does not run deploy/install-deps.sh")
    c.check("-DCMAKE_BUILD_TYPE=Release" in text, "Dockerfile: not a Release build")
    for program in PROGRAMS:
        c.check(re.search(r"/%s/%s\b" % (program, program), text) is not None,
                "Dockerfile: does not install %s" % program)
    c.check("/usr/local/bin/" in text, "Dockerfile: programs not in /usr/local/bin")
    users = [line.split()[1] for line in lines if line.upper().startswith("USER ")]
    c.check(users and users[-1] not in ("root", "0", "0:0"),
            "Dockerfile: the image must run as a non-root user, USER is %s" % users)
    c.check(not re.search(r"^\s*(ENV|ARG)\s+\S*(PASS|SECRET|KEY)", text, re.M | re.I),
            "Dockerfile: a secret in ENV or ARG")
    c.check("secrets" not in " ".join(l for l in lines if l.upper().startswith(("COPY", "ADD"))),
            "Dockerfile: copies secrets into the image")
    for script in re.findall(r"deploy/container/([A-Za-z0-9_.-]+)", text):
        c.check(os.path.isfile(os.path.join(source, "deploy", "container", script)),
                "Dockerfile: copies deploy/container/%s, which does not exist" % script)
    with open(os.path.join(source, "deploy", "install-deps.sh")) as f:
        c.check(re.search(r"\bdocker-compose\b", f.read()) is not None,
                "deploy/install-deps.sh does not install docker-compose")


# ---- systemd units ----

def parse_unit(path):
    """{(section, key): [values]} (keys may repeat)."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            out.setdefault((section, key.strip()), []).append(value.strip())
    return out


def check_units(c, source, sim):
    folder = os.path.join(source, "deploy", "systemd")
    units = sorted(f for f in os.listdir(folder) if f.endswith(".service"))
    c.check(set(units) == {"certline-ca-server.service", "certline-comm-terminal.service",
                           "certline-factory-terminal@.service",
                           "certline-device-agent@.service"},
            "systemd units are %s" % units)
    for unit in units:
        u = parse_unit(os.path.join(folder, unit))
        svc = lambda key: u.get(("Service", key), [])  # noqa: E731
        starts = svc("ExecStart")
        if not c.check(len(starts) == 1, "%s: needs one ExecStart" % unit):
            continue
        argv = starts[0].split()
        program, config, options, sub, rest = split_command(argv)
        c.check(argv[0] == "/usr/local/bin/" + program and program in PROGRAMS,
                "%s: runs %s, not /usr/local/bin/<certline program>" % (unit, argv[0]))
        c.check(options == ["-c", config] and config is not None and
                re.fullmatch(r"/etc/certline/%s(-%%i)?\.json" % re.escape(program), config),
                "%s: configuration %s is not /etc/certline/%s[-%%i].json" % (unit, config, program))
        c.check(("%i" in unit + (config or "")) == ("@" in unit),
                "%s: a template unit must use its instance in the configuration path" % unit)
        # The same subcommand as the no-container run; the terminal reads the serial scanner.
        want = sim.get(program)
        extra = list(rest)
        if program == "factory-terminal":
            tty = extra[extra.index("--tty") + 1:][:1] if "--tty" in extra else []
            c.check(tty == ["/dev/certline-scanner-%i"],
                    "%s: scans must come from --tty /dev/certline-scanner-%%i" % unit)
            if "--tty" in extra:
                i = extra.index("--tty")
                del extra[i:i + 2]
        c.check(want is not None and (sub, extra) == (want[0], list(want[1])),
                "%s: runs %s %s; the no-container run uses %s" % (unit, sub, rest, want))
        # The example of this unit's configuration, and its instance.
        example, instance = UNIT_EXAMPLES.get(unit, (os.path.basename(config or ""), None))
        example_path = os.path.join(source, "deploy", "examples", example)
        if not c.check(os.path.isfile(example_path), "%s: no example %s in deploy/examples" %
                       (unit, example)):
            continue
        if instance is not None:
            c.check(config.replace("%i", instance).endswith(example) or
                    config.replace("-%i", "").endswith(example),
                    "%s: example %s does not match %s" % (unit, example, config))
        with open(example_path) as f:
            try:
                parsed = json.load(f)
            except ValueError as e:
                c.check(False, "%s: %s is not valid JSON: %s" % (unit, example, e))
                continue
        check_keys(c, program, parsed, "deploy/examples/" + example)
        c.check(dig(parsed, ("listen", "host")) == "127.0.0.1",
                "deploy/examples/%s: an example listens on loopback" % example)
        # Hardening and the service user.
        for key, value in (("User", "certline"), ("NoNewPrivileges", "yes"),
                           ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                           ("ProtectHome", "yes"), ("CapabilityBoundingSet", "")):
            c.check(svc(key) == [value], "%s: needs %s=%s" % (unit, key, value))
        # What the program writes is writable: ca_dir, events_file's folder, the images.
        writable = [p for v in svc("ReadWritePaths") for p in v.split()]
        writable += ["/var/lib/" + p for v in svc("StateDirectory") for p in v.split()]
        writable = [w.replace("%i", instance or "") for w in writable]
        for key_path, folder_of in ((("ca_dir",), False), (("events_file",), True),
                                    (("flash_image",), True), (("nvram_image",), True)):
            value = dig(parsed, key_path)
            if value is None:
                continue
            target = os.path.dirname(value) if folder_of else value
            c.check(any(under(target, w) for w in writable),
                    "%s: %s %s is not writable (ReadWritePaths/StateDirectory: %s)" %
                    (unit, key_path[0], value, writable))
    verify_units(c, folder, units)


def verify_units(c, folder, units):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        print("SKIPPED: systemd-analyze verify (systemd-analyze is not installed)")
        return
    # verify checks that ExecStart's program exists, so it runs against a scratch root that holds
    # the system's unit folder, the units and stand-ins for the four programs.
    root = tempfile.mkdtemp(prefix="certline-units-")
    try:
        shutil.copytree("/usr/lib/systemd/system", os.path.join(root, "usr/lib/systemd/system"),
                        symlinks=True)
        os.makedirs(os.path.join(root, "usr/local/bin"))
        for program in PROGRAMS:
            path = os.path.join(root, "usr/local/bin", program)
            with open(path, "w") as f:
                f.write("#!/bin/sh\n")
            os.chmod(path, stat.S_IRWXU)
        units_dir = os.path.join(root, "etc/systemd/system")
        os.makedirs(units_dir)
        for unit in units:
            shutil.copy(os.path.join(folder, unit), units_dir)
            r = run([tool, "verify", "--root=" + root, os.path.join(units_dir, unit)])
            c.check(r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(),
                    "systemd-analyze verify %s: %d %s%s" % (unit, r.returncode, r.stdout,
                                                            r.stderr))
        print("systemd-analyze verify: %d units checked" % len(units))
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---- the programs load their own configurations ----

def program_checks(c, source, build):
    configs = []
    for folder in ("examples", "container"):
        d = os.path.join(source, "deploy", folder)
        configs += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".json")]
    subcommand = {"ca-server": "serve", "comm-terminal": "serve", "factory-terminal": "run",
                  "device-agent": "serve"}
    pki = None
    scratch = tempfile.mkdtemp(prefix="certline-deploy-test-")
    try:
        for path in configs:
            program = program_for_config(os.path.basename(path))
            rel = os.path.relpath(path, source)
            if not c.check(program is not None, "%s: names no certline program" % rel):
                continue
            binary = os.path.join(build, program, program)
            if not os.access(binary, os.X_OK):
                print("SKIPPED: %s loaded by %s (not built: %s)" % (rel, program, binary))
                continue
            # 1. The program's strict parse of the file as it is.
            r = run([binary, "-c", path, subcommand[program], "--help"],
                    stdin=subprocess.DEVNULL, timeout=30)
            c.check(r.returncode == 0, "%s -c %s %s --help: %d %s" %
                    (program, rel, subcommand[program], r.returncode, r.stderr.strip()))
            print("%s -c %s %s --help: configuration loaded" % (program, rel,
                                                                 subcommand[program]))
            with open(path) as f:
                config = json.load(f)
            if "tls" not in config:
                continue
            # 2. -n on a copy whose files exist: the test PKI and scratch folders.
            if pki is None:
                pki = os.path.join(scratch, "pki")
                r = run(["bash", os.path.join(source, "tests", "pki", "make-test-pki.sh"), pki])
                if not c.check(r.returncode == 0, "make-test-pki.sh: %s" % r.stderr):
                    return
            prefix = {"ca-server": "ca-server", "comm-terminal": "comm-terminal",
                      "factory-terminal": "factory-terminal-%s" % config.get("line_id")}[program]
            if not os.path.exists(os.path.join(pki, prefix + ".key")):
                print("SKIPPED: %s -n (the test PKI has no %s certificate)" % (rel, prefix))
                continue
            copy = json.loads(json.dumps(config))
            copy["tls"] = {"cert_file": os.path.join(pki, prefix + ".chain.crt"),
                           "key_file": os.path.join(pki, prefix + ".key"),
                           "trust_file": os.path.join(pki, "root.crt")}
            if "ca_dir" in copy:
                copy["ca_dir"] = os.path.join(scratch, "ca")
                os.makedirs(copy["ca_dir"], exist_ok=True)
            if "passphrase_file" in copy:
                copy["passphrase_file"] = os.path.join(scratch, "passphrase")
            if "events_file" in copy:
                copy["events_file"] = os.path.join(scratch, "events.jsonl")
            tmp = os.path.join(scratch, os.path.basename(path))
            with open(tmp, "w") as f:
                json.dump(copy, f)
            r = run([binary, "-c", tmp, "-n"], stdin=subprocess.DEVNULL, timeout=30)
            if c.check(r.returncode == 0 and "configuration OK" in r.stdout,
                       "%s -c (%s, files pointed at the test PKI) -n: %d %s" %
                       (program, rel, r.returncode, r.stderr.strip())):
                print("%s -c %s -n (files pointed at the test PKI): configuration OK" %
                      (program, rel))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: test_deploy_files.py BUILD_DIR [SOURCE_DIR]")
    build = os.path.abspath(sys.argv[1])
    source = os.path.abspath(sys.argv[2] if len(sys.argv) == 3 else
                             os.path.join(HERE, "..", ".."))
    c = Checks()
    sim = no_container_commands(source)
    c.check(set(sim) == set(PROGRAMS), "deploy/sim/certline_procs.py: found how it starts %s, "
            "expected all of %s" % (sorted(sim), list(PROGRAMS)))
    print("the no-container run: %s" % ", ".join(
        "%s %s" % (p, " ".join((s,) + tuple(o))) for p, (s, o) in sorted(sim.items())))
    doc = compose_config(c, source)
    if doc is not None:
        check_compose(c, source, doc, sim)
        check_day_overlay(c, source, doc)
    check_dockerfile(c, source)
    check_units(c, source, sim)
    program_checks(c, source, build)
    if c.failures:
        print("%d check(s) failed, %d passed" % (len(c.failures), c.passed))
        return 1
    print("deploy files: all %d checks passed" % c.passed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
