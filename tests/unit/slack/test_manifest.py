"""The Slack app manifests in the repository match what the bot serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from handlers.slack.app import COMMAND

SLACK = Path(__file__).resolve().parents[3] / "slack"
LEAST_SCOPES = ["commands", "chat:write", "users:read", "users:read.email"]


def manifest(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((SLACK / name).read_text())
    return loaded


@pytest.mark.parametrize("name", ["manifest.yaml", "manifest-socket-mode.yaml"])
def test_both_variants_ask_for_the_least_and_offer_everything(name: str) -> None:
    app = manifest(name)
    assert app["oauth_config"]["scopes"]["bot"] == LEAST_SCOPES
    assert [c["command"] for c in app["features"]["slash_commands"]] == [COMMAND]
    assert app["features"]["app_home"]["home_tab_enabled"] is True
    assert app["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert app["settings"]["interactivity"]["is_enabled"] is True


def test_http_variant_points_every_url_at_slack_events() -> None:
    app = manifest("manifest.yaml")
    urls = [app["features"]["slash_commands"][0]["url"],
            app["settings"]["event_subscriptions"]["request_url"],
            app["settings"]["interactivity"]["request_url"]]
    assert all(url == "https://previewbot.example.com/slack/events" for url in urls)
    assert app["settings"]["socket_mode_enabled"] is False


def test_socket_mode_variant_has_no_urls() -> None:
    app = manifest("manifest-socket-mode.yaml")
    assert app["settings"]["socket_mode_enabled"] is True
    assert "url" not in app["features"]["slash_commands"][0]
    assert "request_url" not in app["settings"]["event_subscriptions"]
    assert "request_url" not in app["settings"]["interactivity"]
