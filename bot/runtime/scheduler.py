"""The periodic full reconcile pass of `previewbot serve`.

Every ``reconcile_interval`` the pass runs on one replica: a short Redis lease
lets one replica run each tick (the others would find nothing to do, but need
not list the cluster for it).
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from bot.domain.errors import PreviewError
from bot.engine.core import Core
from bot.engine.expiry import warn_expiring
from bot.engine.reconcile import Reconciler

log = logging.getLogger("previewbot.scheduler")


class Scheduler:
    def __init__(self, core: Core, owner: str) -> None:
        self.core = core
        self.owner = owner
        self.reconciler = Reconciler(core)
        self._scheduler = BackgroundScheduler(daemon=True)

    def start(self) -> None:
        interval = self.core.config.reconcile_interval.total_seconds()
        self._scheduler.add_job(self.periodic_pass, "interval", seconds=interval,
                                max_instances=1, coalesce=True, id="reconcile")
        self._scheduler.start()
        log.info("scheduler started as %s; reconcile every %.0fs", self.owner, interval)

    def stop(self) -> None:
        """Wait for a running pass to end (it applies nothing more once the core is
        stopping; see ``Workers.stop``)."""
        self._scheduler.shutdown(wait=True)

    def periodic_pass(self) -> None:
        # Slightly shorter than the interval, so the next tick of any replica may run.
        lease = self.core.config.reconcile_interval.total_seconds() * 0.9
        if not self.core.store.try_lease("reconcile", self.owner, lease):
            return
        try:
            result = self.reconciler.run_pass(dry_run=False)
        except PreviewError as error:
            log.warning("reconcile pass failed: %s", error)
            return
        for outcome in result.outcomes:
            if not outcome.ok:
                log.warning("reconcile: %s", outcome.describe())
        warn_expiring(self.core)
