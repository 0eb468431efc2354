"""The Helm values file of an environment.

User-derived strings (branch, title, URLs) reach Helm only as data in this
file, never as command-line arguments. The hash of the values decides whether
a release needs an upgrade: same hash, same release, no new revision.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from bot.config import ProjectConfig
from bot.config.project import deep_merge
from bot.domain import naming
from bot.domain.model import Desired


def helm_values(project: ProjectConfig, desired: Desired) -> dict[str, Any]:
    """Project values, overlaid with what previewbot owns (the ``preview`` block,
    the image tag, the routing mode and the overlay)."""
    host = f"{desired.env_key}.{project.domain}"
    ours: dict[str, Any] = {
        "preview": {
            "env": desired.env_key,
            "host": host,
            "project": desired.project_path,
            "branch": desired.branch,
            "sha": desired.sha,
            "mrIid": "" if desired.mr_iid is None else str(desired.mr_iid),
            "mrUrl": desired.mr_url,
        },
        "image": {"tag": project.render_image_tag(sha=desired.sha, branch=desired.branch,
                                                  iid=desired.mr_iid)},
        "routing": {"mode": project.routing},
        "overlay": project.overlay,
    }
    return deep_merge(project.helm_values(), ours)


def values_hash(chart: str, values: Mapping[str, Any]) -> str:
    """Stable digest of chart reference + values (16 hex digits)."""
    canonical = json.dumps({"chart": chart, "values": values}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def namespace_for(desired: Desired) -> str:
    return naming.namespace_name(desired.env_key)


def release_for(desired: Desired) -> str:
    return naming.release_name(desired.env_key)
