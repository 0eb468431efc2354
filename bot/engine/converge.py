"""Converge one environment: the steps behind a plan's actions.

Every step is idempotent, so a process killed anywhere converges on the next
pass: the namespace is ensured (never re-created), Helm runs only when the
values hash differs from the one recorded on the namespace, a release stuck in
pending-* after a crash is recovered first, and teardown tolerates whatever is
already gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import metrics
from bot.cluster.helm import Release
from bot.cluster.kube import NamespaceRecord
from bot.cluster.smoke import smoke_check
from bot.cluster.values import namespace_for, release_for
from bot.config import ProjectConfig
from bot.domain import messages, records
from bot.domain.durations import format_duration
from bot.domain.errors import NotOwnedError, PermanentError, PreviewError, TemporaryError
from bot.domain.messages import quoted
from bot.domain.model import EndKind, Environment, HistoryEntry, Status, short_sha
from bot.domain.plan import PENDING_RELEASE_STATES, STOP_PENDING
from bot.engine import image_wait, review
from bot.engine.core import Core
from bot.engine.notify import NoticeKind
from bot.engine.texts import shutting_down
from bot.logs import learn_secrets

log = logging.getLogger("previewbot.converge")


@dataclass(frozen=True, slots=True)
class Run:
    """How a converge step reports progress and checks that it may still act.

    ``fence`` raises ``LockLost`` once the environment's lock lapsed (see
    ``bot.state.locks``); every step calls it before each write to the cluster,
    Helm or the record, so a worker that lost its lock stops before its next change.
    """

    say: Callable[[str], None]
    fence: Callable[[], None] = lambda: None


def deploy(core: Core, env: Environment, run: Run) -> Environment:
    """Namespace → helm upgrade --install (if needed) → wait → smoke → ready → GitLab."""
    project = core.project(env)
    if project is None:
        raise PermanentError(project_not_configured(env.desired.project_path))
    values, wanted_hash = core.wanted(env)
    namespace, release = namespace_for(env.desired), release_for(env.desired)
    run.fence()
    # A retry after a temporary failure is under way: its time to retry is used up.
    env = core.save(env, Status.DEPLOYING, f"deploying {short_sha(env.desired.sha)}",
                    step_started_at=core.clock.now(), retry_at=None, told_held=False)
    core.emit(NoticeKind.DEPLOYING, env)
    run.say(f"namespace {namespace}")
    before = _ensure_namespace(core, env, project, namespace, run)
    if project.secret_values is not None:
        run.fence()  # copied on every deploy: a changed Secret reaches the next one
        learn_secrets(core.kube.copy_secret_values(project.secret_values, namespace))
    # Helm keeps its releases in the namespace: none in one that was just created.
    current = core.helm.get_release(release, namespace) if before is not None else None
    if current is not None and current.status in PENDING_RELEASE_STATES:
        _check_not_in_progress(core, current)
        run.say(f"recovering release {release} from {current.status}")
        run.fence()
        recover(core, env, run, dry_run=False)
        current = core.helm.get_release(release, namespace)
    # ensure_namespace never writes DEPLOYED_HASH: the record read before it holds it.
    deployed_hash = before.annotations.get(records.DEPLOYED_HASH, "") if before else ""
    if current is None or current.status != "deployed" or deployed_hash != wanted_hash:
        run.say(f"helm upgrade --install {release} ({project.chart})")
        run.fence()
        current = core.helm.upgrade_install(release, project.chart, namespace, values)
        run.fence()
        core.kube.annotate_namespace(namespace, {records.DEPLOYED_HASH: wanted_hash})
    return check_ready(core, env, project, wanted_hash, run,
                       revision=current.revision if current is not None else None)


def _check_not_in_progress(core: Core, release: Release) -> None:
    """A pending release may be another worker's helm, still running (it lost its lock
    to a Redis pause, say): recover it only once it is older than Helm's own timeout."""
    timeout = timedelta(seconds=core.helm.timeout)
    since = release.updated
    if since is None:
        return  # Helm did not say when: the history is from an old Helm; recover
    age = core.clock.now() - since
    grace = core.settings.deploy.pending_grace
    if age < timeout + grace:
        raise TemporaryError(
            release_busy(release.name, release.status, records.rfc3339(since),
                         format_duration(timeout)),
            delay=max(5.0, (timeout + grace - age).total_seconds()))


