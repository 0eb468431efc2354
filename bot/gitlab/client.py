"""GitLab over python-gitlab (REST v4, sync): the engine's `ChangeSource` port, plus the
calls `bot.gitlab.review` shows environments with.

What the bot keeps in GitLab (README "GitLab webhooks"), without any local state, so a bot that
lost its memory finds everything again:

- one GitLab environment per preview, found by exact name (`review/<branch>`) with
  the list filter `name=`; created, or its `external_url` updated only when it differs;
- one MR note per marker (an HTML comment in the body, e.g.
  ``<!-- previewbot:group-app-mr-7 -->``), found by walking all notes of the MR.
  Only notes written by the token's own user count, so a person quoting the marker
  is never edited; duplicates of ours (two replicas racing) are deleted, the oldest
  stays. A token of a *different* user therefore starts a new note.

Errors: every call raises only `bot.domain.errors` errors, see `bot.gitlab.rest.translate`.
The client is lazy: constructing `GitLab` sends no request.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gitlab.exceptions import GitlabCreateError, GitlabError, GitlabGetError
from gitlab.v4.objects import Project, ProjectEnvironment, ProjectMergeRequestNote

from bot.domain.changes import (
    ChangePipeline,
    ChangeRequest,
    ChangeState,
    CommitPipeline,
    PipelineState,
    SourceProject,
)
from bot.domain.errors import PermanentError
from bot.gitlab.hooks.fields import parse_gitlab_time
from bot.gitlab.rest import PER_PAGE, RestClient

MAINTAINER_ACCESS = 40  # GitLab access levels: 30 developer, 40 maintainer, 50 owner
# GitLab's words for a merge request's state; "locked" is a merge in progress.
_STATES = {"opened": ChangeState.OPEN, "locked": ChangeState.MERGING,
           "closed": ChangeState.CLOSED, "merged": ChangeState.MERGED}

_STOPPED_STATES = frozenset({"stopped", "stopping"})
# GitLab's pipeline statuses that ended without success; every other one but "success"
# (created, waiting_for_resource, preparing, pending, running, manual, scheduled) may
# still push the commit's image.
_PIPELINE_FAILED = frozenset({"failed", "canceled", "canceling", "skipped"})
COMMIT_PIPELINES_PAGE = 20
# GitLab's clock against ours, when telling whether an environment was created after
# the bot started creating it.
CLOCK_SKEW = timedelta(seconds=30)


class GitLab:
    """One instance per GitLab URL and token."""

    def __init__(self, url: str, token: str, *, timeout: float = 10.0) -> None:
        self._rest = RestClient(url, token, timeout=timeout)
        self._username: str | None = None

    def check(self) -> str:
        """GET /user: the username of the token, proving URL and token work."""
        with self._rest.guard("reading", "the token's own user"):
            user = self._rest.http_get("/user")
        if not isinstance(user, dict) or not user.get("username"):
            raise PermanentError(
                f"GitLab at {self._rest.url} did not answer like GitLab "
                "to GET /user: check GITLAB_URL"
            )
        self._username = str(user["username"])
        return self._username

    def project(self, path_or_id: str | int) -> SourceProject:
        with self._rest.guard("reading", _project_name(path_or_id)):
            found = self._rest.projects.get(path_or_id)
        a = found.attributes
        return SourceProject(
            id=int(a["id"]),
            path_with_namespace=str(a["path_with_namespace"]),
            default_branch=str(a.get("default_branch") or ""),
            web_url=str(a.get("web_url") or ""),
        )

    def change_request(self, project_id: int, iid: int) -> ChangeRequest:
        with self._rest.guard("reading", _mr_name(project_id, iid)):
            found = self._project(project_id).mergerequests.get(iid)
        return _mr_info(project_id, found.attributes)

    def open_change_requests(self, project: str | int) -> list[ChangeRequest]:
        """Every open MR of ``project`` (path or id): one paginated listing, 100 a page.

        The listing carries what the trigger rules need (labels, draft, target branch,
        head sha) but no head pipeline: GitLab shows that only on a single-MR GET."""
        with self._rest.guard("listing open merge requests of", _project_name(project)):
            found = self._rest.projects.get(project, lazy=True).mergerequests.list(
                state="opened", iterator=True)
            return [_mr_info(int(mr.attributes["project_id"]), mr.attributes) for mr in found]

    def change_pipelines(self, project_id: int, iid: int) -> tuple[ChangePipeline, ...]:
        """The MR's newest 100 pipelines, newest first (GET …/merge_requests/:iid/pipelines,
        one page): its MR pipelines (detached, merged results) and its branch's."""
        with self._rest.guard("listing the pipelines of", _mr_name(project_id, iid)):
            found = self._project(project_id).mergerequests.get(iid, lazy=True).pipelines.list(
                per_page=PER_PAGE, get_all=False)
        return tuple(_pipeline(p.attributes) for p in found if p.attributes.get("sha"))

    def commit_pipelines(self, project_id: int, sha: str) -> tuple[CommitPipeline, ...]:
        """GET /projects/:id/pipelines?sha=…: the newest page (id descending). A listed
        pipeline has no ``finished_at`` (only a single GET has it); an ended one's
        ``updated_at`` is when it ended."""
        path = f"/projects/{project_id}/pipelines"
        with self._rest.guard("listing the pipelines of", f"commit {sha[:8]} of project "
                                                          f"{project_id}"):
            found = self._rest.http_list(path, sha=sha, per_page=COMMIT_PIPELINES_PAGE,
                                         get_all=False)
        return tuple(_commit_pipeline(item) for item in found if isinstance(item, dict))

    def mr_note(self, project_id: int, iid: int, markers: list[str], *,
                latest: bool = False) -> str | None:
        """The body of our oldest note with any of ``markers`` on the MR (one listing),
        or with ``latest`` the one written last; None when there is none."""
        me = self._me()
        with self._rest.guard("reading the previewbot note on", _mr_name(project_id, iid)):
            manager = self._project(project_id).mergerequests.get(iid, lazy=True).notes
            ours = sorted((n for n in manager.list(iterator=True)
                           if any(_is_ours(n, marker, me) for marker in markers)),
                          key=lambda n: (str(n.attributes.get("updated_at") or "")
                                         if latest else "", int(n.attributes["id"])))
        if not ours:
            return None
        return str(ours[-1 if latest else 0].attributes.get("body") or "")

    def open_change_requests_from(self, project_id: int,
                                  source_branch: str) -> list[ChangeRequest]:
        """Open MRs from ``source_branch`` (branch pipelines in pipeline mode)."""
        with self._rest.guard("listing open merge requests of", f"project {project_id}"):
            found = self._project(project_id).mergerequests.list(
                state="opened", source_branch=source_branch, iterator=True)
            return [_mr_info(project_id, mr.attributes) for mr in found]

    def changed_paths(self, project_id: int, iid: int) -> tuple[str, ...]:
        """Old and new path of every diff (GET …/merge_requests/:iid/diffs, GitLab ≥ 15.7)."""
        path = f"/projects/{project_id}/merge_requests/{iid}/diffs"
        with self._rest.guard("listing the changes of", _mr_name(project_id, iid)):
            paths = [
                str(name)
                for diff in self._rest.http_list(path, iterator=True, per_page=PER_PAGE)
                for name in (diff.get("old_path"), diff.get("new_path"))
                if name
            ]
        return tuple(dict.fromkeys(paths))

    def branch_head(self, project_id: int, branch: str) -> str | None:
        with self._rest.guard("reading", f"branch {branch!r} of project {project_id}"):
            try:
                found = self._project(project_id).branches.get(branch)
            except GitlabGetError as error:
                if _missing(error, but_not="project"):
                    return None
                raise
        return str(found.attributes["commit"]["id"])

    def ensure_environment(self, project_id: int, name: str, external_url: str, *,
                           known_id: int | None,
                           create_started_at: datetime | None = None) -> int | None:
        """Keep the bot's own environment ``name`` showing ``external_url``; its id.

        ``known_id`` is the id of the environment the bot made earlier (None: none
        yet). An environment of that name the bot did not make (a CI review app) is
        never changed, stopped or deleted: then None, and the caller picks another
        name. One the bot made but whose id it never learnt (the create's answer was
        lost to a timeout) is known by all of: the bot started a create at
        ``create_started_at``, it was created since, shows this environment's own URL,
        is not stopped and has no deployment (a CI review app has one). A stopped
        environment of ours cannot be restarted through the API; a fresh one shows
        "available" and the MR's "View app" again (reopened MR)."""
        with self._rest.guard("updating", f"environment {name!r} of project {project_id}"):
            env = self._find_environment(project_id, name)
            if env is not None and not _made_by_us(env, known_id, external_url, create_started_at):
                return None  # not ours
            if env is not None and env.attributes.get("state") == "stopped":
                env.delete()
                env = None
            if env is None:
                env = self._create_environment(project_id, name, external_url)
            if env is None:  # created by another client meanwhile: ours if it shows our URL
                env = self._find_environment(project_id, name)
                if env is None or not _made_by_us(env, known_id, external_url, create_started_at):
                    return None
            if (env.attributes.get("external_url") or "") != external_url:
                env.external_url = external_url
                env.save()
        return int(env.attributes["id"])

    def stop_environment(self, project_id: int, environment_id: int) -> bool:
        """Stop the bot's environment ``environment_id``; False when it is gone or stopped."""
        with self._rest.guard("stopping", f"environment {environment_id} of project {project_id}"):
            try:
                env = self._project(project_id).environments.get(environment_id)
            except GitlabGetError as error:
                if _missing(error, but_not="project"):
                    return False
                raise
            if env.attributes.get("state") in _STOPPED_STATES:
                return False
            env.stop()
        return True

    def upsert_mr_note(self, project_id: int, iid: int, marker: str, body: str) -> int:
        """Create or edit our one note with `marker`; `marker` is appended if `body` lacks it."""
        if not marker.strip():
            raise ValueError("upsert_mr_note needs a non-empty marker")
        if marker not in body:
            body = f"{body}\n\n{marker}"
        me = self._me()
        with self._rest.guard("updating the previewbot note on", _mr_name(project_id, iid)):
            manager = self._project(project_id).mergerequests.get(iid, lazy=True).notes
            ours = sorted(
                (n for n in manager.list(iterator=True) if _is_ours(n, marker, me)),
                key=lambda n: int(n.attributes["id"]),
            )
            if not ours:
                return int(manager.create({"body": body}).attributes["id"])
            note, *duplicates = ours
            for duplicate in duplicates:
                duplicate.delete()
            if note.attributes.get("body") != body:
                note.body = body
                note.save()
        return int(note.attributes["id"])

    def user_email(self, username: str) -> str | None:
        """The private e-mail when the token may see it (admin), else the public one."""
        with self._rest.guard("reading", f"user {username!r}"):
            found = self._rest.users.list(username=username, get_all=True)
        for user in found:
            a = user.attributes
            if str(a.get("username", "")).lower() == username.lower():
                return str(a.get("email") or a.get("public_email") or "") or None
        return None

    def maintainers(self, project_id: int) -> tuple[str, ...]:
        with self._rest.guard("listing the members of", f"project {project_id}"):
            names = {
                str(m.attributes["username"])
                for m in self._project(project_id).members_all.list(iterator=True)
                if int(m.attributes.get("access_level", 0)) >= MAINTAINER_ACCESS
                and m.attributes.get("state", "active") == "active"
            }
        return tuple(sorted(names))

    # --- helpers -------------------------------------------------------------------
    def _project(self, project_id: int) -> Project:
        return self._rest.projects.get(project_id, lazy=True)  # no request

    def _me(self) -> str:
        return self._username or self.check()

    def _find_environment(self, project_id: int, name: str) -> ProjectEnvironment | None:
        found = self._project(project_id).environments.list(name=name, get_all=True)
        return next((env for env in found if env.attributes.get("name") == name), None)

    def _create_environment(
        self, project_id: int, name: str, external_url: str
    ) -> ProjectEnvironment | None:
        """Ours, newly made; None when the name was taken between lookup and create (by
        another replica or by CI: either way not provably ours, so left alone)."""
        environments = self._project(project_id).environments
        try:
            return environments.create({"name": name, "external_url": external_url})
        except GitlabCreateError as error:
            if error.response_code == 400 and "taken" in str(error.error_message):
                return None
            raise


