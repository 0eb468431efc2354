"""Configuration: the YAML project file and the environment (README "Configuration").

``load_config`` reads the file strictly: an unknown key anywhere, a bad
duration, a missing required key, a duplicate project → :class:`ConfigError`
whose text names the file, the key path (``projects[0].trigger.lables``) and
the fix. Every ``defaults`` key may also be set per project; the project value
wins, ``values`` deep-merge and ``trigger`` merges key by key.

Top-level keys: ``slack_admins``, ``slack_users`` (GitLab username → Slack user
id), ``reconcile_interval``, ``max_envs``, ``dry_run`` (plan and report, never
change anything), ``max_parallel_teardowns`` (default 8), ``orphan_grace`` (1h: how long a managed
namespace nothing explains is kept before it is torn down), ``defaults``, ``projects``.

Keys beyond the minimal example (defaults or per project): ``image_tag``,
``trigger.target_branches``, ``deploy_on`` (push | pipeline), ``overlay``
(prod | dev | preview), ``max_envs`` (cap per project; at the top level: cap in
total), ``ready_timeout``, ``image_wait``, ``smoke_path``; per project only: ``slug``, ``id``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.config import reader as read
from bot.config import texts
from bot.config.model import (
    DEFAULT_MAX_PARALLEL_TEARDOWNS,
    DEFAULT_ORPHAN_GRACE,
    DEFAULT_RECONCILE_INTERVAL,
    Config,
    DeployOn,
    Overlay,
    ProjectConfig,
    Routing,
)
from bot.config.project import DEFAULTS_KEYS, Layer, build_project, read_layer
from bot.config.reader import Where
from bot.config.settings import NamespaceAccess, Settings
from bot.config.trigger import Failing, Rule, Trigger, TriggerInputs
from bot.domain.errors import ConfigError

__all__ = [
    "Config",
    "DeployOn",
    "Failing",
    "NamespaceAccess",
    "Overlay",
    "ProjectConfig",
    "Routing",
    "Rule",
    "Settings",
    "Trigger",
    "TriggerInputs",
    "load_config",
    "load_config_text",
]

TOP_KEYS = ("slack_admins", "slack_users", "reconcile_interval", "max_envs", "dry_run",
            "max_parallel_teardowns", "orphan_grace", "defaults", "projects")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]+")
_SLACK_USER_FIX = "use Slack user ids, e.g. U0ADMIN1 (profile → ⋮ → Copy member ID)"
_GITLAB_USERNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_GITLAB_USERNAME_FIX = "use GitLab usernames as keys, e.g. jdoe: U0JDOE1"


def load_config(path: str | Path) -> Config:
    """Read and validate the config file at ``path``."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(texts.config_unreadable(source, reason)) from None
    except UnicodeDecodeError:
        raise ConfigError(texts.config_unreadable(source, "not UTF-8 text")) from None
    return load_config_text(text, source=source)


def load_config_text(text: str, source: str = "<string>") -> Config:
    """Validate config ``text``; ``source`` names it in error messages."""
    raw = read.load_yaml(text, source)
    root = Where(source)
    if raw is None:
        raise ConfigError(texts.config_empty(source))
    if not isinstance(raw, Mapping):
        raise ConfigError(texts.config_wrong_type(source, "top level", "a mapping", raw))
    top = read.mapping(raw, root, TOP_KEYS)
    defaults_at = root.key("defaults")
    defaults_raw = read.mapping(top.get("defaults", {}), defaults_at, DEFAULTS_KEYS)
    defaults = read_layer(defaults_raw, defaults_at)
    return Config(
        slack_admins=_slack_admins(top.get("slack_admins", []), root.key("slack_admins")),
        slack_users=_slack_users(top.get("slack_users", {}), root.key("slack_users")),
        dry_run=read.boolean(top.get("dry_run", False), root.key("dry_run")),
        max_parallel_teardowns=read.integer(
            top.get("max_parallel_teardowns", DEFAULT_MAX_PARALLEL_TEARDOWNS),
            root.key("max_parallel_teardowns"), minimum=1),
        orphan_grace=(read.duration(top["orphan_grace"], root.key("orphan_grace"))
                      if "orphan_grace" in top else DEFAULT_ORPHAN_GRACE),
        reconcile_interval=(
            read.duration(top["reconcile_interval"], root.key("reconcile_interval"))
            if "reconcile_interval" in top
            else DEFAULT_RECONCILE_INTERVAL
        ),
        max_envs=read.optional_integer(top.get("max_envs"), root.key("max_envs"), minimum=1),
        projects=_projects(top, root, defaults),
        source=source,
    )


def _slack_admins(value: object, where: Where) -> tuple[str, ...]:
    items = read.sequence(value, where)
    return tuple(
        read.matching(item, where.index(i), _SLACK_USER, _SLACK_USER_FIX)
        for i, item in enumerate(items)
    )


def _slack_users(value: object, where: Where) -> dict[str, str]:
    """GitLab username → Slack user id, for people whose GitLab e-mail the bot cannot see."""
    mapping = read.free_mapping(value, where)
    return {
        read.matching(name, where.key(name), _GITLAB_USERNAME, _GITLAB_USERNAME_FIX):
            read.matching(user, where.key(name), _SLACK_USER, _SLACK_USER_FIX)
        for name, user in mapping.items()
    }


def _projects(top: Mapping[str, Any], root: Where, defaults: Layer) -> tuple[ProjectConfig, ...]:
    where = root.key("projects")
    if "projects" not in top:
        example = "projects: [{path: group/app}]"
        where.fail(texts.config_missing_key(root.source, where.path, example))
    items = read.sequence(top["projects"], where)
    if not items:
        where.fail(texts.config_no_projects(root.source))
    projects = tuple(build_project(item, where.index(i), defaults) for i, item in enumerate(items))
    _check_unique(projects, where)
    return projects


def _check_unique(projects: tuple[ProjectConfig, ...], where: Where) -> None:
    """Two entries for one GitLab project, slug or id would make names ambiguous."""
    first: dict[tuple[str, object], int] = {}
    for i, project in enumerate(projects):
        keys = (("path", project.path.casefold()), ("slug", project.slug), ("id", project.id))
        for key, value in keys:
            if value is None:
                continue
            seen = first.setdefault((key, value), i)
            if seen != i:
                at = where.index(i).key(key).path
                where.fail(
                    texts.config_duplicate(
                        where.source, at, key, getattr(project, key), where.index(seen).path
                    )
                )
