"""Converge one environment: the steps behind a plan's actions.

Every step is idempotent, so a process killed anywhere converges on the next
pass: the namespace is ensured (never re-created), Helm runs only when the
values hash differs from the one recorded on the namespace, a release stuck in
pending-* after a crash is recovered first, and teardown tolerates whatever is
already gone.
"""

from __future__ import annotations

import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from bot import messages, metrics, records
from bot.config import Config, ProjectConfig
from bot.errors import NotOwnedError, PermanentError, PreviewError, TemporaryError
from bot.gitlab import GitLabClient
from bot.helm import Helm
from bot.kube import Kube, NamespaceRecord
from bot.model import Clock, Environment, Status
from bot.notify import EventKind, LifecycleEvent, Notifier
from bot.plan import PENDING_RELEASE_STATES, STOP_PENDING
from bot.store import Store
from bot.values import helm_values, namespace_for, release_for, values_hash

log = logging.getLogger("previewbot.converge")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Core:
    """Everything the engine talks to: one settings object instead of long parameter chains."""

    config: Config
    store: Store
    kube: Kube
    helm: Helm
    notifier: Notifier
    clock: Clock
    gitlab: GitLabClient | None = None
    poll_interval: float = 1.0
    teardown_timeout: float = 120.0

    def project(self, env: Environment) -> ProjectConfig | None:
        return self.config.project_by_path(env.desired.project_path)

    def wanted(self, env: Environment) -> tuple[dict[str, object], str]:
        """The values to deploy and their hash; ({}, "") when the project is unknown."""
        project = self.project(env)
        if project is None:
            return {}, ""
        values = helm_values(project, env.desired)
        return values, values_hash(project.chart, values)

    def emit(self, kind: EventKind, env: Environment, reason: str = "") -> None:
        try:
            self.notifier.notify(LifecycleEvent(kind, env, reason))
        except Exception:  # a notifier must never fail a deploy
            log.exception("notifier failed on %s for %s", kind.value, env.key)

    def save(self, env: Environment, status: Status, reason: str = "", **changes: object) -> (
            Environment):
        updated = env.with_observed(status=status, reason=reason, updated_at=self.clock.now(),
                                    **changes)
        self.store.put_observed(env.key, updated.observed)
        return updated


def deploy(core: Core, env: Environment, progress: Progress) -> Environment:
    """Namespace → helm upgrade --install (if needed) → wait → smoke → ready → GitLab."""
    project = core.project(env)
    if project is None:
        raise PermanentError(messages.project_not_configured(env.desired.project_path))
    values, wanted_hash = core.wanted(env)
    namespace, release = namespace_for(env.desired), release_for(env.desired)
    env = core.save(env, Status.DEPLOYING, f"deploying {env.desired.sha[:8]}")
    core.emit(EventKind.DEPLOYING, env)
    progress(f"namespace {namespace}")
    before = _ensure_namespace(core, env, namespace)
    current = core.helm.get_release(release, namespace)
    if current is not None and current.status in PENDING_RELEASE_STATES:
        progress(f"recovering release {release} from {current.status}")
        core.helm.recover_pending(release, namespace, dry_run=False)
        current = core.helm.get_release(release, namespace)
    # ensure_namespace never writes DEPLOYED_HASH: the record read before it holds it.
    deployed_hash = before.annotations.get(records.DEPLOYED_HASH, "") if before else ""
    if current is None or current.status != "deployed" or deployed_hash != wanted_hash:
        progress(f"helm upgrade --install {release} ({project.chart})")
        core.helm.upgrade_install(release, project.chart, namespace, values, dry_run=False)
        core.kube.annotate_namespace(namespace, {records.DEPLOYED_HASH: wanted_hash},
                                     dry_run=False)
    return wait_ready(core, env, project, wanted_hash, progress)


def wait_ready(core: Core, env: Environment, project: ProjectConfig, wanted_hash: str,
               progress: Progress) -> Environment:
    namespace, release = namespace_for(env.desired), release_for(env.desired)
    timeout = project.ready_timeout.total_seconds()
    deadline = time.monotonic() + timeout
    last_report = ""
    while True:
        status = core.kube.workload_status(namespace, release)
        if status.ready:
            break
        report = "; ".join(status.problems)
        if report != last_report:
            progress(f"waiting: {report}")
            last_report = report
        if time.monotonic() >= deadline:
            return _failed(core, env, messages.not_ready(release, timeout, status.problems),
                           wanted_hash)
        time.sleep(core.poll_interval)
    url = project.url(env.key)
    if project.smoke_path is not None:
        problem = smoke_check(url + project.smoke_path)
        if problem:
            return _failed(core, env, problem, wanted_hash)
    revision = core.helm.get_release(release, namespace)
    if env.observed.updated_at is not None:
        metrics.DEPLOY_SECONDS.observe((core.clock.now() - env.observed.updated_at)
                                       .total_seconds())
    env = core.save(env, Status.READY, "", url=url, deployed_sha=env.desired.sha,
                    deployed_hash=wanted_hash, last_deploy_at=core.clock.now(),
                    helm_revision=revision.revision if revision else None)
    core.emit(EventKind.READY, env)
    progress(f"ready: {url}")
    return sync_gitlab(core, env, wanted_hash)


def _failed(core: Core, env: Environment, reason: str, wanted_hash: str) -> Environment:
    env = core.save(env, Status.FAILED, reason, deployed_hash=wanted_hash,
                    deployed_sha=env.desired.sha)
    core.emit(EventKind.FAILED, env, reason)
    return env


