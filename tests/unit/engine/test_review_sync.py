"""Keeping the review surface in step: trouble around it (the namespace, the record)
is the surface lagging, retried by later passes — never a failed environment."""

from __future__ import annotations

import pytest

from bot.domain import records
from bot.domain.errors import PermanentError, PreviewError
from bot.domain.model import Status
from bot.domain.plan import ActionKind
from bot.engine.announcements import Announcements
from tests.unit.engine.conftest import PROJECT_PATH, build_engine, up_ready


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
    e.cluster.annotate_namespace(f"preview-{key}", {  # … and a namespace without it
        records.REVIEW_ENVIRONMENT_ID: None, records.OLD_REVIEW_ENVIRONMENT_ID: None})
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


def test_a_new_life_whose_forge_environment_was_never_stopped_records_it_on_the_namespace(
        ) -> None:
    """The forge kept the last life's environment running (its stop was never taken): a
    new life reuses it, and its new namespace must say so — it is the durable record a
    Redis loss is recovered from (found by the two-replica event storm)."""
    e = build_engine()
    key = up_ready(e)
    made = e.env(key).observed.review_environment_id
    assert made is not None
    e.requests.request_down(key, reason="done", actor="alice")
    e.review.lag(100)  # the forge takes no stop: given up on after a few passes
    for _ in range(6):
        e.reconcile(key)
        e.cluster.finish_deletions()
    assert e.env(key).observed.status is Status.GONE
    assert e.env(key).observed.review_synced_hash == ""  # given up: never stopped
    e.review.answer_again()

    e.requests.request_up_mr(PROJECT_PATH, 7, actor="slack:U1", manual=True)  # a new life
    assert e.reconcile(key).ok

    namespace = e.cluster.get_namespace(f"preview-{key}")
    assert namespace is not None
    assert records.review_environment_id(namespace.annotations) == made
