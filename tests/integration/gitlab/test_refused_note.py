"""The capacity refusal in the MR note (``GitLabReview.tell_refused``), against the fake
GitLab over real HTTP: one note per environment, its refused commit read back, an
earlier life's ended-on-purpose marker kept, and "ready" replacing the refusal."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.model import Desired, Environment, Observed, Status
from bot.domain.refusals import Refusal
from bot.gitlab.client import GitLab
from bot.gitlab.review import GitLabReview, ended_marker
from tests.fakes import FakeGitLab

OLD, NEW = "a" * 40, "b" * 40
KEY = "group-app-mr-7"
NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def _review(fake: FakeGitLab) -> GitLabReview:
    fake.add_project("group/app", id=42)
    fake.add_user("alice", email="alice@corp.example", name="Alice A", id=7)
    fake.add_merge_request(42, iid=7, source_branch="feat/login", author_username="alice",
                           sha=NEW)
    return GitLabReview(GitLab(fake.url, fake.token, timeout=5.0))


def _env(sha: str, status: Status = Status.READY) -> Environment:
    desired = Desired(env_key=KEY, project_path="group/app", project_id=42, branch="feat/login",
                      sha=sha, created_at=NOW, expires_at=NOW, mr_iid=7)
    return Environment(desired, Observed(status=status, url=f"https://{KEY}.preview.test"))


def _refusal(sha: str) -> Refusal:
    return Refusal(project_path="group/app", project_id=42, mr_iid=7, label="group/app!7",
                   env_key=KEY, sha=sha, mr_url="https://gitlab.test/group/app/-/merge_requests/7",
                   reason="capacity reached for group/app: 1 environment(s) max (max_envs); "
                          "tear one down first — oldest: group-app-mr-3")


def _ours(fake: FakeGitLab) -> list[str]:
    return [n["body"] for n in fake.notes(42, 7) if f"previewbot:{KEY}" in n["body"]]


def test_the_refusal_is_the_environments_one_note_and_keeps_an_ended_marker(
        fake_gitlab: FakeGitLab) -> None:
    review = _review(fake_gitlab)
    assert review.stop(_env(OLD), "torn down by alice", deliberate=True)  # an earlier life
    assert review.refused_at(42, 7, [KEY]) is None

    assert review.tell_refused(_refusal(NEW))
    [body] = _ours(fake_gitlab)
    assert "max_envs" in body and "group-app-mr-3" in body and NEW[:8] in body
    assert review.refused_at(42, 7, [KEY]) == NEW
    assert review.ended_at(42, 7) == OLD  # still not brought back at that commit
    assert ended_marker(OLD) in body

    assert review.show(_env(NEW), known_id=None, create_started_at=None).complete
    [body] = _ours(fake_gitlab)  # the same note, now "ready"
    assert "ready" in body and review.refused_at(42, 7, [KEY]) is None
