"""What a fake GitLab route handler receives, plus GitLab-style pagination."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tests.fakes.gitlab.records import GitLabApiError, GitLabStore, Project, User
from tests.fakes.gitlab.render import GitLabRenderer
from tests.fakes.http import HttpRequest, Reply

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class GitLabCall:
    """One authenticated API call: the request, its path parameters and decoded body."""

    request: HttpRequest
    params: dict[str, str]
    body: dict[str, Any]
    viewer: User
    store: GitLabStore
    render: GitLabRenderer
    base_url: str  # scheme://host:port, for pagination links

    def project(self) -> Project:
        return self.store.project(self.params["project"])

    def query(self, name: str) -> str | None:
        return self.request.query_value(name)

    def query_list(self, name: str) -> list[str]:
        """An array parameter: `name[]=a&name[]=b`, or `name=a,b`."""
        values = list(self.request.query.get(f"{name}[]", []))
        for joined in self.request.query.get(name, []):
            values.extend(v for v in joined.split(",") if v)
        return values

    def field(self, name: str) -> Any:
        """A parameter from the body, else from the query string (GitLab accepts both)."""
        if name in self.body:
            return self.body[name]
        return self.query(name)

    def required_field(self, name: str) -> str:
        value = self.field(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            # Grape's validation message, under "error" like GitLab answers it.
            raise GitLabApiError(400, f"{name} is missing", key="error")
        return str(value)


Handler = Callable[[GitLabCall], Reply]


def positive_int_query(call: GitLabCall, name: str, default: int) -> int:
    raw = call.query(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise GitLabApiError(400, f"{name} is invalid", key="error")
    return int(raw)


def paginated(call: GitLabCall, items: Sequence[dict[str, Any]]) -> Reply:
    """One page of `items` with GitLab's X-* headers and a Link header (rel next/prev/…)."""
    page = positive_int_query(call, "page", 1)
    per_page = min(positive_int_query(call, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    total_pages = max(1, math.ceil(len(items) / per_page))
    chunk = list(items[(page - 1) * per_page : page * per_page])
    next_page = page + 1 if page < total_pages else None
    prev_page = page - 1 if page > 1 else None
    headers = {
        "X-Page": str(page),
        "X-Per-Page": str(per_page),
        "X-Total": str(len(items)),
        "X-Total-Pages": str(total_pages),
        "X-Next-Page": str(next_page or ""),
        "X-Prev-Page": str(prev_page or ""),
        "Link": _link_header(call, per_page, prev_page, next_page, total_pages),
    }
    return Reply(200, chunk, headers)


def _link_header(
    call: GitLabCall, per_page: int, prev_page: int | None, next_page: int | None, last: int
) -> str:
    relations = {"prev": prev_page, "next": next_page, "first": 1, "last": last}
    links = [
        f'<{_page_url(call, per_page, number)}>; rel="{rel}"'
        for rel, number in relations.items()
        if number is not None
    ]
    return ", ".join(links)


def _page_url(call: GitLabCall, per_page: int, page: int) -> str:
    query = {k: v for k, v in call.request.query.items() if k not in ("page", "per_page")}
    query["page"] = [str(page)]
    query["per_page"] = [str(per_page)]
    return f"{call.base_url}{call.request.path}?{urlencode(query, doseq=True)}"
