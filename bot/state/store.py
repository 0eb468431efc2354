"""Environment records in Redis: desired + observed state, history, locks.

Redis is the fast registry, not the record of truth: every environment that
exists in the cluster can be rebuilt from its namespace (``bot.domain.records``;
the reconcile pass adopts such namespaces, ``bot.engine.reconcile``).

Keys (``prefix`` defaults to ``previewbot:``):
  env:<ENV>       hash: `desired` and `observed` JSON; requests change the first
                  (atomically, WATCH/MULTI), converging workers only the second
  envs            set of all ENV keys
  history:<ENV>   newest-first JSON history entries (capped)
  audit           stream of every action, for the audit log
  cache:<NAME>    answers costly to get again, with an expiry (e.g. an MR's paths)
  lock:<ENV>      per-environment lock (token, expiry renewed while held; bot.state.locks)
  notices-owed[:<TOPIC>]  hash ENV -> the latest undelivered notice of that topic
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any, TypeVar

import redis
from redis.typing import EncodableT, FieldT

from bot.domain.model import Desired, Environment, HistoryEntry, Observed, Status
from bot.state import locks
from bot.state.connection import redis_errors, text
from bot.state.leader import Leadership
from bot.state.locks import HeldLock

HISTORY_LIMIT = 200
AUDIT_LIMIT = 100_000
T = TypeVar("T", Desired, Observed, HistoryEntry)


# Fields stored under another name by earlier versions: still read, and still written
# (a replica of the previous version, in a rolling update or after a rollback, reads
# only those: it must not forget a stop owed or the forge environment it made).
_RENAMED = {
    "gitlab_synced_hash": "review_synced_hash",
    "gitlab_environment_id": "review_environment_id",
    "gitlab_create_started_at": "review_create_started_at",
    "gitlab_attempts": "review_attempts",
}


def _encode(value: object) -> dict[str, Any]:
    raw = asdict(value)  # type: ignore[call-overload]
    encoded = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in raw.items()}
    if isinstance(value, Observed):
        encoded.update({old: encoded[new] for old, new in _RENAMED.items()})
    return encoded


def _decode(cls: type[T], raw: dict[str, Any]) -> T:
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for stored, value in raw.items():
        name = _RENAMED.get(stored, stored)
        if name != stored and name in raw:
            continue  # both names stored: the new one wins
        if name not in known:
            continue  # written by a newer version; ignore rather than fail
        # Annotations are strings under `from __future__ import annotations`.
        is_time = isinstance(value, str) and value and "datetime" in str(known[name].type)
        values[name] = datetime.fromisoformat(value) if is_time else value
    if cls is Observed and "status" in values:
        values["status"] = Status(values["status"])
    return cls(**values)


def encode_environment(env: Environment) -> str:
    return json.dumps({"desired": _encode(env.desired), "observed": _encode(env.observed)},
                      sort_keys=True)


def decode_environment(text: str | bytes) -> Environment:
    raw = json.loads(text)
    return Environment(_decode(Desired, raw["desired"]), _decode(Observed, raw["observed"]))


# Desired and observed state are separate hash fields: requests write the first,
# converging workers the second, and neither overwrites the other's news.
def _to_fields(env: Environment) -> dict[FieldT, EncodableT]:
    return {"desired": json.dumps(_encode(env.desired), sort_keys=True),
            "observed": json.dumps(_encode(env.observed), sort_keys=True)}


def _from_fields(fields: Mapping[Any, Any]) -> Environment | None:
    desired, observed = fields.get(b"desired"), fields.get(b"observed")
    if desired is None:
        return None
    return Environment(_decode(Desired, json.loads(desired)),
                       _decode(Observed, json.loads(observed)) if observed else Observed())


_PUT_OBSERVED = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HSET', KEYS[1], 'observed', ARGV[1])
end
return -1
"""


