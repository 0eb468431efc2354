"""`up` requests meet the record: ``Requests._record_up`` and ``_merged``, driven through
``request_up_mr`` / ``request_up_branch`` on the fakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.changes import ChangeState
from bot.domain.errors import PermanentError
from bot.domain.model import EndKind, Status
from bot.engine.requests import redeploy
from tests.unit.engine.conftest import (
    NOW,
    PROJECT_PATH,
    SHA1,
    SHA2,
    Engine,
    build_engine,
    change,
    config_doc,
    up_ready,
)

KEY = "group-app-mr-7"
EARLY, LATE = NOW - timedelta(hours=2), NOW - timedelta(minutes=5)


def _gone(e: Engine, *, kind: str = "requested") -> None:
    """MR !7 up, then torn down (``kind``: how it ended) and GONE."""
    up_ready(e)
    e.requests.request_down(KEY, reason="done", actor="alice", kind=EndKind(kind))
    e.reconcile(KEY)
    e.cluster.finish_deletions()
    e.reconcile(KEY)
    assert e.env(KEY).observed.status is Status.GONE


def _nothing(e: Engine) -> None:
    e.source.put_change(change())


def _ready(e: Engine) -> None:
    up_ready(e)


def _ready_seen_late(e: Engine) -> None:
    e.source.put_change(change(updated_at=LATE))
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")


def _failed(e: Engine) -> None:
    up_ready(e)
    e.core.save(e.env(KEY), Status.FAILED, "helm failed", timeouts=2)


def _kept(e: Engine) -> None:
    up_ready(e)
    e.requests.keep(KEY, actor="alice")


def _manual(e: Engine) -> None:
    e.source.put_change(change())
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice", manual=True)


@dataclass(frozen=True)
class Up:
    setup: Callable[[Engine], None]
    sha: str = SHA1  # the MR's head when asked
    updated_at: Any = None  # the MR's updated_at (default: an hour ago)
    manual: bool = False
    later: timedelta = timedelta(hours=1)  # the clock moves this much before the up
    # expected record after
    recorded_sha: str = SHA1
    status: Status = Status.PENDING
    created_at: Any = None  # None: the time of the up
    manual_after: bool = False
    history: int = 1  # "up" entries in the history


UPS = {
    "new record": Up(_nothing, history=1),
    "same sha on an active env: kept as it is": Up(
        _ready, status=Status.READY, created_at=NOW, history=2),
    "new sha on an active env: recorded, observed kept, created_at kept": Up(
        _ready, sha=SHA2, recorded_sha=SHA2, status=Status.READY, created_at=NOW, history=2),
    "up on a GONE env (not deliberate): a new lifecycle": Up(
        lambda e: _gone(e, kind="mr-closed"), history=2),
    "stale source_updated_at: not recorded": Up(
        _ready_seen_late, sha=SHA2, updated_at=EARLY, recorded_sha=SHA1, created_at=NOW),
    "manual up wins over a stale source_updated_at": Up(
        _ready_seen_late, sha=SHA2, updated_at=EARLY, manual=True, recorded_sha=SHA2,
        created_at=NOW, manual_after=True, history=2),
    "manual is sticky": Up(_manual, sha=SHA2, recorded_sha=SHA2, created_at=NOW,
                           manual_after=True, history=2),
    "asked again after a failure: retried": Up(
        _failed, status=Status.PENDING, created_at=NOW, history=2),
    "ended on purpose at another sha: back": Up(_gone, sha=SHA2, recorded_sha=SHA2,
                                                history=2),
    "ended on purpose, a person asks: back": Up(_gone, manual=True, manual_after=True,
                                                history=2),
}


@pytest.mark.parametrize("case", UPS.values(), ids=UPS.keys())
def test_up_meets_the_record(case: Up) -> None:
    e = build_engine()
    case.setup(e)
    e.clock.advance(case.later)
    e.source.put_change(change(sha=case.sha, updated_at=case.updated_at))
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice", manual=case.manual)
    env = e.env(KEY)
    assert env.desired.sha == case.recorded_sha
    assert env.observed.status is case.status
    assert env.desired.created_at == (case.created_at or e.clock.now().replace(microsecond=0))
    assert env.desired.manual is case.manual_after and env.desired.present
    assert [h.action for h in e.store.history(KEY)].count("up") == case.history


def test_a_new_lifecycle_keeps_the_forge_environment_it_made() -> None:
    e = build_engine()
    _gone(e, kind="mr-closed")
    made = e.env(KEY).observed.review_environment_id
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")
    env = e.env(KEY)
    assert made is not None and env.observed.review_environment_id == made
    assert env.observed.url == "" and env.observed.helm_revision is None


def test_a_retry_clears_the_timeouts_and_starts_the_readiness_clock_again() -> None:
    e = build_engine()
    _failed(e)
    e.clock.advance(timedelta(minutes=30))
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")
    observed = e.env(KEY).observed
    assert (observed.status, observed.reason, observed.timeouts) == (
        Status.PENDING, "retry requested", 0)
    assert observed.step_started_at == NOW + timedelta(minutes=30)


@pytest.mark.parametrize(("setup", "later", "expires"), [
    (_ready, timedelta(hours=1), NOW + timedelta(hours=49)),  # from the up, capped later
    (_kept, timedelta(hours=1), NOW + timedelta(days=7)),  # kept: created + max_ttl
    (_ready, timedelta(days=6), NOW + timedelta(days=7)),  # never past created + max_ttl
], ids=["renewed from now", "keep holds", "capped at max_ttl"])
def test_up_on_an_active_env_renews_its_expiry(setup: Callable[[Engine], None],
                                               later: timedelta, expires: Any) -> None:
    e = build_engine()
    setup(e)
    e.clock.advance(later)
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice")
    assert e.env(KEY).desired.expires_at == expires


def test_an_mr_environment_is_owned_by_its_author_a_branch_one_by_who_asked() -> None:
    e = build_engine()
    e.source.put_change(change(source_branch="feature-x"))
    mr_env = e.requests.request_up_mr(PROJECT_PATH, 7, actor="bob")
    e.source.branches[(42, "topic")] = SHA2
    branch_env = e.requests.request_up_branch(PROJECT_PATH, "topic", actor="bob")
    assert (mr_env.desired.owner, branch_env.desired.owner) == ("alice", "bob")
    assert branch_env.key == "group-app-topic" and branch_env.desired.sha == SHA2


def test_later_requests_never_change_the_owner() -> None:
    e = build_engine()
    e.source.branches[(42, "topic")] = SHA1
    env = e.requests.request_up_branch(PROJECT_PATH, "topic", actor="slack:U1", manual=True)
    e.source.branches[(42, "topic")] = SHA2
    e.requests.request_up_branch(PROJECT_PATH, "topic", actor="slack:U2", manual=True)
    e.requests.request_up_branch(PROJECT_PATH, "topic", actor="gitlab:ci", sha=SHA2)
    redeploy(e.requests, env.key, actor="slack:U3")
    assert e.env(env.key).desired.owner == "slack:U1"


@pytest.mark.parametrize("manual", [False, True], ids=["the trigger's", "a person's"])
def test_a_redeploy_keeps_why_the_environment_exists(manual: bool) -> None:
    e = build_engine()
    e.source.put_change(change())
    e.requests.request_up_mr(PROJECT_PATH, 7, actor="gitlab:alice", manual=manual)
    redeploy(e.requests, KEY, actor="slack:U3")
    assert e.env(KEY).desired.manual is manual


def _up_mr(iid: int = 7, **mr: Any) -> Callable[[Engine], None]:
    def ask(e: Engine) -> None:
        e.source.put_change(change(iid, **mr))
        e.requests.request_up_mr(PROJECT_PATH, iid, actor="gitlab:alice")
    return ask


def _up_branch(branch: str) -> Callable[[Engine], None]:
    def ask(e: Engine) -> None:
        e.requests.request_up_branch(PROJECT_PATH, branch, actor="alice")
    return ask


def _main_exists(e: Engine) -> None:
    e.source.branches[(42, "main")] = SHA1


@dataclass(frozen=True)
class Refused:
    ask: Callable[[Engine], None]
    words: str  # in the refusal
    setup: Callable[[Engine], None] = lambda e: None
    doc: dict[str, Any] | None = None


REFUSED = {
    "change request closed": Refused(_up_mr(state=ChangeState.CLOSED), "is closed"),
    "change request merged": Refused(_up_mr(state=ChangeState.MERGED), "is merged"),
    "default branch (MR)": Refused(_up_mr(source_branch="main"), "default branch"),
    "default branch (branch up)": Refused(_up_branch("main"), "default branch",
                                          _main_exists),
    "unknown branch": Refused(_up_branch("nowhere"), "nowhere"),
    "project max_envs reached": Refused(_up_mr(8, source_branch="other"), "group/app",
                                        _ready, config_doc(max_envs=1)),
    "global max_envs reached": Refused(_up_mr(8, source_branch="other"), "all projects",
                                       _ready, config_doc(top_max_envs=1)),
    "ended on purpose at this sha: an event does not bring it back": Refused(
        _up_mr(), SHA1[:8], _gone),
    "pipeline mode, head pipeline not passed": Refused(
        _up_mr(head_pipeline_sha=SHA1, head_pipeline_status="running"), "pipeline",
        doc=config_doc(deploy_on="pipeline")),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_up_refused_records_nothing(case: Refused) -> None:
    e = build_engine(case.doc)
    case.setup(e)
    before = e.store.all()
    with pytest.raises(PermanentError, match=case.words):
        case.ask(e)
    assert e.store.all() == before


def test_capacity_counts_only_active_environments() -> None:
    e = build_engine(config_doc(max_envs=1))
    _gone(e, kind="mr-closed")
    e.source.put_change(change(8, source_branch="other"))
    env = e.requests.request_up_mr(PROJECT_PATH, 8, actor="alice")
    assert env.key == "group-app-mr-8" and env.observed.status is Status.PENDING


def test_capacity_never_refuses_an_active_environment_a_new_sha() -> None:
    e = build_engine(config_doc(max_envs=1))
    up_ready(e)
    e.source.put_change(change(sha=SHA2))
    assert e.requests.request_up_mr(PROJECT_PATH, 7, actor="alice").desired.sha == SHA2

