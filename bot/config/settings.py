"""Secrets and endpoints from environment variables (README "Configuration").

An empty variable counts as unset (``FOO=`` in a compose file means "not given").
Secrets, and ``REDIS_URL`` (it may carry a password), never show in ``repr()``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from bot.domain.durations import parse_duration
from bot.domain.errors import ConfigError, PermanentError
from bot.domain.messages import quoted

DEFAULT_CONFIG_PATH = Path("./previewbot.yaml")
DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - the bot runs in a container and must be reachable
DEFAULT_PORT = 8080
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"

# Settings field → environment variable.
ENV_VARS = {
    "config_path": "PREVIEWBOT_CONFIG",
    "host": "PREVIEWBOT_HOST",
    "port": "PREVIEWBOT_PORT",
    "redis_url": "REDIS_URL",
    "gitlab_url": "GITLAB_URL",
    "gitlab_token": "GITLAB_TOKEN",
    "gitlab_webhook_secret": "GITLAB_WEBHOOK_SECRET",
    "queue_key": "PREVIEWBOT_QUEUE_KEY",
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN",
    "slack_api_url": "SLACK_API_URL",
    "kubeconfig": "KUBECONFIG",
    "helm_binary": "PREVIEWBOT_HELM",
    "helm_timeout": "PREVIEWBOT_HELM_TIMEOUT",
    "shutdown_grace": "PREVIEWBOT_SHUTDOWN_GRACE",
    "lock_ttl": "PREVIEWBOT_LOCK_TTL",
    "claim_idle": "PREVIEWBOT_CLAIM_IDLE",
    "intake_threads": "PREVIEWBOT_INTAKE_THREADS",
    "namespace_role": "PREVIEWBOT_NAMESPACE_ROLE",
    "service_account": "PREVIEWBOT_SERVICE_ACCOUNT",
    "log_format": "PREVIEWBOT_LOG_FORMAT",
    "instance": "PREVIEWBOT_INSTANCE",
    "namespace": "PREVIEWBOT_NAMESPACE",
}
_HTTP = ("http", "https")
_LOG_FORMATS = ("json", "text")
_ROLE_NAME = re.compile(r"[a-z0-9]([-a-z0-9.:]{0,251}[a-z0-9])?")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class NamespaceAccess:
    """What the bot binds in each preview namespace it creates: the ClusterRole
    ``cluster_role`` to its own service account (the chart's least-RBAC design)."""

    cluster_role: str
    service_account_namespace: str
    service_account_name: str

    @property
    def username(self) -> str:
        return (f"system:serviceaccount:{self.service_account_namespace}:"
                f"{self.service_account_name}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    config_path: Path = DEFAULT_CONFIG_PATH
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    redis_url: str = field(default=DEFAULT_REDIS_URL, repr=False)
    gitlab_url: str | None = None
    gitlab_token: str | None = field(default=None, repr=False)
    gitlab_webhook_secret: str | None = field(default=None, repr=False)
    # PREVIEWBOT_QUEUE_KEY: seals queued deliveries; None: derived from the webhook secret.
    queue_key: str | None = field(default=None, repr=False)
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    kubeconfig: str | None = None  # None: in-cluster service account
    helm_binary: str = "helm"  # PREVIEWBOT_HELM: path of the Helm CLI (Helm 4; 3 works too)
    # PREVIEWBOT_HELM_TIMEOUT: helm's --timeout (hooks, waits); a pending release younger
    # than this may still have a helm working on it and is never recovered.
    helm_timeout: float = 600.0
    # PREVIEWBOT_SHUTDOWN_GRACE: on SIGTERM, how long running steps may finish before their
    # helm processes are stopped (then locks are released and the process exits).
    shutdown_grace: float = 20.0
    # PREVIEWBOT_LOCK_TTL: seconds a killed worker's environment lock outlives it.
    lock_ttl: float = 30.0
    # PREVIEWBOT_CLAIM_IDLE: a queued event a dead replica had claimed is re-claimed after this.
    claim_idle: timedelta = timedelta(seconds=60)
    # PREVIEWBOT_INTAKE_THREADS: webhook-processing threads per replica (0: accept only).
    intake_threads: int = 2
    # PREVIEWBOT_NAMESPACE_ROLE + PREVIEWBOT_SERVICE_ACCOUNT: bind that ClusterRole to this
    # account (NAMESPACE:NAME) in every preview namespace. Unset: no RoleBinding.
    namespace_role: str | None = None
    service_account: str | None = None
    # PREVIEWBOT_LOG_FORMAT: "json" or "text"; None: JSON unless stderr is a terminal.
    log_format: str | None = None
    # PREVIEWBOT_INSTANCE: this installation's name, the `previewbot/instance` label of its
    # namespaces (the chart sets its release's full name); another's are never touched.
    instance: str = "previewbot"
    # PREVIEWBOT_NAMESPACE: the bot's own namespace, where the Secrets of `secret_values`
    # are; default the namespace of PREVIEWBOT_SERVICE_ACCOUNT.
    namespace: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and validate; raises ConfigError naming the variable and the fix."""
        env = {name: environ[var] for name, var in ENV_VARS.items() if environ.get(var)}
        redis_url = env.get("redis_url", DEFAULT_REDIS_URL)
        _check_url("REDIS_URL", redis_url, ("redis", "rediss", "unix"), DEFAULT_REDIS_URL)
        if "gitlab_url" in env:
            _check_url("GITLAB_URL", env["gitlab_url"], _HTTP, "https://gitlab.example.com")
        slack_api_url = env.get("slack_api_url", DEFAULT_SLACK_API_URL)
        _check_url("SLACK_API_URL", slack_api_url, _HTTP, DEFAULT_SLACK_API_URL)
        namespace_role, service_account = _access_settings(env.get("namespace_role"),
                                                           env.get("service_account"))
        return cls(
            config_path=Path(env.get("config_path", DEFAULT_CONFIG_PATH)),
            host=env.get("host", DEFAULT_HOST),
            port=_port(env.get("port")),
            redis_url=redis_url,
            gitlab_url=env.get("gitlab_url"),
            gitlab_token=env.get("gitlab_token"),
            gitlab_webhook_secret=env.get("gitlab_webhook_secret"),
            queue_key=env.get("queue_key"),
            slack_bot_token=env.get("slack_bot_token"),
            slack_signing_secret=env.get("slack_signing_secret"),
            slack_app_token=env.get("slack_app_token"),
            # The Slack SDK joins method names onto this base: it needs the trailing '/'.
            slack_api_url=slack_api_url.rstrip("/") + "/",
            kubeconfig=env.get("kubeconfig"),
            helm_binary=env.get("helm_binary", "helm"),
            helm_timeout=_seconds("PREVIEWBOT_HELM_TIMEOUT", env.get("helm_timeout", "10m")),
            shutdown_grace=_seconds("PREVIEWBOT_SHUTDOWN_GRACE",
                                    env.get("shutdown_grace", "20s")),
            lock_ttl=_seconds("PREVIEWBOT_LOCK_TTL", env.get("lock_ttl", "30s")),
            claim_idle=timedelta(seconds=_seconds("PREVIEWBOT_CLAIM_IDLE",
                                                  env.get("claim_idle", "60s"))),
            intake_threads=_count("PREVIEWBOT_INTAKE_THREADS", env.get("intake_threads", "2")),
            namespace_role=namespace_role,
            service_account=service_account,
            log_format=_log_format(env.get("log_format")),
            instance=_instance(env.get("instance", "previewbot")),
            namespace=env.get("namespace") or (service_account.split(":", 1)[0]
                                               if service_account else None),
        )

    @property
    def namespace_access(self) -> NamespaceAccess | None:
        """The RoleBinding to keep in each preview namespace; None when not configured."""
        if self.namespace_role is None or self.service_account is None:
            return None
        namespace, name = self.service_account.split(":", 1)
        return NamespaceAccess(self.namespace_role, namespace, name)

    def secret_values(self) -> tuple[str, ...]:
        """Every secret these settings hold (tokens, the Redis password), for log masking."""
        redis_password = urlsplit(self.redis_url).password if "@" in self.redis_url else None
        found = (self.gitlab_token, self.gitlab_webhook_secret, self.queue_key,
                 self.slack_bot_token,
                 self.slack_signing_secret, self.slack_app_token, redis_password)
        return tuple(value for value in found if value)

    @property
    def slack_socket_mode(self) -> bool:
        """SLACK_APP_TOKEN set → Socket Mode instead of HTTP (README "Configuration")."""
        return self.slack_app_token is not None

    def require(self, *names: str) -> None:
        """Raise one ConfigError listing every unset variable among ``names`` (field names).

        E.g. ``settings.require("gitlab_url", "gitlab_token")`` before talking to GitLab.
        """
        missing = [ENV_VARS[name] for name in names if getattr(self, name) is None]
        if missing:
            raise ConfigError(env_missing(missing))


def _instance(value: str) -> str:
    if _DNS_LABEL.fullmatch(value) is None:
        raise ConfigError(f"PREVIEWBOT_INSTANCE {quoted(value)} is not a valid label value: "
                          "use lowercase letters, digits and '-', at most 63 characters "
                          "(e.g. previewbot-staging)")
    return value


def _access_settings(role: str | None, account: str | None) -> tuple[str | None, str | None]:
    role_var, account_var = ENV_VARS["namespace_role"], ENV_VARS["service_account"]
    if (role is None) != (account is None):
        given, missing = (role_var, account_var) if role else (account_var, role_var)
        raise ConfigError(env_needs_both(given, missing))
    if role is not None and not _ROLE_NAME.fullmatch(role):
        raise ConfigError(env_bad_namespace_role(role_var, role))
    if account is not None:
        namespace, _, name = account.partition(":")
        if not (_DNS_LABEL.fullmatch(namespace) and _DNS_SUBDOMAIN.fullmatch(name)):
            raise ConfigError(env_bad_service_account(account_var, account))
    return role, account


def _log_format(text: str | None) -> str | None:
    if text is None:
        return None
    if text.strip().lower() not in _LOG_FORMATS:
        raise ConfigError(env_bad_log_format(ENV_VARS["log_format"], text))
    return text.strip().lower()


def _seconds(name: str, text: str) -> float:
    try:
        return parse_duration(text, what=name).total_seconds()
    except PermanentError as error:
        raise ConfigError(str(error)) from None


def _count(name: str, text: str) -> int:
    if not text.isdigit() or int(text) > 64:
        raise ConfigError(env_bad_count(name, text))
    return int(text)


def _port(text: str | None) -> int:
    if text is None:
        return DEFAULT_PORT
    stripped = text.strip()
    if not (stripped.isascii() and stripped.isdecimal()) or not 1 <= int(stripped) <= 65535:
        raise ConfigError(env_bad_port("PREVIEWBOT_PORT", text))
    return int(stripped)


def _check_url(name: str, url: str, schemes: tuple[str, ...], example: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigError(env_bad_url(name, schemes, example)) from None
    has_place = bool(parts.netloc) or (parts.scheme == "unix" and bool(parts.path))
    if parts.scheme not in schemes or not has_place:
        raise ConfigError(env_bad_url(name, schemes, example))


# --- texts: what is wrong with an environment variable, and the fix ---------


def env_bad_port(name: str, value: str) -> str:
    return f"{name} {quoted(value)} is not a port number: use 1-65535, e.g. 8080"


def env_bad_url(name: str, schemes: Iterable[str], example: str) -> str:
    # The value is not echoed: URLs like REDIS_URL may carry a password.
    return f"{name} is not a URL with scheme {' or '.join(schemes)}: use e.g. {example}"


def env_missing(names: Iterable[str]) -> str:
    return (f"missing environment variables: {', '.join(names)}: set them (see the README,"
            " Configuration)")


def env_bad_count(name: str, text: str) -> str:
    return f"{name}={quoted(text)} is not a whole number from 0 to 64"


def env_needs_both(given: str, missing: str) -> str:
    return (f"{given} is set but {missing} is not: set both (the chart sets them) to bind the "
            "namespace role in each preview namespace, or neither to skip the RoleBinding")


def env_bad_namespace_role(name: str, value: str) -> str:
    return (f"{name} {quoted(value)} is not a ClusterRole name: use lowercase letters, digits, "
            "'-', '.' and ':', e.g. previewbot-namespace")


def env_bad_service_account(name: str, value: str) -> str:
    return (f"{name} {quoted(value)} is not NAMESPACE:NAME of a service account: "
            "e.g. previewbot:previewbot")


def env_bad_log_format(name: str, value: str) -> str:
    return f"{name} {quoted(value)} is not a log format: use json or text (unset: automatic)"
