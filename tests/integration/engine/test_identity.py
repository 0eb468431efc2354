"""Identity before any teardown, on the real test bed: an environment belongs to
(project, MR) or (project, branch), across projects too, and a teardown event acts
only on its own identity, after GitLab confirms it."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from bot.domain.errors import TemporaryError
from bot.domain.model import Status
from bot.engine.intake import Intake
from bot.engine.reconcile import Reconciler
from bot.engine.requests import Requests
from tests.integration.lifecycle_bed import LifecycleBed, up_ok
from tests.integration.webhook_support import branch_deleted_event, mr_event


def namespace_exists(kube_api: client.ApiClient, env_key: str) -> bool:
    try:
        client.CoreV1Api(kube_api).read_namespace(f"preview-{env_key}")
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def test_project_b_survives_project_a_deleting_a_branch_named_like_its_mr(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    # A = <group>/app, B = <group>/app-web: A's branch "web-mr-7" once mapped onto B's !7
    b_path = f"{bed.project_path}-web"
    b_id = int(bed.gitlab.add_project(b_path)["id"])
    bed.configure(more_projects=(b_path,))
    bed.gitlab.add_merge_request(b_id, iid=7, source_branch="feature-7",
                                 author_username="alice", sha="b" * 40)
    up_ok(bed, f"{b_path}!7")
    b_key = f"{bed.slug}-web-mr-7"
    bed.gitlab.add_branch(bed.project_id, "web-mr-7", "a" * 40)
    up_ok(bed, f"{bed.project_path}@web-mr-7")
    core = bed.core()
    a_env = Requests(core).resolve(f"{bed.project_path}@web-mr-7")
    assert a_env.key != b_key  # two identities, two keys

    bed.gitlab.delete_branch(bed.project_id, "web-mr-7")
    intake = Intake(core, Requests(core))
    handled = intake.handle("Push Hook", json.dumps(
        branch_deleted_event(bed, "web-mr-7")).encode())
    assert handled.env_keys == (a_env.key,)
    Reconciler(core).run_pass(follow=True, dry_run=False, only=[a_env.key, b_key])

    assert not namespace_exists(kube_api, a_env.key)
    b_env = core.store.get(b_key)
    assert b_env is not None and b_env.observed.status is Status.READY
    assert b_env.desired.present and namespace_exists(kube_api, b_key)


def test_a_close_older_than_the_environment_is_dropped(bed: LifecycleBed) -> None:
    sha = bed.add_mr(60)
    env_key = f"{bed.slug}-mr-60"
    core = bed.core()
    intake = Intake(core, Requests(core))
    intake.handle("Merge Request Hook", json.dumps(
        mr_event(bed, "open", 60, sha, updated_at="2026-11-26T10:05:00Z")).encode())
    bed.gitlab.update_merge_request(bed.project_id, 60, state="closed")
    # a close from before the open this record was made from (delivered late)
    stale = intake.handle("Merge Request Hook", json.dumps(
        mr_event(bed, "close", 60, sha, updated_at="2026-11-26T10:00:00Z")).encode())
    assert stale.env_keys == () and "older" in stale.summary
    env = core.store.get(env_key)
    assert env is not None and env.desired.present
    fresh = intake.handle("Merge Request Hook", json.dumps(
        mr_event(bed, "close", 60, sha, updated_at="2026-11-26T10:06:00Z")).encode())
    assert fresh.env_keys == (env_key,)
    env = core.store.get(env_key)
    assert env is not None and not env.desired.present and env.desired.down_kind == "mr-closed"


def test_a_close_while_gitlab_cannot_confirm_it_is_retried_not_acted_on(
        bed: LifecycleBed) -> None:
    sha = bed.add_mr(61)
    core = bed.core()
    intake = Intake(core, Requests(core))
    intake.handle("Merge Request Hook", json.dumps(mr_event(bed, "open", 61, sha)).encode())
    bed.gitlab.set_down(True)
    close = json.dumps(mr_event(bed, "close", 61, sha,
                                updated_at="2026-11-26T10:01:00Z")).encode()
    with pytest.raises(TemporaryError, match="503"):
        intake.handle("Merge Request Hook", close)
    env = core.store.get(f"{bed.slug}-mr-61")
    assert env is not None and env.desired.present
    bed.gitlab.set_down(False)
    bed.gitlab.update_merge_request(bed.project_id, 61, state="locked")  # being merged
    with pytest.raises(TemporaryError, match="being merged"):
        intake.handle("Merge Request Hook", close)
    env = core.store.get(f"{bed.slug}-mr-61")
    assert env is not None and env.desired.present


def test_an_identity_keeps_its_key_when_the_plain_one_comes_free(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    # <g>/app branch "b-c" and <g>/app-b branch "c" both slug to <g>-app-b-c
    other_path = f"{bed.project_path}-b"
    other_id = int(bed.gitlab.add_project(other_path)["id"])
    bed.configure(more_projects=(other_path,))
    bed.gitlab.add_branch(bed.project_id, "b-c", "a" * 40)
    bed.gitlab.add_branch(other_id, "c", "b" * 40)
    up_ok(bed, f"{bed.project_path}@b-c")
    up_ok(bed, f"{other_path}@c")
    core = bed.core()
    plain = f"{bed.slug}-b-c"
    mine = Requests(core).resolve(f"{other_path}@c")
    assert mine.key != plain
    # the first identity ends and its record is collected: the plain key is free now
    done = bed.cli("down", f"{bed.project_path}@b-c")
    assert done.returncode == 0, done.stdout + done.stderr
    core.store.delete(plain)
    bed.gitlab.add_branch(other_id, "c", "c" * 40)  # a new commit, brought up again
    up_ok(bed, f"{other_path}@c")
    again = Requests(core).resolve(f"{other_path}@c")
    assert again.key == mine.key and again.desired.sha == "c" * 40
    assert not namespace_exists(kube_api, plain)  # no second environment


def test_a_namespace_of_another_gitlab_is_never_adopted(bed: LifecycleBed,
                                                        kube_api: client.ApiClient) -> None:
    env_key = f"{bed.slug}-mr-62"
    core_api = client.CoreV1Api(kube_api)
    core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=f"preview-{env_key}",
        labels={"app.kubernetes.io/managed-by": "previewbot", "previewbot/env": env_key,
                "previewbot/project-id": "999999", "previewbot/mr-iid": "62"},
        annotations={"previewbot/project-path": bed.project_path,  # same path, other GitLab
                     "previewbot/branch": "feature-62", "previewbot/sha": "d" * 40,
                     "previewbot/expires-at": "2030-01-01T00:00:00Z"})))
    before = core_api.read_namespace(f"preview-{env_key}").metadata.resource_version
    result = Reconciler(bed.core()).run_pass(follow=True, dry_run=False)
    assert env_key not in result.adopted
    assert bed.core().store.get(env_key) is None
    assert core_api.read_namespace(f"preview-{env_key}").metadata.resource_version == before
    core_api.delete_namespace(f"preview-{env_key}")
