"""One MR lifecycle driven through the real `previewbot` CLI with the chart's service
account token (TokenRequest), never the admin kubeconfig: the chart's RBAC is
sufficient (this test) as well as least (test_rbac.py, test_admission.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.cluster.testbed import Testbed
from tests.fakes.gitlab import FakeGitLab
from tests.integration.chart.bot_chart import InstalledBot
from tests.integration.lifecycle_bed import LifecycleBed, helm_release


@dataclass
class BotAccountBed(LifecycleBed):
    """A LifecycleBed whose previewbot (and its Helm) authenticate as the bot's account."""

    overrides: dict[str, str] = field(default_factory=dict)

    def environ(self) -> dict[str, str]:
        return {**super().environ(), **self.overrides}


@pytest.fixture
def as_bot(bot: InstalledBot, bot_kubeconfig: str, testbed: Testbed, fake_gitlab: FakeGitLab,
           redis_url: str, tmp_path: Path,
           kube_api: client.ApiClient) -> Iterator[BotAccountBed]:
    bed = BotAccountBed(testbed, fake_gitlab, redis_url, tmp_path,
                        overrides={"KUBECONFIG": bot_kubeconfig, **bot.environ()})
    yield bed
    bed.cleanup(client.CoreV1Api(kube_api))


def run_ok(bed: LifecycleBed, *args: str) -> str:
    done = bed.cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_lifecycle_under_the_bots_own_token(as_bot: BotAccountBed, bot: InstalledBot,
                                              kube_api: client.ApiClient) -> None:
    bed = as_bot
    core, rbac = client.CoreV1Api(kube_api), client.RbacAuthorizationV1Api(kube_api)
    checked = run_ok(bed, "check-config")
    assert "ok   kubernetes:" in checked and "ok   helm:" in checked

    sha = bed.add_mr(7)
    env_key = f"{bed.slug}-mr-7"
    namespace = f"preview-{env_key}"
    shown = run_ok(bed, "up", f"{bed.project_path}!7")
    assert f"ready: https://{env_key}.preview.test" in shown
    binding = rbac.read_namespaced_role_binding("previewbot", namespace)
    assert binding.role_ref.name == bot.namespace_role
    assert [(s.namespace, s.name) for s in binding.subjects] == [(bot.namespace,
                                                                  bot.service_account)]
    assert binding.metadata.labels["app.kubernetes.io/managed-by"] == "previewbot"
    labels = core.read_namespace(namespace).metadata.labels
    assert labels["previewbot/instance"] == bot.instance
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    isolation = client.NetworkingV1Api(kube_api).read_namespaced_network_policy(
        "previewbot-isolation", namespace)
    assert isolation.spec.policy_types == ["Ingress", "Egress"]
    first = helm_release(bed, env_key)
    assert first is not None and first["status"] == "deployed"
    assert core.read_namespace(namespace).metadata.annotations["previewbot/sha"] == sha

    bed.gitlab.update_merge_request(bed.project_id, 7, sha="c" * 40)
    run_ok(bed, "up", f"{bed.project_path}!7")  # a new commit: upgraded
    second = helm_release(bed, env_key)
    assert second is not None and int(str(second["revision"])) == int(str(first["revision"])) + 1

    # A full pass: this account may not list Helm's release Secrets cluster-wide
    # (no `helm list -A`); the pass still plans and converges nothing new.
    passed = run_ok(bed, "reconcile")
    assert "FAILED" not in passed
    assert "ready" in run_ok(bed, "status", env_key)

    run_ok(bed, "down", env_key)
    with pytest.raises(ApiException) as gone:
        core.read_namespace(namespace)
    assert gone.value.status == 404


def test_without_its_role_binding_the_account_cannot_deploy(
        as_bot: BotAccountBed, kube_api: client.ApiClient) -> None:
    # The same account with the RoleBinding settings unset: the namespace is created
    # (cluster-wide right), Helm is refused inside it — the namespace role is
    # reachable only through the per-namespace binding.
    bed = as_bot
    bed.overrides = {k: v for k, v in bed.overrides.items()
                     if k not in ("PREVIEWBOT_NAMESPACE_ROLE", "PREVIEWBOT_SERVICE_ACCOUNT")}
    bed.add_mr(8)
    done = bed.cli("up", f"{bed.project_path}!8")
    assert done.returncode == 1
    assert "forbidden" in (done.stdout + done.stderr).lower()
    namespace = f"preview-{bed.slug}-mr-8"
    assert client.CoreV1Api(kube_api).read_namespace(namespace).metadata.labels[
        "app.kubernetes.io/managed-by"] == "previewbot"
    with pytest.raises(ApiException) as missing:
        client.RbacAuthorizationV1Api(kube_api).read_namespaced_role_binding(
            "previewbot", namespace)
    assert missing.value.status == 404


@pytest.mark.parametrize(("values", "told"), [
    # Refused by the chart's admission policy when Helm applies the Deployment.
    ("securityContext: {privileged: true, allowPrivilegeEscalation: null}",
     "a preview's containers may not be privileged"),
    # Accepted as a Deployment, its pods refused by Pod Security (restricted).
    ("podSecurityContext: {runAsNonRoot: null}", "violates PodSecurity"),
])
def test_a_pod_spec_the_cluster_refuses_fails_the_deploy_with_its_message(
        as_bot: BotAccountBed, values: str, told: str) -> None:
    bed = as_bot
    bed.configure(extra_values=values, ready_timeout="300s")
    bed.add_mr(9)
    env_key = f"{bed.slug}-mr-9"
    done = bed.cli("up", f"{bed.project_path}!9")
    shown = done.stdout + done.stderr
    assert told in shown, shown
    status = run_ok(bed, "status", env_key)
    assert "failed" in status and told in status, status
    notes = [n["body"] for n in bed.gitlab.notes(bed.project_id, 9) if env_key in n["body"]]
    assert len(notes) == 1 and told in notes[0], notes
    # Final, not a retry loop: the next pass leaves it failed and tries nothing.
    passed = run_ok(bed, "reconcile")
    assert env_key not in passed or "failed" in run_ok(bed, "status", env_key)
    assert "retry" not in run_ok(bed, "status", env_key).lower()
