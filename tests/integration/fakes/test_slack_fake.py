"""The Slack fake answers the real slack_sdk WebClient over real HTTP."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes import FakeSlack

SHA = "0123456789abcdef0123456789abcdef01234567"


# --- Slack ---------------------------------------------------------------------------
SECTION = [{"type": "section", "text": {"type": "mrkdwn", "text": "*app-mr-5* deploying"}}]


def _slack(fake: FakeSlack, token: str | None = None) -> WebClient:
    return WebClient(token=token or fake.bot_token, base_url=fake.url)


def test_auth_test_answers_the_bot_identity(fake_slack: FakeSlack) -> None:
    answer = _slack(fake_slack).auth_test()

    assert (answer["ok"], answer["user_id"]) == (True, "U0PREVIEWBOT")
    call = fake_slack.wait_for(lambda c: c.method == "auth.test")
    assert call.headers["authorization"] == f"Bearer {fake_slack.bot_token}"


def test_announcement_is_edited_in_place_with_thread_reply(fake_slack: FakeSlack) -> None:
    client = _slack(fake_slack)
    posted = client.chat_postMessage(channel="C0PREVIEWS", text="deploying", blocks=SECTION)
    client.chat_update(channel="C0PREVIEWS", ts=posted["ts"], text="ready: https://x.test")
    reply = client.chat_postMessage(channel="C0PREVIEWS", text="log", thread_ts=posted["ts"])

    announcement, thread_reply = fake_slack.messages("C0PREVIEWS")
    assert announcement.ts == posted["ts"]
    assert float(reply["ts"]) > float(posted["ts"])
    assert [v.text for v in announcement.history] == ["deploying", "ready: https://x.test"]
    assert announcement.edited and announcement.blocks == SECTION  # update kept the blocks
    assert (thread_reply.thread_ts, thread_reply.text) == (posted["ts"], "log")
    assert fake_slack.thread_replies("C0PREVIEWS", posted["ts"]) == [thread_reply]
    assert fake_slack.calls[0].params["blocks"] == SECTION


def test_form_encoded_blocks_are_decoded(fake_slack: FakeSlack) -> None:
    form = {"channel": "C1", "text": "t", "blocks": json.dumps(SECTION)}

    _slack(fake_slack).api_call("chat.postMessage", data=form)

    assert fake_slack.calls[-1].headers["content-type"] == "application/x-www-form-urlencoded"
    assert fake_slack.messages("C1")[0].blocks == SECTION


def test_ephemeral_message_and_dm_are_kept_apart(fake_slack: FakeSlack) -> None:
    client = _slack(fake_slack)
    ephemeral = client.chat_postEphemeral(channel="C1", user="U0ALICE", text="not allowed")
    opened = [client.conversations_open(users=["U0ALICE"])["channel"]["id"] for _ in (1, 2)]
    client.chat_postMessage(channel="U0ALICE", text="expiring soon")

    assert fake_slack.messages("C1") == []
    [refusal] = fake_slack.ephemeral_messages("C1", user="U0ALICE")
    assert (refusal.ts, refusal.text) == (ephemeral["message_ts"], "not allowed")
    assert opened == ["D0ALICE", "D0ALICE"]
    assert [m.text for m in fake_slack.messages(fake_slack.dm_channel("U0ALICE"))] == [
        "expiring soon"
    ]


def test_users_are_looked_up_by_email(fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0ALICE", "alice@corp.example", "Alice")
    client = _slack(fake_slack)

    found = client.users_lookupByEmail(email="Alice@Corp.example")
    with pytest.raises(SlackApiError) as missing:
        client.users_lookupByEmail(email="nobody@corp.example")

    assert found["user"]["id"] == "U0ALICE"
    assert found["user"]["profile"]["email"] == "alice@corp.example"
    assert missing.value.response["error"] == "users_not_found"
    assert [c.params["email"] for c in fake_slack.calls] == [
        "Alice@Corp.example", "nobody@corp.example",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "params", "expected_error"),
    [
        ("chat.update", {"channel": "C1", "ts": "1.000100", "text": "x"}, "message_not_found"),
        ("chat.postMessage", {"channel": "C1"}, "no_text"),
        ("chat.postMessage", {"text": "x"}, "channel_not_found"),
        ("no.suchMethod", {}, "unknown_method"),
    ],
)
def test_slack_errors_are_ok_false(
    fake_slack: FakeSlack, method: str, params: dict[str, Any], expected_error: str
) -> None:
    with pytest.raises(SlackApiError) as error:
        _slack(fake_slack).api_call(method, json=params)

    assert (error.value.response.status_code, error.value.response["error"]) == (
        200, expected_error,
    )  # fmt: skip
    assert fake_slack.calls[-1].method == method
    assert fake_slack.messages() == []


@pytest.mark.parametrize(
    ("token", "expected_error"), [("xoxb-wrong", "invalid_auth"), ("", "not_authed")]
)
def test_bad_slack_token_is_refused(fake_slack: FakeSlack, token: str, expected_error: str) -> None:
    client = WebClient(token=token or None, base_url=fake_slack.url)

    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="C1", text="hi")

    assert error.value.response["error"] == expected_error
    assert fake_slack.messages() == []
    assert fake_slack.calls[-1].method == "chat.postMessage"


def test_slack_down_and_rate_limits(fake_slack: FakeSlack) -> None:
    client = _slack(fake_slack)
    fake_slack.fail_next(1)
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C1", text="one")
    fake_slack.set_down(True)
    with pytest.raises(SlackApiError) as down:
        client.chat_postMessage(channel="C1", text="two")
    fake_slack.set_down(False)

    client.chat_postMessage(channel="C1", text="three")

    assert (limited.value.response.status_code, limited.value.response["error"]) == (
        429, "ratelimited",
    )  # fmt: skip
    assert limited.value.response.headers["Retry-After"] == "1"
    assert down.value.response.status_code == 503
    assert [m.text for m in fake_slack.messages("C1")] == ["three"]


def test_home_view_is_published(fake_slack: FakeSlack) -> None:
    view = {"type": "home", "blocks": SECTION}

    answer = _slack(fake_slack).views_publish(user_id="U0ALICE", view=view)

    assert answer["view"]["id"].startswith("V")
    assert fake_slack.home_view("U0ALICE") == answer["view"]
    assert fake_slack.home_view("U0BOB") is None


def test_wait_for_sees_calls_made_from_another_thread(fake_slack: FakeSlack) -> None:
    client = _slack(fake_slack)
    poster = threading.Thread(target=lambda: client.chat_postMessage(channel="C9", text="late"))
    poster.start()

    call = fake_slack.wait_for(lambda c: c.params.get("channel") == "C9", timeout=5)
    poster.join(timeout=5)

    assert call.params["text"] == "late"
    with pytest.raises(AssertionError, match=r"received: \[\('chat.postMessage'"):
        fake_slack.wait_for(lambda c: c.method == "chat.update", timeout=0.05)
