"""One leader among the `serve` replicas: a Redis lease with renewal and a fencing token.

Why Redis and not a Kubernetes Lease: Redis is already the one shared dependency
every replica needs (the queue, the records), a lease there costs one round trip
to renew, and the bot's RBAC stays smaller (no `coordination.k8s.io` rights).

The lease is the key ``leader`` holding ``<owner>:<token>`` with an expiry. Each new
term takes a token from the counter ``leader-epoch`` (strictly increasing), so a
deposed leader can tell that a newer term exists: work it does must check
:meth:`Leadership.holds` (fencing) before it acts.
"""

from __future__ import annotations

import redis

from bot.state.connection import redis_errors, text

# KEYS: lease, epoch   ARGV: owner, ttl ms   → the new term's token, or nil when held
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token
"""
# KEYS: lease   ARGV: owner:token, ttl ms   → 1 renewed, 0 not ours (any more)
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS: lease   ARGV: owner:token
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Leadership:
    """This replica's claim to lead; ``token`` is set while it holds a term."""

    def __init__(self, client: redis.Redis, *, prefix: str, owner: str, ttl: float) -> None:
        self._redis = client
        self._lease = f"{prefix}leader"
        self._epoch = f"{prefix}leader-epoch"
        self.owner = owner
        self.ttl = ttl
        self.token: int | None = None
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    @property
    def _value(self) -> str:
        return f"{self.owner}:{self.token}"

    def _ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def try_acquire(self) -> bool:
        """Take the lease when nobody holds it; True when this replica leads now."""
        with redis_errors():
            token = self._acquire(keys=[self._lease, self._epoch], args=[self.owner, self._ms()])
        if token is None:
            return False
        self.token = int(token)
        return True

    def renew(self) -> bool:
        """Extend this term; False when it is over (expired, or another term began)."""
        if self.token is None:
            return False
        with redis_errors():
            renewed = bool(self._renew(keys=[self._lease], args=[self._value, self._ms()]))
        if not renewed:
            self.token = None
        return renewed

    def holds(self) -> bool:
        """Fencing: is this replica's term still the current one?"""
        if self.token is None:
            return False
        with redis_errors():
            current = self._redis.get(self._lease)
        return current is not None and text(current) == self._value

    def release(self) -> None:
        if self.token is None:
            return
        with redis_errors():
            self._release(keys=[self._lease], args=[self._value])
        self.token = None

    def current_leader(self) -> str | None:
        with redis_errors():
            current = self._redis.get(self._lease)
        return text(current).rpartition(":")[0] if current is not None else None
