"""The periodic jobs the leader runs, as importable callables (APScheduler's RedisJobStore
stores a job as a reference to its function plus picklable arguments; the argument here is
the leader's name, which finds this process's :class:`JobRunner`).

Each run checks first that its replica still leads (fencing: a deposed leader never acts)
and claims the job's tick in Redis, so one tick of one job runs once, even when a leader
and its successor overlap.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.errors import PreviewError
from bot.engine.core import Core
from bot.engine.expiry import warn_expiring
from bot.engine.reconcile import PassResult, Reconciler
from bot.state.leader import Leadership

log = logging.getLogger("previewbot.jobs")
Poke = Callable[[str, float], None]  # (env key, delay seconds)


@dataclass(frozen=True, slots=True)
class JobSpec:
    id: str
    every: timedelta
    # A tick run late by less than this still runs (a restart, a slow pass); later ones
    # are skipped. coalesce: many missed ticks run once.
    misfire_grace: timedelta


def specs(interval: timedelta) -> tuple[JobSpec, ...]:
    hourly = timedelta(hours=1)
    return (
        JobSpec("reconcile", interval, interval),
        JobSpec("expiry-warnings", interval, interval),
        JobSpec("notice-catch-up", interval, interval),
        JobSpec("orphan-sweep", max(interval, timedelta(minutes=5)), interval),
        JobSpec("record-gc", hourly, hourly),
    )


class JobRunner:
    """What the jobs of this process's leader work with."""

    def __init__(self, core: Core, leadership: Leadership, poke: Poke | None) -> None:
        self.core = core
        self.leadership = leadership
        self.poke = poke
        self.reconciler = Reconciler(core)

    def run(self, spec: JobSpec, work: Callable[[], None]) -> bool:
        """Run ``work`` for the current tick of ``spec`` unless it is not ours to run."""
        token = self.leadership.token
        if token is None or not self.leadership.holds():
            log.info("job %s skipped: %s no longer leads", spec.id, self.leadership.owner)
            return False
        period = spec.every.total_seconds()
        tick = math.floor(self.core.clock.now().timestamp() / period)
        if not self.core.store.claim_tick(spec.id, tick, self.leadership.owner, period * 2):
            log.info("job %s: tick %d already ran", spec.id, tick)
            return False
        self.core.store.record_job_run(spec.id, tick, self.leadership.owner, token)
        work()
        return True

    # -- the jobs ------------------------------------------------------------------------
    def reconcile_pass(self) -> None:
        dry_run = self.core.config.dry_run
        result = self.reconciler.run_pass(dry_run=dry_run)
        self._follow_up(result)
        if dry_run:
            self.core.notifier.report_plan(result.describe())

    def expiry_warnings(self) -> None:
        if not self.core.config.dry_run:
            warn_expiring(self.core)

    def notice_catch_up(self) -> None:
        delivered = self.core.catch_up_notices()
        if delivered:
            log.info("notices: %d undelivered notice(s) delivered late", delivered)

    def orphan_sweep(self) -> None:
        result = self.reconciler.sweep_orphans(dry_run=self.core.config.dry_run)
        for line in result:
            log.info("orphans: %s", line)

    def record_gc(self) -> None:
        if not self.core.config.dry_run:
            self.reconciler.collect()

    def _follow_up(self, result: PassResult) -> None:
        """A deploy still waiting for readiness, a namespace still going: checked again
        by the workers after their delay (the pass itself never waits for them)."""
        for outcome in result.outcomes:
            if outcome.retry_after is not None and self.poke is not None:
                self.poke(outcome.action.env_key, outcome.retry_after)
            elif not outcome.ok:
                log.warning("reconcile: %s", outcome.describe())


_RUNNERS: dict[str, JobRunner] = {}
_LOCK = threading.Lock()


def register(runner: JobRunner) -> None:
    with _LOCK:
        _RUNNERS[runner.leadership.owner] = runner


def unregister(owner: str) -> None:
    with _LOCK:
        _RUNNERS.pop(owner, None)


def _job(job_id: str, owner: str, work: Callable[[JobRunner], None]) -> None:
    with _LOCK:
        runner = _RUNNERS.get(owner)
    if runner is None:  # a job of another (or a former) leader process: not ours
        return
    spec = next(s for s in specs(runner.core.config.reconcile_interval) if s.id == job_id)
    try:
        runner.run(spec, lambda: work(runner))
    except PreviewError as error:
        log.warning("job %s failed: %s", job_id, error)


# Importable callables (the job store keeps "bot.runtime.jobs:reconcile", say).
def reconcile(owner: str) -> None:
    _job("reconcile", owner, JobRunner.reconcile_pass)


def expiry_warnings(owner: str) -> None:
    _job("expiry-warnings", owner, JobRunner.expiry_warnings)


def notice_catch_up(owner: str) -> None:
    _job("notice-catch-up", owner, JobRunner.notice_catch_up)


def orphan_sweep(owner: str) -> None:
    _job("orphan-sweep", owner, JobRunner.orphan_sweep)


def record_gc(owner: str) -> None:
    _job("record-gc", owner, JobRunner.record_gc)


CALLABLES: dict[str, Callable[[str], None]] = {
    "reconcile": reconcile,
    "expiry-warnings": expiry_warnings,
    "notice-catch-up": notice_catch_up,
    "orphan-sweep": orphan_sweep,
    "record-gc": record_gc,
}
