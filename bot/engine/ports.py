"""The engine's ports: what it needs from the world, in its own words.

Each is a Protocol, so an adapter satisfies it by shape (``bot.gitlab`` for the
forge ports, ``bot.cluster`` and ``bot.state`` for the rest) and tests hand the
engine in-memory fakes (``tests/fakes/memory``). Every method raises only
``bot.domain.errors`` errors: ``TemporaryError`` when the other side is
unreachable, busy or failing (retry later), ``PermanentError`` when retrying
cannot help (bad token, missing scope, unknown project or change request).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from bot.cluster.helm import Release
from bot.cluster.kube import NamespaceRecord, WorkloadStatus
from bot.config import Config
from bot.config.model import NetworkIsolation
from bot.domain.changes import (
    ChangePipeline,
    ChangeRequest,
    CommitPipeline,
    Shown,
    SourceProject,
)
from bot.domain.events import Ignored, Intent
from bot.domain.model import Desired, Environment, HistoryEntry, Observed
from bot.domain.refusals import Refusal


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

    def change_pipelines(self, project_id: int, iid: int) -> tuple[ChangePipeline, ...]:
        """The change request's own pipelines, newest first (a bounded window);
        PermanentError when the change request is unknown."""
        ...

    def commit_pipelines(self, project_id: int, sha: str) -> tuple[CommitPipeline, ...]:
        """The pipelines of commit ``sha``, newest first (a bounded window); () while the
        forge shows none (yet)."""
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

    def tell_held(self, env: Environment, text: str) -> bool:
        """Say what keeps the environment's namespace from going (``text`` names it and
        the fix); False when the forge did not take it (yet)."""
        ...

    def stop(self, env: Environment, reason: str, *, deliberate: bool) -> bool:
        """Stop the bot's forge environment and say why it went (``deliberate``: a person
        or its TTL ended it, so it must not come back at this commit); False when the
        forge did not take it (a later pass retries)."""
        ...

    def ended_at(self, project_id: int, iid: int) -> str | None:
        """The commit the bot's note on the MR written last (its last environment's,
        under whatever key the project had then) says it was ended on purpose at; None
        when it says no such thing."""
        ...

    def tell_refused(self, refusal: Refusal) -> bool:
        """Say in the would-be environment's one note why the MR has no environment
        (yet); False when the forge did not take it (yet)."""
        ...

    def refused_at(self, project_id: int, iid: int, env_keys: list[str]) -> str | None:
        """The commit whose refusal the note tells now; None when it tells something
        else (ready, failed, torn down) or there is no note."""
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


# -- the cluster, Helm and the record store ---------------------------------------------
# What the engine (``bot.engine``, ``bot.runtime``) calls on ``Kube``, ``Helm`` and
# ``Store``, and nothing more. The data they return (NamespaceRecord, Release, ...) is
# the adapters' own: plain frozen records, shared rather than copied.


class ClusterPort(Protocol):
    """Namespaces the bot owns (``app.kubernetes.io/managed-by: previewbot``) and the
    readiness of what runs in them. A namespace not ours is never changed:
    NotOwnedError."""

    def server_version(self) -> str:
        """The API server's version (proves the cluster answers)."""
        ...

    def get_namespace(self, name: str) -> NamespaceRecord | None:
        """The namespace, or None when it does not exist."""
        ...

    def list_managed_namespaces(self, labels: Mapping[str, str | None] | None = None) -> (
            list[NamespaceRecord]):
        """Every namespace with the managed-by label (and ``labels``: None means the
        label is absent)."""
        ...

    def ensure_namespace(self, name: str, labels: Mapping[str, str],
                         annotations: Mapping[str, str]) -> str:
        """Create or merge-patch; "created", "updated" or "unchanged" (keys never removed)."""
        ...

    def ensure_role_binding(self, namespace: str) -> str:
        """The bot's own RoleBinding in a managed namespace; "created", "updated",
        "unchanged" or "not configured"."""
        ...

    def ensure_network_policy(self, namespace: str, isolation: NetworkIsolation) -> str:
        """The bot's NetworkPolicy in a managed namespace; "created", "updated",
        "unchanged", "removed" or "off"."""
        ...

    def copy_secret_values(self, source: str, namespace: str) -> tuple[str, ...]:
        """The bot's Secret ``source`` copied into a managed namespace; its values."""
        ...

    def annotate_namespace(self, name: str, annotations: Mapping[str, str | None]) -> None:
        """Set annotations of a managed namespace; a ``None`` value removes that key."""
        ...

    def delete_namespace(self, name: str, *, owner: Mapping[str, str], dry_run: bool) -> bool:
        """Start deleting a managed namespace labelled ``owner``; False when already gone."""
        ...

    def workload_status(self, namespace: str, instance: str) -> WorkloadStatus:
        """Readiness of the release ``instance``'s Deployments and StatefulSets."""
        ...


