"""Helm releases in dicts, with ``Helm``'s semantics (``bot.cluster.helm``).

Kept: every ``upgrade_install`` makes a new revision (identical values too), the one
before becomes ``superseded``, the history keeps ``HISTORY_MAX`` revisions; a release
lives in its namespace (none in a namespace that is missing or Terminating, and it goes
with it); a pending release refuses an upgrade until ``recover_pending`` (which plans
as Helm's adapter does, ``plan_recovery``). A failed or timed-out upgrade leaves a
``failed`` revision and raises (``fail_next``, ``fail_next_temporarily``,
``time_out_next``); a crash mid-upgrade
leaves it pending (``leave_pending``). Operations are instant: nothing ever runs.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.cluster.helm import HISTORY_MAX, Release, plan_recovery
from bot.domain.errors import (
    DeployInterrupted,
    PermanentError,
    PreviewError,
    StepTimeoutError,
    TemporaryError,
)
from bot.domain.model import Clock, SystemClock
from tests.fakes.memory.cluster import FakeCluster
from tests.fakes.memory.faults import Faults


@dataclass(frozen=True)
class Revision:
    release: Release
    values: Mapping[str, Any]
    values_hash: str  # of the values alone (the engine's own hash includes the chart)


@dataclass(frozen=True)
class _Stored:
    namespace_uid: str  # the namespace it was installed in: a new one of that name has none
    revisions: tuple[Revision, ...]


class FakeReleases:
    def __init__(self, cluster: FakeCluster, *, timeout: float = 600.0,
                 clock: Clock | None = None, version: str = "v4.3.1") -> None:
        self.cluster = cluster
        self.timeout = timeout
        self.clock = clock or SystemClock()
        self._version = version
        self.faults = Faults(self)
        self._releases: dict[tuple[str, str], _Stored] = {}  # (namespace, name)
        self._next_failures: list[PreviewError] = []
        self._lock = threading.Lock()

    # -- ReleasePort -----------------------------------------------------------------
    def version(self) -> str:
        self.faults.check("version")
        return self._version

    def get_release(self, name: str, namespace: str) -> Release | None:
        self.faults.check("get_release")
        history = self.history(name, namespace)
        return history[-1].release if history else None

    def upgrade_install(self, name: str, chart: str, namespace: str,
                        values: Mapping[str, Any]) -> Release:
        self.faults.check("upgrade_install")
        if chart.startswith("-") or not chart:
            raise PermanentError(f"chart reference {chart!r} for release {name} is not valid")
        uid = self.cluster.uid(namespace)
        if uid is None:
            raise PermanentError(f"helm upgrade --install of release {name} failed: "
                                 f"namespace {namespace} not found or being deleted")
        with self._lock:
            history = self._history(name, namespace)
            latest = history[-1].release if history else None
            if latest is not None and latest.status.startswith("pending-"):
                raise TemporaryError(f"helm upgrade --install of release {name} failed: another "
                                     "operation (install/upgrade/rollback) is in progress",
                                     delay=10.0)
            failure = self._next_failures.pop(0) if self._next_failures else None
            status = "failed" if failure is not None else "deployed"
            made = self._add(name, namespace, uid, history, chart, values, status)
        if failure is not None:
            raise failure
        self.cluster.set_workloads(namespace, name, running=True)
        return made

    def uninstall(self, name: str, namespace: str, *, dry_run: bool) -> bool:
        self.faults.check("uninstall")
        if self.get_release(name, namespace) is None:
            return False
        if not dry_run:
            with self._lock:
                self._releases.pop((namespace, name), None)
            self.cluster.set_workloads(namespace, name, running=False)
        return True

    def recover_pending(self, name: str, namespace: str, *, dry_run: bool) -> str:
        self.faults.check("recover_pending")
        history = self.history(name, namespace)
        action, target = plan_recovery([revision.release for revision in history])
        if dry_run or action in ("none", "absent"):
            return action
        if action == "uninstalled":
            self.uninstall(name, namespace, dry_run=False)
            return action
        good = next(r for r in history if r.release.revision == target)
        uid = self.cluster.uid(namespace)
        if uid is None:
            raise PermanentError(f"helm rollback of release {name} failed: namespace gone")
        with self._lock:  # the stale pending revision stays, below the new deployed one
            self._add(name, namespace, uid, self._history(name, namespace),
                      good.release.chart, good.values, "deployed")
        return action

    def stop_running(self, grace: float) -> int:
        self.faults.check("stop_running")
        return 0  # a fake's operations are instant: none is ever running

    # -- the test's hand on Helm ---------------------------------------------------------
    def history(self, name: str, namespace: str) -> list[Revision]:
        """Every stored revision, oldest first (empty once its namespace is gone)."""
        with self._lock:
            return list(self._history(name, namespace))

    def fail_next(self, reason: str = "a hook failed") -> None:
        """The next upgrade records a failed revision and raises a PermanentError."""
        with self._lock:
            self._next_failures.append(PermanentError(f"helm upgrade failed: {reason}"))

    def fail_next_temporarily(self, reason: str = "failed calling webhook") -> None:
        """The next upgrade records a failed revision and raises DeployInterrupted (the
        cluster's state, not the inputs: a webhook without endpoints, say)."""
        with self._lock:
            self._next_failures.append(DeployInterrupted(f"helm upgrade failed: {reason}",
                                                      delay=10.0))

    def time_out_next(self) -> None:
        """The next upgrade runs out of time: a failed revision and a StepTimeoutError
        (Helm on SIGTERM marks it failed rather than leaving it pending)."""
        with self._lock:
            self._next_failures.append(StepTimeoutError(
                "upgrade did not finish: timed out waiting for the condition", delay=30.0))

    def leave_pending(self, name: str, namespace: str) -> None:
        """As a helm killed mid-upgrade: its latest revision stays pending."""
        with self._lock:
            stored = self._releases[(namespace, name)]
            last = stored.revisions[-1]
            status = "pending-upgrade" if len(stored.revisions) > 1 else "pending-install"
            pending = Revision(Release(name, namespace, last.release.revision,
                                       status, last.release.chart, last.release.app_version,
                                       self.clock.now()), last.values, last.values_hash)
            self._releases[(namespace, name)] = _Stored(
                stored.namespace_uid, (*stored.revisions[:-1], pending))

    # -- under self._lock --------------------------------------------------------------
    def _history(self, name: str, namespace: str) -> tuple[Revision, ...]:
        stored = self._releases.get((namespace, name))
        if stored is None or not self.cluster.exists(namespace, stored.namespace_uid):
            return ()
        return stored.revisions

    def _add(self, name: str, namespace: str, uid: str, history: tuple[Revision, ...],
             chart: str, values: Mapping[str, Any], status: str) -> Release:
        number = history[-1].release.revision + 1 if history else 1
        chart_name = chart.rstrip("/").rsplit("/", 1)[-1]
        made = Release(name, namespace, number, status, chart_name, "", self.clock.now())
        older = tuple(_superseded(r) if r.release.status == "deployed" and status == "deployed"
                      else r for r in history)
        frozen = json.loads(json.dumps(values))  # a copy: the caller's dict may change later
        revision = Revision(made, frozen, _hash(frozen))
        self._releases[(namespace, name)] = _Stored(uid, (*older, revision)[-HISTORY_MAX:])
        return made


def _superseded(revision: Revision) -> Revision:
    r = revision.release
    return Revision(Release(r.name, r.namespace, r.revision, "superseded", r.chart,
                            r.app_version, r.updated), revision.values, revision.values_hash)


def _hash(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]
