"""Kubernetes adapter: namespaces with ownership labels, and workload readiness.

The bot only ever changes namespaces that carry ``app.kubernetes.io/managed-by:
previewbot`` (README "How it converges"). Ownership is checked first and every write carries the
``resourceVersion`` (or delete preconditions) of the object that was checked, so
a namespace that changes hands in between makes the write fail (409, retried)
instead of touching a stranger's namespace.

Client errors are wrapped: unreachable API, 5xx, 409 and 429 become
``TemporaryError``; other 4xx ``PermanentError`` with the server's message.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from bot import metrics
from bot.cluster import helm, network
from bot.config import NamespaceAccess
from bot.config.model import SECRET_VALUES_NAME, NetworkIsolation
from bot.domain import messages, records, workloads
from bot.domain.errors import (
    AccessError,
    ConfigError,
    NotOwnedError,
    PermanentError,
    PreviewError,
    TemporaryError,
)

MANAGED_BY = (records.MANAGED_BY_LABEL, records.MANAGED_BY_VALUE)
INSTANCE_LABEL = "app.kubernetes.io/instance"
# The RoleBinding that gives the bot its namespace role inside each preview namespace.
ROLE_BINDING = "previewbot"
RBAC_GROUP = "rbac.authorization.k8s.io"
ACCESS_TIMEOUT = 15.0  # seconds for a new RoleBinding to reach the API server's authorizer
REQUEST_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds for every API call
log = logging.getLogger("previewbot.kube")


@dataclass(frozen=True)
class NamespaceRecord:
    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    phase: str  # "Active" | "Terminating"
    created_at: datetime
    uid: str = ""
    resource_version: str = ""
    deleting_since: datetime | None = None  # its deletionTimestamp
    # What the namespace controller reports holds a Terminating one (its conditions:
    # the objects left, their finalizers); empty while it has said nothing.
    holds: tuple[str, ...] = ()
    # The installation that read it (PREVIEWBOT_INSTANCE): another's namespace is not managed.
    instance: str = records.DEFAULT_INSTANCE

    @property
    def managed(self) -> bool:
        """Previewbot's, and this installation's (see ``records.belongs_to``)."""
        return records.belongs_to(self.labels, self.instance)


@dataclass(frozen=True)
class WorkloadStatus:
    ready: bool
    found: int
    problems: tuple[str, ...]
    # Images its pods cannot pull (yet): ErrImagePull or ImagePullBackOff.
    missing_images: tuple[str, ...] = ()
    # Pods the API server refuses to create (Pod Security, an admission policy): final.
    refused: tuple[str, ...] = ()


class Kube:
    """Synchronous adapter over the official client; one instance per cluster."""

    def __init__(self, api: client.ApiClient, access: NamespaceAccess | None = None,
                 instance: str = records.DEFAULT_INSTANCE, home: str | None = None) -> None:
        self._api = api
        self._access = access
        self.instance = instance
        self.home = home  # the bot's own namespace (PREVIEWBOT_NAMESPACE)

    # Built on first use: the API classes pull in hundreds of model modules (about a
    # second), which a CLI command that never talks to the cluster should not pay.
    @cached_property
    def _core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self._api)

    @cached_property
    def _apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self._api)

    @cached_property
    def _rbac(self) -> client.RbacAuthorizationV1Api:
        return client.RbacAuthorizationV1Api(self._api)

    @cached_property
    def _networking(self) -> client.NetworkingV1Api:
        return client.NetworkingV1Api(self._api)

    @classmethod
    def from_kubeconfig(cls, path: str | None, access: NamespaceAccess | None = None,
                        instance: str = records.DEFAULT_INSTANCE,
                        home: str | None = None) -> Kube:
        """``path``, else ``$KUBECONFIG`` / ``~/.kube/config``, else the in-cluster account."""
        default = Path("~/.kube/config").expanduser()
        chosen = path or os.environ.get("KUBECONFIG") or (str(default) if default.exists() else "")
        try:
            if chosen:
                return cls(config.new_client_from_config(config_file=chosen),  # type: ignore[no-untyped-call]
                           access, instance, home)
            configuration = client.Configuration()
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration)
            return cls(client.ApiClient(configuration), access, instance, home)
        except (ConfigException, OSError, ValueError) as error:
            where = f"kubeconfig {chosen}" if chosen else "the in-cluster service account"
            raise ConfigError(f"cannot load Kubernetes credentials from {where}: {error}; "
                              "set KUBECONFIG or run the bot in a pod") from error

    def server_version(self) -> str:
        with _api("reading the server version"):
            info = client.VersionApi(self._api).get_code(_request_timeout=(3.0, 5.0))
        return str(info.git_version)

    def get_namespace(self, name: str) -> NamespaceRecord | None:
        try:
            with _api(f"reading namespace {name}"):
                found = self._core.read_namespace(name, _request_timeout=REQUEST_TIMEOUT)
        except PreviewError as error:
            if _status(error) == 404:
                return None
            raise
        return _record(found, self.instance)

    def list_managed_namespaces(self, labels: Mapping[str, str | None] | None = None) -> (
            list[NamespaceRecord]):
        selector = ",".join(["=".join(MANAGED_BY), *(
            f"!{key}" if value is None else f"{key}={value}"
            for key, value in (labels or {}).items())])
        records: list[NamespaceRecord] = []
        token: str | None = None
        while True:
            with _api(f"listing namespaces with label {selector}"):
                page = self._core.list_namespace(label_selector=selector, limit=500,
                                                 _continue=token, _request_timeout=REQUEST_TIMEOUT)
            # Another installation's namespaces (same managed-by label) are not listed.
            records.extend(record for item in page.items
                           if (record := _record(item, self.instance)).managed)
            token = page.metadata._continue if page.metadata else None
            if not token:
                return records

    def ensure_namespace(self, name: str, labels: Mapping[str, str],
                         annotations: Mapping[str, str]) -> str:
        """Create or merge-patch; returns "created", "updated" or "unchanged".

        The managed-by and instance labels are always set. Keys not named here are never
        removed.
        """
        labels = {**labels, MANAGED_BY[0]: MANAGED_BY[1], records.INSTANCE_LABEL: self.instance}
        current = self.get_namespace(name)
        if current is None:
            body = client.V1Namespace(metadata=client.V1ObjectMeta(
                name=name, labels=labels, annotations=dict(annotations)))
            with _api(f"creating namespace {name}"):
                self._core.create_namespace(body, _request_timeout=REQUEST_TIMEOUT)
            log.info("created namespace %s", name)
            return "created"
        _check_owned(current)
        if current.phase == "Terminating":
            raise TemporaryError(f"namespace {name} is still being deleted (Terminating); "
                                 "it can be created again once it is gone", delay=5.0)
        changed = self._patch_metadata(current, _diff(current.labels, labels),
                                       _diff(current.annotations, annotations))
        return "updated" if changed else "unchanged"

    def ensure_role_binding(self, namespace: str) -> str:
        """Bind the namespace ClusterRole to the bot's service account in a managed namespace
        (``PREVIEWBOT_NAMESPACE_ROLE``/``PREVIEWBOT_SERVICE_ACCOUNT``); returns "created",
        "updated", "unchanged" or "not configured" (no access settings: nothing to bind).

        The chart grants the bot nothing inside namespaces cluster-wide; this binding is
        what lets Helm install the release there. The namespace's ownership is checked
        first; a RoleBinding of that name without the managed-by label is never touched.
        A new binding is waited for until the API server's authorizer honours it."""
        access = self._access
        if access is None:
            return "not configured"
        current_ns = self.get_namespace(namespace)
        if current_ns is None:
            raise PermanentError(namespace_missing_for_binding(namespace))
        _check_owned(current_ns)
        wanted = _role_binding(namespace, access)
        current = self._read_role_binding(namespace)
        if current is None:
            with _api(f"creating RoleBinding {ROLE_BINDING} in namespace {namespace}"):
                self._rbac.create_namespaced_role_binding(namespace, wanted,
                                                          _request_timeout=REQUEST_TIMEOUT)
            log.info("bound ClusterRole %s to %s in namespace %s", access.cluster_role,
                     access.username, namespace)
            self._wait_for_access(namespace, access)
            return "created"
        if (current.metadata.labels or {}).get(MANAGED_BY[0]) != MANAGED_BY[1]:
            raise NotOwnedError(role_binding_not_ours(namespace, ROLE_BINDING))
        if _binding_key(current) == _binding_key(wanted):
            return "unchanged"
        # roleRef is immutable: replace the binding, conditional on the one we checked.
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(
            uid=current.metadata.uid, resource_version=current.metadata.resource_version))
        with _api(f"replacing RoleBinding {ROLE_BINDING} in namespace {namespace}"):
            self._rbac.delete_namespaced_role_binding(ROLE_BINDING, namespace, body=options,
                                                      _request_timeout=REQUEST_TIMEOUT)
            self._rbac.create_namespaced_role_binding(namespace, wanted,
                                                      _request_timeout=REQUEST_TIMEOUT)
        log.info("re-bound ClusterRole %s to %s in namespace %s", access.cluster_role,
                 access.username, namespace)
        self._wait_for_access(namespace, access)
        return "updated"

    def ensure_network_policy(self, namespace: str, isolation: NetworkIsolation) -> str:
        """Keep the bot's NetworkPolicy (``bot.cluster.network``) in a managed namespace;
        returns "created", "updated", "unchanged", "removed" (turned off) or "off". One of
        that name the bot did not make is never touched."""
        current_ns = self.get_namespace(namespace)
        if current_ns is None:
            raise PermanentError(f"namespace {namespace} does not exist; the next pass "
                                 "creates it before its NetworkPolicy")
        _check_owned(current_ns)
        name = network.NAME
        current: Any
        try:
            with _api(f"reading NetworkPolicy {name} in namespace {namespace}"):
                current = self._networking.read_namespaced_network_policy(
                    name, namespace, _request_timeout=REQUEST_TIMEOUT)
        except PreviewError as error:
            if _status(error) != 404:
                raise
            current = None
        if current is not None and (
                (current.metadata.labels or {}).get(MANAGED_BY[0]) != MANAGED_BY[1]):
            raise NotOwnedError(network_policy_not_ours(namespace, name))
        if not isolation.enabled:
            if current is None:
                return "off"
            with _api(f"deleting NetworkPolicy {name} in namespace {namespace}"):
                self._networking.delete_namespaced_network_policy(
                    name, namespace, _request_timeout=REQUEST_TIMEOUT)
            log.info("removed NetworkPolicy %s from namespace %s (network_policy off)",
                     name, namespace)
            return "removed"
        # A plain dict: the client sends it as JSON as it is.
        wanted: Any = network.isolation_policy(namespace, isolation)
        if current is None:
            with _api(f"creating NetworkPolicy {name} in namespace {namespace}"):
                self._networking.create_namespaced_network_policy(
                    namespace, wanted, _request_timeout=REQUEST_TIMEOUT)
            log.info("created NetworkPolicy %s in namespace %s", name, namespace)
            return "created"
        digest = wanted["metadata"]["annotations"][network.SPEC_HASH]
        if (current.metadata.annotations or {}).get(network.SPEC_HASH) == digest:
            return "unchanged"
        wanted["metadata"]["resourceVersion"] = current.metadata.resource_version
        with _api(f"replacing NetworkPolicy {name} in namespace {namespace}"):
            self._networking.replace_namespaced_network_policy(
                name, namespace, wanted, _request_timeout=REQUEST_TIMEOUT)
        log.info("updated NetworkPolicy %s in namespace %s", name, namespace)
        return "updated"

    def copy_secret_values(self, source: str, namespace: str) -> tuple[str, ...]:
        """Copy the Secret ``source`` of the bot's namespace into the managed namespace
        ``namespace`` as SECRET_VALUES_NAME (replacing its data); returns the values, so
        that the caller can keep them out of everything it says. Never logs them."""
        if self.home is None:
            raise PermanentError(secret_values_without_home(source))
        current_ns = self.get_namespace(namespace)
        if current_ns is None:
            raise PermanentError(f"namespace {namespace} does not exist; the next pass "
                                 "creates it before copying the secret values")
        _check_owned(current_ns)
        try:
            with _api(f"reading Secret {source} in namespace {self.home}"):
                found = self._core.read_namespaced_secret(source, self.home,
                                                          _request_timeout=REQUEST_TIMEOUT)
        except PreviewError as error:
            if _status(error) == 404:
                raise PermanentError(secret_values_missing(source, self.home)) from error
            raise
        data = dict(found.data or {})
        name = SECRET_VALUES_NAME
        current: Any
        body: Any = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                     "metadata": {"name": name, "namespace": namespace,
                                  "labels": {MANAGED_BY[0]: MANAGED_BY[1]}},
                     "data": data}
        try:
            with _api(f"reading Secret {name} in namespace {namespace}"):
                current = self._core.read_namespaced_secret(name, namespace,
                                                            _request_timeout=REQUEST_TIMEOUT)
        except PreviewError as error:
            if _status(error) != 404:
                raise
            current = None
        if current is None:
            with _api(f"creating Secret {name} in namespace {namespace}"):
                self._core.create_namespaced_secret(namespace, body,
                                                    _request_timeout=REQUEST_TIMEOUT)
        elif (current.metadata.labels or {}).get(MANAGED_BY[0]) != MANAGED_BY[1]:
            raise NotOwnedError(f"Secret {name} in namespace {namespace} exists but is not "
                                "managed by previewbot; previewbot will not overwrite it — "
                                "remove or rename it")
        elif dict(current.data or {}) != data:
            body["metadata"]["resourceVersion"] = current.metadata.resource_version
            with _api(f"replacing Secret {name} in namespace {namespace}"):
                self._core.replace_namespaced_secret(name, namespace, body,
                                                     _request_timeout=REQUEST_TIMEOUT)
        log.info("secret values of %s in namespace %s (%d keys)", source, namespace, len(data))
        return tuple(_decoded(value) for value in data.values())

    def _read_role_binding(self, namespace: str) -> Any:
        try:
            with _api(f"reading RoleBinding {ROLE_BINDING} in namespace {namespace}"):
                return self._rbac.read_namespaced_role_binding(
                    ROLE_BINDING, namespace, _request_timeout=REQUEST_TIMEOUT)
        except PreviewError as error:
            if _status(error) == 404:
                return None
            raise

    def _wait_for_access(self, namespace: str, access: NamespaceAccess) -> None:
        """RBAC reaches the authorizer through a cache: ask (as the bot itself) until Helm's
        first call in the namespace would be allowed, so it does not fail with 403."""
        review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace, verb="list", resource="secrets")))
        authorization = client.AuthorizationV1Api(self._api)
        deadline = time.monotonic() + ACCESS_TIMEOUT
        while True:
            with _api(f"checking the bot's access to namespace {namespace}"):
                answer = authorization.create_self_subject_access_review(
                    review, _request_timeout=REQUEST_TIMEOUT)
            if answer.status is not None and answer.status.allowed:
                return
            if time.monotonic() >= deadline:
                raise TemporaryError(role_binding_not_effective(
                    namespace, access.cluster_role, access.username, ACCESS_TIMEOUT), delay=10.0)
            time.sleep(0.1)

    def annotate_namespace(self, name: str, annotations: Mapping[str, str | None]) -> None:
        """Set annotations; a ``None`` value removes that key. No write when nothing differs."""
        current = self.get_namespace(name)
        if current is None:
            raise PermanentError(f"namespace {name} does not exist; nothing to annotate")
        _check_owned(current)
        self._patch_metadata(current, {}, _diff(current.annotations, annotations))

    def delete_namespace(self, name: str, *, owner: Mapping[str, str], dry_run: bool) -> bool:
        """Start deleting a managed namespace whose labels include ``owner`` (the identity
        labels of the environment it belongs to); False when it is already gone.

        With ``dry_run`` the ownership check still runs for real; the delete is only logged."""
        current = self.get_namespace(name)
        if current is None:
            return False
        _check_owned(current)
        others = {key: current.labels.get(key, "") for key, value in owner.items()
                  if current.labels.get(key) != value}
        if others:
            raise NotOwnedError(messages.namespace_of_another(name, others))
        if dry_run:
            log.info("DRY-RUN: would delete namespace %s", name)
            return True
        if current.phase == "Terminating":
            return True
        options = client.V1DeleteOptions(propagation_policy="Background",
                                         preconditions=client.V1Preconditions(
                                             uid=current.uid,
                                             resource_version=current.resource_version))
        try:
            with _api(f"deleting namespace {name}"):
                self._core.delete_namespace(name, body=options, _request_timeout=REQUEST_TIMEOUT)
        except PreviewError as error:
            if _status(error) == 404:
                return False
            raise
        log.info("deleting namespace %s", name)
        return True

    def wait_namespace_gone(self, name: str, timeout: float) -> bool:
        """Poll until the namespace no longer exists; False when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while self.get_namespace(name) is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(0.5, remaining))
        return True

    def workload_status(self, namespace: str, instance: str) -> WorkloadStatus:
        """Readiness of the release's Deployments and StatefulSets, with reasons when not."""
        selector = f"{INSTANCE_LABEL}={instance}"
        found: list[Any] = []
        with _api(f"listing workloads with label {selector} in namespace {namespace}"):
            for lister in (self._apps.list_namespaced_deployment,
                           self._apps.list_namespaced_stateful_set):
                found += lister(namespace, label_selector=selector,
                                _request_timeout=REQUEST_TIMEOUT).items
        if not found:
            return WorkloadStatus(False, 0, (f"no Deployment or StatefulSet with label {selector} "
                                             f"in namespace {namespace}",))
        problems: list[str] = []
        images: set[str] = set()
        refused: list[str] = []
        pods: list[Any] | None = None
        for workload in found:
            kind = "StatefulSet" if isinstance(workload, client.V1StatefulSet) else "Deployment"
            if kind == "Deployment" and (why := workloads.refused_pods(workload)):
                refused.append(f"Deployment {workload.metadata.name}: {why}")
            problem = (workloads.statefulset_problem(workload) if kind == "StatefulSet"
                       else workloads.deployment_problem(workload))
            if problem is None:
                continue
            problems.append(f"{kind} {workload.metadata.name}: {problem}")
            if pods is None:
                with _api(f"listing pods in namespace {namespace}"):
                    pods = self._core.list_namespaced_pod(
                        namespace, _request_timeout=REQUEST_TIMEOUT).items
            problems.extend(workloads.pod_problems(workload.spec.selector, pods))
            images.update(workloads.missing_images(workload.spec.selector, pods))
        return WorkloadStatus(not problems, len(found), tuple(problems), tuple(sorted(images)),
                              tuple(refused))

    def _patch_metadata(self, current: NamespaceRecord, labels: Mapping[str, str | None],
                        annotations: Mapping[str, str | None]) -> bool:
        if not labels and not annotations:
            return False
        # resourceVersion makes the patch conditional on the state we checked ownership on.
        body = {"metadata": {"resourceVersion": current.resource_version,
                             "labels": dict(labels), "annotations": dict(annotations)}}
        with _api(f"patching namespace {current.name}"):
            self._core.patch_namespace(current.name, body, _request_timeout=REQUEST_TIMEOUT,
                                       _content_type="application/merge-patch+json")
        log.info("patched namespace %s: labels %s, annotations %s",
                 current.name, dict(labels), dict(annotations))
        return True


