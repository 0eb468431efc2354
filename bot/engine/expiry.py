"""Expiry warnings: EXPIRING once per expiry time, ``warn_before`` ahead (README "Slack app").

The periodic scheduler calls :func:`warn_expiring` after each full pass. An
environment is warned when ``now >= expires_at - warn_before`` and before it
expires; Redis remembers the expiry it was warned for (``Store.mark_expiry_warned``),
so each expiry time is warned once across passes and replicas, and an extension
(a new expiry) is warned again when it comes near.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.domain import records
from bot.domain.durations import format_duration
from bot.domain.errors import PreviewError
from bot.domain.model import HistoryEntry, is_active
from bot.engine.core import Core
from bot.engine.notify import NoticeKind

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
        try:
            if not core.store.mark_expiry_warned(env.key, expires_at):
                continue
            reason = expiring(expires_at, format_duration(expires_at - now))
            core.store.record(env.key, HistoryEntry(now, "warned", ACTOR,
                                                    f"expires {records.rfc3339(expires_at)}"))
        except PreviewError as error:
            log.warning("expiry warning for %s skipped: %s", env.key, error)
            continue
        core.emit(NoticeKind.EXPIRING, env, reason)
        warned.append(env.key)
    return warned


# --- texts: the expiry warning (shown in Slack) -------------------------------


def expiring(expires_at: datetime, remaining: str) -> str:
    """``remaining``: e.g. "1h59m" (``durations.format_duration``)."""
    return f"expires at {expires_at:%Y-%m-%d %H:%M} UTC (in {remaining}); extend it to keep it"
