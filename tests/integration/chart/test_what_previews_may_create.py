"""What a compromised bot, or a preview's chart (Helm applies it with the bot's account),
may create inside a preview namespace: requests made with the bot's own token, straight
through the Kubernetes client, against the chart's policy on the real API server. Each
refusal names its rule; each rule also lets the compliant object through, so a policy
that refused everything would fail here."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration.chart.admission import (
    binding,
    denied,
    exists,
    namespace,
    ours,
)
from tests.integration.chart.bot_chart import InstalledBot
from tests.polling import poll

DOMAIN = "preview.test"  # the chart's admissionPolicy.hostSuffixes in these tests


@pytest.fixture
def preview_ns(bot: InstalledBot, as_bot: client.ApiClient, kube_api: client.ApiClient,
               admin_namespace: Callable[..., str]) -> str:
    """A preview namespace of this installation with the bot's RoleBinding in it, as the
    bot leaves it before Helm runs; returned once the bot's access there is effective."""
    name = admin_namespace(labels=ours(bot))
    client.RbacAuthorizationV1Api(kube_api).create_namespaced_role_binding(
        name, binding(bot, bot.namespace_role))
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(
            namespace=name, verb="create", resource="deployments", group="apps")))
    authorization = client.AuthorizationV1Api(as_bot)
    poll("the bot's RoleBinding to take effect",
         lambda: authorization.create_self_subject_access_review(review).status.allowed)
    return name


def deployment(name: str, *, pod: dict[str, Any] | None = None,
               container: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {**(pod or {}), "containers": [
                    {"name": "app", "image": "registry.example.com/app:1",
                     **(container or {})}]}}}}


@pytest.mark.parametrize(("pod", "container", "rule"), [
    ({}, {"securityContext": {"privileged": True}}, "may not be privileged"),
    ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, {},
     "may not mount a hostPath volume"),
    ({"hostNetwork": True}, {}, "may not use the node's network, PID or IPC namespace"),
    ({"hostPID": True}, {}, "may not use the node's network, PID or IPC namespace"),
    ({}, {"ports": [{"containerPort": 80, "hostPort": 80}]}, "(hostPort)"),
    ({"initContainers": [{"name": "init", "image": "x", "securityContext": {
        "privileged": True}}]}, {}, "may not be privileged"),
], ids=["privileged", "hostPath", "hostNetwork", "hostPID", "hostPort", "privileged-init"])
def test_a_pod_spec_that_reaches_the_node_is_refused(
        bot: InstalledBot, as_bot: client.ApiClient, kube_api: client.ApiClient,
        preview_ns: str, pod: dict[str, Any], container: dict[str, Any], rule: str) -> None:
    apps = client.AppsV1Api(as_bot)
    denied(bot, lambda: apps.create_namespaced_deployment(
        preview_ns, deployment("bad", pod=pod, container=container)), rule)
    assert client.AppsV1Api(kube_api).list_namespaced_deployment(preview_ns).items == []
    # The same workload without it is accepted (a StatefulSet is fenced the same way).
    apps.create_namespaced_deployment(preview_ns, deployment("good"))
    statefulset = deployment("bad-set", pod=pod, container=container)
    statefulset.update(kind="StatefulSet")
    denied(bot, lambda: apps.create_namespaced_stateful_set(preview_ns, statefulset), rule)


def test_a_preview_namespace_never_runs_privileged(
        bot: InstalledBot, as_bot: client.ApiClient, kube_api: client.ApiClient,
        preview_ns: str) -> None:
    core = client.CoreV1Api(as_bot)
    name = f"preview-adm-{uuid.uuid4().hex[:8]}"
    privileged = {**ours(bot), "pod-security.kubernetes.io/enforce": "privileged"}
    without = {k: v for k, v in ours(bot).items() if not k.startswith("pod-security")}
    for labels in (privileged, without):
        denied(bot, lambda labels=labels: core.create_namespace(namespace(name, labels)),
               "must enforce Pod Security restricted or baseline")
    assert not exists(kube_api, name)
    for level in ("privileged", None):
        denied(bot, lambda level=level: core.patch_namespace(preview_ns, {"metadata": {
            "labels": {"pod-security.kubernetes.io/enforce": level}}}),
            "must enforce Pod Security restricted or baseline")
    # A label of its own choosing would be a way round the fence too.
    denied(bot, lambda: core.patch_namespace(preview_ns, {"metadata": {
        "labels": {"pod-security.kubernetes.io/enforce-version": "v1.0"}}}),
        "may only set its own labels on a namespace")
    assert client.CoreV1Api(kube_api).read_namespace(preview_ns).metadata.labels[
        "pod-security.kubernetes.io/enforce"] == "restricted"
    core.patch_namespace(preview_ns, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "baseline"}}})  # allowed: still fenced


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}


