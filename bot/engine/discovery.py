"""The forge's list of open change requests is the truth; webhooks are hints.

Every full reconcile pass lists each configured project's open merge requests —
one paginated call per project — and records the requests that list implies:

- an open MR the trigger rules want and no environment has → up (a lost open
  webhook costs latency, never correctness);
- an active MR environment whose MR no longer wants one (label removed, marked
  draft) → down, unless a person brought it up by hand (``Desired.manual``);
- a new head commit (push mode; pipeline mode once its pipeline passed) → up;
  in pipeline mode what passed is the MR's own answer (``bot.engine.pipelines``),
  asked only while the record does not already show it, and remembered per head
  (a "not yet" for ``pipeline_recheck``), so a settled pass asks nothing per MR;
- an active MR environment whose MR is not in the open list → its state is read
  once: closed or merged → down; merging (GitLab's ``locked``) or open → kept.

What was ended on purpose stays ended: an environment torn down by a person or
by its TTL is not brought back for the same commit; a new commit, a new passing
pipeline or an explicit ``up`` does. The record says how it ended
(``Desired.down_kind``); after a Redis loss the MR note's hidden marker does
(``bot.gitlab.review``), read once per such MR and remembered as a GONE
record.

When GitLab cannot list a project, that project gets no MR-state teardown in
this pass; TTLs still apply (they need no GitLab).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.config import ProjectConfig, TriggerInputs
from bot.domain.changes import ChangeRequest
from bot.domain.errors import CapacityError, PreviewError
from bot.domain.model import Desired, EndKind, Environment, is_active, short_sha
from bot.engine.passes import PassContext
from bot.engine.pipelines import passed_sha
from bot.engine.refusals import RefusalTeller
from bot.engine.requests import Requests, ended_before

log = logging.getLogger("previewbot.discovery")
ACTOR = "reconcile"


@dataclass(frozen=True, slots=True)
class Finding:
    """A request the open-MR list implies: ``up`` or ``down`` of one MR's environment."""

    kind: str  # "up" | "down"
    label: str  # group/app!7
    reason: str

    def describe(self) -> str:
        return f"request {self.kind:<4} {self.label}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Discovered:
    findings: tuple[Finding, ...]
    changed: tuple[str, ...]  # env keys whose desired state was recorded
    unreachable: tuple[str, ...]  # projects GitLab could not list in this pass


