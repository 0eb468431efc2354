"""One install of charts/previewbot per test module, removed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.cluster.testbed import Testbed
from tests.integration.chart.admission import namespace
from tests.integration.chart.bot_chart import InstalledBot, install, uninstall
from tests.polling import poll


@pytest.fixture(scope="module")
def bot(testbed: Testbed, kube_api: client.ApiClient,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[InstalledBot]:
    installed = install(testbed, tmp_path_factory.mktemp("chart"))
    yield installed
    uninstall(installed, client.CoreV1Api(kube_api))


@pytest.fixture(scope="module")
def bot_token(bot: InstalledBot, kube_api: client.ApiClient) -> str:
    return bot.token(client.CoreV1Api(kube_api))


@pytest.fixture
def bot_kubeconfig(bot: InstalledBot, bot_token: str, tmp_path: Path) -> str:
    return bot.kubeconfig(bot_token, tmp_path / "bot-kubeconfig")


@pytest.fixture
def as_bot(bot: InstalledBot, bot_token: str, tmp_path: Path,
           kube_api: client.ApiClient) -> client.ApiClient:
    api = bot.api_client(bot_token, tmp_path / "bot-kubeconfig")
    wait_for_the_policy(bot, api, kube_api)
    return api


def wait_for_the_policy(bot: InstalledBot, as_bot: client.ApiClient,
                        kube_api: client.ApiClient) -> None:
    """A new policy and its binding reach the API server's admission plugin a moment
    after `helm install` returns: probe (an unlabelled namespace, removed again if the
    policy let it through) until the policy answers."""
    def enforced() -> bool:
        name = f"preview-probe-{uuid.uuid4().hex[:8]}"
        try:
            client.CoreV1Api(as_bot).create_namespace(namespace(name, None))
        except ApiException as error:
            return error.status == 403 and bot.policy in str(error.body)
        client.CoreV1Api(kube_api).delete_namespace(name)
        return False
    poll(f"admission policy {bot.policy} to be in effect", enforced, timeout=60, interval=0.5)


@pytest.fixture
def admin_namespace(kube_api: client.ApiClient) -> Iterator[Callable[..., str]]:
    """Namespaces created by the admin (the test), all deleted afterwards."""
    core = client.CoreV1Api(kube_api)
    names: list[str] = []

    def make(prefix: str = "preview-adm", labels: dict[str, str] | None = None) -> str:
        names.append(f"{prefix}-{uuid.uuid4().hex[:8]}")
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
            name=names[-1], labels=labels)))
        return names[-1]

    yield make
    for name in names:
        try:
            core.delete_namespace(name)
        except ApiException as error:
            if error.status != 404:
                raise
