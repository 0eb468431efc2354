"""Discovery's open-MR decisions: GitLab's open list is the truth, webhooks are hints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.changes import ChangePipeline, ChangeState
from bot.domain.errors import TemporaryError
from bot.domain.model import EndKind, Status
from tests.unit.engine.conftest import (
    PROJECT_ID,
    PROJECT_PATH,
    SHA1,
    SHA2,
    SHA3,
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


MERGE = "e" * 40  # a merged-results pipeline's commit: the head SHA1 merged into main


def passed(sha: str = SHA1) -> dict[str, Any]:
    """A change request's fields when its head pipeline passed on ``sha``."""
    return {"head_pipeline_sha": sha, "head_pipeline_status": "success",
            "head_pipeline_passed": True}


def pipeline(sha: str, status: str = "success", ref: str = "feature-x") -> ChangePipeline:
    return ChangePipeline(sha=sha, ref=ref, status=status, passed=status == "success")


def _pipeline_passed(e: Engine) -> None:
    e.source.put_change(change(**passed()))  # the listing does not show it; a read does


def _pipeline_up_then_pushed(e: Engine) -> None:
    e.source.put_change(change(**passed()))
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")
    e.source.put_change(change(sha=SHA2))  # its pipeline has not passed yet


def _merged_results_passed(e: Engine) -> None:
    e.source.put_change(change(**passed(MERGE)))


def _head_pipeline_rerunning_an_earlier_one_passed(e: Engine) -> None:
    e.source.put_change(change(head_pipeline_sha=SHA1, head_pipeline_status="running"))
    e.source.pipelines[(PROJECT_ID, 7)] = (pipeline(SHA1, "running"), pipeline(SHA1))


def _only_an_older_heads_merged_results_passed(e: Engine) -> None:
    e.source.put_change(change(head_pipeline_sha=MERGE, head_pipeline_status="failed"))
    # the list names a merge commit, not the head it merged: it cannot vouch for SHA1
    e.source.pipelines[(PROJECT_ID, 7)] = (
        pipeline(MERGE, "failed", ref="refs/merge-requests/7/merge"),
        pipeline(SHA3, ref="refs/merge-requests/7/merge"))


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
    "pipeline mode, merged-results pipeline passed: up at its merge commit": Case(
        _merged_results_passed, ["up"], sha=MERGE, doc=config_doc(deploy_on="pipeline")),
    "pipeline mode, head pipeline re-running, an earlier one of the head passed: up": Case(
        _head_pipeline_rerunning_an_earlier_one_passed, ["up"],
        doc=config_doc(deploy_on="pipeline")),
    "pipeline mode, only a merged-results pipeline of unknown head passed: nothing": Case(
        _only_an_older_heads_merged_results_passed, [], present=None,
        doc=config_doc(deploy_on="pipeline")),
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


# --- pipeline mode: what a pass asks GitLab -------------------------------------------
PIPELINE = config_doc(deploy_on="pipeline")


def asked(e: Engine) -> tuple[int, int]:
    """Reads of a change request and of its pipelines so far."""
    return e.source.faults.calls["change_request"], e.source.faults.calls["change_pipelines"]


def test_a_settled_merged_results_environment_costs_no_call_per_pass() -> None:
    e = build_engine(PIPELINE)
    _merged_results_passed(e)
    assert [f.kind for f in e.discover(e.store.all()).findings] == ["up"]
    assert e.env(KEY).desired.sha == MERGE
    before = asked(e)
    for _ in range(3):
        assert e.discover(e.store.all()).findings == ()
    assert asked(e) == before  # what was learnt for this head is remembered


def test_an_environment_at_the_head_costs_no_call() -> None:
    e = build_engine(PIPELINE)
    _pipeline_passed(e)
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")  # at SHA1, its pipeline's
    before = asked(e)
    assert e.discover(e.store.all()).findings == ()
    assert asked(e) == before


def test_not_yet_is_believed_for_the_recheck_time_then_asked_again() -> None:
    e = build_engine(PIPELINE)
    e.source.put_change(change(head_pipeline_sha=SHA1, head_pipeline_status="running"))
    assert e.discover(e.store.all()).findings == ()
    assert asked(e) == (1, 1)
    e.source.put_change(change(**passed()))  # it passed; its Pipeline Hook was lost
    assert e.discover(e.store.all()).findings == ()  # believed: no call
    assert asked(e) == (1, 1)
    e.clock.advance(e.core.settings.forge.pipeline_recheck)
    assert [f.kind for f in e.discover(e.store.all()).findings] == ["up"]
    assert asked(e) == (2, 1) and e.env(KEY).desired.sha == SHA1


def test_a_newer_merged_results_pipeline_the_hook_deployed_is_not_undone() -> None:
    e = build_engine(PIPELINE)
    _merged_results_passed(e)
    e.discover(e.store.all())  # up at MERGE, remembered for the head SHA1
    newer = "f" * 40  # main moved; a new merged-results pipeline of the same head passed
    e.source.put_change(change(**passed(newer)))
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="gitlab:alice", sha=newer)  # its hook
    assert e.discover(e.store.all()).findings == ()  # asked once, not moved back to MERGE
    assert e.env(KEY).desired.sha == newer
    before = asked(e)
    assert e.discover(e.store.all()).findings == ()
    assert asked(e) == before


def test_a_push_between_the_listing_and_the_read_waits_for_the_next_pass() -> None:
    e = build_engine(PIPELINE)
    e.source.put_change(change(**passed()))
    e.source.faults.before("change_request",
                           lambda: e.source.put_change(change(sha=SHA2, **passed(SHA2))))
    # the head pipeline read is SHA2's, not the listed SHA1's: nothing, nothing remembered
    assert e.discover(e.store.all()).findings == ()
    assert [f.kind for f in e.discover(e.store.all()).findings] == ["up"]
    assert e.env(KEY).desired.sha == SHA2


def test_a_dry_run_asks_but_remembers_nothing() -> None:
    e = build_engine(PIPELINE)
    _merged_results_passed(e)
    assert [f.kind for f in e.discover(e.store.all(), dry_run=True).findings] == ["up"]
    assert [f.kind for f in e.discover(e.store.all(), dry_run=True).findings] == ["up"]
    assert asked(e) == (2, 0) and e.store.all() == []


def test_up_by_a_person_in_pipeline_mode_takes_an_earlier_passed_pipeline_of_the_head(
        ) -> None:
    e = build_engine(PIPELINE)
    _head_pipeline_rerunning_an_earlier_one_passed(e)
    env = e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice", manual=True)
    assert env.desired.sha == SHA1
