"""GitLab, the forge previewbot runs on: its REST API (``client``), what it shows of
environments (``review``) and its webhook deliveries (``hooks``)."""

from __future__ import annotations

from bot.config import Config
from bot.domain.events import Ignored, Intent
from bot.gitlab.client import GitLab
from bot.gitlab.hooks import decide
from bot.gitlab.review import GitLabReview


class GitLabForge:
    """The engine's ``Forge``: one GitLab (URL and token) for every configured project."""

    def __init__(self, gitlab: GitLab) -> None:
        self.gitlab = gitlab
        self._review = GitLabReview(gitlab)

    def check(self) -> str:
        return self.gitlab.check()

    def source(self, project_path: str) -> GitLab:
        return self.gitlab

    def user_email(self, username: str) -> str | None:
        return self.gitlab.user_email(username)

    def review(self, project_path: str) -> GitLabReview:
        return self._review

    def decode(self, event_type: str, payload: dict[str, object],
               config: Config) -> Intent | Ignored:
        return decide(event_type, payload, config)
