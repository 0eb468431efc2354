"""Requests on environments: up, down, extend, keep, list, status.

A request only records desired state (in Redis and, when the namespace exists,
on the namespace itself, which survives a Redis loss) and returns; convergence
is the reconciler's job. Callers that want to wait run a pass for the key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime, timedelta

from bot.cluster.values import helm_values, namespace_for
from bot.config import Config, ProjectConfig
from bot.domain import messages, naming, records
from bot.domain.changes import ChangeRequest
from bot.domain.errors import CapacityError, NotOwnedError, PermanentError, TemporaryError
from bot.domain.messages import quoted
from bot.domain.model import (
    Desired,
    EndKind,
    Environment,
    HistoryEntry,
    Observed,
    Status,
    is_active,
    short_sha,
)
from bot.engine import review
from bot.engine.converge import write_annotations
from bot.engine.core import Core
from bot.engine.identity import Identities
from bot.engine.notify import NoticeKind
from bot.engine.pipelines import passed_sha
from bot.engine.ports import ChangeSource

CAPACITY_LOCK = "_capacity"  # not a valid ENV key (leading "_"), so it never clashes
_KEY_ATTEMPTS = 3  # a lost race for a free key is retried at once, this many times


class KeyTaken(TemporaryError):
    """Another identity wrote its record at the key this request chose a moment ago."""

    def __init__(self, message: str) -> None:
        super().__init__(message, delay=1.0)


class Requests:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.identities = Identities(core)

    # -- lookups -----------------------------------------------------------
    def project(self, path_or_slug: str) -> ProjectConfig:
        project = self.core.config.find_project(path_or_slug)
        if project is None:
            known = [p.path for p in self.core.config.projects]
            raise PermanentError(unknown_project(path_or_slug, known))
        return project

    def resolve(self, text: str) -> Environment:
        """An existing environment from ENV, PROJECT!IID or PROJECT@BRANCH."""
        ref = naming.parse_env_ref(text)
        env = None
        if ref.env_key is not None:
            env = self.identities.record(ref.env_key)
        elif ref.project_path is not None:
            env = self.identities.find(self.project(ref.project_path), mr_iid=ref.mr_iid,
                            branch=ref.branch or "")
        if env is None:
            raise PermanentError(messages.unknown_env(text))
        return env

    def environments(self, *, project: str | None = None, owner: str | None = None,
                     include_gone: bool = False) -> list[Environment]:
        envs = [e for e in self.core.store.all() if include_gone or is_active(e)]
        if project is not None:
            path = self.project(project).path
            envs = [e for e in envs if e.desired.project_path == path]
        if owner is not None:
            envs = [e for e in envs if e.desired.owner == owner]
        return sorted(envs, key=lambda e: e.desired.created_at)

    def history(self, env_key: str) -> list[HistoryEntry]:
        return self.core.store.history(env_key)

    def get(self, env_key: str) -> Environment | None:
        """The record of ``env_key`` as it stands; None when there is none."""
        return self.core.store.get(env_key)

    @property
    def config(self) -> Config:
        return self.core.config

    def now(self) -> datetime:
        """The engine's clock (injectable): what "now" is for every request."""
        return self.core.clock.now()

    # -- up ----------------------------------------------------------------
    def request_up_mr(self, project_path: str, iid: int, *, actor: str,
                      ttl: timedelta | None = None, sha: str | None = None,
                      source_updated_at: datetime | None = None,
                      mr: ChangeRequest | None = None, manual: bool = False,
                      sticky: bool = True) -> Environment:
        """``sha`` pins the commit (a passed pipeline's); else the MR's current head.
        ``mr``: the MR as the caller just read it from GitLab (saves reading it again).
        ``manual``: a person asked (CLI, Slack), not an event: see ``Desired.manual``;
        with ``sticky`` False (Redeploy) it does not make the environment manual."""
        self._refuse_in_dry_run("up")
        project = self.project(project_path)
        info = self.core.project_info(project)
        if mr is None or mr.iid != iid:
            mr = self.core.source(project.path).change_request(info.id, iid)
        if not mr.state.is_open:
            raise PermanentError(mr_not_open(project.path, iid, mr.state))
        if mr.source_branch == info.default_branch:
            raise PermanentError(default_branch_refused(project.path, mr.source_branch))
        sha = sha or _deployable_head(project, mr, self.core.source(project.path))
        branch = mr.source_branch
        # Redis knows nothing of it (a wipe): the MR note is the durable record of an end
        # on purpose — an event must not bring it back at that very commit.
        if not manual and self.identities.find(
                project, mr_iid=iid, branch=branch, project_id=info.id) is None and \
                self.ended_at(project, mr) == sha:
            self.record_ended(project, mr, sha, ended_before())
            raise PermanentError(ended_on_purpose(f"{project.path}!{iid}", sha))

        def asked(key: str) -> Desired:
            return self._desired(project, key, info.id, branch, sha, ttl,
                                 owner=mr.author_username, mr_iid=iid, mr_url=mr.web_url,
                                 manual=manual,
                                 source_updated_at=source_updated_at or mr.updated_at)

        return self._record_at_its_key(project, info.id, asked, actor, mr_iid=iid,
                                       branch=branch, sticky=sticky)

    def request_up_branch(self, project_path: str, branch: str, *, actor: str,
                          ttl: timedelta | None = None, sha: str | None = None,
                          source_updated_at: datetime | None = None,
                          manual: bool = False, sticky: bool = True) -> Environment:
        self._refuse_in_dry_run("up")
        project = self.project(project_path)
        info = self.core.project_info(project)
        if branch == info.default_branch:
            raise PermanentError(default_branch_refused(project.path, branch))
        sha = sha or self.core.source(project.path).branch_head(info.id, branch)
        if sha is None:
            raise PermanentError(unknown_branch(project.path, branch))
        head = sha

        def asked(key: str) -> Desired:
            desired = self._desired(project, key, info.id, branch, head, ttl, owner=actor,
                                    source_updated_at=source_updated_at, manual=manual)
            helm_values(project, desired)  # refuse now what could never render (image_tag…)
            return desired

        return self._record_at_its_key(project, info.id, asked, actor, mr_iid=None,
                                       branch=branch, sticky=sticky)

    def _record_at_its_key(self, project: ProjectConfig, project_id: int,
                           asked: Callable[[str], Desired], actor: str, *,
                           mr_iid: int | None, branch: str, sticky: bool) -> Environment:
        """Record ``asked(key)`` at the key of its identity. Two identities that both saw
        the same key free (two replicas, the same moment) cannot merge into one record:
        the write checks whose record it writes onto, and the one that lost the race
        picks its key again (then its identity key, as the other holds the plain one)."""
        for attempt in range(_KEY_ATTEMPTS):
            key = self.identities.env_key_for(project, project_id, mr_iid=mr_iid,
                                              branch=branch)
            try:
                return self._record_up(project, asked(key), actor, sticky=sticky)
            except KeyTaken:
                if attempt == _KEY_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _desired(self, project: ProjectConfig, env_key: str, project_id: int, branch: str,
                 sha: str, ttl: timedelta | None, *, manual: bool, **extra: object) -> Desired:
        """What is asked for, before it meets the record: expiry from now, nothing kept.
        ``_record_up`` merges it with the record inside the transaction."""
        now = self._now()
        return Desired(env_key=env_key, project_path=project.path, project_id=project_id,
                       branch=branch, sha=sha, created_at=now,
                       expires_at=min(now + (ttl or project.ttl), now + project.max_ttl),
                       manual=manual, **extra)  # type: ignore[arg-type]

    def _merged(self, project: ProjectConfig, asked: Desired,
                existing: Environment | None, *, sticky: bool = True) -> Desired:
        """``asked`` on top of the record as this transaction read it: an active one keeps
        its creation time, a later expiry, keep, manual (a Keep or an extend recorded a
        moment ago is never undone by an up that read the record before it) and its
        owner (whoever created it; a pipeline, another person's up or a Redeploy later
        never takes down/extend/keep and the expiry message away from them)."""
        if existing is None:
            return asked
        source = asked.source_updated_at
        known = existing.desired.source_updated_at
        if known is not None and (source is None or source < known):
            source = known  # a person's up moves no event ordering back
        if not is_active(existing):
            return replace(asked, source_updated_at=source)
        current = existing.desired
        cap = current.created_at + project.max_ttl
        keep = current.keep
        expires_at = cap if keep else max(min(asked.expires_at, cap), current.expires_at)
        return replace(asked, created_at=current.created_at, expires_at=expires_at,
                       keep=keep, manual=(asked.manual and sticky) or current.manual,
                       owner=current.owner or asked.owner, source_updated_at=source)

    def _record_up(self, project: ProjectConfig, asked: Desired, actor: str, *,
                   sticky: bool = True) -> Environment:
        self._check_not_a_stranger(asked)
        # Redis may have lost the record (a wipe, a failover) before the pass adopted it:
        # then the namespace's record is what this request changes, never a fresh one.
        kept = None if self.core.store.get(asked.env_key) else \
            self.identities.kept_by_namespace(asked.env_key)
        recorded: list[Desired] = []

        def change(current: Environment | None) -> Environment | None:
            recorded.clear()
            existing = current or kept
            if existing is not None and not existing.desired.same_identity(
                    asked.project_id, mr_iid=asked.mr_iid, branch=asked.branch):
                raise KeyTaken(key_taken(asked.label, asked.env_key, existing.desired.label))
            if existing is not None and not asked.manual:
                if _is_stale(existing.desired, asked):
                    return None  # an older event arriving late never rolls back
                ended = existing.desired.end_kind(self.core.clock.now())
                if (not is_active(existing) and ended is not None and ended.deliberate
                        and existing.desired.sha == asked.sha):
                    # ended on purpose at this very commit: only a new commit or a
                    # person brings it back (a retried or late event must not)
                    raise PermanentError(ended_on_purpose(asked.label, asked.sha))
            if existing is None or not is_active(existing):
                self._check_capacity(project)
            desired = self._merged(project, asked, existing, sticky=sticky)
            if existing is not None and is_active(existing) and (
                    existing.observed.status is Status.TEARING_DOWN
                    or desired.expires_at <= self.core.clock.now()):
                # Its life is over (torn down, or at created + max_ttl where nothing
                # lengthens it): merged onto the dying record, a new commit would be
                # ended with it — and marked ended on purpose at that commit. Asked
                # again once it is gone, it starts a new life.
                raise TemporaryError(ending(asked.label, existing.key,
                                            existing.observed.reason or "its max_ttl"),
                                     delay=10.0)
            if existing is not None and is_active(existing):
                observed = existing.observed
            else:
                # A new lifecycle observes nothing yet, but the GitLab environment the last
                # one made (stopped now) is still the bot's own: it is replaced under its
                # name instead of being taken for someone else's.
                made = existing.observed.review_environment_id if existing else None
                observed = Observed(review_environment_id=made)
            if observed.status is Status.FAILED:
                # Asked again for what failed: check readiness anew (and redeploy if
                # Helm itself had failed) instead of keeping the failure. The readiness
                # clock starts again now: the old deadline would fail it again at once.
                observed = replace(observed, status=Status.PENDING, reason="retry requested",
                                   timeouts=0, retry_at=None, failures=0,
                                   step_started_at=self.core.clock.now())
            recorded.append(desired)
            return Environment(desired, observed)

        # Capacity counts every environment: creations are serialised so that two
        # replicas cannot both take the last slot.
        creating = self.core.store.get(asked.env_key) or kept
        with self.core.store.lock(CAPACITY_LOCK) if creating is None or not is_active(
                creating) else nullcontext():
            env = self.core.store.update(asked.env_key, change)
        assert env is not None  # change() returns None only for an existing record
        if recorded:
            self._after(env, "up", actor, f"{asked.label} at {short_sha(asked.sha)}")
        return env

    def _check_not_a_stranger(self, desired: Desired) -> None:
        """Refuse before recording: a namespace of that name that is not ours."""
        namespace = self.core.kube.get_namespace(namespace_for(desired))
        if namespace is not None and not namespace.managed:
            raise NotOwnedError(messages.namespace_not_ours(namespace.name))
        foreign = records.foreign_labels(namespace.labels, desired) if namespace else {}
        if namespace is not None and foreign:
            raise NotOwnedError(messages.namespace_of_another(namespace.name, foreign))

    def _check_capacity(self, project: ProjectConfig) -> None:
        active = [e for e in self.core.store.all() if is_active(e)]
        mine = [e for e in active if e.desired.project_path == project.path]
        for scope, limit, envs in ((project.path, project.max_envs, mine),
                                   ("all projects", self.core.config.max_envs, active)):
            if limit is not None and len(envs) >= limit:
                oldest = sorted(envs, key=lambda e: e.desired.created_at)[:3]
                raise CapacityError(capacity_reached(scope, limit, oldest), scope=scope,
                                    limit=limit, oldest=tuple(e.key for e in oldest))

    # -- down / extend / keep ----------------------------------------------
    def request_down(self, env_key: str, *, reason: str, actor: str,
                     kind: EndKind = EndKind.REQUESTED) -> Environment:
        env = self.request_down_unless(env_key, reason=reason, actor=actor, kind=kind,
                                       unless=lambda _: False)
        assert env is not None
        return env

    def request_down_unless(self, env_key: str, *, reason: str, actor: str, kind: EndKind,
                            unless: Callable[[Desired], bool]) -> Environment | None:
        """Record the teardown unless ``unless`` holds for the record as this transaction
        reads it (then None): a check made on an older read must not decide it."""
        self._refuse_in_dry_run("down")
        refused: list[bool] = []

        def down(desired: Desired) -> Desired:
            refused[:] = [unless(desired)]
            return desired if refused[0] else replace(
                desired, present=False, down_reason=reason, down_kind=kind.value)

        env = self._change(env_key, down)
        if refused[0]:
            return None
        self._after(env, "down", actor, reason)
        return env

    def record_ended(self, project: ProjectConfig, mr: ChangeRequest, sha: str,
                     reason: str) -> None:
        """Remember (after a Redis loss) that the MR's environment was ended on purpose at
        ``sha``: a GONE record, so discovery does not ask GitLab again every pass."""
        now = self._now()
        key = self.identities.env_key_for(project, mr.project_id, mr_iid=mr.iid,
                                          branch=mr.source_branch)
        desired = Desired(env_key=key, project_path=project.path, project_id=mr.project_id,
                          branch=mr.source_branch, sha=sha, created_at=now, expires_at=now,
                          mr_iid=mr.iid, mr_url=mr.web_url, owner=mr.author_username,
                          present=False, down_reason=reason,
                          down_kind=EndKind.REQUESTED.value)
        gone = Environment(desired, Observed(status=Status.GONE, reason=reason, updated_at=now))
        self.core.store.update(key, lambda current: gone if current is None else None)

    def ended_at(self, project: ProjectConfig, mr: ChangeRequest, *,
                 remember: bool = True) -> str | None:
        """After a Redis loss: the commit the MR note says its environment was ended on
        purpose at. Asked once per head commit, then remembered (a refused creation —
        capacity, a stranger's namespace — must not cost a GitLab call every pass)."""
        cache_key = review.ended_cache_key(mr.project_id, mr.iid, mr.sha)
        cached = self.core.store.cached(cache_key)
        if cached is not None:
            return cached or None
        ended = self.core.review(project.path).ended_at(mr.project_id, mr.iid)
        if remember:
            self.core.store.cache(cache_key, ended or "",
                                  self.core.settings.forge.answer_cache_ttl.total_seconds())
        return ended

    def extend(self, env_key: str, duration: timedelta, *, actor: str) -> tuple[Environment, bool]:
        """Push expiry by ``duration`` (from now if already past); capped at
        created + max_ttl. Returns the environment and whether the cap applied."""
        self._refuse_in_dry_run("extend")
        capped: list[bool] = []

        def push(desired: Desired) -> Desired:
            project = self.project_of(desired)
            start = max(desired.expires_at, self._now())
            cap = desired.created_at + project.max_ttl
            capped[:] = [start + duration > cap]
            return replace(desired, expires_at=min(start + duration, cap))

        env = self._change(env_key, push, lengthens=True)
        self._after(env, "extend", actor, f"until {records.rfc3339(env.desired.expires_at)}")
        self.core.emit(NoticeKind.EXTENDED, env, f"until {records.rfc3339(env.desired.expires_at)}")
        return env, capped[0]

    def keep(self, env_key: str, *, actor: str) -> Environment:
        self._refuse_in_dry_run("keep")
        def kept(desired: Desired) -> Desired:
            project = self.project_of(desired)
            return replace(desired, keep=True, expires_at=desired.created_at + project.max_ttl)

        env = self._change(env_key, kept, lengthens=True)
        self._after(env, "keep", actor, f"until {records.rfc3339(env.desired.expires_at)}")
        self.core.emit(NoticeKind.EXTENDED, env, "kept until the MR closes (max_ttl)")
        return env

    def project_of(self, desired: Desired) -> ProjectConfig:
        """The configured project of a record (by path, else by its forge id)."""
        project = self.core.project(Environment(desired, Observed()))
        if project is None:
            return self.project(desired.project_path)  # raises: names the known ones
        return project

    def _refuse_in_dry_run(self, what: str) -> None:
        """``dry_run: true`` in the config: plan and report, never change anything —
        requests included (a webhook's is logged as refused; the pass shows the plan)."""
        if self.core.config.dry_run:
            raise PermanentError(dry_run_refusal(what))

    def _now(self) -> datetime:
        # Whole seconds: namespace annotations (RFC 3339) keep no more, and a record
        # rebuilt from them must equal the one Redis lost.
        return self.core.clock.now().replace(microsecond=0)

    def _change(self, env_key: str, change: Callable[[Desired], Desired], *,
                lengthens: bool = False) -> Environment:
        """Change the desired state of an active environment, atomically. A change that
        ``lengthens`` its life (extend, keep) is refused once its teardown has begun:
        in the same transaction as the teardown's start, so exactly one of the two wins
        (``converge.teardown`` starts only while the desired state is unchanged). A
        record Redis lost is changed as its namespace keeps it."""
        kept = None if self.core.store.get(env_key) else \
            self.identities.kept_by_namespace(env_key)

        def apply(stored: Environment | None) -> Environment | None:
            current = stored or kept
            if current is None or not is_active(current):
                raise PermanentError(messages.unknown_env(env_key))
            if lengthens and current.observed.status is Status.TEARING_DOWN:
                raise PermanentError(being_torn_down(current.desired.label, env_key,
                                                     current.observed.reason))
            if lengthens:  # past its cap, the next pass ends it whatever is asked now
                max_ttl = self.project_of(current.desired).max_ttl
                if current.desired.created_at + max_ttl <= self._now():
                    raise PermanentError(past_max_ttl(current.desired.label, env_key,
                                                      current.desired.created_at + max_ttl))
            changed = change(current.desired)
            if changed == current.desired and stored is not None:
                return None
            return Environment(changed, current.observed)

        env = self.core.store.update(env_key, apply)
        assert env is not None
        return env

    def _after(self, env: Environment, action: str, actor: str, detail: str) -> None:
        """History, then the namespace (the durable record) follows Redis."""
        self.core.store.record(env.key, HistoryEntry(self.core.clock.now(), action, actor, detail))
        write_annotations(self.core, env)


