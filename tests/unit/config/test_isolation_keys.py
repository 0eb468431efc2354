"""`pod_security` and `network_policy`: what a preview namespace is fenced with."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bot.config import load_config_text
from bot.config.model import DEFAULT_DENIED_CIDRS, NetworkIsolation
from bot.domain.errors import ConfigError


def project(defaults: dict[str, Any], entry: dict[str, Any]) -> Any:
    doc = {"defaults": {"domain": "preview.example.com", "channel": "C0P", **defaults},
           "projects": [{"path": "group/app", **entry}]}
    return load_config_text(yaml.safe_dump(doc), source="t.yaml").projects[0]


@pytest.mark.parametrize(("defaults", "entry", "level"), [
    ({}, {}, "restricted"),
    ({"pod_security": "baseline"}, {}, "baseline"),
    ({"pod_security": "baseline"}, {"pod_security": "restricted"}, "restricted"),
])
def test_pod_security_level(defaults: dict[str, Any], entry: dict[str, Any],
                            level: str) -> None:
    assert project(defaults, entry).pod_security == level


@pytest.mark.parametrize(("value", "words"), [
    ("privileged", "may not be privileged; use baseline"),
    ("loose", "pod_security"),
])
def test_pod_security_refusals_name_the_fix(value: str, words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        project({}, {"pod_security": value})
    assert words in str(refused.value)


@pytest.mark.parametrize(("defaults", "entry", "wanted"), [
    ({}, {}, NetworkIsolation()),
    ({}, {"network_policy": False}, NetworkIsolation(enabled=False)),
    # merged key by key over defaults, as trigger is
    ({"network_policy": {"egress_namespaces": ["shop-dev"]}},
     {"network_policy": {"ingress_namespaces": ["ingress-nginx"]}},
     NetworkIsolation(ingress_namespaces=("ingress-nginx",), egress_namespaces=("shop-dev",))),
    ({}, {"network_policy": {"denied_cidrs": ["10.1.2.3/8"]}},
     NetworkIsolation(denied_cidrs=("10.0.0.0/8",))),
])
def test_network_policy(defaults: dict[str, Any], entry: dict[str, Any],
                        wanted: NetworkIsolation) -> None:
    assert project(defaults, entry).network_policy == wanted


@pytest.mark.parametrize(("value", "words"), [
    ({"denied_cidrs": ["10.0.0.0/33"]}, "use an address range"),
    ({"ingress_namespaces": ["Istio System"]}, "use a namespace name"),
    ({"egress": []}, "egress"),
])
def test_network_policy_refusals(value: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        project({}, {"network_policy": value})
    assert words in str(refused.value)


def test_the_default_denies_the_metadata_address_and_private_ranges() -> None:
    assert {"169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(
        DEFAULT_DENIED_CIDRS)