@contextmanager
def _api(action: str) -> Iterator[None]:
    """Translate client errors raised inside into the bot's error hierarchy."""
    try:
        yield
    except ApiException as error:
        if error.status != 404:  # "not found" is an answer, not an error
            metrics.ERRORS.labels(dependency="kubernetes").inc()
        raise _translate(action, error) from error
    except (urllib3.exceptions.HTTPError, OSError) as error:
        metrics.ERRORS.labels(dependency="kubernetes").inc()
        raise TemporaryError(f"the Kubernetes API is unreachable while {action}: {error}",
                             delay=10.0) from error


def _translate(action: str, error: ApiException) -> PreviewError:
    status = int(error.status or 0)
    message = error.reason or "no reason given"
    with suppress(ValueError, KeyError, TypeError):
        message = json.loads(error.body or "")["message"]
    text = f"Kubernetes refused {action} (HTTP {status}): {message}"
    if status in (409, 429) or status >= 500 or status == 0:
        return TemporaryError(text, delay=2.0 if status == 409 else 10.0)
    if status == 403 and any(marker in message.lower() for marker in helm.POLICY_DENIED):
        return PermanentError(f"{text} — refused by the cluster's admission policy (README "
                              "\"Security model\")")
    if status in (401, 403):
        return AccessError(f"{text} — check the bot's credentials and RBAC permissions",
                           delay=60.0)
    return PermanentError(text)


