"""The periodic jobs of `previewbot serve`: one leader among the replicas runs them.

Every replica is a candidate; the one holding the Redis lease (``bot.state.leader``)
runs an APScheduler 3.x ``BackgroundScheduler`` with a ``RedisJobStore`` — only that one,
because APScheduler's docs say a job store must never be shared by two schedulers. The
leader renews its lease every third of its TTL; when a renewal fails (Redis gone, a
pause longer than the TTL) it stops its scheduler at once and becomes a candidate again.
When the leader dies, its lease expires and another replica takes over within one TTL
plus one candidate poll: the TTL is at most the reconcile interval, so takeover is within
two intervals.

Jobs (``bot.runtime.jobs``) have stable ids, are added with ``replace_existing`` each time
a replica starts leading, coalesce missed runs, and allow a late run within one period
(``misfire_grace_time``).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import redis
from apscheduler.jobstores.redis import RedisJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.util import undefined

from bot.domain.errors import PreviewError
from bot.engine.core import Core
from bot.runtime import jobs
from bot.state.store import Store

log = logging.getLogger("previewbot.scheduler")
MAX_LEASE_TTL = timedelta(seconds=15)


class SharedRedisJobStore(RedisJobStore):  # type: ignore[misc]
    """APScheduler's RedisJobStore on the bot's own Redis client (its URL, password, TLS
    and timeouts), instead of one it would build from separate connection arguments."""

    def __init__(self, client: redis.Redis, **options: str) -> None:
        super().__init__(**options)
        self.redis = client


class Scheduler:
    def __init__(self, core: Core, store: Store, owner: str, *,
                 poke: jobs.Poke | None = None) -> None:
        # The Redis store itself, not the engine's port: the lease and APScheduler's job
        # store live in that Redis.
        self.core = core
        self.store = store
        self.owner = owner
        interval = core.config.reconcile_interval
        self.lease_ttl = min(interval, MAX_LEASE_TTL).total_seconds()
        self.leadership = store.leadership(owner, self.lease_ttl)
        self.runner = jobs.JobRunner(core, self.leadership, poke)
        self._scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._campaign, name="leader", daemon=True)

    @property
    def leading(self) -> bool:
        return self._scheduler is not None

    def start(self) -> None:
        self._thread.start()
        log.info("%s is a candidate to lead the periodic jobs (lease %.0fs)", self.owner,
                 self.lease_ttl)

    def stop(self) -> None:
        """Stop leading (a running job ends its pass; see ``Workers.stop``) and hand the
        lease back so another replica takes over at once."""
        self._stop.set()
        self._thread.join(timeout=self.lease_ttl + 5)
        self._abdicate()
        try:
            self.leadership.release()
        except PreviewError as error:
            log.warning("could not release the leader lease: %s", error)

    def _campaign(self) -> None:
        while not self._stop.wait(self.lease_ttl / 3):
            try:
                if self.leading:
                    if not self.leadership.renew():
                        log.warning("%s lost the lead", self.owner)
                        self._abdicate()
                elif self.leadership.try_acquire():
                    self._lead()
            except PreviewError as error:  # Redis unreachable: a leader cannot renew
                log.warning("leader election: %s", error)
                self._abdicate()

    def _lead(self) -> None:
        log.info("%s leads the periodic jobs (term %s)", self.owner, self.leadership.token)
        jobs.register(self.runner)
        store = self.store
        scheduler = BackgroundScheduler(daemon=True, timezone="UTC", jobstores={
            "default": SharedRedisJobStore(store.redis, jobs_key=store.key("scheduler", "jobs"),
                                           run_times_key=store.key("scheduler", "run-times"))})
        now = datetime.now(UTC)
        for spec in jobs.specs(self.core.config.reconcile_interval):
            # A new leader reconciles at once (a tick its predecessor ran is not rerun).
            first = now if spec.id in ("reconcile", "expiry-warnings") else None
            scheduler.add_job(jobs.CALLABLES[spec.id], "interval",
                              seconds=spec.every.total_seconds(), args=[self.owner],
                              id=spec.id, replace_existing=True, coalesce=True,
                              max_instances=1, next_run_time=first or undefined,
                              misfire_grace_time=int(spec.misfire_grace.total_seconds()))
        scheduler.start()
        self._scheduler = scheduler

    def _abdicate(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
            jobs.unregister(self.owner)
            log.info("%s no longer runs the periodic jobs", self.owner)
