"""An environment whose life is ending, on the real test bed (issue 16, items 2 and 3):
a commit that arrives while it is reaped starts a new life once it is gone, and an
extend or keep once its teardown began is refused and changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client

from bot.domain import records
from bot.domain.errors import PermanentError, TemporaryError
from bot.domain.model import Status
from bot.engine.intake import Intake
from bot.engine.reconcile import Reconciler
from bot.engine.requests import Requests
from bot.gitlab.review import ended_marker
from tests.clock import MovableClock
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.webhook_support import mr_event
from tests.polling import poll


def _wired(bed: LifecycleBed, clock: MovableClock) -> tuple[Requests, Reconciler]:
    core = bed.core(clock=clock)
    return Requests(core), Reconciler(core)


def _until_gone(reconciler: Reconciler, requests: Requests, key: str) -> None:
    def gone() -> bool:
        reconciler.run_pass(follow=True, dry_run=False, only=[key])
        env = requests.get(key)
        return env is not None and env.observed.status is Status.GONE
    poll(f"{key} to be gone", gone, timeout=90, interval=0.5)


def test_a_commit_pushed_while_a_capped_environment_is_reaped_starts_a_new_life(
        bed: LifecycleBed) -> None:
    clock = MovableClock()
    old = bed.add_mr(61)
    key = f"{bed.slug}-mr-61"
    requests, reconciler = _wired(bed, clock)
    requests.request_up_mr(bed.project_path, 61, actor="gitlab:alice")
    assert reconciler.run_pass(follow=True, dry_run=False, only=[key]).ok
    requests.keep(key, actor="slack:U0ALICE")  # kept: it ends at created + max_ttl (7d)
    clock.advance(timedelta(days=7, minutes=1))
    new = "e" * 40
    bed.gitlab.update_merge_request(bed.project_id, 61, sha=new)
    stamp = (clock.now() + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    delivery = json.dumps(mr_event(bed, "update", 61, new, updated_at=stamp,
                                   oldrev=old)).encode()
    intake = Intake(requests.core, requests)

    with pytest.raises(TemporaryError, match="is ending"):  # the queue retries it later
        intake.handle("Merge Request Hook", delivery)
    assert requests.resolve(key).desired.sha == old  # not merged onto the dying record

    _until_gone(reconciler, requests, key)
    notes = [n["body"] for n in bed.gitlab.notes(bed.project_id, 61) if key in n["body"]]
    assert any(ended_marker(old) in body for body in notes), notes  # ended at the old one
    intake.handle("Merge Request Hook", delivery)  # the retry, once it is gone
    reborn = requests.resolve(key)
    assert reborn.desired.present and reborn.desired.sha == new
    assert reborn.desired.created_at >= clock.now().replace(microsecond=0)  # a new life
    assert reconciler.run_pass(follow=True, dry_run=False, only=[key]).ok
    assert requests.resolve(key).observed.status is Status.READY


def test_an_extend_or_keep_once_the_teardown_began_is_refused_and_changes_nothing(
        bed: LifecycleBed) -> None:
    clock = MovableClock()
    bed.add_mr(62)
    key = f"{bed.slug}-mr-62"
    requests, reconciler = _wired(bed, clock)
    requests.request_up_mr(bed.project_path, 62, actor="gitlab:alice")
    assert reconciler.run_pass(follow=True, dry_run=False, only=[key]).ok
    clock.advance(timedelta(hours=49))  # past its 48h TTL
    reconciler.run_pass(dry_run=False, only=[key])  # the teardown starts
    ending = requests.resolve(key)
    assert ending.observed.status is Status.TEARING_DOWN

    for ask in (lambda: requests.extend(key, timedelta(days=1), actor="slack:U0ALICE"),
                lambda: requests.keep(key, actor="slack:U0ALICE")):
        with pytest.raises(PermanentError, match="is being torn down") as refused:
            ask()
        assert f"/preview up {ending.desired.label}" in str(refused.value)  # what to do
    assert requests.resolve(key).desired == ending.desired
    assert [h.action for h in requests.history(key)] == ["up"]


def test_the_teardown_starts_only_while_the_desired_state_is_the_one_it_planned(
        bed: LifecycleBed) -> None:
    """The mechanism that makes an extend and a teardown race deterministic, on real
    Redis: the teardown's first write is conditional on the record it planned from."""
    bed.add_mr(63)
    key = f"{bed.slug}-mr-63"
    requests, _ = bed.wired()
    planned = requests.request_up_mr(bed.project_path, 63, actor="gitlab:alice")
    extended, _ = requests.extend(key, timedelta(days=1), actor="slack:U0ALICE")
    store = requests.core.store
    tearing = planned.with_observed(status=Status.TEARING_DOWN, reason="TTL expired",
                                    updated_at=datetime.now(UTC)).observed

    assert not store.put_observed_if(key, tearing, desired=planned.desired)
    assert requests.resolve(key).observed == extended.observed  # nothing written
    assert store.put_observed_if(key, tearing, desired=extended.desired)
    assert requests.resolve(key).observed.status is Status.TEARING_DOWN


