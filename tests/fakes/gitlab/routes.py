"""Route table of the fake GitLab REST v4 API (paths relative to `/api/v4`)."""

from __future__ import annotations

import re

from tests.fakes.gitlab.call import Handler
from tests.fakes.gitlab.handlers import environments as env
from tests.fakes.gitlab.handlers import projects as h

_PROJECT = r"/projects/(?P<project>[^/]+)"
_MR = _PROJECT + r"/merge_requests/(?P<iid>\d+)"
_ENV = _PROJECT + r"/environments/(?P<env_id>\d+)"

ROUTES: tuple[tuple[str, re.Pattern[str], Handler], ...] = tuple(
    (method, re.compile(pattern + r"/?"), handler)
    for method, pattern, handler in (
        ("GET", r"/version", h.get_version),
        ("GET", r"/user", h.get_current_user),
        ("GET", r"/users", h.list_users),
        ("GET", r"/users/(?P<user_id>\d+)", h.get_user),
        ("GET", _PROJECT, h.get_project),
        ("GET", _PROJECT + r"/repository/branches/(?P<branch>.+)", h.get_branch),
        ("GET", _PROJECT + r"/members(?:/all)?", h.list_members),
        ("GET", _PROJECT + r"/members(?:/all)?/(?P<user_id>\d+)", h.get_member),
        ("GET", _PROJECT + r"/merge_requests", h.list_merge_requests),
        ("GET", _MR, h.get_merge_request),
        ("GET", _PROJECT + r"/pipelines", h.list_pipelines),
        ("GET", _MR + r"/pipelines", h.list_merge_request_pipelines),
        ("GET", _MR + r"/changes", h.get_merge_request_changes),
        ("GET", _MR + r"/diffs", h.list_merge_request_diffs),
        ("GET", _MR + r"/notes", env.list_notes),
        ("POST", _MR + r"/notes", env.create_note),
        ("GET", _MR + r"/notes/(?P<note_id>\d+)", env.get_note),
        ("PUT", _MR + r"/notes/(?P<note_id>\d+)", env.update_note),
        ("DELETE", _MR + r"/notes/(?P<note_id>\d+)", env.delete_note),
        ("GET", _PROJECT + r"/environments", env.list_environments),
        ("POST", _PROJECT + r"/environments", env.create_environment),
        ("GET", _ENV, env.get_environment),
        ("PUT", _ENV, env.update_environment),
        ("POST", _ENV + r"/stop", env.stop_environment),
        ("DELETE", _ENV, env.delete_environment),
    )
)


def find_route(method: str, api_path: str) -> tuple[Handler, dict[str, str]] | None:
    """The handler and path parameters for `api_path`, or None when nothing matches."""
    for route_method, pattern, handler in ROUTES:
        match = pattern.fullmatch(api_path)
        if match is not None and route_method == method:
            return handler, match.groupdict()
    return None


def path_exists(api_path: str) -> bool:
    """Whether some method is routed on `api_path` (GitLab then answers 405, not 404)."""
    return any(pattern.fullmatch(api_path) for _, pattern, _ in ROUTES)