def smoke_check(url: str) -> str:
    """'' when the URL answers below 500 (a 401/404 still proves it is served),
    else the reason."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (https URL we built)
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = int(error.code)
    except OSError as error:
        return messages.smoke_failed(url, str(error))
    return "" if status < 500 else messages.smoke_failed(url, f"HTTP {status}")


def sync_gitlab(core: Core, env: Environment, wanted_hash: str) -> Environment:
    """GitLab environment + one MR note. GitLab being down never fails the deploy."""
    if core.gitlab is None:
        return env
    desired = env.desired
    synced = True
    try:
        core.gitlab.ensure_environment(desired.project_id, gitlab_environment_name(env),
                                       env.observed.url)
    except PreviewError as error:
        log.warning("GitLab environment of %s postponed: %s", env.key, error)
        synced = False
    if desired.mr_iid is not None:
        marker = messages.note_marker(env.key)
        try:
            core.gitlab.upsert_mr_note(desired.project_id, desired.mr_iid, marker,
                                       messages.mr_note(marker, env))
        except PreviewError as error:
            log.warning("MR note of %s postponed: %s", env.key, error)
            synced = False
    if not synced:
        return env
    return core.save(env, env.observed.status, env.observed.reason,
                     gitlab_synced_hash=wanted_hash)


def teardown(core: Core, env: Environment, reason: str, progress: Progress) -> Environment:
    """helm uninstall → delete namespace → wait until gone → stop GitLab env → gone."""
    namespace, release = namespace_for(env.desired), release_for(env.desired)
    env = core.save(env, Status.TEARING_DOWN, reason)
    existing = core.kube.get_namespace(namespace)
    if existing is not None and existing.phase != "Terminating":
        # Durable intent first: a crash from here on still ends in teardown.
        core.kube.annotate_namespace(namespace, {records.TEARDOWN_REASON: reason}, dry_run=False)
        progress(f"helm uninstall {release}")
        try:
            core.helm.uninstall(release, namespace, dry_run=False)
        except PermanentError as error:
            # e.g. a failing pre-delete hook: deleting the namespace removes the
            # release's objects and its record anyway; never leave resources behind.
            log.warning("helm uninstall of %s failed (%s); deleting its namespace", release,
                        error)
    if existing is not None:
        progress(f"deleting namespace {namespace}")
        core.kube.delete_namespace(namespace, dry_run=False)
        if not core.kube.wait_namespace_gone(namespace, core.teardown_timeout):
            raise TemporaryError(messages.namespace_not_gone(namespace, core.teardown_timeout))
    stopped = stop_gitlab(core, env)
    started_at = env.observed.updated_at
    env = core.save(env, Status.GONE, reason,
                    gitlab_synced_hash="" if stopped else STOP_PENDING)
    if started_at is not None:
        metrics.TEARDOWN_SECONDS.observe((core.clock.now() - started_at).total_seconds())
    metrics.TEARDOWNS.labels(reason=metrics.reason_class(reason)).inc()
    core.emit(EventKind.TORN_DOWN, env, reason)
    progress(f"gone ({reason})")
    return env


def stop_gitlab(core: Core, env: Environment) -> bool:
    """Stop the GitLab environment; False (retried by a later pass) when GitLab
    refused or was down — a teardown is not held up by GitLab."""
    if core.gitlab is None:
        return True
    try:
        core.gitlab.stop_environment(env.desired.project_id, gitlab_environment_name(env))
    except PreviewError as error:
        log.warning("could not stop GitLab environment of %s: %s", env.key, error)
        return False
    return True


def finish_gitlab_stop(core: Core, env: Environment) -> Environment:
    if not stop_gitlab(core, env):
        return env
    return core.save(env, env.observed.status, env.observed.reason, gitlab_synced_hash="")


def _ensure_namespace(core: Core, env: Environment, namespace: str) -> NamespaceRecord | None:
    """Labels and annotations of SPEC §5; stale keys (a cancelled teardown) removed.
    Returns the namespace as it was before (None: it was just created)."""
    wanted = records.namespace_annotations(env.desired)
    existing = core.kube.get_namespace(namespace)
    if existing is not None and existing.managed:
        foreign = records.foreign_labels(existing.labels, env.desired)
        if foreign:  # managed, but for another environment or project: not ours either
            raise NotOwnedError(messages.namespace_of_another(namespace, foreign))
    core.kube.ensure_namespace(namespace, records.namespace_labels(env.desired),
                               {k: v for k, v in wanted.items() if v is not None}, dry_run=False)
    removals = {k: v for k, v in wanted.items() if v is None}
    if removals:
        core.kube.annotate_namespace(namespace, removals, dry_run=False)
    return existing


def gitlab_environment_name(env: Environment) -> str:
    """``review/<source branch>`` (SPEC §6) where GitLab accepts it (letters, digits,
    ``_/$ {}.-``, ≤ 255 characters, no leading/trailing ``/``); else
    ``review/<ENV>``, so any branch name still gets a GitLab environment."""
    name = f"review/{env.desired.branch}"
    if len(name) <= 255 and not name.endswith("/") and _GITLAB_ENV_NAME.fullmatch(name):
        return name
    return f"review/{env.key}"


_GITLAB_ENV_NAME = re.compile(r"[a-zA-Z0-9_/${}. -]+")
