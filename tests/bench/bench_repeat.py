#!/usr/bin/python3
"""bench_repeat.py: one benchmark run several times (issue 19 part 4), so that a noisy moment on a
shared machine does not flip a goal. Prints the machine (CPU model, cores) and its load average
before and after, then for each goal of the benchmark's JSON the median of the runs, their spread
(lowest, highest) and whether the median meets the goal; a benchmark without goals gets its
headline figures (rates, ratios, latencies) the same way.

Each run's JSON (OUT_DIR/JSON_NAME) is kept as OUT_DIR/<name>-run-K.json; the summary is written
to OUT_DIR/<name>-median.json. The benchmark's own output passes through.

Usage: bench_repeat.py REPEAT OUT_DIR JSON_NAME -- COMMAND [ARG...]
Exit status: the first failing run's (the runs before it are still summarised), else 0.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_common import machine  # noqa: E402

# Figures shown for a benchmark without goals: leaf names that look like a result.
HEADLINE = re.compile(r"(per_s|ratio|_ms$|^p50|^p99|^median|speedup|_x$)")
SKIP = {"machine", "settings", "loadavg_start", "loadavg_end", "started", "total_seconds"}
MAX_FIGURES = 40


def leaves(value, path=""):
    """(path, number) for every numeric leaf of a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not path and k in SKIP:
                continue
            yield from leaves(v, "%s.%s" % (path, k) if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, "%s[%d]" % (path, i))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, value


def direction(goal):
    """'>=' or '<=' or '=' as the goal's text says, else None."""
    for op in (">=", "<=", "="):
        if op in goal["goal"]:
            return op
    return None


def judged(goal, value):
    """Whether value meets goal (None: the goal is not judged)."""
    if not isinstance(value, (int, float)) or not isinstance(goal.get("target"), (int, float)):
        return goal.get("met")
    op = direction(goal)
    if op == ">=":
        return value >= goal["target"]
    if op == "<=":
        return value <= goal["target"]
    if op == "=":
        return value == goal["target"]
    return goal.get("met")


def spread(values):
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers:
        return None
    return {"median": statistics.median(numbers), "low": min(numbers), "high": max(numbers),
            "runs": numbers}


def show(number):
    return "%.4g" % number if isinstance(number, float) else str(number)


def summarise(name, runs, load_before, load_after):
    lines = ["", "==== %s: %d runs, median [lowest .. highest] ====" % (name, len(runs))]
    m = machine()
    lines.append("machine: %s, %d cores; load average (1 min) before %.2f, after %.2f%s" % (
        m["cpu_model"], m["nproc"], load_before[0], load_after[0],
        " -- the machine was busy with other work: figures are noisy"
        if max(load_before[0], load_after[0]) > m["nproc"] else ""))
    summary = {"machine": m, "loadavg_before": load_before, "loadavg_after": load_after,
               "runs": len(runs), "goals": [], "figures": {}}
    goals = [r.get("goals") for r in runs]
    if all(goals):
        lines.append("Goals (judged on the median):")
        for g in goals[0]:
            values = [next((x["value"] for x in run if x["goal"] == g["goal"]), None)
                      for run in goals]
            s = spread(values)
            unjudged = all(next((x.get("met") for x in run if x["goal"] == g["goal"]), None)
                           is None for run in goals)
            met = None if unjudged or not s else judged(g, s["median"])
            summary["goals"].append(dict(g, value=s["median"] if s else None, spread=s, met=met))
            lines.append("  %-62s median %9s [%s .. %s]  target %6s  %s" % (
                g["goal"], show(s["median"]) if s else "-", show(s["low"]) if s else "-",
                show(s["high"]) if s else "-", g.get("target"),
                "MET" if met else "n/a" if met is None else "NOT MET"))
    figures = {}
    for run in runs:
        for path, value in leaves(run):
            if path.startswith("goals") or not HEADLINE.search(path.rsplit(".", 1)[-1]):
                continue
            figures.setdefault(path, []).append(value)
    shown = [(p, v) for p, v in figures.items() if len(v) == len(runs)][:MAX_FIGURES]
    if shown:
        lines.append("Figures:")
    for path, values in shown:
        s = spread(values)
        summary["figures"][path] = s
        lines.append("  %-70s %10s [%s .. %s]" % (path, show(s["median"]), show(s["low"]),
                                                  show(s["high"])))
    return "\n".join(lines), summary


def main(argv):
    if len(argv) < 6 or argv[4] != "--" or not argv[1].isdigit() or int(argv[1]) < 1:
        sys.exit("usage: bench_repeat.py REPEAT OUT_DIR JSON_NAME -- COMMAND [ARG...]")
    repeat, out_dir, json_name, command = int(argv[1]), argv[2], argv[3], argv[5:]
    os.makedirs(out_dir, exist_ok=True)
    stem = json_name[:-5] if json_name.endswith(".json") else json_name
    load_before = list(os.getloadavg())
    runs, status = [], 0
    for k in range(1, repeat + 1):
        print("[%s] %s: run %d of %d" % (time.strftime("%H:%M:%S"), stem, k, repeat), flush=True)
        status = subprocess.run(command).returncode
        if status != 0:
            print("bench_repeat: %s run %d failed (%d)%s" % (
                stem, k, status, "; the runs before it follow" if runs else ""), file=sys.stderr)
            break
        kept = os.path.join(out_dir, "%s-run-%d.json" % (stem, k))
        os.replace(os.path.join(out_dir, json_name), kept)
        with open(kept) as f:
            runs.append(json.load(f))
    if runs:
        text, summary = summarise(stem, runs, load_before, list(os.getloadavg()))
        print(text)
        with open(os.path.join(out_dir, "%s-median.json" % stem), "w") as f:
            json.dump(summary, f, indent=2)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
