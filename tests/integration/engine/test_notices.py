"""Notices the notifier could not deliver are owed in Redis and delivered by the
catch-up job once it answers again: the latest one per environment, rendered from the
record as it is then; one about an environment that has ended since is dropped."""

from __future__ import annotations

from dataclasses import replace

from bot.domain.model import Environment, Status
from bot.engine.notify import Notice, NoticeKind, RecordingNotifier
from bot.engine.requests import Requests
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.resilience.support import bed_project


class Switchable(RecordingNotifier):
    """A notifier that is down until switched back on (as Slack answering 503)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True

    def notify(self, notice: Notice) -> None:
        if self.down:
            raise ConnectionError("503 Service Unavailable")
        super().notify(notice)


def test_undelivered_notices_are_delivered_once_the_notifier_is_back(bed: LifecycleBed) -> None:
    project = bed_project(bed)
    bed.add_mr(1)
    bed.add_mr(2)
    notifier = Switchable()
    core = replace(bed.core(), notifier=notifier)
    requests = Requests(core)
    up = requests.request_up_mr(bed.project_path, 1, actor="cli:alice")
    ended = requests.request_up_mr(bed.project_path, 2, actor="cli:alice")
    core.emit(NoticeKind.DEPLOYING, up)
    core.emit(NoticeKind.READY, up)
    core.emit(NoticeKind.READY, ended)
    assert notifier.notices == []
    assert sorted(core.store.owed_notices()) == [project.key(1), project.key(2)]
    requests.request_down(ended.key, reason="reviewed", actor="cli:alice")

    assert core.catch_up_notices() == 0  # still down: kept for the next tick
    assert len(core.store.owed_notices()) == 2

    notifier.down = False
    assert core.catch_up_notices() == 1
    [late] = notifier.notices
    assert (late.kind, late.env.key) == (NoticeKind.READY, up.key)  # the latest, not all
    assert core.store.owed_notices() == {}  # the ended one dropped, the other settled
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
