"""GitLab and Slack told once across a close and a reopen (the storm's lifecycles, made
deterministic): the MR keeps one GitLab environment — the bot's own, stopped when the
environment went and made available again — and one note; Slack gets one announcement
per lifecycle, the first saying gone."""

from __future__ import annotations

import pytest
from kubernetes import client

from bot.domain.model import Status
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.resilience.support import (
    EndState,
    Expected,
    announcements_of,
    bed_project,
    gitlab_problems,
    start_replica,
    until_none,
)
from tests.integration.slack.support import configure_slack, states, wait_status
from tests.integration.webhook_support import mr_event, post

pytestmark = pytest.mark.slow


def test_close_and_reopen_keep_one_gitlab_environment_and_one_note(
        bed: LifecycleBed, fake_slack: FakeSlack, kube_api: client.ApiClient) -> None:
    configure_slack(bed, fake_slack, reconcile_interval="3s")
    core_api = client.CoreV1Api(kube_api)
    project = bed_project(bed)
    end = EndState(bed, core_api, (project,))
    sha = bed.add_mr(5)
    key = project.key(5)
    server = start_replica(bed, "serve", slack=fake_slack)
    try:
        assert post(server, "Merge Request Hook", mr_event(bed, "open", 5, sha))[0] == 202
        end.wait_converged(Expected(running={key: sha}), timeout=90)
        bed.gitlab.update_merge_request(bed.project_id, 5, state="closed")
        assert post(server, "Merge Request Hook", mr_event(
            bed, "close", 5, sha, updated_at="2026-11-26T10:05:00Z"))[0] == 202
        wait_status(bed.core(), key, Status.GONE)
        until_none("the close told", lambda: gitlab_problems(
            bed.gitlab, project, 5, key, running=False))

        bed.gitlab.update_merge_request(bed.project_id, 5, state="opened")
        reopen = mr_event(bed, "open", 5, sha, updated_at="2026-11-26T10:10:00Z")
        reopen["object_attributes"]["action"] = "reopen"
        assert post(server, "Merge Request Hook", reopen)[0] == 202
        end.wait_converged(Expected(running={key: sha}), timeout=90)
        until_none("the reopen told once", lambda: gitlab_problems(
            bed.gitlab, project, 5, key, running=True, core_api=core_api), timeout=30)
        shown = [states(m)[-1] for m in announcements_of(fake_slack, key)]
        assert shown == ["gone", "ready"], shown
    finally:
        server.stop()
        end.cleanup()