def _deployable_head(project: ProjectConfig, mr: ChangeRequest, source: ChangeSource) -> str:
    """The MR's head — in pipeline mode what its passed pipeline of the head built
    (``bot.engine.pipelines``; before one passed its image may not exist); the
    Pipeline Hook deploys it when it does."""
    if project.deploy_on != "pipeline":
        return mr.sha
    sha = passed_sha(source, mr)
    if sha:
        return sha
    raise PermanentError(waiting_for_pipeline(mr.iid, mr.sha, mr.head_pipeline_status))


def _is_stale(current: Desired, incoming: Desired) -> bool:
    if current.source_updated_at is None or incoming.source_updated_at is None:
        return False
    return incoming.source_updated_at < current.source_updated_at


def redeploy(requests: Requests, env_key: str, *, actor: str) -> Environment:
    """Deploy an active environment again: at its MR's (or branch's) current head,
    with Helm run even when nothing changed (the namespace forgets the deployed
    values hash), and a failed deploy retried. Recorded like ``up``, but it does not
    change why the environment exists: one the trigger rules made stays theirs (it
    still ends when its label goes), one a person brought up stays manual."""
    env = requests.identities.record(env_key)  # Redis may have lost it: the namespace
    if env is None or not is_active(env):
        raise PermanentError(messages.unknown_env(env_key))
    desired = env.desired
    path = requests.project_of(desired).path  # its project's path now (a rename)
    if desired.mr_iid is not None:
        env = requests.request_up_mr(path, desired.mr_iid, actor=actor, manual=True,
                                     sticky=False)
    else:
        env = requests.request_up_branch(path, desired.branch, actor=actor, manual=True,
                                         sticky=False)
    namespace = requests.core.kube.get_namespace(namespace_for(env.desired))
    if (namespace is not None and namespace.phase == "Active"
            and records.is_ours(namespace.labels, env.desired)):
        requests.core.kube.annotate_namespace(namespace.name, {records.DEPLOYED_HASH: None})
    return env


