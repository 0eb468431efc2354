"""What GitLab shows of an environment: its GitLab Environment and one MR note.

GitLab being down never fails a deploy or a teardown: the step reports that it
could not finish, the record keeps the lag (``gitlab_synced_hash``), and a later
pass catches up.

The bot only ever changes the GitLab environment it made itself, known by the id
it keeps (``Observed.gitlab_environment_id``, also on the namespace). A CI review
app of the same name is never updated, stopped or deleted: the bot then uses
``review/<ENV>`` for its own.

The MR note follows the environment: ready with the URL, failed with the reason,
torn down with the reason. A note of an environment ended on purpose (a person,
its TTL) carries a hidden marker with the commit, the durable record that
discovery must not bring it back for that commit (see ``bot.engine.discovery``).
"""

from __future__ import annotations

import logging
import re

from bot.cluster.values import namespace_for
from bot.domain import messages, records
from bot.domain.errors import PreviewError, TemporaryError
from bot.domain.model import Environment
from bot.engine.core import Core

log = logging.getLogger("previewbot.gitlab_sync")
MAX_GITLAB_ATTEMPTS = 5  # passes that try to bring GitLab up to date before giving up


def sync_gitlab(core: Core, env: Environment, wanted_hash: str) -> Environment:
    """GitLab environment + one MR note for a ready environment."""
    if core.gitlab is None:
        return env
    synced = True
    try:
        env = _ensure_environment(core, env)
    except PreviewError as error:
        log.warning("GitLab environment of %s postponed: %s", env.key, error)
        synced = False
    synced = _note(core, env, messages.mr_note(messages.note_marker(env.key), env)) and synced
    if not synced:
        return _lagging(core, env, done=wanted_hash)
    return core.save(env, env.observed.status, env.observed.reason,
                     gitlab_synced_hash=wanted_hash, gitlab_attempts=0)


def note_failure(core: Core, env: Environment) -> None:
    """Tell the MR why its environment failed (best effort: the record has the reason)."""
    if core.gitlab is not None:
        _note(core, env, messages.mr_note_failed(messages.note_marker(env.key), env))


def stop_gitlab(core: Core, env: Environment, reason: str) -> bool:
    """Stop the bot's GitLab environment and say on the MR why it went; False (a later
    pass retries) when GitLab refused or was down — a teardown is not held up by GitLab."""
    if core.gitlab is None:
        return True
    environment_id = env.observed.gitlab_environment_id
    try:
        if environment_id is not None:
            core.gitlab.stop_environment(env.desired.project_id, environment_id)
    except TemporaryError as error:
        log.warning("could not stop GitLab environment of %s: %s", env.key, error)
        return False
    except PreviewError as error:  # gone (404) or refused for good: nothing left to stop
        log.warning("GitLab environment of %s not stopped, and never will be: %s", env.key,
                    error)
    kind = env.desired.end_kind(core.clock.now())
    body = messages.mr_note_torn_down(messages.note_marker(env.key), env, reason,
                                      deliberate=kind is not None and kind.deliberate)
    return _note(core, env, body)


def finish_gitlab_stop(core: Core, env: Environment) -> Environment:
    if not stop_gitlab(core, env, env.observed.reason):
        return _lagging(core, env, done="")
    return core.save(env, env.observed.status, env.observed.reason, gitlab_synced_hash="",
                     gitlab_attempts=0)


def _lagging(core: Core, env: Environment, *, done: str) -> Environment:
    """GitLab did not take it (again). Retried by later passes, but not forever: after
    ``MAX_GITLAB_ATTEMPTS`` the GitLab side is given up on (logged), so a project GitLab
    refuses for good (archived, deleted) costs no calls every pass."""
    attempts = env.observed.gitlab_attempts + 1
    if attempts < MAX_GITLAB_ATTEMPTS:
        return core.save(env, env.observed.status, env.observed.reason,
                         gitlab_attempts=attempts)
    log.warning("gave up bringing GitLab up to date for %s after %d attempts", env.key,
                attempts)
    return core.save(env, env.observed.status, env.observed.reason, gitlab_synced_hash=done,
                     gitlab_attempts=0)


def gitlab_environment_name(env: Environment) -> str:
    """``review/<source branch>`` (README "GitLab webhooks") where GitLab accepts it
    (letters, digits, ``_/$ {}.-``, ≤ 255 characters, no leading/trailing ``/``); else
    ``review/<ENV>``, so any branch name still gets a GitLab environment."""
    name = f"review/{env.desired.branch}"
    if len(name) <= 255 and not name.endswith("/") and _GITLAB_ENV_NAME.fullmatch(name):
        return name
    return fallback_environment_name(env)


def fallback_environment_name(env: Environment) -> str:
    return f"review/{env.key}"


def _ensure_environment(core: Core, env: Environment) -> Environment:
    assert core.gitlab is not None
    namespace = core.kube.get_namespace(namespace_for(env.desired))
    ours = namespace is not None and records.is_ours(namespace.labels, env.desired)
    known = env.observed.gitlab_environment_id
    if known is None and namespace is not None and ours:  # Redis lost it; the cluster did not
        known = records.gitlab_environment_id(namespace.annotations)
    if known is None and env.observed.gitlab_create_started_at is None:
        # Kept before asking: if the create's answer is lost, the environment it made
        # is still recognised as ours (and no second one is made).
        env = core.save(env, env.observed.status, env.observed.reason,
                        gitlab_create_started_at=core.clock.now())
    made = None
    for name in dict.fromkeys((gitlab_environment_name(env), fallback_environment_name(env))):
        made = core.gitlab.ensure_environment(
            env.desired.project_id, name, env.observed.url, known_id=known,
            create_started_at=env.observed.gitlab_create_started_at)
        if made is not None:
            break
        log.warning("GitLab environment %s of project %d was not made by previewbot; "
                    "left alone", name, env.desired.project_id)
    if made is None or made == env.observed.gitlab_environment_id:
        return env
    env = core.save(env, env.observed.status, env.observed.reason,
                    gitlab_environment_id=made)
    if namespace is not None and ours:
        core.kube.annotate_namespace(namespace.name, {records.GITLAB_ENVIRONMENT_ID: str(made)})
    return env


def _note(core: Core, env: Environment, body: str) -> bool:
    assert core.gitlab is not None
    if env.desired.mr_iid is None:
        return True
    try:
        core.gitlab.upsert_mr_note(env.desired.project_id, env.desired.mr_iid,
                                   messages.note_marker(env.key), body)
    except TemporaryError as error:
        log.warning("MR note of %s postponed: %s", env.key, error)
        return False
    except PreviewError as error:  # the MR is gone (404): there is nothing to tell
        log.warning("MR note of %s not written, and never will be: %s", env.key, error)
    return True


_GITLAB_ENV_NAME = re.compile(r"[a-zA-Z0-9_/${}. -]+")
