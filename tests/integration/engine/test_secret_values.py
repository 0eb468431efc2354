"""`secret_values`: a Secret of the bot's namespace reaches the preview as a Secret, and
its values appear nowhere else — not in Helm's values, ConfigMaps, Redis, the bot's
output, MR notes, or a values file left behind."""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.lifecycle_bed import LifecycleBed


@pytest.fixture
def home(kube_api: client.ApiClient,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """The bot's namespace with the project's Secret; (namespace, the secret value)."""
    core = client.CoreV1Api(kube_api)
    name = f"pbhome-{uuid.uuid4().hex[:8]}"
    value = f"s3cr3t-{uuid.uuid4().hex}"
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_secret(name, {"metadata": {"name": "app-preview"},
                                         "stringData": {"API_KEY": value}})
    monkeypatch.setenv("PREVIEWBOT_NAMESPACE", name)  # as the chart sets it
    yield name, value
    core.delete_namespace(name)


def test_secret_values_reach_the_app_as_a_secret_and_nothing_else(
        bed: LifecycleBed, home: tuple[str, str], kube_api: client.ApiClient) -> None:
    _, value = home
    bed.configure(project_extra="secret_values: app-preview")
    bed.add_mr(5)
    env_key = f"{bed.slug}-mr-5"
    namespace = f"preview-{env_key}"
    done = bed.cli("up", f"{bed.project_path}!5")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    core, apps = client.CoreV1Api(kube_api), client.AppsV1Api(kube_api)

    copied = core.read_namespaced_secret("previewbot-secret-values", namespace)
    assert base64.b64decode(copied.data["API_KEY"]).decode() == value
    assert copied.metadata.labels["app.kubernetes.io/managed-by"] == "previewbot"
    [deployment] = apps.list_namespaced_deployment(namespace).items
    [container] = deployment.spec.template.spec.containers
    assert [e.secret_ref.name for e in container.env_from] == ["previewbot-secret-values"]

    # Nowhere else: Helm's values and manifest, ConfigMaps, Redis, output, MR notes.
    for what in ("values", "manifest"):
        shown = subprocess.run([bed.testbed.helm, "get", what, env_key, "-n", namespace,
                                "--all" if what == "values" else "--revision=1"],
                               env=bed.environ(), capture_output=True, text=True, check=True)
        assert value not in shown.stdout and "API_KEY" not in shown.stdout
    for config_map in core.list_namespaced_config_map(namespace).items:
        assert value not in json.dumps(config_map.data or {})
    stored = bed.redis()
    for key in stored.scan_iter():
        kind = stored.type(key).decode()
        dumped = {"string": stored.get, "hash": stored.hgetall,
                  "list": lambda k: stored.lrange(k, 0, -1), "set": stored.smembers,
                  "zset": lambda k: stored.zrange(k, 0, -1),
                  "stream": stored.xrange}.get(kind, lambda k: b"")(key)
        assert value.encode() not in repr(dumped).encode(), key
    assert value not in output
    assert all(value not in n["body"] for n in bed.gitlab.notes(bed.project_id, 5))
    assert not [p for p in Path(tempfile.gettempdir()).glob("previewbot-values-*.json")
                if value in p.read_text()]


def test_a_missing_secret_fails_the_deploy_saying_how_to_create_it(
        bed: LifecycleBed, home: tuple[str, str]) -> None:
    name, _ = home
    bed.configure(project_extra="secret_values: not-there")
    bed.add_mr(6)
    done = bed.cli("up", f"{bed.project_path}!6")
    assert done.returncode != 0
    assert (f"there is no Secret not-there in namespace {name}; create it"
            in done.stdout + done.stderr), done.stdout + done.stderr
