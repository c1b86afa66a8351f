#!/usr/bin/python3
"""test_compose_day.py: the container day (deploy/containers/compose_day.py, make
demo-containers) end to end, checked from outside the containers:

- a container engine answers or starts (Debian's docker.io); when none can, the test FAILS with
  the reason (never a skip);
- the day: three lines, forced write NGs with replacement and re-scan, an idle gap on every line
  past the timeouts, a factory terminal killed between two devices and restarted by the engine's
  restart policy, ca-server stopped during production and started again; its CRL verifies and
  the comm-terminal holds it;
- each device's certificate read from its flash image in its jig's volume (on this host), the
  key in it matching, `openssl verify` against the root in ca-server's volume, CN and
  serialNumber its device number; SQL on both databases (through psql in the postgres
  container): one valid certificate per number, every written device with its flag, its pack
  deleted and a receipt that verifies; every check-in says installed (the same checks as
  tests/e2e/test_factory_day.py, imported from it);
- the issuing CA's key is in the SoftHSM2 token of ca-server's container (issue 15): OpenSC's
  pkcs11-tool, run in the container with the PIN of its docker secret, lists it sensitive and never
  extractable and cannot read it out; the serving ca-server has the token's module loaded
  (/proc/PID/maps on this host); ca_dir holds no issuing.key.enc;
- at the end no container, network or volume of the day is left, the engine started here is
  stopped, and the host has no iptables rule or link it did not have before.

Usage: test_compose_day.py SOURCE_DIR   (base images cached in $CERTLINE_CONTAINERS_STATE,
default /var/cache/certline-containers)
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "containers"))

from certline_procs import Failure, check  # noqa: E402
from compose_day import PROJECT, ContainerDay  # noqa: E402
from engine import STATE, Engine, EngineError  # noqa: E402
from test_factory_day import (rows, verify_certificates, verify_check_ins,  # noqa: E402
                              verify_flags_and_receipts)


def verify_day_events(day):
    failed = rows(day, "ct", "SELECT count(*) FROM failed_pack")
    check(int(failed[0][0]) >= 1, "no forced write failure happened")
    killed = day.terminals[day.line_ids[-1]]
    restarts = int(day.compose.inspect(killed.service, "{{.RestartCount}}"))
    check(restarts == 1, "%s: restarted %d times by the engine" % (killed.service, restarts))
    check(killed.log().count("listening on") == 2,
          "the killed factory terminal did not start twice")
    check(day.ca.log().count("listening on") == 2, "ca-server was not stopped and started")
    scanned = sum(run.scanned for run in day.runs.values())
    check(scanned > len(day.devices), "no device was scanned twice (%d scans)" % scanned)


def verify_crl(day):
    """ca-server published a CRL (ca_dir/crl.pem in its volume) that verifies against the CA,
    and the comm-terminal fetched it into its database."""
    ca_dir = day.ca.ca_dir
    chain = os.path.join(day.work, "ca-chain.pem")
    with open(chain, "w") as f:
        for name in ("issuing.crt", "root.crt"):
            f.write(open(os.path.join(ca_dir, name)).read())
    r = subprocess.run(["openssl", "crl", "-in", os.path.join(ca_dir, "crl.pem"), "-CAfile",
                        chain, "-noout", "-crlnumber"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    check(r.returncode == 0 and "verify OK" in r.stdout, "ca-server's CRL: %s" % r.stdout)
    number = int(r.stdout.split("crlNumber=")[1].split()[0], 16)
    held = rows(day, "ct", "SELECT number FROM crl")
    check(len(held) == 1 and int(held[0][0]) >= 1,
          "the comm-terminal holds CRLs %r (ca-server's is number %d)" % (held, number))


MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def verify_issuing_token(day, service="ca-server"):
    """The issuing key lives in the token of service's container, and only there."""
    def tool(*args):
        r = day.compose.exec(service, "sh", "-c", 'PIN=$(head -n 1 /run/secrets/token_pin) exec '
                             'pkcs11-tool --module %s --token-label certline-issuing --login '
                             '--pin env:PIN "$@"' % MODULE, "pkcs11-tool", *args)
        return r.returncode, r.stdout + r.stderr
    code, out = tool("--list-objects", "--type", "privkey")
    check(code == 0 and out.count("label:      issuing-ca") == 1,
          "pkcs11-tool --list-objects finds no single issuing-ca key in the token: %s" % out)
    check("Access:     sensitive, always sensitive, never extractable" in out,
          "the issuing key's access in the token: %s" % out)
    check("Private Key Object; EC" in out and "Usage:      sign\n" in out,
          "a P-256 key that only signs: %s" % out)
    print("pkcs11-tool --list-objects --type privkey in %s:\n%s" % (service, out.strip()))
    # As tests/ca-server/test_ca_token.py: pkcs11-tool 0.23 declines (exit 0, "not (yet)
    # supported"), newer ones meet CKR_ATTRIBUTE_SENSITIVE; either way nothing comes out.
    code, out = tool("--read-object", "--type", "privkey", "--label", "issuing-ca",
                     "--output-file", "/tmp/stolen.der")
    refusal = out.strip()
    check(code != 0 or "not (yet) supported" in refusal or "SENSITIVE" in refusal,
          "pkcs11-tool read the issuing key out of the token: %s" % refusal[:200])
    stolen = day.compose.exec(service, "test", "-s", "/tmp/stolen.der")
    check(stolen.returncode != 0, "pkcs11-tool wrote the issuing key to a file")
    print("pkcs11-tool --read-object --type privkey: nothing read (%s)" % refusal[-120:])
    check(not os.path.exists(os.path.join(day.ca.ca_dir, "issuing.key.enc")),
          "ca_dir holds issuing.key.enc")
    check(os.path.exists(os.path.join(day.ca.ca_dir, "issuing.crt")), "ca_dir has no issuing.crt")
    pids = day.compose.processes(service, "ca-server")
    check(len(pids) == 1, "%s: ca-server processes under its init: %r" % (service, pids))
    with open("/proc/%d/maps" % pids[0]) as f:
        check("libsofthsm2.so" in f.read(), "the serving ca-server has not loaded %s" % MODULE)


