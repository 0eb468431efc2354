"""Environment locks on real redis-servers: one holder at a time, renewed while held,
renewal that outlives a short blip, and loss (with fencing) when Redis pauses
longer than the TTL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.errors import TemporaryError
from bot.state.locks import LockLost
from bot.state.store import Store
from tests.polling import poll
from tests.redis_server import PrivateRedis, private_redis


@pytest.fixture
def paused_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path) as server:
        yield server


def elapsed_since(start: float, seconds: float) -> bool:
    return time.monotonic() - start >= seconds


def test_one_holder_at_a_time(redis_url: str) -> None:
    first, second = Store.from_url(redis_url, lock_ttl=5), Store.from_url(redis_url, lock_ttl=5)
    with first.lock("app-mr-1"):
        with (pytest.raises(TemporaryError, match="being changed by another worker"),
              second.lock("app-mr-1", wait=0.2)):
            pass
        with second.lock("app-mr-2", wait=0.2):  # another environment: no contention
            pass
    with second.lock("app-mr-1", wait=0.2) as held:
        held.fence()


def test_a_held_lock_is_renewed_beyond_its_ttl(redis_url: str) -> None:
    holder, other = Store.from_url(redis_url, lock_ttl=1), Store.from_url(redis_url, lock_ttl=1)
    with holder.lock("app-mr-3") as held:
        start = time.monotonic()
        poll("three lock TTLs to pass", lambda: elapsed_since(start, 3.2), timeout=10)
        held.fence()  # still ours: renewed every third of the TTL
        with pytest.raises(TemporaryError), other.lock("app-mr-3", wait=0.1):
            pass


def test_renewal_outlives_a_redis_blip_shorter_than_the_ttl(paused_redis: PrivateRedis) -> None:
    holder = Store.from_url(paused_redis.url, lock_ttl=4)
    with holder.lock("app-mr-4") as held:
        paused_redis.pause()
        start = time.monotonic()
        poll("a 0.5 s blip", lambda: elapsed_since(start, 0.5), timeout=5)
        paused_redis.resume()
        poll("a renewal after the blip", lambda: elapsed_since(start, 3.0), timeout=10)
        held.fence()
        assert not held.lost


def test_a_lock_lapses_when_redis_pauses_longer_than_its_ttl(
        paused_redis: PrivateRedis) -> None:
    holder = Store.from_url(paused_redis.url, lock_ttl=1)
    successor = Store.from_url(paused_redis.url, lock_ttl=1)
    with holder.lock("app-mr-5") as held:
        paused_redis.pause()
        poll("the holder to notice its lock lapsed", lambda: held.lost, timeout=10)
        with pytest.raises(LockLost, match="lost the lock of environment app-mr-5"):
            held.fence()  # it must not change anything more
        paused_redis.resume()
        with successor.lock("app-mr-5", wait=5) as taken:  # the key expired meanwhile
            taken.fence()
