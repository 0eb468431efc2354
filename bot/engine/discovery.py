"""Catch what a lost webhook would have said: compare active MR environments
with GitLab's current view during full reconcile passes.

An MR that was merged or closed (or no longer matches the trigger rules) is
torn down; in push mode a new head commit is deployed. GitLab being down only
postpones this to the next pass. This is what makes a missed webhook cost
latency, never correctness (SPEC §8).
"""

from __future__ import annotations

import logging

from bot.domain import messages
from bot.domain.errors import PreviewError
from bot.domain.model import Environment
from bot.engine.requests import Requests, is_active, wants_environment

log = logging.getLogger("previewbot.drift")
ACTOR = "reconcile"


def refresh_from_gitlab(requests: Requests, envs: list[Environment]) -> list[str]:
    """Record the requests GitLab's state implies; returns the keys that changed."""
    if requests.core.gitlab is None:
        return []
    changed: list[str] = []
    for env in envs:
        if not is_active(env) or env.desired.mr_iid is None:
            continue
        try:
            if _refresh_one(requests, env):
                changed.append(env.key)
        except PreviewError as error:
            log.warning("cannot compare %s with GitLab: %s", env.key, error)
    return changed


def _refresh_one(requests: Requests, env: Environment) -> bool:
    desired = env.desired
    assert desired.mr_iid is not None
    project = requests.core.config.project_by_path(desired.project_path)
    if project is None:
        return False
    mr = requests.gitlab().merge_request(desired.project_id, desired.mr_iid)
    if mr.state != "opened":
        requests.request_down(env.key, reason=messages.drift_mr_closed(mr.iid, mr.state),
                            actor=ACTOR)
        return True
    if not wants_environment(project, mr):
        requests.request_down(env.key, reason=messages.drift_trigger_lost(mr.iid), actor=ACTOR)
        return True
    if project.deploy_on == "push" and mr.sha and mr.sha != desired.sha:
        requests.request_up_mr(project.path, mr.iid, actor=ACTOR, mr=mr)
        return True
    return False