def leftovers(engine, project=PROJECT):
    """The day's containers, networks and volumes still known to the engine."""
    left = []
    for kind in ("ps", "network", "volume"):
        argv = ["ps", "-a"] if kind == "ps" else [kind, "ls"]
        r = engine.docker(*argv, "-q", "--filter", "label=com.docker.compose.project=" + project,
                          check=False)
        left += ["%s %s" % (kind, x) for x in r.stdout.split()]
    return left


def print_what_went_wrong(day, work, most=80):
    """On a failure, what CI's log must show (the work folder stays on the machine): every NG
    the lines saw with its reason, and the services' errors and warnings (the last `most`)."""
    for run in (day.runs.values() if day is not None else ()):
        for number, result, why in run.devices:
            if result != "OK":
                print("line %s: %s %s: %s" % (run.line_id, number, result, why))
    try:
        with open(os.path.join(work, "services.log"), errors="replace") as f:
            lines = [x.rstrip() for x in f if re.search(r"ERROR|FATAL|error|warn|refused", x)]
    except OSError:
        return
    for line in lines[-most:]:
        print("services.log: " + line[:300])


def run_checked(make_day, steps, project, prefix, closing=None):
    """Starts the engine, runs the day make_day(engine, work) makes, then each check of steps
    and closing(day); at the end removes the day (down -v) and stops the engine, and fails on
    anything either left. The exit status: 0 when all passed."""
    engine = Engine(STATE, say=lambda text: print(text, flush=True))
    try:
        engine.start()
    except EngineError as e:
        print("FAIL no container engine could start: %s" % e)
        return 1
    work = tempfile.mkdtemp(prefix=prefix)
    day = None
    ok = False
    try:
        day = make_day(engine, work)
        summary = day.run()
        print("day: %s" % json.dumps(summary["lines"]))
        print("times: %s" % json.dumps(summary["containers"]["seconds"]))
        for step in steps:
            step(day)
            print("ok   %s" % step.__name__, flush=True)
        print("ok   %d devices, %d certificates verified with openssl, %d receipts" % (
            len(day.devices), len(day.devices), summary["receipts_held"]))
        if closing is not None:
            closing(day)
        print(engine.image_sizes().rstrip())
        ok = True
    except (Failure, EngineError) as e:
        print("FAIL", e)
    finally:
        try:
            if day is not None:
                day.stop()
                left = leftovers(engine, project)
                if left:
                    print("FAIL left after down -v: %s" % left)
                    ok = False
        finally:
            engine.stop()
        for item in engine.leftovers():
            print("FAIL left on the host after the engine stopped: %s" % item)
            ok = False
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print_what_went_wrong(day, work)
            print("work folder kept: %s (engine log: %s/dockerd.log)" % (work, engine.state))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    return run_checked(
        lambda engine, work: ContainerDay(engine, devices_per_line=4, fail_share=0.34,
                                          seed=20261121, work=work),
        (verify_day_events, verify_issuing_token, verify_crl, verify_certificates,
         verify_flags_and_receipts, verify_check_ins), PROJECT, "certline-compose-day-")


if __name__ == "__main__":
    sys.exit(main())
