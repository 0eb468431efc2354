"""The record store in dicts, with the Redis ``Store``'s semantics (``bot.state.store``).

What the engine relies on, kept: ``put_observed`` writes nothing for a missing record
(the Lua script's EXISTS); ``update`` and ``delete_if`` are optimistic like WATCH/MULTI
(``change``/``check`` run outside any lock and run again when the record was written
meanwhile); the announcement and the expiry mark live in the record and go with it;
owed notices do not; a lock is exclusive per key and not reentrant, like a Redis lock
with a fresh token each time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.errors import TemporaryError
from bot.domain.model import Clock, Desired, Environment, HistoryEntry, Observed, SystemClock
from bot.state import locks
from bot.state.locks import LockLost
from bot.state.store import HISTORY_LIMIT
from tests.fakes.memory.faults import Faults


@dataclass(frozen=True)
class _Row:
    """One ``env:<ENV>`` hash: the record and the fields its other writers own."""

    env: Environment
    announcement: str | None = None
    expiry_warned: str | None = None


class FakeHeldLock:
    """A held lock; ``FakeStore.lapse`` makes it lapse (as a Redis pause past its TTL)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lost = threading.Event()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def fence(self) -> None:
        if self.lost:
            raise LockLost(locks.lock_lost(self._name), delay=1.0)


