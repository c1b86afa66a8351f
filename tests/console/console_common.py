"""console_common.py: what the console browser tests (test_console.py, test_ca_console.py) share:
the line's test code and tests/lib on the path, Debian's chromium and playwright-core from npm,
a browser script run with its settings file and its screenshots checked, and the command line."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "line"))

from test_line import TODAY, check, run_cases  # noqa: E402
from certline_procs import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def node_modules(node_dir):
    """playwright-core under node_dir, installed by name with npm the first time (no lock file
    is written; nothing is committed)."""
    if not os.path.isdir(os.path.join(node_dir, "node_modules", "playwright-core")):
        os.makedirs(node_dir, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", node_dir, "--no-save", "--no-package-lock",
                        "--no-audit", "--no-fund", "playwright-core@^1.49.0"], check=True,
                       timeout=600, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return os.path.join(node_dir, "node_modules")


def console_settings(line):
    """A console on a free port of its own (line.console_port), sessions of 15 minutes; the
    line's url set for it once its program runs."""
    line.console_port = free_port()
    line.url = "https://127.0.0.1:%d" % line.console_port
    return {"host": "127.0.0.1", "port": line.console_port, "session_minutes": 15}


def run_browser(line, script, settings, shots):
    """Runs `node SCRIPT SETTINGS.json` (settings with url, chromium, shots, today and out
    added), prints what it said, checks that it passed and that each of shots is a screenshot
    of more than 5,000 bytes under line.shots_dir; returns what it saw (its out file)."""
    name = os.path.splitext(script)[0]
    os.makedirs(line.shots_dir, exist_ok=True)
    settings = dict(settings, url=line.url, chromium=CHROMIUM, shots=line.shots_dir, today=TODAY,
                    out=os.path.join(line.work, name + "-out.json"))
    settings_path = os.path.join(line.work, name + ".json")
    with open(settings_path, "w") as f:
        json.dump(settings, f)
    modules = node_modules(line.node_dir)
    r = subprocess.run(["node", os.path.join(HERE, script), settings_path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=600, env=dict(os.environ, NODE_PATH=modules))
    print(r.stdout, end="")
    with open(settings["out"]) as f:
        seen = json.load(f)
    check(r.returncode == 0 and seen.get("ok"), "the browser test failed")
    for shot_name in shots:
        shot = os.path.join(line.shots_dir, shot_name + ".png")
        check(os.path.getsize(shot) > 5000, "screenshot %s" % shot)
    return seen


def main(line_class, cases, doc):
    """The command line of both tests: the four programs, the WSDL folder, the folder for
    playwright-core and the one for the screenshots; runs the cases."""
    if len(sys.argv) != 8:
        print(doc)
        return 2
    binaries = [os.path.abspath(p) for p in sys.argv[1:5]]
    line_class.node_dir = os.path.abspath(sys.argv[6])
    line_class.shots_dir = os.path.abspath(sys.argv[7])
    return run_cases(line_class, binaries, os.path.abspath(sys.argv[5]), cases)
