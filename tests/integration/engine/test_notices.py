"""Notices the notifier could not deliver are owed in Redis and delivered by the
catch-up job once it answers again: the latest one per environment, rendered from the
record as it is then, under the environment's lock. One that is no longer news (a
"ready" for an environment that has ended since) is dropped; one environment's
lasting failure never holds up the others; an older success never settles a newer
failure."""

from __future__ import annotations

import threading
from dataclasses import replace

from bot.domain.model import Environment, Status
from bot.engine.notify import Notice, NoticeKind, RecordingNotifier
from bot.engine.requests import Requests
from tests.integration.lifecycle_bed import LifecycleBed


class Switchable(RecordingNotifier):
    """A notifier that is down until switched back on (as Slack answering 503); with
    ``refuse``, the environments whose notices it keeps refusing (a wrong channel)."""

    def __init__(self, *, refuse: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.down = True
        self.refuse = refuse

    def notify(self, notice: Notice) -> None:
        if self.down or notice.env.key in self.refuse:
            raise ConnectionError("503 Service Unavailable")
        super().notify(notice)


def test_undelivered_notices_are_delivered_once_the_notifier_is_back(bed: LifecycleBed) -> None:
    bed.add_mr(1)
    bed.add_mr(2)
    notifier = Switchable()
    core = replace(bed.core(), notifier=notifier)
    requests = Requests(core)
    up = requests.request_up_mr(bed.project_path, 1, actor="cli:alice")
    ended = requests.request_up_mr(bed.project_path, 2, actor="cli:alice")
    core.emit(NoticeKind.DEPLOYING, up)
    up = core.save(up, Status.READY, "ready")
    core.emit(NoticeKind.READY, up)
    core.emit(NoticeKind.READY, ended)
    assert notifier.notices == []
    assert sorted(core.store.owed_notices()) == sorted([up.key, ended.key])
    requests.request_down(ended.key, reason="reviewed", actor="cli:alice")

    assert core.catch_up_notices() == 0  # still down: kept for the next tick ...
    assert list(core.store.owed_notices()) == [up.key]  # ... but "ready" for one ended: no news

    notifier.down = False
    assert core.catch_up_notices() == 1
    [late] = notifier.notices
    assert (late.kind, late.env.key) == (NoticeKind.READY, up.key)  # the latest, not all
    assert core.store.owed_notices() == {}
    assert core.catch_up_notices() == 0  # told once


def test_a_delivered_notice_settles_what_was_owed(bed: LifecycleBed) -> None:
    bed.add_mr(3)
    notifier = Switchable()
    core = replace(bed.core(), notifier=notifier)
    env = Requests(core).request_up_mr(bed.project_path, 3, actor="cli:alice")
    core.emit(NoticeKind.DEPLOYING, env)
    assert list(core.store.owed_notices()) == [env.key]
    notifier.down = False
    ready = Environment(env.desired, replace(env.observed, status=Status.READY))
    core.emit(NoticeKind.READY, ready)
    assert core.store.owed_notices() == {}
    assert core.catch_up_notices() == 0
    assert [n.kind for n in notifier.notices] == [NoticeKind.READY]


def test_one_environment_refused_for_good_never_holds_up_the_others(bed: LifecycleBed) -> None:
    for iid in (4, 5, 6):
        bed.add_mr(iid)
    core = bed.core()
    requests = Requests(core)
    envs = [requests.request_up_mr(bed.project_path, iid, actor="cli:alice") for iid in (4, 5, 6)]
    notifier = Switchable(refuse=frozenset({envs[0].key}))  # sorts first
    core = replace(core, notifier=notifier)
    for env in envs:
        core.emit(NoticeKind.READY, env)
    notifier.down = False
    assert core.catch_up_notices() == 2
    assert sorted(n.env.key for n in notifier.notices) == sorted(e.key for e in envs[1:])
    assert list(core.store.owed_notices()) == [envs[0].key]


def test_an_older_success_never_settles_a_newer_failure(bed: LifecycleBed) -> None:
    """Replica B's slow but successful "extended" must not erase the "gone" that
    replica A failed to deliver meanwhile: gone is still told."""
    bed.add_mr(7)
    slow, failed = threading.Event(), threading.Event()

    class SlowExtendFailingTeardown(RecordingNotifier):
        gone_fails = True

        def notify(self, notice: Notice) -> None:
            if notice.kind is NoticeKind.EXTENDED:
                slow.set()
                failed.wait(10)
            elif notice.kind is NoticeKind.TORN_DOWN and self.gone_fails:
                raise ConnectionError("503 Service Unavailable")
            super().notify(notice)

    notifier = SlowExtendFailingTeardown()
    core = replace(bed.core(), notifier=notifier)
    requests = Requests(core)
    env = requests.request_up_mr(bed.project_path, 7, actor="cli:alice")
    extend = threading.Thread(target=core.emit, args=(NoticeKind.EXTENDED, env, "until x"))
    extend.start()
    assert slow.wait(10)
    gone = requests.request_down(env.key, reason="merged", actor="cli:alice")
    gone = core.save(gone, Status.GONE, "merged")
    core.emit(NoticeKind.TORN_DOWN, gone, "merged")  # fails: owed
    failed.set()
    extend.join(10)
    assert list(core.store.owed_notices()) == [env.key]
    notifier.gone_fails = False
    assert core.catch_up_notices() == 1
    assert [n.kind for n in notifier.notices] == [NoticeKind.EXTENDED, NoticeKind.TORN_DOWN]


def test_catch_up_waits_for_the_environment_s_lock_and_drops_what_ended_meanwhile(
        bed: LifecycleBed) -> None:
    """A teardown (holding the environment's lock) tells "gone"; a catch-up that read
    an owed "ready" before it must not deliver it after: no "ready" after "gone"."""
    bed.add_mr(8)
    notifier = Switchable()
    core = replace(bed.core(), notifier=notifier)
    requests = Requests(core)
    env = requests.request_up_mr(bed.project_path, 8, actor="cli:alice")
    core.emit(NoticeKind.READY, env)  # owed
    notifier.down = False
    with core.store.lock(env.key):  # the teardown runs under the lock
        assert core.catch_up_notices() == 0  # busy: next tick
        gone = core.save(requests.request_down(env.key, reason="merged", actor="cli:alice"),
                         Status.GONE, "merged")
        core.emit(NoticeKind.TORN_DOWN, gone, "merged")
    assert core.catch_up_notices() == 0
    assert [n.kind for n in notifier.notices] == [NoticeKind.TORN_DOWN]
    assert core.store.owed_notices() == {}


def test_an_owed_deploying_is_told_as_it_stands_and_never_after_a_newer_notice(
        bed: LifecycleBed) -> None:
    bed.add_mr(9)
    notifier = Switchable()
    core = replace(bed.core(), notifier=notifier)
    env = Requests(core).request_up_mr(bed.project_path, 9, actor="cli:alice")
    core.emit(NoticeKind.DEPLOYING, env)  # owed
    core.save(env, Status.READY, "ready")
    notifier.down = False
    assert core.catch_up_notices() == 1
    assert [n.kind for n in notifier.notices] == [NoticeKind.READY]  # not "deploying"