def _status(error: PreviewError) -> int:
    """HTTP status of the ApiException a wrapped error came from (0 when none)."""
    cause = error.__cause__
    return int(cause.status or 0) if isinstance(cause, ApiException) else 0


def _check_owned(record: NamespaceRecord) -> None:
    other = record.labels.get(records.INSTANCE_LABEL, record.instance)
    if record.labels.get(MANAGED_BY[0]) == MANAGED_BY[1] and other != record.instance:
        raise NotOwnedError(namespace_of_another_installation(record.name, other,
                                                              record.instance))
    if not record.managed:
        raise NotOwnedError(messages.namespace_not_ours(record.name))


def _record(item: Any, instance: str) -> NamespaceRecord:
    meta = item.metadata
    terminating = meta.deletion_timestamp is not None or (
        item.status is not None and item.status.phase == "Terminating")
    return NamespaceRecord(
        name=meta.name, labels=dict(meta.labels or {}), annotations=dict(meta.annotations or {}),
        phase="Terminating" if terminating else "Active",
        created_at=meta.creation_timestamp or datetime.fromtimestamp(0, UTC),
        uid=meta.uid or "", resource_version=meta.resource_version or "",
        deleting_since=meta.deletion_timestamp, holds=_holds(item.status), instance=instance)


# The namespace controller's conditions on a namespace it cannot finish deleting, in
# the order a person fixes them: what is left, the finalizers that keep it, failures.
_HOLDING_CONDITIONS = ("NamespaceContentRemaining", "NamespaceFinalizersRemaining",
                       "NamespaceDeletionContentFailure", "NamespaceDeletionDiscoveryFailure",
                       "NamespaceDeletionGroupVersionParsingFailure")


