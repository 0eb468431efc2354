"""Queued GitLab events → desired state (then a poke for the reconciler).

Level-triggered: an event only says *something changed*; what to do is read
from GitLab's current state where ordering matters. A stale `close` that
arrives after a `reopen` finds the MR open and changes nothing; two `update`
events arriving out of order both read the MR's head, so the newest sha wins.
Pipeline events carry the sha to deploy (its image exists), guarded by the
pipeline's `updated_at` so an older pipeline never rolls an environment back.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from bot.config import ProjectConfig, TriggerInputs
from bot.domain import messages
from bot.domain.changes import ChangeRequest, ChangeState
from bot.domain.errors import BadDeliveryError, CapacityError, PermanentError, TemporaryError
from bot.domain.events import Ignored, Intent, IntentKind
from bot.domain.messages import quoted
from bot.domain.model import EndKind, Environment, is_active, short_sha
from bot.engine.core import Core
from bot.engine.refusals import RefusalTeller
from bot.engine.requests import Requests
from bot.engine.texts import gitlab_not_configured

log = logging.getLogger("previewbot.intake")


@dataclass(frozen=True, slots=True)
class Handled:
    """What one event did: the environment it touched (if any) and a summary."""

    env_keys: tuple[str, ...]
    summary: str


def parse_body(body: bytes) -> dict[str, object]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PermanentError(webhook_not_json(str(error))) from error
    except RecursionError as error:
        raise PermanentError(messages.WEBHOOK_TOO_DEEP) from error
    if not isinstance(payload, dict):
        raise PermanentError(messages.webhook_not_object())
    return payload


class Intake:
    def __init__(self, core: Core, requests: Requests) -> None:
        self.core = core
        self.requests = requests

    def handle(self, event_type: str, body: bytes) -> Handled:
        if self.core.forge is None:
            raise PermanentError(gitlab_not_configured())
        try:
            decision = self.core.forge.decode(event_type, parse_body(body), self.core.config)
        except PermanentError as error:
            raise BadDeliveryError(str(error)) from error
        if isinstance(decision, Ignored):
            return Handled((), f"ignored: {decision.reason}")
        if decision.kind is IntentKind.DOWN:
            return self._down(decision)
        return self._up(decision)

    def _actor(self, intent: Intent) -> str:
        return f"gitlab:{intent.author_username or 'webhook'}"

    def _up(self, intent: Intent) -> Handled:
        if intent.mr_iid is None:
            return self._branch_pipeline(intent)
        project = self.requests.project(intent.project_path)
        source = self.core.source(intent.project_path)
        mr = source.change_request(intent.project_id, intent.mr_iid)
        existing = self.requests.identities.find(project, mr_iid=mr.iid, branch=mr.source_branch,
                                      project_id=intent.project_id)
        active = existing is not None and is_active(existing)
        by_hand = active and existing is not None and existing.desired.manual
        if not project.trigger.wants(mr) and not (by_hand and mr.state.is_open):
            return Handled((), f"ignored: {trigger_not_matched(mr.iid)}")
        if intent.from_pipeline and project.deploy_on == "push" and not active:
            # In push mode the MR's own hooks (and discovery) create environments; a
            # pipeline (a retry, a late success) only refreshes one that is up.
            return Handled((), f"ignored: {pipeline_creates_nothing(mr.iid)}")
        if intent.check_paths and project.trigger.paths:
            paths = source.changed_paths(intent.project_id, intent.mr_iid)
            failing = project.trigger.failing(TriggerInputs(iid=mr.iid, changed_paths=paths))
            if failing:
                return Handled((), f"ignored: {failing[0].reason}")
        try:
            env = self.requests.request_up_mr(intent.project_path, intent.mr_iid,
                                            actor=self._actor(intent),
                                            sha=self._pinned_sha(intent),
                                            source_updated_at=intent.updated_at, mr=mr)
        except CapacityError as error:
            self._tell(project, mr, self._pinned_sha(intent) or mr.sha, error)
            raise  # still a refusal for the workers: acked, logged, counted
        return Handled((env.key,), f"up {env.desired.label} at {short_sha(env.desired.sha)}")

    def _tell(self, project: ProjectConfig, mr: ChangeRequest, sha: str,
              error: CapacityError) -> None:
        """No person waits for a webhook's answer: the MR and the channel are told
        (once per waiting period); the passes create the environment once a slot is free."""
        RefusalTeller(self.requests).capacity(project, mr, sha, error)

    def _pinned_sha(self, intent: Intent) -> str | None:
        """A passed pipeline's sha in pipeline mode; otherwise None: the requests reads
        the MR head (in pipeline mode: the head whose pipeline passed)."""
        project = self.requests.project(intent.project_path)
        return intent.sha if project.deploy_on == "pipeline" and intent.from_pipeline else None

    def _branch_pipeline(self, intent: Intent) -> Handled:
        """A passed branch pipeline deploys its sha to what is built from that
        branch: its branch environment and, in pipeline mode, the open MRs from
        it (projects whose CI runs branch pipelines rather than MR pipelines)."""
        project = self.requests.project(intent.project_path)
        touched: list[str] = []
        refused: list[CapacityError] = []
        branch_env = self.requests.identities.find(project, mr_iid=None, branch=intent.branch,
                                        project_id=intent.project_id)
        if branch_env is not None and is_active(branch_env):
            touched.append(self.requests.request_up_branch(
                project.path, intent.branch, actor=self._actor(intent), sha=intent.sha,
                source_updated_at=intent.updated_at).key)
        if project.deploy_on == "pipeline":
            source = self.core.source(project.path)
            for mr in source.open_change_requests_from(intent.project_id, intent.branch):
                if project.trigger.wants(mr):
                    try:
                        touched.append(self.requests.request_up_mr(
                            project.path, mr.iid, actor=self._actor(intent), sha=intent.sha,
                            source_updated_at=intent.updated_at, mr=mr).key)
                    except CapacityError as error:  # the other MRs still get theirs
                        self._tell(project, mr, intent.sha or mr.sha, error)
                        refused.append(error)
        if not touched and refused:
            raise refused[0]
        if not touched:
            return Handled((), f"ignored: no environment for branch {intent.branch}")
        return Handled(tuple(touched), f"up {', '.join(touched)} at {short_sha(intent.sha or '')}")

    def _down(self, intent: Intent) -> Handled:
        """Tear down only the environment of this identity, and only after GitLab
        confirms it (the MR is closed, or no longer wanted; the branch is really gone).
        When GitLab cannot answer, the delivery is retried, not acted on blindly."""
        project = self.requests.project(intent.project_path)
        env = self.requests.identities.find(project, mr_iid=intent.mr_iid, branch=intent.branch,
                                 project_id=intent.project_id)
        what = (f"{project.path}!{intent.mr_iid}" if intent.mr_iid is not None
                else f"{project.path}@{intent.branch}")
        if env is None or not is_active(env):
            return Handled((), f"ignored: no environment for {what}")
        kind = intent.end_kind or EndKind.REQUESTED
        stale = self._why_not(project, intent, env, kind)
        if stale:
            return Handled((), f"ignored: {stale}")
        # Decided on the record as read before asking GitLab; a request that landed
        # meanwhile (a person's up, a new commit) must not be undone by this decision:
        # the check is in the write's transaction, and a moved record is decided again.
        seen = env.desired
        done = self.requests.request_down_unless(env.key, reason=intent.reason,
                                                 actor=self._actor(intent), kind=kind,
                                                 unless=lambda current: current != seen)
        if done is None:
            raise TemporaryError(record_moved(env.key), delay=1.0)
        return Handled((env.key,), f"down {env.key}: {intent.reason}")

    def _why_not(self, project: ProjectConfig, intent: Intent, env: Environment,
                 kind: EndKind) -> str:
        """Why this teardown event must not act ("" when it must)."""
        source = self.core.source(project.path)
        if intent.mr_iid is None:
            if source.branch_head(intent.project_id, intent.branch) is not None:
                return branch_still_exists(intent.branch)
            return ""
        last = env.desired.source_updated_at
        if intent.updated_at is not None and last is not None and intent.updated_at < last:
            return older_than_environment(intent.mr_iid)
        if kind is EndKind.TRIGGER_LOST and env.desired.manual:
            return manual_kept(env.key)
        mr = source.change_request(intent.project_id, intent.mr_iid)
        if kind is EndKind.MR_CLOSED:
            if mr.state is ChangeState.MERGING:  # being merged right now: ask again shortly
                raise TemporaryError(mr_locked(intent.mr_iid), delay=10.0)
            return "" if mr.state.has_ended else stale_down(intent.mr_iid)
        return stale_down(intent.mr_iid) if project.trigger.wants(mr) else ""


# --- texts: why an event is dropped, refused or asked again -------------------


def webhook_not_json(detail: str) -> str:
    return f"webhook body is not valid JSON ({detail}); GitLab sends application/json"


def trigger_not_matched(iid: int) -> str:
    return (f"MR !{iid} does not match the project's trigger rules now "
            "(labels, draft, target branch); no environment")


def older_than_environment(iid: int) -> str:
    return (f"the teardown event of MR !{iid} is older than what the environment was last "
            "made from (delivered late); dropped")


def stale_down(iid: int) -> str:
    return f"MR !{iid} is open and matches the trigger rules now; the teardown event is stale"


def branch_still_exists(branch: str) -> str:
    return f"branch {quoted(branch)} still exists in GitLab (a stale delete event)"


def manual_kept(env_key: str) -> str:
    return (f"{env_key} was brought up by hand: failing the trigger rules does not end it "
            "(merge, close, its TTL or an explicit down do)")


def record_moved(env_key: str) -> str:
    return (f"{env_key} changed while GitLab was asked whether to end it (a request landed "
            "meanwhile); deciding again")


def mr_locked(iid: int) -> str:
    return f"MR !{iid} is being merged (GitLab shows it locked); asking again shortly"


def pipeline_creates_nothing(iid: int) -> str:
    return (f"MR !{iid} has no environment up; in push mode a pipeline refreshes one that is "
            "up but creates none (an open, a new commit or `up` does)")
