"""What the bot's service account may do, asked of the real API server's authorizer
with `kubectl auth can-i --as=system:serviceaccount:<ns>:<sa>`: enough to run
previews (see test_lifecycle_as_bot.py), nothing more."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.integration.chart.bot_chart import InstalledBot, kubectl


def can_i(bot: InstalledBot, *args: str) -> bool:
    done = kubectl(bot.testbed, "auth", "can-i", *args, f"--as={bot.username}")
    answer = done.stdout.strip()
    assert answer in ("yes", "no"), done.stdout + done.stderr
    return answer == "yes"


@pytest.fixture
def preview_namespace(bot: InstalledBot, kube_api: client.ApiClient) -> Iterator[str]:
    """A managed namespace with the RoleBinding the bot makes (created here as admin)."""
    core, rbac = client.CoreV1Api(kube_api), client.RbacAuthorizationV1Api(kube_api)
    name = f"preview-rbac-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=name, labels={"app.kubernetes.io/managed-by": "previewbot"})))
    rbac.create_namespaced_role_binding(name, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="previewbot"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                  name=bot.namespace_role),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name=bot.service_account,
                                       namespace=bot.namespace)]))
    yield name
    core.delete_namespace(name)


CLUSTER_ALLOWED = [
    ("create", "namespaces"), ("get", "namespaces"), ("list", "namespaces"),
    ("watch", "namespaces"), ("patch", "namespaces"), ("delete", "namespaces"),
    # RoleBindings anywhere as far as RBAC goes: the admission policy confines them.
    ("create", "rolebindings", "-n", "default"), ("delete", "rolebindings", "-n", "default"),
]
CLUSTER_DENIED = [
    ("get", "secrets", "--all-namespaces"), ("list", "secrets", "--all-namespaces"),
    ("get", "secrets", "-n", "kube-system"), ("list", "configmaps", "--all-namespaces"),
    ("delete", "nodes"), ("get", "nodes"), ("update", "namespaces"),
    ("deletecollection", "namespaces"),
    ("create", "deployments", "-n", "default"), ("create", "pods", "-n", "kube-system"),
    ("create", "secrets", "-n", "default"), ("get", "pods", "-n", "kube-system"),
    ("create", "clusterroles"), ("create", "clusterrolebindings"), ("escalate", "clusterroles"),
    ("bind", "clusterroles/cluster-admin"), ("bind", "clusterroles/admin"),
    ("create", "roles", "-n", "default"),
    ("impersonate", "users"), ("impersonate", "serviceaccounts"),
    ("create", "serviceaccounts/token", "-n", "kube-system"),
    ("create", "customresourcedefinitions"),
    # The bot cannot lift its own guard.
    ("delete", "validatingadmissionpolicies"), ("patch", "validatingadmissionpolicybindings"),
    ("create", "validatingadmissionpolicies"),
]
IN_PREVIEW_ALLOWED = [
    ("list", "secrets"), ("create", "secrets"), ("delete", "secrets"),
    ("create", "deployments.apps"), ("patch", "deployments.apps"),
    ("create", "statefulsets.apps"), ("create", "services"), ("create", "configmaps"),
    ("create", "virtualservices.networking.istio.io"),
    ("create", "httproutes.gateway.networking.k8s.io"),
    ("create", "ingresses.networking.k8s.io"), ("list", "pods"), ("watch", "pods"),
]
IN_PREVIEW_DENIED = [
    ("create", "pods"), ("delete", "pods"), ("create", "pods/exec"),
    ("create", "serviceaccounts"), ("create", "roles"),
    ("create", "daemonsets.apps"), ("create", "persistentvolumeclaims"),
]


@pytest.mark.parametrize("args", CLUSTER_ALLOWED, ids=" ".join)
def test_cluster_wide_allowed(bot: InstalledBot, args: tuple[str, ...]) -> None:
    assert can_i(bot, *args)


@pytest.mark.parametrize("args", CLUSTER_DENIED, ids=" ".join)
def test_cluster_wide_denied(bot: InstalledBot, args: tuple[str, ...]) -> None:
    assert not can_i(bot, *args)


def test_bind_only_the_namespace_role(bot: InstalledBot) -> None:
    assert can_i(bot, "bind", f"clusterroles/{bot.namespace_role}")
    assert not can_i(bot, "bind", f"clusterroles/{bot.fullname}")


def test_inside_a_preview_namespace_only_through_its_role_binding(
        bot: InstalledBot, preview_namespace: str) -> None:
    for args in IN_PREVIEW_ALLOWED:
        assert can_i(bot, *args, "-n", preview_namespace), args
    for args in IN_PREVIEW_DENIED:
        assert not can_i(bot, *args, "-n", preview_namespace), args
    # The same rights stop at the namespace's edge: no binding elsewhere, no access.
    for args in IN_PREVIEW_ALLOWED:
        assert not can_i(bot, *args, "-n", bot.namespace), args


def test_no_delete_of_kube_system_or_any_namespace_it_does_not_manage(
        bot: InstalledBot, bot_kubeconfig: str) -> None:
    # RBAC cannot name future namespaces, so the authorizer allows deleting any
    # namespace; admission refuses. Server-side dry runs go through admission and
    # store nothing (so a wrong answer here could not delete anything either).
    assert can_i(bot, "delete", "namespaces/kube-system")
    system = kubectl(bot.testbed, "delete", "namespace", "kube-system", "--dry-run=server",
                     kubeconfig=bot_kubeconfig)
    assert system.returncode != 0 and "Forbidden" in system.stderr  # NamespaceLifecycle first
    # Any other namespace without the managed-by label, e.g. the bot's own: the policy.
    own = kubectl(bot.testbed, "delete", "namespace", bot.namespace, "--dry-run=server",
                  kubeconfig=bot_kubeconfig)
    assert own.returncode != 0
    assert f"ValidatingAdmissionPolicy '{bot.policy}'" in own.stderr
    assert "may only delete namespaces labelled app.kubernetes.io/managed-by=previewbot" in (
        own.stderr)
