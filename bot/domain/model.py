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


class EndKind(enum.StrEnum):
    """Why an environment was ended: decides whether an open MR may bring it back."""

    REQUESTED = "requested"  # a person: stays down until a new commit or a new `up`
    TTL = "ttl"  # its time ran out: likewise
    MR_CLOSED = "mr-closed"  # merged or closed: a reopen brings it back
    TRIGGER_LOST = "trigger-lost"  # label removed, marked draft, target changed
    BRANCH_DELETED = "branch-deleted"

    @property
    def deliberate(self) -> bool:
        """Ended on purpose: discovery must not re-create it for the same commit."""
        return self in (EndKind.REQUESTED, EndKind.TTL)


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
    down_kind: str = ""  # an EndKind value once a teardown was requested
    # When the source event happened (GitLab updated_at); older events never win.
    source_updated_at: datetime | None = None

    @property
    def is_mr(self) -> bool:
        return self.mr_iid is not None

    def end_kind(self, now: datetime) -> EndKind | None:
        """How this environment ended (or is ending); None while it should exist."""
        if not self.present:
            try:
                return EndKind(self.down_kind)
            except ValueError:  # records from before down_kind: a person asked
                return EndKind.REQUESTED
        return EndKind.TTL if now >= self.expires_at else None

    def same_identity(self, project_id: int, *, mr_iid: int | None, branch: str) -> bool:
        """Is this the environment of (project, MR) or (project, branch)?"""
        if self.project_id != project_id or self.mr_iid != mr_iid:
            return False
        return mr_iid is not None or self.branch == branch

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
    step_started_at: datetime | None = None  # when the current deploy or teardown began
    # The review surface (the forge's page of the change request, bot.engine.review):
    review_synced_hash: str = ""  # values hash it last showed; STOP_PENDING: stop owed
    review_environment_id: int | None = None  # the forge environment the bot made
    # When the bot first asked the forge to create it without learning its id (a create
    # whose answer is lost to a timeout still made it): see GitLab.ensure_environment.
    review_create_started_at: datetime | None = None
    timeouts: int = 0  # Helm hook/wait timeouts in a row (see bot.engine.reconcile)
    # A FAILED environment whose cause was temporary (the cluster, the network) is tried
    # again with the same inputs from then on; None: only a new input retries it.
    retry_at: datetime | None = None
    failures: int = 0  # temporary failures in a row (the backoff's exponent)
    review_attempts: int = 0  # passes in a row the forge did not take the sync
    # People were told what holds its namespace's deletion (bot.engine.converge): once
    # per teardown, or per wait of a new life for the old namespace to go.
    told_held: bool = False
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


def is_active(env: Environment) -> bool:
    """Wanted and not gone: it counts against capacity and requests may act on it."""
    return env.desired.present and env.observed.status is not Status.GONE
