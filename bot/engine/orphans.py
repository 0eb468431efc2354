"""Orphans: managed namespaces no record knows and the cluster cannot explain.

A namespace labelled ``app.kubernetes.io/managed-by: previewbot`` without a record is
adopted by the full pass when its annotations are complete (``bot.domain.records``):
Redis lost it, the cluster did not. One whose annotations are incomplete (hand-edited,
a crash between create and annotate) cannot be rebuilt: it is marked with the time it
was first seen (``previewbot/orphan-since``, on the namespace itself), shown in the
sweep's report, and torn down once ``orphan_grace`` (default 1h) has passed — never a
namespace of another project or another bot (its ``previewbot/project-id`` must be one
of this bot's projects), never one without the managed-by label.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.cluster.kube import NamespaceRecord
from bot.domain import naming, records
from bot.domain.durations import format_duration
from bot.domain.errors import PreviewError
from bot.engine.core import Core

log = logging.getLogger("previewbot.orphans")
REQUIRED = (records.PROJECT_PATH, records.BRANCH, records.SHA, records.EXPIRES_AT)


def is_complete(ns: NamespaceRecord) -> bool:
    """Enough to rebuild the environment's record from the namespace alone."""
    return all(ns.annotations.get(key) for key in REQUIRED)


def sweep(core: Core, *, dry_run: bool) -> list[str]:
    """Mark new orphans, tear down those past their grace; what it did, one line each."""
    known = core.store.env_keys()
    ours = _project_ids(core)
    now = core.clock.now()
    report: list[str] = []
    for ns in core.kube.list_managed_namespaces():
        env_key = ns.labels.get(records.ENV_LABEL, "")
        if env_key in known or is_complete(ns) or ns.phase == "Terminating":
            continue
        if ns.labels.get(records.PROJECT_ID_LABEL) not in ours or not env_key \
                or naming.namespace_name(env_key) != ns.name:
            continue  # another bot's, or unreadable: never ours to remove
        try:
            report.append(_orphan(core, ns, env_key, now, dry_run=dry_run))
        except PreviewError as error:
            log.warning("orphan %s: %s", ns.name, error)
    return report


def _orphan(core: Core, ns: NamespaceRecord, env_key: str, now: datetime, *,
            dry_run: bool) -> str:
    grace = core.config.orphan_grace
    missing = ", ".join(key for key in REQUIRED if not ns.annotations.get(key))
    since_text = ns.annotations.get(records.ORPHAN_SINCE)
    if since_text is None:
        if not dry_run:
            core.kube.annotate_namespace(ns.name, {records.ORPHAN_SINCE: records.rfc3339(now)})
        return (f"orphan {ns.name}: no record and incomplete annotations (missing {missing}); "
                f"torn down after {format_duration(grace)} unless claimed")
    since = records.parse_rfc3339(since_text)
    if now - since < grace:
        return f"orphan {ns.name}: torn down at {records.rfc3339(since + grace)}"
    owner = {key: ns.labels[key] for key in (records.MANAGED_BY_LABEL, records.ENV_LABEL,
                                              records.PROJECT_ID_LABEL) if key in ns.labels}
    # Under the environment's lock, and only while still no record claims it: an `up`
    # recorded since the sweep listed the namespaces keeps it (its deploy waits for us).
    with core.store.lock(env_key, wait=core.settings.teardown.orphan_lock_wait):
        if core.store.get(env_key) is not None:
            return f"orphan {ns.name}: claimed by a new record; kept"
        core.helm.uninstall(naming.release_name(env_key), ns.name, dry_run=dry_run)
        core.kube.delete_namespace(ns.name, owner=owner, dry_run=dry_run)
    return f"{'DRY-RUN: would tear down' if dry_run else 'tore down'} orphan {ns.name} " \
           f"(orphaned since {since_text})"


def _project_ids(core: Core) -> set[str]:
    ids: set[str] = set()
    for project in core.config.projects:
        if project.id is not None:
            ids.add(str(project.id))
            continue
        try:
            ids.add(str(core.project_info(project).id))
        except PreviewError as error:  # unknown now: its orphans wait for the next sweep
            log.warning("cannot confirm the GitLab id of %s: %s", project.path, error)
    return ids
