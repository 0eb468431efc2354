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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot import metrics
from bot.cluster.kube import NamespaceRecord
from bot.cluster.values import namespace_for, release_for
from bot.config import ProjectConfig
from bot.domain import records
from bot.domain.errors import (
    DeployInterrupted,
    PreviewError,
    StepTimeoutError,
    TemporaryError,
)
from bot.domain.model import Environment, Status, is_active
from bot.domain.plan import (
    PENDING_RELEASE_STATES,
    STOP_PENDING,
    Action,
    ActionKind,
    Plan,
    Snapshot,
    build_plan,
    plan_one,
)
from bot.engine import converge, orphans, review
from bot.engine.core import Core
from bot.engine.discovery import Discovery, Finding
from bot.engine.identity import Identities, rebuilt
from bot.engine.notify import NoticeKind
from bot.engine.passes import PassContext, Progress, log_progress
from bot.engine.requests import Requests
from bot.engine.texts import shutting_down
from bot.logs import log_context

log = logging.getLogger("previewbot.reconcile")


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    ok: bool
    detail: str = ""
    retry_after: float | None = None  # check again after this: a retry, or work in progress
    in_progress: bool = False  # started, not finished (a deploy waiting, a namespace going)

    def describe(self) -> str:
        mark = "…     " if self.in_progress else "ok    " if self.ok else "FAILED"
        return f"{mark} {self.action.kind.value:<7} {self.action.env_key}: {self.detail}"


@dataclass(frozen=True, slots=True)
class PassResult:
    plan: Plan
    outcomes: tuple[Outcome, ...]
    adopted: tuple[str, ...] = ()
    discovered: tuple[Finding, ...] = ()  # requests GitLab's open-MR list implied, moves
    collected: tuple[str, ...] = ()  # torn-down records past their retention, removed

    @property
    def ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes)

    def describe(self) -> str:
        """The whole pass as a person reads it: rebuilt records, requests GitLab's list
        implied, the plan, and one line per outcome."""
        lines = []
        if self.adopted:
            lines.append(f"rebuilt from the cluster: {', '.join(self.adopted)}")
        lines += [finding.describe() for finding in self.discovered]
        lines.append(self.plan.describe())
        lines += [outcome.describe() for outcome in self.outcomes]
        if self.collected:
            lines.append(f"records past retention removed: {', '.join(self.collected)}")
        return "\n".join(lines)


def _count_states(envs: Iterable[Environment]) -> None:
    counts = dict.fromkeys((status.value for status in Status), 0)
    for env in envs:
        counts[env.observed.status.value] += 1
    for state, count in counts.items():
        metrics.ENVIRONMENTS.labels(state=state).set(count)


def _still_gone_since(cutoff: datetime) -> Callable[[Environment | None], bool]:
    def check(current: Environment | None) -> bool:
        return (current is not None and current.observed.status is Status.GONE
                and current.observed.updated_at is not None
                and current.observed.updated_at < cutoff)
    return check


def _moved_to(old_path: str, new_path: str) -> Callable[[Environment | None],
                                                         Environment | None]:
    def move(current: Environment | None) -> Environment | None:
        if current is None or current.desired.project_path != old_path:
            return None  # gone, or moved by a request meanwhile
        return Environment(replace(current.desired, project_path=new_path), current.observed)
    return move


def _if_absent(env: Environment) -> Callable[[Environment | None], Environment | None]:
    return lambda current: env if current is None else None


