"""Discovery's open-MR decisions: GitLab's open list is the truth, webhooks are hints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.changes import ChangeState
from bot.domain.errors import TemporaryError
from bot.domain.model import EndKind, Status
from tests.unit.engine.conftest import (
    PROJECT_ID,
    PROJECT_PATH,
    SHA1,
    SHA2,
    Engine,
    build_engine,
    change,
    config_doc,
    up_ready,
)

KEY = "group-app-mr-7"


def _open(e: Engine, **mr: Any) -> None:
    e.source.put_change(change(**mr))


def _up(e: Engine, **mr: Any) -> None:
    """MR !7 up and ready, then the forge shows it as ``mr`` says."""
    up_ready(e)
    e.source.put_change(change(**mr))


def _manual_up(e: Engine, **mr: Any) -> None:
    e.source.put_change(change())
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice", manual=True)
    e.source.put_change(change(**mr))


def _ended(e: Engine, kind: EndKind) -> None:
    up_ready(e)
    e.requests.request_down(KEY, reason="ended", actor="alice", kind=kind)
    e.reconcile(KEY)
    e.cluster.finish_deletions()
    e.reconcile(KEY)
    assert e.env(KEY).observed.status is Status.GONE


def _redis_lost_after_a_deliberate_end(e: Engine) -> None:
    _ended(e, EndKind.REQUESTED)
    e.store.delete(KEY)  # only the MR note remembers: ended on purpose at SHA1


def _ended_then_pushed(e: Engine) -> None:
    _ended(e, EndKind.REQUESTED)
    _open(e, sha=SHA2)


def _pipeline_passed(e: Engine) -> None:
    e.source.put_change(change())
    e.source.passed[PROJECT_ID] = frozenset({SHA1})


def _pipeline_up_then_pushed(e: Engine) -> None:
    e.source.put_change(change(head_pipeline_sha=SHA1, head_pipeline_status="success",
                               head_pipeline_passed=True))
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")
    e.source.passed[PROJECT_ID] = frozenset({SHA1})
    e.source.put_change(change(sha=SHA2))  # its pipeline has not passed yet


@dataclass(frozen=True)
class Case:
    setup: Callable[[Engine], None]
    findings: list[str]  # the kinds found, in order
    present: bool | None = True  # the record's desired.present after; None: no record
    sha: str = SHA1
    down_kind: str = ""
    doc: dict[str, Any] | None = None


CASES = {
    "open, wanted, no environment: up": Case(_open, ["up"]),
    "open, not wanted, no environment: nothing": Case(
        lambda e: _open(e, labels=()), [], present=None),
    "open, draft, no environment: nothing": Case(
        lambda e: _open(e, draft=True), [], present=None),
    "open from the default branch: nothing": Case(
        lambda e: _open(e, source_branch="main"), [], present=None),
    "trigger label removed: down": Case(
        lambda e: _up(e, labels=()), ["down"], present=False,
        down_kind=EndKind.TRIGGER_LOST.value),
    "trigger lost, brought up by hand: kept": Case(
        lambda e: _manual_up(e, labels=()), []),
    "new head: up at it": Case(lambda e: _up(e, sha=SHA2), ["up"], sha=SHA2),
    "same head: nothing": Case(_up, []),
    "pipeline mode, head not passed: nothing": Case(
        _open, [], present=None, doc=config_doc(deploy_on="pipeline")),
    "pipeline mode, head passed: up": Case(
        _pipeline_passed, ["up"], doc=config_doc(deploy_on="pipeline")),
    "pipeline mode, new head not passed yet: kept at the old": Case(
        _pipeline_up_then_pushed, [], doc=config_doc(deploy_on="pipeline")),
    "not listed, closed: down": Case(
        lambda e: _up(e, state=ChangeState.CLOSED), ["down"], present=False,
        down_kind=EndKind.MR_CLOSED.value),
    "not listed, merged: down": Case(
        lambda e: _up(e, state=ChangeState.MERGED), ["down"], present=False,
        down_kind=EndKind.MR_CLOSED.value),
    "not listed, merging: kept": Case(lambda e: _up(e, state=ChangeState.MERGING), []),
    "ended by a person at this sha: not recreated": Case(
        lambda e: _ended(e, EndKind.REQUESTED), [], present=False,
        down_kind=EndKind.REQUESTED.value),
    "ended by its TTL at this sha: not recreated": Case(
        lambda e: _ended(e, EndKind.TTL), [], present=False, down_kind=EndKind.TTL.value),
    "ended by a person, a new commit since: up": Case(
        _ended_then_pushed, ["up"], sha=SHA2),
    "ended by a close, open again: up": Case(
        lambda e: _ended(e, EndKind.MR_CLOSED), ["up"]),
    "ended on purpose at this sha, Redis lost it: not recreated, remembered": Case(
        _redis_lost_after_a_deliberate_end, [], present=False,
        down_kind=EndKind.REQUESTED.value),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_discovery_decides_from_the_open_list(case: Case) -> None:
    e = build_engine(case.doc)
    case.setup(e)
    found = e.discover(e.store.all(), dry_run=False)
    assert [f.kind for f in found.findings] == case.findings
    assert found.unreachable == ()
    env = e.store.get(KEY)
    assert (env.desired.present if env else None) is case.present
    if env is not None:
        assert env.desired.sha == case.sha
        assert env.desired.down_kind == case.down_kind


def test_a_dry_run_finds_the_same_and_records_nothing() -> None:
    e = build_engine()
    _up(e, state=ChangeState.CLOSED)
    before = e.store.all()
    found = e.discover(before, dry_run=True)
    assert [f.kind for f in found.findings] == ["down"] and e.store.all() == before


@pytest.mark.parametrize("method", ["open_change_requests", "change_request"])
def test_no_mr_state_teardown_when_the_forge_cannot_answer(method: str) -> None:
    e = build_engine()
    _up(e, state=ChangeState.CLOSED)
    e.source.faults.fail(method, TemporaryError("GitLab is down"))
    found = e.discover(e.store.all(), dry_run=False)
    assert found.findings == () and e.env(KEY).desired.present
    if method == "open_change_requests":
        assert found.unreachable == (PROJECT_PATH,)
    found = e.discover(e.store.all(), dry_run=False)  # GitLab back: it acts
    assert [f.kind for f in found.findings] == ["down"] and not e.env(KEY).desired.present


def test_a_ttl_still_applies_while_the_forge_cannot_list() -> None:
    e = build_engine()
    up_ready(e)
    e.clock.advance(timedelta(hours=49))
    e.source.faults.fail("open_change_requests", TemporaryError("GitLab is down"))
    result = e.reconcile()
    assert [a.kind.value for a in result.plan.actions] == ["delete"]
    assert e.env(KEY).observed.status is Status.TEARING_DOWN
