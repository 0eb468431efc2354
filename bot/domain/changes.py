"""Change requests as the engine sees them, whatever forge they live on.

A *change request* is GitLab's merge request (GitHub's pull request): a source
branch proposed into a target branch. The engine reasons only about these
neutral records; each forge adapter (GitLab's is ``bot.gitlab``) translates its
own words into them, so a second forge, or a stack of change requests across
projects, changes no engine rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ChangeState(StrEnum):
    OPEN = "open"
    MERGING = "merging"  # a merge in progress: not closed yet, and soon merged or open again
    CLOSED = "closed"
    MERGED = "merged"

    @property
    def is_open(self) -> bool:
        """Still open (a merge in progress counts: it may fail and leave it open)."""
        return self in (ChangeState.OPEN, ChangeState.MERGING)

    @property
    def has_ended(self) -> bool:
        return self in (ChangeState.CLOSED, ChangeState.MERGED)


@dataclass(frozen=True)
class SourceProject:
    """A project as its forge knows it."""

    id: int
    path_with_namespace: str
    default_branch: str  # "" for an empty repository, which has no default branch yet
    web_url: str


@dataclass(frozen=True)
class ChangeRequest:
    project_id: int
    iid: int  # its number within the project (GitLab's !7)
    title: str
    state: ChangeState
    source_branch: str
    target_branch: str
    sha: str  # head commit of the source branch; "" while the forge has not computed it yet
    draft: bool
    labels: tuple[str, ...]
    author_username: str
    web_url: str
    updated_at: datetime | None  # timezone-aware (UTC)
    # The head pipeline (only a single change request's read shows it): "" when none.
    head_pipeline_sha: str = ""
    head_pipeline_status: str = ""  # the forge's own word, shown to people
    head_pipeline_passed: bool = False


class PipelineState(StrEnum):
    """Where a commit's pipeline stands, as far as its image is concerned."""

    RUNNING = "running"  # not ended (created, pending, running, manual, …): may still push it
    PASSED = "passed"
    FAILED = "failed"  # ended without success (failed, canceled, skipped): no image from it


@dataclass(frozen=True)
class CommitPipeline:
    """One pipeline of a commit."""

    state: PipelineState
    status: str  # the forge's own word, shown to people
    updated_at: datetime | None  # its last change: for an ended pipeline, when it ended


@dataclass(frozen=True)
class ChangePipeline:
    """One pipeline of a change request. ``sha`` is the commit it ran on and built: the
    head of the source branch, or for a merged-results pipeline (GitLab's ref
    ``refs/merge-requests/<iid>/merge``) the merge commit of that head into the target."""

    sha: str
    ref: str
    status: str  # the forge's own word
    passed: bool


@dataclass(frozen=True)
class Shown:
    """What a review surface took of an environment."""

    environment_id: int | None  # the forge environment the bot made; None: none (yet)
    complete: bool  # False: part of it was not taken (forge down): a later pass retries
