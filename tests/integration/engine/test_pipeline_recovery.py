"""With ``deploy_on: pipeline`` a lost Pipeline Hook is recovered by the next pass from
the MR's own pipelines (issue 16, item 15), on the real test bed.

Discovery used to look for the MR's head among the project's newest page of successful
pipelines: a busy project pushed it off that page, and a merged-results pipeline (it
runs on the merge commit, ``refs/merge-requests/<iid>/merge``) never carries the MR's
head sha at all. Now the pass asks the MR: its ``head_pipeline``, else its pipelines
list — and remembers the answer, so a settled pass makes no call per MR."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from kubernetes import client

from bot.domain.model import Desired, Environment, Observed, Status
from bot.engine.core import Core
from bot.engine.discovery import Discovery
from bot.engine.passes import PassContext
from bot.engine.reconcile import PassResult, Reconciler
from bot.engine.requests import Requests
from tests.clock import MovableClock
from tests.integration.lifecycle_bed import LifecycleBed

MERGE_COMMIT = "e" * 40  # what a merged-results pipeline runs on: the MR head merged into main


@pytest.fixture
def core(bed: LifecycleBed) -> Iterator[Core]:
    bed.configure(project_extra="deploy_on: pipeline")
    yield bed.core(MovableClock())


def run_pass(core: Core) -> PassResult:
    return Reconciler(core).run_pass(follow=True, dry_run=False)


def image_of(kube_api: client.ApiClient, env_key: str) -> str:
    deployment = client.AppsV1Api(kube_api).read_namespaced_deployment(
        env_key, f"preview-{env_key}")
    return str(deployment.spec.template.spec.containers[0].image)


def test_a_lost_hook_is_recovered_when_busier_refs_pushed_the_pipeline_off_the_newest_page(
        bed: LifecycleBed, core: Core, kube_api: client.ApiClient) -> None:
    sha = bed.add_mr(61)
    bed.gitlab.update_merge_request(bed.project_id, 61, head_pipeline={
        "sha": sha, "ref": "refs/merge-requests/61/head", "status": "success"})
    for n in range(120):  # newer successful pipelines elsewhere: more than one page of 100
        bed.gitlab.add_pipeline(bed.project_id, sha=f"{n:040d}", ref=f"other-{n % 7}",
                                source="push")
    env_key = f"{bed.slug}-mr-61"  # … and the Pipeline Hook of !61's pipeline was lost

    result = run_pass(core)

    assert [(f.kind, f.label) for f in result.discovered] == [("up", f"{bed.project_path}!61")]
    env = core.store.get(env_key)
    assert env is not None and env.observed.status is Status.READY, env and env.observed
    assert env.desired.sha == sha and env.observed.deployed_sha == sha
    assert image_of(kube_api, env_key) == f"registry.example.com/app:{sha}"
    assert run_pass(core).discovered == ()  # settled


def test_a_lost_hook_of_a_merged_results_pipeline_deploys_the_commit_it_built(
        bed: LifecycleBed, core: Core, kube_api: client.ApiClient) -> None:
    head = bed.add_mr(62)
    bed.gitlab.update_merge_request(bed.project_id, 62, head_pipeline={
        "sha": MERGE_COMMIT, "ref": "refs/merge-requests/62/merge", "status": "success"})
    env_key = f"{bed.slug}-mr-62"

    result = run_pass(core)

    assert [(f.kind, f.label) for f in result.discovered] == [("up", f"{bed.project_path}!62")]
    env = core.store.get(env_key)
    assert env is not None and env.observed.status is Status.READY, env and env.observed
    # The image CI pushed is tagged with the pipeline's sha (the merge commit), not the head.
    assert env.desired.sha == MERGE_COMMIT != head
    assert image_of(kube_api, env_key) == f"registry.example.com/app:{MERGE_COMMIT}"
    before = len(bed.gitlab.requests)
    assert run_pass(core).discovered == ()  # settled: the merge commit is not a "new head"
    calls = bed.gitlab.requests[before:]
    assert [r.path for r in calls if "/merge_requests/62" in r.path] == []


def test_a_settled_pass_over_100_merged_results_mrs_asks_nothing_per_mr(
        bed: LifecycleBed, core: Core) -> None:
    now = core.clock.now().replace(microsecond=0)
    for iid in range(1, 101):
        head, merge = f"{iid:040d}", f"{iid:039d}e"
        bed.gitlab.add_merge_request(bed.project_id, iid=iid, source_branch=f"f-{iid}",
                                     author_username="alice", sha=head,
                                     title=f"MR {iid}")
        bed.gitlab.update_merge_request(bed.project_id, iid, head_pipeline={
            "sha": merge, "ref": f"refs/merge-requests/{iid}/merge", "status": "success"})
        core.store.put(Environment(  # deployed by its (delivered) Pipeline Hook
            Desired(env_key=f"{bed.slug}-mr-{iid}", project_path=bed.project_path,
                    project_id=bed.project_id, branch=f"f-{iid}", sha=merge, created_at=now,
                    expires_at=now + timedelta(days=1), mr_iid=iid),
            Observed(status=Status.READY)))

    def discover() -> list[str]:
        before = len(bed.gitlab.requests)
        found = Discovery(Requests(core), PassContext(dry_run=False)).run(core.store.all())
        assert found.findings == () and found.unreachable == ()
        return [r.path for r in bed.gitlab.requests[before:]]

    # The first pass learns once, per MR, that its merge commit is its head's pipeline
    # (the listing and one read each: the head pipeline answers, its pipelines list is
    # not needed); what it learnt is remembered.
    first = discover()
    assert first[0].endswith("/merge_requests"), first
    assert sorted(first[1:]) == sorted(f"/api/v4/projects/{bed.project_id}/merge_requests/{iid}"
                                       for iid in range(1, 101)), first
    second = discover()  # then: the listing, and nothing per MR
    assert len(second) == 1 and second[0].endswith("/merge_requests"), second
