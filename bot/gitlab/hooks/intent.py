"""What a GitLab webhook delivery asks for: an :class:`Intent` or :class:`Ignored`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.config import ProjectConfig
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
    finishes later), None for pushes. ``author_username`` is the GitLab user who
    caused the event (hooks carry only the MR author's numeric id).

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


@dataclass(frozen=True, slots=True)
class Origin:
    """What every handled delivery says about where it came from."""

    project: ProjectConfig
    project_id: int
    default_branch: str
    username: str

    def up(self, *, mr_iid: int | None, branch: str, sha: str, reason: str,
           updated_at: datetime | None, from_pipeline: bool = False) -> Intent:
        return Intent(
            IntentKind.UP, self.project.path, self.project_id, mr_iid, branch, sha, reason,
            updated_at, self.username,
            check_paths=mr_iid is not None and bool(self.project.trigger.paths),
            from_pipeline=from_pipeline,
        )

    def down(self, *, mr_iid: int | None, branch: str, reason: str, end_kind: EndKind,
             updated_at: datetime | None) -> Intent:
        return Intent(IntentKind.DOWN, self.project.path, self.project_id, mr_iid, branch,
                      None, reason, updated_at, self.username, end_kind=end_kind)

