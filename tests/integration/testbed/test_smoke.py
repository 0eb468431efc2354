"""Smoke tests proving the test bed's parts are real, not mocks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TypeVar

import pytest
import redis
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.cluster.redis_leases import lease_database
from tests.cluster.testbed import Testbed
from tests.conftest import Kube
from tests.polling import poll

CHARTS = Path(__file__).resolve().parents[1] / "charts"
T = TypeVar("T")




def test_server_reports_the_pinned_kubernetes_version(testbed: Testbed, kube: Kube) -> None:
    info = client.VersionApi(kube.api).get_code()
    assert info.git_version == testbed.kubernetes_version


def test_simulated_nodes_are_ready(kube: Kube) -> None:
    nodes = kube.core.list_node().items
    ready = [n for n in nodes
             if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)]
    assert len(ready) >= 2


def test_deployment_reaches_ready_replicas(kube: Kube) -> None:
    labels = {"app": "smoke"}
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="smoke"),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="nginx")]),
            ),
        ),
    )
    kube.apps.create_namespaced_deployment(kube.namespace, deployment)

    def ready_replicas() -> int | None:
        status = kube.apps.read_namespaced_deployment_status("smoke", kube.namespace).status
        return status.ready_replicas if status.ready_replicas == 2 else None

    assert poll("2 ready replicas", ready_replicas) == 2


def helm_run(helm: str, kube: Kube, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args, "--namespace", kube.namespace,
                           "--kubeconfig", kube.kubeconfig],
                          capture_output=True, text=True, timeout=120, check=False)


def test_helm_install_ends_deployed(helm: str, kube: Kube) -> None:
    done = helm_run(helm, kube, "install", "tiny", str(CHARTS / "tiny"))
    assert done.returncode == 0, done.stderr
    status = json.loads(helm_run(helm, kube, "status", "tiny", "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    configmap = kube.core.read_namespaced_config_map("tiny-greeting", kube.namespace)
    assert configmap.data == {"greeting": "hello"}


def test_api_server_rejects_a_manifest_with_an_invalid_field(helm: str, kube: Kube) -> None:
    done = helm_run(helm, kube, "install", "broken", str(CHARTS / "broken"))
    assert done.returncode != 0
    assert "replicas" in done.stderr
    assert kube.apps.list_namespaced_deployment(kube.namespace).items == []


def test_istio_crd_schema_rejects_a_wrong_field_type(kube: Kube) -> None:
    virtual_service = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "bad"},
        "spec": {"hosts": "not-a-list", "http": [{"route": [{"destination": {"host": "x"}}]}]},
    }
    with pytest.raises(ApiException) as raised:
        kube.custom.create_namespaced_custom_object(
            "networking.istio.io", "v1", kube.namespace, "virtualservices", virtual_service)
    assert raised.value.status == 422
    assert "spec.hosts" in str(raised.value.body)
    good = {**virtual_service, "metadata": {"name": "good"},
            "spec": {**virtual_service["spec"], "hosts": ["good.example.com"]}}
    created = kube.custom.create_namespaced_custom_object(
        "networking.istio.io", "v1", kube.namespace, "virtualservices", good)
    assert created["spec"]["hosts"] == ["good.example.com"]


def test_gateway_api_httproute_crd_is_served(kube: Kube) -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "route"},
        "spec": {"hostnames": ["a.example.com"], "parentRefs": [{"name": "gw"}],
                 "rules": [{"backendRefs": [{"name": "svc", "port": 80}]}]},
    }
    created = kube.custom.create_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", kube.namespace, "httproutes", route)
    assert created["spec"]["hostnames"] == ["a.example.com"]


def test_namespace_delete_completes(kube: Kube) -> None:
    name = f"{kube.namespace}-gone"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    kube.core.create_namespaced_config_map(
        name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"k": "v"}))
    kube.core.delete_namespace(name)

    def gone() -> bool:
        try:
            kube.core.read_namespace(name)
        except ApiException as error:
            return error.status == 404
        return False

    assert poll(f"namespace {name} to be deleted", gone)


def test_redis_round_trip(redis_url: str) -> None:
    db = redis.Redis.from_url(redis_url)
    db.set("smoke", "value")
    assert db.get("smoke") == b"value"
    assert db.info("server")["redis_version"]


def test_a_leased_database_is_never_handed_out_twice(testbed: Testbed) -> None:
    allocator = redis.Redis.from_url(testbed.redis_url.rsplit("/", 1)[0] + "/0")
    next_candidate = 1 + (int(allocator.get("testbed:next-db") or 0) + 1) % 1023
    # another test holds the database the counter points at next
    allocator.set(f"testbed:db-lease:{next_candidate}", "someone-else", ex=60)
    try:
        got = lease_database(allocator, "me")
        assert got not in (0, next_candidate)
        assert allocator.get(f"testbed:db-lease:{got}") == b"me"
    finally:
        allocator.delete(f"testbed:db-lease:{next_candidate}", f"testbed:db-lease:{got}")
