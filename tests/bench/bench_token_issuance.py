#!/usr/bin/python3
"""bench_token_issuance.py: issue 15 -- packs/s with device keys born in a PKCS#11 token
(SoftHSM2, ca-server's device_key_token: key pair generated in the token, wrapped out under the
pre-write key, pack version 2) against file-key mode (key made in software, pack version 1).

Times `ca-server batch` (offline issuance: intent and completion commits in PostgreSQL, the
packs written to a file) for N P-256 devices with 1 and 2 workers in each mode, on one machine
in one run, and prints a table; writes OUT_DIR/bench-token-issuance.json. The issuing CA key is
in its passphrase file in both modes (its own token mode is issue 15 part 1).

Run it on a Release build (no sanitizers), see tests/bench/README.md.

Usage: bench_token_issuance.py CA_SERVER OUT_DIR [--devices N]
"""
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "sim"))
sys.path.insert(0, os.path.join(HERE, "..", "ca-server"))

import pg_private  # noqa: E402
from certline_harness import CaServer, check  # noqa: E402
from test_prewrite_rotation import softhsm_token  # noqa: E402

WORKERS = (1, 2)


def run_mode(binary, cluster, work, token, devices):
    """{workers: packs/s} for one mode, each on a fresh database and CA."""
    figures = {}
    for workers in WORKERS:
        name = "%s-%d" % ("token" if token else "file", workers)
        folder = os.path.join(work, name)
        os.makedirs(folder)
        ca = CaServer(binary, folder, cluster.create_db(name.replace("-", "_")))
        extra = {"workers": workers, "max_batch": 1000}
        if token:
            extra["device_key_token"] = softhsm_token(folder)
        ca.write_config(ca.conninfo, **extra)
        ca.run("init")
        ca.run("model-add", "3012")
        ca.run("batch", "--out", os.path.join(folder, "warm.json"), "--request-id", "warm",
               *["3012-%09d" % i for i in range(1, 21)])  # not timed: tables, token, caches
        numbers = os.path.join(folder, "numbers.txt")
        with open(numbers, "w") as f:
            f.write("".join("3012-%09d\n" % i for i in range(100, 100 + devices)))
        out = os.path.join(folder, "packs.json")
        started = time.monotonic()
        ca.run("batch", "--out", out, "--request-id", "bench", "--file", numbers)
        seconds = time.monotonic() - started
        with open(out) as f:
            items = json.load(f)["items"]
        check(len(items) == devices, "%d packs" % len(items))
        check(json.loads(items[0]["pack"])["version"] == (2 if token else 1), "pack version")
        figures[workers] = devices / seconds
        print("  %-6s workers=%d devices=%d seconds=%.2f packs/s=%.0f" % (
            "token" if token else "file", workers, devices, seconds, figures[workers]),
            flush=True)
    return figures


def main():
    args = sys.argv[1:]
    devices = 1000
    if "--devices" in args:
        i = args.index("--devices")
        devices = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    binary, out_dir = args
    os.makedirs(out_dir, exist_ok=True)
    cluster = pg_private.PrivateCluster()
    work = tempfile.mkdtemp(prefix="certline-bench-token-")
    try:
        cluster.start()
        result = {"devices": devices,
                  "file": run_mode(binary, cluster, work, False, devices),
                  "token": run_mode(binary, cluster, work, True, devices)}
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("packs/s, %d P-256 devices, ca-server batch (PostgreSQL commits included):" % devices)
    print("  %-28s %10s %10s" % ("", "1 worker", "2 workers"))
    for mode, label in (("file", "file keys (pack v1)"), ("token", "SoftHSM2 keys (pack v2)")):
        print("  %-28s %10.0f %10.0f" % (label, result[mode][1], result[mode][2]))
    print("  token / file: %.2f (1 worker), %.2f (2 workers)" % (
        result["token"][1] / result["file"][1], result["token"][2] / result["file"][2]))
    with open(os.path.join(out_dir, "bench-token-issuance.json"), "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
