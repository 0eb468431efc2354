"""What one reconcile pass is: a rehearsal or for real, and who hears of its progress.

Built once per pass (``Reconciler.run_pass``) and handed down whole, instead of a
``dry_run`` and a ``progress`` parameter on every step. The destructive calls at
the bottom still take their own keyword-only ``dry_run`` (they are the ones that
must never guess it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("previewbot.reconcile")

Progress = Callable[[str, str], None]  # (env_key, text)


def log_progress(env_key: str, text: str) -> None:
    log.info("%s: %s", env_key, text)


@dataclass(frozen=True, slots=True)
class PassContext:
    dry_run: bool
    """Rehearse: every step checks for real and says ``DRY-RUN: would …``; nothing
    is changed or recorded, not even a cache."""

    progress: Progress = log_progress
    """Told each step of each environment as it happens (the CLI prints them)."""

    def say(self, env_key: str) -> Callable[[str], None]:
        """The progress of one environment."""
        return lambda text: self.progress(env_key, text)
