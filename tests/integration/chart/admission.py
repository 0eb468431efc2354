"""What the admission tests share: the labels of the bot's namespaces, and how a
refusal by the chart's policy looks (the fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration.chart.bot_chart import InstalledBot

MANAGED = {"app.kubernetes.io/managed-by": "previewbot"}
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}


def ours(bot: InstalledBot) -> dict[str, str]:
    """The labels of a preview namespace of this installation, as the bot writes them."""
    return {**MANAGED, "previewbot/instance": bot.instance, **RESTRICTED}


def denied(bot: InstalledBot, call: Callable[[], object], words: str) -> None:
    with pytest.raises(ApiException) as refused:
        call()
    assert refused.value.status == 403
    body = str(refused.value.body)
    assert f"ValidatingAdmissionPolicy '{bot.policy}'" in body, body
    assert words in body, body


def exists(kube_api: client.ApiClient, name: str) -> bool:
    try:
        ns = client.CoreV1Api(kube_api).read_namespace(name)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return ns.metadata.deletion_timestamp is None


def namespace(name: str, labels: dict[str, str] | None) -> client.V1Namespace:
    return client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))


def binding(bot: InstalledBot, role: str, account: str | None = None) -> client.V1RoleBinding:
    return client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="previewbot"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                  name=role),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", namespace=bot.namespace,
                                       name=account or bot.service_account)])


