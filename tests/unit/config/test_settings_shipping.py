"""Settings added for shipping: the namespace RoleBinding and the log format; and
that no secret shows in repr() or an error message (a token in every input)."""

from __future__ import annotations

import pytest

from bot.config import NamespaceAccess, Settings
from bot.domain.errors import ConfigError

TOKEN = "tok-9f8e7d6c5b4a"


def test_namespace_access_from_both_variables() -> None:
    settings = Settings.from_env({"PREVIEWBOT_NAMESPACE_ROLE": "previewbot-namespace",
                                  "PREVIEWBOT_SERVICE_ACCOUNT": "platform:previewbot"})
    assert settings.namespace_access == NamespaceAccess("previewbot-namespace", "platform",
                                                        "previewbot")
    assert settings.namespace_access.username == "system:serviceaccount:platform:previewbot"
    assert Settings.from_env({}).namespace_access is None
    assert Settings.from_env({"PREVIEWBOT_NAMESPACE_ROLE": "",
                              "PREVIEWBOT_SERVICE_ACCOUNT": ""}).namespace_access is None


@pytest.mark.parametrize(("environ", "words"), [
    ({"PREVIEWBOT_NAMESPACE_ROLE": "r"}, "PREVIEWBOT_NAMESPACE_ROLE is set but "
                                         "PREVIEWBOT_SERVICE_ACCOUNT is not"),
    ({"PREVIEWBOT_SERVICE_ACCOUNT": "a:b"}, "PREVIEWBOT_SERVICE_ACCOUNT is set but "
                                            "PREVIEWBOT_NAMESPACE_ROLE is not"),
    ({"PREVIEWBOT_NAMESPACE_ROLE": "Not A Role", "PREVIEWBOT_SERVICE_ACCOUNT": "a:b"},
     "is not a ClusterRole name"),
    ({"PREVIEWBOT_NAMESPACE_ROLE": "r", "PREVIEWBOT_SERVICE_ACCOUNT": "previewbot"},
     "is not NAMESPACE:NAME"),
    ({"PREVIEWBOT_NAMESPACE_ROLE": "r", "PREVIEWBOT_SERVICE_ACCOUNT": "a:b:c"},
     "is not NAMESPACE:NAME"),
    ({"PREVIEWBOT_NAMESPACE_ROLE": "r", "PREVIEWBOT_SERVICE_ACCOUNT": ":b"},
     "is not NAMESPACE:NAME"),
    ({"PREVIEWBOT_LOG_FORMAT": "xml"}, "PREVIEWBOT_LOG_FORMAT \"xml\" is not a log format"),
])
def test_bad_values_name_the_variable_and_the_fix(environ: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(environ)
    assert words in str(refused.value)


@pytest.mark.parametrize(("value", "expected"), [
    ("json", "json"), ("TEXT", "text"), (" text ", "text"), ("", None)])
def test_log_format(value: str, expected: str | None) -> None:
    assert Settings.from_env({"PREVIEWBOT_LOG_FORMAT": value}).log_format == expected


def test_a_token_in_every_secret_input_never_shows() -> None:
    settings = Settings.from_env({
        "GITLAB_URL": "https://gitlab.example.com", "GITLAB_TOKEN": f"{TOKEN}-gitlab",
        "GITLAB_WEBHOOK_SECRET": f"{TOKEN}-hook", "SLACK_BOT_TOKEN": f"{TOKEN}-bot",
        "SLACK_SIGNING_SECRET": f"{TOKEN}-signing", "SLACK_APP_TOKEN": f"{TOKEN}-app",
        "REDIS_URL": f"redis://:{TOKEN}-redis@redis:6379/0"})
    assert TOKEN not in repr(settings)
    assert set(settings.secret_values()) == {f"{TOKEN}-{part}" for part in (
        "gitlab", "hook", "bot", "signing", "app", "redis")}
    # Refusals never echo a secret either (a URL may carry a password).
    for environ in ({"REDIS_URL": f"http://:{TOKEN}@redis:6379/0"},
                    {"GITLAB_URL": f"ftp://ci:{TOKEN}@gitlab.example.com"},
                    {"SLACK_API_URL": f"slack:{TOKEN}"}):
        with pytest.raises(ConfigError) as refused:
            Settings.from_env(environ)
        assert TOKEN not in str(refused.value)