class ReleasePort(Protocol):
    """Helm releases, one per preview namespace."""

    @property
    def timeout(self) -> float:
        """Seconds Helm may take for one operation (its ``--timeout``)."""
        ...

    def version(self) -> str:
        """The client version, e.g. "v4.3.1" (proves Helm runs)."""
        ...

    def get_release(self, name: str, namespace: str) -> Release | None:
        """The latest revision of the release; None when there is none."""
        ...

    def upgrade_install(self, name: str, chart: str, namespace: str,
                        values: Mapping[str, Any]) -> Release:
        """Install or upgrade (a new revision), without waiting for readiness."""
        ...

    def uninstall(self, name: str, namespace: str, *, dry_run: bool) -> bool:
        """Remove the release; False when there is none."""
        ...

    def recover_pending(self, name: str, namespace: str, *, dry_run: bool) -> str:
        """Unstick a pending release: "rolled-back", "uninstalled", "none" or "absent"."""
        ...

    def stop_running(self, grace: float) -> int:
        """Shutting down: stop every operation still running; how many were."""
        ...


class HeldLockPort(Protocol):
    """An environment's lock as its holder sees it."""

    def fence(self) -> None:
        """Raise ``LockLost`` (a TemporaryError) once the lock may be someone else's."""
        ...


class StorePort(Protocol):
    """Environment records (desired and observed state), their history, per-environment
    locks, and the small shared facts beside them (cache, owed notices, job ticks)."""

    def ping(self) -> None:
        """Prove the store answers."""
        ...

    def get(self, env_key: str) -> Environment | None:
        """The record, or None."""
        ...

    def all(self) -> list[Environment]:
        """Every record, by key."""
        ...

    def env_keys(self) -> set[str]:
        """Every environment key with a record."""
        ...

    def get_many(self, env_keys: Iterable[str]) -> list[Environment | None]:
        """The records of ``env_keys``, in order (None: no record)."""
        ...

    def put_observed_if(self, env_key: str, observed: Observed, *, desired: Desired) -> bool:
        """``put_observed`` only while the desired state is still ``desired`` (atomic);
        False when a request changed it meanwhile."""
        ...

    def put_observed(self, env_key: str, observed: Observed) -> None:
        """Write only the observed state, and only of an existing record."""
        ...

    def update(self, env_key: str,
               change: Callable[[Environment | None], Environment | None]) -> Environment | None:
        """Read-modify-write one record atomically; ``change`` returns None to keep it."""
        ...

    def delete_if(self, env_key: str, check: Callable[[Environment | None], bool]) -> bool:
        """Delete the record and its history when ``check`` holds for it now, atomically."""
        ...

    def record(self, env_key: str, entry: HistoryEntry) -> None:
        """Append to the environment's history (and the audit log)."""
        ...

    def history(self, env_key: str) -> list[HistoryEntry]:
        """The environment's history, newest first."""
        ...

    def cached(self, name: str) -> str | None:
        """A remembered answer, None when unknown or expired."""
        ...

    def cache(self, name: str, value: str, seconds: float) -> None:
        """Remember an answer costly to get again, for ``seconds``."""
        ...

    def claim_tick(self, job: str, tick: int, owner: str, ttl: float) -> bool:
        """True for the one caller that runs ``job`` for period ``tick``."""
        ...

    def record_job_run(self, job: str, tick: int, owner: str, token: int) -> None:
        """Which replica ran which job for which tick."""
        ...

    def lock(self, env_key: str, *,
             wait: float | None = None) -> AbstractContextManager[HeldLockPort]:
        """Hold the environment's lock (waiting up to ``wait``); TemporaryError when busy."""
        ...

    def announcement(self, env_key: str) -> str | None:
        """The environment's chat announcement, ``<channel>/<ts>``; None when none is known."""
        ...

    def set_announcement(self, env_key: str, ref: str | None) -> None:
        """Remember (None: forget) the announcement; only for an existing record."""
        ...

    def owe_notice(self, env_key: str, notice: str, *, topic: str = "") -> None:
        """Keep an undelivered notice (only the latest one of each topic per environment
        is owed; topic "" is the layout of earlier versions, one notice per environment)."""
        ...

    def owed_notice(self, env_key: str, *, topic: str = "") -> str | None:
        """The notice of ``topic`` owed for the environment, or None."""
        ...

    def owed_notices(self, *, topic: str = "") -> dict[str, str]:
        """Every owed notice of ``topic``, by environment key."""
        ...

    def settle_notice(self, env_key: str, notice: str, *, topic: str = "") -> None:
        """``notice`` is owed no more, if it is still what is owed."""
        ...

    def mark_expiry_warned(self, env_key: str, expires_at: datetime, *, owing: str = "",
                           topic: str = "") -> bool:
        """True once per expiry time of an existing record: the first caller warns. With
        ``owing``, that notice is owed (under ``topic``) in the same atomic step."""
        ...
