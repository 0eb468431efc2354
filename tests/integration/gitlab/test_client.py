"""`bot.gitlab.GitLab` against the stateful fake GitLab, over real HTTP with python-gitlab."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import gitlab
import pytest

from bot.domain.changes import (
    ChangePipeline,
    ChangeRequest,
    ChangeState,
    PipelineState,
    SourceProject,
)
from bot.domain.errors import AccessError, PermanentError, TemporaryError
from bot.engine.ports import ChangeSource
from bot.gitlab.client import GitLab
from tests.fakes import DEVELOPER, MAINTAINER, OWNER, REPORTER, FakeGitLab

SHA = "0123456789abcdef0123456789abcdef01234567"
SHA2 = "89abcdef0123456789abcdef0123456789abcdef"
MARKER = "<!-- previewbot:group-app-mr-7 -->"
ENV = "review/feat/login"


def _adapter(fake: FakeGitLab, token: str | None = None) -> GitLab:
    return GitLab(fake.url, token or fake.token, timeout=5.0)


def _seed(fake: FakeGitLab) -> GitLab:
    fake.add_project("group/app", id=42)
    fake.add_user("alice", email="alice@corp.example", name="Alice A", id=7)
    fake.add_merge_request(42, iid=7, source_branch="feat/login", author_username="alice", sha=SHA)
    return _adapter(fake)


def _writes(fake: FakeGitLab) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests if r.method != "GET"]


# --- reads ---------------------------------------------------------------------------
def test_adapter_is_lazy_and_satisfies_the_port(fake_gitlab: FakeGitLab) -> None:
    adapter: ChangeSource = _adapter(fake_gitlab)

    assert fake_gitlab.requests == []
    assert adapter.check() == "previewbot"
    assert [r.path for r in fake_gitlab.requests] == ["/api/v4/user"]


@pytest.mark.parametrize(
    ("key", "expected_path"),
    [("group/app", "/api/v4/projects/group%2Fapp"), (42, "/api/v4/projects/42")],
)
def test_project_by_path_and_by_id(
    fake_gitlab: FakeGitLab, key: str | int, expected_path: str
) -> None:
    adapter = _seed(fake_gitlab)

    found = adapter.project(key)

    assert found == SourceProject(42, "group/app", "main", f"{fake_gitlab.url}/group/app")
    assert [r.path for r in fake_gitlab.requests] == [expected_path]


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        (
            {"labels": ("preview", "backend"), "draft": True, "title": "Login page"},
            {
                "labels": ("preview", "backend"),
                "draft": True,
                "title": "Login page",
                "state": ChangeState.OPEN,
            },
        ),
        (
            {"state": "merged", "target_branch": "release"},
            {
                "labels": (),
                "draft": False,
                "title": "Change feat/x",
                "state": ChangeState.MERGED,
                "target_branch": "release",
            },
        ),
    ],
)
def test_merge_request_fields(
    fake_gitlab: FakeGitLab, seed: dict[str, Any], expected: dict[str, Any]
) -> None:
    adapter = _seed(fake_gitlab)
    fake_gitlab.add_merge_request(
        42, iid=8, source_branch="feat/x", author_username="bob", sha=SHA, **seed
    )

    mr = adapter.change_request(42, 8)

    assert isinstance(mr, ChangeRequest)
    assert {name: getattr(mr, name) for name in expected} == expected
    assert (mr.project_id, mr.iid, mr.source_branch, mr.sha) == (42, 8, "feat/x", SHA)
    assert (mr.author_username, mr.web_url) == ("bob", fake_gitlab.merge_request(42, 8)["web_url"])
    assert isinstance(mr.updated_at, datetime)
    assert mr.updated_at.utcoffset() is not None
    assert [r.path for r in fake_gitlab.requests] == ["/api/v4/projects/42/merge_requests/8"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ((), ()),
        (
            ("src/app.py", ("old/name.py", "new/name.py"), "src/app.py"),
            ("src/app.py", "old/name.py", "new/name.py"),
        ),
        (tuple(f"f{i:03}.txt" for i in range(130)), tuple(f"f{i:03}.txt" for i in range(130))),
    ],
)
def test_changed_paths_lists_old_and_new_paths_of_every_page(
    fake_gitlab: FakeGitLab, changes: tuple[Any, ...], expected: tuple[str, ...]
) -> None:
    adapter = _seed(fake_gitlab)
    fake_gitlab.update_merge_request(42, 7, changed_paths=changes)

    assert adapter.changed_paths(42, 7) == expected
    diff_requests = fake_gitlab.find_requests("GET", "/merge_requests/7/diffs")
    assert len(diff_requests) == (2 if len(changes) > 100 else 1)
    assert all(r.status == 200 for r in diff_requests)


@pytest.mark.parametrize(
    ("branch", "expected"), [("feat/login", SHA2), ("main", SHA), ("feat/gone", None)]
)
def test_branch_head(fake_gitlab: FakeGitLab, branch: str, expected: str | None) -> None:
    adapter = _seed(fake_gitlab)
    fake_gitlab.add_branch(42, "main", SHA)
    fake_gitlab.add_branch(42, "feat/login", SHA)
    fake_gitlab.add_branch(42, "feat/login", SHA2)  # a push moves the branch

    assert adapter.branch_head(42, branch) == expected
    encoded = branch.replace("/", "%2F")
    assert [r.path for r in fake_gitlab.requests] == [
        f"/api/v4/projects/42/repository/branches/{encoded}"
    ]


@pytest.mark.parametrize(
    ("username", "token", "expected"),
    [
        ("carol", None, "carol@corp.example"),  # an admin token sees the private e-mail
        ("carol", "glpat-alice", "carol@public.test"),  # others only the public one
        ("dave", "glpat-alice", None),  # no public e-mail
        ("nobody", None, None),
    ],
)
def test_user_email(
    fake_gitlab: FakeGitLab, username: str, token: str | None, expected: str | None
) -> None:
    _seed(fake_gitlab)
    fake_gitlab.add_user("carol", email="carol@corp.example", public_email="carol@public.test")
    fake_gitlab.add_user("dave", email="dave@corp.example")
    fake_gitlab.add_token("glpat-alice", "alice")

    assert _adapter(fake_gitlab, token).user_email(username) == expected
    assert [(r.path, r.query["username"]) for r in fake_gitlab.requests] == [
        ("/api/v4/users", [username])
    ]


def test_maintainers_are_maintainers_and_owners(fake_gitlab: FakeGitLab) -> None:
    adapter = _seed(fake_gitlab)
    for user_id, (name, level) in enumerate(
        [("zoe", OWNER), ("bob", MAINTAINER), ("dev", DEVELOPER), ("rep", REPORTER)], start=20
    ):
        fake_gitlab.add_user(name, email=f"{name}@corp.example", id=user_id)
        fake_gitlab.add_member(42, user_id, level)

    assert adapter.maintainers(42) == ("bob", "zoe")
    assert [r.path for r in fake_gitlab.requests] == ["/api/v4/projects/42/members/all"]


# --- environments ----------------------------------------------------------------------
def test_ensure_environment_creates_then_only_updates_a_changed_url(
    fake_gitlab: FakeGitLab,
) -> None:
    adapter = _seed(fake_gitlab)

    created = adapter.ensure_environment(42, ENV, "https://app-mr-7.preview.test", known_id=None)
    again = adapter.ensure_environment(42, ENV, "https://app-mr-7.preview.test", known_id=created)
    writes_before_change = _writes(fake_gitlab)
    moved = adapter.ensure_environment(42, ENV, "https://app-mr-7.other.test", known_id=created)

    assert created is not None and created == again == moved
    assert writes_before_change == [("POST", "/api/v4/projects/42/environments")]
    put = fake_gitlab.find_requests("PUT", "/environments/")
    assert [(r.path, r.json) for r in put] == [
        (
            f"/api/v4/projects/42/environments/{created}",
            {"external_url": "https://app-mr-7.other.test"},
        ),
    ]
    [env] = fake_gitlab.environments(42)
    assert (env["id"], env["name"], env["external_url"], env["state"]) == (
        created,
        ENV,
        "https://app-mr-7.other.test",
        "available",
    )
    lookups = fake_gitlab.find_requests("GET", "/environments")
    assert [r.query["name"] for r in lookups] == [[ENV]] * 3


def test_ensure_environment_finds_the_exact_name_among_similar_ones(
    fake_gitlab: FakeGitLab,
) -> None:
    adapter = _seed(fake_gitlab)
    other = adapter.ensure_environment(42, ENV + "-v2", "https://v2.preview.test", known_id=None)

    mine = adapter.ensure_environment(42, ENV, "https://app-mr-7.preview.test", known_id=None)

    assert mine is not None and mine != other
    assert sorted(e["name"] for e in fake_gitlab.environments(42)) == [ENV, ENV + "-v2"]
    assert len(fake_gitlab.find_requests("POST", "/environments")) == 2


def test_an_environment_the_bot_did_not_make_is_never_touched(fake_gitlab: FakeGitLab) -> None:
    adapter = _seed(fake_gitlab)
    # CI's own review app of the same name, made with another client
    ci = gitlab.Gitlab(fake_gitlab.url, private_token=fake_gitlab.token).projects.get(
        42, lazy=True).environments.create({"name": ENV, "external_url": "https://ci.example"})
    ci_id = int(ci.attributes["id"])
    ci_made = len(fake_gitlab.requests)

    assert adapter.ensure_environment(42, ENV, "https://app-mr-7.preview.test",
                                      known_id=None) is None
    assert adapter.ensure_environment(42, ENV, "https://app-mr-7.preview.test",
                                      known_id=ci_id + 1000) is None
    fake_gitlab.stop_environment_by_id(42, ci_id)  # stopped by CI itself
    assert adapter.ensure_environment(42, ENV, "https://app-mr-7.preview.test",
                                      known_id=None) is None

    [env] = fake_gitlab.environments(42)
    assert (env["id"], env["external_url"]) == (ci_id, "https://ci.example")
    # no update, no stop, no delete of CI's environment
    assert [r.method for r in fake_gitlab.requests[ci_made:]] == ["GET"] * 3


def test_a_ci_review_app_showing_our_url_is_never_taken_for_ours(
        fake_gitlab: FakeGitLab) -> None:
    """A team's CI may link its review app to the preview URL. Only an environment the
    bot's own create may have made (created since the bot started it, not stopped, no
    deployment) is known by its URL; CI's is never adopted, stopped or deleted."""
    adapter = _seed(fake_gitlab)
    url = "https://group-app-mr-7.preview.test"
    ci = gitlab.Gitlab(fake_gitlab.url, private_token=fake_gitlab.token).projects.get(
        42, lazy=True).environments.create({"name": ENV, "external_url": url})
    ci_id = int(ci.attributes["id"])
    ci_made = len(fake_gitlab.requests)
    later = datetime.now(UTC) + timedelta(minutes=5)  # the bot's create started after CI's
    earlier = datetime.now(UTC) - timedelta(minutes=5)

    assert adapter.ensure_environment(42, ENV, url, known_id=None) is None  # no create of ours
    assert adapter.ensure_environment(42, ENV, url, known_id=None, create_started_at=later) is None
    fake_gitlab.stop_environment_by_id(42, ci_id)  # stopped by CI: never deleted by the bot
    assert adapter.ensure_environment(42, ENV, url, known_id=None,
                                      create_started_at=earlier) is None

    [env] = fake_gitlab.environments(42)
    assert env["id"] == ci_id
    assert [r.method for r in fake_gitlab.requests[ci_made:]] == ["GET"] * 3


