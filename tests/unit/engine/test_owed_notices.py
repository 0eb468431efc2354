"""Owed notices: what the notifier could not take (``Core.emit``) is delivered later by
``Core.catch_up_notices``, once, as the environment stands then — or dropped. Only the
latest of each topic is owed: a progress notice never overwrites nor settles an owed
expiry warning, and a warning marked sent is delivered or still owed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from bot.domain.durations import format_duration
from bot.domain.errors import TemporaryError
from bot.domain.model import Status
from bot.engine.expiry import warn_expiring
from bot.engine.notify import EXPIRY, STANDING, NoticeKind, topic
from tests.unit.engine.conftest import PROJECT_PATH, Engine, build_engine, change, up_ready

KEY = "group-app-mr-7"
DOWN = TemporaryError("chat service unavailable")


def _owed(e: Engine, kind: NoticeKind, key: str = KEY) -> str | None:
    return e.store.owed_notice(key, topic=topic(kind))


def _owe(e: Engine, kind: NoticeKind, reason: str = "") -> None:
    """The notifier is down for one notice of ``kind``: it is owed."""
    e.notifier.faults.fail("notify", DOWN)
    e.core.emit(kind, e.env(KEY), reason)
    assert _owed(e, kind) is not None


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
    assert _owed(e, case.kind) is None  # settled either way
    assert e.core.catch_up_notices() == 0  # once only
    assert len(e.notifier.notices) == told_before + len(case.told)


def test_a_delivered_notice_settles_what_was_owed_before() -> None:
    e = build_engine()
    up_ready(e)
    _owe(e, NoticeKind.EXTENDED, "until Friday")
    e.core.emit(NoticeKind.EXTENDED, e.env(KEY), "until Saturday")  # the notifier is back
    assert _owed(e, NoticeKind.EXTENDED) is None and e.core.catch_up_notices() == 0


def test_a_notifier_still_down_is_tried_again_next_tick() -> None:
    e = build_engine()
    keys = [up_ready(e, iid, sha=str(iid) * 40) for iid in (1, 2, 3, 4)]
    for key in keys:
        e.notifier.faults.fail("notify", DOWN)
        e.core.emit(NoticeKind.EXTENDED, e.env(key), "until Friday")
    e.notifier.faults.fail("notify", DOWN, times=3)
    told = len(e.notifier.notices)
    assert e.core.catch_up_notices() == 0 and len(e.notifier.notices) == told
    assert set(e.store.owed_notices(topic=EXPIRY)) == set(keys)  # three failures: all wait
    assert e.core.catch_up_notices() == 4 and e.store.owed_notices(topic=EXPIRY) == {}


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
    assert _owed(e, NoticeKind.EXTENDED) is not None
    assert e.core.catch_up_notices() == 1


# --- expiry warnings: owed beside the progress, delivered or no longer news ------------


def _warn_owed(e: Engine) -> None:
    """The environment enters its warning window (48h ttl, 2h warn_before) while the
    notifier is down: warned, and owed."""
    e.clock.advance(timedelta(hours=47))
    e.notifier.faults.fail("notify", DOWN)
    assert warn_expiring(e.core) == [KEY]
    assert _owed(e, NoticeKind.EXPIRING) is not None
    e.clock.advance(timedelta(minutes=1))


def _emit(kind: NoticeKind, *, down: bool) -> Callable[[Engine], None]:
    def step(e: Engine) -> None:
        if down:
            e.notifier.faults.fail("notify", DOWN)
        e.core.emit(kind, e.env(KEY), "a hook failed" if kind is NoticeKind.FAILED else "")
        e.clock.advance(timedelta(minutes=1))
    return step


def _expiry_moved(e: Engine) -> None:  # without a notice (a request a replica recorded)
    e.store.update(KEY, lambda env: None if env is None else replace(
        env, desired=replace(env.desired, expires_at=env.desired.expires_at
                             + timedelta(hours=24))))


def _extended(e: Engine) -> None:  # told: the extension is the news now
    e.requests.extend(KEY, timedelta(hours=24), actor="alice")


def _two_hours(e: Engine) -> None:
    e.clock.advance(timedelta(hours=2))


@dataclass(frozen=True)
class Warned:
    meanwhile: tuple[Callable[[Engine], None], ...]  # after the warning is owed
    told: list[str]  # what the catch-up delivers, in order


WARNINGS = {
    "nothing since: delivered": Warned((), ["expiring"]),
    "a failing deploying since: both, the latest progress as it stands":
        Warned((_emit(NoticeKind.DEPLOYING, down=True),), ["expiring", "ready"]),
    "a failing deploying, then a failing ready: the warning and the ready":
        Warned((_emit(NoticeKind.DEPLOYING, down=True), _emit(NoticeKind.READY, down=True)),
               ["expiring", "ready"]),
    "a failing failed since: both": Warned((_failed_since, _emit(NoticeKind.FAILED, down=True)),
                                           ["expiring", "failed"]),
    "a delivered ready since: the warning is still owed":
        Warned((_emit(NoticeKind.READY, down=False),), ["expiring"]),
    "its expiry passed since: no longer news": Warned((_two_hours,), []),
    "the expiry moved since: no longer news": Warned((_expiry_moved,), []),
    "down asked since: no longer news": Warned((_down_asked,), []),
}


@pytest.mark.parametrize("case", WARNINGS.values(), ids=WARNINGS.keys())
def test_an_owed_warning_is_delivered_beside_the_latest_progress(case: Warned) -> None:
    e = build_engine()
    up_ready(e)
    _warn_owed(e)
    for step in case.meanwhile:
        step(e)
    told_before = len(e.notifier.notices)
    assert e.core.catch_up_notices() == len(case.told)
    assert [n.kind.value for n in e.notifier.notices[told_before:]] == case.told
    assert e.store.owed_notices(topic=STANDING) == e.store.owed_notices(topic=EXPIRY) == {}
    assert e.core.catch_up_notices() == 0 and warn_expiring(e.core) == []  # once only
    assert len(e.notifier.notices) == told_before + len(case.told)


def test_an_extension_told_since_settles_the_owed_warning() -> None:
    e = build_engine()
    up_ready(e)
    _warn_owed(e)
    _extended(e)  # the notifier is back: "extended" delivered, the old expiry is past news
    assert _owed(e, NoticeKind.EXPIRING) is None and e.core.catch_up_notices() == 0


def test_a_late_warning_says_how_long_is_left_now() -> None:
    e = build_engine()
    up_ready(e)
    _warn_owed(e)
    warned = e.store.owed_notice(KEY, topic=EXPIRY) or ""
    e.clock.advance(timedelta(minutes=29))
    left = format_duration(e.env(KEY).desired.expires_at - e.clock.now())
    assert f"(in {left})" not in warned
    assert e.core.catch_up_notices() == 1
    assert f"(in {left})" in e.notifier.notices[-1].reason


def test_a_warning_marked_but_never_sent_is_still_owed() -> None:
    """The warning is owed in the same step as it is marked: a failure before it is
    delivered (here: its history entry) leaves it owed, never marked and lost."""
    e = build_engine()
    up_ready(e)
    e.clock.advance(timedelta(hours=47))
    e.store.faults.fail("record", TemporaryError("redis went away"))
    told = len(e.notifier.notices)
    assert warn_expiring(e.core) == [KEY] and len(e.notifier.notices) == told
    assert warn_expiring(e.core) == []  # marked: never warned twice ...
    assert e.core.catch_up_notices() == 1  # ... but delivered
    assert [n.kind for n in e.notifier.notices[told:]] == [NoticeKind.EXPIRING]


def test_a_warning_for_an_environment_busy_now_waits_for_the_next_pass() -> None:
    e = build_engine()
    up_ready(e)
    e.clock.advance(timedelta(hours=47))
    e.store.faults.fail("lock", TemporaryError("busy"))  # a deploy holds it
    assert warn_expiring(e.core) == [] and _owed(e, NoticeKind.EXPIRING) is None
    assert warn_expiring(e.core) == [KEY] and _owed(e, NoticeKind.EXPIRING) is None
    assert e.notifier.notices[-1].kind is NoticeKind.EXPIRING


def test_a_warning_owed_by_the_previous_version_survives_a_newer_notice() -> None:
    """Earlier versions owed one notice per environment, in topic STANDING: a warning
    there moves to its own topic before a newer notice could overwrite it."""
    e = build_engine()
    up_ready(e)
    e.clock.advance(timedelta(hours=47))
    e.store.owe_notice(KEY, e.core.owing(NoticeKind.EXPIRING, e.env(KEY), "soon"))
    e.clock.advance(timedelta(minutes=1))
    _emit(NoticeKind.READY, down=True)(e)
    assert _owed(e, NoticeKind.EXPIRING) is not None and _owed(e, NoticeKind.READY) is not None
    told = len(e.notifier.notices)
    assert e.core.catch_up_notices() == 2
    assert [n.kind for n in e.notifier.notices[told:]] == [NoticeKind.EXPIRING,
                                                            NoticeKind.READY]


def test_a_warning_the_previous_version_owed_is_caught_up() -> None:
    e = build_engine()
    up_ready(e)
    e.clock.advance(timedelta(hours=47))
    e.store.owe_notice(KEY, json.dumps({"kind": "expiring", "reason": "soon",
                                        "at": e.clock.now().isoformat()}))  # no "expires"
    assert e.core.catch_up_notices() == 1
    assert e.notifier.notices[-1].kind is NoticeKind.EXPIRING
    assert e.store.owed_notices(topic=STANDING) == e.store.owed_notices(topic=EXPIRY) == {}
