"""The scale variant's files: docker-compose.scale.yml over docker-compose.yml (with scale.env and
with the day's overlays), its configurations and HAProxy's, the formation's entry point, and the
systemd template and examples in deploy/systemd/scale and deploy/examples/scale."""
import json
import os
import re
import shutil

from deploy_common import check_keys, dig, run, split_command
from deploy_compose import endpoint_parts, mounts, service_aliases
from deploy_units import parse_unit, verify_units

NODES = ("postgres", "postgres-b")
INSTANCES = ("ca-server", "ca-server-b")
ADDED = {"pg-monitor", "postgres-b", "ca-server-b", "haproxy"}


def scale_config(c, source, env_file=True, extra=()):
    """docker-compose config of the scale variant: through scale.env (as an operator runs it)
    or with the files named, plus the overlays in extra; the parsed YAML or None."""
    import yaml
    exe = shutil.which("docker-compose")
    if exe is None:
        return None  # compose_config already failed for it
    deploy = os.path.join(source, "deploy")
    env = dict(os.environ, CERTLINE_DAY_PLANS="/nonexistent", CERTLINE_DAY_DATE="2026-11-21")
    for var in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME"):
        env.pop(var, None)
    argv = [exe, "--env-file", "scale.env"] if env_file else [
        exe, "-f", "docker-compose.yml", "-f", "docker-compose.scale.yml"]
    for name in extra:
        argv += ["-f", name]
    r = run(argv + ["config"], cwd=deploy, env=env)
    what = "docker-compose %s config" % " ".join(argv[1:])
    if not c.check(r.returncode == 0, "%s failed (%d): %s" % (what, r.returncode,
                                                              r.stderr.strip())):
        return None
    print("%s: OK" % what)
    return yaml.safe_load(r.stdout)


def conninfo_hosts(c, where, conninfo):
    """The hosts of a libpq multi-host conninfo; it must pick the server that takes writes."""
    words = dict(w.split("=", 1) for w in (conninfo or "").split() if "=" in w)
    c.check(words.get("target_session_attrs") == "read-write",
            "%s: the conninfo needs target_session_attrs=read-write" % where)
    hosts = words.get("host", "").split(",")
    c.check(len(hosts) >= 2 and len(words.get("port", "").split(",")) in (1, len(hosts)),
            "%s: the conninfo names %r, not the formation's nodes" % (where, hosts))
    return hosts


def load_config(c, source, service, path_in_container):
    """(repo path, parsed JSON) of the configuration mounted at path_in_container."""
    found = [s for s, t, ro in mounts(service) if t == path_in_container and ro]
    if not c.check(len(found) == 1 and found[0].startswith(os.path.join(source, "deploy")),
                   "%s is not mounted read-only from deploy/" % path_in_container):
        return None, None
    with open(found[0]) as f:
        return found[0], json.load(f)


def check_scale_compose(c, source, base):
    doc = scale_config(c, source)
    if doc is None or base is None:
        return
    services = doc.get("services") or {}
    c.check(set(services) == set(base.get("services") or {}) | ADDED,
            "the scale variant's services are %s" % sorted(services))
    # The hardening of every certline service, and HAProxy's.
    for name, service in services.items():
        if name in ("postgres", "postgres-b", "pg-monitor"):
            continue
        c.check(service.get("read_only") is True and service.get("cap_drop") == ["ALL"] and
                "no-new-privileges:true" in (service.get("security_opt") or []),
                "%s: read-only root, no capabilities, no new privileges" % name)
    # The formation: the monitor alone with the nodes on "formation", which is internal.
    c.check((doc.get("networks") or {}).get("formation", {}).get("internal") is True,
            "the network formation must be internal")
    on_formation = {n for n, s in services.items() if "formation" in service_aliases(n, s)}
    c.check(on_formation == {"pg-monitor"} | set(NODES),
            "only the monitor and the nodes are on formation: %s" % sorted(on_formation))
    for name in ("pg-monitor",) + NODES:
        argv = (services[name].get("entrypoint") or []) + (services[name].get("command") or [])
        c.check(argv[:2] == ["/usr/local/lib/certline/pg-formation.sh",
                             "monitor" if name == "pg-monitor" else "node"],
                "%s: runs %r" % (name, argv))
        alias = services[name]["environment"].get("CERTLINE_PG_HOSTNAME")
        c.check(alias in service_aliases(name, services[name]).get("formation", set()),
                "%s: CERTLINE_PG_HOSTNAME %s is not its name on formation" % (name, alias))
    # Two ca-server instances serving as the single topology's, each on the formation.
    crl_files = set()
    for name in INSTANCES:
        argv = services[name].get("command") or []
        program, config, _, sub, _ = split_command(argv)
        c.check((program, sub) == ("ca-server", "serve"), "%s: runs %r" % (name, argv))
        path, parsed = load_config(c, source, services[name], config)
        if parsed is None:
            continue
        check_keys(c, "ca-server", parsed, os.path.relpath(path, source))
        for host in conninfo_hosts(c, name, dig(parsed, ("database", "conninfo"))):
            c.check(host in NODES and "db" in service_aliases(name, services[name]) and
                    "db" in service_aliases(host, services[host]),
                    "%s: database host %s is no formation node on db" % (name, host))
        crl_files.add(parsed.get("crl_file"))
        c.check(bool(parsed.get("issuing_key_uri")), "%s: the issuing key is not in the token"
                % name)
        vols = {t: s for s, t, _ in mounts(services[name])}
        c.check(vols.get("/var/lib/certline-token") == "ca-token" and
                vols.get("/var/lib/certline") == "ca-state",
                "%s: the shared volumes ca-state and ca-token" % name)
    c.check(len(crl_files) == 2 and None not in crl_files,
            "each instance writes its own crl_file: %s" % crl_files)
    # HAProxy in front of both; the comm-terminal through it, the devices through the list.
    balancer = service_aliases("haproxy", services["haproxy"]).get("wan", set())
    cfg = os.path.join(source, "deploy", "container", "scale", "haproxy.cfg")
    with open(cfg) as f:
        servers = re.findall(r"^\s*server\s+\S+\s+([A-Za-z0-9.-]+):8443\b", f.read(), re.M)
    c.check(sorted(servers) == sorted(INSTANCES), "haproxy.cfg balances %s" % servers)
    for name in ("comm-terminal", "setup-factory"):
        path, parsed = load_config(c, source, services[name], "/etc/certline/comm-terminal.json")
        if parsed is None:
            continue
        check_keys(c, "comm-terminal", parsed, os.path.relpath(path, source))
        conninfo_hosts(c, name, dig(parsed, ("database", "conninfo")))
        parts = endpoint_parts(dig(parsed, ("ca_server", "endpoint")))
        c.check(parts is not None and parts[0] in balancer and parts[1] == 8443,
                "%s: ca_server.endpoint is not HAProxy (%s)" % (name, sorted(balancer)))
    for line in ("1001", "1002", "1003"):
        name = "device-" + line
        path, parsed = load_config(c, source, services[name],
                                   "/etc/certline/device-agent-%s.json" % line)
        if parsed is not None:
            check_keys(c, "device-agent", parsed, os.path.relpath(path, source))
            hosts = [(endpoint_parts(u) or ("",))[0]
                     for u in dig(parsed, ("ca_server", "endpoints")) or []]
            c.check(hosts == list(INSTANCES), "%s: check-in through %s" % (name, hosts))
    # The day's overlays load over it.
    scale_config(c, source, env_file=False, extra=("containers/day.yml",
                                                   "containers/scale-day.yml"))


