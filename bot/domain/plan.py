"""Plans: what a reconcile pass will do, and why — pure, printable, testable.

``build_plan`` compares each environment's desired state with a snapshot of
what the cluster shows and returns one action per environment that needs
work. Applying is ``bot.engine.reconcile``'s job; a dry run prints the plan only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.domain.model import Environment, Status, short_sha

PENDING_RELEASE_STATES = ("pending-install", "pending-upgrade", "pending-rollback")
STOP_PENDING = "stop-pending"  # a gone environment whose GitLab environment is still up


class ActionKind(enum.StrEnum):
    CREATE = "create"  # no release yet: namespace + install + wait
    UPDATE = "update"  # release exists but differs, is stuck, or missing pieces
    VERIFY = "verify"  # release as wanted; wait for readiness and report it
    SYNC = "sync"  # deployed; only GitLab or the namespace's annotations lag behind
    DELETE = "delete"  # uninstall + delete namespace + stop GitLab environment
    # the namespace of an earlier life is still being deleted: told once what holds it
    # (past teardown_timeout), looked at again with a backoff, deployed once it is gone
    WAIT = "wait"
    BLOCKED = "blocked"  # cannot act (not ours, not configured): reported, not applied


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One environment as the cluster shows it at the start of a pass."""

    env: Environment
    namespace_phase: str | None = None  # None: no namespace
    namespace_managed: bool = True
    deployed_hash: str = ""  # from the namespace annotation
    release_status: str | None = None  # None: no release
    wanted_hash: str = ""  # "": project no longer configured
    problem: str = ""  # the snapshot could not be taken (a broken record): blocked
    # the namespace's annotations (the durable record) differ from the record in Redis
    annotations_behind: bool = False
    # what the namespace controller reports holds a Terminating namespace
    namespace_holds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    env_key: str
    reason: str

    def describe(self) -> str:
        return f"{self.kind.value:<7} {self.env_key}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[Action, ...]

    def describe(self) -> str:
        if not self.actions:
            return "Plan: nothing to do."
        lines = [f"Plan: {len(self.actions)} action(s)"]
        return "\n".join([*lines, *(f"  {a.describe()}" for a in self.actions)])

    def for_env(self, env_key: str) -> Action | None:
        return next((a for a in self.actions if a.env_key == env_key), None)


def build_plan(snapshots: Iterable[Snapshot], now: datetime) -> Plan:
    actions = [action for snap in sorted(snapshots, key=lambda s: s.env.key)
               if (action := plan_one(snap, now)) is not None]
    return Plan(tuple(actions))


def plan_one(snap: Snapshot, now: datetime) -> Action | None:
    desired, key = snap.env.desired, snap.env.key
    if snap.problem:
        return Action(ActionKind.BLOCKED, key, snap.problem)
    exists = snap.namespace_phase is not None or snap.release_status is not None
    if snap.namespace_phase is not None and not snap.namespace_managed:
        return Action(ActionKind.BLOCKED, key, "namespace exists but is not managed by "
                                               "previewbot; left alone")
    if not desired.present or now >= desired.expires_at:
        reason = (desired.down_reason or "teardown requested") if not desired.present \
            else f"TTL expired at {desired.expires_at:%Y-%m-%d %H:%M} UTC"
        if exists or snap.env.observed.status is not Status.GONE:
            return Action(ActionKind.DELETE, key, reason)
        if snap.env.observed.review_synced_hash == STOP_PENDING:
            return Action(ActionKind.SYNC, key, "GitLab environment not stopped yet")
        return None
    if snap.namespace_phase == "Terminating":
        held = f" ({'; '.join(snap.namespace_holds)})" if snap.namespace_holds else ""
        return Action(ActionKind.WAIT, key, f"namespace is still terminating{held}; "
                                            "will deploy when it is gone")
    return _plan_present(snap, now)


def _plan_present(snap: Snapshot, now: datetime) -> Action | None:
    key, observed = snap.env.key, snap.env.observed
    if not snap.wanted_hash:
        return Action(ActionKind.BLOCKED, key, f"project {snap.env.desired.project_path} "
                                               "is not in the config; left as it is")
    if snap.namespace_phase is None or snap.release_status is None:
        missing = "namespace" if snap.namespace_phase is None else "Helm release"
        return Action(ActionKind.CREATE, key, f"{missing} missing")
    if snap.release_status in PENDING_RELEASE_STATES:
        return Action(ActionKind.UPDATE, key, f"release stuck in {snap.release_status} "
                                              "(interrupted); recover and redeploy")
    if observed.status is Status.FAILED and observed.deployed_hash == snap.wanted_hash:
        # The same inputs failed before. A temporary cause (the cluster, the network) is
        # tried again once its backoff passed; any other waits for a new sha, a config
        # change or an explicit up.
        if observed.retry_at is not None and now >= observed.retry_at:
            return Action(ActionKind.UPDATE, key, "retrying after a temporary failure "
                                                  f"({observed.failures} in a row)")
        return _annotations_sync(snap)
    if snap.deployed_hash != snap.wanted_hash:
        return Action(ActionKind.UPDATE, key, _change_reason(snap))
    if observed.status is not Status.READY:
        return Action(ActionKind.VERIFY, key, f"status {observed.status.value}; "
                                              "check readiness")
    if observed.review_synced_hash != snap.wanted_hash:
        return Action(ActionKind.SYNC, key, "GitLab environment/note not up to date")
    return _annotations_sync(snap)


def _annotations_sync(snap: Snapshot) -> Action | None:
    if snap.annotations_behind:
        return Action(ActionKind.SYNC, snap.env.key, "namespace annotations behind the record")
    return None


def _change_reason(snap: Snapshot) -> str:
    desired, observed = snap.env.desired, snap.env.observed
    if observed.deployed_sha and observed.deployed_sha != desired.sha:
        return f"new sha {short_sha(observed.deployed_sha)} → {short_sha(desired.sha)}"
    if not snap.deployed_hash:
        return "redeploy requested or never completed"
    return "chart values changed"
