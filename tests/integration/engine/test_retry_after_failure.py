"""A FAILED environment asked again is tried again (issue 16, item 1).

The most common first experience of a team in push mode: the MR deploys before CI
has pushed its image, the readiness wait runs out and the environment is FAILED.
When someone asks again (a passed pipeline, a person's up, the Redeploy button) while
the pod is still coming up, the readiness clock starts again from that request: the
URL is announced once the pod is Ready, instead of the old deadline failing it again
at once (and for good: the same inputs are not retried by a pass)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from kubernetes import client

from bot.domain.model import Status
from bot.engine.intake import Intake
from bot.engine.notify import NoticeKind, RecordingNotifier
from bot.engine.requests import Requests, redeploy
from bot.runtime.wiring import build
from tests.cluster.testbed import READY_AFTER
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.webhook_support import pipeline_event

IID = 41


def _pipeline_hook(bed: LifecycleBed, requests: Requests, key: str, sha: str) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # newer than the MR's update
    body = json.dumps(pipeline_event(bed, IID, sha, finished_at=now)).encode()
    Intake(requests.core, requests).handle("Pipeline Hook", body)


def _up_by_a_person(bed: LifecycleBed, requests: Requests, key: str, sha: str) -> None:
    requests.request_up_mr(bed.project_path, IID, actor="slack:U0ADMIN", manual=True)


def _redeploy_button(bed: LifecycleBed, requests: Requests, key: str, sha: str) -> None:
    redeploy(requests, key, actor="slack:U0ADMIN")


RETRIES: dict[str, Callable[[LifecycleBed, Requests, str, str], None]] = {
    "pipeline hook": _pipeline_hook, "up by a person": _up_by_a_person,
    "redeploy button": _redeploy_button}


@pytest.mark.parametrize("retry", RETRIES.values(), ids=RETRIES.keys())
def test_a_failed_environment_asked_again_while_its_pod_comes_up_is_announced_ready(
        bed: LifecycleBed, kube_api: client.ApiClient,
        retry: Callable[[LifecycleBed, Requests, str, str], None]) -> None:
    # The pod is Ready 14 s after it starts; the readiness wait gives up after 10 s, and
    # is asked again at once — with a fresh 10 s it sees the pod become Ready.
    bed.configure(extra_values=f'podAnnotations: {{"{READY_AFTER}": "14s"}}',
                  ready_timeout="10s")
    sha = bed.add_mr(IID)
    key = f"{bed.slug}-mr-{IID}"
    notices = RecordingNotifier()
    requests, reconciler = build(replace(bed.core(), notifier=notices))
    requests.request_up_mr(bed.project_path, IID, actor="gitlab:alice")
    reconciler.run_pass(follow=True, dry_run=False, only=[key])
    failed = requests.get(key)
    assert failed is not None and failed.observed.status is Status.FAILED
    apps = client.AppsV1Api(kube_api)
    assert not apps.read_namespaced_deployment(key, f"preview-{key}").status.ready_replicas

    retry(bed, requests, key, sha)
    reconciler.run_pass(follow=True, dry_run=False, only=[key])

    env = requests.get(key)
    assert env is not None and env.observed.status is Status.READY, env and env.observed
    assert env.observed.url == f"https://{key}.preview.test"
    assert [n.kind for n in notices.notices][-1] is NoticeKind.READY
    assert env.desired.owner == "alice"  # whoever asked again, the author stays the owner
