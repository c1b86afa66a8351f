"""Every example and container configuration is loaded by its own built program."""
import json
import os
import shutil
import subprocess
import tempfile

from deploy_common import PROGRAMS, run


def program_for_config(name):
    for program in PROGRAMS:
        if name == program + ".json" or name.startswith(program + "-"):
            return program
    return None


def program_checks(c, source, build):
    configs = []
    for folder in ("examples", "container", "examples/scale", "container/scale"):
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