def _holds(status: Any) -> tuple[str, ...]:
    conditions = {c.type: c for c in (getattr(status, "conditions", None) or [])
                  if c.status == "True" and c.message}
    return tuple(conditions[kind].message for kind in _HOLDING_CONDITIONS if kind in conditions)


def _role_binding(namespace: str, access: NamespaceAccess) -> client.V1RoleBinding:
    return client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name=ROLE_BINDING, namespace=namespace,
                                     labels={MANAGED_BY[0]: MANAGED_BY[1]}),
        role_ref=client.V1RoleRef(api_group=RBAC_GROUP, kind="ClusterRole",
                                  name=access.cluster_role),
        subjects=[client.RbacV1Subject(kind="ServiceAccount",
                                       name=access.service_account_name,
                                       namespace=access.service_account_namespace)])


def _binding_key(binding: Any) -> tuple[object, ...]:
    """What a RoleBinding grants: its role and its subjects."""
    ref = binding.role_ref
    return ((ref.api_group, ref.kind, ref.name),
            tuple(sorted((s.kind, s.namespace or "", s.name) for s in binding.subjects or ())))


def _diff(current: Mapping[str, str], wanted: Mapping[str, str | None]) -> dict[str, str | None]:
    """The part of ``wanted`` that differs; ``None`` (remove) only for keys that exist."""
    return {key: value for key, value in wanted.items() if current.get(key) != value}


