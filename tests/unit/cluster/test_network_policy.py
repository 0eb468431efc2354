"""The NetworkPolicy body the bot keeps in every preview namespace."""

from __future__ import annotations

from bot.cluster.network import isolation_policy, isolation_spec
from bot.config.model import NetworkIsolation


def test_ingress_from_itself_and_the_gateways_only() -> None:
    spec = isolation_spec(NetworkIsolation(ingress_namespaces=("istio-system",)))
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    [rule] = spec["ingress"]
    assert rule["from"] == [{"podSelector": {}}, {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["istio-system"]}]}}]
    assert isolation_spec(NetworkIsolation(ingress_namespaces=()))["ingress"] == [
        {"from": [{"podSelector": {}}]}]


def test_egress_outside_the_denied_ranges_per_family() -> None:
    spec = isolation_spec(NetworkIsolation(denied_cidrs=("10.0.0.0/8", "169.254.0.0/16",
                                                         "fc00::/7")))
    outside = spec["egress"][-1]["to"]
    assert outside == [{"ipBlock": {"cidr": "0.0.0.0/0",
                                    "except": ["10.0.0.0/8", "169.254.0.0/16"]}},
                       {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7"]}}]


def test_dependencies_are_reachable_and_dns_is() -> None:
    spec = isolation_spec(NetworkIsolation(egress_namespaces=("shop-dev",)))
    peers = [peer for rule in spec["egress"] for peer in rule["to"]]
    assert {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop-dev"]}]}} in peers
    dns = next(rule for rule in spec["egress"] if "ports" in rule)
    assert {"protocol": "UDP", "port": 53} in dns["ports"]


def test_the_hash_changes_with_the_spec_only() -> None:
    def digest(isolation: NetworkIsolation, namespace: str = "preview-a") -> str:
        return str(isolation_policy(namespace, isolation)["metadata"]["annotations"][
            "previewbot/spec-hash"])

    assert digest(NetworkIsolation()) == digest(NetworkIsolation(), "preview-b")
    assert digest(NetworkIsolation()) != digest(NetworkIsolation(egress_namespaces=("x",)))
