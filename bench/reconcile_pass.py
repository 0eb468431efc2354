"""The measured process of bench/reconcile.py: wired exactly as `previewbot reconcile`
(`bot.runtime.wiring`), it runs the real `Reconciler.run_pass` — a cold full pass, a
warm one, a poke of one environment (argv[1]) — and one more, profiled, full pass.

Requests are counted by wrapping the clients' transports (GitLab: requests'
`Session.send`; Kubernetes: the API client's urllib3 pool; Redis:
`Connection.send_packed_command`, one per command or pipeline); behaviour is
unchanged. Prints JSON on stdout. Only bot imports here, so the RSS is the bot's.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import resource
import sys
import time
from pathlib import Path
from typing import Any

import redis.connection
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings
from bot.runtime.wiring import build, build_core


class Counters:
    """Requests counted by wrapping the clients' transports (behaviour unchanged)."""

    def __init__(self) -> None:
        self.gitlab = 0
        self.kubernetes = 0
        self.redis = 0

    def snapshot(self) -> dict[str, int]:
        return {"gitlab": self.gitlab, "kubernetes": self.kubernetes, "redis": self.redis}


def install_counters(core: Any) -> Counters:
    counters = Counters()
    send_packed = redis.connection.Connection.send_packed_command

    def counted_send_packed(self: Any, *args: Any, **kwargs: Any) -> Any:
        counters.redis += 1
        return send_packed(self, *args, **kwargs)

    redis.connection.Connection.send_packed_command = counted_send_packed  # type: ignore[method-assign]
    session_send = requests.Session.send

    def counted_session_send(self: Any, request: Any, **kwargs: Any) -> Any:
        counters.gitlab += 1
        return session_send(self, request, **kwargs)

    requests.Session.send = counted_session_send  # type: ignore[method-assign]
    pool = core.kube._api.rest_client.pool_manager
    pool_request = pool.request

    def counted_pool_request(*args: Any, **kwargs: Any) -> Any:
        counters.kubernetes += 1
        return pool_request(*args, **kwargs)

    pool.request = counted_pool_request
    return counters


def rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure(poke_key: str) -> dict[str, Any]:
    """In the child process: wire a Core as the CLI does and time the real passes."""
    core = build_core(Settings.from_env(dict(os.environ)))
    _, reconciler = build(core)
    counters = install_counters(core)
    baseline_rss = rss_mb()
    result: dict[str, Any] = {"rss_after_wiring_mb": baseline_rss}
    for name, only in (("full_pass_cold", None), ("full_pass_warm", None),
                       ("poke", [poke_key])):
        before = counters.snapshot()
        started = time.perf_counter()
        outcome = reconciler.run_pass(dry_run=False, only=only)
        seconds = time.perf_counter() - started
        after = counters.snapshot()
        result[name] = {
            "seconds": round(seconds, 4),
            **{f"{k}_calls": after[k] - before[k] for k in ("gitlab", "kubernetes", "redis")},
            "environments_planned": len(outcome.plan.actions),
            "findings": len(outcome.discovered), "ok": outcome.ok,
        }
    result["peak_rss_mb"] = rss_mb()
    result["dominated_by"] = profile_pass(reconciler)
    return result


def profile_pass(reconciler: Any, top: int = 8) -> list[dict[str, Any]]:
    """One more full pass under cProfile (not timed): where its time goes, by the
    functions' own time, as a share of the profiled pass."""
    profiler = cProfile.Profile()
    profiler.runcall(reconciler.run_pass, dry_run=False)
    stats = pstats.Stats(profiler)
    total = sum(entry[2] for entry in stats.stats.values())  # type: ignore[attr-defined]
    ranked = sorted(stats.stats.items(), key=lambda item: item[1][2],  # type: ignore[attr-defined]
                    reverse=True)[:top]
    return [{"function": f"{Path(file).name}:{line}({name})",
             "share": round(timing[2] / total, 3) if total else 0.0}
            for (file, line, name), timing in ranked]


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1])))