def _made_by_us(env: ProjectEnvironment, known_id: int | None, external_url: str,
                create_started_at: datetime | None) -> bool:
    attributes = env.attributes
    if int(attributes["id"]) == known_id:
        return True
    if known_id is not None or create_started_at is None:
        return False
    try:
        created_at = parse_gitlab_time(str(attributes.get("created_at") or ""))
    except ValueError:
        return False
    return ((attributes.get("external_url") or "") == external_url
            and attributes.get("state") not in _STOPPED_STATES
            and not attributes.get("last_deployment")
            and created_at >= create_started_at - CLOCK_SKEW)


def _is_ours(note: ProjectMergeRequestNote, marker: str, me: str) -> bool:
    a = note.attributes
    author = str((a.get("author") or {}).get("username") or "")
    return not a.get("system") and author == me and marker in str(a.get("body") or "")


def _missing(error: GitlabError, *, but_not: str) -> bool:
    """A 404 about the thing looked up, not about its parent (GitLab says which)."""
    return error.response_code == 404 and but_not not in str(error.error_message).lower()


def _timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _project_name(path_or_id: str | int) -> str:
    return f"project {path_or_id}" if isinstance(path_or_id, int) else f"project {path_or_id!r}"


def _mr_name(project_id: int, iid: int) -> str:
    return f"merge request !{iid} of project {project_id}"


