"""Per-environment locks in Redis, renewed while held, with fencing.

One worker at a time converges an environment. The lock is a Redis key with an
expiry (``lock_ttl``), renewed in the background every third of it, so a worker
killed with SIGKILL frees its environments within ``lock_ttl``.

Renewal retries until the TTL has lapsed since the last successful renewal: a
Redis blip does not lose the lock, but a Redis pause longer than the TTL does,
because by then another worker may hold it. A worker whose lock lapsed must
stop before its next mutating step: :meth:`HeldLock.fence` raises
:class:`LockLost` (a ``TemporaryError``), and the converge steps call it before
every write to the cluster, Helm or the record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import redis
from redis.exceptions import LockError
from redis.lock import Lock

from bot.domain.errors import TemporaryError

log = logging.getLogger("previewbot.locks")


class LockLost(TemporaryError):
    """The lock lapsed while this worker held it: it must not change anything more."""


class HeldLock:
    """A lock this worker holds; renewed by a background thread until released."""

    def __init__(self, lock: Lock, name: str, ttl: float, *, acquired_at: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._lock = lock
        self._name = name
        self._ttl = ttl
        self._monotonic = monotonic
        # Measured before the request that set the expiry: never later than Redis' own.
        self._renewed_at = acquired_at
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name=f"lock-{name}", daemon=True)

    @property
    def lost(self) -> bool:
        return self._lost.is_set() or self._monotonic() - self._renewed_at >= self._ttl

    def fence(self) -> None:
        """Raise :class:`LockLost` when the lock may be someone else's by now."""
        if self.lost:
            raise LockLost(lock_lost(self._name), delay=1.0)

    def _start(self) -> None:
        self._renewer.start()

    def _release(self) -> None:
        self._stop.set()
        self._renewer.join()
        if not self._lost.is_set():
            with suppress(redis.RedisError, LockError):  # expired or Redis gone: TTL frees it
                self._lock.release()

    def _renew(self) -> None:
        interval = self._ttl / 3
        while not self._stop.wait(interval):
            attempt = self._monotonic()
            try:
                self._lock.reacquire()
            except LockError:  # the key expired or is another worker's now
                log.warning("lock %s was lost (expired or taken over)", self._name)
                self._lost.set()
                return
            except redis.RedisError as error:
                if self._monotonic() - self._renewed_at >= self._ttl:
                    log.warning("lock %s lapsed: Redis unreachable for %.0fs (%s)",
                                self._name, self._ttl, error)
                    self._lost.set()
                    return
                interval = min(self._ttl / 10, 0.5)  # retry soon, until the TTL lapses
                continue
            self._renewed_at = attempt
            interval = self._ttl / 3


@contextmanager
def hold(client: redis.Redis, key: str, name: str, *, ttl: float,
         wait: float) -> Iterator[HeldLock]:
    """Hold the lock ``key`` (waiting up to ``wait`` seconds); TemporaryError when busy."""
    lock = Lock(client, key, timeout=ttl, blocking_timeout=wait,
                thread_local=False)  # the renewer thread must see the token
    started = time.monotonic()
    if not lock.acquire():
        raise TemporaryError(env_busy(name), delay=5)
    held = HeldLock(lock, name, ttl, acquired_at=started)
    held._start()
    try:
        yield held
    finally:
        held._release()


# --- texts: why a change of an environment did not go ahead ------------------


def env_busy(env_key: str) -> str:
    return f"environment {env_key} is being changed by another worker; try again in a moment"


def lock_lost(env_key: str) -> str:
    return (f"lost the lock of environment {env_key} (Redis was unreachable longer than "
            "PREVIEWBOT_LOCK_TTL, or another worker took it over); stopped before changing "
            "anything more — the next pass converges it")
