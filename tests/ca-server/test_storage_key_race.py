#!/usr/bin/python3
"""test_storage_key_race.py: token mode's one storage key when model commands run at once.

The real ca-server (model-add, model-export, batch, model-rotate) on a private PostgreSQL and a
private SoftHSM2 token, checked from outside with pkcs11-tool:
  - several model-add of different models started at the same moment on a fresh token (held at a
    gate, a lock the test holds on the device_model table, and let go together, round after round)
    all succeed, leave exactly one key "certline-prewrite-storage" in the token (with a CKA_ID),
    and every model's pre-write key unwraps: its bundle exports and a pack sealed for it opens
    under the bundle's key;
  - a token that already holds two storage keys (as made by such a race before the model lock) is
    refused by model-add, model-export and batch with the problem and the way out named, model-add
    leaving nothing behind; README's way out (pkcs11-tool deletes all but one, a model whose key
    went with it is rotated) brings the CA back to sealing packs for every model.

Usage: test_storage_key_race.py CA_SERVER
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from certline_harness import CaServer, Failure, check, open_pack_v2, run_scenario  # noqa: E402

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "4321-test-pin"
STORAGE = "certline-prewrite-storage"
ROUNDS = 8  # without the model lock about every other round fails (SoftHSM2, 2 busy cores)
APART_ROUNDS = 2
WRITERS = 6


class Scenario:
    def __init__(self, binary, work, cluster):
        self.binary = binary
        self.work = work
        self.cluster = cluster
        self.dbname = "ca"
        self.ca = CaServer(binary, work, cluster.create_db(self.dbname))
        self.hsm = tempfile.mkdtemp(prefix="certline-softhsm-", dir=work)
        os.makedirs(os.path.join(self.hsm, "tokens"))
        with open(os.path.join(self.hsm, "softhsm2.conf"), "w") as f:
            f.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n" % self.hsm)
        os.environ["SOFTHSM2_CONF"] = os.path.join(self.hsm, "softhsm2.conf")
        self.pin_file = os.path.join(self.hsm, "user.pin")
        with open(os.open(self.pin_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(PIN + "\n")
        self.label = None
        self.other = None  # a CA of another database on the same token (outside_lock_rounds)

    def use_token(self, label):
        """A fresh token for ca-server's device_key_token."""
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label,
                        "--so-pin", "12345678", "--pin", PIN], check=True,
                       stdout=subprocess.DEVNULL)
        self.label = label
        for ca in (self.ca, self.other):
            if ca is not None:
                ca.write_config(ca.conninfo, device_key_token=(
                    "pkcs11:token=%s?module-path=%s&pin-source=file:%s" % (label, SOFTHSM,
                                                                           self.pin_file)))

    def pkcs11_tool(self, *args):
        r = subprocess.run(["pkcs11-tool", "--module", SOFTHSM, "--token-label", self.label,
                            "--login", "--pin", PIN] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        check(r.returncode == 0, "pkcs11-tool %s: %s" % (" ".join(args), r.stdout))
        return r.stdout

    def storage_keys(self):
        """The CKA_IDs ("" for none) of the token's secret keys labelled STORAGE, as pkcs11-tool
        lists them."""
        ids = []
        for block in self.pkcs11_tool("--list-objects", "--type", "secrkey").split("Object;"):
            if re.search(r"^\s*label:\s*%s\s*$" % STORAGE, block, re.M):
                m = re.search(r"^\s*ID:\s*([0-9a-f]+)\s*$", block, re.M)
                ids.append(m.group(1) if m else "")
        return ids

    def add_at_once(self, jobs):
        """model-add of every (CaServer, database, code) of jobs, held at a gate in each database
        until all have reached it and let go together; returns {code: (exit code, stdout,
        stderr)}."""
        gates, procs = {}, {}
        try:
            for dbname in sorted({dbname for _, dbname, _ in jobs}):
                gates[dbname] = subprocess.Popen(
                    ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                     self.cluster.conninfo(dbname)], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                gates[dbname].stdin.write("BEGIN; LOCK TABLE device_model IN ACCESS EXCLUSIVE"
                                          " MODE; SELECT 'gate closed';\n")
                gates[dbname].stdin.flush()
                check(gates[dbname].stdout.readline().strip() == "gate closed",
                      "the gate did not close")
            for ca, _, code in jobs:
                procs[code] = subprocess.Popen([self.binary, "-c", ca.config, "model-add", code],
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                               text=True)
            # Every process is at a gate: waiting for the table, or (with the model lock) for
            # the lock that the one at the table holds.
            deadline = time.time() + 120
            while True:
                waiting = sum(int(self.cluster.psql(dbname, (
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND query NOT LIKE 'BEGIN; LOCK TABLE%%'"
                    " AND (wait_event_type = 'Lock' OR query LIKE '%%pg_try_advisory_lock%%')"
                )).strip()) for dbname in gates)
                if waiting == len(jobs):
                    break
                check(time.time() < deadline and all(p.poll() is None for p in procs.values()),
                      "model-add did not reach the gate (%d of %d)" % (waiting, len(jobs)))
                time.sleep(0.05)
            for gate in gates.values():
                gate.stdin.write("COMMIT;\n")
                gate.stdin.flush()
            for gate in gates.values():
                gate.stdin.close()
                gate.wait(timeout=30)
            results = {}
            for code, p in procs.items():
                out, err = p.communicate(timeout=300)
                results[code] = (p.returncode, out, err)
            return results
        finally:
            for p in list(procs.values()) + list(gates.values()):
                if p.poll() is None:
                    p.kill()
                    p.wait()

    def bundle_key(self, code, ca=None):
        """The model's current pre-write key, from the firmware bundle model-export writes (the key
        unwrapped under the storage key)."""
        path = os.path.join(self.work, "%s-%d.bundle" % (code, time.monotonic_ns()))
        (ca or self.ca).run("model-export", code, "--out", path)
        with open(path) as f:
            bundle = json.load(f)
        return bundle["key_id"], base64.b64decode(bundle["prewrite_key"])

    def seal_and_open(self, request_id, codes):
        """One batch with a number of every model: each pack opens under its model's key."""
        keys = {code: self.bundle_key(code) for code in codes}
        numbers = ["%s-000001" % code for code in codes]
        out = os.path.join(self.work, request_id + ".json")
        self.ca.run("batch", "--out", out, "--request-id", request_id, *numbers)
        with open(out) as f:
            items = json.load(f)["items"]
        check(len(items) == len(codes), "batch: %d packs for %d numbers" % (len(items),
                                                                             len(codes)))
        for item in items:
            code = item["device_number"].split("-")[0]
            key_id, value = keys[code]
            check(json.loads(item["pack"])["key_id"] == key_id, "pack of %s under another key" %
                  code)
            open_pack_v2(item["pack"], value)  # raises if the key does not open it

    def race_rounds(self):
        made_ids = []
        for r in range(ROUNDS):
            self.use_token("certline-race-%d" % r)
            codes = ["R%dM%d" % (r, i) for i in range(WRITERS)]
            results = self.add_at_once([(self.ca, self.dbname, code) for code in codes])
            for code, (rc, out, err) in sorted(results.items()):
                check(rc == 0, "round %d: model-add %s exited %d: %s" % (r, code, rc,
                                                                          err.strip()))
            ids = self.storage_keys()
            check(len(ids) == 1, "round %d: the token holds %d storage keys (ids %r) after %d "
                  "model-add at once" % (r, len(ids), ids, WRITERS))
            waited = sum("waiting for another model-add" in e for _, _, e in results.values())
            self.seal_and_open("race-%d" % r, codes)
            made_ids.append(ids[0])
            print("  round %d: %d model-add at once, one storage key, %d waited for the lock, "
                  "%d packs sealed and opened" % (r, WRITERS, waited, WRITERS))
        # Checked after the rounds, so that a ca-server without the lock fails on the race.
        check(all(len(i) == 32 for i in made_ids) and len(set(made_ids)) == ROUNDS,
              "the storage keys have no random 16-byte CKA_ID: %r" % made_ids)

    def outside_lock_rounds(self):
        """Two CAs, each with its own database, on one token: no lock is common to them. A maker
        that finds another's key beside its own withdraws its own and fails; run again, it finds
        the one left."""
        work = os.path.join(self.work, "second")
        os.makedirs(work)
        self.other = CaServer(self.binary, work, self.cluster.create_db("ca2"))
        self.other.run("init")
        withdrawn = 0
        for r in range(APART_ROUNDS):
            self.use_token("certline-apart-%d" % r)
            jobs = [(ca, dbname, "A%d%s%d" % (r, side, i)) for i in range(2)
                    for ca, dbname, side in ((self.ca, self.dbname, "X"), (self.other, "ca2", "Y"))]
            results = self.add_at_once(jobs)
            ids = self.storage_keys()
            check(len(ids) <= 1, "round %d: two CAs made %d storage keys (ids %r)" % (r, len(ids),
                                                                                        ids))
            for ca, _, code in jobs:
                rc, _, err = results[code]
                if rc != 0:
                    check("another process made a key" in err and "run the command again" in err,
                          "round %d: model-add %s: %s" % (r, code, err.strip()))
                    check(not os.path.exists(os.path.join(ca.ca_dir, "models", code)),
                          "a withdrawn model-add left its model folder")
                    withdrawn += 1
                    ca.run("model-add", code)
            check(len(self.storage_keys()) == 1, "round %d: %r" % (r, self.storage_keys()))
            for ca, _, code in jobs:
                self.bundle_key(code, ca)  # its key unwraps
        print("  two CAs on one token, %d rounds: one storage key each time, %d model-add "
              "withdrew their key and succeeded when run again" % (APART_ROUNDS, withdrawn))
        self.other = None

    def two_storage_keys(self):
        """A token with two storage keys, as a race before the model lock left it."""
        self.use_token("certline-legacy")
        self.ca.run("model-add", "L1")
        self.pkcs11_tool("--keygen", "--key-type", "AES:32", "--label", STORAGE, "--private",
                         "--sensitive", "--usage-wrap")
        check(len(self.storage_keys()) == 2, "two storage keys: %r" % self.storage_keys())
        needles = ("more than one secret key labelled \"%s\"" % STORAGE, "at the same time",
                   "Two storage keys")
        for args in (("model-add", "L2"), ("model-export", "L1", "--out",
                                           os.path.join(self.work, "l1.bundle")),
                     ("batch", "--out", os.path.join(self.work, "l.json"), "--request-id", "l-1",
                      "L1-000001")):
            r = self.ca.run(*args, expect_ok=False)
            for needle in needles:
                check(needle in r.stderr, "%s: %r not in %r" % (args[0], needle, r.stderr))
        check(not os.path.exists(os.path.join(self.ca.ca_dir, "models", "L2")),
              "a refused model-add left its model folder")
        check("L2" not in self.ca.run("model-list").stdout, "a refused model-add was recorded")
        print("  two storage keys: model-add, model-export, batch refused: " +
              r.stderr.strip().splitlines()[-1][:160] + "...")

        # README's way out: delete all but one, rotate a model whose key went with the other.
        self.pkcs11_tool("--delete-object", "--type", "secrkey", "--label", STORAGE,
                         "--object-index", "1")
        check(len(self.storage_keys()) == 1, "after the delete: %r" % self.storage_keys())
        r = subprocess.run([self.binary, "-c", self.ca.config, "model-export", "L1", "--out",
                            os.path.join(self.work, "l1.bundle")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=300)
        if r.returncode != 0:
            check("unwrap" in r.stderr.lower(), "model-export L1: " + r.stderr)
            self.ca.run("model-rotate", "L1")
            print("  L1's key went with the deleted storage key: rotated")
        self.ca.run("model-add", "L2")
        self.seal_and_open("legacy-1", ["L1", "L2"])
        check(len(self.storage_keys()) == 1, "one storage key at the end")

    def run(self):
        self.use_token("certline-init")
        self.ca.run("init")
        self.race_rounds()
        self.outside_lock_rounds()
        self.two_storage_keys()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: test_storage_key_race.py CA_SERVER")
    name = "test_storage_key_race"
    for tool in ("softhsm2-util", "pkcs11-tool", "psql"):
        if shutil.which(tool) is None:
            print("%s: FAILED: %s is not installed" % (name, tool))
            return 1
    return run_scenario(name, lambda work, cluster: Scenario(sys.argv[1], work, cluster))


if __name__ == "__main__":
    sys.exit(main())
