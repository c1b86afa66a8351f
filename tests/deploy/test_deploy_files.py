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

The scale variant (docker-compose.scale.yml through scale.env, and with the day's overlays) is
checked for its services, hardening, the formation's network, the instances' multi-host
conninfo, shared CA volumes and own CRL files, HAProxy in front of both (haproxy -c on its
configurations) and the endpoints of the comm-terminal and devices; its systemd template and
examples (deploy/systemd/scale, deploy/examples/scale) like the other units.

The checks live beside this file: deploy_compose.py (the container files), deploy_units.py
(systemd), deploy_scale.py (the scale variant), deploy_programs.py (the programs load their
configurations), deploy_common.py.

Usage: test_deploy_files.py BUILD_DIR [SOURCE_DIR]
"""
import os
import sys

from deploy_common import PROGRAMS, Checks, no_container_commands
from deploy_compose import check_compose, check_day_overlay, check_dockerfile, compose_config
from deploy_programs import program_checks
from deploy_scale import check_scale_compose, check_scale_files, check_scale_units
from deploy_units import check_units

HERE = os.path.dirname(os.path.abspath(__file__))


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
    check_scale_compose(c, source, doc)
    check_scale_files(c, source)
    check_dockerfile(c, source)
    check_units(c, source, sim)
    check_scale_units(c, source)
    program_checks(c, source, build)
    if c.failures:
        print("%d check(s) failed, %d passed" % (len(c.failures), c.passed))
        return 1
    print("deploy files: all %d checks passed" % c.passed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