def check_ready(core: Core, env: Environment, project: ProjectConfig, wanted_hash: str,
                run: Run, *, revision: int | None = None) -> Environment:
    """Is the release available? Waits in place at most
    ``DeploySettings.ready_inline_wait`` (most are ready by then), else leaves the
    environment DEPLOYING for a later check — a worker thread is never held for a whole
    readiness wait. FAILED, with the object and the
    condition that blocked it, once ``ready_timeout`` has passed since the deploy began —
    unless its pods wait for their image: then ``bot.engine.image_wait`` decides."""
    namespace, release = namespace_for(env.desired), release_for(env.desired)
    timeout = project.ready_timeout.total_seconds()
    began = env.observed.step_started_at or env.observed.updated_at or core.clock.now()
    tuning = core.settings.deploy
    inline_until = time.monotonic() + tuning.ready_inline_wait
    reported = env.observed.reason
    pause = tuning.first_ready_check
    while True:
        status = core.kube.workload_status(namespace, release)
        if status.ready:
            break
        images = status.missing_images  # CI has not pushed it yet, most likely
        report = (image_wait.waiting_for_image(images) if images
                  else f"waiting: {'; '.join(status.problems)}")
        if report != reported:
            run.say(report)
            reported = report
        # Pods the cluster refuses (Pod Security, a policy) fail now: waiting changes nothing.
        if status.refused or (core.clock.now() - began).total_seconds() >= timeout:
            failure = (pods_refused(release, status.refused) if status.refused
                       else image_wait.verdict(core, env, project, began, images, status.problems)
                       if images else not_ready(release, timeout, status.problems))
            if failure is not None:
                return _failed(core, env, failure, wanted_hash, run)
        if time.monotonic() >= inline_until:
            if reported != env.observed.reason:
                run.fence()
                env = core.save(env, Status.DEPLOYING, reported)
                if images:  # entered (or the images changed): said once, not every check
                    core.emit(NoticeKind.DEPLOYING, env, reported)
            return env  # checked again after recheck_delay
        if core.stopping.wait(min(pause, tuning.recheck_delay, tuning.poll_interval)):
            raise TemporaryError(shutting_down(env.key), delay=1.0)
        pause *= 2
    url = project.url(env.key)
    if project.smoke_path is not None:
        problem = smoke_check(url + project.smoke_path)
        if problem:
            return _failed(core, env, problem, wanted_hash, run)
    if revision is None:  # not known from this very deploy: ask Helm
        found = core.helm.get_release(release, namespace)
        revision = found.revision if found is not None else None
    metrics.DEPLOY_SECONDS.observe((core.clock.now() - began).total_seconds())
    run.fence()
    env = core.save(env, Status.READY, "", url=url, deployed_sha=env.desired.sha,
                    deployed_hash=wanted_hash, last_deploy_at=core.clock.now(),
                    helm_revision=revision, timeouts=0, retry_at=None, failures=0)
    core.emit(NoticeKind.READY, env)
    run.say(f"ready: {url}")
    return review.show_ready(core, env, wanted_hash)


def _failed(core: Core, env: Environment, reason: str, wanted_hash: str,
            run: Run) -> Environment:
    run.fence()
    # Not ready, or the smoke check failed: only a new input retries it (not a backoff).
    env = core.save(env, Status.FAILED, reason, deployed_hash=wanted_hash,
                    deployed_sha=env.desired.sha, retry_at=None, failures=0)
    core.emit(NoticeKind.FAILED, env, reason)
    review.tell_failed(core, env)
    return env


