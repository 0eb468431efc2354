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
from bot.domain.durations import format_duration
from bot.domain.errors import PermanentError, PreviewError
from bot.domain.model import Clock, Environment, Status
from bot.engine.notify import STANDING, TOPICS, Notice, NoticeKind, Notifier, topic
from bot.engine.ports import ChangeSource, ClusterPort, Forge, ReleasePort, ReviewSurface, StorePort
from bot.engine.settings import EngineSettings
from bot.engine.texts import expiring, gitlab_not_configured
from bot.logs import mask_learnt

log = logging.getLogger("previewbot.engine")
# A reason is shown in Slack, on the MR and in `status`: at most this many characters.
REASON_MAX = 2000


def said(reason: str) -> str:
    """A reason as it may be kept and shown: secret values learnt (``secret_values``)
    masked — Helm and Kubernetes errors can echo them — and capped."""
    masked = mask_learnt(reason)
    return masked if len(masked) <= REASON_MAX else masked[:REASON_MAX - 1] + "…"




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
        """The configured project of a record: by its path, else by its forge id (a
        project renamed, or its ``path:`` edited, before a pass moved the record)."""
        return (self.config.project_by_path(env.desired.project_path)
                or self.project_of_id(env.desired.project_id))

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
        in Redis, and ``catch_up_notices`` delivers it once it answers again. Only the
        latest notice of each topic (``notify.topic``) is owed: a "ready" settles an
        owed "deploying", never an owed expiry warning."""
        reason = said(reason)
        about = topic(kind)
        seen = self._owed(env.key, about)
        if self._deliver(Notice(kind, env, reason)):
            if seen is not None:  # only what was owed before: a newer failure stays owed
                self._settle(env.key, seen, about)
        else:
            self._owe(env.key, self.owing(kind, env, reason), about)

    def owing(self, kind: NoticeKind, env: Environment, reason: str = "") -> str:
        """``kind`` as it is owed; a warning keeps the expiry it warns of."""
        fields = {"kind": kind.value, "reason": reason, "at": self.clock.now().isoformat()}
        if kind is NoticeKind.EXPIRING:
            fields["expires"] = env.desired.expires_at.isoformat()
        return json.dumps(fields)

    def deliver_owed(self, kind: NoticeKind, env: Environment, reason: str,
                     owed: str) -> bool:
        """Deliver a notice already owed as ``owed`` (owed first, so that a crash or a
        failure leaves it owed); settled once delivered."""
        if not self._deliver(Notice(kind, env, reason)):
            return False
        self._settle(env.key, owed, topic(kind))
        return True

    def catch_up_notices(self) -> int:
        """Deliver each environment's latest undelivered notice of each topic, oldest
        first, rendered from its record as it is then, under the environment's lock (so
        never after a teardown's own notice); how many were delivered. Dropped, with a
        log line: notices older than a day, and those that are no longer news (a "ready"
        for an environment that has ended since, a "gone" for one that is up again, a
        warning whose expiry passed or moved). After a few failures in a row the notifier
        is taken to be down still: the next tick tries again."""
        try:
            owed = self._all_owed()
        except PreviewError as error:
            log.warning("notice catch-up skipped: %s", error)
            return 0
        delivered = failures = 0
        for one in sorted(owed, key=lambda o: (o.at, o.env_key, o.topic)):
            env_key, about, raw, notice_kind = one.env_key, one.topic, one.raw, one.kind
            if failures >= self.settings.notices.catch_up_failures:
                break
            if self.clock.now() - one.at > self.settings.notices.owed_max_age:
                log.warning("owed %s notice of %s is older than %s; dropped",
                            notice_kind.value, env_key, self.settings.notices.owed_max_age)
                self._settle(env_key, raw, about)
                continue
            try:
                with self.store.lock(env_key, wait=self.settings.notices.catch_up_lock_wait):
                    if self.store.owed_notice(env_key, topic=about) != raw:
                        continue  # delivered (or a newer one owed) while we waited
                    env = self.store.get(env_key)
                    if env is not None and self._still_news(notice_kind, env, one.fields):
                        told = _as_it_stands(notice_kind, env)
                        said = self._reason_now(told, env,
                                                one.reason if told is notice_kind else "")
                        if not self._deliver(Notice(told, env, said)):
                            failures += 1
                            continue
                        delivered, failures = delivered + 1, 0
                    else:
                        log.info("owed %s notice of %s is no longer news; dropped",
                                 notice_kind.value, env_key)
                    self.store.settle_notice(env_key, raw, topic=about)
            except PreviewError as error:  # busy (a deploy holds it) or Redis: next tick
                log.info("owed notice of %s not delivered now: %s", env_key, error)
        return delivered

    def _all_owed(self) -> list[_Owed]:
        """Every readable owed notice of every topic; unreadable ones are dropped. A
        warning a replica of the previous version owed in the one slot it knows moves
        to its own topic first, so that no newer notice there overwrites it."""
        owed: list[_Owed] = []
        for about in TOPICS:
            for env_key, raw in self.store.owed_notices(topic=about).items():
                try:
                    fields = json.loads(raw)
                    notice_kind, reason = NoticeKind(fields["kind"]), str(fields.get("reason", ""))
                    owed_at = datetime.fromisoformat(str(fields["at"]))
                except (ValueError, KeyError, TypeError) as error:
                    log.warning("owed notice of %s unreadable (%s); dropped", env_key, error)
                    self._settle(env_key, raw, about)
                    continue
                if topic(notice_kind) != about:  # read again under its own topic, later
                    self._rehome(env_key, raw, about, topic(notice_kind))
                    continue
                owed.append(_Owed(owed_at, env_key, about, raw, notice_kind, reason, fields))
        return owed

    def _rehome(self, env_key: str, raw: str, found: str, belongs: str) -> None:
        """Move an owed notice of the previous version's layout to its own topic, unless
        a notice of that topic is owed already (then that one is the newer)."""
        if self.store.owed_notice(env_key, topic=belongs) is None:
            self.store.owe_notice(env_key, raw, topic=belongs)
        else:
            log.info("owed %s notice of %s superseded by a newer one; dropped",
                     _kind_of(raw).value, env_key)
        self.store.settle_notice(env_key, raw, topic=found)

    def _still_news(self, kind: NoticeKind, env: Environment, fields: dict[str, object]) -> (
            bool):
        if kind is NoticeKind.TORN_DOWN:
            return env.observed.status is Status.GONE
        if kind is NoticeKind.TEARING_DOWN:
            return env.observed.status is Status.TEARING_DOWN
        alive = (env.desired.present and self.clock.now() < env.desired.expires_at
                 and env.observed.status not in (Status.GONE, Status.TEARING_DOWN))
        if kind is NoticeKind.EXPIRING:  # of this expiry still (an extension moves it)
            project = self.project(env)
            warned = fields.get("expires")
            return (alive and project is not None
                    and self.clock.now() >= env.desired.expires_at - project.warn_before
                    and (warned is None
                         or str(warned) == env.desired.expires_at.isoformat()))
        return alive

    def _reason_now(self, kind: NoticeKind, env: Environment, reason: str) -> str:
        """A late warning says how long is left now, not when it was first owed."""
        if kind is not NoticeKind.EXPIRING:
            return reason
        expires_at = env.desired.expires_at
        return expiring(expires_at, format_duration(expires_at - self.clock.now()))

    def _deliver(self, notice: Notice) -> bool:
        try:
            self.notifier.notify(notice)
        except Exception:  # a notifier must never fail a deploy
            log.exception("notifier failed on %s for %s", notice.kind.value, notice.env.key)
            return False
        return True

    def _owed(self, env_key: str, about: str) -> str | None:
        try:
            seen = self.store.owed_notice(env_key, topic=about)
            if about == STANDING and seen is not None and topic(_kind_of(seen)) != STANDING:
                # the previous version's one slot holds a warning: keep it apart, owed
                self._rehome(env_key, seen, STANDING, topic(_kind_of(seen)))
                return None
            return seen
        except PreviewError as error:
            log.warning("owed notice of %s not read: %s", env_key, error)
            return None

    def _owe(self, env_key: str, notice: str, about: str) -> None:
        try:
            self.store.owe_notice(env_key, notice, topic=about)
        except PreviewError as error:
            log.warning("undelivered notice of %s not kept for later: %s", env_key, error)

    def _settle(self, env_key: str, notice: str, about: str) -> None:
        try:
            self.store.settle_notice(env_key, notice, topic=about)
        except PreviewError as error:
            log.warning("owed notice of %s not settled: %s", env_key, error)

    def save_if_unmoved(self, env: Environment, status: Status, reason: str = "",
                        **changes: object) -> Environment | None:
        """``save``, only while the desired state is still ``env``'s: None (nothing
        written) when a request changed it since it was read."""
        reason = said(reason)
        updated = env.with_observed(status=status, reason=reason, updated_at=self.clock.now(),
                                    **changes)
        if not self.store.put_observed_if(env.key, updated.observed, desired=env.desired):
            return None
        return updated

    def save(self, env: Environment, status: Status, reason: str = "", **changes: object) -> (
            Environment):
        reason = said(reason)
        updated = env.with_observed(status=status, reason=reason, updated_at=self.clock.now(),
                                    **changes)
        self.store.put_observed(env.key, updated.observed)
        return updated


@dataclass(frozen=True)
class _Owed:
    """One owed notice as the catch-up reads it."""

    at: datetime
    env_key: str
    topic: str
    raw: str  # as stored: what is settled once delivered
    kind: NoticeKind
    reason: str
    fields: dict[str, object]


_PROGRESS = {Status.READY: NoticeKind.READY, Status.FAILED: NoticeKind.FAILED}


def _as_it_stands(kind: NoticeKind, env: Environment) -> NoticeKind:
    """An owed "deploying" for an environment that is ready by now is told as "ready"."""
    if kind in (NoticeKind.DEPLOYING, NoticeKind.READY, NoticeKind.FAILED):
        return _PROGRESS.get(env.observed.status, NoticeKind.DEPLOYING)
    return kind


def _kind_of(raw: str) -> NoticeKind:
    """The kind of an owed notice; DEPLOYING (where it stands) when unreadable."""
    try:
        return NoticeKind(json.loads(raw)["kind"])
    except (ValueError, KeyError, TypeError):
        return NoticeKind.DEPLOYING