# --- texts: why a request is refused, or waits --------------------------------


def _listing(items: Iterable[str]) -> str:
    return ", ".join(items)


def unknown_project(text: str, known: Iterable[str]) -> str:
    names = _listing(known) or "none configured"
    return f"unknown project {quoted(text)}; configured projects: {names}"


def mr_not_open(path: str, iid: int, state: str) -> str:
    return f"merge request {path}!{iid} is {state}; only open merge requests get an environment"


def default_branch_refused(path: str, branch: str) -> str:
    return (f"{quoted(branch)} is the default branch of {path}; it is deployed by GitOps "
            "(e.g. Argo CD), never by previewbot — pick a topic branch or an MR")


def unknown_branch(path: str, branch: str) -> str:
    return f"branch {quoted(branch)} does not exist in {path}; check the name (case matters)"


def capacity_reached(scope: str, limit: int, oldest: Iterable[Environment]) -> str:
    names = _listing(f"{e.key} ({e.desired.label}, since {e.desired.created_at:%Y-%m-%d})"
                     for e in oldest)
    return (f"capacity reached for {scope}: {limit} environment(s) max (max_envs); "
            f"tear one down first — oldest: {names}")


def waiting_for_pipeline(iid: int, sha: str, status: str) -> str:
    state = f"is {status}" if status else "has not run yet"
    return (f"MR !{iid}: the pipeline of {short_sha(sha)} {state}; with deploy_on: pipeline the "
            "environment is deployed when it succeeds (its image must exist first)")


