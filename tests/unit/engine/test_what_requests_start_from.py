"""What a request starts from and writes onto (issue 16, items 4, 14 and 16): the
namespace's record when the store lost it, a record of its own identity only, and a
teardown decided on an older read is decided again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.errors import TemporaryError
from bot.domain.model import Environment
from bot.gitlab.hooks import MERGE_REQUEST_HOOK
from tests.unit.engine.conftest import (
    PROJECT_ID,
    PROJECT_PATH,
    SHA2,
    Engine,
    build_engine,
    change,
    fixture,
    up_ready,
)

KEY = "group-app-mr-7"
BEFORE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # before the fixtures' updated_at
AFTER = datetime(2026, 3, 3, 8, 30, tzinfo=UTC)  # after it


def _wiped(e: Engine) -> Environment:
    """MR !7 up, kept and converged; then the store loses every record."""
    up_ready(e)
    kept = e.requests.keep(KEY, actor="carol")
    e.store._rows.clear()  # the fake's Redis wiped; the namespace keeps the record
    return kept


REQUESTS: dict[str, Callable[[Engine], Environment]] = {
    "a new commit's up": lambda e: (e.source.put_change(change(sha=SHA2)),
                                    e.requests.request_up_mr(PROJECT_PATH, 7,
                                                             actor="gitlab:ci"))[1],
    "a person's up": lambda e: e.requests.request_up_mr(PROJECT_PATH, 7, actor="bob",
                                                        manual=True),
    "an extend": lambda e: e.requests.extend(KEY, timedelta(hours=1), actor="bob")[0],
}


@pytest.mark.parametrize("ask", REQUESTS.values(), ids=REQUESTS.keys())
def test_a_request_after_the_store_lost_the_record_starts_from_the_namespace(
        ask: Callable[[Engine], Environment]) -> None:
    e = build_engine()
    kept = _wiped(e)
    env = ask(e)
    assert env.desired.keep and env.desired.owner == "alice"
    assert (env.desired.created_at, env.desired.expires_at) == (
        kept.desired.created_at, kept.desired.expires_at)
    assert e.env(KEY).desired.keep


def test_a_record_of_another_identity_written_at_the_chosen_key_is_not_merged_onto() -> None:
    e = build_engine()
    e.source.branches[(PROJECT_ID, "dev")] = "d" * 40
    e.source.put_change(change())
    other = up_ready(e)  # MR !7 at group-app-mr-7
    theirs = e.env(other)
    # Between this up's choice of its key and its write, another identity's record lands
    # there (another replica that chose the same free key a moment before).
    branch_key = "group-app-dev"
    e.store.faults.before("update", lambda: e.store.put(
        Environment(replace(theirs.desired, env_key=branch_key), theirs.observed)))
    env = e.requests.request_up_branch(PROJECT_PATH, "dev", actor="bob", manual=True)
    assert env.key != branch_key and env.desired.branch == "dev"
    assert e.env(branch_key).desired.mr_iid == 7  # the other identity's record, untouched


def test_a_trigger_loss_teardown_decided_before_a_person_s_up_is_decided_again() -> None:
    e = build_engine()
    e.source.put_change(change(updated_at=BEFORE))  # older than the event
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")
    e.source.put_change(change(labels=("backend",), updated_at=AFTER))  # label gone
    e.source.faults.before("change_request", lambda: e.requests.request_up_mr(
        PROJECT_PATH, 7, actor="bob", manual=True))  # lands while GitLab is asked
    with pytest.raises(TemporaryError, match="changed while GitLab was asked"):
        e.hook(MERGE_REQUEST_HOOK, fixture("merge_request_update_labels"))
    assert e.env(KEY).desired.present
    again = e.hook(MERGE_REQUEST_HOOK, fixture("merge_request_update_labels"))
    assert again.env_keys == ()  # dropped (older than the up, or kept as by hand)
    assert e.env(KEY).desired.present and e.env(KEY).desired.manual
