"""A request that comes before the pass has adopted what Redis lost (issue 16, item 4).

Redis is wiped (or fails over to an empty replica); the namespaces keep every record.
The first request for an environment — a new commit's webhook, a person's up, an
extend — starts from the namespace's record: its keep, its extensions and its owner
survive, and the environment is not reaped early."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from kubernetes import client

from bot.domain import records
from bot.domain.errors import PermanentError
from bot.engine.intake import Intake
from bot.engine.requests import Requests, redeploy
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.webhook_support import mr_event

IID = 71


def _kept_and_extended(bed: LifecycleBed) -> tuple[Requests, str, str]:
    sha = bed.add_mr(IID)
    requests, reconciler = bed.wired()
    env = requests.request_up_mr(bed.project_path, IID, actor="gitlab:alice")
    reconciler.run_pass(follow=True, dry_run=False, only=[env.key])
    requests.keep(env.key, actor="slack:U0CAROL")
    bed.redis().flushdb()  # this test's database only: Redis lost everything
    return requests, env.key, sha


def _annotations(kube_api: client.ApiClient, env_key: str) -> dict[str, str]:
    ns = client.CoreV1Api(kube_api).read_namespace(f"preview-{env_key}")
    return dict(ns.metadata.annotations or {})


def test_a_new_commit_after_a_redis_wipe_keeps_what_the_namespace_recorded(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    requests, key, old_sha = _kept_and_extended(bed)
    kept_until = _annotations(kube_api, key)[records.EXPIRES_AT]
    new_sha = "c" * 40
    bed.gitlab.update_merge_request(bed.project_id, IID, sha=new_sha)

    body = json.dumps(mr_event(bed, "update", IID, new_sha,
                               updated_at="2099-01-01T00:00:00Z", oldrev=old_sha)).encode()
    handled = Intake(requests.core, requests).handle("Merge Request Hook", body)

    assert handled.env_keys == (key,), handled.summary
    env = requests.get(key)
    assert env is not None and env.desired.sha == new_sha
    assert env.desired.keep, "Keep was lost: the webhook built a fresh record"
    assert records.rfc3339(env.desired.expires_at) == kept_until
    assert env.desired.owner == "alice"
    after = _annotations(kube_api, key)  # the durable record too
    assert after[records.KEEP] == "true" and after[records.EXPIRES_AT] == kept_until


def test_a_person_s_up_and_extend_after_a_redis_wipe_start_from_the_namespace(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    requests, key, _ = _kept_and_extended(bed)
    before = _annotations(kube_api, key)

    up = requests.request_up_mr(bed.project_path, IID, actor="slack:U0BOB", manual=True)
    assert up.desired.keep and up.desired.owner == "alice"
    assert records.rfc3339(up.desired.created_at) == before[records.CREATED_AT]

    bed.redis().flushdb()
    extended, _ = requests.extend(key, timedelta(hours=1), actor="slack:U0CAROL")
    assert extended.desired.keep  # kept until max_ttl already: an extend moves nothing back
    assert records.rfc3339(extended.desired.expires_at) == before[records.EXPIRES_AT]
    assert requests.resolve(key).desired.owner == "alice"


def test_the_redeploy_button_after_a_redis_wipe_redeploys_what_the_namespace_recorded(
        bed: LifecycleBed) -> None:
    requests, key, _ = _kept_and_extended(bed)
    pressed = redeploy(requests, key, actor="slack:U0BOB")
    assert pressed.key == key and pressed.desired.keep and pressed.desired.owner == "alice"


def test_an_event_after_a_redis_wipe_does_not_bring_back_what_a_person_ended_at_that_commit(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    # Found by the lifecycle property test: the MR note is the durable record of an end on
    # purpose, and the webhook path must read it as discovery does.
    sha = bed.add_mr(IID)
    requests, reconciler = bed.wired()
    env = requests.request_up_mr(bed.project_path, IID, actor="gitlab:alice")
    reconciler.run_pass(follow=True, dry_run=False, only=[env.key])
    requests.request_down(env.key, reason="done reviewing", actor="slack:U0ALICE")
    reconciler.run_pass(follow=True, dry_run=False, only=[env.key])
    bed.redis().flushdb()
    payload = mr_event(bed, "update", IID, sha, updated_at="2099-01-01T00:00:00Z")
    payload["changes"] = {"draft": {"previous": True, "current": False}}  # marked ready

    with pytest.raises(PermanentError, match="torn down on purpose"):
        Intake(requests.core, requests).handle("Merge Request Hook",
                                               json.dumps(payload).encode())
    ended = requests.get(env.key)
    assert ended is not None and not ended.desired.present
    assert reconciler.run_pass(follow=True, dry_run=False).ok
    assert requests.get(env.key) is not None and not requests.get(env.key).desired.present
    names = [ns.metadata.name for ns in client.CoreV1Api(kube_api).list_namespace().items]
    assert f"preview-{env.key}" not in names
