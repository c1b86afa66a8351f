"""The container files: docker-compose.yml, its day overlay, the container scripts, Dockerfile."""
import json
import os
import re
import shutil

from deploy_common import LINES, PROGRAMS, check_keys, dig, run, split_command, under

# The client endpoints of each program's configuration: (key path, program it must reach).
ENDPOINTS = {
    "ca-server": [],
    "comm-terminal": [(("ca_server", "endpoint"), "ca-server")],
    "factory-terminal": [(("comm_terminal", "endpoint"), "comm-terminal"),
                         (("device_endpoint",), "device-agent")],
    "device-agent": [(("line", "endpoint"), "factory-terminal"),
                     (("ca_server", "endpoint"), "ca-server")],
}


def endpoint_parts(url):
    m = re.fullmatch(r"https://([A-Za-z0-9.-]+):([0-9]+)(/[A-Za-z0-9/_-]*)", url or "")
    return (m.group(1), int(m.group(2)), m.group(3)) if m else None


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
        # The hardening every certline container keeps: a read-only root, no capabilities
        # (setup-pki adds back only what hands the volumes over), no new privileges.
        c.check(service.get("read_only") is True, "%s: its root must be read-only" % name)
        c.check(service.get("cap_drop") == ["ALL"], "%s: must drop every capability" % name)
        c.check("no-new-privileges:true" in (service.get("security_opt") or []),
                "%s: needs no-new-privileges:true" % name)
        c.check(set(service.get("cap_add") or []) <=
                ({"CHOWN", "FOWNER", "SETUID", "SETGID"} if name == "setup-pki" else set()),
                "%s: adds capabilities %s" % (name, service.get("cap_add")))
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