def ended_on_purpose(label: str, sha: str) -> str:
    return (f"{label} was torn down on purpose at commit {short_sha(sha)}; a new commit, or "
            f"`up {label}` by a person, brings it back")


def dry_run_refusal(what: str) -> str:
    return (f"`{what}` changes nothing while the config says `dry_run: true` (plan and report "
            "only); set it to false to act")


def being_torn_down(label: str, env_key: str, reason: str) -> str:
    return (f"{env_key} ({label}) is being torn down ({reason}); it can no longer be "
            f"extended or kept — once it is gone, `/preview up {label}` brings it back")


def past_max_ttl(label: str, env_key: str, cap: datetime) -> str:
    return (f"{env_key} ({label}) reached its max_ttl at {records.rfc3339(cap)} (its longest "
            "life, counted from its creation) and ends at the next pass; it can no longer be "
            f"extended or kept — a new commit, or `/preview up {label}` once it is gone, "
            "starts a new life")


def key_taken(label: str, env_key: str, holder: str) -> str:
    return (f"{env_key} was taken by {holder} while {label} was being recorded there; "
            "asked again, it picks its own key")


def ended_before() -> str:
    return "ended on purpose at this commit (from the MR note, after Redis lost the record)"


def ending(label: str, env_key: str, why: str) -> str:
    return (f"{env_key} ({label}) is ending ({why}); a new one starts once it is gone — "
            "for an open MR the next pass after that brings it up by itself; otherwise "
            "ask again then")
