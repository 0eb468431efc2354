"""The Helm values file of an environment.

User-derived strings (branch, title, URLs) reach Helm only as data in this
file, never as command-line arguments. The hash of the values decides whether
a release needs an upgrade: same hash, same release, no new revision.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.config import ProjectConfig
from bot.config.model import SECRET_VALUES_NAME
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
    if project.secret_values is not None:  # its name only: the values stay secret-free
        ours["secretValues"] = {"name": SECRET_VALUES_NAME}
    return deep_merge(project.helm_values(), ours)


def values_hash(chart: str, values: Mapping[str, Any]) -> str:
    """Stable digest of the chart (its content, for a local chart) + values (16 hex
    digits): an edited chart rolls out to existing environments on the next pass."""
    canonical = json.dumps({"chart": chart, "content": chart_digest(chart), "values": values},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


_digests: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}
_digests_lock = threading.Lock()
# A pass hashes every environment's values: the chart's files are looked at (walked and
# stat'ed) at most once per STAMP_TTL seconds, not once per environment.
STAMP_TTL = 1.0
_recent: dict[str, tuple[float, str]] = {}


def chart_digest(chart: str) -> str:
    """What identifies the chart's content. A local chart directory: a digest of every
    file (path and bytes), recomputed only when a file's size or mtime changed. Any other
    reference (``oci://…:1.2.3``, ``repo/chart``) names its version itself: ``""``."""
    now = time.monotonic()
    with _digests_lock:
        recent = _recent.get(chart)
    if recent is not None and now - recent[0] < STAMP_TTL:
        return recent[1]
    value = _chart_digest(chart)
    with _digests_lock:
        if len(_recent) > 64:
            _recent.clear()
        _recent[chart] = (now, value)
    return value


def _chart_digest(chart: str) -> str:
    root = Path(chart)
    if not root.is_dir():
        return ""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    stamp = tuple((str(p.relative_to(root)), (st := p.stat()).st_size, st.st_mtime_ns)
                  for p in files)
    key = (str(root.resolve()), stamp)
    with _digests_lock:
        known = _digests.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    value = digest.hexdigest()[:16]
    with _digests_lock:
        if len(_digests) > 64:  # old stamps of edited charts
            _digests.clear()
        _digests[key] = value
    return value


def namespace_for(desired: Desired) -> str:
    return naming.namespace_name(desired.env_key)


def release_for(desired: Desired) -> str:
    return naming.release_name(desired.env_key)
