"""5,000 hostile branch names into a release's Helm values: the branch is data in the
values (JSON, as the values file is written), in exactly the fields that carry it, and
never turns into a name Helm or Kubernetes reads."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cluster.values import helm_values, namespace_for, release_for, values_hash
from bot.config import load_config_text
from bot.domain import naming
from bot.domain.model import Desired

CREATED = datetime(2026, 11, 26, 9, 30, 15, tzinfo=UTC)
PROJECT = load_config_text("""
defaults: {domain: preview.example.com, channel: C0PREVIEWS}
projects:
  - path: group/app
    values: {image: {repository: registry.example.com/group/app}}
    image_tag: "{branch_slug}-{short_sha}"
""").projects[0]
HOSTILE = ["--set x=y", "$(reboot)", "{{ .Values.secret }}", "a'b\"c: {x: 1}", "<!channel>",
           "\u202e", "line\nbreak", "x" * 300, "--kubeconfig=/etc/passwd", "..", "-"]


def leaves(values: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(values, dict):
        return [leaf for key, item in values.items() for leaf in leaves(item, f"{path}.{key}")]
    return [(path, values)] if isinstance(values, str) else []


@settings(max_examples=5000, deadline=None, database=None)
@given(branch=st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=300)))
def test_a_branch_is_data_in_the_values_only(branch: str) -> None:
    key = naming.branch_env_key(PROJECT.slug, branch)
    desired = Desired(env_key=key, project_path=PROJECT.path, project_id=42, branch=branch,
                      sha="c" * 40, created_at=CREATED,
                      expires_at=CREATED + timedelta(hours=48))
    values = helm_values(PROJECT, desired)
    assert json.loads(json.dumps(values)) == values  # the values file holds it as written
    assert values["preview"]["branch"] == branch
    other = dict(leaves(helm_values(PROJECT, replace(desired, branch=branch + "-2"))))
    carrying = {path for path, text in leaves(values) if text == branch != other[path]}
    assert carrying <= {".preview.branch", ".preview.env"}, carrying
    tag = values["image"]["tag"]
    assert tag.endswith("-cccccccc") and naming.is_dns_label(tag.rsplit("-", 1)[0] or "x")
    assert naming.is_dns_label(namespace_for(desired))
    assert naming.is_dns_label(release_for(desired), 53)
    assert values_hash(PROJECT.chart, values) == values_hash(PROJECT.chart, helm_values(
        PROJECT, desired))
