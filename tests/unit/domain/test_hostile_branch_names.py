"""5,000 hostile branch names through the names and the cluster record: every name that
reaches Kubernetes or Helm is a plain DNS label whatever the branch, and the branch
itself survives the namespace round trip (a Redis rebuild) byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.domain import naming, records
from bot.domain.model import Desired

CREATED = datetime(2026, 11, 26, 9, 30, 15, tzinfo=UTC)
HOSTILE = ["--set x=y", "-rf", "$(reboot)", "`id`", "a;b&c|d", "../../etc/passwd",
           "<!channel>", "{{ .Values.secret }}", "\u202egnp.exe", "line\nbreak", "🚀" * 40,
           "x" * 300, "-", ".", "..", "main", "feature/\u0000nul"]
BRANCH = st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=300))


def hostile_examples(test, **more):  # type: ignore[no-untyped-def]
    for branch in HOSTILE:
        test = example(branch=branch, **more)(test)
    return test


@settings(max_examples=5000, deadline=None, database=None)
@hostile_examples
@given(branch=BRANCH)
def test_names_from_any_branch_are_dns_labels(branch: str) -> None:
    key = naming.branch_env_key("group-app", branch)
    assert naming.is_dns_label(key), key
    namespace, release = naming.namespace_name(key), naming.release_name(key)
    assert naming.is_dns_label(namespace) and naming.is_dns_label(release, 53)
    assert (not key.startswith("-") and branch not in (namespace, release)) or \
        naming.is_dns_label(branch)


@settings(max_examples=5000, deadline=None, database=None)
@lambda test: hostile_examples(test, mr=False)
@given(branch=BRANCH, mr=st.booleans())
def test_any_branch_survives_the_namespace_round_trip(branch: str, mr: bool) -> None:
    key = "group-app-mr-7" if mr else naming.branch_env_key("group-app", branch)
    original = Desired(env_key=key, project_path="group/app", project_id=42, branch=branch,
                       sha="c" * 40, created_at=CREATED,
                       expires_at=CREATED + timedelta(hours=48), mr_iid=7 if mr else None,
                       owner="alice", source_updated_at=CREATED)
    annotations = {k: v for k, v in records.namespace_annotations(original).items()
                   if v is not None}
    assert all(isinstance(v, str) for v in annotations.values())
    labels = records.namespace_labels(original)
    assert all(naming.is_dns_label(v) or v.isdigit() for k, v in labels.items()
               if k != records.MANAGED_BY_LABEL)
    rebuilt = records.desired_from_namespace(labels, annotations, CREATED)
    assert rebuilt == original
