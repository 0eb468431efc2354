"""bot.kube against the real test-bed API server (kwok-simulated nodes)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.cluster.kube import MANAGED_BY, Kube, WorkloadStatus
from bot.domain.errors import NotOwnedError, TemporaryError
from tests.cluster.testbed import IMAGE_AFTER
from tests.conftest import Kube as KubeFixture
from tests.polling import poll

T = TypeVar("T")




@pytest.fixture
def adapter(kube: KubeFixture) -> Kube:
    return Kube(kube.api)


@pytest.fixture
def new_name(kube: KubeFixture) -> Iterator[Callable[[], str]]:
    """Unique namespace names; every one that exists at the end is deleted."""
    names: list[str] = []

    def make() -> str:
        names.append(f"preview-t-{uuid.uuid4().hex[:10]}")
        return names[-1]

    yield make
    for name in names:
        try:
            kube.core.delete_namespace(name)
        except ApiException as error:
            if error.status != 404:
                raise


LABELS = {"previewbot/env": "app-mr-1", "previewbot/project-id": "42"}
ANNOTATIONS = {"previewbot/branch": "feature/x", "previewbot/sha": "abc123"}


def read(kube: KubeFixture, name: str) -> Any:
    """The namespace's metadata as the server has it now."""
    return kube.core.read_namespace(name).metadata


def test_ensure_creates_a_managed_namespace(kube: KubeFixture, adapter: Kube,
                                            new_name: Callable[[], str]) -> None:
    name = new_name()
    assert adapter.ensure_namespace(name, LABELS, ANNOTATIONS) == "created"
    meta = read(kube, name)
    assert meta.labels[MANAGED_BY[0]] == MANAGED_BY[1]
    assert {k: meta.labels[k] for k in LABELS} == LABELS
    assert {k: meta.annotations[k] for k in ANNOTATIONS} == ANNOTATIONS
    record = adapter.get_namespace(name)
    assert record is not None and record.managed and record.phase == "Active"
    assert record.created_at.tzinfo is not None


def test_ensure_is_unchanged_then_updated_and_keeps_other_keys(
        kube: KubeFixture, adapter: Kube, new_name: Callable[[], str]) -> None:
    name = new_name()
    adapter.ensure_namespace(name, LABELS, ANNOTATIONS)
    kube.core.patch_namespace(name, {"metadata": {"labels": {"team": "blue"},
                                                  "annotations": {"someone/else": "keep me"}}})
    version = read(kube, name).resource_version

    assert adapter.ensure_namespace(name, LABELS, ANNOTATIONS) == "unchanged"
    assert read(kube, name).resource_version == version  # no write at all

    changed = {**ANNOTATIONS, "previewbot/sha": "def456"}
    assert adapter.ensure_namespace(name, LABELS, changed) == "updated"
    meta = read(kube, name)
    assert meta.annotations["previewbot/sha"] == "def456"
    assert meta.annotations["someone/else"] == "keep me"
    assert meta.labels["team"] == "blue"
    assert meta.labels[MANAGED_BY[0]] == MANAGED_BY[1]


def test_dry_run_delete_checks_ownership_and_changes_nothing(
        kube: KubeFixture, adapter: Kube, new_name: Callable[[], str],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="previewbot.kube")
    name = new_name()
    assert adapter.delete_namespace(name, owner=LABELS, dry_run=True) is False  # none yet
    adapter.ensure_namespace(name, LABELS, ANNOTATIONS)
    version = read(kube, name).resource_version
    assert adapter.delete_namespace(name, owner=LABELS, dry_run=True) is True
    after = read(kube, name)
    assert after.resource_version == version
    assert after.deletion_timestamp is None
    assert "DRY-RUN: would delete namespace " + name in caplog.text


def test_delete_of_a_namespace_managed_for_another_identity_is_refused(
        kube: KubeFixture, adapter: Kube, new_name: Callable[[], str]) -> None:
    name = new_name()
    adapter.ensure_namespace(name, LABELS, ANNOTATIONS)
    version = read(kube, name).resource_version
    other_project = {**LABELS, "previewbot/project-id": "43"}
    for dry_run in (True, False):
        with pytest.raises(NotOwnedError) as refused:
            adapter.delete_namespace(name, owner=other_project, dry_run=dry_run)
        assert "previewbot/project-id" in str(refused.value)
    after = read(kube, name)
    assert after.resource_version == version and after.deletion_timestamp is None


