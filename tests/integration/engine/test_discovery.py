"""GitLab's open-MR list is the truth, on the real test bed: lost opens are caught,
what was ended on purpose stays ended (also after a Redis wipe), hand-made
environments survive the trigger rules, `locked` is not closed, a GitLab outage
never tears down by MR state, and a pass costs one listing per project."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from bot.domain.model import Desired, Environment, Observed, Status
from bot.engine.core import Core
from bot.engine.discovery import Discovery
from bot.engine.passes import PassContext
from bot.engine.reconcile import PassResult, Reconciler
from bot.engine.requests import Requests
from tests.clock import MovableClock
from tests.integration.lifecycle_bed import LifecycleBed, up_ok


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def core(bed: LifecycleBed, clock: MovableClock) -> Iterator[Core]:
    yield bed.core(clock)


def run_pass(core: Core) -> PassResult:
    return Reconciler(core).run_pass(follow=True, dry_run=False)


def status(core: Core, env_key: str) -> Status | None:
    env = core.store.get(env_key)
    return env.observed.status if env else None


def namespace_exists(kube_api: client.ApiClient, env_key: str) -> bool:
    try:
        client.CoreV1Api(kube_api).read_namespace(f"preview-{env_key}")
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def test_a_lost_open_webhook_is_caught_by_the_next_pass(bed: LifecycleBed, core: Core,
                                                       kube_api: client.ApiClient) -> None:
    sha = bed.add_mr(50)  # opened in GitLab; no webhook ever reached the bot
    env_key = f"{bed.slug}-mr-50"
    result = run_pass(core)
    assert [(f.kind, f.label) for f in result.discovered] == [("up", f"{bed.project_path}!50")]
    env = core.store.get(env_key)
    assert env is not None and env.observed.status is Status.READY
    assert env.desired.sha == sha and not env.desired.manual
    assert namespace_exists(kube_api, env_key)
    assert run_pass(core).discovered == ()  # settled: nothing more to ask for


def test_taken_down_by_hand_stays_down_until_a_new_commit_also_after_a_redis_wipe(
        bed: LifecycleBed, core: Core, kube_api: client.ApiClient) -> None:
    bed.add_mr(51)
    env_key = f"{bed.slug}-mr-51"
    run_pass(core)
    assert status(core, env_key) is Status.READY
    done = bed.cli("down", f"{bed.project_path}!51")
    assert done.returncode == 0, done.stdout + done.stderr
    assert status(core, env_key) is Status.GONE

    assert run_pass(core).discovered == ()  # the MR is still open: not brought back
    assert status(core, env_key) is Status.GONE and not namespace_exists(kube_api, env_key)

    bed.redis().flushdb()  # Redis lost everything; the MR note remembers
    assert run_pass(core).discovered == ()
    assert not namespace_exists(kube_api, env_key)
    tombstone = core.store.get(env_key)
    assert tombstone is not None and tombstone.observed.status is Status.GONE
    notes_read = len(bed.gitlab.find_requests("GET", "/merge_requests/51/notes"))
    assert run_pass(core).discovered == ()
    assert len(bed.gitlab.find_requests("GET", "/merge_requests/51/notes")) == notes_read

    new_sha = "9" * 40  # a new commit brings it back
    bed.gitlab.update_merge_request(bed.project_id, 51, sha=new_sha)
    result = run_pass(core)
    assert [f.kind for f in result.discovered] == ["up"]
    env = core.store.get(env_key)
    assert env is not None and env.observed.status is Status.READY
    assert env.observed.deployed_sha == new_sha


def test_a_draft_mr_brought_up_by_hand_survives_every_pass(bed: LifecycleBed, core: Core,
                                                          kube_api: client.ApiClient) -> None:
    bed.add_mr(52)
    bed.gitlab.update_merge_request(bed.project_id, 52, draft=True)
    env_key = f"{bed.slug}-mr-52"
    assert run_pass(core).discovered == ()  # drafts are not wanted by the trigger rules …
    up_ok(bed, f"{bed.project_path}!52")  # … but a person asked for this one
    for _ in range(2):
        result = run_pass(core)
        assert result.discovered == ()
        assert status(core, env_key) is Status.READY
    env = core.store.get(env_key)
    assert env is not None and env.desired.manual
    assert namespace_exists(kube_api, env_key)


def test_a_locked_mr_keeps_its_environment_and_the_merge_ends_it(
        bed: LifecycleBed, core: Core, kube_api: client.ApiClient) -> None:
    bed.add_mr(53)
    env_key = f"{bed.slug}-mr-53"
    run_pass(core)
    bed.gitlab.update_merge_request(bed.project_id, 53, state="locked")  # merge in progress
    assert run_pass(core).discovered == ()
    assert status(core, env_key) is Status.READY and namespace_exists(kube_api, env_key)
    bed.gitlab.update_merge_request(bed.project_id, 53, state="merged")
    result = run_pass(core)
    assert [(f.kind, f.reason) for f in result.discovered] == [
        ("down", "MR !53 merged (found by reconcile)")]
    assert status(core, env_key) is Status.GONE and not namespace_exists(kube_api, env_key)


def test_gitlab_unable_to_list_means_no_mr_teardown_but_ttls_still_apply(
        bed: LifecycleBed, core: Core, clock: MovableClock, kube_api: client.ApiClient) -> None:
    bed.add_mr(54)
    bed.add_mr(55)
    closed, expiring = f"{bed.slug}-mr-54", f"{bed.slug}-mr-55"
    up_ok(bed, f"{bed.project_path}!54")
    done = bed.cli("up", f"{bed.project_path}!55", "--for", "1h")
    assert done.returncode == 0, done.stdout + done.stderr
    bed.gitlab.update_merge_request(bed.project_id, 54, state="closed")
    clock.advance(timedelta(hours=2))  # !55's TTL ran out; !54's did not
    bed.gitlab.set_down(True)
    result = run_pass(core)
    assert result.discovered == ()
    assert status(core, expiring) is Status.GONE and not namespace_exists(kube_api, expiring)
    assert status(core, closed) is Status.READY and namespace_exists(kube_api, closed)
    bed.gitlab.set_down(False)
    run_pass(core)  # GitLab answers again: the closed MR's environment goes
    assert status(core, closed) is Status.GONE and not namespace_exists(kube_api, closed)


def test_a_pass_over_20_projects_of_100_open_mrs_lists_each_project_once(
        bed: LifecycleBed, clock: MovableClock) -> None:
    paths = [f"{bed.project_path}-{n}" for n in range(19)]
    bed.configure(more_projects=tuple(paths))
    core = bed.core(clock)
    now = clock.now().replace(microsecond=0)
    for path in [bed.project_path, *paths]:
        project_id = (bed.project_id if path == bed.project_path
                      else int(bed.gitlab.add_project(path)["id"]))
        slug = path.replace("/", "-")
        for iid in range(1, 101):
            sha = f"{project_id:08d}{iid:032d}"
            bed.gitlab.add_merge_request(project_id, iid=iid, source_branch=f"f-{iid}",
                                         author_username="alice", sha=sha)
            core.store.put(Environment(
                Desired(env_key=f"{slug}-mr-{iid}", project_path=path, project_id=project_id,
                        branch=f"f-{iid}", sha=sha, created_at=now,
                        expires_at=now + timedelta(days=1), mr_iid=iid),
                Observed(status=Status.READY)))
    before = len(bed.gitlab.requests)
    discovered = Discovery(Requests(core), PassContext(dry_run=False)).run(core.store.all())
    calls = bed.gitlab.requests[before:]
    assert discovered.findings == () and discovered.unreachable == ()
    # one page of 100 per project: 20 calls for 2,000 environments, none per environment
    assert len(calls) == 20
    assert all(r.path.endswith("/merge_requests") and r.query["state"] == ["opened"]
               for r in calls)


def test_a_new_head_is_deployed_and_a_lost_trigger_label_ends_an_automatic_environment(
        bed: LifecycleBed, core: Core, kube_api: client.ApiClient) -> None:
    bed.configure(project_extra="trigger: {labels: [preview]}")
    core = replace(bed.core(core.clock))
    bed.add_mr(56)
    bed.gitlab.update_merge_request(bed.project_id, 56, labels=["preview"])
    env_key = f"{bed.slug}-mr-56"
    run_pass(core)
    assert status(core, env_key) is Status.READY
    bed.gitlab.update_merge_request(bed.project_id, 56, sha="8" * 40)
    run_pass(core)
    env = core.store.get(env_key)
    assert env is not None and env.observed.deployed_sha == "8" * 40
    bed.gitlab.update_merge_request(bed.project_id, 56, labels=[])
    result = run_pass(core)
    assert [f.kind for f in result.discovered] == ["down"]
    assert status(core, env_key) is Status.GONE and not namespace_exists(kube_api, env_key)


def test_a_teardown_planned_from_an_old_listing_spares_what_a_person_took_over(
        bed: LifecycleBed, core: Core, kube_api: client.ApiClient) -> None:
    bed.add_mr(57)
    env_key = f"{bed.slug}-mr-57"
    run_pass(core)  # made automatically, from the open-MR list
    snapshot = core.store.all()  # what a pass read at its start …
    up_ok(bed, f"{bed.project_path}!57")  # … before a person brought it up by hand
    bed.gitlab.update_merge_request(bed.project_id, 57, draft=True)  # then marked draft
    discovered = Discovery(Requests(core), PassContext(dry_run=False)).run(snapshot)
    assert discovered.changed == ()
    env = core.store.get(env_key)
    assert env is not None and env.desired.present and env.desired.manual
    assert namespace_exists(kube_api, env_key)


def test_mrs_refused_for_capacity_cost_no_gitlab_call_on_later_passes(
        bed: LifecycleBed, clock: MovableClock) -> None:
    bed.configure(project_extra="max_envs: 1")
    core = bed.core(clock)
    for iid in (58, 59, 60):
        bed.add_mr(iid)
    run_pass(core)  # one gets the slot; the others are refused ("capacity reached")
    assert len([e for e in core.store.all() if e.desired.present]) == 1
    before = len(bed.gitlab.requests)
    run_pass(core)
    calls = bed.gitlab.requests[before:]
    assert [r.path for r in calls if "/notes" in r.path] == []
    assert len(calls) == 1, [(r.method, r.path) for r in calls]  # the listing only
