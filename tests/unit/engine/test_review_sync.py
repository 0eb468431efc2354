"""Keeping the review surface in step: trouble around it (the namespace, the record)
is the surface lagging, retried by later passes — never a failed environment."""

from __future__ import annotations

import pytest

from bot.domain import records
from bot.domain.errors import PermanentError, PreviewError
from bot.domain.model import Status
from bot.domain.plan import ActionKind
from bot.engine.announcements import Announcements
from tests.unit.engine.conftest import build_engine, up_ready


@pytest.mark.parametrize(("method", "error"), [
    ("annotate_namespace", PermanentError("namespace gone; nothing to annotate")),
    ("annotate_namespace", PermanentError("admission webhook denied the request")),
], ids=["namespace gone meanwhile", "annotation refused"])
def test_trouble_keeping_the_surface_in_step_leaves_the_environment_ready(
        method: str, error: PreviewError) -> None:
    e = build_engine()
    key = up_ready(e)
    e.core.save(e.env(key), Status.READY, "", review_synced_hash="",
                review_environment_id=None)  # as after a Redis loss: the id is sought again
    e.cluster.faults.fail(method, error, times=10)

    [outcome] = e.reconcile(key).outcomes

    assert outcome.action.kind is ActionKind.SYNC
    env = e.env(key)
    assert env.observed.status is Status.READY
    assert env.observed.review_attempts == 1 and env.observed.review_synced_hash == ""
    assert [n.kind.value for n in e.notifier.notices].count("failed") == 0


def test_an_unreadable_announcement_on_the_namespace_is_not_copied_into_redis() -> None:
    e = build_engine()
    key = up_ready(e)
    e.cluster.annotate_namespace(f"preview-{key}", {records.ANNOUNCEMENT: "garbage-no-slash"})
    e.store.set_announcement(key, None)  # as after a Redis loss
    announcements = Announcements(e.store, e.cluster, readable=lambda ref: "/" in ref)

    assert announcements.of(e.env(key)) is None
    assert e.store.announcement(key) is None
