"""The systemd units in deploy/systemd: program, configuration, hardening, systemd-analyze."""
import json
import os
import re
import shutil
import stat
import tempfile

from deploy_common import PROGRAMS, check_keys, dig, run, split_command, under

# The examples of the templated systemd units: unit -> (example file, its instance).
UNIT_EXAMPLES = {
    "certline-factory-terminal@.service": ("factory-terminal-1001.json", "1001"),
    "certline-device-agent@.service": ("device-agent.json", "bench"),
}


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