@pytest.mark.parametrize("spec", [
    {"type": "LoadBalancer"}, {"type": "NodePort"},
    {"externalIPs": ["203.0.113.7"]},
    {"type": "ExternalName", "externalName": "metadata.google.internal"},
], ids=["LoadBalancer", "NodePort", "externalIPs", "ExternalName"])
def test_services_stay_inside_the_cluster(bot: InstalledBot, as_bot: client.ApiClient,
                                          preview_ns: str, spec: dict[str, Any]) -> None:
    core = client.CoreV1Api(as_bot)
    if spec.get("type") == "ExternalName":
        spec = {**spec, "ports": None, "selector": None}
    denied(bot, lambda: core.create_namespaced_service(preview_ns, service("bad", **spec)),
           "must be of type ClusterIP without externalIPs")
    core.create_namespaced_service(preview_ns, service("good"))


def http_route(host: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"parentRefs": [{"name": "preview-gateway",
                                            "namespace": "gateway-system"}],
                            "rules": [{"backendRefs": [{"name": "app", "port": 80}]}]}
    if host is not None:
        spec["hostnames"] = [host]
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": f"r-{uuid.uuid4().hex[:6]}"}, "spec": spec}


def virtual_service(host: str, gateways: list[str] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"hosts": [host], "http": [{"route": [
        {"destination": {"host": "app"}}]}]}
    if gateways is not None:
        spec["gateways"] = gateways
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": f"v-{uuid.uuid4().hex[:6]}"}, "spec": spec}


def ingress(host: str | None) -> dict[str, Any]:
    rule: dict[str, Any] = {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": "app", "port": {"number": 80}}}}]}}
    if host is not None:
        rule["host"] = host
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": f"i-{uuid.uuid4().hex[:6]}"}, "spec": {"rules": [rule]}}


HOST_RULE = f"must name their hosts, each inside {DOMAIN}"


@pytest.mark.parametrize(("make", "rule"), [
    (lambda: http_route("checkout.example.com"), HOST_RULE),
    (lambda: http_route(None), HOST_RULE),  # no hostnames: every host of the gateway
    (lambda: http_route(f"*.{DOMAIN}"), HOST_RULE),
    (lambda: http_route(f"evil{DOMAIN}"), HOST_RULE),  # a suffix, not a subdomain
    (lambda: ingress("login.example.com"), HOST_RULE),
    (lambda: ingress(None), HOST_RULE),
    (lambda: virtual_service("checkout.default.svc.cluster.local", ["istio-system/gw"]),
     HOST_RULE),
    (lambda: virtual_service(f"a.{DOMAIN}", None), "must name its gateways and not 'mesh'"),
    (lambda: virtual_service(f"a.{DOMAIN}", ["mesh"]), "must name its gateways and not 'mesh'"),
], ids=["route-foreign-host", "route-no-host", "route-wildcard", "route-suffix",
        "ingress-foreign-host", "ingress-no-host", "vs-mesh-host", "vs-no-gateways",
        "vs-mesh-gateway"])
def test_routes_claim_only_hosts_of_the_preview_domains(
        bot: InstalledBot, as_bot: client.ApiClient, preview_ns: str,
        make: Callable[[], dict[str, Any]], rule: str) -> None:
    custom = client.CustomObjectsApi(as_bot)
    networking = client.NetworkingV1Api(as_bot)

    def create(body: dict[str, Any]) -> object:
        if body["kind"] == "Ingress":
            return networking.create_namespaced_ingress(preview_ns, body)
        group, version = body["apiVersion"].split("/")
        plural = {"HTTPRoute": "httproutes", "VirtualService": "virtualservices"}[body["kind"]]
        return custom.create_namespaced_custom_object(group, version, preview_ns, plural, body)

    bad = make()
    denied(bot, lambda: create(bad), rule)
    good = {"HTTPRoute": lambda: http_route(f"app-mr-7.{DOMAIN}"),
            "Ingress": lambda: ingress(f"app-mr-7.{DOMAIN}"),
            "VirtualService": lambda: virtual_service(f"app-mr-7.{DOMAIN}",
                                                      ["istio-system/gw"])}[bad["kind"]]()
    create(good)


def test_only_the_bots_own_network_policy(bot: InstalledBot, as_bot: client.ApiClient,
                                          preview_ns: str) -> None:
    networking = client.NetworkingV1Api(as_bot)

    def policy(name: str) -> dict[str, Any]:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name}, "spec": {"podSelector": {},
                                                     "egress": [{}], "policyTypes": ["Egress"]}}

    denied(bot, lambda: networking.create_namespaced_network_policy(
        preview_ns, policy("allow-everything")), "writes only its own NetworkPolicy")
    networking.create_namespaced_network_policy(preview_ns, policy("previewbot-isolation"))


