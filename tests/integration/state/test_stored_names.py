"""Records written by an earlier version keep their meaning: the review surface's
fields were stored as ``gitlab_*`` before they got neutral names."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import redis

from bot.domain import records
from bot.domain.model import Desired, Environment, Observed, Status
from bot.domain.plan import STOP_PENDING
from bot.state.store import Store

CREATED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _env() -> Environment:
    return Environment(Desired(env_key="group-app-mr-7", project_path="group/app",
                               project_id=42, branch="feature", sha="a" * 40,
                               created_at=CREATED, expires_at=CREATED + timedelta(hours=4),
                               mr_iid=7))


def test_a_record_with_the_old_field_names_reads_back_and_is_rewritten_in_the_new(
        redis_url: str) -> None:
    store = Store.from_url(redis_url)
    store.put(_env())
    raw = redis.Redis.from_url(redis_url)
    old = {"status": "ready", "gitlab_synced_hash": "h1", "gitlab_environment_id": 31,
           "gitlab_create_started_at": CREATED.isoformat(), "gitlab_attempts": 2}
    raw.hset("previewbot:env:group-app-mr-7", "observed", json.dumps(old))

    env = store.get("group-app-mr-7")

    assert env is not None
    assert (env.observed.status, env.observed.review_synced_hash,
            env.observed.review_environment_id, env.observed.review_create_started_at,
            env.observed.review_attempts) == (Status.READY, "h1", 31, CREATED, 2)
    store.put_observed(env.key, env.observed)
    written = json.loads(raw.hget("previewbot:env:group-app-mr-7", "observed") or b"{}")
    assert written["review_environment_id"] == written["gitlab_environment_id"] == 31
    assert written["review_synced_hash"] == written["gitlab_synced_hash"] == "h1"


def test_a_record_keeps_the_old_names_for_a_replica_of_the_previous_version(
        redis_url: str) -> None:
    """A rolling update runs both versions on one Redis: the old one reads only the old
    names, and must not forget a stop owed or the forge environment the bot made."""
    store = Store.from_url(redis_url)
    env = _env()
    store.put(env)
    store.put_observed(env.key, Observed(status=Status.GONE, review_synced_hash=STOP_PENDING,
                                         review_environment_id=31, review_attempts=1))

    written = json.loads(redis.Redis.from_url(redis_url).hget(
        "previewbot:env:group-app-mr-7", "observed") or b"{}")

    assert (written["gitlab_synced_hash"], written["gitlab_environment_id"],
            written["gitlab_attempts"]) == (STOP_PENDING, 31, 1)


def test_the_new_name_wins_when_both_are_stored(redis_url: str) -> None:
    store = Store.from_url(redis_url)
    store.put(_env())
    both = json.dumps({"status": "ready", "gitlab_environment_id": 31,
                       "review_environment_id": 32})
    redis.Redis.from_url(redis_url).hset("previewbot:env:group-app-mr-7", "observed", both)

    env = store.get("group-app-mr-7")

    assert env is not None and env.observed == Observed(status=Status.READY,
                                                        review_environment_id=32)


def test_the_old_annotation_of_the_forge_environment_is_still_read() -> None:
    assert records.review_environment_id({records.OLD_REVIEW_ENVIRONMENT_ID: "31"}) == 31
    assert records.review_environment_id({records.OLD_REVIEW_ENVIRONMENT_ID: "31",
                                          records.REVIEW_ENVIRONMENT_ID: "32"}) == 32
    assert records.review_environment_id({records.REVIEW_ENVIRONMENT_ID: "x"}) is None
    written = records.review_environment(31)
    assert records.review_environment_id(written) == 31
    assert written[records.OLD_REVIEW_ENVIRONMENT_ID] == "31"  # the previous version reads it
