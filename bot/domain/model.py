"""The domain: what an environment should be (desired) and what it is (observed).

Frozen dataclasses only; every change makes a new value with ``replace``.
Timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

SHORT_SHA_LEN = 8  # as GitLab's CI_COMMIT_SHORT_SHA


def short_sha(sha: str) -> str:
    """The first 8 hex digits of a commit, as GitLab shows it."""
    return sha[:SHORT_SHA_LEN]


class Status(enum.StrEnum):
    PENDING = "pending"  # recorded, not converged yet
    DEPLOYING = "deploying"
    READY = "ready"
    FAILED = "failed"
    TEARING_DOWN = "tearing-down"
    GONE = "gone"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Desired:
    """What a person or an event asked for. ``present=False`` means tear down."""

    env_key: str
    project_path: str
    project_id: int
    branch: str
    sha: str
    created_at: datetime
    expires_at: datetime
    mr_iid: int | None = None
    mr_url: str = ""
    owner: str = ""
    keep: bool = False
    # Brought up by hand (CLI, Slack): never torn down for failing the trigger rules,
    # only for merge/close, TTL or an explicit down. Sticky once set.
    manual: bool = False
    present: bool = True
    down_reason: str = ""
    # When the source event happened (GitLab updated_at); older events never win.
    source_updated_at: datetime | None = None

    @property
    def is_mr(self) -> bool:
        return self.mr_iid is not None

    @property
    def label(self) -> str:
        """How a person refers to it: group/app!7 or group/app@branch."""
        if self.mr_iid is not None:
            return f"{self.project_path}!{self.mr_iid}"
        return f"{self.project_path}@{self.branch}"


@dataclass(frozen=True, slots=True)
class Observed:
    """What the engine last saw or did."""

    status: Status = Status.PENDING
    reason: str = ""
    url: str = ""
    helm_revision: int | None = None
    deployed_sha: str = ""
    deployed_hash: str = ""
    last_deploy_at: datetime | None = None
    gitlab_synced_hash: str = ""
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    action: str
    actor: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Environment:
    desired: Desired
    observed: Observed = field(default_factory=Observed)

    @property
    def key(self) -> str:
        return self.desired.env_key

    def with_observed(self, **changes: object) -> Environment:
        return replace(self, observed=replace(self.observed, **changes))  # type: ignore[arg-type]

    def with_desired(self, **changes: object) -> Environment:
        return replace(self, desired=replace(self.desired, **changes))  # type: ignore[arg-type]
