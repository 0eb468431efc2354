"""Catch what a lost webhook would have said: compare active MR environments
with GitLab's current view during full reconcile passes.

An MR that was merged or closed (or no longer matches the trigger rules) is
torn down; in push mode a new head commit is deployed. GitLab being down only
postpones this to the next pass. This is what makes a missed webhook cost
latency, never correctness (SPEC §8).
"""

from __future__ import annotations

import logging

from bot import messages
from bot.engine import Engine, is_active, wants_environment
from bot.errors import PreviewError
from bot.model import Environment

log = logging.getLogger("previewbot.drift")
ACTOR = "reconcile"


def refresh_from_gitlab(engine: Engine, envs: list[Environment]) -> list[str]:
    """Record the requests GitLab's state implies; returns the keys that changed."""
    if engine.core.gitlab is None:
        return []
    changed: list[str] = []
    for env in envs:
        if not is_active(env) or env.desired.mr_iid is None:
            continue
        try:
            if _refresh_one(engine, env):
                changed.append(env.key)
        except PreviewError as error:
            log.warning("cannot compare %s with GitLab: %s", env.key, error)
    return changed


def _refresh_one(engine: Engine, env: Environment) -> bool:
    desired = env.desired
    assert desired.mr_iid is not None
    project = engine.core.config.project_by_path(desired.project_path)
    if project is None:
        return False
    mr = engine.gitlab().merge_request(desired.project_id, desired.mr_iid)
    if mr.state != "opened":
        engine.request_down(env.key, reason=messages.drift_mr_closed(mr.iid, mr.state),
                            actor=ACTOR)
        return True
    if not wants_environment(project, mr):
        engine.request_down(env.key, reason=messages.drift_trigger_lost(mr.iid), actor=ACTOR)
        return True
    if project.deploy_on == "push" and mr.sha and mr.sha != desired.sha:
        engine.request_up_mr(project.path, mr.iid, actor=ACTOR, mr=mr)
        return True
    return False
