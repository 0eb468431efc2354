"""The permissions' lookup cache: entries expire after the TTL on the injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.engine.permissions import TtlCache

T0 = datetime(2026, 12, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.moment = T0

    def now(self) -> datetime:
        return self.moment


@pytest.mark.parametrize(("after", "asked_again"), [
    (timedelta(0), False),
    (timedelta(minutes=4, seconds=59), False),
    (timedelta(minutes=5), True),
    (timedelta(hours=1), True),
])
def test_entries_expire(after: timedelta, asked_again: bool) -> None:
    clock = Clock()
    cache = TtlCache(clock, timedelta(minutes=5))
    answers = iter(["first", "second"])
    assert cache.get("k", lambda: next(answers)) == "first"
    clock.moment = T0 + after
    assert cache.get("k", lambda: next(answers)) == ("second" if asked_again else "first")


def test_misses_are_cached_and_errors_are_not() -> None:
    cache = TtlCache(Clock(), timedelta(minutes=5))
    assert cache.get("nobody", lambda: None) is None
    assert cache.get("nobody", lambda: "found later") is None  # a miss is remembered

    def broken() -> str:
        raise RuntimeError("Slack down")
    with pytest.raises(RuntimeError):
        cache.get("k", broken)
    assert cache.get("k", lambda: "up again") == "up again"
