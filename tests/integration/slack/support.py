"""Sending requests to previewbot exactly as Slack sends them, and reading the answers.

Slash commands are form-encoded; interactivity is a form with one `payload=` field
holding JSON; Events API callbacks are JSON. Every request is signed as Slack signs
it: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">` with the
app's signing secret, and `X-Slack-Request-Timestamp: <unix seconds>`.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from bot.config import Settings
from bot.domain.model import Environment, Status
from bot.engine.core import Core
from bot.runtime.wiring import build_core, build_parts
from bot.state.queue import DeliveryQueue
from handlers.slack.app import SlackBot
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.records import TEAM_ID, PostedMessage
from tests.integration.lifecycle_bed import LifecycleBed, config_yaml
from tests.integration.webhook_support import Server, start_server
from tests.polling import poll

SIGNING_SECRET = "slack-signing-secret-for-tests"
CHANNEL = "C0PREVIEWS"
ADMIN = "U0ADMIN"
AUTHOR = "U0ALICE"  # the MR author "alice" (alice@example.com in the GitLab fake)
MAINTAINER = "U0MAINT"
STRANGER = "U0MALLORY"
GUEST = "U0GUEST"
APP_ID = "A0PREVIEWBOT"


def configure_slack(bed: LifecycleBed, fake: FakeSlack, *, top: str = "",
                    **options: Any) -> None:
    """The bed's config with Slack's top-level keys, and the people of these tests:
    alice (MR author, e-mail known to both sides), a Maintainer "maint" (matched by
    the slack_users map), an admin, a stranger and a guest."""
    if not getattr(bed, "_slack_people", False):
        fake.add_user(AUTHOR, "alice@example.com", "alice")
        fake.add_user(STRANGER, "mallory@example.com", "mallory")
        fake.add_user(GUEST, "guest@partner.example", "guest", guest=True)
        fake.add_user(MAINTAINER, "maint@corp.example", "maint")
        maint = bed.gitlab.add_user("maint", email="maint-private@corp.example")
        bed.gitlab.add_member(bed.project_id, int(maint["id"]), 40)
        bed._slack_people = True  # type: ignore[attr-defined]
    head = f"slack_admins: [{ADMIN}]\nslack_users: {{maint: {MAINTAINER}}}\n{top}"
    (bed.tmp / "previewbot.yaml").write_text(head + config_yaml(bed.project_path, **options))


@contextmanager
def core_telling_slack(bed: LifecycleBed, fake: FakeSlack, **options: Any) -> Iterator[Core]:
    """The bed's core wired as `previewbot serve` wires it, telling the Slack fake (its
    notifier, its delivery queue); ``options``: the config's, as for configure_slack."""
    configure_slack(bed, fake, **options)
    settings = Settings.from_env({**bed.environ(), **slack_environ(fake)})
    slack = SlackBot(settings)
    parts = build_parts(settings)
    built = build_core(settings, parts=parts, notifier=slack.notifier_of(parts))
    queue = DeliveryQueue.from_url(settings.redis_url)
    slack.attach(built, queue)
    try:
        yield built
    finally:
        queue.close()


def slack_environ(fake: FakeSlack) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": fake.bot_token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.url}


def start_slack_server(bed: LifecycleBed, fake: FakeSlack, **env: str) -> Server:
    return start_server(bed, **{**slack_environ(fake), **env})


