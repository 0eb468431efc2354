"""A project renamed in GitLab, or its `slug:`/`path:` edited in the config (issue 16,
item 11): identity is the project id. Each environment stays under its key (its
namespace, release and URL), no open MR gets a second one, the old ones are still
torn down on close and adopted after a Redis wipe, and a dry run shows the move."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from kubernetes import client

from bot.domain import records
from bot.domain.errors import PermanentError
from bot.domain.model import Status
from bot.engine.intake import Intake
from bot.engine.requests import Requests, redeploy
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.webhook_support import mr_event

IID = 91


def _namespaces_of_the_mr(kube_api: client.ApiClient, bed: LifecycleBed) -> list[str]:
    """This bed's (its group is unique; GitLab ids are not: every test has its fake)."""
    selector = (f"{records.PROJECT_ID_LABEL}={bed.project_id},{records.MR_IID_LABEL}={IID}")
    items = client.CoreV1Api(kube_api).list_namespace(label_selector=selector).items
    group = bed.project_path.split("/")[0]
    return sorted(ns.metadata.name for ns in items if ns.status.phase == "Active"
                  and ns.metadata.name.startswith(f"preview-{group}-"))


def _up_and_ready(bed: LifecycleBed) -> tuple[str, str]:
    sha = bed.add_mr(IID)
    requests, reconciler = bed.wired()
    env = requests.request_up_mr(bed.project_path, IID, actor="gitlab:alice")
    assert reconciler.run_pass(follow=True, dry_run=False, only=[env.key]).ok
    return env.key, sha


def _deliver(bed: LifecycleBed, requests: Requests, action: str, sha: str,
             oldrev: str | None = None) -> tuple[str, ...]:
    body = json.dumps(mr_event(bed, action, IID, sha, updated_at="2099-01-01T00:00:00Z",
                               oldrev=oldrev)).encode()
    return Intake(requests.core, requests).handle("Merge Request Hook", body).env_keys


def _a_new_commit_lands_in_the_one_environment(bed: LifecycleBed, kube_api: client.ApiClient,
                                               key: str, sha: str, new_sha: str) -> None:
    """A new commit's webhook, then a pass: the MR's one environment runs it."""
    requests, reconciler = bed.wired()
    bed.gitlab.update_merge_request(bed.project_id, IID, sha=new_sha)
    assert _deliver(bed, requests, "update", new_sha, oldrev=sha) == (key,)
    assert reconciler.run_pass(follow=True, dry_run=False).ok
    assert _namespaces_of_the_mr(kube_api, bed) == [f"preview-{key}"]
    env = requests.get(key)
    assert env is not None and env.desired.sha == new_sha


