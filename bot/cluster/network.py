"""The NetworkPolicy the bot keeps in every preview namespace (README "Security model").

A preview runs the code of any branch. Its pods may answer the ingress gateway and each
other, and may reach cluster DNS, the namespaces the project names as dependencies and
the internet; not the rest of the cluster (the bot, its Redis, other previews, nodes) nor
the cloud metadata address. Enforcement needs a CNI that implements NetworkPolicy.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from typing import Any

from bot.config.model import NetworkIsolation
from bot.domain import records

NAME = "previewbot-isolation"
SPEC_HASH = "previewbot/spec-hash"
_NAMESPACE_NAME = "kubernetes.io/metadata.name"


def _namespaces(names: tuple[str, ...]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchExpressions": [
        {"key": _NAMESPACE_NAME, "operator": "In", "values": list(names)}]}}


def _outside(denied: tuple[str, ...]) -> list[dict[str, Any]]:
    """Everything but ``denied``, per address family (an ``except`` must lie inside its
    ``cidr``)."""
    blocks = []
    for everything in ("0.0.0.0/0", "::/0"):
        family = ipaddress.ip_network(everything).version
        excepted = [cidr for cidr in denied if ipaddress.ip_network(cidr).version == family]
        block: dict[str, Any] = {"cidr": everything}
        if excepted:
            block["except"] = excepted
        blocks.append({"ipBlock": block})
    return blocks


def isolation_spec(isolation: NetworkIsolation) -> dict[str, Any]:
    same_namespace: dict[str, Any] = {"podSelector": {}}
    ingress_from = [same_namespace]
    if isolation.ingress_namespaces:
        ingress_from.append(_namespaces(isolation.ingress_namespaces))
    dns = {"to": [{"namespaceSelector": {"matchLabels": {_NAMESPACE_NAME: "kube-system"}},
                   "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
           "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
    egress: list[dict[str, Any]] = [{"to": [same_namespace]}, dns]
    if isolation.egress_namespaces:
        egress.append({"to": [_namespaces(isolation.egress_namespaces)]})
    egress.append({"to": _outside(isolation.denied_cidrs)})
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": ingress_from}], "egress": egress}


def isolation_policy(namespace: str, isolation: NetworkIsolation) -> dict[str, Any]:
    """The object, with the hash of its spec (what the API server defaults in changes
    nothing the bot compares)."""
    spec = isolation_spec(isolation)
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": NAME, "namespace": namespace,
                         "labels": {records.MANAGED_BY_LABEL: records.MANAGED_BY_VALUE},
                         "annotations": {SPEC_HASH: digest}},
            "spec": spec}