class Reconciler:
    def __init__(self, core: Core) -> None:
        self.core = core

    def run_pass(self, *, dry_run: bool, only: Iterable[str] | None = None,
                 progress: Progress = log_progress, follow: bool = False) -> PassResult:
        """One pass over every environment, or a poke pass over just ``only``.

        Actions run in a bounded pool (``max_parallel_teardowns``), teardowns first. A
        deploy waiting for readiness and a namespace still being deleted come back as
        outcomes ``in_progress`` with a ``retry_after``: the workers check them again
        then. ``follow`` does that here (the CLI waits, with progress). With
        ``dry_run: true`` in the config every pass is a dry run."""
        ctx = PassContext(dry_run=dry_run or self.core.config.dry_run, progress=progress)
        result = self._full_pass(ctx) if only is None else self._poke_pass(list(only), ctx)
        return self._follow(result, ctx) if follow and not ctx.dry_run else result

    def _full_pass(self, ctx: PassContext) -> PassResult:
        started = time.perf_counter()
        records_now = self.core.store.all()
        namespaces = self._managed_namespaces()  # the cluster, read once
        # Records Redis lost come back from the cluster first: discovery must see them,
        # or it would take their environments for new ones.
        adopted = self._adopt(namespaces, {env.key for env in records_now}, ctx)
        envs = {env.key: env for env in [*records_now, *adopted]}
        moves = self._follow_projects(envs, ctx)
        discovered = Discovery(Requests(self.core), ctx).run(envs.values())
        if discovered.changed:  # GitLab showed changes: read those back
            envs.update({env.key: env for env in self.core.store.get_many(discovered.changed)
                         if env is not None})
        _count_states(envs.values())
        plan, outcomes = self._plan_and_apply(envs, namespaces, ctx, complete=True)
        if not ctx.dry_run:
            metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
        return PassResult(plan, outcomes, tuple(e.key for e in adopted),
                          (*moves, *discovered.findings))

    def _poke_pass(self, keys: list[str], ctx: PassContext) -> PassResult:
        """Only the poked environments: their records (one pipelined read) and their
        namespaces — nothing listed, nothing else read."""
        envs = {env.key: env for env in self.core.store.get_many(keys) if env is not None}
        plan, outcomes = self._plan_and_apply(envs, {}, ctx, complete=False)
        return PassResult(plan, outcomes)

    def _plan_and_apply(self, envs: dict[str, Environment],
                        namespaces: dict[str, NamespaceRecord], ctx: PassContext, *,
                        complete: bool) -> tuple[Plan, tuple[Outcome, ...]]:
        plan = build_plan(self._snapshots(envs, namespaces, complete=complete),
                          self.core.clock.now())
        # Teardowns first: an expired environment must not wait behind deploys. The pool
        # is bounded: hundreds expiring together start max_parallel_teardowns at a time.
        ordered = sorted(plan.actions, key=lambda a: a.kind is not ActionKind.DELETE)
        if len(ordered) <= 1:
            return plan, tuple(self._apply_one(a, ctx) for a in ordered)
        with ThreadPoolExecutor(max_workers=self.core.config.max_parallel_teardowns,
                                thread_name_prefix="apply") as pool:
            done = pool.map(lambda a: self._apply_one(a, ctx), ordered)
            return plan, tuple(done)

    def _follow(self, result: PassResult, ctx: PassContext) -> PassResult:
        """Check again what is in progress, after its delay, until it settled."""
        deadline = time.monotonic() + self.core.settings.reconcile.follow_limit
        outcomes = {o.action.env_key: o for o in result.outcomes}
        while time.monotonic() < deadline:
            waiting = [o for o in outcomes.values() if o.in_progress]
            if not waiting:
                break
            pause = min(o.retry_after or 0.0 for o in waiting)
            if self.core.stopping.wait(pause):
                break
            again = self._poke_pass([o.action.env_key for o in waiting], ctx)
            for outcome in again.outcomes:
                outcomes[outcome.action.env_key] = outcome
            for env_key in {o.action.env_key for o in waiting} - {
                    o.action.env_key for o in again.outcomes}:  # settled: nothing planned
                outcomes[env_key] = replace(outcomes[env_key], retry_after=None,
                                            in_progress=False)
        return replace(result, outcomes=tuple(outcomes.values()))

    def _apply_one(self, action: Action, ctx: PassContext) -> Outcome:
        if action.kind is ActionKind.BLOCKED:
            return Outcome(action, False, action.reason)
        if self.core.stopping.is_set():  # shutting down: leave it to another replica
            return Outcome(action, False, shutting_down(action.env_key),
                           retry_after=1.0)
        return self._apply(action, ctx)

    def sweep_orphans(self, *, dry_run: bool) -> list[str]:
        """Managed namespaces nothing explains (see ``bot.engine.orphans``)."""
        return orphans.sweep(self.core, dry_run=dry_run or self.core.config.dry_run)

    def collect(self) -> tuple[str, ...]:
        """Remove records torn down longer than ``TeardownSettings.record_retention``
        ago. Their history stays in the audit stream; an MR note marks what was ended on purpose."""
        cutoff = self.core.clock.now() - self.core.settings.teardown.record_retention
        old = [env.key for env in self.core.store.all()
               if env.observed.status is Status.GONE
               and env.observed.review_synced_hash != STOP_PENDING
               and env.observed.updated_at is not None and env.observed.updated_at < cutoff]
        return tuple(key for key in old
                     if self.core.store.delete_if(key, _still_gone_since(cutoff)))

    def _snapshots(self, envs: dict[str, Environment],
                   namespaces: dict[str, NamespaceRecord], *, complete: bool) -> list[Snapshot]:
        """Helm is asked per preview namespace (never ``helm list -A``: no cluster-wide
        Secret read), and only where the record and the namespace do not already say
        the release is deployed as wanted. One broken environment blocks only itself."""
        snapshots = []
        for env in envs.values():
            try:
                ns = self._namespace(namespaces, env, complete=complete)
                snapshots.append(self.snapshot(env, ns, self._release_status(env, ns)))
            except Exception as error:
                log.warning("cannot plan %s: %s", env.key, error)
                snapshots.append(Snapshot(env, problem=str(error)))
        return snapshots

    def _release_status(self, env: Environment, ns: NamespaceRecord | None) -> str | None:
        if ns is None or not ns.managed or ns.phase == "Terminating":
            # A release in a namespace being deleted goes with it; and its Role
            # Binding may be gone already, so Helm could not even read it.
            return None
        settled = (env.observed.status is Status.READY
                   and env.observed.deployed_hash == ns.annotations.get(records.DEPLOYED_HASH)
                   == self.core.wanted(env)[1])
        if settled:
            return "deployed"  # deployed as wanted and seen ready; nothing to ask Helm
        found = self.core.helm.get_release(release_for(env.desired), ns.name)
        return found.status if found else None

    def _namespace(self, managed: dict[str, NamespaceRecord], env: Environment, *,
                   complete: bool) -> NamespaceRecord | None:
        """The env's namespace; looked up alone when it is not among the managed ones
        listed (a stranger's namespace of that name shows as blocked in the plan)."""
        name = namespace_for(env.desired)
        if name in managed or (complete and env.observed.status is Status.GONE):
            return managed.get(name)
        return self.core.kube.get_namespace(name)

    def _managed_namespaces(self) -> dict[str, NamespaceRecord]:
        return {ns.name: ns for ns in self.core.kube.list_managed_namespaces()}

    def _adopt(self, namespaces: dict[str, NamespaceRecord], known: set[str],
               ctx: PassContext) -> list[Environment]:
        """Records Redis lost, rebuilt from the cluster (the durable record).

        Only namespaces of projects in this bot's config: another previewbot
        (say, a staging one) may share the cluster with other projects."""
        adopted: list[Environment] = []
        for ns in namespaces.values():
            try:
                env = rebuilt(ns)
            except ValueError as error:  # hand-edited labels/annotations
                log.warning("namespace %s: unreadable previewbot labels (%s); left alone",
                            ns.name, error)
                continue
            if env is None or env.key in known:
                continue
            desired = env.desired
            if Identities(self.core).owner_of(desired, dry_run=ctx.dry_run) is None:
                continue  # another installation's, or a project not (or no longer) ours
            log.info("%srebuilding record of %s from namespace %s",
                     "DRY-RUN: would be " if ctx.dry_run else "", desired.env_key, ns.name)
            if not ctx.dry_run:  # unless a request recorded it meanwhile
                self.core.store.update(env.key, _if_absent(env))
            adopted.append(env)
        return adopted

    def _follow_projects(self, envs: dict[str, Environment], ctx: PassContext) -> list[Finding]:
        """Records of a project whose path changed (renamed in the forge, or its ``path:``
        edited in the config) are still that project's: its id says so. Each record
        follows the new path once — its key, namespace, release and URL stay — and a dry
        run shows it. A path no configured project has, nor its id, is left alone
        (a project removed from the config keeps its environments until their TTL)."""
        moves: list[Finding] = []
        owners: dict[int, ProjectConfig | None] = {}  # asked once per project id per pass
        for key, env in sorted(envs.items()):
            old_path = env.desired.project_path
            if self.core.config.project_by_path(old_path) is not None:
                continue
            project_id = env.desired.project_id
            if project_id not in owners:
                owners[project_id] = self.core.project_of_id(project_id)
            project = owners[project_id]
            if project is None:
                continue
            moves.append(Finding("move", env.desired.label,
                                 project_moved(old_path, project.path, key)))
            if ctx.dry_run:  # the rest of the rehearsal sees it moved
                log.info("DRY-RUN: would move %s from project %s to %s", key, old_path,
                         project.path)
                envs[key] = Environment(replace(env.desired, project_path=project.path),
                                        env.observed)
                continue
            moved = self.core.store.update(key, _moved_to(old_path, project.path))
            if moved is None or moved.desired.project_path != project.path:
                continue
            envs[key] = moved
            if is_active(moved):
                converge.write_annotations(self.core, moved)
            log.info("moved %s from project %s to %s", key, old_path, project.path)
        return moves

    def snapshot(self, env: Environment, ns: NamespaceRecord | None,
                 release_status: str | None) -> Snapshot:
        return Snapshot(
            env=env,
            namespace_phase=ns.phase if ns else None,
            namespace_managed=records.is_ours(ns.labels, env.desired) if ns else True,
            deployed_hash=ns.annotations.get(records.DEPLOYED_HASH, "") if ns else "",
            release_status=release_status if ns is not None and ns.managed else None,
            wanted_hash=self.core.wanted(env)[1],
            annotations_behind=(ns is not None and env.desired.present
                                and records.annotations_differ(ns.annotations, env.desired)),
            namespace_holds=ns.holds if ns else (),
        )

    def apply(self, action: Action, progress: Progress = log_progress, *,
              dry_run: bool) -> Outcome:
        """Apply one action under the environment's lock, re-planning on fresh state.

        ``dry_run``: rehearse it instead: destructive steps check ownership for
        real and log ``DRY-RUN: would …``; nothing is changed or recorded."""
        return self._apply(action, PassContext(dry_run=dry_run, progress=progress))

    def _apply(self, action: Action, ctx: PassContext) -> Outcome:
        with log_context(env=action.env_key):
            return self._apply_logged(action, ctx)

    def _apply_logged(self, action: Action, ctx: PassContext) -> Outcome:
        say = ctx.say(action.env_key)
        if ctx.dry_run:
            return self._rehearse(action, converge.Run(say))
        try:
            with self.core.store.lock(action.env_key) as held:
                return self._apply_locked(action, converge.Run(say, held.fence))
        except TemporaryError as error:
            log.warning("%s of %s failed, will retry: %s", action.kind, action.env_key, error)
            return Outcome(action, False, str(error), retry_after=error.delay)
        except Exception as error:  # e.g. the record is unreadable: reported, never written
            if not isinstance(error, PreviewError):
                log.exception("%s of %s crashed", action.kind, action.env_key)
            log.error("%s of %s failed: %s", action.kind, action.env_key, error)
            return Outcome(action, False, str(error))

    def _timed_out(self, action: Action, converged: Environment,
                   error: StepTimeoutError) -> Outcome:
        """A Helm hook or wait that ran out of time is retried a few times, then the
        environment ends FAILED with the reason instead of retrying forever. ``action``
        is the one that ran, on ``converged`` (the caller checked nothing moved since:
        a new commit is converged instead, never recorded as failed untried)."""
        env = self.core.store.get(action.env_key)
        attempts = (env.observed.timeouts if env is not None else 0) + 1
        max_timeouts = self.core.settings.deploy.max_timeouts
        if env is None or attempts >= max_timeouts or action.kind is ActionKind.DELETE:
            if env is not None and action.kind is not ActionKind.DELETE:
                reason = gave_up(attempts, str(error))
                self._record_failure(action, converged, reason)
                return Outcome(action, False, reason)
            return Outcome(action, False, str(error), retry_after=error.delay)
        self.core.save(env, env.observed.status, env.observed.reason, timeouts=attempts)
        log.warning("%s of %s timed out (%d of %d): %s", action.kind, action.env_key, attempts,
                    max_timeouts, error)
        return Outcome(action, False, str(error), retry_after=error.delay)

    def _retry_later(self, action: Action, converged: Environment,
                     error: TemporaryError) -> Outcome:
        """A deploy that failed for a temporary reason (a webhook without endpoints, a
        lost connection, the API server busy) is FAILED and says when it is tried again:
        the same inputs, after a backoff that doubles with each failure in a row (at most
        ``retry_max``). The worker checks again then; so does any pass after it."""
        current = self.core.store.get(action.env_key)
        failures = (current.observed.failures if current is not None else 0) + 1
        tuning = self.core.settings.deploy
        delay = min(max(error.delay, tuning.retry_base * 2 ** min(failures - 1, 30)),
                    tuning.retry_max)
        retry_at = self.core.clock.now() + timedelta(seconds=delay)
        reason = retrying(str(error), retry_at)
        log.warning("%s of %s failed for a temporary reason (%d in a row), retried at %s: %s",
                    action.kind, action.env_key, failures, records.rfc3339(retry_at), error)
        self._record_failure(action, converged, reason, retry_at=retry_at, failures=failures)
        return Outcome(action, False, reason, retry_after=delay)

    def _rehearse(self, action: Action, run: converge.Run) -> Outcome:
        say = run.say
        try:
            env = self.core.store.get(action.env_key)
            if env is None:  # a record adopted in this dry run: rebuilt, never stored
                say(f"DRY-RUN: would {action.describe()}")
            elif action.kind is ActionKind.DELETE:
                converge.teardown(self.core, env, action.reason, run, dry_run=True)
            elif action.kind in (ActionKind.CREATE, ActionKind.UPDATE):
                release = self.core.helm.get_release(release_for(env.desired),
                                                     namespace_for(env.desired))
                if release is not None and release.status in PENDING_RELEASE_STATES:
                    converge.recover(self.core, env, run, dry_run=True)
                say(f"DRY-RUN: would {action.describe()}")
            else:
                say(f"DRY-RUN: would {action.describe()}")
        except PreviewError as error:
            return Outcome(action, False, f"dry run: {error}")
        return Outcome(action, True, "dry run: nothing changed")

    def _apply_locked(self, action: Action, run: converge.Run) -> Outcome:
        """Converge until the desired state stops moving: a request recorded while
        a deploy ran (new sha, merge → teardown) is acted on before the lock goes.
        A failure is recorded here, under the lock, for the desired state that failed;
        when a new one arrived meanwhile, that one is converged instead."""
        outcome = Outcome(action, True, "already converged")
        for _ in range(self.core.settings.reconcile.max_rounds):
            env = self.core.store.get(action.env_key)
            if env is None:
                return Outcome(action, True, "record vanished; nothing to do")
            snapshot, revision = self._fresh_snapshot(env)
            fresh = plan_one(snapshot, self.core.clock.now())
            if fresh is None:
                return outcome
            if fresh.kind in (ActionKind.BLOCKED, ActionKind.WAIT):
                return self._held(action, fresh, env, run)
            try:
                done = self._converge(fresh, env, run, revision)
            except Exception as error:
                failed = self._failure(action, fresh, env, run, error)
                if failed is None:
                    continue
                return failed
            if done.observed.status in (Status.DEPLOYING, Status.TEARING_DOWN):
                return Outcome(action, True, done.observed.reason or done.observed.status.value,
                               retry_after=self.core.settings.deploy.recheck_delay
                               if done.observed.status is Status.DEPLOYING
                               else converge.recheck_delay(
                                   self.core, done.observed.step_started_at
                                   or self.core.clock.now()),
                               in_progress=True)
            # A sync of a failed environment's GitLab side or annotations went fine.
            outcome = Outcome(action, done.observed.status is not Status.FAILED
                              or fresh.kind is ActionKind.SYNC,
                              done.observed.reason or done.observed.status.value)
            if not self._moved(env):
                return outcome
            run.say("desired state changed meanwhile; converging again")
        return outcome

    def _failure(self, action: Action, fresh: Action, env: Environment, run: converge.Run,
                 error: Exception) -> Outcome | None:
        """``fresh`` (planned now for ``env``) failed: its outcome, the failure recorded
        under the lock — or None when the desired state changed meanwhile (that one is
        converged instead, never recorded as failed untried)."""
        timed_out = isinstance(error, StepTimeoutError)
        if (isinstance(error, TemporaryError) and not timed_out
                and (not isinstance(error, DeployInterrupted) or self.core.stopping.is_set()
                     or fresh.kind in (ActionKind.DELETE, ActionKind.SYNC))):
            # A blip (the API server's 429, GitLab answering 502, a lock busy) is retried
            # after its delay as it stands: nobody is told "failed" for it.
            raise error
        if not isinstance(error, PreviewError):
            log.exception("%s of %s crashed", fresh.kind, action.env_key)
        run.fence()  # a lost lock: leave the failure (and its count) to its new holder
        if self._moved(env):
            run.say(f"{'timed out' if timed_out else 'failed'} ({error}); the desired state "
                    "changed meanwhile: converging that instead")
            return None
        if isinstance(error, StepTimeoutError):
            return self._timed_out(fresh, env, error)
        if isinstance(error, DeployInterrupted):
            return self._retry_later(fresh, env, error)
        self._record_failure(fresh, env, str(error))
        return Outcome(action, False, str(error))

    def _held(self, action: Action, fresh: Action, env: Environment,
              run: converge.Run) -> Outcome:
        """Nothing to converge: blocked (reported), or waiting for the namespace of an
        earlier life to go (told once what holds it; looked at again with a backoff)."""
        if fresh.kind is ActionKind.BLOCKED:
            return Outcome(action, False, fresh.reason)
        _, delay = converge.wait_for_namespace(self.core, env, run)
        return Outcome(action, True, fresh.reason, retry_after=delay, in_progress=True)

    def _moved(self, env: Environment) -> bool:
        current = self.core.store.get(env.key)
        return current is not None and current.desired != env.desired

    def _fresh_snapshot(self, env: Environment) -> tuple[Snapshot, int | None]:
        """The environment as it is now, and its Helm release's revision (None: none)."""
        namespace = namespace_for(env.desired)
        ns = self.core.kube.get_namespace(namespace)
        live = ns is not None and ns.phase != "Terminating"  # see _release_status
        release = self.core.helm.get_release(release_for(env.desired), namespace) if live else None
        return (self.snapshot(env, ns, release.status if release else None),
                release.revision if release else None)

    def _converge(self, action: Action, env: Environment, run: converge.Run,
                  revision: int | None) -> Environment:
        """Apply ``action``; ``revision`` is the release's, as the snapshot just read it."""
        if action.kind is ActionKind.DELETE:
            return converge.teardown(self.core, env, action.reason, run, dry_run=False)
        if action.kind is ActionKind.SYNC:
            run.fence()
            if env.observed.status is Status.GONE:
                return review.finish_stop(self.core, env)
            converge.write_annotations(self.core, env)
            wanted_hash = self.core.wanted(env)[1]
            behind = env.observed.review_synced_hash != wanted_hash
            if env.observed.status is Status.READY and behind:
                return review.show_ready(self.core, env, wanted_hash)
            return env
        if action.kind is ActionKind.VERIFY:
            project = self.core.project(env)
            assert project is not None  # plan_one blocks unknown projects
            return converge.check_ready(self.core, env, project, self.core.wanted(env)[1], run,
                                        revision=revision)
        return converge.deploy(self.core, env, run)

    def _record_failure(self, action: Action, env: Environment, reason: str, *,
                        retry_at: datetime | None = None, failures: int = 0) -> None:
        """FAILED with the hash of what failed (``env``, the desired state converged): the
        same inputs are not retried every pass; a new sha, a config change or an explicit
        `up` retries — or, for a temporary cause, ``retry_at``. A failed teardown is not
        recorded as FAILED: it is retried."""
        if action.kind is ActionKind.DELETE:
            return
        current = self.core.store.get(env.key)
        if current is None or current.desired != env.desired:
            return
        failed = self.core.save(current, Status.FAILED, reason,
                                deployed_hash=self.core.wanted(env)[1],
                                deployed_sha=env.desired.sha, retry_at=retry_at,
                                failures=failures)
        # Told like a readiness failure (converge._failed): the announcement and the MR
        # note say why, instead of staying on "deploying".
        self.core.emit(NoticeKind.FAILED, failed, reason)
        review.tell_failed(self.core, failed)


# --- texts: why reconcile stops retrying an environment, or when it retries ---


def project_moved(old_path: str, new_path: str, env_key: str) -> str:
    return (f"project {old_path} is {new_path} now (same GitLab id: renamed, or its path "
            f"edited in the config); the record follows, {env_key} stays where it is")


def gave_up(attempts: int, error: str) -> str:
    return (f"gave up after {attempts} attempts that ran out of time: {error} — fix the chart "
            "(a hook or readiness that never finishes), then push a commit or run up again")


def retrying(error: str, retry_at: datetime) -> str:
    return (f"{error} — a temporary error (the cluster or the network), not this "
            f"environment's inputs: tried again at {retry_at:%H:%M:%S} UTC")
