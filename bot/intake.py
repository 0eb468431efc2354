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
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from bot import messages
from bot.config import ProjectConfig
from bot.converge import Core
from bot.engine import Engine, is_active
from bot.errors import BadEventError, PermanentError
from bot.events import Ignored, Intent, IntentKind, decide
from bot.gitlab import MergeRequestInfo
from bot.model import Environment

log = logging.getLogger("previewbot.intake")


@dataclass(frozen=True, slots=True)
class Handled:
    """What one event did: the environment it touched (if any) and a summary."""

    env_key: str | None
    summary: str


def parse_body(body: bytes) -> dict[str, object]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PermanentError(messages.webhook_not_json(str(error))) from error
    if not isinstance(payload, dict):
        raise PermanentError(messages.webhook_not_object())
    return payload


class Intake:
    def __init__(self, core: Core, engine: Engine) -> None:
        self.core = core
        self.engine = engine

    def handle(self, event_type: str, body: bytes) -> Handled:
        try:
            decision = decide(event_type, parse_body(body), self.core.config)
        except PermanentError as error:
            raise BadEventError(str(error)) from error
        if isinstance(decision, Ignored):
            return Handled(None, f"ignored: {decision.reason}")
        if decision.kind is IntentKind.DOWN:
            return self._down(decision)
        return self._up(decision)

    def _actor(self, intent: Intent) -> str:
        return f"gitlab:{intent.author_username or 'webhook'}"

    def _up(self, intent: Intent) -> Handled:
        if intent.mr_iid is None:
            return self._branch_pipeline(intent)
        project = self.engine.project(intent.project_path)
        mr = self.engine.gitlab().merge_request(intent.project_id, intent.mr_iid)
        if not _wanted(project, mr):
            return Handled(None, f"ignored: {messages.trigger_not_matched(mr.iid)}")
        if intent.check_paths and project.trigger.paths:
            paths = self.engine.gitlab().changed_paths(intent.project_id, intent.mr_iid)
            if not any(fnmatchcase(path, pattern) for path in paths
                       for pattern in project.trigger.paths):
                return Handled(None, f"ignored: {messages.paths_not_matched(mr.iid)}")
        env = self.engine.request_up_mr(intent.project_path, intent.mr_iid,
                                        actor=self._actor(intent),
                                        sha=self._pinned_sha(intent),
                                        source_updated_at=intent.updated_at)
        return Handled(env.key, f"up {env.desired.label} at {env.desired.sha[:8]}")

    def _pinned_sha(self, intent: Intent) -> str | None:
        """Pipeline mode deploys the sha whose pipeline passed; push mode reads the MR head."""
        project = self.engine.project(intent.project_path)
        return intent.sha if project.deploy_on == "pipeline" else None

    def _branch_pipeline(self, intent: Intent) -> Handled:
        existing = self._existing_branch_env(intent)
        if existing is None:
            return Handled(None, f"ignored: no environment for branch {intent.branch}")
        env = self.engine.request_up_branch(intent.project_path, intent.branch,
                                            actor=self._actor(intent), sha=intent.sha)
        return Handled(env.key, f"up {env.desired.label} at {env.desired.sha[:8]}")

    def _existing_branch_env(self, intent: Intent) -> Environment | None:
        project = self.engine.project(intent.project_path)
        env = self.core.store.get(project.branch_env_key(intent.branch))
        return env if env is not None and is_active(env) else None

    def _down(self, intent: Intent) -> Handled:
        project = self.engine.project(intent.project_path)
        if intent.mr_iid is not None:
            mr = self.engine.gitlab().merge_request(intent.project_id, intent.mr_iid)
            if _wanted(project, mr):  # reopened / relabelled since: this event is stale
                return Handled(None, f"ignored: {messages.stale_down(mr.iid)}")
            key = project.mr_env_key(intent.mr_iid)
        else:
            key = project.branch_env_key(intent.branch)
        env = self.core.store.get(key)
        if env is None or not is_active(env):
            return Handled(None, f"ignored: no environment {key}")
        self.engine.request_down(key, reason=intent.reason, actor=self._actor(intent))
        return Handled(key, f"down {key}: {intent.reason}")


def _wanted(project: ProjectConfig, mr: MergeRequestInfo) -> bool:
    """Does the MR, as GitLab shows it now, want an environment? (Paths are
    checked separately: they cost an API call and do not change on relabels.)"""
    without_paths = replace(project.trigger, paths=())
    return mr.state == "opened" and without_paths.matches(mr.labels, mr.draft, (),
                                                          mr.target_branch)