def test_stop_environment_stops_only_its_own_once(fake_gitlab: FakeGitLab) -> None:
    adapter = _seed(fake_gitlab)
    env_id = adapter.ensure_environment(42, ENV, "https://app-mr-7.preview.test", known_id=None)
    assert env_id is not None

    results = [
        adapter.stop_environment(42, env_id),
        adapter.stop_environment(42, env_id),
        adapter.stop_environment(42, env_id + 999),
    ]

    assert results == [True, False, False]
    assert [e["state"] for e in fake_gitlab.environments(42)] == ["stopped"]
    stops = fake_gitlab.find_requests("POST", "/stop")
    assert [r.path for r in stops] == [f"/api/v4/projects/42/environments/{env_id}/stop"]


def test_ensure_environment_replaces_its_own_stopped_one(fake_gitlab: FakeGitLab) -> None:
    adapter = _seed(fake_gitlab)
    first = adapter.ensure_environment(42, ENV, "https://app-mr-7.preview.test", known_id=None)
    assert first is not None
    adapter.stop_environment(42, first)

    second = adapter.ensure_environment(42, ENV, "https://app-mr-7.preview.test", known_id=first)

    assert second is not None and second != first
    assert [(e["id"], e["state"]) for e in fake_gitlab.environments(42)] == [
        (second, "available")]


