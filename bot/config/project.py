"""Turning ``defaults`` + one ``projects[i]`` entry into a :class:`ProjectConfig`.

Both sections are read into *layers*: key → (typed value, where it was written).
The project layer wins key by key; ``values`` deep-merge and ``trigger`` merges
per key. Remembering where each value came from lets a conflict such as
``ttl > max_ttl`` point at the line a person has to change.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from bot.config import reader as read
from bot.config import texts
from bot.config.model import (
    DEFAULT_MAX_TTL,
    DEFAULT_TTL,
    DEFAULT_WARN_BEFORE,
    DEPLOY_ON,
    IMAGE_TAG_PLACEHOLDERS,
    OVERLAYS,
    POD_SECURITY_LEVELS,
    ROUTINGS,
    NetworkIsolation,
    ProjectConfig,
    template_fields,
)
from bot.config.reader import Where
from bot.config.trigger import Trigger
from bot.domain import naming
from bot.domain.durations import format_duration
from bot.domain.errors import ConfigError, PermanentError

Setting = tuple[Any, Where]
Layer = dict[str, Setting]

_DOMAIN_MAX = 253 - naming.ENV_KEY_MAX - 1  # room for "<ENV>." in front
_DOMAIN = re.compile(
    r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*"
)
_CHANNEL = re.compile(r"[CG][A-Z0-9]+")
_SMOKE_PATH = re.compile(r"/[^\s]*")
_DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_PROJECT_PATH = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+")
_SAMPLE_TAG_VALUES = {"sha": "f" * 40, "short_sha": "f" * 8, "branch_slug": "feature-x", "iid": 7}
TRIGGER_KEYS = ("labels", "drafts", "paths", "target_branches")
NETWORK_POLICY_KEYS = ("enabled", "ingress_namespaces", "egress_namespaces", "denied_cidrs")
_NAMESPACE = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")


def _domain(value: object, where: Where) -> str:
    domain = read.matching(
        value, where, _DOMAIN, "write the host name only, lowercase, e.g. preview.example.com"
    )
    if len(domain) > _DOMAIN_MAX:
        where.fail(
            texts.config_bad_value(
                where.source, where.path, domain, f"use at most {_DOMAIN_MAX} characters"
            )
        )
    return domain


def _image_tag(value: object, where: Where) -> str:
    template = read.text(value, where)
    try:
        names = template_fields(template)
    except ValueError:
        where.fail(
            texts.config_bad_value(
                where.source, where.path, template, "unbalanced braces; write {{ for a literal {"
            )
        )
    for name in names:
        if name not in IMAGE_TAG_PLACEHOLDERS:
            close = difflib.get_close_matches(name, IMAGE_TAG_PLACEHOLDERS, n=1)
            where.fail(
                texts.config_unknown_placeholder(
                    where.source,
                    where.path,
                    name,
                    IMAGE_TAG_PLACEHOLDERS,
                    close[0] if close else None,
                )
            )
    try:
        sample = template.format(**_SAMPLE_TAG_VALUES)
    except (ValueError, KeyError, IndexError, AttributeError):
        sample = ""
    if _DOCKER_TAG.fullmatch(sample) is None:
        fix = "it must give a Docker tag (letters, digits, _ . -; at most 128), e.g. {sha}"
        where.fail(texts.config_bad_value(where.source, where.path, template, fix))
    return template


def _smoke_path(value: object, where: Where) -> str | None:
    if value is None:
        return None
    return read.matching(value, where, _SMOKE_PATH, "use a URL path starting with /, e.g. /healthz")


def _trigger(value: object, where: Where) -> Layer:
    raw = read.mapping(value, where, TRIGGER_KEYS)
    layer: Layer = {}
    for key, item in raw.items():
        at = where.key(key)
        layer[key] = (read.boolean(item, at) if key == "drafts" else read.texts(item, at), at)
    return layer


def _network_policy(value: object, where: Where) -> dict[str, Any]:
    """The keys written (merged key by key over ``defaults``, as ``trigger`` is)."""
    if isinstance(value, bool):  # `network_policy: false` turns it off
        return {"enabled": value}
    raw = read.mapping(value, where, NETWORK_POLICY_KEYS)
    found: dict[str, Any] = {}
    for key, item in raw.items():
        at = where.key(key)
        if key == "enabled":
            found[key] = read.boolean(item, at)
        elif key == "denied_cidrs":
            found[key] = tuple(_cidr(entry, at.index(i))
                               for i, entry in enumerate(read.sequence(item, at)))
        else:
            found[key] = tuple(read.matching(entry, at.index(i), _NAMESPACE,
                                             "use a namespace name, e.g. istio-system")
                               for i, entry in enumerate(read.sequence(item, at)))
    return found


def _pod_security(value: object, where: Where) -> str:
    if value == "privileged":  # the one level a person might try: say why not
        where.fail(texts.config_bad_value(
            where.source, where.path, "privileged",
            "previews run the code of any branch, so their pods may not be privileged; "
            "use baseline (host access stays closed) or restricted (the default)"))
    return read.choice(value, where, POD_SECURITY_LEVELS)


def _cidr(value: object, where: Where) -> str:
    text = read.text(value, where)
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        where.fail(texts.config_bad_value(where.source, where.path, text,
                                          "use an address range, e.g. 10.0.0.0/8"))


_READERS: dict[str, Callable[[object, Where], Any]] = {
    "domain": _domain,
    "ttl": read.duration,
    "max_ttl": read.duration,
    "warn_before": read.duration,
    "ready_timeout": read.duration,
    "image_wait": read.duration,
    "channel": lambda v, w: read.matching(
        v, w, _CHANNEL, "use the channel id (e.g. C0PREVIEWS), not its name"
    ),
    "chart": read.text,
    "routing": lambda v, w: read.choice(v, w, ROUTINGS),
    "overlay": lambda v, w: read.choice(v, w, OVERLAYS),
    "deploy_on": lambda v, w: read.choice(v, w, DEPLOY_ON),
    "values": read.free_mapping,
    "image_tag": _image_tag,
    "trigger": _trigger,
    "max_envs": lambda v, w: read.optional_integer(v, w, minimum=1),
    "smoke_path": _smoke_path,
    "pod_security": _pod_security,
    "network_policy": _network_policy,
    "secret_values": lambda v, w: read.matching(
        v, w, _NAMESPACE, "use the name of a Secret in the bot's namespace, e.g. app-preview"),
}
DEFAULTS_KEYS = tuple(_READERS)
PROJECT_KEYS = ("path", "slug", "id", *DEFAULTS_KEYS)


def read_layer(raw: Mapping[str, Any], where: Where) -> Layer:
    """Typed settings of one section (keys already checked against the allowed ones)."""
    layer: Layer = {}
    for key, value in raw.items():
        if key in _READERS:
            layer[key] = (_READERS[key](value, where.key(key)), where.key(key))
    return layer


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; nested mappings merge, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merge_layers(defaults: Layer, project: Layer) -> Layer:
    merged = {**defaults, **project}
    for key in ("values", "trigger", "network_policy"):
        if key in defaults and key in project:
            base, override = defaults[key][0], project[key][0]
            combined = deep_merge(base, override) if key == "values" else {**base, **override}
            merged[key] = (combined, project[key][1])
    return merged


def build_project(raw: object, where: Where, defaults: Layer) -> ProjectConfig:
    """One ``projects[i]`` entry with ``defaults`` applied, fully validated."""
    entry = read.mapping(raw, where, PROJECT_KEYS)
    if "path" not in entry:
        where.fail(
            texts.config_missing_key(where.source, where.key("path").path, "path: group/app")
        )
    path = read.matching(
        entry["path"], where.key("path"), _PROJECT_PATH, "use the GitLab path, e.g. group/app"
    )
    layer = merge_layers(defaults, read_layer(entry, where))
    for key, example in (("domain", "preview.example.com"), ("channel", "C0PREVIEWS")):
        if key not in layer:
            where.fail(texts.config_missing_setting(where.source, where.path, key, example))
    settings = {key: value for key, (value, _) in layer.items()
                if key not in ("trigger", "network_policy")}
    if "network_policy" in layer:
        settings["network_policy"] = NetworkIsolation(**layer["network_policy"][0])
    trigger_layer: Layer = layer["trigger"][0] if "trigger" in layer else {}
    project = ProjectConfig(
        path=path,
        slug=_slug(path, entry.get("slug"), where.key("slug")),
        id=read.optional_integer(entry.get("id"), where.key("id"), minimum=1),
        trigger=Trigger(**{key: value for key, (value, _) in trigger_layer.items()}),
        **settings,
    )
    _check_timings(project, layer, where)
    return project


def _slug(path: str, configured: object, where: Where) -> str:
    if configured is not None and not isinstance(configured, str):
        where.fail(texts.config_wrong_type(where.source, where.path, "text", configured))
    try:
        return naming.project_slug(path, configured)
    except PermanentError as error:
        raise ConfigError(texts.config_located(where.source, where.path, str(error))) from None


def _check_timings(project: ProjectConfig, layer: Layer, where: Where) -> None:
    def origin(key: str, builtin: timedelta) -> tuple[str, str]:
        place = layer[key][1].path if key in layer else f"the default {key}"
        return place, format_duration(layer[key][0] if key in layer else builtin)

    ttl_at, ttl = origin("ttl", DEFAULT_TTL)
    if project.ttl > project.max_ttl:
        max_at, max_ttl = origin("max_ttl", DEFAULT_MAX_TTL)
        where.fail(texts.config_not_longer(where.source, ttl_at, ttl, max_at, max_ttl))
    if project.warn_before >= project.ttl:
        warn_at, warn = origin("warn_before", DEFAULT_WARN_BEFORE)
        where.fail(texts.config_not_shorter(where.source, warn_at, warn, ttl_at, ttl))
