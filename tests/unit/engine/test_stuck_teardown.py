"""A namespace whose deletion never finishes (a finalizer nobody removes), on the fakes
(issue 16, item 9): a teardown says at once that it began, tells once past
``teardown_timeout`` what holds it, looks again with a backoff, and finishes as usual
once the namespace goes; a new life waiting for that namespace says why it waits."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.model import Status
from bot.domain.plan import ActionKind
from bot.engine.notify import NoticeKind
from tests.unit.engine.conftest import (
    PROJECT_ID,
    PROJECT_PATH,
    SHA2,
    Engine,
    build_engine,
    change,
    namespace_of,
    up_ready,
)

KEY = "group-app-mr-7"
NS = namespace_of(KEY)
HOLDS = ("Some resources are remaining: configmaps. has 1 resource instances",
         "Some content in the namespace has finalizers remaining: example.com/hold in 1 "
         "resource instances")


def _stuck_down(e: Engine) -> None:
    up_ready(e)
    e.cluster.hold_deletion(NS, *HOLDS)
    e.requests.request_down(KEY, reason="no longer needed", actor="alice")


def _held_notices(e: Engine) -> list[str]:
    return [n.reason for n in e.notifier.notices if "example.com/hold" in n.reason]


def test_a_teardown_says_at_once_that_it_began() -> None:
    e = build_engine()
    _stuck_down(e)
    e.reconcile(KEY)
    [told] = [n for n in e.notifier.notices if n.kind is NoticeKind.TEARING_DOWN]
    assert told.reason == "no longer needed"
    assert told.env.observed.status is Status.TEARING_DOWN
    assert _held_notices(e) == []  # not held long enough to say more


def test_past_the_timeout_it_tells_once_what_holds_it_in_chat_and_on_the_change() -> None:
    e = build_engine()
    _stuck_down(e)
    e.reconcile(KEY)
    e.clock.advance(timedelta(seconds=e.core.settings.teardown.timeout + 1))
    e.reconcile(KEY)
    [held] = _held_notices(e)
    assert NS in held and "configmaps" in held and "finalizers" in held
    assert e.notifier.notices[-1].kind is NoticeKind.TEARING_DOWN
    [call] = [c for c in e.review.calls if c.method == "tell_held"]
    assert call.detail == held
    e.clock.advance(timedelta(minutes=10))
    e.reconcile(KEY)
    e.reconcile()  # a full pass too
    assert len(_held_notices(e)) == 1  # told once
    assert e.env(KEY).observed.status is Status.TEARING_DOWN
    assert not any(c.method == "stop" for c in e.review.calls)  # not gone: not stopped


def test_rechecks_back_off_up_to_the_cap() -> None:
    e = build_engine()
    _stuck_down(e)
    tuning = e.core.settings.teardown
    delays = []
    for _ in range(12):
        [outcome] = e.reconcile(KEY).outcomes
        assert outcome.in_progress and outcome.retry_after is not None
        delays.append(outcome.retry_after)
        e.clock.advance(timedelta(seconds=outcome.retry_after))
    assert delays[0] == tuning.confirm_delay
    assert delays[:4] == [1.0, 1.0, 2.0, 4.0]  # as long as it took so far: doubling
    assert max(delays) == tuning.max_confirm_delay == delays[-1]


def test_once_the_namespace_goes_the_teardown_finishes_as_usual() -> None:
    e = build_engine()
    _stuck_down(e)
    e.reconcile(KEY)
    e.clock.advance(timedelta(seconds=e.core.settings.teardown.timeout + 1))
    e.reconcile(KEY)
    e.cluster.release_deletion(NS)
    e.cluster.finish_deletions()
    e.reconcile(KEY)
    assert e.env(KEY).observed.status is Status.GONE
    assert e.notifier.kinds(KEY)[-1] == "torn-down"
    assert [c.method for c in e.review.calls][-1] == "stop"
    assert e.review.notes[(PROJECT_ID, 7, KEY)].kind == "stopped"


def test_a_new_life_waiting_for_a_held_namespace_says_why() -> None:
    e = build_engine()
    _stuck_down(e)
    e.reconcile(KEY)
    e.source.put_change(change(sha=SHA2))
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice", manual=True)  # reopened
    [outcome] = e.reconcile(KEY).outcomes
    assert outcome.action.kind is ActionKind.WAIT and outcome.in_progress
    assert "example.com/hold" in outcome.action.reason  # the plan line says it, too
    assert _held_notices(e) == []  # a namespace takes a moment to go: not yet
    e.clock.advance(timedelta(seconds=e.core.settings.teardown.timeout + 1))
    e.reconcile(KEY)
    e.reconcile(KEY)
    [held] = [n for n in e.notifier.notices if n.kind is NoticeKind.WAITING]
    assert "example.com/hold" in held.reason and "deployed once" in held.reason
    assert [c.method for c in e.review.calls].count("tell_held") == 1
    e.cluster.release_deletion(NS)
    e.cluster.finish_deletions()
    e.reconcile(KEY)
    env = e.env(KEY)
    assert env.observed.status is Status.READY and env.desired.sha == SHA2
    assert not env.observed.told_held  # a later teardown tells again