# --- the open-MR list and pipelines ------------------------------------------------------
def test_open_merge_requests_are_listed_in_pages_of_100(fake_gitlab: FakeGitLab) -> None:
    adapter = _seed(fake_gitlab)
    for iid in range(8, 258):
        fake_gitlab.add_merge_request(42, iid=iid, source_branch=f"f-{iid}",
                                      author_username="alice", sha=f"{iid:040d}")
    fake_gitlab.update_merge_request(42, 9, state="merged")
    fake_gitlab.update_merge_request(42, 10, state="locked")

    before = len(fake_gitlab.requests)
    found = adapter.open_change_requests("group/app")

    # state=opened only: merged and locked MRs are not listed (7 is _seed's own)
    assert sorted(mr.iid for mr in found) == [7, 8, *range(11, 258)]
    calls = fake_gitlab.requests[before:]
    assert [r.query.get("state") for r in calls] == [["opened"]] * 3  # 249 MRs: 3 pages
    assert all(r.query.get("per_page") == ["100"] for r in calls)
    mr = next(m for m in found if m.iid == 8)
    assert (mr.project_id, mr.sha, mr.source_branch) == (42, f"{8:040d}", "f-8")


def test_a_merge_requests_pipelines_are_its_own_newest_first_in_one_page(
        fake_gitlab: FakeGitLab) -> None:
    adapter = _seed(fake_gitlab)
    fake_gitlab.update_merge_request(42, 7, head_pipeline={  # a merged-results pipeline
        "sha": "e" * 40, "ref": "refs/merge-requests/7/merge", "status": "running"})
    fake_gitlab.add_pipeline(42, sha=SHA, ref="feat/login", status="success", source="push")
    fake_gitlab.add_pipeline(42, sha="c" * 40, ref="other", status="success", source="push")
    for n in range(120):  # more than a page of the MR's own
        fake_gitlab.add_pipeline(42, sha=f"{n:040d}", ref="refs/merge-requests/7/head",
                                 status="failed", merge_request_iid=7)

    before = len(fake_gitlab.requests)
    found = adapter.change_pipelines(42, 7)

    [call] = fake_gitlab.requests[before:]
    assert call.path == "/api/v4/projects/42/merge_requests/7/pipelines"
    assert call.query["per_page"] == ["100"]  # one page: the newest 100
    assert len(found) == 100 and found[0] == ChangePipeline(
        sha=f"{119:040d}", ref="refs/merge-requests/7/head", status="failed", passed=False)
    assert "c" * 40 not in {p.sha for p in found}  # another branch's is not the MR's
    with pytest.raises(PermanentError):
        adapter.change_pipelines(42, 99)