class FakeStore:
    def __init__(self, *, clock: Clock | None = None, lock_ttl: float = 30.0) -> None:
        self.clock = clock or SystemClock()
        self.lock_ttl = lock_ttl
        self.faults = Faults(self)
        self.audit: list[tuple[str, HistoryEntry]] = []  # the audit stream, oldest first
        self.job_runs: list[dict[str, str]] = []
        self._rows: dict[str, _Row] = {}
        self._versions: dict[str, int] = {}  # per key, bumped by every write: WATCH's view
        self._history: dict[str, list[HistoryEntry]] = {}
        self._cache: dict[str, tuple[str, datetime]] = {}
        self._ticks: dict[tuple[str, int], datetime] = {}
        self._owed: dict[tuple[str, str], str] = {}  # (topic, env key)
        self._data = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._holders: dict[str, FakeHeldLock] = {}
        self._locks_guard = threading.Lock()

    # -- records ---------------------------------------------------------------------
    def ping(self) -> None:
        self.faults.check("ping")

    def get(self, env_key: str) -> Environment | None:
        self.faults.check("get")
        with self._data:
            row = self._rows.get(env_key)
        return row.env if row else None

    def all(self) -> list[Environment]:
        self.faults.check("all")
        with self._data:
            return [self._rows[key].env for key in sorted(self._rows)]

    def env_keys(self) -> set[str]:
        self.faults.check("env_keys")
        with self._data:
            return set(self._rows)

    def get_many(self, env_keys: Iterable[str]) -> list[Environment | None]:
        self.faults.check("get_many")
        with self._data:
            rows = [self._rows.get(key) for key in env_keys]
        return [row.env if row else None for row in rows]

    def put(self, env: Environment) -> None:
        """Write desired and observed state (a test's setup); other fields stay."""
        self.faults.check("put")
        with self._data:
            self._write(env.key, env)

    def put_observed_if(self, env_key: str, observed: Observed, *, desired: Desired) -> bool:
        self.faults.check("put_observed_if")
        with self._data:
            row = self._rows.get(env_key)
            if row is None or row.env.desired != desired:
                return False
            self._write(env_key, replace(row.env, observed=observed))
            return True

    def put_observed(self, env_key: str, observed: Observed) -> None:
        self.faults.check("put_observed")
        with self._data:
            row = self._rows.get(env_key)
            if row is None:
                return  # like the script: a record deleted meanwhile is not brought back
            self._write(env_key, replace(row.env, observed=observed))

    def update(self, env_key: str,
               change: Callable[[Environment | None], Environment | None]) -> Environment | None:
        self.faults.check("update")
        while True:
            with self._data:
                version = self._versions.get(env_key, 0)
                row = self._rows.get(env_key)
            current = row.env if row else None
            updated = change(current)
            if updated is None:
                return current
            with self._data:
                if self._versions.get(env_key, 0) != version:
                    continue  # written meanwhile: as a WatchError, run `change` again
                self._write(env_key, updated)
            return updated

    def delete_if(self, env_key: str, check: Callable[[Environment | None], bool]) -> bool:
        self.faults.check("delete_if")
        while True:
            with self._data:
                version = self._versions.get(env_key, 0)
                row = self._rows.get(env_key)
            if not check(row.env if row else None):
                return False
            with self._data:
                if self._versions.get(env_key, 0) != version:
                    continue
                self._drop(env_key)
            return True

    def delete(self, env_key: str) -> None:
        self.faults.check("delete")
        with self._data:
            self._drop(env_key)

    def record(self, env_key: str, entry: HistoryEntry) -> None:
        self.faults.check("record")
        with self._data:
            entries = self._history.setdefault(env_key, [])
            entries.insert(0, entry)
            del entries[HISTORY_LIMIT:]
            self.audit.append((env_key, entry))

    def history(self, env_key: str) -> list[HistoryEntry]:
        self.faults.check("history")
        with self._data:
            return list(self._history.get(env_key, ()))

    # -- cache and job ticks, expiring by the clock ----------------------------------------
    def cached(self, name: str) -> str | None:
        self.faults.check("cached")
        with self._data:
            found = self._cache.get(name)
        if found is None or self.clock.now() >= found[1]:
            return None
        return found[0]

    def cache(self, name: str, value: str, seconds: float) -> None:
        self.faults.check("cache")
        until = self.clock.now() + timedelta(milliseconds=max(1, int(seconds * 1000)))
        with self._data:
            self._cache[name] = (value, until)

    def claim_tick(self, job: str, tick: int, owner: str, ttl: float) -> bool:
        self.faults.check("claim_tick")
        now = self.clock.now()
        with self._data:
            until = self._ticks.get((job, tick))
            if until is not None and now < until:
                return False
            self._ticks[(job, tick)] = now + timedelta(milliseconds=max(1, int(ttl * 1000)))
            return True

    def record_job_run(self, job: str, tick: int, owner: str, token: int) -> None:
        self.faults.check("record_job_run")
        with self._data:
            self.job_runs.append({"job": job, "tick": str(tick), "owner": owner,
                                  "token": str(token)})

    # -- locks -----------------------------------------------------------------------
    @contextmanager
    def lock(self, env_key: str, *, wait: float | None = None) -> Iterator[FakeHeldLock]:
        self.faults.check("lock")
        with self._locks_guard:
            key_lock = self._locks.setdefault(env_key, threading.Lock())
        wait = self.lock_ttl + 5 if wait is None else wait
        taken = key_lock.acquire(timeout=wait) if wait > 0 else key_lock.acquire(blocking=False)
        if not taken:
            raise TemporaryError(locks.env_busy(env_key), delay=5)
        held = FakeHeldLock(env_key)
        with self._locks_guard:
            self._holders[env_key] = held
        try:
            yield held
        finally:
            with self._locks_guard:
                if not held.lost:  # a lapsed lock was freed when it lapsed
                    del self._holders[env_key]
                    key_lock.release()

    def lapse(self, env_key: str) -> bool:
        """The held lock of ``env_key`` lapses (its TTL ran out): another caller may take
        it now, and its holder's ``fence()`` raises. False when nobody holds it."""
        with self._locks_guard:
            held = self._holders.pop(env_key, None)
            if held is None:
                return False
            held._lost.set()
            self._locks[env_key].release()
            return True

    # -- announcement, owed notices, expiry warning ------------------------------------
    def announcement(self, env_key: str) -> str | None:
        self.faults.check("announcement")
        with self._data:
            row = self._rows.get(env_key)
        return row.announcement if row else None

    def set_announcement(self, env_key: str, ref: str | None) -> None:
        self.faults.check("set_announcement")
        with self._data:
            row = self._rows.get(env_key)
            if row is not None:
                self._set(env_key, replace(row, announcement=ref))

    def owe_notice(self, env_key: str, notice: str, *, topic: str = "") -> None:
        self.faults.check("owe_notice")
        with self._data:
            self._owed[topic, env_key] = notice

    def owed_notice(self, env_key: str, *, topic: str = "") -> str | None:
        self.faults.check("owed_notice")
        with self._data:
            return self._owed.get((topic, env_key))

    def owed_notices(self, *, topic: str = "") -> dict[str, str]:
        self.faults.check("owed_notices")
        with self._data:
            return {key: notice for (owed_topic, key), notice in self._owed.items()
                    if owed_topic == topic}

    def settle_notice(self, env_key: str, notice: str, *, topic: str = "") -> None:
        self.faults.check("settle_notice")
        with self._data:
            if self._owed.get((topic, env_key)) == notice:
                del self._owed[topic, env_key]

    def mark_expiry_warned(self, env_key: str, expires_at: datetime, *, owing: str = "",
                           topic: str = "") -> bool:
        self.faults.check("mark_expiry_warned")
        mark = expires_at.isoformat()
        with self._data:
            row = self._rows.get(env_key)
            if row is None or row.expiry_warned == mark:
                return False
            self._set(env_key, replace(row, expiry_warned=mark))
            if owing:
                self._owed[topic, env_key] = owing
            return True

    # -- under self._data ------------------------------------------------------------
    def _write(self, env_key: str, env: Environment) -> None:
        row = self._rows.get(env_key)
        self._set(env_key, replace(row, env=env) if row else _Row(env))

    def _set(self, env_key: str, row: _Row) -> None:
        self._rows[env_key] = row
        self._versions[env_key] = self._versions.get(env_key, 0) + 1

    def _drop(self, env_key: str) -> None:
        if self._rows.pop(env_key, None) is not None:
            self._versions[env_key] = self._versions.get(env_key, 0) + 1
        self._history.pop(env_key, None)
