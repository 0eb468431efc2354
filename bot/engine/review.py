"""Keeping the review surface (the forge's page of the change request) in step.

The forge being down never fails a deploy or a teardown: the step reports that it
could not finish, the record keeps the lag (``review_synced_hash``), and a later
pass catches up — but not forever (``ForgeSettings.max_review_attempts``).

What the surface shows is the adapter's (GitLab's: ``bot.gitlab.review``); the
engine keeps the bookkeeping: the id of the forge environment the bot made (on the
record and on the namespace, which survives a Redis loss), and when it began making
one, kept before asking so a create whose answer is lost still counts as ours.
"""

from __future__ import annotations

import logging

from bot.cluster.values import namespace_for
from bot.domain import records
from bot.domain.errors import PreviewError
from bot.domain.model import Environment
from bot.engine.core import Core

log = logging.getLogger("previewbot.review")


def show_ready(core: Core, env: Environment, wanted_hash: str) -> Environment:
    """The forge environment with the URL, and the note, for a ready environment."""
    if core.forge is None:
        return env
    # The bookkeeping around the surface (the namespace, the record) failing is the
    # surface lagging too: retried by a later pass, never a failed environment.
    try:
        namespace = core.kube.get_namespace(namespace_for(env.desired))
        ours = namespace is not None and records.is_ours(namespace.labels, env.desired)
        known = env.observed.review_environment_id
        if known is None and namespace is not None and ours:  # Redis lost it, not the cluster
            known = records.review_environment_id(namespace.annotations)
        if known is None and env.observed.review_create_started_at is None:
            env = core.save(env, env.observed.status, env.observed.reason,
                            review_create_started_at=core.clock.now())
    except PreviewError as error:
        log.warning("review surface of %s postponed: %s", env.key, error)
        return _lagging(core, env, done=wanted_hash)
    shown = core.forge.review(env.desired.project_path).show(
        env, known_id=known, create_started_at=env.observed.review_create_started_at)
    complete = shown.complete
    made = shown.environment_id
    try:
        if made is not None and made != env.observed.review_environment_id:
            env = core.save(env, env.observed.status, env.observed.reason,
                            review_environment_id=made)
        # Compared with the namespace itself, not the record: a new life keeps the id of
        # the forge environment the last one made, in a namespace that never had it.
        if (made is not None and namespace is not None and ours
                and records.review_environment_id(namespace.annotations) != made):
            core.kube.annotate_namespace(namespace.name, records.review_environment(made))
    except PreviewError as error:
        log.warning("forge environment %s of %s not recorded: %s", made, env.key, error)
        complete = False
    if not complete:
        return _lagging(core, env, done=wanted_hash)
    return core.save(env, env.observed.status, env.observed.reason,
                     review_synced_hash=wanted_hash, review_attempts=0)


def tell_failed(core: Core, env: Environment) -> None:
    """Tell the change request why its environment failed (best effort: the record has
    the reason)."""
    if core.forge is not None:
        core.forge.review(env.desired.project_path).tell_failed(env)


def tell_held(core: Core, env: Environment, text: str) -> None:
    """Tell the change request what holds its environment's namespace (best effort: the
    chat notice says it too)."""
    if core.forge is not None:
        core.forge.review(env.desired.project_path).tell_held(env, text)


def stop(core: Core, env: Environment, reason: str) -> bool:
    """Stop the bot's forge environment and say why it went; False (a later pass
    retries) when the forge refused or was down — a teardown is not held up by it."""
    if core.forge is None:
        return True
    kind = env.desired.end_kind(core.clock.now())
    deliberate = kind is not None and kind.deliberate
    stopped = core.forge.review(env.desired.project_path).stop(env, reason,
                                                                deliberate=deliberate)
    if stopped and deliberate and env.desired.mr_iid is not None:
        # The note says it now: so does the answer remembered for this commit (one
        # remembered before the end — "not ended" — must not bring it back).
        core.store.cache(ended_cache_key(env.desired.project_id, env.desired.mr_iid,
                                         env.desired.sha), env.desired.sha,
                         core.settings.forge.answer_cache_ttl.total_seconds())
    return stopped


def ended_cache_key(project_id: int, iid: int, sha: str) -> str:
    """Where the MR note's "ended on purpose at ``sha``" answer is remembered."""
    return f"ended:{project_id}:{iid}:{sha}"


def finish_stop(core: Core, env: Environment) -> Environment:
    if not stop(core, env, env.observed.reason):
        return _lagging(core, env, done="")
    return core.save(env, env.observed.status, env.observed.reason, review_synced_hash="",
                     review_attempts=0)


def _lagging(core: Core, env: Environment, *, done: str) -> Environment:
    """The forge did not take it (again). Retried by later passes, but not forever: after
    ``ForgeSettings.max_review_attempts`` it is given up on (logged), so a project the forge refuses
    for good (archived, deleted) costs no calls every pass."""
    attempts = env.observed.review_attempts + 1
    if attempts < core.settings.forge.max_review_attempts:
        return core.save(env, env.observed.status, env.observed.reason,
                         review_attempts=attempts)
    log.warning("gave up bringing the forge up to date for %s after %d attempts", env.key,
                attempts)
    return core.save(env, env.observed.status, env.observed.reason, review_synced_hash=done,
                     review_attempts=0)
