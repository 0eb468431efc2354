"""docker-compose.yml and .env.example, by structure: the bot and Redis (AOF, a
persistent volume), healthchecks, the developer's kubeconfig, and environment names
that are exactly the bot's (README "Configuration" and bot.config.settings.ENV_VARS)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.config.settings import DEFAULT_PORT, ENV_VARS

REPO = Path(__file__).resolve().parents[3]
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
BOT, REDIS = SERVICES["previewbot"], SERVICES["redis"]
# README "Configuration": the variables every deployment of the bot understands.
SPEC_VARIABLES = {
    "PREVIEWBOT_CONFIG", "PREVIEWBOT_HOST", "PREVIEWBOT_PORT", "REDIS_URL", "GITLAB_URL",
    "GITLAB_TOKEN", "GITLAB_WEBHOOK_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN", "SLACK_API_URL", "KUBECONFIG",
}
SECRETS = ("GITLAB_TOKEN", "GITLAB_WEBHOOK_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
           "SLACK_APP_TOKEN")
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


def env_example() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return {key: value for key, value in pairs}


def mount(service: dict[str, Any], target: str) -> tuple[str, str]:
    """(source, options) of the volume mounted at ``target``."""
    for entry in service["volumes"]:
        source, container, *options = entry.rsplit(":", 2) if entry.count(":") >= 2 else (
            *entry.split(":", 1), "")
        if container == target:
            return source, options[0] if options else ""
    raise AssertionError(f"nothing is mounted at {target}")


def test_the_spec_variables_are_the_bots() -> None:
    assert set(ENV_VARS.values()) >= SPEC_VARIABLES


def test_two_services_the_bot_and_redis() -> None:
    assert set(SERVICES) == {"previewbot", "redis"}
    assert BOT["build"] == "." and BOT["command"] == ["serve"]
    assert BOT["depends_on"] == {"redis": {"condition": "service_healthy"}}


def test_redis_keeps_its_data_with_aof() -> None:
    command = " ".join(REDIS["command"])
    assert "--appendonly yes" in command
    source, _ = mount(REDIS, "/data")
    assert source in COMPOSE["volumes"]  # a named volume: it outlives the container
    assert re.fullmatch(r"redis:\d+\.\d+\.\d+-\w+", REDIS["image"])


def test_both_have_healthchecks() -> None:
    assert REDIS["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    probe = " ".join(BOT["healthcheck"]["test"])
    assert f"127.0.0.1:{DEFAULT_PORT}/healthz" in probe
    for service in (BOT, REDIS):
        assert service["healthcheck"]["interval"] and service["healthcheck"]["retries"] >= 3


def test_the_bot_environment_names_are_exactly_known_variables() -> None:
    environment: dict[str, str] = BOT["environment"]
    assert set(environment) <= set(ENV_VARS.values()), set(environment) - set(ENV_VARS.values())
    assert set(environment) >= SPEC_VARIABLES
    assert environment["REDIS_URL"].startswith("redis://redis:")
    assert environment["PREVIEWBOT_PORT"] == str(DEFAULT_PORT)


def test_it_mounts_the_developers_kubeconfig_and_config_read_only() -> None:
    environment = BOT["environment"]
    source, options = mount(BOT, environment["KUBECONFIG"])
    assert source.startswith("${KUBECONFIG_FILE:-~/.kube/config}") and options == "ro"
    source, options = mount(BOT, environment["PREVIEWBOT_CONFIG"])
    assert options == "ro"


def test_secrets_come_from_dot_env_which_is_never_committed() -> None:
    environment = BOT["environment"]
    for name in SECRETS:
        assert INTERPOLATION.fullmatch(environment[name]), f"{name} is written into the file"
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()
    example = env_example()
    for name in SECRETS:
        assert example[name] == "", f".env.example must not carry a value for {name}"


def test_env_example_documents_every_knob_and_only_those() -> None:
    example = env_example()
    text = (REPO / "docker-compose.yml").read_text()
    interpolated = set(INTERPOLATION.findall(text))
    assert interpolated <= set(example), interpolated - set(example)
    for key in example:
        assert key in interpolated, f"{key} in .env.example is not used by docker-compose.yml"
    # Passed into the container: the bot's variables. The rest are host paths.
    passed = {name for name, value in BOT["environment"].items()
              if INTERPOLATION.search(str(value))}
    assert passed <= set(ENV_VARS.values())
    assert set(example) - passed == {"KUBECONFIG_FILE", "PREVIEWBOT_CONFIG_FILE"}


def test_hardened_like_the_chart() -> None:
    assert BOT["user"] == "10001:10001"
    assert BOT["read_only"] is True and BOT["tmpfs"] == ["/tmp"]
    assert BOT["cap_drop"] == ["ALL"]
    assert BOT["ports"] == [f"127.0.0.1:{DEFAULT_PORT}:{DEFAULT_PORT}"]
