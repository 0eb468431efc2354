"""The durable intake queue against the session's real redis-server."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import redis

from bot.domain.errors import TemporaryError
from bot.state.queue import Delivery, DeliveryQueue
from tests.clock import MovableClock
from tests.polling import poll as _poll

T = TypeVar("T")
NO_WAIT = timedelta(milliseconds=20)
BODY = b'{"object_kind":"merge_request"}\xff\x00 binary-safe'
MR = "Merge Request Hook"
KEY = b"queue-key-for-tests"


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime(2030, 1, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def make_queue(redis_url: str, clock: MovableClock) -> Iterator[Callable[..., DeliveryQueue]]:
    made: list[DeliveryQueue] = []

    def make(**kwargs: Any) -> DeliveryQueue:
        queue = DeliveryQueue.from_url(redis_url, **{"clock": clock, "key": KEY, **kwargs})
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.close()


@pytest.fixture
def queue(make_queue: Callable[..., DeliveryQueue]) -> DeliveryQueue:
    return make_queue()


def test_enqueue_then_claim_returns_the_same_event(queue: DeliveryQueue,
                                                   clock: MovableClock) -> None:
    assert queue.enqueue(MR, BODY, "uuid-1") == "queued"
    [event] = queue.claim("w1", block=NO_WAIT)
    assert (event.event_type, event.body, event.dedupe_key) == (MR, BODY, "uuid-1")
    assert (event.received_at, event.attempts) == (clock.now(), 0)
    assert queue.claim("w1", block=NO_WAIT) == []


def test_duplicate_dedupe_key_adds_nothing(queue: DeliveryQueue, redis_url: str) -> None:
    assert queue.enqueue(MR, BODY, "uuid-1") == "queued"
    assert queue.enqueue(MR, b"other", "uuid-1") == "duplicate"
    assert queue.stats()["queued"] == 1
    assert redis.Redis.from_url(redis_url).xlen("previewbot:queue:events") == 1
    [event] = queue.claim("w1", block=NO_WAIT)
    assert event.body == BODY


def test_no_dedupe_key_always_queues(queue: DeliveryQueue) -> None:
    assert [queue.enqueue(MR, BODY, None) for _ in range(3)] == ["queued"] * 3
    events = queue.claim("w1", block=NO_WAIT)
    assert [e.dedupe_key for e in events] == ["", "", ""]
    assert len({e.id for e in events}) == 3


def test_concurrent_enqueues_of_one_key_queue_exactly_one(
        make_queue: Callable[..., DeliveryQueue]) -> None:
    queues = [make_queue() for _ in range(50)]
    start = threading.Barrier(50)

    def send(q: DeliveryQueue) -> str:
        start.wait()
        return q.enqueue(MR, BODY, "same-delivery")

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(send, queues))
    assert sorted(answers) == ["duplicate"] * 49 + ["queued"]
    assert queues[0].stats()["queued"] == 1


def test_two_consumers_split_the_events_without_overlap(
        make_queue: Callable[..., DeliveryQueue]) -> None:
    producer = make_queue()
    sent = {f"k{i}" for i in range(200)}
    for key in sorted(sent):
        producer.enqueue(MR, key.encode(), key)
    seen: dict[str, list[Delivery]] = {"a": [], "b": []}

    def work(name: str, q: DeliveryQueue) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batch = q.claim(name, count=7, block=NO_WAIT)
            if not batch:
                return
            for event in batch:
                seen[name].append(event)
                q.ack(event)

    workers = [threading.Thread(target=work, args=(n, make_queue())) for n in seen]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    ids_a, ids_b = ({e.id for e in seen[n]} for n in ("a", "b"))
    assert ids_a & ids_b == set()
    assert len(ids_a | ids_b) == 200
    assert {e.dedupe_key for e in seen["a"] + seen["b"]} == sent
    assert producer.stats() == {"queued": 0, "pending": 0, "retrying": 0, "parked": 0}


def test_event_of_a_dead_consumer_is_taken_over_after_claim_idle(
        make_queue: Callable[..., DeliveryQueue]) -> None:
    dead = make_queue(claim_idle=timedelta(milliseconds=200))
    alive = make_queue(claim_idle=timedelta(milliseconds=200))
    patient = make_queue(claim_idle=timedelta(hours=1))
    dead.enqueue(MR, BODY, "uuid-1")
    [lost] = dead.claim("dead", block=NO_WAIT)
    # Not idle long enough yet (a patient claimer: no race with a slow machine)
    assert patient.claim("patient", block=NO_WAIT) == []
    [taken] = poll("the take-over", lambda: alive.claim("alive", block=NO_WAIT))
    assert (taken.id, taken.body) == (lost.id, BODY)
    assert taken.attempts == 1  # the lost delivery counts as a failed attempt
    alive.ack(taken)
    assert dead.already_done(lost)
    assert alive.stats()["pending"] == 0


def test_renew_keeps_what_a_live_consumer_holds_and_says_what_it_lost(
        make_queue: Callable[..., DeliveryQueue], redis_url: str) -> None:
    # Wide margins: a busy machine may pause between two lines for a good while.
    live = make_queue(claim_idle=timedelta(seconds=1))
    other = make_queue(claim_idle=timedelta(seconds=1))
    for key in ("uuid-1", "uuid-2", "uuid-3"):
        live.enqueue(MR, BODY, key)
    held = live.claim("live", count=2, block=NO_WAIT)
    [elsewhere] = other.claim("other", count=1, block=NO_WAIT)
    ids = {event.id for event in held}
    raw = redis.Redis.from_url(redis_url)

    def pending(entry_id: str) -> dict[str, Any]:
        [entry] = raw.xpending_range("previewbot:queue:events", "workers", min=entry_id,
                                     max=entry_id, count=1)
        return dict(entry)

    poll("all three entries to idle past claim_idle",
         lambda: all(pending(i)["time_since_delivered"] >= 1500 for i in ids | {elsewhere.id}))
    assert live.renew("live", ids | {elsewhere.id}) == ids  # not another consumer's entry
    # Renewed, they are not taken over; the other consumer's entry, idle, is.
    assert [e.id for e in other.claim("thief", block=NO_WAIT)] == [elsewhere.id]
    assert all(pending(i)["time_since_delivered"] < 1500 for i in ids)
    assert all(pending(i)["consumer"] == b"live" for i in ids)
    assert all(pending(i)["times_delivered"] == 1 for i in ids)  # a renewal is no delivery
    first = held[0]
    live.ack(first)
    assert live.renew("live", ids) == ids - {first.id}  # acked: no longer held
    assert live.renew("live", set()) == set()
    raw.close()


def test_event_that_keeps_killing_workers_is_parked(
        make_queue: Callable[..., DeliveryQueue], caplog: pytest.LogCaptureFixture) -> None:
    queue = make_queue(claim_idle=timedelta(milliseconds=100), max_attempts=2)
    queue.enqueue(MR, BODY, "poison")
    queue.claim("victim-1", block=NO_WAIT)
    poll("the first take-over", lambda: queue.claim("victim-2", block=NO_WAIT))
    with caplog.at_level(logging.ERROR, logger="previewbot.queue"):
        poll("the parking", lambda: queue.claim("w", block=NO_WAIT) or queue.stats()["parked"])
    [parked] = queue.parked()
    assert (parked.body, parked.attempts) == (BODY, 2)
    assert "stopped 2 time(s)" in parked.error
    assert queue.stats() == {"queued": 0, "pending": 0, "retrying": 0, "parked": 1}
    assert "parked after 2 failed attempt(s)" in caplog.text


def test_failed_event_comes_back_after_backoff_then_is_parked_and_requeued(
        make_queue: Callable[..., DeliveryQueue], clock: MovableClock,
        caplog: pytest.LogCaptureFixture) -> None:
    queue = make_queue(max_attempts=3, backoff_base=timedelta(seconds=5))
    queue.enqueue(MR, BODY, "uuid-1")
    [event] = queue.claim("w", block=NO_WAIT)
    for attempt, backoff in ((1, 5), (2, 10)):
        assert queue.fail(event, "GitLab answered 502") == "retry"
        assert queue.stats() == {"queued": 0, "pending": 0, "retrying": 1, "parked": 0}
        clock.advance(timedelta(seconds=backoff) - timedelta(milliseconds=1))
        assert queue.claim("w", block=NO_WAIT) == []  # not due yet
        clock.advance(timedelta(milliseconds=1))
        [event] = queue.claim("w", block=NO_WAIT)
        assert (event.body, event.dedupe_key, event.attempts) == (BODY, "uuid-1", attempt)
    with caplog.at_level(logging.ERROR, logger="previewbot.queue"):
        assert queue.fail(event, "GitLab answered 502") == "parked"
    assert f"event {event.id} (\"{MR}\") parked after 3" in caplog.text
    assert "GitLab answered 502" in caplog.text
    [parked] = queue.parked()
    assert (parked.event_type, parked.body, parked.attempts) == (MR, BODY, 3)
    assert (parked.error, parked.parked_at) == ("GitLab answered 502", clock.now())
    assert queue.stats() == {"queued": 0, "pending": 0, "retrying": 0, "parked": 1}
    assert queue.requeue_parked(parked.id) is True
    assert queue.requeue_parked(parked.id) is False
    assert queue.parked() == []
    [again] = queue.claim("w", block=NO_WAIT)
    assert (again.body, again.attempts) == (BODY, 0)


def test_backoff_is_capped(make_queue: Callable[..., DeliveryQueue], clock: MovableClock) -> None:
    queue = make_queue(max_attempts=50, backoff_base=timedelta(seconds=5),
                       backoff_max=timedelta(seconds=30))
    queue.enqueue(MR, BODY, None)
    [event] = queue.claim("w", block=NO_WAIT)
    late = Delivery(event.id, event.event_type, event.body, event.dedupe_key,
                       event.received_at, attempts=40)
    assert queue.fail(late, "still down") == "retry"
    clock.advance(timedelta(seconds=30))
    [again] = queue.claim("w", block=NO_WAIT)
    assert again.attempts == 41


def test_requeue_of_unknown_or_malformed_ids_is_false(queue: DeliveryQueue) -> None:
    assert queue.requeue_parked("1-1") is False
    assert queue.requeue_parked("not-an-id") is False


def test_ack_twice_is_harmless_and_marks_done(queue: DeliveryQueue) -> None:
    queue.enqueue(MR, BODY, "uuid-1")
    queue.enqueue(MR, BODY, "uuid-2")
    first, second = queue.claim("w", block=NO_WAIT)
    assert not queue.already_done(first)
    queue.ack(first)
    queue.ack(first)
    assert queue.already_done(first)
    assert not queue.already_done(second)
    assert queue.fail(first, "late failure of a finished event") == "stale"
    assert queue.stats() == {"queued": 1, "pending": 1, "retrying": 0, "parked": 0}


def test_stats_count_each_state(make_queue: Callable[..., DeliveryQueue]) -> None:
    queue = make_queue()
    assert queue.stats() == {"queued": 0, "pending": 0, "retrying": 0, "parked": 0}
    for i in range(5):
        queue.enqueue(MR, BODY, f"uuid-{i}")
    assert queue.stats() == {"queued": 5, "pending": 0, "retrying": 0, "parked": 0}
    a, b, c = queue.claim("w", count=3, block=NO_WAIT)
    assert queue.stats() == {"queued": 5, "pending": 3, "retrying": 0, "parked": 0}
    queue.ack(a)
    assert queue.fail(b, "boom") == "retry"
    assert make_queue(max_attempts=1).fail(c, "bad body") == "parked"
    assert queue.stats() == {"queued": 2, "pending": 0, "retrying": 1, "parked": 1}


def test_queue_survives_losing_its_stream_and_group(queue: DeliveryQueue, redis_url: str) -> None:
    assert queue.claim("w", block=NO_WAIT) == []  # creates the group
    redis.Redis.from_url(redis_url).flushdb()  # a Redis restart without persistence
    queue.enqueue(MR, BODY, "uuid-1")
    [event] = queue.claim("w", block=NO_WAIT)
    assert event.body == BODY


def test_pokes_are_taken_once(queue: DeliveryQueue) -> None:
    for env in ("app-mr-1", "app-mr-2", "app-mr-1"):
        queue.poke(env)
    assert queue.take_poked() == ["app-mr-1", "app-mr-2"]
    assert queue.take_poked() == []


def test_delayed_pokes_wait_for_their_time_and_the_earliest_wins(
        queue: DeliveryQueue, clock: MovableClock) -> None:
    queue.poke("app-mr-1", delay=30)  # a dependency asked for 30 s
    queue.poke("app-mr-2", delay=60)
    queue.poke("app-mr-2", delay=10)  # an earlier poke wins …
    queue.poke("app-mr-1", delay=90)  # … a later one does not postpone
    assert queue.take_poked() == []
    clock.advance(timedelta(seconds=10))
    assert queue.take_poked() == ["app-mr-2"]
    clock.advance(timedelta(seconds=19))
    assert queue.take_poked() == []
    clock.advance(timedelta(seconds=1))
    assert queue.take_poked() == ["app-mr-1"]
    assert queue.take_poked() == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_redis_is_a_temporary_error() -> None:
    queue = DeliveryQueue.from_url(f"redis://127.0.0.1:{closed_port()}/0", key=KEY)
    with pytest.raises(TemporaryError, match="Redis is unreachable") as caught:
        queue.enqueue(MR, BODY, "uuid-1")
    assert isinstance(caught.value.__cause__, redis.ConnectionError)
    calls: list[Callable[[], object]] = [
        queue.ping, queue.stats, lambda: queue.claim("w", block=NO_WAIT),
        lambda: queue.poke("app-mr-1"), queue.take_poked, queue.parked]
    for call in calls:
        with pytest.raises(TemporaryError):
            call()


def test_park_without_retries(queue: DeliveryQueue) -> None:
    queue.enqueue(MR, b"not json", "uuid-1")
    [event] = queue.claim("w", block=NO_WAIT)
    assert queue.park(event, "body is not JSON") is True
    assert queue.park(event, "body is not JSON") is False  # no longer pending
    [parked] = queue.parked()
    assert (parked.body, parked.attempts, parked.error) == (b"not json", 1, "body is not JSON")
    assert queue.stats() == {"queued": 0, "pending": 0, "retrying": 0, "parked": 1}


def poll(what: str, probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    return _poll(what, probe, timeout=timeout, interval=0.02)