def test_annotate_sets_and_removes_keys(kube: KubeFixture, adapter: Kube,
                                        new_name: Callable[[], str]) -> None:
    name = new_name()
    adapter.ensure_namespace(name, LABELS, ANNOTATIONS)
    adapter.annotate_namespace(name, {"previewbot/expires-at": "2030-01-01T00:00:00Z",
                                      "previewbot/sha": None})
    annotations = read(kube, name).annotations
    assert annotations["previewbot/expires-at"] == "2030-01-01T00:00:00Z"
    assert "previewbot/sha" not in annotations
    assert annotations["previewbot/branch"] == "feature/x"


def test_unmanaged_namespace_is_never_touched(kube: KubeFixture, adapter: Kube) -> None:
    before = read(kube, kube.namespace)
    with pytest.raises(NotOwnedError) as ensure:
        adapter.ensure_namespace(kube.namespace, LABELS, ANNOTATIONS)
    with pytest.raises(NotOwnedError):
        adapter.annotate_namespace(kube.namespace, {"previewbot/sha": "x"})
    with pytest.raises(NotOwnedError):
        adapter.delete_namespace(kube.namespace, owner=LABELS, dry_run=False)
    with pytest.raises(NotOwnedError):
        adapter.delete_namespace(kube.namespace, owner=LABELS, dry_run=True)

    assert kube.namespace in str(ensure.value)
    assert "app.kubernetes.io/managed-by=previewbot" in str(ensure.value)
    after = read(kube, kube.namespace)
    assert after.labels == before.labels
    assert after.annotations == before.annotations
    assert after.resource_version == before.resource_version
    assert after.deletion_timestamp is None


def test_delete_then_wait_gone(kube: KubeFixture, adapter: Kube,
                               new_name: Callable[[], str]) -> None:
    name = new_name()
    adapter.ensure_namespace(name, LABELS, ANNOTATIONS)
    kube.core.create_namespaced_config_map(
        name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"k": "v"}))
    assert adapter.delete_namespace(name, owner=LABELS, dry_run=False) is True
    assert adapter.wait_namespace_gone(name, timeout=60) is True
    assert adapter.get_namespace(name) is None
    assert adapter.delete_namespace(name, owner=LABELS, dry_run=False) is False


def test_ensure_on_a_terminating_namespace_is_temporary(
        kube: KubeFixture, adapter: Kube, new_name: Callable[[], str]) -> None:
    name = new_name()
    adapter.ensure_namespace(name, LABELS, ANNOTATIONS)
    # A finalizer of our own keeps the namespace Terminating until we remove it.
    kube.core.create_namespaced_config_map(name, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="held", finalizers=["previewbot.test/hold"])))
    adapter.delete_namespace(name, owner=LABELS, dry_run=False)
    record = adapter.get_namespace(name)
    assert record is not None and record.phase == "Terminating"
    with pytest.raises(TemporaryError) as raised:
        adapter.ensure_namespace(name, LABELS, ANNOTATIONS)
    assert "Terminating" in str(raised.value)
    assert adapter.wait_namespace_gone(name, timeout=0.5) is False
    kube.core.patch_namespaced_config_map("held", name, {"metadata": {"finalizers": None}})
    assert adapter.wait_namespace_gone(name, timeout=60) is True


def test_list_managed_namespaces_sees_only_managed(kube: KubeFixture, adapter: Kube,
                                                   new_name: Callable[[], str]) -> None:
    name = new_name()
    adapter.ensure_namespace(name, LABELS, ANNOTATIONS)
    listed = {record.name: record for record in adapter.list_managed_namespaces()}
    assert name in listed
    assert listed[name].annotations["previewbot/sha"] == "abc123"
    assert kube.namespace not in listed
    assert all(record.managed for record in listed.values())


def test_server_version_is_the_test_cluster_version(adapter: Kube) -> None:
    assert adapter.server_version().startswith("v1.")


def test_unreachable_api_is_a_temporary_error() -> None:
    configuration = client.Configuration()
    configuration.host = "https://127.0.0.1:1"
    configuration.retries = 0
    with pytest.raises(TemporaryError) as raised:
        Kube(client.ApiClient(configuration)).server_version()
    assert "unreachable" in str(raised.value)


