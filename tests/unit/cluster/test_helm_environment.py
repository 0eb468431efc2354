"""Helm and its plugins never see the bot's secrets."""

from __future__ import annotations

from bot.cluster.helm import helm_environment


def test_helm_gets_what_it_needs_and_no_secret() -> None:
    environ = {
        "PATH": "/usr/bin", "HOME": "/root", "KUBECONFIG": "/k", "HELM_CACHE_HOME": "/c",
        "XDG_CONFIG_HOME": "/x", "HTTPS_PROXY": "http://proxy:3128",
        "GITLAB_TOKEN": "glpat-secret", "SLACK_BOT_TOKEN": "xoxb-secret",
        "SLACK_SIGNING_SECRET": "s", "GITLAB_WEBHOOK_SECRET": "w", "REDIS_URL": "redis://:pw@r",
    }
    assert helm_environment(environ) == {
        "PATH": "/usr/bin", "HOME": "/root", "KUBECONFIG": "/k", "HELM_CACHE_HOME": "/c",
        "XDG_CONFIG_HOME": "/x", "HTTPS_PROXY": "http://proxy:3128"}
