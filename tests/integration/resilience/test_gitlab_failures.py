"""GitLab answering 500, 429 with Retry-After, and timing out, under a real
`previewbot serve`: every accepted event still takes effect, the environment ends right,
and GitLab is told once (one note, one GitLab environment, one stop) however often a call
had to be retried."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.resilience.support import (
    EndState,
    Expected,
    Project,
    bed_project,
    gitlab_problems,
    queue_settled,
    review_environments,
    start_replica,
    stop_calls,
    until_none,
)
from tests.integration.webhook_support import Server, mr_event, post
from tests.polling import poll

pytestmark = pytest.mark.slow


@pytest.fixture
def served(bed: LifecycleBed, kube_api: client.ApiClient) -> Iterator[tuple[Server, EndState]]:
    bed.configure(reconcile_interval="3s")
    end = EndState(bed, client.CoreV1Api(kube_api), (bed_project(bed),))
    server = start_replica(bed, "serve")
    try:
        yield server, end
    finally:
        server.stop()
        end.cleanup()


def merge(bed: LifecycleBed, server: Server, iid: int, sha: str) -> None:
    bed.gitlab.update_merge_request(bed.project_id, iid, state="merged")
    assert post(server, "Merge Request Hook", mr_event(bed, "merge", iid, sha))[0] == 202


def assert_stopped_once(bed: LifecycleBed, project: Project, iid: int) -> None:
    key = project.key(iid)
    until_none(f"{key}'s end to be told", lambda: gitlab_problems(
        bed.gitlab, project, iid, key, running=False), timeout=60)
    [environment] = review_environments(bed.gitlab, project, key, f"feature-{iid}")
    stops = [p for p in stop_calls(bed.gitlab, project)
             if p.endswith(f"/environments/{environment['id']}/stop")]
    assert len(stops) == 1, stops


def test_gitlab_answering_500(bed: LifecycleBed, served: tuple[Server, EndState]) -> None:
    server, end = served
    project = bed_project(bed)
    sha = bed.add_mr(1)
    # The intake's read of the MR, the GitLab environment, the MR note: each fails once.
    bed.gitlab.fail_next(1, 500, method="GET", path_contains="/merge_requests/1")
    bed.gitlab.fail_next(1, 500, method="POST", path_contains="/environments")
    bed.gitlab.fail_next(1, 500, method="POST", path_contains="/merge_requests/1/notes")
    assert post(server, "Merge Request Hook", mr_event(bed, "open", 1, sha))[0] == 202
    end.wait_converged(Expected(running={project.key(1): sha}), timeout=90)
    until_none("GitLab told once", lambda: gitlab_problems(
        bed.gitlab, project, 1, project.key(1), running=True, core_api=end.core_api), timeout=60)

    bed.gitlab.fail_next(1, 500, method="POST", path_contains="/stop")
    merge(bed, server, 1, sha)
    end.wait_converged(Expected(ended={project.key(1)}), timeout=90)
    assert_stopped_once(bed, project, 1)
    assert len([r for r in bed.gitlab.requests if r.status == 500]) == 4  # each one seen


def test_gitlab_answering_429_with_retry_after(bed: LifecycleBed,
                                               served: tuple[Server, EndState]) -> None:
    server, end = served
    project = bed_project(bed)
    sha = bed.add_mr(2)
    mr_path = f"/projects/{bed.project_id}/merge_requests/2"
    # Longer than the queue's own first backoff (5 s): only Retry-After explains the wait.
    bed.gitlab.fail_next(1, 429, method="GET", path_contains=mr_path, retry_after=8)
    bed.gitlab.fail_next(1, 429, method="POST", path_contains="/environments", retry_after=4)
    assert post(server, "Merge Request Hook", mr_event(bed, "open", 2, sha))[0] == 202
    end.wait_converged(Expected(running={project.key(2): sha}), timeout=90)
    until_none("GitLab told once", lambda: gitlab_problems(
        bed.gitlab, project, 2, project.key(2), running=True, core_api=end.core_api), timeout=60)

    # The rate-limited delivery was retried (not dropped), and not before Retry-After.
    # (Discovery may have brought the environment up first: its listing is another call.)
    poll("the delivery to be done", lambda: queue_settled(bed.redis_url), timeout=60)
    reads = [r for r in bed.gitlab.find_requests("GET", mr_path) if r.path.endswith(mr_path)]
    limited = next(i for i, r in enumerate(reads) if r.status == 429)
    assert len(reads) > limited + 1, "the rate-limited delivery was never retried"
    assert reads[limited + 1].at - reads[limited].at >= 8.0, "Retry-After: 8 was not waited"
    creates = [r for r in bed.gitlab.find_requests("POST", "/environments")
               if r.path.endswith("/environments")]
    assert [r.status for r in creates] == [429, 201]  # made once, after the 429


def test_gitlab_timing_out(bed: LifecycleBed, served: tuple[Server, EndState]) -> None:
    """A slow GitLab: the bot's calls time out (10 s) though GitLab did the work. Retrying
    must find what it already made instead of making it twice."""
    server, end = served
    project = bed_project(bed)
    sha = bed.add_mr(3)
    bed.gitlab.hang_next(1, 12, method="GET", path_contains="/merge_requests/3")
    bed.gitlab.hang_next(1, 12, method="POST", path_contains="/environments")
    assert post(server, "Merge Request Hook", mr_event(bed, "open", 3, sha))[0] == 202
    end.wait_converged(Expected(running={project.key(3): sha}), timeout=120)
    until_none("GitLab told once", lambda: gitlab_problems(
        bed.gitlab, project, 3, project.key(3), running=True, core_api=end.core_api), timeout=60)

    bed.gitlab.hang_next(1, 12, method="POST", path_contains="/stop")
    merge(bed, server, 3, sha)
    end.wait_converged(Expected(ended={project.key(3)}), timeout=120)
    assert_stopped_once(bed, project, 3)
