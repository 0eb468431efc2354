"""Reachability of every dependency, for `check-config` and `/readyz`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.errors import PreviewError
from bot.engine.core import Core


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def _probe(name: str, call: Callable[[], object]) -> Check:
    try:
        return Check(name, True, str(call() or "ok"))
    except PreviewError as error:
        return Check(name, False, str(error))


def check_all(core: Core, *, include_optional: bool = True) -> list[Check]:
    """Redis and Kubernetes are required; Helm and GitLab when ``include_optional``."""
    checks = [_probe("redis", core.store.ping), _probe("kubernetes", core.kube.server_version)]
    if include_optional:
        checks.append(_probe("helm", core.helm.version))
        if core.forge is not None:
            checks.append(_probe("gitlab", core.forge.check))
        else:
            checks.append(Check("gitlab", False, "GITLAB_URL / GITLAB_TOKEN not set"))
    return checks
