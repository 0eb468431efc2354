"""The cluster record (labels/annotations) and the values file: pure round trips."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.cluster.values import helm_values, values_hash
from bot.config import load_config_text
from bot.domain import naming, records
from bot.domain.model import Desired, Environment, Observed, Status
from bot.state.store import decode_environment, encode_environment

CREATED = datetime(2026, 11, 26, 9, 30, 15, tzinfo=UTC)
CONFIG = load_config_text("""
defaults: {domain: preview.example.com, channel: C0PREVIEWS}
projects:
  - path: group/app
    values: {image: {repository: registry.example.com/group/app}, replicaCount: 2}
    image_tag: "{short_sha}-{iid}"
""")
PROJECT = CONFIG.projects[0]


def desired(**changes: object) -> Desired:
    base = Desired(env_key="group-app-mr-7", project_path="group/app", project_id=42,
                   branch="feature/x", sha="0123456789abcdef" * 2 + "01234567",
                   created_at=CREATED, expires_at=CREATED + timedelta(hours=48), mr_iid=7,
                   mr_url="https://gitlab.example.com/group/app/-/merge_requests/7",
                   owner="alice", source_updated_at=CREATED)
    return replace(base, **changes)  # type: ignore[arg-type]


def rebuilt(original: Desired) -> Desired | None:
    annotations = {k: v for k, v in records.namespace_annotations(original).items()
                   if v is not None}
    return records.desired_from_namespace(records.namespace_labels(original), annotations,
                                          created=CREATED + timedelta(minutes=5))


def test_spec_labels_and_annotations() -> None:
    labels = records.namespace_labels(desired())
    assert labels == {"app.kubernetes.io/managed-by": "previewbot",
                      "previewbot/env": "group-app-mr-7", "previewbot/project-id": "42",
                      "previewbot/mr-iid": "7"}
    annotations = records.namespace_annotations(desired())
    assert annotations["previewbot/expires-at"] == "2026-11-28T09:30:15Z"
    for key in ("project-path", "branch", "sha", "mr-url", "owner"):
        assert annotations[f"previewbot/{key}"]
    assert "previewbot/mr-iid" not in records.namespace_labels(desired(mr_iid=None))


def test_namespace_record_round_trips() -> None:
    for original in (desired(), desired(mr_iid=None, mr_url=""), desired(keep=True),
                     desired(present=False, down_reason="MR merged", down_kind="mr-closed")):
        assert rebuilt(original) == original


@given(branch=st.text(max_size=255), owner=st.text(max_size=64))
def test_any_branch_survives_the_cluster_record(branch: str, owner: str) -> None:
    original = desired(branch=branch, owner=owner)
    assert rebuilt(original) == original


def test_a_namespace_without_our_label_is_not_ours() -> None:
    labels = {**records.namespace_labels(desired()), "app.kubernetes.io/managed-by": "helm"}
    assert records.desired_from_namespace(labels, {}, CREATED) is None


def test_a_stripped_expiry_expires_at_creation_rather_than_never() -> None:
    rebuilt_env = records.desired_from_namespace(records.namespace_labels(desired()), {},
                                                 created=CREATED)
    assert rebuilt_env is not None and rebuilt_env.expires_at == CREATED


def test_store_encoding_round_trips() -> None:
    env = Environment(desired(), Observed(status=Status.READY, url="https://x", helm_revision=3,
                                          last_deploy_at=CREATED, updated_at=CREATED))
    assert decode_environment(encode_environment(env)) == env
    # a failure with a temporary cause keeps when it is tried again, and how often it failed
    failed = Environment(desired(), Observed(status=Status.FAILED, retry_at=CREATED, failures=3))
    assert decode_environment(encode_environment(failed)) == failed


def test_values_carry_the_preview_block_and_keep_project_values() -> None:
    values = helm_values(PROJECT, desired())
    assert values["preview"] == {
        "env": "group-app-mr-7", "host": "group-app-mr-7.preview.example.com",
        "project": "group/app", "branch": "feature/x", "sha": desired().sha, "mrIid": "7",
        "mrUrl": desired().mr_url}
    assert values["image"] == {"repository": "registry.example.com/group/app",
                               "tag": "01234567-7"}
    assert values["replicaCount"] == 2
    assert values["routing"] == {"mode": "istio"}


@given(branch=st.text(min_size=1, max_size=255))
def test_values_hold_any_branch_exactly_and_names_stay_valid(branch: str) -> None:
    key = PROJECT.branch_env_key(branch)
    # (this project's image_tag uses {iid}, so the desired state keeps its MR)
    values = helm_values(PROJECT, desired(env_key=key, branch=branch))
    assert values["preview"]["branch"] == branch
    assert naming.is_dns_label(key) and len(key) <= 53
    assert naming.is_dns_label(naming.namespace_name(key))


def test_values_hash_ignores_expiry_but_not_the_sha() -> None:
    base = values_hash(PROJECT.chart, helm_values(PROJECT, desired()))
    extended = desired(expires_at=CREATED + timedelta(days=5))
    assert values_hash(PROJECT.chart, helm_values(PROJECT, extended)) == base
    assert values_hash(PROJECT.chart, helm_values(PROJECT, desired(sha="f" * 40))) != base
    assert values_hash("./other-chart", helm_values(PROJECT, desired())) != base
