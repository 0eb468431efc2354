"""How Helm's stderr is classified: the cluster's or the network's passing state is
retried (``DeployInterrupted``; another writer at work: a quiet ``TemporaryError``),
Helm's own timeout a few times (``StepTimeoutError``), refused credentials as
``AccessError``, and only what a new input must fix is permanent (issue 16, item 8)."""

from __future__ import annotations

import pytest

from bot.cluster.helm import BUSY_PATTERNS, TRANSIENT_PATTERNS, classify
from bot.domain.errors import (
    AccessError,
    DeployInterrupted,
    PermanentError,
    StepTimeoutError,
    TemporaryError,
)

WHAT = "helm upgrade --install of release g-app-mr-7 in namespace preview-g-app-mr-7"

# (stderr as Helm prints it, the error it must become)
CASES: dict[str, tuple[str, type[Exception]]] = {
    # an ingress controller rolling out: its admission webhook has no endpoints yet
    "webhook, no endpoints": (
        'Error: UPGRADE FAILED: failed to create resource: Internal error occurred: failed '
        'calling webhook "validate.nginx.ingress.kubernetes.io": failed to call webhook: Post '
        '"https://ingress-nginx-controller-admission.ingress-nginx.svc:443/networking/v1/'
        'ingresses?timeout=10s": no endpoints available for service '
        '"ingress-nginx-controller-admission"', DeployInterrupted),
    "webhook, service not found": (
        'Error: server-side apply failed for object preview-x/x /v1, Kind=Service: Internal '
        'error occurred: failed calling webhook "w.example.com": failed to call webhook: Post '
        '"https://no-such.default.svc:443/?timeout=5s": service "no-such" not found',
        DeployInterrupted),
    # the webhook's own timeout is the webhook's state, not Helm's --timeout
    "webhook, its call timed out": (
        'Error: Internal error occurred: failed calling webhook "w.example.com": failed to '
        'call webhook: Post "https://w.default.svc:443/": context deadline exceeded',
        DeployInterrupted),
    "http2 connection lost": (
        "Error: UPGRADE FAILED: Get \"https://10.0.0.1:443/api/v1/namespaces/x/secrets\": "
        "http2: client connection lost", DeployInterrupted),
    "client timeout": (
        'Error: Get "https://api.example:6443/version": net/http: request canceled while '
        "waiting for connection (Client.Timeout exceeded while awaiting headers)",
        DeployInterrupted),
    "DNS": (
        'Error: UPGRADE FAILED: Get "https://api.example:6443/apis/apps/v1/namespaces/x/'
        'deployments/x": dial tcp: lookup api.example on 10.96.0.10:53: no such host',
        DeployInterrupted),
    "etcd timed out": (
        "Error: UPGRADE FAILED: etcdserver: request timed out", DeployInterrupted),
    "connection refused": (
        'Error: Get "https://127.0.0.1:6443/api": dial tcp 127.0.0.1:6443: connect: '
        "connection refused", DeployInterrupted),
    "i/o timeout": (
        'Error: Get "https://10.0.0.1:443/api": dial tcp 10.0.0.1:443: i/o timeout',
        DeployInterrupted),
    "TLS handshake timeout": (
        'Error: Get "https://10.0.0.1:443/api": net/http: TLS handshake timeout',
        DeployInterrupted),
    "API server busy": (
        "Error: UPGRADE FAILED: the server is currently unable to handle the request "
        "(get secrets)", DeployInterrupted),
    "rate limited": (
        "Error: UPGRADE FAILED: Too many requests, please try again later.", DeployInterrupted),
    "another operation": (
        "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
        TemporaryError),
    # Helm's own --timeout ran out: a few retries, then FAILED (a hook that never ends)
    "helm's wait ran out": (
        "Error: UPGRADE FAILED: post-upgrade hooks failed: timed out waiting for the "
        "condition", StepTimeoutError),
    "helm's deadline": (
        "Error: UPGRADE FAILED: context deadline exceeded", StepTimeoutError),
    "forbidden": (
        'Error: secrets is forbidden: User "system:serviceaccount:pb:pb" cannot list '
        'resource "secrets"', AccessError),
    # only a new input fixes these
    "a webhook that denied the object": (
        'Error: admission webhook "validate.kyverno.svc" denied the request: image tag '
        '"latest" is not allowed', PermanentError),
    "broken template": (
        "Error: UPGRADE FAILED: template: app/templates/deployment.yaml:12:20: executing "
        '"app/templates/deployment.yaml" at <.Values.image.tag>: nil pointer', PermanentError),
    "invalid object": (
        'Error: Deployment.apps "x" is invalid: spec.template.spec.containers[0].image: '
        "Required value", PermanentError),
    "chart not found": (
        'Error: repo example not found', PermanentError),
}


@pytest.mark.parametrize(("stderr", "expected"), CASES.values(), ids=CASES.keys())
def test_helm_errors_are_classified(stderr: str, expected: type[Exception]) -> None:
    error = classify(WHAT, stderr)
    assert type(error) is expected, error
    assert str(error).startswith(f"{WHAT} failed: "), error  # names what failed, and why
    assert stderr.splitlines()[-1].strip() in str(error)


@pytest.mark.parametrize("pattern", TRANSIENT_PATTERNS)
def test_every_transient_pattern_is_retried_whatever_its_case(pattern: str) -> None:
    assert pattern == pattern.lower()  # stderr is matched lowercased
    error = classify(WHAT, f"Error: UPGRADE FAILED: {pattern.upper()} (while deploying)")
    assert type(error) is DeployInterrupted, error


@pytest.mark.parametrize("pattern", BUSY_PATTERNS)
def test_another_writer_at_work_is_a_quiet_retry_not_a_failure(pattern: str) -> None:
    error = classify(WHAT, f"Error: UPGRADE FAILED: {pattern} (while deploying)")
    assert type(error) is TemporaryError, error
