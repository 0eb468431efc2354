"""``Reconciler._apply_locked``: converge under the lock until the desired state stops
moving; a failure recorded under the lock; a lapsed lock stops the worker."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.domain.errors import PermanentError, StepTimeoutError
from bot.domain.model import Status
from bot.domain.plan import Action, ActionKind
from bot.engine.notify import Notice, NoticeKind
from tests.fakes.memory.notifier import FakeNotifier
from tests.unit.engine.conftest import (
    PROJECT_PATH,
    SHA1,
    SHA2,
    Engine,
    build_engine,
    change,
    namespace_of,
    up_ready,
)

KEY = "group-app-mr-7"
NS = namespace_of(KEY)


class ActingNotifier(FakeNotifier):
    """Runs ``on_deploying`` the first time it is told an environment is deploying: what
    happens elsewhere while a worker deploys (a request recorded, the lock lapsing)."""

    def __init__(self) -> None:
        super().__init__()
        self.on_deploying: Callable[[], None] | None = None

    def notify(self, notice: Notice) -> None:
        super().notify(notice)
        act, self.on_deploying = (self.on_deploying, None) if notice.kind is \
            NoticeKind.DEPLOYING else (None, self.on_deploying)
        if act is not None:
            act()


def _engine() -> tuple[Engine, ActingNotifier]:
    notifier = ActingNotifier()
    return build_engine(notifier=notifier), notifier


def _asked(e: Engine) -> None:
    e.source.put_change(change())
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")


def _new_sha(e: Engine) -> None:
    e.source.put_change(change(sha=SHA2))
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")


def _down(e: Engine) -> None:
    e.requests.request_down(KEY, reason="MR !7 merged", actor="gitlab:alice")


def _new_sha_and_helm_fails(e: Engine) -> None:
    _new_sha(e)
    e.helm.fail_next("the image of 11111111 does not exist")


MOVES: dict[str, tuple[Callable[[Engine], None], Status, str, int | None]] = {
    # (what happens during the deploy, status after, sha deployed, release revision)
    "a new sha: deployed next": (_new_sha, Status.READY, SHA2, 2),
    "merged meanwhile: torn down next": (_down, Status.TEARING_DOWN, SHA1, None),
    "helm fails for the old sha, a new one came: the new one converges": (
        _new_sha_and_helm_fails, Status.READY, SHA2, 2),
}


@pytest.mark.parametrize(("during", "status", "sha", "revision"), MOVES.values(),
                         ids=MOVES.keys())
def test_the_desired_state_moved_during_a_deploy_converges_again(
        during: Callable[[Engine], None], status: Status, sha: str,
        revision: int | None) -> None:
    e, notifier = _engine()
    _asked(e)
    notifier.on_deploying = lambda: during(e)
    outcome, = e.reconcile(KEY).outcomes
    env = e.env(KEY)
    assert outcome.ok and env.observed.status is status
    assert env.desired.sha == env.observed.deployed_sha == sha
    release = e.helm.get_release(KEY, NS)
    assert (release.revision if release else None) == revision


def test_a_failure_is_recorded_for_what_failed_and_frees_the_lock() -> None:
    e, _ = _engine()
    _asked(e)
    e.helm.fail_next("a hook failed")
    outcome, = e.reconcile(KEY).outcomes
    env = e.env(KEY)
    assert not outcome.ok and "a hook failed" in outcome.detail
    assert (env.observed.status, env.observed.deployed_sha) == (Status.FAILED, SHA1)
    assert env.observed.deployed_hash == e.core.wanted(env)[1]  # not retried every pass
    with e.store.lock(KEY, wait=0):
        pass


def test_a_lapsed_lock_stops_the_worker_before_its_next_change() -> None:
    e, notifier = _engine()
    _asked(e)

    def lapse() -> None:
        assert e.store.lapse(KEY)  # held by the worker deploying it

    notifier.on_deploying = lapse
    outcome, = e.reconcile(KEY).outcomes
    assert not outcome.ok and outcome.retry_after is not None
    assert e.cluster.get_namespace(NS) is None and e.helm.get_release(KEY, NS) is None
    env = e.env(KEY)
    assert env.observed.status is Status.DEPLOYING  # written before the lock lapsed
    with e.store.lock(KEY, wait=0):  # free for its next holder
        pass
    again, = e.reconcile(KEY).outcomes  # the next holder converges it
    assert again.ok and e.env(KEY).observed.status is Status.READY


def test_a_failed_teardown_is_not_recorded_failed_but_retried() -> None:
    e, _ = _engine()
    up_ready(e)
    _down(e)
    e.cluster.faults.fail("delete_namespace", PermanentError("admission webhook refused"))
    outcome, = e.reconcile(KEY).outcomes
    assert not outcome.ok and "admission webhook" in outcome.detail
    assert e.env(KEY).observed.status is Status.TEARING_DOWN
    e.reconcile(KEY)
    e.cluster.finish_deletions()
    final, = e.reconcile(KEY).outcomes
    assert final.ok and e.env(KEY).observed.status is Status.GONE


@pytest.mark.parametrize("attempts", [1, 2, 3])
def test_helm_timeouts_are_retried_then_end_failed(attempts: int) -> None:
    e, _ = _engine()
    _asked(e)
    for _ in range(attempts):
        e.helm.time_out_next()
        outcome, = e.reconcile(KEY).outcomes
        assert not outcome.ok
    env = e.env(KEY)
    if attempts < 3:
        assert env.observed.timeouts == attempts and outcome.retry_after
        assert env.observed.status is Status.DEPLOYING
    else:
        assert env.observed.status is Status.FAILED and "3" in env.observed.reason


def test_a_pending_release_younger_than_helms_timeout_is_left_alone() -> None:
    e, _ = _engine()
    up_ready(e)
    _new_sha(e)
    e.helm.upgrade_install(KEY, e.project.chart, NS, {"half": "done"})
    e.helm.leave_pending(KEY, NS)
    outcome, = e.reconcile(KEY).outcomes
    assert not outcome.ok and outcome.retry_after and outcome.retry_after >= 5
    assert [r.release.status for r in e.helm.history(KEY, NS)][-1] == "pending-upgrade"


def test_a_commit_pushed_during_the_last_timed_out_helm_run_is_deployed_not_failed() -> None:
    e, notifier = _engine()
    _asked(e)
    for _ in range(2):  # the first two of three timeouts
        e.helm.time_out_next()
        e.reconcile(KEY)
    e.helm.time_out_next()
    notifier.on_deploying = lambda: _new_sha(e)  # pushed while the third one runs

    e.reconcile(KEY)

    env = e.env(KEY)
    assert (env.observed.status, env.observed.deployed_sha) == (Status.READY, SHA2)
    assert not [n for n in notifier.notices if n.kind is NoticeKind.FAILED]


def test_a_teardown_that_times_out_is_never_told_failed() -> None:
    e, notifier = _engine()
    _asked(e)
    for _ in range(3):  # gave up: FAILED after three timeouts
        e.helm.time_out_next()
        e.reconcile(KEY)
    assert e.env(KEY).observed.status is Status.FAILED
    told = len([n for n in notifier.notices if n.kind is NoticeKind.FAILED])
    # A pass planned a sync; the MR was merged before it took the lock: under the lock
    # the plan is a teardown, and helm uninstall times out.
    _down(e)
    e.helm.faults.fail("uninstall", StepTimeoutError("helm uninstall timed out", delay=1.0))

    e.reconciler.apply(Action(ActionKind.SYNC, KEY, "annotations behind"), dry_run=False)

    assert len([n for n in notifier.notices if n.kind is NoticeKind.FAILED]) == told
    assert not e.env(KEY).desired.present
