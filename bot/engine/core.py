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
from datetime import datetime

from bot.cluster.values import helm_values, values_hash
from bot.config import Config, ProjectConfig
from bot.domain.changes import SourceProject
from bot.domain.errors import PermanentError, PreviewError
from bot.domain.model import Clock, Environment, Status
from bot.engine.notify import Notice, NoticeKind, Notifier
from bot.engine.ports import ChangeSource, ClusterPort, Forge, ReleasePort, ReviewSurface, StorePort
from bot.engine.settings import EngineSettings
from bot.engine.texts import gitlab_not_configured

log = logging.getLogger("previewbot.engine")




@dataclass
class ProjectInfoCache:
    """The forge's view of each configured project (id, default branch), read at most every
    ``ForgeSettings.project_info_ttl``: a pass must not cost one extra GitLab call per project."""

    entries: dict[str, tuple[SourceProject, datetime]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class Core:
    """Everything the engine talks to: one settings object instead of long parameter chains."""

    config: Config
    store: StorePort
    kube: ClusterPort
    helm: ReleasePort
    notifier: Notifier
    clock: Clock
    forge: Forge | None = None  # None: no forge configured (Slack-only tools, tests)
    settings: EngineSettings = field(default_factory=EngineSettings)
    projects: ProjectInfoCache = field(default_factory=ProjectInfoCache)
    # Set when the process shuts down: long waits end early, no new work starts.
    stopping: threading.Event = field(default_factory=threading.Event)

    def source(self, project_path: str) -> ChangeSource:
        """Where the project's change requests live; PermanentError without a forge."""
        if self.forge is None:
            raise PermanentError(gitlab_not_configured())
        return self.forge.source(project_path)

    def review(self, project_path: str) -> ReviewSurface:
        """Where people see the project's environments beside their change requests."""
        if self.forge is None:
            raise PermanentError(gitlab_not_configured())
        return self.forge.review(project_path)

    def project_info(self, project: ProjectConfig) -> SourceProject:
        """The forge's id and default branch of ``project`` (cached briefly)."""
        source = self.source(project.path)
        now = self.clock.now()
        with self.projects.lock:
            cached = self.projects.entries.get(project.path)
        if cached is not None and now - cached[1] < self.settings.forge.project_info_ttl:
            return cached[0]
        info = source.project(project.id or project.path)
        with self.projects.lock:
            self.projects.entries[project.path] = (info, now)
        return info

    def project(self, env: Environment) -> ProjectConfig | None:
        return self.config.project_by_path(env.desired.project_path)

    def project_of_id(self, project_id: int) -> ProjectConfig | None:
        """The configured project whose forge id is ``project_id``, whatever its path now:
        a configured ``id:``, else the forge's id of each project without one (cached;
        one the forge cannot tell now is skipped). A project renamed in the forge, or
        whose ``path:``/``slug:`` was edited, is still the same project."""
        configured = self.config.project_by_id(project_id)
        if configured is not None or self.forge is None:
            return configured
        for project in self.config.projects:
            if project.id is not None:
                continue
            try:
                if self.project_info(project).id == project_id:
                    return project
            except PreviewError as error:
                log.info("cannot tell the forge id of %s now: %s", project.path, error)
        return None

    def wanted(self, env: Environment) -> tuple[dict[str, object], str]:
        """The values to deploy and their hash; ({}, "") when the project is unknown."""
        project = self.project(env)
        if project is None:
            return {}, ""
        values = helm_values(project, env.desired)
        return values, values_hash(project.chart, values)

    def emit(self, kind: NoticeKind, env: Environment, reason: str = "") -> None:
        """Tell people; never fails the caller. What the notifier could not take is owed
        in Redis, and ``catch_up_notices`` delivers it once it answers again."""
        seen = self._owed(env.key)
        if self._deliver(Notice(kind, env, reason)):
            if seen is not None:  # only what was owed before: a newer failure stays owed
                self._settle(env.key, seen)
        else:
            self._owe(env.key, json.dumps({"kind": kind.value, "reason": reason,
                                           "at": self.clock.now().isoformat()}))

    def catch_up_notices(self) -> int:
        """Deliver each environment's latest undelivered notice, rendered from its record
        as it is then, under the environment's lock (so never after a teardown's own
        notice); how many were delivered. Dropped: notices older than a day, and those
        that are no longer news (a "ready" for an environment that has ended since, a
        "gone" for one that is up again). After a few failures in a row the notifier is
        taken to be down still: the next tick tries again."""
        try:
            owed = self.store.owed_notices()
        except PreviewError as error:
            log.warning("notice catch-up skipped: %s", error)
            return 0
        delivered = failures = 0
        for env_key, raw in sorted(owed.items()):
            if failures >= self.settings.notices.catch_up_failures:
                break
            try:
                fields = json.loads(raw)
                notice_kind, reason = NoticeKind(fields["kind"]), str(fields.get("reason", ""))
                owed_at = datetime.fromisoformat(str(fields["at"]))
            except (ValueError, KeyError, TypeError) as error:
                log.warning("owed notice of %s unreadable (%s); dropped", env_key, error)
                self._settle(env_key, raw)
                continue
            if self.clock.now() - owed_at > self.settings.notices.owed_max_age:
                log.warning("owed %s notice of %s is older than %s; dropped",
                            notice_kind.value, env_key, self.settings.notices.owed_max_age)
                self._settle(env_key, raw)
                continue
            try:
                with self.store.lock(env_key, wait=self.settings.notices.catch_up_lock_wait):
                    if self.store.owed_notice(env_key) != raw:
                        continue  # delivered (or a newer one owed) while we waited
                    env = self.store.get(env_key)
                    if env is not None and self._still_news(notice_kind, env):
                        told = _as_it_stands(notice_kind, env)
                        reason = reason if told is notice_kind else ""
                        if not self._deliver(Notice(told, env, reason)):
                            failures += 1
                            continue
                        delivered, failures = delivered + 1, 0
                    self.store.settle_notice(env_key, raw)
            except PreviewError as error:  # busy (a deploy holds it) or Redis: next tick
                log.info("owed notice of %s not delivered now: %s", env_key, error)
        return delivered

    def _still_news(self, kind: NoticeKind, env: Environment) -> bool:
        if kind is NoticeKind.TORN_DOWN:
            return env.observed.status is Status.GONE
        return (env.desired.present and self.clock.now() < env.desired.expires_at
                and env.observed.status not in (Status.GONE, Status.TEARING_DOWN))

    def _deliver(self, notice: Notice) -> bool:
        try:
            self.notifier.notify(notice)
        except Exception:  # a notifier must never fail a deploy
            log.exception("notifier failed on %s for %s", notice.kind.value, notice.env.key)
            return False
        return True

    def _owed(self, env_key: str) -> str | None:
        try:
            return self.store.owed_notice(env_key)
        except PreviewError as error:
            log.warning("owed notice of %s not read: %s", env_key, error)
            return None

    def _owe(self, env_key: str, notice: str) -> None:
        try:
            self.store.owe_notice(env_key, notice)
        except PreviewError as error:
            log.warning("undelivered notice of %s not kept for later: %s", env_key, error)

    def _settle(self, env_key: str, notice: str) -> None:
        try:
            self.store.settle_notice(env_key, notice)
        except PreviewError as error:
            log.warning("owed notice of %s not settled: %s", env_key, error)

    def save_if_unmoved(self, env: Environment, status: Status, reason: str = "",
                        **changes: object) -> Environment | None:
        """``save``, only while the desired state is still ``env``'s: None (nothing
        written) when a request changed it since it was read."""
        updated = env.with_observed(status=status, reason=reason, updated_at=self.clock.now(),
                                    **changes)
        if not self.store.put_observed_if(env.key, updated.observed, desired=env.desired):
            return None
        return updated

    def save(self, env: Environment, status: Status, reason: str = "", **changes: object) -> (
            Environment):
        updated = env.with_observed(status=status, reason=reason, updated_at=self.clock.now(),
                                    **changes)
        self.store.put_observed(env.key, updated.observed)
        return updated


_PROGRESS = {Status.READY: NoticeKind.READY, Status.FAILED: NoticeKind.FAILED}


def _as_it_stands(kind: NoticeKind, env: Environment) -> NoticeKind:
    """An owed "deploying" for an environment that is ready by now is told as "ready"."""
    if kind in (NoticeKind.DEPLOYING, NoticeKind.READY, NoticeKind.FAILED):
        return _PROGRESS.get(env.observed.status, NoticeKind.DEPLOYING)
    return kind
