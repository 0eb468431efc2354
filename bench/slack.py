"""Slack acknowledgement latency of one `previewbot serve` process under 50 users.

    .venv/bin/python bench/slack.py [--users 50] [--commands 40]

Needs a running test bed (`make cluster-up`): it uses its own Redis database, a
GitLab and a Slack fake and one `previewbot serve` on loopback. Each simulated
user has its own connection and sends signed `/preview` commands (help, list,
list mine, status, extend, and a typo) exactly as Slack posts them, one after
the other as a person does: the next once the answer to the last has arrived —
in the ack, or through its response_url after the work the command does after
its ack (Redis, GitLab and Slack lookups, the reply), which runs on the same
machine meanwhile. All 50 users are at it at once. Prints JSON:
p50/p90/p99/max acknowledgement latency in ms and commands/s, and — as the
baseline measured in the same run, right before, with the same users — the same
figures for `/healthz` (an endpoint that does no work), with the ratios. Target:
p99 ≤ 300 ms (Slack gives up after 3,000 ms).
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.domain.model import Desired, Environment, Observed, Status
from tests.cluster import testbed as testbed_mod
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.slack.support import (
    ADMIN,
    AUTHOR,
    FORM,
    STRANGER,
    command_body,
    configure_slack,
    signed_headers,
    start_slack_server,
)

TARGET_P99_MS = 300.0
# (path, body, headers, the response URL path the answer may come to, or "")
Request = tuple[str, bytes, dict[str, str], str]


def run(port: int, per_user: list[list[Request]],
        slack: FakeSlack | None = None) -> tuple[list[float], float]:
    """Each user sends its requests in order on its own keep-alive connection, all
    users at once, each waiting for the answer to the last; (latencies in ms, seconds)."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(len(per_user) + 1)

    def user(requests: list[Request]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        start.wait()
        for path, body, headers, answer_path in requests:
            calls = len(slack.calls) if slack is not None else 0
            started = time.perf_counter()
            connection.request("POST" if body else "GET", path, body=body or None,
                               headers=headers)
            response = connection.getresponse()
            answered = response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise RuntimeError(f"unexpected HTTP {response.status} for {path}")
            if slack is not None and answer_path and not answered:
                slack.wait_for(lambda c, wanted=answer_path: c.path == wanted, timeout=60,
                               after=calls)
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=user, args=(requests,)) for requests in per_user]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started


def figures(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"count": len(ordered), "p50_ms": round(statistics.median(ordered), 3),
            "p90_ms": round(pick(0.90), 3), "p99_ms": round(pick(0.99), 3),
            "max_ms": round(ordered[-1], 3), "per_second": round(len(ordered) / seconds, 1)}


def seed(bed: LifecycleBed, count: int) -> list[str]:
    """Active environments in the bench's Redis database (records only: the commands
    read and extend them; nothing is deployed)."""
    store = bed.core().store
    now = datetime.now(UTC).replace(microsecond=0)
    keys = []
    for iid in range(1, count + 1):
        desired = Desired(env_key=f"{bed.slug}-mr-{iid}", project_path=bed.project_path,
                          project_id=bed.project_id, branch=f"feature-{iid}", sha="a" * 40,
                          created_at=now, expires_at=now + timedelta(days=2), mr_iid=iid,
                          owner="alice")
        store.put(Environment(desired, Observed(status=Status.READY,
                                                url=f"https://{desired.env_key}.preview.test")))
        keys.append(desired.env_key)
    return keys


def commands(fake: FakeSlack, keys: list[str], user_index: int, count: int) -> list[Request]:
    mix = ["help", "list", "list mine", "status {key}", "extend {key} 1h", "lst"]
    user = (ADMIN, AUTHOR, STRANGER)[user_index % 3]
    requests: list[Request] = []
    for n in range(count):
        key = keys[(user_index + n) % len(keys)]
        body = command_body(fake, mix[(user_index + n) % len(mix)].format(key=key), user=user)
        answer_path = urlsplit(parse_qs(body.decode())["response_url"][0]).path
        requests.append(("/slack/events", body, signed_headers(body, FORM), answer_path))
    return requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--commands", type=int, default=40, help="per user")
    args = parser.parse_args()
    bed_info = testbed_mod.load_running()
    if bed_info is None:
        print("no test bed is running: `make cluster-up` first", file=sys.stderr)
        return 1
    with FakeGitLab() as gitlab, FakeSlack() as slack, tempfile.TemporaryDirectory() as tmp:
        bed = LifecycleBed(bed_info, gitlab, bed_info.redis_url.rsplit("/", 1)[0] + "/901",
                           Path(tmp))
        bed.redis().flushdb()
        configure_slack(bed, slack)
        keys = seed(bed, 20)
        server = start_slack_server(bed, slack, PREVIEWBOT_INTAKE_THREADS="0")
        try:
            return report(server.url, slack, keys, args)
        finally:
            server.stop()
            bed.redis().flushdb()


def report(url: str, slack: FakeSlack, keys: list[str], args: argparse.Namespace) -> int:
    port = int(url.rsplit(":", 1)[1])
    health: list[Request] = [("/healthz", b"", {}, "")] * args.commands
    run(port, [health[:5]] * args.users)  # warm-up: connections, threads, first auth.test
    run(port, [commands(slack, keys, i, 3) for i in range(args.users)], slack)
    baseline = figures(*run(port, [health] * args.users))
    acks = figures(*run(port, [commands(slack, keys, i, args.commands)
                               for i in range(args.users)], slack))
    result: dict[str, Any] = {
        "benchmark": "Slack command acknowledgement, one serve process, loopback",
        "users": args.users, "commands_per_user": args.commands,
        "slack_commands": acks, "baseline_healthz": baseline,
        "ratio_p50": round(acks["p50_ms"] / baseline["p50_ms"], 2),
        "ratio_p99": round(acks["p99_ms"] / baseline["p99_ms"], 2),
        "target_p99_ms": TARGET_P99_MS, "target_met": acks["p99_ms"] <= TARGET_P99_MS,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
