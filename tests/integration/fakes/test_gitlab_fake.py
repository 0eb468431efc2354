"""The GitLab fake answers the real python-gitlab client over real HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import gitlab
import pytest
from gitlab.v4.objects import Project

from tests.fakes import DEVELOPER, MAINTAINER, FakeGitLab

SHA = "0123456789abcdef0123456789abcdef01234567"


# --- GitLab --------------------------------------------------------------------------
def _client(fake: FakeGitLab, token: str | None = None) -> gitlab.Gitlab:
    return gitlab.Gitlab(fake.url, private_token=token or fake.token)


def _seeded_project(fake: FakeGitLab) -> Project:
    fake.add_project("group/app", id=42)
    fake.add_user("alice", email="alice@corp.example", name="Alice A", id=7)
    return _client(fake).projects.get("group/app")


def test_project_is_found_by_encoded_path_and_by_id(fake_gitlab: FakeGitLab) -> None:
    by_path = _seeded_project(fake_gitlab)
    by_id = _client(fake_gitlab).projects.get(42)

    assert (by_path.id, by_id.path_with_namespace) == (42, "group/app")
    paths = [r.path for r in fake_gitlab.find_requests("GET", "/projects/")]
    assert paths == ["/api/v4/projects/group%2Fapp", "/api/v4/projects/42"]
    assert fake_gitlab.requests[0].header("PRIVATE-TOKEN") == fake_gitlab.token


def test_merge_requests_are_listed_by_iids(fake_gitlab: FakeGitLab) -> None:
    project = _seeded_project(fake_gitlab)
    for iid in (1, 2, 3):
        fake_gitlab.add_merge_request(
            42, iid=iid, source_branch=f"feat/{iid}", author_username="alice", sha=SHA
        )

    listed = project.mergerequests.list(iids=[1, 3], get_all=True)

    assert sorted(mr.iid for mr in listed) == [1, 3]
    assert fake_gitlab.find_requests("GET", "/merge_requests")[-1].query["iids[]"] == ["1", "3"]


def test_merge_request_carries_the_fields_the_bot_reads(fake_gitlab: FakeGitLab) -> None:
    project = _seeded_project(fake_gitlab)
    fake_gitlab.add_merge_request(
        42,
        iid=5,
        source_branch="feat/login",
        author_username="alice",
        sha=SHA,
        labels=("preview",),
        draft=True,
        changed_paths=("src/app.py", "charts/values.yaml"),
    )
    fake_gitlab.update_merge_request(42, 5, title="Login page", draft=False)

    mr = project.mergerequests.get(5)
    changes = mr.changes()
    diffs = _client(fake_gitlab).http_list("/projects/42/merge_requests/5/diffs", get_all=True)

    assert (mr.title, mr.state, mr.sha, mr.draft, mr.work_in_progress) == (
        "Login page", "opened", SHA, False, False,
    )  # fmt: skip
    assert (mr.source_branch, mr.target_branch, mr.labels) == ("feat/login", "main", ["preview"])
    assert mr.author["username"] == "alice"
    assert mr.web_url.endswith("/group/app/-/merge_requests/5")
    assert isinstance(changes, dict)
    assert isinstance(diffs, list)
    assert [c["new_path"] for c in changes["changes"]] == ["src/app.py", "charts/values.yaml"]
    assert [d["new_path"] for d in diffs] == ["src/app.py", "charts/values.yaml"]


def test_environment_lifecycle_follows_gitlab_rules(fake_gitlab: FakeGitLab) -> None:
    project = _seeded_project(fake_gitlab)
    env = project.environments.create({"name": "review/feat-x", "external_url": "https://a.test"})
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as duplicate:
        project.environments.create({"name": "review/feat-x"})
    env.external_url = "https://b.test"
    env.save()
    with pytest.raises(gitlab.exceptions.GitlabDeleteError) as still_available:
        env.delete()
    assert fake_gitlab.environments(42)[0]["external_url"] == "https://b.test"

    env.stop()
    assert fake_gitlab.environments(42)[0]["state"] == "stopped"
    env.delete()

    assert duplicate.value.response_code == 400
    assert "has already been taken" in str(duplicate.value.error_message)
    assert still_available.value.response_code == 403
    assert (env.slug[:14], env.tier) == ("review-feat-x-", "development")
    assert fake_gitlab.environments(42) == []


@pytest.mark.parametrize(
    ("filters", "expected_names"),
    [
        ({"name": "review/a"}, ["review/a"]),
        ({"search": "review"}, ["review/a", "review/b"]),
        ({"states": "stopped"}, ["review/b"]),
        ({"states": "available"}, ["review/a", "production"]),
    ],
)
def test_environments_are_filtered_like_gitlab(
    fake_gitlab: FakeGitLab, filters: dict[str, Any], expected_names: list[str]
) -> None:
    project = _seeded_project(fake_gitlab)
    for name in ("review/a", "review/b", "production"):
        project.environments.create({"name": name})
    project.environments.get(2).stop()

    listed = project.environments.list(get_all=True, **filters)

    assert [env.name for env in listed] == expected_names
    assert fake_gitlab.find_requests("GET", "/environments")[-1].query == {
        key: [value] for key, value in filters.items()
    }


def test_merge_request_note_is_edited_in_place(fake_gitlab: FakeGitLab) -> None:
    project = _seeded_project(fake_gitlab)
    fake_gitlab.add_merge_request(42, iid=9, source_branch="b", author_username="alice", sha=SHA)
    mr = project.mergerequests.get(9, lazy=True)

    note = mr.notes.create({"body": "Preview deploying"})
    note.body = "Preview ready: https://app-mr-9.preview.test"
    note.save()

    notes = fake_gitlab.notes(42, 9)
    assert [n["body"] for n in notes] == ["Preview ready: https://app-mr-9.preview.test"]
    assert (notes[0]["noteable_type"], notes[0]["noteable_iid"], notes[0]["system"]) == (
        "MergeRequest", 9, False,
    )  # fmt: skip
    assert notes[0]["author"]["username"] == "previewbot"
    assert [n.body for n in mr.notes.list(get_all=True)] == [notes[0]["body"]]
    assert fake_gitlab.find_requests("PUT", "/notes/")[0].json == {"body": notes[0]["body"]}


def test_maintainers_are_mapped_to_email_through_users(fake_gitlab: FakeGitLab) -> None:
    project = _seeded_project(fake_gitlab)
    fake_gitlab.add_user("bob", email="bob@corp.example", id=8)
    fake_gitlab.add_member(42, 7, MAINTAINER)
    fake_gitlab.add_member(42, 8, DEVELOPER)
    gl = _client(fake_gitlab)

    members = {m.username: m for m in project.members_all.list(get_all=True)}
    by_search = gl.users.list(search="alice@corp.example")
    by_username = gl.users.list(username="bob")

    assert {name: m.access_level for name, m in members.items()} == {"alice": 40, "bob": 30}
    assert "email" not in members["alice"].attributes  # GitLab hides it on members
    assert [u.username for u in by_search] == ["alice"]
    assert gl.users.get(members["alice"].id).email == "alice@corp.example"
    assert [u.email for u in by_username] == ["bob@corp.example"]
    assert project.members_all.get(7).access_level == MAINTAINER


def test_non_admin_token_sees_only_public_email(fake_gitlab: FakeGitLab) -> None:
    _seeded_project(fake_gitlab)
    carol = fake_gitlab.add_user(
        "carol", email="carol@corp.example", public_email="carol@public.test"
    )
    fake_gitlab.add_token("glpat-alice", "alice")
    gl = _client(fake_gitlab, token="glpat-alice")

    carol_by_id = gl.users.get(carol["id"])
    carol_by_public = gl.users.list(search="carol@public.test")

    assert "email" not in carol_by_id.attributes
    assert carol_by_id.public_email == "carol@public.test"
    assert [u.username for u in carol_by_public] == ["carol"]
    assert gl.users.list(search="carol@corp.example") == []
    assert fake_gitlab.requests[-1].header("private-token") == "glpat-alice"


def test_pagination_walks_every_page(fake_gitlab: FakeGitLab) -> None:
    project = _seeded_project(fake_gitlab)
    for iid in range(1, 46):
        fake_gitlab.add_merge_request(
            42, iid=iid, source_branch=f"b{iid}", author_username="alice", sha=SHA
        )

    everything = project.mergerequests.list(get_all=True)
    third_page = project.mergerequests.list(page=3, per_page=20)
    lazily = project.mergerequests.list(iterator=True)

    assert sorted(mr.iid for mr in everything) == list(range(1, 46))
    assert len(third_page) == 5
    assert (lazily.total, lazily.total_pages, lazily.next_page) == (45, 3, 2)
    pages = [r.query.get("page") for r in fake_gitlab.find_requests("GET", "/merge_requests")]
    assert pages[:3] == [None, ["2"], ["3"]]


def test_bad_token_raises_authentication_error(fake_gitlab: FakeGitLab) -> None:
    _seeded_project(fake_gitlab)

    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError):
        _client(fake_gitlab, token="glpat-wrong").projects.get(42)

    assert fake_gitlab.requests[-1].status == 401
    assert fake_gitlab.requests[-1].header("private-token") == "glpat-wrong"


def test_bearer_token_is_accepted(fake_gitlab: FakeGitLab) -> None:
    gl = gitlab.Gitlab(fake_gitlab.url, oauth_token=fake_gitlab.token)

    gl.auth()

    assert gl.user is not None
    assert gl.user.username == "previewbot"
    assert fake_gitlab.requests[-1].header("authorization") == f"Bearer {fake_gitlab.token}"


def test_down_and_injected_failures_surface_as_errors(fake_gitlab: FakeGitLab) -> None:
    project = _seeded_project(fake_gitlab)
    fake_gitlab.set_down(True)
    with pytest.raises(gitlab.exceptions.GitlabGetError) as down:
        project.mergerequests.get(1)
    fake_gitlab.set_down(False)
    fake_gitlab.fail_next(1, status=500)
    with pytest.raises(gitlab.exceptions.GitlabListError) as failed:
        project.environments.list(get_all=True)

    recovered = project.environments.list(get_all=True)

    assert (down.value.response_code, failed.value.response_code) == (503, 500)
    assert recovered == []
    assert [r.status for r in fake_gitlab.requests[-3:]] == [503, 500, 200]


def _raw_request(url: str, method: str, body: bytes, token: str) -> tuple[int, Any]:
    headers = {"PRIVATE-TOKEN": token, "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.mark.parametrize(
    ("method", "path", "body", "expected_status", "expected_body"),
    [
        ("GET", "/api/v4/nothing/here", b"", 404, {"message": "404 Not Found"}),
        ("POST", "/api/v4/projects/42/environments", b"{not json", 400, None),
        ("POST", "/api/v4/projects/42/environments", b"{}", 400, {"error": "name is missing"}),
        ("GET", "/api/v4/projects/404", b"", 404, {"message": "404 Project Not Found"}),
        ("PATCH", "/api/v4/projects/42", b"", 405, {"message": "405 Method Not Allowed"}),
    ],
)
def test_malformed_requests_get_gitlab_errors(
    fake_gitlab: FakeGitLab,
    method: str,
    path: str,
    body: bytes,
    expected_status: int,
    expected_body: dict[str, str] | None,
) -> None:
    fake_gitlab.add_project("group/app", id=42)

    status, answer = _raw_request(fake_gitlab.url + path, method, body, fake_gitlab.token)

    assert status == expected_status
    assert expected_body is None or answer == expected_body
    assert fake_gitlab.requests[-1].status == expected_status


def test_stopped_fake_refuses_connections() -> None:
    with FakeGitLab() as fake:
        url = fake.url
        assert _client(fake).version()[0] != "unknown"

    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/api/v4/version", timeout=5)
