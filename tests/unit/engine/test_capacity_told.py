"""A capacity refusal nobody waits for (a webhook, a pass) is told once per waiting
period, on the MR and in the channel (``bot.engine.refusals``; issue 16, item 13)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.changes import ChangeState
from bot.domain.errors import CapacityError, TemporaryError
from bot.domain.model import Status
from bot.gitlab.hooks import MERGE_REQUEST_HOOK
from tests.fakes.memory.review import Note
from tests.unit.engine.conftest import (
    PROJECT_ID,
    PROJECT_PATH,
    SHA1,
    SHA2,
    Engine,
    build_engine,
    change,
    config_doc,
    fixture,
)

FIRST, WAITING = "group-app-mr-3", "group-app-mr-7"  # MR 7 is the fixtures' MR


def _full(**extra: object) -> Engine:
    """max_envs 1, taken by MR 3 (READY); MR 7 open and wanted, at SHA1."""
    e = build_engine(config_doc(max_envs=1, **extra))
    e.source.put_change(change(3, source_branch="first"))
    key = e.requests.request_up_mr(PROJECT_PATH, 3, actor="alice").key
    assert e.reconcile(key).ok and e.env(key).observed.status is Status.READY
    e.source.put_change(change(7, sha=SHA1))
    return e


def _note(e: Engine) -> Note | None:
    return e.review.notes.get((PROJECT_ID, 7, WAITING))


def _until_gone(e: Engine, key: str) -> None:
    for _ in range(20):
        e.reconcile(key)
        e.cluster.finish_deletions()
        if e.env(key).observed.status is Status.GONE:
            return
    raise AssertionError(f"{key} is not gone: {e.env(key).observed}")


def test_a_webhook_and_the_passes_after_it_tell_the_refusal_once() -> None:
    e = _full()
    with pytest.raises(CapacityError, match="max_envs"):  # still a refusal (acked, logged)
        e.hook(MERGE_REQUEST_HOOK, fixture("merge_request_open"))
    e.reconcile()
    e.reconcile()
    [told] = e.notifier.refusals
    assert told.label == f"{PROJECT_PATH}!7" and told.env_key == WAITING
    assert FIRST in told.reason and "max_envs" in told.reason  # names the oldest ones
    note = _note(e)
    assert note is not None and note.kind == "refused" and note.refused_at == SHA1
    assert [c.method for c in e.review.calls].count("tell_refused") == 1
    assert e.store.get(WAITING) is None


def test_a_new_commit_still_refused_edits_the_note_and_tells_the_channel_nothing() -> None:
    e = _full()
    e.reconcile()
    e.source.put_change(change(7, sha=SHA2))
    e.reconcile()
    e.reconcile()
    assert len(e.notifier.refusals) == 1
    note = _note(e)
    assert note is not None and note.refused_at == SHA2  # says which commit waits now


def test_once_a_slot_is_free_the_environment_comes_and_its_note_says_ready() -> None:
    e = _full()
    e.reconcile()
    e.requests.request_down(FIRST, reason="done with it", actor="alice")
    _until_gone(e, FIRST)
    e.reconcile()  # the pass that creates MR 7's environment
    assert e.env(WAITING).desired.present
    e.reconcile(WAITING)
    note = _note(e)
    assert note is not None and note.kind == "ready"  # the same note, edited
    assert len(e.notifier.refusals) == 1
    assert "deploying" in e.notifier.kinds(WAITING)  # the usual notices follow


def test_refused_again_after_it_had_an_environment_is_told_again() -> None:
    e = _full()
    e.reconcile()
    e.requests.request_down(FIRST, reason="done with it", actor="alice")
    _until_gone(e, FIRST)
    e.reconcile()
    assert e.reconcile(WAITING).ok and e.env(WAITING).observed.status is Status.READY
    e.source.put_change(change(7, sha=SHA1, state=ChangeState.CLOSED))  # closed: ends
    e.reconcile()
    _until_gone(e, WAITING)
    e.source.put_change(change(9, source_branch="third"))  # takes the slot
    e.reconcile()
    e.clock.advance(timedelta(seconds=5))
    e.source.put_change(change(7, sha=SHA1))  # reopened, the same commit
    e.reconcile()
    e.reconcile()
    assert [r.label for r in e.notifier.refusals] == [f"{PROJECT_PATH}!7"] * 2
    note = _note(e)
    assert note is not None and note.kind == "refused" and "group-app-mr-9" in note.text


def test_when_redis_no_longer_knows_the_note_remembers() -> None:
    e = _full(ttl="30d", max_ttl="30d")
    e.reconcile()
    e.clock.advance(timedelta(days=8))  # the remembered answer expired (as if lost)
    e.reconcile()
    e.reconcile()
    assert len(e.notifier.refusals) == 1
    assert [c.method for c in e.review.calls].count("tell_refused") == 1


def test_a_channel_message_slack_did_not_take_is_posted_by_the_next_pass() -> None:
    e = _full()
    e.notifier.faults.fail("refused", TemporaryError("slack: 503"))
    e.reconcile()
    assert e.notifier.refusals == []
    e.reconcile()
    e.reconcile()
    assert len(e.notifier.refusals) == 1
    assert [c.method for c in e.review.calls].count("tell_refused") == 1  # note kept


def test_a_note_gitlab_did_not_take_is_written_by_the_next_pass_before_the_channel() -> None:
    e = _full()
    e.review.lag()
    e.reconcile()
    assert e.notifier.refusals == [] and _note(e) is None  # nothing in Slack either
    e.reconcile()
    e.reconcile()
    assert len(e.notifier.refusals) == 1
    note = _note(e)
    assert note is not None and note.kind == "refused"
