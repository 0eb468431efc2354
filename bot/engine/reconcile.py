"""The reconcile pass: observe → adopt → plan → apply.

Level-triggered: webhooks and commands only record desired state and ask for
a pass; the periodic pass is the source of truth, so a lost event costs
latency, never correctness. A pass first rebuilds records that Redis lost from
the namespaces' labels/annotations, builds a ``Plan``, then applies each
action under the environment's lock and returns one outcome per action — a
failed action is reported as failed, never counted as done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot import metrics
from bot.cluster.kube import NamespaceRecord
from bot.cluster.values import namespace_for, release_for
from bot.domain import records
from bot.domain.errors import PreviewError, TemporaryError
from bot.domain.model import Environment, Observed, Status
from bot.domain.plan import (
    PENDING_RELEASE_STATES,
    Action,
    ActionKind,
    Plan,
    Snapshot,
    build_plan,
    plan_one,
)
from bot.engine import converge, gitlab_sync
from bot.engine.core import Core
from bot.engine.discovery import refresh_from_gitlab
from bot.engine.requests import Requests

log = logging.getLogger("previewbot.reconcile")
MAX_ROUNDS = 3  # converge rounds per action while requests keep arriving
Progress = Callable[[str, str], None]  # (env_key, text)


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    ok: bool
    detail: str = ""
    retry_after: float | None = None  # set for temporary failures

    def describe(self) -> str:
        mark = "ok    " if self.ok else "FAILED"
        return f"{mark} {self.action.kind.value:<7} {self.action.env_key}: {self.detail}"


@dataclass(frozen=True, slots=True)
class PassResult:
    plan: Plan
    outcomes: tuple[Outcome, ...]
    adopted: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes)


def _count_states(envs: Iterable[Environment]) -> None:
    counts = dict.fromkeys((status.value for status in Status), 0)
    for env in envs:
        counts[env.observed.status.value] += 1
    for state, count in counts.items():
        metrics.ENVIRONMENTS.labels(state=state).set(count)


def _if_absent(env: Environment) -> Callable[[Environment | None], Environment | None]:
    return lambda current: env if current is None else None


def _quiet(env_key: str, text: str) -> None:
    log.info("%s: %s", env_key, text)


class Reconciler:
    def __init__(self, core: Core) -> None:
        self.core = core

    def run_pass(self, *, dry_run: bool, only: Iterable[str] | None = None,
                 progress: Progress = _quiet) -> PassResult:
        """One pass over every environment (or just ``only``)."""
        started = time.perf_counter()
        records_now = self.core.store.all()
        if only is None and not dry_run and refresh_from_gitlab(Requests(self.core), records_now):
            records_now = self.core.store.all()  # GitLab showed changes: read them back
        namespaces = self._managed_namespaces()
        known = {env.key: env for env in records_now}
        adopted = self._adopt(namespaces, set(known), dry_run=dry_run)
        envs = {**known, **{env.key: env for env in adopted}}
        if only is not None:
            wanted = set(only)
            envs = {key: env for key, env in envs.items() if key in wanted}
        else:
            _count_states(envs.values())
        plan = build_plan(self._snapshots(envs, namespaces, full=only is None),
                          self.core.clock.now())
        adopted_keys = tuple(e.key for e in adopted)
        # Blocked actions are not applied, but reported as not done.
        # Teardowns first: an expired environment must not wait behind slow deploys.
        ordered = sorted(plan.actions, key=lambda a: a.kind is not ActionKind.DELETE)
        outcomes = tuple(Outcome(action, False, action.reason)
                         if action.kind is ActionKind.BLOCKED
                         else self.apply(action, progress, dry_run=dry_run)
                         for action in ordered)
        if only is None and not dry_run:
            metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
        return PassResult(plan, outcomes, adopted_keys)

    def _snapshots(self, envs: dict[str, Environment], namespaces: dict[str, NamespaceRecord],
                   *, full: bool) -> list[Snapshot]:
        # A full pass lists every release once; a pass for a few poked
        # environments asks Helm about just those.
        releases = ({(r.namespace, r.name): r.status for r in self.core.helm.list_releases()}
                    if full else None)
        snapshots = []
        for env in envs.values():
            try:
                ns = self._namespace(namespaces, env)
                release = release_for(env.desired)
                if releases is not None:
                    status = releases.get((namespace_for(env.desired), release))
                else:
                    found = self.core.helm.get_release(release, ns.name) if ns else None
                    status = found.status if found else None
                snapshots.append(self.snapshot(env, ns, status))
            except Exception as error:
                log.warning("cannot plan %s: %s", env.key, error)
                snapshots.append(Snapshot(env, problem=str(error)))
        return snapshots

    def _namespace(self, managed: dict[str, NamespaceRecord],
                   env: Environment) -> NamespaceRecord | None:
        """The env's namespace; looked up alone when it is not among the managed ones,
        so a stranger's namespace of the same name shows as blocked in the plan."""
        name = namespace_for(env.desired)
        if name in managed or env.observed.status is Status.GONE:
            return managed.get(name)
        return self.core.kube.get_namespace(name)

    def _managed_namespaces(self) -> dict[str, NamespaceRecord]:
        return {ns.name: ns for ns in self.core.kube.list_managed_namespaces()}

    def _adopt(self, namespaces: dict[str, NamespaceRecord], known: set[str], *,
               dry_run: bool) -> list[Environment]:
        """Records Redis lost, rebuilt from the cluster (the durable record).

        Only namespaces of projects in this bot's config: another previewbot
        (say, a staging one) may share the cluster with other projects."""
        adopted: list[Environment] = []
        for ns in namespaces.values():
            try:
                desired = records.desired_from_namespace(ns.labels, ns.annotations,
                                                         ns.created_at)
            except ValueError as error:  # hand-edited labels/annotations
                log.warning("namespace %s: unreadable previewbot labels (%s); left alone",
                            ns.name, error)
                continue
            if desired is None or desired.env_key in known:
                continue
            if self.core.config.project_by_path(desired.project_path) is None:
                continue
            status = Status.TEARING_DOWN if ns.phase == "Terminating" else Status.PENDING
            env = Environment(desired, Observed(status=status, reason="rebuilt from cluster"))
            log.info("%srebuilding record of %s from namespace %s",
                     "DRY-RUN: would be " if dry_run else "", desired.env_key, ns.name)
            if not dry_run:  # unless a request recorded it meanwhile
                self.core.store.update(env.key, _if_absent(env))
            adopted.append(env)
        return adopted

    def snapshot(self, env: Environment, ns: NamespaceRecord | None,
                 release_status: str | None) -> Snapshot:
        return Snapshot(
            env=env,
            namespace_phase=ns.phase if ns else None,
            namespace_managed=records.is_ours(ns.labels, env.desired) if ns else True,
            deployed_hash=ns.annotations.get(records.DEPLOYED_HASH, "") if ns else "",
            release_status=release_status if ns is not None and ns.managed else None,
            wanted_hash=self.core.wanted(env)[1],
        )

    def apply(self, action: Action, progress: Progress = _quiet, *,
              dry_run: bool) -> Outcome:
        """Apply one action under the environment's lock, re-planning on fresh state.

        ``dry_run``: rehearse it instead: destructive steps check ownership for
        real and log ``DRY-RUN: would …``; nothing is changed or recorded."""
        def say(text: str) -> None:
            progress(action.env_key, text)
        if dry_run:
            return self._rehearse(action, say)
        try:
            with self.core.store.lock(action.env_key):
                return self._apply_locked(action, say)
        except TemporaryError as error:
            log.warning("%s of %s failed, will retry: %s", action.kind, action.env_key, error)
            return Outcome(action, False, str(error), retry_after=error.delay)
        except Exception as error:
            if not isinstance(error, PreviewError):
                log.exception("%s of %s crashed", action.kind, action.env_key)
            log.error("%s of %s failed: %s", action.kind, action.env_key, error)
            self._mark_failed(action, str(error))
            return Outcome(action, False, str(error))

    def _rehearse(self, action: Action, say: Callable[[str], None]) -> Outcome:
        try:
            env = self.core.store.get(action.env_key)
            if env is None:  # a record adopted in this dry run: rebuilt, never stored
                say(f"DRY-RUN: would {action.describe()}")
            elif action.kind is ActionKind.DELETE:
                converge.teardown(self.core, env, action.reason, say, dry_run=True)
            elif action.kind in (ActionKind.CREATE, ActionKind.UPDATE):
                release = self.core.helm.get_release(release_for(env.desired),
                                                     namespace_for(env.desired))
                if release is not None and release.status in PENDING_RELEASE_STATES:
                    converge.recover(self.core, env, say, dry_run=True)
                say(f"DRY-RUN: would {action.describe()}")
            else:
                say(f"DRY-RUN: would {action.describe()}")
        except PreviewError as error:
            return Outcome(action, False, f"dry run: {error}")
        return Outcome(action, True, "dry run: nothing changed")

    def _apply_locked(self, action: Action, say: Callable[[str], None]) -> Outcome:
        """Converge until the desired state stops moving: a request recorded while
        a deploy ran (new sha, merge → teardown) is acted on before the lock goes."""
        outcome = Outcome(action, True, "already converged")
        for _ in range(MAX_ROUNDS):
            env = self.core.store.get(action.env_key)
            if env is None:
                return Outcome(action, True, "record vanished; nothing to do")
            fresh = plan_one(self._fresh_snapshot(env), self.core.clock.now())
            if fresh is None:
                return outcome
            if fresh.kind is ActionKind.BLOCKED:
                return Outcome(action, False, fresh.reason)
            done = self._converge(fresh, env, say)
            outcome = Outcome(action, done.observed.status is not Status.FAILED,
                              done.observed.reason or done.observed.status.value)
            current = self.core.store.get(action.env_key)
            if current is None or current.desired == env.desired or not outcome.ok:
                return outcome
            say("desired state changed meanwhile; converging again")
        return outcome

    def _fresh_snapshot(self, env: Environment) -> Snapshot:
        namespace = namespace_for(env.desired)
        ns = self.core.kube.get_namespace(namespace)
        release = self.core.helm.get_release(release_for(env.desired), namespace) if ns else None
        return self.snapshot(env, ns, release.status if release else None)

    def _converge(self, action: Action, env: Environment,
                  say: Callable[[str], None]) -> Environment:
        if action.kind is ActionKind.DELETE:
            return converge.teardown(self.core, env, action.reason, say, dry_run=False)
        if action.kind is ActionKind.SYNC:
            if env.observed.status is Status.GONE:
                return gitlab_sync.finish_gitlab_stop(self.core, env)
            return gitlab_sync.sync_gitlab(self.core, env, self.core.wanted(env)[1])
        if action.kind is ActionKind.VERIFY:
            project = self.core.project(env)
            assert project is not None  # plan_one blocks unknown projects
            return converge.wait_ready(self.core, env, project, self.core.wanted(env)[1], say)
        return converge.deploy(self.core, env, say)

    def _mark_failed(self, action: Action, reason: str) -> None:
        """FAILED with the hash of what failed: the same inputs are not retried every
        pass (a new sha, a config change or an explicit `up` retries)."""
        try:
            env = self.core.store.get(action.env_key)
            if env is not None and action.kind is not ActionKind.DELETE:
                self.core.save(env, Status.FAILED, reason,
                               deployed_hash=self.core.wanted(env)[1])
        except Exception:
            log.exception("could not record the failure of %s", action.env_key)
