"""The planner: one table of (cluster snapshot, desired state) → action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.model import Desired, Environment, Observed, Status
from bot.domain.plan import ActionKind, Snapshot, build_plan, plan_one

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def env(*, present: bool = True, expires_in: timedelta = timedelta(hours=4),
        status: Status = Status.READY, synced: str = "h1", deployed_sha: str = "a" * 40,
        reason: str = "", failed_hash: str = "h1") -> Environment:
    desired = Desired(env_key="g-app-mr-7", project_path="g/app", project_id=1, branch="f",
                      sha="b" * 40, created_at=NOW - timedelta(hours=1),
                      expires_at=NOW + expires_in, mr_iid=7, present=present,
                      down_reason=reason)
    return Environment(desired, Observed(status=status, review_synced_hash=synced,
                                         deployed_sha=deployed_sha, deployed_hash=failed_hash))


def snap(environment: Environment, *, phase: str | None = "Active", managed: bool = True,
         deployed: str = "h1", release: str | None = "deployed", wanted: str = "h1",
         behind: bool = False) -> Snapshot:
    return Snapshot(environment, phase, managed, deployed, release, wanted,
                    annotations_behind=behind)


CASES = [
    # (name, snapshot, expected kind or None, words in the reason)
    ("converged", snap(env()), None, ""),
    ("new environment", snap(env(status=Status.PENDING), phase=None, release=None, deployed=""),
     ActionKind.CREATE, "namespace missing"),
    ("release lost", snap(env(), release=None), ActionKind.CREATE, "Helm release missing"),
    ("new sha", snap(env(), wanted="h2"), ActionKind.UPDATE, "new sha aaaaaaaa → bbbbbbbb"),
    ("values changed", snap(env(deployed_sha="b" * 40), wanted="h2"), ActionKind.UPDATE,
     "values changed"),
    ("crashed mid upgrade", snap(env(), release="pending-upgrade"), ActionKind.UPDATE,
     "pending-upgrade"),
    ("deploying after crash", snap(env(status=Status.DEPLOYING)), ActionKind.VERIFY,
     "deploying"),
    ("rebuilt record", snap(env(status=Status.PENDING)), ActionKind.VERIFY, "pending"),
    ("failed, same inputs", snap(env(status=Status.FAILED)), None, ""),
    ("failed, new sha", snap(env(status=Status.FAILED), wanted="h2"), ActionKind.UPDATE, "sha"),
    ("helm refused the chart: not every pass",
     snap(env(status=Status.FAILED), deployed="h0"), None, ""),
    ("retry requested after a helm refusal",
     snap(env(status=Status.PENDING), deployed="h0"), ActionKind.UPDATE, ""),
    ("gitlab behind", snap(env(synced="")), ActionKind.SYNC, "GitLab"),
    ("namespace annotations behind", snap(env(), behind=True), ActionKind.SYNC, "annotations"),
    ("failed, annotations behind", snap(env(status=Status.FAILED), behind=True),
     ActionKind.SYNC, "annotations"),
    ("deploying, annotations behind: readiness first",
     snap(env(status=Status.DEPLOYING), behind=True), ActionKind.VERIFY, "deploying"),
    ("down requested", snap(env(present=False, reason="MR merged")), ActionKind.DELETE,
     "MR merged"),
    ("ttl expired", snap(env(expires_in=-timedelta(seconds=1))), ActionKind.DELETE,
     "TTL expired at 2026-11-26 11:59"),
    ("expires exactly now", snap(env(expires_in=timedelta(0))), ActionKind.DELETE, "TTL"),
    ("down, already gone", snap(env(present=False, status=Status.GONE), phase=None,
                                release=None), None, ""),
    ("gone, GitLab environment still up", snap(env(present=False, status=Status.GONE,
                                                    synced="stop-pending"),
                                                phase=None, release=None),
     ActionKind.SYNC, "not stopped yet"),
    ("down, record not gone yet", snap(env(present=False, status=Status.TEARING_DOWN),
                                       phase=None, release=None), ActionKind.DELETE, ""),
    ("stranger's namespace", snap(env(), managed=False), ActionKind.BLOCKED,
     "not managed by previewbot"),
    ("stranger's namespace, down", snap(env(present=False), managed=False),
     ActionKind.BLOCKED, "not managed"),
    ("terminating", snap(env(status=Status.PENDING), phase="Terminating"),
     ActionKind.WAIT, "terminating"),
    ("project left the config", snap(env(), wanted=""), ActionKind.BLOCKED, "not in the config"),
    ("project left the config, expired", snap(env(expires_in=-timedelta(hours=1)), wanted=""),
     ActionKind.DELETE, "TTL"),
]


@pytest.mark.parametrize(("name", "snapshot", "kind", "words"), CASES,
                         ids=[case[0] for case in CASES])
def test_plan_one(name: str, snapshot: Snapshot, kind: ActionKind | None, words: str) -> None:
    action = plan_one(snapshot, NOW)
    if kind is None:
        assert action is None, action
        return
    assert action is not None
    assert action.kind is kind
    assert words in action.reason
    assert action.env_key == "g-app-mr-7"


def test_plan_is_sorted_and_printable() -> None:
    first = snap(env(present=False, reason="closed"))
    later = Snapshot(env().with_desired(env_key="z-app-mr-1"), None, True, "", None, "h1")
    plan = build_plan([later, first, snap(env())], NOW)
    assert [a.env_key for a in plan.actions] == ["g-app-mr-7", "z-app-mr-1"]
    text = plan.describe()
    assert "Plan: 2 action(s)" in text
    assert "delete  g-app-mr-7: closed" in text
    assert "create  z-app-mr-1: namespace missing" in text
    assert build_plan([], NOW).describe() == "Plan: nothing to do."