def test_a_new_life_that_reuses_a_never_stopped_gitlab_environment_records_it(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    """GitLab refused the last life's stop until the bot gave up: the next life reuses
    that GitLab environment, and its new namespace must record it (the durable record
    a Redis loss is recovered from; found by the two-replica event storm)."""
    bed.add_mr(64)
    key = f"{bed.slug}-mr-64"
    requests, reconciler = bed.wired()
    requests.request_up_mr(bed.project_path, 64, actor="gitlab:alice")
    assert reconciler.run_pass(follow=True, dry_run=False, only=[key]).ok
    made = requests.resolve(key).observed.review_environment_id
    assert made is not None
    bed.gitlab.fail_next(100, 500, path_contains="/stop")  # GitLab takes no stop now
    requests.request_down(key, reason="not needed now", actor="slack:U0ALICE")

    def given_up() -> bool:
        reconciler.run_pass(follow=True, dry_run=False, only=[key])
        env = requests.get(key)
        return (env is not None and env.observed.status is Status.GONE
                and env.observed.review_synced_hash == "")
    poll(f"{key} to be gone, its GitLab stop given up on", given_up, timeout=120,
         interval=0.5)
    bed.gitlab.heal()

    requests.request_up_mr(bed.project_path, 64, actor="slack:U0ALICE", manual=True)
    assert reconciler.run_pass(follow=True, dry_run=False, only=[key]).ok

    annotations = client.CoreV1Api(kube_api).read_namespace(
        f"preview-{key}").metadata.annotations
    assert requests.resolve(key).observed.review_environment_id == made
    assert annotations[records.REVIEW_ENVIRONMENT_ID] == str(made)


def test_keep_or_extend_past_max_ttl_before_the_pass_is_refused_and_changes_nothing(
        bed: LifecycleBed, kube_api: client.ApiClient) -> None:
    """Between created + max_ttl and the pass that starts its teardown, a keep or
    extend used to reply "kept until <a time already past>"; the pass then reaped it."""
    clock = MovableClock()
    bed.add_mr(63)
    key = f"{bed.slug}-mr-63"
    requests, reconciler = _wired(bed, clock)
    requests.request_up_mr(bed.project_path, 63, actor="gitlab:alice")
    assert reconciler.run_pass(follow=True, dry_run=False, only=[key]).ok
    requests.keep(key, actor="slack:U0ALICE")
    clock.advance(timedelta(days=7, minutes=1))  # past created + max_ttl, no pass yet
    before = requests.resolve(key).desired

    with pytest.raises(PermanentError, match="reached its max_ttl"):
        requests.keep(key, actor="slack:U0ALICE")
    with pytest.raises(PermanentError, match="reached its max_ttl"):
        requests.extend(key, timedelta(days=1), actor="slack:U0ALICE")
    assert requests.resolve(key).desired == before
    ns = client.CoreV1Api(kube_api).read_namespace(f"preview-{key}")
    assert ns.metadata.annotations[records.EXPIRES_AT] == records.rfc3339(before.expires_at)