@pytest.fixture
def someone(bot: InstalledBot, kube_api: client.ApiClient, tmp_path: Path,
            admin_namespace: Callable[..., str]) -> Iterator[client.ApiClient]:
    """Another service account that may create and relabel namespaces (a CI job, a
    platform tool): not the bot, not a cluster admin."""
    home = admin_namespace("someone")
    core, rbac = client.CoreV1Api(kube_api), client.RbacAuthorizationV1Api(kube_api)
    core.create_namespaced_service_account(home, {"metadata": {"name": "tool"}})
    role = f"namespace-editor-{home}"
    rbac.create_cluster_role({"metadata": {"name": role}, "rules": [{
        "apiGroups": [""], "resources": ["namespaces"],
        "verbs": ["create", "get", "patch", "update", "delete"]}]})
    rbac.create_cluster_role_binding({"metadata": {"name": role}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "tool", "namespace": home}]})
    token = core.create_namespaced_service_account_token(
        "tool", home, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
            audiences=[], expiration_seconds=3600))).status.token
    api = bot.api_client(str(token), tmp_path / "tool-kubeconfig")
    probe = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(verb="patch", resource="namespaces")))
    poll("the tool's ClusterRoleBinding to take effect", lambda: client.AuthorizationV1Api(
        api).create_self_subject_access_review(probe).status.allowed)
    yield api
    rbac.delete_cluster_role_binding(role)
    rbac.delete_cluster_role(role)


def label_denied(bot: InstalledBot, call: Callable[[], object]) -> None:
    with pytest.raises(ApiException) as refused:
        call()
    assert refused.value.status == 403
    body = str(refused.value.body)
    # Other tests' installations share the cluster: whichever installation's labels
    # policy the API server asks first may be the one that refuses; each is right to.
    assert re.search(r"ValidatingAdmissionPolicy '[^']*-labels' with binding", body), body
    assert "only previewbot" in body and "denied request" in body, body


def test_only_the_bot_makes_or_unmakes_its_namespaces(
        bot: InstalledBot, someone: client.ApiClient, kube_api: client.ApiClient,
        admin_namespace: Callable[..., str]) -> None:
    tool, admin = client.CoreV1Api(someone), client.CoreV1Api(kube_api)
    # Making one the bot would adopt: created with its labels, or labelled afterwards.
    bait = f"preview-bait-{uuid.uuid4().hex[:8]}"
    for labels in (ours(bot), {"app.kubernetes.io/managed-by": "previewbot"}):
        label_denied(bot, lambda labels=labels: tool.create_namespace(namespace(bait, labels)))
    assert not exists(kube_api, bait)
    plain = admin_namespace("team")
    label_denied(bot, lambda: tool.patch_namespace(plain, {"metadata": {"labels": ours(bot)}}))
    assert "app.kubernetes.io/managed-by" not in (
        admin.read_namespace(plain).metadata.labels or {})
    # Unmaking one of the bot's (so that it is left behind, or handed to another bot).
    mine = admin_namespace(labels=ours(bot))
    for change in ({"previewbot/instance": None}, {"previewbot/instance": "production"},
                   {"app.kubernetes.io/managed-by": None}):
        label_denied(bot, lambda change=change: tool.patch_namespace(
            mine, {"metadata": {"labels": change}}))
    assert admin.read_namespace(mine).metadata.labels == {
        **ours(bot), "kubernetes.io/metadata.name": mine}
    # Everything else stays theirs: other labels, other installations' namespaces.
    tool.patch_namespace(mine, {"metadata": {"labels": {"team": "shop"}}})
    other = f"preview-other-{uuid.uuid4().hex[:8]}"
    tool.create_namespace(namespace(other, {**ours(bot), "previewbot/instance": "production"}))
    admin.delete_namespace(other)
