"""Slack answering 5xx and 429 (more than slack_sdk's own retries absorb) while
environments deploy: the deploys are unaffected (ready, at the right commit, GitLab told),
and once Slack answers again the messages catch up — one announcement per environment
showing where it stands — without anyone having to touch the environment."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.resilience.support import (
    EndState,
    Expected,
    bed_project,
    gitlab_problems,
    slack_problems,
    start_replica,
    until_none,
)
from tests.integration.slack.support import configure_slack
from tests.integration.webhook_support import mr_event, post

pytestmark = pytest.mark.slow
INTERVAL = 3  # seconds between full passes in this test


def test_slack_5xx_and_429_never_touch_deploys_and_messages_catch_up(
        bed: LifecycleBed, fake_slack: FakeSlack, kube_api: client.ApiClient) -> None:
    configure_slack(bed, fake_slack, reconcile_interval=f"{INTERVAL}s")
    core_api = client.CoreV1Api(kube_api)
    project = bed_project(bed)
    end = EndState(bed, core_api, (project,))
    sha1 = bed.add_mr(1)
    key1, key2 = project.key(1), project.key(2)
    server = start_replica(bed, "serve", slack=fake_slack)
    try:
        # 5xx: Slack is down for the whole deploy of !1 (503), then answers 500 twice.
        fake_slack.set_down(True)
        assert post(server, "Merge Request Hook", mr_event(bed, "open", 1, sha1))[0] == 202
        end.wait_converged(Expected(running={key1: sha1}), timeout=90)
        until_none(f"{key1}'s GitLab side", lambda: gitlab_problems(
            bed.gitlab, project, 1, key1, running=True, core_api=core_api))
        assert fake_slack.messages() == []  # nothing got through while Slack was down
        fake_slack.set_down(False)

        # 500, then 429s: more failures than slack_sdk retries (2 per call, Retry-After 1).
        fake_slack.fail_next(2, "internal_error", status=500)
        fake_slack.fail_next(8, "ratelimited")
        sha2 = bed.add_mr(2)  # opened now (discovery would find it too)
        assert post(server, "Merge Request Hook", mr_event(bed, "open", 2, sha2))[0] == 202
        end.wait_converged(Expected(running={key1: sha1, key2: sha2}), timeout=90)
        until_none(f"{key2}'s GitLab side", lambda: gitlab_problems(
            bed.gitlab, project, 2, key2, running=True, core_api=core_api))
        assert server.metric("previewbot_dependency_errors_total", dependency="slack") >= 4
        fake_slack.recover()

        # Slack answers again (the failures above may be used up by the catch-up itself):
        # within a few passes each environment's one announcement shows it ready, though
        # nothing happened to either environment since.
        until_none("the announcements to catch up", lambda: slack_problems(
            fake_slack, key1, "ready") + slack_problems(fake_slack, key2, "ready"),
            timeout=5 * INTERVAL + 15)
    finally:
        server.stop()
        end.cleanup()
