"""A deploy that failed for a temporary reason is tried again by the pass, with backoff;
one that only a new input can fix waits for it (issue 16, item 8)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.errors import TemporaryError
from bot.domain.model import Status
from bot.domain.plan import ActionKind, Snapshot, plan_one
from bot.engine.settings import DeploySettings
from tests.unit.engine.conftest import (
    NOW,
    PROJECT_PATH,
    SHA2,
    Engine,
    build_engine,
    change,
    namespace_of,
)

KEY = "group-app-mr-7"


def _engine(*, base: float = 10.0, cap: float = 60.0) -> Engine:
    return build_engine(deploy=DeploySettings(poll_interval=0.01, retry_base=base,
                                              retry_max=cap))


def _failed_once(e: Engine, *, temporary: bool) -> None:
    e.source.put_change(change())
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")
    if temporary:
        e.helm.fail_next_temporarily('failed calling webhook "validate.nginx.ingress"')
    else:
        e.helm.fail_next("values: image.tag is required")
    outcome, = e.reconcile(KEY).outcomes
    assert not outcome.ok
    assert e.env(KEY).observed.status is Status.FAILED


# --- the plan rule, alone ------------------------------------------------------

def _snapshot(e: Engine) -> Snapshot:
    ns = e.cluster.get_namespace(namespace_of(KEY))
    release = e.helm.get_release(KEY, namespace_of(KEY))
    return e.reconciler.snapshot(e.env(KEY), ns, release.status if release else None)


def test_plan_retries_a_temporary_failure_once_its_backoff_passed() -> None:
    e = _engine()
    _failed_once(e, temporary=True)
    observed = e.env(KEY).observed
    assert observed.retry_at == NOW + timedelta(seconds=10) and observed.failures == 1

    assert plan_one(_snapshot(e), NOW + timedelta(seconds=9)) is None  # backing off
    action = plan_one(_snapshot(e), NOW + timedelta(seconds=10))
    assert action is not None and action.kind is ActionKind.UPDATE, action
    assert "temporary failure" in action.reason


def test_plan_leaves_a_permanent_failure_until_its_inputs_change() -> None:
    e = _engine()
    _failed_once(e, temporary=False)
    assert e.env(KEY).observed.retry_at is None
    assert plan_one(_snapshot(e), NOW + timedelta(days=1)) is None

    e.source.put_change(change(sha=SHA2))
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")  # a new commit
    action = plan_one(_snapshot(e), NOW)
    assert action is not None and action.kind is ActionKind.UPDATE, action


# --- the engine: passes, backoff, recovery --------------------------------------

def test_a_temporary_failure_is_retried_by_passes_with_a_capped_backoff_until_it_works() -> None:
    e = _engine(base=10.0, cap=30.0)
    _failed_once(e, temporary=True)
    waits = []
    for _ in range(3):  # still failing: 10 s, then 20 s, then 30 s (the cap), then 30 s
        e.helm.fail_next_temporarily("http2: client connection lost")
        before = e.env(KEY).observed
        assert not e.reconcile().outcomes  # a full pass before the backoff passed: waits
        e.clock.advance(before.retry_at - e.clock.now())
        outcome, = e.reconcile().outcomes
        assert outcome.retry_after is not None and not outcome.ok
        after = e.env(KEY).observed
        assert after.status is Status.FAILED and after.failures == before.failures + 1
        assert "http2: client connection lost" in after.reason and "tried again at" in after.reason
        assert after.retry_at is not None
        waits.append((after.retry_at - e.clock.now()).total_seconds())
    assert waits == [20.0, 30.0, 30.0]

    e.clock.advance(timedelta(seconds=30))  # the cluster is well again
    outcome, = e.reconcile().outcomes
    env = e.env(KEY)
    assert outcome.ok and env.observed.status is Status.READY, outcome.describe()
    assert env.observed.failures == 0 and env.observed.retry_at is None


def test_a_permanent_failure_after_temporary_ones_waits_for_new_inputs() -> None:
    e = _engine()
    _failed_once(e, temporary=True)
    e.clock.advance(timedelta(seconds=10))
    e.helm.fail_next("template: deployment.yaml:12: nil pointer")
    e.reconcile()
    observed = e.env(KEY).observed
    assert observed.status is Status.FAILED and observed.retry_at is None
    e.clock.advance(timedelta(hours=1))
    assert not e.reconcile().outcomes


@pytest.mark.parametrize("temporary", [True, False], ids=["temporary", "permanent"])
def test_an_up_retries_a_failure_at_once_and_starts_the_count_again(temporary: bool) -> None:
    e = _engine()
    _failed_once(e, temporary=temporary)
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")
    assert e.env(KEY).observed.failures == 0
    outcome, = e.reconcile(KEY).outcomes
    assert outcome.ok and e.env(KEY).observed.status is Status.READY, outcome.describe()


def test_settings_default_backoff() -> None:
    deploy = DeploySettings()
    assert (deploy.retry_base, deploy.retry_max) == (10.0, 15 * 60.0)


def test_after_a_redis_wipe_a_temporary_failure_rebuilt_from_its_namespace_is_retried() -> None:
    # The failure lives in Redis only: the namespace's annotations hold no deployed hash
    # for the inputs that failed, so the rebuilt record deploys them again.
    e = _engine()
    _failed_once(e, temporary=True)
    e.store.delete(KEY)
    result = e.reconcile()
    assert result.adopted == (KEY,), result.describe()
    env = e.env(KEY)
    assert env.observed.status is Status.READY, result.describe()
    assert env.observed.failures == 0 and env.observed.retry_at is None


def test_a_retry_that_then_fails_its_readiness_wait_is_not_retried_again() -> None:
    e = build_engine(deploy=DeploySettings(poll_interval=0.01, ready_inline_wait=0.0))
    _failed_once(e, temporary=True)
    e.cluster.hold_back(namespace_of(KEY), KEY, "Deployment app: 0/1 available")
    e.clock.advance(timedelta(seconds=10))
    e.reconcile()  # the retry: Helm works now, the pods do not come up
    assert e.env(KEY).observed.status is Status.DEPLOYING
    e.clock.advance(timedelta(hours=1))  # past ready_timeout
    e.reconcile(KEY)
    observed = e.env(KEY).observed
    assert observed.status is Status.FAILED and "0/1 available" in observed.reason
    assert observed.retry_at is None and observed.failures == 0
    e.clock.advance(timedelta(hours=1))
    assert not e.reconcile().outcomes  # a chart or image problem: waits for a new input


def test_a_blip_of_the_cluster_during_a_deploy_is_retried_quietly_not_told_failed() -> None:
    # A 429 of the API server while readiness is read is not Helm's failure: nobody is
    # told "failed" for it, and the deploy goes on after its delay.
    e = build_engine()
    e.source.put_change(change())
    key = e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice").key
    e.cluster.faults.fail("workload_status", TemporaryError("the API server said 429"))
    e.reconcile(key)
    assert e.env(key).observed.status is not Status.FAILED
    assert "failed" not in [n.kind.value for n in e.notifier.notices]
    e.reconcile(key)
    assert e.env(key).observed.status is Status.READY
