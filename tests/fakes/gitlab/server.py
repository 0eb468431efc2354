"""`FakeGitLab`: a local HTTP server speaking enough GitLab REST v4 for previewbot.

    with FakeGitLab() as fake:
        project = fake.add_project("group/app")
        gl = gitlab.Gitlab(fake.url, private_token=fake.token)
        gl.projects.get("group/app")

Routes: see `tests.fakes.gitlab.routes`; branches exist once `add_branch` made them.
E-mail visibility: see `tests.fakes.gitlab.render` (the token's user is an administrator
unless `admin=False`, so `/users` shows `email`).
Failure injection: `set_down(True)` answers 503 to everything; `fail_next(n, status)`
answers the next n requests with `status` (429 with `Retry-After`); `hang_next(n, seconds)`
does the next n requests at once but answers them only after `seconds`, as a GitLab under
load does: the client times out, the work was done. Both take `method=` and `path_contains=` to pick
which requests. Every request is recorded in `requests`, with the time it was answered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from tests.fakes.gitlab.call import GitLabCall
from tests.fakes.gitlab.records import (
    GitLabApiError,
    GitLabStore,
    Member,
    MergeRequest,
    Pipeline,
    Project,
    User,
    now_iso,
)
from tests.fakes.gitlab.render import GitLabRenderer
from tests.fakes.gitlab.routes import find_route, path_exists
from tests.fakes.http import (
    BodyError,
    FakeHttpServer,
    HttpRequest,
    RecordedRequest,
    Reply,
    decode_body,
)

API_PREFIX = "/api/v4"


@dataclass
class _Injection:
    """One injected misbehaviour, for the next request that matches."""

    method: str | None
    path_contains: str
    status: int = 0  # answer this instead (0: handle the request)
    retry_after: str = "1"  # with a 429
    hang: float = 0.0  # seconds to hold the request before handling it
    gate: threading.Event | None = None  # held until set (at most `hang` seconds)

    def matches(self, request: HttpRequest) -> bool:
        return ((self.method is None or request.method == self.method.upper())
                and self.path_contains in request.path)
MR_FIELDS = frozenset(
    {"title", "description", "state", "source_branch", "target_branch", "sha", "draft", "labels",
     "head_pipeline"}
)


class FakeGitLab(FakeHttpServer):
    def __init__(
        self, token: str = "glpat-test-token", *, admin: bool = True, username: str = "previewbot"
    ) -> None:
        super().__init__()
        self.token = token
        self._store = GitLabStore()
        self._recorded: list[RecordedRequest] = []
        self._injections: list[_Injection] = []
        self._released = threading.Event()  # set on stop(): hung requests end at once
        bot = self._new_user(username, email=f"{username}@example.com", name="previewbot")
        bot.is_admin = admin
        self._user_id_by_token: dict[str, int] = {token: bot.id}

    @property
    def url(self) -> str:
        """The base URL for `gitlab.Gitlab(url, ...)` (python-gitlab appends /api/v4)."""
        return self.base_url

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX

    # --- seeding -------------------------------------------------------------------
    def add_project(
        self, path_with_namespace: str, *, id: int | None = None, default_branch: str = "main"
    ) -> dict[str, Any]:
        with self._lock:
            if any(
                p.path_with_namespace == path_with_namespace for p in self._store.projects.values()
            ):
                raise ValueError(f"project {path_with_namespace!r} already exists in the fake")
            project = Project(self._store.project_ids.take(id), path_with_namespace, default_branch)
            self._store.projects[project.id] = project
            return self._renderer().project(project)

    def rename_project(self, project_id: int, new_path: str) -> None:
        """Rename or transfer a project: its id stays, its old path redirects."""
        with self._lock:
            project = self._store.projects[project_id]
            project.former_paths.append(project.path_with_namespace)
            project.path_with_namespace = new_path

    def add_user(
        self,
        username: str,
        *,
        email: str,
        name: str | None = None,
        id: int | None = None,
        public_email: str = "",
    ) -> dict[str, Any]:
        """A GitLab user; `public_email` is empty unless given, as on a fresh account."""
        with self._lock:
            user = self._new_user(
                username, email=email, name=name, id=id, public_email=public_email
            )
            return self._renderer().user(user)

    def add_token(self, token: str, username: str) -> None:
        """Let `token` act as the existing user `username` (e.g. a non-admin caller)."""
        with self._lock:
            user = self._store.user_by_username(username)
            if user is None:
                raise ValueError(f"no user {username!r} in the fake; add_user() first")
            self._user_id_by_token[token] = user.id

    def add_member(self, project_id: int | str, user_id: int, access_level: int) -> dict[str, Any]:
        """Make a user a direct project member (30 developer, 40 maintainer, 50 owner)."""
        with self._lock:
            project = self._store.project(project_id)
            self._store.user(user_id)
            member = Member(user_id, access_level)
            self._store.members.setdefault(project.id, {})[user_id] = member
            return self._renderer().member(member)

    def add_branch(self, project_id: int | str, name: str, sha: str) -> dict[str, Any]:
        """Create the branch `name`, or move it to `sha` (a push)."""
        with self._lock:
            project = self._store.project(project_id)
            self._store.branches.setdefault(project.id, {})[name] = sha
            return self._renderer().branch(project, name, sha)

    def delete_merge_request(self, project_id: int | str, iid: int) -> None:
        """Delete the MR (as an admin can): its API answers 404 from then on."""
        with self._lock:
            project = self._store.project(project_id)
            self._store.merge_requests.pop((project.id, iid), None)

    def delete_branch(self, project_id: int | str, name: str) -> None:
        """Delete the branch `name` (as a push that deletes it would)."""
        with self._lock:
            project = self._store.project(project_id)
            self._store.branches.get(project.id, {}).pop(name, None)

    def add_merge_request(
        self,
        project_id: int | str,
        *,
        iid: int,
        source_branch: str,
        author_username: str,
        sha: str,
        title: str | None = None,
        state: str = "opened",
        labels: tuple[str, ...] | list[str] = (),
        draft: bool = False,
        target_branch: str = "main",
        changed_paths: Sequence[str | tuple[str, str]] = (),
    ) -> dict[str, Any]:
        """An MR; an unknown author gets e-mail `<username>@example.com`; `(old, new)` renames."""
        with self._lock:
            project = self._store.project(project_id)
            if (project.id, iid) in self._store.merge_requests:
                raise ValueError(f"MR !{iid} already exists in {project.path_with_namespace}")
            author = self._store.user_by_username(author_username) or self._new_user(
                author_username, email=f"{author_username}@example.com"
            )
            mr = MergeRequest(
                id=self._store.mr_ids.take(),
                iid=iid,
                project_id=project.id,
                title=title if title is not None else f"Change {source_branch}",
                source_branch=source_branch,
                target_branch=target_branch,
                sha=sha,
                author_id=author.id,
                draft=draft,
                labels=list(labels),
                changed_paths=list(changed_paths),
            )
            self._store.merge_requests[(project.id, iid)] = mr
            self._set_mr_state(mr, state)
            return self._renderer().merge_request(mr)

    def update_merge_request(
        self, project_id: int | str, iid: int, **fields: Any
    ) -> dict[str, Any]:
        """Change MR fields (title, state, sha, labels, draft, branches, changed_paths, …)."""
        unknown = set(fields) - MR_FIELDS - {"changed_paths"}
        if unknown:
            raise TypeError(f"unknown merge request fields: {sorted(unknown)}")
        with self._lock:
            mr = self._store.merge_request(self._store.project(project_id).id, iid)
            for name, value in fields.items():
                if name in ("labels", "changed_paths"):
                    setattr(mr, name, list(value))
                elif name != "state":
                    setattr(mr, name, value)
            if fields.get("head_pipeline"):
                self._record_head_pipeline(mr, fields["head_pipeline"])
            if "state" in fields:
                self._set_mr_state(mr, fields["state"])
            mr.updated_at = now_iso()
            return self._renderer().merge_request(mr)

    def add_pipeline(
        self, project_id: int | str, *, sha: str, ref: str, status: str = "success",
        source: str = "merge_request_event", merge_request_iid: int | None = None,
    ) -> dict[str, Any]:
        """A pipeline of the project (listed by GET /projects/:id/pipelines); with
        ``merge_request_iid`` also one of that MR's (GET …/merge_requests/:iid/pipelines)."""
        with self._lock:
            project = self._store.project(project_id)
            pipeline = Pipeline(self._store.pipeline_ids.take(), project.id, sha, ref, status,
                                source, merge_request_iid=merge_request_iid)
            self._store.pipelines[pipeline.id] = pipeline
            return self._renderer().pipeline(pipeline)

    def set_pipeline_status(self, project_id: int | str, pipeline_id: int,
                            status: str) -> dict[str, Any]:
        """The pipeline moves on (running → success, …), as GitLab shows it: its
        ``updated_at`` is when it changed, so a finished one's is when it ended."""
        with self._lock:
            pipeline = self._store.pipelines.get(pipeline_id)
            if pipeline is None or pipeline.project_id != self._store.project(project_id).id:
                raise KeyError(f"no pipeline {pipeline_id} in project {project_id}")
            pipeline.status = status
            pipeline.updated_at = now_iso()
            return self._renderer().pipeline(pipeline)

    # --- inspection ----------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._recorded)

    def find_requests(
        self, method: str | None = None, path_contains: str = ""
    ) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper()) and path_contains in r.path
        ]

    def environments(self, project_id: int | str) -> list[dict[str, Any]]:
        with self._lock:
            project = self._store.project(project_id)
            envs = sorted(self._store.project_environments(project.id), key=lambda e: e.id)
            return [self._renderer().environment(env) for env in envs]

    def stop_environment_by_id(self, project_id: int | str, environment_id: int) -> None:
        """Stop an environment as its owner (CI, a person) would."""
        with self._lock:
            env = self._store.environment(self._store.project(project_id).id, environment_id)
            env.state = "stopped"
            env.updated_at = now_iso()

    def notes(self, project_id: int | str, iid: int) -> list[dict[str, Any]]:
        """The MR's notes, oldest first."""
        with self._lock:
            project = self._store.project(project_id)
            notes = sorted(self._store.merge_request_notes(project.id, iid), key=lambda n: n.id)
            return [self._renderer().note(note) for note in notes]

    def merge_request(self, project_id: int | str, iid: int) -> dict[str, Any]:
        with self._lock:
            mr = self._store.merge_request(self._store.project(project_id).id, iid)
            return self._renderer().merge_request(mr)

    # --- failure injection ---------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500, *, method: str | None = None,
                  path_contains: str = "", retry_after: int = 1) -> None:
        """Answer the next `n` requests (of `method`, whose path contains `path_contains`)
        with `status`; a 429 carries `Retry-After: retry_after`, as GitLab's rate limiter."""
        with self._lock:
            self._injections.extend(_Injection(method, path_contains, status=status,
                                               retry_after=str(retry_after))
                                    for _ in range(n))

    def heal(self) -> None:
        """Drop the failures and hangs still armed: GitLab answers normally again."""
        with self._lock:
            self._injections.clear()

    def hang_next(self, n: int = 1, seconds: float = 15.0, *, method: str | None = None,
                  path_contains: str = "") -> None:
        """Answer the next `n` matching requests only after `seconds`. GitLab does the work
        at once; the answer comes late, so a client with a shorter timeout gives up not
        knowing it was done (a GitLab under load, a slow proxy)."""
        with self._lock:
            self._injections.extend(_Injection(method, path_contains, hang=seconds)
                                    for _ in range(n))

    def hold_next(self, *, method: str | None = None, path_contains: str = "",
                  at_most: float = 30.0) -> threading.Event:
        """Answer the next matching request only once the returned event is set (or after
        ``at_most`` seconds): GitLab did the work, the answer is held, so a test can make
        something else happen exactly while a caller waits for GitLab."""
        gate = threading.Event()
        with self._lock:
            self._injections.append(_Injection(method, path_contains, hang=at_most,
                                               gate=gate))
        return gate

    def stop(self) -> None:
        self._released.set()
        super().stop()

    # --- internals -----------------------------------------------------------------
    def _new_user(
        self,
        username: str,
        *,
        email: str,
        name: str | None = None,
        id: int | None = None,
        public_email: str = "",
    ) -> User:
        if self._store.user_by_username(username) is not None:
            raise ValueError(f"user {username!r} already exists in the fake")
        display = name if name is not None else username.replace(".", " ").title()
        user = User(self._store.user_ids.take(id), username, display, email, public_email)
        self._store.users[user.id] = user
        return user

    @staticmethod
    def _set_mr_state(mr: MergeRequest, state: str) -> None:
        if state not in ("opened", "closed", "locked", "merged"):
            raise ValueError(f"unknown merge request state {state!r}")
        mr.state = state
        mr.merged_at = now_iso() if state == "merged" else None
        mr.closed_at = now_iso() if state == "closed" else None

    def _record_head_pipeline(self, mr: MergeRequest, head: dict[str, Any]) -> None:
        """An MR's head pipeline is also one of the project's pipelines (same id) and one
        of the MR's own. Its ``sha`` is the MR head, or for a merged-results pipeline
        (ref ``refs/merge-requests/<iid>/merge``) the merge commit it ran on."""
        pipeline_id = int(head.get("id") or self._store.pipeline_ids.take())
        self._store.pipeline_ids.take(pipeline_id)
        head["id"] = pipeline_id
        self._store.pipelines[pipeline_id] = Pipeline(
            pipeline_id, mr.project_id, str(head.get("sha") or mr.sha),
            str(head.get("ref") or f"refs/merge-requests/{mr.iid}/head"),
            str(head.get("status") or "success"), merge_request_iid=mr.iid)

    def _renderer(self, viewer_is_admin: bool = True) -> GitLabRenderer:
        web_base = self.base_url if self._server is not None else "http://gitlab.fake.invalid"
        return GitLabRenderer(self._store, web_base, viewer_is_admin)

    def _dispatch(self, request: HttpRequest) -> Reply:
        with self._lock:
            injection = self._take_injection(request, hanging=True)
        reply = super()._dispatch(request)
        if injection is not None:  # held outside the lock: other requests go on
            (injection.gate or self._released).wait(injection.hang)
        return reply

    def _take_injection(self, request: HttpRequest, *, hanging: bool) -> _Injection | None:
        for position, injection in enumerate(self._injections):
            if (injection.hang > 0) == hanging and injection.matches(request):
                return self._injections.pop(position)
        return None

    def _answer(self, request: HttpRequest) -> Reply:
        try:
            body: dict[str, Any] | None = decode_body(request)
        except BodyError:
            body = None
        reply = self._reply_to(request, body)
        self._recorded.append(
            RecordedRequest(
                request.method, request.path, request.query, body, request.headers, reply.status,
                time.monotonic(),
            )
        )
        return reply

    def _reply_to(self, request: HttpRequest, body: dict[str, Any] | None) -> Reply:
        if self._down:
            return _error(503)
        failure = self._take_injection(request, hanging=False)
        if failure is not None:
            return _error(failure.status,
                          {"Retry-After": failure.retry_after} if failure.status == 429 else {})
        viewer = self._viewer(request)
        if viewer is None:
            return _error(401)
        if not request.path.startswith(API_PREFIX + "/"):
            return _error(404)
        if body is None:
            return Reply(400, {"message": "400 Bad request - the body is not valid JSON"})
        return self._route(request, body, viewer)

    def _viewer(self, request: HttpRequest) -> User | None:
        token = request.header("private-token")
        authorization = request.header("authorization") or ""
        if token is None and authorization.lower().startswith("bearer "):
            token = authorization[len("bearer ") :].strip()
        user_id = self._user_id_by_token.get(token or "")
        return None if user_id is None else self._store.users.get(user_id)

    def _route(self, request: HttpRequest, body: dict[str, Any], viewer: User) -> Reply:
        api_path = request.path[len(API_PREFIX) :]
        found = find_route(request.method, api_path)
        if found is None:
            return _error(405 if path_exists(api_path) else 404)
        handler, params = found
        renderer = self._renderer(viewer_is_admin=viewer.is_admin)
        call = GitLabCall(request, params, body, viewer, self._store, renderer, self.base_url)
        try:
            return handler(call)
        except GitLabApiError as exc:
            return Reply(exc.status, exc.body)


def _error(status: int, headers: dict[str, str] | None = None) -> Reply:
    """GitLab's generic error body: {"message": "404 Not Found"} and the like."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return Reply(status, {"message": f"{status} {phrase}"}, headers or {})