# --- texts: why the namespace role cannot be bound ----------------------------
# (the namespace texts the engine says too stay in bot.domain.messages)


def role_binding_not_ours(namespace: str, name: str) -> str:
    return (f"RoleBinding {name} in namespace {namespace} exists but is not managed by "
            "previewbot (no label app.kubernetes.io/managed-by=previewbot); previewbot will not "
            "modify it — remove or rename it")


def namespace_of_another_installation(namespace: str, other: str, mine: str) -> str:
    return (f"namespace {namespace} belongs to another previewbot installation "
            f"({records.INSTANCE_LABEL}={other}; this one is {mine}); this one will not "
            "modify or delete it — give the project another `slug:` if both deploy it")


def _decoded(value: str | bytes) -> str:
    with suppress(ValueError, UnicodeDecodeError):
        return base64.b64decode(value, validate=True).decode()
    return ""


def secret_values_without_home(source: str) -> str:
    return (f"secret_values {source}: the bot does not know its own namespace, where that "
            "Secret is; set PREVIEWBOT_NAMESPACE (the chart does)")


def secret_values_missing(source: str, home: str) -> str:
    return (f"secret_values: there is no Secret {source} in namespace {home}; create it "
            f"(`kubectl -n {home} create secret generic {source} --from-literal=KEY=value`) "
            "and give the chart's secretValues.names that name, or fix `secret_values`")


def network_policy_not_ours(namespace: str, name: str) -> str:
    return (f"NetworkPolicy {name} in namespace {namespace} exists but is not managed by "
            "previewbot (no label app.kubernetes.io/managed-by=previewbot); previewbot will not "
            "modify it — remove or rename it (does the project's chart template one by that "
            "name?)")


def namespace_missing_for_binding(namespace: str) -> str:
    return (f"namespace {namespace} does not exist, so the bot cannot bind its namespace role "
            "there; the next pass creates the namespace first")


def role_binding_not_effective(namespace: str, role: str, account: str, seconds: float) -> str:
    return (f"the RoleBinding of ClusterRole {role} in namespace {namespace} gave the bot no "
            f"access within {seconds:.0f}s; check that PREVIEWBOT_SERVICE_ACCOUNT ({account}) is "
            "the account the bot runs as")
