"""CLI start-up: `previewbot list` wall time against `kubectl get namespaces`.

    .venv/bin/python bench/cli_startup.py [--runs 15]

Needs a running test bed (`make cluster-up`). Both commands run as an operator
runs them (a fresh process each time, no shell), alternating, against the same
cluster; `previewbot list` reads a leased Redis database holding 20 environment
records. Also measured, to say what dominates: a bare `python -c pass` and
`python -c "import kubernetes.client"` in the same interpreter. Prints JSON with
medians and max in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import leased_redis, running_bed, say, summary, timed_ms
from bot.config import Settings
from bot.domain.model import Desired, Environment, Observed, Status
from bot.runtime.wiring import build_core

PREVIEWBOT = str(Path(sys.executable).parent / "previewbot")


def seed(redis_url: str, config: Path, count: int) -> None:
    core = build_core(Settings.from_env({**os.environ, "REDIS_URL": redis_url,
                                         "PREVIEWBOT_CONFIG": str(config)}))
    now = datetime.now(UTC).replace(microsecond=0)
    for iid in range(1, count + 1):
        desired = Desired(env_key=f"bench-cli-mr-{iid}", project_path="bench/cli",
                          project_id=1, branch=f"feature-{iid}", sha="c" * 40,
                          created_at=now, expires_at=now + timedelta(days=2), mr_iid=iid,
                          owner="alice")
        core.store.put(Environment(desired, Observed(
            status=Status.READY, url=f"https://{desired.env_key}.preview.test")))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    bed = running_bed()
    if bed is None:
        return 1
    with tempfile.TemporaryDirectory() as tmp, leased_redis(bed, "bench-cli") as redis_url:
        config = Path(tmp) / "previewbot.yaml"
        config.write_text("defaults: {domain: preview.test, channel: C0PREVIEWS, "
                          "chart: ./charts/preview-app}\n"
                          "projects:\n  - path: bench/cli\n")
        seed(redis_url, config, 20)
        env = {**os.environ, **bed.environ(), "REDIS_URL": redis_url,
               "PREVIEWBOT_CONFIG": str(config)}
        for name in ("GITLAB_URL", "GITLAB_TOKEN", "SLACK_BOT_TOKEN"):
            env.pop(name, None)
        commands = {
            "previewbot_list": [PREVIEWBOT, "list"],
            "kubectl_get_namespaces": [bed.kubectl, "get", "namespaces"],
            "python_bare": [sys.executable, "-c", "pass"],
            "python_import_kubernetes_client": [sys.executable, "-c",
                                                "import kubernetes.client"],
        }
        for argv in commands.values():  # warm the page cache once
            timed_ms(argv, env, timeout=120)
        runs: dict[str, list[float]] = {name: [] for name in commands}
        for n in range(args.runs):
            for name, argv in commands.items():
                runs[name].append(timed_ms(argv, env, timeout=120))
            if (n + 1) % 5 == 0:
                say(f"cli start-up: {n + 1}/{args.runs} runs")
    figures = {name: summary(values) for name, values in runs.items()}
    result: dict[str, Any] = {
        "benchmark": "CLI start-up, a fresh process per run",
        "runs": args.runs, **figures,
        "ratio_list_to_kubectl": round(figures["previewbot_list"]["median_ms"]
                                       / figures["kubectl_get_namespaces"]["median_ms"], 2),
        "list_overhead_ms": round(figures["previewbot_list"]["median_ms"]
                                  - figures["kubectl_get_namespaces"]["median_ms"], 1),
        "kubernetes_import_share": round(
            (figures["python_import_kubernetes_client"]["median_ms"]
             - figures["python_bare"]["median_ms"]) / figures["previewbot_list"]["median_ms"],
            2),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