def check_scale_files(c, source):
    """HAProxy's configurations are valid (haproxy -c); the entry point's shell syntax."""
    haproxy = shutil.which("haproxy")
    for rel in ("deploy/container/scale/haproxy.cfg", "deploy/examples/scale/haproxy.cfg"):
        if not c.check(haproxy is not None, "haproxy is missing (deploy/install-deps.sh)"):
            break
        r = run([haproxy, "-c", "-f", os.path.join(source, rel)])
        c.check(r.returncode == 0, "haproxy -c -f %s: %s%s" % (rel, r.stdout, r.stderr))
    script = os.path.join(source, "deploy", "container", "pg-formation.sh")
    r = run(["bash", "-n", script])
    c.check(r.returncode == 0 and os.access(script, os.X_OK),
            "pg-formation.sh: executable, shell syntax: %s" % r.stderr.strip())


def check_scale_units(c, source):
    """deploy/systemd/scale: the template of several ca-server instances on a host, with the
    examples of its instances; systemd-analyze verify."""
    folder = os.path.join(source, "deploy", "systemd", "scale")
    units = sorted(f for f in os.listdir(folder) if f.endswith(".service"))
    c.check(units == ["certline-ca-server@.service"], "deploy/systemd/scale units: %s" % units)
    examples = os.path.join(source, "deploy", "examples", "scale")
    for unit in units:
        u = parse_unit(os.path.join(folder, unit))
        argv = (u.get(("Service", "ExecStart")) or [""])[0].split()
        program, config, _, sub, _ = split_command(argv)
        c.check(argv[:1] == ["/usr/local/bin/ca-server"] and sub == "serve" and
                config == "/etc/certline/ca-server-%i.json", "%s: runs %r" % (unit, argv))
        for key, value in (("User", "certline"), ("NoNewPrivileges", "yes"),
                           ("ProtectSystem", "strict"), ("CapabilityBoundingSet", "")):
            c.check(u.get(("Service", key)) == [value], "%s: needs %s=%s" % (unit, key, value))
    ports, crl_files = set(), set()
    for instance in ("a", "b"):
        path = os.path.join(examples, "ca-server-%s.json" % instance)
        with open(path) as f:
            parsed = json.load(f)
        check_keys(c, "ca-server", parsed, os.path.relpath(path, source))
        conninfo_hosts(c, path, dig(parsed, ("database", "conninfo")))
        ports.add(dig(parsed, ("listen", "port")))
        crl_files.add(parsed.get("crl_file"))
    with open(os.path.join(examples, "haproxy.cfg")) as f:
        balanced = {int(p) for p in re.findall(r"^\s*server\s+\S+\s+127\.0\.0\.1:(\d+)", f.read(),
                                               re.M)}
    c.check(balanced == ports and len(ports) == 2,
            "examples/scale/haproxy.cfg balances %s, the instances listen on %s" % (balanced,
                                                                                   ports))
    c.check(len(crl_files) == 2 and None not in crl_files, "each instance its own crl_file")
    path = os.path.join(examples, "comm-terminal.json")
    with open(path) as f:
        parsed = json.load(f)
    check_keys(c, "comm-terminal", parsed, os.path.relpath(path, source))
    conninfo_hosts(c, path, dig(parsed, ("database", "conninfo")))
    verify_units(c, folder, units)
