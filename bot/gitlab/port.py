"""What the core knows about GitLab: plain records and the `GitLabClient` port.

The engine depends on `GitLabClient` only, so tests and tools can hand it any
implementation; `bot.gitlab.client.GitLab` is the real one (python-gitlab over REST v4).
Every method raises only `bot.domain.errors` errors: `TemporaryError` when GitLab is
unreachable, busy or failing (retry later), `PermanentError` when retrying
cannot help (bad token, missing scope, unknown project or MR).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

MAINTAINER_ACCESS = 40  # GitLab access levels: 30 developer, 40 maintainer, 50 owner


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    path_with_namespace: str
    default_branch: str  # "" for an empty repository, which has no default branch yet
    web_url: str


@dataclass(frozen=True)
class MergeRequestInfo:
    project_id: int
    iid: int
    title: str
    state: str  # opened / closed / merged / locked
    source_branch: str
    target_branch: str
    sha: str  # head commit of the source branch; "" while GitLab has not computed it yet
    draft: bool
    labels: tuple[str, ...]
    author_username: str
    web_url: str
    updated_at: datetime | None
    # The MR's head pipeline (GET of a single MR): "" when GitLab reports none.
    head_pipeline_sha: str = ""
    head_pipeline_status: str = ""  # timezone-aware (UTC)


class GitLabClient(Protocol):
    """The core's port to GitLab. Names of environments are chosen by the caller."""

    def check(self) -> str:
        """The username the token acts as (proves URL and token work)."""
        ...

    def project(self, path_or_id: str | int) -> ProjectInfo:
        """A project by `group/app` path or numeric id; PermanentError when unknown."""
        ...

    def merge_request(self, project_id: int, iid: int) -> MergeRequestInfo:
        """An MR by project id and iid; PermanentError when unknown."""
        ...

    def list_open_merge_requests(self, project: str | int) -> list[MergeRequestInfo]:
        """Every open MR of a project (path or id): one paginated listing. No head
        pipeline (GitLab shows it only on a single-MR GET)."""
        ...

    def successful_pipeline_shas(self, project: str | int) -> frozenset[str]:
        """Commits of the project's newest successful pipelines (one page)."""
        ...

    def mr_note(self, project_id: int, iid: int, markers: list[str]) -> str | None:
        """The body of the bot's own note containing any of ``markers``; None when none."""
        ...

    def open_merge_requests(self, project_id: int,
                            source_branch: str) -> list[MergeRequestInfo]:
        """Open MRs whose source branch is ``source_branch``."""
        ...

    def changed_paths(self, project_id: int, iid: int) -> tuple[str, ...]:
        """Every old and new path touched by the MR's diffs, in diff order, no repeats."""
        ...

    def branch_head(self, project_id: int, branch: str) -> str | None:
        """The branch's head commit sha; None when the branch does not exist."""
        ...

    def ensure_environment(self, project_id: int, name: str, external_url: str, *,
                           known_id: int | None,
                           create_started_at: datetime | None = None) -> int | None:
        """Create the bot's environment `name` or update its external URL; its id. None
        when an environment of that name exists that the bot did not make (`known_id`
        is the id of the one it made): that one is never touched."""
        ...

    def stop_environment(self, project_id: int, environment_id: int) -> bool:
        """Stop the bot's environment by id; False when it is gone or already stopped."""
        ...

    def upsert_mr_note(self, project_id: int, iid: int, marker: str, body: str) -> int:
        """Keep exactly one note of ours containing `marker` on the MR, with `body`; its id."""
        ...

    def user_email(self, username: str) -> str | None:
        """The user's e-mail (private if the token may see it, else public); None if unknown."""
        ...

    def maintainer_usernames(self, project_id: int) -> tuple[str, ...]:
        """Active members with Maintainer or Owner access, inherited ones included, sorted."""
        ...
