"""Background threads of `previewbot serve`: intake and convergence.

- intake threads claim queued GitLab deliveries, turn them into desired state
  (``bot.engine.intake``), poke the environment and ack; temporary failures are
  retried with backoff by the queue, then parked; malformed deliveries and
  entries without the bot's seal ("unauthenticated queue entry") are parked at
  once; refusals (capacity, MR not open) are acked and logged.
- converge threads take poked environments and run a reconcile pass for them.
- a renew thread tells the queue, well within ``claim_idle``, which deliveries the
  intake threads still hold (in a claimed batch or being handled): a slow delivery on a
  busy machine is never taken over as if its worker had died, and so never handled
  twice. A handler stuck for ``HOLD_LIMIT`` claim_idles is renewed no longer, so what
  it holds is taken over as from a dead worker. Each intake thread is a consumer of its
  own (``<host>-<pid>-intake-<n>``): a takeover between two threads is a real one.

The periodic full pass is the scheduler's (``bot.runtime.scheduler``).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from bot import metrics
from bot.domain.errors import BadDeliveryError, PermanentError, PreviewError, TemporaryError
from bot.domain.model import HistoryEntry
from bot.engine.core import Core
from bot.engine.intake import Intake
from bot.engine.reconcile import Reconciler
from bot.engine.requests import Requests
from bot.logs import log_context
from bot.state.queue import Delivery, DeliveryQueue
from bot.state.queue.seal import UNAUTHENTICATED

log = logging.getLogger("previewbot.worker")
IDLE_WAIT = 0.2  # seconds an idle worker waits before it looks for work again
HOLD_LIMIT = 10  # claim_idles a delivery is renewed at most (then a stuck handler lets go)
RELEASED = -math.inf  # the claim time of a delivery no longer renewed


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Workers:
    def __init__(self, core: Core, queue: DeliveryQueue, *, intake_threads: int = 2,
                 converge_threads: int = 2) -> None:
        self.core = core
        self.queue = queue
        self.requests = Requests(core)
        self.intake = Intake(core, self.requests)
        self.reconciler = Reconciler(core)
        self.consumer = consumer_name()
        self._stop = threading.Event()
        # delivery id -> (the intake thread's consumer, when it claimed it, monotonic)
        self._held: dict[str, tuple[str, float]] = {}
        self._held_lock = threading.Lock()
        self._intake = [threading.Thread(target=self._loop,
                                         args=(functools.partial(self.intake_once,
                                                                 f"{self.consumer}-intake-{i}"),),
                                         name=f"intake-{i}", daemon=True)
                        for i in range(intake_threads)]
        self._threads = list(self._intake)
        self._threads += [threading.Thread(target=self._loop, args=(self.converge_once,),
                                           name=f"converge-{i}", daemon=True)
                          for i in range(converge_threads)]
        if intake_threads:
            self._threads.append(threading.Thread(target=self._renew_loop, name="intake-renew",
                                                  daemon=True))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        log.info("workers started as consumer %s", self.consumer)

    def stop(self, grace: float = 20.0) -> None:
        """Take no new work; let running steps finish for ``grace`` seconds, then stop
        the helm processes still running (SIGTERM, then SIGKILL) so every thread leaves
        its lock's ``with`` block and releases the lock."""
        self._stop.set()
        self.core.stopping.set()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            stopped = self.core.helm.stop_running(grace=10.0)
            log.warning("shutdown: stopped %d running helm process(es)", stopped)
            for thread in self._threads:
                thread.join(15.0)

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
                self._stop.wait(IDLE_WAIT)

    def intake_once(self, consumer: str | None = None) -> bool:
        """Claim a batch as ``consumer`` (default: the process's name) and handle it."""
        consumer = consumer or self.consumer
        deliveries = self.queue.claim(consumer, count=10)
        claimed = time.monotonic()
        with self._held_lock:
            self._held.update((delivery.id, (consumer, claimed)) for delivery in deliveries)
        try:
            for delivery in deliveries:
                try:
                    self._handle_held(consumer, delivery, claimed)
                finally:
                    with self._held_lock:
                        self._held.pop(delivery.id, None)
        finally:
            with self._held_lock:
                for delivery in deliveries:
                    self._held.pop(delivery.id, None)
        return bool(deliveries)

    def _handle_held(self, consumer: str, delivery: Delivery, claimed: float) -> None:
        try:
            # A delivery that waited in the batch may have been taken over meanwhile
            # (its renewals late or past HOLD_LIMIT): then it is the new holder's. Within
            # half a claim_idle of the claim nobody can have taken it: no round trip.
            fresh = time.monotonic() - claimed < self.queue.claim_idle.total_seconds() / 2
            still_held = fresh or bool(self.queue.renew(consumer, [delivery.id]))
        except PreviewError as error:  # cannot tell: handle it (ack/fail settle it)
            log.warning("delivery %s: cannot renew it (%s); handling it anyway",
                        delivery.id, error)
            still_held = True
        if not still_held:
            log.info("delivery %s (%s) was taken over by another worker while it waited "
                     "in this batch; left to that one", delivery.id, delivery.event_type)
            return
        try:
            self.process(delivery)
        except Exception as error:
            log.exception("delivery %s (%s) crashed its handler", delivery.id,
                          delivery.event_type)
            self._count(self.queue.fail(delivery, f"handler crashed: {error!r}"))

    def renew_held(self) -> set[str]:
        """Renew the deliveries the intake threads hold (those held for fewer than
        ``HOLD_LIMIT`` claim_idles); returns the ids no longer held."""
        limit = HOLD_LIMIT * self.queue.claim_idle.total_seconds()
        now = time.monotonic()
        by_consumer: dict[str, set[str]] = {}
        with self._held_lock:
            for entry_id, (consumer, since) in self._held.items():
                if now - since < limit:
                    by_consumer.setdefault(consumer, set()).add(entry_id)
                elif since != RELEASED:  # logged once; from now on it is not renewed
                    log.error("delivery %s held by %s for %.0f s: its handler seems stuck; "
                              "no longer renewed, so another worker takes it over",
                              entry_id, consumer, now - since)
                    self._held[entry_id] = (consumer, RELEASED)
        lost: set[str] = set()
        for consumer, ids in by_consumer.items():
            lost |= ids - self.queue.renew(consumer, ids)
        with self._held_lock:
            lost &= self._held.keys()  # finished meanwhile: acked, not lost
        for entry_id in sorted(lost):
            log.warning("delivery %s is no longer held here (taken over by another worker)",
                        entry_id)
        return lost

    def _renew_loop(self) -> None:
        # Four renewals per claim_idle: one late renewal still leaves room. Goes on after
        # stop() until the intake threads have finished what they hold.
        period = max(0.05, self.queue.claim_idle.total_seconds() / 4)
        pause = threading.Event()  # never set: short waits once stop() was called
        due = time.monotonic() + period
        while True:
            if self._stop.is_set():
                if not any(thread.is_alive() for thread in self._intake):
                    return
                pause.wait(max(0.0, min(due - time.monotonic(), 0.1)))
            else:
                self._stop.wait(max(0.0, due - time.monotonic()))
            if time.monotonic() < due:
                continue
            due = time.monotonic() + period
            try:
                self.renew_held()
            except Exception as error:  # Redis down, or a bug: the next renewal tries again
                log.warning("%s: %s", threading.current_thread().name, error)

    def process(self, delivery: Delivery) -> str:
        """Handle one queued delivery; returns the outcome recorded in metrics."""
        with log_context(delivery=delivery.id, event=delivery.event_type):
            return self._process(delivery)

    def _process(self, delivery: Delivery) -> str:
        if not self.queue.authentic(delivery):
            # Not queued by this bot as it is (written straight into Redis, altered, or
            # queued by a version that sealed nothing): never applied, shown to operators.
            self.queue.park(delivery, UNAUTHENTICATED)
            return self._count("parked")
        if self.queue.already_done(delivery):
            self.queue.ack(delivery)
            return self._count("duplicate")
        try:
            handled = self.intake.handle(delivery.event_type, delivery.body)
        except TemporaryError as error:
            return self._count(self.queue.fail(delivery, str(error),
                                               min_delay=timedelta(seconds=error.delay)))
        except BadDeliveryError as error:
            self.queue.park(delivery, str(error))
            return self._count("parked")
        except PermanentError as error:  # a refusal: the delivery is done, the reason logged
            log.warning("delivery %s (%s) refused: %s", delivery.id, delivery.event_type, error)
            self.queue.ack(delivery)
            return self._count("refused")
        for env_key in handled.env_keys:
            self.core.store.record(env_key, HistoryEntry(
                self.core.clock.now(), "webhook", delivery.event_type, handled.summary))
            self.queue.poke(env_key)
        log.info("delivery %s (%s): %s", delivery.id, delivery.event_type, handled.summary)
        self.queue.ack(delivery)
        return self._count("applied" if handled.env_keys else "ignored")

    def _count(self, outcome: str) -> str:
        metrics.DELIVERIES.labels(outcome=outcome).inc()
        return outcome

    def converge_once(self) -> bool:
        keys = self.queue.take_poked()
        if not keys:
            # A recheck due sooner than the idle poll is taken when due, not up to
            # IDLE_WAIT late: readiness is told as soon as it is seen.
            due_in = self.queue.seconds_to_next_poke()
            if due_in is None or due_in >= IDLE_WAIT:
                return False
            self._stop.wait(due_in)
            return True
        result = self.reconciler.run_pass(dry_run=False, only=keys)
        for outcome in result.outcomes:
            if outcome.retry_after is not None:  # busy lock, dependency down: after its delay
                self.queue.poke(outcome.action.env_key, delay=outcome.retry_after)
        return True
