"""Waiting for the image (``bot.engine.image_wait``): pods in ImagePullBackOff past
``ready_timeout`` wait while the commit's pipeline has not ended, ``ready_timeout``
after it passed, never after it failed, and at most ``image_wait``; the announcement
says "waiting for image" once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.domain.changes import CommitPipeline, PipelineState
from bot.domain.errors import PermanentError, TemporaryError
from bot.domain.model import Status
from bot.engine.reconcile import Reconciler
from tests.unit.engine.conftest import (
    PROJECT_ID,
    PROJECT_PATH,
    SHA1,
    Engine,
    build_engine,
    change,
    namespace_of,
)

KEY = "group-app-mr-7"
NS = namespace_of(KEY)
IMAGE = f"registry.example.com/group/app:{SHA1}"
PULLING = f'Pod app-1: container app waiting: ImagePullBackOff: Back-off pulling image "{IMAGE}"'
READY_TIMEOUT = timedelta(minutes=5)  # the default


def _deploying_without_image(e: Engine) -> Reconciler:
    """Deployed, its pod waiting for an image CI has not pushed; checks never wait in
    place (the clock is the test's)."""
    deploy = replace(e.core.settings.deploy, ready_inline_wait=0.0)
    reconciler = Reconciler(replace(e.core, settings=replace(e.core.settings, deploy=deploy)))
    e.cluster.hold_back(NS, KEY, PULLING, missing_images=(IMAGE,))
    e.source.put_change(change())
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")
    reconciler.run_pass(dry_run=False, only=[KEY])
    assert e.env(KEY).observed.status is Status.DEPLOYING
    return reconciler


def _check(e: Engine, reconciler: Reconciler, after: timedelta) -> Status:
    e.clock.advance(after)
    reconciler.run_pass(dry_run=False, only=[KEY])
    return e.env(KEY).observed.status


def _waiting_notices(e: Engine) -> list[str]:
    return [n.reason for n in e.notifier.notices
            if n.env.key == KEY and n.kind.value == "deploying" and n.reason]


def test_a_running_pipeline_keeps_the_deploy_waiting_past_ready_timeout() -> None:
    e = build_engine()
    started = e.clock.now()
    reconciler = _deploying_without_image(e)
    e.source.put_pipeline(PROJECT_ID, SHA1, CommitPipeline(PipelineState.RUNNING, "running",
                                                           started))
    for _ in range(4):  # rechecks, well past ready_timeout
        assert _check(e, reconciler, timedelta(minutes=2)) is Status.DEPLOYING
    env = e.env(KEY)
    assert env.observed.reason == f"waiting for image `{IMAGE}`"
    # Said once when it began waiting, not at every recheck.
    assert _waiting_notices(e) == [f"waiting for image `{IMAGE}`"]

    e.cluster.hold_back(NS, KEY)  # CI pushed it: the pod runs
    assert _check(e, reconciler, timedelta(seconds=1)) is Status.READY
    assert e.notifier.kinds(KEY)[-1] == "ready"
    assert "failed" not in e.notifier.kinds(KEY)


def test_ready_timeout_counts_from_the_end_of_the_pipeline_that_passed() -> None:
    e = build_engine()
    reconciler = _deploying_without_image(e)
    e.source.put_pipeline(PROJECT_ID, SHA1, CommitPipeline(PipelineState.RUNNING, "running",
                                                           e.clock.now()))
    assert _check(e, reconciler, timedelta(minutes=20)) is Status.DEPLOYING
    e.source.put_pipeline(PROJECT_ID, SHA1, CommitPipeline(PipelineState.PASSED, "success",
                                                           e.clock.now()))
    # The answer "running" is remembered a few seconds; then "success" is seen.
    assert _check(e, reconciler, READY_TIMEOUT - timedelta(seconds=30)) is Status.DEPLOYING
    assert _check(e, reconciler, timedelta(seconds=31)) is Status.FAILED
    reason = e.env(KEY).observed.reason
    assert f"no image `{IMAGE}` 5m (ready_timeout) after the pipeline of 11111111 " \
           "succeeded" in reason, reason
    assert e.notifier.kinds(KEY)[-1] == "failed"


def test_a_pipeline_that_passed_before_the_deploy_leaves_ready_timeout_as_it_was() -> None:
    e = build_engine()
    e.source.put_pipeline(PROJECT_ID, SHA1, CommitPipeline(
        PipelineState.PASSED, "success", e.clock.now() - timedelta(hours=1)))
    reconciler = _deploying_without_image(e)
    assert _check(e, reconciler, READY_TIMEOUT - timedelta(seconds=1)) is Status.DEPLOYING
    assert _check(e, reconciler, timedelta(seconds=1)) is Status.FAILED


def test_a_failed_pipeline_fails_the_deploy_at_once_naming_the_image() -> None:
    e = build_engine()
    reconciler = _deploying_without_image(e)
    e.source.put_pipeline(PROJECT_ID, SHA1, CommitPipeline(PipelineState.FAILED, "failed",
                                                           e.clock.now()))
    assert _check(e, reconciler, READY_TIMEOUT) is Status.FAILED
    assert e.env(KEY).observed.reason.startswith(
        f"the pipeline of 11111111 failed; no image `{IMAGE}`")


def test_a_retried_pipeline_still_running_after_a_failed_one_keeps_it_waiting() -> None:
    e = build_engine()
    reconciler = _deploying_without_image(e)
    e.source.put_pipeline(PROJECT_ID, SHA1, CommitPipeline(PipelineState.FAILED, "failed",
                                                           e.clock.now()))
    e.source.put_pipeline(PROJECT_ID, SHA1, CommitPipeline(PipelineState.RUNNING, "pending",
                                                           e.clock.now()))
    assert _check(e, reconciler, READY_TIMEOUT) is Status.DEPLOYING


def test_an_image_that_never_comes_fails_after_image_wait() -> None:
    """No pipeline seen at all (a forge that shows none, or does not answer): it waits,
    but never longer than image_wait."""
    e = build_engine()
    reconciler = _deploying_without_image(e)
    assert _check(e, reconciler, timedelta(minutes=29)) is Status.DEPLOYING
    # GitLab down a moment: still waiting
    e.source.faults.fail("commit_pipelines", TemporaryError("GitLab is down", delay=5))
    assert _check(e, reconciler, timedelta(seconds=30)) is Status.DEPLOYING
    assert _check(e, reconciler, timedelta(seconds=30)) is Status.FAILED
    reason = e.env(KEY).observed.reason
    assert reason.startswith(f"no image `{IMAGE}` after 30m (image_wait)"), reason


def test_a_forge_that_refuses_the_pipelines_leaves_ready_timeout_alone() -> None:
    e = build_engine()
    reconciler = _deploying_without_image(e)
    e.source.faults.fail("commit_pipelines", PermanentError("403 Forbidden"))
    assert _check(e, reconciler, READY_TIMEOUT) is Status.FAILED
    assert "(ready_timeout)" in e.env(KEY).observed.reason


def test_pods_not_ready_for_another_reason_fail_at_ready_timeout() -> None:
    e = build_engine()
    deploy = replace(e.core.settings.deploy, ready_inline_wait=0.0)
    reconciler = Reconciler(replace(e.core, settings=replace(e.core.settings, deploy=deploy)))
    e.cluster.hold_back(NS, KEY, "Pod app-1: container app waiting: CrashLoopBackOff")
    e.source.put_pipeline(PROJECT_ID, SHA1, CommitPipeline(PipelineState.RUNNING, "running",
                                                           e.clock.now()))
    e.source.put_change(change())
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")
    reconciler.run_pass(dry_run=False, only=[KEY])
    assert _check(e, reconciler, READY_TIMEOUT) is Status.FAILED
    assert _waiting_notices(e) == []