def teardown(core: Core, env: Environment, reason: str, run: Run, *,
             dry_run: bool) -> Environment:
    """helm uninstall → start deleting the namespace → (a later step) confirm it is gone
    → stop the GitLab environment → gone. A worker never waits for a namespace to go:
    the environment stays TEARING_DOWN until a later check finds it gone. People are
    told when it begins, and once more, past ``teardown_timeout``, what holds it.

    The namespace is read and its identity checked (managed by previewbot, for this
    environment and project) before anything is removed. With ``dry_run`` the
    destructive calls only log ``DRY-RUN: would …``: nothing changes.
    """
    namespace = namespace_for(env.desired)
    existing = core.kube.get_namespace(namespace)
    if existing is not None and existing.managed and not records.is_ours(existing.labels,
                                                                          env.desired):
        raise NotOwnedError(messages.namespace_of_another(
            namespace, records.foreign_labels(existing.labels, env.desired)))
    if dry_run:
        _rehearse_teardown(core, env, existing, run)
        return env
    live = existing is not None and existing.phase != "Terminating"
    if live:
        current = core.helm.get_release(release_for(env.desired), namespace)
        if current is not None and current.status in PENDING_RELEASE_STATES:
            _check_not_in_progress(core, current)  # never uninstall under a running helm
    run.fence()
    if env.observed.status is not Status.TEARING_DOWN or env.observed.reason != reason:
        # Only while the desired state is the one this teardown was planned from: an
        # extend or a keep recorded a moment ago wins, and nothing is removed. Once it
        # is TEARING_DOWN, those requests are refused (Requests._change).
        started = core.save_if_unmoved(env, Status.TEARING_DOWN, reason,
                                       step_started_at=core.clock.now(), told_held=False)
        if started is None:
            run.say("a request changed it before its teardown began; not torn down")
            return env
        env = started
        _keep_announcement(core, env, existing)
        # Said at once: the announcement drops "Ready" and its buttons before anything goes.
        core.emit(NoticeKind.TEARING_DOWN, env, reason)
    else:
        _keep_announcement(core, env, existing)
    if live:
        _start_teardown(core, env, reason, run)
    if existing is not None:
        going = core.kube.get_namespace(namespace)
        if going is not None:
            began = env.observed.step_started_at or going.deleting_since or core.clock.now()
            return _tell_if_held(core, env, going, began, run, NoticeKind.TEARING_DOWN)
    return _finish_teardown(core, env, reason, run)


def wait_for_namespace(core: Core, env: Environment, run: Run) -> tuple[Environment, float]:
    """A new life waits for the namespace of the last one to go (a reopened MR, a
    record rebuilt while it was being deleted): told once what holds it past
    ``teardown_timeout``. Returns the environment and when to look again."""
    going = core.kube.get_namespace(namespace_for(env.desired))
    if going is None or going.phase != "Terminating":
        return env, core.settings.teardown.confirm_delay  # gone: deployed at the next look
    began = going.deleting_since or env.observed.updated_at or core.clock.now()
    env = _tell_if_held(core, env, going, began, run, NoticeKind.WAITING)
    return env, recheck_delay(core, began)


def recheck_delay(core: Core, began: datetime) -> float:
    """When to look again at a namespace being deleted since ``began``: after as long
    as it took so far (doubling), from ``confirm_delay`` up to ``max_confirm_delay``.
    Most go within a second or two; one held by a finalizer is not polled every second."""
    tuning = core.settings.teardown
    taken = (core.clock.now() - began).total_seconds()
    return min(tuning.max_confirm_delay, max(tuning.confirm_delay, taken))


def _tell_if_held(core: Core, env: Environment, going: NamespaceRecord, began: datetime,
                  run: Run, kind: NoticeKind) -> Environment:
    """Past ``teardown_timeout``, tell once (chat and the change request) what holds the
    namespace: the namespace controller's report of the objects left and their
    finalizers, and the fix."""
    taken = (core.clock.now() - began).total_seconds()
    if taken <= core.settings.teardown.timeout or env.observed.told_held:
        return env  # confirmed by a later step
    text = namespace_held(going.name, taken, going.holds, new_life=kind is NoticeKind.WAITING)
    log.warning("%s: %s", env.key, text)
    run.say(text)
    run.fence()
    env = core.save(env, env.observed.status, env.observed.reason, told_held=True)
    core.emit(kind, env, text)
    review.tell_held(core, env, text)
    return env


