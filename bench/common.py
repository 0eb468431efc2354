"""Helpers the bench scripts share: statistics, progress on stderr, a leased Redis
database of the test bed, and the description of the machine a run was made on.

Pure functions (``summary``, ``overhead``, ``percentile``) are unit-tested in
``tests/unit/bench/``; nothing here changes how previewbot behaves.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from tests.cluster import testbed as testbed_mod
from tests.cluster.redis_leases import lease_database, release_database

REPO = Path(__file__).resolve().parents[1]


def say(message: str) -> None:
    """Progress for a person watching a long run (stderr; stdout is the JSON)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def running_bed() -> testbed_mod.Testbed | None:
    """The running test bed; None, said on stderr, when there is none."""
    bed = testbed_mod.load_running()
    if bed is None:
        say("no test bed is running: `make cluster-up` first (or `make bench`)")
    return bed


def timed_ms(args: list[str], env: dict[str, str], *, timeout: float) -> float:
    """Run a command (argument list, no shell) to its end; its wall time in ms."""
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False,
                          timeout=timeout)
    took = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed: {done.stderr.strip()[-1000:]}")
    return took


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 < q ≤ 1) of ``values``."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


def summary(values_ms: Sequence[float]) -> dict[str, float]:
    """count, median, p90, max (worst) and min of a list of milliseconds, rounded."""
    if not values_ms:
        raise ValueError("no values")
    return {"count": len(values_ms), "median_ms": round(statistics.median(values_ms), 1),
            "p90_ms": round(percentile(values_ms, 0.9), 1),
            "max_ms": round(max(values_ms), 1), "min_ms": round(min(values_ms), 1)}


def overhead(bot_ms: Sequence[float], bare_ms: Sequence[float]) -> dict[str, float]:
    """previewbot against the bare baseline measured in the same run: the ratio of
    medians, the median overhead (difference of medians), and the worst overhead —
    the largest per-round difference (rounds alternate, so round i of each is paired)."""
    if not bot_ms or len(bot_ms) != len(bare_ms):
        raise ValueError("bot and bare need the same, non-zero number of rounds")
    median_bot, median_bare = statistics.median(bot_ms), statistics.median(bare_ms)
    return {"ratio": round(median_bot / median_bare, 3) if median_bare else 0.0,
            "median_overhead_ms": round(median_bot - median_bare, 1),
            "max_overhead_ms": round(max(b - a for b, a in zip(bot_ms, bare_ms, strict=True)),
                                     1)}


def _first_line(args: list[str]) -> str:
    if shutil.which(args[0]) is None and not Path(args[0]).exists():
        return "not found"
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine(bed: Any) -> dict[str, Any]:
    """Cores, CPU, memory, Python and the versions of what the figures depend on."""
    memory = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) // 1024} MiB"
    redis_version = "unknown"
    with contextlib.suppress(Exception):
        info = redis.Redis.from_url(bed.redis_url).info("server")
        redis_version = str(info.get("redis_version", "unknown"))
    return {
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "cores": os.cpu_count(), "cpu_model": cpu_model(), "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "kubernetes": bed.kubernetes_version + " (kube-apiserver, kwok nodes and pods)",
        "helm": _first_line([bed.helm, "version", "--short"]),
        "kubectl": _first_line([bed.kubectl, "version", "--client"]),
        "redis": redis_version,
    }


@contextlib.contextmanager
def leased_redis(bed: Any, owner: str) -> Iterator[str]:
    """A Redis URL of a database of the test bed nobody else holds, emptied before and
    after and given back at the end."""
    base = bed.redis_url.rsplit("/", 1)[0]
    allocator = redis.Redis.from_url(base + "/0")
    database = lease_database(allocator, owner)
    if not database:
        raise RuntimeError("no free Redis database on the test bed")
    url = f"{base}/{database}"
    redis.Redis.from_url(url).flushdb()
    try:
        yield url
    finally:
        redis.Redis.from_url(url).flushdb()
        release_database(allocator, database, owner)
