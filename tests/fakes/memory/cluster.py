"""Namespaces in dicts, with ``Kube``'s semantics (``bot.cluster.kube``).

Kept: only namespaces with the managed-by label are ever changed (NotOwnedError
otherwise); writes merge (keys not named stay, ``None`` removes an annotation);
``resource_version`` moves with every change; deleting makes a namespace
Terminating, and it is gone only when the test says so (``finish_deletions``), as a
real one lingers while its objects go; one held (``hold_deletion``, as a finalizer
nobody removes) stays Terminating, reporting what holds it, until ``release_deletion``.
Workloads exist where a release is installed
(``FakeReleases``), ready unless held back (``hold_back``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from bot.cluster import kube
from bot.cluster.kube import INSTANCE_LABEL, MANAGED_BY, NamespaceRecord, WorkloadStatus
from bot.config import NamespaceAccess
from bot.config.model import NetworkIsolation
from bot.domain import messages, records
from bot.domain.errors import NotOwnedError, PermanentError, TemporaryError
from bot.domain.model import Clock, SystemClock
from tests.fakes.memory.faults import Faults


@dataclass(frozen=True)
class Binding:
    """The RoleBinding ``previewbot`` of a namespace: what it grants, and whose it is."""

    cluster_role: str
    subject: str  # the service account's user name
    managed: bool = True


class FakeCluster:
    def __init__(self, *, access: NamespaceAccess | None = None, clock: Clock | None = None,
                 version: str = "v1.36.3") -> None:
        self.access = access
        self.clock = clock or SystemClock()
        self.version = version
        self.faults = Faults(self)
        self.bindings: dict[str, Binding] = {}
        self.network_policies: dict[str, NetworkIsolation] = {}
        # Secrets of the bot's namespace (name -> data), and what each namespace got.
        self.home_secrets: dict[str, dict[str, str]] = {}
        self.secret_values: dict[str, dict[str, str]] = {}
        self._namespaces: dict[str, NamespaceRecord] = {}
        self._workloads: dict[str, set[str]] = {}  # releases installed, per namespace
        self._held_back: dict[tuple[str, str], tuple[str, ...]] = {}
        self._missing_images: dict[tuple[str, str], tuple[str, ...]] = {}
        self._deletion_held: dict[str, tuple[str, ...]] = {}  # what the controller reports
        self._counter = 0
        self._lock = threading.Lock()

    # -- ClusterPort -----------------------------------------------------------------
    def server_version(self) -> str:
        self.faults.check("server_version")
        return self.version

    def get_namespace(self, name: str) -> NamespaceRecord | None:
        self.faults.check("get_namespace")
        with self._lock:
            return self._namespaces.get(name)

    def list_managed_namespaces(self, labels: Mapping[str, str | None] | None = None) -> (
            list[NamespaceRecord]):
        self.faults.check("list_managed_namespaces")
        wanted = dict(labels or {})
        with self._lock:
            return [ns for _, ns in sorted(self._namespaces.items()) if ns.managed
                    and all(ns.labels.get(key) == value for key, value in wanted.items())]

    def ensure_namespace(self, name: str, labels: Mapping[str, str],
                         annotations: Mapping[str, str]) -> str:
        self.faults.check("ensure_namespace")
        labels = {**labels, MANAGED_BY[0]: MANAGED_BY[1],
                  records.INSTANCE_LABEL: records.DEFAULT_INSTANCE}
        with self._lock:
            current = self._namespaces.get(name)
            if current is None:
                self._create(name, labels, annotations)
                return "created"
            _check_owned(current)
            if current.phase == "Terminating":
                raise TemporaryError(f"namespace {name} is still being deleted (Terminating)",
                                     delay=5.0)
            return "updated" if self._patch(current, labels, annotations) else "unchanged"

    def ensure_role_binding(self, namespace: str) -> str:
        self.faults.check("ensure_role_binding")
        if self.access is None:
            return "not configured"
        wanted = Binding(self.access.cluster_role, self.access.username)
        with self._lock:
            current_ns = self._namespaces.get(namespace)
            if current_ns is None:
                raise PermanentError(kube.namespace_missing_for_binding(namespace))
            _check_owned(current_ns)
            current = self.bindings.get(namespace)
            self.bindings[namespace] = wanted if current is None or current.managed else current
        if current is None:
            return "created"
        if not current.managed:
            raise NotOwnedError(kube.role_binding_not_ours(namespace, "previewbot"))
        return "unchanged" if current == wanted else "updated"

    def ensure_network_policy(self, namespace: str, isolation: NetworkIsolation) -> str:
        self.faults.check("ensure_network_policy")
        with self._lock:
            current_ns = self._namespaces.get(namespace)
            if current_ns is None:
                raise PermanentError(f"namespace {namespace} does not exist")
            _check_owned(current_ns)
            current = self.network_policies.pop(namespace, None)
            if not isolation.enabled:
                return "off" if current is None else "removed"
            self.network_policies[namespace] = isolation
        if current is None:
            return "created"
        return "unchanged" if current == isolation else "updated"

    def copy_secret_values(self, source: str, namespace: str) -> tuple[str, ...]:
        self.faults.check("copy_secret_values")
        with self._lock:
            current_ns = self._namespaces.get(namespace)
            if current_ns is None:
                raise PermanentError(f"namespace {namespace} does not exist")
            _check_owned(current_ns)
            if source not in self.home_secrets:
                raise PermanentError(kube.secret_values_missing(source, "previewbot"))
            self.secret_values[namespace] = dict(self.home_secrets[source])
            return tuple(self.home_secrets[source].values())

    def annotate_namespace(self, name: str, annotations: Mapping[str, str | None]) -> None:
        self.faults.check("annotate_namespace")
        with self._lock:
            current = self._namespaces.get(name)
            if current is None:
                raise PermanentError(f"namespace {name} does not exist; nothing to annotate")
            _check_owned(current)
            self._patch(current, {}, annotations)

    def delete_namespace(self, name: str, *, owner: Mapping[str, str], dry_run: bool) -> bool:
        self.faults.check("delete_namespace")
        with self._lock:
            current = self._namespaces.get(name)
            if current is None:
                return False
            _check_owned(current)
            others = {key: current.labels.get(key, "") for key, value in owner.items()
                      if current.labels.get(key) != value}
            if others:
                raise NotOwnedError(messages.namespace_of_another(name, others))
            if not dry_run and current.phase != "Terminating":
                self._namespaces[name] = replace(current, phase="Terminating",
                                                 resource_version=self._next(),
                                                 deleting_since=self.clock.now(),
                                                 holds=self._deletion_held.get(name, ()))
            return True

    def workload_status(self, namespace: str, instance: str) -> WorkloadStatus:
        self.faults.check("workload_status")
        selector = f"{INSTANCE_LABEL}={instance}"
        with self._lock:
            present = instance in self._workloads.get(namespace, set())
            problems = self._held_back.get((namespace, instance), ())
            images = self._missing_images.get((namespace, instance), ())
        if not present:
            return WorkloadStatus(False, 0, (f"no Deployment or StatefulSet with label "
                                             f"{selector} in namespace {namespace}",))
        return WorkloadStatus(not problems, 1, problems, images if problems else ())

    # -- the test's hand on the cluster ------------------------------------------------
    def add_namespace(self, name: str, labels: Mapping[str, str] | None = None,
                      annotations: Mapping[str, str] | None = None) -> NamespaceRecord:
        """A namespace someone else made (no managed-by label unless given)."""
        with self._lock:
            return self._create(name, dict(labels or {}), dict(annotations or {}))

    def finish_deletions(self) -> list[str]:
        """Terminating namespaces go, with all in them (releases, bindings)."""
        with self._lock:
            gone = [n for n, ns in self._namespaces.items()
                    if ns.phase == "Terminating" and n not in self._deletion_held]
            for name in gone:
                del self._namespaces[name]
                self._workloads.pop(name, None)
                self.bindings.pop(name, None)
                self._held_back = {k: v for k, v in self._held_back.items() if k[0] != name}
                self._missing_images = {k: v for k, v in self._missing_images.items()
                                        if k[0] != name}
        return gone

    def hold_deletion(self, name: str, *holds: str) -> None:
        """Its deletion never finishes (a finalizer nobody removes); ``holds``: the
        namespace controller's messages, e.g. "Some content in the namespace has
        finalizers remaining: example.com/hold in 1 resource instances"."""
        with self._lock:
            self._deletion_held[name] = holds
            current = self._namespaces.get(name)
            if current is not None and current.phase == "Terminating":
                self._namespaces[name] = replace(current, holds=holds)

    def release_deletion(self, name: str) -> None:
        """The finalizer was removed: ``finish_deletions`` deletes it again."""
        with self._lock:
            self._deletion_held.pop(name, None)

    def hold_back(self, namespace: str, instance: str, *problems: str,
                  missing_images: tuple[str, ...] = ()) -> None:
        """The release's workloads are not ready, for ``problems`` (their pods waiting
        for ``missing_images``); none: ready again."""
        with self._lock:
            if problems:
                self._held_back[(namespace, instance)] = problems
                self._missing_images[(namespace, instance)] = missing_images
            else:
                self._held_back.pop((namespace, instance), None)
                self._missing_images.pop((namespace, instance), None)

    # -- for FakeReleases: Helm keeps releases (and makes workloads) in a namespace -------
    def uid(self, namespace: str) -> str | None:
        """The namespace's uid while it is Active; None otherwise."""
        with self._lock:
            ns = self._namespaces.get(namespace)
            return ns.uid if ns is not None and ns.phase == "Active" else None

    def exists(self, namespace: str, uid: str) -> bool:
        """Is the namespace of that uid (not one made again under its name) still there?"""
        with self._lock:
            ns = self._namespaces.get(namespace)
            return ns is not None and ns.uid == uid

    def set_workloads(self, namespace: str, instance: str, *, running: bool) -> None:
        with self._lock:
            instances = self._workloads.setdefault(namespace, set())
            if running:
                instances.add(instance)
            else:
                instances.discard(instance)

    # -- under self._lock --------------------------------------------------------------
    def _next(self) -> str:
        self._counter += 1
        return str(self._counter)

    def _create(self, name: str, labels: Mapping[str, str],
                annotations: Mapping[str, str]) -> NamespaceRecord:
        created_at: datetime = self.clock.now()
        ns = NamespaceRecord(name, dict(labels), dict(annotations), "Active", created_at,
                             uid=f"uid-{self._next()}", resource_version=self._next())
        self._namespaces[name] = ns
        return ns

    def _patch(self, current: NamespaceRecord, labels: Mapping[str, str | None],
               annotations: Mapping[str, str | None]) -> bool:
        new_labels, new_annotations = _merged(current.labels, labels), _merged(
            current.annotations, annotations)
        if new_labels == current.labels and new_annotations == current.annotations:
            return False  # the real adapter sends no patch when nothing differs
        self._namespaces[current.name] = replace(current, labels=new_labels,
                                                 annotations=new_annotations,
                                                 resource_version=self._next())
        return True


def _merged(current: Mapping[str, str], wanted: Mapping[str, str | None]) -> dict[str, str]:
    """A JSON merge patch of ``wanted`` onto ``current``: ``None`` removes a key."""
    merged = dict(current)
    for key, value in wanted.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _check_owned(record: NamespaceRecord) -> None:
    if not record.managed:
        raise NotOwnedError(messages.namespace_not_ours(record.name))
