"""How GitLab's hook decoders build an :class:`Intent` (``bot.domain.events``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.config import ProjectConfig
from bot.domain.events import Intent, IntentKind
from bot.domain.model import EndKind


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

