"""Owed notices: what the notifier could not take (``Core.emit``) is delivered later by
``Core.catch_up_notices``, once, as the environment stands then — or dropped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot.domain.errors import TemporaryError
from bot.domain.model import Status
from bot.engine.notify import NoticeKind
from tests.unit.engine.conftest import PROJECT_PATH, Engine, build_engine, change, up_ready

KEY = "group-app-mr-7"
DOWN = TemporaryError("chat service unavailable")


def _owe(e: Engine, kind: NoticeKind, reason: str = "") -> None:
    """The notifier is down for one notice of ``kind``: it is owed."""
    e.notifier.faults.fail("notify", DOWN)
    e.core.emit(kind, e.env(KEY), reason)
    assert e.store.owed_notice(KEY) is not None


def _torn_down(e: Engine) -> None:
    e.requests.request_down(KEY, reason="done", actor="alice")
    e.reconcile(KEY)
    e.cluster.finish_deletions()
    e.reconcile(KEY)
    assert e.env(KEY).observed.status is Status.GONE


def _nothing(e: Engine) -> None:
    pass


def _down_asked(e: Engine) -> None:  # recorded only: nothing told yet
    e.requests.request_down(KEY, reason="done", actor="alice")


def _up_asked(e: Engine) -> None:
    e.source.put_change(change())
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice", manual=True)


def _a_day_passes(e: Engine) -> None:
    e.clock.advance(timedelta(days=1, seconds=1))


def _expired(e: Engine) -> None:
    e.clock.advance(timedelta(hours=49))


def _failed_since(e: Engine) -> None:
    e.core.save(e.env(KEY), Status.FAILED, "a hook failed")


def _record_gone(e: Engine) -> None:
    e.store.delete(KEY)


@dataclass(frozen=True)
class Owed:
    kind: NoticeKind
    meanwhile: Callable[[Engine], None]  # between the failure and the catch-up; tells nothing
    told: list[str]  # what the catch-up delivers
    reason: str = ""
    before: Callable[[Engine], None] = _nothing  # after the environment is up and ready


CASES = {
    "delivered later": Owed(NoticeKind.EXTENDED, _nothing, ["extended"], "until Friday"),
    "deploying owed, ready since: told ready": Owed(NoticeKind.DEPLOYING, _nothing,
                                                    ["ready"]),
    "deploying owed, failed since: told failed": Owed(NoticeKind.DEPLOYING, _failed_since,
                                                      ["failed"]),
    "over a day old: dropped": Owed(NoticeKind.READY, _a_day_passes, []),
    "ready owed, down asked since: not news": Owed(NoticeKind.READY, _down_asked, []),
    "ready owed, expired since: not news": Owed(NoticeKind.READY, _expired, []),
    "torn-down owed, still gone: delivered": Owed(NoticeKind.TORN_DOWN, _nothing,
                                                  ["torn-down"], "done", _torn_down),
    "torn-down owed, up asked since: not news": Owed(NoticeKind.TORN_DOWN, _up_asked, [],
                                                     before=_torn_down),
    "record gone since: dropped": Owed(NoticeKind.READY, _record_gone, []),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_an_owed_notice_is_caught_up_once_as_it_stands(case: Owed) -> None:
    e = build_engine()
    up_ready(e)
    case.before(e)
    _owe(e, case.kind, case.reason)
    told_before = len(e.notifier.notices)
    case.meanwhile(e)
    assert len(e.notifier.notices) == told_before  # the case tells nothing itself
    delivered = e.core.catch_up_notices()
    late = e.notifier.notices[told_before:]
    assert [n.kind.value for n in late] == case.told and delivered == len(case.told)
    assert [n.reason for n in late] == ([case.reason] if case.told else [])
    assert e.store.owed_notice(KEY) is None  # settled either way
    assert e.core.catch_up_notices() == 0  # once only
    assert len(e.notifier.notices) == told_before + len(case.told)


def test_a_delivered_notice_settles_what_was_owed_before() -> None:
    e = build_engine()
    up_ready(e)
    _owe(e, NoticeKind.EXTENDED, "until Friday")
    e.core.emit(NoticeKind.EXTENDED, e.env(KEY), "until Saturday")  # the notifier is back
    assert e.store.owed_notice(KEY) is None and e.core.catch_up_notices() == 0


def test_a_notifier_still_down_is_tried_again_next_tick() -> None:
    e = build_engine()
    keys = [up_ready(e, iid, sha=str(iid) * 40) for iid in (1, 2, 3, 4)]
    for key in keys:
        e.notifier.faults.fail("notify", DOWN)
        e.core.emit(NoticeKind.EXTENDED, e.env(key), "until Friday")
    e.notifier.faults.fail("notify", DOWN, times=3)
    told = len(e.notifier.notices)
    assert e.core.catch_up_notices() == 0 and len(e.notifier.notices) == told
    assert set(e.store.owed_notices()) == set(keys)  # three failures: the rest waits too
    assert e.core.catch_up_notices() == 4 and e.store.owed_notices() == {}


def test_an_unreadable_owed_notice_is_dropped() -> None:
    e = build_engine()
    up_ready(e)
    e.store.owe_notice(KEY, "{not json")
    assert e.core.catch_up_notices() == 0 and e.store.owed_notice(KEY) is None


def test_an_environment_busy_now_is_caught_up_later() -> None:
    e = build_engine()
    up_ready(e)
    _owe(e, NoticeKind.EXTENDED, "until Friday")
    # a deploy holds the lock (busy at once here; the real wait would be CATCH_UP_LOCK_WAIT)
    e.store.faults.fail("lock", TemporaryError("busy"))
    assert e.core.catch_up_notices() == 0
    assert e.store.owed_notice(KEY) is not None
    assert e.core.catch_up_notices() == 1
