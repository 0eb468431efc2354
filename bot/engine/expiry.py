"""Expiry warnings: EXPIRING once per expiry time, ``warn_before`` ahead (README "Slack app").

The periodic scheduler calls :func:`warn_expiring` after each full pass. An
environment is warned when ``now >= expires_at - warn_before`` and before it
expires; Redis remembers the expiry it was warned for (``Store.mark_expiry_warned``),
so each expiry time is warned once across passes and replicas, and an extension
(a new expiry) is warned again when it comes near. The warning is owed in the same
step as it is marked, so one the notifier could not take is delivered by the catch-up
(``Core.catch_up_notices``) while its expiry is still ahead.
"""

from __future__ import annotations

import logging

from bot.domain import records
from bot.domain.durations import format_duration
from bot.domain.errors import PreviewError
from bot.domain.model import HistoryEntry, is_active
from bot.engine.core import Core
from bot.engine.notify import NoticeKind, topic
from bot.engine.texts import expiring

log = logging.getLogger("previewbot.expiry")
ACTOR = "reaper"


def warn_expiring(core: Core) -> list[str]:
    """Emit EXPIRING for every environment that entered its warning window; their keys.

    Never raises: a failure is logged and the next pass tries again."""
    try:
        envs = core.store.all()
    except PreviewError as error:
        log.warning("expiry warnings skipped: %s", error)
        return []
    now = core.clock.now()
    warned: list[str] = []
    for env in envs:
        project = core.project(env)
        expires_at = env.desired.expires_at
        if (project is None or not is_active(env)
                or not expires_at - project.warn_before <= now < expires_at):
            continue
        reason = expiring(expires_at, format_duration(expires_at - now))
        # Owed in the same step as it is marked warned, then delivered and settled: a
        # failure or a crash in between leaves it owed, for the catch-up to deliver. Under
        # the lock, so the catch-up never delivers it at the same time.
        owed = core.owing(NoticeKind.EXPIRING, env, reason)
        try:
            with core.store.lock(env.key, wait=core.settings.notices.catch_up_lock_wait):
                if not core.store.mark_expiry_warned(env.key, expires_at, owing=owed,
                                                     topic=topic(NoticeKind.EXPIRING)):
                    continue
                warned.append(env.key)
                core.store.record(env.key, HistoryEntry(
                    now, "warned", ACTOR, f"expires {records.rfc3339(expires_at)}"))
                core.deliver_owed(NoticeKind.EXPIRING, env, reason, owed)
        except PreviewError as error:  # busy (a deploy holds it): the next pass warns
            log.warning("expiry warning for %s not sent now: %s", env.key, error)
    return warned
