"""The intake worker's outcomes for one queued event, in process, on real Redis:
applied, refused, retried when GitLab is down, parked when it stays down — and
the operator's view of parked events through `previewbot events`."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from bot import metrics
from bot.domain.model import Status
from bot.runtime.workers import Workers
from bot.state.queue import DeliveryQueue
from tests.clock import MovableClock
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.webhook_support import fixture, mr_event
from tests.polling import poll


def workers_for(bed: LifecycleBed,
                clock: MovableClock | None = None) -> tuple[Workers, DeliveryQueue]:
    queue = bed.queue(max_attempts=2, clock=clock or MovableClock(),
                      backoff_base=timedelta(seconds=30))
    return Workers(bed.core(), queue, intake_threads=0, converge_threads=0), queue


def gitlab_errors() -> float:
    sample = metrics.REGISTRY.get_sample_value("previewbot_dependency_errors_total",
                                               {"dependency": "gitlab"})
    return sample or 0.0


def queue_one(queue: DeliveryQueue, payload: dict[str, object], key: str) -> None:
    assert queue.enqueue("Merge Request Hook", json.dumps(payload).encode(), key) == "queued"


def claim_one(queue: DeliveryQueue, workers: Workers) -> str:
    [event] = queue.claim(workers.consumer, count=1)
    return workers.process(event)


def test_an_open_event_is_applied_and_pokes_the_environment(bed: LifecycleBed) -> None:
    sha = bed.add_mr(41)
    workers, queue = workers_for(bed)
    queue_one(queue, mr_event(bed, "open", 41, sha), "d-41")
    assert claim_one(queue, workers) == "applied"
    env = bed.core().store.get(f"{bed.slug}-mr-41")
    assert env is not None and env.desired.sha == sha and env.observed.status is Status.PENDING
    assert queue.take_poked() == [f"{bed.slug}-mr-41"]
    assert queue.stats()["pending"] == 0
    reads = [r for r in bed.gitlab.requests
             if r.method == "GET" and r.path.endswith("/merge_requests/41")]
    assert len(reads) == 1  # the trigger check's read is reused by the engine


def test_a_refusal_is_acked_not_retried(bed: LifecycleBed) -> None:
    bed.configure(project_extra="max_envs: 1")
    for iid in (42, 43):
        bed.add_mr(iid)
    workers, queue = workers_for(bed)
    queue_one(queue, mr_event(bed, "open", 42, "a" * 40), "d-42")
    queue_one(queue, mr_event(bed, "open", 43, "a" * 40), "d-43")
    assert [claim_one(queue, workers), claim_one(queue, workers)] == ["applied", "refused"]
    assert queue.stats() == {"queued": 0, "pending": 0, "retrying": 0, "parked": 0}
    assert bed.core().store.get(f"{bed.slug}-mr-43") is None


def test_gitlab_down_retries_then_parks_and_the_cli_shows_and_requeues(
        bed: LifecycleBed) -> None:
    sha = bed.add_mr(44)
    clock = MovableClock()
    workers, queue = workers_for(bed, clock)
    queue_one(queue, mr_event(bed, "open", 44, sha), "d-44")
    bed.gitlab.set_down(True)
    errors_before = gitlab_errors()
    assert claim_one(queue, workers) == "retry"
    assert gitlab_errors() > errors_before  # previewbot_dependency_errors_total{gitlab}
    assert queue.stats()["retrying"] == 1
    assert queue.claim(workers.consumer, block=timedelta(0)) == []  # not due yet
    clock.advance(timedelta(seconds=31))
    assert claim_one(queue, workers) == "parked"
    assert queue.stats()["parked"] == 1

    listing = bed.cli("events")
    assert listing.returncode == 0, listing.stderr
    assert "parked=1" in listing.stdout
    [line] = [ln for ln in listing.stdout.splitlines() if ln.startswith("parked ")]
    assert "Merge Request Hook" in line and "503" in line

    bed.gitlab.set_down(False)
    parked_id = line.split()[1]
    assert bed.cli("events", "--requeue", parked_id).returncode == 0
    assert claim_one(queue, workers) == "applied"
    assert bed.core().store.get(f"{bed.slug}-mr-44") is not None
    assert bed.cli("events", "--requeue", "no-such-id").returncode == 1


def test_a_branch_pipeline_deploys_the_open_mrs_from_that_branch_in_pipeline_mode(
        bed: LifecycleBed) -> None:
    bed.configure(project_extra="deploy_on: pipeline")
    bed.add_mr(45, sha="4" * 40, branch="feature-y")
    payload = fixture("pipeline_success_branch")
    payload["project"].update(id=bed.project_id, path_with_namespace=bed.project_path)
    payload["object_attributes"].update(sha="5" * 40, ref="feature-y", status="success")
    workers, queue = workers_for(bed)
    assert queue.enqueue("Pipeline Hook", json.dumps(payload).encode(), "p-45") == "queued"
    assert claim_one(queue, workers) == "applied"
    env = bed.core().store.get(f"{bed.slug}-mr-45")
    assert env is not None and env.desired.sha == "5" * 40  # the pipeline's, not the head


def test_an_mr_opened_while_gitlab_rejected_the_token_is_deployed_once_it_accepts_it(
        bed: LifecycleBed) -> None:
    sha = bed.add_mr(46)
    env_key = f"{bed.slug}-mr-46"
    clock = MovableClock()
    workers, queue = workers_for(bed, clock)
    queue_one(queue, mr_event(bed, "open", 46, sha), "d-46")
    bed.gitlab.fail_next(1, 401)  # the token expired …
    # … which a person fixes: retried like an outage, never acked as a refusal
    assert claim_one(queue, workers) == "retry"
    assert queue.stats()["retrying"] == 1
    assert bed.core().store.get(env_key) is None
    clock.advance(timedelta(seconds=61))  # the token works again by the retry (60 s on)
    assert claim_one(queue, workers) == "applied"
    env = bed.core().store.get(env_key)
    assert env is not None and env.desired.sha == sha
    assert queue.stats() == {"queued": 0, "pending": 0, "retrying": 0, "parked": 0}


def test_a_stuck_handler_lets_go_after_the_hold_limit_and_a_sibling_takes_over(
        bed: LifecycleBed, caplog: pytest.LogCaptureFixture) -> None:
    # claim_idle 300 ms: renewed for HOLD_LIMIT of them (3 s), then released.
    queue = bed.queue(claim_idle=timedelta(milliseconds=300))
    workers = Workers(bed.core(), queue, intake_threads=2, converge_threads=0)
    sha = bed.add_mr(44)
    # The first read of the MR answers after 8 s (within GitLab's 10 s client timeout):
    # its handler is stuck for well past the hold limit.
    bed.gitlab.hang_next(1, seconds=8, method="GET", path_contains="/merge_requests/44")
    queue_one(queue, mr_event(bed, "open", 44, sha), "d-44")
    caplog.set_level(logging.INFO)
    workers.start()
    try:
        poll("the stuck handler to let go and a sibling to take the delivery over",
             lambda: any("its handler seems stuck" in r.getMessage() for r in caplog.records)
             and any("taken over by" in r.getMessage() for r in caplog.records), timeout=30)
        poll("the delivery handled", lambda: "webhook" in [
            h.action for h in bed.core().store.history(f"{bed.slug}-mr-44")], timeout=30)
    finally:
        workers.stop()
    takeovers = [r.getMessage() for r in caplog.records if "taken over by" in r.getMessage()]
    assert all(f"{workers.consumer}-intake-" in m for m in takeovers), takeovers


def test_an_entry_written_straight_into_the_stream_is_parked_unauthenticated(
        bed: LifecycleBed) -> None:
    """Code that reaches Redis (a preview's) forges a delivery: the same fields the bot
    writes, minus a seal made with the bot's key. It is parked, never applied."""
    sha = bed.add_mr(47)
    workers, queue = workers_for(bed)
    body = json.dumps(mr_event(bed, "open", 47, sha)).encode()
    forged = {"type": "Merge Request Hook", "body": body, "dedupe": "forged-47",
              "received": "2030-01-01T00:00:00+00:00", "attempts": "0", "mac": "0" * 64}
    bed.redis().xadd("previewbot:queue:events", forged)  # type: ignore[arg-type]
    assert claim_one(queue, workers) == "parked"
    [parked] = queue.parked()
    assert parked.error == "unauthenticated queue entry"
    assert bed.core().store.get(f"{bed.slug}-mr-47") is None
    assert queue.take_poked() == []
    assert bed.core().kube.get_namespace(f"preview-{bed.slug}-mr-47") is None
    listing = bed.cli("events")
    assert "unauthenticated queue entry" in listing.stdout, listing.stdout + listing.stderr
    # An operator's requeue does not launder it: parked again, still not applied.
    assert bed.cli("events", "--requeue", parked.id).returncode == 0
    assert claim_one(queue, workers) == "parked"
    assert bed.core().store.get(f"{bed.slug}-mr-47") is None
