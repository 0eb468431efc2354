"""Redis restarted (append-only file on) in the middle of a lifecycle, and Redis wiped
(FLUSHALL) under two running replicas. Both on a private redis-server: the session's
shared one serves every other test."""

from __future__ import annotations

import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client

from bot.domain.model import Status
from tests.cluster.testbed import READY_AFTER
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.resilience.support import (
    EndState,
    Expected,
    bed_project,
    gitlab_problems,
    queue_settled,
    slack_problems,
    start_replica,
    until_none,
    working_on,
)
from tests.integration.slack.support import AUTHOR, configure_slack, reply_to, wait_status
from tests.integration.webhook_support import Server, mr_event, post
from tests.polling import poll
from tests.redis_server import private_redis

pytestmark = pytest.mark.slow


def healthy(server: Server) -> bool:
    with urllib.request.urlopen(server.url + "/healthz", timeout=5) as answer:
        return answer.status == 200


def test_a_redis_restart_mid_lifecycle_loses_nothing(
        bed: LifecycleBed, fake_slack: FakeSlack, kube_api: client.ApiClient,
        tmp_path: Path) -> None:
    configure_slack(bed, fake_slack, reconcile_interval="3s",
                    extra_values=f'podAnnotations: {{"{READY_AFTER}": "6s"}}')
    core_api = client.CoreV1Api(kube_api)
    project = bed_project(bed)
    end = EndState(bed, core_api, (project,))
    sha1, sha2 = bed.add_mr(1), bed.add_mr(2)
    key1, key2 = project.key(1), project.key(2)
    (tmp_path / "redis").mkdir()
    replicas: list[Server] = []
    with private_redis(tmp_path / "redis", appendonly=True) as redis:
        bed.redis_url = redis.url
        try:
            replicas = [start_replica(bed, "a", slack=fake_slack),
                        start_replica(bed, "b", slack=fake_slack)]
            assert post(replicas[0], "Merge Request Hook", mr_event(bed, "open", 1, sha1))[0] \
                == 202
            working_on(replicas, f"{key1}: waiting")  # mid-deploy, under its lock
            redis.stop()
            stopped_at = time.monotonic()
            # The durable queue is down: the webhook says so (GitLab shows the failure),
            # and GitLab's open-MR list still has the MR for the next full pass.
            assert post(replicas[1], "Merge Request Hook", mr_event(bed, "open", 2, sha2))[0] \
                == 503
            assert all(healthy(r) for r in replicas)
            poll("Redis to stay down for 3 s", lambda: time.monotonic() - stopped_at >= 3)
            redis.start()

            sha1b = "1b" * 20
            bed.gitlab.update_merge_request(bed.project_id, 1, sha=sha1b)
            assert post(replicas[1], "Merge Request Hook",
                        mr_event(bed, "update", 1, sha1b, oldrev=sha1,
                                 updated_at="2026-11-26T10:05:00Z"))[0] == 202
            end.wait_converged(Expected(running={key1: sha1b, key2: sha2}), timeout=120)
            for iid, key in ((1, key1), (2, key2)):
                until_none(f"{key} told once", lambda iid=iid, key=key: gitlab_problems(
                    bed.gitlab, project, iid, key, running=True, core_api=core_api)
                    + slack_problems(fake_slack, key, "ready"), timeout=30)
            assert all(r.process.poll() is None for r in replicas)  # nobody crashed

            bed.gitlab.update_merge_request(bed.project_id, 1, state="merged")
            assert post(replicas[0], "Merge Request Hook",
                        mr_event(bed, "merge", 1, sha1b))[0] == 202
            end.wait_converged(Expected(running={key2: sha2}, ended={key1}), timeout=90)
            until_none(f"{key1}'s end told once", lambda: gitlab_problems(
                bed.gitlab, project, 1, key1, running=False) + slack_problems(
                fake_slack, key1, "gone"), timeout=30)
            settled = poll("the queue to be empty", lambda: queue_settled(redis.url))
            assert settled["parked"] == 0, settled
        finally:
            for replica in replicas:
                replica.stop()
            end.cleanup()


def test_a_redis_wipe_under_two_replicas_rebuilds_everything_and_loses_nothing(
        bed: LifecycleBed, fake_slack: FakeSlack, kube_api: client.ApiClient,
        tmp_path: Path) -> None:
    configure_slack(bed, fake_slack, reconcile_interval="3s")
    core_api = client.CoreV1Api(kube_api)
    project = bed_project(bed)
    end = EndState(bed, core_api, (project,))
    shas = {iid: bed.add_mr(iid) for iid in (1, 2, 3, 4)}
    keys = {iid: project.key(iid) for iid in (1, 2, 3, 4)}
    replicas: list[Server] = []
    with private_redis(tmp_path) as redis:
        bed.redis_url = redis.url
        try:
            replicas = [start_replica(bed, "a", slack=fake_slack),
                        start_replica(bed, "b", slack=fake_slack)]
            for iid in (1, 2, 3):
                assert post(replicas[iid % 2], "Merge Request Hook",
                            mr_event(bed, "open", iid, shas[iid]))[0] == 202
            core = bed.core()
            for iid in (1, 2, 3):
                wait_status(core, keys[iid], Status.READY)
            reply_to(replicas[0], fake_slack, f"extend {keys[2]} 3d", AUTHOR)
            extended_env = poll("the extension to be recorded", lambda: (
                env := core.store.get(keys[2])) is not None and env.desired.expires_at
                > datetime.now(UTC) + timedelta(days=2) and env)
            extended = {keys[2]: extended_env.desired.expires_at}
            reply_to(replicas[1], fake_slack, f"down {keys[3]}", AUTHOR)
            wait_status(core, keys[3], Status.GONE)
            until_none("the teardown to be told", lambda: slack_problems(
                fake_slack, keys[3], "gone"), timeout=30)

            bed.redis().flushall()  # Redis lost everything, under running replicas
            # New events right after the wipe: the queue heals and takes them.
            sha1b = "2b" * 20
            bed.gitlab.update_merge_request(bed.project_id, 1, sha=sha1b)
            assert post(replicas[0], "Merge Request Hook",
                        mr_event(bed, "update", 1, sha1b, oldrev=shas[1],
                                 updated_at="2026-11-26T10:05:00Z"))[0] == 202
            assert post(replicas[1], "Merge Request Hook",
                        mr_event(bed, "open", 4, shas[4]))[0] == 202

            end.wait_converged(Expected(
                running={keys[1]: sha1b, keys[2]: shas[2], keys[4]: shas[4]},
                ended={keys[3]}, expires=extended), timeout=120)
            for iid in (1, 2, 4):
                until_none(f"{keys[iid]} told once", lambda iid=iid: gitlab_problems(
                    bed.gitlab, project, iid, keys[iid], running=True, core_api=core_api) +
                    slack_problems(fake_slack, keys[iid], "ready"), timeout=30)
            # Ended on purpose stays ended: no second announcement, the note kept.
            assert slack_problems(fake_slack, keys[3], "gone") == []
            assert gitlab_problems(bed.gitlab, project, 3, keys[3], running=False) == []
            settled = poll("the queue to be empty", lambda: queue_settled(redis.url))
            assert settled["parked"] == 0, settled
        finally:
            for replica in replicas:
                replica.stop()
            end.cleanup()
