"""Each kind of plan action, applied end to end by the reconciler on the fakes.

The planner's table itself is tests/unit/domain/test_plan.py; here each row's action is
carried out, and the fakes show the outcome: namespace, release, record, notices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from bot.domain import records
from bot.domain.model import Status
from bot.domain.plan import STOP_PENDING, ActionKind
from tests.unit.engine.conftest import (
    PROJECT_PATH,
    SHA1,
    SHA2,
    Engine,
    build_engine,
    change,
    namespace_of,
    up_ready,
)

KEY = "group-app-mr-7"
NS = namespace_of(KEY)


def _fresh(e: Engine) -> None:
    e.source.put_change(change())
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")


def _ready(e: Engine) -> None:
    up_ready(e)


def _new_sha(e: Engine) -> None:
    up_ready(e)
    e.source.put_change(change(sha=SHA2))
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")


def _release_lost(e: Engine) -> None:  # a record rebuilt, its release gone
    up_ready(e)
    e.helm.uninstall(KEY, NS, dry_run=False)
    e.core.save(e.env(KEY), Status.PENDING, "rebuilt from cluster")


def _crashed_mid_upgrade(e: Engine) -> None:
    _new_sha(e)
    e.helm.upgrade_install(KEY, e.project.chart, NS, {"half": "done"})
    e.helm.leave_pending(KEY, NS)
    e.core.save(e.env(KEY), Status.DEPLOYING, "deploying")
    e.clock.advance(timedelta(minutes=11))  # older than Helm's timeout: not running


def _helm_fails(e: Engine) -> None:
    _fresh(e)
    e.helm.fail_next("a pre-install hook failed")


def _failed_before(e: Engine) -> None:
    _helm_fails(e)
    e.reconcile(KEY)


def _deploying(e: Engine) -> None:  # a worker died after helm, before readiness
    up_ready(e)
    e.core.save(e.env(KEY), Status.DEPLOYING, "deploying")


def _review_behind(e: Engine) -> None:
    up_ready(e)
    e.core.save(e.env(KEY), Status.READY, "", review_synced_hash="")


def _annotations_behind(e: Engine) -> None:
    up_ready(e)
    e.cluster.annotate_namespace(NS, {records.EXPIRES_AT: "2030-01-01T00:00:00Z"})


def _down(e: Engine) -> None:
    up_ready(e)
    e.requests.request_down(KEY, reason="no longer needed", actor="alice")


def _expired(e: Engine) -> None:
    up_ready(e)
    e.clock.advance(timedelta(hours=49))


def _gone_stop_pending(e: Engine) -> None:
    up_ready(e)
    e.requests.request_down(KEY, reason="no longer needed", actor="alice")
    e.reconcile(KEY)
    e.cluster.finish_deletions()
    e.review.lag()  # the forge does not take the stop
    e.reconcile(KEY)
    assert e.env(KEY).observed.review_synced_hash == STOP_PENDING


def _strangers_namespace(e: Engine) -> None:
    _fresh(e)
    e.cluster.add_namespace(NS, {"team": "other"})


def _terminating(e: Engine) -> None:
    _down(e)
    e.reconcile(KEY)  # namespace deleting, record TEARING_DOWN
    e.source.put_change(change(sha=SHA2))
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice", manual=True)


@dataclass(frozen=True)
class Case:
    setup: Callable[[Engine], None]
    kind: ActionKind | None  # None: nothing planned
    ok: bool = True
    status: Status | None = Status.READY
    revision: int | None = 1  # the release's latest revision after; None: no release
    phase: str | None = "Active"  # the namespace's after; None: none
    notices: list[str] = field(default_factory=list)  # told after the setup
    reason: str = ""  # words in the record's reason after


CASES = {
    "create: new environment": Case(
        _fresh, ActionKind.CREATE, notices=["deploying", "ready"]),
    "create: helm release missing": Case(
        _release_lost, ActionKind.CREATE, revision=1, notices=["deploying", "ready"]),
    "update: new sha": Case(
        _new_sha, ActionKind.UPDATE, revision=2, notices=["deploying", "ready"]),
    "update: release stuck pending is recovered, then deployed": Case(
        _crashed_mid_upgrade, ActionKind.UPDATE, revision=4,  # pending 2 → rollback 3 → 4
        notices=["deploying", "ready"]),
    "create: helm fails, the failure is recorded": Case(
        _helm_fails, ActionKind.CREATE, ok=False, status=Status.FAILED,
        notices=["deploying", "failed"], reason="a pre-install hook failed"),
    "noop: failed before with the same inputs": Case(
        _failed_before, None, status=Status.FAILED, reason="a pre-install hook failed"),
    "verify: deploying, release as wanted": Case(
        _deploying, ActionKind.VERIFY, notices=["ready"]),
    "sync: review surface behind": Case(_review_behind, ActionKind.SYNC),
    "sync: namespace annotations behind": Case(_annotations_behind, ActionKind.SYNC),
    "sync: forge environment still to stop": Case(
        _gone_stop_pending, ActionKind.SYNC, status=Status.GONE, revision=None, phase=None),
    "delete: down requested (namespace going)": Case(
        _down, ActionKind.DELETE, status=Status.TEARING_DOWN, revision=None,
        phase="Terminating", notices=["tearing-down"], reason="no longer needed"),
    "delete: ttl expired": Case(
        _expired, ActionKind.DELETE, status=Status.TEARING_DOWN, revision=None,
        phase="Terminating", notices=["tearing-down"], reason="TTL expired"),
    "blocked: stranger's namespace": Case(
        _strangers_namespace, ActionKind.BLOCKED, ok=False, status=Status.PENDING,
        revision=None),
    "wait: namespace still terminating": Case(
        _terminating, ActionKind.WAIT, status=Status.PENDING, revision=None,
        phase="Terminating"),
    "noop: converged": Case(_ready, None),
}


@pytest.mark.parametrize("case", [
    pytest.param(case, id=name) for name, case in CASES.items()])
def test_reconciler_applies_each_action_kind(case: Case) -> None:
    e = build_engine()
    case.setup(e)
    told_before = len(e.notifier.kinds(KEY))
    result = e.reconcile(KEY)
    assert [a.kind for a in result.plan.actions] == ([case.kind] if case.kind else [])
    assert [o.ok for o in result.outcomes] == ([case.ok] if case.kind else [])
    env = e.env(KEY)
    assert env.observed.status is case.status
    assert case.reason in env.observed.reason
    release = e.helm.get_release(KEY, NS)
    assert (release.revision if release else None) == case.revision
    ns = e.cluster.get_namespace(NS)
    assert (ns.phase if ns else None) == case.phase
    assert e.notifier.kinds(KEY)[told_before:] == case.notices


def test_a_create_shows_the_environment_on_the_namespace_and_the_forge() -> None:
    e = build_engine()
    key = up_ready(e)
    ns = e.cluster.get_namespace(NS)
    assert ns is not None and ns.labels[records.ENV_LABEL] == key
    assert ns.labels[records.PROJECT_ID_LABEL] == "42" and ns.labels[records.MR_IID_LABEL] == "7"
    assert ns.annotations[records.SHA] == SHA1
    env = e.env(key)
    assert ns.annotations[records.DEPLOYED_HASH] == env.observed.deployed_hash
    assert env.observed.url == f"https://{key}.preview.example.com"
    assert env.observed.helm_revision == 1 and env.observed.deployed_sha == SHA1
    assert [(c.method, c.detail) for c in e.review.calls] == [("show", env.observed.url)]


def test_a_sync_changes_no_release() -> None:
    e = build_engine()
    _annotations_behind(e)
    e.reconcile(KEY)
    ns = e.cluster.get_namespace(NS)
    assert ns is not None and ns.annotations[records.EXPIRES_AT] == "2026-03-05T09:00:00Z"
    assert [r.release.revision for r in e.helm.history(KEY, NS)] == [1]


def test_a_teardown_ends_gone_once_the_namespace_went() -> None:
    e = build_engine()
    _down(e)
    first, = e.reconcile(KEY).outcomes
    assert first.in_progress and first.retry_after
    e.cluster.finish_deletions()
    second, = e.reconcile(KEY).outcomes
    env = e.env(KEY)
    assert second.ok and env.observed.status is Status.GONE
    assert e.notifier.kinds(KEY)[-1] == "torn-down"
    assert [env.stopped for env in e.review.environments.values()] == [True]
    assert e.store.history(KEY)[0].action == "torn-down"
    assert e.reconcile(KEY).plan.actions == ()  # nothing more to do


def test_a_failed_environment_retries_on_a_new_sha() -> None:
    e = build_engine()
    _failed_before(e)
    e.source.put_change(change(sha=SHA2))
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")
    outcome, = e.reconcile(KEY).outcomes
    assert outcome.ok and e.env(KEY).observed.status is Status.READY
    assert e.env(KEY).observed.deployed_sha == SHA2


def test_a_helm_failure_is_told_on_the_change_request() -> None:
    e = build_engine()
    _failed_before(e)
    assert e.env(KEY).observed.status is Status.FAILED
    assert [c.method for c in e.review.calls] == ["tell_failed"]


def test_a_readiness_failure_is_told_everywhere() -> None:
    """Past ready_timeout with workloads held back: FAILED, told, noted on the MR."""
    e = build_engine()
    _fresh(e)
    e.reconcile(KEY)
    e.core.save(e.env(KEY), Status.DEPLOYING, "waiting")
    e.cluster.hold_back(NS, KEY, "Deployment app: 0/1 available")
    e.clock.advance(timedelta(hours=1))  # past ready_timeout: no inline wait
    outcome, = e.reconcile(KEY).outcomes
    env = e.env(KEY)
    assert not outcome.ok and env.observed.status is Status.FAILED
    assert "0/1 available" in env.observed.reason
    assert e.notifier.kinds(KEY)[-1] == "failed"
    assert [c.method for c in e.review.calls][-1] == "tell_failed"
