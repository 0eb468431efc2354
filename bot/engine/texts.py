"""The texts several engine modules say.

A text only one engine module says is in the ``# --- texts`` section at the end of
that module; a text other layers say too stays in :mod:`bot.domain.messages`.
"""

from __future__ import annotations

from datetime import datetime

# --- texts: GitLab not configured (core, intake) ------------------------------


def gitlab_not_configured() -> str:
    return "GitLab is not configured: set GITLAB_URL and GITLAB_TOKEN"


# --- texts: stopped waiting at shutdown (converge, reconcile) -----------------


def shutting_down(env_key: str) -> str:
    return f"stopped waiting for {env_key}: previewbot is shutting down; another replica goes on"


# --- texts: the expiry warning, shown in Slack (expiry, and core's late delivery) ------


def expiring(expires_at: datetime, remaining: str) -> str:
    """``remaining``: e.g. "1h59m" (``durations.format_duration``)."""
    return f"expires at {expires_at:%Y-%m-%d %H:%M} UTC (in {remaining}); extend it to keep it"
