"""A forge in dicts: its projects and change requests (``ChangeSource``), and a ``Forge``
that hands out the fakes and decodes webhooks as GitLab's adapter does."""

from __future__ import annotations

import threading
from dataclasses import replace

from bot.config import Config
from bot.domain.changes import (
    ChangePipeline,
    ChangeRequest,
    ChangeState,
    CommitPipeline,
    SourceProject,
)
from bot.domain.errors import PermanentError
from bot.domain.events import Ignored, Intent
from bot.engine.ports import ChangeSource, ReviewSurface
from bot.gitlab.hooks import decide
from tests.fakes.memory.faults import Faults


class FakeChangeSource:
    def __init__(self) -> None:
        self.faults = Faults(self)
        self.projects: dict[int, SourceProject] = {}
        self.changes: dict[tuple[int, int], ChangeRequest] = {}
        self.paths: dict[tuple[int, int], tuple[str, ...]] = {}
        # (project id, iid) -> the change request's pipelines, newest first
        self.pipelines: dict[tuple[int, int], tuple[ChangePipeline, ...]] = {}
        self.branches: dict[tuple[int, str], str] = {}  # (project id, branch) -> head commit
        # (project id, sha) -> its pipelines, newest first
        self.pipelines: dict[tuple[int, str], tuple[CommitPipeline, ...]] = {}
        self.maintainer_names: dict[int, set[str]] = {}
        self.former_paths: dict[str, int] = {}  # a renamed project's old path -> its id
        self._lock = threading.Lock()

    # -- ChangeSource ----------------------------------------------------------------
    def project(self, path_or_id: str | int) -> SourceProject:
        self.faults.check("project")
        return self._project(path_or_id)

    def change_request(self, project_id: int, iid: int) -> ChangeRequest:
        self.faults.check("change_request")
        with self._lock:
            found = self.changes.get((project_id, iid))
        if found is None:
            raise PermanentError(f"change request !{iid} of project {project_id} not found")
        return found

    def open_change_requests(self, project: str | int) -> list[ChangeRequest]:
        self.faults.check("open_change_requests")
        project_id = self._project(project).id
        return [_listed(c) for c in self._changes(project_id) if _listed_open(c)]

    def open_change_requests_from(self, project_id: int,
                                  source_branch: str) -> list[ChangeRequest]:
        self.faults.check("open_change_requests_from")
        return [_listed(c) for c in self._changes(project_id)
                if _listed_open(c) and c.source_branch == source_branch]

    def change_pipelines(self, project_id: int, iid: int) -> tuple[ChangePipeline, ...]:
        self.faults.check("change_pipelines")
        with self._lock:
            if (project_id, iid) not in self.changes:  # as the forge says
                raise PermanentError(f"change request !{iid} of project {project_id} not found")
            return self.pipelines.get((project_id, iid), ())

    def commit_pipelines(self, project_id: int, sha: str) -> tuple[CommitPipeline, ...]:
        self.faults.check("commit_pipelines")
        with self._lock:
            return self.pipelines.get((project_id, sha), ())

    def changed_paths(self, project_id: int, iid: int) -> tuple[str, ...]:
        self.faults.check("changed_paths")
        self.change_request(project_id, iid)  # unknown: PermanentError, as the forge says
        with self._lock:
            return self.paths.get((project_id, iid), ())

    def branch_head(self, project_id: int, branch: str) -> str | None:
        self.faults.check("branch_head")
        with self._lock:
            return self.branches.get((project_id, branch))

    def maintainers(self, project_id: int) -> tuple[str, ...]:
        self.faults.check("maintainers")
        with self._lock:
            return tuple(sorted(self.maintainer_names.get(project_id, ())))

    # -- the test's hand on the forge --------------------------------------------------
    def add_project(self, project: SourceProject) -> None:
        with self._lock:
            self.projects[project.id] = project

    def rename_project(self, project_id: int, new_path: str) -> None:
        """Its id stays; its old path still leads to it (the forge redirects)."""
        with self._lock:
            project = self.projects[project_id]
            self.former_paths[project.path_with_namespace] = project_id
            self.projects[project_id] = replace(project, path_with_namespace=new_path)

    def put_change(self, change: ChangeRequest, paths: tuple[str, ...] = ()) -> None:
        """Open or change a change request; its source branch's head moves to its sha."""
        with self._lock:
            self.changes[(change.project_id, change.iid)] = change
            self.paths[(change.project_id, change.iid)] = paths
            if change.sha:
                self.branches[(change.project_id, change.source_branch)] = change.sha

    def put_pipeline(self, project_id: int, sha: str, pipeline: CommitPipeline) -> None:
        """A new pipeline of ``sha`` (the newest), or its one pipeline moved on: it replaces
        the newest when that one has not ended yet."""
        with self._lock:
            known = self.pipelines.get((project_id, sha), ())
            if known and known[0].state.value == "running":
                known = known[1:]
            self.pipelines[(project_id, sha)] = (pipeline, *known)

    def _project(self, path_or_id: str | int) -> SourceProject:
        with self._lock:
            for project in self.projects.values():
                if path_or_id in (project.id, project.path_with_namespace, str(project.id)):
                    return project
            if isinstance(path_or_id, str) and path_or_id in self.former_paths:
                return self.projects[self.former_paths[path_or_id]]
        raise PermanentError(f"project {path_or_id} not found")

    def _changes(self, project_id: int) -> list[ChangeRequest]:
        with self._lock:
            return [c for (pid, _), c in sorted(self.changes.items()) if pid == project_id]


def _listed_open(change: ChangeRequest) -> bool:
    """As GitLab's ``state=opened`` listing: a merge in progress ("locked") is not in it."""
    return change.state is ChangeState.OPEN


def _listed(change: ChangeRequest) -> ChangeRequest:
    """As a list shows it: without its head pipeline (only a single read has one)."""
    return replace(change, head_pipeline_sha="", head_pipeline_status="",
                   head_pipeline_passed=False)


class FakeForge:
    """One fake forge for every project; webhooks decoded by GitLab's own rules."""

    def __init__(self, source: ChangeSource, review: ReviewSurface, *,
                 user: str = "previewbot") -> None:
        self._source = source
        self._review = review
        self.user = user
        self.emails: dict[str, str] = {}  # people are the forge's, not a project's
        self.faults = Faults(self)

    def check(self) -> str:
        self.faults.check("check")
        return self.user

    def source(self, project_path: str) -> ChangeSource:
        return self._source

    def user_email(self, username: str) -> str | None:
        self.faults.check("user_email")
        return self.emails.get(username)

    def review(self, project_path: str) -> ReviewSurface:
        return self._review

    def decode(self, event_type: str, payload: dict[str, object],
               config: Config) -> Intent | Ignored:
        return decide(event_type, payload, config)