def test_the_head_pipeline_of_a_single_read_may_be_a_merged_results_one(
        fake_gitlab: FakeGitLab) -> None:
    adapter = _seed(fake_gitlab)
    fake_gitlab.update_merge_request(42, 7, head_pipeline={
        "sha": "e" * 40, "ref": "refs/merge-requests/7/merge", "status": "success"})
    mr = adapter.change_request(42, 7)
    assert (mr.sha, mr.head_pipeline_sha, mr.head_pipeline_passed) == (SHA, "e" * 40, True)
    [listed] = adapter.open_change_requests(42)
    assert listed.head_pipeline_sha == "" and not listed.head_pipeline_passed

def test_commit_pipelines_are_the_commits_own_newest_first(fake_gitlab: FakeGitLab) -> None:
    adapter = _seed(fake_gitlab)
    first = fake_gitlab.add_pipeline(42, sha="a" * 40, ref="f-1", status="failed")
    fake_gitlab.add_pipeline(42, sha="b" * 40, ref="f-2", status="success")
    retry = fake_gitlab.add_pipeline(42, sha="a" * 40, ref="f-1", status="running")

    found = adapter.commit_pipelines(42, "a" * 40)
    assert [(p.state, p.status) for p in found] == [
        (PipelineState.RUNNING, "running"), (PipelineState.FAILED, "failed")]
    [call] = fake_gitlab.find_requests("GET", "/pipelines")
    assert call.query["sha"] == ["a" * 40]
    assert first["id"] < retry["id"]

    ended = fake_gitlab.set_pipeline_status(42, retry["id"], "success")
    newest = adapter.commit_pipelines(42, "a" * 40)[0]
    assert newest.state is PipelineState.PASSED
    assert newest.updated_at == datetime.fromisoformat(ended["updated_at"])
    assert adapter.commit_pipelines(42, "c" * 40) == ()


