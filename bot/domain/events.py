"""What a forge's webhook delivery asks for: an :class:`Intent` or :class:`Ignored`.

Each forge adapter decodes its own payloads into these (GitLab's:
``bot.gitlab.hooks``); the engine's intake acts on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.domain.model import EndKind


class IntentKind(StrEnum):
    UP = "up"  # create or update the environment at ``sha``
    DOWN = "down"  # tear the environment down


@dataclass(frozen=True, slots=True)
class Intent:
    """One environment should be up at a commit, or down.

    ``mr_iid`` None means a branch environment (``PROJECT@BRANCH``).
    ``project_path`` is the path as written in the config (so
    ``config.project_by_path(intent.project_path)`` always finds it, even when
    the delivery matched by ``id`` after a rename); ``project_id`` is GitLab's.
    ``updated_at`` orders deliveries of one environment: the MR's ``updated_at``,
    a pipeline's ``created_at`` (a pipeline started earlier is older even when it
    finishes later), None for pushes. ``author_username`` is the forge user who
    caused the event (GitLab's hooks carry only the MR author's numeric id).

    Before acting on an UP the caller must fetch the MR and apply the trigger
    (``Trigger.failing``): pipeline hooks carry no labels or draft state; with
    ``check_paths`` also its changed paths against ``trigger.paths``.
    """

    kind: IntentKind
    project_path: str
    project_id: int
    mr_iid: int | None
    branch: str
    sha: str | None
    reason: str
    updated_at: datetime | None
    author_username: str = ""
    check_paths: bool = False
    from_pipeline: bool = False  # sha is a passed pipeline's (its image exists)
    end_kind: EndKind | None = None  # for DOWN: why (MR closed, trigger lost, branch deleted)


@dataclass(frozen=True, slots=True)
class Ignored:
    """Nothing to do; ``reason`` says why, for logs and the webhook answer."""

    reason: str
