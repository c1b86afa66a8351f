"""Shared by the deploy-file checks: Checks, the programs, their configuration keys, helpers."""
import ast
import os
import subprocess

LINES = ("1001", "1002", "1003")
PROGRAMS = ("ca-server", "comm-terminal", "factory-terminal", "device-agent")

# ---- the configuration keys of each program (README.md and the programs' -h) ----

TLS = {"cert_file", "key_file", "trust_file"}
LISTEN = {"host", "port", "max_connections"}
ENDPOINT = {"endpoint", "endpoints", "server_name"}  # "endpoint" or a list "endpoints"
LIMITS = {"connect_timeout_s", "recv_timeout_s", "send_timeout_s", "transfer_timeout_s",
          "max_message_bytes", "max_string_bytes", "max_list_items", "max_nesting"}
DATABASE = {"conninfo"}
METRICS = {"host", "port", "max_connections"}

# program: {key: (required in the example files, allowed keys of a nested object or None)}
KEYS = {
    "ca-server": {
        "ca_dir": (True, None), "organisation": (True, None), "passphrase_file": (True, None),
        "database": (True, DATABASE), "tls": (True, TLS), "listen": (True, LISTEN),
        "limits": (False, LIMITS), "workers": (True, None), "max_batch": (True, None),
        "device_validity_days": (True, None), "db_connections": (True, None),
        "issuing_ca_warn_days": (True, None), "crl_period_s": (True, None),
        "crl_validity_s": (True, None), "crl_file": (False, None),
        "pack_retention_hours": (False, None), "issuance_fold_s": (False, None),
        "metrics": (False, METRICS),
        "issuing_key_uri": (False, None), "root_key_uri": (False, None),
        "device_key_token": (False, None)},
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
        "plan_inbox_max_files": (False, None), "plan_inbox_max_bytes": (False, None),
        "metrics": (False, METRICS)},
    "factory-terminal": {
        "line_id": (True, None), "tls": (True, TLS), "comm_terminal": (True, ENDPOINT),
        "device_endpoint": (True, None), "listen": (True, LISTEN), "limits": (False, LIMITS),
        "write_result_timeout_s": (True, None), "events_file": (True, None),
        "crl_file": (False, None), "crl_fetch_s": (False, None),
        "crl_stale_policy": (False, None), "crl_missing_policy": (False, None),
        "metrics": (False, METRICS)},
    "device-agent": {
        "flash_image": (True, None), "nvram_image": (True, None), "listen": (True, LISTEN),
        "line": (True, ENDPOINT), "ca_server": (True, ENDPOINT), "limits": (False, LIMITS),
        "crl_file": (False, None), "crl_ca_file": (False, None)},
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
            if key in ("tls", "database"):
                c.check(isinstance(value, dict) and set(value) == nested,
                        "%s: %s needs exactly %s" % (where, key, sorted(nested)))
            if nested is ENDPOINT:
                c.check(isinstance(value, dict) and
                        set(value) in ({"endpoint", "server_name"}, {"endpoints", "server_name"}),
                        "%s: %s needs server_name and one of endpoint, endpoints" % (where, key))
            if key == "listen":
                c.check(isinstance(value, dict) and {"host", "port"} <= set(value),
                        "%s: listen needs host and port" % where)



def dig(config, path):
    for key in path:
        if not isinstance(config, dict) or key not in config:
            return None
        config = config[key]
    return config



def under(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")
