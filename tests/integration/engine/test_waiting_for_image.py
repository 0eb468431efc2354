"""Waiting for the image (issue 16): in push mode an MR deploys before CI has pushed its
image. While its pods are in ImagePullBackOff the announcement says "waiting for image
`<ref>`" (once), and the readiness clock does not run out while the commit's pipeline
runs: it counts ``ready_timeout`` from the pipeline's end. So an image that appears
after ``ready_timeout`` is announced once the pod is Ready, never FAILED first.

The times are the issue's (image 90 s after the MR opens, ``ready_timeout: 60s``, the
pipeline succeeding at about 85 s) divided by three."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime

from kubernetes import client

from bot.domain.model import Status
from bot.engine.notify import Notice, NoticeKind
from bot.runtime.wiring import build
from handlers.slack import formatting
from tests.cluster.testbed import IMAGE_AFTER
from tests.integration.lifecycle_bed import LifecycleBed

IID = 43
IMAGE_AFTER_S = 30  # the image can be pulled this long after the pod started
READY_TIMEOUT_S = 20
PIPELINE_ENDS_S = 28  # CI pushed the image and its pipeline succeeded


@dataclass
class TimedNotices:
    """Every notice, with when it was told (monotonic and wall clock)."""

    notices: list[tuple[float, Notice]] = field(default_factory=list)

    def notify(self, notice: Notice) -> None:
        self.notices.append((time.time(), notice))

    def report_plan(self, text: str) -> None:
        pass

    def kinds(self) -> list[NoticeKind]:
        return [n.kind for _, n in self.notices]


def _pod_ready_at(core_api: client.CoreV1Api, namespace: str) -> datetime:
    pods = core_api.list_namespaced_pod(namespace).items
    assert len(pods) == 1, [p.metadata.name for p in pods]
    ready = next(c for c in pods[0].status.conditions if c.type == "Ready")
    assert ready.status == "True"
    stamp: datetime = ready.last_transition_time
    return stamp


def test_an_image_later_than_ready_timeout_is_waited_for_while_its_pipeline_runs(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    bed.configure(extra_values=f'podAnnotations: {{"{IMAGE_AFTER}": "{IMAGE_AFTER_S}s"}}',
                  ready_timeout=f"{READY_TIMEOUT_S}s")
    sha = bed.add_mr(IID)
    key = f"{bed.slug}-mr-{IID}"
    image = f"registry.example.com/app:{sha}"
    pipeline = bed.gitlab.add_pipeline(bed.project_id, sha=sha, ref=f"feature-{IID}",
                                       status="running")
    notices = TimedNotices()
    requests, reconciler = build(replace(bed.core(), notifier=notices))
    succeed = threading.Timer(PIPELINE_ENDS_S, bed.gitlab.set_pipeline_status,
                              (bed.project_id, pipeline["id"], "success"))
    succeed.start()
    try:
        requests.request_up_mr(bed.project_path, IID, actor="gitlab:alice")
        reconciler.run_pass(follow=True, dry_run=False, only=[key])
    finally:
        succeed.cancel()

    env = requests.get(key)
    assert env is not None
    told = [(n.kind, n.reason) for _, n in notices.notices]
    assert env.observed.status is Status.READY, (env.observed, told)
    assert NoticeKind.FAILED not in notices.kinds(), told
    assert env.observed.url == f"https://{key}.preview.test"
    # Meanwhile the announcement said what it waits for, once (not every recheck).
    waiting = [n for _, n in notices.notices
               if n.kind is NoticeKind.DEPLOYING and "waiting for image" in n.reason]
    assert len(waiting) == 1, told
    assert f"`{image}`" in waiting[0].reason
    _, blocks = formatting.announcement(waiting[0].env, waiting[0].env.desired.created_at,
                                        kind=NoticeKind.DEPLOYING, reason=waiting[0].reason)
    assert f"waiting for image `{image}`" in formatting.headline(blocks), blocks
    # The URL was announced within one recheck of the pod becoming Ready.
    ready_told = next(at for at, n in notices.notices if n.kind is NoticeKind.READY)
    pod_ready = _pod_ready_at(client.CoreV1Api(kube_api), f"preview-{key}").timestamp()
    deploy = bed.core().settings.deploy
    one_recheck = deploy.ready_inline_wait + deploy.recheck_delay
    # +1 s: the pod's lastTransitionTime is whole seconds.
    assert ready_told - pod_ready <= one_recheck + 1.0, (ready_told - pod_ready)
    assert notices.kinds()[-1] is NoticeKind.READY
