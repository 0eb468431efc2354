"""Render tests for charts/preview-app with the real ``helm`` binary.

The binary is taken from ``$PREVIEWBOT_HELM``, else ``helm`` on ``PATH``; when
neither exists every test here FAILS (on purpose: a chart that was never
rendered is not tested). Values are always passed as a file (``-f``), never
with ``--set``, exactly like previewbot itself does.

The VirtualService/HTTPRoute bodies are also checked field by field against
the real Istio and Gateway API CRDs of the test bed
(``$PREVIEWBOT_TESTBED_CACHE/crds`` or ``~/.cache/previewbot-testbed/*/crds``).
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "preview-app"

RELEASE = "group-app-mr-7"
NAMESPACE = f"preview-{RELEASE}"
HOST = f"{RELEASE}.preview.example.com"
SVC_FQDN = f"{RELEASE}.{NAMESPACE}.svc.cluster.local"

BASE_VALUES: dict[str, Any] = {
    "preview": {
        "env": RELEASE,
        "host": HOST,
        "project": "group/app",
        "branch": "feature/login",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "mrIid": "7",
        "mrUrl": "https://gitlab.example.com/group/app/-/merge_requests/7",
    },
}

ROUTE_KINDS = {"VirtualService", "HTTPRoute", "Ingress"}


# --------------------------------------------------------------------------- helpers


def helm_binary() -> str:
    path = os.environ.get("PREVIEWBOT_HELM") or shutil.which("helm")
    if not path or not Path(path).is_file():
        pytest.fail(
            "helm binary not found: set PREVIEWBOT_HELM=/path/to/helm or put helm on PATH "
            "(`make test` builds it into ~/.cache/previewbot-testbed/<id>/bin). "
            f"PREVIEWBOT_HELM={os.environ.get('PREVIEWBOT_HELM')!r}",
            pytrace=False,
        )
    return path


def merged(*overrides: dict[str, Any]) -> dict[str, Any]:
    """BASE_VALUES deep-merged with each override (dicts merge, the rest replaces)."""

    def merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
        for k, v in src.items():
            if isinstance(v, dict) and isinstance(dst.get(k), dict):
                merge(dst[k], v)
            else:
                dst[k] = copy.deepcopy(v)

    out = copy.deepcopy(BASE_VALUES)
    for o in overrides:
        merge(out, o)
    return out


class _QuotingDumper(yaml.SafeDumper):
    """Every string double-quoted: plain `yaml.safe_dump` writes e.g. `y`, `n`,
    `0o17`, `1e3` unquoted and Helm's YAML 1.1 parser reads them as bool/number.
    JSON is no alternative either: with ensure_ascii Helm rejects the surrogate
    escapes of emoji, without it the raw control characters."""


_QuotingDumper.add_representer(
    str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style='"')
)


def dump_values(values: dict[str, Any]) -> str:
    """The values-file format that round-trips any string through Helm."""
    return yaml.dump(
        values, Dumper=_QuotingDumper, allow_unicode=False, sort_keys=False, width=1 << 30
    )


def run_helm(
    args: list[str], values: dict[str, Any], tmp_path: Path, text: str | None = None
) -> subprocess.CompletedProcess[str]:
    values_file = tmp_path / f"values-{len(list(tmp_path.iterdir()))}.yaml"
    values_file.write_text(dump_values(values) if text is None else text, encoding="utf-8")
    helm_home = tmp_path / ".helm"
    return subprocess.run(
        [helm_binary(), *args, "-f", str(values_file)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
        env={
            **os.environ,
            "HELM_CACHE_HOME": str(helm_home / "cache"),
            "HELM_CONFIG_HOME": str(helm_home / "config"),
            "HELM_DATA_HOME": str(helm_home / "data"),
            "KUBECONFIG": str(tmp_path / "no-kubeconfig"),  # never talk to a cluster
        },
    )


def template(
    values: dict[str, Any], tmp_path: Path, release: str = RELEASE, namespace: str = NAMESPACE
) -> subprocess.CompletedProcess[str]:
    return run_helm(["template", release, str(CHART), "--namespace", namespace], values, tmp_path)


def render(values: dict[str, Any], tmp_path: Path, **kw: str) -> list[dict[str, Any]]:
    res = template(values, tmp_path, **kw)
    assert res.returncode == 0, f"helm template failed:\n{res.stderr}"
    docs = [d for d in yaml.safe_load_all(res.stdout) if d is not None]
    for d in docs:
        assert isinstance(d, dict), f"non-mapping document rendered: {d!r}"
    return docs


def only(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = only(docs, kind)
    assert len(found) == 1, f"expected exactly one {kind}, got {len(found)}"
    return found[0]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


# ----------------------------------------------------- CRD-based structural check


def _crd_dir() -> Path:
    candidates: list[Path] = []
    if os.environ.get("PREVIEWBOT_TESTBED_CACHE"):
        candidates.append(Path(os.environ["PREVIEWBOT_TESTBED_CACHE"]) / "crds")
    helm = os.environ.get("PREVIEWBOT_HELM") or shutil.which("helm")
    if helm:
        candidates.append(Path(helm).resolve().parent.parent / "crds")
    base = Path.home() / ".cache" / "previewbot-testbed"
    candidates += sorted(base.glob("*/crds"), key=lambda p: p.stat().st_mtime, reverse=True)
    for c in candidates:
        if (c / "istio.yaml").is_file() and (c / "gateway-api.yaml").is_file():
            return c
    pytest.fail(
        "Istio/Gateway API CRDs not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); run tests/cluster/build.sh or set PREVIEWBOT_TESTBED_CACHE",
        pytrace=False,
    )


def crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    d = _crd_dir()
    for f in ("istio.yaml", "gateway-api.yaml"):
        for doc in yaml.safe_load_all((d / f).read_text(encoding="utf-8")):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            if spec["group"] != group or spec["names"]["kind"] != kind:
                continue
            for v in spec["versions"]:
                if v["name"] == version:
                    assert v.get("served", True), f"{group}/{version} {kind} is not served"
                    return v["schema"]["openAPIV3Schema"]
    pytest.fail(f"no CRD for {group}/{version} {kind} in {d}", pytrace=False)


def check_against(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """A small structural validator: types, unknown fields, required, enum."""
    errors: list[str] = []
    if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
        return errors
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, int | str) or isinstance(value, bool):
            errors.append(f"{path}: expected int-or-string, got {value!r}")
        return errors
    typ = schema.get("type")
    pytypes = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "boolean": bool,
        "number": int | float,
    }
    if typ in pytypes:
        ok = isinstance(value, pytypes[typ]) and not (
            typ in ("integer", "number") and isinstance(value, bool)
        )
        if not ok:
            return [f"{path}: expected {typ}, got {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for req in schema.get("required", []):
            if req not in value:
                errors.append(f"{path}: missing required field {req!r}")
        for k, v in value.items():
            if k in props:
                errors += check_against(props[k], v, f"{path}.{k}")
            elif isinstance(extra, dict):
                errors += check_against(extra, v, f"{path}.{k}")
            elif not (extra is True or schema.get("x-kubernetes-preserve-unknown-fields")):
                errors.append(f"{path}: unknown field {k!r}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += check_against(schema["items"], item, f"{path}[{i}]")
    return errors


def assert_valid_cr(doc: dict[str, Any]) -> None:
    group, version = doc["apiVersion"].split("/")
    schema = crd_schema(group, doc["kind"], version)
    errors = check_against(schema["properties"]["spec"], doc["spec"], "spec")
    assert not errors, (
        f"{doc['kind']} {doc['metadata']['name']} does not match its CRD:\n" + "\n".join(errors)
    )


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize(
    ("mode", "route_kind"),
    [
        ("istio", "VirtualService"),
        ("gateway-api", "HTTPRoute"),
        ("ingress", "Ingress"),
        ("none", None),
    ],
)
def test_routing_mode_renders_exactly_the_expected_kinds(
    tmp_path: Path, mode: str, route_kind: str | None
) -> None:
    docs = render(merged({"routing": {"mode": mode}}), tmp_path)
    expected = Counter({"Deployment": 1, "Service": 1})
    if route_kind:
        expected[route_kind] = 1
    assert Counter(d["kind"] for d in docs) == expected


def test_common_labels_names_and_namespace(tmp_path: Path) -> None:
    for mode in ("istio", "gateway-api", "ingress"):
        for doc in render(merged({"routing": {"mode": mode}}), tmp_path):
            meta = doc["metadata"]
            assert meta["name"] == RELEASE
            assert meta["namespace"] == NAMESPACE
            assert meta["labels"] == {
                "app.kubernetes.io/name": "preview-app",
                "app.kubernetes.io/instance": RELEASE,
                "app.kubernetes.io/version": "1.0",
                "app.kubernetes.io/managed-by": "Helm",
                "helm.sh/chart": "preview-app-0.1.0",
                "previewbot/env": RELEASE,
            }, doc["kind"]


def test_deployment_and_service(tmp_path: Path) -> None:
    docs = render(
        merged({"image": {"repository": "registry.example.com/group/app", "tag": "abc123"}}),
        tmp_path,
    )
    dep = one(docs, "Deployment")
    selector = {"app.kubernetes.io/name": "preview-app", "app.kubernetes.io/instance": RELEASE}
    assert dep["apiVersion"] == "apps/v1"
    assert dep["spec"]["selector"]["matchLabels"] == selector
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert dep["metadata"]["annotations"] == {
        "previewbot/env": RELEASE,
        "previewbot/project-path": "group/app",
        "previewbot/branch": "feature/login",
        "previewbot/sha": "0123456789abcdef0123456789abcdef01234567",
        "previewbot/mr-iid": "7",
        "previewbot/mr-url": "https://gitlab.example.com/group/app/-/merge_requests/7",
    }
    c = container(docs)
    assert c["image"] == "registry.example.com/group/app:abc123"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["readinessProbe"] == {"httpGet": {"path": "/", "port": "http"}}
    assert "livenessProbe" not in c
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env == {"PREVIEW_ENV": RELEASE, "PREVIEW_HOST": HOST, "PREVIEW_URL": f"https://{HOST}"}

    svc = one(docs, "Service")
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == selector
    assert svc["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]


def test_branch_environment_has_no_mr_annotations(tmp_path: Path) -> None:
    docs = render(merged({"preview": {"mrIid": "", "mrUrl": ""}}), tmp_path)
    ann = one(docs, "Deployment")["metadata"]["annotations"]
    assert "previewbot/mr-iid" not in ann
    assert "previewbot/mr-url" not in ann


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ({}, "nginxinc/nginx-unprivileged:latest"),
        ({"tag": ""}, "nginxinc/nginx-unprivileged:latest"),
        ({"tag": "1.27"}, "nginxinc/nginx-unprivileged:1.27"),
        (
            {"repository": "r.example.com/a/b", "tag": "x", "digest": "sha256:" + "a" * 64},
            "r.example.com/a/b@sha256:" + "a" * 64,
        ),
    ],
)
def test_image_reference(tmp_path: Path, image: dict[str, str], expected: str) -> None:
    assert container(render(merged({"image": image}), tmp_path))["image"] == expected


def test_probes_extra_env_and_scheduling(tmp_path: Path) -> None:
    values = merged(
        {
            "readinessProbe": None,
            "livenessProbe": {"tcpSocket": {"port": "http"}},
            "env": [
                {"name": "FEATURE", "value": "on"},
                {"name": "PREVIEW_URL", "value": "override"},
            ],
            "podAnnotations": {"sidecar.istio.io/inject": "true"},
            "nodeSelector": {"pool": "preview"},
            "tolerations": [{"key": "preview", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {}},
            "containerPort": 80,
            "service": {"port": 8081},
        }
    )
    docs = render(values, tmp_path)
    c = container(docs)
    assert "readinessProbe" not in c
    assert c["livenessProbe"] == {"tcpSocket": {"port": "http"}}
    assert c["ports"][0]["containerPort"] == 80
    assert c["env"][-2:] == values["env"]
    pod = one(docs, "Deployment")["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "true"}
    assert pod["spec"]["nodeSelector"] == {"pool": "preview"}
    assert pod["spec"]["tolerations"] == values["tolerations"]
    assert pod["spec"]["affinity"] == {"nodeAffinity": {}}
    assert one(docs, "Service")["spec"]["ports"][0]["port"] == 8081
    vs = one(docs, "VirtualService")
    assert vs["spec"]["http"][0]["route"][0]["destination"]["port"] == {"number": 8081}


PROD_RES = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}
DEV_RES = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
PREVIEW_RES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "250m", "memory": "128Mi"},
}
CUSTOM_RES = {"requests": {"cpu": "1", "memory": "1Gi"}}


@pytest.mark.parametrize(
    ("overrides", "replicas", "resources"),
    [
        ({}, 1, PREVIEW_RES),  # chart default overlay is "preview"
        ({"overlay": "preview"}, 1, PREVIEW_RES),
        ({"overlay": "dev"}, 1, DEV_RES),
        ({"overlay": "prod"}, 3, PROD_RES),
        ({"overlay": "prod", "replicaCount": 5}, 5, PROD_RES),
        ({"overlay": "prod", "replicaCount": 0}, 0, PROD_RES),
        ({"overlay": "prod", "replicaCount": None}, 3, PROD_RES),
        ({"overlay": "prod", "resources": CUSTOM_RES}, 3, CUSTOM_RES),
        ({"overlay": "dev", "resources": {}}, 1, DEV_RES),
        ({"overlays": {"preview": {"replicaCount": 2}}}, 2, PREVIEW_RES),
    ],
    ids=lambda v: json.dumps(v, sort_keys=True) if isinstance(v, dict) else str(v),
)
def test_overlays_and_overrides(
    tmp_path: Path, overrides: dict[str, Any], replicas: int, resources: dict[str, Any]
) -> None:
    docs = render(merged(overrides), tmp_path)
    assert one(docs, "Deployment")["spec"]["replicas"] == replicas
    assert container(docs)["resources"] == resources


def test_virtualservice(tmp_path: Path) -> None:
    docs = render(
        merged({"routing": {"mode": "istio", "istio": {"gateways": ["istio-system/gw", "mesh"]}}}),
        tmp_path,
    )
    vs = one(docs, "VirtualService")
    assert vs["apiVersion"] == "networking.istio.io/v1"
    assert vs["spec"] == {
        "hosts": [HOST],
        "gateways": ["istio-system/gw", "mesh"],
        "http": [
            {
                "name": "preview",
                "route": [{"destination": {"host": SVC_FQDN, "port": {"number": 80}}}],
            }
        ],
    }
    assert_valid_cr(vs)


def test_httproute(tmp_path: Path) -> None:
    refs = [{"name": "gw", "namespace": "gateway-system", "sectionName": "https"}]
    docs = render(
        merged({"routing": {"mode": "gateway-api", "gatewayApi": {"parentRefs": refs}}}), tmp_path
    )
    route = one(docs, "HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"] == {
        "parentRefs": refs,
        "hostnames": [HOST],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"name": RELEASE, "port": 80}],
            }
        ],
    }
    assert_valid_cr(route)


@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("class_name", ["", "nginx"])
def test_ingress(tmp_path: Path, tls: bool, class_name: str) -> None:
    ingress_values = {
        "className": class_name,
        "tls": tls,
        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
    }
    docs = render(merged({"routing": {"mode": "ingress", "ingress": ingress_values}}), tmp_path)
    ing = one(docs, "Ingress")
    assert ing["apiVersion"] == "networking.k8s.io/v1"
    assert ing["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    spec = ing["spec"]
    assert spec.get("ingressClassName") == (class_name or None)
    assert spec["rules"] == [
        {
            "host": HOST,
            "http": {
                "paths": [
                    {
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": RELEASE, "port": {"number": 80}}},
                    }
                ]
            },
        }
    ]
    if tls:
        assert spec["tls"] == [{"hosts": [HOST], "secretName": f"{RELEASE}-tls"}]
    else:
        assert "tls" not in spec


@pytest.mark.parametrize("header_name", [None, "x-env"])
def test_istio_header_routing(tmp_path: Path, header_name: str | None) -> None:
    hr: dict[str, Any] = {"enabled": True, "sharedHost": "app.dev.example.com"}
    if header_name:
        hr["headerName"] = header_name
    docs = render(merged({"routing": {"mode": "istio", "istio": {"headerRouting": hr}}}), tmp_path)
    vss = {d["metadata"]["name"]: d for d in only(docs, "VirtualService")}
    assert set(vss) == {RELEASE, f"{RELEASE}-header-routing"}
    assert vss[RELEASE]["spec"]["hosts"] == [HOST]
    shared = vss[f"{RELEASE}-header-routing"]["spec"]
    assert shared["hosts"] == ["app.dev.example.com"]
    assert shared["gateways"] == ["istio-system/preview-gateway"]
    assert shared["http"] == [
        {
            "name": f"preview-{RELEASE}",
            "match": [{"headers": {header_name or "x-preview": {"exact": RELEASE}}}],
            "route": [{"destination": {"host": SVC_FQDN, "port": {"number": 80}}}],
        }
    ]
    for vs in vss.values():
        assert_valid_cr(vs)


def test_gateway_api_header_routing(tmp_path: Path) -> None:
    hr = {"enabled": True, "sharedHost": "app.dev.example.com"}
    docs = render(
        merged({"routing": {"mode": "gateway-api", "gatewayApi": {"headerRouting": hr}}}), tmp_path
    )
    routes = {d["metadata"]["name"]: d for d in only(docs, "HTTPRoute")}
    assert set(routes) == {RELEASE, f"{RELEASE}-header-routing"}
    shared = routes[f"{RELEASE}-header-routing"]["spec"]
    assert shared["hostnames"] == ["app.dev.example.com"]
    assert shared["rules"][0]["matches"] == [
        {
            "path": {"type": "PathPrefix", "value": "/"},
            "headers": [{"type": "Exact", "name": "x-preview", "value": RELEASE}],
        }
    ]
    for r in routes.values():
        assert_valid_cr(r)


def test_header_routing_disabled_by_default_and_ignored_in_other_modes(tmp_path: Path) -> None:
    assert len(only(render(merged({}), tmp_path), "VirtualService")) == 1
    hr = {"enabled": True, "sharedHost": "app.dev.example.com"}
    docs = render(
        merged({"routing": {"mode": "ingress", "istio": {"headerRouting": hr}}}), tmp_path
    )
    assert not only(docs, "VirtualService")


def test_release_name_starting_with_a_digit_gets_a_dns1035_name(tmp_path: Path) -> None:
    env = "3d-app-mr-1"
    values = merged({"preview": {"env": env, "host": f"{env}.preview.example.com"}})
    docs = render(values, tmp_path, release=env, namespace=f"preview-{env}")
    assert {d["metadata"]["name"] for d in docs} == {f"app-{env}"}
    assert one(docs, "Deployment")["metadata"]["labels"]["app.kubernetes.io/instance"] == env
    vs = one(docs, "VirtualService")
    assert (
        vs["spec"]["http"][0]["route"][0]["destination"]["host"]
        == f"app-{env}.preview-{env}.svc.cluster.local"
    )


def _random_branch(seed: int) -> str:
    rnd = random.Random(seed)
    pool = [
        chr(c) for c in [*range(0x250), *range(0x2000, 0x2070), 0xFEFF, 0xFFFE, 0x1F680, 0x10FFFF]
    ]
    return "".join(rnd.choice(pool) for _ in range(120))


HOSTILE_BRANCHES = [
    "quote\"s and 'single' and `back`ticks",
    "new\nline\r\nand\ttab",
    "{{ .Values }}",
    '{{ fail "boom" }}{{ .Release.Name }}',
    "--set x=y",
    "--set-string image.tag=evil,preview.env=x",
    "ünïcödé/分支/ветка",
    "emoji 🚀🔥👩‍💻",
    "yaml: {inject: [1, 2]}\n---\nkind: Secret\n",
    "- list\n# comment\n&anchor *alias !!binary",
    "%TAG ! tag:evil,2000:\n... end",
    # YAML 1.1 scalars that a naive writer leaves unquoted and Helm would retype
    "true",
    "y",
    "n",
    "on",
    "NO",
    "~",
    "null",
    "0x1F",
    "0o17",
    "1e3",
    "1:20",
    "2001-12-14",
    ".inf",
    "<<",
    "=",
    "",
    "   leading and trailing spaces   ",
    'back\\slash \\n \\u0041 \\"',
    "ctrl \x00\x01\x07\x1b\x7f nel\x85 nbsp\xa0 ls\u2028 ps\u2029 bom\ufeff zw\u200b",
    "$(touch /tmp/pwned); rm -rf / #",
    "x" * 255,
    ('a"\n{{ .Values }} --set x=y 🚀 ü\\' * 40)[:255],
    _random_branch(1),
    _random_branch(2),
]


@pytest.mark.parametrize("branch", HOSTILE_BRANCHES, ids=range(len(HOSTILE_BRANCHES)))
def test_hostile_branch_renders_as_an_equal_annotation(tmp_path: Path, branch: str) -> None:
    values = merged({"preview": {"branch": branch, "project": branch, "mrUrl": branch or "u"}})
    docs = render(values, tmp_path)
    # No injected documents or kinds, and the annotation is the exact input.
    assert Counter(d["kind"] for d in docs) == Counter(
        {"Deployment": 1, "Service": 1, "VirtualService": 1}
    )
    ann = one(docs, "Deployment")["metadata"]["annotations"]
    # Exact input, except control/line-separator characters shown as "?" (Helm 4's
    # server-side apply rejects them; the namespace annotation keeps the exact text).
    shown = re.sub("[\x00-\x1f\x7f-\x9f\u2028\u2029]", "?", branch)
    assert ann["previewbot/branch"] == shown
    assert ann["previewbot/project-path"] == shown
    assert ann["previewbot/mr-url"] == (shown or "u")
    assert isinstance(ann["previewbot/branch"], str)


def test_values_file_with_unquoted_yaml11_scalar_is_rejected_loudly(tmp_path: Path) -> None:
    # A naive writer (plain yaml.safe_dump) emits `branch: y`, which Helm reads as
    # a boolean. The schema turns that into a clear error instead of a silent
    # `true`; previewbot must write values like dump_values() does.
    naive = yaml.safe_dump(merged({"preview": {"branch": "y"}}))
    assert "branch: y\n" in naive
    res = run_helm(["template", RELEASE, str(CHART)], {}, tmp_path, text=naive)
    assert res.returncode != 0
    assert "/preview/branch" in res.stderr


def test_hostile_branch_lints(tmp_path: Path) -> None:
    values = merged({"preview": {"branch": HOSTILE_BRANCHES[-1] + "\n---\n{{ .Values }}"}})
    res = run_helm(["lint", "--strict", str(CHART)], values, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"preview": {"host": HOST}}, "env"),
        ({"preview": {"env": RELEASE}}, "host"),
        ({}, "preview"),
        ({"preview": {"env": "", "host": HOST}}, "env"),
        ({"preview": {"env": "Group_App", "host": HOST}}, "env"),
        ({"preview": {"env": "a" * 64, "host": HOST}}, "env"),
        ({"preview": {"env": RELEASE, "host": ""}}, "host"),
        ({"preview": {"env": RELEASE, "host": "https://x.example.com/"}}, "host"),
        ({"preview": {"env": RELEASE, "host": HOST, "branch": 7}}, "branch"),
        ({"preview": {"env": RELEASE, "host": HOST, "mrIid": 7}}, "mrIid"),
        ({"preview": {"env": RELEASE, "host": HOST, "extra": "x"}}, "extra"),
        ({**BASE_VALUES, "overlay": "staging"}, "overlay"),
        ({**BASE_VALUES, "overlay": ""}, "overlay"),
        ({**BASE_VALUES, "routing": {"mode": "nginx"}}, "mode"),
        ({**BASE_VALUES, "routing": {"mode": "gateway"}}, "mode"),
        ({**BASE_VALUES, "replicaCount": "3"}, "replicaCount"),
        ({**BASE_VALUES, "replicaCount": -1}, "replicaCount"),
        ({**BASE_VALUES, "image": {"repository": "nginx", "tag": 1.25}}, "tag"),
        ({**BASE_VALUES, "containerPort": "http"}, "containerPort"),
        ({**BASE_VALUES, "env": [{"name": "A", "value": 1}]}, "value"),
        (
            {
                **BASE_VALUES,
                "routing": {"mode": "istio", "istio": {"headerRouting": {"enabled": True}}},
            },
            "sharedHost",
        ),
        (
            {
                **BASE_VALUES,
                "routing": {"mode": "istio", "istio": {"headerRouting": {"headerName": "X Bad"}}},
            },
            "headerName",
        ),
        ({**BASE_VALUES, "routing": {"mode": "ingress", "ingress": {"tls": "yes"}}}, "tls"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_schema_rejects_bad_values(tmp_path: Path, values: dict[str, Any], field: str) -> None:
    res = template(values, tmp_path)
    assert res.returncode != 0, f"expected a schema error for {field}, got:\n{res.stdout[:2000]}"
    assert field in res.stderr, res.stderr
    assert "schema" in res.stderr.lower(), res.stderr


def test_schema_allows_team_extensions_at_top_level(tmp_path: Path) -> None:
    docs = render(merged({"myTeamSetting": {"anything": [1, 2]}, "database": "on"}), tmp_path)
    assert one(docs, "Deployment")


@pytest.mark.parametrize("mode", ["istio", "gateway-api", "ingress", "none"])
def test_helm_lint_strict(tmp_path: Path, mode: str) -> None:
    values = merged({"routing": {"mode": mode, "ingress": {"tls": True}}})
    if mode == "istio":
        values["routing"]["istio"] = {
            "headerRouting": {"enabled": True, "sharedHost": "app.dev.example.com"}
        }
    res = run_helm(["lint", "--strict", str(CHART)], values, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_helm_lint_strict_fails_without_preview_values(tmp_path: Path) -> None:
    res = run_helm(["lint", "--strict", str(CHART)], {}, tmp_path)
    assert res.returncode != 0
    assert "preview" in res.stdout + res.stderr


def test_notes_print_the_url(tmp_path: Path) -> None:
    hr = {"enabled": True, "sharedHost": "app.dev.example.com"}
    values = merged({"routing": {"istio": {"headerRouting": hr}}})
    res = run_helm(
        ["install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client"],
        values,
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    notes = res.stdout.split("NOTES:", 1)[1]
    assert f"URL: https://{HOST}" in notes
    assert "https://app.dev.example.com" in notes
    assert f"x-preview: {RELEASE}" in notes
