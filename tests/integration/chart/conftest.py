"""One install of charts/previewbot per test module, removed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.cluster.testbed import Testbed
from tests.integration.chart.bot_chart import InstalledBot, install, uninstall


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
