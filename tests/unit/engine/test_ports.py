"""The adapters and the in-memory fakes satisfy the engine's ports (checked by mypy
--strict on this file), and the fakes keep the semantics the engine relies on."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.cluster.helm import Helm
from bot.cluster.kube import Kube
from bot.domain.changes import Shown
from bot.domain.errors import NotOwnedError, PermanentError, StepTimeoutError, TemporaryError
from bot.domain.model import Desired, Environment, Observed, Status
from bot.engine.notify import LoggingNotifier, Notifier
from bot.engine.ports import (
    ChangeSource,
    ClusterPort,
    Forge,
    ReleasePort,
    ReviewSurface,
    StorePort,
)
from bot.gitlab import GitLabForge
from bot.gitlab.client import GitLab
from bot.gitlab.review import GitLabReview
from bot.state.locks import LockLost
from bot.state.store import Store
from tests.clock import MovableClock
from tests.fakes.memory.cluster import FakeCluster
from tests.fakes.memory.notifier import FakeNotifier
from tests.fakes.memory.releases import FakeReleases
from tests.fakes.memory.review import FakeReview
from tests.fakes.memory.source import FakeChangeSource, FakeForge
from tests.fakes.memory.store import FakeStore


# -- conformance: mypy checks these returns -------------------------------------------
def _kube(k: Kube) -> ClusterPort: return k
def _helm(h: Helm) -> ReleasePort: return h
def _store(s: Store) -> StorePort: return s
def _logging(n: LoggingNotifier) -> Notifier: return n
def _fake_cluster(k: FakeCluster) -> ClusterPort: return k
def _fake_releases(h: FakeReleases) -> ReleasePort: return h
def _fake_store(s: FakeStore) -> StorePort: return s
def _fake_notifier(n: FakeNotifier) -> Notifier: return n
def _fake_source(s: FakeChangeSource) -> ChangeSource: return s
def _fake_review(r: FakeReview) -> ReviewSurface: return r
def _fake_forge(f: FakeForge) -> Forge: return f
def _gitlab(g: GitLab) -> ChangeSource: return g
def _gitlab_review(r: GitLabReview) -> ReviewSurface: return r
def _gitlab_forge(f: GitLabForge) -> Forge: return f


NOW = datetime(2026, 1, 1, tzinfo=UTC)
MANAGED = {"app.kubernetes.io/managed-by": "previewbot"}


def _env(key: str = "app-mr-7", status: Status = Status.PENDING) -> Environment:
    return Environment(Desired(key, "group/app", 1, "feature", "a" * 40, NOW,
                               NOW + timedelta(days=1), mr_iid=7), Observed(status=status))


def test_put_observed_on_a_missing_record_writes_nothing() -> None:
    store = FakeStore()
    store.put_observed("app-mr-7", Observed(status=Status.READY))
    assert store.get("app-mr-7") is None
    assert store.env_keys() == set()


def test_put_observed_keeps_desired_and_the_announcement() -> None:
    store, env = FakeStore(), _env()
    store.put(env)
    store.set_announcement(env.key, "C1/123")
    store.put_observed(env.key, Observed(status=Status.READY))
    got = store.get(env.key)
    assert got is not None and got.desired == env.desired
    assert got.observed.status is Status.READY and store.announcement(env.key) == "C1/123"


def test_update_runs_change_again_when_the_record_was_written_meanwhile() -> None:
    store, env = FakeStore(), _env()
    store.put(env)
    seen: list[Status] = []

    def change(current: Environment | None) -> Environment | None:
        assert current is not None
        seen.append(current.observed.status)
        if len(seen) == 1:  # another writer intervenes between the read and the write
            store.put_observed(env.key, Observed(status=Status.DEPLOYING))
        return Environment(current.desired, current.observed)

    updated = store.update(env.key, change)
    assert seen == [Status.PENDING, Status.DEPLOYING]
    assert updated is not None and updated.observed.status is Status.DEPLOYING


@pytest.mark.parametrize(("holds", "deleted"), [(True, True), (False, False)])
def test_delete_if_takes_the_record_its_history_and_fields(holds: bool, deleted: bool) -> None:
    store, env = FakeStore(), _env()
    store.put(env)
    store.set_announcement(env.key, "C1/1")
    store.owe_notice(env.key, "{}")
    assert store.delete_if(env.key, lambda current: holds) is deleted
    assert (store.get(env.key) is None) is deleted
    assert store.owed_notice(env.key) == "{}"  # owed notices outlive the record
    store.put(env)
    assert (store.announcement(env.key) is None) is deleted


@pytest.mark.parametrize(("owed", "settled", "left"), [
    ("a", "a", None), ("b", "a", "b"),  # a newer notice owed meanwhile stays owed
])
def test_settle_notice_only_settles_what_is_still_owed(owed: str, settled: str,
                                                       left: str | None) -> None:
    store = FakeStore()
    store.owe_notice("e", owed)
    store.settle_notice("e", settled)
    assert store.owed_notice("e") == left


def test_expiry_warned_once_per_expiry_and_only_for_a_record() -> None:
    store, env = FakeStore(), _env()
    assert not store.mark_expiry_warned(env.key, NOW)
    store.put(env)
    assert [store.mark_expiry_warned(env.key, NOW) for _ in range(2)] == [True, False]
    assert store.mark_expiry_warned(env.key, NOW + timedelta(hours=1))


def test_cache_and_ticks_expire_by_the_clock() -> None:
    clock = MovableClock(NOW)
    store = FakeStore(clock=clock)
    store.cache("paths", "x", 10)
    assert store.claim_tick("reconcile", 1, "a", 10)
    assert not store.claim_tick("reconcile", 1, "b", 10)
    clock.advance(timedelta(seconds=11))
    assert store.cached("paths") is None and store.claim_tick("reconcile", 1, "b", 10)


def test_lock_is_exclusive_and_busy_is_temporary() -> None:
    store = FakeStore()
    with store.lock("e"):
        other: list[BaseException] = []
        thread = threading.Thread(target=lambda: _try_lock(store, other))
        thread.start()
        thread.join()
        assert len(other) == 1 and isinstance(other[0], TemporaryError)
    with store.lock("e", wait=0):  # free again
        pass


def _try_lock(store: FakeStore, errors: list[BaseException]) -> None:
    try:
        with store.lock("e", wait=0):
            pass
    except TemporaryError as error:
        errors.append(error)


def test_a_lapsed_lock_fences_and_is_free_for_others() -> None:
    store = FakeStore()
    with store.lock("e") as held:
        held.fence()
        assert store.lapse("e")
        with pytest.raises(LockLost):
            held.fence()
        with store.lock("e", wait=0):
            pass


def test_injected_faults_raise_and_change_nothing() -> None:
    store = FakeStore()
    store.faults.fail("put", TemporaryError("redis down"))
    with pytest.raises(TemporaryError):
        store.put(_env())
    assert store.get("app-mr-7") is None
    store.put(_env())  # one failure only
    with pytest.raises(AttributeError):
        store.faults.fail("no_such_method", TemporaryError("x"))


def test_a_namespace_not_ours_is_never_changed() -> None:
    cluster = FakeCluster()
    cluster.add_namespace("stranger")
    for call in (lambda: cluster.ensure_namespace("stranger", {}, {}),
                 lambda: cluster.annotate_namespace("stranger", {"a": "b"}),
                 lambda: cluster.delete_namespace("stranger", owner={}, dry_run=False)):
        with pytest.raises(NotOwnedError):
            call()
    ns = cluster.get_namespace("stranger")
    assert ns is not None and ns.annotations == {} and ns.phase == "Active"


def test_namespace_writes_merge_and_deletion_lingers() -> None:
    cluster = FakeCluster()
    assert cluster.ensure_namespace("ns", {"env": "e"}, {"a": "1", "b": "2"}) == "created"
    assert cluster.ensure_namespace("ns", {"env": "e"}, {"a": "1"}) == "unchanged"
    cluster.annotate_namespace("ns", {"b": None, "c": "3"})
    ns = cluster.get_namespace("ns")
    assert ns is not None and ns.annotations == {"a": "1", "c": "3"} and ns.managed
    assert cluster.delete_namespace("ns", owner={"env": "e"}, dry_run=False)
    ns = cluster.get_namespace("ns")
    assert ns is not None and ns.phase == "Terminating"
    assert cluster.finish_deletions() == ["ns"] and cluster.get_namespace("ns") is None


@pytest.mark.parametrize(("arm", "error", "status"), [
    (FakeReleases.fail_next, PermanentError, "failed"),
    (FakeReleases.time_out_next, StepTimeoutError, "failed"),
])
def test_a_release_told_to_fail_raises_and_records_a_failed_revision(
        arm: object, error: type[Exception], status: str) -> None:
    cluster = FakeCluster()
    cluster.ensure_namespace("ns", MANAGED, {})
    helm = FakeReleases(cluster)
    helm.upgrade_install("app", "charts/app", "ns", {"image": "v1"})
    assert callable(arm)
    arm(helm)
    with pytest.raises(error):
        helm.upgrade_install("app", "charts/app", "ns", {"image": "v2"})
    release = helm.get_release("app", "ns")
    assert release is not None and (release.revision, release.status) == (2, status)


def test_releases_revise_recover_and_go_with_their_namespace() -> None:
    cluster = FakeCluster()
    cluster.ensure_namespace("ns", MANAGED, {})
    helm = FakeReleases(cluster)
    with pytest.raises(PermanentError):
        helm.upgrade_install("app", "charts/app", "missing", {})
    helm.upgrade_install("app", "charts/app", "ns", {"a": 1})
    helm.upgrade_install("app", "charts/app", "ns", {"a": 1})  # same values: a new revision
    assert [r.release.status for r in helm.history("app", "ns")] == ["superseded", "deployed"]
    assert cluster.workload_status("ns", "app").ready
    helm.leave_pending("app", "ns")
    with pytest.raises(TemporaryError):
        helm.upgrade_install("app", "charts/app", "ns", {"a": 2})
    assert helm.recover_pending("app", "ns", dry_run=False) == "rolled-back"
    latest = helm.get_release("app", "ns")
    assert latest is not None and (latest.revision, latest.status) == (3, "deployed")
    cluster.delete_namespace("ns", owner={}, dry_run=False)
    cluster.finish_deletions()
    cluster.ensure_namespace("ns", MANAGED, {})  # made again: Helm's records went with it
    assert helm.get_release("app", "ns") is None
    assert not cluster.workload_status("ns", "app").ready


def test_review_lags_without_changing_anything_then_shows_once() -> None:
    review, env = FakeReview(), _env()
    review.lag()
    assert review.show(env, known_id=None, create_started_at=None) == Shown(None, False)
    assert review.environments == {} and review.notes == {}
    first = review.show(env, known_id=None, create_started_at=None)
    # the answer was lost: found again by its start, not made twice
    again = review.show(env, known_id=None, create_started_at=NOW)
    assert first == again == Shown(1, True) and len(review.environments) == 1
    assert review.stop(env, "merged", deliberate=True)
    assert review.ended_at(1, 7) == env.desired.sha
