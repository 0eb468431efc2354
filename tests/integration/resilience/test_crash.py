"""`previewbot serve` SIGKILLed mid-deploy and mid-teardown while two replicas run: the
other replica finishes the work, nothing accepted is lost, nothing that should stay is
deleted or re-created, and Slack and GitLab are told once."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.cluster.testbed import READY_AFTER
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.resilience.support import (
    EndState,
    Expected,
    bed_project,
    bot_notes,
    gitlab_problems,
    helm_history,
    namespace_or_none,
    review_environments,
    slack_problems,
    start_replica,
    stop_calls,
    until_none,
    working_on,
)
from tests.integration.slack.support import configure_slack, states
from tests.integration.webhook_support import mr_event, post
from tests.polling import poll

pytestmark = pytest.mark.slow
HOLD = "previewbot.test/hold"  # a finalizer that keeps a namespace Terminating


def test_sigkill_mid_deploy_and_mid_teardown_with_two_replicas(
        bed: LifecycleBed, fake_slack: FakeSlack, kube_api: client.ApiClient) -> None:
    # Pods become Ready 8 s after they start: a deploy spends that long waiting.
    configure_slack(bed, fake_slack, reconcile_interval="3s",
                    extra_values=f'podAnnotations: {{"{READY_AFTER}": "8s"}}')
    core_api = client.CoreV1Api(kube_api)
    project = bed_project(bed)
    end = EndState(bed, core_api, (project,))
    shas = {iid: bed.add_mr(iid) for iid in (1, 2, 3)}
    key1, key2, key3 = project.key(1), project.key(2), project.key(3)
    replicas = [start_replica(bed, "a", slack=fake_slack),
                start_replica(bed, "b", slack=fake_slack)]
    try:
        assert post(replicas[0], "Merge Request Hook", mr_event(bed, "open", 1, shas[1]))[0] \
            == 202
        deployer = working_on(replicas, f"{key1}: waiting")
        namespace_uid = core_api.read_namespace(f"preview-{key1}").metadata.uid
        # An event the doomed replica accepted (202: in Redis) just before it dies.
        assert post(deployer, "Merge Request Hook", mr_event(bed, "open", 3, shas[3]))[0] == 202
        deployer.kill()
        survivor = next(r for r in replicas if r is not deployer)
        assert post(survivor, "Merge Request Hook", mr_event(bed, "open", 2, shas[2]))[0] == 202
        replicas = [survivor, start_replica(bed, "c", slack=fake_slack)]

        end.wait_converged(Expected(running={key1: shas[1], key2: shas[2], key3: shas[3]}),
                           timeout=120)
        # The killed deploy was finished, not started over: same namespace, same release.
        assert core_api.read_namespace(f"preview-{key1}").metadata.uid == namespace_uid
        history = helm_history(bed.testbed.helm, bed.environ(), key1, f"preview-{key1}")
        assert history[0]["revision"] == 1, history
        assert {h["status"] for h in history} <= {"deployed", "superseded"}, history
        for iid, key in ((1, key1), (2, key2), (3, key3)):
            until_none(f"{key} told once", lambda iid=iid, key=key: gitlab_problems(
                bed.gitlab, project, iid, key, running=True, core_api=core_api)
                + slack_problems(fake_slack, key, "ready"), timeout=30)
            assert "failed" not in states(
                next(m for m in fake_slack.messages() if m.text.startswith(f"{key} (")))

        # Mid-teardown: a resource with a finalizer keeps the namespace Terminating.
        core_api.create_namespaced_config_map(f"preview-{key1}", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="held", finalizers=[HOLD])))
        bed.gitlab.update_merge_request(bed.project_id, 1, state="merged")
        assert post(replicas[0], "Merge Request Hook", mr_event(bed, "merge", 1, shas[1]))[0] \
            == 202
        tearer = working_on(replicas, f"{key1}: deleting namespace")
        poll("the namespace to be Terminating",
             lambda: (ns := namespace_or_none(core_api, f"preview-{key1}")) is not None
             and ns.status.phase == "Terminating")
        tearer.kill()  # its teardown begun (reason on the namespace), not finished
        release_held(core_api, f"preview-{key1}")  # the namespace can go now

        end.wait_converged(Expected(running={key2: shas[2], key3: shas[3]}, ended={key1}),
                           timeout=120)
        until_none(f"{key1}'s end to be told once", lambda: slack_problems(
            fake_slack, key1, "gone") + gitlab_problems(bed.gitlab, project, 1, key1,
                                                        running=False), timeout=60)
        [environment] = review_environments(bed.gitlab, project, key1, "feature-1")
        stops = [p for p in stop_calls(bed.gitlab, project)
                 if p.endswith(f"/environments/{environment['id']}/stop")]
        assert len(stops) == 1, stops
        [note] = bot_notes(bed.gitlab, project, 1, key1)
        assert "merged" in note["body"]
    finally:
        for replica in replicas:
            replica.stop()
        cleanup_held(core_api, f"preview-{key1}")
        end.cleanup()


def release_held(core_api: client.CoreV1Api, namespace: str) -> None:
    """Remove the finalizer (a JSON patch: a strategic merge keeps list items)."""
    core_api.patch_namespaced_config_map(
        "held", namespace, [{"op": "remove", "path": "/metadata/finalizers"}])


def cleanup_held(core_api: client.CoreV1Api, namespace: str) -> None:
    """Whatever happened, the finalizer must not keep the namespace forever."""
    try:
        release_held(core_api, namespace)
    except client.ApiException as error:
        if error.status not in (404, 422):
            raise
