"""Expiry warnings (``bot.engine.expiry``) on real Redis, with the clock moved by the
test: once per expiry time, inside ``warn_before`` only, moved by an extension."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from bot.domain.model import Desired, Environment, Observed, Status
from bot.engine.core import Core
from bot.engine.expiry import warn_expiring
from bot.engine.notify import NoticeKind, RecordingNotifier
from bot.engine.requests import Requests
from bot.runtime.wiring import build_core
from tests.integration.lifecycle_bed import LifecycleBed

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def notices() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def core(bed: LifecycleBed, clock: MovableClock, notices: RecordingNotifier) -> Core:
    # Project defaults: ttl 48h, warn_before 2h (the default), max_ttl 7d.
    return build_core(Settings.from_env(bed.environ()), notifier=notices, clock=clock)


def recorded(core: Core, bed: LifecycleBed, iid: int, *, expires_in: timedelta,
             status: Status = Status.READY, present: bool = True) -> Environment:
    desired = Desired(env_key=f"{bed.slug}-mr-{iid}", project_path=bed.project_path,
                      project_id=bed.project_id, branch=f"feature-{iid}", sha="a" * 40,
                      created_at=T0, expires_at=T0 + expires_in, mr_iid=iid, owner="alice",
                      present=present)
    env = Environment(desired, Observed(status=status))
    core.store.put(env)
    return env


def test_warned_once_inside_warn_before(bed: LifecycleBed, core: Core, clock: MovableClock,
                                        notices: RecordingNotifier) -> None:
    env = recorded(core, bed, 1, expires_in=timedelta(hours=3))
    assert warn_expiring(core) == []  # 3h left: outside the 2h window
    clock.moment = T0 + timedelta(minutes=59, seconds=59)
    assert warn_expiring(core) == []

    clock.moment = T0 + timedelta(hours=1)  # exactly expires_at - warn_before
    assert warn_expiring(core) == [env.key]
    clock.moment = T0 + timedelta(hours=2)
    assert warn_expiring(core) == []  # the same expiry is warned once

    [notice] = notices.notices
    assert (notice.kind, notice.env.key) == (NoticeKind.EXPIRING, env.key)
    assert notice.reason == ("expires at 2026-12-01 11:00 UTC (in 2h); "
                             "extend it to keep it")
    assert [(h.action, h.actor) for h in core.store.history(env.key)] == [("warned", "reaper")]


def test_an_extension_moves_the_warning(bed: LifecycleBed, core: Core, clock: MovableClock,
                                        notices: RecordingNotifier) -> None:
    env = recorded(core, bed, 2, expires_in=timedelta(hours=3))
    clock.moment = T0 + timedelta(hours=2)
    assert warn_expiring(core) == [env.key]

    Requests(core).extend(env.key, timedelta(hours=24), actor="slack:U0ALICE")
    assert warn_expiring(core) == []  # the new expiry is a day away
    clock.moment = T0 + timedelta(hours=25)  # 2h before the new expiry (T0 + 27h)
    assert warn_expiring(core) == [env.key]
    assert warn_expiring(core) == []
    expiring = [n for n in notices.notices if n.kind is NoticeKind.EXPIRING]
    assert [n.env.desired.expires_at for n in expiring] == [T0 + timedelta(hours=3),
                                                             T0 + timedelta(hours=27)]


def test_no_warning_after_expiry_or_for_ended_environments(
        bed: LifecycleBed, core: Core, clock: MovableClock, notices: RecordingNotifier) -> None:
    expired = recorded(core, bed, 3, expires_in=timedelta(hours=1))
    gone = recorded(core, bed, 4, expires_in=timedelta(hours=3), status=Status.GONE)
    going = recorded(core, bed, 5, expires_in=timedelta(hours=3), present=False)
    clock.moment = T0 + timedelta(hours=1)  # expired: the reaper's, not a warning's
    assert warn_expiring(core) == []
    clock.moment = T0 + timedelta(hours=2)
    assert warn_expiring(core) == []
    assert notices.notices == []
    for env in (expired, gone, going):
        assert core.store.history(env.key) == []


def test_the_mark_is_per_record(bed: LifecycleBed, core: Core) -> None:
    env = recorded(core, bed, 6, expires_in=timedelta(hours=3))
    assert core.store.mark_expiry_warned(env.key, env.desired.expires_at)
    assert not core.store.mark_expiry_warned(env.key, env.desired.expires_at)
    later = env.desired.expires_at + timedelta(hours=1)
    assert core.store.mark_expiry_warned(env.key, later)
    assert not core.store.mark_expiry_warned("no-such-env", later)  # never creates a record
    assert core.store.get("no-such-env") is None
    core.store.put(replace(env, desired=replace(env.desired, expires_at=later)))
    assert not core.store.mark_expiry_warned(env.key, later)  # put keeps the mark
