"""In a pod without KUBECONFIG, Helm finds the API server through the
KUBERNETES_SERVICE_* variables: they must reach it (the bot's secrets still do not)."""

from __future__ import annotations

from bot.cluster.helm import helm_environment


def test_helm_gets_the_in_cluster_api_address_and_no_secret() -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
               "HOME": "/tmp", "HELM_CACHE_HOME": "/tmp/helm/cache",
               "GITLAB_TOKEN": "glpat-secret", "PREVIEWBOT_SERVICE_ACCOUNT": "a:b"}
    assert helm_environment(environ) == {
        "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
        "HOME": "/tmp", "HELM_CACHE_HOME": "/tmp/helm/cache"}