def _rehearse_teardown(core: Core, env: Environment, existing: NamespaceRecord | None,
                       run: Run) -> None:
    namespace, release = namespace_for(env.desired), release_for(env.desired)
    if existing is not None and existing.phase != "Terminating":
        core.helm.uninstall(release, namespace, dry_run=True)
    if existing is not None:
        core.kube.delete_namespace(namespace, owner=records.namespace_labels(env.desired),
                                   dry_run=True)
    if core.forge is not None:
        surface = core.forge.review(env.desired.project_path)
        run.say(f"DRY-RUN: would stop {surface.describe(env)}")


def _start_teardown(core: Core, env: Environment, reason: str, run: Run) -> None:
    namespace, release = namespace_for(env.desired), release_for(env.desired)
    # Durable intent first: a crash from here on still ends in teardown.
    kind = env.desired.end_kind(core.clock.now()) or EndKind.REQUESTED
    core.kube.annotate_namespace(namespace, {records.TEARDOWN_REASON: reason,
                                             records.TEARDOWN_KIND: kind.value})
    run.say(f"helm uninstall {release}")
    run.fence()
    try:
        core.helm.uninstall(release, namespace, dry_run=False)
    except PermanentError as error:
        # e.g. a failing pre-delete hook: deleting the namespace removes the
        # release's objects and its record anyway; never leave resources behind.
        log.warning("helm uninstall of %s failed (%s); deleting its namespace", release, error)
    run.say(f"deleting namespace {namespace}")
    run.fence()
    core.kube.delete_namespace(namespace, owner=records.namespace_labels(env.desired),
                               dry_run=False)


def _finish_teardown(core: Core, env: Environment, reason: str, run: Run) -> Environment:
    run.fence()  # a lapsed lock: the environment may be someone else's again by now
    stopped = review.stop(core, env, reason)
    started_at = env.observed.step_started_at
    run.fence()
    env = core.save(env, Status.GONE, reason,
                    review_synced_hash="" if stopped else STOP_PENDING,
                    review_attempts=0 if stopped else 1)
    if started_at is not None:
        metrics.TEARDOWN_SECONDS.observe((core.clock.now() - started_at).total_seconds())
    metrics.TEARDOWNS.labels(reason=metrics.reason_class(reason)).inc()
    # The audit log names who ended it: the reaper (TTL), else the reconciler carrying out
    # a teardown someone asked for (their request is in the log already).
    core.store.record(env.key, HistoryEntry(core.clock.now(), "torn-down", "reaper"
                                            if env.desired.present else "reconcile", reason))
    core.emit(NoticeKind.TORN_DOWN, env, reason)
    run.say(f"gone ({reason})")
    return env


def recover(core: Core, env: Environment, run: Run, *, dry_run: bool) -> str:
    """Unstick a release left ``pending-*`` by a crash; what was (or would be) done."""
    namespace, release = namespace_for(env.desired), release_for(env.desired)
    done = core.helm.recover_pending(release, namespace, dry_run=dry_run)
    run.say(f"{'DRY-RUN: would recover' if dry_run else 'recovered'} release {release}: {done}")
    return done