# --- the MR note -----------------------------------------------------------------------
def _post_notes(fake: FakeGitLab, token: str, bodies: list[str]) -> None:
    mr = gitlab.Gitlab(fake.url, private_token=token).projects.get(42, lazy=True)
    notes = mr.mergerequests.get(7, lazy=True).notes
    for body in bodies:
        notes.create({"body": body})


def _marked(fake: FakeGitLab) -> list[dict[str, Any]]:
    return [n for n in fake.notes(42, 7) if MARKER in n["body"]]


def test_upsert_mr_note_creates_once_and_edits_in_place(fake_gitlab: FakeGitLab) -> None:
    adapter = _seed(fake_gitlab)

    first = adapter.upsert_mr_note(42, 7, MARKER, f"{MARKER}\nDeploying")
    same = adapter.upsert_mr_note(42, 7, MARKER, f"{MARKER}\nDeploying")
    writes_before_change = _writes(fake_gitlab)
    edited = adapter.upsert_mr_note(42, 7, MARKER, f"{MARKER}\nReady: https://a.test")

    assert first == same == edited
    assert writes_before_change == [("POST", "/api/v4/projects/42/merge_requests/7/notes")]
    assert [(r.path, r.json) for r in fake_gitlab.find_requests("PUT")] == [
        (
            f"/api/v4/projects/42/merge_requests/7/notes/{first}",
            {"body": f"{MARKER}\nReady: https://a.test"},
        ),
    ]
    assert [(n["id"], n["body"]) for n in fake_gitlab.notes(42, 7)] == [
        (first, f"{MARKER}\nReady: https://a.test")
    ]


def test_upsert_mr_note_finds_its_note_beyond_the_first_page(fake_gitlab: FakeGitLab) -> None:
    adapter = _seed(fake_gitlab)
    fake_gitlab.add_token("glpat-alice", "alice")
    mine = adapter.upsert_mr_note(42, 7, MARKER, f"{MARKER}\nDeploying")
    _post_notes(fake_gitlab, "glpat-alice", [f"comment {i}" for i in range(110)])
    _post_notes(fake_gitlab, "glpat-alice", [f"> quoting the bot {MARKER}"])
    before = len(fake_gitlab.requests)

    edited = adapter.upsert_mr_note(42, 7, MARKER, f"{MARKER}\nReady")

    assert edited == mine
    ours = [n for n in _marked(fake_gitlab) if n["author"]["username"] == "previewbot"]
    assert [(n["id"], n["body"]) for n in ours] == [(mine, f"{MARKER}\nReady")]
    assert len(fake_gitlab.notes(42, 7)) == 112  # nothing created, nothing deleted
    calls = fake_gitlab.requests[before:]
    pages = [r.query.get("page") for r in calls if r.method == "GET"]
    assert pages == [None, ["2"]]
    assert [(r.method, r.path) for r in calls if r.method != "GET"] == [
        ("PUT", f"/api/v4/projects/42/merge_requests/7/notes/{mine}")
    ]


def test_upsert_mr_note_survives_a_lost_memory_and_removes_duplicates(
    fake_gitlab: FakeGitLab,
) -> None:
    _seed(fake_gitlab)
    _post_notes(fake_gitlab, fake_gitlab.token, [f"{MARKER}\nold", f"{MARKER}\nracing twin"])
    oldest = fake_gitlab.notes(42, 7)[0]["id"]

    kept = _adapter(fake_gitlab).upsert_mr_note(42, 7, MARKER, f"{MARKER}\nReady")

    assert kept == oldest
    assert [(n["id"], n["body"]) for n in fake_gitlab.notes(42, 7)] == [
        (oldest, f"{MARKER}\nReady")
    ]
    assert [m for m, _ in _writes(fake_gitlab)][-2:] == ["DELETE", "PUT"]


