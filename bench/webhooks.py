"""Webhook acknowledgement latency of one `previewbot serve` process.

    .venv/bin/python bench/webhooks.py [--events 5000] [--concurrency 8]

Needs a running test bed (`make cluster-up`): it starts its own redis database
use, a GitLab fake and one `previewbot serve` on loopback, then sends GitLab-
shaped Merge Request Hook deliveries (each a distinct delivery) as fast as the
client threads can. Prints JSON: p50/p90/p99/max acknowledgement latency in ms,
events/s, and — as the baseline measured in the same process, on the same
machine, right before — the same figures for `/healthz` (an endpoint that does
no work), with the ratio of the two. Intake workers are off during the run, so
the figures are for accepting (authenticate, parse, decide, queue in Redis).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster import testbed as testbed_mod
from tests.fakes.gitlab import FakeGitLab
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.webhook_support import SECRET, mr_event, start_server

TARGET_P99_MS = 50.0


def run(port: int, requests: list[tuple[str, bytes, dict[str, str]]],
        concurrency: int) -> tuple[list[float], float]:
    """Send every request once over keep-alive connections; (latencies in ms, seconds)."""
    latencies: list[float] = []
    lock = threading.Lock()
    cursor = iter(range(len(requests)))

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            path, body, headers = requests[index]
            started = time.perf_counter()
            connection.request("POST" if body else "GET", path, body=body or None,
                               headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status not in (200, 202):
                raise RuntimeError(f"unexpected HTTP {response.status} for {path}")
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started


def figures(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"count": len(ordered), "p50_ms": round(statistics.median(ordered), 3),
            "p90_ms": round(pick(0.90), 3), "p99_ms": round(pick(0.99), 3),
            "max_ms": round(ordered[-1], 3), "per_second": round(len(ordered) / seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    bed_info = testbed_mod.load_running()
    if bed_info is None:
        print("no test bed is running: `make cluster-up` first", file=sys.stderr)
        return 1
    with FakeGitLab() as gitlab, tempfile.TemporaryDirectory() as tmp:
        bed = LifecycleBed(bed_info, gitlab, bed_info.redis_url.rsplit("/", 1)[0] + "/900",
                           Path(tmp))
        bed.redis().flushdb()
        server = start_server(bed, name="bench", PREVIEWBOT_INTAKE_THREADS="0")
        try:
            return report(server.url, bed, args)
        finally:
            server.stop()
            bed.redis().flushdb()


def report(url: str, bed: LifecycleBed, args: argparse.Namespace) -> int:
    port = int(url.rsplit(":", 1)[1])
    health = [("/healthz", b"", {})] * args.events
    deliveries = []
    for n in range(args.events):
        payload = mr_event(bed, "open", 1 + n % 500, "a" * 40)
        deliveries.append(("/webhooks/gitlab", json.dumps(payload).encode(), {
            "Content-Type": "application/json", "X-Gitlab-Event": "Merge Request Hook",
            "X-Gitlab-Token": SECRET, "X-Gitlab-Event-UUID": str(uuid.uuid4())}))
    run(port, health[:200], args.concurrency)  # warm-up
    baseline = figures(*run(port, health, args.concurrency))
    webhooks = figures(*run(port, deliveries, args.concurrency))
    result: dict[str, Any] = {
        "benchmark": "webhook acknowledgement, one serve process, loopback",
        "events": args.events, "concurrency": args.concurrency,
        "webhooks": webhooks, "baseline_healthz": baseline,
        "ratio_p50": round(webhooks["p50_ms"] / baseline["p50_ms"], 2),
        "ratio_p99": round(webhooks["p99_ms"] / baseline["p99_ms"], 2),
        "target_p99_ms": TARGET_P99_MS, "target_met": webhooks["p99_ms"] <= TARGET_P99_MS,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
