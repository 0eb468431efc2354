"""Kube.ensure_role_binding against the real API server: the bot's RoleBinding in a
managed namespace, ownership checked first (admin credentials here; the chart's own
account is exercised in tests/integration/chart/)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.cluster.kube import ROLE_BINDING, Kube
from bot.config import NamespaceAccess
from bot.domain.errors import NotOwnedError, PermanentError
from tests.conftest import Kube as KubeFixture

ACCESS = NamespaceAccess("previewbot-namespace", "previewbot", "previewbot")
MANAGED = {"app.kubernetes.io/managed-by": "previewbot"}


@pytest.fixture
def namespace(kube: KubeFixture) -> Iterator[Callable[..., str]]:
    names: list[str] = []

    def make(labels: dict[str, str] | None = MANAGED) -> str:
        names.append(f"preview-rb-{uuid.uuid4().hex[:10]}")
        kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
            name=names[-1], labels=labels)))
        return names[-1]

    yield make
    for name in names:
        kube.core.delete_namespace(name)


def read(kube: KubeFixture, namespace: str) -> client.V1RoleBinding | None:
    try:
        return client.RbacAuthorizationV1Api(kube.api).read_namespaced_role_binding(
            ROLE_BINDING, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def test_unconfigured_binds_nothing(kube: KubeFixture, namespace: Callable[..., str]) -> None:
    name = namespace()
    assert Kube(kube.api).ensure_role_binding(name) == "not configured"
    assert read(kube, name) is None


def test_binds_the_namespace_role_once_and_keeps_it(kube: KubeFixture,
                                                    namespace: Callable[..., str]) -> None:
    name = namespace()
    adapter = Kube(kube.api, ACCESS)
    assert adapter.ensure_role_binding(name) == "created"
    binding = read(kube, name)
    assert binding is not None
    assert binding.metadata.labels == MANAGED
    assert (binding.role_ref.kind, binding.role_ref.name) == ("ClusterRole",
                                                              "previewbot-namespace")
    assert [(s.kind, s.namespace, s.name) for s in binding.subjects] == [
        ("ServiceAccount", "previewbot", "previewbot")]
    version = binding.metadata.resource_version
    assert adapter.ensure_role_binding(name) == "unchanged"
    again = read(kube, name)
    assert again is not None and again.metadata.resource_version == version


def test_a_changed_role_replaces_the_binding(kube: KubeFixture,
                                             namespace: Callable[..., str]) -> None:
    name = namespace()
    assert Kube(kube.api, ACCESS).ensure_role_binding(name) == "created"
    moved = NamespaceAccess("previewbot-v2-namespace", "platform", "previewbot-v2")
    assert Kube(kube.api, moved).ensure_role_binding(name) == "updated"
    binding = read(kube, name)
    assert binding is not None and binding.role_ref.name == "previewbot-v2-namespace"
    assert [(s.namespace, s.name) for s in binding.subjects] == [("platform", "previewbot-v2")]


def test_an_unmanaged_namespace_or_binding_is_never_touched(
        kube: KubeFixture, namespace: Callable[..., str]) -> None:
    adapter = Kube(kube.api, ACCESS)
    stranger = namespace(labels=None)
    with pytest.raises(NotOwnedError, match="not managed by previewbot"):
        adapter.ensure_role_binding(stranger)
    assert read(kube, stranger) is None

    managed = namespace()
    theirs = client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name=ROLE_BINDING),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                  name="view"),
        subjects=[client.RbacV1Subject(kind="User", name="alice")])
    client.RbacAuthorizationV1Api(kube.api).create_namespaced_role_binding(managed, theirs)
    with pytest.raises(NotOwnedError, match=f"RoleBinding {ROLE_BINDING} in namespace"):
        adapter.ensure_role_binding(managed)
    kept = read(kube, managed)
    assert kept is not None and kept.role_ref.name == "view"


def test_a_missing_namespace_is_a_clear_error(kube: KubeFixture) -> None:
    with pytest.raises(PermanentError, match="does not exist"):
        Kube(kube.api, ACCESS).ensure_role_binding(f"preview-none-{uuid.uuid4().hex[:8]}")