def test_upsert_mr_note_adds_a_missing_marker(fake_gitlab: FakeGitLab) -> None:
    adapter = _seed(fake_gitlab)

    first = adapter.upsert_mr_note(42, 7, MARKER, "Ready")
    second = adapter.upsert_mr_note(42, 7, MARKER, "Ready")

    assert first == second
    assert [n["body"] for n in fake_gitlab.notes(42, 7)] == [f"Ready\n\n{MARKER}"]
    assert len(fake_gitlab.find_requests("POST", "/notes")) == 1
    with pytest.raises(ValueError, match="marker"):
        adapter.upsert_mr_note(42, 7, " ", "Ready")


# --- errors ----------------------------------------------------------------------------
def test_bad_token_is_retried_never_a_refusal(fake_gitlab: FakeGitLab) -> None:
    _seed(fake_gitlab)

    # An expired token is fixed by a person: the work waits for that, it is not dropped.
    with pytest.raises(AccessError, match="GITLAB_TOKEN") as raised:
        _adapter(fake_gitlab, "glpat-wrong").project("group/app")

    assert "401" in str(raised.value) and "api scope" in str(raised.value)
    assert isinstance(raised.value.__cause__, gitlab.exceptions.GitlabAuthenticationError)
    assert [(r.status, r.header("private-token")) for r in fake_gitlab.requests] == [
        (401, "glpat-wrong")
    ]


@pytest.mark.parametrize(("status", "delay"), [(500, 10.0), (502, 10.0), (429, 1.0), (409, 10.0)])
def test_failures_worth_retrying_are_temporary(
    fake_gitlab: FakeGitLab, status: int, delay: float
) -> None:
    adapter = _seed(fake_gitlab)
    fake_gitlab.fail_next(1, status)

    with pytest.raises(TemporaryError, match=str(status)) as raised:
        adapter.change_request(42, 7)

    assert raised.value.delay == delay  # 429: the fake's Retry-After, not python-gitlab's sleep
    assert [r.status for r in fake_gitlab.requests] == [status]  # no retry inside the call
    assert adapter.change_request(42, 7).iid == 7


def test_gitlab_down_is_temporary(fake_gitlab: FakeGitLab) -> None:
    adapter = _seed(fake_gitlab)
    fake_gitlab.set_down(True)

    with pytest.raises(TemporaryError, match="503") as raised:
        adapter.ensure_environment(42, ENV, "https://app-mr-7.preview.test", known_id=None)

    assert "environment 'review/feat/login'" in str(raised.value)
    assert [r.status for r in fake_gitlab.requests] == [503]
    assert fake_gitlab.environments(42) == []


def test_unreachable_gitlab_is_temporary() -> None:
    with FakeGitLab() as fake:
        url = fake.url
    with pytest.raises(TemporaryError, match="unreachable"):
        GitLab(url, "glpat-any", timeout=2.0).check()
    assert fake.requests == []


def test_forbidden_names_the_missing_scope(fake_gitlab: FakeGitLab) -> None:
    adapter = _seed(fake_gitlab)
    fake_gitlab.fail_next(1, 403)

    with pytest.raises(AccessError, match="api scope"):
        adapter.stop_environment(42, 1)

    assert [r.status for r in fake_gitlab.requests] == [403]


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda gl: gl.project("group/nope"), "project 'group/nope'"),
        (lambda gl: gl.project(404), "project 404"),
        (lambda gl: gl.change_request(42, 99), "merge request !99 of project 42"),
        (lambda gl: gl.change_request(404, 7), "merge request !7 of project 404"),
        (lambda gl: gl.changed_paths(42, 99), "merge request !99 of project 42"),
        (lambda gl: gl.branch_head(404, "main"), "branch 'main' of project 404"),
        (lambda gl: gl.upsert_mr_note(42, 99, MARKER, MARKER), "merge request !99"),
        (lambda gl: gl.maintainers(404), "project 404"),
    ],
)
def test_unknown_things_are_permanent_errors_naming_them(
    fake_gitlab: FakeGitLab, call: Any, named: str
) -> None:
    adapter = _seed(fake_gitlab)

    with pytest.raises(PermanentError, match="404") as raised:
        call(adapter)

    assert named in str(raised.value)
    assert fake_gitlab.requests[-1].status == 404
    assert _writes(fake_gitlab) == []
