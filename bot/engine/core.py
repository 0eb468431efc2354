"""The `Core` bundle: everything a use case talks to, in one settings object.

Built once by the composition root (`bot.runtime.wiring.build_core`) and handed
to the request API, the intake, the reconciler and the converge steps, instead
of long parameter chains. Its helpers are the few things every use case needs:
the project of an environment, the values it should run with, and how to record
and announce what was observed.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.cluster.helm import Helm
from bot.cluster.kube import Kube
from bot.cluster.values import helm_values, values_hash
from bot.config import Config, ProjectConfig
from bot.domain import messages
from bot.domain.errors import PermanentError, PreviewError
from bot.domain.model import Clock, Environment, Status
from bot.engine.notify import Notice, NoticeKind, Notifier
from bot.gitlab.port import GitLabClient, ProjectInfo
from bot.state.store import Store

log = logging.getLogger("previewbot.engine")


PROJECT_INFO_TTL = timedelta(minutes=10)


@dataclass
class ProjectInfoCache:
    """GitLab's view of each configured project (id, default branch), read at most every
    ``PROJECT_INFO_TTL``: a pass must not cost one extra GitLab call per project."""

    entries: dict[str, tuple[ProjectInfo, datetime]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


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
    projects: ProjectInfoCache = field(default_factory=ProjectInfoCache)
    # Set when the process shuts down: long waits end early, no new work starts.
    stopping: threading.Event = field(default_factory=threading.Event)

    def project_info(self, project: ProjectConfig) -> ProjectInfo:
        """GitLab's id and default branch of ``project`` (cached briefly)."""
        if self.gitlab is None:
            raise PermanentError(messages.gitlab_not_configured())
        now = self.clock.now()
        with self.projects.lock:
            cached = self.projects.entries.get(project.path)
        if cached is not None and now - cached[1] < PROJECT_INFO_TTL:
            return cached[0]
        info = self.gitlab.project(project.id or project.path)
        with self.projects.lock:
            self.projects.entries[project.path] = (info, now)
        return info

    def project(self, env: Environment) -> ProjectConfig | None:
        return self.config.project_by_path(env.desired.project_path)

    def wanted(self, env: Environment) -> tuple[dict[str, object], str]:
        """The values to deploy and their hash; ({}, "") when the project is unknown."""
        project = self.project(env)
        if project is None:
            return {}, ""
        values = helm_values(project, env.desired)
        return values, values_hash(project.chart, values)

    def emit(self, kind: NoticeKind, env: Environment, reason: str = "") -> None:
        """Tell people; never fails the caller. What Slack could not take is owed, and
        ``catch_up_notices`` delivers it once Slack answers again."""
        if self._deliver(Notice(kind, env, reason)):
            self._settle(env.key)
        else:
            self._owe(env.key, json.dumps({"kind": kind.value, "reason": reason}))

    def catch_up_notices(self) -> int:
        """Deliver again each environment's latest undelivered notice, rendered from its
        record as it is now; how many were delivered. A notice about an environment
        that has ended since (or whose record is gone) is dropped: the teardown's own
        notice says where it stands."""
        try:
            owed = self.store.owed_notices()
        except PreviewError as error:
            log.warning("notice catch-up skipped: %s", error)
            return 0
        delivered = 0
        for env_key, raw in sorted(owed.items()):
            try:
                fields = json.loads(raw)
                kind, reason = NoticeKind(fields["kind"]), str(fields.get("reason", ""))
                env = self.store.get(env_key)
            except (ValueError, KeyError, TypeError, PreviewError) as error:
                log.warning("owed notice of %s unreadable or unloadable (%s)", env_key, error)
                continue
            ended = env is None or (kind is not NoticeKind.TORN_DOWN
                                    and (not env.desired.present
                                         or env.observed.status is Status.GONE))
            if env is not None and not ended:
                if not self._deliver(Notice(kind, env, reason)):
                    return delivered  # still failing: the next tick tries again
                delivered += 1
            try:
                self.store.settle_notice(env_key, raw)
            except PreviewError as error:
                log.warning("owed notice of %s not settled: %s", env_key, error)
        return delivered

    def _deliver(self, notice: Notice) -> bool:
        try:
            self.notifier.notify(notice)
        except Exception:  # a notifier must never fail a deploy
            log.exception("notifier failed on %s for %s", notice.kind.value, notice.env.key)
            return False
        return True

    def _owe(self, env_key: str, notice: str) -> None:
        try:
            self.store.owe_notice(env_key, notice)
        except PreviewError as error:
            log.warning("undelivered notice of %s not kept for later: %s", env_key, error)

    def _settle(self, env_key: str) -> None:
        try:
            self.store.settle_notice(env_key)
        except PreviewError as error:
            log.warning("owed notice of %s not settled: %s", env_key, error)

    def save(self, env: Environment, status: Status, reason: str = "", **changes: object) -> (
            Environment):
        updated = env.with_observed(status=status, reason=reason, updated_at=self.clock.now(),
                                    **changes)
        self.store.put_observed(env.key, updated.observed)
        return updated
