"""Requests that are not provably from Slack get 401 and change nothing: no Slack call,
no Redis write, no cluster change (a real `previewbot serve`; Bolt checks them)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from bot.domain.model import Status
from handlers.slack import formatting
from tests.fakes.slack import FakeSlack
from tests.integration.lifecycle_bed import LifecycleBed
from tests.integration.slack.support import (
    ADMIN,
    FORM,
    SIGNING_SECRET,
    button_payload,
    command_body,
    configure_slack,
    env_of,
    interaction_body,
    post_raw,
    redis_state,
    sign,
    signed_headers,
    start_slack_server,
    wait_announced,
    wait_status,
)
from tests.integration.webhook_support import Server

Headers = Callable[[bytes], dict[str, str]]


def _stale(body: bytes) -> dict[str, str]:
    return signed_headers(body, FORM, timestamp=int(time.time()) - 301)


def _future(body: bytes) -> dict[str, str]:
    return signed_headers(body, FORM, timestamp=int(time.time()) + 301)


def _wrong_secret(body: bytes) -> dict[str, str]:
    return signed_headers(body, FORM, secret=SIGNING_SECRET + "x")


def _tampered(body: bytes) -> dict[str, str]:
    return signed_headers(body + b"&text=down", FORM)  # signed something else


def _without(*names: str) -> Headers:
    def headers(body: bytes) -> dict[str, str]:
        sent = signed_headers(body, FORM)
        return {k: v for k, v in sent.items() if k not in names}
    return headers


def _v1(body: bytes) -> dict[str, str]:
    stamp = int(time.time())
    return {"Content-Type": FORM, "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": sign(body, stamp).replace("v0=", "v1=")}


BAD = {
    "stale timestamp (> 5 min)": _stale,
    "timestamp from the future": _future,
    "wrong secret": _wrong_secret,
    "body not the one signed": _tampered,
    "no signature": _without("X-Slack-Signature"),
    "no timestamp": _without("X-Slack-Request-Timestamp"),
    "no headers at all": _without("X-Slack-Signature", "X-Slack-Request-Timestamp"),
    "another signature version": _v1,
}


@pytest.fixture
def server(bed: LifecycleBed, fake_slack: FakeSlack) -> Iterator[Server]:
    configure_slack(bed, fake_slack)
    running = start_slack_server(bed, fake_slack)
    yield running
    running.stop()


def test_unsigned_requests_get_401_and_change_nothing(bed: LifecycleBed, fake_slack: FakeSlack,
                                                      server: Server) -> None:
    bed.add_mr(21)
    before = redis_state(bed)
    for name, headers in BAD.items():
        for body in (command_body(fake_slack, f"up {bed.project_path}!21", user=ADMIN),
                     interaction_body(button_payload(fake_slack, formatting.DOWN, "x",
                                                     user=ADMIN, message_ts="1.000100"))):
            answer = post_raw(server.url, body, headers(body))
            assert answer.status == 401, (name, answer.status, answer.text)
    assert fake_slack.calls == []  # not even auth.test
    assert redis_state(bed) == before
    assert server.metric("previewbot_commands_total", command="up") == 0


def test_a_signed_teardown_works_where_an_unsigned_one_did_not(
        bed: LifecycleBed, fake_slack: FakeSlack, server: Server) -> None:
    bed.add_mr(22)
    core = bed.core()
    body = command_body(fake_slack, f"up {bed.project_path}!22", user=ADMIN)
    assert post_raw(server.url, body, signed_headers(body, FORM)).status == 200
    key = f"{bed.slug}-mr-22"
    wait_status(core, key, Status.READY)
    wait_announced(fake_slack, "ready")

    down = interaction_body(button_payload(fake_slack, formatting.DOWN, key, user=ADMIN,
                                           message_ts="1.000100"))
    # What a request writes: desired state and history (workers may still write observed).
    calls, desired, history = len(fake_slack.calls), env_of(core, key).desired, \
        core.store.history(key)
    assert post_raw(server.url, down, _stale(down)).status == 401
    assert post_raw(server.url, down, _wrong_secret(down)).status == 401
    assert len(fake_slack.calls) == calls
    assert (env_of(core, key).desired, core.store.history(key)) == (desired, history)

    assert post_raw(server.url, down, signed_headers(down, FORM)).status == 200
    wait_status(core, key, Status.GONE)