class Discovery:
    """One comparison of the records with GitLab's open MRs, per configured project."""

    def __init__(self, requests: Requests, ctx: PassContext) -> None:
        self.requests = requests
        self.ctx = ctx
        self.core = requests.core
        self._answer_ttl = self.core.settings.forge.answer_cache_ttl.total_seconds()
        self._recheck = self.core.settings.forge.pipeline_recheck.total_seconds()

    def run(self, records: Iterable[Environment]) -> Discovered:
        if self.core.forge is None:
            return Discovered((), (), ())
        envs = list(records)
        findings: list[Finding] = []
        changed: list[str] = []
        unreachable: list[str] = []
        for project in self.core.config.projects:
            mine = [e for e in envs if e.desired.project_path == project.path
                    and e.desired.mr_iid is not None]
            try:
                found = self._project(project, mine)
            except PreviewError as error:
                log.warning("cannot list the open merge requests of %s: %s; no MR-state "
                            "teardown for it in this pass", project.path, error)
                unreachable.append(project.path)
                continue
            for finding, key in found:
                findings.append(finding)
                if key:
                    changed.append(key)
        return Discovered(tuple(findings), tuple(changed), tuple(unreachable))

    def _project(self, project: ProjectConfig,
                 mine: list[Environment]) -> list[tuple[Finding, str]]:
        source = self.core.source(project.path)
        open_mrs = source.open_change_requests(project.id or project.path)
        project_ids = {mr.project_id for mr in open_mrs} or {e.desired.project_id for e in mine}
        by_iid = {e.desired.mr_iid: e for e in mine if e.desired.project_id in project_ids}
        results: list[tuple[Finding, str]] = []
        for mr in open_mrs:
            try:
                result = self._open_mr(project, mr, by_iid.get(mr.iid))
            except PreviewError as error:  # one MR (capacity, a stranger's namespace)
                log.warning("%s!%d: %s", project.path, mr.iid, error)
                continue
            if result is not None:
                results.append(result)
        listed = {mr.iid for mr in open_mrs}
        for env in mine:
            if is_active(env) and env.desired.mr_iid not in listed:
                try:
                    result = self._not_listed(env)
                except PreviewError as error:
                    log.warning("cannot confirm the state of %s: %s", env.desired.label, error)
                    continue
                if result is not None:
                    results.append(result)
        return results

    def _open_mr(self, project: ProjectConfig, mr: ChangeRequest,
                 env: Environment | None) -> tuple[Finding, str] | None:
        label = f"{project.path}!{mr.iid}"
        if env is not None and is_active(env):
            if not project.trigger.wants(mr) and not env.desired.manual:
                reason = drift_trigger_lost(mr.iid)
                return self._down(env, label, reason, EndKind.TRIGGER_LOST,
                                  unless=_changed_since(env.desired, mr))
            sha = self._deployable_sha(project, mr, env.desired.sha)
            if sha and sha != env.desired.sha:
                reason = discovery_new_head(short_sha(env.desired.sha), short_sha(sha))
                return self._up(project, mr, sha, label, reason)
            return None
        if not mr.sha or not project.trigger.wants(mr):
            return None
        if not self._paths_match(project, mr):
            return None
        # Only a creation needs the default branch (GitOps owns it): read it lazily, cached.
        if mr.source_branch == self.core.project_info(project).default_branch:
            return None
        # Last: in pipeline mode the answer may cost a call, and a "not yet" is short-lived.
        sha = self._deployable_sha(project, mr, "")
        if not sha:
            return None
        if env is not None:  # ended: on purpose (stays down for this commit) or not
            kind = env.desired.end_kind(self.core.clock.now())
            if kind is not None and kind.deliberate and env.desired.sha == sha:
                return None
            reason = discovery_back(kind.value if kind else "ended")
            return self._up(project, mr, sha, label, reason)
        ended_at = self.requests.ended_at(project, mr, remember=not self.ctx.dry_run)
        if ended_at == sha:
            if not self.ctx.dry_run:
                self.requests.record_ended(project, mr, sha, ended_before())
            return None
        return self._up(project, mr, sha, label, discovery_lost_open())

    def _not_listed(self, env: Environment) -> tuple[Finding, str] | None:
        """Not in the open list: closed, merged — or locked, or opened a moment ago."""
        assert env.desired.mr_iid is not None
        mr = self.core.source(env.desired.project_path).change_request(
            env.desired.project_id, env.desired.mr_iid)
        if not mr.state.has_ended:
            return None
        reason = drift_mr_closed(mr.iid, mr.state)
        return self._down(env, env.desired.label, reason, EndKind.MR_CLOSED)

    def _up(self, project: ProjectConfig, mr: ChangeRequest, sha: str, label: str,
            reason: str) -> tuple[Finding, str]:
        finding = Finding("up", label, reason)
        if self.ctx.dry_run:
            return finding, ""
        try:
            env = self.requests.request_up_mr(project.path, mr.iid, actor=ACTOR, sha=sha, mr=mr)
        except CapacityError as error:  # told once per MR, not every pass (refusals)
            RefusalTeller(self.requests).capacity(project, mr, sha, error)
            raise
        return finding, env.key

    def _down(self, env: Environment, label: str, reason: str, kind: EndKind, *,
              unless: Callable[[Desired], bool] = lambda _: False) -> tuple[Finding, str] | None:
        finding = Finding("down", label, reason)
        if self.ctx.dry_run:
            return finding, ""
        done = self.requests.request_down_unless(env.key, reason=reason, actor=ACTOR,
                                                 kind=kind, unless=unless)
        return (finding, env.key) if done is not None else None

    def _deployable_sha(self, project: ProjectConfig, mr: ChangeRequest, deployed: str) -> str:
        """The head in push mode; in pipeline mode what the MR's newest passed pipeline
        of its head built (``bot.engine.pipelines``), "" while none passed. ``deployed``:
        the active environment's sha ("" for none).

        The listing shows no pipeline, so the answer costs a read of the MR (and of its
        pipelines when its head pipeline has not passed). It is asked only when not
        already known: the environment is at the head (a branch or MR pipeline of it
        passed, or it was deployed by hand), or at what was last learnt for this head
        (a merged-results pipeline's merge commit). A "not yet" is believed for
        ``pipeline_recheck``: an active environment stays where it is meanwhile, a
        creation waits (the Pipeline Hook normally comes first)."""
        if not mr.sha:
            return ""
        if project.deploy_on != "pipeline" or deployed == mr.sha:
            return mr.sha
        cache_key = f"pipeline:{mr.project_id}:{mr.iid}:{mr.sha}"
        known = self.core.store.cached(cache_key)
        # Known unless the environment moved on since (a hook deployed a newer
        # merged-results pipeline of this head): then ask again.
        if known is not None and (not known or not deployed or known == deployed):
            return known
        source = self.core.source(project.path)
        current = source.change_request(mr.project_id, mr.iid)
        if current.sha != mr.sha:  # pushed since the listing: the next pass sees it
            return ""
        sha = passed_sha(source, current)
        if not self.ctx.dry_run:  # a dry run writes nothing, not even a cache
            self.core.store.cache(cache_key, sha, self._answer_ttl if sha else self._recheck)
        return sha

    def _paths_match(self, project: ProjectConfig, mr: ChangeRequest) -> bool:
        """``trigger.paths`` needs the MR's diff: asked once per commit, then remembered."""
        if not project.trigger.paths:
            return True
        cache_key = f"paths:{mr.project_id}:{mr.iid}:{mr.sha}"
        cached = self.core.store.cached(cache_key)
        if cached is not None:
            return cached == "1"
        paths = self.core.source(project.path).changed_paths(mr.project_id, mr.iid)
        matched = not project.trigger.failing(TriggerInputs(iid=mr.iid, changed_paths=paths))
        if not self.ctx.dry_run:  # a dry run writes nothing, not even a cache
            self.core.store.cache(cache_key, "1" if matched else "0", self._answer_ttl)
        return matched


def _changed_since(planned: Desired, mr: ChangeRequest) -> Callable[[Desired], bool]:
    """Whether the record moved on since the listing this teardown was planned from: a
    person took it over (manual), or an event newer than the listing recorded it."""
    def moved(current: Desired) -> bool:
        newer = (current.source_updated_at is not None and mr.updated_at is not None
                 and current.source_updated_at > mr.updated_at)
        return current.manual or newer or current.sha != planned.sha
    return moved


# --- texts: why reconcile acts on what it found (the reasons it gives) --------


def drift_mr_closed(iid: int, state: str) -> str:
    return f"MR !{iid} {state} (found by reconcile)"


def drift_trigger_lost(iid: int) -> str:
    return f"MR !{iid} no longer matches the trigger rules (found by reconcile)"


def discovery_lost_open() -> str:
    return "open MR without an environment (its open webhook was lost; found by reconcile)"


def discovery_new_head(old: str, new: str) -> str:
    return f"new head commit {old} → {new} (found by reconcile)"


def discovery_back(how_it_ended: str) -> str:
    return (f"open MR wants an environment again (it ended: {how_it_ended}; "
            "found by reconcile)")
