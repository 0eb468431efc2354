"""Readiness of a release's workloads, in words a person can act on.

Pure functions over objects of the kubernetes client: which Deployment or
StatefulSet is not available, and for its pods the condition or container
state that blocks it (e.g. ``PodScheduled=False Unschedulable: …``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_POD_LINES = 3  # per workload, so a message stays readable
# A container's waiting reasons that mean its image cannot be pulled (yet): in push mode,
# usually CI has not pushed it.
IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff"})


def _condition(condition: Any) -> str:
    text = f"{condition.type}={condition.status}"
    if condition.reason:
        text += f" {condition.reason}"
    return f"{text}: {condition.message}" if condition.message else text


def _not_observed(workload: Any) -> str | None:
    generation = workload.metadata.generation or 0
    observed = (workload.status.observed_generation if workload.status else None) or 0
    if observed < generation:
        return (f"change not yet seen by its controller "
                f"(generation {generation}, observed {observed})")
    return None


def deployment_problem(deployment: Any) -> str | None:
    if lag := _not_observed(deployment):
        return lag
    status = deployment.status
    desired = 1 if deployment.spec.replicas is None else deployment.spec.replicas
    conditions = {c.type: c for c in status.conditions or []}
    progressing = conditions.get("Progressing")
    if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        return f"rollout stuck ({_condition(progressing)})"
    available = status.available_replicas or 0
    updated = status.updated_replicas or 0
    condition = conditions.get("Available")
    if available < desired or condition is None or condition.status != "True":
        detail = f" ({_condition(condition)})" if condition is not None else ""
        return f"{available}/{desired} replicas available{detail}"
    if updated < desired:
        return f"{updated}/{desired} replicas run the latest template"
    if (status.replicas or 0) > updated:
        return f"{status.replicas - updated} old replica(s) still terminating"
    return None


def refused_pods(deployment: Any) -> str | None:
    """Why the API server refuses the Deployment's pods (Pod Security, a policy): its
    ReplicaFailure condition, which only a new chart or values clears; else None."""
    for condition in (deployment.status.conditions if deployment.status else None) or []:
        if (condition.type == "ReplicaFailure" and condition.status == "True"
                and "forbidden" in (condition.message or "")):
            return str(condition.message)
    return None


def statefulset_problem(statefulset: Any) -> str | None:
    if lag := _not_observed(statefulset):
        return lag
    status = statefulset.status
    desired = 1 if statefulset.spec.replicas is None else statefulset.spec.replicas
    ready = status.ready_replicas or 0
    if ready < desired:
        return f"{ready}/{desired} replicas ready"
    strategy = statefulset.spec.update_strategy
    if strategy is None or strategy.type in (None, "RollingUpdate"):
        partition = (strategy.rolling_update.partition or 0) if (
            strategy is not None and strategy.rolling_update is not None) else 0
        updated = status.updated_replicas or 0
        if updated < desired - partition:
            return f"{updated}/{desired} replicas run revision {status.update_revision}"
    return None


def pod_problems(selector: Any, pods: list[Any]) -> list[str]:
    lines = []
    for pod in sorted(pods, key=lambda p: str(p.metadata.name)):
        if pod.metadata.deletion_timestamp is None and _selects(selector, pod.metadata.labels):
            reason = _pod_reason(pod)
            if reason is not None:
                lines.append(f"Pod {pod.metadata.name}: {reason}")
    return lines[:MAX_POD_LINES]


def missing_images(selector: Any, pods: list[Any]) -> list[str]:
    """The images the workload's pods wait for (ErrImagePull/ImagePullBackOff), sorted."""
    images: set[str] = set()
    for pod in pods:
        if pod.metadata.deletion_timestamp is not None or not _selects(selector,
                                                                       pod.metadata.labels):
            continue
        status, spec = pod.status, pod.spec
        wanted = {c.name: c.image for c in [*(spec.init_containers or []),
                                            *(spec.containers or [])]} if spec else {}
        for container in [*((status.init_container_statuses if status else None) or []),
                          *((status.container_statuses if status else None) or [])]:
            waiting = container.state.waiting if container.state else None
            if waiting is not None and waiting.reason in IMAGE_PULL_REASONS:
                # The spec's reference: the status may show a resolved one.
                image = wanted.get(container.name) or container.image
                if image:
                    images.add(str(image))
    return sorted(images)


def _selects(selector: Any, labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.match_labels or {}).items()):
        return False
    for expression in selector.match_expressions or []:
        value, values = labels.get(expression.key), expression.values or []
        matched = {"In": value in values, "NotIn": value not in values,
                   "Exists": value is not None, "DoesNotExist": value is None}
        if not matched.get(expression.operator, False):
            return False
    return True


def _pod_reason(pod: Any) -> str | None:
    """The most telling reason a pod is not Ready, or None when it is."""
    status = pod.status
    conditions = {c.type: c for c in (status.conditions if status else None) or []}
    if status is None or not conditions or status.phase in ("Failed", "Succeeded"):
        phase = status.phase if status and status.phase else "Pending"
        why = f" {status.reason}: {status.message}" if status and status.reason else ""
        return f"phase {phase}{why}"
    if "Ready" in conditions and conditions["Ready"].status == "True":
        return None
    scheduled = conditions.get("PodScheduled")
    if scheduled is not None and scheduled.status != "True":
        return _condition(scheduled)
    return _container_reason(status) or next(
        (_condition(conditions[kind]) for kind in ("Initialized", "ContainersReady", "Ready")
         if kind in conditions and conditions[kind].status != "True"), None)


def _container_reason(status: Any) -> str | None:
    for container in [*(status.init_container_statuses or []), *(status.container_statuses or [])]:
        waiting = container.state.waiting if container.state else None
        terminated = container.state.terminated if container.state else None
        if waiting is not None and waiting.reason:
            message = f": {waiting.message}" if waiting.message else ""
            return f"container {container.name} waiting: {waiting.reason}{message}"
        if terminated is not None and terminated.exit_code:
            return (f"container {container.name} terminated: {terminated.reason} "
                    f"(exit code {terminated.exit_code})")
    return None
