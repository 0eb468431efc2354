"""The validated configuration: what the rest of the bot reads (README "Configuration").

Built by :func:`bot.config.load_config`; constructing these directly (e.g. in
tests) skips file validation but still freezes ``values``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal

from bot.config.trigger import Trigger
from bot.domain import naming
from bot.domain.errors import PermanentError
from bot.domain.messages import quoted
from bot.domain.model import short_sha

DeployOn = Literal["push", "pipeline"]
Routing = Literal["istio", "gateway-api", "ingress", "none"]
Overlay = Literal["prod", "dev", "preview"]
DEPLOY_ON: tuple[DeployOn, ...] = ("push", "pipeline")
ROUTINGS: tuple[Routing, ...] = ("istio", "gateway-api", "ingress", "none")
OVERLAYS: tuple[Overlay, ...] = ("prod", "dev", "preview")
# Pod Security level enforced on preview namespaces; never "privileged" (README "Security model").
PodSecurity = Literal["restricted", "baseline"]
POD_SECURITY_LEVELS: tuple[PodSecurity, ...] = ("restricted", "baseline")
IMAGE_TAG_PLACEHOLDERS = ("sha", "short_sha", "branch_slug", "iid")
# The Secret the bot keeps in a preview namespace with the project's `secret_values`.
SECRET_VALUES_NAME = "previewbot-secret-values"  # noqa: S105 - a name, not a secret

DEFAULT_RECONCILE_INTERVAL = timedelta(seconds=60)
DEFAULT_MAX_PARALLEL_TEARDOWNS = 8
DEFAULT_ORPHAN_GRACE = timedelta(hours=1)
DEFAULT_TTL = timedelta(hours=48)
DEFAULT_MAX_TTL = timedelta(days=7)
DEFAULT_WARN_BEFORE = timedelta(hours=2)
DEFAULT_READY_TIMEOUT = timedelta(minutes=5)
DEFAULT_IMAGE_WAIT = timedelta(minutes=30)
DEFAULT_CHART = "./charts/preview-app"
DEFAULT_IMAGE_TAG = "{sha}"
# Where a preview may not connect to: private ranges (pods, services, nodes of most
# clusters), link-local (the cloud metadata address 169.254.169.254) and carrier-grade NAT.
DEFAULT_DENIED_CIDRS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                        "100.64.0.0/10", "fc00::/7", "fe80::/10")
# Namespaces of the usual ingress gateways/controllers, allowed to reach a preview.
DEFAULT_INGRESS_NAMESPACES = ("istio-system", "istio-ingress", "ingress-nginx",
                              "gateway-system")


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkIsolation:
    """The NetworkPolicy the bot keeps in every preview namespace (config
    ``network_policy``): ingress only from the namespace itself and the ingress
    namespaces; egress to the namespace itself, cluster DNS, the dependency namespaces
    and anything outside ``denied_cidrs``."""

    enabled: bool = True
    ingress_namespaces: tuple[str, ...] = DEFAULT_INGRESS_NAMESPACES
    egress_namespaces: tuple[str, ...] = ()
    denied_cidrs: tuple[str, ...] = DEFAULT_DENIED_CIDRS


def freeze(value: Any) -> Any:
    """Deep read-only copy: mappings → MappingProxyType, lists → tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """Deep plain copy (dicts and lists), e.g. to hand to YAML/JSON serialisers."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


def template_fields(template: str) -> list[str]:
    """Placeholder names in a ``str.format`` template; ValueError on unbalanced braces."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectConfig:
    """One GitLab project: every ``defaults`` key already applied."""

    path: str
    slug: str
    id: int | None = None
    values: Mapping[str, Any] = field(default_factory=dict, hash=False)
    image_tag: str = DEFAULT_IMAGE_TAG
    trigger: Trigger = field(default_factory=Trigger)
    deploy_on: DeployOn = "push"
    domain: str
    ttl: timedelta = DEFAULT_TTL
    max_ttl: timedelta = DEFAULT_MAX_TTL
    warn_before: timedelta = DEFAULT_WARN_BEFORE
    channel: str
    chart: str = DEFAULT_CHART
    routing: Routing = "istio"
    overlay: Overlay = "preview"
    max_envs: int | None = None
    ready_timeout: timedelta = DEFAULT_READY_TIMEOUT
    # Longest a deploy waits for its image while the commit's pipeline has not ended.
    image_wait: timedelta = DEFAULT_IMAGE_WAIT
    smoke_path: str | None = None
    pod_security: PodSecurity = "restricted"
    # A Secret in the bot's namespace copied into the preview namespace as
    # SECRET_VALUES_NAME, which the chart reads (envFrom); never a Helm value.
    secret_values: str | None = None
    network_policy: NetworkIsolation = field(default_factory=NetworkIsolation)

    def __post_init__(self) -> None:
        # Frozen all the way down: a handler cannot change another's view of the config.
        object.__setattr__(self, "values", freeze(self.values))

    def helm_values(self) -> dict[str, Any]:
        """A fresh, mutable, plain copy of ``values`` for Helm."""
        result: dict[str, Any] = thaw(self.values)
        return result

    def render_image_tag(self, *, sha: str, branch: str, iid: int | None) -> str:
        """``image_tag`` with {sha}, {short_sha}, {branch_slug} (GitLab's ref slug), {iid}."""
        if iid is None and "iid" in template_fields(self.image_tag):
            raise PermanentError(image_tag_needs_iid(self.image_tag))
        return self.image_tag.format(
            sha=sha,
            short_sha=short_sha(sha),
            branch_slug=naming.ci_ref_slug(branch),
            iid="" if iid is None else iid,
        )

    def mr_env_key(self, iid: int) -> str:
        return naming.mr_env_key(self.slug, iid)

    def branch_env_key(self, branch: str) -> str:
        return naming.branch_env_key(self.slug, branch)

    def url(self, env_key: str) -> str:
        """``https://<ENV>.<domain>`` (README "How it converges")."""
        return f"https://{env_key}.{self.domain}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole config file. ``max_envs`` caps environments across all projects."""

    slack_admins: tuple[str, ...] = ()
    # GitLab username → Slack user id, for people whose GitLab e-mail is not visible.
    slack_users: Mapping[str, str] = field(default_factory=dict, hash=False)
    reconcile_interval: timedelta = DEFAULT_RECONCILE_INTERVAL
    max_envs: int | None = None
    dry_run: bool = False  # plan and report, never change anything
    max_parallel_teardowns: int = DEFAULT_MAX_PARALLEL_TEARDOWNS
    orphan_grace: timedelta = DEFAULT_ORPHAN_GRACE
    projects: tuple[ProjectConfig, ...] = ()
    source: str = "<string>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "slack_users", freeze(self.slack_users))

    def project_by_path(self, path: str) -> ProjectConfig | None:
        """Case-insensitive, as GitLab resolves paths."""
        wanted = path.casefold()
        return next((p for p in self.projects if p.path.casefold() == wanted), None)

    def project_by_slug(self, slug: str) -> ProjectConfig | None:
        return next((p for p in self.projects if p.slug == slug), None)

    def project_by_id(self, project_id: int) -> ProjectConfig | None:
        return next((p for p in self.projects if p.id == project_id), None)

    def find_project(self, path_or_slug: str) -> ProjectConfig | None:
        """What a person typed as PROJECT: a GitLab path, else a slug."""
        return self.project_by_path(path_or_slug) or self.project_by_slug(path_or_slug)


# --- texts: what render_image_tag says when it cannot render -----------------


def image_tag_needs_iid(template: str) -> str:
    return (
        f"image_tag {quoted(template)} uses {{iid}}, but a branch environment has no merge "
        "request: use {sha} or {branch_slug} in image_tag, or deploy the merge request"
    )
