"""The engine's ports: what it needs from the world, in its own words.

Each is a Protocol, so an adapter satisfies it by shape (``bot.gitlab`` for the
forge ports, ``bot.cluster`` and ``bot.state`` for the rest) and tests hand the
engine in-memory fakes (``tests/fakes/memory``). Every method raises only
``bot.domain.errors`` errors: ``TemporaryError`` when the other side is
unreachable, busy or failing (retry later), ``PermanentError`` when retrying
cannot help (bad token, missing scope, unknown project or change request).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bot.config import Config
from bot.domain.changes import ChangeRequest, Shown, SourceProject
from bot.domain.events import Ignored, Intent
from bot.domain.model import Environment


class ChangeSource(Protocol):
    """Where a project's change requests live. Names of environments are the caller's."""

    def project(self, path_or_id: str | int) -> SourceProject:
        """A project by `group/app` path or numeric id; PermanentError when unknown."""
        ...

    def change_request(self, project_id: int, iid: int) -> ChangeRequest:
        """One change request, with its head pipeline; PermanentError when unknown."""
        ...

    def open_change_requests(self, project: str | int) -> list[ChangeRequest]:
        """Every open change request of a project (path or id), without head pipelines."""
        ...

    def open_change_requests_from(self, project_id: int,
                                  source_branch: str) -> list[ChangeRequest]:
        """Open change requests whose source branch is ``source_branch``."""
        ...

    def passed_commits(self, project: str | int) -> frozenset[str]:
        """Commits of the project's newest passed pipelines (a bounded window)."""
        ...

    def changed_paths(self, project_id: int, iid: int) -> tuple[str, ...]:
        """Every old and new path the change touches, in diff order, no repeats."""
        ...

    def branch_head(self, project_id: int, branch: str) -> str | None:
        """The branch's head commit; None when the branch does not exist."""
        ...

    def maintainers(self, project_id: int) -> tuple[str, ...]:
        """Usernames of those who may maintain the project (inherited ones too), sorted."""
        ...


class ReviewSurface(Protocol):
    """What people see of an environment beside its change request: an environment
    with the URL, and one note that follows it (ready, failed, torn down)."""

    def describe(self, env: Environment) -> str:
        """How people know the environment there, for dry-run lines ("GitLab
        environment review/feature")."""
        ...

    def show(self, env: Environment, *, known_id: int | None,
             create_started_at: datetime | None) -> Shown:
        """Show the ready environment's URL. ``known_id`` is the forge environment the
        bot made before (only that one is ever changed); ``create_started_at`` when the
        bot began making one whose answer it may have lost."""
        ...

    def tell_failed(self, env: Environment) -> bool:
        """Say why the environment failed; False when the forge did not take it (yet)."""
        ...

    def stop(self, env: Environment, reason: str, *, deliberate: bool) -> bool:
        """Stop the bot's forge environment and say why it went (``deliberate``: a person
        or its TTL ended it, so it must not come back at this commit); False when the
        forge did not take it (a later pass retries)."""
        ...

    def ended_at(self, project_id: int, iid: int, env_keys: list[str]) -> str | None:
        """The commit the note says the environment (any of ``env_keys``) was ended on
        purpose at; None when it says no such thing."""
        ...


class Forge(Protocol):
    """The forges the projects live on, looked up per project path (a project no
    longer configured still has its environments stopped on its forge)."""

    def check(self) -> str:
        """Who the bot acts as (proves every forge's URL and token work)."""
        ...

    def source(self, project_path: str) -> ChangeSource: ...

    def user_email(self, username: str) -> str | None:
        """A forge user's e-mail as far as the bot may see it; None if unknown (people
        are the forge's, not a project's: ``gitlab:<username>`` owners)."""
        ...

    def review(self, project_path: str) -> ReviewSurface: ...

    def decode(self, event_type: str, payload: dict[str, object],
               config: Config) -> Intent | Ignored:
        """What a webhook delivery of the forge asks for; PermanentError when it is
        malformed (it can never be handled)."""
        ...