def test_a_slug_edited_in_the_config_keeps_each_environment_under_its_key(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    key, sha = _up_and_ready(bed)
    renamed = f"{bed.project_path.split('/')[0]}-renamed"
    bed.configure(project_extra=f"slug: {renamed}")  # new keys would be <renamed>-mr-N
    requests, reconciler = bed.wired()

    rehearsal = reconciler.run_pass(dry_run=True)
    assert [f for f in rehearsal.discovered if f.label.endswith(f"!{IID}")] == []
    new_sha = "d" * 40
    _a_new_commit_lands_in_the_one_environment(bed, kube_api, key, sha, new_sha)

    bed.gitlab.update_merge_request(bed.project_id, IID, state="closed")
    assert _deliver(bed, requests, "close", new_sha) == (key,)
    reconciler.run_pass(follow=True, dry_run=False, only=[key])
    gone = requests.get(key)
    assert gone is not None and gone.observed.status is Status.GONE


def test_a_project_renamed_in_gitlab_keeps_its_environments_also_after_a_redis_wipe(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    key, sha = _up_and_ready(bed)
    old_path = bed.project_path
    new_path = f"{old_path.split('/')[0]}/renamed"
    bed.gitlab.rename_project(bed.project_id, new_path)
    bed.project_path = new_path  # the operator follows the rename in the config
    bed.configure()
    bed.redis().flushdb()  # and Redis is lost too: only the namespace remembers
    requests, reconciler = bed.wired()

    rehearsal = reconciler.run_pass(dry_run=True)
    mine = [(f.kind, f.label) for f in rehearsal.discovered if f.label.endswith(f"!{IID}")]
    assert mine == [("move", f"{old_path}!{IID}")], rehearsal.discovered
    assert requests.get(key) is None  # a rehearsal changes nothing

    assert reconciler.run_pass(follow=True, dry_run=False).ok
    env = requests.get(key)
    assert env is not None and env.desired.project_path == new_path
    assert env.observed.status is Status.READY
    assert _namespaces_of_the_mr(kube_api, bed) == [f"preview-{key}"]
    ns = client.CoreV1Api(kube_api).read_namespace(f"preview-{key}")
    assert ns.metadata.annotations[records.PROJECT_PATH] == new_path

    bed.gitlab.update_merge_request(bed.project_id, IID, state="closed")
    assert _deliver(bed, requests, "close", sha) == (key,)
    reconciler.run_pass(follow=True, dry_run=False, only=[key])
    gone = requests.get(key)
    assert gone is not None and gone.observed.status is Status.GONE


def _renamed(bed: LifecycleBed) -> str:
    """The project renamed in GitLab, the config following it; its old path."""
    old_path = bed.project_path
    bed.gitlab.rename_project(bed.project_id, f"{old_path.split('/')[0]}/renamed")
    bed.project_path = f"{old_path.split('/')[0]}/renamed"
    bed.configure()
    return old_path


def test_a_new_commit_after_a_rename_and_a_redis_wipe_before_any_pass_keeps_one_environment(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    key, sha = _up_and_ready(bed)
    _renamed(bed)
    bed.redis().flushdb()
    _a_new_commit_lands_in_the_one_environment(bed, kube_api, key, sha, "e" * 40)


def test_extend_keep_and_redeploy_after_a_rename_work_before_the_pass_moved_the_record(
        bed: LifecycleBed) -> None:
    key, _ = _up_and_ready(bed)
    _renamed(bed)
    requests, _ = bed.wired()  # Redis still has the record, at the old path

    extended, _ = requests.extend(key, timedelta(hours=2), actor="slack:U0CAROL")
    kept = requests.keep(key, actor="slack:U0CAROL")
    pressed = redeploy(requests, key, actor="slack:U0BOB")
    assert extended.key == kept.key == pressed.key == key
    assert kept.desired.keep and pressed.desired.project_path == bed.project_path


def test_a_namespace_the_pass_will_not_adopt_is_not_taken_by_a_request_either(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    key, _ = _up_and_ready(bed)
    old_path = _renamed(bed)
    bed.gitlab.add_project(old_path)  # the old path reused: it leads elsewhere now
    bed.redis().flushdb()
    requests, reconciler = bed.wired()

    assert reconciler.run_pass(dry_run=False).adopted == ()
    with pytest.raises(PermanentError, match="no environment"):
        requests.request_down(key, reason="done", actor="slack:U0BOB")
    assert requests.get(key) is None
    assert client.CoreV1Api(kube_api).read_namespace(f"preview-{key}").status.phase == "Active"


def _ended_by_a_person(bed: LifecycleBed, kube_api: client.ApiClient, key: str) -> None:
    requests, reconciler = bed.wired()
    requests.request_down(key, reason="done for now", actor="slack:U0BOB")
    reconciler.run_pass(follow=True, dry_run=False, only=[key])
    gone = requests.get(key)
    assert gone is not None and gone.observed.status is Status.GONE
    assert _namespaces_of_the_mr(kube_api, bed) == []


def test_what_a_person_ended_stays_ended_after_two_renames_and_a_redis_wipe(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    """Each life leaves its MR note under the key it had: the one written last says
    how the MR's environment ended, not the oldest (found by the property test)."""
    first_key, _ = _up_and_ready(bed)
    _ended_by_a_person(bed, kube_api, first_key)
    group = bed.project_path.split("/")[0]

    bed.gitlab.rename_project(bed.project_id, f"{group}/renamed1")
    bed.project_path = f"{group}/renamed1"
    bed.configure()
    bed.redis().flushdb()
    second_sha = "b" * 40  # a new commit after the end: a new life, under the new path
    bed.gitlab.update_merge_request(bed.project_id, IID, sha=second_sha)
    _, reconciler = bed.wired()
    assert reconciler.run_pass(follow=True, dry_run=False).ok
    [namespace] = _namespaces_of_the_mr(kube_api, bed)
    second_key = namespace.removeprefix("preview-")
    assert second_key != first_key
    _ended_by_a_person(bed, kube_api, second_key)

    bed.gitlab.rename_project(bed.project_id, f"{group}/renamed2")
    bed.project_path = f"{group}/renamed2"
    bed.configure()
    bed.redis().flushdb()
    _, reconciler = bed.wired()
    rehearsal = reconciler.run_pass(dry_run=True)
    assert [f.label for f in rehearsal.discovered if f.label.endswith(f"!{IID}")] == []
    assert reconciler.run_pass(follow=True, dry_run=False).ok
    assert _namespaces_of_the_mr(kube_api, bed) == []