def _mr_info(project_id: int, a: dict[str, Any]) -> ChangeRequest:
    pipeline = a.get("head_pipeline") or {}
    return ChangeRequest(
        project_id=project_id,
        iid=int(a["iid"]),
        title=str(a.get("title") or ""),
        state=_state(a["state"]),
        source_branch=str(a["source_branch"]),
        target_branch=str(a["target_branch"]),
        sha=str(a.get("sha") or ""),
        draft=bool(a.get("draft", a.get("work_in_progress", False))),
        labels=tuple(str(label) for label in a.get("labels") or ()),
        author_username=str((a.get("author") or {}).get("username") or ""),
        web_url=str(a.get("web_url") or ""),
        updated_at=_timestamp(a.get("updated_at")),
        head_pipeline_sha=str(pipeline.get("sha") or ""),
        head_pipeline_status=str(pipeline.get("status") or ""),
        head_pipeline_passed=pipeline.get("status") == "success",
    )


def _pipeline(a: dict[str, Any]) -> ChangePipeline:
    status = str(a.get("status") or "")
    return ChangePipeline(sha=str(a["sha"]), ref=str(a.get("ref") or ""), status=status,
                          passed=status == "success")


def _commit_pipeline(a: dict[str, Any]) -> CommitPipeline:
    status = str(a.get("status") or "")
    state = (PipelineState.PASSED if status == "success" else
             PipelineState.FAILED if status in _PIPELINE_FAILED else PipelineState.RUNNING)
    return CommitPipeline(state, status, _timestamp(a.get("updated_at")))


def _state(value: object) -> ChangeState:
    try:
        return _STATES[str(value)]
    except KeyError:
        raise PermanentError(f"GitLab answered an unknown merge request state {value!r}") from None