def _ensure_namespace(core: Core, env: Environment, project: ProjectConfig, namespace: str,
                      run: Run) -> NamespaceRecord | None:
    """The labels (identity, Pod Security) and annotations (README "How it converges"),
    the bot's RoleBinding and NetworkPolicy; stale keys (a cancelled teardown) removed.
    Returns the namespace as it was before (None: it was just created)."""
    wanted = records.namespace_annotations(env.desired)
    existing = core.kube.get_namespace(namespace)
    if existing is not None and existing.managed:
        foreign = records.foreign_labels(existing.labels, env.desired)
        if foreign:  # managed, but for another environment or project: not ours either
            raise NotOwnedError(messages.namespace_of_another(namespace, foreign))
    run.fence()
    labels = {**records.namespace_labels(env.desired),
              **records.pod_security_labels(project.pod_security)}
    core.kube.ensure_namespace(namespace, labels,
                               {k: v for k, v in wanted.items() if v is not None})
    core.kube.ensure_role_binding(namespace)  # the bot's own access inside it (chart RBAC)
    core.kube.ensure_network_policy(namespace, project.network_policy)
    removals = {k: v for k, v in wanted.items() if v is None}
    if removals:
        core.kube.annotate_namespace(namespace, removals)
    return existing


def write_annotations(core: Core, env: Environment) -> None:
    """Bring the namespace's annotations (the durable record) up to the record in Redis:
    nothing is deployed, and a namespace that is not this environment's is left alone.
    The caller holds the environment's lock (and fenced it), or is the request that
    just recorded ``env``."""
    namespace = core.kube.get_namespace(namespace_for(env.desired))
    if (namespace is None or namespace.phase != "Active"
            or not records.is_ours(namespace.labels, env.desired)):
        return
    try:
        core.kube.annotate_namespace(namespace.name, records.namespace_annotations(env.desired))
    except TemporaryError:
        raise
    except PreviewError as error:  # e.g. deleted since the read: a later pass sees it
        log.warning("annotations of %s not brought up to date: %s", namespace.name, error)


def _keep_announcement(core: Core, env: Environment, existing: NamespaceRecord | None) -> None:
    """The chat announcement outlives the namespace: when Redis lost it, take it from
    the namespace before deleting it, so the teardown still edits that message."""
    ref = existing.annotations.get(records.ANNOUNCEMENT) if existing else None
    if (ref and existing is not None and records.is_ours(existing.labels, env.desired)
            and not core.store.announcement(env.key)):
        core.store.set_announcement(env.key, ref)


# --- texts: why a release is not deployed, or a namespace not gone ------------


def release_busy(release: str, status: str, since: str, timeout: str) -> str:
    return (f"release {release} is {status} since {since}: another helm may still be working on "
            f"it, so it is recovered only once that is older than the Helm timeout ({timeout})")


def project_not_configured(path: str) -> str:
    return (f"project {quoted(path)} is not in the config; add it under `projects:` "
            "(previewbot check-config validates the file)")


def not_ready(release: str, timeout: float, problems: Iterable[str]) -> str:
    detail = "; ".join(problems) or "no details"
    return f"release {release} not ready after {timeout:.0f}s (ready_timeout): {detail}"


def pods_refused(release: str, refused: Iterable[str]) -> str:
    detail = "; ".join(refused)[:1500]
    return (f"release {release}: the cluster refuses its pods: {detail} — preview namespaces "
            "enforce Pod Security (`pod_security`, README \"Security model\"); make the "
            "chart's pods comply (non-root, no privilege escalation, capabilities dropped, "
            "seccomp RuntimeDefault) and push a commit")


def namespace_held(namespace: str, taken: float, holds: Iterable[str], *,
                   new_life: bool) -> str:
    what = "; ".join(holds) or ("the namespace controller reports nothing yet (`kubectl get "
                                f"namespace {namespace} -o yaml` shows its conditions)")
    then = ("it is deployed once the namespace is gone" if new_life else
            "the teardown then finishes by itself (a new commit or a reopened MR gets a "
            "new environment once it is gone)")
    return (f"namespace {namespace} is still being deleted after "
            f"{format_duration(timedelta(seconds=int(taken)))} (the teardown timeout): {what}. "
            f"Remove the finalizer from the objects left (`kubectl -n {namespace} patch "
            "<kind>/<name> --type=merge -p '{\"metadata\":{\"finalizers\":null}}'`), or fix "
            f"or reinstall the controller that owns it; {then}")