def sign(body: bytes, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, content_type: str, *, timestamp: int | None = None,
                   secret: str = SIGNING_SECRET) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": sign(body, stamp, secret)}


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body or b"{}")
        return loaded

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def post_raw(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    host = url.removeprefix("http://")
    connection = http.client.HTTPConnection(host, timeout=10)
    try:
        started = time.perf_counter()
        connection.request("POST", "/slack/events", body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return Answer(response.status, data, dict(response.getheaders()),
                      time.perf_counter() - started)
    finally:
        connection.close()


def command_body(fake: FakeSlack, text: str, *, user: str = AUTHOR,
                 channel: str = CHANNEL) -> bytes:
    """A `/preview` slash command as Slack posts it (form-encoded)."""
    return urlencode(command_fields(fake, text, user=user, channel=channel)).encode()


def command_fields(fake: FakeSlack, text: str, *, user: str = AUTHOR,
                   channel: str = CHANNEL) -> dict[str, str]:
    """The fields of a slash command (the form, or a Socket Mode envelope's payload)."""
    return {
        "token": "deprecated-verification-token", "team_id": TEAM_ID,
        "team_domain": "fake-workspace", "channel_id": channel, "channel_name": "previews",
        "user_id": user, "user_name": user.lower(), "command": "/preview", "text": text,
        "api_app_id": APP_ID, "is_enterprise_install": "false",
        "response_url": fake.response_url(channel, user),
        "trigger_id": f"{uuid.uuid4().int % 10**12}.1.{uuid.uuid4().hex[:8]}",
    }


def button_payload(fake: FakeSlack, action_id: str, env_key: str, *, user: str,
                   channel: str = CHANNEL, message_ts: str | None = None,
                   view_id: str | None = None) -> dict[str, Any]:
    """A block_actions interaction: a button pressed in a message, or in App Home."""
    action = {"type": "button", "action_id": action_id, "block_id": "b1",
              "text": {"type": "plain_text", "text": action_id}, "value": env_key,
              "action_ts": f"{time.time():.6f}"}
    payload: dict[str, Any] = {
        "type": "block_actions", "api_app_id": APP_ID, "token": "deprecated",
        "team": {"id": TEAM_ID, "domain": "fake-workspace"}, "enterprise": None,
        "is_enterprise_install": False,
        "user": {"id": user, "username": user.lower(), "name": user.lower(),
                 "team_id": TEAM_ID},
        "trigger_id": f"{uuid.uuid4().int % 10**12}.1.{uuid.uuid4().hex[:8]}",
        "actions": [action], "state": {"values": {}},
    }
    if view_id is not None:
        payload["container"] = {"type": "view", "view_id": view_id}
        payload["view"] = {"id": view_id, "type": "home", "blocks": []}
    else:
        payload["container"] = {"type": "message", "message_ts": message_ts,
                                "channel_id": channel, "is_ephemeral": False}
        payload["channel"] = {"id": channel, "name": "previews"}
        payload["message"] = {"type": "message", "ts": message_ts, "text": "…"}
        payload["response_url"] = fake.response_url(channel, user, message_ts)
    return payload


def interaction_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def home_opened_body(user: str) -> bytes:
    return json.dumps({
        "token": "deprecated", "team_id": TEAM_ID, "api_app_id": APP_ID,
        "event": {"type": "app_home_opened", "user": user, "channel": "D" + user[1:],
                  "tab": "home", "event_ts": f"{time.time():.6f}"},
        "type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM_ID, "user_id": "U0PREVIEWBOT", "is_bot": True}],
    }).encode()


FORM = "application/x-www-form-urlencoded"


def send_command(server_url: str, fake: FakeSlack, text: str, **who: str) -> Answer:
    body = command_body(fake, text, **who)
    return post_raw(server_url, body, signed_headers(body, FORM))


def press(server_url: str, fake: FakeSlack, action_id: str, env_key: str, **where: Any) -> (
        Answer):
    body = interaction_body(button_payload(fake, action_id, env_key, **where))
    return post_raw(server_url, body, signed_headers(body, FORM))


def open_home(server_url: str, user: str) -> Answer:
    body = home_opened_body(user)
    return post_raw(server_url, body, signed_headers(body, "application/json"))


def ephemeral_reply(fake: FakeSlack, answer: Answer, *, after: int = 0,
                    timeout: float = 20) -> str:
    """The command's reply: in the ack's body, else what arrived at its response_url."""
    if answer.body:
        body = answer.json()
        assert body.get("response_type") == "ephemeral", body
        return str(body.get("text", "")) + json.dumps(body.get("blocks", []))
    call = fake.wait_for(lambda c: c.method == "response_url", timeout=timeout, after=after)
    assert call.params.get("response_type", "ephemeral") == "ephemeral", call.params
    return str(call.params.get("text", "")) + json.dumps(call.params.get("blocks", []))


def redis_state(bed: LifecycleBed) -> dict[bytes, object]:
    """Every key's value in the bed's Redis database — streams by length: the
    workers' polling updates their consumer bookkeeping, which no request does."""
    db = bed.redis()
    return {key: db.xlen(key) if db.type(key) == b"stream" else db.dump(key)
            for key in db.keys("*")}


def announcements(fake: FakeSlack, channel: str = CHANNEL) -> list[PostedMessage]:
    """Top-level messages in the channel (thread replies left out)."""
    return [m for m in fake.messages(channel) if m.thread_ts is None]


def states(message: PostedMessage) -> list[str]:
    """The state word of each version of an announcement ("deploying", "ready", …)."""
    return [version.text.split("): ", 1)[1].split(" ")[0].rstrip(":")
            for version in message.history]


def env_of(core: Core, key: str) -> Environment:
    env = core.store.get(key)
    assert env is not None, f"no record {key}"
    return env


def wait_status(core: Core, key: str, wanted: Status, timeout: float = 90) -> Environment:
    return poll(f"{key} to be {wanted.value}",
                lambda: (e := core.store.get(key)) is not None and e.observed.status is wanted
                and e, timeout=timeout, interval=0.3)


def wait_settled(core: Core, key: str, timeout: float = 90) -> Environment:
    """READY with its deploy's last step done: the forge shows it (the GitLab
    environment's id is on the namespace by then). READY alone is not the end: the
    forge is brought up to date after the ready notice."""
    return poll(f"{key} to be ready and shown on GitLab",
                lambda: (e := core.store.get(key)) is not None
                and e.observed.status is Status.READY
                and e.observed.review_synced_hash == e.observed.deployed_hash != "" and e,
                timeout=timeout, interval=0.3)


def reply_to(server: Server, fake: FakeSlack, text: str, user: str) -> str:
    before = len(fake.calls)
    answer = send_command(server.url, fake, text, user=user)
    assert answer.status == 200, answer.text
    return ephemeral_reply(fake, answer, after=before)


def wait_announced(fake: FakeSlack, state: str, channel: str = CHANNEL, *,
                   reply: str | None = None) -> PostedMessage:
    """The announcement once it shows ``state`` and its thread has the event's reply
    (the notifier's last Slack call for that event; ``reply``: its first word when the
    event is not the state, e.g. "extended")."""
    def shown() -> PostedMessage | None:
        found = announcements(fake, channel)
        if not found or states(found[0])[-1] != state:
            return None
        replies = fake.thread_replies(channel, found[0].ts)
        word = reply or {"ready": "ready:", "gone": "torn"}.get(state, state)
        done = any(r.text.split(": ", 1)[1].startswith(word) for r in replies)
        return found[0] if done else None
    return poll(f"the announcement to show {state}", shown, timeout=30)
