"""Slack's settings: what `previewbot serve` needs to talk to Slack, checked up front."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.domain.errors import ConfigError
from handlers.slack.app import SlackBot


def test_http_mode_needs_the_signing_secret() -> None:
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        SlackBot(Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1"}))


def test_socket_mode_needs_no_signing_secret() -> None:
    bot = SlackBot(Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}))
    assert bot.settings.slack_socket_mode


def test_the_api_url_is_used() -> None:
    bot = SlackBot(Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
                                      "SLACK_API_URL": "http://127.0.0.1:9/api"}))
    assert bot.client.base_url == "http://127.0.0.1:9/api/"
