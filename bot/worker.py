"""Background work of `previewbot serve`: intake, convergence, periodic reconcile.

- intake threads claim queued GitLab events, turn them into desired state
  (``bot.intake``), poke the environment and ack; temporary failures are
  retried with backoff by the queue, then parked; malformed events are parked
  at once; refusals (capacity, MR not open) are acked and logged.
- converge threads take poked environments and run a reconcile pass for them.
- the scheduler runs a full pass every ``reconcile_interval``; with N replicas a
  short Redis lease lets one replica run each tick (the others would find
  nothing to do, but need not list the cluster for it).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from bot import metrics
from bot.converge import Core
from bot.engine import Engine
from bot.errors import BadEventError, PermanentError, PreviewError, TemporaryError
from bot.intake import Intake
from bot.model import HistoryEntry
from bot.queue import EventQueue, QueuedEvent
from bot.reconcile import Reconciler

log = logging.getLogger("previewbot.worker")


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Workers:
    def __init__(self, core: Core, queue: EventQueue, *, intake_threads: int = 2,
                 converge_threads: int = 2) -> None:
        self.core = core
        self.queue = queue
        self.engine = Engine(core)
        self.intake = Intake(core, self.engine)
        self.reconciler = Reconciler(core)
        self.consumer = consumer_name()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(self.intake_once,),
                                          name=f"intake-{i}", daemon=True)
                         for i in range(intake_threads)]
        self._threads += [threading.Thread(target=self._loop, args=(self.converge_once,),
                                           name=f"converge-{i}", daemon=True)
                          for i in range(converge_threads)]
        self._scheduler = BackgroundScheduler(daemon=True)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        interval = self.core.config.reconcile_interval.total_seconds()
        self._scheduler.add_job(self.periodic_pass, "interval", seconds=interval,
                                max_instances=1, coalesce=True, id="reconcile")
        self._scheduler.start()
        log.info("workers started as consumer %s; reconcile every %.0fs", self.consumer,
                 interval)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._scheduler.shutdown(wait=False)
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self, step: Callable[[], bool]) -> None:
        while not self._stop.is_set():
            try:
                busy = step()
            except PreviewError as error:  # a dependency is down: back off, keep going
                log.warning("%s: %s", threading.current_thread().name, error)
                busy = False
                self._stop.wait(2.0)
            except Exception:
                log.exception("%s crashed a step; continuing", threading.current_thread().name)
                busy = False
                self._stop.wait(2.0)
            if not busy:
                self._stop.wait(0.2)

    def intake_once(self) -> bool:
        events = self.queue.claim(self.consumer, count=10)
        for event in events:
            try:
                self.process(event)
            except Exception as error:
                log.exception("event %s (%s) crashed its handler", event.id, event.event_type)
                self._count(self.queue.fail(event, f"handler crashed: {error!r}"))
        return bool(events)

    def process(self, event: QueuedEvent) -> str:
        """Handle one queued event; returns the outcome recorded in metrics."""
        if self.queue.already_done(event):
            self.queue.ack(event)
            return self._count("duplicate")
        try:
            handled = self.intake.handle(event.event_type, event.body)
        except TemporaryError as error:
            return self._count(self.queue.fail(event, str(error),
                                               min_delay=timedelta(seconds=error.delay)))
        except BadEventError as error:
            self.queue.park(event, str(error))
            return self._count("parked")
        except PermanentError as error:  # a refusal: the event is done, the reason logged
            log.warning("event %s (%s) refused: %s", event.id, event.event_type, error)
            self.queue.ack(event)
            return self._count("refused")
        for env_key in handled.env_keys:
            self.core.store.record(env_key, HistoryEntry(
                self.core.clock.now(), "webhook", event.event_type, handled.summary))
            self.queue.poke(env_key)
        log.info("event %s (%s): %s", event.id, event.event_type, handled.summary)
        self.queue.ack(event)
        return self._count("applied" if handled.env_keys else "ignored")

    def _count(self, outcome: str) -> str:
        metrics.EVENTS.labels(outcome=outcome).inc()
        return outcome

    def converge_once(self) -> bool:
        keys = self.queue.take_poked()
        if not keys:
            return False
        result = self.reconciler.run_pass(dry_run=False, only=keys)
        for outcome in result.outcomes:
            if outcome.retry_after is not None:  # busy lock, dependency down: try again soon
                self.queue.poke(outcome.action.env_key)
        return True

    def periodic_pass(self) -> None:
        # Slightly shorter than the interval, so the next tick of any replica may run.
        lease = self.core.config.reconcile_interval.total_seconds() * 0.9
        if not self.core.store.try_lease("reconcile", self.consumer, lease):
            return
        try:
            result = self.reconciler.run_pass(dry_run=False)
        except PreviewError as error:
            log.warning("reconcile pass failed: %s", error)
            return
        for outcome in result.outcomes:
            if not outcome.ok:
                log.warning("reconcile: %s", outcome.describe())
