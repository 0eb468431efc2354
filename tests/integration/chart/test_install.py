"""`helm install` of charts/previewbot on the real test cluster, and every route
kind it can render, validated by the real API server (dry run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client

from tests.cluster.testbed import Testbed
from tests.integration.chart.bot_chart import CHART, VALUES, InstalledBot, helm, kubectl
from tests.polling import poll


def test_install_creates_the_bot_and_its_guard(bot: InstalledBot,
                                               kube_api: client.ApiClient) -> None:
    status = json.loads(helm(bot.testbed, "status", bot.release, "-n", bot.namespace,
                             "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"

    apps = client.AppsV1Api(kube_api)
    # kwok runs no container but marks scheduled pods Running and Ready: both replicas
    # become available (probes are not executed).
    deployment = poll("both replicas to be available", lambda: (
        d := apps.read_namespaced_deployment(bot.fullname, bot.namespace)
    ).status.available_replicas == 2 and d, timeout=60)
    spec = deployment.spec.template.spec
    assert spec.service_account_name == bot.service_account
    [container] = spec.containers
    assert container.args == ["serve"]
    assert container.security_context.read_only_root_filesystem is True
    assert container.security_context.allow_privilege_escalation is False
    assert spec.security_context.run_as_non_root is True
    env = {e.name: e.value for e in container.env if e.value is not None}
    assert env["PREVIEWBOT_NAMESPACE_ROLE"] == bot.namespace_role
    assert env["PREVIEWBOT_SERVICE_ACCOUNT"] == f"{bot.namespace}:{bot.service_account}"
    assert env["PREVIEWBOT_LOG_FORMAT"] == "json"

    policy = client.PolicyV1Api(kube_api).read_namespaced_pod_disruption_budget(
        bot.fullname, bot.namespace)
    assert policy.spec.min_available == 1
    admission = client.AdmissionregistrationV1Api(kube_api)
    assert admission.read_validating_admission_policy(bot.policy).spec.failure_policy == "Fail"
    binding = admission.read_validating_admission_policy_binding(bot.policy)
    assert binding.spec.validation_actions == ["Deny"]
    rbac = client.RbacAuthorizationV1Api(kube_api)
    assert rbac.read_cluster_role(bot.namespace_role).rules
    crb = rbac.read_cluster_role_binding(bot.fullname)
    assert crb.role_ref.name == bot.fullname  # the namespace role is never bound cluster-wide
    bound = [b.metadata.name for b in rbac.list_cluster_role_binding().items
             if b.role_ref.name == bot.namespace_role]
    assert bound == []


@pytest.mark.parametrize(("mode", "kind"), [("istio", "VirtualService"),
                                            ("gateway-api", "HTTPRoute"),
                                            ("ingress", "Ingress")])
def test_every_route_kind_is_accepted_by_the_api_server(testbed: Testbed, tmp_path: Path,
                                                        mode: str, kind: str) -> None:
    values = tmp_path / "values.json"
    values.write_text(json.dumps({**VALUES, "expose": {"mode": mode,
                                                       "host": "previewbot.example.test"}}))
    rendered = helm(testbed, "template", "pbroute", str(CHART), "--namespace", "default",
                    "-f", str(values))
    assert rendered.returncode == 0, rendered.stderr
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(rendered.stdout)
    # A server-side dry run: every object (the CRD-validated routes, the admission
    # policy's CEL, RBAC) goes through validation and admission, nothing is stored.
    done = kubectl(testbed, "apply", "--dry-run=server", "-f", str(manifest), "-o", "name")
    assert done.returncode == 0, done.stderr
    assert f"{kind.lower()}." in done.stdout.lower()
    assert "validatingadmissionpolicy." in done.stdout.lower()
