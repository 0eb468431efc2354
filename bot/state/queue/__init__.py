"""The durable intake queue: webhook deliveries in a Redis Stream, read by a consumer group.

GitLab does not retry a failed delivery, so the HTTP handler calls
:meth:`DeliveryQueue.enqueue` (one EVALSHA round trip) and answers 202 only after
it returned. Workers in every ``previewbot serve`` replica call
:meth:`DeliveryQueue.claim`, handle the deliveries, and :meth:`~DeliveryQueue.ack` or
:meth:`~DeliveryQueue.fail` each one. Handling a delivery must be short compared to
``claim_idle`` (it records desired state and :meth:`~DeliveryQueue.poke`\\ s the
environment); the slow convergence work runs from :meth:`~DeliveryQueue.take_poked`.

Keys (``prefix`` defaults to ``previewbot:``):
  queue:events          stream of accepted deliveries; consumer group ``workers``
  queue:dedupe:<KEY>    "seen" marker of a dedupe key, expires after ``dedupe_ttl``
  queue:done:<ID>       "handled" marker of an entry id, expires after ``dedupe_ttl``
  queue:retry           zset of failed entries, scored by due time (ms since epoch)
  queue:retry-data      hash ``<token>:<field>`` with the payload of each retry
  queue:parked          stream of deliveries that failed ``max_attempts`` times
  queue:pokes           zset of environment keys to converge ("pokes"), scored by due time

Every entry is sealed (``mac``, HMAC-SHA256 with a key only the bot has, see
:mod:`bot.state.queue.seal`); workers apply only entries whose seal verifies
(:meth:`DeliveryQueue.authentic`). The seal travels with the entry through retries,
parking and requeueing, so an operator's requeue never turns a forged entry into an
authentic one.

Delivery is at least once; "exactly once in effect" comes from the dedupe key
at intake, :meth:`~DeliveryQueue.already_done` before handling, and handlers that
converge to a desired state (doing it twice does no harm).

Durability:
  * Enqueuer SIGKILLed after it answered 202: the stream entry is in Redis; a worker reads it.
  * Worker SIGKILLed mid-handling: the entry stays pending in the group; after
    ``claim_idle`` another worker takes it over (XAUTOCLAIM). A live worker
    :meth:`~DeliveryQueue.renew`\\ s what it holds (claimed, waiting in its batch or being
    handled), so a slow delivery is never handled twice for a lost one. Each takeover counts
    as a failed attempt, so a delivery that kills its worker ends up parked instead
    of killing every replica in turn. A worker that dies after taking pokes loses
    them; the periodic reconcile pass converges those environments anyway.
  * Acked entries are deleted (XDEL); the stream is never trimmed by length, so
    nothing unhandled is dropped. Parked deliveries stay until an operator requeues them
    (watch ``stats()["parked"]``). A GitLab re-delivery of a parked event is a
    "duplicate" while its dedupe key is remembered: requeue the parked one instead.
  * Redis restart: as durable as Redis persistence is configured. Recommended
    ``redis.conf`` for the queue (at most ~1 s of accepted deliveries lost on a crash
    of Redis itself, none on a clean restart; never evict queue keys)::

        appendonly yes
        appendfsync everysec
        maxmemory-policy noeviction

    A restart that lost the stream and group (no persistence) heals: the group is made again.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import redis

from bot.domain.errors import PermanentError
from bot.domain.messages import quoted
from bot.domain.model import Clock, SystemClock
from bot.state.connection import redis_errors
from bot.state.queue import scripts as lua
from bot.state.queue import seal
from bot.state.queue.model import (
    STREAM_ID,
    Delivery,
    ParkedDelivery,
    decode_delivery,
    decode_parked,
    read_entries,
    text,
)

__all__ = ["Delivery", "DeliveryQueue", "ParkedDelivery"]

log = logging.getLogger("previewbot.queue")
GROUP = "workers"
MOVE_LIMIT = 100  # due retries moved per claim


def _ms(value: timedelta) -> int:
    return int(value.total_seconds() * 1000)


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class DeliveryQueue:
    def __init__(self, client: redis.Redis, *, prefix: str = "previewbot:",
                 clock: Clock | None = None, dedupe_ttl: timedelta = timedelta(days=2),
                 claim_idle: timedelta = timedelta(seconds=60), max_attempts: int = 6,
                 backoff_base: timedelta = timedelta(seconds=5),
                 backoff_max: timedelta = timedelta(minutes=10),
                 key: bytes | None = None) -> None:
        self._redis = client
        self._seal_key = key  # None: this queue can read and requeue, never enqueue
        self._prefix = prefix
        self._clock: Clock = clock or SystemClock()
        self._dedupe_ttl = dedupe_ttl
        self._claim_idle = claim_idle
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._stream = self._key("events")
        self._group_ready = False
        self._cursor = "0-0"  # where the next XAUTOCLAIM scan of the pending list starts
        self._enqueue = client.register_script(lua.ENQUEUE)
        self._move_due = client.register_script(lua.MOVE_DUE)
        self._retry = client.register_script(lua.RETRY)
        self._park_script = client.register_script(lua.PARK)
        self._requeue = client.register_script(lua.REQUEUE)
        self._take_due = client.register_script(lua.TAKE_DUE)
        self._renew = client.register_script(lua.RENEW)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> DeliveryQueue:
        """A queue on ``url``. ``claim(block=…)`` must stay below the 5 s read timeout."""
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5,
                                      health_check_interval=30)
        return cls(client, **kwargs)

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(("queue", *parts))

    def _errors(self) -> AbstractContextManager[None]:
        return redis_errors()

    def ping(self) -> None:
        with self._errors():
            self._redis.ping()

    def close(self) -> None:
        self._redis.close()

    # --- intake -------------------------------------------------------------

    def enqueue(self, event_type: str, body: bytes, dedupe_key: str | None) -> str:
        """``"queued"``, or ``"duplicate"`` when ``dedupe_key`` was seen within
        ``dedupe_ttl`` (then nothing is added). One atomic round trip."""
        if self._seal_key is None:
            raise PermanentError(queue_no_key())
        mac = seal.seal(self._seal_key, event_type, body, dedupe_key or "")
        keys = [self._stream] + ([self._key("dedupe", dedupe_key)] if dedupe_key else [])
        args: list[bytes | str | int] = [_ms(self._dedupe_ttl), event_type, body,
                                         dedupe_key or "", self._clock.now().isoformat(), mac]
        with self._errors():
            added = self._enqueue(keys=keys, args=args)
        return "queued" if added else "duplicate"

    # --- workers ------------------------------------------------------------

    def authentic(self, event: Delivery) -> bool:
        """Whether the bot queued ``event`` as it is (its seal verifies with this queue's
        key). One written into Redis by anything else, or by an older previewbot that
        sealed nothing, is not: park it with ``seal.UNAUTHENTICATED``, never apply it."""
        return seal.sealed(self._seal_key, event.event_type, event.body, event.dedupe_key,
                           event.mac)

    def claim(self, consumer: str, *, count: int = 10,
              block: timedelta = timedelta(seconds=1)) -> list[Delivery]:
        """Up to ``count`` deliveries for ``consumer``: due retries first go back into the
        stream, then entries abandoned by dead workers, then new ones (waiting up to
        ``block`` when there are none; ``block <= 0`` does not wait)."""
        with self._errors():
            try:
                return self._claim(consumer, count, block)
            except redis.ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                self._group_ready = False  # the stream was lost (Redis restarted empty?)
                return self._claim(consumer, count, block)

    def _claim(self, consumer: str, count: int, block: timedelta) -> list[Delivery]:
        self._ensure_group()
        self._move_due(keys=[self._key("retry"), self._key("retry-data"), self._stream],
                       args=[_epoch_ms(self._clock.now()), MOVE_LIMIT])
        events = self._take_over(consumer, count)
        if len(events) < count:
            wait = _ms(block) if not events and _ms(block) > 0 else None
            reply = self._redis.xreadgroup(GROUP, consumer, {self._stream: ">"},
                                           count=count - len(events), block=wait)
            events += [decode_delivery(i, f, 0, self._clock.now()) for i, f in read_entries(reply)]
        return events

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:  # from id 0: events enqueued before any worker ran are read too
            self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    def _take_over(self, consumer: str, count: int) -> list[Delivery]:
        """XAUTOCLAIM entries pending longer than ``claim_idle``; each earlier
        delivery that never ended in ack/fail counts as a failed attempt."""
        reply = self._redis.xautoclaim(self._stream, GROUP, consumer,
                                       min_idle_time=_ms(self._claim_idle),
                                       start_id=self._cursor, count=count)
        self._cursor = text(reply[0])
        entries = read_entries(reply[1])
        if not entries:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for entry_id, _ in entries:
            pipe.xpending_range(self._stream, GROUP, min=entry_id, max=entry_id, count=1)
        deliveries = {text(p["message_id"]): int(p["times_delivered"])
                      for found in pipe.execute() for p in found}
        events = []
        for entry_id, fields in entries:
            lost = max(1, deliveries.get(entry_id, 2)) - 1
            event = decode_delivery(entry_id, fields, lost, self._clock.now())
            log.warning("event %s (%s) taken over by %s: its worker stopped %d time(s)",
                        entry_id, event.event_type, consumer, lost)
            if event.attempts < self._max_attempts:
                events.append(event)
            else:
                self.park(event, queue_worker_lost(lost), attempts=event.attempts)
        return events

    @property
    def claim_idle(self) -> timedelta:
        """How long a claimed entry may go unrenewed before another worker takes it."""
        return self._claim_idle

    def renew(self, consumer: str, entry_ids: Collection[str]) -> set[str]:
        """Tell the group ``consumer`` is still at these entries (their idle time starts
        again). Returns the ids it still holds; one left out was acked, failed or taken
        over meanwhile. A worker renews well within ``claim_idle``, so only the entries
        of a worker that stopped (or stopped renewing them) are ever taken over."""
        if not entry_ids:
            return set()
        with self._errors():
            held = self._renew(keys=[self._stream], args=[GROUP, consumer, *entry_ids])
        return {text(entry_id) for entry_id in held or []}

    def ack(self, event: Delivery) -> None:
        """Done: delete the entry, remember its id (:meth:`already_done`). Idempotent."""
        with self._errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(self._key("done", event.id), "1", px=_ms(self._dedupe_ttl))
            pipe.xack(self._stream, GROUP, event.id)
            pipe.xdel(self._stream, event.id)
            pipe.execute()

    def already_done(self, event: Delivery) -> bool:
        """True when this entry was acked already (a worker that was thought dead
        finished it): skip handling it again, just ack."""
        with self._errors():
            return bool(self._redis.exists(self._key("done", event.id)))

    def fail(self, event: Delivery, error: str, *,
             min_delay: timedelta = timedelta(0)) -> str:
        """``"retry"`` (again after an exponential backoff), ``"parked"`` (after
        ``max_attempts`` failed attempts), or ``"stale"``: the entry was no longer
        pending (acked or failed by another worker), nothing changed."""
        attempts = event.attempts + 1
        if attempts >= self._max_attempts:
            return "parked" if self.park(event, error, attempts=attempts) else "stale"
        # At least what the failing dependency asked for (a 429's Retry-After).
        delay = max(min(self._backoff_base * 2 ** min(event.attempts, 40), self._backoff_max),
                    min_delay)
        due = self._clock.now() + delay
        with self._errors():
            moved = self._retry(
                keys=[self._stream, self._key("retry"), self._key("retry-data")],
                args=[GROUP, event.id, _epoch_ms(due), event.event_type, event.body,
                      event.dedupe_key, event.received_at.isoformat(), attempts, event.mac])
        return "retry" if moved else "stale"

    def park(self, event: Delivery, error: str, *, attempts: int | None = None) -> bool:
        """Park now, without retries (e.g. a malformed delivery). ``attempts`` recorded
        defaults to ``event.attempts + 1``. False when the entry was no longer pending."""
        attempts = event.attempts + 1 if attempts is None else attempts
        with self._errors():
            parked = self._park_script(
                keys=[self._stream, self._key("parked")],
                args=[GROUP, event.id, event.event_type, event.body, event.dedupe_key,
                      event.received_at.isoformat(), attempts, error,
                      self._clock.now().isoformat(), event.mac])
        if parked:
            log.error("%s", queue_event_parked(event.id, event.event_type,
                                                        attempts, error))
        return bool(parked)

    # --- operators ----------------------------------------------------------

    def parked(self, limit: int = 100) -> list[ParkedDelivery]:
        """The oldest ``limit`` parked deliveries."""
        with self._errors():
            reply = self._redis.xrange(self._key("parked"), count=limit)
        return [decode_parked(entry_id, fields) for entry_id, fields in read_entries(reply)]

    def requeue_parked(self, parked_id: str) -> bool:
        """Put a parked delivery back into the queue with its attempts reset.
        False when there is no parked delivery ``parked_id``."""
        if not STREAM_ID.fullmatch(parked_id):
            return False
        with self._errors():
            moved = self._requeue(keys=[self._key("parked"), self._stream], args=[parked_id])
        return bool(moved)

    def stats(self) -> dict[str, int]:
        """``queued``: entries in the stream (pending ones included); ``pending``:
        delivered, not yet acked/failed; ``retrying``; ``parked``."""
        with self._errors():
            pipe = self._redis.pipeline(transaction=False)
            pipe.xlen(self._stream)
            pipe.zcard(self._key("retry"))
            pipe.xlen(self._key("parked"))
            queued, retrying, parked = pipe.execute()
            try:
                pending = int(self._redis.xpending(self._stream, GROUP)["pending"])
            except redis.ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                pending = 0  # no worker ran yet
        return {"queued": int(queued), "pending": pending, "retrying": int(retrying),
                "parked": int(parked)}

    # --- pokes for the reconciler ---------------------------------------------

    def poke(self, env_key: str, *, delay: float = 0.0) -> None:
        """Ask for the environment to be converged, ``delay`` seconds from now at the
        earliest (a dependency's Retry-After, a busy lock). An earlier poke wins."""
        due = _epoch_ms(self._clock.now()) + int(max(0.0, delay) * 1000)
        with self._errors():
            self._redis.zadd(self._key("pokes"), {env_key: due}, lt=True)

    def take_poked(self, limit: int = 50) -> list[str]:
        """Remove and return up to ``limit`` environment keys whose poke is due."""
        with self._errors():
            taken = self._take_due(keys=[self._key("pokes")],
                                   args=[_epoch_ms(self._clock.now()), limit])
        return sorted(text(key) for key in taken or [])

    def seconds_to_next_poke(self) -> float | None:
        """How long until the earliest poke is due (0 when it is); None when none waits."""
        with self._errors():
            earliest = self._redis.zrange(self._key("pokes"), 0, 0, withscores=True)
        if not earliest:
            return None
        return max(0.0, (float(earliest[0][1]) - _epoch_ms(self._clock.now())) / 1000)


# --- texts: why an event was parked (its error, and the log line) -------------


def queue_event_parked(event_id: str, event_type: str, attempts: int, error: str) -> str:
    return (f"event {event_id} ({quoted(event_type)}) parked after {attempts} failed "
            f"attempt(s): {error}; fix the cause, then requeue it "
            f"(`previewbot events --requeue {event_id}`)")


def queue_no_key() -> str:
    return ("the intake queue has no key to seal deliveries with: set GITLAB_WEBHOOK_SECRET "
            "(or PREVIEWBOT_QUEUE_KEY)")


def queue_worker_lost(times: int) -> str:
    return (f"the worker handling this event stopped {times} time(s) before finishing "
            "(crash, OOM kill or a handler slower than claim_idle?)")
