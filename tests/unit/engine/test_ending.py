"""An environment whose life is ending keeps what people asked for (issue 16, items 2
and 3): a commit that arrives while it is reaped starts a new life afterwards instead
of dying with it, and an extend either wins before the teardown begins or is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.errors import PermanentError, TemporaryError
from bot.domain.model import Status
from tests.unit.engine.conftest import NOW, PROJECT_PATH, SHA1, SHA2, build_engine, change, up_ready

KEY = "group-app-mr-7"


def test_a_new_commit_at_max_ttl_waits_for_the_teardown_then_starts_a_new_life() -> None:
    e = build_engine()
    up_ready(e)
    e.requests.keep(KEY, actor="alice")  # kept: it ends at created + max_ttl (7d)
    e.clock.advance(timedelta(days=7, minutes=1))
    e.source.put_change(change(sha=SHA2))

    with pytest.raises(TemporaryError, match="is ending"):
        e.requests.request_up_mr(PROJECT_PATH, 7, actor="gitlab:alice")
    assert e.env(KEY).desired.sha == SHA1  # not merged onto the dying record

    e.reconcile(KEY)
    e.cluster.finish_deletions()
    e.reconcile(KEY)
    assert e.env(KEY).observed.status is Status.GONE
    assert e.review.ended_at(42, 7) == SHA1  # ended on purpose at the old commit
    reborn = e.requests.request_up_mr(PROJECT_PATH, 7, actor="gitlab:alice")
    assert reborn.desired.sha == SHA2 and reborn.desired.created_at > NOW + timedelta(days=7)


def test_an_extend_once_the_teardown_began_is_refused_and_changes_nothing() -> None:
    e = build_engine()
    up_ready(e)
    e.clock.advance(timedelta(hours=49))  # past its 48h TTL
    e.reconcile(KEY)
    assert e.env(KEY).observed.status is Status.TEARING_DOWN
    before = e.env(KEY).desired

    with pytest.raises(PermanentError, match="is being torn down"):
        e.requests.extend(KEY, timedelta(days=1), actor="alice")
    with pytest.raises(PermanentError, match="is being torn down"):
        e.requests.keep(KEY, actor="alice")
    assert e.env(KEY).desired == before


def test_an_extend_just_before_the_teardown_begins_wins_and_nothing_is_removed() -> None:
    e = build_engine()
    up_ready(e)
    e.clock.advance(timedelta(hours=49))
    # The pass reads the namespace to plan (1), again under the lock to re-plan (2): a
    # teardown; the teardown reads it once more to start (3) — the author's extend
    # lands right then, after the last plan and before anything is removed.
    def extend() -> None:
        e.requests.extend(KEY, timedelta(days=1), actor="alice")
    e.cluster.faults.before("get_namespace", lambda: e.cluster.faults.before(
        "get_namespace", lambda: e.cluster.faults.before("get_namespace", extend)))

    e.reconcile(KEY)

    env = e.env(KEY)
    assert env.observed.status is Status.READY and env.desired.present
    assert env.desired.expires_at == NOW + timedelta(hours=49, days=1)
    assert e.cluster.get_namespace(f"preview-{KEY}") is not None
    assert e.helm.get_release(KEY, f"preview-{KEY}") is not None


@pytest.mark.parametrize("ask", ["keep", "extend"])
def test_past_max_ttl_keep_and_extend_are_refused_before_the_pass(ask: str) -> None:
    e = build_engine()
    up_ready(e)
    e.clock.advance(timedelta(days=7, seconds=1))  # created + max_ttl passed, no pass yet
    before = e.env(KEY).desired
    with pytest.raises(PermanentError, match="reached its max_ttl"):
        if ask == "keep":
            e.requests.keep(KEY, actor="alice")
        else:
            e.requests.extend(KEY, timedelta(hours=1), actor="alice")
    assert e.env(KEY).desired == before
