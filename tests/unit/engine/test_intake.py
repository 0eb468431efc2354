"""Teardown events that must not act (``Intake._why_not``), and those that must: GitLab
payloads (tests/fixtures/gitlab) through ``Intake.handle``, decoded by GitLab's rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.domain.changes import ChangeState
from bot.domain.errors import BadDeliveryError, TemporaryError
from bot.domain.model import EndKind
from bot.gitlab.hooks import MERGE_REQUEST_HOOK, PUSH_HOOK
from tests.unit.engine.conftest import (
    PROJECT_ID,
    PROJECT_PATH,
    SHA1,
    Engine,
    build_engine,
    change,
    fixture,
)

MR_KEY, BRANCH_KEY = "group-app-mr-7", "group-app-feature-x"
# Before every fixture's updated_at: the events are news to these records.
BEFORE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AFTER = datetime(2026, 3, 3, 8, 30, tzinfo=UTC)  # after every fixture's updated_at


def _mr_env(*, manual: bool = False, seen_at: datetime = BEFORE,
            **now: Any) -> Callable[[Engine], None]:
    """MR !7 up (an event of ``seen_at`` recorded it), then GitLab shows it as ``now``."""
    def setup(e: Engine) -> None:
        e.source.put_change(change(updated_at=seen_at))
        e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice", manual=manual)
        e.source.put_change(change(updated_at=AFTER, **now))
    return setup


def _branch_env(*, deleted: bool) -> Callable[[Engine], None]:
    def setup(e: Engine) -> None:
        e.source.branches[(PROJECT_ID, "feature-x")] = SHA1
        e.requests.request_up_branch(PROJECT_PATH, "feature-x", actor="alice")
        if deleted:
            del e.source.branches[(PROJECT_ID, "feature-x")]
    return setup


@dataclass(frozen=True)
class Event:
    setup: Callable[[Engine], None]
    hook: str  # the fixture
    acts: bool  # the teardown is recorded
    words: str = ""  # in the summary
    key: str = MR_KEY
    down_kind: str = ""
    event_type: str = MERGE_REQUEST_HOOK


EVENTS = {
    "close, GitLab shows it closed: acts": Event(
        _mr_env(state=ChangeState.CLOSED), "merge_request_close", True, "down",
        down_kind=EndKind.MR_CLOSED.value),
    "merge, GitLab shows it merged: acts": Event(
        _mr_env(state=ChangeState.MERGED), "merge_request_merge", True, "down",
        down_kind=EndKind.MR_CLOSED.value),
    "close, reopened since: stale": Event(
        _mr_env(), "merge_request_close", False, "stale"),
    "close older than the environment: ignored": Event(
        _mr_env(seen_at=AFTER, state=ChangeState.CLOSED), "merge_request_close", False,
        "older than"),
    "close of a manual environment: acts (merge/close end it)": Event(
        _mr_env(manual=True, state=ChangeState.CLOSED), "merge_request_close", True,
        "down", down_kind=EndKind.MR_CLOSED.value),
    "trigger label removed, GitLab agrees: acts": Event(
        _mr_env(labels=("backend",)), "merge_request_update_labels", True, "down",
        down_kind=EndKind.TRIGGER_LOST.value),
    "trigger label removed, added back since: stale": Event(
        _mr_env(), "merge_request_update_labels", False, "stale"),
    "trigger label removed, brought up by hand: kept": Event(
        _mr_env(manual=True, labels=("backend",)), "merge_request_update_labels", False,
        "by hand"),
    "close with no environment: ignored": Event(
        lambda e: None, "merge_request_close", False, "no environment"),
    "branch deleted, still in GitLab: stale": Event(
        _branch_env(deleted=False), "push_branch_deleted", False, "still exists",
        key=BRANCH_KEY, event_type=PUSH_HOOK),
    "branch deleted, gone from GitLab: acts": Event(
        _branch_env(deleted=True), "push_branch_deleted", True, "down", key=BRANCH_KEY,
        down_kind=EndKind.BRANCH_DELETED.value, event_type=PUSH_HOOK),
}


@pytest.mark.parametrize("case", EVENTS.values(), ids=EVENTS.keys())
def test_a_teardown_event_acts_only_when_gitlab_confirms_it(case: Event) -> None:
    e = build_engine()
    case.setup(e)
    before = e.store.get(case.key)
    handled = e.hook(case.event_type, fixture(case.hook))
    assert case.words in handled.summary
    after = e.store.get(case.key)
    assert handled.env_keys == ((case.key,) if case.acts else ())
    if case.acts:
        assert after is not None and not after.desired.present
        assert after.desired.down_kind == case.down_kind
        assert e.store.history(case.key)[0].action == "down"
    else:
        assert after == before


def test_a_close_while_gitlab_merges_is_asked_again() -> None:
    e = build_engine()
    _mr_env(state=ChangeState.MERGING)(e)
    before = e.env(MR_KEY)
    with pytest.raises(TemporaryError, match="being merged") as busy:
        e.hook(MERGE_REQUEST_HOOK, fixture("merge_request_close"))
    assert busy.value.delay and e.env(MR_KEY) == before


def test_a_teardown_is_retried_when_gitlab_cannot_confirm_it() -> None:
    e = build_engine()
    _mr_env(state=ChangeState.CLOSED)(e)
    e.source.faults.fail("change_request", TemporaryError("GitLab is down"))
    with pytest.raises(TemporaryError):
        e.hook(MERGE_REQUEST_HOOK, fixture("merge_request_close"))
    assert e.env(MR_KEY).desired.present


def test_an_open_event_brings_the_environment_up_at_gitlabs_head() -> None:
    e = build_engine()
    e.source.put_change(change(sha="4f0c2a7e9b1d3c5a6e8f0b2d4c6a8e0f1b3d5c7a",
                               updated_at=BEFORE))
    handled = e.hook(MERGE_REQUEST_HOOK, fixture("merge_request_open"))
    assert handled.env_keys == (MR_KEY,)
    assert e.env(MR_KEY).desired.sha.startswith("4f0c2a7e")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"], ids=["not json", "not an object"])
def test_a_malformed_delivery_is_bad(body: bytes) -> None:
    e = build_engine()
    with pytest.raises(BadDeliveryError):
        e.intake.handle(MERGE_REQUEST_HOOK, body)
