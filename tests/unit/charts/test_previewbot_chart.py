"""charts/previewbot rendered by the real ``helm`` binary (no cluster): lint, the
values schema, what each object says, and that every alert names real metrics.

``$PREVIEWBOT_HELM``, else ``helm`` on PATH (``make test`` puts the test bed's
there); without it every test here FAILS. The install, RBAC and admission checks
on a real API server are in tests/integration/chart/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from bot import metrics
from bot.config import load_config_text
from bot.config.settings import ENV_VARS
from bot.domain.model import Status

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "previewbot"
EXAMPLE_VALUES = REPO / "examples" / "argocd" / "values-production.yaml"
RELEASE, NAMESPACE = "previewbot", "platform"
FULLNAME = "previewbot"  # the release name already contains the chart name
BASE: dict[str, Any] = {"gitlabUrl": "https://gitlab.example.com",
                        "redis": {"url": "redis://redis.platform:6379/0", "allowNoAuth": True}}
PUBLIC_PATHS = ["/webhooks/gitlab", "/slack/events"]


def helm_binary() -> str:
    path = os.environ.get("PREVIEWBOT_HELM") or shutil.which("helm")
    if not path or not Path(path).is_file():
        pytest.fail("helm not found: set PREVIEWBOT_HELM or put the test bed's bin on PATH "
                    "(`make test` does)", pytrace=False)
    return path


def helm(tmp_path: Path, *args: str, values: dict[str, Any] | None = None,
         values_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [helm_binary(), *args]
    if values is not None:
        path = tmp_path / f"values-{len(list(tmp_path.glob('values-*')))}.json"
        path.write_text(json.dumps(values))
        argv += ["-f", str(path)]
    if values_file is not None:
        argv += ["-f", str(values_file)]
    home = tmp_path / ".helm"
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "HELM_CACHE_HOME": str(home / "cache"),
                               "HELM_CONFIG_HOME": str(home / "config"),
                               "HELM_DATA_HOME": str(home / "data"),
                               "KUBECONFIG": str(tmp_path / "no-kubeconfig")})


def render(tmp_path: Path, values: dict[str, Any] | None = None,
           values_file: Path | None = None) -> list[dict[str, Any]]:
    done = helm(tmp_path, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
                values={**BASE, **(values or {})}, values_file=values_file)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind
             and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in found])
    return found[0]


# --- lint and schema ----------------------------------------------------------------


def test_helm_lint_is_clean(tmp_path: Path) -> None:
    for values in ({}, {**BASE, "expose": {"mode": "istio", "host": "bot.example.com"},
                        "metrics": {"serviceMonitor": {"enabled": True},
                                    "prometheusRule": {"enabled": True}}}):
        done = helm(tmp_path, "lint", "--strict", str(CHART), values=values)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize(("values", "where"), [
    ({"replicaCount": "two"}, "/replicaCount"),
    ({"replicaCount": -1}, "/replicaCount"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"expose": {"mode": "nginx"}}, "/expose/mode"),
    ({"metrics": {"serviceMonitor": {"enabled": "yes"}}}, "/metrics/serviceMonitor/enabled"),
    ({"admissionPolicy": {"enabled": "true"}}, "/admissionPolicy/enabled"),
    ({"secretKeys": {"GITLAB_TOKEN": 5}}, "/secretKeys/GITLAB_TOKEN"),
    ({"secretKeys": {"GITLAB_PASSWORD": "x"}}, "/secretKeys"),
    ({"replicas": 3}, "replicas"),  # a typo of replicaCount is not silently ignored
    ({"redis": {"url": "redis://:hunter2@redis:6379/0"}}, "/redis/url"),
    ({"logFormat": "xml"}, "/logFormat"),
    ({"service": {"port": 0}}, "/service/port"),
], ids=lambda v: json.dumps(v) if isinstance(v, dict) else v)
def test_the_schema_rejects_wrong_values(tmp_path: Path, values: dict[str, Any],
                                         where: str) -> None:
    done = helm(tmp_path, "template", RELEASE, str(CHART), values={**BASE, **values})
    assert done.returncode != 0
    assert where in done.stderr, done.stderr


@pytest.mark.parametrize(("values", "words"), [
    ({"gitlabUrl": ""}, "gitlabUrl is required"),
    ({"redis": {"url": ""}}, "set secretKeys.REDIS_URL"),
    # A Redis without password: the code of a preview could rewrite the bot's queue.
    ({"redis": {"url": "redis://redis.platform:6379/0"}}, "redis.url is a Redis URL without a "
                                                         "password"),
    ({"existingConfigMap": "mine"}, "admissionPolicy.hostSuffixes is required"),
    ({"expose": {"mode": "ingress"}}, "expose.host is required"),
])
def test_missing_required_values_are_named(tmp_path: Path, values: dict[str, Any],
                                           words: str) -> None:
    done = helm(tmp_path, "template", RELEASE, str(CHART), values={**BASE, **values})
    assert done.returncode != 0 and words in done.stderr, done.stderr


# --- what is rendered -----------------------------------------------------------------


def test_default_objects(tmp_path: Path) -> None:
    kinds = sorted(d["kind"] for d in render(tmp_path))
    assert kinds == sorted([
        "ServiceAccount", "ConfigMap", "ClusterRole", "ClusterRole", "ClusterRoleBinding",
        "Service", "Deployment", "PodDisruptionBudget", "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding", "NetworkPolicy"])
    with_monitoring = render(tmp_path, {"metrics": {"serviceMonitor": {"enabled": True},
                                                    "prometheusRule": {"enabled": True}}})
    assert {"ServiceMonitor", "PrometheusRule"} <= {d["kind"] for d in with_monitoring}


def test_the_deployment(tmp_path: Path) -> None:
    deployment = one(render(tmp_path), "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    assert spec["replicas"] == 2
    assert container["args"] == ["serve"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["serviceAccountName"] == FULLNAME
    spread = pod["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname",
                                                   "topology.kubernetes.io/zone"}
    assert all(c["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
               for c in spread)
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/etc/previewbot"} <= mounts  # writable /tmp under a read-only root


def test_environment_names_are_the_bots_and_secrets_come_only_from_the_secret(
        tmp_path: Path) -> None:
    docs = render(tmp_path, {"slackApiUrl": "https://slack.example.com/api/",
                             "secretKeys": {"SLACK_APP_TOKEN": "slack-app-token",
                                            "REDIS_URL": "redis-url"}})
    [container] = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert set(env) <= set(ENV_VARS.values()), set(env) - set(ENV_VARS.values())
    secret_vars = {"GITLAB_TOKEN", "GITLAB_WEBHOOK_SECRET", "SLACK_BOT_TOKEN",
                   "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "REDIS_URL"}
    for name in secret_vars:
        assert "value" not in env[name], name
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "previewbot"
    assert env["PREVIEWBOT_NAMESPACE_ROLE"]["value"] == f"{FULLNAME}-namespace"
    assert env["PREVIEWBOT_SERVICE_ACCOUNT"]["value"] == f"{NAMESPACE}:{FULLNAME}"
    assert env["PREVIEWBOT_LOG_FORMAT"]["value"] == "json"
    assert "Secret" not in {d["kind"] for d in docs}  # the chart never holds credentials


def test_least_rbac(tmp_path: Path) -> None:
    docs = render(tmp_path)
    bot = one(docs, "ClusterRole", FULLNAME)
    namespace_role = one(docs, "ClusterRole", f"{FULLNAME}-namespace")
    granted = {(group, resource): set(rule["verbs"])
               for rule in bot["rules"]
               for group in rule["apiGroups"] for resource in rule["resources"]}
    assert granted == {
        ("", "namespaces"): {"create", "get", "list", "watch", "patch", "delete"},
        ("rbac.authorization.k8s.io", "rolebindings"): {"create", "get", "patch", "delete"},
        ("rbac.authorization.k8s.io", "clusterroles"): {"bind"},
    }
    [bind] = [r for r in bot["rules"] if "bind" in r["verbs"]]
    assert bind["resourceNames"] == [f"{FULLNAME}-namespace"]
    in_namespace = {resource for rule in namespace_role["rules"]
                    for resource in rule["resources"]}
    assert in_namespace == {"secrets", "services", "configmaps", "deployments", "statefulsets",
                            "virtualservices", "httproutes", "ingresses", "pods",
                            "networkpolicies"}  # only its own: the admission policy
    [pods] = [r for r in namespace_role["rules"] if r["resources"] == ["pods"]]
    assert set(pods["verbs"]) == {"get", "list", "watch"}
    every_rule = bot["rules"] + namespace_role["rules"]
    assert not any("*" in r["verbs"] or "*" in r["resources"] or "*" in r["apiGroups"]
                   for r in every_rule)
    binding = one(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == FULLNAME  # only the bot role is bound cluster-wide
    extra = render(tmp_path, {"rbac": {"namespaceRole": {"extraRules": [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}]}}})
    assert {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]} in one(
        extra, "ClusterRole", f"{FULLNAME}-namespace")["rules"]


def test_the_admission_policy_is_about_this_service_account(tmp_path: Path) -> None:
    docs = render(tmp_path)
    policies = {d["metadata"]["name"]: d["spec"] for d in docs
                if d["kind"] == "ValidatingAdmissionPolicy"}
    policy = policies[f"{FULLNAME}-guard"]
    [condition] = policy["matchConditions"]
    assert condition["expression"] == (
        f'request.userInfo.username == "system:serviceaccount:{NAMESPACE}:{FULLNAME}"')
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): set(r["operations"])
             for r in policy["matchConstraints"]["resourceRules"]}
    assert rules[(("",), ("namespaces",))] == {"CREATE", "UPDATE", "DELETE"}
    assert rules[(("rbac.authorization.k8s.io",), ("rolebindings",))] == {
        "CREATE", "UPDATE", "DELETE"}
    assert rules[(("apps",), ("deployments", "statefulsets", "daemonsets", "replicasets"))]
    assert policy["failurePolicy"] == "Fail"
    cel = " ".join(v["expression"] for v in policy["validations"])
    assert "namespaceObject" in " ".join(v["expression"] for v in policy["variables"])
    assert "startsWith('preview-')" in cel
    # Everyone else (but cluster admins) may not make or unmake this installation's namespaces.
    others = policies[f"{FULLNAME}-labels"]
    assert [c["name"] for c in others["matchConditions"]] == ["not-previewbot",
                                                              "not-cluster-admin"]
    assert {d["spec"]["policyName"]: d["spec"]["validationActions"] for d in docs
            if d["kind"] == "ValidatingAdmissionPolicyBinding"} == {
        f"{FULLNAME}-guard": ["Deny"], f"{FULLNAME}-labels": ["Deny"]}
    assert not [d for d in render(tmp_path, {"admissionPolicy": {"enabled": False}})
                if d["kind"].startswith("ValidatingAdmissionPolicy")]


def test_the_preview_domains_come_from_the_config_unless_given(tmp_path: Path) -> None:
    def domains(values: dict[str, Any]) -> list[str]:
        policy = next(d for d in render(tmp_path, values)
                      if d["kind"] == "ValidatingAdmissionPolicy")
        [found] = [v["expression"] for v in policy["spec"]["variables"] if v["name"] == "domains"]
        return list(json.loads(found))

    assert domains({}) == ["preview.example.com"]
    config = {"defaults": {"domain": "preview.example.com", "channel": "C0P"},
              "projects": [{"path": "g/a", "domain": "shop.example.com"},
                           {"path": "g/b"}]}
    assert domains({"config": config}) == ["preview.example.com", "shop.example.com"]
    assert domains({"admissionPolicy": {"hostSuffixes": ["a.test"]}}) == ["a.test"]


def test_the_instance_is_the_full_name_unless_set(tmp_path: Path) -> None:
    def instance(values: dict[str, Any]) -> str:
        [container] = one(render(tmp_path, values), "Deployment")["spec"]["template"]["spec"][
            "containers"]
        return str(next(e["value"] for e in container["env"]
                        if e["name"] == "PREVIEWBOT_INSTANCE"))

    assert instance({}) == FULLNAME
    assert instance({"instance": "previewbot-staging"}) == "previewbot-staging"


@pytest.mark.parametrize("mode", ["ingress", "istio", "gateway-api"])
def test_routes_expose_only_the_webhook_and_slack(tmp_path: Path, mode: str) -> None:
    docs = render(tmp_path, {"expose": {"mode": mode, "host": "bot.example.com"}})
    kind = {"ingress": "Ingress", "istio": "VirtualService", "gateway-api": "HTTPRoute"}[mode]
    route = one(docs, kind)
    if kind == "Ingress":
        [rule] = route["spec"]["rules"]
        assert rule["host"] == "bot.example.com"
        paths = [(p["path"], p["pathType"]) for p in rule["http"]["paths"]]
        assert paths == [(p, "Exact") for p in PUBLIC_PATHS]
    elif kind == "VirtualService":
        assert route["spec"]["hosts"] == ["bot.example.com"]
        [http] = route["spec"]["http"]
        assert [m["uri"]["exact"] for m in http["match"]] == PUBLIC_PATHS
    else:
        assert route["spec"]["hostnames"] == ["bot.example.com"]
        [rule] = route["spec"]["rules"]
        assert [(m["path"]["type"], m["path"]["value"]) for m in rule["matches"]] == [
            ("Exact", p) for p in PUBLIC_PATHS]
    assert not [d for d in docs if d["kind"] in {"Ingress", "VirtualService", "HTTPRoute"}
                and d["kind"] != kind]


def test_service_monitor_scrapes_metrics(tmp_path: Path) -> None:
    docs = render(tmp_path, {"metrics": {"serviceMonitor": {"enabled": True}}})
    [endpoint] = one(docs, "ServiceMonitor")["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    service = one(docs, "Service")
    assert one(docs, "ServiceMonitor")["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items())


# --- alerts name real metrics ----------------------------------------------------------

# Label values the bot actually sets (see bot.metrics, DeliveryQueue.stats, Status).
KNOWN_LABEL_VALUES = {
    "state": {status.value for status in Status},
    "part": {"queued", "pending", "retrying", "parked"},
    "dependency": {"gitlab", "slack", "kubernetes", "helm", "redis"},
}
TARGET_LABELS = {"namespace", "job"}  # added by Prometheus to every scraped series


def registered() -> dict[str, tuple[str, ...]]:
    """Every sample name the registry can expose (histogram parts too) → label names."""
    names: dict[str, tuple[str, ...]] = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            base = value._name
            labels = tuple(value._labelnames)
            kind = value._type
            suffixes = {"counter": ["_total"], "histogram": ["_count", "_sum", "_bucket"],
                        "gauge": [""]}[kind]
            for suffix in suffixes:
                names[base + suffix] = labels + (("le",) if suffix == "_bucket" else ())
    return names


def alert_rules(tmp_path: Path) -> list[dict[str, Any]]:
    docs = render(tmp_path, {"metrics": {"prometheusRule": {"enabled": True}}})
    return [rule for group in one(docs, "PrometheusRule")["spec"]["groups"]
            for rule in group["rules"]]


def test_the_alerts_of_the_readme(tmp_path: Path) -> None:
    assert [r["alert"] for r in alert_rules(tmp_path)] == [
        "PreviewbotParkedEvents", "PreviewbotReconcileFailing", "PreviewbotReconcileStale",
        "PreviewbotEnvironmentsFailed", "PreviewbotGitLabErrors", "PreviewbotSlackErrors"]
    readme = (REPO / "README.md").read_text()
    for rule in alert_rules(tmp_path):
        assert rule["alert"] in readme, f"{rule['alert']} is not explained in the README"


def test_every_alert_expression_uses_real_metric_names_and_labels(tmp_path: Path) -> None:
    known = registered()
    assert "previewbot_reconcile_duration_seconds_count" in known  # the check itself works
    selector = re.compile(r"(previewbot_[a-z_]+)(?:\{([^}]*)\})?")
    matcher = re.compile(r'\s*([a-z_]+)\s*(=~|!=|!~|=)\s*"([^"]*)"\s*')
    used = 0
    for rule in alert_rules(tmp_path):
        expr = rule["expr"]
        for name, inner in selector.findall(expr):
            used += 1
            assert name in known, f"{rule['alert']}: {name} is not a metric of bot/metrics.py"
            for part in filter(None, inner.split(",")):
                found = matcher.fullmatch(part)
                assert found, f"{rule['alert']}: cannot read matcher {part!r}"
                label, _, value = found.groups()
                assert label in known[name] or label in TARGET_LABELS, (
                    f"{rule['alert']}: {name} has no label {label}")
                if label in KNOWN_LABEL_VALUES:
                    assert value in KNOWN_LABEL_VALUES[label], (rule["alert"], label, value)
        assert expr.count("(") == expr.count(")"), rule["alert"]
    assert used >= 8


def test_a_wrong_metric_name_would_be_caught() -> None:
    assert "previewbot_reconcile_seconds_count" not in registered()


# --- the Argo CD example's values ------------------------------------------------------


def test_the_argocd_example_values_render_and_hold_a_valid_bot_config(tmp_path: Path) -> None:
    docs = render(tmp_path, values_file=EXAMPLE_VALUES)
    config_map = one(docs, "ConfigMap")
    config = load_config_text(config_map["data"]["previewbot.yaml"], "the example ConfigMap")
    assert [p.path for p in config.projects] == ["group/app"]
    assert one(docs, "VirtualService")["spec"]["hosts"] == ["previewbot.example.com"]
    assert {"ServiceMonitor", "PrometheusRule"} <= {d["kind"] for d in docs}
