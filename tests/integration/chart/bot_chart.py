"""The bot's own chart (charts/previewbot) installed on the real test cluster, and
credentials of its service account (a TokenRequest token, never the admin's)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.cluster.testbed import Testbed

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "previewbot"
# What a test install needs beyond the defaults; no Secret exists (kwok runs no container).
VALUES: dict[str, Any] = {
    "gitlabUrl": "https://gitlab.example.test",
    "redis": {"url": "redis://redis.invalid:6379/0", "allowNoAuth": True},
    # The domain of the test beds' previewbot.yaml (tests/integration/lifecycle_bed.py).
    "admissionPolicy": {"hostSuffixes": ["preview.test"]},
}


@dataclass(frozen=True)
class InstalledBot:
    testbed: Testbed
    release: str
    namespace: str

    @property
    def fullname(self) -> str:
        return f"{self.release}-previewbot"

    @property
    def service_account(self) -> str:
        return self.fullname

    @property
    def namespace_role(self) -> str:
        return f"{self.fullname}-namespace"

    @property
    def policy(self) -> str:
        return f"{self.fullname}-guard"

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def environ(self) -> dict[str, str]:
        """What the chart's Deployment sets for the bot's RoleBindings."""
        return {"PREVIEWBOT_NAMESPACE_ROLE": self.namespace_role,
                "PREVIEWBOT_SERVICE_ACCOUNT": f"{self.namespace}:{self.service_account}",
                "PREVIEWBOT_INSTANCE": self.instance}

    @property
    def instance(self) -> str:
        """The chart's PREVIEWBOT_INSTANCE: its full name unless ``instance`` is set."""
        return self.fullname

    @property
    def label_policy(self) -> str:
        return f"{self.fullname}-labels"

    def token(self, core: client.CoreV1Api, seconds: int = 3600) -> str:
        """A token of the bot's service account from the TokenRequest API."""
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds))
        answer = core.create_namespaced_service_account_token(
            self.service_account, self.namespace, request)
        return str(answer.status.token)

    def kubeconfig(self, token: str, path: Path) -> str:
        """A kubeconfig for the test cluster that authenticates with ``token`` only."""
        admin = yaml.safe_load(Path(self.testbed.kubeconfig).read_text())
        cluster = admin["clusters"][0]
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": "previewbot", "user": {"token": token}}],
            "contexts": [{"name": "previewbot", "context": {
                "cluster": cluster["name"], "user": "previewbot"}}],
            "current-context": "previewbot",
        }))
        path.chmod(0o600)
        return str(path)

    def api_client(self, token: str, path: Path) -> client.ApiClient:
        return config.new_client_from_config(config_file=self.kubeconfig(token, path))


def helm(testbed: Testbed, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([testbed.helm, *args, "--kubeconfig", testbed.kubeconfig],
                          capture_output=True, text=True, timeout=300, check=False)


def install(testbed: Testbed, tmp: Path, values: Mapping[str, Any] | None = None) -> InstalledBot:
    bot = InstalledBot(testbed, f"pb-{uuid.uuid4().hex[:8]}", f"pbsys-{uuid.uuid4().hex[:8]}")
    values_file = tmp / f"{bot.release}-values.json"
    values_file.write_text(json.dumps({**VALUES, **(values or {})}))
    done = helm(testbed, "install", bot.release, str(CHART), "--namespace", bot.namespace,
                "--create-namespace", "--wait", "--timeout", "120s", "-f", str(values_file),
                "-o", "json")
    assert done.returncode == 0, done.stderr
    return bot


def uninstall(bot: InstalledBot, core: client.CoreV1Api) -> None:
    helm(bot.testbed, "uninstall", bot.release, "--namespace", bot.namespace)
    try:
        core.delete_namespace(bot.namespace)
    except ApiException as error:
        if error.status != 404:
            raise


def kubectl(testbed: Testbed, *args: str,
            kubeconfig: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([testbed.kubectl, *args, "--kubeconfig",
                           kubeconfig or testbed.kubeconfig],
                          capture_output=True, text=True, timeout=60, check=False)
