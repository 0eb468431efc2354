"""Ownership, as a property: random mixes of namespaces the bot owns, namespaces of
another project (managed by a previewbot, labelled for another GitLab project id — even
with the same path) and namespaces nobody gave to previewbot, then any sequence of
commands (up, down, extend, keep), GitLab events (open, close, merge, branch deleted),
GitLab changes nobody announced, Redis wipes and reconcile passes (also dry runs).

However it goes, a namespace the bot does not own is never modified or deleted: same
resourceVersion, labels and annotations, no Helm release inside, still there.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client

from bot.domain import records
from bot.domain.errors import PreviewError
from bot.domain.model import EndKind
from bot.engine.intake import Intake
from bot.engine.reconcile import Reconciler
from bot.engine.requests import Requests
from tests.cluster.testbed import Testbed
from tests.fakes.gitlab import FakeGitLab
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.resilience.support import (
    EndState,
    Project,
    bed_project,
    branch_deleted_hook,
    helm_releases,
    mr_hook,
    namespace_or_none,
)

pytestmark = pytest.mark.slow
IIDS = (1, 2, 3)
KINDS = ("ours", "unowned", "foreign", "foreign-same-path")


@dataclass(frozen=True)
class Planted:
    name: str
    kind: str
    resource_version: str
    labels: dict[str, str]
    annotations: dict[str, str]


def plant(core_api: client.CoreV1Api, project: Project, name: str, kind: str) -> Planted:
    """A namespace previewbot must leave alone, named where the bot would look."""
    key = name.removeprefix("preview-")
    labels = {"team": "someone-else"}
    annotations = {"owner": "another team"}
    if kind.startswith("foreign"):  # a previewbot's, for another GitLab project
        labels = {records.MANAGED_BY_LABEL: records.MANAGED_BY_VALUE, records.ENV_LABEL: key,
                  records.PROJECT_ID_LABEL: str(900_000 + project.id),
                  records.MR_IID_LABEL: key.rsplit("-", 1)[-1]}
        annotations = {records.PROJECT_PATH: project.path if kind == "foreign-same-path"
                       else "other-group/app", records.BRANCH: "feature-x",
                       records.SHA: "f" * 40, records.EXPIRES_AT: "2026-01-01T00:00:00Z",
                       records.CREATED_AT: "2025-12-01T00:00:00Z", records.OWNER: "mallory"}
    made = core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=name, labels=labels, annotations=annotations)))
    return Planted(name, kind, made.metadata.resource_version, labels, annotations)


def untouched(core_api: client.CoreV1Api, helm: str, environ: dict[str, str],
              planted: Planted) -> list[str]:
    now = namespace_or_none(core_api, planted.name)
    if now is None:
        return [f"{planted.kind} namespace {planted.name} was deleted"]
    found = []
    if now.metadata.resource_version != planted.resource_version:
        found.append(f"{planted.kind} namespace {planted.name} was modified: labels "
                     f"{now.metadata.labels}, annotations {now.metadata.annotations}")
    if now.metadata.deletion_timestamp is not None:
        found.append(f"{planted.kind} namespace {planted.name} is being deleted")
    releases = helm_releases(helm, environ, planted.name)
    if releases:
        found.append(f"helm releases in {planted.kind} namespace {planted.name}: {releases}")
    return found


OPERATIONS = st.one_of(
    st.tuples(st.sampled_from(["up", "down", "extend", "keep"]), st.sampled_from(IIDS)),
    st.tuples(st.sampled_from(["open", "close", "merge", "gitlab-close"]),
              st.sampled_from(IIDS)),
    st.tuples(st.just("branch-deleted"), st.sampled_from(["feature-1", "topic"])),
    st.tuples(st.sampled_from(["reconcile", "reconcile", "dry-run", "redis-wipe"]),
              st.just(0)))


def test_what_the_bot_does_not_own_is_never_touched(
        testbed: Testbed, fake_gitlab: FakeGitLab, redis_url: str, tmp_path: Path,
        kube_api: client.ApiClient) -> None:
    core_api = client.CoreV1Api(kube_api)
    examples = 0
    deployed: list[str] = []

    @settings(max_examples=6, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(kinds=st.lists(st.sampled_from(KINDS), min_size=len(IIDS), max_size=len(IIDS)),
           bystanders=st.integers(min_value=0, max_value=2),
           operations=st.lists(OPERATIONS, min_size=3, max_size=7))
    def one(kinds: list[str], bystanders: int, operations: list[tuple[str, int | str]]) -> None:
        nonlocal examples
        examples += 1
        workdir = tmp_path / f"example-{examples}"
        workdir.mkdir()
        bed = LifecycleBed(testbed, fake_gitlab, redis_url, workdir)
        bed.configure(reconcile_interval="1h")
        project = bed_project(bed)
        for iid in IIDS:
            bed.add_mr(iid)
        bed.gitlab.add_branch(project.id, "topic", "7" * 40)
        planted = [plant(core_api, project, f"preview-{project.key(iid)}", kind)
                   for iid, kind in zip(IIDS, kinds, strict=True) if kind != "ours"]
        planted += [plant(core_api, project, f"preview-{project.slug}-{uuid.uuid4().hex[:6]}",
                          "unowned") for _ in range(bystanders)]
        end = EndState(bed, core_api, (project,))
        try:
            run(bed, project, operations)
            Reconciler(bed.core()).run_pass(dry_run=False)  # and one more full pass
            deployed.extend(env.key for env in bed.core().store.all()
                            if env.observed.deployed_sha)
            problems = [p for ns in planted for p in untouched(
                core_api, bed.testbed.helm, bed.environ(), ns)]
            assert problems == [], (kinds, operations, problems)
        finally:
            for ns in planted:
                core_api.delete_namespace(ns.name)
            end.cleanup()

    one()
    assert examples >= 6
    assert len(deployed) >= 6, deployed  # the bot did work beside them, not just refuse


def run(bed: LifecycleBed, project: Project, operations: list[tuple[str, int | str]]) -> None:
    core = bed.core()
    requests, reconciler = Requests(core), Reconciler(core)
    intake = Intake(core, requests)
    for name, arg in operations:
        try:
            if name == "up":
                requests.request_up_mr(project.path, int(arg), actor="cli:test", manual=True)
            elif name in ("down", "extend", "keep"):
                env = requests.resolve(f"{project.path}!{arg}")
                if name == "down":
                    requests.request_down(env.key, reason="requested", actor="cli:test",
                                          kind=EndKind.REQUESTED)
                elif name == "extend":
                    requests.extend(env.key, timedelta(hours=24), actor="cli:test")
                else:
                    requests.keep(env.key, actor="cli:test")
            elif name in ("open", "close", "merge", "gitlab-close"):
                state = {"open": "opened", "close": "closed", "merge": "merged",
                         "gitlab-close": "closed"}[name]
                bed.gitlab.update_merge_request(project.id, int(arg), state=state)
                if name != "gitlab-close":  # that one GitLab never announced
                    mr = bed.gitlab.merge_request(project.id, int(arg))
                    hook = mr_hook(project, name, int(arg), mr["sha"],
                                   updated_at=_time(mr["updated_at"]))
                    intake.handle("Merge Request Hook", json.dumps(hook).encode())
            elif name == "branch-deleted":
                intake.handle("Push Hook", json.dumps(
                    branch_deleted_hook(project, str(arg))).encode())
            elif name == "redis-wipe":
                bed.redis().flushdb()
            else:
                reconciler.run_pass(dry_run=name == "dry-run")
        except PreviewError:
            pass  # refused (not ours, not open, unknown): refusing is fine, touching is not


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
