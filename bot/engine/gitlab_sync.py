"""What GitLab shows of an environment: its GitLab Environment and one MR note.

GitLab being down never fails a deploy or a teardown: the step reports that it
could not finish, the record keeps the lag (``gitlab_synced_hash``), and a later
pass catches up.
"""

from __future__ import annotations

import logging
import re

from bot.domain import messages
from bot.domain.errors import PreviewError
from bot.domain.model import Environment
from bot.engine.core import Core

log = logging.getLogger("previewbot.gitlab_sync")


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


def gitlab_environment_name(env: Environment) -> str:
    """``review/<source branch>`` (SPEC §6) where GitLab accepts it (letters, digits,
    ``_/$ {}.-``, ≤ 255 characters, no leading/trailing ``/``); else
    ``review/<ENV>``, so any branch name still gets a GitLab environment."""
    name = f"review/{env.desired.branch}"
    if len(name) <= 255 and not name.endswith("/") and _GITLAB_ENV_NAME.fullmatch(name):
        return name
    return f"review/{env.key}"


_GITLAB_ENV_NAME = re.compile(r"[a-zA-Z0-9_/${}. -]+")
