"""Every benchmark in one run: `make bench` → bench/results.json.

    .venv/bin/python bench/run.py [--only NAME,...] [--output bench/results.json] [--quick]

`--only` with an existing output file replaces just those benchmarks' figures in it
(the others are kept, the targets recomputed): re-measure one figure after a change.

Needs a running test bed (`make bench` starts one when none is running). Runs each
bench script as its own process (its JSON on stdout, its progress passed through
on stderr), then writes one JSON file: the machine (cores, CPU model, memory,
Python, Kubernetes, Helm, kubectl and Redis versions, date), every script's
figures, and every target with its value and whether it was met. `--quick` runs
small sizes (a smoke run; its file says so and is not meant to be committed).
The README's "Performance" section is generated from the file by bench/readme.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, machine, running_bed, say

HERE = Path(__file__).resolve().parent
# name → (script, arguments, arguments with --quick)
BENCHES: dict[str, tuple[str, list[str], list[str]]] = {
    "webhooks": ("webhooks.py", [], ["--events", "500"]),
    "slack": ("slack.py", [], ["--users", "10", "--commands", "5"]),
    "reconcile": ("reconcile.py", [], ["--sizes", "100,1000"]),
    "time_to_url": ("time_to_url.py", [], ["--rounds", "2"]),
    "cli_startup": ("cli_startup.py", [], ["--runs", "3"]),
}


def targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every target of the figures, flat: name → {value, target, met}."""
    found: dict[str, dict[str, Any]] = {}
    webhooks = results.get("webhooks")
    if webhooks:
        found["webhook_ack_p99_ms"] = {"value": webhooks["webhooks"]["p99_ms"],
                                       "target": f"<= {webhooks['target_p99_ms']:g}",
                                       "met": webhooks["target_met"]}
    slack = results.get("slack")
    if slack:
        found["slack_ack_p99_ms"] = {"value": slack["slack_commands"]["p99_ms"],
                                     "target": f"<= {slack['target_p99_ms']:g}",
                                     "met": slack["target_met"]}
    for name in ("reconcile", "time_to_url"):
        for target, verdict in (results.get(name) or {}).get("targets", {}).items():
            found[f"{name}_{target}"] = verdict
    return found


def run_one(name: str, quick: bool) -> dict[str, Any]:
    script, arguments, quick_arguments = BENCHES[name]
    say(f"=== {name} ({script}) ===")
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(HERE / script),
                           *(quick_arguments if quick else arguments)],
                          cwd=REPO, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed (exit {done.returncode}); see its output above")
    result: dict[str, Any] = json.loads(done.stdout)
    result["bench_seconds"] = round(time.monotonic() - started, 1)
    say(f"=== {name} done in {result['bench_seconds']:.0f} s ===")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--output", type=Path, default=HERE / "results.json")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    bed = running_bed()
    if bed is None:
        return 1
    started = time.monotonic()
    names = args.only.split(",")
    unknown = [name for name in names if name not in BENCHES]
    if unknown:
        say(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHES)}")
        return 2
    results: dict[str, Any] = {}
    if set(names) != set(BENCHES) and args.output.exists():
        results = json.loads(args.output.read_text())["benchmarks"]
        say(f"keeping the other figures of {args.output}")
    results.update({name: run_one(name, args.quick) for name in names})
    report = {
        "generated_by": "make bench" + (" (--quick: small sizes)" if args.quick else ""),
        "machine": machine(bed),
        "total_seconds": round(time.monotonic() - started, 1),
        "benchmarks": results,
        "targets": targets(results),
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    missed = [name for name, verdict in report["targets"].items() if not verdict["met"]]
    say(f"wrote {args.output}: {len(report['targets'])} targets, "
        f"{len(missed)} missed{': ' + ', '.join(missed) if missed else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
