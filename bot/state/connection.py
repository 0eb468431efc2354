"""The one translation of Redis failures, shared by the store, the queue and the lease."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from bot import metrics
from bot.domain.errors import TemporaryError


@contextmanager
def redis_errors() -> Iterator[None]:
    """Any Redis failure inside becomes a TemporaryError a person can act on."""
    try:
        yield
    except redis.RedisError as error:
        metrics.ERRORS.labels(dependency="redis").inc()
        raise TemporaryError(redis_unavailable(str(error)), delay=5) from error


def text(value: object) -> str:
    """A Redis reply (bytes, or str with decode_responses) as text."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


# --- texts: what a person reads when Redis is down ----------------------------


def redis_unavailable(detail: str) -> str:
    return f"Redis is unreachable ({detail}); check REDIS_URL and that redis-server runs"
