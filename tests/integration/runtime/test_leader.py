"""One leader among real `previewbot serve` processes: the periodic jobs run on exactly
one, each tick once; a SIGKILLed leader is replaced within two intervals."""

from __future__ import annotations

from collections import Counter

from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.webhook_support import start_server
from tests.polling import poll


def reconcile_runs(bed: LifecycleBed) -> list[dict[str, str]]:
    return [run for run in bed.core().store.job_runs() if run["job"] == "reconcile"]


def test_jobs_run_on_one_replica_and_a_killed_leader_is_replaced(bed: LifecycleBed) -> None:
    bed.configure(reconcile_interval="2s")
    servers = [start_server(bed, name=f"replica{i}") for i in range(2)]
    try:
        poll("three reconcile ticks", lambda: len(reconcile_runs(bed)) >= 3, timeout=60)
        runs = reconcile_runs(bed)
        leaders = {run["owner"] for run in runs}
        assert len(leaders) == 1  # every tick ran on the same one replica
        (leader,) = leaders
        [killed] = [s for s in servers if leader.endswith(f"-{s.process.pid}")]
        [survivor] = [s for s in servers if s is not killed]
        last_tick = max(int(run["tick"]) for run in runs)
        killed.kill()

        def taken_over() -> list[dict[str, str]]:
            return [r for r in reconcile_runs(bed) if r["owner"] != leader]

        first = min(int(r["tick"]) for r in poll("the other replica to lead", taken_over,
                                                 timeout=60))
        assert first - last_tick <= 2  # within two intervals (ticks are intervals)
        assert all(r["owner"].endswith(f"-{survivor.process.pid}") for r in taken_over())
        everything = bed.core().store.job_runs()
        ticks = Counter((run["job"], run["tick"]) for run in everything)
        assert max(ticks.values()) == 1  # no job ran twice for one tick
        tokens = [int(r["token"]) for r in reconcile_runs(bed)]
        assert tokens == sorted(tokens)  # the new term has the newer fencing token
    finally:
        for server in servers:
            server.stop()
