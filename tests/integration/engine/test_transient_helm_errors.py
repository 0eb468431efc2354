"""A transient Helm error is retried by the pass, never a permanent FAILED (issue 16, item 8).

During an ingress-controller rollout its admission webhook has no endpoints for a
while, and the kube-apiserver refuses every object the chart creates with "failed
calling webhook … no endpoints available / service not found". That is the cluster's
state, not the environment's inputs: the environment is retried with backoff, and
ready once the webhook is back (here: once its configuration is deleted)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from bot.domain.model import Observed, Status
from bot.engine.reconcile import Reconciler
from bot.engine.requests import Requests
from bot.runtime.wiring import build
from tests.integration.lifecycle_bed import LifecycleBed
from tests.polling import poll

IID = 58


@pytest.fixture
def broken_webhook(bed: LifecycleBed, kube_api: client.ApiClient) -> Iterator[str]:
    """A validating webhook (failurePolicy Fail) for the objects the chart creates, in
    this test's preview namespace only, whose Service does not exist: cluster-scoped,
    so named uniquely and always removed."""
    key = f"{bed.slug}-mr-{IID}"
    name = f"previewbot-test-{uuid.uuid4().hex[:10]}.example.com"
    api = client.AdmissionregistrationV1Api(kube_api)
    api.create_validating_webhook_configuration(client.V1ValidatingWebhookConfiguration(
        metadata=client.V1ObjectMeta(name=name),
        webhooks=[client.V1ValidatingWebhook(
            name=name,
            admission_review_versions=["v1"],
            side_effects="None",
            failure_policy="Fail",
            timeout_seconds=5,
            namespace_selector=client.V1LabelSelector(
                match_labels={"kubernetes.io/metadata.name": f"preview-{key}"}),
            rules=[client.V1RuleWithOperations(
                api_groups=["", "apps"], api_versions=["v1"], operations=["CREATE", "UPDATE"],
                resources=["configmaps", "services", "deployments"])],
            client_config=client.AdmissionregistrationV1WebhookClientConfig(
                service=client.AdmissionregistrationV1ServiceReference(
                    namespace="default", name=f"no-such-controller-{uuid.uuid4().hex[:6]}",
                    port=443))),
        ]))
    try:
        yield name
    finally:
        try:
            api.delete_validating_webhook_configuration(name)
        except ApiException as error:
            if error.status != 404:  # the test removed it (the rollout finished)
                raise


def _after_a_pass(reconciler: Reconciler, requests: Requests, key: str,
                  test: Callable[[Observed], bool]) -> Callable[[], Observed | None]:
    """A probe: one full pass, then the environment's observed state if ``test`` holds."""
    def probe() -> Observed | None:
        reconciler.run_pass(dry_run=False)
        env = requests.get(key)
        return env.observed if env is not None and test(env.observed) else None
    return probe


def test_a_webhook_without_endpoints_is_retried_until_it_is_back(
        bed: LifecycleBed, kube_api: client.ApiClient, broken_webhook: str) -> None:
    bed.add_mr(IID)
    key = f"{bed.slug}-mr-{IID}"
    core = bed.core()
    # The backoff, short: 0.5 s, then 1 s at most.
    core = replace(core, settings=replace(core.settings, deploy=replace(
        core.settings.deploy, retry_base=0.5, retry_max=1.0)))
    requests, reconciler = build(core)
    requests.request_up_mr(bed.project_path, IID, actor="gitlab:alice")

    reconciler.run_pass(dry_run=False)
    first = requests.get(key)
    assert first is not None and first.observed.status is Status.FAILED, first
    assert "failed calling webhook" in first.observed.reason, first.observed
    # Not given up on: it says when it is tried again, and a pass after that does.
    assert first.observed.retry_at is not None, first.observed
    assert "tried again at" in first.observed.reason
    again = poll("a pass to try it again", _after_a_pass(
        reconciler, requests, key, lambda seen: seen.failures > first.observed.failures),
        timeout=60, interval=0.3)
    assert again.status is Status.FAILED and again.retry_at is not None, again
    assert "failed calling webhook" in again.reason

    # The controller's rollout finished: its webhook answers again.
    client.AdmissionregistrationV1Api(kube_api).delete_validating_webhook_configuration(
        broken_webhook)
    ready = poll("the environment to be ready", _after_a_pass(
        reconciler, requests, key, lambda seen: seen.status is Status.READY),
        timeout=120, interval=0.3)
    assert ready.url == f"https://{key}.preview.test"
    assert ready.failures == 0 and ready.retry_at is None