def deployment(name: str, instance: str, node_selector: dict[str, str] | None = None
               ) -> client.V1Deployment:
    labels = {"app": name, "app.kubernetes.io/instance": instance}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(node_selector=node_selector,
                                      containers=[client.V1Container(name="app",
                                                                     image="nginx")]))))


def test_workload_status_becomes_ready(kube: KubeFixture, adapter: Kube) -> None:
    kube.apps.create_namespaced_deployment(kube.namespace, deployment("web", "rel"))

    def ready() -> WorkloadStatus | None:
        status = adapter.workload_status(kube.namespace, "rel")
        return status if status.ready else None

    status = poll("deployment web to be ready", ready)
    assert status.found == 1
    assert status.problems == ()


def test_workload_status_names_the_unschedulable_pod(kube: KubeFixture, adapter: Kube) -> None:
    kube.apps.create_namespaced_deployment(
        kube.namespace, deployment("web", "rel", {"nonexistent": "true"}))

    def pod_problem() -> WorkloadStatus | None:
        status = adapter.workload_status(kube.namespace, "rel")
        settled = status.problems[0].startswith("Deployment web: 0/1 replicas available (")
        pod = any(p.startswith("Pod web-") for p in status.problems)
        return status if settled and pod else None

    status = poll("web to report 0/1 available and a pod problem", pod_problem)
    assert not status.ready and status.found == 1
    assert "Available=False MinimumReplicasUnavailable" in status.problems[0]
    pod_line = next(p for p in status.problems if p.startswith("Pod web-"))
    assert "PodScheduled=False Unschedulable" in pod_line
    assert "node affinity/selector" in pod_line


def test_workload_status_names_the_image_its_pods_cannot_pull(kube: KubeFixture,
                                                               adapter: Kube) -> None:
    waiting = deployment("web", "rel")
    waiting.spec.template.metadata.annotations = {IMAGE_AFTER: "1h"}  # never, in this test
    waiting.spec.template.spec.containers[0].image = "registry.example.com/web:abc123"
    kube.apps.create_namespaced_deployment(kube.namespace, waiting)

    def pulling() -> WorkloadStatus | None:
        status = adapter.workload_status(kube.namespace, "rel")
        return status if status.missing_images else None

    status = poll("web's pod to wait for its image", pulling)
    assert not status.ready
    assert status.missing_images == ("registry.example.com/web:abc123",)
    assert any("waiting: ImagePullBackOff" in p for p in status.problems), status.problems


def test_workload_status_without_workloads(kube: KubeFixture, adapter: Kube) -> None:
    status = adapter.workload_status(kube.namespace, "nothing-here")
    assert status == WorkloadStatus(False, 0, (
        "no Deployment or StatefulSet with label app.kubernetes.io/instance=nothing-here "
        f"in namespace {kube.namespace}",))


def test_workload_status_reports_a_stuck_rollout(kube: KubeFixture, adapter: Kube) -> None:
    stuck = deployment("web", "rel", {"nonexistent": "true"})
    stuck.spec.progress_deadline_seconds = 1
    kube.apps.create_namespaced_deployment(kube.namespace, stuck)

    def deadline_exceeded() -> WorkloadStatus | None:
        status = adapter.workload_status(kube.namespace, "rel")
        return status if "ProgressDeadlineExceeded" in status.problems[0] else None

    status = poll("web to exceed its progress deadline", deadline_exceeded)
    assert status.problems[0].startswith("Deployment web: rollout stuck (Progressing=False ")


def test_workload_status_covers_statefulsets(kube: KubeFixture, adapter: Kube) -> None:
    labels = {"app": "db", "app.kubernetes.io/instance": "rel"}
    kube.apps.create_namespaced_stateful_set(kube.namespace, client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name="db", labels=labels),
        spec=client.V1StatefulSetSpec(
            replicas=2, service_name="db",
            selector=client.V1LabelSelector(match_labels={"app": "db"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="db",
                                                                     image="postgres")])))))
    kube.apps.create_namespaced_deployment(kube.namespace, deployment("web", "rel"))
    first = adapter.workload_status(kube.namespace, "rel")
    assert first.found == 2

    def ready() -> WorkloadStatus | None:
        status = adapter.workload_status(kube.namespace, "rel")
        return status if status.ready else None

    assert poll("db and web to be ready", ready) == WorkloadStatus(True, 2, ())