class Store:
    def __init__(self, client: redis.Redis, *, prefix: str = "previewbot:",
                 lock_ttl: float = 30.0) -> None:
        self._redis = client
        self._prefix = prefix
        self._lock_ttl = lock_ttl

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Store:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5,
                                      health_check_interval=30)
        return cls(client, **kwargs)

    @property
    def redis(self) -> redis.Redis:
        return self._redis

    def key(self, *parts: str) -> str:
        """A key of this store's namespace in Redis (``previewbot:`` + parts)."""
        return self._prefix + ":".join(parts)

    _key = key

    def _errors(self) -> AbstractContextManager[None]:
        return redis_errors()

    def ping(self) -> None:
        with self._errors():
            self._redis.ping()

    def get(self, env_key: str) -> Environment | None:
        with self._errors():
            fields = self._redis.hgetall(self._key("env", env_key))
        return _from_fields(fields)

    def all(self) -> list[Environment]:
        with self._errors():
            keys = sorted(k.decode() if isinstance(k, bytes) else k
                          for k in self._redis.smembers(self._key("envs")))
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(self._key("env", key))
            replies = pipe.execute() if keys else []
        return [env for fields in replies if (env := _from_fields(fields)) is not None]

    def env_keys(self) -> set[str]:
        """Every environment key with a record (one round trip)."""
        with self._errors():
            return {text(k) for k in self._redis.smembers(self._key("envs"))}

    def get_many(self, env_keys: Iterable[str]) -> list[Environment | None]:
        """The records of ``env_keys`` in one pipelined round trip (None: no record)."""
        keys = list(env_keys)
        if not keys:
            return []
        with self._errors():
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(self._key("env", key))
            replies = pipe.execute()
        return [_from_fields(fields) for fields in replies]

    def put(self, env: Environment) -> None:
        """Write desired and observed state (a new record, or a test's setup)."""
        with self._errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(self._key("env", env.key), mapping=_to_fields(env))
            pipe.sadd(self._key("envs"), env.key)
            pipe.execute()

    def put_observed(self, env_key: str, observed: Observed) -> None:
        """Write only what the engine saw or did: a request recorded meanwhile
        (new sha, teardown) is never overwritten by a converging worker."""
        with self._errors():
            self._redis.eval(_PUT_OBSERVED, 1, self._key("env", env_key),
                             json.dumps(_encode(observed), sort_keys=True))

    def put_observed_if(self, env_key: str, observed: Observed, *, desired: Desired) -> bool:
        """``put_observed`` only while the record's desired state is still ``desired``,
        atomically: False (nothing written) when a request changed it meanwhile. The
        records are compared as read back, not as stored text: one an earlier version
        wrote (other fields) still compares equal."""
        written: list[bool] = []

        def unless_moved(current: Environment | None) -> Environment | None:
            written.clear()
            if current is None or current.desired != desired:
                return None
            written.append(True)
            return Environment(current.desired, observed)

        self.update(env_key, unless_moved)
        return bool(written)

    def update(self, env_key: str,
               change: Callable[[Environment | None], Environment | None]) -> Environment | None:
        """Read-modify-write one record atomically (optimistic, WATCH/MULTI).

        ``change`` gets the current record and returns the new one, or None to
        keep it; it may run more than once when another writer intervenes."""
        key = self._key("env", env_key)
        with self._errors():
            while True:
                with self._redis.pipeline(transaction=True) as pipe:
                    try:
                        pipe.watch(key)  # type: ignore[no-untyped-call]
                        current = _from_fields(pipe.hgetall(key))
                        updated = change(current)
                        if updated is None:
                            pipe.unwatch()
                            return current
                        pipe.multi()
                        pipe.hset(key, mapping=_to_fields(updated))
                        pipe.sadd(self._key("envs"), env_key)
                        pipe.execute()
                        return updated
                    except redis.WatchError:
                        continue

    def delete_if(self, env_key: str, check: Callable[[Environment | None], bool]) -> bool:
        """Delete the record (and its history list) when ``check`` holds for it now,
        atomically against concurrent writers (WATCH/MULTI). The audit stream keeps
        its entries."""
        key = self._key("env", env_key)
        with self._errors():
            while True:
                with self._redis.pipeline(transaction=True) as pipe:
                    try:
                        pipe.watch(key)  # type: ignore[no-untyped-call]
                        if not check(_from_fields(pipe.hgetall(key))):
                            pipe.unwatch()
                            return False
                        pipe.multi()
                        pipe.delete(key, self._key("history", env_key))
                        pipe.srem(self._key("envs"), env_key)
                        pipe.execute()
                        return True
                    except redis.WatchError:
                        continue

    def delete(self, env_key: str) -> None:
        with self._errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(self._key("env", env_key), self._key("history", env_key))
            pipe.srem(self._key("envs"), env_key)
            pipe.execute()

    def record(self, env_key: str, entry: HistoryEntry) -> None:
        """Append to the environment's history and to the global audit stream."""
        encoded = json.dumps(_encode(entry), sort_keys=True)
        with self._errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.lpush(self._key("history", env_key), encoded)
            pipe.ltrim(self._key("history", env_key), 0, HISTORY_LIMIT - 1)
            pipe.xadd(self._key("audit"), {"env": env_key, "entry": encoded},
                      maxlen=AUDIT_LIMIT, approximate=True)
            pipe.execute()

    def history(self, env_key: str) -> list[HistoryEntry]:
        with self._errors():
            raws = self._redis.lrange(self._key("history", env_key), 0, -1)
        return [_decode(HistoryEntry, json.loads(raw)) for raw in raws]

    def cached(self, name: str) -> str | None:
        """A remembered answer (see :meth:`cache`), None when unknown or expired."""
        with self._errors():
            raw = self._redis.get(self._key("cache", name))
        return raw.decode() if isinstance(raw, bytes) else raw

    def cache(self, name: str, value: str, seconds: float) -> None:
        """Remember an answer that is costly to get again (e.g. an MR's changed paths)."""
        with self._errors():
            self._redis.set(self._key("cache", name), value, px=max(1, int(seconds * 1000)))

    def leadership(self, owner: str, ttl: float) -> Leadership:
        """This replica's claim to lead the periodic jobs (see ``bot.state.leader``)."""
        return Leadership(self._redis, prefix=self._prefix, owner=owner, ttl=ttl)

    def claim_tick(self, job: str, tick: int, owner: str, ttl: float) -> bool:
        """True for the one caller that runs ``job`` for scheduling period ``tick``: a
        deposed leader and its successor never both run one tick."""
        with self._errors():
            return bool(self._redis.set(self._key("jobs", job, str(tick)), owner, nx=True,
                                        px=max(1, int(ttl * 1000))))

    def record_job_run(self, job: str, tick: int, owner: str, token: int) -> None:
        """Which replica ran which job for which tick (capped stream ``jobs:runs``)."""
        with self._errors():
            self._redis.xadd(self._key("jobs", "runs"),
                             {"job": job, "tick": tick, "owner": owner, "token": token},
                             maxlen=10_000, approximate=True)

    def job_runs(self) -> list[dict[str, str]]:
        with self._errors():
            entries = self._redis.xrange(self._key("jobs", "runs"))
        return [{text(k): text(v) for k, v in (fields or {}).items()}
                for _, fields in entries or []]

    @contextmanager
    def lock(self, env_key: str, *, wait: float | None = None) -> Iterator[HeldLock]:
        """Hold the environment's lock (see ``bot.state.locks``): renewed while held, so a
        SIGKILLed holder frees it within ``lock_ttl`` seconds; ``fence()`` on the held lock
        raises once it lapsed."""
        with self._errors(), locks.hold(
                self._redis, self._key("lock", env_key), env_key, ttl=self._lock_ttl,
                wait=self._lock_ttl + 5 if wait is None else wait) as held:
            yield held

    # -- Slack announcement and expiry warning ---------------------------------
    # Own hash fields of env:<ENV>, beside `desired` and `observed`: their writers
    # (the Slack notifier, the expiry warning) never race requests or workers.
    def announcement(self, env_key: str) -> str | None:
        """The environment's Slack announcement, ``<channel>/<ts>``; None when none is known."""
        with self._errors():
            raw = self._redis.hget(self._key("env", env_key), "announcement")
        return raw.decode() if isinstance(raw, bytes) else raw

    def set_announcement(self, env_key: str, ref: str | None) -> None:
        """Remember (or, with None, forget) the announcement; only for an existing record."""
        with self._errors():
            self._redis.eval(_SET_FIELD, 1, self._key("env", env_key), "announcement",
                             ref if ref is not None else "", "0" if ref is not None else "1")

    # -- notices the notifier could not deliver ---------------------------------
    # A hash per topic, a field per environment: only the latest notice of a topic is
    # owed. Topic "" is `notices-owed`, where earlier versions kept their one notice per
    # environment (still read and written: a replica of the previous version shares it).
    def _owed_key(self, topic: str) -> str:
        return self._key("notices-owed", topic) if topic else self._key("notices-owed")

    def owe_notice(self, env_key: str, notice: str, *, topic: str = "") -> None:
        with self._errors():
            self._redis.hset(self._owed_key(topic), env_key, notice)

    def owed_notice(self, env_key: str, *, topic: str = "") -> str | None:
        with self._errors():
            raw = self._redis.hget(self._owed_key(topic), env_key)
        return None if raw is None else text(raw)

    def owed_notices(self, *, topic: str = "") -> dict[str, str]:
        with self._errors():
            raw = self._redis.hgetall(self._owed_key(topic))
        return {text(k): text(v) for k, v in raw.items()}

    def settle_notice(self, env_key: str, notice: str, *, topic: str = "") -> None:
        """``notice`` is owed no more, if it is still what is owed for ``env_key`` (a
        newer failure recorded meanwhile stays owed)."""
        with self._errors():
            self._redis.eval(_SETTLE, 1, self._owed_key(topic), env_key, notice)

    def mark_expiry_warned(self, env_key: str, expires_at: datetime, *, owing: str = "",
                           topic: str = "") -> bool:
        """True once per expiry time: the first caller for ``expires_at`` warns. With
        ``owing``, that notice is owed (under ``topic``) in the same step, so a warning
        marked is never lost before it is delivered."""
        with self._errors():
            return bool(self._redis.eval(_MARK_WARNED, 2, self._key("env", env_key),
                                         self._owed_key(topic), expires_at.isoformat(),
                                         env_key, owing))


_SET_FIELD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[3] == '1' then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
"""

_SETTLE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])
"""

_MARK_WARNED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'expiry_warned') == ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'expiry_warned', ARGV[1])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) end
return 1
"""
