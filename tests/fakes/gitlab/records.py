"""In-memory records of the fake GitLab, and lookups that fail like GitLab does.

Records are mutable on purpose (they are the fake's database); callers only ever
see JSON copies rendered by `tests.fakes.gitlab.render`. All access happens under
the owning `FakeGitLab`'s lock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50


def now_iso() -> str:
    """GitLab's timestamp format: UTC, milliseconds, `Z` suffix."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def environment_slug(name: str) -> str:
    """GitLab's environment slug: DNS-safe, ≤ 24 chars, hashed suffix when it had to change."""
    slug = re.sub(r"[^a-z0-9]", "-", name.lower())
    if not slug[:1].isalpha():
        slug = "env-" + slug
    slug = re.sub(r"-+", "-", slug)
    if len(slug) <= 24 and slug == name:
        return slug.rstrip("-")
    digest = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    suffix = ""
    while len(suffix) < 6:
        digest, digit = divmod(digest, 36)
        suffix = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + suffix
    prefix = slug[:17]
    return (prefix if prefix.endswith("-") else prefix + "-") + suffix


def guess_tier(name: str) -> str:
    """GitLab guesses the deployment tier from the environment name when none is given."""
    lowered = name.lower()
    for pattern, tier in (
        (r"(dev|review|trunk)", "development"),
        (r"(test|tst|int|ac(ce|)pt|qa|qc|control|quality)", "testing"),
        (r"(st(a|)g|mod(e|)l|pre|demo|non)", "staging"),
        (r"(pr(o|)d|live)", "production"),
    ):
        if re.search(pattern, lowered):
            return tier
    return "other"


class GitLabApiError(Exception):
    """Raised inside route handlers; becomes an HTTP error reply with GitLab's body."""

    def __init__(self, status: int, message: Any, key: str = "message") -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.body: dict[str, Any] = {key: message}


@dataclass
class User:
    id: int
    username: str
    name: str
    email: str
    public_email: str
    is_admin: bool = False
    created_at: str = field(default_factory=now_iso)


@dataclass
class Project:
    id: int
    path_with_namespace: str
    default_branch: str
    created_at: str = field(default_factory=now_iso)
    # Paths it had before a rename: GitLab redirects API calls by an old path (301 to
    # /projects/:id, which python-gitlab follows); the fake answers as if followed.
    former_paths: list[str] = field(default_factory=list)


@dataclass
class Member:
    user_id: int
    access_level: int
    created_at: str = field(default_factory=now_iso)


@dataclass
class MergeRequest:
    id: int
    iid: int
    project_id: int
    title: str
    source_branch: str
    target_branch: str
    sha: str
    author_id: int
    state: str = "opened"
    draft: bool = False
    description: str = ""
    labels: list[str] = field(default_factory=list)
    changed_paths: list[str | tuple[str, str]] = field(default_factory=list)  # (old, new): rename
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    merged_at: str | None = None
    closed_at: str | None = None
    # GitLab's `head_pipeline` of a single-MR GET: {"id", "sha", "ref", "status", …} or None
    head_pipeline: dict[str, Any] | None = None


@dataclass
class Pipeline:
    id: int
    project_id: int
    sha: str
    ref: str
    status: str  # created, pending, running, success, failed, canceled, skipped, manual
    source: str = "merge_request_event"
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    # The MR whose pipelines list shows it (an MR pipeline: detached, merged results);
    # None: a branch pipeline, shown by the MRs from its ref.
    merge_request_iid: int | None = None


@dataclass
class Environment:
    id: int
    project_id: int
    name: str
    external_url: str | None
    tier: str
    state: str = "available"
    slug: str = ""
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Note:
    id: int
    project_id: int
    mr_iid: int
    body: str
    author_id: int
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


class IdSequence:
    """Monotonic ids that also step past ids chosen explicitly by a test."""

    def __init__(self, start: int) -> None:
        self._next = start

    def take(self, wanted: int | None = None) -> int:
        chosen = self._next if wanted is None else wanted
        self._next = max(self._next, chosen + 1)
        return chosen


@dataclass
class GitLabStore:
    users: dict[int, User] = field(default_factory=dict)
    projects: dict[int, Project] = field(default_factory=dict)
    members: dict[int, dict[int, Member]] = field(default_factory=dict)
    merge_requests: dict[tuple[int, int], MergeRequest] = field(default_factory=dict)
    environments: dict[int, Environment] = field(default_factory=dict)
    notes: dict[int, Note] = field(default_factory=dict)
    branches: dict[int, dict[str, str]] = field(default_factory=dict)  # project id → name → sha
    pipelines: dict[int, Pipeline] = field(default_factory=dict)
    user_ids: IdSequence = field(default_factory=lambda: IdSequence(1))
    project_ids: IdSequence = field(default_factory=lambda: IdSequence(1))
    mr_ids: IdSequence = field(default_factory=lambda: IdSequence(1001))
    environment_ids: IdSequence = field(default_factory=lambda: IdSequence(1))
    note_ids: IdSequence = field(default_factory=lambda: IdSequence(1))
    pipeline_ids: IdSequence = field(default_factory=lambda: IdSequence(5001))

    # --- lookups answering like GitLab when something is missing ---------------------
    def project(self, id_or_encoded_path: str | int) -> Project:
        key = unquote(str(id_or_encoded_path))
        if key.isdigit() and int(key) in self.projects:
            return self.projects[int(key)]
        for project in self.projects.values():
            if project.path_with_namespace.lower() == key.lower():
                return project
        for project in self.projects.values():  # a current path wins over a redirect
            if key.lower() in (path.lower() for path in project.former_paths):
                return project
        raise GitLabApiError(404, "404 Project Not Found")

    def merge_request(self, project_id: int, iid: int | str) -> MergeRequest:
        found = self.merge_requests.get((project_id, _as_int(iid)))
        if found is None:
            raise GitLabApiError(404, "404 Not found")
        return found

    def environment(self, project_id: int, environment_id: int | str) -> Environment:
        found = self.environments.get(_as_int(environment_id))
        if found is None or found.project_id != project_id:
            raise GitLabApiError(404, "404 Not found")
        return found

    def note(self, project_id: int, iid: int, note_id: int | str) -> Note:
        found = self.notes.get(_as_int(note_id))
        if found is None or (found.project_id, found.mr_iid) != (project_id, iid):
            raise GitLabApiError(404, "404 Note Not Found")
        return found

    def branch_sha(self, project_id: int, name: str) -> str:
        found = self.branches.get(project_id, {}).get(name)
        if found is None:
            raise GitLabApiError(404, "404 Branch Not Found")
        return found

    def user(self, user_id: int | str) -> User:
        found = self.users.get(_as_int(user_id))
        if found is None:
            raise GitLabApiError(404, "404 User Not Found")
        return found

    def user_by_username(self, username: str) -> User | None:
        return next(
            (u for u in self.users.values() if u.username.lower() == username.lower()), None
        )

    def project_environments(self, project_id: int) -> Iterator[Environment]:
        return (env for env in self.environments.values() if env.project_id == project_id)

    def merge_request_notes(self, project_id: int, iid: int) -> Iterator[Note]:
        return (n for n in self.notes.values() if (n.project_id, n.mr_iid) == (project_id, iid))


def _as_int(value: int | str) -> int:
    try:
        return int(value)
    except ValueError:
        raise GitLabApiError(404, "404 Not found") from None
