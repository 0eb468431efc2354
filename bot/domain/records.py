"""The cluster as the durable record (README "How it converges").

Every environment's namespace carries the labels and annotations from which
its desired state can be rebuilt when Redis is wiped: no environment is
forgotten and no TTL is reset. This module is the only place that knows the
label/annotation names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from bot.domain.model import Desired

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "previewbot"
ENV_LABEL = "previewbot/env"
PROJECT_ID_LABEL = "previewbot/project-id"
MR_IID_LABEL = "previewbot/mr-iid"
# Which installation of previewbot the namespace belongs to (PREVIEWBOT_INSTANCE): a
# staging bot and a production bot in one cluster never take each other's namespaces.
INSTANCE_LABEL = "previewbot/instance"
DEFAULT_INSTANCE = "previewbot"
# Pod Security Admission: the level the API server enforces on the namespace's pods.
POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"

EXPIRES_AT = "previewbot/expires-at"
PROJECT_PATH = "previewbot/project-path"
BRANCH = "previewbot/branch"
SHA = "previewbot/sha"
MR_URL = "previewbot/mr-url"
OWNER = "previewbot/owner"
# Beyond the labels and annotations the README names, so that a rebuild loses nothing either:
CREATED_AT = "previewbot/created-at"
KEEP = "previewbot/keep"
MANUAL = "previewbot/manual"
TEARDOWN_REASON = "previewbot/teardown-reason"
TEARDOWN_KIND = "previewbot/teardown-kind"
SOURCE_UPDATED_AT = "previewbot/source-updated-at"
# The hash of the values last deployed successfully by helm (see bot.cluster.values).
DEPLOYED_HASH = "previewbot/deployed-hash"
# The id of the forge environment the bot made (it never touches one it did not make).
REVIEW_ENVIRONMENT_ID = "previewbot/review-environment-id"
# Its name until 0.x: still read, so namespaces annotated before keep their id.
OLD_REVIEW_ENVIRONMENT_ID = "previewbot/gitlab-environment-id"
# When a managed namespace without a record or enough annotations was first seen.
ORPHAN_SINCE = "previewbot/orphan-since"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def namespace_labels(desired: Desired) -> dict[str, str]:
    labels = {
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        ENV_LABEL: desired.env_key,
        PROJECT_ID_LABEL: str(desired.project_id),
    }
    if desired.mr_iid is not None:
        labels[MR_IID_LABEL] = str(desired.mr_iid)
    return labels


def pod_security_labels(level: str) -> dict[str, str]:
    """Enforce ``level`` (restricted or baseline) on every pod of the namespace, and warn
    (kubectl, Helm) against the restricted one, so a chart author sees what to fix."""
    return {POD_SECURITY_LABEL: level, "pod-security.kubernetes.io/warn": "restricted"}


def belongs_to(labels: Mapping[str, str], instance: str) -> bool:
    """Managed by previewbot and by this installation. A namespace without an instance
    label is from a version before it and is this installation's (it labels it when it
    next writes it); one of another installation is not."""
    return (labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE
            and labels.get(INSTANCE_LABEL, instance) == instance)


def namespace_annotations(desired: Desired) -> dict[str, str | None]:
    """Annotations to write; ``None`` removes a key (e.g. a cancelled teardown)."""
    return {
        EXPIRES_AT: rfc3339(desired.expires_at),
        PROJECT_PATH: desired.project_path,
        BRANCH: desired.branch,
        SHA: desired.sha,
        MR_URL: desired.mr_url,
        OWNER: desired.owner,
        CREATED_AT: rfc3339(desired.created_at),
        KEEP: "true" if desired.keep else "false",
        MANUAL: "true" if desired.manual else "false",
        TEARDOWN_REASON: None if desired.present else (desired.down_reason or "requested"),
        TEARDOWN_KIND: None if desired.present else (desired.down_kind or "requested"),
        SOURCE_UPDATED_AT: (rfc3339(desired.source_updated_at)
                            if desired.source_updated_at else None),
    }


def annotations_differ(current: Mapping[str, str], desired: Desired) -> bool:
    """The namespace does not (yet) say what the record says."""
    return any(current.get(key) != value for key, value in namespace_annotations(desired).items())


def desired_from_namespace(labels: Mapping[str, str], annotations: Mapping[str, str],
                           created: datetime) -> Desired | None:
    """Rebuild desired state from a managed namespace; None if it is not one of ours."""
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or ENV_LABEL not in labels:
        return None
    iid = labels.get(MR_IID_LABEL)
    source_updated = annotations.get(SOURCE_UPDATED_AT)
    created_at = parse_rfc3339(annotations[CREATED_AT]) if CREATED_AT in annotations else created
    return Desired(
        env_key=labels[ENV_LABEL],
        project_path=annotations.get(PROJECT_PATH, ""),
        project_id=int(labels.get(PROJECT_ID_LABEL, "0")),
        branch=annotations.get(BRANCH, ""),
        sha=annotations.get(SHA, ""),
        created_at=created_at,
        # No annotation means someone stripped it: expire now rather than live forever.
        expires_at=parse_rfc3339(annotations[EXPIRES_AT]) if EXPIRES_AT in annotations
        else created_at,
        mr_iid=int(iid) if iid else None,
        mr_url=annotations.get(MR_URL, ""),
        owner=annotations.get(OWNER, ""),
        keep=annotations.get(KEEP) == "true",
        manual=annotations.get(MANUAL) == "true",
        present=TEARDOWN_REASON not in annotations,
        down_reason=annotations.get(TEARDOWN_REASON, ""),
        down_kind=annotations.get(TEARDOWN_KIND, ""),
        source_updated_at=parse_rfc3339(source_updated) if source_updated else None,
    )


def review_environment(environment_id: int) -> dict[str, str | None]:
    """The annotations that keep it, under the old name too: a replica of the previous
    version (a rolling update, a rollback) reads only that one."""
    return {REVIEW_ENVIRONMENT_ID: str(environment_id),
            OLD_REVIEW_ENVIRONMENT_ID: str(environment_id)}


def review_environment_id(annotations: Mapping[str, str]) -> int | None:
    raw = annotations.get(REVIEW_ENVIRONMENT_ID) or annotations.get(OLD_REVIEW_ENVIRONMENT_ID, "")
    return int(raw) if raw.isdecimal() else None


def is_ours(labels: Mapping[str, str], desired: Desired) -> bool:
    """The namespace is this environment's own: managed by previewbot, and not for
    another environment or project."""
    return (labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE
            and not foreign_labels(labels, desired))


def foreign_labels(labels: Mapping[str, str], desired: Desired) -> dict[str, str]:
    """The identity labels of a *managed* namespace that name another environment
    or project (another previewbot sharing the cluster, a slug collision); empty
    when the namespace is this environment's own."""
    ours = namespace_labels(desired)
    return {key: labels[key] for key in (ENV_LABEL, PROJECT_ID_LABEL)
            if key in labels and labels[key] != ours[key]}


# The environment's chat announcement in the chat adapter's words (Slack:
# "<channel>/<ts>"): a restart or a Redis rebuild keeps editing the same message
# (written only on a namespace that `is_ours`; Redis keeps it too, beside the record).
ANNOUNCEMENT = "previewbot/slack-announcement"  # the name is stored: kept as it was
